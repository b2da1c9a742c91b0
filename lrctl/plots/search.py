"""Figures for learning-rate search: hit probabilities, GP posteriors, convergence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrctl._validation import check_finite
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

#: One colour per search design, used in every figure of the topic.
DESIGN_COLOURS = {
    "log-uniform random": PREDICTED,
    "linear-uniform random": UNSTABLE,
    "log grid": "#7b1fa2",
    "shifted log grid": STABLE,
    "stratified log": "#1e88e5",
    "linear grid": "#ef6c00",
    "lrctl BO": MEASURED,
    "Optuna TPE": "#6d4c41",
}


def _colour(label: str, i: int) -> Any:
    return DESIGN_COLOURS.get(label, f"C{i}")


@styled
def hit_probability_vs_n(
    n: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    *,
    monte_carlo: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    | None = None,
    ax: Any = None,
    title: str = "",
):
    """P(hit) against the number of points n, one line per design (log x).

    ``monte_carlo`` maps a label to ``(n, estimate, low, high)`` arrays, drawn as points with
    their 95% intervals.
    """
    fig, ax = axes_or_new(ax, height=4.6)
    for i, (label, p) in enumerate(probabilities.items()):
        fixed = "grid" in label and "shifted" not in label
        style = {"drawstyle": "steps-post", "lw": 1.0, "alpha": 0.75} if fixed else {"lw": 1.8}
        ax.plot(n, p, color=_colour(label, i), label=label, **style)
    for i, (label, (nm, est, lo, hi)) in enumerate((monte_carlo or {}).items()):
        yerr = [np.maximum(est - lo, 0.0), np.maximum(hi - est, 0.0)]
        ax.errorbar(nm, est, yerr=yerr, fmt="o", ms=4.5, capsize=2.5,
                    color=_colour(label, i), mfc="white", mew=1.3,
                    label=f"{label}: Monte Carlo (95% CI)")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("number of learning rates tried, n")
    ax.set_ylabel("P(at least one in the target)")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8)
    return fig


@styled
def hit_probability_vs_position(
    centres: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    *,
    ax: Any = None,
    title: str = "",
    log_y: bool = True,
    xlabel: str = "target centre η* (target [η*/2, 2η*]), learning rate",
):
    """P(hit) against where the target sits (its centre η*), one line per design."""
    fig, ax = axes_or_new(ax)
    for i, (label, p) in enumerate(probabilities.items()):
        p = np.asarray(p, dtype=float)
        ax.plot(centres, np.maximum(p, 1e-7) if log_y else p, lw=1.8, color=_colour(label, i),
                label=label)
    ax.set_xscale("log")
    ax.set_xlim(centres.min(), centres.max())
    if log_y:
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 2.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("P(at least one in the target)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return fig


@styled
def expected_samples_vs_position(
    centres: np.ndarray,
    expected: Mapping[str, np.ndarray],
    *,
    simulated: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    ax: Any = None,
    title: str = "",
):
    """Expected number of samples to the first hit against the target centre (log-log).

    ``simulated`` maps a label to ``(centres, mean, standard error)`` of simulated searches.
    """
    fig, ax = axes_or_new(ax)
    for i, (label, e) in enumerate(expected.items()):
        ax.loglog(centres, e, lw=1.8, color=_colour(label, i), label=f"{label}: 1/p")
    for i, (label, (c, m, se)) in enumerate((simulated or {}).items()):
        ax.errorbar(c, m, yerr=2 * se, fmt="o", ms=4.5, capsize=2.5, color=_colour(label, i),
                    mfc="white", mew=1.3, label=f"{label}: simulated mean (±2 s.e.)")
    ax.set_xlabel("target centre η* (target [η*/2, 2η*]), learning rate")
    ax.set_ylabel("samples to the first hit")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def _model_to_value(y: np.ndarray, transform: str) -> np.ndarray:
    return np.exp(y) if transform == "log" else y


@styled
def posterior_snapshots(
    snapshots: Sequence[Any],
    *,
    true_curve: tuple[np.ndarray, np.ndarray] | None = None,
    value_label: str = "validation loss",
    ncols: int = 2,
    width: float = 7.8,
):
    """GP posterior (mean ± κσ band, observations, next proposal) above the acquisition
    LCB = μ − κσ, one pair of panels per :class:`lrctl.bayesopt.PosteriorSnapshot`.

    With ``transform == "log"`` the model lives in ln(value); it is drawn in value units on
    a log axis, so the band is exp(μ ± κσ).
    """
    import matplotlib.pyplot as plt

    n = len(snapshots)
    nrows = -(-n // ncols)
    fig = plt.figure(figsize=(width, 3.6 * nrows + 0.5), layout="constrained")
    outer = fig.add_gridspec(nrows, ncols)
    for k, snap in enumerate(snapshots):
        inner = outer[k // ncols, k % ncols].subgridspec(2, 1, height_ratios=[2.6, 1.0],
                                                        hspace=0.05)
        ax = fig.add_subplot(inner[0])
        aq = fig.add_subplot(inner[1], sharex=ax)
        tr = snap.transform

        def to_v(y, tr=tr):
            return _model_to_value(y, tr)

        if true_curve is not None:
            ax.plot(true_curve[0], true_curve[1], color="0.55", lw=1.2, label="true objective")
        ax.plot(snap.lrs, to_v(snap.mean), color=PREDICTED, lw=1.6, label="GP mean")
        ax.fill_between(snap.lrs, to_v(snap.mean - snap.kappa * snap.std),
                        to_v(snap.mean + snap.kappa * snap.std), color=PREDICTED, alpha=0.18,
                        lw=0, label=f"mean ± κσ (κ = {snap.kappa:.2g})")
        ax.plot(snap.observed_lrs, to_v(snap.observed_values), "o", color=MEASURED, ms=4.5,
                label="evaluated")
        ax.axvline(snap.next_lr, color=STABLE, lw=1.3, ls="--", label="next proposal")
        ax.set_xscale("log")
        if snap.transform == "log":
            ax.set_yscale("log")
            tidy_log_ticks(ax, "y")
        note = "; next: argmax σ (exploration rule)" if snap.rule == "explore" else ""
        ax.set_title(f"after {snap.n_finished} evaluations{note}", fontsize=10)
        ax.tick_params(labelbottom=False)
        if k % ncols == 0:
            ax.set_ylabel(value_label)
        aq.plot(snap.lrs, snap.acquisition, color=STABLE, lw=1.4)
        i = int(np.argmin(snap.acquisition))
        aq.plot(snap.lrs[i], snap.acquisition[i], "v", color=STABLE, ms=6)
        aq.axvline(snap.next_lr, color=STABLE, lw=1.3, ls="--")
        aq.set_xlabel("learning rate η")
        if k % ncols == 0:
            aq.set_ylabel("LCB " + ("(ln)" if snap.transform == "log" else ""))
        if k == 0:
            handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=8)
    return fig


@styled
def convergence(
    evaluations: np.ndarray,
    gaps: Mapping[str, np.ndarray],
    *,
    tolerance: float | None = None,
    ax: Any = None,
    title: str = "",
    ylabel: str = "best value − f*",
):
    """Median (line) and quartiles (band) over seeds of the best-so-far gap f_best − f*.

    ``gaps`` maps a label to a finite array of shape (seeds, evaluations) (a diverged run's
    gap is its penalty's); gaps below 10⁻⁶ of the largest are drawn at that floor.
    """
    fig, ax = axes_or_new(ax)
    for i, (label, g) in enumerate(gaps.items()):
        g = check_finite("gaps", g)
        floor = 1e-6 * max(float(np.max(g)), 1e-300)
        q = np.percentile(np.maximum(g, floor), [25, 50, 75], axis=0)
        c = _colour(label, i)
        ax.plot(evaluations, q[1], color=c, lw=1.8, label=f"{label} (median, {g.shape[0]} runs)")
        ax.fill_between(evaluations, q[0], q[2], color=c, alpha=0.15, lw=0)
    if tolerance is not None:
        ax.axhline(tolerance, color="0.3", ls=":", lw=1.2, label="2% of |f*|")
    ax.set_yscale("log")
    ax.set_xlabel("evaluations of the objective")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def success_curves(
    evaluations: np.ndarray,
    measured: Mapping[str, np.ndarray],
    *,
    predicted: Mapping[str, np.ndarray] | None = None,
    ax: Any = None,
    title: str = "",
):
    """Fraction of runs within the tolerance after n evaluations (measured: steps;
    ``predicted``: closed-form curves, e.g. 1 − (1 − p)ⁿ for random search, dashed)."""
    fig, ax = axes_or_new(ax)
    for i, (label, frac) in enumerate(measured.items()):
        ax.step(evaluations, frac, where="post", color=_colour(label, i), lw=1.8,
                label=f"{label}: measured")
    for i, (label, frac) in enumerate((predicted or {}).items()):
        ax.plot(evaluations, frac, "--", color=_colour(label, i), lw=1.3,
                label=f"{label}: 1 − (1 − p)ⁿ")
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("evaluations of the objective")
    ax.set_ylabel("fraction of runs within 2% of f*")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


@styled
def objective_curve(
    curve: Any,
    *,
    threshold: float | None = None,
    ax: Any = None,
    title: str = "",
    value_label: str = "validation loss",
):
    """An objective against the learning rate (:class:`lrctl.search.LossCurve`): diverged
    rates shaded, the rates within the tolerance highlighted."""
    check_result("curve", curve, ("lrs", "values", "diverged"), "an objective curve (lrs, values, diverged)")
    fig, ax = axes_or_new(ax)
    ok = ~curve.diverged
    ax.plot(curve.lrs[ok], curve.values[ok], color=PREDICTED, lw=1.8, label=value_label)
    if np.any(~ok):
        lo = curve.lrs[~ok].min()
        ax.axvspan(lo, curve.lrs.max(), color=UNSTABLE, alpha=0.12,
                   label=f"training diverged (η ≥ {lo:.3g})")
    if threshold is not None:
        good = ok & (curve.values <= threshold)
        if np.any(good):
            ax.axvspan(curve.lrs[good].min(), curve.lrs[good].max(), color=STABLE, alpha=0.25,
                       label="within 2% of the best")
        ax.axhline(threshold, color="0.4", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    tidy_log_ticks(ax, "y")
    ax.set_xlabel("learning rate η")
    ax.set_ylabel(value_label)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def ratio_vs_width(decades: np.ndarray, ratios: Mapping[str, np.ndarray], *, ax: Any = None,
                   title: str = ""):
    """Median evaluations of log-uniform random search over those of BO, against the width of
    the search range in decades."""
    fig, ax = axes_or_new(ax)
    for i, (label, r) in enumerate(ratios.items()):
        ax.plot(decades, r, "o-", color=f"C{i}", lw=1.6, label=label)
    ax.axhline(3.0, color="0.4", ls=":", lw=1, label="goal: 3x")
    ax.set_xlabel("width of the search range (decades of η)")
    ax.set_ylabel("random / BO evaluations (medians)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


__all__ = [
    "DESIGN_COLOURS",
    "convergence",
    "expected_samples_vs_position",
    "hit_probability_vs_n",
    "hit_probability_vs_position",
    "objective_curve",
    "posterior_snapshots",
    "ratio_vs_width",
    "success_curves",
]
