"""A short ``repr`` for result dataclasses: arrays are summarized, not printed in full.

A result of a 2,000-step run holds arrays of thousands of numbers; the default dataclass
``repr`` prints every one of them. :func:`summary_repr` keeps the ``Name(field=value, ...)``
form but shows an array as its shape and a few values, a long tuple as its length, and cuts
any one field at :data:`MAX_FIELD` characters. A class uses it by assignment in its body::

    @dataclass(frozen=True)
    class Result:
        losses: np.ndarray
        __repr__ = summary_repr

(a ``__repr__`` defined in the class body is kept by ``dataclass``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["summary_repr"]

#: Arrays with at most this many entries are shown in full.
SMALL_ARRAY = 6
#: Longest text shown for one field (longer text is cut and ends in "...").
MAX_FIELD = 120


def _cut(text: str, limit: int = MAX_FIELD) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _array(a: np.ndarray) -> str:
    if a.size <= SMALL_ARRAY:
        return _cut(np.array2string(a, precision=4, separator=", ", threshold=SMALL_ARRAY))
    flat = a.ravel()
    head = np.array2string(flat[:3], precision=4, separator=", ")[1:-1]
    tail = np.array2string(flat[-1:], precision=4, separator=", ")[1:-1]
    return f"array(shape={a.shape}, [{head}, ..., {tail}])"


def _value(v: Any, depth: int) -> str:
    if isinstance(v, np.ndarray):
        return _array(v)
    if isinstance(v, (tuple, list)) and len(v) > SMALL_ARRAY:
        kinds = sorted({type(x).__name__ for x in v})
        return f"<{type(v).__name__} of {len(v)} {'/'.join(kinds)}>"
    if isinstance(v, dict) and len(v) > SMALL_ARRAY:
        return f"<dict of {len(v)} entries>"
    if dataclasses.is_dataclass(v) and not isinstance(v, type) and depth > 0:
        return f"{type(v).__name__}(...)"
    if isinstance(v, (tuple, list)):
        inner = ", ".join(_value(x, depth + 1) for x in v)
        return _cut(f"({inner}{',' if len(v) == 1 else ''})" if isinstance(v, tuple)
                    else f"[{inner}]")
    return _cut(repr(v))


def summary_repr(self) -> str:
    """``Name(field=value, ...)`` with arrays summarized (shape and a few values).

    >>> from dataclasses import dataclass
    >>> import numpy as np
    >>> @dataclass(frozen=True)
    ... class Result:
    ...     losses: np.ndarray
    ...     diverged: bool
    ...     __repr__ = summary_repr
    >>> Result(np.linspace(1.0, 0.0, 1001), False)
    Result(losses=array(shape=(1001,), [1.   , 0.999, 0.998, ..., 0.]), diverged=False)
    >>> Result(np.array([1.0, 0.5]), True)
    Result(losses=[1. , 0.5], diverged=True)
    """
    if dataclasses.is_dataclass(self):
        parts = [f"{f.name}={_value(getattr(self, f.name), 0)}"
                 for f in dataclasses.fields(self) if f.repr]
    else:
        parts = [f"{k}={_value(v, 0)}" for k, v in vars(self).items() if not k.startswith("_")]
    return f"{type(self).__name__}({', '.join(parts)})"
