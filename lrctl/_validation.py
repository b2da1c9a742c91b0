"""Argument checks shared by every module.

Each check raises ``TypeError`` or ``ValueError`` with a message that names the argument, shows
the value it got and says what would be valid, so that a bad call fails at the boundary instead
of returning NaN from deep inside a computation.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_float_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a float array, or a ``TypeError`` naming ``name``."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number or an array of numbers, got {_show(value)}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a number or an array of numbers, got {_show(value)}"
        ) from exc
    return arr


def check_finite(name: str, value: Any) -> np.ndarray:
    """Float array of ``value``; every entry must be finite."""
    arr = as_float_array(name, value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {_show(value)}")
    return arr


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> np.ndarray:
    """Float array of ``value``; every entry finite and > 0 (>= 0 with ``allow_zero``)."""
    arr = check_finite(name, value)
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        rng = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {rng}, got {_show(value)}")
    return arr


def check_in_interval(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_closed: bool = True,
    high_closed: bool = False,
) -> np.ndarray:
    """Float array of ``value``; every entry inside the interval from ``low`` to ``high``."""
    arr = check_finite(name, value)
    lo_ok = arr >= low if low_closed else arr > low
    hi_ok = arr <= high if high_closed else arr < high
    if not np.all(lo_ok & hi_ok):
        interval = f"{'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"
        raise ValueError(f"{name} must lie in {interval}, got {_show(value)}")
    return arr


def check_scalar(name: str, value: Any) -> float:
    """``value`` as a finite Python float (a 0-d array or numpy scalar is accepted)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got the bool {value!r}")
    arr = check_finite(name, value)
    if arr.ndim != 0:
        raise TypeError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    return float(arr)


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (bools and non-integral floats rejected), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_show(value)}")
    ivalue = int(value)
    if minimum is not None and ivalue < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {ivalue}")
    return ivalue


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_show(value)}")
    return value


def as_rng(seed: Any) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a ``SeedSequence`` or a ``Generator``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a SeedSequence, a Generator or None, got {_show(seed)}")


def scalar_or_array(value: Any) -> Any:
    """A 0-d result as a Python ``float``, anything else as a numpy array.

    >>> scalar_or_array(np.float64(2.0)), scalar_or_array([1.0, 2.0])
    (2.0, array([1., 2.]))
    """
    arr = np.asarray(value, dtype=float)
    return float(arr) if arr.ndim == 0 else arr
