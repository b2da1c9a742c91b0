r"""The cerebellar update rule C_{n+1} = C_n − k(C_n − C_opt) and its relatives.

The rule (:func:`cerebellar_trajectory`) is gradient descent on ½(C − C_opt)² with η = k
(:func:`derive_cerebellar_gd_identity`): monotone for 0 < k <= 1, oscillating for 1 < k < 2,
divergent for k >= 2 (:func:`cerebellar_regime`). Its relatives: the continuous-time limit
dC/dt = −k(C − C_opt), the rule with motor and state noise (steady-state variance
:func:`cerebellar_noise_variance`, noise-optimal rate :func:`optimal_cerebellar_rate` = the
steady-state Kalman gain), the two-rate fast/slow model of motor adaptation (Smith, Ghazizadeh
& Shadmehr 2006) with savings and spontaneous recovery, and least-squares fits of k and of the
two-rate parameters.

Symbols: ``k`` the cerebellar rate, ``c_opt`` the optimum.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._repr import summary_repr
from lrctl._validation import (
    as_rng,
    check_finite,
    check_in_interval,
    check_int,
    check_output,
    check_positive,
    check_scalar,
    scalar_or_array,
)
from lrctl.training import Divergence

__all__ = [
    "AdaptationResult",
    "CerebellarFit",
    "CerebellarResult",
    "SavingsResult",
    "SpontaneousRecoveryResult",
    "TwoRateFit",
    "TwoRateParams",
    "cerebellar_closed_form",
    "cerebellar_continuous",
    "cerebellar_noise_variance",
    "cerebellar_regime",
    "cerebellar_trajectory",
    "derive_cerebellar_continuous_limit",
    "derive_cerebellar_gd_identity",
    "derive_cerebellar_noise",
    "fit_cerebellar_rate",
    "fit_two_rate",
    "optimal_cerebellar_rate",
    "savings",
    "simulate_adaptation",
    "simulate_cerebellar",
    "simulate_two_rate",
    "spontaneous_recovery",
]

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


def _broadcast(**named: np.ndarray) -> list[np.ndarray]:
    """``np.broadcast_arrays`` of the named arrays, or a ``ValueError`` naming them."""
    try:
        return list(np.broadcast_arrays(*named.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in named.items())
        raise ValueError(f"{', '.join(named)} must broadcast together, got shapes {shapes}") from None


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


def cerebellar_trajectory(c0: ArrayLike, c_opt: ArrayLike, k: ArrayLike, steps: int) -> np.ndarray:
    r"""C_0, …, C_n (n = ``steps``) of the cerebellar rule C_{n+1} = C_n − k(C_n − C_opt).

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
    steps = check_int("steps", steps, minimum=0)
    c, copt, kk = _broadcast(c0=c0a, c_opt=copt, k=kk)
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
    c0a, copt, kk, nn = _broadcast(c0=c0a, c_opt=copt, k=kk, n=nn)
    with np.errstate(over="ignore", invalid="ignore"):
        out = copt + (1.0 - kk) ** nn * (c0a - copt)
    if not np.all(np.isfinite(out)):
        raise ValueError("C_n overflows the float range for these c0, c_opt, k, n "
                         "(k >= 2 diverges; huge c0 or c_opt overflow): use fewer steps "
                         "or smaller values")
    return scalar_or_array(out)


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
    c0a, copt, kk, tt = _broadcast(c0=c0a, c_opt=copt, k=kk, t=tt)
    with np.errstate(over="ignore", invalid="ignore"):
        out = copt + (c0a - copt) * np.exp(-kk * tt)
    check_output(out, "c0, c_opt (|C_0 − C_opt| overflows)")
    return scalar_or_array(out)


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
    k >= 2 there is no stationary distribution: a ``ValueError`` (0 < k < 2 required); a
    variance beyond the float range (σ of order 1e154) is a ``ValueError`` too. Broadcasts.

    >>> cerebellar_noise_variance(0.5, state_noise=1.0)      # 1/(0.5·1.5)
    1.3333333333333333
    >>> cerebellar_noise_variance([0.5, 1.0], motor_noise=1.0)   # k/(2 − k)
    array([0.33333333, 1.        ])
    """
    kk = _check_k(k)
    sx = check_positive("state_noise", state_noise, allow_zero=True)
    su = check_positive("motor_noise", motor_noise, allow_zero=True)
    kk, sx, su = _broadcast(k=kk, state_noise=sx, motor_noise=su)
    if np.any(kk >= 2.0):
        raise ValueError(f"k must lie in (0, 2) for a stationary variance (k >= 2 diverges), "
                         f"got {k!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        v = (kk**2 * su**2 + sx**2) / (kk * (2.0 - kk))
    check_output(v, "state_noise, motor_noise (or k near 0)")
    return scalar_or_array(v)


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
    sx = check_positive("state_noise", state_noise, allow_zero=True)
    su = check_positive("motor_noise", motor_noise, allow_zero=True)
    sx, su = _broadcast(state_noise=sx, motor_noise=su)
    if np.any((sx == 0) & (su == 0)):
        raise ValueError("state_noise and motor_noise cannot both be 0 (every rate is optimal)")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # (−x + √(x² + 4ux))/(2u) = 2x/(x + √(x² + 4ux)) = 2/(1 + √(1 + 4r)), r = u/x = (σ_u/σ_x)²:
        # the last form is stable for u → 0 and never squares a huge σ (r = inf gives 0).
        r = np.where(sx > 0, su / np.where(sx > 0, sx, 1.0), 0.0) ** 2
        k = np.where(sx > 0, 2.0 / (1.0 + np.sqrt(1.0 + 4.0 * r)), 0.0)
    return scalar_or_array(k)


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

    __repr__ = summary_repr

    c: np.ndarray
    executed: np.ndarray
    c_opt: float
    k: float
    regime: str
    diverged: bool
    diverged_at: int | None


def simulate_cerebellar(
    c0: float, c_opt: float, k: float, steps: int, *, state_noise: float = 0.0,
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
    steps = check_int("steps", steps, minimum=0)
    sx = check_scalar("state_noise", state_noise)
    su = check_scalar("motor_noise", motor_noise)
    if sx < 0 or su < 0:
        raise ValueError(f"state_noise and motor_noise must be >= 0, got {sx!r}, {su!r}")
    runs = 1 if n_runs is None else check_int("n_runs", n_runs, minimum=1)
    factor = check_scalar("divergence_factor", divergence_factor)
    if factor <= 1:
        raise ValueError(f"divergence_factor must be > 1, got {factor!r}")
    rng = as_rng(seed)
    # The one divergence rule (lrctl.training.Divergence) on the loss ½(C − C_opt)²: the
    # error grown `factor`-fold is the loss grown factor²-fold over ½·max(|C_0 − C_opt|, sd)².
    scale = max(abs(x0 - copt), sx, su, 1e-150)
    if not scale * factor < 1e150:
        raise ValueError(
            "c0, c_opt, state_noise, motor_noise and divergence_factor are too large: the "
            "divergence level divergence_factor·max(|c0 − c_opt|, state_noise, motor_noise) "
            f"must be < 1e150 (its square, a loss, must stay in float range), got {scale * factor!r}"
        )
    loss0 = 0.5 * scale**2
    limit = float(Divergence(factor=factor**2).level(loss0, loss0))
    c = np.empty((runs, steps + 1))
    executed = np.empty((runs, steps))
    c[:, 0] = x0
    stop: int | None = None
    for i in range(steps):
        eps = su * rng.standard_normal(runs) if su > 0 else 0.0
        xi = sx * rng.standard_normal(runs) if sx > 0 else 0.0
        executed[:, i] = c[:, i] + eps
        with np.errstate(over="ignore", invalid="ignore"):
            c[:, i + 1] = c[:, i] - kk * (executed[:, i] - copt) + xi
            grown = ~(0.5 * (c[:, i + 1] - copt) ** 2 <= limit)
        if np.any(grown):
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


#: Largest data magnitude a least-squares fit accepts: squared residuals stay below 1e300.
_FIT_MAX = 1e150


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
    if max(float(np.max(np.abs(y))), abs(fixed or 0.0)) > _FIT_MAX:
        raise ValueError(f"trajectory and c_opt must be at most {_FIT_MAX:g} in magnitude (the "
                         "squared residuals must stay in float range); rescale the data")
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

    __repr__ = summary_repr

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


#: The default rule of this module's simulations (a frozen value, safe to share).
_ADAPTATION_DIVERGENCE = Divergence(factor=1e6)


def simulate_adaptation(
    perturbation: ArrayLike, retention: Sequence[float], rate: Sequence[float], *,
    error_clamp: ArrayLike | None = None, initial: Sequence[float] | None = None,
    divergence: Divergence = _ADAPTATION_DIVERGENCE,
) -> AdaptationResult:
    r"""The m-rate state-space model: x_i ← A_i x_i + B_i e_n, e_n = f_n − Σx_i (0 if clamped).

    One process (m = 1) with A = 1 is the cerebellar rule with C_opt = f and k = B; two are
    the fast/slow model (:func:`simulate_two_rate`). On error-clamp trials the learner sees
    no error (e = 0) and the states only decay.

    The run stops as ``diverged`` at the first trial whose new state has max_i |x_i| above
    ``divergence.level(1, 1)`` (or not finite): the :class:`lrctl.training.Divergence` rule
    applied to a size, not a loss (max_i |x_i| is the quantity, measured against the
    reference 1, one unit of the perturbation; reference ``"initial"``, window 1). The
    default f = 10⁶ with floor 0 is the absolute bound max_i |x_i| > 10⁶.

    >>> res = simulate_adaptation(np.ones(3), retention=[1.0], rate=[0.5])
    >>> res.output
    array([0.  , 0.5 , 0.75])
    """
    f = check_finite("perturbation", perturbation)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"perturbation must be a non-empty 1-D array (one value per trial), "
                         f"got shape {f.shape}")
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
    if not isinstance(divergence, Divergence):
        raise TypeError(f"divergence must be an lrctl.training.Divergence, got {divergence!r}")
    if divergence.reference != "initial" or divergence.window != 1:
        raise ValueError("divergence must use reference='initial' and window=1 here (a bound "
                         f"on the states against the unit reference), got {divergence!r}")
    bound = float(divergence.level(1.0, 1.0))
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

    __repr__ = summary_repr

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

    __repr__ = summary_repr

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
    if not 0.0 < crit < 1.0:
        raise ValueError(f"criterion must lie in (0, 1) (a fraction of the +1 perturbation), "
                         f"got {crit!r}")
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

    f = check_finite("perturbation", perturbation)
    if f.ndim != 1:
        raise ValueError(f"perturbation must be a 1-D array (one value per trial), got shape "
                         f"{f.shape}")
    y = check_finite("output", output)
    if y.shape != f.shape or y.size < 5:
        raise ValueError(
            f"output must have one value per trial of perturbation ({f.size} trials), at "
            f"least 5, got {y.size}"
        )
    if max(float(np.max(np.abs(f))), float(np.max(np.abs(y)))) > _FIT_MAX:
        raise ValueError(f"perturbation and output must be at most {_FIT_MAX:g} in magnitude "
                         "(the squared residuals must stay in float range); rescale the data")
    clamp = None if error_clamp is None else np.asarray(error_clamp)
    if starts is None:
        starts = (TwoRateParams(), TwoRateParams(0.8, 0.1, 0.99, 0.01),
                  TwoRateParams(0.95, 0.05, 0.999, 0.002), TwoRateParams(0.6, 0.2, 0.98, 0.02))
    if isinstance(starts, (str, bytes, dict)) or (not isinstance(starts, Sequence) \
            and not isinstance(starts, np.ndarray)):
        raise TypeError(f"starts must be a non-empty sequence of TwoRateParams, got {starts!r}")
    starts = list(np.ravel(np.asarray(starts, dtype=object))) if isinstance(
        starts, np.ndarray) else list(starts)
    if not starts:
        raise ValueError("starts must hold at least one TwoRateParams, got an empty sequence")
    for s in starts:
        if not isinstance(s, TwoRateParams):
            raise TypeError(f"starts must hold TwoRateParams, got {s!r}")
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
    af, bf, as_, bs = unpack(best.x)
    return TwoRateFit(params=TwoRateParams(af, bf, as_, bs),
                      rms=float(np.sqrt(np.mean(best.fun**2))), n_evaluations=nfev)
