"""One analysis never sinks the run, and --out never loses a file lrctl did not write.

Malformed, huge, non-JSON and wrong-typed result files fail their analysis only; a foreign
--out is refused and survives; a timeout kills the analysis's whole process group; children a
script leaves running are stopped; stale temporary folders of dead runs are removed; figures
are unique per analysis; two runs give byte-identical report.json (apart from provenance) and
identical PNG/SVG files.
"""

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from lrctl import report
from lrctl.report import _engine
from lrctl.report._constants import MARKER


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def build(scripts, out, **kw):
    log = Path(out).parent / f"{Path(out).name}.log"
    with open(log, "w") as stream:
        return report.build_report(scripts, out, stream=stream, **kw)


def raw_result(text: str, figures: tuple[str, ...] = ()) -> str:
    """A script that writes ``text`` as its result file, bypassing the script API."""
    return textwrap.dedent(f"""
        import os, pathlib
        d = pathlib.Path(os.environ["LRCTL_FIGURE_DIR"])
        for f in {figures!r}:
            (d / f).write_bytes(b"x")
        pathlib.Path(os.environ["LRCTL_RESULT_FILE"]).write_bytes(
            {text!r}.encode("utf-8", "surrogateescape"))
    """)


def ok_result(name: str, **fields) -> str:
    data = {"name": name, "title": "t", "claims": [], **fields}
    return json.dumps(data)


MALFORMED = {
    # script name -> (result file text, the reason the page must give)
    "claims_not_list": ('{"name": "claims-not-list", "title": "t", "claims": "oops"}',
                        "field 'claims' must be a list"),
    "top_list": ("[]", "must be a JSON object"),
    "nan_number": ('{"name": "nan-number", "title": "t", "numbers": {"x": NaN}}', "holds NaN"),
    "inf_number": ('{"name": "inf-number", "title": "t", "numbers": {"x": Infinity}}',
                   "holds Infinity"),
    "not_json": ("{this is not json", "not JSON"),
    "binary": ("\udcff", "not JSON"),
    "wrong_name": (ok_result("someone-else"), "names analysis 'someone-else'"),
    "holds_string": (ok_result("holds-string", claims=[{"key": "c", "text": "x", "holds": "False"}]),
                     "holds must be true or false"),
    "nested_number": (ok_result("nested-number", numbers={"m": [[1, 2], [3, 4]]}), "nested"),
    "figure_escape": (ok_result("figure-escape", figures=[
        {"key": "k", "png": "../good/good-k.png", "svg": "x.svg", "caption": ""}]),
        "not a plain .png file name"),
    "figure_missing": (ok_result("figure-missing", figures=[
        {"key": "k", "png": "k.png", "svg": "k.svg", "caption": ""}]),
        "was not written to this analysis's figure folder"),
    "seed_unknown": (ok_result("seed-unknown", seed_claims=[
        {"id": "nope", "claims": ["c"], "condition": None}]), "unknown seed claim id"),
    "seed_not_a_claim": (ok_result("seed-not-a-claim", seed_claims=[
        {"id": "pi-control", "claims": ["c9"], "condition": None}]), "is not a claim"),
    "mathml_not_text": (ok_result("mathml-not-text", derivations=[
        {"title": "d", "statement_mathml": 5, "steps": [], "assumptions": []}]),
        "must be a string"),
    "huge": ('{"name": "huge", "title": "t", "summary": "' + "x" * 3000 + '"}',
             "more than the 2,000"),
}


@pytest.fixture(scope="module")
def malformed(tmp_path_factory):
    root = tmp_path_factory.mktemp("malformed")
    a = root / "a"
    for name, (text, _) in MALFORMED.items():
        write(a, f"{name}.py", raw_result(text))
    write(a, "good.py", raw_result(ok_result("good", claims=[
        {"key": "c1", "text": "fine", "holds": True, "evidence": ""}])))
    mp = pytest.MonkeyPatch()
    mp.setattr(_engine, "MAX_RESULT_BYTES", 2000)  # "huge" without writing 32 MB
    try:
        rep = build(a, root / "r", jobs=2)
    finally:
        mp.undo()
    return rep


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_result_fails_that_analysis_only(malformed, name):
    res = {a.name: a for a in malformed.analyses}
    a = res[name.replace("_", "-")]
    assert a.status == "failed"
    assert MALFORMED[name][1] in a.error, a.error
    assert res["good"].status == "ok" and res["good"].claims[0]["holds"] is True
    page = (malformed.out / "index.html").read_text()
    assert "Traceback" not in a.error  # a reason, not an engine crash
    assert a.name in page


def test_deeply_nested_result_is_refused(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    data, reason = _engine._read_result(f, "deep", tmp_path)
    assert data is None and "not JSON" in reason


def test_foreign_folders_are_refused_and_survive(tmp_path):
    write(tmp_path / "a", "good.py", raw_result(ok_result("good")))
    # a folder of the user's: no marker
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("do not delete")
    (foreign / "report.json").write_text("{}")  # audit R3: a report.json is not enough
    with pytest.raises(ValueError, match="not an lrctl report"):
        build(tmp_path / "a", foreign)
    assert (foreign / "thesis.tex").read_text() == "do not delete"
    # a file
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(ValueError, match="not a folder"):
        build(tmp_path / "a", tmp_path / "afile")
    assert (tmp_path / "afile").read_text() == "mine"
    # an lrctl report into which the user put a file: refused, naming the file
    rep = tmp_path / "rep"
    build(tmp_path / "a", rep)
    assert (rep / MARKER).is_file()
    (rep / "figures" / "notes.txt").write_text("mine too")
    with pytest.raises(ValueError, match=r"notes\.txt"):
        build(tmp_path / "a", rep)
    assert (rep / "figures" / "notes.txt").read_text() == "mine too"
    (rep / "figures" / "notes.txt").unlink()
    build(tmp_path / "a", rep)  # an lrctl report with only its own files is replaced
    # an empty folder is fine
    (tmp_path / "empty").mkdir()
    build(tmp_path / "a", tmp_path / "empty")
    assert (tmp_path / "empty" / "report.json").is_file()
    assert not list(tmp_path.glob(".*tmp-*")) and not list(tmp_path.glob(".*old-*"))


def _dead(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie has stopped running


def _wait_dead(pid: int, seconds: float = 5.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if _dead(pid):
            return True
        time.sleep(0.05)
    return False


SPAWNS = """
    import os, subprocess, sys, time, pathlib
    child = subprocess.Popen(["sleep", "300"])
    pathlib.Path({pidfile!r}).write_text(str(child.pid))
    {tail}
"""


def test_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    write(tmp_path / "a", "spawner.py", SPAWNS.format(pidfile=str(pidfile), tail="time.sleep(3600)"))
    t0 = time.monotonic()
    rep = build(tmp_path / "a", tmp_path / "r", timeout=1.5)
    assert time.monotonic() - t0 < 15
    a = rep.analyses[0]
    assert a.status == "failed" and "timed out after 1.5 s" in a.error
    assert _wait_dead(int(pidfile.read_text())), "sleep 300 outlived the timeout"


def test_children_left_running_are_stopped(tmp_path):
    pidfile = tmp_path / "child.pid"
    write(tmp_path / "a", "leaves.py", SPAWNS.format(
        pidfile=str(pidfile), tail=raw_result(ok_result("leaves")).replace("\n", "\n    ")))
    rep = build(tmp_path / "a", tmp_path / "r")
    assert rep.analyses[0].status == "ok", rep.analyses[0].error
    assert _wait_dead(int(pidfile.read_text()))


def test_children_that_leave_the_group_are_stopped(tmp_path):
    # a grandchild in a session of its own escapes killpg; the run id in its environment
    # finds it when the run ends
    pidfile = tmp_path / "child.pid"
    write(tmp_path / "a", "escapes.py", SPAWNS.replace(
        'subprocess.Popen(["sleep", "300"])',
        'subprocess.Popen(["sleep", "300"], start_new_session=True)').format(
        pidfile=str(pidfile), tail=raw_result(ok_result("escapes")).replace("\n", "\n    ")))
    rep = build(tmp_path / "a", tmp_path / "r")
    assert rep.analyses[0].status == "ok", rep.analyses[0].error
    assert _wait_dead(int(pidfile.read_text()))


def test_default_timeout_is_documented_and_used():
    import inspect

    assert inspect.signature(report.build_report).parameters["timeout"].default == 1800.0
    doc = (Path(__file__).resolve().parent.parent / "docs" / "report.md").read_text()
    assert "1800" in doc


def test_output_is_bounded(tmp_path):
    # 30 MB of output: it streams to a log file; the page keeps only the tail
    write(tmp_path / "a", "loud.py", """
        import sys
        line = "x" * 999 + "\\n"
        for _ in range(30_000):
            sys.stdout.write(line)
        print("[lrctl-progress] the last line")
        raise SystemExit(3)
    """)
    rep = build(tmp_path / "a", tmp_path / "r")
    a = rep.analyses[0]
    assert a.status == "failed"
    assert len(a.log) <= _engine.LOG_TAIL_BYTES + 200
    assert a.log.rstrip().endswith("the last line") and "[lrctl-progress]" not in a.log
    assert "30,000,0" in a.log.splitlines()[0]  # says how much was cut


def test_stale_temp_folders_of_dead_runs_are_removed(tmp_path):
    write(tmp_path / "a", "good.py", raw_result(ok_result("good")))
    out = tmp_path / "r"
    dead = tmp_path / ".r.tmp-4194000"  # above pid_max defaults: no such process
    dead.mkdir()
    (dead / MARKER).write_text(json.dumps({"written_by": "lrctl report", "pid": 4194000,
                                           "run_id": "x" * 32, "files": []}))
    (dead / "figures").mkdir()
    old = tmp_path / ".r.old-4194001"
    old.mkdir()
    (old / MARKER).write_text(json.dumps({"written_by": "lrctl report", "pid": 4194001}))
    alive = tmp_path / f".r.tmp-{os.getppid()}"  # a live owner: not stale
    alive.mkdir()
    (alive / MARKER).write_text(json.dumps({"written_by": "lrctl report", "pid": os.getppid()}))
    unmarked = tmp_path / ".r.tmp-4194002"  # not lrctl's: never touched
    unmarked.mkdir()
    (unmarked / "user.txt").write_text("mine")
    build(tmp_path / "a", out)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".r."))
    assert left == sorted([alive.name, unmarked.name])
    assert (unmarked / "user.txt").read_text() == "mine"


def test_fallback_swap_without_renameat2(tmp_path, monkeypatch):
    write(tmp_path / "a", "good.py", raw_result(ok_result("good")))
    out = tmp_path / "r"
    build(tmp_path / "a", out)
    first = (out / MARKER).read_text()
    monkeypatch.setattr(_engine, "_exchange", lambda a, b: False)
    build(tmp_path / "a", out)
    assert (out / MARKER).read_text() != first  # replaced (the marker lists a new run id)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "r", "r.log"]
    # a fallback swap killed between its two renames: --out is missing, the old report waits
    # in .r.old-<dead pid>; the next run puts it back first, then replaces it
    out.rename(tmp_path / ".r.old-4194003")
    marker = json.loads((tmp_path / ".r.old-4194003" / MARKER).read_text())
    marker["pid"] = 4194003
    (tmp_path / ".r.old-4194003" / MARKER).write_text(json.dumps(marker))
    _engine._recover_fallback(out)
    assert (out / "report.json").is_file() and not (tmp_path / ".r.old-4194003").exists()


def test_exchange_is_atomic_rename(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("A")
    (b / "f").write_text("B")
    if not _engine._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert (a / "f").read_text() == "B" and (b / "f").read_text() == "A"


FIGURE = """
    from lrctl.report import Analysis
    from lrctl.plots import subplots
    with Analysis(__file__, title="figure {key}") as an:
        fig, ax = subplots()
        ax.plot([0, 1], [{y}, 0])
        an.figure(fig, "{key}", caption="{key}")
"""


def test_figure_names_cannot_collide(tmp_path):
    # audit R8: a.py key "b-c" and a_b.py key "c" both wrote figures/a-b-c.png
    write(tmp_path / "s", "a.py", FIGURE.format(key="b-c", y=1))
    write(tmp_path / "s", "a_b.py", FIGURE.format(key="c", y=2))
    rep = build(tmp_path / "s", tmp_path / "r", jobs=2)
    paths = [tmp_path / "r" / "figures" / a.name / a.figures[0]["png"] for a in rep.analyses]
    assert len(set(paths)) == 2 and all(p.is_file() for p in paths)
    assert paths[0].read_bytes() != paths[1].read_bytes()


def test_a_script_cannot_record_another_analysis(tmp_path):
    write(tmp_path / "s", "victim.py", raw_result(ok_result("victim")))
    write(tmp_path / "s", "thief.py", """
        from lrctl.report import Analysis
        with Analysis("victim.py", title="pretends to be victim") as an:
            an.number("x", 1)
    """)
    rep = build(tmp_path / "s", tmp_path / "r", jobs=1)
    res = {a.name: a for a in rep.analyses}
    assert res["victim"].status == "ok" and res["victim"].numbers == {}
    assert res["thief"].status == "failed" and "names analysis 'victim'" in res["thief"].error


def test_interrupted_run_keeps_previous_report(tmp_path, monkeypatch):
    write(tmp_path / "a", "good.py", raw_result(ok_result("good")))
    out = tmp_path / "r"
    build(tmp_path / "a", out)
    before = (out / "report.json").read_bytes()

    def interrupted(_report):
        raise KeyboardInterrupt

    monkeypatch.setattr(_engine, "render_html", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "a", out)
    assert (out / "report.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "r", "r.log"]  # no temp left


DETERMINISTIC = """
    import numpy as np
    from lrctl import quadratic
    from lrctl.plots import subplots
    from lrctl.report import Analysis
    with Analysis(__file__, title="deterministic") as an:
        rng = np.random.default_rng(3)
        x = rng.standard_normal(50)
        fig, ax = subplots()
        ax.plot(np.cumsum(x), label="walk"); ax.legend(); ax.set_title("a walk")
        an.figure(fig, "walk", caption="a seeded random walk")
        an.number("sum", float(x.sum()))
        an.claim("the walk ends below 20", bool(abs(np.cumsum(x)[-1]) < 20), evidence=f"{x.sum():.3f}")
        an.derivation(quadratic.derive_gd_stability())
"""


def test_two_runs_are_byte_identical(tmp_path):
    write(tmp_path / "a", "det.py", DETERMINISTIC)
    write(tmp_path / "a", "det_two.py", DETERMINISTIC)
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    build(tmp_path / "a", r1, jobs=2)
    build(tmp_path / "a", r2, jobs=2)
    j1, j2 = (r / "report.json" for r in (r1, r2))
    t1, t2 = j1.read_text(), j2.read_text()
    # everything after the provenance block is byte-identical
    cut1, cut2 = t1.index('\n "seed_claims"'), t2.index('\n "seed_claims"')
    assert t1[cut1:] == t2[cut2:]
    assert json.loads(t1)["provenance"]["started_utc"]  # provenance is first and only there
    figs = sorted(p.relative_to(r1) for p in (r1 / "figures").rglob("*.*"))
    assert len(figs) == 4  # two analyses × PNG + SVG
    for f in figs:
        assert (r1 / f).read_bytes() == (r2 / f).read_bytes(), f


def test_ctrl_c_inside_the_fallback_swap_puts_the_old_report_back(tmp_path, monkeypatch):
    write(tmp_path / "a", "good.py", raw_result(ok_result("good")))
    out = tmp_path / "r"
    build(tmp_path / "a", out)
    before = (out / "report.json").read_bytes()
    monkeypatch.setattr(_engine, "_exchange", lambda a, b: False)
    rename = Path.rename

    def interrupted(self, target):
        if ".tmp-" in self.name and Path(target) == out:
            raise KeyboardInterrupt  # between the fallback's two renames
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "a", out)
    assert (out / "report.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "r", "r.log"]
