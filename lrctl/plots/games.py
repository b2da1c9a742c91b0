"""Figures for minimax games: regime maps, phase portraits, rates and the alternating invariant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrctl.plots import (
    MEASURED,
    PREDICTED,
    STABLE,
    UNSTABLE,
    axes_or_new,
    check_result,
    check_results,
    styled,
    tidy_log_ticks,
)

#: Background colours of the three regimes (converges, cycles, diverges), light tints.
REGIME_COLOURS = ("#b9dfbb", "#d9dde3", "#f3b8b3")
_AXIS_LABELS = {
    "lr_x": r"step size $\eta_x$ of the minimizing player $x$",
    "lr_y": r"step size $\eta_y$ of the maximizing player $y$",
    "lr": r"step size $\eta = \eta_x = \eta_y$",
    "momentum": "momentum β",
    "gamma": "R1 penalty weight γ",
}
METHOD_COLOURS = {
    "simultaneous": UNSTABLE,
    "alternating": "#6a51a3",
    "extragradient": STABLE,
    "optimistic": "#1f78b4",
}


def _log_ticks(ax: Any, axis: str = "both") -> None:
    """Decade ticks written as plain numbers (0.01, 0.1, 1, 10): readable, and no mathtext
    layout per tick label."""
    from matplotlib.ticker import FuncFormatter

    tidy_log_ticks(ax, axis)
    for name in ("x", "y") if axis == "both" else (axis,):
        a = ax.xaxis if name == "x" else ax.yaxis
        if a.get_scale() == "log":
            a.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))


def _regime_legend(ax: Any, extra: Sequence[Any] = (), loc: str = "lower left") -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=c, edgecolor="0.5", label=n)
               for c, n in zip(REGIME_COLOURS, ("converges", "cycles", "diverges"), strict=True)]
    ax.legend(handles=[*handles, *extra], loc=loc, framealpha=0.9)


@styled
def regime_map(rmap: Any, *, ax: Any = None, title: str = "",
               boundaries: Sequence[tuple[str, np.ndarray, np.ndarray]] = (),
               simulated: np.ndarray | None = None, compared: np.ndarray | None = None,
               rho_levels: Sequence[float] = (), legend: bool = True,
               legend_loc: str = "lower left"):
    """Regimes over a 2-D grid (a :class:`lrctl.games.RegimeMap`) as coloured areas.

    ``boundaries``: (label, x, y) curves drawn dashed (e.g. the theory's η_xη_y = 4/σ²).
    ``simulated``: the regime codes a simulation observed on the same grid; the points in
    ``compared`` where it disagrees with the prediction are marked with black crosses.
    ``rho_levels``: spectral-radius contours drawn and labelled.
    """
    check_result("rmap", rmap, ("regime", "spectral_radius", "x", "y", "x_name", "y_name", "method"), "a RegimeMap (lrctl.games.regime_map)")
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D

    fig, ax = axes_or_new(ax)
    cmap = ListedColormap(list(REGIME_COLOURS))
    norm = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], cmap.N)
    ax.pcolormesh(rmap.x, rmap.y, rmap.regime, cmap=cmap, norm=norm, shading="nearest",
                  rasterized=True)
    if rho_levels:
        cs = ax.contour(rmap.x, rmap.y, rmap.spectral_radius, levels=sorted(rho_levels),
                        colors="0.25", linewidths=0.8)
        ax.clabel(cs, fmt=lambda v: f"ρ={v:g}", fontsize=8)
    extra = []
    for label, bx, by in boundaries:
        (line,) = ax.plot(bx, by, "--", color=PREDICTED, lw=1.8, label=label)
        extra.append(line)
    if simulated is not None:
        pred = np.asarray(rmap.regime)
        mask = np.ones_like(pred, dtype=bool) if compared is None else np.asarray(compared)
        bad = mask & (np.asarray(simulated) != pred)
        X, Y = np.meshgrid(rmap.x, rmap.y)
        ax.plot(X[bad], Y[bad], "x", color="k", ms=5, mew=1.2)
        extra.append(Line2D([], [], ls="", marker="x", color="k",
                            label=f"simulation disagrees ({int(bad.sum())} of {int(mask.sum())})"))
    if rmap.x_name.startswith("lr"):
        ax.set_xscale("log")
    if rmap.y_name.startswith("lr"):
        ax.set_yscale("log")
    _log_ticks(ax)
    ax.set_xlim(rmap.x[0], rmap.x[-1])
    ax.set_ylim(rmap.y[0], rmap.y[-1])
    ax.set_xlabel(_AXIS_LABELS.get(rmap.x_name, rmap.x_name))
    ax.set_ylabel(_AXIS_LABELS.get(rmap.y_name, rmap.y_name))
    ax.grid(False)
    ax.set_title(title or rmap.method)
    if legend:
        _regime_legend(ax, extra, legend_loc)
    return fig


@styled
def phase_portrait(trajectories: Mapping[str, Any], *, ax: Any = None, title: str = "",
                   limit: float | None = None, invariant: tuple[np.ndarray, np.ndarray] | None = None):
    """(x_t, y_t) paths of 1-D games, one per label (``GameTrajectory`` objects).

    ``invariant``: (x, y) points of a level set to draw (e.g. the conserved ellipse of
    alternating GDA). ``limit`` clips the view to [−limit, limit]².
    """
    check_results("trajectories", trajectories, ("x", "y"), "a GameTrajectory")
    fig, ax = axes_or_new(ax)
    for label, tr in trajectories.items():
        method = getattr(tr, "method", "")
        colour = METHOD_COLOURS.get(method)
        ax.plot(tr.x[:, 0], tr.y[:, 0], "-", lw=1.2, color=colour, label=label, alpha=0.9)
        ax.plot(tr.x[:, 0], tr.y[:, 0], ".", ms=3, color=colour)
    if trajectories:
        first = next(iter(trajectories.values()))
        ax.plot(first.x[0, 0], first.y[0, 0], "o", color="k", ms=6, label="start")
    if invariant is not None:
        ax.plot(invariant[0], invariant[1], ":", color="k", lw=1.5,
                label="level set of the conserved E")
    ax.plot(0, 0, "*", color="k", ms=10, label="equilibrium")
    if limit is not None:
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x (minimizing player)")
    ax.set_ylabel("y (maximizing player)")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8.5, framealpha=0.9)
    return fig


@styled
def distance_curves(trajectories: Mapping[str, Any], *, ax: Any = None, title: str = "",
                    predicted: Mapping[str, float] | None = None, legend_loc: str = "best"):
    """‖(x_t, y_t)‖ against step on a log scale; ``predicted`` maps a label to ρ, drawn as
    ‖z_0‖ρᵗ (dashed)."""
    check_results("trajectories", trajectories, ("norm",), "a GameTrajectory")
    fig, ax = axes_or_new(ax)
    for label, tr in trajectories.items():
        colour = METHOD_COLOURS.get(getattr(tr, "method", ""))
        r = tr.norm
        (line,) = ax.semilogy(np.arange(len(r)), np.maximum(r, 1e-300), "-", lw=1.8,
                              color=colour, label=f"{label} (simulated)")
        if predicted and label in predicted:
            t = np.arange(len(r))
            ax.semilogy(t, r[0] * predicted[label] ** t, "--", lw=1.1, color=line.get_color(),
                        label=f"ρᵗ, ρ = {predicted[label]:.4f}")
        if getattr(tr, "diverged", False):
            ax.semilogy([len(r) - 1], [r[-1]], "x", color=line.get_color(), ms=9, mew=2)
    ax.set_xlabel("step t")
    ax.set_ylabel("distance to equilibrium ‖(x_t, y_t)‖")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, ncol=2, loc=legend_loc)
    return fig


@styled
def invariant_drift(steps: np.ndarray, series: Mapping[str, np.ndarray], *, ax: Any = None,
                    title: str = ""):
    """Largest relative change so far, max_{s ≤ t} |q_s − q_0|/|q_0|, of quantities along a
    run (``series`` maps a label to q_0 … q_T), against step on a log scale."""
    fig, ax = axes_or_new(ax)
    styles = ("-", "--", ":", "-.")
    steps = np.asarray(steps)
    for (label, values), style in zip(series.items(), styles * 4, strict=False):
        q = np.asarray(values, dtype=float)
        change = np.maximum.accumulate(np.abs(q - q[0]) / abs(q[0]))
        keep = np.unique(np.linspace(1, len(q) - 1, min(len(q) - 1, 3000)).astype(int))
        ax.semilogy(steps[keep], np.maximum(change[keep], 1e-17), style, lw=1.8, label=label)
    ax.set_xlabel("step t")
    ax.set_ylabel(r"largest relative change so far, $|q_s - q_0|/q_0$")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def rate_curves(x: np.ndarray, predicted: Mapping[str, np.ndarray], *, ax: Any = None,
                measured: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                xlabel: str = r"$p = \eta_x \eta_y \sigma^2$", title: str = "", xlog: bool = True,
                ylim: tuple[float, float] | None = None,
                marks: Sequence[tuple[str, float]] = ()):
    """Spectral radius per step against ``x``: theory as lines, measured points as markers.

    ``marks``: (label, x) vertical lines (e.g. the stability bounds).
    """
    from matplotlib.lines import Line2D

    fig, ax = axes_or_new(ax)
    for label, rho in predicted.items():
        colour = METHOD_COLOURS.get(label)
        ax.plot(x, rho, "-", lw=2, color=colour, label=label)
        if measured and label in measured:
            mx, my = measured[label]
            ax.plot(mx, my, "o", ms=5.5, mfc="none", mew=1.5, color=colour or MEASURED)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.2", lw=2, label="lines: theory ρ"))
    if measured:
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mew=1.5, color="0.2",
                              label="circles: simulated rate"))
    ax.axhline(1.0, color="0.3", lw=1, ls=":")
    for label, xv in marks:
        ax.axvline(xv, color="0.5", lw=1, ls="--")
        ax.annotate(label, (xv, 1.0), xytext=(3, 6), textcoords="offset points", fontsize=8,
                    rotation=90, va="bottom", color="0.3")
    if xlog:
        ax.set_xscale("log")
        _log_ticks(ax, "x")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("spectral radius ρ per step")
    if title:
        ax.set_title(title)
    ax.legend(handles=handles, fontsize=8, ncol=2, loc="upper left")
    return fig
