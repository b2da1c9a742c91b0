"""Learning-rate policies: an observation of the training state in, the next rate out.

A policy is a small frozen object with one method (and an optional ``init``)::

    update(observation, state) -> (lr, state)      # state starts as init(observation)

``lr`` is a number (one rate), shape (K,) for K stacked runs, or one rate per parameter block
(shape (n_blocks,), or (K, n_blocks) for stacked runs). ``state`` is whatever the policy needs
to carry from step to step (``None`` for a stateless policy); the policy object itself never
changes. A policy whose parameters are arrays of K values (``Constant([0.1, 0.2])``) runs K
stacked runs and says so in its ``runs`` attribute; ``runs = None`` is one run.

A policy that needs a measurement of the plant (a PI controller holding η·λ_max at a
setpoint) names it: ``measure(objective, theta) -> value`` is called by the loop every
``every`` steps and its result arrives as ``observation.measurement`` (``None`` in between).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl._repr import summary_repr
from lrctl._validation import (
    as_rng,
    check_bool,
    check_choice,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
    check_tol,
)

__all__ = [
    "Constant",
    "ExponentialRamp",
    "Feedback",
    "Hypergradient",
    "Observation",
    "Scheduled",
    "Sharpness",
]


@dataclass(frozen=True)
class Observation:
    """What a policy sees before step ``step``.

    Attributes
    ----------
    step
        t, the index of the step about to be taken (0 … steps − 1).
    theta, grad
        θ_t and g_t = ∇L(θ_t): shape (dim,) for one run, (K, dim) for K stacked runs.
    prev_grad
        g_{t−1} (``None`` at t = 0).
    loss
        L(θ_t) (a float, or shape (K,)).
    lr
        The rate the policy emitted for step t − 1 (``None`` at t = 0).
    measurement
        The policy's ``measure(objective, θ_t)`` when it was due at this step, else ``None``.
    objective
        The objective being trained (for policies that measure it themselves).
    """

    step: int
    theta: np.ndarray
    grad: np.ndarray
    prev_grad: np.ndarray | None
    loss: Any
    lr: Any
    measurement: Any
    objective: Any

    __repr__ = summary_repr


def check_observation(obs: Any, name: str = "obs") -> Observation:
    """``obs`` if it is an :class:`Observation`, else a ``TypeError`` naming ``name``."""
    if not isinstance(obs, Observation):
        raise TypeError(f"{name} must be an lrctl.training.Observation (what run() passes a "
                        f"policy), got {type(obs).__name__}")
    return obs


def _stateless(state: Any) -> None:
    if state is not None:
        raise TypeError(f"state must be None for a stateless policy (it has no init), got "
                        f"{type(state).__name__}")


def _rates(name: str, value: Any, *, allow_zero: bool = False) -> tuple[Any, int | None]:
    """A positive rate or a 1-D array of K rates, and K (``None`` for a scalar)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number or an array of them, got {value!r}")
    arr = check_positive(name, value, allow_zero=allow_zero)
    if arr.ndim == 0:
        return float(arr), None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D array, got shape {arr.shape}")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr, int(arr.size)


def _broadcast_runs(**named: int | None) -> int | None:
    sizes = {k: v for k, v in named.items() if v is not None}
    if len(set(sizes.values())) > 1:
        raise ValueError("array arguments must have one length K, got "
                         + ", ".join(f"{k}: {v}" for k, v in sizes.items()))
    return next(iter(sizes.values()), None)


# ---------------------------------------------------------------------------------------
# Open-loop policies
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constant:
    """η_t = lr. An array of K rates runs K stacked runs.

    >>> Constant(0.1).update(Observation(0, *[None] * 7), None)
    (0.1, None)
    """

    lr: Any

    def __post_init__(self) -> None:
        lr, k = _rates("lr", self.lr)
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "runs", k)

    def update(self, obs: Observation, state: Any) -> tuple[Any, Any]:
        check_observation(obs)
        _stateless(state)
        return self.lr, state


@dataclass(frozen=True)
class Scheduled:
    """η_t = schedule(t): any callable of the step (a :mod:`lrctl.schedules` schedule).

    A sequence of K schedules runs K stacked runs, run k under schedule k.

    >>> from lrctl import schedules
    >>> Scheduled(schedules.linear_decay(0.1, 10)).update(Observation(5, *[None] * 7), None)[0]
    0.05
    """

    schedule: Any

    def __post_init__(self) -> None:
        many = isinstance(self.schedule, (list, tuple))
        items = tuple(self.schedule) if many else (self.schedule,)
        if not items:
            raise ValueError("schedule must be a callable or a non-empty sequence of them")
        for i, s in enumerate(items):
            if not callable(s):
                where = f"schedule[{i}]" if many else "schedule"
                raise TypeError(f"{where} must be a callable f(step) -> lr, got {s!r}")
        if many:
            object.__setattr__(self, "schedule", items)
        object.__setattr__(self, "runs", len(items) if many else None)

    def update(self, obs: Observation, state: Any) -> tuple[Any, Any]:
        check_observation(obs)
        _stateless(state)
        t = obs.step
        if self.runs is None:
            return float(self.schedule(t)), state
        return np.array([float(s(t)) for s in self.schedule]), state


@dataclass(frozen=True)
class ExponentialRamp:
    r"""η_t = lr_min·(lr_max/lr_min)^{t/(n−1)}, t = 0 … n − 1: the range test's ramp.

    The rate is constant (lr_max) after step n − 1.

    >>> ExponentialRamp(1e-3, 1e-1, 3).lrs
    array([0.001, 0.01 , 0.1  ])
    """

    lr_min: float
    lr_max: float
    steps: int
    runs = None

    def __post_init__(self) -> None:
        lo = float(check_positive("lr_min", check_scalar("lr_min", self.lr_min)))
        hi = float(check_positive("lr_max", check_scalar("lr_max", self.lr_max)))
        if not hi > lo:
            raise ValueError(f"lr_max must exceed lr_min, got lr_min={lo:g}, lr_max={hi:g}")
        object.__setattr__(self, "lr_min", lo)
        object.__setattr__(self, "lr_max", hi)
        object.__setattr__(self, "steps", check_int("steps", self.steps, minimum=2))
        rates = np.geomspace(lo, hi, self.steps)
        if not np.all(np.isfinite(rates)):
            raise ValueError(f"lr_min={lo:g} and lr_max={hi:g} overflow the geometric grid; "
                             "choose rates within float64 range")
        rates.setflags(write=False)
        object.__setattr__(self, "_lrs", rates)

    @property
    def lrs(self) -> np.ndarray:
        """The n rates η_0 … η_{n−1}."""
        return self._lrs.copy()

    def update(self, obs: Observation, state: Any) -> tuple[float, Any]:
        check_observation(obs)
        _stateless(state)
        return float(self._lrs[min(obs.step, self.steps - 1)]), state


# ---------------------------------------------------------------------------------------
# Adaptive policies
# ---------------------------------------------------------------------------------------

_RULES = ("additive", "log")


@dataclass(frozen=True)
class Hypergradient:
    r"""Hypergradient descent on the rate (Baydin et al., ICLR 2018).

    ∂L(θ_t)/∂η_{t−1} = −g_tᵀg_{t−1}, so

    - ``rule="additive"``: η_t = η_{t−1} + α g_tᵀg_{t−1} (can turn negative or overflow);
    - ``rule="log"``: ln η_t = ln η_{t−1} + α η_{t−1} g_tᵀg_{t−1} (η stays positive),

    starting from η_0 = ``lr0``; α = ``hyper_lr`` >= 0. Arrays of K values (broadcast
    together) run K stacked runs.

    >>> import numpy as np
    >>> obs = Observation(1, None, np.array([1.0, 2.0]), np.array([3.0, 1.0]), 0.0, 0.1, None,
    ...                   None)
    >>> round(float(Hypergradient(0.1, 0.01).update(obs, None)[0]), 12)  # 0.1 + 0.01·(3 + 2)
    0.15
    """

    lr0: Any
    hyper_lr: Any
    rule: str = "additive"

    def __post_init__(self) -> None:
        lr0, k1 = _rates("lr0", self.lr0)
        alpha, k2 = _rates("hyper_lr", self.hyper_lr, allow_zero=True)
        k = _broadcast_runs(lr0=k1, hyper_lr=k2)
        if k is not None:
            lr0 = np.broadcast_to(lr0, (k,)).copy()
            alpha = np.broadcast_to(alpha, (k,)).copy()
        object.__setattr__(self, "lr0", lr0)
        object.__setattr__(self, "hyper_lr", alpha)
        check_choice("rule", self.rule, _RULES)
        object.__setattr__(self, "runs", k)

    def update(self, obs: Observation, state: Any) -> tuple[Any, Any]:
        check_observation(obs)
        _stateless(state)
        if obs.prev_grad is None:
            return self.lr0, state
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            dot = np.sum(obs.grad * obs.prev_grad, axis=-1)
            if self.rule == "additive":
                return obs.lr + self.hyper_lr * dot, state
            return np.exp(np.log(obs.lr) + self.hyper_lr * obs.lr * dot), state


# ---------------------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sharpness:
    """A measure: λ_max(∇²L(θ)) by Lanczos on the objective's Hessian-vector products.

    Called as ``Sharpness(tol, seed)(objective, theta)``, it returns the
    :class:`lrctl.curvature.EigenResult` (``.value``, ``.n_products``). An int ``seed`` gives
    the same Lanczos start vector at every measurement.
    """

    tol: float = 1e-8
    seed: Any = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tol", check_tol("tol", self.tol))
        as_rng(self.seed)  # validates: an int >= 0, a SeedSequence, a Generator or None

    def __call__(self, objective: Any, theta: np.ndarray) -> Any:
        from lrctl.curvature import top_eigenvalue
        from lrctl.objectives import check_objective

        check_objective(objective, require=("dim", "hvp"))  # no raw AttributeError for no hvp
        return top_eigenvalue(lambda v: objective.hvp(theta, v), objective.dim, tol=self.tol,
                              seed=self.seed)


def _controller_check(controller: Any) -> None:
    missing = [m for m in ("reset", "update") if not callable(getattr(controller, m, None))]
    if not hasattr(controller, "lr"):
        missing.append("lr")
    if missing:
        raise TypeError(f"controller must have reset(), lr and update(measurement) -> lr; "
                        f"{type(controller).__name__} lacks {', '.join(missing)}")


@dataclass(frozen=True)
class Feedback:
    r"""A controller in the loop: every M steps, measure, filter, update the rate.

    At steps t = 0, M, 2M, …: the loop measures m_j = ``measure(objective, θ_t)`` (its
    ``.value`` if it has one, e.g. :class:`Sharpness`); with ``normalize`` the plant output is
    y_j = η_j·m_j (η_j the rate in force, η_0 = ``controller.lr`` after ``reset()``), else
    y_j = m_j; optionally filtered, f_j = β f_{j−1} + (1 − β) y_j (β = ``ema``), and given to
    the controller as f_j (log f_j with ``log``): η_{j+1} = controller.update(·) holds for the
    next M steps. ``controller`` is anything with ``reset()``, ``lr`` and
    ``update(measurement) -> lr`` (:class:`lrctl.zdomain.PIController`); it is reset at the
    start of a run. One run (not stacked).

    The state records, per measurement: the step, the rate in force, m_j, y_j, what the
    controller saw, and the Hessian-vector products (``n_products``) the measure spent.
    """

    controller: Any
    measure: Callable[[Any, np.ndarray], Any]
    every: int = 1
    ema: float = 0.0
    normalize: bool = True
    log: bool = False
    runs = None

    def __post_init__(self) -> None:
        _controller_check(self.controller)
        if not callable(self.measure):
            raise TypeError(f"measure must be a callable (objective, theta) -> value, "
                            f"got {self.measure!r}")
        check_int("every", self.every, minimum=1)
        object.__setattr__(self, "ema", float(check_in_interval(
            "ema", check_scalar("ema", self.ema), 0.0, 1.0)))
        for name in ("normalize", "log"):
            object.__setattr__(self, name, check_bool(name, getattr(self, name)))

    def init(self, obs: Observation) -> dict[str, Any]:
        check_observation(obs)
        self.controller.reset()
        return {"lr": float(self.controller.lr), "filtered": None, "record": []}

    def update(self, obs: Observation, state: dict[str, Any]) -> tuple[float, Any]:
        check_observation(obs)
        if not (isinstance(state, dict) and {"lr", "filtered", "record"} <= state.keys()):
            raise TypeError(f"state must be the dict that Feedback.init returns, got "
                            f"{type(state).__name__}")
        if obs.measurement is None:
            return state["lr"], state
        raw = obs.measurement
        value = float(getattr(raw, "value", raw))
        y = state["lr"] * value if self.normalize else value
        f = state["filtered"]
        f = y if f is None else self.ema * f + (1.0 - self.ema) * y
        if self.log and not f > 0:
            raise ValueError(f"log needs a positive measurement, got {f:.4g} at step "
                             f"{obs.step}; use the linear measurement")
        seen = math.log(f) if self.log else f
        state["record"].append((obs.step, state["lr"], value, y, seen,
                                int(getattr(raw, "n_products", 0))))
        state["filtered"] = f
        state["lr"] = float(self.controller.update(seen))
        return state["lr"], state


def policy_runs(policy: Any) -> int | None:
    """K, the number of stacked runs ``policy`` drives (``None``: one run)."""
    if isinstance(policy, (dict, list, tuple, set)) or not callable(
            getattr(policy, "update", None)):
        raise TypeError(f"policy must have update(observation, state) -> (lr, state); "
                        f"{type(policy).__name__} has no update method")
    k = getattr(policy, "runs", None)
    if k is not None:
        k = check_int("policy.runs", k, minimum=1)
    return k

