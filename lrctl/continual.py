r"""Stability–plasticity ODEs: learning a new task while forgetting an old one, driven by η(t).

While a model learns a new task its performance P on that task rises and its retention R of an
old task decays. With the learning rate η(t) as the only input,

    dP/dt = a·η(t)·(1 − P),      dR/dt = −b·η(t)²·R          (``model="saturating"``)
    dP/dt = a·η(t),              dR/dt = −b·η(t)²            (``model="linear"``)

(a = ``plasticity``, b = ``forgetting``; any other right-hand side in η(t) can be passed as a
callable). Learning moves the weights in proportion to η, forgetting of the old task is driven
by the gradient noise, whose effect per step grows as η². The saturating model solves in closed
form, P = 1 − (1 − P₀)·exp(−a∫η), R = R₀·exp(−b∫η²), so at a fixed horizon a schedule enters only
through ∫η and ∫η² (:func:`lrctl.schedules.integral`). :func:`simulate_stability_plasticity`
integrates the ODE with ``scipy.integrate.solve_ivp``; :func:`compare_schedules` puts schedules
on the plasticity–retention plane; :func:`train_two_tasks` (real training through
:func:`lrctl.training.run`) and :func:`fit_stability_plasticity` check the model on two
class-splits of the digits data.

What the model implies, honestly: by Cauchy–Schwarz, for a fixed ∫η over a horizon T the
constant rate η = ∫η/T minimizes ∫η² (:func:`derive_constant_rate_optimality`). So a decaying
schedule beats a constant *high* rate on retention, but the constant rate of *equal plasticity*
beats every non-constant schedule: in this model the constant-rate curve is the Pareto frontier.

Symbols: ``eta`` learning rate, ``a``/``b`` plasticity/forgetting.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl import schedules as _sched
from lrctl._repr import summary_repr
from lrctl._validation import (
    _is_bool,
    as_rng,
    check_choice,
    check_finite,
    check_in_interval,
    check_int,
    check_output,
    check_positive,
    check_scalar,
)
from lrctl.training import Constant, Scheduled, run

__all__ = [
    "PredictionAgreement",
    "ScheduleComparison",
    "StabilityPlasticityFit",
    "StabilityPlasticityResult",
    "TwoTaskResult",
    "closed_form_stability_plasticity",
    "compare_schedules",
    "constant_rate_frontier",
    "derive_constant_rate_optimality",
    "derive_stability_plasticity",
    "equal_plasticity_constant",
    "fit_stability_plasticity",
    "pareto_front",
    "prediction_agreement",
    "simulate_stability_plasticity",
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


#: Largest stiffness index S = T·max_t max(a·|η(t)|, b·η(t)²) a solve accepts. An explicit
#: Runge–Kutta step must keep h·λ within its stability interval (|h·λ| <~ 3.3 for RK45), so the
#: solve takes at least S/3.3 steps: at 1e5 that is ~3e4 steps, ~2e5 right-hand-side
#: evaluations, a few seconds. Larger S is refused instead of hanging (a closed form exists
#: for the built-in models: :func:`closed_form_stability_plasticity`).
MAX_STIFFNESS = 1e5
#: Hard cap on right-hand-side evaluations per solve (a custom model may be stiffer than the
#: estimate): the solve stops with a ``ValueError`` instead of running on.
MAX_RHS_EVALUATIONS = 1_000_000


#: Most schedule breakpoints (restarts, steps) a horizon may span: the quadratures and the
#: piecewise solve need them all, and a periodic schedule over a huge horizon would otherwise
#: allocate one entry per period (e.g. 3·10¹⁰ steps of a step decay over T = 1e12).
MAX_BREAKPOINTS = 1_000_000
#: Longest task-B training :func:`train_two_tasks` runs (its minibatch indices, horizon ×
#: batch_size integers per seed, are drawn up front).
MAX_TRAINING_STEPS = 1_000_000


def _breakpoints(sched: Any, T: float, name: str) -> np.ndarray:
    """The schedule's breakpoints in (0, T), refused (named) when there are more than
    :data:`MAX_BREAKPOINTS`: the count is found by doubling a probe horizon from 1, so no
    call ever materializes more than about 2·MAX_BREAKPOINTS of them."""
    probe = min(T, 1.0)
    while True:
        br = np.asarray(sched.breakpoints_in(probe), dtype=float)
        if br.size > MAX_BREAKPOINTS:
            raise ValueError(
                f"{name} = {T!r} spans more than {MAX_BREAKPOINTS} breakpoints of the schedule "
                "(restarts or steps); shorten it"
            )
        if probe >= T:
            return br
        probe = min(T, 2.0 * probe)


def _peak_rate(sched: Any, T: float, a: float, b: float, br: np.ndarray) -> float:
    """max over a grid of [0, T] and the schedule's breakpoints ``br`` of max(a·|η|, b·η²)."""
    grid = np.concatenate([np.linspace(0.0, T, 1025), br[:4096]])
    with np.errstate(over="ignore", invalid="ignore"):
        eta = np.abs(np.asarray(sched(grid), dtype=float))
        rate = np.maximum(a * eta, b * eta * eta)
    if not np.all(np.isfinite(eta)):
        raise ValueError("schedule returns a non-finite learning rate on [0, horizon]")
    peak = float(np.max(rate)) if rate.size else 0.0
    return peak if np.isfinite(peak) else np.inf


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

    __repr__ = summary_repr

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

    Horizons that would not finish are refused: the stiffness index
    S = T·max_t max(a·|η(t)|, b·η(t)²) (η sampled at 1025 points and the breakpoints) must be
    at most :data:`MAX_STIFFNESS` = 1e5 (the explicit solver needs at least S/3.3 steps), and a
    solve that needs more than :data:`MAX_RHS_EVALUATIONS` = 10⁶ right-hand-side evaluations
    stops with a ``ValueError``.

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
    if _is_bool(max_step) or not isinstance(max_step, numbers.Real) or not max_step > 0:
        raise ValueError(f"max_step must be a positive number (np.inf for no limit), got {max_step!r}")
    if not (isinstance(method, str) or isinstance(method, type)):
        raise TypeError(f"method must be the name of a solve_ivp method (e.g. 'RK45') or an "
                        f"OdeSolver class, got {method!r}")
    bound = check_scalar("divergence_bound", divergence_bound)
    if bound <= 0:
        raise ValueError(f"divergence_bound must be > 0, got {bound!r}")
    if t_eval is None:
        n = check_int("n_points", n_points, minimum=2)
        t_out = np.linspace(0.0, T, n)
    else:
        t_out = check_finite("t_eval", t_eval)
        if t_out.ndim != 1:
            raise ValueError(f"t_eval must be a 1-D sequence of times, got shape {t_out.shape}")
        if t_out.size == 0 or np.any(t_out < 0) or np.any(t_out > T) or np.any(np.diff(t_out) < 0):
            raise ValueError(f"t_eval must be a non-empty increasing sequence in [0, {T!r}]")

    breaks = _breakpoints(sched, T, "horizon")
    stiffness = T * _peak_rate(sched, T, a, b, breaks)
    if not stiffness <= MAX_STIFFNESS:
        raise ValueError(
            f"horizon × max(plasticity·η, forgetting·η²) = {stiffness:.3g} exceeds "
            f"{MAX_STIFFNESS:g}: the solve would not finish (at least {MAX_STIFFNESS / 3.3:.0f} "
            "solver steps). Shorten horizon, lower plasticity/forgetting, or use "
            "closed_form_stability_plasticity"
        )
    calls = [0]

    def f(t: float, y: np.ndarray) -> list[float]:
        calls[0] += 1
        if calls[0] > MAX_RHS_EVALUATIONS:
            raise ValueError(
                f"the solve needed more than {MAX_RHS_EVALUATIONS} right-hand-side evaluations "
                "(a stiff model): shorten horizon or lower plasticity/forgetting"
            )
        eta = sched.at(t)
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
        lr=np.asarray(sched(t_keep)), schedule=sched, horizon=T, plasticity_rate=a,
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
    try:
        np.broadcast_shapes(tt.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"t, plasticity and forgetting must broadcast together, got shapes "
                         f"{tt.shape}, {a.shape}, {b.shape}") from None
    if tt.size:
        _breakpoints(sched, float(np.max(tt)), "t")
    i1 = np.asarray(_sched.integral(sched, tt, power=1))
    i2 = np.asarray(_sched.integral(sched, tt, power=2))
    with np.errstate(over="ignore", invalid="ignore"):
        if model == "saturating":
            P = 1.0 - (1.0 - P0) * np.exp(-a * i1)
            R = R0 * np.exp(-b * i2)
        else:
            P = P0 + a * i1
            R = R0 - b * i2
    check_output(P, "t, plasticity (a·∫η overflows)")
    check_output(R, "t, forgetting (b·∫η² overflows)")
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
    _breakpoints(_sched.as_schedule(schedule), T, "horizon")
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
    with np.errstate(over="ignore", invalid="ignore"):
        if model == "saturating":
            P, R = 1.0 - (1.0 - P0) * np.exp(-a * eta * T), R0 * np.exp(-b * eta * eta * T)
        else:
            P, R = P0 + a * eta * T, R0 - b * eta * eta * T
    check_output(P, "lr, horizon, plasticity (a·η·T overflows)")
    check_output(R, "lr, horizon, forgetting (b·η²·T overflows)")
    return P, R


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

    __repr__ = summary_repr

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
    tt = check_positive("t", t, allow_zero=True)
    P = check_finite("plasticity", plasticity)
    R = check_finite("retention", retention)
    if tt.ndim != 1 or tt.size < 2 or P.shape != tt.shape or R.shape != tt.shape:
        raise ValueError(
            f"t, plasticity and retention must be 1-D with equal length >= 2, got "
            f"{tt.shape}, {P.shape}, {R.shape}"
        )
    if np.any(np.diff(tt) <= 0):
        raise ValueError("t must be strictly increasing")
    _breakpoints(sched, float(tt[-1]), "t")
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

    __repr__ = summary_repr

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
    one stacked parameter array (one :func:`lrctl.training.run` with a
    :class:`lrctl.training.Scheduled` policy over the K schedules; a run that diverges is an
    error). Test accuracies on A and B are recorded at
    ``n_checkpoints`` equally spaced steps and averaged over ``n_seeds`` minibatch sequences.
    """
    from lrctl.objectives import _DATASETS, SoftmaxRegression, split_dataset

    if not isinstance(schedules, Mapping) or len(schedules) == 0:
        raise TypeError(f"schedules must be a non-empty mapping name -> schedule, got {schedules!r}")
    names = tuple(str(k) for k in schedules)
    scheds = tuple(_sched.as_schedule(s) for s in schedules.values())
    T = check_int("horizon", horizon, minimum=1)
    if T > MAX_TRAINING_STEPS:
        raise ValueError(f"horizon must be at most {MAX_TRAINING_STEPS} SGD steps (the minibatch "
                         f"indices are drawn up front), got {T}")
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

    check_choice("dataset", dataset, _DATASETS)
    test_fraction = check_scalar("test_fraction", test_fraction)
    Xtr, ytr, Xte, yte = split_dataset(dataset, test_fraction=test_fraction, seed=0)
    n_classes = int(max(ytr.max(), yte.max()) + 1)
    if not 1 <= n_a < n_classes:
        raise ValueError(f"n_classes_a must lie in [1, {n_classes - 1}], got {n_a}")
    in_a_tr, in_a_te = ytr < n_a, yte < n_a
    task_a = SoftmaxRegression(Xtr[in_a_tr], ytr[in_a_tr], n_classes=n_classes, l2=l2)
    test_a = SoftmaxRegression(Xte[in_a_te], yte[in_a_te], n_classes=n_classes)
    test_b = SoftmaxRegression(Xte[~in_a_te], yte[~in_a_te], n_classes=n_classes)
    XB, yB = Xtr[~in_a_tr], ytr[~in_a_tr]
    theta = run(task_a, Constant(lr_a), steps_a, theta0=np.zeros(task_a.dim)).theta
    acc_a0 = float(test_a.accuracy(theta))
    if acc_a0 <= 0:
        raise RuntimeError("phase A left task A at zero accuracy; raise pretrain_steps")

    checkpoints = np.unique(np.round(np.linspace(0, T, n_ck)).astype(int))
    K = len(scheds)
    task_b = SoftmaxRegression(XB, yB, n_classes=n_classes, l2=l2)
    acc_b = np.empty((n_seeds, K, checkpoints.size))
    acc_a = np.empty((n_seeds, K, checkpoints.size))
    for r in range(n_seeds):
        rows = rng.integers(0, yB.size, size=(T, bs))
        batches = (SoftmaxRegression(XB[idx], yB[idx], n_classes=n_classes, l2=l2) for idx in rows)
        runs = run(task_b, Scheduled(list(scheds)), T, theta0=theta, batches=batches,
                   snapshot_at=checkpoints)
        for i, res in enumerate(runs):
            if res.diverged:
                raise ValueError(f"the task-B run under schedule {names[i]!r} diverged at step "
                                 f"{res.diverged_at}: lower the learning rate of schedules"
                                 f"[{names[i]!r}] or l2 = {l2!r}")
            acc_b[r, i] = test_b.accuracy(res.snapshots)
            acc_a[r, i] = test_a.accuracy(res.snapshots)
    return TwoTaskResult(
        names=names, schedules=scheds, steps=checkpoints.astype(float),
        new_task_accuracy=acc_b.mean(axis=0), old_task_accuracy=acc_a.mean(axis=0),
        new_task_std=acc_b.std(axis=0), old_task_std=acc_a.std(axis=0),
        old_task_initial=acc_a0, n_seeds=n_seeds, batch_size=bs,
        classes_a=tuple(range(n_a)), classes_b=tuple(range(n_a, n_classes)),
    )
