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
``report.json`` and the figures. The report is assembled in a marked temporary folder beside
the target and exchanged with it atomically at the end, so an interrupted run leaves the
previous report intact; ``--out`` never replaces a folder lrctl did not write. Each script runs
in its own process group with a timeout; a failing script, or one whose result file is
malformed, is reported as failed with the reason, and the others go on. A claim that does not
hold is a finding, not a failure.
"""

from lrctl.report._engine import AnalysisResult, Report, build_report, discover_analyses
from lrctl.report._html import render_html, sanitize_mathml
from lrctl.report._script import Analysis, Check, Claim, analysis_name
from lrctl.report._seed import SEED_CLAIMS, SeedClaim

__all__ = [
    "SEED_CLAIMS",
    "Analysis",
    "AnalysisResult",
    "Check",
    "Claim",
    "Report",
    "SeedClaim",
    "analysis_name",
    "build_report",
    "discover_analyses",
    "render_html",
    "sanitize_mathml",
]
