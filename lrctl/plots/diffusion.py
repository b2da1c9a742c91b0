"""Figures for diffusion noise levels: curvature against σ, training progress per level."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrctl.plots import MEASURED, PREDICTED, axes_or_new, check_results, styled, tidy_log_ticks


@styled
def curvature_vs_sigma(curvatures: Mapping[str, Any], *, measured: tuple[np.ndarray, np.ndarray]
                       | None = None, measured_label: str = "measured (sampled noise, Lanczos)",
                       band: str | None = None, ax: Any = None, title: str = ""):
    """Top curvature c_σ against σ, one line per :class:`lrctl.diffusion.DenoisingCurvature`.

    ``band`` names one entry whose whole spectrum [bottom, top] is shaded; ``measured`` is
    ``(sigma, values)`` drawn as markers.
    """
    check_results("curvatures", curvatures, ("sigma", "top", "bottom"), "a DenoisingCurvature")
    fig, ax = axes_or_new(ax)
    for label, c in curvatures.items():
        (line,) = ax.loglog(c.sigma, c.top, lw=1.8, label=label)
        if band == label:
            ax.fill_between(c.sigma, c.bottom, c.top, color=line.get_color(), alpha=0.12,
                            label=f"{label}: whole spectrum")
    if measured is not None:
        ax.loglog(measured[0], measured[1], "o", color=MEASURED, ms=6, mfc="none", mew=1.5,
                  label=measured_label)
    ax.set_xlabel("noise level σ (data units)")
    ax.set_ylabel("curvature c_σ = λ_max(∇²L_σ)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def progress_vs_sigma(sigma: np.ndarray, series: Mapping[str, np.ndarray], *, ax: Any = None,
                      ylabel: str = "relative excess loss after training", title: str = "",
                      logy: bool = True, floor: float = 1e-16,
                      styles: Sequence[str] = ("o-", "s--", "^:")):
    """A per-level quantity (e.g. relative excess loss after T steps) against σ.

    On a log axis values are drawn no lower than ``floor`` (round-off level), which is marked.
    """
    fig, ax = axes_or_new(ax)
    for (label, values), style in zip(series.items(), styles, strict=False):
        v = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
        if logy:
            v = np.maximum(v, floor)
        ax.plot(sigma, v, style, lw=1.6, ms=5, label=label)
    if logy:
        ax.axhline(floor, color="0.5", ls=":", lw=1.0, label="round-off floor")
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("noise level σ (data units)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def learning_curves(runs: Mapping[str, Any], levels: Sequence[int], *,
                    predicted: Mapping[str, Any] | None = None, ax: Any = None, title: str = "",
                    every: int = 10, floor: float = 1e-16):
    """Relative excess loss against step at the chosen noise levels.

    ``runs`` maps a label (e.g. "adapted rates") to a :class:`lrctl.diffusion.DenoiserTraining`;
    one colour per level, one line style per run. ``predicted`` (same keys, closed-form curves)
    is drawn as thin markers every ``every`` steps. Values are drawn no lower than ``floor``.
    """
    check_results("runs", runs, ("sigma", "relative_excess"), "a DenoiserTraining")
    fig, ax = axes_or_new(ax)
    styles = ["-", "--", ":", "-."]
    colors = [f"C{i}" for i in range(10)]
    for (label, run), ls in zip(runs.items(), styles, strict=False):
        rel = run.relative_excess
        for j, (lvl, col) in enumerate(zip(levels, colors, strict=False)):
            y = np.ma.filled(rel[lvl].astype(float), np.nan)
            name = f"{label}, σ = {run.sigma[lvl]:.3g}" if j < len(levels) else None
            ax.semilogy(np.arange(y.size), np.maximum(y, floor), ls, color=col, lw=1.6,
                        label=name)
            if predicted and label in predicted:
                p = np.ma.filled(predicted[label].relative_excess[lvl].astype(float), np.nan)
                t = np.arange(0, p.size, every)
                ax.semilogy(t, np.maximum(p[t], floor), ".", color=PREDICTED, ms=3)
    if predicted:
        ax.semilogy([], [], ".", color=PREDICTED, ms=4, label="closed form")
    ax.set_xlabel("step t")
    ax.set_ylabel("relative excess loss (L_σ − L_σ*)/(L_σ(0) − L_σ*)")
    tidy_log_ticks(ax, "y")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7.5, ncol=2)
    return fig
