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


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def as_float_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a float array, or a ``TypeError`` naming ``name``.

    ``True`` is not a number: bools and boolean arrays are refused, as are strings, ``None``,
    dicts and ragged sequences.

    >>> as_float_array("lr", [0.1, 1])
    array([0.1, 1. ])
    """
    if isinstance(value, (str, bytes, dict)) or value is None or _is_bool(value):
        raise TypeError(f"{name} must be a number or an array of numbers, got {_show(value)}")
    try:
        raw = value if isinstance(value, np.ndarray) else np.asarray(value)
        if raw.dtype == bool:
            raise TypeError(f"{name} must be numbers, got a boolean array {_show(value)}")
        if raw.dtype.kind in "cUSV" or (raw.dtype == object and raw.size and any(
                _is_bool(v) or isinstance(v, (str, bytes)) for v in raw.ravel()[:1000])):
            raise TypeError(f"{name} must be real numbers, got {_show(value)}")
        arr = np.asarray(raw, dtype=float)
    except TypeError as exc:
        if name in str(exc):
            raise
        raise TypeError(
            f"{name} must be a number or an array of numbers, got {_show(value)}"
        ) from exc
    except ValueError as exc:
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
    if _is_bool(value):
        raise TypeError(f"{name} must be a real number, got the bool {value!r}")
    arr = check_finite(name, value)
    if arr.ndim != 0:
        raise TypeError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    return float(arr)


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (bools and non-integral floats rejected), at least ``minimum``."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_show(value)}")
    ivalue = int(value)
    if minimum is not None and ivalue < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {ivalue}")
    return ivalue


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool``; only ``True``/``False`` (or a numpy bool) are accepted.

    A flag read by truthiness would take ``"no"`` for ``True``; this refuses it.

    >>> check_bool("alternating", False)
    False
    """
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False, got {_show(value)}")
    return bool(value)


def check_tol(name: str, value: Any) -> float:
    """``value`` as a finite float scalar > 0 (a tolerance; arrays and bools are refused)."""
    t = check_scalar(name, value)
    if t <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {_show(value)}")
    return t


def check_dim(name: str, value: Any, *, required: bool = False) -> int | None:
    """``value`` as an ``int >= 1``, or ``None`` when not ``required``.

    A dimension that the call does not use (an array already has a shape) is still checked,
    so that ``dim="abc"`` never passes silently.
    """
    if value is None:
        if required:
            raise TypeError(f"{name} is required (the parameter count, an int >= 1)")
        return None
    return check_int(name, value, minimum=1)


def check_output(value: Any, inputs: str) -> Any:
    """``value`` unchanged when every entry is finite; otherwise a ``ValueError`` naming ``inputs``.

    For results of finite inputs that overflow float64: the inputs are too large for the
    formula, and the message says which arguments to look at.
    """
    arr = np.asarray(value)
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise ValueError(
            f"the result overflows float64 for these inputs; {inputs} too large "
            "(scale them down)"
        )
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` must be one of ``choices``."""
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be one of {', '.join(map(repr, choices))}; got {_show(value)}"
        )
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_show(value)}")
    return value


def as_rng(seed: Any) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a ``SeedSequence`` or a ``Generator``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if _is_bool(seed):
        raise TypeError(f"seed must be an int, a SeedSequence, a Generator or None, got {seed!r}")
    if isinstance(seed, numbers.Integral) and seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
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
