"""The report: analysis scripts in, figures, numbers, checked claims and derivations out.

Two halves live here.

**The script API** (:class:`Analysis`) is what an analysis script uses to declare what it
produced::

    from lrctl.report import Analysis

    with Analysis(__file__, title="GD stability on a real problem") as an:
        an.figure(fig, "loss-curves", caption="Full-batch GD at 0.9x, 1.0x, 1.1x the bound")
        an.number("bound", 2 / lam_max, unit="lr", description="2/λmax at the optimum")
        an.claim("GD at 0.98x the bound converges", bool(converged))
        an.derivation(quadratic.derive_gd_stability())

Run on its own (``python analyses/gd_stability.py``) a script writes into
``lrctl-out/<name>/`` and prints a summary; run by the engine it writes where the engine says.

**The engine** (:func:`build_report`, ``lrctl report``) runs every script of a folder, each in
its own process and several at once, and writes ``index.html`` (works from disk, no network),
``report.json`` and the figures. The report is assembled in a temporary folder beside the
target and renamed into place at the end, so an interrupted run leaves the previous report
intact. A failing script is reported as failed with its traceback; the others go on.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
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

__all__ = [
    "Analysis",
    "AnalysisResult",
    "Report",
    "analysis_name",
    "build_report",
    "discover_analyses",
    "render_html",
]

# Environment variables through which the engine talks to a script.
ENV_FIGURE_DIR = "LRCTL_FIGURE_DIR"
ENV_RESULT_FILE = "LRCTL_RESULT_FILE"
ENV_QUICK = "LRCTL_QUICK"
PROGRESS_PREFIX = "[lrctl-progress] "

STATUS_OK = "ok"
STATUS_CLAIM_FAILED = "claims-failed"
STATUS_FAILED = "failed"


def analysis_name(path: str | os.PathLike[str]) -> str:
    """The analysis name of a script: its file stem with ``_`` written as ``-``.

    >>> analysis_name("analyses/pi_controller.py")
    'pi-controller'
    """
    return Path(path).stem.replace("_", "-")


def _json_value(name: str, value: Any) -> Any:
    """A JSON-safe copy of a number (or a flat list of numbers); NaN is refused."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            raise ValueError(f"number {name!r} is NaN; a report number must be a real value")
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_value(name, v) for v in np.asarray(value).ravel().tolist()]
    raise TypeError(
        f"number {name!r} must be a bool, int, float, str or a list of those, "
        f"got {type(value).__name__}"
    )


class Analysis:
    """What one analysis script produced: figures, numbers, claims and derivations.

    Parameters
    ----------
    script
        The script's path (pass ``__file__``); its stem names the analysis.
    title
        A one-line title for the report section.
    summary
        Optional paragraph shown under the title.

    Use it as a context manager: on exit the result is written, also when the script raised
    (then the engine reports the analysis as failed with the traceback).
    """

    def __init__(self, script: str | os.PathLike[str], title: str, summary: str = "") -> None:
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"title must be a non-empty string, got {title!r}")
        self.name = analysis_name(script)
        self.title = title
        self.summary = summary
        self._standalone = ENV_RESULT_FILE not in os.environ
        default_dir = Path.cwd() / "lrctl-out" / self.name
        self.figure_dir = Path(os.environ.get(ENV_FIGURE_DIR, default_dir))
        self.result_file = Path(os.environ.get(ENV_RESULT_FILE, default_dir / "result.json"))
        self.figures: list[dict[str, str]] = []
        self.numbers: dict[str, Any] = {}
        self.number_details: dict[str, dict[str, str]] = {}
        self.claims: list[dict[str, Any]] = []
        self.derivations: list[dict[str, Any]] = []
        self._t0 = time.perf_counter()

    # -- switches -------------------------------------------------------------------------
    @property
    def quick(self) -> bool:
        """True when the report runs in ``--quick`` mode (CI): use smaller grids and fewer steps."""
        return os.environ.get(ENV_QUICK, "") not in ("", "0")

    # -- declarations ---------------------------------------------------------------------
    def figure(self, fig: Any, key: str, caption: str = "", *, dpi: int = 110) -> Path:
        """Save a matplotlib Figure as ``<name>-<key>.png`` and ``.svg``, then close it."""
        import matplotlib.pyplot as plt

        if not key or any(c in key for c in "/\\ "):
            raise ValueError(f"figure key must be a non-empty name without spaces or '/', got {key!r}")
        if any(f["key"] == key for f in self.figures):
            raise ValueError(f"figure key {key!r} is used twice in analysis {self.name!r}")
        self.figure_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{self.name}-{key}"
        png = self.figure_dir / f"{stem}.png"
        fig.savefig(png, dpi=dpi, bbox_inches="tight")
        fig.savefig(self.figure_dir / f"{stem}.svg", bbox_inches="tight")
        plt.close(fig)
        self.figures.append({"key": key, "png": png.name, "svg": f"{stem}.svg", "caption": caption})
        return png

    def number(self, key: str, value: Any, *, unit: str = "", description: str = "") -> Any:
        """Record a named number (or a short list of numbers); NaN is refused."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"number key must be a non-empty string, got {key!r}")
        self.numbers[key] = _json_value(key, value)
        self.number_details[key] = {"unit": unit, "description": description}
        return value

    def claim(self, text: str, holds: Any, detail: str = "") -> bool:
        """Record a claim from the theory and whether it held numerically."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"claim text must be a non-empty string, got {text!r}")
        import numpy as np

        arr = np.asarray(holds)
        if arr.dtype == object or arr.size != 1:  # a list, an array of several entries, None
            raise TypeError(f"claim {text!r}: holds must be a single bool, got {holds!r}")
        ok = bool(arr.item())
        self.claims.append({"text": text, "holds": ok, "detail": detail})
        return ok

    def derivation(self, deriv: Any) -> None:
        """Record a :class:`lrctl.derivation.Derivation`, rendered as MathML in the report."""
        if not hasattr(deriv, "to_dict"):
            raise TypeError(f"derivation must be a lrctl Derivation, got {type(deriv).__name__}")
        self.derivations.append(deriv.to_dict())

    def progress(self, message: str) -> None:
        """Show a progress line on the terminal (also while the engine runs the script)."""
        print(PROGRESS_PREFIX + message, file=sys.stderr, flush=True)

    # -- output ---------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "figures": list(self.figures),
            "numbers": dict(self.numbers),
            "number_details": dict(self.number_details),
            "claims": list(self.claims),
            "derivations": list(self.derivations),
            "seconds": round(time.perf_counter() - self._t0, 3),
        }

    def save(self) -> Path:
        self.result_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.result_file.with_suffix(".json.part")
        tmp.write_text(json.dumps(self.as_dict(), indent=1, allow_nan=False))
        tmp.replace(self.result_file)
        return self.result_file

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.save()
        if self._standalone:
            out = sys.stdout
            print(f"{self.name}: {self.title}", file=out)
            for c in self.claims:
                print(f"  [{'ok' if c['holds'] else 'FAILED'}] {c['text']}", file=out)
            for k, v in self.numbers.items():
                print(f"  {k} = {v}", file=out)
            print(f"  figures in {self.figure_dir}", file=out)


# ---------------------------------------------------------------------------------------
# The engine
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
            "claims": [{"text": c["text"], "holds": c["holds"]} for c in self.claims],
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
        return all(a.status == STATUS_OK for a in self.analyses)


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


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2329;background:#fafbfc}
header{background:#1f3a5f;color:#fff;padding:1.2em 2em}
header h1{margin:0;font-size:1.5em} header p{margin:.3em 0 0;opacity:.85}
main{max-width:1150px;margin:0 auto;padding:1em 2em 4em}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4em}
nav li a{display:inline-block;padding:.25em .6em;border-radius:4px;text-decoration:none;color:#1d2329;background:#e8edf3}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:1em 1.5em;margin:1.5em 0}
h2{margin-top:.2em} .name{font-family:ui-monospace,monospace;color:#5b6875;font-size:.85em}
.badge{font-size:.75em;padding:.15em .5em;border-radius:3px;margin-left:.5em;vertical-align:middle;color:#fff}
.ok{background:#2e7d32} .claims-failed{background:#c77700} .failed{background:#b3261e}
ul.claims{list-style:none;padding-left:0} ul.claims li{margin:.3em 0}
.mark{display:inline-block;width:1.4em;font-weight:bold} .holds{color:#2e7d32} .fails{color:#b3261e}
.detail{color:#5b6875;font-size:.9em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #dde3ea;padding:.25em .6em;text-align:left;font-size:.92em}
td.num{font-family:ui-monospace,monospace}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eef1f4}
figcaption{color:#3c4650;font-size:.92em}
.deriv{border-left:3px solid #1f3a5f;padding-left:1em;margin:1em 0}
.deriv ol{margin:.3em 0} pre{background:#f3f5f7;padding:.8em;overflow-x:auto;font-size:.85em}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fmt_number(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt_number(x) for x in v[:12]) + (", …" if len(v) > 12 else "") + "]"
    return str(v)


_MATHML_ALLOWED = None


def _safe_mathml(markup: str) -> str:
    """MathML produced by sympy, checked to be MathML only (no script, no attributes that run
    code); anything else is shown escaped instead."""
    import re

    global _MATHML_ALLOWED
    if _MATHML_ALLOWED is None:
        _MATHML_ALLOWED = re.compile(
            r"</?(math|mrow|mi|mn|mo|msup|msub|msubsup|mfrac|msqrt|mroot|mfenced|mtable|mtr|mtd"
            r"|mtext|mspace|mover|munder|munderover|mstyle|mpadded|mphantom|menclose)"
            r"(\s+(xmlns|display|mathvariant|separators|open|close|stretchy|linethickness|fence"
            r"|columnalign|rowalign|lspace|rspace|width|notation)=\"[^\"<>]*\")*\s*/?>"
        )
    for m in re.finditer(r"<[^>]*>", markup):
        if not _MATHML_ALLOWED.fullmatch(m.group(0)):
            return f"<code>{_e(markup)}</code>"
    return markup


def render_html(report: Report) -> str:
    """The self-contained ``index.html`` of a report (inline CSS, no scripts, no network)."""
    parts: list[str] = []
    n_ok = sum(a.status == STATUS_OK for a in report.analyses)
    n_claims = sum(len(a.claims) for a in report.analyses)
    n_hold = sum(bool(c.get("holds")) for a in report.analyses for c in a.claims)
    parts.append(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>lrctl report</title><style>{_CSS}</style></head><body>"
        "<header><h1>lrctl report</h1>"
        f"<p>{n_ok}/{len(report.analyses)} analyses ok · {n_hold}/{n_claims} claims hold"
        f"{' · quick mode' if report.quick else ''}</p></header><main>"
    )
    parts.append("<nav><ul>")
    for a in report.analyses:
        parts.append(
            f"<li><a href='#{_e(a.name)}'>{_e(a.title)} "
            f"<span class='badge {_e(a.status)}'>{_e(a.status)}</span></a></li>"
        )
    parts.append("</ul></nav>")
    for a in report.analyses:
        parts.append(_render_section(a))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _render_section(a: AnalysisResult) -> str:
    out = [f"<section id='{_e(a.name)}'>"]
    out.append(
        f"<h2>{_e(a.title)}<span class='badge {_e(a.status)}'>{_e(a.status)}</span></h2>"
        f"<div class='name'>{_e(a.name)} · {_e(Path(a.script).name)} · {a.seconds:.1f} s</div>"
    )
    if a.summary:
        out.append(f"<p>{_e(a.summary)}</p>")
    if a.error:
        out.append(f"<h3>Error</h3><pre>{_e(a.error)}</pre>")
    if a.claims:
        out.append("<h3>Claims</h3><ul class='claims'>")
        for c in a.claims:
            ok = bool(c.get("holds"))
            mark = "<span class='mark holds'>✓</span>" if ok else "<span class='mark fails'>✗</span>"
            detail = f" <span class='detail'>{_e(c.get('detail', ''))}</span>" if c.get("detail") else ""
            out.append(f"<li>{mark}{_e(c.get('text', ''))}{detail}</li>")
        out.append("</ul>")
    if a.numbers:
        out.append("<h3>Numbers</h3><table><tr><th>name</th><th>value</th><th>unit</th>"
                   "<th>meaning</th></tr>")
        for k, v in a.numbers.items():
            d = a.number_details.get(k, {})
            out.append(
                f"<tr><td>{_e(k)}</td><td class='num'>{_e(_fmt_number(v))}</td>"
                f"<td>{_e(d.get('unit', ''))}</td><td>{_e(d.get('description', ''))}</td></tr>"
            )
        out.append("</table>")
    for d in a.derivations:
        out.append(f"<div class='deriv'><h3>{_e(d.get('title', 'Derivation'))}</h3>")
        out.append(_safe_mathml(d.get("statement_mathml", "")))
        steps = d.get("steps", [])
        if steps:
            out.append("<ol>")
            for s in steps:
                out.append(f"<li>{_e(s.get('text', ''))} {_safe_mathml(s.get('mathml', ''))}</li>")
            out.append("</ol>")
        if d.get("assumptions"):
            out.append("<p class='detail'>Assumptions: " + "; ".join(_e(x) for x in d["assumptions"]) + "</p>")
        out.append("</div>")
    for f in a.figures:
        png, svg = _e(f.get("png", "")), _e(f.get("svg", ""))
        out.append(
            f"<figure><a href='figures/{svg}'><img src='figures/{png}' alt='{_e(f.get('caption') or f.get('key'))}'></a>"
            f"<figcaption>{_e(f.get('caption', ''))} <a href='figures/{svg}'>(SVG)</a></figcaption></figure>"
        )
    if a.log.strip():
        out.append(f"<details><summary>script output</summary><pre>{_e(a.log[-20000:])}</pre></details>")
    out.append("</section>")
    return "\n".join(out)

