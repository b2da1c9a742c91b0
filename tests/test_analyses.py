"""Every shipped analysis runs (in quick mode) through the report engine, and its claims hold.

This is the end-to-end check of `lrctl report`: one report over ./analyses, built once, with
one test per analysis so that a failure names the analysis and shows its traceback or the
claims that did not hold.
"""

import json
import os
from pathlib import Path

import pytest

from lrctl.report import analysis_name, build_report, discover_analyses

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = discover_analyses(ROOT / "analyses")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("shipped") / "report"
    with open(out.parent / "progress.log", "w") as stream:
        return build_report(ROOT / "analyses", out, jobs=os.cpu_count() or 2, quick=True,
                            timeout=600, stream=stream)


@pytest.mark.parametrize("script", SCRIPTS, ids=[analysis_name(s) for s in SCRIPTS])
def test_analysis_runs_and_claims_hold(quick_report, script):
    result = next(a for a in quick_report.analyses if a.name == analysis_name(script))
    assert result.status != "failed", f"{result.name} failed:\n{result.error}"
    failed = [c for c in result.claims if not c["holds"]]
    assert not failed, f"{result.name}: claims did not hold: {failed}"
    assert result.claims, f"{result.name} checks no claim"
    assert result.figures, f"{result.name} produces no figure"
    for fig in result.figures:
        assert (quick_report.out / "figures" / result.name / fig["png"]).stat().st_size > 5000


def test_report_json_lists_every_analysis(quick_report):
    data = json.loads((quick_report.out / "report.json").read_text())
    # in the seed's order on the page, so compare as sets
    assert sorted(a["name"] for a in data["analyses"]) == sorted(analysis_name(s) for s in SCRIPTS)
    page = (quick_report.out / "index.html").read_text()
    for s in SCRIPTS:
        assert f"id='{analysis_name(s)}'" in page
