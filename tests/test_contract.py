"""The API contract, under test: bad input gets a ValueError/TypeError that names the argument.

The harness enumerates the public API itself (every ``lrctl`` module's ``__all__``, or its
public names when it has none; classes with their public methods), so a function is covered
the day it lands. For each callable it builds one valid *baseline* call (signature defaults,
plus :data:`EXAMPLES`, a table of valid example values per parameter name, plus
:data:`SPECIAL` for the callables that need a particular valid call), checks that the baseline
returns a finite result, and then replaces one argument at a time with each bad value of
:func:`bad_values` (NaN, ±inf, 0, negative, huge 1e300, bool, str, dict, empty, 3-D,
non-square, array with NaN/inf/huge/negative entries, non-symmetric matrix or operator, an
array one entry (row) too long, a callable returning NaN or the wrong shape, a non-integral
float for an integer). Every call
runs under a :data:`TIME_LIMIT` second alarm. Outcome classes follow the reliability audit
(``shared/audit/reliability.md``):

- (a) ``ValueError``/``TypeError`` whose message names the argument: the promise;
- (b) ``ValueError``/``TypeError`` that does not name it;
- (c) another exception type (a ``RuntimeWarning`` raised as an error included);
- (d) NaN or inf in the result;
- (e) no answer within the time limit;
- (f) a finite result for a value that is not valid for that argument.

A bad value may be accepted when it is genuinely valid for the argument: :data:`VALID` lists,
per parameter name, the kinds that are (0 is a valid ``weight_decay``); a ``huge`` value is
always allowed to *work*, i.e. to give a finite result. The (d) check also covers accepted
values, so a valid-but-huge input that overflows is a defect.

Modules in :data:`ENFORCED` are held to the contract here (one test per callable). Modules in
:data:`ENFORCED_ELSEWHERE_LATER` are enumerated but not run yet: other branches rewrite them
concurrently, and the integrator moves them into :data:`ENFORCED` after the merge. Running this
file as a script (``python tests/test_contract.py [module ...]``) prints the audit's table for
any modules, enforced or not.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import signal
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import lrctl

#: Modules whose every public callable must keep the contract (run in this file).
ENFORCED = frozenset({"adaptive", "bayesopt", "cerebellar", "continual", "curvature",
                      "derivation", "diffusion", "federated", "games", "jax", "objectives",
                      "optuna", "quadratic", "rangetest", "report", "schedules", "search",
                      "torch", "training", "zdomain"})

#: Modules being rewritten on other branches: enumerated (a new module must be listed in one of
#: the two sets), not run yet. The integrator enables them after the merge by moving them into
#: ENFORCED and extending EXAMPLES/SPECIAL/VALID for their parameters.
ENFORCED_ELSEWHERE_LATER = frozenset(
    {"cli", "plots",
     "plots.adaptive", "plots.curvature", "plots.diffusion", "plots.continual",
     "plots.cerebellar", "plots.federated", "plots.games", "plots.quadratic", "plots.rangetest",
     "plots.schedules", "plots.search", "plots.zdomain"}
)

#: Seconds one call may take before it counts as a hang (class e).
TIME_LIMIT = 2.0
#: The baseline (valid) call also warms up lazy imports (sympy, scipy.sparse.linalg, control),
#: which take seconds on a loaded machine: it gets a longer limit.
BASELINE_TIME_LIMIT = 30.0

# ---------------------------------------------------------------------------------------
# Valid example arguments
# ---------------------------------------------------------------------------------------

_H3 = np.diag([1.0, 2.0, 4.0])  # symmetric PSD, eigenvalues 1, 2, 4
_H8 = np.diag(np.arange(1.0, 9.0))  # eigenvalues 1..8, for Lanczos (dim > k + 1)


def _quadratic_objective():
    from lrctl.objectives import QuadraticObjective

    return QuadraticObjective(np.diag([1.0, 3.0]))


def _denoising_curvature():
    from lrctl.diffusion import denoising_curvature

    return denoising_curvature(np.diag([1.0, 0.25]), [0.1, 1.0])


#: Valid example value per parameter name, as a factory (a fresh object per call).
EXAMPLES: dict[str, Callable[[], Any]] = {
    # quadratic
    "curvature": lambda: _H3.copy(),
    "hessian": lambda: _H3.copy(),
    "lr": lambda: 0.1,
    "momentum": lambda: 0.5,
    "grad": lambda: np.array([1.0, 0.5, -0.5]),
    "loss": lambda: 1.0,
    "sharpness": lambda: 2.0,
    "slope": lambda: -0.4,
    "weight_decay": lambda: 0.01,
    "minimizer": lambda: np.array([1.0, 2.0, 3.0]),
    "blocks": lambda: [4.0, np.diag([1.0, 2.0])],
    # curvature
    "hvp": lambda: _H8.copy(),
    "objective": _quadratic_objective,
    "theta": lambda: np.zeros(2),
    # games
    "A": lambda: np.array([[1.0, 0.5], [0.0, 2.0]]),
    "game": lambda: __import__("lrctl.games", fromlist=["x"]).QuadraticGame.bilinear(np.eye(2)),
    "lr_x": lambda: 0.1,
    "lr_y": lambda: 0.1,
    "x": lambda: np.array([0.5, -0.5]),
    "y": lambda: np.array([0.25, 1.0]),
    "x0": lambda: np.array([1.0, 0.0]),
    "y0": lambda: np.array([0.0, 1.0]),
    "sigma": lambda: np.array([1.0, 2.0]),
    "spectral_radius": lambda: np.array([0.5, 1.0, 2.0]),
    # federated
    "curvatures": lambda: np.array([1.0, 2.0]),
    "optima": lambda: np.array([0.0, 3.0]),
    "client_lr": lambda: 0.1,
    "local_steps": lambda: 5,
    "hessians": lambda: np.stack([np.eye(2), 2.0 * np.eye(2)]),
    "gradients": lambda: np.array([[1.0, 0.0], [0.0, -1.0]]),
    "labels": lambda: np.repeat(np.arange(3), 30),
    "n_clients": lambda: 2,
    # diffusion
    "covariance": lambda: np.diag([1.0, 0.25]),
    "steps": lambda: 5,
    "X": lambda: np.random.default_rng(0).standard_normal((40, 2)),
}


def _plant():
    import control

    return control.tf([0.5], [1.0, -0.9], 1.0)


def _controller():
    from lrctl.zdomain import pi_controller

    return pi_controller(0.4, 0.2)


def _schedule(lr: float = 0.1):
    from lrctl.schedules import constant

    return constant(lr)


# Valid values for the parameter names of the modules enforced later (ENFORCED_ELSEWHERE_LATER):
# enough for a first survey of those modules; their owners extend them when they are enforced.
EXAMPLES.update({
    "plant": _plant,
    "controller": _controller,
    "kp": lambda: 0.4,
    "ki": lambda: 0.2,
    "setpoint": lambda: 1.0,
    "lr0": lambda: 0.01,
    "lr_min": lambda: 1e-4,
    "lr_max": lambda: 1.0,
    "coeffs": lambda: np.array([1.0, -1.6, 0.7]),
    "theta0": lambda: np.ones(2),
    "lrs": lambda: np.array([0.01, 0.1, 0.5]),
    "schedule": _schedule,
    "schedules": lambda: {"slow": _schedule(0.05), "fast": _schedule(0.2)},
    "horizon": lambda: 10.0,
    "plasticity": lambda: 1.0,
    "forgetting": lambda: 1.0,
    "t": lambda: np.linspace(0.0, 10.0, 5),
    "c0": lambda: 1.0,
    "c_opt": lambda: 0.0,
    "k": lambda: 0.5,
    "n": lambda: 3,
    "bounds": lambda: (1e-4, 1.0),
    "target": lambda: (1e-3, 1e-2),
    "values": lambda: np.array([1.0, 0.5, 0.2]),
    "threshold": lambda: 0.6,
    "n_trials": lambda: 5,
    "n_candidates": lambda: 10,
    "distance": lambda: np.array([0.0, 0.5]),
    "length_scale": lambda: 0.3,
    "kappa": lambda: 1.0,
    "losses": lambda: np.array([1.0, 0.9, 0.8, 5.0, 50.0]),
    "initial_loss": lambda: 1.0,
    "n_steps": lambda: 10,
    "log_lr_step": lambda: 0.1,
    "width": lambda: 0.5,
    "state_noise": lambda: 0.1,
    "motor_noise": lambda: 0.1,
    "perturbation": lambda: np.ones(20),
    "retention": lambda: [0.9, 0.99],
    "rate": lambda: [0.1, 0.01],
    "name": lambda: "digits",
    "period": lambda: 5,
    "n_cycles": lambda: 2,
    "hyper_lr": lambda: 0.01,
    "warmup_steps": lambda: 10.0,
    "boundaries": lambda: [5.0],
    "measurement": lambda: np.array([1.0, 0.8, 0.7, 0.65, 0.6, 0.6, 0.58, 0.57]),
    "slope": lambda: -0.4,
    "delta": lambda: 0.1,
})

#: Complete baseline keyword arguments for callables that need a particular valid call,
#: keyed by "module.qualname". Values are factories.
SPECIAL: dict[str, dict[str, Callable[[], Any]]] = {
    # a callable operator: dim is meaningful and required
    "curvature.as_linear_operator": {"hvp": lambda: (lambda v: _H8 @ v), "dim": lambda: 8},
    "curvature.top_eigenvalue": {"hvp": lambda: (lambda v: _H8 @ v), "dim": lambda: 8},
    "curvature.top_eigenvalues": {"hvp": lambda: (lambda v: _H8 @ v), "dim": lambda: 8,
                                  "k": lambda: 2},
    "curvature.block_spectra": {"hvp": lambda: _H8.copy(),
                                "blocks": lambda: [slice(0, 4), slice(4, 8)]},
    "curvature.TraceEstimate.covers": {"value": lambda: 36.0},
    "games.DiracGAN.value": {"x": lambda: np.array([0.5]), "y": lambda: np.array([0.25])},
    "games.DiracGAN.grad": {"x": lambda: np.array([0.5]), "y": lambda: np.array([0.25])},
    "games.DiracGAN.grad_x": {"x": lambda: np.array([0.5]), "y": lambda: np.array([0.25])},
    "games.DiracGAN.grad_y": {"x": lambda: np.array([0.5]), "y": lambda: np.array([0.25])},
    "games.DiracGAN": {"gamma": lambda: 0.1},
    "games.QuadraticGame": {"A": lambda: np.array([[1.0, 0.5], [0.0, 2.0]]),
                            "P": lambda: np.eye(2), "Q": lambda: 0.5 * np.eye(2)},
    "games.alternating_energy": {"A": lambda: np.array([[1.0, 0.5], [0.0, 2.0]]),
                                 "x": lambda: np.array([0.5, -0.5]),
                                 "y": lambda: np.array([0.25, 1.0]),
                                 "lr_x": lambda: 0.1, "lr_y": lambda: 0.1},
    "games.simulate": {"steps": lambda: 50},
    "games.simulate_regimes": {"lr_x": lambda: np.array([0.1, 0.5]),
                               "lr_y": lambda: np.array([0.1, 0.5]), "steps": lambda: 50},
    "games.regime_map": {"lr_x": lambda: np.array([0.1, 0.5]),
                         "lr_y": lambda: np.array([0.1, 0.5])},
    "games.momentum_regime_map": {"lr": lambda: np.array([0.1, 0.5]),
                                  "momentum": lambda: np.array([0.0, 0.5])},
    "games.RegimeMap.fraction": {"code": lambda: 0},
    "federated.simulate_federated": {
        "clients": lambda: __import__("lrctl.federated", fromlist=["x"]).quadratic_clients(
            [1.0, 2.0], [0.0, 3.0]),
        "client_lr": lambda: 0.1, "local_steps": lambda: 3, "rounds": lambda: 20},
    "federated.label_skew_split": {"min_size": lambda: 5},
    "diffusion.denoising_loss": {"weights": lambda: np.zeros((2, 2, 2))},
    "diffusion.adapted_lr": {"curvature": _denoising_curvature},
    "diffusion.train_denoiser": {"lr": lambda: 0.1},
    "diffusion.denoiser_learning_curve": {"lr": lambda: np.array([0.05, 0.1])},
    "diffusion.DenoiserTraining.steps_to": {"target": lambda: 0.5},
    # modules enforced later: where a name means something else there
    "schedules.join": {"schedules": lambda: [_schedule(1.0), _schedule(0.1)],
                       "boundaries": lambda: [5]},
    "zdomain.loss_ratio_gain": {"curvature": lambda: 2.0},
    "zdomain.loss_ratio_plant": {"curvature": lambda: 2.0},
    "rangetest.ramp_log_amplitude": {"curvature": lambda: 2.0},
    "rangetest.steepest_lr_prediction": {"curvature": lambda: 2.0},
    "zdomain.identify_first_order": {"lr": lambda: np.array([0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2,
                                                             0.2])},
    "cerebellar.cerebellar_trajectory": {"steps": lambda: 3},
    "continual.fit_stability_plasticity": {"t": lambda: np.linspace(0.5, 10.0, 6),
                                          "plasticity": lambda: 1 - np.exp(-0.1 * np.linspace(
                                              0.5, 10.0, 6)),
                                          "retention": lambda: np.exp(-0.01 * np.linspace(
                                              0.5, 10.0, 6))},
}


def _trace_estimate():
    from lrctl.curvature import hutchinson_trace

    return hutchinson_trace(_H8, n_probes=16)


def _regime_map():
    from lrctl.games import QuadraticGame, regime_map

    return regime_map(QuadraticGame.bilinear(np.eye(1)), np.array([0.1, 0.5]), np.array([0.1]))


def _trajectory():
    from lrctl.games import QuadraticGame, simulate

    game = QuadraticGame(A=np.eye(1), P=0.5 * np.eye(1), Q=0.5 * np.eye(1))
    return simulate(game, [1.0], [1.0], 0.1, 0.1, steps=200)


def _denoiser_training():
    from lrctl.diffusion import train_denoiser

    return train_denoiser(np.diag([1.0, 0.25]), [0.1, 1.0], 0.2, 40)


#: Instances of passive result classes (frozen dataclasses built by the library, without a
#: ``__post_init__``), whose methods are fuzzed on a real result.
INSTANCES: dict[str, Callable[[], Any]] = {
    "curvature.TraceEstimate": _trace_estimate,
    "games.RegimeMap": _regime_map,
    "games.GameTrajectory": _trajectory,
    "diffusion.DenoiserTraining": _denoiser_training,
    "diffusion.DenoisingCurvature": _denoising_curvature,
}

#: Callables the harness never calls: they run the whole report (subprocesses, files written to
#: the working directory), so generated arguments would launch real runs. Their argument
#: checks are tested in tests/test_report.py.
DO_NOT_CALL = frozenset({"cli.main", "report.build_report"})

#: Callables whose documented answer may be ``inf`` (a censored count, "never"): for them an
#: infinite result is not a (d) defect; NaN still is. Each entry says why in its table.
INF_OK: frozenset[str] = frozenset()

#: Bad-value kinds that are genuinely valid for a parameter (a finite result is then correct).
#: A "huge" value is always allowed to work (finite result); it is not listed here.
_SIGNED = {"zero", "negative", "arr-neg"}
VALID: dict[str, set[str]] = {
    "weight_decay": {"zero"},
    "momentum": {"zero"},  # β = 0 is plain gradient descent
    "grad": _SIGNED,
    "slope": _SIGNED,
    "minimizer": _SIGNED,
    "optima": _SIGNED,
    "x": _SIGNED,
    "y": _SIGNED,
    "x0": _SIGNED,
    "y0": _SIGNED,
    "theta": _SIGNED,
    "gradients": _SIGNED,
    "shift": _SIGNED,
    # any real n×m coupling matrix (not symmetric, not square); zero is a (trivial) game
    "A": _SIGNED | {"nonsym", "nonsquare", "longer"},
    "gamma": {"zero"},
    "loss": {"zero"},
    "sharpness": {"zero"},
    "seed": {"zero"},
    "spectral_radius": {"zero"},
    "value": _SIGNED,
    "target": set(),
    "initial": _SIGNED,
    "code": {"zero"},  # CONVERGES is 0
}
#: Parameters that broadcast (a grid of values in, a grid of results out): any shape is valid,
#: an empty grid included; a shape that does not broadcast with the others must be refused.
_GRID = {"empty", "3d", "nonsquare", "longer"}
for _name in ("lr", "lr_x", "lr_y", "momentum", "loss", "sharpness", "slope", "weight_decay",
              "spectral_radius", "client_lr", "local_steps", "server_lr", "sigma"):
    VALID[_name] = VALID.get(_name, set()) | _GRID
for _name in ("x", "y"):  # batched over leading axes: (2, 2, 2) is a (2, 2) batch of 2-vectors
    VALID[_name] = VALID[_name] | {"3d"}
VALID["hvp"] = {"arr-neg"}  # an indefinite symmetric Hessian is a Hessian

#: (callable, parameter) -> extra valid kinds, where one function's meaning differs.
VALID_AT: dict[tuple[str, str], set[str]] = {
    ("quadratic.spectrum", "name"): {"str"},  # any non-empty name for the messages
    # a (2, 2, 2) array is two 2x2 blocks, a (2, 3) array two eigenvalue vectors
    ("quadratic.layerwise_lr_caps", "blocks"): {"3d", "nonsquare"},
    # |ρ − 1| <= 0: only ρ = 1 exactly cycles, a valid (strict) tolerance
    ("games.regime", "tol"): {"zero"},
    ("games.regime_map", "tol"): {"zero"},
    ("games.momentum_regime_map", "tol"): {"zero"},
    ("games.QuadraticGame", "P"): _SIGNED | {"zero"},  # indefinite blocks are accepted
    ("games.QuadraticGame", "Q"): _SIGNED | {"zero"},
    ("games.block_spectral_radius", "sigma"): {"zero"},  # a zero singular value
    ("games.bilinear_spectral_radius", "momentum"): {"zero", "negative"},  # β ∈ (−1, 1)
    ("games.block_spectral_radius", "momentum"): {"zero", "negative"},
    ("games.game_spectral_radius", "momentum"): {"zero", "negative"},
    ("games.update_matrix", "momentum"): {"zero", "negative"},
    ("games.regime_map", "momentum"): {"zero", "negative"},
    ("games.simulate", "momentum"): {"zero", "negative"},
    ("games.simulate_regimes", "momentum"): {"zero", "negative"},
    ("games.momentum_regime_map", "momentum"): {"zero", "negative", "arr-neg"},
    # (S, d, d) = (2, 2, 2): one weight matrix per noise level
    ("diffusion.denoising_loss", "weights"): _SIGNED | {"zero", "3d"},
    ("diffusion.train_denoiser", "initial"): {"3d"},
    ("diffusion.denoiser_learning_curve", "initial"): {"3d"},
    # data: rows are samples, of any sign; a (2, 3) array is two samples in 3-D
    ("diffusion.empirical_covariance", "X"): {"arr-neg", "nonsquare", "longer"},
    ("quadratic.gradient_weighted_curvature", "grad"): {"longer"},  # any length: no H given
    # any array of eigenvalues (each in [0, 2/η_c)); the result has its shape
    ("federated.fedavg_client_factors", "curvatures"): {"zero", "empty", "3d", "nonsquare",
                                                        "longer"},
    ("federated.fedavg_offset", "gradients"): {"nonsym"},  # g_i, one row per client
    # (N, d): diagonal client Hessians; without optima any number of clients is valid
    ("federated.fedavg_server_lr_bound", "curvatures"): {"nonsquare", "longer"},
    ("federated.scaffold_round_matrix", "curvatures"): {"nonsquare", "longer"},
    ("federated.scaffold_spectral_radius", "curvatures"): {"nonsquare", "longer"},
}

# The per-module tables of the helpers that enforce more modules (tests/_contract_tables_*.py).
import importlib.util  # noqa: E402

for _tables_name in ("_contract_tables_a", "_contract_tables_b", "_contract_tables_c",
                    "_contract_tables_d"):
    if importlib.util.find_spec(_tables_name) is not None:
        _tables = importlib.import_module(_tables_name)
        EXAMPLES.update(_tables.EXAMPLES)
        SPECIAL.update(_tables.SPECIAL)
        INSTANCES.update(_tables.INSTANCES)
        VALID.update(_tables.VALID)
        VALID_AT.update(_tables.VALID_AT)
        DO_NOT_CALL = DO_NOT_CALL | getattr(_tables, "DO_NOT_CALL", frozenset())
        INF_OK = INF_OK | getattr(_tables, "INF_OK", frozenset())

# ---------------------------------------------------------------------------------------
# Enumeration
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """One public callable: ``module.qualname`` and how to reach it."""

    module: str
    qualname: str
    kind: str  # "function", "class", "method", "classmethod"
    owner: str | None = None  # the class qualname, for methods

    @property
    def id(self) -> str:
        return f"{self.module}.{self.qualname}"


def public_names(mod: Any) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is not None:
        return list(names)
    out = []
    for name, obj in vars(mod).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if getattr(obj, "__module__", "").startswith(mod.__name__):
            out.append(name)
    return sorted(out)


def is_passive(cls: type) -> bool:
    """A result class: a dataclass that the library builds and that validates nothing."""
    return dataclasses.is_dataclass(cls) and not hasattr(cls, "__post_init__")


def enumerate_module(module: str) -> list[Target]:
    mod = importlib.import_module(f"lrctl.{module}")
    out: list[Target] = []
    for name in public_names(mod):
        obj = getattr(mod, name)
        if inspect.isclass(obj):
            if not obj.__module__.startswith("lrctl"):
                continue
            if not is_passive(obj):
                out.append(Target(module, name, "class"))
            for attr, raw in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(raw, (classmethod, staticmethod)):
                    out.append(Target(module, f"{name}.{attr}", "classmethod", name))
                elif inspect.isfunction(raw):
                    out.append(Target(module, f"{name}.{attr}", "method", name))
        elif inspect.isfunction(obj) and obj.__module__.startswith("lrctl"):
            out.append(Target(module, name, "function"))
    return out


#: The adapters' frameworks (optional extras): without them those modules are not fuzzed.
OPTIONAL_FRAMEWORKS = {"torch": ("torch",), "jax": ("jax", "optax"), "optuna": ("optuna",)}


def _available(module: str) -> bool:
    for framework in OPTIONAL_FRAMEWORKS.get(module.split(".")[0], ()):
        try:
            importlib.import_module(framework)
        except ImportError:
            return False
    return True


def all_modules() -> list[str]:
    """Every public module of the package: ``lrctl.X`` and the public submodules of its
    subpackages (``plots.quadratic``), found on disk so that a new file is seen."""
    out = []
    for info in pkgutil.iter_modules(lrctl.__path__):
        if info.name.startswith("_"):
            continue
        out.append(info.name)
        if info.ispkg and _available(info.name):
            pkg = importlib.import_module(f"lrctl.{info.name}")
            out += [f"{info.name}.{sub.name}" for sub in pkgutil.iter_modules(pkg.__path__)
                    if not sub.name.startswith("_")]
    return sorted(out)


# ---------------------------------------------------------------------------------------
# Bad values
# ---------------------------------------------------------------------------------------

_NONSYM = np.array([[2.0, 5.0], [0.0, 1.0]])  # eigenvalues 2 and 1; Lanczos reads it as 4.05


def bad_values(base: Any) -> list[tuple[str, Any]]:
    """(kind, value) pairs, each invalid for most parameters; shaped after ``base``."""
    vals: list[tuple[str, Any]] = [
        ("nan", float("nan")), ("+inf", float("inf")), ("-inf", float("-inf")),
        ("zero", 0.0), ("negative", -1.0), ("huge", 1e300), ("bool", True), ("str", "abc"),
        ("dict", {}), ("empty", np.array([])), ("3d", np.ones((2, 2, 2))),
        ("nonsquare", np.ones((2, 3))),
    ]
    if isinstance(base, int) and not isinstance(base, bool):
        vals.append(("float", 2.5))
    arr = None
    if not isinstance(base, (str, bool)) and not callable(base) and base is not None:
        try:
            arr = np.asarray(base, dtype=float)
        except (TypeError, ValueError):
            arr = None
    if arr is not None and arr.size > 0:
        for kind, fill in (("arr-nan", np.nan), ("arr-inf", np.inf), ("arr-huge", 1e300),
                           ("arr-neg", -1.0)):
            a = arr.copy().reshape(-1)
            a[0] = fill
            vals.append((kind, a.reshape(arr.shape) if arr.ndim else float(a[0])))
        if arr.ndim >= 1:  # the right rank, one entry (row) too many: a shape mismatch
            vals.append(("longer", np.concatenate([arr, arr[:1]], axis=0)))
        if arr.ndim == 2 and arr.shape[0] == arr.shape[1] and arr.shape[0] > 1:
            ns = arr.copy()
            ns[0, -1] += 3.0 * max(1.0, float(np.abs(arr).max()))
            vals.append(("nonsym", ns))
    if callable(base) or _is_linear_operator(base) or (
            arr is not None and arr.ndim == 2 and arr.shape[0] == arr.shape[1]):
        n = _op_dim(base, arr)
        if n:
            ns = np.eye(n)
            ns[0, -1] = 5.0
            vals += [("callable-nan", lambda v: np.full_like(v, np.nan)),
                     ("callable-wrongshape", lambda v: np.asarray(v)[:-1]),
                     ("nonsym-op", _operator(ns))]
    return vals


def _is_linear_operator(value: Any) -> bool:
    try:
        from scipy.sparse.linalg import LinearOperator
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, LinearOperator)


def _op_dim(base: Any, arr: np.ndarray | None) -> int | None:
    if arr is not None and arr.ndim == 2:
        return int(arr.shape[0])
    if _is_linear_operator(base):
        return int(base.shape[0])
    return None


def _operator(M: np.ndarray):
    from scipy.sparse.linalg import LinearOperator

    return LinearOperator(M.shape, matvec=lambda v: M @ np.ravel(v), dtype=float)


# ---------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------


class _Timeout(BaseException):
    """Raised by the alarm inside a call that took too long."""


def _on_alarm(signum, frame):
    raise _Timeout


def call_limited(fn: Callable[..., Any], kwargs: dict[str, Any], limit: float = TIME_LIMIT):
    """``fn(**kwargs)`` under a SIGALRM limit, with RuntimeWarnings from lrctl raised."""
    main = threading.current_thread() is threading.main_thread()
    if main:
        old = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", category=RuntimeWarning, module=r"lrctl(\..*)?$")
            return fn(**kwargs)
    finally:
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def nonfinite(result: Any, path: str = "result", depth: int = 0) -> list[str]:
    """Paths of NaN/inf values in a result (arrays, numbers, tuples, dataclass fields)."""
    if depth > 4:
        return []
    if isinstance(result, bool) or result is None or isinstance(result, str):
        return []
    if isinstance(result, (int, float, complex, np.number)):
        return [] if np.all(np.isfinite(result)) else [path]
    if isinstance(result, np.ma.MaskedArray):
        data = result.compressed()
        if data.dtype.kind in "fc" and not np.all(np.isfinite(data)):
            return [path]
        return []
    if isinstance(result, np.ndarray):
        if result.dtype.kind in "fc" and not np.all(np.isfinite(result)):
            return [path]
        if result.dtype == object:
            return [p for i, r in enumerate(result.ravel()[:50])
                    for p in nonfinite(r, f"{path}[{i}]", depth + 1)]
        return []
    if isinstance(result, (tuple, list)):
        return [p for i, r in enumerate(result[:50]) for p in nonfinite(r, f"{path}[{i}]", depth + 1)]
    if isinstance(result, dict):
        return [p for k, r in result.items() for p in nonfinite(r, f"{path}[{k!r}]", depth + 1)]
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return [p for f in dataclasses.fields(result)
                for p in nonfinite(getattr(result, f.name), f"{path}.{f.name}", depth + 1)]
    return []


@dataclasses.dataclass
class Outcome:
    target: str
    param: str
    kind: str
    cls: str  # "a", "b", "c", "d", "e", "f", "valid"
    detail: str = ""


class NoBaseline(Exception):
    """The harness cannot build a valid call for a callable."""


def _resolve(target: Target) -> tuple[Callable[..., Any], inspect.Signature]:
    mod = importlib.import_module(f"lrctl.{target.module}")
    if target.kind in ("function", "class"):
        fn = getattr(mod, target.qualname)
    else:
        owner = getattr(mod, target.owner)
        attr = target.qualname.split(".", 1)[1]
        if target.kind == "classmethod":
            fn = getattr(owner, attr)
        else:
            # an instance for this method alone (INSTANCES["module.Class.method"]), else the
            # class's
            instance = (INSTANCES[target.id]() if target.id in INSTANCES
                        else make_instance(target.module, target.owner))
            fn = getattr(instance, attr)
    return fn, inspect.signature(fn)


def make_instance(module: str, owner: str) -> Any:
    key = f"{module}.{owner}"
    if key in INSTANCES:
        return INSTANCES[key]()
    cls = getattr(importlib.import_module(f"lrctl.{module}"), owner)
    target = Target(module, owner, "class")
    return cls(**baseline_kwargs(target, inspect.signature(cls)))


def baseline_kwargs(target: Target, sig: inspect.Signature) -> dict[str, Any]:
    special = SPECIAL.get(target.id, {})
    kwargs: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name in special:
            kwargs[name] = special[name]()
        elif p.default is not p.empty:
            kwargs[name] = p.default
        elif name in EXAMPLES:
            kwargs[name] = EXAMPLES[name]()
        else:
            raise NoBaseline(f"{target.id}: no example value for parameter {name!r}")
    return kwargs


def _call(fn, sig: inspect.Signature, kwargs: dict[str, Any], limit: float = TIME_LIMIT):
    args, kw = [], {}
    for name, p in sig.parameters.items():
        if name not in kwargs:
            continue
        if p.kind == p.POSITIONAL_ONLY:
            args.append(kwargs[name])
        else:
            kw[name] = kwargs[name]
    return call_limited(lambda: fn(*args, **kw), {}, limit)


def _is_bool_param(p: inspect.Parameter) -> bool:
    return isinstance(p.default, bool) or p.annotation in (bool, "bool")


def _valid_kinds(target: Target, name: str, p: inspect.Parameter) -> set[str]:
    kinds = set(VALID.get(name, set())) | set(VALID_AT.get((target.id, name), set()))
    if _is_bool_param(p):
        kinds.add("bool")
    return kinds


def classify(target: Target, name: str, kind: str, valid: set[str], outcome: Any) -> Outcome:
    if isinstance(outcome, _Timeout):
        return Outcome(target.id, name, kind, "e", f"no answer in {TIME_LIMIT} s")
    if isinstance(outcome, BaseException):
        text = f"{type(outcome).__name__}: {outcome}"
        if type(outcome) in (ValueError, TypeError) or (
                isinstance(outcome, (ValueError, TypeError))
                and type(outcome).__module__.startswith("lrctl")):
            return Outcome(target.id, name, kind, "a" if name in str(outcome) else "b", text[:160])
        return Outcome(target.id, name, kind, "c", text[:160])
    bad = nonfinite(outcome)
    if bad and target.id in INF_OK and not _has_nan(outcome):
        bad = []
    if bad:
        return Outcome(target.id, name, kind, "d", "NaN/inf in " + ", ".join(bad[:4]))
    if kind in valid or kind == "huge" or kind == "arr-huge":
        return Outcome(target.id, name, kind, "valid")
    return Outcome(target.id, name, kind, "f", f"returned {_short(outcome)}")


def _has_nan(result: Any) -> bool:
    """NaN anywhere in a number or a float array (INF_OK callables may return inf only)."""
    try:
        arr = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        return True  # not a plain number or array: no exemption
    return bool(np.any(np.isnan(arr)))


def _short(value: Any) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) < 100 else text[:97] + "..."


def fuzz(target: Target, budget: float = float("inf")) -> tuple[list[Outcome], str | None]:
    """All outcomes for one callable, and the baseline failure (None if the baseline is fine)."""
    if target.id in DO_NOT_CALL:
        return [], "not called (DO_NOT_CALL)"
    try:
        fn, sig = _resolve(target)
        base = baseline_kwargs(target, sig)
        result = _call(fn, sig, base, BASELINE_TIME_LIMIT)
    except NoBaseline as exc:
        return [], f"no baseline: {exc}"
    except BaseException as exc:  # a failed baseline is reported, not raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        return [], f"baseline call failed: {type(exc).__name__}: {exc}"
    bad = nonfinite(result)
    if bad:
        return [], f"baseline result has NaN/inf in {', '.join(bad)}"
    outcomes = []
    started = time.perf_counter()
    for name, p in sig.parameters.items():
        if time.perf_counter() - started > budget:
            break  # a slow callable: the outcomes so far are reported (survey mode only)
        if name not in base:
            continue
        valid = _valid_kinds(target, name, p)
        for kind, value in bad_values(base[name]):
            if kind == "bool" and _is_bool_param(p):
                continue
            kwargs = dict(base)
            kwargs[name] = value
            if target.kind == "method":
                fn, _ = _resolve(target)  # a fresh instance: a call may not leak into the next
            try:
                out: Any = _call(fn, sig, kwargs)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # every outcome is classified
                out = exc
            outcomes.append(classify(target, name, kind, valid, out))
    return outcomes, None


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------

_ENFORCED_TARGETS = [t for m in sorted(ENFORCED) if _available(m) for t in enumerate_module(m)
                     if t.id not in DO_NOT_CALL]


def test_every_module_is_classified():
    """A new module must be enforced here or listed as enforced elsewhere later."""
    assert ENFORCED.isdisjoint(ENFORCED_ELSEWHERE_LATER)
    assert set(all_modules()) <= ENFORCED | ENFORCED_ELSEWHERE_LATER, (
        "unclassified modules: "
        f"{sorted(set(all_modules()) - ENFORCED - ENFORCED_ELSEWHERE_LATER)}")


def test_enumeration_finds_the_public_api():
    """The enumeration sees every name in ``__all__`` (methods included), in every module."""
    for module in all_modules():
        if not _available(module):  # an adapter whose framework is not installed
            continue
        targets = enumerate_module(module)
        ids = {t.id for t in targets}
        mod = importlib.import_module(f"lrctl.{module}")
        for name in public_names(mod):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and obj.__module__.startswith("lrctl"):
                assert f"{module}.{name}" in ids
    ids = {t.id for t in _ENFORCED_TARGETS}
    # spot checks, one per enforced module and kind
    assert {"quadratic.momentum_contraction", "curvature.TraceEstimate.covers",
            "games.DiracGAN", "games.DiracGAN.grad", "games.QuadraticGame.bilinear",
            "federated.fedavg_drift", "diffusion.DenoiserTraining.steps_to"} <= ids


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path, monkeypatch):
    """Calls with generated arguments may create files (a ``storage="abc"`` database): they
    land in a temporary folder, never in the working tree."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("target", _ENFORCED_TARGETS, ids=lambda t: t.id)
def test_contract(target: Target):
    outcomes, baseline_problem = fuzz(target)
    assert baseline_problem is None, baseline_problem
    defects = [o for o in outcomes if o.cls not in ("a", "valid")]
    assert not defects, "\n".join(
        f"({o.cls}) {o.param} <- {o.kind}: {o.detail}" for o in defects[:30])


def test_harness_detects_each_class():
    """The classifier is not vacuous: each outcome class is produced by a known case."""
    t = Target("quadratic", "probe", "function")
    assert classify(t, "lr", "nan", set(), ValueError("lr must be finite")).cls == "a"
    assert classify(t, "lr", "nan", set(), ValueError("bad value")).cls == "b"
    assert classify(t, "lr", "nan", set(), IndexError("lr")).cls == "c"
    assert classify(t, "lr", "nan", set(), np.float64(np.nan)).cls == "d"
    assert classify(t, "lr", "nan", set(), _Timeout()).cls == "e"
    assert classify(t, "lr", "str", set(), 0.5).cls == "f"
    assert classify(t, "lr", "zero", {"zero"}, 0.5).cls == "valid"
    # a documented infinite answer is exempt from (d) for INF_OK callables only; NaN never is
    inf_ok = Target("search", "evaluations_to_reach", "function")
    assert inf_ok.id in INF_OK
    assert classify(inf_ok, "threshold", "negative", {"negative"}, np.inf).cls == "valid"
    assert classify(inf_ok, "threshold", "negative", {"negative"}, np.nan).cls == "d"
    assert classify(t, "lr", "zero", {"zero"}, np.inf).cls == "d"
    with pytest.raises(_Timeout):
        call_limited(lambda: time.sleep(5), {}, limit=0.05)


# ---------------------------------------------------------------------------------------
# Survey (the audit's table), for any modules
# ---------------------------------------------------------------------------------------


def survey(modules: list[str]) -> None:  # pragma: no cover - a command-line report
    grand: Counter = Counter()
    for module in modules:
        targets = enumerate_module(module)
        counts: Counter = Counter()
        problems, defective = [], set()
        t0 = time.perf_counter()
        for t in targets:
            outcomes, baseline_problem = fuzz(t, budget=20.0)
            if baseline_problem:
                problems.append(baseline_problem)
                continue
            for o in outcomes:
                counts[o.cls] += 1
                if o.cls not in ("a", "valid"):
                    defective.add(t.id)
                    if "-v" in sys.argv:
                        print(f"   {o.target} [{o.param}] <- {o.kind}: ({o.cls}) {o.detail}")
        n = sum(counts.values())
        grand.update(counts)
        print(f"{module:11s} callables {len(targets):3d} (no baseline {len(problems):3d}) "
              f"calls {n:5d}: " + " ".join(f"{c}={counts[c]}" for c in
                                            ("a", "b", "c", "d", "e", "f", "valid"))
              + f" | defective callables {len(defective)} | {time.perf_counter() - t0:.1f} s")
        if "-v" in sys.argv:
            for p in problems:
                print("   ", p)
    print("total", " ".join(f"{c}={grand[c]}" for c in ("a", "b", "c", "d", "e", "f", "valid")))


if __name__ == "__main__":  # pragma: no cover
    import os
    import tempfile

    mods = [a for a in sys.argv[1:] if not a.startswith("-")] or all_modules()
    with tempfile.TemporaryDirectory(prefix="lrctl-contract-") as scratch:
        os.chdir(scratch)  # files created by generated arguments land here
        survey(mods)
