"""Figure builders: result objects in, matplotlib Figures out.

Library modules never plot; analysis scripts wire results to these builders. Every builder
takes an optional ``ax`` (or creates its own figure), labels its axes with units, and returns
the Figure. Nothing here calls ``plt.show``.

Builders are grouped by topic in submodules (``lrctl.plots.quadratic``,
``lrctl.plots.zdomain``, ...); this module holds the shared style. The style is applied
through ``matplotlib.rc_context`` while a builder runs (:func:`styled`), so importing
``lrctl.plots`` leaves the global ``matplotlib.rcParams`` (a user's own figures) and the
backend unchanged (``lrctl report`` runs analyses with ``MPLBACKEND=Agg``).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import matplotlib
import matplotlib.pyplot as plt

#: The report's figure style: readable at report size (about 800 px wide).
STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.labelsize": 10.5,
    "legend.fontsize": 9,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.constrained_layout.use": True,
}

_F = TypeVar("_F", bound=Callable[..., Any])


def styled(builder: _F) -> _F:
    """Run ``builder`` inside ``matplotlib.rc_context(STYLE)``: the report's style for the
    figures and artists it creates, and nothing changed outside it."""

    @functools.wraps(builder)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return builder(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

#: Colours used consistently: predicted (theory) vs measured (simulation/training).
PREDICTED = "#1f3a5f"
MEASURED = "#d95f02"
STABLE = "#2e7d32"
UNSTABLE = "#b3261e"


def check_result(name: str, value: Any, attrs: tuple[str, ...], what: str) -> Any:
    """``value`` unchanged when it has every attribute in ``attrs`` (the fields the builder
    reads); otherwise a ``TypeError`` naming the argument and the result type it expects.

    Checked by the fields read rather than by class, so that any object with the same fields
    (a result of another version, a hand-built record) is drawn.

    >>> check_result("run", 0.5, ("output",), "an AdaptationResult")
    Traceback (most recent call last):
    ...
    TypeError: run must be an AdaptationResult (with output), got float
    """
    if isinstance(value, (str, bytes, numbers.Number, Mapping)) or value is None or any(
            not hasattr(value, a) for a in attrs):
        missing = [a for a in attrs if not hasattr(value, a)]
        raise TypeError(f"{name} must be {what} (with {', '.join(missing or attrs)}), got "
                        f"{type(value).__name__}")
    return value


def check_results(name: str, value: Any, attrs: tuple[str, ...], what: str) -> Any:
    """A non-empty mapping label -> result, each checked by :func:`check_result`."""
    if not isinstance(value, Mapping) or not value:
        raise TypeError(f"{name} must be a non-empty mapping label -> {what}, got "
                        f"{type(value).__name__}")
    for key, v in value.items():
        check_result(f"{name}[{key!r}]", v, attrs, what)
    return value


def _check_size(name: str, value: Any, *, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number (inches), got {value!r:.40}")
    if not 0 < float(value) <= maximum:
        raise ValueError(f"{name} must be a number in (0, {maximum:g}], got {value!r}")
    return float(value)


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r:.40}")
    if not 1 <= int(value) <= 50:
        raise ValueError(f"{name} must be an int in [1, 50], got {value!r}")
    return int(value)


@styled
def subplots(nrows: int = 1, ncols: int = 1, *, width: float = 7.5, height: float | None = None,
             **kwargs: Any):
    """``plt.subplots`` with the report's default size (inches): ``width`` wide, panels about
    0.62·width/ncols tall each (1 to 50 rows and columns, sizes up to 200 inches)."""
    nrows, ncols = _check_count("nrows", nrows), _check_count("ncols", ncols)
    width = _check_size("width", width, maximum=200.0)
    if height is not None:
        height = _check_size("height", height, maximum=200.0)
    if height is None:
        height = max(2.8, 0.62 * width / ncols) * nrows
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def tidy_log_ticks(ax: Any, axis: str = "both") -> None:
    """Readable log-axis ticks: 1-2-5 steps in plain numbers over short ranges, decades
    otherwise (matplotlib's default minor labels like 3×10⁻¹ collide at report size).
    Call it after plotting, when the data limits are known."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    check_axes("ax", ax)
    if axis not in ("both", "x", "y"):
        raise ValueError(f"axis must be 'both', 'x' or 'y', got {axis!r:.40}")

    for name in ("x", "y") if axis == "both" else (axis,):
        a = ax.xaxis if name == "x" else ax.yaxis
        if a.get_scale() != "log":
            continue
        lo, hi = sorted(a.get_view_interval())
        short = lo > 0 and hi < 300 * lo  # (a ratio would overflow near 1e-300)
        a.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0) if short else (1.0,)))
        if short:
            a.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        a.set_minor_formatter(NullFormatter())


def check_axes(name: str, ax: Any) -> Any:
    """``ax`` unchanged when it is a matplotlib ``Axes``; otherwise a ``TypeError`` naming it."""
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"{name} must be a matplotlib Axes (or None for a new figure), got "
                        f"{type(ax).__name__}")
    return ax


def axes_or_new(ax: Any = None, **kwargs: Any):
    """``(fig, ax)``: the figure of ``ax``, or a new one-panel figure."""
    if ax is None:
        return subplots(**kwargs)
    check_axes("ax", ax)
    return ax.figure, ax


def is_figure(value: Any) -> bool:
    """True for a matplotlib Figure (what :func:`save_figure` takes)."""
    from matplotlib.figure import Figure

    return isinstance(value, Figure)


def save_figure(fig: Any, png: Any, svg: Any, *, dpi: int = 110) -> None:
    """Write ``fig`` as PNG and SVG, byte-identical for identical figures, then close it.

    No dates or software versions go into the metadata, and the ids matplotlib writes into
    SVG use a fixed salt; the report engine relies on this for reproducible reports.
    """
    if not is_figure(fig):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    with matplotlib.rc_context({"svg.hashsalt": "lrctl"}):
        fig.savefig(png, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(svg, bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
