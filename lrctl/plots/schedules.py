"""Figures for learning-rate schedules: η(t) curves and their integrals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lrctl.plots import axes_or_new

#: Colours for named series (schedules), in order; shared with :mod:`lrctl.plots.continual` so a
#: schedule has the same colour in every figure of an analysis.
SERIES_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d",
                  "#eeca3b", "#bab0ac", "#ff9da6")


def schedule_curves(schedules: Mapping[str, Any], horizon: float, *, ax: Any = None,
                    n_points: int = 1200, title: str = "Learning-rate schedules"):
    """η(t) of each schedule over [0, horizon], one line per name."""
    fig, ax = axes_or_new(ax)
    t = np.linspace(0.0, horizon, n_points)
    for i, (name, sched) in enumerate(schedules.items()):
        ax.plot(t, sched(t), lw=1.7, label=name, color=SERIES_COLOURS[i % len(SERIES_COLOURS)])
    ax.set_xlabel("step t")
    ax.set_ylabel("learning rate η(t)")
    ax.set_xlim(0, horizon)
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    ax.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8.5)
    return fig


def integral_bars(names: list[str], lr_integral: np.ndarray, lr_squared_integral: np.ndarray,
                  *, axes: Any = None, title: str = ""):
    """Two bar panels: ∫η dt (plasticity budget) and ∫η² dt (forgetting budget) per schedule."""
    from lrctl.plots import subplots

    if axes is None:
        fig, axes = subplots(1, 2, height=3.4)
    else:
        fig = axes[0].figure
    y = np.arange(len(names))
    axes[0].barh(y, lr_integral, color="#4c78a8")
    axes[1].barh(y, lr_squared_integral, color="#e45756")
    axes[0].set_yticks(y, names)
    axes[1].set_yticks(y, [""] * len(names))
    axes[0].set_xlabel("∫η dt (steps × lr)")
    axes[1].set_xlabel("∫η² dt (steps × lr²)")
    axes[0].set_title("plasticity budget ∫η")
    axes[1].set_title("forgetting budget ∫η²")
    for a in axes:
        a.invert_yaxis()
    if title:
        fig.suptitle(title)
    return fig
