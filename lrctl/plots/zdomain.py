"""Figures for z-domain learning-rate control: gain regions, pole-zero maps, responses,
Nyquist curves with margins, and the controlled training loop.

Every builder takes results computed by :mod:`lrctl.zdomain` (or plain arrays), an optional
``ax`` (or ``axes``), labels its axes with units, and returns the Figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap

from lrctl.plots import (
    MEASURED,
    PREDICTED,
    STABLE,
    UNSTABLE,
    axes_or_new,
    check_result,
    check_results,
    styled,
    subplots,
    tidy_log_ticks,
)

_CYCLE = ("#1f3a5f", "#d95f02", "#7570b3", "#1b9e77", "#e7298a")
_GREEN = ListedColormap([STABLE])


@styled
def stable_region(kp: np.ndarray, ki: np.ndarray, stable: np.ndarray, *, polygon: Any = None,
                  points: Mapping[str, np.ndarray] | None = None, ax: Any = None,
                  title: str = "", point_label: str = "simulated"):
    """The stable (kp, ki) region: filled Jury region, its boundary, and checked points.

    Parameters
    ----------
    kp, ki
        1-D grids (x and y axes).
    stable
        Bool array of shape (len(kp), len(ki)) from ``stability_region(plant, kp[:, None],
        ki[None, :])``.
    polygon
        A :class:`lrctl.zdomain.StabilityPolygon` drawn as the exact boundary (first-order
        plants); otherwise the boundary is the 0.5 contour of ``stable``.
    points
        ``{"kp", "ki", "settled", "predicted"}`` arrays: simulated or real loops over the region.
        Filled green circles settled, red crosses did not; a black ring marks a point where the
        outcome disagrees with the prediction.
    """
    if polygon is not None:
        check_result("polygon", polygon, ("vertices",), "a StabilityPolygon (lrctl.zdomain.stability_polygon)")
    fig, ax = axes_or_new(ax)
    st = np.asarray(stable, dtype=float).T
    # a raster for the fill (cheap to save as SVG), vector lines for the boundary
    ax.imshow(np.ma.masked_less(st, 0.5), origin="lower", aspect="auto", cmap=_GREEN,
              extent=(float(kp[0]), float(kp[-1]), float(ki[0]), float(ki[-1])), alpha=0.22,
              interpolation="nearest", vmin=0.0, vmax=1.0)
    if polygon is not None:
        v = np.vstack([polygon.vertices, polygon.vertices[:1]])
        ax.plot(v[:, 0], v[:, 1], "-", color=PREDICTED, lw=2.0, label="Jury boundary (polygon)")
    else:
        ax.contour(kp, ki, st, levels=[0.5], colors=[PREDICTED], linewidths=2.0)
        ax.plot([], [], "-", color=PREDICTED, lw=2.0, label="Jury boundary")
    ax.fill([], [], color=STABLE, alpha=0.18, label="predicted stable")
    if points is not None:
        pk, pi = np.asarray(points["kp"]), np.asarray(points["ki"])
        settled = np.asarray(points["settled"], dtype=bool)
        pred = np.asarray(points["predicted"], dtype=bool)
        ax.plot(pk[settled], pi[settled], "o", color=STABLE, ms=6,
                label=f"{point_label}: settled")
        ax.plot(pk[~settled], pi[~settled], "x", color=UNSTABLE, ms=7, mew=2,
                label=f"{point_label}: did not settle")
        bad = settled != pred
        if np.any(bad):
            ax.plot(pk[bad], pi[bad], "o", mfc="none", mec="black", ms=13, mew=1.5,
                    label="disagrees with prediction")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlim(float(np.min(kp)), float(np.max(kp)))
    ax.set_ylim(float(np.min(ki)), float(np.max(ki)))
    ax.set_xlabel("proportional gain kp (Δlog η per unit error)")
    ax.set_ylabel("integral gain ki (per step)")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, ncol=2)
    return fig


@styled
def pole_zero(maps: Mapping[str, Any], *, ax: Any = None, title: str = ""):
    """Closed-loop poles (×) and zeros (○) of several loops, with the unit circle.

    ``maps`` holds :class:`lrctl.zdomain.PoleZeroMap` results by label.
    """
    check_results("maps", maps, ("poles", "zeros", "spectral_radius", "classification"), "a PoleZeroMap (lrctl.zdomain.pole_zero_map)")
    fig, ax = axes_or_new(ax, width=5.2, height=5.0)
    th = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(th), np.sin(th), "-", color="0.35", lw=1.2, label="unit circle |z| = 1")
    for (label, pz), color in zip(maps.items(), _CYCLE, strict=False):
        ax.plot(pz.poles.real, pz.poles.imag, "x", color=color, ms=10, mew=2.2,
                label=f"{label}: poles ({pz.classification}, max|z| = {pz.spectral_radius:.3f})")
        if pz.zeros.size:
            ax.plot(pz.zeros.real, pz.zeros.imag, "o", mfc="none", mec=color, ms=9, mew=1.8)
    ax.plot([], [], "o", mfc="none", mec="0.3", ms=9, label="zeros")
    ax.axhline(0, color="0.6", lw=0.7)
    ax.axvline(0, color="0.6", lw=0.7)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re z")
    ax.set_ylabel("Im z")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, ncol=1)
    return fig


@styled
def responses(results: Mapping[str, Any], *, ax: Any = None, title: str = "",
              signal: str = "output", ylabel: str = "output y", predicted: Mapping[str, float] | None = None,
              reference: bool = True):
    """Closed-loop responses (:class:`lrctl.zdomain.ClosedLoopResponse`) against time.

    ``signal`` is ``"output"`` or ``"error"``; settling times are marked with a dot;
    ``predicted`` draws a dashed level per label (e.g. the predicted steady-state error).
    """
    check_results("results", results, ("t", "reference", "diverged", "settled", "settling_time"), "a ClosedLoopResponse")
    fig, ax = axes_or_new(ax)
    for (label, res), color in zip(results.items(), _CYCLE, strict=False):
        y = getattr(res, signal)
        extra = "" if res.settled else (" — diverged" if res.diverged else " — not settled")
        ax.step(res.t, y, where="post", color=color, lw=1.6, label=f"{label}{extra}")
        if res.settled and np.isfinite(res.settling_time):
            i = int(np.searchsorted(res.t, res.settling_time))
            if i < len(y):
                ax.plot([res.t[i]], [y[i]], "o", color=color, ms=5)
        if predicted and label in predicted:
            ax.axhline(predicted[label], color=color, ls="--", lw=1.0)
    if reference and signal == "output":
        first = next(iter(results.values()))
        ax.step(first.t, first.reference, where="post", color="0.3", lw=1.0, ls=":",
                label="reference")
    ax.set_xlabel("time (optimizer steps)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def nyquist_margin(loop: np.ndarray, *, gain_margin: float,
                   other_gain_margin: float | None = None, other_label: str = "python-control",
                   ax: Any = None, title: str = ""):
    """Nyquist curve of L(e^(jω)) for ω ∈ (0, π] near −1, the crossing at z = −1 marked.

    ``loop`` holds L(e^(jω)) on a grid of ω in (0, π]; the crossing −1/GM is marked for lrctl's margin and,
    if given, for another tool's value.
    """
    fig, ax = axes_or_new(ax)
    ax.plot(loop.real, loop.imag, "-", color=PREDICTED, lw=1.8, label="L(e^(jω)), 0 < ω ≤ π")
    ax.plot(loop.real, -loop.imag, "-", color=PREDICTED, lw=0.8, alpha=0.5, label="mirror, ω < 0")
    ax.plot([-1], [0], "+", color="black", ms=14, mew=2, label="critical point −1")
    ax.plot([loop.real[-1]], [loop.imag[-1]], "o", color=MEASURED, ms=8,
            label=f"ω = π (z = −1): L = {loop.real[-1]:.4f}, GM = {gain_margin:.3g}")
    if other_gain_margin is not None:
        txt = f"{other_label}: GM = {other_gain_margin:.3g}"
        if np.isfinite(other_gain_margin) and other_gain_margin > 0 and 1 / other_gain_margin < 50:
            ax.plot([-1 / other_gain_margin], [0], "s", color=UNSTABLE, ms=7, label=txt)
        else:
            ax.plot([], [], "s", color=UNSTABLE, ms=7, label=f"{txt} (crossing at −∞)")
    ax.axhline(0, color="0.6", lw=0.7)
    ax.axvline(0, color="0.6", lw=0.7)
    ax.set_xlim(-1.6, 1.4)
    ax.set_ylim(-1.4, 1.0)
    ax.set_xlabel("Re L(e^(jω))")
    ax.set_ylabel("Im L(e^(jω))")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return fig


@styled
def controlled_training(runs: Mapping[str, Any], *, axes: Sequence[Any] | None = None,
                        title: str = ""):
    """The real closed loop: η·λmax, the learning rate and the loss against optimizer steps.

    ``runs`` holds :class:`lrctl.zdomain.ControlledTraining` results by label. Three panels.
    """
    if axes is None:
        fig, axes = subplots(3, 1, width=7.5, height=8.0, sharex=True)
    else:
        fig = axes[0].figure
    ax_s, ax_lr, ax_l = axes
    setpoint = None
    for (label, run), color in zip(runs.items(), _CYCLE, strict=False):
        tag = " (diverged)" if run.run.diverged else ("" if run.setpoint is None else
                                                  (" — settled" if run.settled else " — did not settle"))
        ax_s.semilogy(run.run.measure_steps, run.normalized_sharpness, "-o", color=color, ms=2.5, lw=1.3,
                  label=f"{label}{tag}")
        ax_lr.semilogy(run.run.measure_steps, run.lr, "-", color=color, lw=1.4, label=label)
        ax_l.semilogy(np.arange(len(run.run.losses)), run.run.losses, "-", color=color, lw=1.4,
                      label=label)
        setpoint = run.setpoint if run.setpoint is not None else setpoint
    if setpoint is not None:
        ax_s.axhline(setpoint, color="0.2", ls="--", lw=1.0, label=f"setpoint s* = {setpoint:g}")
    ax_s.axhline(2.0, color=UNSTABLE, ls=":", lw=1.0, label="η·λmax = 2 (GD stability limit)")
    ax_s.set_ylabel("η·λmax (normalized sharpness)")
    tidy_log_ticks(ax_s, "y")
    ax_lr.set_ylabel("learning rate η")
    ax_l.set_ylabel("training loss")
    ax_l.set_xlabel("optimizer step")
    ax_s.legend(fontsize=8)
    ax_lr.legend(fontsize=8)
    if title:
        ax_s.set_title(title)
    return fig
