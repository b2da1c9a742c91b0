"""The report on a Dask cluster (``build_report(dask=...)``, ``lrctl report --dask``) and the
skipped status (``an.requires``).

The Dask tests start their own ``LocalCluster`` (threads, two workers) and compare the
report with a local run of the same tiny scripts: report.json equal apart from the
provenance, figures byte-identical, a failing and a timing-out script failing only
themselves.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path

import pytest

from lrctl import cli
from lrctl.report import Analysis, _engine, build_report

# ---------------------------------------------------------------------------------------
# Tiny analysis scripts (written by the tests)

_PLOT = '''
import numpy as np
from lrctl.plots import subplots
from lrctl.report import Analysis

with Analysis(__file__, title="A sine and a claim") as an:
    an.progress("halfway there")
    x = np.linspace(0.0, 1.0, 25)
    fig, ax = subplots()
    ax.plot(x, np.sin(6 * x))
    an.figure(fig, "sine", caption="sin(6x)")
    an.number("peak", float(np.sin(6 * x).max()), description="largest sample")
    an.claim("the largest sample is below 1", bool(np.sin(6 * x).max() < 1.0), "sampled")
    an.check("sin(0) is 0", bool(np.sin(0.0) == 0.0))
'''

_HELPER_USER = '''
from _shared import VALUE
from lrctl.report import Analysis

with Analysis(__file__, title="Uses a helper module beside it") as an:
    an.number("value", VALUE)
    an.claim("the helper's value is 42", VALUE == 42)
'''

_FAILS = '''
from lrctl.report import Analysis

with Analysis(__file__, title="Raises") as an:
    an.number("before", 1)
    raise RuntimeError("this analysis fails on purpose")
'''

_SLOW = '''
import time
from lrctl.report import Analysis

with Analysis(__file__, title="Too slow") as an:
    time.sleep(60)
'''

_SKIPPED = '''
from lrctl.report import Analysis

Analysis(__file__, title="Needs a module that does not exist").requires(
    "lrctl_no_such_module_for_the_test")
import lrctl_no_such_module_for_the_test  # noqa: E402  (never reached)
'''

_SKIPPED_TORCH = '''
import sys

sys.modules["torch"] = None  # as if torch were not installed: importing it raises ImportError
from lrctl.report import Analysis  # noqa: E402

with Analysis(__file__, title="Needs torch") as an:
    an.requires("torch")
    raise AssertionError("not reached: requires exits the script")
'''


def _write(folder: Path, scripts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def _json(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _figure_bytes(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted((out / "figures").rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------
# The same report on a LocalCluster as locally


def test_dask_report_equals_the_local_report(tmp_path):
    distributed = pytest.importorskip("distributed")
    analyses = _write(tmp_path / "analyses", {
        "plot_one.py": _PLOT, "helper_user.py": _HELPER_USER, "_shared.py": "VALUE = 42\n",
        "fails.py": _FAILS, "slow.py": _SLOW, "skipped.py": _SKIPPED})
    local_out, dask_out = tmp_path / "local", tmp_path / "on-dask"
    local = build_report(analyses, local_out, jobs=2, timeout=4, stream=io.StringIO())
    progress = io.StringIO()
    with distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        remote = build_report(analyses, dask_out, timeout=4, stream=progress, dask=client)
        assert client.status == "running"  # a Client passed in is the caller's to close

    a, b = _json(local_out), _json(dask_out)
    assert b["provenance"]["dask"] == cluster.scheduler_address
    assert b["provenance"]["dask_workers"] == 2 and b["provenance"]["jobs"] == 2
    a.pop("provenance")
    b.pop("provenance")
    assert a == b
    status = {x["name"]: x["status"] for x in b["analyses"]}
    assert status == {"plot-one": "ok", "helper-user": "ok", "fails": "failed",
                      "slow": "failed", "skipped": "skipped"}
    by_name = {x["name"]: x for x in b["analyses"]}
    assert "this analysis fails on purpose" in by_name["fails"]["error"]
    # the traceback names the user's script, not the worker's scratch copy
    assert str(analyses / "fails.py") in by_name["fails"]["error"]
    assert by_name["slow"]["error"].startswith("timed out after 4 s")
    assert by_name["skipped"]["skip_reason"].startswith(
        "needs lrctl_no_such_module_for_the_test")
    assert by_name["plot-one"]["claims"][0]["holds"] is True
    assert by_name["helper-user"]["numbers"] == {"value": 42}

    figs_local, figs_dask = _figure_bytes(local_out), _figure_bytes(dask_out)
    assert sorted(figs_dask) == ["figures/plot-one/plot-one-sine.png",
                                 "figures/plot-one/plot-one-sine.svg"]
    assert figs_local == figs_dask  # byte-identical
    assert not local.ok and not remote.ok  # fails and slow failed, nothing else

    text = progress.getvalue()
    assert "on the Dask cluster at" in text
    assert "plot-one started on" in text and "plot-one: halfway there" in text
    assert text.count("/5]") == 5  # one line per finished analysis
    html = (dask_out / "index.html").read_text(encoding="utf-8")
    assert "Dask scheduler" in html and "Skipped, not run: needs" in html


def test_dask_by_address_and_from_the_command_line(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    analyses = _write(tmp_path / "analyses", {"plot_one.py": _PLOT, "skipped.py": _SKIPPED})
    with distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        code = cli.main(["report", "--analyses", str(analyses), "--out", str(tmp_path / "r"),
                         "--dask", cluster.scheduler_address, "--timeout", "60"])
        closed = distributed.Client(cluster, set_as_default=False)
        closed.close()
        with pytest.raises(ValueError, match="Client is 'closed', not running"):
            build_report(analyses, tmp_path / "r2", dask=closed)
    err = capsys.readouterr().err
    assert code == cli.EXIT_OK, err  # a skipped analysis is not a failure
    data = _json(tmp_path / "r")
    assert [x["status"] for x in data["analyses"]] == ["ok", "skipped"]
    assert "skip skipped" in err and "skipped: skipped" in err


def test_dask_worker_processes_over_tcp(tmp_path):
    """Workers in their own processes (the task, the script and its helper are serialized
    and sent over TCP; the figures and the result come back)."""
    distributed = pytest.importorskip("distributed")
    analyses = _write(tmp_path / "analyses", {"helper_user.py": _HELPER_USER,
                                              "_shared.py": "VALUE = 42\n"})
    local = build_report(analyses, tmp_path / "local", jobs=1, stream=io.StringIO())
    with distributed.LocalCluster(processes=True, n_workers=1, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        remote = build_report(analyses, tmp_path / "remote", stream=io.StringIO(), dask=client)
    assert remote.provenance["dask"].startswith("tcp://")
    assert remote.ok and local.ok
    a, b = _json(tmp_path / "local"), _json(tmp_path / "remote")
    a.pop("provenance")
    b.pop("provenance")
    assert a == b


def test_a_lost_dask_task_fails_only_its_analysis(tmp_path, monkeypatch):
    """A task Dask gives up on (worker died too often, lrctl missing on the worker...) fails
    that analysis with Dask's reason; the others are reported as usual."""
    distributed = pytest.importorskip("distributed")
    analyses = _write(tmp_path / "analyses", {"helper_user.py": _HELPER_USER,
                                              "_shared.py": "VALUE = 42\n",
                                              "lost.py": _HELPER_USER})
    real = _engine._run_on_worker

    def flaky(script_name, *args):
        if script_name == "lost.py":
            raise RuntimeError("the worker running this task died")
        return real(script_name, *args)

    monkeypatch.setattr(_engine, "_run_on_worker", flaky)
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        rep = build_report(analyses, tmp_path / "r", stream=io.StringIO(), dask=client)
    by_name = {a.name: a for a in rep.analyses}
    assert by_name["helper-user"].status == "ok"
    assert by_name["lost"].status == "failed"
    assert by_name["lost"].error == ("the Dask task failed: RuntimeError: the worker running "
                                     "this task died")


class _InterruptOn(io.StringIO):
    """A progress stream that raises KeyboardInterrupt (as Ctrl-C would) at a given line."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle

    def write(self, text: str) -> int:
        n = super().write(text)
        if self.needle in text:
            raise KeyboardInterrupt
        return n


def test_interrupting_a_dask_report_kills_the_analyses_on_the_workers(tmp_path):
    import os
    import time

    distributed = pytest.importorskip("distributed")
    pid_file = tmp_path / "pid"
    sleeper = f"""
import os, time
from lrctl.report import Analysis

with Analysis(__file__, title="Sleeps") as an:
    open({str(pid_file)!r}, "w").write(str(os.getpid()))
    an.progress("pid written")
    time.sleep(60)
"""
    analyses = _write(tmp_path / "analyses", {"sleeper.py": sleeper})
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        with pytest.raises(KeyboardInterrupt):
            build_report(analyses, tmp_path / "r", stream=_InterruptOn("pid written"),
                         dask=client)
        pid = int(pid_file.read_text())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, 9)
            pytest.fail("the analysis kept running on the worker after the interrupt")
    assert not (tmp_path / "r").exists()
    assert not list(tmp_path.glob(".r.tmp-*"))


# ---------------------------------------------------------------------------------------
# Errors of the dask argument


def test_dask_missing_is_a_clear_error(tmp_path, monkeypatch, capsys):
    analyses = _write(tmp_path / "analyses", {"plot_one.py": _PLOT})
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'lrctl\[dask\]'"):
        build_report(analyses, tmp_path / "r", dask="tcp://127.0.0.1:8786")
    code = cli.main(["report", "--analyses", str(analyses), "--out", str(tmp_path / "r"),
                     "--dask", "tcp://127.0.0.1:8786"])
    assert code == cli.EXIT_USAGE
    assert "pip install 'lrctl[dask]'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing ran, nothing written


def test_dask_argument_is_validated(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    analyses = _write(tmp_path / "analyses", {"plot_one.py": _PLOT})
    for bad in (5, True, 1.5, ["tcp://x"]):
        with pytest.raises(TypeError, match="dask must be a scheduler address"):
            build_report(analyses, tmp_path / "r", dask=bad)
    with pytest.raises(TypeError, match="non-empty str"):
        build_report(analyses, tmp_path / "r", dask="  ")
    monkeypatch.setattr(_engine, "DASK_CONNECT_TIMEOUT", 1.0)
    with pytest.raises(ValueError, match="could not connect to a Dask scheduler"):
        build_report(analyses, tmp_path / "r", dask="tcp://127.0.0.1:9")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------
# The skipped status, locally


def test_skipped_analyses_are_not_failures(tmp_path):
    analyses = _write(tmp_path / "analyses", {"skipped.py": _SKIPPED,
                                              "torch_less.py": _SKIPPED_TORCH,
                                              "plot_one.py": _PLOT})
    stream = io.StringIO()
    rep = build_report(analyses, tmp_path / "r", jobs=2, stream=stream)
    assert rep.ok
    by_name = {a.name: a for a in rep.analyses}
    assert by_name["torch-less"].status == "skipped"
    assert by_name["torch-less"].skip_reason == "needs torch: pip install 'lrctl[torch]'"
    assert by_name["torch-less"].title == "Needs torch"
    assert by_name["skipped"].skip_reason.startswith(
        "needs lrctl_no_such_module_for_the_test, which is not installed (No module named")
    assert by_name["skipped"].error == "" and by_name["skipped"].claims == []
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "2 skipped (a missing optional module)" in html
    assert "needs torch: pip install &#x27;lrctl[torch]&#x27;" in html
    assert "<span class='badge skipped'>skipped</span>" in html
    assert "skipped: skipped, torch-less" in stream.getvalue()
    assert cli.main(["report", "--analyses", str(analyses / "skipped.py"),
                     "--out", str(tmp_path / "r2")]) == cli.EXIT_OK


def test_requires_in_process(tmp_path, monkeypatch):
    result = tmp_path / "result.json"
    monkeypatch.setenv("LRCTL_RESULT_FILE", str(result))
    monkeypatch.setenv("LRCTL_FIGURE_DIR", str(tmp_path / "figs"))
    with pytest.raises(SystemExit) as exit_info, Analysis(tmp_path / "needs_it.py",
                                                          title="T") as an:
        an.requires("math", "lrctl_no_such_module_for_the_test",
                    install="pip install the-module")
    assert exit_info.value.code == 0
    data = json.loads(result.read_text())
    assert data["status"] == "skipped"
    assert data["skip_reason"] == "needs lrctl_no_such_module_for_the_test: pip install the-module"

    an = Analysis(tmp_path / "x.py", title="T")
    assert an.requires("math", "json") is None  # present: the script goes on
    for bad in ("", "not a module", "a..b", 3):
        with pytest.raises(ValueError, match="dotted module name"):
            an.requires(bad)
    with pytest.raises(ValueError, match="at least one module"):
        an.requires()
    an.number("n", 1)
    with pytest.raises(ValueError, match="before recording anything"):
        an.requires("math")


def test_a_malformed_skip_is_a_failure(tmp_path):
    bad = '''
import json, os
json.dump({"name": "bad-skip", "title": "t", "status": "skipped"},
          open(os.environ["LRCTL_RESULT_FILE"], "w"))
'''
    bad_status = '''
import json, os
json.dump({"name": "bad-status", "title": "t", "status": "great"},
          open(os.environ["LRCTL_RESULT_FILE"], "w"))
'''
    analyses = _write(tmp_path / "a", {"bad_skip.py": bad, "bad_status.py": bad_status})
    rep = build_report(analyses, tmp_path / "r", jobs=2, stream=io.StringIO())
    by_name = {a.name: a for a in rep.analyses}
    assert by_name["bad-skip"].status == "failed"
    assert "skip_reason" in by_name["bad-skip"].error
    assert by_name["bad-status"].status == "failed"
    assert "field 'status' must be" in by_name["bad-status"].error
