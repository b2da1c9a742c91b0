"""Kill tests: `lrctl report` interrupted at random points keeps the previous (or the new)
report at --out, loadable; the next run leaves no debris; no analysis process or child it
started survives.

Six kills (bounded): SIGINT to the engine, SIGINT to its process group (Ctrl-C in a terminal),
SIGTERM, SIGKILL at two random points, and SIGKILL injected in the middle of the swap (after
the atomic exchange, before the old report is removed). A seventh test kills the fallback swap
(no renameat2) between its two renames, where --out is missing until the next run restores
it. The delays come from a seeded generator; each test runs in a few seconds.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lrctl import report
from lrctl.report._constants import MARKER

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
    import json, os, pathlib, subprocess, time
    piddir = pathlib.Path({piddir!r})
    child = subprocess.Popen(["sleep", "300"])  # an orphan candidate
    (piddir / f"{{os.getpid()}}.pid").write_text(f"{{os.getpid()}} {{child.pid}}")
    time.sleep({sleep})
    d = pathlib.Path(os.environ["LRCTL_FIGURE_DIR"])
    pathlib.Path(os.environ["LRCTL_RESULT_FILE"]).write_text(json.dumps({{
        "name": {name!r}, "title": {name!r},
        "claims": [{{"key": "c", "text": "it ran", "holds": True, "evidence": ""}}]}}))
"""


def _scripts(folder: Path, piddir: Path) -> None:
    folder.mkdir()
    for name, sleep in (("slow_a", 1.2), ("slow_b", 0.8), ("quick_c", 0.0)):
        (folder / f"{name}.py").write_text(textwrap.dedent(SCRIPT.format(
            piddir=str(piddir), sleep=sleep, name=name.replace("_", "-"))))


@pytest.fixture
def setup(tmp_path):
    piddir = tmp_path / "pids"
    piddir.mkdir()
    _scripts(tmp_path / "a", piddir)
    out = tmp_path / "r"
    with open(tmp_path / "first.log", "w") as stream:
        report.build_report(tmp_path / "a", out, jobs=2, stream=stream)
    return tmp_path, out, piddir, (out / "report.json").read_bytes()


def _loadable(out: Path) -> dict:
    assert (out / MARKER).is_file() and (out / "index.html").is_file()
    data = json.loads((out / "report.json").read_text())
    assert [a["status"] for a in data["analyses"]] == ["ok", "ok", "ok"]
    return data


def _cli(tmp: Path, out: Path, prelude: str = "") -> subprocess.Popen:
    code = prelude + "\nimport sys\nfrom lrctl.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "report", "--analyses", str(tmp / "a"), "--out", str(out),
         "--jobs", "2"],
        stdout=subprocess.DEVNULL, stderr=open(tmp / "killed.err", "w"),
        start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _after_next_run(tmp: Path, out: Path, piddir: Path) -> None:
    """The next run: removes debris, stops the killed run's processes, writes a report."""
    with open(tmp / "next.log", "w") as stream:
        report.build_report(tmp / "a", out, jobs=2, stream=stream)
    _loadable(out)
    debris = [p.name for p in tmp.iterdir() if p.name.startswith(".r.")]
    assert debris == [], debris
    deadline = time.monotonic() + 5
    pids = [int(x) for f in piddir.glob("*.pid") for x in f.read_text().split()]
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert [p for p in pids if _alive(p)] == [], "orphaned analysis processes"


_RNG = np.random.default_rng(20261201)
# (kind, delay in seconds after the start); the delays are random but fixed by the seed
KILLS = [(kind, round(float(_RNG.uniform(0.7, 2.2)), 2))
         for kind in ("SIGINT", "SIGINT-group", "SIGTERM", "SIGKILL", "SIGKILL")]


@pytest.mark.parametrize(("kind", "delay"), KILLS, ids=[f"{k}@{d}s" for k, d in KILLS])
def test_kill_keeps_a_report(setup, kind, delay):
    tmp, out, piddir, before = setup
    proc = _cli(tmp, out)
    time.sleep(delay)
    if kind == "SIGINT-group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(getattr(signal, kind))
    rc = proc.wait(timeout=20)
    err = (tmp / "killed.err").read_text()
    after = (out / "report.json").read_bytes()
    _loadable(out)  # the previous report, or the new one if the kill came after the swap
    if after != before:
        assert json.loads(after)["provenance"] != json.loads(before)["provenance"]
    if kind.startswith("SIGINT") and rc != 0:
        # one line, no traceback (the lines before it are the run's progress)
        assert rc == 130 and "Traceback" not in err, err
        assert err.strip().splitlines()[-1].startswith("lrctl report: interrupted"), err
    if kind == "SIGTERM" and rc != 0:
        assert rc == 143 and "Traceback" not in err, err
        assert err.strip().splitlines()[-1].startswith("lrctl report: stopped by SIGTERM"), err
    if kind == "SIGKILL" and after == before:
        # killed mid-run: its marked temporary folder is left for the next run to remove
        assert [p.name for p in tmp.iterdir() if p.name.startswith(".r.tmp-")] != []
    if kind != "SIGKILL" and rc != 0:
        # a clean stop removes its own temporary folder and stops its analyses at once
        assert [p.name for p in tmp.iterdir() if p.name.startswith(".r.")] == []
    _after_next_run(tmp, out, piddir)


def test_kill_in_the_middle_of_the_swap(setup):
    tmp, out, piddir, before = setup
    # SIGKILL right after renameat2(RENAME_EXCHANGE): the new report is at --out, the old one
    # waits under the temporary name (marked, dead owner) for the next run to remove it.
    prelude = textwrap.dedent("""
        import os, signal
        from lrctl.report import _engine
        _engine._remove_owned = lambda folder: os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = _cli(tmp, out, prelude)
    assert proc.wait(timeout=20) == -signal.SIGKILL
    assert _loadable(out)["provenance"] != json.loads(before)["provenance"]  # the new one
    (left,) = [p for p in tmp.iterdir() if p.name.startswith(".r.tmp-")]
    assert (left / "report.json").read_bytes() == before  # the old one, intact
    _after_next_run(tmp, out, piddir)


def test_kill_between_the_two_renames_of_the_fallback(setup):
    tmp, out, piddir, before = setup
    prelude = textwrap.dedent("""
        import os, signal, pathlib
        from lrctl.report import _engine
        _engine._exchange = lambda a, b: False
        _rename = pathlib.Path.rename
        def rename(self, target):
            if ".tmp-" in self.name and not pathlib.Path(target).name.startswith("."):
                os.kill(os.getpid(), signal.SIGKILL)
            return _rename(self, target)
        pathlib.Path.rename = rename
    """)
    proc = _cli(tmp, out, prelude)
    assert proc.wait(timeout=20) == -signal.SIGKILL
    assert not out.exists()  # the documented window of the fallback
    (old,) = [p for p in tmp.iterdir() if p.name.startswith(".r.old-")]
    assert (old / "report.json").read_bytes() == before
    _after_next_run(tmp, out, piddir)
