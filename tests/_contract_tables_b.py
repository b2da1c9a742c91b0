"""Contract-harness tables for zdomain, continual, cerebellar, derivation, plots, report, jax
and torch (the second contract pass, branch contract2b).

Merged into the harness by tests/test_contract.py: EXAMPLES / SPECIAL / INSTANCES entries
override, VALID / VALID_AT kinds are added. Every VALID_AT entry says why the bad-value kind
is a genuinely valid input for that argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_SIGNED = {"zero", "negative", "arr-neg"}
#: Broadcasting parameters: any grid shape is valid (a shape that does not broadcast with the
#: other arguments must be refused with a named error, which is class (a) anyway).
_GRID = {"empty", "3d", "nonsquare", "longer"}


def _two_rate_paradigm() -> tuple[np.ndarray, np.ndarray]:
    from lrctl.cerebellar import simulate_two_rate

    f = np.concatenate([np.ones(30), -np.ones(6), np.zeros(10)])
    return f, simulate_two_rate(f).output


EXAMPLES: dict[str, Callable[[], Any]] = {}

SPECIAL: dict[str, dict[str, Callable[[], Any]]] = {
    "cerebellar.cerebellar_trajectory": {"steps": lambda: 3},
    "cerebellar.fit_cerebellar_rate": {
        # C_n = 1 − 0.7^n: the rule with C_0 = 0, C_opt = 1, k = 0.3
        "trajectory": lambda: 1.0 - 0.7 ** np.arange(8.0)},
    "cerebellar.fit_two_rate": {"perturbation": lambda: _two_rate_paradigm()[0],
                                "output": lambda: _two_rate_paradigm()[1]},
}

INSTANCES: dict[str, Callable[[], Any]] = {}

VALID: dict[str, set[str]] = {}

VALID_AT: dict[tuple[str, str], set[str]] = {}

# -- cerebellar: C_0 and C_opt are positions (any sign, 0 included); the closed forms
#    broadcast over all of their arguments.
for _fn in ("cerebellar_closed_form", "cerebellar_continuous", "cerebellar_trajectory"):
    for _p in ("c0", "c_opt"):
        VALID_AT[(f"cerebellar.{_fn}", _p)] = _SIGNED | _GRID
    VALID_AT[(f"cerebellar.{_fn}", "k")] = _GRID
VALID_AT[("cerebellar.cerebellar_closed_form", "n")] = {"zero"} | _GRID  # C_0 itself
VALID_AT[("cerebellar.cerebellar_continuous", "t")] = {"zero"} | _GRID  # C(0) = C_0
VALID_AT[("cerebellar.cerebellar_regime", "k")] = _GRID
VALID_AT[("cerebellar.cerebellar_noise_variance", "k")] = _GRID
for _fn in ("cerebellar_noise_variance", "optimal_cerebellar_rate"):
    for _p in ("state_noise", "motor_noise"):  # either noise may be absent (documented limits)
        VALID_AT[(f"cerebellar.{_fn}", _p)] = {"zero"} | _GRID
for _p in ("c0", "c_opt"):
    VALID_AT[("cerebellar.simulate_cerebellar", _p)] = _SIGNED
for _p in ("state_noise", "motor_noise"):
    VALID_AT[("cerebellar.simulate_cerebellar", _p)] = {"zero"}
# a perturbation of any sign, and any number of trials (one more trial is still a paradigm)
for _fn in ("simulate_adaptation", "simulate_two_rate"):
    VALID_AT[(f"cerebellar.{_fn}", "perturbation")] = {"arr-neg", "longer"}
VALID_AT[("cerebellar.fit_cerebellar_rate", "trajectory")] = {"arr-neg", "longer"}
VALID_AT[("cerebellar.fit_cerebellar_rate", "c_opt")] = _SIGNED
VALID_AT[("cerebellar.fit_two_rate", "perturbation")] = {"arr-neg"}
VALID_AT[("cerebellar.fit_two_rate", "output")] = {"arr-neg"}

# -- continual


def _sp_result():
    from lrctl.continual import simulate_stability_plasticity
    from lrctl.schedules import constant

    return simulate_stability_plasticity(constant(0.1), 10.0, 1.0, 1.0, n_points=5)


def _comparison():
    from lrctl.continual import compare_schedules
    from lrctl.schedules import constant

    return compare_schedules({"lo": constant(0.01), "hi": constant(0.1)}, 10.0, 1.0, 10.0)


_T6 = np.linspace(0.0, 10.0, 6)
SPECIAL.update({
    # the first observation at t = 0 (the fit starts the model there); P, R of a = 1, b = 1
    # under constant(0.1): P = 1 − e^{−0.1 t}, R = e^{−0.01 t}
    "continual.fit_stability_plasticity": {"t": lambda: _T6.copy(),
                                          "plasticity": lambda: 1 - np.exp(-0.1 * _T6),
                                          "retention": lambda: np.exp(-0.01 * _T6)},
    "continual.pareto_front": {"plasticity": lambda: np.array([0.9, 0.8, 0.7]),
                               "retention": lambda: np.array([0.5, 0.6, 0.55])},
    "continual.prediction_agreement": {"predicted": lambda: np.array([0.1, 0.5, 0.3, 0.9]),
                                       "measured": lambda: np.array([0.2, 0.4, 0.5, 0.8])},
    "continual.ScheduleComparison.score": {"weight": lambda: np.array([0.0, 0.5, 1.0])},
    "continual.ScheduleComparison.best": {"weight": lambda: 0.5},
    "continual.StabilityPlasticityResult.at": {"t": lambda: np.array([1.0, 5.0])},
    "continual.train_two_tasks": {"horizon": lambda: 10},
    "continual.equal_plasticity_constant": {"horizon": lambda: 10.0},
})
INSTANCES.update({
    "continual.StabilityPlasticityResult": _sp_result,
    "continual.ScheduleComparison": _comparison,
})
for _fn in ("simulate_stability_plasticity", "compare_schedules", "constant_rate_frontier",
            "closed_form_stability_plasticity", "fit_stability_plasticity"):
    # a = 0 (nothing learned) and b = 0 (nothing forgotten) are the documented limits
    for _p in ("plasticity", "forgetting"):
        VALID_AT[(f"continual.{_fn}", _p)] = {"zero"}
for _p in ("t", "plasticity", "forgetting"):  # the closed form broadcasts over t, a, b
    VALID_AT[("continual.closed_form_stability_plasticity", _p)] = (
        VALID_AT.get(("continual.closed_form_stability_plasticity", _p), set()) | _GRID)
VALID_AT[("continual.closed_form_stability_plasticity", "t")] |= {"zero"}  # P(0) = P0
VALID_AT[("continual.constant_rate_frontier", "lr")] = {"zero"} | _GRID  # vectorized over lr
VALID_AT[("continual.simulate_stability_plasticity", "max_step")] = {"+inf", "arr-inf"}  # no limit
VALID_AT[("continual.StabilityPlasticityResult.at", "t")] = {"zero"} | _GRID  # the solved range
VALID_AT[("continual.ScheduleComparison.score", "weight")] = {"zero"} | _GRID  # w in [0, 1]
VALID_AT[("continual.ScheduleComparison.best", "weight")] = {"zero"}
# observations of any sign and any length are data
VALID_AT[("continual.prediction_agreement", "predicted")] = {"zero", "negative", "arr-neg"}
VALID_AT[("continual.prediction_agreement", "measured")] = {"zero", "negative", "arr-neg"}
VALID_AT[("continual.pareto_front", "plasticity")] = {"arr-neg"}
VALID_AT[("continual.pareto_front", "retention")] = {"arr-neg"}
VALID_AT[("continual.pareto_front", "tol")] = {"zero"}  # exact dominance (the default)
VALID_AT[("continual.fit_stability_plasticity", "plasticity")] |= {"arr-neg"}
VALID_AT[("continual.fit_stability_plasticity", "retention")] = {"arr-neg"}
VALID_AT[("continual.train_two_tasks", "l2")] = {"zero"}  # no weight penalty

# -- zdomain


def _pi_config():
    from lrctl.zdomain import PIConfig

    return PIConfig(kp=0.4, ki=0.2, setpoint=1.0, lr0=0.01, lr_min=1e-4, lr_max=1.0)


def _polygon():
    from lrctl.zdomain import first_order_plant, stability_polygon

    return stability_polygon(first_order_plant(0.9, 0.5))


_U16 = np.tile([0.1, 0.1, 0.2, 0.2], 5)  # an lr trace that steps up and down (20 samples)


def _measurement16() -> np.ndarray:
    # y_{k+1} = 0.6·y_k + 0.4·log(lr_k): the first-order plant the fit must recover
    y = np.zeros(_U16.size)
    for k in range(_U16.size - 1):
        y[k + 1] = 0.6 * y[k] + 0.4 * np.log(_U16[k])
    return y


SPECIAL.update({
    "zdomain.identify_first_order": {"lr": lambda: _U16.copy(), "measurement": _measurement16},
    "zdomain.PIController.update": {"measurement": lambda: 0.8},
    "zdomain.PIController.from_config": {"config": _pi_config},
    "zdomain.PIController.load_state_dict": {"state": lambda: _pi_controller().state_dict()},
    "zdomain.StabilityPolygon": {"a": lambda: np.array([[1.0, 0.0], [0.0, 1.0]]),
                                 "b": lambda: np.array([1.0, 1.0])},
    "zdomain.StabilityPolygon.contains": {"kp": lambda: 0.4, "ki": lambda: 0.2},
    "zdomain.first_order_plant": {"a": lambda: 0.9, "b": lambda: 0.5},
    "zdomain.loss_ratio_operating_points": {"ratio": lambda: 0.25, "curvature": lambda: 2.0},
})


def _pi_controller():
    from lrctl.zdomain import PIController

    return PIController(kp=0.4, ki=0.2, setpoint=1.0, lr0=0.01, lr_min=1e-4, lr_max=1.0)


INSTANCES.update({"zdomain.StabilityPolygon": _polygon,
                  "zdomain.PIController": _pi_controller})

# PI gains of either sign are controllers (a plant with a negative gain, as the loss ratio
# below η = 1/λ, needs negative gains); kp = 0 is pure integral, ki = 0 pure proportional
# control; the setpoint is any real target. The gain-plane maps broadcast over (kp, ki).
for _fn in ("PIConfig", "PIController", "pi_controller"):
    for _p in ("kp", "ki"):
        VALID_AT[(f"zdomain.{_fn}", _p)] = set(_SIGNED)
for _fn in ("PIConfig", "PIController"):
    VALID_AT[(f"zdomain.{_fn}", "setpoint")] = set(_SIGNED)
for _fn in ("stability_region", "closed_loop_spectral_radius", "StabilityPolygon.contains"):
    for _p in ("kp", "ki"):
        VALID_AT[(f"zdomain.{_fn}", _p)] = _SIGNED | _GRID
for _fn in ("is_schur_stable", "stability_region"):
    VALID_AT[(f"zdomain.{_fn}", "tol")] = {"zero"}  # the strict test |z| < 1 (documented)
# any real polynomial coefficients; one more coefficient is a higher degree; rows are a batch
for _fn in ("is_schur_stable", "classify_stability"):
    VALID_AT[(f"zdomain.{_fn}", "coeffs")] = {"arr-neg", "longer", "nonsquare"}
VALID_AT[("zdomain.jury_table", "coeffs")] = {"arr-neg", "longer"}
VALID_AT[("zdomain.loss_ratio_gain", "lr")] = set(_GRID)  # vectorized
VALID_AT[("zdomain.loss_ratio_gain", "curvature")] = set(_GRID)
VALID_AT[("zdomain.sharpness_plant", "beta")] = {"zero"}  # no EMA (the default)
# reference and disturbance signals of any sign (a constant or one value per step)
for _p in ("reference", "disturbance"):
    VALID_AT[("zdomain.simulate_closed_loop", _p)] = set(_SIGNED)
VALID_AT[("zdomain.step_response", "amplitude")] = set(_SIGNED)
VALID_AT[("zdomain.first_order_plant", "a")] = set(_SIGNED)  # any real pole
VALID_AT[("zdomain.first_order_plant", "b")] = {"negative", "arr-neg"}  # a negative gain
VALID_AT[("zdomain.PIController.update", "measurement")] = set(_SIGNED)
VALID_AT[("zdomain.identify_first_order", "measurement")] = {"arr-neg"}
VALID_AT[("zdomain.predicted_ramp_error", "slope")] = set(_SIGNED)
VALID_AT[("zdomain.ramp_disturbance_response", "slope")] = set(_SIGNED)

# -- derivation


def _sym(name: str):
    import sympy

    return sympy.Symbol(name, positive=True)


SPECIAL.update({
    "derivation.Derivation": {
        "title": lambda: "The gradient-descent stability bound",
        "result": lambda: 2 / _sym("lam"),
        "statement": lambda: __import__("sympy").Lt(_sym("eta"), 2 / _sym("lam")),
        "steps": lambda: (("The error contracts when |1 − ηλ| < 1",
                           __import__("sympy").Lt(abs(1 - _sym("eta") * _sym("lam")), 1)),),
        "assumptions": lambda: ("λ > 0",),
        "symbols": lambda: {"lam": _sym("lam"), "eta": _sym("eta")},
    },
})
VALID_AT[("derivation.Derivation", "title")] = {"str"}  # any non-empty one-line title
VALID_AT[("derivation.Derivation", "symbols")] = {"dict"}  # no symbols: nothing to lambdify

# -- jax


def _jax_fun(p, d):
    import jax.numpy as jnp

    return 0.5 * jnp.sum((p - d) ** 2)


SPECIAL.update({
    "jax.JaxObjective": {"fun": lambda: _jax_fun, "params": lambda: np.zeros(2),
                         "data": lambda: np.ones(2)},
    "jax.JaxObjective.hvp": {"theta": lambda: np.zeros(2), "v": lambda: np.array([1.0, 0.0])},
})
for _fn in ("loss", "grad", "loss_and_grad", "hessian", "unravel"):
    SPECIAL[f"jax.JaxObjective.{_fn}"] = {"theta": lambda: np.zeros(2)}
for _fn in ("loss", "grad", "loss_and_grad", "hessian", "hvp", "unravel"):
    VALID_AT[(f"jax.JaxObjective.{_fn}", "theta")] = set(_SIGNED) | {"nonsquare"}  # (K, dim)
    VALID_AT[(f"jax.JaxObjective.{_fn}", "batch")] = {"arr-neg"}  # data of any sign
VALID_AT[("jax.JaxObjective.hvp", "v")] = set(_SIGNED) | {"nonsquare"}
VALID_AT[("jax.JaxObjective", "params")] = set(_SIGNED) | {"nonsquare", "3d", "longer"}
VALID_AT[("jax.JaxObjective", "data")] = set(_SIGNED)
for _p in ("kp", "ki", "setpoint"):  # as zdomain.PIConfig: gains and setpoint of either sign
    VALID_AT[("jax.pi_lr_controller", _p)] = set(_SIGNED)

#: Callables the harness must not call with generated arguments (merged into DO_NOT_CALL).
DO_NOT_CALL = frozenset({
    # a pytree node (NamedTuple): JAX rebuilds it from arbitrary leaves (tracers, None, the
    # bools of a tree_map), so its constructor cannot refuse anything; the state it holds is
    # built and advanced by pi_lr_controller, whose arguments are checked.
    "jax.PIState",
})
VALID_AT[("jax.JaxObjective", "data")] |= {"3d"}  # data is fun's: (p − d) broadcasts a (2, 2, 2) d

# -- report: the script API (Analysis and its methods)


def _analysis():
    from lrctl.report import Analysis

    return Analysis("contract_probe.py", "A probe analysis")


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


def _claim_of(an):
    return an.claim("The probe holds", True)


SPECIAL.update({
    "report.Analysis": {"script": lambda: "contract_probe.py", "title": lambda: "A probe"},
    "report.Analysis.figure": {"fig": _figure, "key": lambda: "probe"},
    "report.Analysis.number": {"key": lambda: "probe", "value": lambda: 1.5},
    "report.Analysis.claim": {"text": lambda: "The probe holds", "holds": lambda: True},
    "report.Analysis.check": {"text": lambda: "The probe is consistent", "holds": lambda: True},
    "report.Analysis.progress": {"message": lambda: "working"},
    "report.Analysis.derivation": {
        "deriv": lambda: __import__("lrctl.quadratic", fromlist=["x"]).derive_gd_stability()},
    "report.analysis_name": {"path": lambda: "analyses/pi_controller.py"},
})
INSTANCES.update({"report.Analysis": _analysis})
# any non-empty sentence or name is valid text; a number may be any real value (inf is
# recorded as "inf"), of any sign, or a 1-D list
VALID_AT[("report.Analysis", "title")] = {"str"}
VALID_AT[("report.Analysis", "script")] = {"str"}
VALID_AT[("report.analysis_name", "path")] = {"str"}
VALID_AT[("report.Analysis.number", "value")] = _SIGNED | {"+inf", "-inf", "huge", "empty",
                                                            "longer", "arr-inf", "bool"}
VALID_AT[("report.Analysis.number", "key")] = {"str"}
VALID_AT[("report.Analysis.figure", "key")] = {"str"}
VALID_AT[("report.Analysis.claim", "text")] = {"str"}
VALID_AT[("report.Analysis.check", "text")] = {"str"}
VALID_AT[("report.Analysis.progress", "message")] = {"str"}
for _m, _p in (("claim", "evidence"), ("check", "evidence"), ("figure", "caption"),
               ("number", "unit"), ("number", "description"), ("Analysis", "summary")):
    _key = f"report.Analysis.{_m}" if _m != "Analysis" else "report.Analysis"
    VALID_AT[(_key, _p)] = {"str"}
VALID_AT[("report.Analysis.number", "value")] |= {"str"}  # a word is a documented number kind
VALID_AT[("report.Analysis.claim", "holds")] = {"bool"}  # the outcome of a comparison
VALID_AT[("report.Analysis.check", "holds")] = {"bool"}

# -- torch (validation only): a 9-parameter tanh network on 8 fixed points

_TORCH_LAST: dict[str, Any] = {}


def _torch_data():
    import torch

    g = torch.Generator().manual_seed(0)
    X = torch.randn(8, 2, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0], dtype=torch.float64) + 0.1
    return X, y


def _torch_model():
    import torch

    torch.manual_seed(0)
    # a tanh layer: the Hessian of a purely linear model is constant and torch.func returns
    # an immutable ZeroTensor for its second derivative
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(),
                                torch.nn.Linear(2, 1)).to(torch.float64)
    _TORCH_LAST["model"] = model
    return model


def _torch_optimizer():
    """An SGD optimizer on the model built last (the harness builds ``model`` before
    ``optimizer``: signature order)."""
    import torch

    model = _TORCH_LAST.get("model") or _torch_model()
    return torch.optim.SGD(model.parameters(), lr=0.01)


def _torch_loss():
    # the mean squared error written out: torch.nn.MSELoss fails under torch.func's
    # forward-over-reverse Hessian-vector product ("ZeroTensors are immutable", torch 2.13)
    return lambda out, y: ((out.squeeze(-1) - y) ** 2).mean()


def _torch_objective():
    from lrctl.torch import TorchObjective

    return TorchObjective(_torch_model(), _torch_loss(), _torch_data())


def _pi_scheduler():
    from lrctl.torch import PIScheduler

    _torch_model()
    return PIScheduler(_torch_optimizer(), _pi_controller())


def _schedule_lr():
    from lrctl.schedules import constant
    from lrctl.torch import ScheduleLR

    _torch_model()
    return ScheduleLR(_torch_optimizer(), constant(0.01))


class _Params:
    """The model's parameters as a re-iterable that is not a list: the harness reuses one
    baseline value for every call (a param-group dict would carry the last call's settings),
    and it would try to read a list of tensors as an array."""

    def __init__(self) -> None:
        self.params = list(_torch_model().parameters())

    def __iter__(self):
        return iter(self.params)


def _torch_params():
    return _Params()


_TORCH_MODEL_ARGS = {"model": _torch_model, "loss_fn": _torch_loss, "data": _torch_data}
SPECIAL.update({
    "torch.TorchObjective": dict(_TORCH_MODEL_ARGS),
    "torch.theta_of": {"model": _torch_model},
    "torch.hessian_eigenvalues": dict(_TORCH_MODEL_ARGS),
    "torch.layerwise_param_groups": dict(_TORCH_MODEL_ARGS),
    "torch.range_test": {**_TORCH_MODEL_ARGS, "optimizer": _torch_optimizer,
                         "steps": lambda: 10},
    "torch.repeated_range_test": {**_TORCH_MODEL_ARGS, "optimizer": _torch_optimizer,
                                  "seeds": lambda: [0, 1]},
    "torch.analyse_sweep": {"lrs": lambda: np.geomspace(1e-3, 1.0, 10),
                            "losses": lambda: np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45,
                                                        0.6, 2.0, 9.0])},
    "torch.SharpnessProbe": {"model": _torch_model, "loss_fn": _torch_loss,
                             "probe_batch": _torch_data},
    "torch.LossRatioProbe": {"model": _torch_model, "loss_fn": _torch_loss,
                             "probe_batch": _torch_data},
    "torch.HypergradientSGD": {"params": _torch_params, "lr": lambda: 0.01,
                               "hyper_lr": lambda: 1e-3},
    "torch.HypergradientAdam": {"params": _torch_params, "lr": lambda: 0.01,
                                "hyper_lr": lambda: 1e-3},
    "torch.PIScheduler": {"optimizer": lambda: (_torch_model(), _torch_optimizer())[1],
                          "controller": _pi_controller},
    "torch.ScheduleLR": {"optimizer": lambda: (_torch_model(), _torch_optimizer())[1],
                         "schedule": lambda: _schedule(0.01)},
    "torch.PIScheduler.step": {"measurement": lambda: 0.8},
    "torch.PIScheduler.warmup_factor": {"t": lambda: None},
    "torch.TorchObjective.hvp": {"theta": lambda: np.full(9, 0.1), "v": lambda: np.ones(9)},
    "torch.TorchObjective.hvp_many": {"theta": lambda: np.full(9, 0.1),
                                      "V": lambda: np.eye(9)[:, :3]},
    "torch.SharpnessProbe.measure": {"optimizer": lambda: _TORCH_OPT_OF_PROBE["opt"]},
    "torch.PIScheduler.load_state_dict": {"state_dict": lambda: _pi_scheduler().state_dict()},
    "torch.ScheduleLR.load_state_dict": {"state_dict": lambda: _schedule_lr().state_dict()},
})
for _fn in ("loss", "grad", "loss_and_grad", "write", "to_model"):
    SPECIAL[f"torch.TorchObjective.{_fn}"] = {"theta": lambda: np.full(9, 0.1)}
_TORCH_OPT_OF_PROBE: dict[str, Any] = {}


def _sharpness_probe():
    from lrctl.torch import SharpnessProbe

    model = _torch_model()
    _TORCH_OPT_OF_PROBE["opt"] = _torch_optimizer()
    return SharpnessProbe(model, _torch_loss(), _torch_data())


INSTANCES.update({
    "torch.SharpnessProbe": _sharpness_probe,
    "torch.TorchObjective": _torch_objective,
    "torch.PIScheduler": _pi_scheduler,
    "torch.ScheduleLR": _schedule_lr,
})


def _schedule(lr: float):
    from lrctl.schedules import constant

    return constant(lr)
for _cls in ("HypergradientSGD", "HypergradientAdam"):
    VALID_AT[(f"torch.{_cls}", "hyper_lr")] = {"zero"}  # β = 0 is plain SGD / Adam
    VALID_AT[(f"torch.{_cls}", "lr_max")] = {"+inf", "arr-inf"}  # math.inf: no ceiling
    VALID_AT[(f"torch.{_cls}", "weight_decay")] = {"zero"}
VALID_AT[("torch.HypergradientSGD", "dampening")] = {"zero"}  # τ in [0, 1]
VALID_AT[("torch.HypergradientSGD", "momentum")] = {"zero"}
VALID_AT[("torch.PIScheduler.step", "measurement")] = set(_SIGNED)  # a (log) measurement
VALID_AT[("torch.ScheduleLR", "last_epoch")] = {"zero"}  # resume after step 0
VALID_AT[("torch.analyse_sweep", "losses")] = {"arr-neg"}  # a loss may be negative (NLL)
VALID_AT[("torch.analyse_sweep", "initial_loss")] = {"negative", "arr-neg"}
for _fn in ("analyse_sweep", "range_test"):
    VALID_AT[(f"torch.{_fn}", "smoothing")] = {"zero"}  # no smoothing (documented)
# a (K, dim) stack of parameter vectors: K losses / gradients (documented)
for _fn in ("loss", "grad", "loss_and_grad", "hvp", "hvp_many", "write", "to_model"):
    VALID_AT[(f"torch.TorchObjective.{_fn}", "theta")] = set(_SIGNED) | {"nonsquare"}
VALID_AT[("torch.TorchObjective.hvp", "v")] = set(_SIGNED) | {"nonsquare"}
VALID_AT[("torch.TorchObjective.hvp_many", "V")] = set(_SIGNED) | {"nonsquare", "longer"}
