"""The engine: run every analysis script in its own process, collect results, write the report."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lrctl.report._constants import (
    ENV_FIGURE_DIR,
    ENV_QUICK,
    ENV_RESULT_FILE,
    PROGRESS_PREFIX,
    STATUS_CLAIM_FAILED,
    STATUS_FAILED,
    STATUS_OK,
)
from lrctl.report._html import render_html
from lrctl.report._script import analysis_name

# ---------------------------------------------------------------------------------------


@dataclass
class AnalysisResult:
    """One analysis as the engine saw it."""

    name: str
    script: str
    status: str
    title: str = ""
    summary: str = ""
    figures: list[dict[str, str]] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    number_details: dict[str, dict[str, str]] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    seed_claims: list[dict[str, Any]] = field(default_factory=list)
    derivations: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""
    log: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "figures": [f"figures/{f['png']}" for f in self.figures],
            "vector_figures": [f"figures/{f['svg']}" for f in self.figures],
            "numbers": self.numbers,
            "claims": [
                {"key": c["key"], "text": c["text"], "holds": c["holds"],
                 "evidence": c.get("evidence", "")}
                for c in self.claims
            ],
            "checks": [
                {"key": c["key"], "text": c["text"], "holds": c["holds"],
                 "evidence": c.get("evidence", "")}
                for c in self.checks
            ],
            "seconds": self.seconds,
            "script": self.script,
            "error": self.error,
        }


@dataclass
class Report:
    """What :func:`build_report` wrote."""

    out: Path
    analyses: list[AnalysisResult]
    quick: bool

    @property
    def ok(self) -> bool:
        """Every analysis ran (a claim that does not hold is a finding, not a failure)."""
        return all(a.status != STATUS_FAILED for a in self.analyses)


def discover_analyses(path: str | os.PathLike[str]) -> list[Path]:
    """The analysis scripts at ``path``: the file itself, or every ``*.py`` of a folder whose
    name does not start with ``_``, sorted by name."""
    p = Path(path)
    if p.is_file():
        if p.suffix != ".py":
            raise ValueError(f"analyses must be a .py script or a folder of them, got {str(p)!r}")
        return [p.resolve()]
    if not p.is_dir():
        raise ValueError(f"analyses path {str(p)!r} does not exist")
    scripts = sorted(q.resolve() for q in p.glob("*.py") if not q.name.startswith("_"))
    if not scripts:
        raise ValueError(f"no analysis scripts (*.py not starting with '_') in {str(p)!r}")
    names = [analysis_name(s) for s in scripts]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"two scripts map to the same analysis name: {sorted(dupes)}")
    return scripts


class _Running:
    def __init__(self, script: Path, workdir: Path, env: dict[str, str], timeout: float | None,
                 stream: TextIO | None) -> None:
        self.script = script
        self.name = analysis_name(script)
        self.result_file = workdir / "_results" / f"{self.name}.json"
        self.log_lines: list[str] = []
        self.t0 = time.perf_counter()
        self.timeout = timeout
        self.stream = stream
        child_env = dict(env)
        child_env[ENV_FIGURE_DIR] = str(workdir / "figures")
        child_env[ENV_RESULT_FILE] = str(self.result_file)
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=str(script.parent),
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log_lines.append(line)
            if line.startswith(PROGRESS_PREFIX) and self.stream is not None:
                msg = line[len(PROGRESS_PREFIX):].rstrip()
                print(f"        {self.name}: {msg}", file=self.stream, flush=True)

    def timed_out(self) -> bool:
        return self.timeout is not None and time.perf_counter() - self.t0 > self.timeout

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()

    def collect(self, timed_out: bool = False) -> AnalysisResult:
        self.reader.join(timeout=5)
        seconds = round(time.perf_counter() - self.t0, 2)
        log = "".join(self.log_lines)
        data: dict[str, Any] = {}
        if self.result_file.exists():
            try:
                data = json.loads(self.result_file.read_text())
            except json.JSONDecodeError as exc:
                log += f"\n[lrctl] could not read the analysis result: {exc}\n"
        res = AnalysisResult(
            name=self.name,
            script=str(self.script),
            status=STATUS_OK,
            title=data.get("title", self.name),
            summary=data.get("summary", ""),
            figures=data.get("figures", []),
            numbers=data.get("numbers", {}),
            number_details=data.get("number_details", {}),
            claims=data.get("claims", []),
            checks=data.get("checks", []),
            seed_claims=data.get("seed_claims", []),
            derivations=data.get("derivations", []),
            seconds=seconds,
            log=log,
        )
        rc = self.proc.returncode
        if timed_out:
            res.status = STATUS_FAILED
            res.error = f"timed out after {self.timeout:g} s"
        elif rc != 0:
            res.status = STATUS_FAILED
            res.error = _last_traceback(log) or f"exited with code {rc}"
        elif not data:
            res.status = STATUS_FAILED
            res.error = "the script finished without recording anything (no lrctl.report.Analysis)"
        elif not all(c.get("holds") for c in res.claims):
            res.status = STATUS_CLAIM_FAILED
        return res


def _last_traceback(log: str) -> str:
    i = log.rfind("Traceback (most recent call last)")
    return log[i:].strip() if i >= 0 else log.strip()[-4000:]


def _child_env(quick: bool, jobs: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(ENV_FIGURE_DIR, None)
    env.pop(ENV_RESULT_FILE, None)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONHASHSEED"] = "0"
    env[ENV_QUICK] = "1" if quick else "0"
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    return env


def _safe_to_replace(out: Path) -> bool:
    return not out.exists() or (out.is_dir() and (not any(out.iterdir()) or (out / "report.json").exists()))


def build_report(
    analyses: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "analyses",
    out: str | os.PathLike[str] = "report",
    *,
    jobs: int | None = None,
    quick: bool = False,
    timeout: float | None = None,
    stream: TextIO | None = None,
) -> Report:
    """Run analysis scripts and write the report to ``out``.

    Parameters
    ----------
    analyses
        A folder of scripts, one script, or a list of scripts.
    out
        The report folder. It is replaced as a whole when the run completes; an existing
        folder that is not an lrctl report (no ``report.json``) is refused, never deleted.
    jobs
        Scripts run at once (default: the number of cores).
    quick
        Ask scripts for their quick variant (smaller grids; for CI).
    timeout
        Seconds after which one script is stopped and reported as failed.
    stream
        A text stream for the progress lines (default ``None``: standard error). Pass
        ``open(os.devnull, "w")`` for silence.
    """
    from lrctl._validation import check_int

    if stream is None:
        stream = sys.stderr
    if jobs is None:
        jobs = os.cpu_count() or 1
    jobs = check_int("jobs", jobs, minimum=1)
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if isinstance(analyses, (str, os.PathLike)):
        scripts = discover_analyses(analyses)
    else:
        scripts = [s for a in analyses for s in discover_analyses(a)]
        if not scripts:
            raise ValueError("analyses is an empty list; give a folder or at least one script")
    out_path = Path(out).resolve()
    if not _safe_to_replace(out_path):
        raise ValueError(
            f"out folder {str(out_path)!r} exists and is not an lrctl report (no report.json); "
            "refusing to replace it: choose another --out"
        )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    workdir = out_path.parent / f".{out_path.name}.tmp-{os.getpid()}"
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "figures").mkdir(parents=True)
    (workdir / "_results").mkdir()

    env = _child_env(quick, jobs)
    pending = list(scripts)
    running: list[_Running] = []
    results: dict[str, AnalysisResult] = {}
    n = len(scripts)
    print(f"lrctl report: {n} analyses, {min(jobs, n)} at a time{' (quick)' if quick else ''}",
          file=stream, flush=True)
    t_start = time.perf_counter()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                r = _Running(pending.pop(0), workdir, env, timeout, stream)
                print(f"  ...   {r.name} started", file=stream, flush=True)
                running.append(r)
            time.sleep(0.05)
            for r in list(running):
                to = r.timed_out()
                if to:
                    r.kill()
                if to or r.proc.poll() is not None:
                    running.remove(r)
                    res = r.collect(timed_out=to)
                    results[res.name] = res
                    mark = {"ok": "ok  ", "claims-failed": "CLAIM", "failed": "FAIL"}[res.status]
                    held = sum(bool(c.get("holds")) for c in res.claims)
                    print(
                        f"  [{len(results):>2}/{n}] {mark} {res.name}  {res.seconds:.1f} s  "
                        f"({len(res.figures)} figures, {held}/{len(res.claims)} claims hold)",
                        file=stream,
                        flush=True,
                    )
                    if res.status == STATUS_FAILED:
                        print(_indent(res.error or res.log[-2000:], "        "), file=stream)
        ordered = [results[analysis_name(s)] for s in scripts]
        report = Report(out=out_path, analyses=ordered, quick=quick)
        (workdir / "report.json").write_text(
            json.dumps(
                {"analyses": [a.as_json() for a in ordered], "quick": quick},
                indent=1,
                allow_nan=False,
            )
        )
        (workdir / "index.html").write_text(render_html(report), encoding="utf-8")
        shutil.rmtree(workdir / "_results")
        _swap_into_place(workdir, out_path)
    except BaseException:
        for r in running:
            r.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    total = time.perf_counter() - t_start
    bad = [a.name for a in report.analyses if a.status != STATUS_OK]
    print(
        f"lrctl report: wrote {out_path / 'index.html'} in {total:.1f} s; "
        + ("all analyses ok" if not bad else f"not ok: {', '.join(bad)}"),
        file=stream,
        flush=True,
    )
    return report


def _swap_into_place(new: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    new.rename(out)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


