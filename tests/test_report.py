"""The report engine: shape of report.json, the claim model (findings are not failures), the
seed-claims table, order and navigation of the page, provenance, the CLI and the docs.

Robustness (malformed results, foreign folders, timeouts), security (XSS) and kill tests are
in test_report_robustness.py, test_report_security.py and test_report_kill.py.
"""

import json
import os
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lrctl import cli, report
from lrctl.report._seed import SEED_CLAIMS, SEED_ORDER

ROOT = Path(__file__).resolve().parent.parent

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
        holds = an.claim("one is less than two", 1 < 2, evidence="<i>detail</i>")
        an.check("the bound is 2/4", quadratic.gd_stability_bound([1.0, 4.0]) == 0.5)
        an.seed_claim("gd-stability", holds)
        an.derivation(quadratic.derive_gd_stability())
        an.progress("done with the work")
        print("plain output line")
"""
# A finding: the claim does not hold, the analysis still ran.
CLAIM_FAILS = """
    from lrctl.report import Analysis
    with Analysis(__file__, title="A claim that fails") as an:
        c = an.claim("two is less than one", 2 < 1, evidence="2 > 1")
        an.seed_claim("log-scale-search", c)
"""
PARTLY = """
    from lrctl.report import Analysis
    with Analysis(__file__, title="Partly") as an:
        a = an.claim("small grids agree", True, evidence="3 of 3")
        b = an.claim("large grids agree", False, evidence="0 of 3")
        cond = an.claim("small grids are the regime of the statement", True)
        an.seed_claim("games-alternating", [a, b], condition=cond)
"""
# Declares gd-stability again: the later analysis (in script order) fails with the reason.
DUPLICATE_SEED = """
    from lrctl.report import Analysis
    with Analysis(__file__, title="Declares gd-stability too") as an:
        an.seed_claim("gd-stability", an.claim("also about gd", True))
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


def quiet(tmp: Path):
    return open(tmp / "progress.txt", "w")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("rep")
    scripts = root / "analyses"
    write(scripts, "good_one.py", GOOD)
    write(scripts, "claim_fails.py", CLAIM_FAILS)
    write(scripts, "partly.py", PARTLY)
    write(scripts, "zz_duplicate.py", DUPLICATE_SEED)
    write(scripts, "crashes.py", CRASHES)
    write(scripts, "silent.py", SILENT)
    write(scripts, "_helper.py", "raise SystemExit('helpers are not analyses')")
    out = root / "report"
    with open(root / "progress.txt", "w") as stream:
        rep = report.build_report(scripts, out, jobs=2, stream=stream)
    return rep, out, root


def by_name(rep):
    return {a.name: a for a in rep.analyses}


def test_report_json_shape(built):
    _rep, out, _ = built
    data = json.loads((out / "report.json").read_text())
    assert set(data) == {"provenance", "seed_claims", "analyses", "quick"}
    for a in data["analyses"]:
        assert set(a) == {"name", "title", "status", "figures", "vector_figures", "numbers",
                          "claims", "checks", "script", "error", "skip_reason"}
        assert a["status"] in ("ok", "failed")
    good = next(a for a in data["analyses"] if a["name"] == "good-one")
    assert good["status"] == "ok" and good["script"] == "good_one.py"
    assert good["figures"] == ["figures/good-one/good-one-noise.png"]
    assert good["vector_figures"] == ["figures/good-one/good-one-noise.svg"]
    assert all((out / f).is_file() for f in good["figures"] + good["vector_figures"])
    assert good["claims"] == [{"key": "good-one--claim-1", "text": "one is less than two",
                              "holds": True, "evidence": "<i>detail</i>"}]
    assert good["checks"] == [{"key": "good-one--check-1", "text": "the bound is 2/4",
                              "holds": True, "evidence": ""}]
    assert good["numbers"]["bound"] == 0.5
    # timings only in the provenance
    assert "seconds" not in good and set(data["provenance"]["seconds"]) == {
        a["name"] for a in data["analyses"]}
    assert not (out / "_results").exists() and not (out / "_logs").exists()


def test_provenance(built):
    _rep, out, _ = built
    p = json.loads((out / "report.json").read_text())["provenance"]
    for k in ("lrctl", "git_commit", "started_utc", "mode", "python", "numpy", "scipy", "sympy",
              "control", "matplotlib", "cpu_count", "seconds_total"):
        assert k in p
    import numpy

    import lrctl

    assert p["lrctl"] == lrctl.__version__ and p["numpy"] == numpy.__version__
    assert p["mode"] == "full" and p["cpu_count"] == os.cpu_count()
    assert p["seconds_total"] > 0 and p["started_utc"].endswith("Z")
    page = (out / "index.html").read_text()
    assert p["started_utc"] in page and f"numpy</dt><dd>{numpy.__version__}" in page


def test_findings_are_not_failures(built):
    rep, _, _ = built
    status = {a.name: a.status for a in rep.analyses}
    assert status == {"claim-fails": "ok", "crashes": "failed", "good-one": "ok",
                      "partly": "ok", "silent": "failed", "zz-duplicate": "failed"}
    crashed = by_name(rep)["crashes"]
    assert "RuntimeError: boom in the analysis" in crashed.error
    assert crashed.numbers == {"before": 1.0}  # what it recorded before failing is kept
    assert "without recording anything" in by_name(rep)["silent"].error
    assert not rep.ok


def test_seed_claims_table(built):
    rep, out, _ = built
    rows = json.loads((out / "report.json").read_text())["seed_claims"]
    assert [r["id"] for r in rows] == list(SEED_ORDER)
    assert all(set(r) == {"id", "statement", "verdict", "condition", "evidence", "analysis"}
               for r in rows)
    assert all(r["statement"] == SEED_CLAIMS[r["id"]].statement for r in rows)
    row = {r["id"]: r for r in rows}
    assert row["gd-stability"]["verdict"] == "holds"
    assert row["gd-stability"]["analysis"] == "good-one"  # not the later duplicate
    assert row["log-scale-search"]["verdict"] == "fails"
    assert row["log-scale-search"]["evidence"] == "two is less than one (does not hold): 2 > 1"
    assert row["games-alternating"]["verdict"] == "partly"
    assert row["games-alternating"]["condition"] == "small grids are the regime of the statement"
    assert row["pi-control"] == {"id": "pi-control", "statement": SEED_CLAIMS["pi-control"].statement,
                                 "verdict": "not tested", "condition": None, "evidence": "",
                                 "analysis": None}
    dup = by_name(rep)["zz-duplicate"]
    assert "'gd-stability' is already decided by analysis 'good-one'" in dup.error


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
        if "href" in a:
            self.hrefs.append(a["href"])


def test_page_order_navigation_and_anchors(built):
    rep, out, _ = built
    page = (out / "index.html").read_text()
    # Sections in the seed's order, grouped under the seed's headings; own scripts last.
    names = [a.name for a in rep.analyses]
    assert names == ["claim-fails", "partly", "good-one", "zz-duplicate", "crashes", "silent"]
    headings = ("Learning-rate search", "Minimax games", "Gradient-descent stability",
                "Your analyses")
    positions = [page.index(f">{h}</h2>") for h in headings]
    assert positions == sorted(positions)
    assert page.index("id='seed-claims'") < positions[0]
    p = _Tags()
    p.feed(page)
    assert len(p.ids) == len(set(p.ids)), "duplicate anchors"
    # every internal link has its target: claims, analyses, seed rows, groups, top
    internal = [h[1:] for h in p.hrefs if h.startswith("#")]
    assert set(internal) <= set(p.ids)
    assert "good-one--claim-1" in internal  # the seed row links to the claim that decided it
    assert "nav" in p.tags and "position:sticky" in page
    assert page.count("back to top") == len(rep.analyses)
    assert "<b>Figure 1.</b> caption &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<details class='checks'>" in page  # checks collapsed, apart from the claims
    assert "mfrac" in page and "math-style:normal" in page  # readable fractions


def test_headline_counts(built):
    _, out, _ = built
    page = (out / "index.html").read_text()
    # ran: claim-fails (0 hold, 1 not), partly (2, 1), good-one (1, 0); 1 check
    assert "3 of 6 analyses ran · 3 claims hold · 2 do not (findings) · 1/1 checks pass" in page


def test_html_escapes_and_is_offline(built):
    _, out, _ = built
    page = (out / "index.html").read_text()
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "&lt;i&gt;detail&lt;/i&gt;" in page
    assert "<math" in page and "✓" in page and "✗" in page and "◐" in page
    assert "RuntimeError: boom in the analysis" in page
    assert "class='raw'" not in page  # every derivation's MathML passed the sanitizer
    assert "http://" not in page.replace('xmlns="http://www.w3.org/1998/Math/MathML"', "")
    assert "https://" not in page  # offline: no CDN


def test_progress_prefix_never_shown(built):
    _, out, root = built
    text = (root / "progress.txt").read_text()
    assert "good-one: done with the work" in text and "FAIL crashes" in text
    page = (out / "index.html").read_text()
    assert "done with the work" in page and "plain output line" in page
    assert "[lrctl-progress]" not in page and "[lrctl-progress]" not in text


def test_cli_exit_codes(tmp_path, monkeypatch, capsys):
    write(tmp_path / "a", "claim_fails.py", CLAIM_FAILS)
    monkeypatch.chdir(tmp_path)
    # a claim that does not hold is a finding, not a failure: exit 0
    assert cli.main(["report", "--analyses", "a", "--out", "r", "--jobs", "1"]) == 0
    assert (tmp_path / "r" / "index.html").exists()
    write(tmp_path / "b", "crashes.py", CRASHES)
    assert cli.main(["report", "--analyses", "b", "--out", "r2"]) == 1
    assert cli.main(["report", "--analyses", "missing"]) == 2
    assert cli.main(["report", "--jobs", "0"]) == 2
    assert cli.main(["report", "--timeout", "-1"]) == 2
    assert cli.main(["--version"]) == 0
    import lrctl

    assert capsys.readouterr().out.strip() == f"lrctl {lrctl.__version__}"
    assert cli.main(["report", "--help"]) == 0
    helptext = capsys.readouterr().out
    assert "exit codes" in helptext and "130" in helptext and "--quick" in helptext


def test_cli_ctrl_c_is_one_line(tmp_path, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("lrctl.report.build_report", interrupted)
    assert cli.main(["report", "--out", str(tmp_path / "r")]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err


def test_python_dash_m(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lrctl", "--version"], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and proc.stdout.startswith("lrctl ")


def test_quick_flag_reaches_scripts(tmp_path):
    write(tmp_path / "a", "q.py", """
        from lrctl.report import Analysis
        with Analysis(__file__, title="quick?") as an:
            an.number("quick", an.quick)
    """)
    rep = report.build_report(tmp_path / "a", tmp_path / "r", quick=True, stream=quiet(tmp_path))
    assert rep.analyses[0].numbers == {"quick": True}
    assert json.loads((tmp_path / "r" / "report.json").read_text())["provenance"]["mode"] == "quick"


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        report.build_report(tmp_path / "missing", tmp_path / "r")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no analysis scripts"):
        report.build_report(tmp_path / "empty", tmp_path / "r")
    write(tmp_path / "s", "x.py", SILENT)
    with pytest.raises(ValueError, match="jobs"):
        report.build_report(tmp_path / "s", tmp_path / "r", jobs=0)
    with pytest.raises(ValueError, match="timeout"):
        report.build_report(tmp_path / "s", tmp_path / "r", timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        report.build_report(tmp_path / "s", tmp_path / "r", timeout=float("nan"))
    with pytest.raises(ValueError, match="timeout"):
        report.build_report(tmp_path / "s", tmp_path / "r", timeout=True)
    with pytest.raises(TypeError, match="quick"):
        report.build_report(tmp_path / "s", tmp_path / "r", quick="yes")
    with pytest.raises(TypeError, match="analyses"):
        report.build_report(3, tmp_path / "r")
    with pytest.raises(TypeError, match="report"):
        report.render_html({"analyses": []})
    with pytest.raises(TypeError, match="stream"):
        report.build_report(tmp_path / "s", tmp_path / "r", stream=3)
    with pytest.raises(TypeError, match="markup"):
        report.sanitize_mathml(None)
    with pytest.raises(TypeError, match="argv"):
        cli.main("report")
    assert not (tmp_path / "r").exists()


def test_standalone_run(tmp_path):
    script = write(tmp_path / "a", "good_one.py", GOOD)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert "[holds] one is less than two" in proc.stdout


def _python_blocks(path: Path) -> list[str]:
    text = path.read_text()
    return [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]


def test_docs_example_analysis_runs(tmp_path):
    # The example script in docs/report.md is a real analysis: run it through the engine.
    (block,) = _python_blocks(ROOT / "docs" / "report.md")
    write(tmp_path / "a", "docs_example.py", block)
    rep = report.build_report(tmp_path / "a", tmp_path / "r", stream=quiet(tmp_path))
    a = rep.analyses[0]
    assert a.status == "ok", a.error
    assert a.numbers["bound"] == 1.0  # 2/λmax with λmax = 2
    assert [c["holds"] for c in a.claims] == [True]


def test_readme_example_runs():
    block, _torch_block = _python_blocks(ROOT / "README.md")
    proc = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert 8.9 < float(lines[0]) < 9.1  # 2/λmax of the breast-cancer problem, as in docs/quadratic.md
    assert lines[-1] == "eta < 2/lambda"


def test_readme_torch_example_runs():
    pytest.importorskip("torch")
    _block, torch_block = _python_blocks(ROOT / "README.md")
    proc = subprocess.run([sys.executable, "-c", torch_block], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    bound, suggestions = proc.stdout.split(" ", 1)
    assert float(bound) > 0 and "steepest" in suggestions and "valley" in suggestions


def test_readme_setup_commands():
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in text.split("```bash\n")[1:]]
    assert "pip install -e '.[torch]' && lrctl report" in blocks
    assert "pip install -e '.[test]' && pytest" in blocks
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().endswith("pip install -e '.[test]' && pytest")
    assert "python3 -m venv" in text and "--quick" in text


def test_seed_claim_names_a_bad_id_or_claims(tmp_path):
    """Contract pass (contract2c): a non-str id and a non-iterable ``claims`` are TypeErrors
    that name the argument; an empty list is a ValueError naming ``claims``."""
    an = report.Analysis(str(tmp_path / "probe.py"), "A probe")
    c = an.claim("A recorded claim", True)
    with pytest.raises(TypeError, match="id must be a seed claim id"):
        an.seed_claim({}, c)
    with pytest.raises(TypeError, match="claims must be a Claim or a list"):
        an.seed_claim("log-scale-search", 3.0)
    with pytest.raises(ValueError, match="claims of seed claim"):
        an.seed_claim("log-scale-search", [])
    an.seed_claim("log-scale-search", c)
    assert an.seed_claims[0]["id"] == "log-scale-search"
