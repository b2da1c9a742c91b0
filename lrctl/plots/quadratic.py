"""Figures for the quadratic model: distances to the optimum, contraction factors, weight decay,
slopes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrctl.plots import MEASURED, PREDICTED, UNSTABLE, axes_or_new, styled, tidy_log_ticks


@styled
def distance_curves(curves: Mapping[str, np.ndarray], *, ax: Any = None, title: str = ""):
    """Distance to the optimum ‖θ_t − θ*‖ against step, one line per label, log scale."""
    fig, ax = axes_or_new(ax)
    for label, dist in curves.items():
        ax.semilogy(np.arange(len(dist)), np.maximum(dist, 1e-300), label=label, lw=1.6)
    ax.set_xlabel("step t")
    ax.set_ylabel("distance to optimum ‖θ_t − θ*‖")
    if title:
        ax.set_title(title)
    ax.legend()
    return fig


@styled
def contraction_vs_lr(lrs: np.ndarray, predicted: np.ndarray, measured: np.ndarray, *,
                      bound: float, ax: Any = None, title: str = "",
                      xlabel: str = "learning rate η", ylabel: str = "contraction factor per step",
                      predicted_label: str = "predicted ρ(I − ηH)",
                      measured_label: str = "measured (GD on the real problem)",
                      bound_label: str = "2/λmax", legend_fontsize: float | None = None):
    """Predicted and measured contraction factor against a rate, the stability bound marked.

    The labels default to GD on the quadratic model; other iterations with the same shape (a
    federated server step, say) pass their own.
    """
    fig, ax = axes_or_new(ax)
    ax.plot(lrs, predicted, "-", color=PREDICTED, lw=2, label=predicted_label)
    ax.plot(lrs, measured, "o", color=MEASURED, ms=5, label=measured_label)
    ax.axhline(1.0, color="0.4", lw=1, ls=":")
    ax.axvline(bound, color=UNSTABLE, lw=1.2, ls="--", label=f"{bound_label} = {bound:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=legend_fontsize)
    return fig


@styled
def fixed_point_vs_lr(lrs: np.ndarray, series: Mapping[str, np.ndarray], *, ax: Any = None,
                      ylabel: str = "‖θ∞‖", title: str = "", styles: Sequence[str] = ("o-", "s--", "x")):
    """Fixed-point summaries (e.g. ‖θ∞‖) against the learning rate, one line per protocol."""
    fig, ax = axes_or_new(ax)
    for (label, values), style in zip(series.items(), styles, strict=False):
        ax.semilogx(lrs, values, style, label=label, lw=1.6, ms=7 if style == "x" else 5, mew=2)
    tidy_log_ticks(ax, "x")
    ax.set_xlabel("learning rate η")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return fig


@styled
def slope_vs_lr(lrs: np.ndarray, measured: np.ndarray, exact: np.ndarray, first_order: np.ndarray,
                *, ax: Any = None, title: str = ""):
    """−dL/d ln η against η on log–log axes: measured, exact formula and −2ηLρ."""
    fig, ax = axes_or_new(ax)
    ax.loglog(lrs, -first_order, "-", color=PREDICTED, lw=2, label="2ηLρ (first order, ρ = λmax)")
    ax.loglog(lrs, -exact, "--", color="0.2", lw=1.4, label="η‖g‖² − η²gᵀHg (exact)")
    ax.loglog(lrs, -measured, "o", color=MEASURED, ms=4, label="measured (finite difference)")
    tidy_log_ticks(ax)
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("−dL/d ln η")
    if title:
        ax.set_title(title)
    ax.legend()
    return fig
