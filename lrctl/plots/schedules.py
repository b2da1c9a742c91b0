"""Figures for learning-rate schedules: η(t) curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lrctl.plots import axes_or_new, styled

#: Colours for named series (schedules), in order; shared with :mod:`lrctl.plots.continual` so a
#: schedule has the same colour in every figure of an analysis.
SERIES_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d",
                  "#eeca3b", "#bab0ac", "#ff9da6")


@styled
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
