r"""Searching for the learning rate: log-scale random search and Bayesian optimization.

**Log-scale search.** A learning rate is a scale parameter: the good rates of a problem form an
interval [a, b] whose *ratio* b/a is roughly fixed (e.g. a factor of 4 around the best rate),
while its position is unknown over several decades. Sampling η log-uniformly on the search
bounds [η_lo, η_hi] gives every decade the same share of samples, so the chance that one sample
lands in the target is the target's share of the log-range,

.. math::

    p_{\log} = \frac{\ln \min(b, η_{hi}) - \ln \max(a, η_{lo})}{\ln η_{hi} - \ln η_{lo}},

independent of where the target sits. Linear-uniform sampling gives
p_lin = (min(b, η_hi) − max(a, η_lo)) / (η_hi − η_lo), which for a target of fixed ratio
shrinks in proportion to its position: a target near 1e-4 in [1e-6, 1] is hit about 10⁴ times
less often than one near 1. :func:`hit_probability` gives the chance that a search design of n
points hits the target, for four designs (``method``):

``"random"``
    n independent uniform samples (in the chosen ``scale``): P = 1 − (1 − p)ⁿ. The number of
    samples to the first hit is geometric with mean 1/p (:func:`expected_samples_to_hit`).
``"grid"``
    the fixed grid ``np.geomspace(η_lo, η_hi, n)`` (``scale="log"``) or ``np.linspace``
    (``"linear"``), both endpoints included, as ``np.logspace`` users write it. It is
    deterministic: the "probability" is 1.0 if a grid point lies in the target and 0.0
    otherwise. Its average over target positions is the coverage of the grid.
``"shifted-grid"``
    the grid of spacing Δ = W/n (W the width of the bounds in ``scale``) shifted by one
    uniform random offset u·Δ, u ~ U(0, 1): points at (u + i)Δ, i = 0 … n − 1. A target of
    width ℓ ≤ W is hit with probability min(1, ℓ/Δ) = min(1, n·p) ≥ 1 − (1 − p)ⁿ.
``"stratified"``
    one independent uniform point in each of the n cells of width Δ (1-D Latin hypercube).
    A target that covers a whole cell is always hit; otherwise it meets at most two cells,
    with overlaps ℓ₁, ℓ₂, and P = 1 − (1 − ℓ₁/Δ)(1 − ℓ₂/Δ).

All four are computed in closed form from the measure of the target inside the bounds and are
checked against simulation (:func:`monte_carlo_hit_probability`, which draws the actual designs
with :func:`sample_lrs` and tests membership in η).

**Bayesian optimization** over ln η lives in :mod:`lrctl.bayesopt` (one home per name:
``from lrctl.bayesopt import BayesianOptimizer, SerialExecutor, ...``; this module imports
from it, never the reverse). The objectives it is compared on are here: :class:`ValidationLoss` (a linear model trained by full-batch gradient descent on a real
data set, scored on held-out data) and :class:`LogScaleTestFunction` (analytic 1-D functions of
the normalized log learning rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._validation import (
    as_rng,
    check_choice,
    check_finite,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
)
from lrctl.bayesopt import Evaluation, SearchResult, record_evaluations

__all__ = [
    "METHODS",
    "SCALES",
    "TEST_FUNCTIONS",
    "LogScaleTestFunction",
    "LossCurve",
    "MonteCarloEstimate",
    "QuadraticGDLoss",
    "ValidationLoss",
    "derive_hit_probability",
    "evaluations_to_reach",
    "expected_samples_to_hit",
    "hit_fraction",
    "hit_probability",
    "monte_carlo_hit_probability",
    "random_search",
    "sample_lrs",
    "within_tolerance",
]

#: The scales a search can sample uniformly in.
SCALES = ("log", "linear")
#: The search designs :func:`hit_probability` knows.
METHODS = ("random", "grid", "shifted-grid", "stratified")


# ---------------------------------------------------------------------------------------
# Intervals and scales
# ---------------------------------------------------------------------------------------


def _no_bool(name: str, value: Any) -> Any:
    """``True`` is not a number: refuse bools (also inside arrays and lists)."""
    if isinstance(value, (bool, np.bool_)) or (
            isinstance(value, (np.ndarray, list, tuple))
            and np.asarray(value, dtype=object).dtype == object
            and any(isinstance(v, (bool, np.bool_)) for v in np.ravel(np.asarray(value,
                                                                                  dtype=object)))):
        raise TypeError(f"{name} must be numbers, got a bool in {value!r:.80}")
    if isinstance(value, np.ndarray) and value.dtype == bool:
        raise TypeError(f"{name} must be numbers, got a bool array")
    return value


def _seed(seed: Any) -> Any:
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed must be an int, a SeedSequence, a Generator or None, got the "
                        f"bool {seed!r}")
    return seed


def _bounds(bounds: Any, scale: str) -> tuple[float, float]:
    """Validated search bounds ``(low, high)``: finite, low < high, low > 0 on a log scale."""
    b = check_finite("bounds", _no_bool("bounds", bounds))
    if b.shape != (2,):
        raise ValueError(f"bounds must be a pair (low, high), got an array of shape {b.shape}")
    low, high = float(b[0]), float(b[1])
    if not low < high:
        what = "empty" if low == high else "inverted"
        raise ValueError(f"bounds must satisfy low < high, got the {what} interval ({low}, {high})")
    if scale == "log" and low <= 0:
        raise ValueError(f"bounds must be positive for scale='log', got low = {low}")
    return low, high


def _targets(target: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` arrays of the target interval(s): shape (2,) or (..., 2), lo < hi (on the
    log scale a non-positive low end lies below any bounds and is ignored)."""
    t = check_finite("target", _no_bool("target", target))
    if t.ndim == 0 or t.shape[-1] != 2:
        raise ValueError(
            f"target must be an interval (lo, hi) or an array of them with last axis 2, "
            f"got shape {t.shape}"
        )
    lo, hi = t[..., 0], t[..., 1]
    bad = ~(lo < hi)
    if np.any(bad):
        i = np.argwhere(np.atleast_1d(bad))[0]
        blo, bhi = float(np.atleast_1d(lo)[tuple(i)]), float(np.atleast_1d(hi)[tuple(i)])
        what = "empty" if blo == bhi else "inverted"
        raise ValueError(f"target must satisfy lo < hi, got the {what} interval ({blo}, {bhi})")
    return lo, hi


def _to_scale(x: np.ndarray, scale: str) -> np.ndarray:
    if scale == "linear":
        return x
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), -np.inf)


def _from_scale(s: np.ndarray, scale: str) -> np.ndarray:
    return s if scale == "linear" else np.exp(s)


def _overlap(target: Any, bounds: Any, scale: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Start a and end b of target ∩ bounds in scale coordinates measured from the low bound
    (so 0 ≤ a, b ≤ W; b < a when they do not meet) and the width W of the bounds."""
    check_choice("scale", scale, SCALES)
    low, high = _bounds(bounds, scale)
    lo, hi = _targets(target)
    s_low, s_high = float(_to_scale(np.asarray(low), scale)), float(_to_scale(np.asarray(high),
                                                                              scale))
    a = np.maximum(_to_scale(lo, scale), s_low) - s_low
    b = np.minimum(_to_scale(hi, scale), s_high) - s_low
    return a, b, s_high - s_low


def hit_fraction(target: Any, bounds: Any, scale: str = "log") -> np.ndarray | float:
    r"""The share p of the search bounds, measured in ``scale``, that the target covers.

    p = |[a, b] ∩ [η_lo, η_hi]| / |[η_lo, η_hi]|, lengths taken in ln η (``"log"``) or in η
    (``"linear"``). This is the chance that one uniform sample hits the target.

    Parameters
    ----------
    target
        The interval (lo, hi) of good learning rates, lo < hi, or an array of intervals with
        last axis 2. It may stick out of the bounds; only the part inside counts.
    bounds
        The search interval (low, high), low < high (and low > 0 for ``scale="log"``).
    scale
        ``"log"`` or ``"linear"``.

    >>> hit_fraction((1e-3, 1e-2), (1e-5, 1.0))       # one decade out of five
    0.2
    >>> round(hit_fraction((1e-3, 1e-2), (1e-5, 1.0), scale="linear"), 6)
    0.009
    """
    a, b, width = _overlap(target, bounds, scale)
    p = np.clip((b - a) / width, 0.0, 1.0)
    return float(p) if p.ndim == 0 else p


def hit_probability(
    target: Any,
    bounds: Any,
    n: ArrayLike,
    scale: str = "log",
    method: str = "random",
) -> np.ndarray | float:
    r"""Probability that a search design of ``n`` learning rates puts one inside ``target``.

    With p the target's share of the bounds in ``scale`` (:func:`hit_fraction`), W the width
    of the bounds and Δ = W/n the cell width (see the module docstring for the designs):

    - ``"random"``: P = 1 − (1 − p)ⁿ (n independent uniform samples);
    - ``"shifted-grid"``: P = min(1, n·p) (a grid of spacing Δ with a uniform random offset);
    - ``"stratified"``: P = 1 − (1 − ℓ₁/Δ)(1 − ℓ₂/Δ) (one uniform point per cell; ℓ₁, ℓ₂ the
      target's overlaps with the at most two cells it meets, P = 1 if it covers a cell);
    - ``"grid"``: 1.0 if a point of ``np.geomspace(low, high, n)`` (``"log"``) or
      ``np.linspace(low, high, n)`` (``"linear"``) lies in the closed target, else 0.0.

    Assumptions: the target is one interval of η; every rate inside it counts as a success.

    Parameters
    ----------
    target
        (lo, hi) with lo < hi, or an array of intervals with last axis 2 (broadcast with n).
    bounds
        Search interval (low, high), low < high; low > 0 for ``scale="log"``.
    n
        Number of points, an integer ≥ 1 or an integer array (vectorized).
    scale
        ``"log"`` (uniform in ln η) or ``"linear"`` (uniform in η).
    method
        ``"random"``, ``"grid"``, ``"shifted-grid"`` or ``"stratified"``.

    Returns
    -------
    float or ndarray
        A float for scalar input, else an array of the broadcast shape of n and the targets.

    A target of a factor 4 in six decades: p = ln 4 / ln 10⁶ = 0.1003 on the log scale,
    p = 0.003 on the linear one.

    >>> hit_probability((1e-3, 4e-3), (1e-6, 1.0), 10)                  # 1 − 0.8997¹⁰
    0.6526...
    >>> hit_probability((1e-3, 4e-3), (1e-6, 1.0), [1, 10, 100], scale="linear")
    array([0.003     , 0.02959825, 0.25951596])
    >>> hit_probability((1e-3, 4e-3), (1e-6, 1.0), 10, method="shifted-grid")
    1.0
    """
    check_choice("method", method, METHODS)
    n_arr = _check_n(n)
    a, b, width = _overlap(target, bounds, scale)
    a, b, n_arr = np.broadcast_arrays(a, b, n_arr)
    length = np.maximum(b - a, 0.0)
    p = np.clip(length / width, 0.0, 1.0)
    nf = n_arr.astype(float)
    if method == "random":
        q = np.where(p >= 1.0, 0.0, p)
        out = np.where(p >= 1.0, 1.0, -np.expm1(nf * np.log1p(-q)))
    elif method == "shifted-grid":
        out = np.minimum(1.0, nf * p)
    elif method == "stratified":
        out = _stratified(a, length, width / nf)
    else:
        out = _grid_hits(a, b, width, n_arr)
    out = np.asarray(out, dtype=float)
    return float(out) if out.ndim == 0 else out


#: The largest design size n: 2**53, beyond which a float no longer holds every integer.
_N_MAX = 2.0**53


def _check_n(n: ArrayLike) -> np.ndarray:
    if isinstance(n, (bool, np.bool_)):
        raise TypeError(f"n must be an integer or an integer array, got the bool {n!r}")
    arr = np.asarray(n)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        if np.any(np.abs(arr) > _N_MAX):
            raise ValueError(f"n must be <= {_N_MAX:.0f} (a design's number of points), got "
                             f"{n!r:.80}")
        arr = arr.astype(int)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"n must be an integer or an integer array, got {n!r}")
    if np.any(arr < 1):
        raise ValueError(f"n must be >= 1 (the number of points in the design), got {n!r}")
    return arr


def _stratified(a: np.ndarray, length: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """1 − Π over the (at most two) cells the target meets of (1 − overlap/Δ)."""
    k0 = np.floor(a / delta)
    first = np.minimum(length, (k0 + 1.0) * delta - a)  # overlap with the first cell
    second = np.minimum(length - first, delta)  # with the next one (Δ means it covers a cell)
    miss = (1.0 - first / delta) * (1.0 - second / delta)
    return np.where(length > 0, 1.0 - np.clip(miss, 0.0, 1.0), 0.0)


def _grid_hits(a: np.ndarray, b: np.ndarray, width: float, n: np.ndarray) -> np.ndarray:
    """1.0 where a point i·W/(n − 1), i = 0 … n − 1 (just 0 when n = 1), lies in [a, b]."""
    tol = 1e-12 * width
    nf = n.astype(float)
    spacing = width / np.maximum(nf - 1.0, 1.0)
    first = np.where(n > 1, np.ceil((a - tol) / spacing), 0.0)  # first grid index >= a
    hit = (b >= a - tol) & (first <= nf - 1.0) & (first * spacing <= b + tol)
    hit &= (n > 1) | (a <= tol)  # the one-point grid is the low bound itself
    return hit.astype(float)


def expected_samples_to_hit(target: Any, bounds: Any, scale: str = "log") -> np.ndarray | float:
    r"""Mean number of independent uniform samples until the first one lands in ``target``.

    The index of the first hit is geometric with success probability p
    (:func:`hit_fraction`), so its mean is 1/p and its median ⌈ln ½ / ln(1 − p)⌉. Returns
    ``inf`` when the target does not meet the bounds (p = 0): the search never succeeds.

    >>> expected_samples_to_hit((1e-3, 1e-2), (1e-5, 1.0))   # one decade of five
    5.0
    >>> expected_samples_to_hit((10.0, 20.0), (1e-5, 1.0))
    inf
    """
    p = np.asarray(hit_fraction(target, bounds, scale))
    with np.errstate(divide="ignore"):
        out = np.where(p > 0, 1.0 / np.where(p > 0, p, 1.0), np.inf)
    return float(out) if out.ndim == 0 else out


def derive_hit_probability():
    r"""Derive P(hit) = 1 − (1 − p)ⁿ, p = ln(b/a)/ln(η_hi/η_lo), and the mean wait 1/p.

    Symbols: target [a, b] inside the bounds [η_lo, η_hi] (``lo``, ``hi``), n samples.
    ``result`` is the hit probability; the steps derive the mean of the geometric wait by
    summing Σ k p (1 − p)^{k−1} and the n needed for success probability q.

    >>> d = derive_hit_probability()
    >>> float(d.lambdify("a", "b", "lo", "hi", "n")(1e-3, 1e-2, 1e-5, 1.0, 1))
    0.2
    """
    import sympy

    from lrctl.derivation import Derivation

    a, b, lo, hi = sympy.symbols("a b eta_lo eta_hi", positive=True)
    n, k = sympy.symbols("n k", integer=True, positive=True)
    p, q = sympy.symbols("p q", positive=True)
    share = sympy.log(b / a) / sympy.log(hi / lo)
    miss_one = 1 - share
    result = 1 - miss_one**n
    # Σ k p (1 − p)^(k−1) converges for 0 < p < 2 (here 0 < p ≤ 1): take that branch
    series = sympy.piecewise_fold(sympy.summation(k * p * (1 - p) ** (k - 1), (k, 1, sympy.oo)))
    wait = sympy.simplify(series.args[0][0] if isinstance(series, sympy.Piecewise) else series)
    n_needed = sympy.solve(sympy.Eq(1 - (1 - p) ** n, q), n)[0]
    P = sympy.Symbol("P_hit")
    return Derivation(
        title="Hit probability of log-uniform random search",
        result=result,
        statement=sympy.Eq(P, result),
        steps=(
            ("The log learning rate is uniform between the log bounds; one sample lands in the "
             "target interval with probability",
             sympy.Eq(p, share)),
            ("n independent samples all miss with probability", (1 - p) ** n),
            ("so at least one hits with", sympy.Eq(P, 1 - (1 - p) ** n)),
            ("The number of samples up to the first hit is geometric; its mean",
             sympy.Eq(sympy.Symbol("E[N]"), wait)),
            ("Samples needed for success probability q", sympy.Eq(n, n_needed)),
        ),
        assumptions=(
            "the target [a, b] lies inside the search bounds (otherwise use its intersection)",
            "samples are independent and uniform in ln η",
            "every rate in the target counts as a success",
        ),
        symbols={"a": a, "b": b, "lo": lo, "hi": hi, "n": n},
    )


# ---------------------------------------------------------------------------------------
# Simulation of the designs
# ---------------------------------------------------------------------------------------


def sample_lrs(
    bounds: Any,
    n: int,
    scale: str = "log",
    method: str = "random",
    *,
    size: int = 1,
    seed: Any = None,
) -> np.ndarray:
    """Draw ``size`` search designs of ``n`` learning rates each, shape ``(size, n)``.

    The designs of :func:`hit_probability`: i.i.d. uniform in ``scale`` (``"random"``), the
    fixed grid (``"grid"``, every row the same), a grid with one random offset per row
    (``"shifted-grid"``) or one uniform point per cell (``"stratified"``).

    >>> sample_lrs((1e-4, 1.0), 5, method="grid")
    array([[1.e-04, 1.e-03, 1.e-02, 1.e-01, 1.e+00]])
    >>> sample_lrs((1e-4, 1.0), 3, size=2, seed=0).shape
    (2, 3)
    """
    check_choice("scale", scale, SCALES)
    check_choice("method", method, METHODS)
    low, high = _bounds(bounds, scale)
    n = check_int("n", n, minimum=1)
    size = check_int("size", size, minimum=1)
    rng = as_rng(_seed(seed))
    if method == "grid":
        row = np.geomspace(low, high, n) if scale == "log" else np.linspace(low, high, n)
        return np.tile(row, (size, 1))
    s_low, s_high = float(_to_scale(np.asarray(low), scale)), float(_to_scale(np.asarray(high),
                                                                              scale))
    delta = (s_high - s_low) / n
    if method == "random":
        s = rng.uniform(s_low, s_high, size=(size, n))
    elif method == "shifted-grid":
        s = s_low + (rng.uniform(size=(size, 1)) + np.arange(n)) * delta
    else:
        s = s_low + (rng.uniform(size=(size, n)) + np.arange(n)) * delta
    return np.clip(_from_scale(s, scale), low, high)


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A simulated hit probability with its 95% Wilson score interval.

    Attributes
    ----------
    estimate
        hits / n_trials.
    low, high
        The 95% Wilson interval for the true probability.
    hits, n_trials
        Designs that hit the target, designs drawn.
    """

    estimate: float
    low: float
    high: float
    hits: int
    n_trials: int

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the interval (widened by 1e-12 for exact 0 and 1)."""
        value = check_scalar("value", value)
        return bool(self.low - 1e-12 <= value <= self.high + 1e-12)


def monte_carlo_hit_probability(
    target: Any,
    bounds: Any,
    n: int,
    scale: str = "log",
    method: str = "random",
    *,
    n_trials: int = 10_000,
    seed: Any = None,
) -> MonteCarloEstimate:
    """Estimate :func:`hit_probability` by drawing ``n_trials`` designs with :func:`sample_lrs`.

    Membership is tested on the learning rates themselves (lo ≤ η ≤ hi), not on the measures
    the closed form uses, so the two are independent routes to the same number.

    >>> mc = monte_carlo_hit_probability((1e-3, 4e-3), (1e-6, 1.0), 10, seed=0)
    >>> mc.contains(hit_probability((1e-3, 4e-3), (1e-6, 1.0), 10))
    True
    """
    check_choice("scale", scale, SCALES)
    lo, hi = _targets(target)
    if lo.ndim != 0:
        raise ValueError(f"target must be one interval (lo, hi) here, got shape {(*lo.shape, 2)}")
    n_trials = check_int("n_trials", n_trials, minimum=1)
    lrs = sample_lrs(bounds, n, scale, method, size=n_trials, seed=seed)
    hits = int(np.sum(np.any((lrs >= lo) & (lrs <= hi), axis=1)))
    est = hits / n_trials
    z = 1.959963984540054  # the 97.5% standard-normal quantile
    denom = 1 + z * z / n_trials
    centre = (est + z * z / (2 * n_trials)) / denom
    half = z * math.sqrt(est * (1 - est) / n_trials + z * z / (4 * n_trials**2)) / denom
    return MonteCarloEstimate(est, max(0.0, centre - half), min(1.0, centre + half), hits,
                              n_trials)


# ---------------------------------------------------------------------------------------
# Success criteria for a search
# ---------------------------------------------------------------------------------------


def within_tolerance(best_value: ArrayLike, rel: float = 0.02) -> np.ndarray | float:
    r"""The threshold f* + rel·|f*| a search must reach to be "within rel of the best value".

    >>> within_tolerance(0.5)
    0.51
    >>> within_tolerance(-6.0)
    -5.88
    """
    f = check_finite("best_value", _no_bool("best_value", best_value))
    rel = check_scalar("rel", rel)
    check_in_interval("rel", rel, 0.0, 1.0, low_closed=False, high_closed=True)
    out = f + rel * np.abs(f)
    return float(out) if out.ndim == 0 else out


def evaluations_to_reach(values: ArrayLike, threshold: float) -> float:
    """1 + the index of the first entry of ``values`` that is ≤ ``threshold``; ``inf`` if none.

    NaN entries count as evaluations that did not reach the threshold: they are the failed
    trials of a :class:`~lrctl.bayesopt.SearchResult` (its ``values`` are NaN exactly there),
    which cost an evaluation each. ``values`` must be a non-empty 1-D sequence.

    >>> evaluations_to_reach([3.0, 2.0, 0.9, 0.5], 1.0)
    3.0
    >>> evaluations_to_reach([3.0, float("nan"), 0.5], 1.0)   # a failed trial counts
    3.0
    >>> evaluations_to_reach([3.0, 2.0], 1.0)
    inf
    """
    from lrctl._validation import as_float_array

    v = as_float_array("values", _no_bool("values", values))
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of values, got shape "
                         f"{v.shape}")
    threshold = check_scalar("threshold", threshold)
    with np.errstate(invalid="ignore"):
        hit = np.flatnonzero(v <= threshold)
    return float(hit[0] + 1) if hit.size else math.inf


# ---------------------------------------------------------------------------------------
# Objectives of the learning rate
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class LossCurve:
    """An objective evaluated on a grid of learning rates.

    Attributes
    ----------
    lrs
        The learning rates.
    values
        The objective; at diverged rates the finite ``penalty`` of the objective.
    diverged
        Boolean mask of the rates whose training diverged.
    diverged_at
        Step at which training was stopped (−1 where it did not diverge).
    """

    lrs: np.ndarray
    values: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray

    def __repr__(self) -> str:
        lrs = np.asarray(self.lrs)
        span = f", lr {np.min(lrs):.3g} … {np.max(lrs):.3g}" if lrs.size else ""
        return (f"LossCurve({lrs.size} rates{span}, "
                f"{int(np.sum(np.asarray(self.diverged)))} diverged)")

    def best(self) -> tuple[float, float]:
        """``(lr, value)`` of the smallest value on the grid among non-diverged rates."""
        ok = ~self.diverged
        if not np.any(ok):
            raise ValueError("every learning rate of the curve diverged; there is no best value")
        i = np.flatnonzero(ok)[np.argmin(self.values[ok])]
        return float(self.lrs[i]), float(self.values[i])


class ValidationLoss:
    r"""Validation loss of a linear classifier trained by full-batch GD at learning rate η.

    f(η) = L_val(θ_T(η)) with θ_{t+1} = θ_t − η ∇L_train(θ_t), θ_0 = 0, T = ``steps``, on a
    real data set bundled with scikit-learn (``"digits"``: :class:`lrctl.objectives.SoftmaxRegression`,
    10 classes; ``"breast_cancer"``: :class:`lrctl.objectives.LogisticRegression`), split by a
    stratified train/validation split. L_train carries the L2 penalty ``l2``; L_val is the
    plain mean cross-entropy. Training is :func:`lrctl.training.run` with a
    :class:`lrctl.training.Constant` policy, all rates of an :meth:`evaluate` call stacked.

    Training is stopped as diverged when the training loss becomes non-finite or exceeds
    ``divergence_factor`` times its initial value (:class:`lrctl.training.Divergence`); f is
    then the finite ``penalty`` (default: ``divergence_factor`` × the initial validation loss)
    and the evaluation is marked ``diverged``. The evaluation is a pure function of η (no
    randomness).

    Parameters
    ----------
    dataset
        ``"digits"`` or ``"breast_cancer"``.
    steps
        GD steps T.
    l2
        L2 penalty of the training loss.
    validation_fraction
        Share of the samples held out.
    seed
        Seed of the train/validation split: an int (used as scikit-learn's ``random_state``)
        or a ``numpy.random.Generator`` (which draws one).
    divergence_factor, penalty
        Divergence rule and the value reported for diverged rates; ``penalty`` must be at
        least the validation loss of the untrained model (θ = 0), so that a diverged rate
        never scores better than not training.

    >>> f = ValidationLoss("breast_cancer", steps=20)
    >>> ev = f(0.5)
    >>> ev.diverged, round(ev.value, 3)
    (False, 0.132)
    """

    def __init__(
        self,
        dataset: str = "digits",
        *,
        steps: int = 100,
        l2: float = 1e-4,
        validation_fraction: float = 0.3,
        seed: Any = 0,
        divergence_factor: float = 10.0,
        penalty: float | None = None,
    ) -> None:
        from sklearn.model_selection import train_test_split

        from lrctl._validation import as_rng
        from lrctl.objectives import LogisticRegression, SoftmaxRegression, load_dataset
        from lrctl.training import Divergence

        check_choice("dataset", dataset, ("digits", "breast_cancer"))
        self.dataset = dataset
        self.steps = check_int("steps", steps, minimum=1)
        self.l2 = float(check_positive("l2", check_scalar("l2", l2), allow_zero=True))
        frac = check_scalar("validation_fraction", validation_fraction)
        check_in_interval("validation_fraction", frac, 0.0, 1.0, low_closed=False)
        self.validation_fraction = frac
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**31 - 1))
        elif seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            as_rng(seed)  # the TypeError for anything that is not a seed
            raise TypeError(f"seed must be an int or a numpy Generator, got {seed!r}")
        self.seed = check_int("seed", seed, minimum=0)
        self.divergence_factor = check_scalar("divergence_factor", divergence_factor)
        check_in_interval("divergence_factor", self.divergence_factor, 1.0, math.inf,
                          low_closed=False)
        self._monitor = Divergence(factor=self.divergence_factor)
        X, y = load_dataset(dataset)
        Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=frac, random_state=self.seed,
                                              stratify=y)
        self.binary = dataset == "breast_cancer"
        if self.binary:
            self.train_objective: Any = LogisticRegression(Xtr, ytr, l2=self.l2)
            self.validation_objective: Any = LogisticRegression(Xva, yva)
        else:
            n_classes = int(y.max() + 1)
            self.train_objective = SoftmaxRegression(Xtr, ytr, n_classes=n_classes, l2=self.l2)
            self.validation_objective = SoftmaxRegression(Xva, yva, n_classes=n_classes)
        self.n_classes = 1 if self.binary else n_classes
        self.X_train, self.X_val = self.train_objective.X, self.validation_objective.X
        self.y_train, self.y_val = ytr, yva
        zero = np.zeros(self.train_objective.dim)
        self.initial_val_loss = float(self.validation_objective.loss(zero))
        if penalty is None:
            penalty = self.divergence_factor * self.initial_val_loss
        self.penalty = check_scalar("penalty", penalty)
        if not self.penalty >= self.initial_val_loss:
            raise ValueError(
                f"penalty must be >= the validation loss of the untrained model "
                f"({self.initial_val_loss:.6g}), so that a diverged rate never scores better "
                f"than not training; got {self.penalty}")

    def evaluate(self, lrs: ArrayLike) -> LossCurve:
        """f at every rate of ``lrs`` (vectorized: all rates train together as one stack).

        >>> curve = ValidationLoss("breast_cancer", steps=20).evaluate([1e-3, 0.5, 1e4])
        >>> curve.diverged.tolist(), curve.diverged_at.tolist()
        ([False, False, True], [-1, -1, 1])
        """
        lrs_arr = check_positive("lrs", lrs)
        flat = np.atleast_1d(lrs_arr).ravel()
        values = np.empty(flat.size)
        diverged_at = np.empty(flat.size, dtype=int)
        for start in range(0, flat.size, self._chunk):  # bounded memory for long lr grids
            sl = slice(start, start + self._chunk)
            values[sl], diverged_at[sl] = self._train(flat[sl])
        shape = np.shape(lrs_arr)
        return LossCurve(flat.reshape(shape), values.reshape(shape),
                         (diverged_at >= 0).reshape(shape), diverged_at.reshape(shape))

    _chunk = 128

    def _train(self, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One stacked training run per rate; the validation loss of the finished ones."""
        from lrctl.training import Constant, run

        runs = run(self.train_objective, Constant(lrs), self.steps,
                   theta0=np.zeros(self.train_objective.dim), monitor=self._monitor)
        diverged_at = np.array([-1 if r.diverged_at is None else r.diverged_at for r in runs])
        values = np.full(lrs.size, self.penalty)
        ok = diverged_at < 0
        if np.any(ok):
            finished = np.stack([r.theta for r, good in zip(runs, ok, strict=True) if good])
            values[ok] = self.validation_objective.loss(finished)
        return values, diverged_at

    def __call__(self, lr: float) -> Evaluation:
        lr = check_scalar("lr", lr)
        check_positive("lr", lr)
        c = self.evaluate(np.array([lr]))
        info = {"diverged_at": float(c.diverged_at[0])} if c.diverged[0] else {}
        return Evaluation(float(c.values[0]), diverged=bool(c.diverged[0]), info=info)

    def __repr__(self) -> str:
        return (f"ValidationLoss({self.dataset!r}, steps={self.steps}, l2={self.l2}, "
                f"validation_fraction={self.validation_fraction}, seed={self.seed})")


def _forrester(x: np.ndarray) -> np.ndarray:
    return (6 * x - 2) ** 2 * np.sin(12 * x - 4)


def _gramacy_lee(x: np.ndarray) -> np.ndarray:
    t = 0.5 + 2.0 * x  # the function's own domain [0.5, 2.5]
    return np.sin(10 * np.pi * t) / (2 * t) + (t - 1) ** 4


#: Analytic 1-D test functions of x = normalized log learning rate in [0, 1], with their
#: minimum (x*, f*) from the literature or a dense grid (see the tests for the check).
TEST_FUNCTIONS: dict[str, dict[str, Any]] = {
    "forrester": {"f": _forrester, "x_min": 0.75724876, "f_min": -6.020740055767083,
                  "source": "Forrester, Sóbester & Keane (2008), Engineering Design via "
                            "Surrogate Modelling, p. 83"},
    "gramacy-lee": {"f": _gramacy_lee, "x_min": (0.548563444114526 - 0.5) / 2.0,
                    "f_min": -0.869011134989500,
                    "source": "Gramacy & Lee (2012), Cases for the nugget in modeling computer "
                              "experiments, on [0.5, 2.5]"},
}


@dataclass(frozen=True)
class LogScaleTestFunction:
    """An analytic test function of the normalized log learning rate.

    f(η) = g(x), x = (ln η − ln η_lo) / (ln η_hi − ln η_lo) ∈ [0, 1], with g one of
    :data:`TEST_FUNCTIONS`. Calling it with η outside the bounds raises.

    >>> f = LogScaleTestFunction("forrester", (1e-4, 1.0))
    >>> round(f.minimum()[1], 4)
    -6.0207
    >>> round(f(f.minimum()[0]), 4)
    -6.0207
    """

    name: str
    bounds: tuple[float, float] = (1e-4, 1.0)
    _x_min: float = field(default=0.0, init=False, repr=False)
    _f_min: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        check_choice("name", self.name, tuple(TEST_FUNCTIONS))
        object.__setattr__(self, "bounds", _bounds(self.bounds, "log"))
        spec = TEST_FUNCTIONS[self.name]
        object.__setattr__(self, "_x_min", float(spec["x_min"]))
        object.__setattr__(self, "_f_min", float(spec["f_min"]))

    def _x(self, lr: np.ndarray) -> np.ndarray:
        lo, hi = np.log(self.bounds[0]), np.log(self.bounds[1])
        x = (np.log(lr) - lo) / (hi - lo)
        return np.clip(x, 0.0, 1.0)

    def evaluate(self, lrs: ArrayLike) -> np.ndarray:
        """g(x(η)) for every rate of ``lrs`` (vectorized)."""
        lrs = check_in_interval("lrs", _no_bool("lrs", lrs), self.bounds[0] * (1 - 1e-12),
                                self.bounds[1] * (1 + 1e-12), high_closed=True)
        return TEST_FUNCTIONS[self.name]["f"](self._x(lrs))

    def __call__(self, lr: float) -> float:
        return float(self.evaluate(check_scalar("lr", lr)))

    def minimum(self) -> tuple[float, float]:
        """``(lr*, f*)``: the global minimizer and minimum on the bounds."""
        lo, hi = np.log(self.bounds[0]), np.log(self.bounds[1])
        return float(np.exp(lo + self._x_min * (hi - lo))), self._f_min


class QuadraticGDLoss:
    r"""Loss after T steps of gradient descent on a quadratic, as a function of η (closed form).

    On L(θ) = ½ eᵀHe, e = θ − θ*, GD gives e_t = (I − ηH)^t e_0, so along the eigenvalues λ_i
    of H with initial error components c_i

    .. math::

        f_t(η) = ½ Σ_i λ_i c_i² (1 − ηλ_i)^{2t},   f(η) = f_T(η).

    Small η leaves the flat directions untouched, η > 2/λ_max blows up the sharp one: the best
    rate sits just below the stability edge, the shape of a real loss-vs-lr curve. A rate is
    *diverged* when f_t exceeds ``divergence_factor`` · f_0 at some step t ≤ T (the step is
    recorded); its value is then the finite penalty ``divergence_factor`` · f_0.

    Parameters
    ----------
    eigenvalues
        The spectrum of H (positive). Default: 20 values log-spaced in [0.01, 1].
    steps
        T.
    initial_error
        c_i (default: all ones).
    divergence_factor
        Divergence threshold relative to f_0 (> 1).

    >>> f = QuadraticGDLoss([1.0], steps=1)          # ½·(1 − η)²
    >>> f(0.5).value, f(0.5).diverged
    (0.125, False)
    >>> f(5.0).diverged                              # (1 − 5)² = 16 > 10
    True
    """

    def __init__(self, eigenvalues: ArrayLike | None = None, *, steps: int = 50,
                 initial_error: ArrayLike | None = None,
                 divergence_factor: float = 10.0) -> None:
        lam = np.geomspace(1e-2, 1.0, 20) if eigenvalues is None else check_positive(
            "eigenvalues", _no_bool("eigenvalues", eigenvalues))
        if lam.ndim > 1 or lam.size == 0:
            raise ValueError(f"eigenvalues must be a non-empty 1-D array (the spectrum of H), "
                             f"got shape {lam.shape}")
        self.eigenvalues = np.atleast_1d(lam).ravel()
        self.steps = check_int("steps", steps, minimum=1)
        c = np.ones_like(self.eigenvalues) if initial_error is None else check_finite(
            "initial_error", initial_error)
        if c.shape != self.eigenvalues.shape:
            raise ValueError(f"initial_error must have one entry per eigenvalue "
                             f"({self.eigenvalues.size}), got shape {c.shape}")
        self.initial_error = c
        self.divergence_factor = check_scalar("divergence_factor", divergence_factor)
        check_in_interval("divergence_factor", self.divergence_factor, 1.0, math.inf,
                          low_closed=False)
        self.initial_loss = float(0.5 * np.sum(self.eigenvalues * c**2))
        self.penalty = self.divergence_factor * self.initial_loss

    def evaluate(self, lrs: ArrayLike) -> LossCurve:
        """f at every rate of ``lrs`` (vectorized over rates, eigenvalues and steps)."""
        lrs_arr = check_positive("lrs", _no_bool("lrs", lrs))
        flat = np.atleast_1d(lrs_arr).ravel()
        weight = 0.5 * self.eigenvalues * self.initial_error**2
        t = np.arange(1, self.steps + 1)
        with np.errstate(over="ignore", divide="ignore"):
            log_factor = 2.0 * np.log(np.abs(1.0 - flat[:, None] * self.eigenvalues))  # (k, m)
            f_t = np.sum(weight * np.exp(t[:, None, None] * log_factor[None]), axis=2)  # (T, k)
        over = f_t > self.divergence_factor * self.initial_loss
        diverged = over.any(axis=0)
        diverged_at = np.where(diverged, np.argmax(over, axis=0) + 1, -1)
        values = np.where(diverged, self.penalty, f_t[-1])
        shape = np.shape(lrs_arr)
        return LossCurve(flat.reshape(shape), values.reshape(shape), diverged.reshape(shape),
                         diverged_at.reshape(shape))

    def __call__(self, lr: float) -> Evaluation:
        lr = check_scalar("lr", lr)
        check_positive("lr", lr)
        c = self.evaluate(np.array([lr]))
        info = {"diverged_at": float(c.diverged_at[0])} if c.diverged[0] else {}
        return Evaluation(float(c.values[0]), diverged=bool(c.diverged[0]), info=info)

    def minimum(self, bounds: Any) -> tuple[float, float]:
        """``(lr*, f*)`` on ``bounds``: a 20 001-point log grid, then a bounded Brent search
        between the neighbours of the best grid point."""
        from scipy.optimize import minimize_scalar

        low, high = _bounds(bounds, "log")
        grid = np.geomspace(low, high, 20_001)
        curve = self.evaluate(grid)
        vals = np.where(curve.diverged, np.inf, curve.values)
        i = int(np.argmin(vals))
        if not np.isfinite(vals[i]):
            raise ValueError(f"every rate in {bounds!r} diverges; there is no minimum")
        lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, grid.size - 1)])

        def g(u: float) -> float:
            c = self.evaluate(np.array([math.exp(u)]))
            return math.inf if c.diverged[0] else float(c.values[0])

        res = minimize_scalar(g, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
        if res.fun < vals[i]:
            return float(math.exp(res.x)), float(res.fun)
        return float(grid[i]), float(vals[i])


# ---------------------------------------------------------------------------------------
# Random search, recorded like a Bayesian optimization
# ---------------------------------------------------------------------------------------


def random_search(
    objective: Any,
    bounds: Any,
    n_trials: int,
    scale: str = "log",
    *,
    seed: Any = None,
) -> SearchResult:
    """Evaluate ``objective`` at ``n_trials`` i.i.d. uniform rates (in ``scale``), in order.

    Failed evaluations (exceptions, NaN, inf) are recorded as failed trials, as in
    :meth:`BayesianOptimizer.run`. When ``objective`` has a vectorized ``evaluate(lrs)``
    returning a :class:`LossCurve` or an array, that is used in one call.

    >>> f = LogScaleTestFunction("forrester", (1e-4, 1.0))
    >>> res = random_search(f, f.bounds, 20, seed=0)
    >>> res.n_trials, res.best_value < -5.0
    (20, True)
    """
    if not callable(objective) and not callable(getattr(objective, "evaluate", None)):
        raise TypeError(f"objective must be callable (or have an evaluate(lrs) method), got "
                        f"{type(objective).__name__} {objective!r:.60}")
    check_choice("scale", scale, SCALES)
    n_trials = check_int("n_trials", n_trials, minimum=1)
    lrs = sample_lrs(bounds, n_trials, scale, "random", seed=seed)[0]
    return record_evaluations(objective, lrs)
