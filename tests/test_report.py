"""The report engine and the script API: shape of report.json, isolation of failures,
atomic replacement, escaping, determinism, timeouts and the CLI."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lrctl import cli, report
from lrctl.report import _html

GOOD = """
    import numpy as np
    from lrctl.report import Analysis
    from lrctl.plots import subplots
    from lrctl import quadratic
    with Analysis(__file__, title="Good <script>alert(1)</script>", summary="a & b") as an:
        rng = np.random.default_rng(7)
        fig, ax = subplots()
        ax.plot(rng.standard_normal(10))
        ax.set_xlabel("step"); ax.set_ylabel("value")
        an.figure(fig, "noise", caption="caption <b>bold</b>")
        an.number("draw", float(rng.standard_normal()), unit="1", description="a seeded draw")
        an.number("bound", quadratic.gd_stability_bound([1.0, 4.0]))
        an.claim("one is less than two", 1 < 2, evidence="<i>detail</i>")
        an.derivation(quadratic.derive_gd_stability())
        an.progress("done with the work")
"""
CLAIM_FAILS = """
    from lrctl.report import Analysis
    with Analysis(__file__, title="A claim that fails") as an:
        an.claim("two is less than one", 2 < 1)
"""
CRASHES = """
    from lrctl.report import Analysis
    with Analysis(__file__, title="Crashes") as an:
        an.number("before", 1.0)
        raise RuntimeError("boom in the analysis")
"""
SILENT = """
    x = 1
"""


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("rep")
    scripts = root / "analyses"
    write(scripts, "good_one.py", GOOD)
    write(scripts, "claim_fails.py", CLAIM_FAILS)
    write(scripts, "crashes.py", CRASHES)
    write(scripts, "silent.py", SILENT)
    write(scripts, "_helper.py", "raise SystemExit('helpers are not analyses')")
    out = root / "report"
    with open(root / "progress.txt", "w") as stream:
        rep = report.build_report(scripts, out, jobs=2, stream=stream)
    return rep, out, root


def test_report_json_shape(built):
    _rep, out, _ = built
    data = json.loads((out / "report.json").read_text())
    names = [a["name"] for a in data["analyses"]]
    assert names == ["claim-fails", "crashes", "good-one", "silent"]  # sorted, '_' → '-'
    for a in data["analyses"]:
        assert {"name", "title", "status", "figures", "numbers", "claims", "seconds"} <= set(a)
    good = data["analyses"][2]
    assert good["status"] == "ok"
    assert good["figures"] == ["figures/good-one-noise.png"]
    assert (out / good["figures"][0]).exists() and (out / "figures/good-one-noise.svg").exists()
    assert good["claims"] == [{"key": "good-one--claim-1", "text": "one is less than two",
                              "holds": True, "evidence": "<i>detail</i>"}]
    assert good["numbers"]["bound"] == 0.5


def test_failures_are_isolated(built):
    rep, _, _ = built
    status = {a.name: a.status for a in rep.analyses}
    assert status == {"claim-fails": "claims-failed", "crashes": "failed", "good-one": "ok",
                      "silent": "failed"}
    crashed = next(a for a in rep.analyses if a.name == "crashes")
    assert "RuntimeError: boom in the analysis" in crashed.error
    assert crashed.numbers == {"before": 1.0}  # what it recorded before failing is kept
    assert not rep.ok


def test_html_escapes_and_renders(built):
    _, out, _ = built
    page = (out / "index.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "&lt;i&gt;detail&lt;/i&gt;" in page
    assert "<math" in page and "✓" in page and "✗" in page
    assert "RuntimeError: boom in the analysis" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/1998/Math/MathML"', "")
    assert "https://" not in page  # offline: no CDN


def test_progress_is_streamed(built):
    _, _, root = built
    text = (root / "progress.txt").read_text()
    assert "good-one: done with the work" in text
    assert "FAIL crashes" in text


def test_same_seed_same_numbers(built, tmp_path):
    rep, _, root = built
    again = report.build_report(root / "analyses" / "good_one.py", tmp_path / "r2",
                                stream=open(tmp_path / "log", "w"))
    first = next(a for a in rep.analyses if a.name == "good-one")
    assert again.analyses[0].numbers == first.numbers


def test_interrupted_run_keeps_previous_report(tmp_path, monkeypatch):
    scripts = tmp_path / "a"
    write(scripts, "good_one.py", GOOD)
    out = tmp_path / "report"
    report.build_report(scripts, out, stream=open(tmp_path / "log", "w"))
    before = (out / "report.json").read_text()

    def interrupted(_report):
        raise KeyboardInterrupt

    monkeypatch.setattr("lrctl.report._engine.render_html", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.build_report(scripts, out, stream=open(tmp_path / "log", "w"))
    assert (out / "report.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "log", "report"]  # no temp left


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    scripts = tmp_path / "a"
    write(scripts, "good_one.py", GOOD)
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("do not delete")
    with pytest.raises(ValueError, match="not an lrctl report"):
        report.build_report(scripts, foreign)
    assert (foreign / "thesis.tex").exists()


def test_timeout_marks_failed(tmp_path):
    scripts = tmp_path / "a"
    write(scripts, "sleepy.py", """
        import time
        from lrctl.report import Analysis
        with Analysis(__file__, title="sleeps") as an:
            time.sleep(60)
    """)
    rep = report.build_report(scripts, tmp_path / "r", timeout=1.5, stream=open(tmp_path / "log", "w"))
    assert rep.analyses[0].status == "failed" and "timed out" in rep.analyses[0].error


def test_quick_flag_reaches_scripts(tmp_path):
    scripts = tmp_path / "a"
    write(scripts, "q.py", """
        from lrctl.report import Analysis
        with Analysis(__file__, title="quick?") as an:
            an.number("quick", an.quick)
    """)
    rep = report.build_report(scripts, tmp_path / "r", quick=True, stream=open(tmp_path / "log", "w"))
    assert rep.analyses[0].numbers == {"quick": True}


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        report.build_report(tmp_path / "missing", tmp_path / "r")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no analysis scripts"):
        report.build_report(tmp_path / "empty", tmp_path / "r")
    write(tmp_path / "s", "x.py", GOOD)
    with pytest.raises(ValueError, match="jobs"):
        report.build_report(tmp_path / "s", tmp_path / "r", jobs=0)
    with pytest.raises(ValueError, match="timeout"):
        report.build_report(tmp_path / "s", tmp_path / "r", timeout=-1)


def test_script_api_validation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    an = report.Analysis("x.py", title="t")
    with pytest.raises(ValueError, match="NaN"):
        an.number("bad", float("nan"))
    with pytest.raises(TypeError, match="holds"):
        an.claim("array", [True, False])
    with pytest.raises(ValueError, match="title"):
        report.Analysis("x.py", title="")
    with pytest.raises(TypeError, match="Derivation"):
        an.derivation("not a derivation")


def test_mathml_sanitizer():
    ok = '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>x</mi><mo>&lt;</mo><mn>2</mn></math>'
    assert _html._safe_mathml(ok) == ok
    evil = '<math><mi onclick="alert(1)">x</mi><script>alert(1)</script></math>'
    assert "<script>" not in _html._safe_mathml(evil)


def test_cli(tmp_path, monkeypatch):
    write(tmp_path / "a", "good_one.py", GOOD)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", "--analyses", "a", "--out", "r", "--jobs", "1"]) == 0
    assert (tmp_path / "r" / "index.html").exists()
    assert cli.main(["report", "--analyses", "missing"]) == 2
    write(tmp_path / "b", "claim_fails.py", CLAIM_FAILS)
    # a claim that does not hold is a finding, not a failure: exit 0
    assert cli.main(["report", "--analyses", "b", "--out", "r2"]) == 0


def test_console_script_and_standalone_run(tmp_path):
    script = write(tmp_path / "a", "good_one.py", GOOD)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "[holds] one is less than two" in proc.stdout
    assert (tmp_path / "lrctl-out" / "good-one" / "good-one-noise.png").exists()


def _python_blocks(path: Path) -> list[str]:
    text = path.read_text()
    return [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]


def test_docs_example_analysis_runs(tmp_path):
    # The example script in docs/report.md is a real analysis: run it through the engine.
    (block,) = _python_blocks(Path(__file__).resolve().parent.parent / "docs" / "report.md")
    write(tmp_path / "a", "docs_example.py", block)
    rep = report.build_report(tmp_path / "a", tmp_path / "r", stream=open(tmp_path / "log", "w"))
    assert rep.analyses[0].status == "ok", rep.analyses[0].error
    assert rep.analyses[0].numbers["bound"] == 1.0


def test_readme_example_runs():
    (block,) = _python_blocks(Path(__file__).resolve().parent.parent / "README.md")
    proc = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert 8.9 < float(lines[0]) < 9.1  # 2/λmax of the breast-cancer problem, as in docs/quadratic.md
    assert lines[-1] == "eta < 2/lambda"
