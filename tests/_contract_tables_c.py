"""Contract-harness tables for bayesopt, search and report (the third contract pass, branch
contract2c).

Merged into the harness by tests/test_contract.py: EXAMPLES / SPECIAL / INSTANCES entries
override, VALID / VALID_AT kinds are added. Every VALID_AT entry says why the bad-value kind
is a genuinely valid input for that argument. Objectives are the closed-form test functions
of lrctl.search (milliseconds per evaluation); optimizers keep their history in memory
(storage=None) unless the argument under test is the storage itself, and the harness runs
every call in a temporary working directory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_SIGNED = {"zero", "negative", "arr-neg"}
#: Broadcasting parameters: any grid shape is valid, an empty grid included.
_GRID = {"empty", "3d", "nonsquare", "longer"}

EXAMPLES: dict[str, Callable[[], Any]] = {}
SPECIAL: dict[str, dict[str, Callable[[], Any]]] = {}
INSTANCES: dict[str, Callable[[], Any]] = {}
VALID: dict[str, set[str]] = {}
VALID_AT: dict[tuple[str, str], set[str]] = {}
#: Callables whose documented answer may be ``inf`` (never NaN): merged into INF_OK.
INF_OK: frozenset[str] = frozenset({
    # "inf if none": the evaluation count of a search that never reached the threshold
    # (a censored count; analyses/bayesian_optimization.py sorts such counts last)
    "search.evaluations_to_reach",
    # 1/p with p = 0: a target outside the bounds is never hit (documented)
    "search.expected_samples_to_hit",
    # the running best is inf before the first "ok" trial (documented)
    "bayesopt.SearchResult.best_so_far",
})

# ---------------------------------------------------------------------------------------
# bayesopt
# ---------------------------------------------------------------------------------------

_X4 = np.array([0.0, 0.3, 0.7, 1.0])
_Y4 = np.array([1.0, 0.2, 0.4, 0.9])


def _forrester():
    from lrctl.search import LogScaleTestFunction

    return LogScaleTestFunction("forrester", (1e-4, 1.0))


def _gp():
    from lrctl.bayesopt import GaussianProcess1D

    return GaussianProcess1D(_X4.copy(), _Y4.copy(), 0.3, 1.0, 1e-4)


#: The optimizer's trial left pending by :func:`_optimizer` (its number).
_PENDING = 4


def _optimizer():
    """An in-memory optimizer with four finished trials (the GP is in use) and trial 4
    pending, so that tell/tell_failure/snapshot have a valid call."""
    from lrctl.bayesopt import BayesianOptimizer

    f = _forrester()
    opt = BayesianOptimizer((1e-4, 1.0), seed=0, grid_size=201)
    for _ in range(_PENDING):
        t = opt.ask()
        opt.tell(t, f(t.lr))
    pending = opt.ask()
    assert pending.number == _PENDING
    return opt


def _search_result():
    from lrctl.bayesopt import record_evaluations

    return record_evaluations(_forrester(), np.array([1e-3, 1e-2, 0.1]))


def _result_fields(name: str) -> Callable[[], Any]:
    return lambda: getattr(_search_result(), name)


SPECIAL.update({
    "bayesopt.GaussianProcess1D": {"x": lambda: _X4.copy(), "y": lambda: _Y4.copy(),
                                   "length_scale": lambda: 0.3,
                                   "signal_variance": lambda: 1.0,
                                   "noise_variance": lambda: 1e-4},
    "bayesopt.GaussianProcess1D.predict": {"x": lambda: np.array([0.1, 0.5])},
    "bayesopt.GaussianProcess1D.condition": {"x_new": lambda: np.array([0.5]),
                                             "y_new": lambda: np.array([0.3])},
    "bayesopt.fit_gp": {"x": lambda: _X4.copy(), "y": lambda: _Y4.copy()},
    "bayesopt.lower_confidence_bound": {"gp": _gp, "x": lambda: np.array([0.1, 0.5]),
                                        "kappa": lambda: 1.0},
    "bayesopt.gp_ucb_kappa": {"t": lambda: np.array([1.0, 2.0, 5.0]),
                              "n_candidates": lambda: 100},
    "bayesopt.matern52": {"distance": lambda: np.array([0.0, 0.5]),
                          "length_scale": lambda: 0.3},
    "bayesopt.Evaluation": {"value": lambda: 0.5},
    "bayesopt.SerialExecutor.submit": {"fn": lambda: (lambda: 1.0)},
    "bayesopt.record_evaluations": {"objective": _forrester,
                                    "lrs": lambda: np.array([1e-3, 1e-2, 0.1])},
    "bayesopt.BayesianOptimizer": {"bounds": lambda: (1e-4, 1.0), "grid_size": lambda: 201},
    "bayesopt.BayesianOptimizer.to_unit": {"lr": lambda: np.array([1e-3, 0.1])},
    "bayesopt.BayesianOptimizer.from_unit": {"x": lambda: np.array([0.25, 0.5])},
    "bayesopt.BayesianOptimizer.tell": {"trial": lambda: _PENDING, "value": lambda: 0.5},
    "bayesopt.BayesianOptimizer.tell_failure": {"trial": lambda: _PENDING,
                                                "error": lambda: "boom"},
    "bayesopt.BayesianOptimizer.ask_batch": {"n": lambda: 2},
    "bayesopt.BayesianOptimizer.snapshot": {"lrs": lambda: np.array([1e-3, 1e-2, 0.1])},
    "bayesopt.BayesianOptimizer.run": {"objective": _forrester, "n_trials": lambda: 2,
                                       "executor": lambda: __import__(
                                           "lrctl.bayesopt", fromlist=["x"]).SerialExecutor()},
    "bayesopt.SearchResult": {f: _result_fields(f) for f in (
        "numbers", "lrs", "values", "statuses", "errors", "best_lr", "best_value",
        "best_number")},
    "bayesopt.SearchResult.from_trials": {"trials": lambda: _optimizer().trials},
})
INSTANCES.update({
    "bayesopt.GaussianProcess1D": _gp,
    "bayesopt.BayesianOptimizer": _optimizer,
    "bayesopt.SearchResult": _search_result,
})
VALID_AT[("bayesopt.matern52", "distance")] = {"zero"} | _GRID  # m(0) = 1; broadcasts
VALID_AT[("bayesopt.lower_confidence_bound", "kappa")] = {"zero"}  # κ = 0: the mean alone
VALID_AT[("bayesopt.lower_confidence_bound", "x")] = _GRID  # the posterior at any grid
VALID_AT[("bayesopt.GaussianProcess1D.predict", "x")] = _GRID
VALID_AT[("bayesopt.gp_ucb_kappa", "t")] = _GRID  # vectorized over t
for _p in ("y", "y_new"):  # observed values of any sign
    for _fn in ("GaussianProcess1D", "GaussianProcess1D.condition", "fit_gp"):
        VALID_AT[(f"bayesopt.{_fn}", _p)] = set(_SIGNED)
for _fn in ("GaussianProcess1D", "fit_gp"):
    VALID_AT[(f"bayesopt.{_fn}", "x")] = set(_SIGNED)  # inputs anywhere on the line
VALID_AT[("bayesopt.GaussianProcess1D.condition", "x_new")] = set(_SIGNED)
VALID_AT[("bayesopt.Evaluation", "value")] = set(_SIGNED)  # a loss of any sign
VALID_AT[("bayesopt.BayesianOptimizer.tell", "value")] = set(_SIGNED)
# the study is any non-empty name, the storage any path (created in the scratch folder);
# κ = 0 (pure exploitation), min_distance = 0 and explore_threshold = 0 (rule off) are
# documented settings
VALID_AT[("bayesopt.BayesianOptimizer", "study")] = {"str"}
VALID_AT[("bayesopt.BayesianOptimizer", "storage")] = {"str"}
for _p in ("kappa", "min_distance", "explore_threshold"):
    VALID_AT[("bayesopt.BayesianOptimizer", _p)] = {"zero"}
VALID_AT[("bayesopt.BayesianOptimizer.tell_failure", "error")] = {"str"}  # any message
# x outside [0, 1] maps outside the bounds (the inverse of to_unit, any positive rate); the
# coordinates broadcast
VALID_AT[("bayesopt.BayesianOptimizer.from_unit", "x")] = _GRID
VALID_AT[("bayesopt.BayesianOptimizer.to_unit", "lr")] = _GRID
VALID_AT[("bayesopt.BayesianOptimizer.snapshot", "lrs")] = {"longer"}  # any grid of rates
VALID_AT[("bayesopt.record_evaluations", "lrs")] = {"longer"}  # one more evaluation

# ---------------------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------------------


def _loss_curve():
    from lrctl.search import QuadraticGDLoss

    return QuadraticGDLoss([0.5, 1.0], steps=5).evaluate(np.array([0.1, 0.5, 3.0]))


def _mc_estimate():
    from lrctl.search import monte_carlo_hit_probability

    return monte_carlo_hit_probability((1e-3, 1e-2), (1e-4, 1.0), 3, n_trials=200, seed=0)


def _validation_loss():
    from lrctl.search import ValidationLoss

    return ValidationLoss("breast_cancer", steps=3)


_LRS3 = np.array([1e-3, 1e-2, 0.1])
SPECIAL.update({
    "search.LogScaleTestFunction": {"name": lambda: "forrester"},
    "search.LogScaleTestFunction.evaluate": {"lrs": lambda: _LRS3.copy()},
    "search.QuadraticGDLoss": {"eigenvalues": lambda: np.array([0.5, 1.0]),
                               "steps": lambda: 5},
    "search.QuadraticGDLoss.evaluate": {"lrs": lambda: _LRS3.copy()},
    "search.QuadraticGDLoss.minimum": {"bounds": lambda: (1e-3, 1.0)},
    "search.ValidationLoss": {"dataset": lambda: "breast_cancer", "steps": lambda: 3},
    "search.ValidationLoss.evaluate": {"lrs": lambda: _LRS3.copy()},
    "search.LossCurve": {"lrs": lambda: _LRS3.copy(), "values": lambda: np.array([1.0, 0.5,
                                                                                 2.0]),
                         "diverged": lambda: np.array([False, False, True]),
                         "diverged_at": lambda: np.array([-1, -1, 2])},
    "search.MonteCarloEstimate": {"estimate": lambda: 0.25, "low": lambda: 0.2,
                                  "high": lambda: 0.3, "hits": lambda: 50,
                                  "n_trials": lambda: 200},
    "search.MonteCarloEstimate.contains": {"value": lambda: 0.25},
    "search.monte_carlo_hit_probability": {"n_trials": lambda: 200, "seed": lambda: 0},
    "search.random_search": {"objective": _forrester, "n_trials": lambda: 3,
                             "seed": lambda: 0},
    "search.within_tolerance": {"best_value": lambda: 0.5},
    "search.evaluations_to_reach": {"values": lambda: np.array([3.0, 2.0, 0.9, 0.5]),
                                    "threshold": lambda: 1.0},
})
INSTANCES.update({
    "search.LogScaleTestFunction": _forrester,
    "search.QuadraticGDLoss": lambda: __import__("lrctl.search", fromlist=["x"])
    .QuadraticGDLoss([0.5, 1.0], steps=5),
    "search.ValidationLoss": _validation_loss,
    "search.LossCurve": _loss_curve,
    "search.MonteCarloEstimate": _mc_estimate,
})
# learning-rate grids broadcast: any shape, an empty grid included
for _fn in ("LogScaleTestFunction.evaluate", "QuadraticGDLoss.evaluate",
            "ValidationLoss.evaluate"):
    VALID_AT[(f"search.{_fn}", "lrs")] = set(_GRID)
VALID_AT[("search.hit_probability", "n")] = set(_GRID)  # vectorized over n
VALID_AT[("search.ValidationLoss", "l2")] = {"zero"}  # no weight penalty
# a loss trace: NaN is a failed trial, inf a diverged one (documented), any sign, any length
VALID_AT[("search.evaluations_to_reach", "values")] = {"arr-nan", "arr-inf", "arr-neg",
                                                       "longer"}
VALID_AT[("search.evaluations_to_reach", "threshold")] = set(_SIGNED)  # a loss of any sign
VALID_AT[("search.within_tolerance", "best_value")] = _SIGNED | _GRID  # f* of any sign; vector
VALID_AT[("search.MonteCarloEstimate.contains", "value")] = {"zero", "negative"}  # outside
VALID_AT[("search.LossCurve", "values")] = {"arr-neg"}  # a loss of any sign

# ---------------------------------------------------------------------------------------
# report (the engine's public callables; the script API is in _contract_tables_b)
# ---------------------------------------------------------------------------------------


def _analysis_result():
    from lrctl.report import AnalysisResult

    return AnalysisResult(name="probe", script="probe.py", status="ok", title="A probe",
                          numbers={"x": 1.5})


def _report():
    from pathlib import Path

    from lrctl.report import Report

    return Report(out=Path("report"), analyses=[_analysis_result()], quick=True)


def _analyses_folder() -> str:
    from pathlib import Path

    folder = Path("contract_analyses")
    folder.mkdir(exist_ok=True)
    (folder / "probe.py").write_text("print('probe')\n")
    return str(folder)


SPECIAL.update({
    "report.discover_analyses": {"path": _analyses_folder},
    "report.render_html": {"report": _report},
    "report.sanitize_mathml": {"markup": lambda: "<math><mi>x</mi><mo>=</mo><mn>1</mn></math>"},
    "report.Analysis.seed_claim": {"id": lambda: "log-scale-search",
                                   "claims": lambda: None},
    "report.Claim": {"key": lambda: "probe", "text": lambda: "The probe holds",
                     "holds": lambda: True},
    "report.Check": {"key": lambda: "probe", "text": lambda: "The probe is consistent",
                     "holds": lambda: True},
})
INSTANCES.update({
    "report.AnalysisResult": _analysis_result,
    "report.Report": _report,
})
VALID_AT[("report.sanitize_mathml", "markup")] = {"str"}  # any text is sanitized
VALID_AT[("report.discover_analyses", "path")] = set()

#: Not called with generated arguments (merged into DO_NOT_CALL).
DO_NOT_CALL = frozenset({
    # requires(*modules) takes its module names as *args, which the harness cannot generate,
    # and exits the script (SystemExit, by design) when one is missing; its argument checks
    # are tested in tests/test_report_script.py
    "report.Analysis.requires",
})


def _analysis_with_claim():
    """The script API's instance (as in _contract_tables_b) with one recorded claim, so that
    seed_claim has a deciding claim of this analysis to name."""
    from lrctl.report import Analysis

    an = Analysis("contract_probe.py", "A probe analysis")
    an.claim("A recorded claim", True)
    return an


def _recorded_claim():
    from lrctl.report import Claim

    # the claim _analysis_with_claim recorded (equal by value: key, text, verdict, evidence)
    return [Claim(key="contract-probe--claim-1", text="A recorded claim", holds=True)]


INSTANCES["report.Analysis"] = _analysis_with_claim
SPECIAL["report.Analysis.seed_claim"] = {"id": lambda: "log-scale-search",
                                         "claims": _recorded_claim}
VALID_AT[("search.QuadraticGDLoss", "eigenvalues")] = {"longer"}  # one more eigenvalue


def _optimizer_told():
    """The optimizer of :func:`_optimizer` with its pending trial told (snapshot refuses a
    search with pending trials)."""
    opt = _optimizer()
    opt.tell(_PENDING, _forrester()(opt.trials[_PENDING].lr))
    return opt


INSTANCES["bayesopt.BayesianOptimizer.snapshot"] = _optimizer_told
# tell records what an objective returned: anything that is not a finite real number is
# recorded as a failed trial with the reason (the documented rule shared with run(); a bool
# is refused), so the returned Trial has status "failed": an explicit, stored refusal
VALID_AT[("bayesopt.BayesianOptimizer.tell", "value")] |= {
    "nan", "+inf", "-inf", "str", "dict", "empty", "3d", "nonsquare", "arr-nan", "arr-inf",
    "arr-neg", "longer"}
VALID_AT[("bayesopt.BayesianOptimizer.run", "record_in_worker")] = {"bool"}  # bool | None
# NaN is the documented default of y_mean / y_std ("compute it from y"); any mean is valid
VALID_AT[("bayesopt.GaussianProcess1D", "y_mean")] = {"nan", "arr-nan"} | _SIGNED
VALID_AT[("bayesopt.GaussianProcess1D", "y_std")] = {"nan", "arr-nan"}
VALID_AT[("bayesopt.SearchResult.from_trials", "trials")] = {"empty"}  # no trials, no result rows
VALID_AT[("bayesopt.record_evaluations", "lrs")] |= {"empty"}  # nothing to evaluate
VALID_AT[("bayesopt.Evaluation", "info")] = {"dict"}  # an empty info
# a target with a non-positive low end: on the log scale it lies below any bounds and only
# its part inside the bounds counts (documented in tests/test_search.py hand values)
for _fn in ("hit_fraction", "hit_probability", "expected_samples_to_hit",
            "monte_carlo_hit_probability"):
    VALID_AT[(f"search.{_fn}", "target")] = {"arr-neg"}
