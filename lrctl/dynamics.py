r"""ODE and recurrence models of learning driven by the learning rate.

Two families live here.

**Stability–plasticity ODEs.** While a model learns a new task its performance P on that task
rises and its retention R of an old task decays. With the learning rate η(t) as the only input,

    dP/dt = a·η(t)·(1 − P),      dR/dt = −b·η(t)²·R          (``model="saturating"``)
    dP/dt = a·η(t),              dR/dt = −b·η(t)²            (``model="linear"``)

(a = ``plasticity``, b = ``forgetting``; any other right-hand side in η(t) can be passed as a
callable). Learning moves the weights in proportion to η, forgetting of the old task is driven
by the gradient noise, whose effect per step grows as η². The saturating model solves in closed
form, P = 1 − (1 − P₀)·exp(−a∫η), R = R₀·exp(−b∫η²), so at a fixed horizon a schedule enters only
through ∫η and ∫η² (:func:`lrctl.schedules.integral`). :func:`simulate_stability_plasticity`
integrates the ODE with ``scipy.integrate.solve_ivp``; :func:`compare_schedules` puts schedules
on the plasticity–retention plane; :func:`train_two_tasks` and :func:`fit_stability_plasticity`
check the model on real training (two class-splits of the digits data).

What the model implies, honestly: by Cauchy–Schwarz, for a fixed ∫η over a horizon T the
constant rate η = ∫η/T minimizes ∫η² (:func:`derive_constant_rate_optimality`). So a decaying
schedule beats a constant *high* rate on retention, but the constant rate of *equal plasticity*
beats every non-constant schedule: in this model the constant-rate curve is the Pareto frontier.

**The cerebellar update rule.** C_{n+1} = C_n − k(C_n − C_opt) (:func:`cerebellar_trajectory`)
is gradient descent on ½(C − C_opt)² with η = k (:func:`derive_cerebellar_gd_identity`):
monotone for 0 < k <= 1, oscillating for 1 < k < 2, divergent for k >= 2
(:func:`cerebellar_regime`). Its relatives: the continuous-time limit dC/dt = −k(C − C_opt), the
rule with motor and state noise (steady-state variance :func:`cerebellar_noise_variance`,
noise-optimal rate :func:`optimal_cerebellar_rate` = the steady-state Kalman gain), the two-rate
fast/slow model of motor adaptation (Smith, Ghazizadeh & Shadmehr 2006) with savings and
spontaneous recovery, and least-squares fits of k and of the two-rate parameters.

Symbols: ``eta`` learning rate, ``k`` the cerebellar rate, ``a``/``b`` plasticity/forgetting.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl import schedules as _sched
from lrctl._validation import (
    as_rng,
    check_choice,
    check_finite,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
)

__all__ = [
    "AdaptationResult",
    "CerebellarFit",
    "CerebellarResult",
    "PredictionAgreement",
    "SavingsResult",
    "ScheduleComparison",
    "SpontaneousRecoveryResult",
    "StabilityPlasticityFit",
    "StabilityPlasticityResult",
    "TwoRateFit",
    "TwoRateParams",
    "TwoTaskResult",
    "cerebellar_closed_form",
    "cerebellar_continuous",
    "cerebellar_noise_variance",
    "cerebellar_regime",
    "cerebellar_trajectory",
    "closed_form_stability_plasticity",
    "compare_schedules",
    "constant_rate_frontier",
    "derive_cerebellar_continuous_limit",
    "derive_cerebellar_gd_identity",
    "derive_cerebellar_noise",
    "derive_constant_rate_optimality",
    "derive_stability_plasticity",
    "equal_plasticity_constant",
    "fit_cerebellar_rate",
    "fit_stability_plasticity",
    "fit_two_rate",
    "optimal_cerebellar_rate",
    "pareto_front",
    "prediction_agreement",
    "savings",
    "simulate_adaptation",
    "simulate_cerebellar",
    "simulate_stability_plasticity",
    "simulate_two_rate",
    "spontaneous_recovery",
    "train_two_tasks",
]

_MODELS = ("saturating", "linear")

#: Right-hand side of a user-supplied stability–plasticity model:
#: ``rhs(eta, P, R, plasticity, forgetting) -> (dP/dt, dR/dt)``.
RHS = Callable[[float, float, float, float, float], Sequence[float]]


# =======================================================================================
# Stability–plasticity ODEs
# =======================================================================================


def _model_rhs(model: Any) -> tuple[str, RHS]:
    if callable(model):
        return getattr(model, "__name__", "custom"), model
    check_choice("model", model, _MODELS)
    if model == "saturating":
        return model, lambda eta, P, R, a, b: (a * eta * (1.0 - P), -b * eta * eta * R)
    return model, lambda eta, P, R, a, b: (a * eta, -b * eta * eta)


def _check_initial(initial: Any) -> tuple[float, float]:
    arr = check_finite("initial", initial)
    if arr.shape != (2,):
        raise ValueError(f"initial must be a pair (P0, R0), got shape {arr.shape}")
    return float(arr[0]), float(arr[1])


@dataclass(frozen=True)
class StabilityPlasticityResult:
    """A solution of the stability–plasticity ODE.

    Attributes
    ----------
    t
        Evaluation times (steps), from 0 to the horizon (or to ``diverged_at``).
    plasticity
        P(t): performance on the new task.
    retention
        R(t): retention of the old task.
    lr
        η(t) at the evaluation times.
    schedule, horizon, plasticity_rate, forgetting_rate, model
        The inputs (a = ``plasticity_rate``, b = ``forgetting_rate``).
    n_rhs_evaluations
        Right-hand-side evaluations used by ``solve_ivp`` (all segments).
    diverged, diverged_at
        True (and the time) when the state left ``|y| <= divergence_bound`` and the solve was
        stopped there; the arrays then end at ``diverged_at``.
    """

    t: np.ndarray
    plasticity: np.ndarray
    retention: np.ndarray
    lr: np.ndarray
    schedule: Any
    horizon: float
    plasticity_rate: float
    forgetting_rate: float
    model: str
    n_rhs_evaluations: int
    diverged: bool = False
    diverged_at: float | None = None
    _segments: tuple[tuple[float, float, Any], ...] = field(default=(), repr=False)

    @property
    def final_plasticity(self) -> float:
        return float(self.plasticity[-1])

    @property
    def final_retention(self) -> float:
        return float(self.retention[-1])

    def at(self, t: ArrayLike) -> tuple[np.ndarray | float, np.ndarray | float]:
        """``(P(t), R(t))`` from the dense output of the solver, for any t in the solved range.

        >>> from lrctl.schedules import constant
        >>> res = simulate_stability_plasticity(constant(0.1), 50, plasticity=1.0, forgetting=1.0)
        >>> P, R = res.at(25.0)
        >>> round(P, 6), round(R, 6)      # 1 − e^{−2.5}, e^{−0.25}
        (0.917915, 0.778801)
        """
        tt = check_finite("t", t)
        end = self._segments[-1][1] if self._segments else 0.0
        if np.any(tt < 0) or np.any(tt > end * (1 + 1e-12)):
            raise ValueError(f"t must lie in the solved range [0, {end!r}], got {t!r}")
        flat = tt.ravel()
        out = np.empty((2, flat.size))
        for i, (lo, hi, sol) in enumerate(self._segments):
            last = i == len(self._segments) - 1
            mask = (flat >= lo) & ((flat <= hi) if last else (flat < hi))
            if np.any(mask):
                out[:, mask] = sol(flat[mask])
        P, R = out[0].reshape(tt.shape), out[1].reshape(tt.shape)
        if tt.ndim == 0:
            return float(P), float(R)
        return P, R


def simulate_stability_plasticity(
    schedule: Any,
    horizon: float,
    plasticity: float,
    forgetting: float,
    *,
    model: Any = "saturating",
    initial: Sequence[float] = (0.0, 1.0),
    t_eval: ArrayLike | None = None,
    n_points: int = 201,
    method: str = "RK45",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_step: float = np.inf,
    divergence_bound: float = 1e12,
) -> StabilityPlasticityResult:
    r"""Solve the stability–plasticity ODE under a learning-rate schedule.

    Default (``model="saturating"``): dP/dt = a·η(t)(1 − P), dR/dt = −b·η(t)²·R with
    a = ``plasticity``, b = ``forgetting``. ``model="linear"``: dP/dt = a·η, dR/dt = −b·η².
    A callable ``model(eta, P, R, a, b) -> (dP/dt, dR/dt)`` gives any other right-hand side in
    η(t). Closed forms: :func:`closed_form_stability_plasticity`.

    The ODE is integrated with ``scipy.integrate.solve_ivp`` (``method``, ``rtol``, ``atol``,
    ``max_step`` passed through, dense output kept: :meth:`StabilityPlasticityResult.at`), and
    restarted at the schedule's jumps and kinks (restarts of SGDR, steps of a step decay; up
    to 256 of them) so the solver never steps across a discontinuity of η. A state with
    ``|P|`` or ``|R|`` above ``divergence_bound`` stops the solve (``diverged``).

    Parameters
    ----------
    schedule
        A :class:`lrctl.schedules.Schedule` or any callable ``f(step) -> lr``.
    horizon
        End time T > 0 (in steps).
    plasticity, forgetting
        The rates a >= 0 and b >= 0.
    initial
        (P₀, R₀), default (0, 1).
    t_eval
        Output times in [0, T]; default ``n_points`` equally spaced ones.

    >>> from lrctl.schedules import cosine
    >>> res = simulate_stability_plasticity(cosine(0.1, 100), 100, plasticity=0.5, forgetting=20)
    >>> round(res.final_plasticity, 6), round(res.final_retention, 6)   # ∫η = 5, ∫η² = 0.375
    (0.917915, 0.000553)
    """
    from scipy.integrate import solve_ivp

    sched = _sched.as_schedule(schedule)
    T = check_scalar("horizon", horizon)
    if T <= 0:
        raise ValueError(f"horizon must be > 0, got {T!r}")
    a = check_scalar("plasticity", plasticity)
    b = check_scalar("forgetting", forgetting)
    if a < 0:
        raise ValueError(f"plasticity must be >= 0, got {a!r}")
    if b < 0:
        raise ValueError(f"forgetting must be >= 0, got {b!r}")
    name, rhs = _model_rhs(model)
    y0 = np.asarray(_check_initial(initial))
    rtol = check_scalar("rtol", rtol)
    atol = check_scalar("atol", atol)
    if rtol <= 0 or atol <= 0:
        raise ValueError(f"rtol and atol must be > 0, got rtol={rtol!r}, atol={atol!r}")
    if not (isinstance(max_step, (int, float)) and max_step > 0):
        raise ValueError(f"max_step must be a positive number (np.inf for no limit), got {max_step!r}")
    bound = check_scalar("divergence_bound", divergence_bound)
    if bound <= 0:
        raise ValueError(f"divergence_bound must be > 0, got {bound!r}")
    if t_eval is None:
        n = check_int("n_points", n_points, minimum=2)
        t_out = np.linspace(0.0, T, n)
    else:
        t_out = check_finite("t_eval", t_eval).ravel()
        if t_out.size == 0 or np.any(t_out < 0) or np.any(t_out > T) or np.any(np.diff(t_out) < 0):
            raise ValueError(f"t_eval must be a non-empty increasing sequence in [0, {T!r}]")

    def f(t: float, y: np.ndarray) -> list[float]:
        eta = sched._scalar(t)
        dy = rhs(eta, float(y[0]), float(y[1]), a, b)
        d0, d1 = float(dy[0]), float(dy[1])
        if not (math.isfinite(d0) and math.isfinite(d1)):
            raise ValueError(
                f"the model's right-hand side is not finite at t={t!r} (P={y[0]!r}, R={y[1]!r})"
            )
        return [d0, d1]

    def blowup(t: float, y: np.ndarray) -> float:
        return bound - float(np.max(np.abs(y)))

    blowup.terminal = True  # type: ignore[attr-defined]

    breaks = sched._breakpoints(T)
    edges = np.concatenate([[0.0], breaks if breaks.size <= 256 else [], [T]])
    segments: list[tuple[float, float, Any]] = []
    nfev = 0
    y = y0
    diverged_at: float | None = None
    for lo, hi in itertools.pairwise(edges):
        sol = solve_ivp(f, (lo, hi), y, method=method, rtol=rtol, atol=atol, max_step=max_step,
                        dense_output=True, events=blowup)
        nfev += int(sol.nfev)
        if sol.status == -1:
            raise RuntimeError(f"solve_ivp failed on [{lo}, {hi}]: {sol.message}")
        end = float(sol.t[-1])
        segments.append((float(lo), end, sol.sol))
        y = sol.y[:, -1]
        if sol.status == 1:
            diverged_at = end
            break
    t_keep = t_out if diverged_at is None else t_out[t_out <= diverged_at]
    partial = StabilityPlasticityResult(
        t=t_keep, plasticity=np.empty(0), retention=np.empty(0), lr=np.empty(0),
        schedule=sched, horizon=T, plasticity_rate=a, forgetting_rate=b, model=name,
        n_rhs_evaluations=nfev, _segments=tuple(segments),
    )
    P, R = partial.at(t_keep) if t_keep.size else (np.empty(0), np.empty(0))
    return StabilityPlasticityResult(
        t=t_keep, plasticity=np.asarray(P), retention=np.asarray(R),
        lr=np.asarray(sched._value(t_keep)), schedule=sched, horizon=T, plasticity_rate=a,
        forgetting_rate=b, model=name, n_rhs_evaluations=nfev,
        diverged=diverged_at is not None, diverged_at=diverged_at, _segments=tuple(segments),
    )


def closed_form_stability_plasticity(
    schedule: Any, t: ArrayLike, plasticity: ArrayLike, forgetting: ArrayLike, *,
    model: str = "saturating", initial: Sequence[float] = (0.0, 1.0),
) -> tuple[np.ndarray | float, np.ndarray | float]:
    r"""``(P(t), R(t))`` of the built-in models in closed form; broadcasts over t, a, b.

    saturating: P = 1 − (1 − P₀)·exp(−a∫₀ᵗη), R = R₀·exp(−b∫₀ᵗη²);
    linear:     P = P₀ + a∫₀ᵗη,              R = R₀ − b∫₀ᵗη².
    (:func:`derive_stability_plasticity`; integrals from :func:`lrctl.schedules.integral`.)

    >>> from lrctl.schedules import constant
    >>> P, R = closed_form_stability_plasticity(constant(0.1), 10.0, 1.0, 10.0)  # ∫η=1, ∫η²=0.1
    >>> round(P, 12), round(R, 12)                                      # 1 − e^{−1}, e^{−1}
    (0.632120558829, 0.367879441171)
    """
    check_choice("model", model, _MODELS)
    sched = _sched.as_schedule(schedule)
    tt = check_positive("t", t, allow_zero=True)
    a = check_positive("plasticity", plasticity, allow_zero=True)
    b = check_positive("forgetting", forgetting, allow_zero=True)
    P0, R0 = _check_initial(initial)
    i1 = np.asarray(_sched.integral(sched, tt, power=1))
    i2 = np.asarray(_sched.integral(sched, tt, power=2))
    if model == "saturating":
        P = 1.0 - (1.0 - P0) * np.exp(-a * i1)
        R = R0 * np.exp(-b * i2)
    else:
        P = P0 + a * i1
        R = R0 - b * i2
    if np.ndim(P) == 0 and np.ndim(R) == 0:
        return float(P), float(R)
    return P, R


@functools.cache  # a Derivation is immutable; sympy work is done once
def derive_stability_plasticity():
    r"""The closed-form solution of the saturating stability–plasticity ODE (sympy).

    dP/dt = aη(t)(1 − P), P(0) = P₀ and dR/dt = −bη(t)²R, R(0) = R₀ are linear first-order
    equations. Separating variables, d/dt ln(1 − P) = −aη(t), so
    P = 1 − (1 − P₀)e^{−a∫₀ᵗη} and likewise R = R₀e^{−b∫₀ᵗη²}; sympy checks both steps and
    that the solutions substituted back into the ODEs leave residual 0.

    >>> d = derive_stability_plasticity()
    >>> d.result
    -(1 - P_0)*exp(-a*Integral(eta(s), (s, 0, t))) + 1
    """
    import sympy as sp

    from lrctl.derivation import Derivation

    t, s = sp.symbols("t s", nonnegative=True)
    a, b = sp.symbols("a b", positive=True)
    P0, R0 = sp.symbols("P_0 R_0")
    eta = sp.Function("eta")
    Pf, Rf = sp.Function("P"), sp.Function("R")
    odeP = sp.Eq(Pf(t).diff(t), a * eta(t) * (1 - Pf(t)))
    odeR = sp.Eq(Rf(t).diff(t), -b * eta(t) ** 2 * Rf(t))
    # Separation of variables: along a solution, d/dt ln(1 − P) = −P'/(1 − P) = −aη.
    log_rate = sp.simplify(sp.diff(sp.log(1 - Pf(t)), t).subs(Pf(t).diff(t), odeP.rhs))
    if sp.simplify(log_rate + a * eta(t)) != 0:
        raise RuntimeError("separation of variables failed")  # pragma: no cover
    I1 = sp.Integral(eta(s), (s, 0, t))
    I2 = sp.Integral(eta(s) ** 2, (s, 0, t))
    P = 1 - (1 - P0) * sp.exp(-a * I1)
    R = R0 * sp.exp(-b * I2)
    resP = sp.simplify(sp.diff(P, t) - a * eta(t) * (1 - P))
    resR = sp.simplify(sp.diff(R, t) + b * eta(t) ** 2 * R)
    if resP != 0 or resR != 0 or P.subs(t, 0).doit() != P0 or R.subs(t, 0).doit() != R0:
        raise RuntimeError("the closed form does not satisfy the ODE")  # pragma: no cover
    return Derivation(
        title="Stability–plasticity ODE: closed-form solution",
        result=P,
        statement=sp.Eq(Pf(t), P),
        steps=(
            ("Plasticity ODE", odeP),
            ("Forgetting ODE", odeR),
            ("Separate the variables: along a solution",
             sp.Eq(sp.Derivative(sp.log(1 - Pf(t)), t), log_rate)),
            ("Integrate from the start", sp.Eq(sp.log((1 - Pf(t)) / (1 - P0)), -a * I1)),
            ("Plasticity from its initial value", sp.Eq(Pf(t), P)),
            ("Retention from its initial value", sp.Eq(Rf(t), R)),
            ("Check: the residual of the plasticity equation",
             sp.Eq(sp.Derivative(Pf(t), t) - a * eta(t) * (1 - Pf(t)), resP)),
            ("Check: the residual of the forgetting equation",
             sp.Eq(sp.Derivative(Rf(t), t) + b * eta(t) ** 2 * Rf(t), resR)),
        ),
        assumptions=("η(t) ≥ 0 integrable on [0, t]", "a, b ≥ 0 constant"),
        symbols={"t": t, "a": a, "b": b, "P_0": P0, "R_0": R0},
    )


@functools.cache  # a Derivation is immutable; sympy work is done once
def derive_constant_rate_optimality():
    r"""Cauchy–Schwarz for schedules: ∫₀ᵀη² >= (∫₀ᵀη)²/T, with equality iff η is constant.

    Write η = c + δ(t) with c = I/T the mean rate (I = ∫η), so ∫δ = 0. Then
    ∫η² = c²T + 2c∫δ + ∫δ² = I²/T + ∫δ² >= I²/T. The result is the minimal ∫η² at fixed
    plasticity budget I: the constant rate I/T.

    >>> derive_constant_rate_optimality().result
    I**2/T
    """
    import sympy as sp

    from lrctl.derivation import Derivation

    t = sp.symbols("t", nonnegative=True)
    T, I = sp.symbols("T I", positive=True)  # noqa: E741 (I is the integral ∫η)
    delta = sp.Function("delta")
    c = I / T
    eta = sp.Function("eta")
    zero_mean = sp.Integral(delta(t), (t, 0, T))
    excess = sp.Integral(delta(t) ** 2, (t, 0, T))
    # ∫(c + δ)² term by term; checked against sympy's own integral of the expanded square.
    expanded = c**2 * T + 2 * c * zero_mean + excess
    direct = sp.integrate(sp.expand((c + delta(t)) ** 2), (t, 0, T))
    if sp.simplify(direct - expanded) != 0:
        raise RuntimeError("term-by-term integral mismatch")  # pragma: no cover
    with_mean_zero = expanded.subs(zero_mean, 0)
    bound = sp.simplify(with_mean_zero - excess)
    if sp.simplify(bound - I**2 / T) != 0:
        raise RuntimeError("the Cauchy–Schwarz decomposition does not reduce")  # pragma: no cover
    eta = sp.Function("eta")
    return Derivation(
        title="Constant rates minimize ∫η² at fixed ∫η (Cauchy–Schwarz)",
        result=bound,
        statement=sp.Ge(sp.Integral(eta(t) ** 2, (t, 0, T)), I**2 / T),
        steps=(
            ("Split the rate into its mean and a zero-mean part", sp.Eq(eta(t), c + delta(t))),
            ("Square and integrate", sp.Eq(sp.Integral(eta(t) ** 2, (t, 0, T)), expanded)),
            ("The zero-mean part integrates to zero", sp.Eq(zero_mean, 0)),
            ("so the cross term vanishes", with_mean_zero),
            ("The excess over the constant rate is the integral of a square",
             sp.Eq(sp.Integral(eta(t) ** 2, (t, 0, T)) - I**2 / T, excess, evaluate=False)),
            ("which is never negative, and zero only for a constant rate", sp.Ge(excess, 0)),
        ),
        assumptions=("η square-integrable on [0, T]", "I = ∫₀ᵀη fixed"),
        symbols={"I": I, "T": T},
    )


def equal_plasticity_constant(schedule: Any, horizon: float) -> _sched.Schedule:
    """The constant schedule with the same ∫₀ᵀη as ``schedule``: ``constant(∫η/T)``.

    It reaches the same plasticity (P depends on the schedule only through ∫η) with the least
    ∫η² of all schedules (:func:`derive_constant_rate_optimality`).

    >>> from lrctl.schedules import cosine
    >>> equal_plasticity_constant(cosine(0.1, 100), 100)
    constant(lr=0.05)
    """
    T = check_scalar("horizon", horizon)
    if T <= 0:
        raise ValueError(f"horizon must be > 0, got {T!r}")
    mean = _sched.integral(schedule, T) / T
    return _sched.constant(round(mean, 15))


def constant_rate_frontier(
    lr: ArrayLike, horizon: float, plasticity: float, forgetting: float, *,
    model: str = "saturating", initial: Sequence[float] = (0.0, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    r"""Final (P, R) of constant rates ``lr`` over ``horizon`` (vectorized over ``lr``).

    For the built-in models this curve is the Pareto frontier over *all* schedules at that
    horizon: P grows with ∫η, R falls with ∫η², and at fixed ∫η a constant rate has the least
    ∫η² (:func:`derive_constant_rate_optimality`).

    >>> P, R = constant_rate_frontier([0.01, 0.1], 10, plasticity=1.0, forgetting=10.0)
    >>> P.round(4), R.round(4)
    (array([0.0952, 0.6321]), array([0.99  , 0.3679]))
    """
    check_choice("model", model, _MODELS)
    eta = check_positive("lr", lr, allow_zero=True)
    T = check_scalar("horizon", horizon)
    if T <= 0:
        raise ValueError(f"horizon must be > 0, got {T!r}")
    a = check_scalar("plasticity", plasticity)
    b = check_scalar("forgetting", forgetting)
    if a < 0 or b < 0:
        raise ValueError(f"plasticity and forgetting must be >= 0, got {a!r}, {b!r}")
    P0, R0 = _check_initial(initial)
    if model == "saturating":
        return 1.0 - (1.0 - P0) * np.exp(-a * eta * T), R0 * np.exp(-b * eta * eta * T)
    return P0 + a * eta * T, R0 - b * eta * eta * T


def pareto_front(plasticity: ArrayLike, retention: ArrayLike, *, tol: float = 0.0) -> np.ndarray:
    """Boolean mask of the points no other point dominates (higher-or-equal P and R, one strictly).

    Differences up to ``tol`` count as ties (point j dominates i when P_j >= P_i − tol,
    R_j >= R_i − tol and one of them is larger by more than ``tol``), so that solver round-off
    does not decide dominance.

    >>> pareto_front([0.9, 0.8, 0.7, 0.95], [0.5, 0.6, 0.55, 0.4])
    array([ True,  True, False,  True])
    """
    P = check_finite("plasticity", plasticity)
    R = check_finite("retention", retention)
    if P.ndim != 1 or P.shape != R.shape:
        raise ValueError(
            f"plasticity and retention must be 1-D arrays of equal length, got {P.shape}, {R.shape}"
        )
    eps = check_scalar("tol", tol)
    if eps < 0:
        raise ValueError(f"tol must be >= 0, got {eps!r}")
    ge = (P[None, :] >= P[:, None] - eps) & (R[None, :] >= R[:, None] - eps)
    gt = (P[None, :] > P[:, None] + eps) | (R[None, :] > R[:, None] + eps)
    return ~np.any(ge & gt, axis=1)


@dataclass(frozen=True)
class ScheduleComparison:
    """Schedules at equal horizon on the plasticity–retention plane.

    Attributes
    ----------
    names
        Schedule names, in order.
    schedules
        The schedules.
    plasticity, retention
        Final P(T) and R(T) from the ODE, one per schedule.
    lr_integral, lr_squared_integral
        ∫₀ᵀη and ∫₀ᵀη² (closed form where known).
    pareto
        Mask of the schedules on the Pareto frontier of this set (differences below 100 × the
        solver's ``rtol`` count as ties).
    """

    names: tuple[str, ...]
    schedules: tuple[Any, ...]
    horizon: float
    plasticity: np.ndarray
    retention: np.ndarray
    lr_integral: np.ndarray
    lr_squared_integral: np.ndarray
    pareto: np.ndarray

    def score(self, weight: ArrayLike) -> np.ndarray:
        """w·P + (1 − w)·R for each weight w in [0, 1]: shape ``weight.shape + (n_schedules,)``.

        >>> from lrctl.schedules import constant
        >>> cmp = compare_schedules({"lo": constant(0.01), "hi": constant(0.1)}, 10, 1.0, 10.0)
        >>> cmp.score([0.0, 1.0]).round(3)
        array([[0.99 , 0.368],
               [0.095, 0.632]])
        """
        w = check_in_interval("weight", weight, 0.0, 1.0, high_closed=True)
        return w[..., None] * self.plasticity + (1.0 - w[..., None]) * self.retention

    def best(self, weight: float) -> str:
        """The name of the schedule with the highest w·P + (1 − w)·R."""
        w = check_scalar("weight", weight)
        return self.names[int(np.argmax(self.score(w)))]


def compare_schedules(
    schedules: Mapping[str, Any], horizon: float, plasticity: float, forgetting: float, *,
    model: Any = "saturating", initial: Sequence[float] = (0.0, 1.0), rtol: float = 1e-10,
    atol: float = 1e-12,
) -> ScheduleComparison:
    """Solve the ODE for each schedule at the same horizon and collect the final (P, R).

    >>> from lrctl.schedules import constant, cosine
    >>> cmp = compare_schedules({"constant": constant(0.1), "cosine": cosine(0.1, 100)},
    ...                         100, plasticity=0.5, forgetting=2.0)
    >>> cmp.plasticity.round(3), cmp.retention.round(3), cmp.pareto
    (array([0.993, 0.918]), array([0.135, 0.472]), array([ True,  True]))
    """
    if not isinstance(schedules, Mapping) or len(schedules) == 0:
        raise TypeError(f"schedules must be a non-empty mapping name -> schedule, got {schedules!r}")
    names = tuple(str(k) for k in schedules)
    scheds = tuple(_sched.as_schedule(s) for s in schedules.values())
    results = [
        simulate_stability_plasticity(s, horizon, plasticity, forgetting, model=model,
                                      initial=initial, n_points=2, rtol=rtol, atol=atol)
        for s in scheds
    ]
    T = float(horizon)
    P = np.array([r.plasticity[-1] for r in results])
    R = np.array([r.retention[-1] for r in results])
    i1 = np.array([_sched.integral(s, T) for s in scheds])
    i2 = np.array([_sched.integral(s, T, power=2) for s in scheds])
    return ScheduleComparison(names=names, schedules=scheds, horizon=T, plasticity=P,
                              retention=R, lr_integral=i1, lr_squared_integral=i2,
                              pareto=pareto_front(P, R, tol=100 * rtol))


# -- fitting and checking the model on real training ----------------------------------------


@dataclass(frozen=True)
class StabilityPlasticityFit:
    """Least-squares estimates of the plasticity and forgetting rates.

    ``rms_plasticity``/``rms_retention``: root-mean-square residuals of the fitted curves.
    """

    plasticity: float
    forgetting: float
    model: str
    rms_plasticity: float
    rms_retention: float
    initial: tuple[float, float]


def fit_stability_plasticity(
    schedule: Any, t: ArrayLike, plasticity: ArrayLike, retention: ArrayLike, *,
    model: Any = "saturating", initial: Sequence[float] | None = None,
) -> StabilityPlasticityFit:
    r"""Fit a (plasticity) and b (forgetting) to observed P(tᵢ), R(tᵢ) under one schedule.

    Minimizes Σ(P_model(tᵢ) − Pᵢ)² + Σ(R_model(tᵢ) − Rᵢ)² with ``scipy.optimize.least_squares``
    over a, b >= 0, starting the model at ``initial`` (default: the first observation, which
    must then be at t = 0). The built-in models use their closed forms; a callable model is
    solved with :func:`simulate_stability_plasticity` at every evaluation.

    >>> from lrctl.schedules import cosine
    >>> f = cosine(0.1, 100)
    >>> t = np.linspace(0, 100, 11)
    >>> P, R = closed_form_stability_plasticity(f, t, 0.7, 3.0)
    >>> fit = fit_stability_plasticity(f, t, P, R)
    >>> round(fit.plasticity, 6), round(fit.forgetting, 6)
    (0.7, 3.0)
    """
    from scipy.optimize import least_squares

    sched = _sched.as_schedule(schedule)
    tt = check_positive("t", t, allow_zero=True).ravel()
    P = check_finite("plasticity", plasticity).ravel()
    R = check_finite("retention", retention).ravel()
    if tt.size < 2 or P.shape != tt.shape or R.shape != tt.shape:
        raise ValueError(
            f"t, plasticity and retention must be 1-D with equal length >= 2, got "
            f"{tt.shape}, {P.shape}, {R.shape}"
        )
    if np.any(np.diff(tt) <= 0):
        raise ValueError("t must be strictly increasing")
    if initial is None:
        if tt[0] != 0:
            raise ValueError("without initial=(P0, R0) the first observation must be at t = 0")
        y0 = (float(P[0]), float(R[0]))
    else:
        y0 = _check_initial(initial)
    name = model if isinstance(model, str) else getattr(model, "__name__", "custom")
    if isinstance(model, str):
        check_choice("model", model, _MODELS)

        def predict(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
            return closed_form_stability_plasticity(sched, tt, a, b, model=model, initial=y0)
    else:
        horizon = float(tt[-1]) if tt[-1] > 0 else 1.0

        def predict(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
            res = simulate_stability_plasticity(sched, horizon, a, b, model=model, initial=y0,
                                                t_eval=tt, rtol=1e-9, atol=1e-12)
            return res.plasticity, res.retention

    def residuals(x: np.ndarray) -> np.ndarray:
        Pm, Rm = predict(float(x[0]), float(x[1]))
        return np.concatenate([np.asarray(Pm) - P, np.asarray(Rm) - R])

    # Starting point from the linearized model: a ≈ ΔP/∫η, b ≈ −ΔR/∫η² at the last time.
    i1 = max(float(_sched.integral(sched, tt[-1])), 1e-12)
    i2 = max(float(_sched.integral(sched, tt[-1], power=2)), 1e-12)
    a0 = max(abs(P[-1] - y0[0]) / i1, 1e-6)
    b0 = max(abs(y0[1] - R[-1]) / i2, 1e-6)
    sol = least_squares(residuals, [a0, b0], bounds=([0.0, 0.0], [np.inf, np.inf]),
                        x_scale=[a0, b0], xtol=1e-14, ftol=1e-14, gtol=1e-14)
    r = sol.fun
    n = tt.size
    return StabilityPlasticityFit(
        plasticity=float(sol.x[0]), forgetting=float(sol.x[1]), model=name,
        rms_plasticity=float(np.sqrt(np.mean(r[:n] ** 2))),
        rms_retention=float(np.sqrt(np.mean(r[n:] ** 2))), initial=y0,
    )


@dataclass(frozen=True)
class PredictionAgreement:
    """How well predicted values match measured ones across items (schedules).

    ``kendall_tau``: Kendall's τ-b of the two rankings; ``pairwise_agreement``: the fraction of
    pairs (with distinct measured values) that the prediction orders the same way;
    ``mean_abs_error``/``max_abs_error``: value errors.
    """

    kendall_tau: float
    pairwise_agreement: float
    mean_abs_error: float
    max_abs_error: float
    n_items: int


def prediction_agreement(predicted: ArrayLike, measured: ArrayLike) -> PredictionAgreement:
    """Ranking agreement and value errors between predictions and measurements.

    >>> a = prediction_agreement([0.1, 0.5, 0.3, 0.9], [0.2, 0.4, 0.5, 0.8])
    >>> a.pairwise_agreement, round(a.kendall_tau, 4), round(a.mean_abs_error, 4)
    (0.8333333333333334, 0.6667, 0.125)
    """
    p = check_finite("predicted", predicted).ravel()
    m = check_finite("measured", measured).ravel()
    if p.shape != m.shape or p.size < 2:
        raise ValueError(
            f"predicted and measured must have equal length >= 2, got {p.size} and {m.size}"
        )
    i, j = np.triu_indices(p.size, k=1)
    dp, dm = np.sign(p[i] - p[j]), np.sign(m[i] - m[j])
    concordant = np.sum(dp * dm > 0)
    discordant = np.sum(dp * dm < 0)
    n0 = i.size
    ties_p, ties_m = np.sum(dp == 0), np.sum(dm == 0)
    denom = math.sqrt(float(n0 - ties_p) * float(n0 - ties_m))
    tau = float((concordant - discordant) / denom) if denom > 0 else 0.0
    distinct = dm != 0
    agree = float(np.mean((dp * dm)[distinct] > 0)) if np.any(distinct) else 1.0
    err = np.abs(p - m)
    return PredictionAgreement(kendall_tau=tau, pairwise_agreement=agree,
                               mean_abs_error=float(err.mean()), max_abs_error=float(err.max()),
                               n_items=int(p.size))


@dataclass(frozen=True)
class TwoTaskResult:
    """Sequential training on two tasks: task A first, then task B under each schedule.

    Attributes
    ----------
    names, schedules
        The schedules used for the task-B phase.
    steps
        Checkpoint steps (0 … horizon) of the task-B phase.
    new_task_accuracy, old_task_accuracy
        Test accuracy on task B and on task A at each checkpoint, mean over seeds, shape
        (n_schedules, n_checkpoints).
    new_task_std, old_task_std
        Their standard deviation over seeds.
    old_task_initial
        Test accuracy on task A after phase A (mean over seeds).
    n_seeds, batch_size, classes_a, classes_b
        The setting.
    """

    names: tuple[str, ...]
    schedules: tuple[Any, ...]
    steps: np.ndarray
    new_task_accuracy: np.ndarray
    old_task_accuracy: np.ndarray
    new_task_std: np.ndarray
    old_task_std: np.ndarray
    old_task_initial: float
    n_seeds: int
    batch_size: int
    classes_a: tuple[int, ...]
    classes_b: tuple[int, ...]

    @property
    def plasticity(self) -> np.ndarray:
        """P: new-task (B) test accuracy."""
        return self.new_task_accuracy

    @property
    def retention(self) -> np.ndarray:
        """R: old-task (A) test accuracy relative to its value after phase A."""
        return self.old_task_accuracy / self.old_task_initial


def train_two_tasks(
    schedules: Mapping[str, Any],
    horizon: int,
    *,
    dataset: str = "digits",
    n_classes_a: int = 5,
    batch_size: int = 4,
    l2: float = 1e-3,
    pretrain_lr: float = 0.5,
    pretrain_steps: int = 300,
    n_seeds: int = 5,
    n_checkpoints: int = 21,
    test_fraction: float = 0.3,
    seed: Any = 0,
) -> TwoTaskResult:
    r"""Train a softmax classifier on task A, then on task B with SGD under each schedule.

    Data: a stratified train/test split of a data set bundled with scikit-learn
    (:func:`lrctl.objectives.split_dataset`); task A = classes 0 … ``n_classes_a`` − 1,
    task B = the rest. Model: :class:`lrctl.objectives.SoftmaxRegression` over all classes
    with L2 ``l2``. Phase A: ``pretrain_steps`` of full-batch gradient descent on task A at
    ``pretrain_lr``. Phase B: ``horizon`` SGD steps on task B, θ ← θ − η(t)·∇L_batch(θ),
    minibatches of ``batch_size`` drawn with replacement; every schedule sees the same
    minibatch sequence (common random numbers), and all schedules are updated together as
    one stacked parameter array. Test accuracies on A and B are recorded at
    ``n_checkpoints`` equally spaced steps and averaged over ``n_seeds`` minibatch sequences.
    """
    from lrctl.objectives import SoftmaxRegression, split_dataset

    if not isinstance(schedules, Mapping) or len(schedules) == 0:
        raise TypeError(f"schedules must be a non-empty mapping name -> schedule, got {schedules!r}")
    names = tuple(str(k) for k in schedules)
    scheds = tuple(_sched.as_schedule(s) for s in schedules.values())
    T = check_int("horizon", horizon, minimum=1)
    n_a = check_int("n_classes_a", n_classes_a, minimum=1)
    bs = check_int("batch_size", batch_size, minimum=1)
    l2 = check_scalar("l2", l2)
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")
    lr_a = float(check_positive("pretrain_lr", check_scalar("pretrain_lr", pretrain_lr)))
    steps_a = check_int("pretrain_steps", pretrain_steps, minimum=0)
    n_seeds = check_int("n_seeds", n_seeds, minimum=1)
    n_ck = check_int("n_checkpoints", n_checkpoints, minimum=2)
    rng = as_rng(seed)

    Xtr, ytr, Xte, yte = split_dataset(dataset, test_fraction=test_fraction, seed=0)
    n_classes = int(max(ytr.max(), yte.max()) + 1)
    if not 1 <= n_a < n_classes:
        raise ValueError(f"n_classes_a must lie in [1, {n_classes - 1}], got {n_a}")
    in_a_tr, in_a_te = ytr < n_a, yte < n_a
    task_a = SoftmaxRegression(Xtr[in_a_tr], ytr[in_a_tr], n_classes=n_classes, l2=l2)
    test_a = SoftmaxRegression(Xte[in_a_te], yte[in_a_te], n_classes=n_classes)
    test_b = SoftmaxRegression(Xte[~in_a_te], yte[~in_a_te], n_classes=n_classes)
    XB, yB = Xtr[~in_a_tr], ytr[~in_a_tr]

    theta = np.zeros(task_a.dim)
    for _ in range(steps_a):
        theta = theta - lr_a * task_a.grad(theta)
    acc_a0 = float(test_a.accuracy(theta))
    if acc_a0 <= 0:
        raise RuntimeError("phase A left task A at zero accuracy; raise pretrain_steps")

    eta = np.stack([s._value(np.arange(T, dtype=float)) for s in scheds])  # (K, T)
    checkpoints = np.unique(np.round(np.linspace(0, T, n_ck)).astype(int))
    K = len(scheds)
    acc_b = np.empty((n_seeds, K, checkpoints.size))
    acc_a = np.empty((n_seeds, K, checkpoints.size))
    for r in range(n_seeds):
        batches = rng.integers(0, yB.size, size=(T, bs))
        Theta = np.repeat(theta[None, :], K, axis=0)
        ck = 0
        for t in range(T + 1):
            if t == checkpoints[ck]:
                acc_b[r, :, ck] = test_b.accuracy(Theta)
                acc_a[r, :, ck] = test_a.accuracy(Theta)
                ck += 1
            if t == T:
                break
            idx = batches[t]
            batch = SoftmaxRegression(XB[idx], yB[idx], n_classes=n_classes, l2=l2)
            Theta = Theta - eta[:, t, None] * batch.grad(Theta)
    return TwoTaskResult(
        names=names, schedules=scheds, steps=checkpoints.astype(float),
        new_task_accuracy=acc_b.mean(axis=0), old_task_accuracy=acc_a.mean(axis=0),
        new_task_std=acc_b.std(axis=0), old_task_std=acc_a.std(axis=0),
        old_task_initial=acc_a0, n_seeds=n_seeds, batch_size=bs,
        classes_a=tuple(range(n_a)), classes_b=tuple(range(n_a, n_classes)),
    )


# =======================================================================================
# The cerebellar update rule
# =======================================================================================

_REGIMES = ("monotone", "oscillating", "divergent")


def _check_k(k: Any) -> np.ndarray:
    arr = check_finite("k", k)
    if np.any(arr <= 0):
        raise ValueError(
            f"k must be > 0 (the cerebellar rate; 0 < k < 2 converges, k >= 2 diverges), "
            f"got {k!r}"
        )
    return arr


def cerebellar_regime(k: ArrayLike) -> str | np.ndarray:
    r"""The regime of C_{n+1} = C_n − k(C_n − C_opt): the error is multiplied by (1 − k).

    ``"monotone"`` for 0 < k <= 1 (1 − k in [0, 1): no sign change; k = 1 lands in one step),
    ``"oscillating"`` for 1 < k < 2 (1 − k in (−1, 0): alternating sign, shrinking),
    ``"divergent"`` for k >= 2 (|1 − k| >= 1: never converges; k = 2 flips with constant
    amplitude, k > 2 grows). k <= 0 or non-finite values are rejected.

    >>> cerebellar_regime([0.5, 1.0, 1.5, 2.0, 3.0]).tolist()
    ['monotone', 'monotone', 'oscillating', 'divergent', 'divergent']
    """
    kk = _check_k(k)
    out = np.select([kk <= 1.0, kk < 2.0], ["monotone", "oscillating"], "divergent")
    return str(out) if out.ndim == 0 else out


def cerebellar_trajectory(c0: ArrayLike, c_opt: ArrayLike, k: ArrayLike, n: int) -> np.ndarray:
    r"""C_0, …, C_n of the cerebellar rule C_{n+1} = C_n − k(C_n − C_opt).

    Computed by the recurrence; equals the closed form C_opt + (1 − k)^n (C_0 − C_opt)
    (:func:`cerebellar_closed_form`, :func:`derive_cerebellar_gd_identity`). Broadcasts over
    ``c0``, ``c_opt``, ``k``: the result has shape ``(n + 1,) + broadcast shape``. A divergent
    rate (k >= 2, see :func:`cerebellar_regime`) is a valid input and its growing trajectory
    is returned; if it would overflow the float range a ``ValueError`` says at which step (use
    :func:`simulate_cerebellar`, which stops at divergence and says so).

    >>> cerebellar_trajectory(0.0, 1.0, 0.5, 3)
    array([0.   , 0.5  , 0.75 , 0.875])
    >>> cerebellar_trajectory(0.0, 1.0, 1.5, 3)          # oscillating
    array([0.   , 1.5  , 0.75 , 1.125])
    """
    c0a = check_finite("c0", c0)
    copt = check_finite("c_opt", c_opt)
    kk = _check_k(k)
    steps = check_int("n", n, minimum=0)
    c, copt, kk = np.broadcast_arrays(c0a, copt, kk)
    out = np.empty((steps + 1, *c.shape))
    out[0] = c
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(steps):
            out[i + 1] = out[i] - kk * (out[i] - copt)
    if not np.all(np.isfinite(out)):
        bad = int(np.argmax(~np.all(np.isfinite(out.reshape(steps + 1, -1)), axis=1)))
        raise ValueError(
            f"the trajectory overflows the float range at step {bad} (k = {k!r} >= 2 diverges); "
            "use simulate_cerebellar, which stops at divergence, or fewer steps"
        )
    return out


def cerebellar_closed_form(c0: ArrayLike, c_opt: ArrayLike, k: ArrayLike,
                           n: ArrayLike) -> np.ndarray | float:
    """C_n = C_opt + (1 − k)^n (C_0 − C_opt); broadcasts over all arguments (n integers >= 0).

    >>> cerebellar_closed_form(0.0, 1.0, 0.5, [0, 1, 2, 3])
    array([0.   , 0.5  , 0.75 , 0.875])
    """
    c0a = check_finite("c0", c0)
    copt = check_finite("c_opt", c_opt)
    kk = _check_k(k)
    nn = check_finite("n", n)
    if np.any(nn < 0) or np.any(nn != np.round(nn)):
        raise ValueError(f"n must be integers >= 0, got {n!r}")
    with np.errstate(over="ignore"):
        out = copt + (1.0 - kk) ** nn * (c0a - copt)
    if not np.all(np.isfinite(out)):
        raise ValueError("C_n overflows the float range (k >= 2 diverges); use fewer steps")
    return float(out) if out.ndim == 0 else out


def cerebellar_continuous(c0: ArrayLike, c_opt: ArrayLike, k: ArrayLike,
                          t: ArrayLike) -> np.ndarray | float:
    r"""The continuous-time limit dC/dt = −k(C − C_opt): C(t) = C_opt + (C_0 − C_opt)e^{−kt}.

    The discrete rule with rate k·Δt per step of length Δt approaches it as Δt → 0, with an
    error O(Δt) (:func:`derive_cerebellar_continuous_limit`). Here k > 0 is a rate per unit
    time and any value is stable.

    >>> round(cerebellar_continuous(0.0, 1.0, 2.0, 0.5), 6)   # 1 − e^{−1}
    0.632121
    """
    c0a = check_finite("c0", c0)
    copt = check_finite("c_opt", c_opt)
    kk = _check_k(k)
    tt = check_positive("t", t, allow_zero=True)
    out = copt + (c0a - copt) * np.exp(-kk * tt)
    return float(out) if out.ndim == 0 else out


@functools.cache  # a Derivation is immutable; sympy work is done once
def derive_cerebellar_gd_identity():
    r"""The cerebellar rule is gradient descent on ½(C − C_opt)² with η = k (sympy).

    L(C) = ½(C − C_opt)² has L'(C) = C − C_opt, so one GD step C − ηL'(C) with η = k is the
    cerebellar update exactly; ``rsolve`` solves the recurrence to C_n = C_opt + (1 − k)^n
    (C_0 − C_opt), which converges iff |1 − k| < 1, i.e. 0 < k < 2 — the GD bound 2/λ with
    curvature λ = L'' = 1.

    >>> d = derive_cerebellar_gd_identity()
    >>> d.result
    C_opt + (1 - k)**n*(C_0 - C_opt)
    >>> float(d.lambdify("C_0", "C_opt", "k", "n")(0.0, 1.0, 0.5, 3))
    0.875
    """
    import sympy as sp

    from lrctl.derivation import Derivation

    C, Copt, C0, k, eta = sp.symbols("C C_opt C_0 k eta", real=True)
    n = sp.symbols("n", integer=True, nonnegative=True)
    Cn = sp.Function("C")
    L = sp.Rational(1, 2) * (C - Copt) ** 2
    grad = sp.diff(L, C)
    gd_step = C - eta * grad
    cerebellar = C - k * (C - Copt)
    difference = sp.simplify(gd_step.subs(eta, k) - cerebellar)
    if difference != 0:
        raise RuntimeError("GD and the cerebellar rule differ")  # pragma: no cover
    solution = sp.rsolve(Cn(n + 1) - Cn(n) + k * (Cn(n) - Copt), Cn(n), {Cn(0): C0})
    closed = Copt + (1 - k) ** n * (C0 - Copt)
    if sp.simplify(solution - closed) != 0:
        raise RuntimeError("rsolve disagrees with the closed form")  # pragma: no cover
    lam = sp.diff(L, C, 2)
    return Derivation(
        title="The cerebellar rule is gradient descent on ½(C − C_opt)² with η = k",
        result=closed,
        statement=sp.Eq(Cn(n), closed),
        steps=(
            ("Loss", sp.Eq(sp.Symbol("L"), L)),
            ("Gradient", sp.Eq(sp.Derivative(sp.Symbol("L"), C), grad)),
            ("One gradient step", sp.Eq(sp.Symbol("C_next"), gd_step)),
            ("With the learning rate equal to the cerebellar gain", sp.Eq(eta, k)),
            ("the gradient step minus the cerebellar update is", difference),
            ("Recurrence solved by sympy's rsolve", sp.Eq(Cn(n), solution)),
            ("The curvature of the loss", sp.Eq(sp.Symbol("lambda"), lam)),
            ("so the gradient-descent bound on the gain is", sp.Eq(sp.Symbol("k_max"), 2 / lam)),
            ("Converges exactly when", sp.Lt(sp.Abs(1 - k), 1)),
            ("that is", sp.And(sp.Gt(k, 0), sp.Lt(k, 2))),
        ),
        assumptions=("C_opt fixed", "k constant"),
        symbols={"C_0": C0, "C_opt": Copt, "k": k, "n": n},
    )


@functools.cache  # a Derivation is immutable; sympy work is done once
def derive_cerebellar_continuous_limit():
    r"""The discrete rule with rate k·Δt, Δt = t/N, tends to C_opt + (C_0 − C_opt)e^{−kt}.

    After N steps the error is multiplied by (1 − kt/N)^N → e^{−kt} (sympy ``limit``); the
    first-order correction is −k²t²/(2N)·e^{−kt}, so the error of the discrete rule is O(Δt).

    >>> derive_cerebellar_continuous_limit().result
    exp(-k*t)
    """
    import sympy as sp

    from lrctl.derivation import Derivation

    k, t = sp.symbols("k t", positive=True)
    N = sp.symbols("N", positive=True, integer=True)
    x = sp.symbols("x", positive=True)  # x = 1/N
    factor = (1 - k * t / N) ** N
    lim = sp.limit(factor, N, sp.oo)
    series = sp.series(((1 - k * t * x) ** (1 / x)).rewrite(sp.exp), x, 0, 2).removeO()
    first_order = sp.simplify(sp.expand(series - lim) / x)
    C0, Copt = sp.symbols("C_0 C_opt", real=True)
    C = sp.Function("C")
    return Derivation(
        title="Continuous-time limit of the cerebellar rule",
        result=lim,
        statement=sp.Eq(C(t), Copt + (C0 - Copt) * lim),
        steps=(
            ("N steps of the rule over a time t, each of length", sp.Eq(sp.Symbol("Delta_t"), t / N)),
            ("with rate k times the step length, multiply the error by", factor),
            ("In the limit of many steps", sp.Eq(sp.Limit(factor, N, sp.oo), lim)),
            ("The first-order term in the reciprocal of N, so the error is of order of the step",
             first_order),
            ("The limit solves the differential equation",
             sp.Eq(sp.Derivative(C(t), t), -k * (C(t) - Copt))),
        ),
        assumptions=("k > 0 per unit time", "Δt = t/N → 0"),
        symbols={"k": k, "t": t},
    )


def cerebellar_noise_variance(k: ArrayLike, state_noise: ArrayLike = 0.0,
                              motor_noise: ArrayLike = 0.0) -> np.ndarray | float:
    r"""Steady-state variance of C − C_opt under the noisy cerebellar rule.

    The noisy rule: the movement executed on trial n is C_n + ε_n (motor noise, sd σ_u), the
    update uses the observed error, and the update itself is corrupted by ξ_n (state noise,
    sd σ_x):  C_{n+1} = C_n − k(C_n + ε_n − C_opt) + ξ_n. The error e = C − C_opt then follows
    e_{n+1} = (1 − k)e_n − kε_n + ξ_n, whose stationary variance V solves
    V = (1 − k)²V + k²σ_u² + σ_x², i.e.

        V = (k²σ_u² + σ_x²) / (k(2 − k))          (0 < k < 2)

    (:func:`derive_cerebellar_noise`). The executed movement has variance V + σ_u². For
    k >= 2 there is no stationary distribution and ``inf`` is returned. Broadcasts.

    >>> cerebellar_noise_variance(0.5, state_noise=1.0)      # 1/(0.5·1.5)
    1.3333333333333333
    >>> cerebellar_noise_variance([0.5, 1.0], motor_noise=1.0)   # k/(2 − k)
    array([0.33333333, 1.        ])
    """
    kk = _check_k(k)
    sx = check_positive("state_noise", state_noise, allow_zero=True)
    su = check_positive("motor_noise", motor_noise, allow_zero=True)
    kk, sx, su = np.broadcast_arrays(kk, sx, su)
    stable = kk < 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(stable, (kk**2 * su**2 + sx**2) / (kk * (2.0 - kk)), np.inf)
    return float(v) if v.ndim == 0 else v


def optimal_cerebellar_rate(state_noise: ArrayLike, motor_noise: ArrayLike) -> np.ndarray | float:
    r"""The rate k* that minimizes the steady-state variance of the noisy cerebellar rule.

    Setting dV/dk = 0 for V = (k²u + x)/(k(2 − k)) (u = σ_u², x = σ_x²) gives
    u k² + x k − x = 0, so

        k* = (−x + √(x² + 4ux)) / (2u),

    the steady-state Kalman gain of a random walk with process variance x observed with noise
    variance u (:func:`derive_cerebellar_noise`). k* lies in (0, 1]: noisier movements call for
    a smaller rate. Limits: u = 0 gives k* = 1; x = 0 gives k* → 0 (returned as 0.0: without
    state noise every smaller rate is better). Broadcasts.

    >>> round(optimal_cerebellar_rate(1.0, 1.0), 6)    # (√5 − 1)/2
    0.618034
    """
    x = check_positive("state_noise", state_noise, allow_zero=True) ** 2
    u = check_positive("motor_noise", motor_noise, allow_zero=True) ** 2
    x, u = np.broadcast_arrays(x, u)
    if np.any((x == 0) & (u == 0)):
        raise ValueError("state_noise and motor_noise cannot both be 0 (every rate is optimal)")
    with np.errstate(divide="ignore", invalid="ignore"):
        # (−x + √(x² + 4ux))/(2u) = 2x/(x + √(x² + 4ux)), the second form is stable for u → 0.
        root = np.sqrt(x * x + 4.0 * u * x)
        k = np.where(x > 0, 2.0 * x / (x + root), 0.0)
    return float(k) if k.ndim == 0 else k


@functools.cache  # a Derivation is immutable; sympy work is done once
def derive_cerebellar_noise():
    r"""Stationary variance of the noisy cerebellar rule and its minimizing rate (sympy).

    >>> d = derive_cerebellar_noise()
    >>> d.result
    (k**2*sigma_u**2 + sigma_x**2)/(k*(2 - k))
    """
    import sympy as sp

    from lrctl.derivation import Derivation

    k, V = sp.symbols("k V", positive=True)
    su, sx = sp.symbols("sigma_u sigma_x", positive=True)
    stationarity = sp.Eq(V, (1 - k) ** 2 * V + k**2 * su**2 + sx**2)
    (solution,) = sp.solve(stationarity, V)
    result = (k**2 * su**2 + sx**2) / (k * (2 - k))
    if sp.simplify(solution - result) != 0:
        raise RuntimeError("stationary variance mismatch")  # pragma: no cover
    dV = sp.factor(sp.together(sp.diff(result, k)))
    numerator = sp.numer(dV)
    roots = sp.solve(sp.Eq(numerator, 0), k)
    positive = [r for r in roots if r.subs({su: 1, sx: 1}).is_positive]
    k_star = sp.simplify(positive[0])
    return Derivation(
        title="Noisy cerebellar rule: stationary variance and the variance-optimal rate",
        result=result,
        statement=sp.Eq(V, result),
        steps=(
            ("Error recursion", sp.Eq(sp.Symbol("e_next"),
                                      (1 - k) * sp.Symbol("e") - k * sp.Symbol("epsilon")
                                      + sp.Symbol("xi"))),
            ("Stationarity (independent zero-mean noises)", stationarity),
            ("Solved for the stationary variance", sp.Eq(V, solution)),
            ("Its derivative in the gain", sp.Eq(sp.Derivative(V, k), dV)),
            ("vanishes at the positive root", sp.Eq(sp.Symbol("k^*"), k_star)),
        ),
        assumptions=("ε_n ~ (0, σ_u²) motor noise, ξ_n ~ (0, σ_x²) state noise, independent",
                     "0 < k < 2"),
        symbols={"k": k, "sigma_u": su, "sigma_x": sx, "V": V},
    )


@dataclass(frozen=True)
class CerebellarResult:
    """A (possibly noisy) run of the cerebellar rule.

    Attributes
    ----------
    c
        C_0 … C_m, shape ``(n_runs, m + 1)`` (``(m + 1,)`` for a single run), where m = n
        unless the run diverged.
    executed
        The executed movements C_n + ε_n for n = 0 … m − 1 (same leading shape).
    regime
        :func:`cerebellar_regime` of k.
    diverged
        True for k >= 2 (the rule does not converge).
    diverged_at
        The step at which |C − C_opt| first exceeded ``divergence_factor`` × the initial
        error scale, where the run was stopped; ``None`` when that did not happen within n
        steps (always for k < 2; for k = 2 without noise the error keeps its size).
    """

    c: np.ndarray
    executed: np.ndarray
    c_opt: float
    k: float
    regime: str
    diverged: bool
    diverged_at: int | None


def simulate_cerebellar(
    c0: float, c_opt: float, k: float, n: int, *, state_noise: float = 0.0,
    motor_noise: float = 0.0, n_runs: int | None = None, seed: Any = None,
    divergence_factor: float = 1e6,
) -> CerebellarResult:
    r"""Run the (noisy) cerebellar rule C_{n+1} = C_n − k(C_n + ε_n − C_opt) + ξ_n.

    ε_n ~ N(0, ``motor_noise``²) corrupts the executed movement (and so the observed error),
    ξ_n ~ N(0, ``state_noise``²) the update. ``n_runs`` independent runs are vectorized.
    The run stops when |C − C_opt| exceeds ``divergence_factor`` × max(|C_0 − C_opt|, noise
    sd, tiny) and the result says so; it never fills arrays with inf.

    >>> res = simulate_cerebellar(0.0, 1.0, 2.5, 100)
    >>> res.regime, res.diverged, res.diverged_at, res.c.shape
    ('divergent', True, 35, (35,))
    """
    x0 = check_scalar("c0", c0)
    copt = check_scalar("c_opt", c_opt)
    kk = float(_check_k(check_scalar("k", k)))
    steps = check_int("n", n, minimum=0)
    sx = check_scalar("state_noise", state_noise)
    su = check_scalar("motor_noise", motor_noise)
    if sx < 0 or su < 0:
        raise ValueError(f"state_noise and motor_noise must be >= 0, got {sx!r}, {su!r}")
    runs = 1 if n_runs is None else check_int("n_runs", n_runs, minimum=1)
    factor = check_scalar("divergence_factor", divergence_factor)
    if factor <= 1:
        raise ValueError(f"divergence_factor must be > 1, got {factor!r}")
    rng = as_rng(seed)
    limit = factor * max(abs(x0 - copt), sx, su, 1e-300)
    c = np.empty((runs, steps + 1))
    executed = np.empty((runs, steps))
    c[:, 0] = x0
    stop: int | None = None
    for i in range(steps):
        eps = su * rng.standard_normal(runs) if su > 0 else 0.0
        xi = sx * rng.standard_normal(runs) if sx > 0 else 0.0
        executed[:, i] = c[:, i] + eps
        c[:, i + 1] = c[:, i] - kk * (executed[:, i] - copt) + xi
        if np.any(np.abs(c[:, i + 1] - copt) > limit):
            stop = i + 1
            break
    if stop is not None:
        c, executed = c[:, :stop], executed[:, : stop - 1]
    if n_runs is None:
        c, executed = c[0], executed[0]
    regime = cerebellar_regime(kk)
    return CerebellarResult(c=c, executed=executed, c_opt=copt, k=kk, regime=regime,
                            diverged=regime == "divergent", diverged_at=stop)


@dataclass(frozen=True)
class CerebellarFit:
    """Least-squares fit of the cerebellar rule to an observed trajectory C_0 … C_n."""

    k: float
    c0: float
    c_opt: float
    rms: float
    regime: str


def fit_cerebellar_rate(trajectory: ArrayLike, *, c_opt: float | None = None) -> CerebellarFit:
    r"""Fit k (and C_0, and C_opt unless given) to observed C_0 … C_n by least squares.

    Minimizes Σ(C_opt + (1 − k)^n (C_0 − C_opt) − Cₙ)² with ``scipy.optimize.least_squares``
    over k in (0, 3], from several starting rates (monotone, oscillating), keeping the best.

    >>> traj = cerebellar_trajectory(0.0, 1.0, 0.3, 20)
    >>> fit = fit_cerebellar_rate(traj)
    >>> round(fit.k, 6), round(fit.c_opt, 6), fit.regime
    (0.3, 1.0, 'monotone')
    """
    from scipy.optimize import least_squares

    y = check_finite("trajectory", trajectory)
    if y.ndim != 1 or y.size < 3:
        raise ValueError(f"trajectory must be 1-D with at least 3 values, got shape {y.shape}")
    fixed = None if c_opt is None else check_scalar("c_opt", c_opt)
    n = np.arange(y.size, dtype=float)

    def model(x: np.ndarray) -> np.ndarray:
        k, c0 = x[0], x[1]
        co = fixed if fixed is not None else x[2]
        return co + (1.0 - k) ** n * (c0 - co)

    def residuals(x: np.ndarray) -> np.ndarray:
        return model(x) - y

    scale = max(float(np.ptp(y)), 1e-12)
    best = None
    for k0 in (0.05, 0.3, 0.8, 1.3, 1.8):
        x0 = [k0, y[0]] + ([] if fixed is not None else [y[-1]])
        lo = [1e-9, -np.inf] + ([] if fixed is not None else [-np.inf])
        hi = [3.0, np.inf] + ([] if fixed is not None else [np.inf])
        sol = least_squares(residuals, x0, bounds=(lo, hi), x_scale=[0.1, scale] +
                            ([] if fixed is not None else [scale]), xtol=1e-15, ftol=1e-15,
                            gtol=1e-15)
        if best is None or sol.cost < best.cost:
            best = sol
    assert best is not None
    k, c0 = float(best.x[0]), float(best.x[1])
    co = fixed if fixed is not None else float(best.x[2])
    return CerebellarFit(k=k, c0=c0, c_opt=co, rms=float(np.sqrt(np.mean(best.fun**2))),
                         regime=cerebellar_regime(k))


# -- the two-rate (fast/slow) model of motor adaptation ------------------------------------


@dataclass(frozen=True)
class TwoRateParams:
    """Parameters of the two-rate model (Smith, Ghazizadeh & Shadmehr, PLoS Biol 2006).

    x_f ← A_f x_f + B_f e,  x_s ← A_s x_s + B_s e,  output x = x_f + x_s, error e = f − x.
    The fast process learns faster and forgets faster: 0 < A_f < A_s < 1 and
    0 < B_s < B_f < 1. Defaults are the values of that paper.
    """

    a_fast: float = 0.92
    b_fast: float = 0.03
    a_slow: float = 0.996
    b_slow: float = 0.004

    def __post_init__(self) -> None:
        for name in ("a_fast", "b_fast", "a_slow", "b_slow"):
            v = check_scalar(name, getattr(self, name))
            check_in_interval(name, v, 0.0, 1.0, low_closed=False, high_closed=False)
            object.__setattr__(self, name, v)
        if not self.a_fast < self.a_slow:
            raise ValueError(
                f"the fast process must forget faster: need a_fast < a_slow, got "
                f"a_fast={self.a_fast!r}, a_slow={self.a_slow!r}"
            )
        if not self.b_fast > self.b_slow:
            raise ValueError(
                f"the fast process must learn faster: need b_fast > b_slow, got "
                f"b_fast={self.b_fast!r}, b_slow={self.b_slow!r}"
            )

    @property
    def retention(self) -> tuple[float, float]:
        return (self.a_fast, self.a_slow)

    @property
    def rate(self) -> tuple[float, float]:
        return (self.b_fast, self.b_slow)


@dataclass(frozen=True)
class AdaptationResult:
    """A run of a multi-rate state-space model of adaptation.

    ``states[n]`` is the state (one column per process) at the start of trial n, ``output[n]``
    = its sum (the adaptation expressed on trial n), ``error[n]`` the error the learner
    experienced (f_n − output_n; 0 on error-clamp trials). ``diverged``/``diverged_at`` as
    elsewhere (the arrays end at the divergence).
    """

    states: np.ndarray
    output: np.ndarray
    error: np.ndarray
    perturbation: np.ndarray
    error_clamp: np.ndarray
    diverged: bool
    diverged_at: int | None

    @property
    def fast(self) -> np.ndarray:
        """The first process (the fast one of the two-rate model)."""
        return self.states[..., 0]

    @property
    def slow(self) -> np.ndarray:
        """The last process (the slow one of the two-rate model)."""
        return self.states[..., -1]


def simulate_adaptation(
    perturbation: ArrayLike, retention: Sequence[float], rate: Sequence[float], *,
    error_clamp: ArrayLike | None = None, initial: Sequence[float] | None = None,
    divergence_bound: float = 1e6,
) -> AdaptationResult:
    r"""The m-rate state-space model: x_i ← A_i x_i + B_i e_n, e_n = f_n − Σx_i (0 if clamped).

    One process (m = 1) with A = 1 is the cerebellar rule with C_opt = f and k = B; two are
    the fast/slow model (:func:`simulate_two_rate`). On error-clamp trials the learner sees
    no error (e = 0) and the states only decay.

    >>> res = simulate_adaptation(np.ones(3), retention=[1.0], rate=[0.5])
    >>> res.output
    array([0.  , 0.5 , 0.75])
    """
    f = check_finite("perturbation", perturbation).ravel()
    A = check_finite("retention", retention).ravel()
    B = check_finite("rate", rate).ravel()
    if A.size == 0 or A.shape != B.shape:
        raise ValueError(
            f"retention and rate must be non-empty with one entry per process, got "
            f"{A.size} and {B.size}"
        )
    if np.any(A <= 0) or np.any(A > 1):
        raise ValueError(f"retention factors must lie in (0, 1], got {A.tolist()}")
    if np.any(B <= 0):
        raise ValueError(f"rates must be > 0, got {B.tolist()}")
    if error_clamp is None:
        clamp = np.zeros(f.size, dtype=bool)
    else:
        clamp = np.asarray(error_clamp)
        if clamp.dtype != bool or clamp.shape != f.shape:
            raise ValueError(
                f"error_clamp must be a bool array shaped like perturbation {f.shape}, got "
                f"{clamp.dtype} {clamp.shape}"
            )
    x = np.zeros(A.size) if initial is None else check_finite("initial", initial).ravel()
    if x.shape != A.shape:
        raise ValueError(f"initial must have one entry per process ({A.size}), got {x.size}")
    bound = check_scalar("divergence_bound", divergence_bound)
    N = f.size
    states = np.empty((N, A.size))
    err = np.empty(N)
    stop = None
    # A plain-float loop: the recursion is sequential and the state is tiny, so Python floats
    # beat small numpy arrays by an order of magnitude (the fits call this many times).
    a_l, b_l, x_l = A.tolist(), B.tolist(), x.tolist()
    f_l, c_l = f.tolist(), clamp.tolist()
    m = len(a_l)
    for i in range(N):
        states[i] = x_l
        e = 0.0 if c_l[i] else f_l[i] - sum(x_l)
        err[i] = e
        x_l = [a_l[j] * x_l[j] + b_l[j] * e for j in range(m)]
        if not all(abs(v) <= bound for v in x_l):
            stop = i + 1
            break
    end = N if stop is None else stop
    return AdaptationResult(states=states[:end], output=states[:end].sum(axis=1),
                            error=err[:end], perturbation=f[:end], error_clamp=clamp[:end],
                            diverged=stop is not None, diverged_at=stop)


def simulate_two_rate(perturbation: ArrayLike, params: TwoRateParams | None = None, *,
                      error_clamp: ArrayLike | None = None,
                      initial: Sequence[float] | None = None) -> AdaptationResult:
    """The two-rate model (:class:`TwoRateParams`) driven by ``perturbation``.

    >>> res = simulate_two_rate(np.ones(200))
    >>> round(float(res.output[-1]), 3), round(float(res.fast[-1]), 3), round(float(res.slow[-1]), 3)
    (0.505, 0.188, 0.316)
    """
    p = TwoRateParams() if params is None else params
    if not isinstance(p, TwoRateParams):
        raise TypeError(f"params must be a TwoRateParams, got {params!r}")
    return simulate_adaptation(perturbation, p.retention, p.rate, error_clamp=error_clamp,
                               initial=initial)


def _run_until(x: np.ndarray, A: np.ndarray, B: np.ndarray, f: float, max_trials: int,
               stop: Callable[[float], bool]) -> tuple[list[np.ndarray], np.ndarray]:
    states = []
    for _ in range(max_trials):
        if stop(float(x.sum())):
            break
        states.append(x.copy())
        x = A * x + B * (f - x.sum())
    return states, x


@dataclass(frozen=True)
class SpontaneousRecoveryResult:
    """Adaptation (f = +1), de-adaptation (f = −1) until the output is back at 0, error clamp.

    ``run`` holds the whole sequence; ``n_adapt``/``n_deadapt``/``n_clamp`` the phase lengths;
    ``rebound`` the largest output during the clamp (spontaneous recovery toward the first
    adaptation) and ``rebound_trial`` its clamp trial index.
    """

    run: AdaptationResult
    n_adapt: int
    n_deadapt: int
    n_clamp: int
    rebound: float
    rebound_trial: int


def spontaneous_recovery(retention: Sequence[float] | None = None,
                         rate: Sequence[float] | None = None, *, n_adapt: int = 200,
                         n_clamp: int = 200, max_deadapt: int = 1000) -> SpontaneousRecoveryResult:
    r"""The spontaneous-recovery paradigm on an m-rate model (default: the two-rate model).

    After long adaptation the slow state holds most of the learning; a short de-adaptation
    drives the fast state negative until the output is 0; in the error clamp the fast state
    decays quickly and the remaining slow state shows up as a rebound toward the first
    adaptation. A single-rate model (one process) has no rebound.

    >>> sr = spontaneous_recovery()
    >>> sr.n_deadapt, round(sr.rebound, 3)
    (14, 0.191)
    """
    p = TwoRateParams()
    A = check_finite("retention", p.retention if retention is None else retention).ravel()
    B = check_finite("rate", p.rate if rate is None else rate).ravel()
    n_a = check_int("n_adapt", n_adapt, minimum=1)
    n_c = check_int("n_clamp", n_clamp, minimum=1)
    max_d = check_int("max_deadapt", max_deadapt, minimum=1)
    adapt = simulate_adaptation(np.ones(n_a), A, B)
    x = adapt.states[-1]
    x = A * x + B * (1.0 - x.sum())
    if x.sum() <= 0:
        raise ValueError("adaptation left the output at or below 0; nothing to de-adapt")
    dea, _ = _run_until(x, A, B, -1.0, max_d, lambda out: out <= 0.0)
    n_d = len(dea)
    if n_d == max_d:
        raise ValueError(f"de-adaptation did not bring the output to 0 in {max_d} trials")
    f = np.concatenate([np.ones(n_a), -np.ones(n_d), np.zeros(n_c)])
    clamp = np.concatenate([np.zeros(n_a + n_d, dtype=bool), np.ones(n_c, dtype=bool)])
    run = simulate_adaptation(f, A, B, error_clamp=clamp)
    clamp_out = run.output[n_a + n_d:]
    i = int(np.argmax(clamp_out))
    return SpontaneousRecoveryResult(run=run, n_adapt=n_a, n_deadapt=n_d, n_clamp=n_c,
                                     rebound=float(clamp_out[i]), rebound_trial=i)


@dataclass(frozen=True)
class SavingsResult:
    """Naive adaptation vs re-adaptation after adapt + de-adapt (washout of the output to 0).

    ``naive`` and ``relearn`` are the outputs over the ``n_relearn`` trials of each;
    ``trials_naive``/``trials_relearn`` the trials until the output first reaches
    ``criterion`` (``None`` if it never does); ``savings`` = 1 − trials_relearn/trials_naive.
    """

    naive: np.ndarray
    relearn: np.ndarray
    criterion: float
    trials_naive: int | None
    trials_relearn: int | None
    n_deadapt: int

    @property
    def savings(self) -> float:
        if not self.trials_naive or self.trials_relearn is None:
            raise ValueError("a learning curve never reached the criterion; no savings ratio")
        return 1.0 - self.trials_relearn / self.trials_naive


def savings(retention: Sequence[float] | None = None, rate: Sequence[float] | None = None, *,
            n_adapt: int = 200, n_relearn: int = 200, criterion: float = 0.3,
            max_deadapt: int = 1000) -> SavingsResult:
    r"""Savings: re-learning after de-adaptation is faster than naive learning.

    Naive: f = +1 from a zero state. Relearn: adapt (``n_adapt`` trials at +1), de-adapt at −1
    until the output is back at 0, then +1 again. With two rates the slow state still holds
    the first adaptation when the output is 0 (the fast state cancels it), so relearning
    starts ahead. A single-rate model returns to the naive state and shows no savings.

    >>> s = savings()
    >>> s.trials_naive, s.trials_relearn, s.n_deadapt
    (21, 9, 14)
    """
    p = TwoRateParams()
    A = check_finite("retention", p.retention if retention is None else retention).ravel()
    B = check_finite("rate", p.rate if rate is None else rate).ravel()
    n_a = check_int("n_adapt", n_adapt, minimum=1)
    n_r = check_int("n_relearn", n_relearn, minimum=1)
    crit = check_scalar("criterion", criterion)
    max_d = check_int("max_deadapt", max_deadapt, minimum=1)
    naive = simulate_adaptation(np.ones(n_r), A, B).output
    adapt = simulate_adaptation(np.ones(n_a), A, B)
    x = adapt.states[-1]
    x = A * x + B * (1.0 - x.sum())
    dea, x = _run_until(x, A, B, -1.0, max_d, lambda out: out <= 0.0)
    if len(dea) == max_d:
        raise ValueError(f"de-adaptation did not bring the output to 0 in {max_d} trials")
    relearn = simulate_adaptation(np.ones(n_r), A, B, initial=x).output

    def first(curve: np.ndarray) -> int | None:
        hit = np.nonzero(curve >= crit)[0]
        return int(hit[0]) if hit.size else None

    return SavingsResult(naive=naive, relearn=relearn, criterion=crit,
                         trials_naive=first(naive), trials_relearn=first(relearn),
                         n_deadapt=len(dea))


@dataclass(frozen=True)
class TwoRateFit:
    """Least-squares fit of the two-rate model to an observed output sequence.

    ``n_evaluations``: model simulations used, over all starting points (including the
    finite-difference Jacobians).
    """

    params: TwoRateParams
    rms: float
    n_evaluations: int


def fit_two_rate(perturbation: ArrayLike, output: ArrayLike, *,
                 error_clamp: ArrayLike | None = None,
                 starts: Sequence[TwoRateParams] | None = None) -> TwoRateFit:
    r"""Fit (A_f, B_f, A_s, B_s) to an observed output sequence by least squares.

    The ordering 0 < A_f < A_s < 1, 0 < B_s < B_f < 1 is built into the parametrization
    A_s = A_f + u(1 − A_f), B_f = B_s + v(1 − B_s) with A_f, u, B_s, v in (0, 1), which
    ``scipy.optimize.least_squares`` handles as box bounds. Several starting points (the
    defaults of :class:`TwoRateParams` and variants, or ``starts``) are tried and the best fit
    kept. Identifiability needs a rich paradigm: adaptation, de-adaptation and an error clamp
    (e.g. :func:`spontaneous_recovery`) pin down all four parameters, a single adaptation
    curve does not.
    """
    from scipy.optimize import least_squares

    f = check_finite("perturbation", perturbation).ravel()
    y = check_finite("output", output).ravel()
    if y.shape != f.shape or y.size < 5:
        raise ValueError(
            f"output must have one value per trial ({f.size}), at least 5, got {y.size}"
        )
    clamp = None if error_clamp is None else np.asarray(error_clamp)
    if starts is None:
        starts = (TwoRateParams(), TwoRateParams(0.8, 0.1, 0.99, 0.01),
                  TwoRateParams(0.95, 0.05, 0.999, 0.002), TwoRateParams(0.6, 0.2, 0.98, 0.02))
    eps = 1e-9

    def unpack(z: np.ndarray) -> tuple[float, float, float, float]:
        af, u, bs, v = (float(t) for t in z)
        return af, bs + v * (1.0 - bs), af + u * (1.0 - af), bs

    def residuals(z: np.ndarray) -> np.ndarray:
        af, bf, as_, bs = unpack(z)
        run = simulate_adaptation(f, (af, as_), (bf, bs), error_clamp=clamp)
        if run.diverged:
            return np.full(y.size, 1e6)
        return run.output - y

    best, nfev = None, 0
    for s in starts:
        if not isinstance(s, TwoRateParams):
            raise TypeError(f"starts must hold TwoRateParams, got {s!r}")
        z0 = [s.a_fast, (s.a_slow - s.a_fast) / (1 - s.a_fast), s.b_slow,
              (s.b_fast - s.b_slow) / (1 - s.b_slow)]
        sol = least_squares(residuals, z0, bounds=([eps] * 4, [1 - eps] * 4), xtol=1e-14,
                            ftol=1e-14, gtol=1e-14, x_scale=[0.05, 0.05, 0.005, 0.05],
                            max_nfev=2000)
        nfev += int(sol.nfev) + 4 * int(sol.njev or 0)  # finite-difference Jacobians: 4 each
        if best is None or sol.cost < best.cost:
            best = sol
    assert best is not None
    af, bf, as_, bs = unpack(best.x)
    return TwoRateFit(params=TwoRateParams(af, bf, as_, bs),
                      rms=float(np.sqrt(np.mean(best.fun**2))), n_evaluations=nfev)
