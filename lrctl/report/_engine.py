"""The engine: run every analysis script in its own process group, collect and validate the
results, draw the seed-claim verdicts, and swap the finished report into place atomically.

Robustness rules (see docs/report.md):

- ``--out`` is replaced only when it is empty or carries lrctl's marker file (:data:`MARKER`)
  and holds nothing but the files that marker lists; anything else is refused.
- The report is assembled in ``.<out>.tmp-<pid>`` beside ``--out`` (marked, with the owner's
  pid) and exchanged with ``--out`` in one ``renameat2(RENAME_EXCHANGE)`` call on Linux, so at
  every instant ``--out`` holds the old or the new report. Temporary folders of dead runs are
  removed, and their analysis processes stopped, at the next run.
- Each analysis runs in its own session (process group); a timeout, Ctrl-C or SIGTERM kills
  the whole group. Script output goes to a log file; the page keeps its tail.
- A result file that is missing, too large, not JSON or of the wrong shape fails that analysis
  only, with the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime
import errno
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lrctl._process import pid_alive
from lrctl.report._constants import (
    DEFAULT_TIMEOUT,
    ENV_FIGURE_DIR,
    ENV_QUICK,
    ENV_RESULT_FILE,
    ENV_RUN_ID,
    MARKER,
    PROGRESS_PREFIX,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_SKIPPED,
)
from lrctl.report._html import render_html
from lrctl.report._script import analysis_name
from lrctl.report._seed import SEED_CLAIMS, SEED_ORDER, seed_verdict

__all__ = ["AnalysisResult", "Report", "build_report", "discover_analyses"]

#: The largest result file the engine reads (bytes); a larger one fails its analysis.
MAX_RESULT_BYTES = 32 * 1024 * 1024
#: How much of a script's output the page keeps (the tail).
LOG_TAIL_BYTES = 20_000
LOG_TAIL_LINES = 200
#: Heading of the analyses that declare no seed claim (an analyst's own scripts).
OWN_HEADING = "Your analyses"

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,250}")
_SOURCE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,250}\.py")  # a script or helper sent to Dask


class Terminated(BaseException):
    """Raised inside :func:`build_report` when the process receives SIGTERM."""


# ---------------------------------------------------------------------------------------
# Results


@dataclass
class AnalysisResult:
    """One analysis as the engine saw it (validated)."""

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
    skip_reason: str = ""
    log: str = ""

    @property
    def heading_key(self) -> tuple[int, str]:
        """Place in the report: the seed position of the first seed claim it declares."""
        if self.seed_claims:
            return SEED_ORDER.index(self.seed_claims[0]["id"]), self.name
        return len(SEED_ORDER), self.name

    @property
    def heading(self) -> str:
        if self.seed_claims:
            return SEED_CLAIMS[self.seed_claims[0]["id"]].heading
        return OWN_HEADING

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "figures": [f"figures/{self.name}/{f['png']}" for f in self.figures],
            "vector_figures": [f"figures/{self.name}/{f['svg']}" for f in self.figures],
            "numbers": self.numbers,
            "claims": [_public_claim(c) for c in self.claims],
            "checks": [_public_claim(c) for c in self.checks],
            "script": self.script,
            "error": self.error,
            "skip_reason": self.skip_reason,
        }


def _public_claim(c: dict[str, Any]) -> dict[str, Any]:
    return {"key": c["key"], "text": c["text"], "holds": c["holds"], "evidence": c["evidence"]}


@dataclass
class Report:
    """What :func:`build_report` wrote: the analyses in page order, the seed-claim rows and
    the provenance (the only place that holds timings)."""

    out: Path
    analyses: list[AnalysisResult]
    quick: bool
    seed_claims: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No analysis failed: each ran or was skipped for a missing optional module (a claim
        that does not hold is a finding, not a failure)."""
        return all(a.status in (STATUS_OK, STATUS_SKIPPED) for a in self.analyses)

    def as_json(self) -> dict[str, Any]:
        return {
            "provenance": self.provenance,
            "seed_claims": [
                {k: row[k] for k in ("id", "statement", "verdict", "condition", "evidence",
                                     "analysis")}
                for row in self.seed_claims
            ],
            "analyses": [a.as_json() for a in self.analyses],
            "quick": self.quick,
        }


# ---------------------------------------------------------------------------------------
# Discovery


def discover_analyses(path: str | os.PathLike[str]) -> list[Path]:
    """The analysis scripts at ``path``: the file itself, or every ``*.py`` of a folder whose
    name does not start with ``_``, sorted by name."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"analyses must be a path (str or os.PathLike), got {type(path).__name__}")
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
    return scripts


def _check_names(scripts: list[Path]) -> None:
    names = [analysis_name(s) for s in scripts]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"two scripts map to the same analysis name: {dupes}")
    for s, n in zip(scripts, names, strict=True):
        if not _KEY.fullmatch(n):
            raise ValueError(
                f"script {s.name!r} gives the analysis name {n!r}; a name is letters, digits, "
                "'.', '_' and '-', starting with a letter or digit (rename the script)"
            )


# ---------------------------------------------------------------------------------------
# Processes


def _pid_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux /proc), to tell a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _pid_alive(pid: int, start: str | None) -> bool:
    """Alive, and the same process that started at ``start`` (not a reused pid)."""
    if not pid_alive(pid):
        return False
    now = _pid_start_time(pid)
    return start is None or now is None or now == start


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_run_processes(run_id: str) -> int:
    """SIGKILL every process whose environment carries ``ENV_RUN_ID=run_id`` (Linux /proc):
    the analyses of a dead run and the children they started. Returns how many were killed."""
    needle = f"{ENV_RUN_ID}={run_id}".encode()
    killed = 0
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
    return killed


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:  # pragma: no cover - no libc (not Linux)
        return None


_LIBC = _libc() if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _child_setup(parent: int) -> None:  # pragma: no cover - runs in the forked child
    # Die with the engine even when it is SIGKILLed (Linux); the next run stops grandchildren.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


class _Running:
    """One analysis process: its own session, output in a log file, a private figure folder
    and result path."""

    def __init__(self, script: Path, workdir: Path, env: dict[str, str], timeout: float | None,
                 stream: TextIO) -> None:
        self.script = script
        self.name = analysis_name(script)
        self.figure_dir = workdir / "figures" / self.name
        self.figure_dir.mkdir(parents=True)
        self.result_file = workdir / "_results" / f"{self.name}.json"
        self.log_file = workdir / "_logs" / f"{self.name}.log"
        self.timeout = timeout
        self.stream = stream
        self.t0 = time.monotonic()
        child_env = dict(env)
        child_env[ENV_FIGURE_DIR] = str(self.figure_dir)
        child_env[ENV_RESULT_FILE] = str(self.result_file)
        self._partial = b""
        with open(self.log_file, "wb") as log:
            parent = os.getpid()
            self.proc = subprocess.Popen(
                [sys.executable, str(script)],
                cwd=str(script.parent),
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=(lambda: _child_setup(parent)) if _LIBC is not None else None,
            )
        self.pgid = self.proc.pid  # start_new_session: the child leads its own group
        self._reader = open(self.log_file, "rb")  # closed in finish()

    def pump_progress(self, limit: int = 4 * 1024 * 1024) -> None:
        """Show the script's progress lines (``an.progress``) on the terminal, without prefix."""
        chunk = self._reader.read(limit)
        if not chunk:
            return
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()[-4096:]
        prefix = PROGRESS_PREFIX.encode()
        for line in lines:
            if line.startswith(prefix):
                msg = line[len(prefix):].decode("utf-8", "replace").rstrip()
                print(f"        {self.name}: {msg}", file=self.stream, flush=True)

    def timed_out(self) -> bool:
        return self.timeout is not None and time.monotonic() - self.t0 > self.timeout

    def kill(self) -> None:
        _kill_group(self.pgid)
        with contextlib.suppress(Exception):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)

    def finish(self) -> None:
        """After the script exited: stop what it left running in its group, close the log."""
        _kill_group(self.pgid)
        with contextlib.suppress(Exception):
            self.pump_progress()
        self._reader.close()

    def log_tail(self) -> str:
        return _log_tail(self.log_file)


def _log_tail(path: Path) -> str:
    """The last lines of a log, bounded in bytes, with the progress prefix removed."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            data = fh.read(LOG_TAIL_BYTES)
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is cut
    cut = size > LOG_TAIL_BYTES or len(lines) > LOG_TAIL_LINES
    lines = [ln[len(PROGRESS_PREFIX):] if ln.startswith(PROGRESS_PREFIX) else ln
             for ln in lines[-LOG_TAIL_LINES:]]
    head = [f"[… {size:,} bytes of output; the last lines follow]"] if cut else []
    return "\n".join(head + lines) + ("\n" if lines else "")


def _last_traceback(log: str) -> str:
    i = log.rfind("Traceback (most recent call last)")
    return log[i:].strip() if i >= 0 else log.strip()[-4000:]


def _child_env(quick: bool, jobs: int, run_id: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in (ENV_FIGURE_DIR, ENV_RESULT_FILE):
        env.pop(var, None)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    env[ENV_QUICK] = "1" if quick else "0"
    env[ENV_RUN_ID] = run_id
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    return env


# ---------------------------------------------------------------------------------------
# The Dask engine: each analysis is one task; the worker runs the same process launch


#: Seconds to wait for the first worker of a cluster that has none yet.
DASK_WORKER_WAIT = 30.0
#: Seconds to wait for a scheduler address to answer.
DASK_CONNECT_TIMEOUT = 15.0
_DASK_HINT = "pip install 'lrctl[dask]'"


def _dask_client(dask: Any) -> tuple[Any, bool]:
    """(client, whether lrctl opened it) for ``build_report(dask=...)``; (None, False) for
    ``None``. An address is connected to here, before any script runs."""
    if dask is None:
        return None, False
    if isinstance(dask, bool) or not (isinstance(dask, str) or hasattr(dask, "submit")):
        raise TypeError(f"dask must be a scheduler address (a str such as 'tcp://host:8786') or "
                        f"a distributed.Client, got {type(dask).__name__}: {dask!r:.80}")
    try:
        import distributed
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"running the report on Dask (dask=..., --dask) needs dask.distributed, which is "
            f"not installed: {_DASK_HINT}") from exc
    if isinstance(dask, distributed.Client):
        if dask.status not in ("running", "newly-created"):
            raise ValueError(f"dask: the distributed.Client is {dask.status!r}, not running")
        return dask, False
    if not isinstance(dask, str) or not dask.strip():
        raise TypeError(f"dask must be a scheduler address (a non-empty str such as "
                        f"'tcp://host:8786') or a distributed.Client, got {dask!r:.80}")
    try:
        client = distributed.Client(dask.strip(), timeout=DASK_CONNECT_TIMEOUT,
                                    set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"dask: could not connect to a Dask scheduler at {dask!r}: {exc}") from exc
    return client, True


def _script_sources(script: Path) -> dict[str, bytes]:
    """What a worker needs to run ``script``: its text and the helper modules beside it
    (``_*.py``), by file name."""
    files = {script.name: script.read_bytes()}
    for helper in sorted(script.parent.glob("_*.py")):
        if helper.is_file() and helper.name != script.name:
            files[helper.name] = helper.read_bytes()
    return files


class _EventStream:
    """A text stream on a Dask worker whose lines go to the client as events of ``topic``
    (what :meth:`_Running.pump_progress` prints there)."""

    def __init__(self, worker: Any, topic: str, name: str) -> None:
        self.worker, self.topic, self.name = worker, topic, name
        self.seq = 0
        self._buf = ""

    def write(self, text: str) -> int:
        self._buf += text
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            self.seq += 1
            if self.worker is not None:
                with contextlib.suppress(Exception):
                    self.worker.log_event(self.topic, {"name": self.name, "seq": self.seq,
                                                       "line": line[:2000]})
        return len(text)

    def flush(self) -> None:
        pass


def _run_on_worker(script_name: str, sources: dict[str, bytes], origin: str, quick: bool,
                   run_id: str, timeout: float | None, topic: str) -> dict[str, Any]:
    """One analysis on a Dask worker (the task's body).

    The script (and its ``_*.py`` helpers) is written to a scratch folder in the worker's
    local directory and run exactly as the local engine runs it (:class:`_Running`: its own
    session, the same environment rules from the worker's environment, output to a log file,
    the timeout and the process-group kill); what it left behind is stopped by its own run id.
    Returns the raw result bytes (or the reason there are none), the log tail (with the
    scratch folder written as the script's folder on the client, ``origin``, so that a
    traceback names the user's file), every figure file, the exit code and whether it timed
    out; the client validates them.
    """
    import tempfile

    worker = None
    base, nthreads, address = None, 1, "a Dask worker"
    try:
        from distributed import get_worker

        worker = get_worker()
        base, nthreads, address = worker.local_directory, worker.state.nthreads, worker.address
    except (ImportError, ValueError, AttributeError):  # pragma: no cover - outside a worker
        pass
    name = analysis_name(script_name)
    cancel = None
    with contextlib.suppress(Exception):
        from distributed import Event

        cancel = Event(f"lrctl-report-cancel-{run_id}")
    scratch = Path(tempfile.mkdtemp(prefix=f"lrctl-report-{name}-", dir=base))
    own_run = f"{run_id}.{name}"
    try:
        src = scratch / "scripts"
        src.mkdir()
        for fname, data in sources.items():
            if _SOURCE.fullmatch(fname):
                (src / fname).write_bytes(data)
        for sub in ("figures", "_results", "_logs"):
            (scratch / sub).mkdir()
        stream = _EventStream(worker, topic, name)
        r = _Running(src / script_name, scratch, _child_env(quick, nthreads, own_run), timeout,
                     stream)
        stream.write(f"  ...   {name} started on {address}\n")
        timed_out = cancelled = False
        next_cancel_check = time.monotonic() + 0.5
        try:
            while True:
                time.sleep(0.05)
                r.pump_progress()
                timed_out = r.timed_out()
                if cancel is not None and time.monotonic() > next_cancel_check:
                    next_cancel_check = time.monotonic() + 0.5
                    with contextlib.suppress(Exception):
                        cancelled = cancel.is_set()
                if timed_out or cancelled:
                    r.kill()
                    break
                if r.proc.poll() is not None:
                    break
        finally:
            r.finish()
            _kill_run_processes(own_run)
        raw, reason = _result_bytes(r.result_file)
        figures = {}
        for root, _dirs, files in os.walk(r.figure_dir):
            for f in files:
                path = Path(root, f)
                if path.is_file() and not path.is_symlink():
                    figures[path.relative_to(r.figure_dir).as_posix()] = path.read_bytes()
        log = r.log_tail().replace(str(src) + os.sep, origin.rstrip(os.sep) + os.sep)
        return {"result": raw, "reason": reason, "log": log, "figures": figures,
                "returncode": r.proc.returncode, "timed_out": timed_out,
                "cancelled": cancelled, "seconds": round(time.monotonic() - r.t0, 2),
                "worker": address}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _DaskRun:
    """The client side of a report on Dask: submit one task per script, stream the workers'
    progress lines, and turn each returned result into an :class:`AnalysisResult` through the
    same validation as a local run."""

    def __init__(self, client: Any, workdir: Path, quick: bool, timeout: float | None,
                 run_id: str, stream: TextIO) -> None:
        self.client, self.workdir, self.quick, self.timeout = client, workdir, quick, timeout
        self.run_id, self.stream = run_id, stream
        self.topic = f"lrctl-report-{run_id}"
        self.futures: dict[Any, Path] = {}
        self._printed: dict[str, int] = {}
        try:
            client.wait_for_workers(1, timeout=DASK_WORKER_WAIT)
        except (TimeoutError, OSError) as exc:
            raise ValueError(f"dask: the cluster at {client.scheduler.address} has no worker "
                             f"after {DASK_WORKER_WAIT:g} s: {exc}") from exc
        info = client.scheduler_info()
        workers = info.get("workers", {})
        self.scheduler = str(client.scheduler.address)
        self.workers = len(workers)
        self.threads = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def run(self, scripts: list[Path], done: Any) -> None:
        for script in scripts:
            f = self.client.submit(
                _run_on_worker, script.name, _script_sources(script), str(script.parent),
                self.quick, self.run_id, self.timeout, self.topic,
                key=f"lrctl-report-{analysis_name(script)}-{self.run_id}", pure=False)
            self.futures[f] = script
        pending = dict(self.futures)
        next_events = 0.0
        while pending:
            time.sleep(0.05)
            finished = [f for f in pending if f.done()]
            if finished or time.monotonic() > next_events:
                self._print_events()
                next_events = time.monotonic() + 0.25
            for f in finished:
                script = pending.pop(f)
                res, secs = self._collect(f, script)
                done(res, secs)

    def _print_events(self) -> None:
        try:
            events = self.client.get_events(self.topic)
        except Exception:  # progress lines are best effort; results do not depend on them
            return
        for _t, msg in events:
            if not isinstance(msg, dict):
                continue
            name, seq = msg.get("name"), msg.get("seq")
            if not isinstance(seq, int) or seq <= self._printed.get(name, 0):
                continue
            self._printed[name] = seq
            print(str(msg.get("line", "")), file=self.stream, flush=True)

    def _collect(self, future: Any, script: Path) -> tuple[AnalysisResult, float]:
        name = analysis_name(script)
        try:
            out = future.result()
        except Exception as exc:
            res = AnalysisResult(name=name, script=script.name, status=STATUS_FAILED, title=name,
                                 error=f"the Dask task failed: {type(exc).__name__}: {exc}")
            return res, 0.0
        figure_dir = self.workdir / "figures" / name
        figure_dir.mkdir(parents=True, exist_ok=True)
        for rel, data in out["figures"].items():
            parts = rel.split("/")
            if all(_FILE.fullmatch(p) for p in parts):
                target = figure_dir.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        if out["result"] is None:
            parsed: tuple[dict[str, Any] | None, str] = (None, out["reason"])
        else:
            parsed = _parse_result(out["result"], name, figure_dir)
        res = _outcome(name, script.name, parsed, out["log"], out["returncode"],
                       out["timed_out"], self.timeout)
        if out.get("cancelled"):
            res.status, res.error = STATUS_FAILED, "cancelled on the Dask worker"
        return res, float(out["seconds"])

    def cancel(self) -> None:
        """Stop the run's analyses on the workers (Ctrl-C, SIGTERM, an error here)."""
        with contextlib.suppress(Exception):
            from distributed import Event

            Event(f"lrctl-report-cancel-{self.run_id}", client=self.client).set()
        with contextlib.suppress(Exception):
            self.client.cancel(list(self.futures))


# ---------------------------------------------------------------------------------------
# Validation of a result file


class _Malformed(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _Malformed(f"the result holds {name}, which is not a number a report can show")


def _want(cond: bool, msg: str) -> None:
    if not cond:
        raise _Malformed(msg)


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    if key not in obj:
        _want(not required, f"{where}: field {key!r} is missing")
        return ""
    v = obj[key]
    _want(isinstance(v, str), f"{where}: field {key!r} must be a string, got {type(v).__name__}")
    return v


def _number_value(v: Any, where: str) -> Any:
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        _want(math.isfinite(v), f"{where} is not finite")
        return v
    if isinstance(v, list):
        for i, x in enumerate(v):
            _want(not isinstance(x, (list, dict)), f"{where}[{i}] is nested; a number is a scalar "
                  "or a 1-D list")
            _number_value(x, f"{where}[{i}]")
        return v
    raise _Malformed(f"{where} must be a number, a string or a 1-D list, got {type(v).__name__}")


def _claims(data: dict[str, Any], field_name: str) -> list[dict[str, Any]]:
    items = data.get(field_name, [])
    _want(isinstance(items, list), f"field {field_name!r} must be a list, got {type(items).__name__}")
    out: list[dict[str, Any]] = []
    keys: set[str] = set()
    for i, c in enumerate(items):
        where = f"{field_name}[{i}]"
        _want(isinstance(c, dict), f"{where} must be an object, got {type(c).__name__}")
        key = _text(c, "key", where)
        _want(bool(_KEY.fullmatch(key)), f"{where}: key {key!r} is not 1-200 letters, digits, "
              "'.', '_' or '-'")
        _want(key not in keys, f"{where}: key {key!r} is used twice")
        keys.add(key)
        text = _text(c, "text", where)
        _want(bool(text.strip()), f"{where}: text is empty")
        holds = c.get("holds")
        _want(isinstance(holds, bool), f"{where}: holds must be true or false, got {holds!r:.40}")
        out.append({"key": key, "text": text, "holds": holds,
                    "evidence": _text(c, "evidence", where, required=False)})
    return out


def _validate(data: Any, name: str, figure_dir: Path) -> dict[str, Any]:
    """A validated copy of one result (raises :class:`_Malformed` with the reason)."""
    _want(isinstance(data, dict), f"the result must be a JSON object, got {type(data).__name__}")
    got = data.get("name")
    _want(got == name, f"the result names analysis {got!r:.80}, expected {name!r} (a script "
          "records only its own analysis)")
    res: dict[str, Any] = {"title": _text(data, "title", "result") or name,
                           "summary": _text(data, "summary", "result", required=False)}
    status = data.get("status", STATUS_OK)
    _want(status in (STATUS_OK, STATUS_SKIPPED),
          f"field 'status' must be {STATUS_OK!r} or {STATUS_SKIPPED!r}, got {status!r:.40}")
    res["status"] = status
    res["skip_reason"] = _text(data, "skip_reason", "result", required=status == STATUS_SKIPPED)
    _want(status != STATUS_SKIPPED or bool(res["skip_reason"].strip()),
          "a skipped result needs a non-empty 'skip_reason'")

    figs = data.get("figures", [])
    _want(isinstance(figs, list), "field 'figures' must be a list")
    res["figures"] = []
    seen: set[str] = set()
    for i, f in enumerate(figs):
        where = f"figures[{i}]"
        _want(isinstance(f, dict), f"{where} must be an object")
        item = {k: _text(f, k, where, required=k != "caption") for k in ("key", "png", "svg",
                                                                         "caption")}
        for k in ("png", "svg"):
            _want(bool(_FILE.fullmatch(item[k])) and item[k].endswith("." + k),
                  f"{where}: {k} {item[k]!r:.80} is not a plain .{k} file name")
            _want((figure_dir / item[k]).is_file(),
                  f"{where}: {item[k]!r} was not written to this analysis's figure folder")
        _want(item["key"] not in seen, f"{where}: key {item['key']!r} is used twice")
        seen.add(item["key"])
        res["figures"].append(item)

    numbers = data.get("numbers", {})
    _want(isinstance(numbers, dict), "field 'numbers' must be an object")
    details = data.get("number_details", {})
    _want(isinstance(details, dict), "field 'number_details' must be an object")
    res["numbers"] = {}
    res["number_details"] = {}
    for k, v in numbers.items():
        res["numbers"][k] = _number_value(v, f"number {k!r:.80}")
        d = details.get(k, {})
        _want(isinstance(d, dict), f"number_details[{k!r:.80}] must be an object")
        res["number_details"][k] = {x: _text(d, x, f"number_details[{k!r:.80}]", required=False)
                                    for x in ("unit", "description")}

    res["claims"] = _claims(data, "claims")
    res["checks"] = _claims(data, "checks")
    claim_keys = {c["key"] for c in res["claims"]}

    seeds = data.get("seed_claims", [])
    _want(isinstance(seeds, list), "field 'seed_claims' must be a list")
    res["seed_claims"] = []
    for i, s in enumerate(seeds):
        where = f"seed_claims[{i}]"
        _want(isinstance(s, dict), f"{where} must be an object")
        sid = _text(s, "id", where)
        _want(sid in SEED_CLAIMS, f"{where}: unknown seed claim id {sid!r:.80}")
        _want(all(x["id"] != sid for x in res["seed_claims"]), f"{where}: {sid!r} declared twice")
        keys = s.get("claims")
        _want(isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys),
              f"{where}: claims must be a non-empty list of claim keys")
        for k in keys:
            _want(k in claim_keys, f"{where}: {k!r:.80} is not a claim of this analysis")
        cond = s.get("condition")
        _want(cond is None or (isinstance(cond, str) and cond in claim_keys),
              f"{where}: condition must be null or the key of a claim of this analysis")
        res["seed_claims"].append({"id": sid, "claims": list(keys), "condition": cond})

    derivs = data.get("derivations", [])
    _want(isinstance(derivs, list), "field 'derivations' must be a list")
    res["derivations"] = []
    for i, d in enumerate(derivs):
        where = f"derivations[{i}]"
        _want(isinstance(d, dict), f"{where} must be an object")
        steps = d.get("steps", [])
        _want(isinstance(steps, list), f"{where}: steps must be a list")
        assumptions = d.get("assumptions", [])
        _want(isinstance(assumptions, list) and all(isinstance(a, str) for a in assumptions),
              f"{where}: assumptions must be a list of strings")
        out_steps = []
        for j, st in enumerate(steps):
            _want(isinstance(st, dict), f"{where}.steps[{j}] must be an object")
            out_steps.append({"text": _text(st, "text", f"{where}.steps[{j}]"),
                              "mathml": _text(st, "mathml", f"{where}.steps[{j}]")})
        res["derivations"].append({
            "title": _text(d, "title", where),
            "statement_mathml": _text(d, "statement_mathml", where),
            "steps": out_steps,
            "assumptions": list(assumptions),
        })
    return res


def _result_bytes(path: Path) -> tuple[bytes | None, str]:
    """(the result file's bytes, "") or (None, reason): missing, unreadable or too large."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None, ("the script finished without recording anything "
                      "(no lrctl.report.Analysis result file)")
    except OSError as exc:
        return None, f"could not read the result file: {exc}"
    if size > MAX_RESULT_BYTES:
        return None, (f"the result file has {size:,} bytes, more than the {MAX_RESULT_BYTES:,} "
                      "a report reads")
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_RESULT_BYTES + 1), ""
    except OSError as exc:
        return None, f"could not read the result file: {exc}"


def _parse_result(raw: bytes, name: str, figure_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """(validated result, "") or (None, reason), from a result file's bytes."""
    if len(raw) > MAX_RESULT_BYTES:
        return None, (f"the result file has more than the {MAX_RESULT_BYTES:,} bytes a report "
                      "reads")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        return _validate(data, name, figure_dir), ""
    except _Malformed as exc:
        return None, f"malformed result: {exc}"
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return None, f"the result file is not JSON: {exc}"


def _read_result(path: Path, name: str, figure_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """(validated result, "") or (None, reason)."""
    raw, reason = _result_bytes(path)
    if raw is None:
        return None, reason
    return _parse_result(raw, name, figure_dir)


def _collect(r: _Running, timed_out: bool, scripts_label: str) -> tuple[AnalysisResult, float]:
    seconds = round(time.monotonic() - r.t0, 2)
    res = _outcome(r.name, scripts_label, _read_result(r.result_file, r.name, r.figure_dir),
                   r.log_tail(), r.proc.returncode, timed_out, r.timeout)
    return res, seconds


def _outcome(name: str, script_label: str, parsed: tuple[dict[str, Any] | None, str], log: str,
             returncode: int | None, timed_out: bool, timeout: float | None) -> AnalysisResult:
    """One analysis's result from what its process left: the validated result (or the reason
    it is missing or malformed), the log tail, the exit code and whether it timed out. The
    local engine and the Dask engine both end here."""
    data, reason = parsed
    res = AnalysisResult(name=name, script=script_label, status=STATUS_OK, title=name, log=log)
    if data is not None:
        for k, v in data.items():
            setattr(res, k, v)
    if timed_out:
        res.status, res.error = STATUS_FAILED, f"timed out after {timeout:g} s (process group killed)"
    elif returncode != 0:
        res.status = STATUS_FAILED
        res.error = _last_traceback(log) or f"exited with code {returncode}"
        if data is None and "finished without recording" not in reason:
            res.error += f"\n[lrctl] {reason}"
    elif data is None:
        res.status, res.error = STATUS_FAILED, reason
    if res.status == STATUS_FAILED:
        res.skip_reason = ""
    return res


# ---------------------------------------------------------------------------------------
# Seed claims


def _seed_rows(results: list[AnalysisResult]) -> list[dict[str, Any]]:
    """One row per seed claim: verdict drawn from the declaring analysis's own claims.

    An id declared by two analyses fails the later one (in script order) with the reason.
    """
    owner: dict[str, tuple[AnalysisResult, dict[str, Any]]] = {}
    for a in sorted(results, key=lambda a: a.name):
        for s in a.seed_claims:
            if s["id"] in owner:
                first = owner[s["id"]][0].name
                a.status = STATUS_FAILED
                a.error = (a.error + "\n" if a.error else "") + (
                    f"seed claim {s['id']!r} is already decided by analysis {first!r}; "
                    "one seed claim has one deciding analysis")
                continue
            owner[s["id"]] = (a, s)
    rows = []
    for sid in SEED_ORDER:
        row: dict[str, Any] = {"id": sid, "statement": SEED_CLAIMS[sid].statement,
                               "verdict": "not tested", "condition": None, "evidence": "",
                               "analysis": None, "claim_keys": [], "condition_key": None}
        if sid in owner:
            a, s = owner[sid]
            by_key = {c["key"]: c for c in a.claims}
            deciding = [by_key[k] for k in s["claims"]]
            cond = by_key[s["condition"]] if s["condition"] else None
            row.update(analysis=a.name, claim_keys=list(s["claims"]),
                       condition_key=s["condition"],
                       condition=cond["text"] if cond else None,
                       evidence="; ".join(
                           f"{c['text']} ({'holds' if c['holds'] else 'does not hold'})"
                           + (f": {c['evidence']}" if c["evidence"] else "") for c in deciding))
            if a.status == STATUS_SKIPPED:
                row["evidence"] = f"analysis {a.name!r} was skipped: {a.skip_reason}"
            elif a.status != STATUS_OK:
                row["evidence"] = f"analysis {a.name!r} failed, so its claims decide nothing"
            else:
                try:
                    row["verdict"] = seed_verdict([c["holds"] for c in deciding],
                                                  cond["holds"] if cond else None)
                except ValueError as exc:
                    a.status = STATUS_FAILED
                    a.error = (a.error + "\n" if a.error else "") + f"seed claim {sid!r}: {exc}"
                    row["evidence"] = f"analysis {a.name!r} failed: {exc}"
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------
# Provenance


def _git_commit() -> str | None:
    import lrctl

    here = Path(lrctl.__file__).resolve().parent
    try:
        top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = top.stdout.split()
    if len(lines) != 2 or Path(lines[0]).resolve() != here.parent:
        return None  # lrctl is not inside this checkout (installed elsewhere)
    commit = lines[1]
    try:
        dirty = subprocess.run(["git", "-C", str(here.parent), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        dirty = ""
    return commit + ("+dirty" if dirty else "")


def _provenance(quick: bool, jobs: int, timeout: float | None) -> dict[str, Any]:
    from importlib import metadata

    import lrctl

    versions = {}
    for pkg in ("numpy", "scipy", "sympy", "control", "matplotlib"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[pkg] = None
    return {
        "lrctl": getattr(lrctl, "__version__", None),
        "git_commit": _git_commit(),
        "started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": "quick" if quick else "full",
        "python": platform.python_version(),
        **versions,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "jobs": jobs,
        "timeout_seconds": timeout,
        "seconds": {},
        "seconds_total": None,
    }


# ---------------------------------------------------------------------------------------
# The folder: marker, stale runs, atomic swap


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("written_by") == "lrctl report" else None


def _write_marker(folder: Path, **fields: Any) -> None:
    data = {"written_by": "lrctl report", **fields}
    (folder / MARKER).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n",
                                 encoding="utf-8")


def _files_under(folder: Path) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            out.append(Path(root, f).relative_to(folder).as_posix())
    return out


def _check_replaceable(out: Path) -> None:
    """Refuse an --out that is not empty and not entirely lrctl's."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ValueError(f"out {str(out)!r} exists and is not a folder; refusing to replace it: "
                         "choose another --out")
    if not out.exists() or not any(out.iterdir()):
        return
    marker = _read_marker(out)
    if marker is None:
        raise ValueError(
            f"out folder {str(out)!r} exists and is not an lrctl report (no {MARKER} marker "
            "file); refusing to replace it: choose another --out or empty it yourself")
    listed = set(marker.get("files", []))
    foreign = [f for f in _files_under(out) if f != MARKER and f not in listed]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ValueError(
            f"out folder {str(out)!r} holds files lrctl did not write ({shown}); refusing to "
            "replace it: move them out or choose another --out")


def _temp_name(out: Path, pid: int) -> Path:
    return out.parent / f".{out.name}.tmp-{pid}"


def _clean_stale(out: Path) -> list[Path]:
    """Remove the temporary folders of dead runs beside ``out`` (only folders carrying lrctl's
    marker whose owner pid is gone) and stop the processes those runs left behind."""
    removed = []
    pattern = re.compile(re.escape(f".{out.name}.") + r"(tmp|old)-(\d+)")
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = pattern.fullmatch(p.name)
        if m is None or p.is_symlink() or not p.is_dir():
            continue
        marker = _read_marker(p)
        if marker is None:
            if int(m.group(2)) != os.getpid() and _pid_alive(int(m.group(2)), None):
                continue
            with contextlib.suppress(OSError):
                p.rmdir()  # an empty folder of a run killed before it wrote its marker
            continue
        pid, start = marker.get("pid"), marker.get("pid_start")
        if isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid, start):
            continue
        if isinstance(marker.get("run_id"), str):
            _kill_run_processes(marker["run_id"])
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False when the
    system does not support it (the caller falls back)."""
    fn = getattr(_LIBC, "renameat2", None) if _LIBC is not None else None
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_into_place(new: Path, out: Path) -> None:
    """Put the finished report ``new`` at ``out``.

    Linux: one ``renameat2(RENAME_EXCHANGE)``, so ``out`` holds the old or the new report at
    every instant; the old report then sits at ``new``'s temporary name (still marked) and is
    removed. When ``out`` does not exist (or is an empty folder) a plain ``rename`` is atomic.
    Fallback (no renameat2): ``out`` is renamed to ``.<out>.old-<pid>`` and ``new`` to ``out``;
    a crash between the two leaves the old report in the ``.old`` folder, which the next run
    puts back at ``out`` before it starts (see :func:`_recover_fallback`).
    """
    if not out.exists():
        new.rename(out)
        return
    if not any(out.iterdir()):
        with contextlib.suppress(OSError):
            new.rename(out)  # rename(2) replaces an empty folder atomically
            return
    if _exchange(new, out):
        _remove_owned(new)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(old)
    new.rename(out)
    _remove_owned(old)


def _remove_owned(folder: Path) -> None:
    """Delete a folder lrctl wrote (marked), or an empty one; never anything else."""
    if _read_marker(folder) is not None:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _recover_fallback(out: Path) -> None:
    """If a fallback swap was interrupted between its two renames, ``out`` is missing and the
    old report waits in ``.<out>.old-<pid>`` of a dead run: put it back."""
    if out.exists() or out.is_symlink():
        return
    for p in sorted(out.parent.glob(f".{out.name}.old-*")):
        m = _read_marker(p)
        if m is not None and not (isinstance(m.get("pid"), int) and m["pid"] != os.getpid()
                                  and _pid_alive(m["pid"], m.get("pid_start"))):
            with contextlib.suppress(OSError):
                p.rename(out)
                return


# ---------------------------------------------------------------------------------------
# The run


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            math.isfinite(timeout) and timeout >= 0):
        raise ValueError(
            f"timeout must be a number of seconds >= 0 (0 or None: no timeout), got {timeout!r}")
    return float(timeout) or None


@contextlib.contextmanager
def _sigterm_raises():
    """While the report runs, SIGTERM raises :class:`Terminated` (so the analysis groups are
    killed and the temporary folder removed, as for Ctrl-C)."""
    if _in_main_thread():
        def handler(signum, frame):
            raise Terminated(signum)

        previous = signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)
    else:  # pragma: no cover - signal handlers can only be set from the main thread
        yield


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def build_report(
    analyses: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "analyses",
    out: str | os.PathLike[str] = "report",
    *,
    jobs: int | None = None,
    quick: bool = False,
    timeout: float | None = DEFAULT_TIMEOUT,
    stream: TextIO | None = None,
    dask: Any = None,
) -> Report:
    """Run analysis scripts and write the report to ``out``.

    Parameters
    ----------
    analyses
        A folder of scripts, one script, or a list of scripts.
    out
        The report folder. It is replaced as a whole when the run completes, only if it is
        empty or an lrctl report (marker file, nothing but lrctl's files); anything else is
        refused with a ``ValueError`` before any script runs.
    jobs
        Scripts run at once (default: the number of cores).
    quick
        Ask scripts for their quick variant (smaller grids; for CI).
    timeout
        Seconds after which one script's process group is killed and the analysis reported
        as failed (default 1800; ``0`` or ``None``: no timeout).
    stream
        A text stream for the progress lines (default ``None``: standard error).
    dask
        Run the analyses on a Dask cluster instead of local processes: a scheduler address
        (``"tcp://host:8786"``) or a ``distributed.Client``. Each analysis is one task; the
        worker runs the script in its own process group in a scratch folder, with the same
        environment, timeout and kill as locally, and sends back the result file, the log
        tail and the figures, which are validated here as a local run's. ``jobs`` is then the
        cluster's: every worker thread runs one analysis. Needs ``pip install 'lrctl[dask]'``.

    Returns
    -------
    Report
        ``report.ok`` is true when every analysis ran; a claim that does not hold is a
        finding and does not make it false.
    """
    from lrctl._validation import check_int

    if stream is None:
        stream = sys.stderr
    if not callable(getattr(stream, "write", None)):
        raise TypeError(f"stream must be a text stream with a write method (or None), "
                        f"got {type(stream).__name__}")
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be a bool, got {type(quick).__name__}: {quick!r:.40}")
    if jobs is None:
        jobs = os.cpu_count() or 1
    jobs = check_int("jobs", jobs, minimum=1)
    timeout = _check_timeout(timeout)
    if isinstance(analyses, (str, os.PathLike)):
        scripts = discover_analyses(analyses)
    elif isinstance(analyses, Sequence):
        scripts = [s for a in analyses for s in discover_analyses(a)]
        if not scripts:
            raise ValueError("analyses is an empty list; give a folder or at least one script")
    else:
        raise TypeError(f"analyses must be a path or a list of paths, got {type(analyses).__name__}")
    _check_names(scripts)
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a path, got {type(out).__name__}")
    out_path = Path(os.path.abspath(out))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _recover_fallback(out_path)
    _clean_stale(out_path)
    _check_replaceable(out_path)

    client, own_client = _dask_client(dask)
    pid = os.getpid()
    run_id = uuid.uuid4().hex
    workdir = _temp_name(out_path, pid)
    if workdir.exists():
        _remove_owned(workdir)
    pending = list(scripts)
    running: list[_Running] = []
    remote: _DaskRun | None = None
    results: dict[str, AnalysisResult] = {}
    seconds: dict[str, float] = {}
    n = len(scripts)
    t_start = time.monotonic()
    try:
        workdir.mkdir()
        _write_marker(workdir, pid=pid, pid_start=_pid_start_time(pid), run_id=run_id, files=[])
        for sub in ("figures", "_results", "_logs"):
            (workdir / sub).mkdir()
        if client is not None:
            remote = _DaskRun(client, workdir, quick, timeout, run_id, stream)
            jobs = remote.threads
        provenance = _provenance(quick, jobs, timeout)
        if remote is not None:
            provenance["dask"] = remote.scheduler
            provenance["dask_workers"] = remote.workers
        env = _child_env(quick, jobs, run_id)
        where = f" on the Dask cluster at {remote.scheduler} ({remote.workers} workers)" \
            if remote is not None else ""
        print(f"lrctl report: {n} analyses, {min(jobs, n)} at a time{where}"
              f"{' (quick)' if quick else ''}", file=stream, flush=True)

        def done(res: AnalysisResult, secs: float) -> None:
            res.seconds = secs
            results[res.name] = res
            seconds[res.name] = secs
            _print_done(res, secs, len(results), n, stream)

        with _sigterm_raises():
            if remote is not None:
                pending = []  # every script is the cluster's
                remote.run(scripts, done)
            while pending or running:
                while pending and len(running) < jobs:
                    r = _Running(pending.pop(0), workdir, env, timeout, stream)
                    print(f"  ...   {r.name} started", file=stream, flush=True)
                    running.append(r)
                time.sleep(0.05)
                for r in list(running):
                    r.pump_progress()
                    to = r.timed_out()
                    if to:
                        r.kill()
                    if to or r.proc.poll() is not None:
                        r.finish()
                        res, secs = _collect(r, to, r.script.name)
                        running.remove(r)
                        done(res, secs)
            # anything an analysis started that left its process group (setsid, daemons)
            _kill_run_processes(run_id)
            ordered = sorted(results.values(), key=lambda a: a.heading_key)
            rows = _seed_rows(ordered)
            provenance["seconds"] = {a.name: seconds[a.name] for a in ordered}
            provenance["seconds_total"] = round(time.monotonic() - t_start, 2)
            report = Report(out=out_path, analyses=ordered, quick=quick, seed_claims=rows,
                            provenance=provenance)
            (workdir / "report.json").write_text(
                json.dumps(report.as_json(), indent=1, allow_nan=False, ensure_ascii=False)
                + "\n", encoding="utf-8")
            (workdir / "index.html").write_text(render_html(report), encoding="utf-8")
            for sub in ("_results", "_logs"):
                shutil.rmtree(workdir / sub)
            _write_marker(workdir, pid=pid, pid_start=_pid_start_time(pid), run_id=run_id,
                          files=[f for f in _files_under(workdir) if f != MARKER])
            _check_replaceable(out_path)
            _swap_into_place(workdir, out_path)
    except BaseException:
        for r in running:
            r.kill()
            with contextlib.suppress(Exception):
                r.finish()
        if remote is not None:
            with contextlib.suppress(Exception):
                remote.cancel()
        with contextlib.suppress(Exception):
            _kill_run_processes(run_id)
        if workdir.exists():
            shutil.rmtree(workdir, ignore_errors=True)
        old = out_path.parent / f".{out_path.name}.old-{pid}"
        if old.is_dir() and not out_path.exists():  # interrupted inside the fallback swap
            with contextlib.suppress(OSError):
                old.rename(out_path)
        raise
    finally:
        if own_client and client is not None:
            with contextlib.suppress(Exception):
                client.close()
    _print_summary(report, stream)
    return report


def _print_done(res: AnalysisResult, secs: float, i: int, n: int, stream: TextIO) -> None:
    if res.status == STATUS_SKIPPED:
        print(f"  [{i:>2}/{n}] skip {res.name}  {secs:.1f} s  ({res.skip_reason})",
              file=stream, flush=True)
        return
    mark = "ok  " if res.status == STATUS_OK else "FAIL"
    held = sum(c["holds"] for c in res.claims)
    print(f"  [{i:>2}/{n}] {mark} {res.name}  {secs:.1f} s  ({len(res.figures)} figures, "
          f"{held}/{len(res.claims)} claims hold, {len(res.checks)} checks)",
          file=stream, flush=True)
    if res.status == STATUS_FAILED:
        print(_indent(res.error[-3000:] or res.log[-2000:], "        "), file=stream)


def _print_summary(report: Report, stream: TextIO) -> None:
    ran = [a for a in report.analyses if a.status == STATUS_OK]
    skipped = [a.name for a in report.analyses if a.status == STATUS_SKIPPED]
    failed = [a.name for a in report.analyses if a.status == STATUS_FAILED]
    hold = sum(c["holds"] for a in ran for c in a.claims)
    findings = sum(not c["holds"] for a in ran for c in a.claims)
    print(
        f"lrctl report: wrote {report.out / 'index.html'} in "
        f"{report.provenance.get('seconds_total', 0):.1f} s; {len(ran)}/{len(report.analyses)} "
        f"analyses ran; {hold} claims hold, {findings} do not (findings)"
        + (f"; skipped: {', '.join(skipped)}" if skipped else "")
        + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        file=stream, flush=True)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())
