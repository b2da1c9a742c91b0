r"""The learning-rate range test, done carefully.

The range test (Smith 2017, "Cyclical learning rates"; fastai's ``lr_find``) trains for a few
hundred steps while the learning rate grows exponentially, η_t = η_min·(η_max/η_min)^{t/(n−1)},
records the loss after each step, and reads a learning rate off the curve. lrctl's version:

- **keeps the raw losses**: L_t = L(θ_{t+1}) after the step θ_{t+1} = θ_t − η_t∇L(θ_t) (the
  loss *after* the step that used η_t, so a loss is not paired with the previous rate);
- **smooths after the sweep, without lag**: a Savitzky–Golay filter (a local quadratic least
  squares fit, centred) in ln η. The grid is uniform in ln η, so the filter's window is a fixed
  width in ln η, and its first derivative is the slope s = dL/d ln η. An exponential moving
  average, as in fastai, delays the curve by its time constant and shifts every suggestion to
  a larger rate;
- **stops on divergence for any sign of loss**: when the loss is NaN or ±inf, or when the
  median of the last ``stop_window`` losses exceeds the best such median by ``threshold``
  times |best| (fastai's "loss > 4× best" is threshold 3 for positive losses; for a negative
  best, 4× best lies far *below* the best and the rule fires at once);
- **suggests** the rate of steepest descent (most negative slope against ln η, before the
  minimum), the middle of the longest descending stretch ("valley"), and the minimum / 10;
- **reports an interval, not a point**, when repeated sweeps (seeds, mini-batch orders)
  disagree by more than a factor ``agreement`` (:func:`repeated_range_test`).

The small-η slope and the curvature
-----------------------------------
One GD step from θ with gradient g changes the loss by −η‖g‖² + ½η²gᵀHg, so its slope
against ln η is s = −η‖g‖² + η²gᵀHg (:func:`lrctl.quadratic.exact_range_test_slope`), and the
curvature estimate ρ̂ = −s/(2ηL) (L the loss above its minimum;
:func:`lrctl.quadratic.sharpness_from_slope`) tends to the gradient-weighted curvature
‖g‖²/(2L) as η → 0 (:func:`lrctl.quadratic.gradient_weighted_curvature`). That equals
λ_max = ρ(H) only when the gradient lies in the top eigenspace. :func:`one_step_sweep` measures
this slope from a fixed point. In a training sweep each step moves ln η by Δ and the rates
form a geometric series, so with a slowly varying gradient the loss change of one step is
(1 − e^{−Δ})·dL/d ln η; :meth:`RangeTestResult.sharpness_estimates` applies that factor.

The fast-ramp caveat
--------------------
On the quadratic model the error along λ_max is multiplied by |1 − η_tλ_max| each step. A
sweep that crosses 2/λ_max keeps descending until the product of those factors has grown
the top component back above the loss level, and a fast ramp reaches a much larger η before
that happens: where a fast sweep diverges says little about 2/λ_max.
:func:`quadratic_sweep_log_excess` gives the loss of a sweep on a quadratic in closed form,
and :func:`divergence_index` applies the stop rule to any loss curve, so the place where a
sweep diverges can be predicted without running it. The analysis ``range-test`` shows all of
this on logistic regression on real data; the analysis ``range-test-slope`` shows the slope
formula on a synthetic quadratic.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl._repr import summary_repr
from lrctl._validation import (
    check_bool,
    check_finite,
    check_int,
    check_positive,
    check_scalar,
    scalar_or_array,
)
from lrctl.objectives import ResultOverflow, check_objective
from lrctl.training import Divergence, ExponentialRamp, run

__all__ = [
    "OneStepSweep",
    "RangeTestResult",
    "RepeatedRangeTest",
    "SuggestionInterval",
    "Suggestions",
    "derive_ramp_amplitude",
    "divergence_index",
    "exponential_lrs",
    "one_step_sweep",
    "quadratic_sweep_log_excess",
    "ramp_log_amplitude",
    "ramp_return_point",
    "range_test",
    "repeated_range_test",
    "smooth_in_log_lr",
    "steepest_lr_prediction",
    "suggest",
]

#: Fewest finite losses a sweep needs before suggestions are made from it.
MIN_POINTS = 5
_POLYORDER = 3
_SUGGESTION_KINDS = ("steepest", "valley", "min_over_10")


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Suggestions:
    """Learning rates read off a (smoothed) range-test curve; ``None`` when a curve has none.

    Attributes
    ----------
    steepest
        The rate of the most negative slope dL̃/d ln η at or before the minimum (``None`` when
        the smoothed loss never decreases).
    valley
        The rate in the middle (in ln η) of the longest stretch on which the smoothed loss
        decreases step after step (``None`` when it never decreases).
    min_over_10
        The rate at the minimum of the smoothed loss, divided by 10.
    steepest_index, valley_index, minimum_index
        Indices into the sweep's arrays.
    """

    steepest: float | None
    valley: float | None
    min_over_10: float
    steepest_index: int | None
    valley_index: int | None
    minimum_index: int

    __repr__ = summary_repr

    def as_dict(self) -> dict[str, float | None]:
        return {"steepest": self.steepest, "valley": self.valley, "min_over_10": self.min_over_10}


@dataclass(frozen=True, eq=False)
class RangeTestResult:
    """One range-test sweep.

    Attributes
    ----------
    lrs
        The rates η_t of the steps whose loss was recorded (all finite), increasing.
    losses
        The raw losses L(θ_{t+1}) after each of those steps.
    smoothed
        The losses smoothed in ln η (Savitzky–Golay, centred, no lag), for the part of the sweep
        before the divergence: ``smoothed[i]`` belongs to ``lrs[i]``, and the trailing losses
        above the divergence level are left out (so ``len(smoothed) <= len(losses)``).
    slopes
        dL̃/d ln η, the derivative of the same local fits (the length of ``smoothed``).
    initial_loss
        L(θ_0), before the first step.
    diverged
        Whether the divergence stop fired.
    diverged_at
        The index (into the planned schedule, counting from 0) of the step whose loss triggered
        the stop; ``None`` when the sweep ran to the end.
    diverged_lr
        The rate of that step (``None`` when it did not diverge).
    suggestions
        :class:`Suggestions` read off the smoothed curve.
    log_lr_step
        Δ = ln(η_max/η_min)/(n − 1), the step of the grid in ln η.
    smoothing_window
        Points in the smoothing window (1: no smoothing).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    slopes: np.ndarray
    initial_loss: float
    diverged: bool
    diverged_at: int | None
    diverged_lr: float | None
    suggestions: Suggestions
    log_lr_step: float
    smoothing_window: int

    __repr__ = summary_repr

    def sharpness_estimates(self, loss_min: float) -> tuple[np.ndarray, np.ndarray]:
        r"""``(lrs, ρ̂)``: the curvature read off the sweep's slope, ρ̂_t = −(1 − e^{−Δ})s_t/(2η_t L_t).

        L_t = L̃_t − L* is the smoothed loss above ``loss_min`` (L*); only the points where it
        is positive are returned. Valid where η_t is small (η_tρ ≪ 1) and the gradient changes
        little over a step; see the module docstring for the factor 1 − e^{−Δ}.
        """
        from lrctl.quadratic import sharpness_from_slope

        floor = check_scalar("loss_min", loss_min)
        gap = self.smoothed - floor
        keep = gap > 0
        lrs = self.lrs[: len(self.smoothed)][keep]
        per_step = (1.0 - np.exp(-self.log_lr_step)) * self.slopes[keep]
        rho = sharpness_from_slope(per_step, lrs, gap[keep])
        return lrs, np.atleast_1d(rho)


@dataclass(frozen=True, eq=False)
class OneStepSweep:
    r"""Losses after one GD step from the same point, L(θ − ηg), over a grid of η.

    Attributes
    ----------
    lrs
        The rates (finite losses only).
    losses
        L(θ − η g) at each rate.
    slopes
        s = dL(θ − ηg)/d ln η = −η gᵀ∇L(θ − ηg), from the gradient (exact).
    initial_loss
        L(θ).
    grad_norm_sq
        ‖g‖².
    diverged
        Whether a loss was NaN or inf (the sweep stops before it).
    """

    lrs: np.ndarray
    losses: np.ndarray
    slopes: np.ndarray
    initial_loss: float
    grad_norm_sq: float
    diverged: bool

    __repr__ = summary_repr

    def sharpness_estimates(self, loss_min: float) -> np.ndarray:
        """ρ̂ = −s/(2η(L(θ) − L*)) at every rate of the sweep (needs L(θ) > ``loss_min``)."""
        from lrctl.quadratic import sharpness_from_slope

        gap = self.initial_loss - check_scalar("loss_min", loss_min)
        if gap <= 0:
            raise ValueError(
                f"loss_min must lie below the loss at the sweep's point ({self.initial_loss:.6g}), "
                f"got {loss_min!r}"
            )
        return np.atleast_1d(sharpness_from_slope(self.slopes, self.lrs, gap))


@dataclass(frozen=True, eq=False)
class SuggestionInterval:
    """One kind of suggestion over repeated sweeps.

    Attributes
    ----------
    kind
        ``"steepest"``, ``"valley"`` or ``"min_over_10"``.
    values
        The suggestion of every sweep that had one.
    low, high
        Their smallest and largest value.
    point
        Their geometric mean when high/low <= ``agreement``; ``None`` when the sweeps disagree
        (then use the interval, not a point).
    """

    kind: str
    values: np.ndarray
    low: float
    high: float
    point: float | None

    __repr__ = summary_repr

    @property
    def agree(self) -> bool:
        return self.point is not None

    @property
    def spread(self) -> float:
        """high/low, the factor between the extreme suggestions."""
        return self.high / self.low


@dataclass(frozen=True, eq=False)
class RepeatedRangeTest:
    """Several sweeps of the same problem (different seeds or mini-batch orders).

    ``intervals`` maps each suggestion kind to its :class:`SuggestionInterval` (a kind that no
    sweep could suggest is missing).
    """

    sweeps: tuple[RangeTestResult, ...]
    intervals: dict[str, SuggestionInterval]
    agreement: float

    __repr__ = summary_repr


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------


def exponential_lrs(lr_min: float, lr_max: float, steps: int) -> np.ndarray:
    r"""η_t = η_min (η_max/η_min)^{t/(n−1)}, t = 0 … n − 1: the range test's schedule.

    The rates of :class:`lrctl.training.ExponentialRamp` ``(lr_min, lr_max, steps)``.

    >>> exponential_lrs(1e-3, 1e-1, 3)
    array([0.001, 0.01 , 0.1  ])
    """
    return ExponentialRamp(lr_min, lr_max, steps).lrs


def _window_points(width: float, step: float, n: int) -> int:
    """Odd number of grid points covering ``width`` in ln η, at most n; 1 means no smoothing."""
    if width == 0 or n < _POLYORDER + 2:
        return 1
    pts = round(width / step) + 1
    pts = min(pts, n)
    if pts % 2 == 0:
        pts -= 1
    return pts if pts >= _POLYORDER + 2 else 1


def smooth_in_log_lr(lrs: Any, losses: Any, width: float) -> tuple[np.ndarray, np.ndarray, int]:
    r"""Smoothed losses and slopes dL̃/d ln η by a centred Savitzky–Golay filter in ln η.

    At each point a cubic in u = ln η is fitted by least squares to the losses within
    ``width``/2 on either side (``mode='interp'`` fits the end windows, so the ends have no lag
    either); L̃ is the fit's value and s its derivative. On a symmetric window the slope at the
    centre is exact for polynomials of degree <= 4 in ln η; a quadratic fit would bias the
    slope of the small-η part of a sweep, where L ≈ L_0 − A·η = L_0 − A·e^u, by about h²/10
    (h = width/2), a cubic by O(h⁴). ``lrs`` must be a geometric grid. ``width`` = 0 (or a
    window of fewer than 5 points) gives the raw losses and central-difference slopes.
    Returns ``(smoothed, slopes, window_points)``.

    >>> lrs = np.geomspace(1e-3, 1.0, 31)
    >>> u = np.log(lrs)
    >>> sm, s, w = smooth_in_log_lr(lrs, 2.0 - 0.5 * u + 0.1 * u**3, width=1.0)
    >>> bool(np.allclose(s, -0.5 + 0.3 * u**2)), w    # exact on a cubic in ln η
    (True, 5)
    """
    from scipy.signal import savgol_filter

    x = np.log(check_positive("lrs", lrs))
    y = check_finite("losses", losses)
    if x.ndim != 1 or y.shape != x.shape or x.size < 2:
        raise ValueError(
            f"lrs and losses must be 1-D arrays of the same length >= 2, got {x.shape} and {y.shape}"
        )
    steps = np.diff(x)
    step = float(steps.mean())
    if step <= 0 or not np.allclose(steps, step, rtol=1e-6, atol=0):
        raise ValueError("lrs must be an increasing geometric grid (uniform in ln η)")
    w = float(check_positive("width", check_scalar("width", width), allow_zero=True))
    pts = _window_points(w, step, x.size)
    if pts == 1:
        return y.copy(), np.gradient(y, x, edge_order=2 if x.size > 2 else 1), 1
    sm = savgol_filter(y, pts, _POLYORDER, mode="interp")
    slope = savgol_filter(y, pts, _POLYORDER, deriv=1, delta=step, mode="interp")
    return sm, slope, pts


def suggest(lrs: Any, smoothed: Any, slopes: Any) -> Suggestions:
    """Read the three suggestions off a smoothed curve (see :class:`Suggestions`).

    >>> lrs = np.geomspace(1e-4, 1.0, 9)
    >>> loss = np.array([1.0, 0.99, 0.95, 0.8, 0.5, 0.3, 0.25, 0.22, 2.0])
    >>> s = suggest(lrs, loss, np.gradient(loss, np.log(lrs)))
    >>> [round(v, 5) for v in (s.steepest, s.valley, s.min_over_10)]
    [0.01, 0.00316, 0.03162]
    """
    x = check_positive("lrs", lrs)
    y = check_finite("smoothed", smoothed)
    d = check_finite("slopes", slopes)
    if not (x.ndim == 1 and y.shape == x.shape == d.shape and x.size >= 1):
        raise ValueError("lrs, smoothed and slopes must be 1-D arrays of one length")
    m = int(np.argmin(y))
    j = int(np.argmin(d[: m + 1]))
    steepest_idx = j if d[j] < 0 else None
    # Longest run of consecutive decreases of the smoothed loss.
    dec = np.diff(y) < 0
    best_len, best_start, run_start = 0, 0, 0
    for i, down in enumerate(dec):
        if not down:
            run_start = i + 1
            continue
        length = i + 1 - run_start
        if length > best_len:
            best_len, best_start = length, run_start
    valley_idx = best_start + best_len // 2 if best_len > 0 else None
    return Suggestions(
        steepest=None if steepest_idx is None else float(x[steepest_idx]),
        valley=None if valley_idx is None else float(x[valley_idx]),
        min_over_10=float(x[m] / 10.0),
        steepest_index=steepest_idx,
        valley_index=valley_idx,
        minimum_index=m,
    )


def divergence_index(losses: Any, initial_loss: float, *, threshold: float = 3.0,
                     window: int = 3) -> int | None:
    r"""Where the range test's divergence stop fires on a loss curve (``None``: nowhere).

    With m_t the median of the last ``window`` losses up to t (fewer at the start) and
    b_t = min(L_0, m_0, …, m_t) the best level so far, the stop fires at the first t with
    L_t not finite, or m_t > b_t + threshold·max(|b_t|, ε) (ε = 1e-12·max(1, |L_0|)).
    Measured against |b_t|, the rule means the same for negative losses as for positive ones;
    for positive losses and window 1 it is fastai's "loss > (1 + threshold)·best". It is
    :class:`lrctl.training.Divergence` ``(1 + threshold, reference="best", window=window)``,
    the rule :func:`range_test` applies step by step, here on a whole curve.

    >>> divergence_index([1.0, 0.5, 0.4, 0.6, 2.0], 1.2, threshold=3.0, window=1)
    4
    >>> divergence_index([-1.0, -2.0, -3.0, 5.0], -0.5, threshold=2.0, window=1)  # -3 + 2*3 = 3
    3
    """
    thr = float(check_positive("threshold", check_scalar("threshold", threshold)))
    w = check_int("window", window, minimum=1)
    rule = Divergence(factor=1.0 + thr, reference="best", window=w)
    return rule.first_divergence(losses, initial_loss)


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------


def range_test(
    objective: Any,
    theta0: Any = None,
    *,
    lr_min: float = 1e-6,
    lr_max: float = 10.0,
    steps: int = 100,
    threshold: float = 3.0,
    stop_window: int = 3,
    smoothing: float = 1.0,
    batches: Any = None,
) -> RangeTestResult:
    r"""An exponential learning-rate sweep of gradient descent, with a divergence stop.

    ``training.run(objective, ExponentialRamp(lr_min, lr_max, steps), steps,
    monitor=Divergence(1 + threshold, reference="best", window=stop_window))``: step
    t = 0 … n − 1 is θ_{t+1} = θ_t − η_t ∇L(θ_t), and L_t = L(θ_{t+1}) is recorded. The sweep
    stops at the first step where the rule of :func:`divergence_index` fires (NaN/inf, or a
    median loss level ``threshold`` × |best| above the best); a finite loss that triggered the
    stop is kept in ``losses``, a NaN or inf one is not. The part of the curve before the
    divergence is then smoothed in ln η over ``smoothing`` (a width in ln η; 0: none) and
    the suggestions are read off it.

    Parameters
    ----------
    objective
        An :class:`lrctl.objectives.Objective` (``dim``, ``loss``, ``grad``; any class with
        these methods works).
    theta0
        θ_0 (default ``objective.initial()``); the caller's array is not modified.
    lr_min, lr_max, steps
        The ramp (0 < lr_min < lr_max, steps >= :data:`MIN_POINTS`).
    threshold
        Divergence threshold in units of |best loss| (> 0; 3 is fastai's 4× best).
    stop_window
        Median over this many last losses before comparing (1: the raw loss; larger values
        ignore single noisy mini-batch spikes).
    smoothing
        Savitzky–Golay window width in ln η (>= 0).
    batches
        Mini-batches, one per step (see :func:`lrctl.training.run`): step t's gradient and the
        loss L(θ_t) are taken on batch t.

    Raises
    ------
    ValueError
        If the loss or gradient is not finite at ``theta0``, if the loss is NaN/inf or
        diverges already at the first step, or if fewer than :data:`MIN_POINTS` finite losses
        precede the divergence (lower ``lr_min`` or raise ``steps``).

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 4.0]))
    >>> r = range_test(q, [1.0, 1.0], lr_min=1e-3, lr_max=10.0, steps=60)
    >>> r.diverged, 2 / 4 < r.diverged_lr          # diverges only beyond 2/λmax = 0.5
    (True, True)
    """
    check_objective(objective, require=("dim", "loss", "grad"))
    ramp = ExponentialRamp(lr_min, lr_max, steps)
    lrs = ramp.lrs
    if lrs.size < MIN_POINTS:
        raise ValueError(f"steps must be >= {MIN_POINTS}, got {steps}")
    thr = float(check_positive("threshold", check_scalar("threshold", threshold)))
    w = check_int("stop_window", stop_window, minimum=1)
    width = float(check_positive("smoothing", check_scalar("smoothing", smoothing),
                                 allow_zero=True))
    rule = Divergence(factor=1.0 + thr, reference="best", window=w)
    sweep = run(objective, ramp, lrs.size, theta0=theta0, monitor=rule, batches=batches)
    L0 = float(sweep.losses[0])
    raw = sweep.losses[1:]
    diverged_at = None if sweep.diverged_at is None else sweep.diverged_at - 1
    level = np.inf  # the divergence level when the threshold stop fired
    last = sweep.diverged_loss
    if last is not None and np.isfinite(last):
        raw = np.append(raw, last)
        med = _medians(raw, w)
        best = min(L0, float(med[:-1].min())) if med.size > 1 else L0
        fired = float(rule.level(best, L0))
        if med[-1] > fired:
            level = fired
    if diverged_at == 0:
        what = "NaN or inf" if raw.size == 0 else f"{raw[0]:.6g} (from {L0:.6g})"
        raise ValueError(
            f"the loss is {what} after the first step, at lr_min={lrs[0]:g}: the sweep diverged "
            "from its first step; lower lr_min or check the objective"
        )
    # The smoothing and the suggestions see the sweep before the divergence: the trailing run
    # of losses above the divergence level is left out (a cubic fit across that jump would
    # ring and invent a minimum).
    above = raw > level
    n_pre = len(raw) - (int(np.argmin(above[::-1])) if not above.all() else len(raw))
    if n_pre < MIN_POINTS:
        raise ValueError(
            f"the sweep diverged at step {diverged_at} (lr {lrs[diverged_at]:g}) with only "
            f"{n_pre} finite losses before it (need {MIN_POINTS}); lower lr_min or lr_max, or "
            "raise steps"
        )
    pre_lrs = lrs[:n_pre]
    smoothed, slopes, pts = smooth_in_log_lr(pre_lrs, raw[:n_pre], width)
    return RangeTestResult(
        lrs=lrs[: len(raw)],
        losses=raw,
        smoothed=smoothed,
        slopes=slopes,
        initial_loss=L0,
        diverged=diverged_at is not None,
        diverged_at=diverged_at,
        diverged_lr=None if diverged_at is None else float(lrs[diverged_at]),
        suggestions=suggest(pre_lrs, smoothed, slopes),
        log_lr_step=float(np.log(lrs[1] / lrs[0])),
        smoothing_window=pts,
    )


def _medians(y: np.ndarray, w: int) -> np.ndarray:
    """m_t = median of the last ``w`` entries up to t (fewer at the start)."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(w - 1, np.nan), y])
    return np.nanmedian(sliding_window_view(padded, w), axis=1)


def _sweep_for_seed(make_problem: Callable[[Any], tuple[Any, ...]], seed: Any,
                    kwargs: dict[str, Any]) -> RangeTestResult:
    """One sweep of :func:`repeated_range_test`: ``range_test`` on ``make_problem(seed)``
    (runs where the executor puts it)."""
    problem = make_problem(seed)
    if not (isinstance(problem, tuple) and len(problem) in (2, 3)):
        raise TypeError("make_problem(seed) must return a tuple (objective, theta0) or "
                        "(objective, theta0, batches)")
    batches = problem[2] if len(problem) == 3 else None
    return range_test(problem[0], problem[1], batches=batches, **kwargs)


def _check_picklable(executor: Any, payload: tuple[Any, ...]) -> None:
    """Refuse, before anything is submitted, what a process pool cannot send to its workers.

    Only :class:`concurrent.futures.ProcessPoolExecutor` is checked: it uses :mod:`pickle`,
    which refuses lambdas and local functions. Threads share memory, Dask serializes with
    cloudpickle (lambdas and closures work), and any other executor reports its own errors.
    """
    import concurrent.futures
    import pickle

    if not isinstance(executor, concurrent.futures.ProcessPoolExecutor):
        return
    try:
        pickle.dumps(payload)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(
            f"with {type(executor).__name__}, make_problem, the seeds and the range-test "
            f"options must pickle (each sweep runs in another process): {exc}. A lambda or a "
            "local function does not pickle: define make_problem at module level, or use a "
            "ThreadPoolExecutor (no pickling) or Dask's client.get_executor(pure=False) "
            "(cloudpickle sends lambdas and closures)") from exc


def repeated_range_test(
    make_problem: Callable[[Any], tuple[Any, ...]],
    seeds: Sequence[Any],
    *,
    agreement: float = 2.0,
    executor: Any = None,
    **kwargs: Any,
) -> RepeatedRangeTest:
    r"""Range tests repeated over seeds; each suggestion becomes an interval.

    ``make_problem(seed)`` returns ``(objective, theta0)`` or ``(objective, theta0, batches)``
    for one sweep (e.g. the mini-batch order and the initialization drawn from ``seed``);
    ``kwargs`` go to :func:`range_test`. For each suggestion kind, the interval [low, high]
    spans the sweeps' suggestions; it comes with a point (the geometric mean) only when
    high/low <= ``agreement`` (> 1). When the sweeps disagree by more, the honest answer is
    the interval.

    ``executor``: a :class:`concurrent.futures.Executor` (a ``ThreadPoolExecutor``, a
    ``ProcessPoolExecutor``, or Dask's ``client.get_executor(pure=False)``). Each sweep
    (``make_problem(seed)`` and its range test) is then submitted as one task, and the result
    is the same as without an executor: a sweep depends only on its seed. A process pool
    pickles ``make_problem``, so it must be defined at module level (a lambda gets a
    ``TypeError`` before anything runs); threads need no pickling and Dask sends lambdas and
    closures with cloudpickle.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 4.0]))
    >>> rep = repeated_range_test(lambda s: (q, np.random.default_rng(s).normal(size=2)),
    ...                           seeds=[0, 1, 2], lr_min=1e-3, lr_max=10.0, steps=60)
    >>> len(rep.sweeps), sorted(rep.intervals)
    (3, ['min_over_10', 'steepest', 'valley'])
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     rep2 = repeated_range_test(lambda s: (q, np.random.default_rng(s).normal(size=2)),
    ...                                seeds=[0, 1, 2], lr_min=1e-3, lr_max=10.0, steps=60,
    ...                                executor=pool)
    >>> all(np.array_equal(a.losses, b.losses) for a, b in zip(rep.sweeps, rep2.sweeps))
    True
    """
    if not callable(make_problem):
        raise TypeError(f"make_problem must be a callable seed -> (objective, theta0[, batches]), "
                        f"got {make_problem!r}")
    if isinstance(seeds, (str, bytes, dict)) or not hasattr(seeds, "__len__"):
        raise TypeError(f"seeds must be a sequence, got {type(seeds).__name__}")
    for s in (seeds.ravel().tolist() if isinstance(seeds, np.ndarray) else seeds):
        if not (isinstance(s, (numbers.Integral, np.random.Generator, np.random.SeedSequence))
                and not isinstance(s, (bool, np.bool_))) or (
                isinstance(s, numbers.Integral) and s < 0):
            raise TypeError(f"seeds must hold ints >= 0 or Generators, got {s!r}")
    if len(seeds) < 2:
        raise ValueError(f"seeds must hold at least 2 seeds to compare sweeps, got {len(seeds)}")
    agree = check_scalar("agreement", agreement)
    if not agree > 1.0:
        raise ValueError(f"agreement must be a factor > 1, got {agreement!r}")
    if not callable(make_problem):
        raise TypeError(f"make_problem must be a callable seed -> (objective, theta0[, batches]), "
                        f"got {type(make_problem).__name__}")
    seeds = list(seeds)
    if executor is None:
        sweeps = [_sweep_for_seed(make_problem, seed, kwargs) for seed in seeds]
    else:
        if not callable(getattr(executor, "submit", None)):
            raise TypeError(f"executor must be a concurrent.futures.Executor (with submit), "
                            f"got {type(executor).__name__}")
        _check_picklable(executor, (make_problem, seeds, kwargs))
        futures = [executor.submit(_sweep_for_seed, make_problem, seed, kwargs)
                   for seed in seeds]
        try:
            sweeps = [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    intervals = {}
    for kind in _SUGGESTION_KINDS:
        vals = np.array([v for s in sweeps if (v := getattr(s.suggestions, kind)) is not None])
        if vals.size == 0:
            continue
        lo, hi = float(vals.min()), float(vals.max())
        point = float(np.exp(np.mean(np.log(vals)))) if hi / lo <= agree else None
        intervals[kind] = SuggestionInterval(kind, vals, lo, hi, point)
    return RepeatedRangeTest(tuple(sweeps), intervals, agree)


# ---------------------------------------------------------------------------------------
# One step from a fixed point
# ---------------------------------------------------------------------------------------


def _call_loss(loss: Callable[[np.ndarray], Any], theta: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            value = loss(theta)
        except ResultOverflow:  # lrctl's objectives refuse to return inf: the point diverged
            return np.inf
    arr = np.asarray(value, dtype=float)
    if arr.ndim != 0:
        raise TypeError(f"loss must return a scalar, got an array of shape {arr.shape}")
    return float(arr)


def _call_grad(grad: Callable[[np.ndarray], Any], theta: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            g = np.asarray(grad(theta), dtype=float)
        except ResultOverflow:
            return np.full(theta.shape, np.inf)
    if g.shape != theta.shape:
        raise ValueError(f"grad must return an array of the parameters' shape {theta.shape}, "
                         f"got {g.shape}")
    return g


def one_step_sweep(
    loss: Callable[[np.ndarray], Any],
    grad: Callable[[np.ndarray], np.ndarray],
    params: Any,
    lrs: Any,
    *,
    stacked: bool = False,
) -> OneStepSweep:
    r"""L(θ − ηg) over a grid of η from one point θ (g = ∇L(θ)), and its slope in ln η.

    This is the experiment the slope formula s = −η‖g‖² + η²gᵀHg describes exactly on a
    quadratic (:func:`lrctl.quadratic.exact_range_test_slope`); its small-η limit gives
    ρ̂ → ‖g‖²/(2L) (:meth:`OneStepSweep.sharpness_estimates`). The slope is computed from the
    gradient, not by differencing the losses: by the chain rule

        s(η) = dL(θ − ηg)/d ln η = −η gᵀ∇L(θ − ηg),

    exact on any differentiable loss. With ``stacked=True``, ``loss`` and ``grad`` are called
    once on the (K, dim) stack of points (the :mod:`lrctl.objectives` problems accept that)
    instead of K times. ``lrs`` must increase; the sweep stops before the first NaN/inf loss.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([2.0, 0.5]))
    >>> sw = one_step_sweep(q.loss, q.grad, [1.0, 0.0], np.geomspace(1e-6, 1e-4, 5), stacked=True)
    >>> round(float(sw.sharpness_estimates(0.0)[0]), 5)   # g along λ = 2: ρ̂ → 2
    2.0
    """
    for name, fn in (("loss", loss), ("grad", grad)):
        if not callable(fn):
            raise TypeError(f"{name} must be a callable of the parameters, got {fn!r}")
    stacked = check_bool("stacked", stacked)
    theta = check_finite("params", params).astype(float)
    x = check_positive("lrs", lrs)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"lrs must be a non-empty 1-D array, got shape {x.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("lrs must be increasing")
    try:
        L0 = _call_loss(loss, theta)
        g = _call_grad(grad, theta)
    except (TypeError, ValueError) as exc:
        if "params" in str(exc):
            raise
        raise type(exc)(f"params: the loss or gradient failed at params of shape "
                        f"{theta.shape}: {exc}") from exc
    if not (np.isfinite(L0) and np.all(np.isfinite(g))):
        raise ValueError("the loss or gradient at params is not finite")
    pts = theta[None, :] - x[:, None] * g[None, :]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            stacked_vals = (np.asarray(loss(pts), dtype=float), np.asarray(grad(pts), dtype=float)
                            ) if stacked else None
        except ResultOverflow:  # some point overflowed: evaluate them one by one
            stacked_vals, stacked = None, False
        if stacked:
            vals, grads = stacked_vals
            if vals.shape != x.shape or grads.shape != pts.shape:
                raise ValueError(
                    f"with stacked=True, loss and grad must return shapes {x.shape} and "
                    f"{pts.shape}, got {vals.shape} and {grads.shape}"
                )
        else:
            vals = np.array([_call_loss(loss, p) for p in pts])
            grads = np.array([_call_grad(grad, p) for p in pts])
        dots = grads @ g
    bad = ~(np.isfinite(vals) & np.isfinite(dots))
    n = int(np.argmax(bad)) if bad.any() else x.size
    if n == 0:
        raise ValueError(f"the one-step loss is not finite already at the rate {x[0]:g}; "
                         "lower the rates or check the objective")
    return OneStepSweep(x[:n], vals[:n], -x[:n] * dots[:n], L0, float(g @ g), bool(bad.any()))


# ---------------------------------------------------------------------------------------
# The sweep on a quadratic, in closed form
# ---------------------------------------------------------------------------------------


def quadratic_sweep_log_excess(hessian: Any, error: Any, lrs: Any) -> np.ndarray:
    r"""ln(L_t − L*) of a GD sweep on a quadratic, in closed form, for t = 0 … n − 1.

    On L = L* + ½eᵀHe with H = Σ λ_i u_i u_iᵀ, the error after the steps with η_0 … η_t has
    components c_i Π_{s<=t}(1 − η_sλ_i), c = Uᵀe_0, so

        L_t − L* = ½ Σ_i λ_i c_i² Π_{s<=t} (1 − η_sλ_i)².

    The sum is formed in log space (log-sum-exp), so the result is finite however far the sweep
    diverged (a factor exactly 0 is floored at the smallest positive double). Vectorized over
    the schedule: one cumulative sum, no loop.

    >>> le = quadratic_sweep_log_excess(np.diag([1.0, 4.0]), [1.0, 1.0], [0.1, 0.2])
    >>> np.round(np.exp(le), 6)     # ½(1·0.9² + 4·0.6²), then ½(0.9²·0.8² + 4·0.6²·0.2²)
    array([1.125, 0.288])
    """
    from scipy.special import logsumexp

    H = check_finite("hessian", hessian)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
        raise ValueError(f"hessian must be a non-empty square matrix, got shape {H.shape}")
    e = check_finite("error", error)
    if e.shape != (H.shape[0],):
        raise ValueError(f"error must have shape ({H.shape[0]},), got {e.shape}")
    x = check_positive("lrs", lrs)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("lrs must be a non-empty 1-D array")
    lam, U = np.linalg.eigh(0.5 * (H + H.T))
    scale = max(float(np.abs(lam).max()), 1e-300)
    if lam[0] < -1e-10 * scale:
        raise ValueError(f"hessian has a negative eigenvalue ({lam[0]:.6g}); the loss of a sweep "
                         "on an indefinite quadratic has no floor")
    c = U.T @ e
    keep = (lam > 0) & (c != 0)
    if not keep.any():
        raise ValueError("the error has no component along a positive eigenvalue: L = L* already")
    lam, c = lam[keep], c[keep]
    factors = np.abs(1.0 - x[:, None] * lam[None, :])
    logf = np.log(np.maximum(factors, np.finfo(float).tiny))
    # ln(½λc²) = ln(½λ) + 2 ln|c|: no overflow for |c| up to the float64 limit
    log_terms = (np.log(0.5 * lam) + 2.0 * np.log(np.abs(c)))[None, :] + 2.0 * np.cumsum(
        logf, axis=0)
    return logsumexp(log_terms, axis=1)


def steepest_lr_prediction(curvature: Any, log_lr_step: Any) -> np.ndarray | float:
    r"""Where a training sweep's loss falls fastest against ln η: η_steep = (1 − e^{−Δ})/(2ρ).

    Early in a sweep the steps are small and the loss along a direction of curvature ρ decays
    like exp(−2ρ S_t), with S_t = Σ_{s<=t} η_s = η_t/(1 − e^{−Δ}) + const the cumulative rate of a
    geometric grid with step Δ in ln η. As a function of u = ln η_t that is exp(−c e^u),
    c = 2ρ/(1 − e^{−Δ}), whose slope in u is steepest where c e^u = 1. So the steepest-slope
    suggestion is set by the ramp step as much as by the problem: halve the steps per decade and
    it doubles. With a spectrum, ρ is an effective curvature; ‖g‖²/(2L) at the start
    (:func:`lrctl.quadratic.gradient_weighted_curvature`) predicts it within about 20% on the
    problem of the analysis ``range-test``. Broadcasts.

    >>> round(steepest_lr_prediction(1.0, np.log(10) / 20), 5)    # 20 steps per decade
    0.05437
    """
    rho = check_positive("curvature", curvature)
    step = check_positive("log_lr_step", log_lr_step)
    out = (1.0 - np.exp(-step)) / (2.0 * rho)
    return scalar_or_array(out)


# ---------------------------------------------------------------------------------------
# The fast-ramp caveat: a slow exponential ramp crushes, then regrows, the top component
# ---------------------------------------------------------------------------------------

_RETURN_POINT: float | None = None


def ramp_log_amplitude(lr: Any, curvature: Any, log_lr_step: Any) -> np.ndarray | float:
    r"""ln of the factor by which an exponential sweep has scaled an error component, ≈ −Re Li₂(ηλ)/Δ.

    Along an eigenvector of curvature λ, GD multiplies the error by |1 − η_sλ| each step; a
    sweep on a geometric grid u_s = ln η_s with spacing Δ that starts far below 1/λ has, by
    the time it reaches η, scaled it by exp(Σ_s ln|1 − η_sλ|), and for small Δ

        Σ_s ln|1 − η_sλ| ≈ (1/Δ) ∫_{−∞}^{ln η} ln|1 − λe^u| du = (1/Δ) ∫_0^{ηλ} ln|1 − x|/x dx
                         = −Re Li₂(ηλ)/Δ

    (Li₂ the dilogarithm; :func:`derive_ramp_amplitude`). The exponent is most negative at
    ηλ = 2, the stability bound, where it is −π²/(4Δ), and it is back to 0 only at ηλ = X₀ ≈ 12.6
    (:func:`ramp_return_point`). Broadcasts over all three arguments.

    >>> round(float(ramp_log_amplitude(2.0, 1.0, 0.1)), 4)   # −π²/(4·0.1)
    -24.674
    """
    from scipy.special import spence

    eta = check_positive("lr", lr)
    lam = check_positive("curvature", curvature)
    step = check_positive("log_lr_step", log_lr_step)
    X = (eta * lam).astype(complex)
    out = -np.real(spence(1.0 - X)) / step  # Li₂(z) = spence(1 − z) in scipy's convention
    return scalar_or_array(out)


def ramp_return_point() -> float:
    r"""X₀ ≈ 12.595, the root of Re Li₂(X) = 0 on X > 2.

    In exact arithmetic a slow exponential sweep on a quadratic first crushes the component
    along λ_max (by exp(−π²/(4Δ)) at η = 2/λ_max) and only brings it back to its starting size
    at η = X₀/λ_max, about 6.3 times the stability bound 2/λ_max, at every ramp speed. A real
    problem re-seeds the top direction (non-quadratic terms, noise, round-off), so a slow sweep
    there diverges nearer the bound; a fast one still overshoots.

    >>> round(ramp_return_point(), 6)
    12.59517
    """
    global _RETURN_POINT
    if _RETURN_POINT is None:
        from scipy.optimize import brentq
        from scipy.special import spence

        _RETURN_POINT = float(brentq(lambda X: np.real(spence(1.0 - X + 0j)), 2.0, 100.0,
                                     xtol=1e-14, rtol=1e-15))
    return _RETURN_POINT


def derive_ramp_amplitude():
    r"""Derive the log-amplitude −Re Li₂(ηλ)/Δ of an error component under a slow exponential sweep."""
    import sympy

    from lrctl.derivation import Derivation

    eta, lam, Delta = sympy.symbols("eta lambda Delta", positive=True)
    x, u, X = sympy.symbols("x u X", positive=True)
    s = sympy.Symbol("s", integer=True)
    A = sympy.log(sympy.Symbol("A", positive=True))  # A: the amplitude factor so far
    per_step = sympy.log(sympy.Abs(1 - sympy.Symbol("eta_s") * lam))
    below = -sympy.polylog(2, X)  # ∫_0^X ln(1 − x)/x dx for 0 < X < 1; checked by differentiating
    check = sympy.simplify(sympy.expand_func(sympy.diff(below, X)) - sympy.log(1 - X) / X)
    if check != 0:  # pragma: no cover - guards the algebra
        raise ArithmeticError(f"d/dX of -Li2(X) is not ln(1 - X)/X: {check}")
    result = -sympy.re(sympy.polylog(2, eta * lam)) / Delta
    li2_at_2 = sympy.simplify(sympy.re(sympy.polylog(2, 2)))
    if sympy.simplify(li2_at_2 - sympy.pi**2 / 4) != 0:  # pragma: no cover - guards the algebra
        raise ArithmeticError(f"Re Li2(2) should be pi^2/4, got {li2_at_2}")
    return Derivation(
        title="Exponential LR sweep: the log-amplitude of an error component",
        result=result,
        statement=sympy.Eq(A, result),
        steps=(
            ("Each gradient step scales the component along curvature λ by", sympy.Abs(1 - sympy.Symbol("eta_s") * lam)),
            ("Log-amplitude after the steps so far", sympy.Eq(A, sympy.Sum(per_step, (s, -sympy.oo, sympy.Symbol("t"))))),
            ("The grid is geometric: equal steps in the log learning rate",
             sympy.Eq(sympy.Symbol("u_s"), sympy.log(sympy.Symbol("eta_s")))),
            ("with spacing Δ, so the sum becomes an integral",
             sympy.Eq(A, sympy.Integral(sympy.log(sympy.Abs(1 - lam * sympy.exp(u))), (u, -sympy.oo, sympy.log(eta))) / Delta)),
            ("Substitution", sympy.Eq(x, lam * sympy.exp(u))),
            ("turns it into", sympy.Eq(A, sympy.Integral(sympy.log(sympy.Abs(1 - x)) / x, (x, 0, eta * lam)) / Delta)),
            ("Below one the integral is a dilogarithm", sympy.Eq(sympy.Integral(sympy.log(1 - x) / x, (x, 0, X)), below)),
            ("For every positive argument, taking the real part across the branch point at one",
             sympy.Eq(A, result)),
            ("Deepest at the stability bound", sympy.Eq(eta * lam, 2)),
            ("where the real part of the dilogarithm is known", sympy.Eq(sympy.re(sympy.polylog(2, 2)), li2_at_2)),
            ("so the deepest log-amplitude is", sympy.Eq(A, -li2_at_2 / Delta)),
            ("Back to the starting amplitude at the root", sympy.Eq(sympy.re(sympy.polylog(2, sympy.Symbol("X_0"))), 0)),
        ),
        assumptions=(
            "quadratic loss; the sweep starts far below 1/λ",
            "geometric learning-rate grid with small spacing Δ in ln η (sum ≈ integral)",
            "exact arithmetic: nothing re-seeds the component once it is crushed",
        ),
        symbols={"eta": eta, "lam": lam, "Delta": Delta},
    )
