"""Figures for lrctl.continual: stability–plasticity ODEs, the plasticity–retention plane and
the two-task check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrctl.plots import PREDICTED, axes_or_new, check_result, check_results, styled, subplots
from lrctl.plots.schedules import SERIES_COLOURS as _CYCLE


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {n: _CYCLE[i % len(_CYCLE)] for i, n in enumerate(names)}


# ---------------------------------------------------------------------------------------
# Stability–plasticity
# ---------------------------------------------------------------------------------------


@styled
def ode_vs_closed_form(results: Mapping[str, Any], closed: Mapping[str, tuple[Any, Any]], *,
                       axes: Any = None, title: str = "ODE solution vs closed form"):
    """P(t) and R(t): ``solve_ivp`` solutions (markers) over the closed forms (lines).

    ``results`` maps a name to a :class:`lrctl.continual.StabilityPlasticityResult`,
    ``closed`` the same name to ``(t, (P, R))`` on a fine grid.
    """
    check_results("results", results, ("t", "plasticity", "retention"), "a StabilityPlasticityResult")
    if axes is None:
        fig, axes = subplots(1, 2, height=3.6)
    else:
        fig = axes[0].figure
    colours = _colours(list(results))
    for name, res in results.items():
        t, (P, R) = closed[name]
        c = colours[name]
        axes[0].plot(t, P, "-", color=c, lw=1.6, label=f"{name}: closed form")
        axes[1].plot(t, R, "-", color=c, lw=1.6)
        step = max(1, len(res.t) // 15)
        axes[0].plot(res.t[::step], res.plasticity[::step], "o", color=c, ms=4.5, mfc="none",
                     label=f"{name}: solve_ivp")
        axes[1].plot(res.t[::step], res.retention[::step], "o", color=c, ms=4.5, mfc="none")
    axes[0].set_xlabel("step t")
    axes[1].set_xlabel("step t")
    axes[0].set_ylabel("new-task performance P(t)")
    axes[1].set_ylabel("old-task retention R(t)")
    axes[0].set_title("plasticity dP/dt = aη(1 − P)")
    axes[1].set_title("retention dR/dt = −bη²R")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


@styled
def plasticity_retention_plane(comparison: Any, *, frontier: tuple[Any, Any] | None = None,
                               measured: tuple[Any, Any, Any, Any] | None = None,
                               ax: Any = None, zoom: bool = True,
                               title: str = "Plasticity–retention plane"):
    """Schedules as points (P(T), R(T)) with the Pareto set ringed.

    ``frontier``: (P, R) of the constant-rate curve (the model's Pareto frontier).
    ``measured``: (P, R, P_err, R_err) from real training, one per schedule of ``comparison``.
    ``zoom``: limit the axes to the points (the frontier runs on outside).
    """
    check_result("comparison", comparison, ("names", "plasticity", "retention", "pareto"), "a ScheduleComparison (lrctl.continual.compare_schedules)")
    fig, ax = axes_or_new(ax, height=4.6)
    colours = _colours(list(comparison.names))
    if frontier is not None:
        ax.plot(frontier[0], frontier[1], "-", color=PREDICTED, lw=1.4, alpha=0.8,
                label="constant rates (model frontier)")
    for i, name in enumerate(comparison.names):
        c = colours[name]
        ax.plot(comparison.plasticity[i], comparison.retention[i], "D", color=c, ms=7,
                label=f"{name} (model)" if measured is None else None)
        if comparison.pareto[i]:
            ax.plot(comparison.plasticity[i], comparison.retention[i], "o", ms=15, mfc="none",
                    mec="0.25", mew=1.0)
        if measured is not None:
            P, R, dP, dR = (np.asarray(m) for m in measured)
            ax.errorbar(P[i], R[i], xerr=dP[i], yerr=dR[i], fmt="s", color=c, ms=6, mfc="white",
                        mew=1.6, capsize=2, label=name)
            ax.plot([comparison.plasticity[i], P[i]], [comparison.retention[i], R[i]], ":",
                    color=c, lw=1)
    ax.plot([], [], "o", ms=12, mfc="none", mec="0.25", label="Pareto set of the model points")
    if measured is not None:
        ax.plot([], [], "D", color="0.4", label="model prediction (filled ◆)")
        ax.plot([], [], "s", color="0.4", mfc="white", label="measured ± sd over seeds (□)")
    ax.set_xlabel("new-task performance P(T) (test accuracy on task B)")
    ax.set_ylabel("old-task retention R(T) (relative accuracy on task A)")
    if zoom:
        xs = [comparison.plasticity] + ([measured[0]] if measured is not None else [])
        ys = [comparison.retention] + ([measured[1]] if measured is not None else [])
        x_lo, y_lo = min(float(np.min(x)) for x in xs), min(float(np.min(y)) for y in ys)
        x_hi, y_hi = max(float(np.max(x)) for x in xs), max(float(np.max(y)) for y in ys)
        px, py = 0.08 * (x_hi - x_lo + 1e-3), 0.08 * (y_hi - y_lo + 1e-3)
        ax.set_xlim(x_lo - px, x_hi + px)
        ax.set_ylim(y_lo - 3 * py, y_hi + py)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7.5, loc="lower left", ncol=2)
    return fig


@styled
def budget_plane(comparison: Any, *, ax: Any = None,
                 title: str = "Schedules in the (∫η, ∫η²) plane"):
    """Each schedule at (∫η, ∫η²) over the horizon, with the Cauchy–Schwarz bound
    ∫η² >= (∫η)²/T (attained by constant rates): lower right is better in the model."""
    check_result("comparison", comparison, ("names", "horizon", "lr_integral", "lr_squared_integral"), "a ScheduleComparison (lrctl.continual.compare_schedules)")
    fig, ax = axes_or_new(ax, height=4.2)
    T = comparison.horizon
    x_max = 1.1 * float(np.max(comparison.lr_integral))
    x = np.linspace(0.0, x_max, 300)
    ax.plot(x, x * x / T, "-", color=PREDICTED, lw=1.6,
            label="bound (∫η)²/T: constant rates")
    ax.fill_between(x, 0, x * x / T, color=PREDICTED, alpha=0.08, label="unreachable")
    colours = _colours(list(comparison.names))
    for i, name in enumerate(comparison.names):
        ax.plot(comparison.lr_integral[i], comparison.lr_squared_integral[i], "D",
                color=colours[name], ms=7, label=name)
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, 1.08 * float(np.max(comparison.lr_squared_integral)))
    ax.set_xlabel("plasticity budget ∫η dt (steps × lr)")
    ax.set_ylabel("forgetting budget ∫η² dt (steps × lr²)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7.5, loc="upper left")
    return fig


@styled
def weighted_winners(comparisons: Mapping[str, Any], weights: np.ndarray, *, ax: Any = None,
                     title: str = "Best schedule for the objective w·P + (1 − w)·R"):
    """For each comparison (a set of schedules), the winning schedule as a function of w."""
    check_results("comparisons", comparisons, ("names", "best"), "a ScheduleComparison")
    fig, ax = axes_or_new(ax, height=3.2)
    all_names: list[str] = []
    for cmp in comparisons.values():
        all_names += [n for n in cmp.names if n not in all_names]
    colours = _colours(all_names)
    labels = list(comparisons)
    for row, label in enumerate(labels):
        cmp = comparisons[label]
        winners = [cmp.best(float(w)) for w in weights]
        start = 0
        for j in range(1, len(weights) + 1):
            if j == len(weights) or winners[j] != winners[start]:
                w0 = weights[start] if start == 0 else 0.5 * (weights[start - 1] + weights[start])
                w1 = weights[-1] if j == len(weights) else 0.5 * (weights[j - 1] + weights[j])
                ax.barh(row, w1 - w0, left=w0, color=colours[winners[start]], height=0.6,
                        edgecolor="white")
                if w1 - w0 > 0.06:
                    ax.text(0.5 * (w0 + w1), row, winners[start], ha="center", va="center",
                            fontsize=8)
                start = j
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlim(weights[0], weights[-1])
    ax.set_xlabel("weight w on new-task performance (objective w·P + (1 − w)·R)")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return fig


@styled
def weighted_scores(comparison: Any, weights: np.ndarray, *, envelope: Any = None,
                    envelope_label: str = "best constant rate", ax: Any = None,
                    title: str = "Weighted objective w·P + (1 − w)·R"):
    """Score of each schedule against the weight w, with an optional envelope (e.g. the best
    constant rate for each w)."""
    check_result("comparison", comparison, ("names", "score"), "a ScheduleComparison (lrctl.continual.compare_schedules)")
    fig, ax = axes_or_new(ax, height=3.6)
    colours = _colours(list(comparison.names))
    scores = comparison.score(weights)
    for i, name in enumerate(comparison.names):
        ax.plot(weights, scores[:, i], color=colours[name], lw=1.3, label=name)
    if envelope is not None:
        ax.plot(weights, envelope, "--", color="k", lw=2.0, label=envelope_label)
    ax.set_xlabel("weight w on new-task performance")
    ax.set_ylabel("score w·P(T) + (1 − w)·R(T)")
    ax.set_xlim(weights[0], weights[-1])
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7.5, ncol=2, loc="lower center")
    return fig


@styled
def two_task_curves(result: Any, predictions: Mapping[str, tuple[Any, Any]], *,
                    fitted_on: str = "", axes: Any = None,
                    title: str = "Real training vs the fitted ODE"):
    """Measured P and R (markers ± sd over seeds) against step with the ODE predictions
    (lines); ``predictions`` maps a schedule name to (P(t), R(t)) at ``result.steps``."""
    check_result("result", result, ("names", "steps", "new_task_std", "old_task_std", "old_task_initial"), "a TwoTaskResult (lrctl.continual.train_two_tasks)")
    if axes is None:
        fig, axes = subplots(1, 2, height=3.9)
    else:
        fig = axes[0].figure
    colours = _colours(list(result.names))
    for i, name in enumerate(result.names):
        c = colours[name]
        lw = 2.6 if name == fitted_on else 1.4
        axes[0].errorbar(result.steps, result.plasticity[i], yerr=result.new_task_std[i],
                         fmt="o", color=c, ms=3.5, capsize=1.5, lw=0.8)
        axes[1].errorbar(result.steps, result.retention[i],
                         yerr=result.old_task_std[i] / result.old_task_initial, fmt="o",
                         color=c, ms=3.5, capsize=1.5, lw=0.8)
        if name in predictions:
            P, R = predictions[name]
            label = f"{name} (fitted)" if name == fitted_on else name
            axes[0].plot(result.steps, P, "-", color=c, lw=lw, label=label)
            axes[1].plot(result.steps, R, "-", color=c, lw=lw)
    axes[0].set_xlabel("SGD step t on task B")
    axes[1].set_xlabel("SGD step t on task B")
    axes[0].set_ylabel("task-B test accuracy P(t)")
    axes[1].set_ylabel("task-A accuracy relative to start R(t)")
    axes[0].set_title("plasticity: measured (•) vs ODE (—)")
    axes[1].set_title("retention: measured (•) vs ODE (—)")
    axes[0].legend(fontsize=7.5, loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


@styled
def prediction_scatter(names: Sequence[str], predicted: Mapping[str, Any], measured: Any, *,
                       measured_err: Any = None, ax: Any = None, quantity: str = "R(T)",
                       colour_names: Sequence[str] | None = None, title: str = ""):
    """Predicted vs measured final values (one marker style per model) with the line y = x.

    ``colour_names``: the full list of names whose order fixes the colours (so a subset keeps
    the colours it has in the other figures)."""
    fig, ax = axes_or_new(ax, height=4.0)
    colours = _colours(list(colour_names if colour_names is not None else names))
    m = np.asarray(measured)
    markers = ("D", "^", "v", "P")
    lo = min(float(m.min()), *(float(np.min(p)) for p in predicted.values()))
    hi = max(float(m.max()), *(float(np.max(p)) for p in predicted.values()))
    pad = 0.03 * (hi - lo + 1e-9)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "-", color="0.5", lw=1, label="y = x")
    for (model, p), mk in zip(predicted.items(), markers, strict=False):
        p = np.asarray(p)
        for i, name in enumerate(names):
            ax.errorbar(m[i], p[i], xerr=None if measured_err is None else measured_err[i],
                        fmt=mk, color=colours[name], ms=6.5, mfc="white" if mk != "D" else None,
                        mew=1.5, capsize=2, lw=0.8)
        ax.plot([], [], mk, color="0.35", mfc="white" if mk != "D" else None, label=model)
    for name in names:
        ax.plot([], [], "s", color=colours[name], label=name)
    ax.set_xlabel(f"measured {quantity}")
    ax.set_ylabel(f"predicted {quantity}")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", ncol=1)
    return fig
