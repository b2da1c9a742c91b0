"""Contract-harness tables for training, adaptive, objectives, rangetest and schedules.

Merged into tests/test_contract.py (EXAMPLES, SPECIAL, INSTANCES, VALID, VALID_AT, DO_NOT_CALL).
Valid calls are kept small (2–3 parameters, a handful of steps) so that the whole fuzz of these
modules stays within seconds per callable. Names that other modules also use (``objective``,
``theta0``, ``y``, ...) are given per callable in SPECIAL, never in EXAMPLES, so that the tables
of the other modules keep their meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_SIGNED = {"zero", "negative", "arr-neg"}
_GRID = {"empty", "3d", "nonsquare", "longer"}


def _quad(blocks: bool = False):
    from lrctl.objectives import QuadraticObjective

    b = (slice(0, 1), slice(1, 2)) if blocks else ()
    return QuadraticObjective(np.diag([1.0, 3.0]), blocks=b)


def _obs():
    from lrctl.training import Observation

    q = _quad(blocks=True)
    theta = np.array([1.0, -1.0])
    return Observation(step=1, theta=theta, grad=q.grad(theta), prev_grad=q.grad(2 * theta),
                       loss=float(q.loss(theta)), lr=0.1, measurement=None, objective=q)


def _pi(dt: float = 5.0):
    from lrctl.zdomain import PIController

    return PIController(0.3, 0.3, setpoint=1.0, lr0=0.05, lr_min=1e-3, lr_max=1.0, dt=dt)


def _sharpness():
    from lrctl.training import Sharpness

    return Sharpness()


def _feedback():
    from lrctl.training import Feedback

    return Feedback(_pi(1.0), _sharpness())


def _feedback_state():
    return _feedback().init(_obs())


def _caps_state():
    from lrctl.adaptive import LayerwiseCaps

    return LayerwiseCaps().init(_obs())


_DIGITS: dict[str, Any] = {}


def _digits():
    """A small slice of the digits data (60 rows), loaded once."""
    if not _DIGITS:
        from lrctl.objectives import load_dataset

        X, y = load_dataset("digits")
        _DIGITS["X"], _DIGITS["y"] = X[:60, :8].copy(), y[:60].copy()
        _DIGITS["yb"] = (y[:60] % 2).astype(float)
    return _DIGITS


def _mlp():
    from lrctl.objectives import MLP

    d = _digits()
    return MLP(d["X"], d["y"], hidden=(3,))


def _logistic():
    from lrctl.objectives import LogisticRegression

    d = _digits()
    return LogisticRegression(d["X"], d["yb"])


def _softmax():
    from lrctl.objectives import SoftmaxRegression

    d = _digits()
    return SoftmaxRegression(d["X"], d["y"])


def _range_result():
    from lrctl.rangetest import range_test

    return range_test(_quad(), [1.0, 1.0], lr_min=1e-3, lr_max=10.0, steps=40)


def _one_step():
    from lrctl.rangetest import one_step_sweep

    q = _quad()
    return one_step_sweep(q.loss, q.grad, [1.0, 1.0], np.geomspace(1e-4, 1e-2, 5))


def _suggestions():
    return _range_result().suggestions


def _schedule():
    from lrctl.schedules import cosine

    return cosine(0.1, 100)


_F = Callable[[], Any]

#: Every valid value of these modules is given per callable (SPECIAL), so that these tables
#: cannot change the meaning of a parameter name in another module's table.
EXAMPLES: dict[str, _F] = {}


def _constant():
    from lrctl.training import Constant

    return Constant(0.1)


_Q = {"objective": _quad, "theta0": lambda: np.array([1.0, -1.0])}
_QB = {"objective": lambda: _quad(True), "theta0": lambda: np.array([1.0, -1.0])}

SPECIAL: dict[str, dict[str, _F]] = {
    # training
    "training.Constant.update": {"obs": _obs, "state": lambda: None},
    "training.Hypergradient.update": {"obs": _obs, "state": lambda: None},
    "training.Scheduled.update": {"obs": _obs, "state": lambda: None},
    "training.ExponentialRamp.update": {"obs": _obs, "state": lambda: None},
    "training.Divergence.level": {"reference": lambda: 0.5, "initial_loss": lambda: 1.0},
    "training.Feedback": {"controller": lambda: _pi(1.0), "measure": _sharpness},
    "training.Feedback.init": {"obs": _obs},
    "training.Feedback.update": {"obs": _obs, "state": _feedback_state},
    "training.gradient_descent": _Q,
    "training.run": {**_Q, "steps": lambda: 5},
    "training.sharpness_response": {**_Q, "lrs": lambda: np.array([0.1, 0.2]),
                                    "measure_every": lambda: 2},
    "training.train_with_sharpness_control": {**_Q, "controller": lambda: _pi(2.0),
                                              "steps": lambda: 8, "measure_every": lambda: 2},
    # adaptive
    "adaptive.BlockRates.update": {"obs": _obs, "state": lambda: None},
    "adaptive.LARS.init": {"obs": _obs},
    "adaptive.LARS.update": {"obs": _obs,
                             "blocks": lambda: (slice(0, 1), slice(1, 2))},
    "adaptive.LayerwiseCaps.init": {"obs": _obs},
    "adaptive.LayerwiseCaps.update": {"obs": _obs, "state": _caps_state},
    "adaptive.block_top_eigenvalues": {"objective": lambda: _quad(True),
                                       "theta": lambda: np.array([1.0, -1.0])},
    "adaptive.blockwise_sharpness": {"objective": lambda: _quad(True),
                                     "theta": lambda: np.array([1.0, -1.0])},
    "adaptive.blockwise_descent": _QB,
    "adaptive.lars_descent": _QB,
    "adaptive.curvature_capped_descent": _QB,
    "adaptive.constant_lr_sweep": _Q,
    "adaptive.hypergradient_descent": _Q,
    "adaptive.hypergradient_sweep": _Q,
    "adaptive.snapshot_training": {**_Q, "lr_max": lambda: 0.2},
    "adaptive.snapshot_ensemble": {
        "objective": _mlp,
        "snapshots": lambda: np.stack([_mlp().initial(seed=s) for s in range(2)])},
    # objectives
    "objectives.MLP": {"X": lambda: _digits()["X"], "y": lambda: _digits()["y"],
                       "hidden": lambda: (3,)},
    "objectives.MLP.from_dataset": {"hidden": lambda: (3,)},
    "objectives.LogisticRegression": {"X": lambda: _digits()["X"], "y": lambda: _digits()["yb"]},
    "objectives.SoftmaxRegression": {"X": lambda: _digits()["X"], "y": lambda: _digits()["y"]},
    "objectives.minimize": {"objective": _quad},
    "objectives.block_index": {"objective": _quad},
    "objectives.check_objective": {"obj": _quad},
    # rangetest
    "rangetest.range_test": {**_Q, "lr_min": lambda: 1e-3, "lr_max": lambda: 10.0,
                             "steps": lambda: 40},
    "rangetest.one_step_sweep": {"loss": lambda: _quad().loss, "grad": lambda: _quad().grad,
                                 "lrs": lambda: np.geomspace(1e-4, 1e-2, 5)},
    "rangetest.quadratic_sweep_log_excess": {"hessian": lambda: np.diag([1.0, 4.0])},
    "rangetest.smooth_in_log_lr": {"lrs": lambda: np.geomspace(1e-3, 1.0, 9),
                                   "losses": lambda: np.linspace(1.0, 0.2, 9),
                                   "width": lambda: 2.0},
    "rangetest.suggest": {"lrs": lambda: np.geomspace(1e-3, 1.0, 5)},
    "rangetest.repeated_range_test": {
        "make_problem": lambda: (lambda s: (_quad(), np.random.default_rng(s).normal(size=2))),
        "seeds": lambda: [0, 1]},
    "rangetest.OneStepSweep.sharpness_estimates": {"loss_min": lambda: 0.0},
    "rangetest.RangeTestResult.sharpness_estimates": {"loss_min": lambda: 0.0},
    "rangetest.divergence_index": {"threshold": lambda: 3.0},
    # schedules
    "schedules.Schedule.at": {"t": lambda: 5.0},
    "schedules.Schedule.breakpoints_in": {"horizon": lambda: 100.0},
    "schedules.piecewise_constant": {"values": lambda: [0.1, 0.01],
                                     "boundaries": lambda: [5.0]},
    "schedules.integral": {"schedule": _schedule, "horizon": lambda: 10.0},
    "schedules.as_schedule": {"schedule": lambda: (lambda t: 0.1 / (1.0 + np.asarray(t)))},
}

def _theta_of(make: _F) -> _F:
    return lambda: 0.1 * np.ones(make().dim)


for _cls, _make in (("MLP", _mlp), ("LogisticRegression", _logistic),
                    ("SoftmaxRegression", _softmax)):
    for _m in ("loss", "grad", "loss_and_grad", "hvp", "hessian", "accuracy", "predict",
               "predict_proba"):
        SPECIAL[f"objectives.{_cls}.{_m}"] = {"theta": _theta_of(_make), "v": _theta_of(_make)}
SPECIAL["objectives.MLP.block_hvp"] = {"theta": _theta_of(_mlp), "block": lambda: 1,
                                       "v_block": lambda: np.ones(40)}  # layer 2: 3·10 + 10
SPECIAL["objectives.MLP.accuracy"].update({"X": lambda: _digits()["X"][:5],
                                           "y": lambda: _digits()["y"][:5]})
SPECIAL["objectives.MLP.predict_proba"]["X"] = lambda: _digits()["X"][:5]
SPECIAL["objectives.MLP.predict"]["X"] = lambda: _digits()["X"][:5]
for _m in ("loss", "grad", "hvp", "hessian"):
    SPECIAL[f"objectives.QuadraticObjective.{_m}"] = {"theta": lambda: np.array([1.0, -1.0]),
                                                      "v": lambda: np.array([0.5, 2.0])}
for _m in ("loss", "grad", "hvp"):
    SPECIAL[f"objectives.Objective.{_m}"] = {"theta": lambda: np.array([1.0, -1.0]),
                                             "v": lambda: np.array([0.5, 2.0])}

# parameters whose example value is specific to these modules
_BL = {"block_lrs": lambda: np.array([0.1, 0.2])}
SPECIAL["adaptive.BlockRates"] = dict(_BL)
SPECIAL["adaptive.blockwise_descent"] = {**SPECIAL["adaptive.blockwise_descent"], **_BL}
SPECIAL["adaptive.blockwise_sharpness"] = {**SPECIAL["adaptive.blockwise_sharpness"], **_BL}
SPECIAL["training.policy_runs"] = {"policy": _constant}
SPECIAL["training.run"] = {**SPECIAL["training.run"], "policy": _constant}
SPECIAL["objectives.QuadraticObjective"] = {"hessian_matrix": lambda: np.diag([1.0, 3.0])}
SPECIAL["schedules.exponential"] = {"lr": lambda: 0.1, "decay_rate": lambda: 0.5}
SPECIAL["schedules.step_decay"] = {"lr": lambda: 0.1, "step_size": lambda: 10.0}
SPECIAL["rangetest.suggest"] = {**SPECIAL["rangetest.suggest"],
                                "smoothed": lambda: np.array([1.0, 0.9, 0.7, 0.6, 0.65]),
                                "slopes": lambda: np.array([-0.1, -0.2, -0.3, 0.0, 0.2])}
SPECIAL["rangetest.quadratic_sweep_log_excess"] = {
    **SPECIAL["rangetest.quadratic_sweep_log_excess"], "error": lambda: np.array([1.0, 1.0])}
SPECIAL["rangetest.one_step_sweep"] = {**SPECIAL["rangetest.one_step_sweep"],
                                       "params": lambda: np.array([1.0, 1.0])}

INSTANCES: dict[str, _F] = {
    "training.Constant": lambda: __import__("lrctl.training", fromlist=["x"]).Constant(0.1),
    "training.Feedback": _feedback,
    "adaptive.BlockRates": lambda: __import__("lrctl.adaptive", fromlist=["x"]).BlockRates(
        [0.1, 0.2]),
    "objectives.Objective": _quad,  # a Protocol: its methods are fuzzed on a conforming object
    "objectives.QuadraticObjective": _quad,
    "objectives.MLP": _mlp,
    "objectives.LogisticRegression": _logistic,
    "objectives.SoftmaxRegression": _softmax,
    "rangetest.RangeTestResult": _range_result,
    "rangetest.OneStepSweep": _one_step,
    "rangetest.Suggestions": _suggestions,
    "schedules.Schedule": _schedule,
}

#: A typing.Protocol cannot be instantiated by design (TypeError from typing itself).
DO_NOT_CALL = frozenset({"objectives.Objective"})

#: Nothing is valid by name alone here: every exception is per callable (VALID_AT).
VALID: dict[str, set[str]] = {}

_THETA0 = ["training.gradient_descent", "training.run", "training.sharpness_response",
           "training.train_with_sharpness_control", "adaptive.blockwise_descent",
           "adaptive.lars_descent", "adaptive.curvature_capped_descent",
           "adaptive.constant_lr_sweep", "adaptive.hypergradient_descent",
           "adaptive.hypergradient_sweep", "adaptive.snapshot_training", "rangetest.range_test",
           "objectives.minimize"]
_FLOOR = ["training.gradient_descent", "adaptive.blockwise_descent", "adaptive.lars_descent",
          "adaptive.curvature_capped_descent", "adaptive.constant_lr_sweep",
          "adaptive.hypergradient_descent", "adaptive.hypergradient_sweep",
          "adaptive.snapshot_training"]

VALID_AT: dict[tuple[str, str], set[str]] = {
    **{(t, "theta0"): set(_SIGNED) for t in _THETA0},
    **{(t, "loss_floor"): set(_SIGNED) for t in _FLOOR},
    # the loss floor L* and the losses themselves may be any real number
    ("training.Divergence", "loss_floor"): set(_SIGNED),
    ("training.Divergence.from_args", "loss_floor"): set(_SIGNED),
    ("training.Divergence.first_divergence", "losses"): {"arr-neg", "arr-nan", "arr-inf",
                                                         "longer"},
    ("training.Divergence.first_divergence", "initial_loss"): set(_SIGNED),
    ("training.Divergence.level", "reference"): _SIGNED | _GRID,
    ("training.Divergence.level", "initial_loss"): _SIGNED | _GRID,
    ("rangetest.divergence_index", "losses"): {"arr-neg", "arr-nan", "arr-inf", "longer"},
    ("rangetest.divergence_index", "initial_loss"): set(_SIGNED),
    # α = 0 is constant-rate descent (documented)
    ("training.Hypergradient", "hyper_lr"): {"zero"},
    ("adaptive.hypergradient_descent", "hyper_lr"): {"zero"},
    ("adaptive.hypergradient_sweep", "hyper_lr"): {"zero", "longer"},
    ("adaptive.hypergradient_sweep", "lr0"): {"longer"},
    ("adaptive.constant_lr_sweep", "lrs"): {"longer"},  # one more rate, one more run
    ("adaptive.snapshot_training", "lr_min"): {"zero"},
    ("training.run", "snapshot_at"): {"empty"},
    ("training.sharpness_response", "lrs"): {"longer"},  # one more sample
    # rates for K runs of n blocks: (2, 3) is two runs of three blocks; BlockRates alone does
    # not know the objective's block count (run() checks it)
    ("adaptive.BlockRates", "block_lrs"): {"nonsquare", "longer"},
    # parameters of any sign; M >= 2 snapshots of any number
    ("adaptive.snapshot_ensemble", "snapshots"): {"arr-neg", "longer"},
    ("training.Sharpness", "seed"): {"zero"},
    ("training.train_with_sharpness_control", "ema"): {"zero"},
    ("training.Feedback", "ema"): {"zero"},
    ("training.sharpness_response", "seed"): {"zero"},
    ("training.train_with_sharpness_control", "seed"): {"zero"},
    ("adaptive.LayerwiseCaps", "seed"): {"zero"},
    ("adaptive.curvature_capped_descent", "seed"): {"zero"},
    ("adaptive.snapshot_training", "seed"): {"zero"},
    ("adaptive.block_top_eigenvalues", "seed"): {"zero"},
    ("adaptive.blockwise_sharpness", "seed"): {"zero"},
    ("adaptive.block_top_eigenvalues", "theta"): set(_SIGNED),
    ("adaptive.blockwise_sharpness", "theta"): set(_SIGNED),
    # schedules: a zero rate or floor is a valid schedule value; the step grids broadcast
    ("schedules.constant", "lr"): {"zero"},
    ("schedules.cosine", "lr_min"): {"zero"},
    ("schedules.linear_decay", "lr_min"): {"zero"},
    ("schedules.cosine_warm_restarts", "lr_min"): {"zero"},
    ("schedules.linear_warmup", "lr_init"): {"zero"},
    ("schedules.integral", "horizon"): {"zero"} | _GRID,
    ("schedules.as_schedule", "breakpoints"): {"empty"},
    ("schedules.Schedule.at", "t"): {"zero"},  # the first step
    ("schedules.Schedule.breakpoints_in", "horizon"): {"zero"},  # (0, 0) holds no breakpoint
    # grids of (lr, curvature, Δ): any shape broadcasts
    ("rangetest.ramp_log_amplitude", "curvature"): set(_GRID),
    ("rangetest.ramp_log_amplitude", "log_lr_step"): set(_GRID),
    ("rangetest.steepest_lr_prediction", "curvature"): set(_GRID),
    ("rangetest.steepest_lr_prediction", "log_lr_step"): set(_GRID),
    ("rangetest.range_test", "smoothing"): {"zero"},
    ("rangetest.quadratic_sweep_log_excess", "lrs"): {"longer"},  # one more step of the sweep
    ("rangetest.smooth_in_log_lr", "losses"): {"arr-neg"},  # losses of any sign
    ("rangetest.smooth_in_log_lr", "width"): {"zero"},
    ("rangetest.quadratic_sweep_log_excess", "error"): set(_SIGNED),
    ("rangetest.one_step_sweep", "params"): set(_SIGNED),
    ("rangetest.suggest", "slopes"): set(_SIGNED),
    ("rangetest.suggest", "smoothed"): set(_SIGNED),
    ("rangetest.OneStepSweep.sharpness_estimates", "loss_min"): {"zero", "negative",
                                                                 "arr-neg"},
    ("rangetest.RangeTestResult.sharpness_estimates", "loss_min"): {"zero", "negative",
                                                                    "arr-neg"},
    # objectives
    ("objectives.MLP", "l2"): {"zero"},
    ("objectives.MLP.from_dataset", "l2"): {"zero"},
    ("objectives.LogisticRegression", "l2"): {"zero"},
    ("objectives.LogisticRegression.from_dataset", "l2"): {"zero"},
    ("objectives.SoftmaxRegression", "l2"): {"zero"},
    ("objectives.SoftmaxRegression.from_dataset", "l2"): {"zero"},
    ("objectives.QuadraticObjective", "minimizer"): set(_SIGNED),
    ("objectives.QuadraticObjective", "loss_min"): set(_SIGNED),
    ("objectives.split_dataset", "seed"): {"zero"},
    # an indefinite symmetric H is a (saddle) quadratic, still a valid plant
    ("objectives.QuadraticObjective", "hessian_matrix"): {"arr-neg"},
    ("objectives.MLP.accuracy", "X"): {"arr-neg"},  # features of any sign, any number of rows
    ("objectives.MLP.predict", "X"): {"arr-neg", "longer"},
    ("objectives.MLP.predict_proba", "X"): {"arr-neg", "longer"},
    ("objectives.check_objective", "name"): {"str"},  # any name for the messages
    ("objectives.MLP.block_hvp", "v_block"): set(_SIGNED),
    ("objectives.MLP.initial", "seed"): {"zero"},
}
for _t in ("MLP", "LogisticRegression", "SoftmaxRegression"):
    VALID_AT[(f"objectives.{_t}", "X")] = {"arr-neg"}
for _t in ("QuadraticObjective", "MLP", "LogisticRegression", "SoftmaxRegression", "Objective"):
    for _m in ("loss", "grad", "loss_and_grad", "hvp", "hessian", "accuracy", "predict",
               "predict_proba", "initial"):
        VALID_AT[(f"objectives.{_t}.{_m}", "theta")] = set(_SIGNED)
        VALID_AT[(f"objectives.{_t}.{_m}", "v")] = set(_SIGNED)
    VALID_AT[(f"objectives.{_t}.initial", "seed")] = {"zero"}
