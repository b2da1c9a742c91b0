"""Figures for the learning-rate range test (:mod:`lrctl.rangetest`).

Every builder takes results (or arrays) and an optional ``ax``, labels its axes with units and
returns the Figure.
"""

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
    styled,
    tidy_log_ticks,
)

__all__ = [
    "fast_ramp",
    "lean_log_ticks",
    "ramp_amplitude",
    "range_test_curve",
    "repeated_range_test_curves",
    "sharpness_against_lanczos",
    "slope_against_lr",
    "steepest_against_ramp",
]

#: Line styles of the three suggestions.
SUGGESTION_STYLE = {
    "steepest": {"color": STABLE, "ls": "--", "label": "steepest slope"},
    "valley": {"color": "#7b1fa2", "ls": "-.", "label": "valley"},
    "min_over_10": {"color": "#00838f", "ls": ":", "label": "minimum / 10"},
}


@styled
def lean_log_ticks(ax: Any) -> None:
    """``tidy_log_ticks``, then no minor ticks on log axes spanning more than two decades.

    On wide log axes the minor ticks are unlabelled clutter, and measuring their (empty) labels
    for the constrained layout dominates the drawing time of a figure.
    """
    tidy_log_ticks(ax)
    for a in (ax.xaxis, ax.yaxis):
        if a.get_scale() == "log":
            lo, hi = sorted(a.get_view_interval())
            if lo > 0 and hi / lo > 100:
                from matplotlib.ticker import NullLocator

                a.set_minor_locator(NullLocator())


def _loss_ylim(ax: Any, lows: Sequence[float], highs: Sequence[float]) -> None:
    lo, hi = float(np.min(lows)), float(np.max(highs))
    pad = 0.08 * (hi - lo if hi > lo else max(abs(hi), 1.0))
    ax.set_ylim(lo - pad, hi + pad)


@styled
def range_test_curve(result: Any, *, ax: Any = None, title: str = "Range test",
                     extra: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                     bound: float | None = None):
    """Raw and smoothed losses against the learning rate, with the suggestions.

    ``extra`` adds labelled curves ``{label: (lrs, losses)}`` (e.g. an EMA for comparison);
    ``bound`` draws a vertical line at a stability bound 2/λ_max. The y range covers the
    descent and the start of the divergence (a final spike is drawn clipped).
    """
    check_result("result", result, ("lrs", "losses", "smoothed", "suggestions", "initial_loss", "diverged"), "a RangeTestResult (lrctl.rangetest.range_test)")
    fig, ax = axes_or_new(ax)
    ax.semilogx(result.lrs, result.losses, ".", ms=3, color="0.55", label="raw loss")
    ax.semilogx(result.lrs[: len(result.smoothed)], result.smoothed, color=MEASURED, lw=2,
                label="smoothed in ln η (centred, no lag)")
    for label, (x, y) in (extra or {}).items():
        ax.semilogx(x, y, color="0.25", lw=1.3, ls=(0, (4, 2)), label=label)
    s = result.suggestions
    for kind, style in SUGGESTION_STYLE.items():
        value = getattr(s, kind)
        if value is not None:
            ax.axvline(value, color=style["color"], ls=style["ls"], lw=1.6,
                       label=f"{style['label']}: η = {value:.3g}")
    if bound is not None:
        ax.axvline(bound, color=PREDICTED, lw=2, alpha=0.6, label=f"2/λmax = {bound:.3g}")
    if result.diverged:
        ax.axvline(result.diverged_lr, color=UNSTABLE, lw=1.2, alpha=0.8,
                   label=f"stopped (diverged) at η = {result.diverged_lr:.3g}")
    top = max(result.initial_loss, float(result.smoothed[: s.minimum_index + 1].max()))
    _loss_ylim(ax, [result.losses.min(), result.smoothed.min()], [top])
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("loss after the step")
    ax.set_title(title)
    lean_log_ticks(ax)
    ax.legend(fontsize=7.5, loc="lower left")
    return fig


@styled
def repeated_range_test_curves(repeated: Any, *, ax: Any = None,
                               title: str = "Repeated sweeps: intervals, not points"):
    """The smoothed curves of repeated sweeps, with each suggestion's interval shaded."""
    check_result("repeated", repeated, ("sweeps", "intervals"), "a RepeatedRangeTest (lrctl.rangetest.repeated_range_test)")
    fig, ax = axes_or_new(ax)
    lows, highs = [], []
    for i, sw in enumerate(repeated.sweeps):
        ax.semilogx(sw.lrs[: len(sw.smoothed)], sw.smoothed, color=MEASURED, lw=1.1, alpha=0.75,
                    label="smoothed sweep (one per seed)" if i == 0 else None)
        lows.append(sw.smoothed.min())
        highs.append(max(sw.initial_loss, sw.smoothed[: sw.suggestions.minimum_index + 1].max()))
    for kind, iv in repeated.intervals.items():
        style = SUGGESTION_STYLE[kind]
        ax.axvspan(iv.low, iv.high, color=style["color"], alpha=0.18)
        what = (f"{iv.low:.2g}–{iv.high:.2g} (×{iv.spread:.1f})" if iv.point is None
                else f"≈ {iv.point:.2g} (×{iv.spread:.1f})")
        ax.axvline(iv.point if iv.point is not None else np.sqrt(iv.low * iv.high),
                   color=style["color"], ls=style["ls"], lw=1.4,
                   label=f"{style['label']}: {what}")
    _loss_ylim(ax, lows, highs)
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("mini-batch loss (smoothed)")
    ax.set_title(title)
    lean_log_ticks(ax)
    ax.legend(fontsize=7.5, loc="lower left")
    return fig


@styled
def slope_against_lr(lrs: np.ndarray, measured: np.ndarray,
                     predictions: Mapping[str, np.ndarray], *, ax: Any = None,
                     title: str = "Slope of the one-step loss"):
    """−s(η) = −dL/d ln η (measured, points) against predicted curves, log–log.

    Only the descent range (s < 0) is drawn, where the log axis applies.
    """
    fig, ax = axes_or_new(ax)
    keep = measured < 0
    ax.loglog(lrs[keep], -measured[keep], "o", ms=3.5, color=MEASURED,
              label="measured −s = η gᵀ∇L(θ − ηg)")
    styles = [{"color": PREDICTED, "lw": 2}, {"color": "0.35", "ls": "--", "lw": 1.6},
              {"color": STABLE, "ls": ":", "lw": 2}]
    for (label, pred), style in zip(predictions.items(), styles, strict=False):
        ok = pred < 0
        ax.loglog(lrs[ok], -pred[ok], label=label, **style)
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("−dL/d ln η (loss units)")
    ax.set_title(title)
    lean_log_ticks(ax)
    ax.legend(fontsize=7.5)
    return fig


@styled
def sharpness_against_lanczos(lam_max: np.ndarray, rho_hat: np.ndarray, alignment: np.ndarray,
                              *, ax: Any = None, labels: Sequence[str] | None = None,
                              title: str = "ρ̂ from the slope vs λmax from Lanczos"):
    """ρ̂ (y) against the Lanczos λ_max (x) of the same point, coloured by |cos(g, u_max)|."""
    fig, ax = axes_or_new(ax)
    lo = 0.5 * float(min(np.min(lam_max), np.min(rho_hat)))
    hi = 2.0 * float(max(np.max(lam_max), np.max(rho_hat)))
    ax.loglog([lo, hi], [lo, hi], color=PREDICTED, lw=1.5, label="ρ̂ = λmax")
    sc = ax.scatter(lam_max, rho_hat, c=alignment, cmap="viridis", vmin=0.0, vmax=1.0, s=36,
                    edgecolors="k", linewidths=0.4, zorder=3)
    if labels is not None:
        for x, y, text in zip(lam_max, rho_hat, labels, strict=True):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(5, -3), fontsize=7)
    fig.colorbar(sc, ax=ax, label="|cos(g, u_max)|  (1: gradient along the top eigenvector)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("λmax(H(θ)) by Lanczos (1/lr units)")
    ax.set_ylabel("ρ̂ = −s/(2ηL) at small η (1/lr units)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return fig


@styled
def fast_ramp(steps_per_decade: np.ndarray, overshoot: Mapping[str, np.ndarray], *,
              return_point: float | None = None, ax: Any = None,
              title: str = "Where a sweep diverges, in units of 2/λmax"):
    """Divergence rate / (2/λ_max) against the ramp speed (steps per decade)."""
    fig, ax = axes_or_new(ax)
    markers = ["o", "s", "^", "D"]
    colors = [MEASURED, "0.3", PREDICTED, STABLE]
    for (label, y), m, c in zip(overshoot.items(), markers, colors, strict=False):
        ax.loglog(steps_per_decade, y, marker=m, ms=5, color=c, lw=1.2, label=label)
    ax.axhline(1.0, color=UNSTABLE, lw=1.5, label="the stability bound 2/λmax")
    if return_point is not None:
        ax.axhline(return_point / 2.0, color=PREDICTED, ls="--", lw=1.2,
                   label=f"X₀/2 = {return_point / 2:.2f} (exact quadratic, slow ramp)")
    ax.set_xlabel("ramp speed (steps per decade of η)")
    ax.set_ylabel("divergence η × λmax / 2")
    ax.set_title(title)
    lean_log_ticks(ax)
    ax.legend(fontsize=7.5)
    return fig


@styled
def ramp_amplitude(x: np.ndarray, scaled_log_amplitude: Mapping[str, np.ndarray],
                   continuum: np.ndarray, *, return_point: float | None = None, ax: Any = None,
                   title: str = "Crushed at 2/λ, regrown only at X₀/λ"):
    """Δ·ln(amplitude) of the top error component against ηλ, for several ramps."""
    fig, ax = axes_or_new(ax)
    for (label, y), c in zip(scaled_log_amplitude.items(), [MEASURED, "0.3", STABLE, "#7b1fa2"],
                             strict=False):
        ax.semilogx(x, y, color=c, lw=1.2, label=label)
    ax.semilogx(x, continuum, color=PREDICTED, ls="--", lw=2, label="−Re Li₂(ηλ)")
    ax.axvline(2.0, color=UNSTABLE, lw=1.2, label="ηλ = 2 (the bound)")
    if return_point is not None:
        ax.axvline(return_point, color=PREDICTED, lw=1.2, ls=":",
                   label=f"ηλ = X₀ = {return_point:.2f}")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_ylim(-3.0, 2.0)
    ax.set_xlabel("η·λmax (dimensionless)")
    ax.set_ylabel("Δ · ln(amplitude of the top component)")
    ax.set_title(title)
    lean_log_ticks(ax)
    ax.legend(fontsize=7.5, loc="lower left")
    return fig


@styled
def steepest_against_ramp(steps_per_decade: np.ndarray, steepest: np.ndarray,
                          predicted: np.ndarray, *, ax: Any = None,
                          title: str = "The steepest-slope suggestion follows the ramp"):
    """The steepest-slope suggestion of training sweeps against the ramp speed."""
    fig, ax = axes_or_new(ax)
    ax.loglog(steps_per_decade, steepest, "o", color=MEASURED, ms=5,
              label="steepest-slope suggestion (measured)")
    ax.loglog(steps_per_decade, predicted, color=PREDICTED, lw=2,
              label=r"$(1 - e^{-\Delta})\,/\,(2\rho_g(\theta_0))$, ρ_g = ‖g‖²/(2L)")
    ax.set_xlabel("ramp speed (steps per decade of η)")
    ax.set_ylabel("suggested learning rate η")
    ax.set_title(title)
    lean_log_ticks(ax)
    ax.legend(fontsize=8)
    return fig
