r"""Learning-rate schedules as pure functions of the step, and their integrals.

Every factory here returns a :class:`Schedule`: a small frozen, callable object ``f`` with
``f(step) -> lr``. ``step`` may be a Python ``int`` (of any size), a ``float`` (the ODE models in
:mod:`lrctl.continual` evaluate schedules in continuous time) or a numpy array of either; a
scalar gives a ``float`` and an array gives an array of the same shape. Steps must be finite and
``>= 0``. The ``repr`` of a schedule is the factory call that rebuilds it.

=======================================  ===================================================
factory                                  η(t) (``t`` = step)
=======================================  ===================================================
``constant(lr)``                         lr
``piecewise_constant(values, bounds)``   values[i] on [bounds[i−1], bounds[i])
``step_decay(lr, step_size, gamma)``     lr·gamma^⌊t/step_size⌋ (PyTorch ``StepLR``)
``exponential(lr, decay_rate, steps)``   lr·decay_rate^(t/steps) (PyTorch ``ExponentialLR``)
``linear_decay(lr_max, horizon, lr_min)`` lr_max + (lr_min − lr_max)·min(t, H)/H
``cosine(lr_max, horizon, lr_min)``      lr_min + ½(lr_max − lr_min)(1 + cos(π·min(t, H)/H))
``cosine_warm_restarts(...)``            SGDR: the cosine restarted every cycle, cycles
                                         growing by ``mult`` (PyTorch
                                         ``CosineAnnealingWarmRestarts``)
``linear_warmup(lr_max, steps, lr_init)`` linear ramp lr_init → lr_max, then lr_max
``one_cycle(lr_max, horizon, ...)``      cosine up to lr_max at pct_start·H, cosine down
``join(schedules, boundaries)``          schedule i on [b_{i−1}, b_i), fed t − b_{i−1}
=======================================  ===================================================

Compound schedules come from :func:`join` (warmup then cosine, say), not from special cases.

Integrals. :func:`integral` gives ∫₀ᵀ η(t)^p dt for p = 1 (the total "distance" a rate can
move the weights, the plasticity budget of :mod:`lrctl.continual`) and p = 2 (the noise /
forgetting budget). Every built-in schedule has a closed form (sums of linear, cosine and
exponential pieces); a user-supplied callable is integrated by adaptive quadrature. The closed
forms are tested against quadrature.
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._validation import (
    check_choice,
    check_finite,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
    scalar_or_array,
)

__all__ = [
    "Schedule",
    "as_schedule",
    "constant",
    "cosine",
    "cosine_warm_restarts",
    "exponential",
    "integral",
    "join",
    "linear_decay",
    "linear_warmup",
    "one_cycle",
    "piecewise_constant",
    "step_decay",
]

_INT64_MAX = np.iinfo(np.int64).max


# ---------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------


def _as_steps(step: Any) -> tuple[np.ndarray, bool]:
    """``(float array, was_scalar)`` of validated steps (finite, >= 0)."""
    if isinstance(step, (bool, np.bool_)):
        raise TypeError(f"step must be a number or an array of numbers, got the bool {step!r}")
    arr = check_finite("step", step)
    if np.any(arr < 0):
        bad = float(arr.min())
        raise ValueError(f"step must be >= 0 (steps count from 0), got {bad!r}")
    return arr, arr.ndim == 0


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


# ---------------------------------------------------------------------------------------
# The schedule type
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class Schedule:
    """A learning-rate schedule: ``f(step) -> lr``, immutable.

    Built by the factories of this module; do not subclass it for new shapes, combine
    existing ones with :func:`join` or wrap a plain function with :func:`as_schedule`.

    Attributes
    ----------
    name
        The factory that built it (``"cosine"``, ...).
    params
        The factory arguments as ``(name, value)`` pairs; ``repr`` shows the call.
    """

    name: str
    params: tuple[tuple[str, Any], ...]

    # -- evaluation -----------------------------------------------------------------------
    def __call__(self, step: ArrayLike) -> float | np.ndarray:
        t, scalar = _as_steps(step)
        out = self._value(t)
        return float(out) if scalar else out

    def _value(self, t: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise TypeError(f"{type(self).__name__} does not define its values")

    def _scalar(self, t: float) -> float:
        """η(t) for one float t >= 0 (a fast path for ODE right-hand sides)."""
        return float(self._value(np.asarray([t], dtype=float))[0])

    def _antiderivative(self, t: np.ndarray, power: int) -> np.ndarray | None:
        """∫₀ᵗ η(s)^power ds elementwise, or None when no closed form is known."""
        return None

    # -- the public face of the hooks above (for ODE solvers and quadrature elsewhere) ------
    def at(self, t: float) -> float:
        """η(t) for one time t >= 0 as a float: a scalar-only fast path of a call.

        For ODE right-hand sides, which evaluate a schedule at one float time thousands of
        times (:func:`lrctl.continual.simulate_stability_plasticity`): ``t`` must be one real
        number (finite, >= 0); arrays go through the call ``f(step)``.

        >>> cosine(0.1, 100).at(50.0)
        0.05
        """
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real):
            raise TypeError(f"t must be one real number >= 0, got {type(t).__name__}")
        tf = float(t)
        if not (math.isfinite(tf) and tf >= 0.0):
            raise ValueError(f"t must be finite and >= 0 (steps count from 0), got {t!r}")
        return self._scalar(tf)

    def breakpoints_in(self, horizon: float) -> np.ndarray:
        """The steps in (0, horizon) where η or its derivative jumps (restarts, joins, steps).

        An ODE solver or a quadrature integrates piece by piece between them.

        >>> step_decay(0.1, 30, 0.5).breakpoints_in(100).tolist()
        [30.0, 60.0, 90.0]
        """
        h = check_scalar("horizon", horizon)
        if h < 0:
            raise ValueError(f"horizon must be >= 0, got {h!r}")
        return self._breakpoints(h)

    def _breakpoints(self, horizon: float) -> np.ndarray:
        """Steps in (0, horizon) where η or its derivative jumps (for quadrature)."""
        return np.empty(0)

    @property
    def has_closed_form(self) -> bool:
        """Whether :func:`integral` has a closed form for this schedule."""
        return self._antiderivative(np.zeros(1), 1) is not None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params)
        return f"{self.name}({args})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return type(self) is type(other) and self.params == other.params

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.params))


# -- piecewise linear / cosine segments ---------------------------------------------------
# A segment is (kind, length, v0, v1): "linear" interpolates v0 -> v1 linearly, "cosine"
# follows v1 + (v0 - v1)(1 + cos(pi s/length))/2 (half a cosine from v0 down/up to v1),
# "const" holds v0 (= v1). After the last segment the schedule holds ``tail``.


def _seg_value(kind: str, length: float, v0: float, v1: float, s: np.ndarray) -> np.ndarray:
    if kind == "const":
        return np.full_like(s, v0)
    u = s / length
    if kind == "linear":
        return v0 + (v1 - v0) * u
    return v1 + 0.5 * (v0 - v1) * (1.0 + np.cos(np.pi * u))


def _seg_integral(kind: str, length: float, v0: float, v1: float, s: np.ndarray,
                  power: int) -> np.ndarray:
    """∫₀ˢ η^power over one segment, s in [0, length]."""
    if kind == "const":
        return v0**power * s
    if kind == "linear":
        vs = v0 + (v1 - v0) * s / length
        if power == 1:
            return 0.5 * s * (v0 + vs)
        return s * (v0 * v0 + v0 * vs + vs * vs) / 3.0
    # cosine: η = c + d cos(πs/L), c = (v0+v1)/2, d = (v0−v1)/2
    c, d = 0.5 * (v0 + v1), 0.5 * (v0 - v1)
    w = np.pi / length
    if power == 1:
        return c * s + d * np.sin(w * s) / w
    return (c * c * s + 2.0 * c * d * np.sin(w * s) / w
            + d * d * (0.5 * s + np.sin(2.0 * w * s) / (4.0 * w)))


@dataclass(frozen=True, repr=False, eq=False)
class _Segments(Schedule):
    segments: tuple[tuple[str, float, float, float], ...] = ()
    tail: float = 0.0

    def _starts(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum([seg[1] for seg in self.segments])])

    def _value(self, t: np.ndarray) -> np.ndarray:
        starts = self._starts()
        out = np.full(t.shape, self.tail, dtype=float)
        for (kind, length, v0, v1), t0 in zip(self.segments, starts[:-1], strict=True):
            mask = (t >= t0) & (t < t0 + length)
            if np.any(mask):
                out[mask] = _seg_value(kind, length, v0, v1, t[mask] - t0)
        return out

    def _scalar(self, t: float) -> float:
        t0 = 0.0
        for kind, length, v0, v1 in self.segments:
            if t < t0 + length:
                s = t - t0
                if kind == "const":
                    return v0
                if kind == "linear":
                    return v0 + (v1 - v0) * s / length
                return v1 + 0.5 * (v0 - v1) * (1.0 + math.cos(math.pi * s / length))
            t0 += length
        return self.tail

    def _antiderivative(self, t: np.ndarray, power: int) -> np.ndarray:
        starts = self._starts()
        total = np.zeros(t.shape, dtype=float)
        for (kind, length, v0, v1), t0 in zip(self.segments, starts[:-1], strict=True):
            s = np.clip(t - t0, 0.0, length)
            total = total + _seg_integral(kind, length, v0, v1, s, power)
        return total + self.tail**power * np.maximum(t - starts[-1], 0.0)

    def _breakpoints(self, horizon: float) -> np.ndarray:
        b = self._starts()
        return b[(b > 0) & (b < horizon)]


@dataclass(frozen=True, repr=False, eq=False)
class _PiecewiseConstant(Schedule):
    values: tuple[float, ...] = ()
    boundaries: tuple[float, ...] = ()

    def _value(self, t: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.boundaries), t, side="right")
        return np.asarray(self.values)[idx]

    def _scalar(self, t: float) -> float:
        return self.values[bisect.bisect_right(self.boundaries, t)]

    def _antiderivative(self, t: np.ndarray, power: int) -> np.ndarray:
        edges = np.concatenate([[0.0], self.boundaries, [np.inf]])
        vals = np.asarray(self.values) ** power
        total = np.zeros(t.shape, dtype=float)
        for i, v in enumerate(vals):
            lo, hi = edges[i], edges[i + 1]
            total = total + v * np.clip(t - lo, 0.0, hi - lo)
        return total

    def _breakpoints(self, horizon: float) -> np.ndarray:
        b = np.asarray(self.boundaries, dtype=float)
        return b[b < horizon]


@dataclass(frozen=True, repr=False, eq=False)
class _StepDecay(Schedule):
    lr: float = 0.0
    step_size: float = 1.0
    gamma: float = 1.0

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self.lr * self.gamma ** np.floor(t / self.step_size)

    def _scalar(self, t: float) -> float:
        return self.lr * self.gamma ** math.floor(t / self.step_size)

    def _antiderivative(self, t: np.ndarray, power: int) -> np.ndarray:
        # k whole periods give lr^p s (1 − g^k)/(1 − g) with g = γ^p, then g^k (t − k s).
        g = self.gamma**power
        k = np.floor(t / self.step_size)
        gk = g**k
        whole = self.step_size * k if g == 1.0 else self.step_size * (1.0 - gk) / (1.0 - g)
        return self.lr**power * (whole + gk * (t - k * self.step_size))

    def _breakpoints(self, horizon: float) -> np.ndarray:
        n = math.ceil(horizon / self.step_size)
        b = self.step_size * np.arange(1, max(n, 1))
        return b[b < horizon]


@dataclass(frozen=True, repr=False, eq=False)
class _Exponential(Schedule):
    lr: float = 0.0
    decay_rate: float = 1.0
    decay_steps: float = 1.0

    def _value(self, t: np.ndarray) -> np.ndarray:
        return self.lr * self.decay_rate ** (t / self.decay_steps)

    def _scalar(self, t: float) -> float:
        return self.lr * self.decay_rate ** (t / self.decay_steps)

    def _antiderivative(self, t: np.ndarray, power: int) -> np.ndarray:
        # η^p = lr^p e^{−pκt}, κ = −ln(r)/steps:  ∫₀ᵗ = lr^p (1 − e^{−pκt})/(pκ)
        if self.decay_rate == 1.0:
            return self.lr**power * t
        kappa = power * (-math.log(self.decay_rate)) / self.decay_steps
        return self.lr**power * (-np.expm1(-kappa * t)) / kappa


@dataclass(frozen=True, repr=False, eq=False)
class _WarmRestarts(Schedule):
    lr_max: float = 0.0
    period: int = 1
    mult: int = 1
    lr_min: float = 0.0

    # -- the cycle, in exact integer arithmetic -------------------------------------------
    def _cycle_of_int(self, s: int) -> tuple[int, int]:
        """``(T_cur, T_i)`` of integer step ``s``, exactly (Python ints, any size).

        Cycle n starts at S_n = period·(mult^n − 1)/(mult − 1) (period·n when mult = 1)
        and lasts T_n = period·mult^n; no floating-point logarithm is involved.
        """
        p, m = self.period, self.mult
        if m == 1:
            return s % p, p
        start, length = 0, p
        while start + length <= s:
            start += length
            length *= m
        return s - start, length

    def _cycle_scalar(self, t: float | int) -> tuple[float, float]:
        """``(T_cur, T_i)`` of one step; exact for ints of any size."""
        if isinstance(t, numbers.Integral):
            cur, length = self._cycle_of_int(int(t))
            return float(cur), float(length)
        whole = math.floor(t)
        cur, length = self._cycle_of_int(int(whole))
        return cur + (t - whole), float(length)

    def _cycle_int64(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """T_cur (exact in int64, returned as float) and T_i for an int64 array of steps."""
        p, m = self.period, self.mult
        if m == 1:
            return (s % p).astype(float), np.full(s.shape, float(p))
        smax = int(s.max()) if s.size else 0
        starts, lengths = [0], [p]
        while starts[-1] + lengths[-1] <= smax:
            starts.append(starts[-1] + lengths[-1])
            lengths.append(lengths[-1] * m)
        st = np.asarray(starts, dtype=np.int64)
        n = np.searchsorted(st, s, side="right") - 1
        return (s - st[n]).astype(float), np.asarray([float(v) for v in lengths])[n]

    def _cycle(self, step: Any) -> tuple[Any, Any]:
        """``(T_cur, T_i)`` as floats (scalars or arrays shaped like ``step``)."""
        if isinstance(step, (numbers.Integral, float, np.floating)):
            return self._cycle_scalar(step)
        raw = np.asarray(step)
        if raw.dtype == object or (np.issubdtype(raw.dtype, np.integer) and raw.size
                                   and int(raw.max()) > _INT64_MAX):
            pairs = [self._cycle_scalar(v) for v in raw.ravel().tolist()]
            cur = np.asarray([c for c, _ in pairs], dtype=float).reshape(raw.shape)
            return cur, np.asarray([n for _, n in pairs], dtype=float).reshape(raw.shape)
        if np.issubdtype(raw.dtype, np.integer):
            return self._cycle_int64(raw.astype(np.int64))
        t = np.asarray(raw, dtype=float)
        whole = np.floor(t)
        if np.any(whole >= 2.0**62):
            return self._cycle(t.astype(object))
        cur, length = self._cycle_int64(whole.astype(np.int64))
        return cur + (t - whole), length

    def _from_cycle(self, cur: Any, length: Any) -> Any:
        return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (1.0 + np.cos(np.pi * cur / length))

    def __call__(self, step: ArrayLike) -> float | np.ndarray:
        _, scalar = _as_steps(step)
        if scalar and isinstance(step, np.ndarray):
            step = step.item()
        out = self._from_cycle(*self._cycle(step))
        return float(out) if scalar else np.asarray(out, dtype=float)

    def _value(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(self._from_cycle(*self._cycle(t)), dtype=float)

    def _scalar(self, t: float) -> float:
        cur, length = self._cycle_scalar(float(t))
        return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (1.0 + math.cos(math.pi * cur
                                                                                  / length))

    def _antiderivative(self, t: np.ndarray, power: int) -> np.ndarray:
        # Whole cycles average c (p=1) or c² + d²/2 (p=2), c = (M+m)/2, d = (M−m)/2; the
        # current cycle adds the partial cosine integral over [0, T_cur].
        t = np.asarray(t, dtype=float)
        cur, length = self._cycle(t)
        start = t - cur
        c, d = 0.5 * (self.lr_max + self.lr_min), 0.5 * (self.lr_max - self.lr_min)
        whole = c * start if power == 1 else (c * c + 0.5 * d * d) * start
        return whole + _seg_integral("cosine", length, self.lr_max, self.lr_min, cur, power)

    def cycle_starts(self, horizon: float) -> np.ndarray:
        """The restart steps S_0 = 0 < S_1 < ... that are < ``horizon`` (exact integers).

        >>> cosine_warm_restarts(0.1, period=10, mult=2).cycle_starts(100)
        array([ 0, 10, 30, 70])
        """
        h = check_scalar("horizon", horizon)
        starts, length = [0], self.period
        while starts[-1] + length < h:
            starts.append(starts[-1] + length)
            length *= self.mult
        return np.asarray(starts, dtype=np.int64 if starts[-1] <= _INT64_MAX else object)

    def _breakpoints(self, horizon: float) -> np.ndarray:
        b = self.cycle_starts(horizon).astype(float)
        return b[b > 0]


@dataclass(frozen=True, repr=False, eq=False)
class _Join(Schedule):
    parts: tuple[Schedule, ...] = ()
    boundaries: tuple[float, ...] = ()

    def _value(self, t: np.ndarray) -> np.ndarray:
        b = np.asarray(self.boundaries)
        idx = np.searchsorted(b, t, side="right")
        offsets = np.concatenate([[0.0], b])
        out = np.empty(t.shape, dtype=float)
        for i, part in enumerate(self.parts):
            mask = idx == i
            if np.any(mask):
                out[mask] = part._value(t[mask] - offsets[i])
        return out

    def _scalar(self, t: float) -> float:
        i = bisect.bisect_right(self.boundaries, t)
        return self.parts[i]._scalar(t - (self.boundaries[i - 1] if i else 0.0))

    def _antiderivative(self, t: np.ndarray, power: int) -> np.ndarray | None:
        edges = np.concatenate([[0.0], self.boundaries, [np.inf]])
        total = np.zeros(t.shape, dtype=float)
        for i, part in enumerate(self.parts):
            s = np.clip(t - edges[i], 0.0, edges[i + 1] - edges[i])
            piece = part._antiderivative(s, power)
            if piece is None:
                return None
            total = total + piece
        return total

    def _breakpoints(self, horizon: float) -> np.ndarray:
        edges = np.concatenate([[0.0], self.boundaries, [np.inf]])
        points = [np.asarray(self.boundaries, dtype=float)]
        for i, part in enumerate(self.parts):
            lo, hi = edges[i], min(edges[i + 1], horizon)
            if hi > lo:
                points.append(lo + part._breakpoints(hi - lo))
        b = np.unique(np.concatenate(points))
        return b[(b > 0) & (b < horizon)]


@dataclass(frozen=True, repr=False, eq=False)
class _Callable(Schedule):
    fn: Callable[[Any], Any] | None = None
    breakpoints: tuple[float, ...] = field(default=())

    def _value(self, t: np.ndarray) -> np.ndarray:
        assert self.fn is not None
        try:
            out = np.asarray(self.fn(t), dtype=float)
            if out.shape != t.shape:
                raise ValueError
        except (TypeError, ValueError):
            out = np.asarray([float(self.fn(float(v))) for v in t.ravel()]).reshape(t.shape)
        if not np.all(np.isfinite(out)) or np.any(out < 0):
            raise ValueError(
                f"the schedule {self.fn!r} returned a learning rate that is negative or not "
                f"finite (min {np.nanmin(out) if out.size else 0!r}); learning rates must be "
                ">= 0 and finite"
            )
        return out

    def _breakpoints(self, horizon: float) -> np.ndarray:
        b = np.asarray(self.breakpoints, dtype=float)
        return b[(b > 0) & (b < horizon)]

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"as_schedule(<{name}>)"


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _lr(name: str, value: Any, *, allow_zero: bool = False) -> float:
    check_scalar(name, value)
    return float(check_positive(name, value, allow_zero=allow_zero))


def _lr_min(lr_min: Any, lr_max: float) -> float:
    v = check_scalar("lr_min", lr_min)
    if not 0.0 <= v <= lr_max:
        raise ValueError(f"lr_min must lie in [0, lr_max] = [0, {lr_max!r}], got {v!r}")
    return v


def _duration(name: str, value: Any) -> float:
    check_scalar(name, value)
    return float(check_positive(name, value))


# ---------------------------------------------------------------------------------------
# Factories
# ---------------------------------------------------------------------------------------


def constant(lr: float) -> Schedule:
    """η(t) = lr for every step.

    >>> constant(0.1)([0, 10, 1e6])
    array([0.1, 0.1, 0.1])
    """
    v = _lr("lr", lr, allow_zero=True)
    return _Segments("constant", (("lr", v),), segments=(), tail=v)


def piecewise_constant(values: Sequence[float], boundaries: Sequence[float]) -> Schedule:
    """η(t) = values[i] for boundaries[i−1] <= t < boundaries[i] (boundaries[−1] = 0).

    ``values`` has one more entry than ``boundaries``, which must be positive and strictly
    increasing.

    >>> f = piecewise_constant([0.1, 0.01, 0.001], [30, 60])
    >>> f([0, 29, 30, 59.5, 60, 100])
    array([0.1  , 0.1  , 0.01 , 0.01 , 0.001, 0.001])
    """
    vals = check_positive("values", values, allow_zero=True)
    bnds = check_positive("boundaries", boundaries)
    if vals.ndim != 1 or bnds.ndim != 1 or vals.size != bnds.size + 1:
        raise ValueError(
            "values must be a 1-D sequence with exactly one more entry than boundaries, got "
            f"{vals.size} values and {bnds.size} boundaries"
        )
    if bnds.size and np.any(np.diff(bnds) <= 0):
        raise ValueError(f"boundaries must be strictly increasing, got {bnds.tolist()}")
    v, b = tuple(float(x) for x in vals), tuple(float(x) for x in bnds)
    return _PiecewiseConstant("piecewise_constant", (("values", v), ("boundaries", b)),
                              values=v, boundaries=b)


def step_decay(lr: float, step_size: float, gamma: float = 0.1) -> Schedule:
    """η(t) = lr·gamma^⌊t/step_size⌋: multiply by ``gamma`` every ``step_size`` steps.

    The same values as PyTorch's ``StepLR(step_size, gamma)`` at integer steps.
    ``gamma`` in (0, 1].

    >>> step_decay(0.1, 30, gamma=0.1)([0, 29, 30, 60])
    array([0.1  , 0.1  , 0.01 , 0.001])
    """
    v = _lr("lr", lr)
    s = _duration("step_size", step_size)
    g = float(check_in_interval("gamma", check_scalar("gamma", gamma), 0.0, 1.0,
                                low_closed=False, high_closed=True))
    return _StepDecay("step_decay", (("lr", v), ("step_size", s), ("gamma", g)),
                      lr=v, step_size=s, gamma=g)


def exponential(lr: float, decay_rate: float, decay_steps: float = 1.0) -> Schedule:
    r"""η(t) = lr·decay_rate^(t/decay_steps), a smooth exponential decay.

    With ``decay_steps=1`` the same values as PyTorch's ``ExponentialLR(gamma=decay_rate)``
    at integer steps. ``decay_rate`` in (0, 1].

    >>> round(exponential(0.1, 0.5, decay_steps=10)(20), 12)
    0.025
    """
    v = _lr("lr", lr)
    r = float(check_in_interval("decay_rate", check_scalar("decay_rate", decay_rate), 0.0, 1.0,
                                low_closed=False, high_closed=True))
    s = _duration("decay_steps", decay_steps)
    return _Exponential("exponential", (("lr", v), ("decay_rate", r), ("decay_steps", s)),
                        lr=v, decay_rate=r, decay_steps=s)


def linear_decay(lr_max: float, horizon: float, lr_min: float = 0.0) -> Schedule:
    """η(t) = lr_max + (lr_min − lr_max)·min(t, horizon)/horizon: linear to ``lr_min``, then held.

    >>> linear_decay(0.1, 100)([0, 50, 100, 200])
    array([0.1 , 0.05, 0.  , 0.  ])
    """
    hi = _lr("lr_max", lr_max)
    h = _duration("horizon", horizon)
    lo = _lr_min(lr_min, hi)
    return _Segments("linear_decay", (("lr_max", hi), ("horizon", h), ("lr_min", lo)),
                     segments=(("linear", h, hi, lo),), tail=lo)


def cosine(lr_max: float, horizon: float, lr_min: float = 0.0) -> Schedule:
    r"""η(t) = lr_min + ½(lr_max − lr_min)(1 + cos(π·min(t, H)/H)): half a cosine, then held.

    The same values as PyTorch's ``CosineAnnealingLR(T_max=horizon, eta_min=lr_min)`` for
    0 <= t <= horizon (PyTorch keeps oscillating after ``T_max``; this schedule holds
    ``lr_min``).

    >>> cosine(0.1, 100, lr_min=0.01)([0, 50, 100, 150])
    array([0.1  , 0.055, 0.01 , 0.01 ])
    """
    hi = _lr("lr_max", lr_max)
    h = _duration("horizon", horizon)
    lo = _lr_min(lr_min, hi)
    return _Segments("cosine", (("lr_max", hi), ("horizon", h), ("lr_min", lo)),
                     segments=(("cosine", h, hi, lo),), tail=lo)


def cosine_warm_restarts(lr_max: float, period: int, mult: int = 1,
                         lr_min: float = 0.0) -> Schedule:
    r"""SGDR (Loshchilov & Hutter, 2017): cosine annealing restarted at the end of each cycle.

    Cycle n (n = 0, 1, ...) starts at S_n = period·(mult^n − 1)/(mult − 1) (period·n when
    mult = 1) and lasts T_n = period·mult^n. Inside it, with T_cur = t − S_n,

    .. math:: η(t) = lr_{min} + ½(lr_{max} − lr_{min})(1 + \cos(π T_{cur}/T_n)).

    Matches PyTorch's ``CosineAnnealingWarmRestarts(T_0=period, T_mult=mult, eta_min=lr_min)``
    stepped one step at a time, also at very large steps: the cycle index is found with exact
    integer arithmetic (Python ints for scalars, int64 for arrays). PyTorch's ``step(epoch)``
    shortcut finds it with a floating-point logarithm, ``int(log(epoch/T_0·(T_mult−1)+1,
    T_mult))``, which lands one cycle short at some restarts (e.g. T_0 = 1, T_mult = 3, step
    121, where log₃(243) evaluates to 4.999...). As in PyTorch, ``period`` and ``mult`` are
    integers (period >= 1, mult >= 1).

    >>> f = cosine_warm_restarts(1.0, period=10, mult=2)
    >>> f([0, 5, 10, 30])
    array([1. , 0.5, 1. , 1. ])
    >>> f(10 * (2**60 - 1))  # a restart near 1.2e19: exact integer cycle arithmetic
    1.0
    >>> round(f(10**18), 6)
    0.672648
    """
    hi = _lr("lr_max", lr_max)
    p = check_int("period", period, minimum=1)
    m = check_int("mult", mult, minimum=1)
    lo = _lr_min(lr_min, hi)
    return _WarmRestarts("cosine_warm_restarts",
                         (("lr_max", hi), ("period", p), ("mult", m), ("lr_min", lo)),
                         lr_max=hi, period=p, mult=m, lr_min=lo)


def linear_warmup(lr_max: float, warmup_steps: float, lr_init: float = 0.0) -> Schedule:
    """η rises linearly from ``lr_init`` to ``lr_max`` over ``warmup_steps``, then holds.

    Join it with a decay to warm up then anneal:
    ``join([linear_warmup(0.1, 5), cosine(0.1, 95)], [5])``. PyTorch's
    ``LinearLR(start_factor=f, total_iters=n)`` on base rate lr is
    ``linear_warmup(lr, n, lr_init=f·lr)``.

    >>> linear_warmup(0.1, 10)([0, 5, 10, 20])
    array([0.  , 0.05, 0.1 , 0.1 ])
    """
    hi = _lr("lr_max", lr_max)
    w = _duration("warmup_steps", warmup_steps)
    lo = check_scalar("lr_init", lr_init)
    if not 0.0 <= lo <= hi:
        raise ValueError(f"lr_init must lie in [0, lr_max] = [0, {hi!r}], got {lo!r}")
    return _Segments("linear_warmup", (("lr_max", hi), ("warmup_steps", w), ("lr_init", lo)),
                     segments=(("linear", w, lo, hi),), tail=hi)


def one_cycle(lr_max: float, horizon: float, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4) -> Schedule:
    r"""The 1cycle policy (Smith & Topin, 2019), cosine-annealed in both phases.

    From lr_max/div_factor up to lr_max over [0, pct_start·H] (half a cosine), then down to
    lr_max/(div_factor·final_div_factor) at t = H, then held.

    PyTorch's ``OneCycleLR(max_lr, total_steps=N, pct_start=p)`` puts its peak at step
    p·N − 1 and its end at N − 1; it equals ``one_cycle(max_lr, N − 1, pct_start=(p·N −
    1)/(N − 1))`` at integer steps.

    >>> f = one_cycle(0.1, 100)
    >>> f([0, 30, 100])
    array([4.e-03, 1.e-01, 4.e-07])
    """
    hi = _lr("lr_max", lr_max)
    h = _duration("horizon", horizon)
    p = float(check_in_interval("pct_start", check_scalar("pct_start", pct_start), 0.0, 1.0,
                                low_closed=False, high_closed=False))
    div = check_scalar("div_factor", div_factor)
    fdiv = check_scalar("final_div_factor", final_div_factor)
    if div < 1.0:
        raise ValueError(f"div_factor must be >= 1 (start at lr_max/div_factor), got {div!r}")
    if fdiv < 1.0:
        raise ValueError(f"final_div_factor must be >= 1, got {fdiv!r}")
    start, final = hi / div, hi / (div * fdiv)
    return _Segments(
        "one_cycle",
        (("lr_max", hi), ("horizon", h), ("pct_start", p), ("div_factor", div),
         ("final_div_factor", fdiv)),
        segments=(("cosine", p * h, start, hi), ("cosine", (1.0 - p) * h, hi, final)),
        tail=final,
    )


def as_schedule(schedule: Any, *, breakpoints: Sequence[float] = ()) -> Schedule:
    """``schedule`` as a :class:`Schedule`: a schedule passes through, a callable is wrapped.

    A wrapped callable is called with a float array of steps (or, if that fails, one float
    at a time) and must return learning rates >= 0. It has no closed-form integral
    (:func:`integral` uses adaptive quadrature); ``breakpoints`` lists steps where it jumps,
    which helps the quadrature.

    >>> f = as_schedule(lambda t: 0.1 / (1.0 + t))
    >>> f([0, 1, 9])
    array([0.1 , 0.05, 0.01])
    """
    if isinstance(schedule, Schedule):
        return schedule
    if not callable(schedule):
        raise TypeError(
            f"schedule must be a Schedule or a callable f(step) -> lr, got {schedule!r}"
        )
    if isinstance(breakpoints, (str, bytes, dict)) or not hasattr(breakpoints, "__len__"):
        raise TypeError(f"breakpoints must be a sequence of steps, got {breakpoints!r}")
    bps = check_positive("breakpoints", breakpoints, allow_zero=True)
    if bps.ndim != 1:
        raise ValueError(f"breakpoints must be a 1-D sequence of steps, got shape {bps.shape}")
    return _Callable("as_schedule", (("schedule", schedule),), fn=schedule,
                     breakpoints=tuple(float(b) for b in np.ravel(bps)))


def join(schedules: Sequence[Any], boundaries: Sequence[float]) -> Schedule:
    """Schedule i on [boundaries[i−1], boundaries[i]), called with the shifted step t − b_{i−1}.

    ``len(boundaries) == len(schedules) − 1``, boundaries positive and strictly increasing
    (optax's ``join_schedules``). Integrals stay closed-form when every part has one.

    >>> warm_cos = join([linear_warmup(0.1, 10), cosine(0.1, 90)], [10])
    >>> warm_cos([0, 5, 10, 55, 100])
    array([0.  , 0.05, 0.1 , 0.05, 0.  ])
    """
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
        raise TypeError(f"schedules must be a sequence of schedules, got {schedules!r}")
    if len(schedules) == 0:
        raise ValueError("schedules must hold at least one schedule, got an empty sequence")
    parts = tuple(as_schedule(s) for s in schedules)
    if isinstance(boundaries, (str, bytes, dict)) or not hasattr(boundaries, "__len__"):
        raise TypeError(f"boundaries must be a sequence of steps, got {boundaries!r}")
    bnds = check_positive("boundaries", boundaries) if len(boundaries) else np.empty(0)
    if bnds.ndim != 1 or bnds.size != len(parts) - 1:
        raise ValueError(
            f"boundaries must have len(schedules) − 1 = {len(parts) - 1} entries, got {bnds.size}"
        )
    if np.any(np.diff(bnds) <= 0):
        raise ValueError(f"boundaries must be strictly increasing, got {bnds.tolist()}")
    b = tuple(float(x) for x in bnds)
    return _Join("join", (("schedules", parts), ("boundaries", b)), parts=parts, boundaries=b)


# ---------------------------------------------------------------------------------------
# Integrals
# ---------------------------------------------------------------------------------------

# Gauss–Legendre nodes on [0, 1] for the piecewise quadrature.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_GL_X, _GL_W = 0.5 * (_GL_X + 1.0), 0.5 * _GL_W


def _quadrature(sched: Schedule, horizon: float, power: int) -> float:
    if horizon == 0.0:
        return 0.0
    if isinstance(sched, _Callable) and not sched.breakpoints:
        from scipy.integrate import quad

        val, _ = quad(lambda s: float(sched._value(np.asarray([s]))[0]) ** power, 0.0, horizon,
                      limit=500, epsabs=0.0, epsrel=1e-12)
        return float(val)
    # Composite Gauss–Legendre between the schedule's breakpoints (where it jumps or kinks),
    # each smooth piece further cut into at most horizon/64-long sub-intervals.
    edges = np.unique(np.concatenate([[0.0], sched._breakpoints(horizon), [horizon]]))
    lengths = np.diff(edges)
    n_sub = np.maximum(1, np.ceil(lengths / (horizon / 64.0))).astype(int)
    lo = np.repeat(edges[:-1], n_sub)
    width = np.repeat(lengths / n_sub, n_sub)
    lo = lo + width * (np.arange(lo.size) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub))
    nodes = lo[:, None] + width[:, None] * _GL_X[None, :]
    vals = sched._value(nodes.ravel()).reshape(nodes.shape) ** power
    return float(np.sum(width * (vals @ _GL_W)))


def integral(schedule: Any, horizon: ArrayLike, *, power: int = 1,
             method: str = "auto") -> float | np.ndarray:
    r"""∫₀ᴴ η(t)^power dt for power 1 or 2; broadcasts over ``horizon``.

    ``method="closed"`` uses the schedule's closed form (every built-in schedule and every
    :func:`join` of them has one), ``"quadrature"`` integrates numerically (composite
    Gauss–Legendre between the schedule's breakpoints; for a plain callable, adaptive
    ``scipy.integrate.quad``), ``"auto"`` takes the closed form when there is one.

    Closed forms, on a piece where η goes from v0 to v1 over length L (u = elapsed):
    linear: ∫η = u(v0 + v(u))/2, ∫η² = u(v0² + v0 v(u) + v(u)²)/3; cosine η = c + d cos(πs/L):
    ∫η = cu + (dL/π) sin(πu/L), ∫η² = c²u + (2cdL/π) sin(πu/L) + d²(u/2 + (L/4π) sin(2πu/L));
    exponential: ∫lr^p r^{ps/S} = lr^p (1 − r^{pu/S})·S/(−p ln r). SGDR adds whole cycles
    (mean c resp. c² + d²/2) to the partial cycle.

    >>> integral(cosine(0.1, 100), 100)               # mean of the half cosine is lr/2
    5.0
    >>> round(integral(cosine(0.1, 100), 100, power=2), 12)   # mean of η² is 3/8 lr²
    0.375
    """
    sched = as_schedule(schedule)
    h = check_positive("horizon", horizon, allow_zero=True)
    if check_int("power", power, minimum=1) not in (1, 2):
        raise ValueError(f"power must be 1 or 2, got {power!r}")
    check_choice("method", method, ("auto", "closed", "quadrature"))
    closed = sched._antiderivative(np.atleast_1d(h).astype(float), power) \
        if method != "quadrature" else None
    if method == "closed" and closed is None:
        raise ValueError(
            f"{sched!r} has no closed-form integral; use method='quadrature' or 'auto'"
        )
    if closed is not None:
        out = np.asarray(closed, dtype=float).reshape(h.shape)
    else:
        out = np.asarray([_quadrature(sched, float(v), power) for v in h.ravel()]).reshape(h.shape)
    return scalar_or_array(out)
