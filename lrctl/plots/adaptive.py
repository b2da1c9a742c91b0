"""Figures for adaptive learning rates: hypergradient descent, layer-wise rates, snapshots.

Result objects of :mod:`lrctl.adaptive` in, matplotlib Figures out. Every builder takes an
optional ``ax`` and returns the Figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrctl.plots import MEASURED, PREDICTED, STABLE, UNSTABLE, axes_or_new, styled, tidy_log_ticks

#: Line colours for the two hypergradient rules and the constant-rate references.
RULE_COLORS = {"additive": "#d95f02", "log": "#1b9e77"}
_CYCLE = ("#1f3a5f", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666")
#: Colours for lines that are not a hypergradient rule (constant rates, other methods).
_OTHER = ("#1f3a5f", "#7570b3", "#e7298a", "#666666", "#66a61e", "#a6761d")


def _color(i: int) -> str:
    return _CYCLE[i % len(_CYCLE)]


def _label_colors(labels: Sequence[str]) -> list[str]:
    """A rule's colour for labels starting with a rule name, distinct others for the rest."""
    out, k = [], 0
    for label in labels:
        rule = next((c for r, c in RULE_COLORS.items() if label.startswith(r)), None)
        if rule is None:
            rule = _OTHER[k % len(_OTHER)]
            k += 1
        out.append(rule)
    return out


@styled
def lr_trajectories(runs: Mapping[str, Any], *, ax: Any = None, reference: Mapping[str, float]
                    | None = None, good_region: tuple[float, float] | None = None,
                    symlog: bool = False, xmax: int | None = None, title: str = ""):
    """η_t against step for hypergradient runs (``.lrs``), with reference rates as lines.

    ``good_region`` shades an interval of rates; ``symlog`` uses a symmetric-log y axis so that
    negative rates (the additive rule's failure) are visible next to positive ones; ``xmax``
    limits the steps shown. A run that diverged ends with an ×. Labels starting with a rule
    name (``"additive"``, ``"log"``) get that rule's colour.
    """
    fig, ax = axes_or_new(ax)
    if good_region is not None:
        ax.axhspan(*good_region, color=STABLE, alpha=0.12, lw=0, label="good region")
    colors = _label_colors(list(runs))
    for i, (label, run) in enumerate(runs.items()):
        lrs = np.asarray(run.lrs)
        if xmax is not None:
            lrs = lrs[: xmax + 1]
        color = colors[i]
        (line,) = ax.plot(np.arange(len(lrs)), lrs, lw=1.6, color=color, label=label)
        if getattr(run, "diverged", False) and len(lrs) == len(run.lrs) and len(lrs):
            ax.plot([len(lrs) - 1], [lrs[-1]], "x", color=line.get_color(), ms=9, mew=2)
    n_other = sum(c in _OTHER for c in colors)
    for j, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(value, color=_OTHER[(n_other + j) % len(_OTHER)],
                   lw=1.2, ls=("--", ":", "-.")[j % 3], label=label)
    if symlog:
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.axhline(0.0, color="0.2", lw=0.8)
    else:
        ax.set_yscale("log")
        tidy_log_ticks(ax)
    ax.set_xlabel("step t")
    ax.set_ylabel("learning rate η_t")
    if title:
        ax.set_title(title)
    ax.legend(loc="best")
    return fig


@styled
def loss_curves(runs: Mapping[str, Any], *, ax: Any = None, loss_floor: float = 0.0,
                ylabel: str = "training loss L(θ_t)", xmax: int | None = None, title: str = ""):
    """Loss (minus ``loss_floor``) against step for any results with ``.losses``; log scale.

    A run that diverged ends with an ×; ``xmax`` limits the steps shown. Labels starting with a
    rule name get that rule's colour, as in :func:`lr_trajectories`.
    """
    fig, ax = axes_or_new(ax)
    colors = _label_colors(list(runs))
    for i, (label, run) in enumerate(runs.items()):
        gap = np.maximum(np.asarray(run.losses, dtype=float) - loss_floor, 1e-300)
        if xmax is not None:
            gap = gap[: xmax + 1]
        color = colors[i]
        (line,) = ax.semilogy(np.arange(len(gap)), gap, lw=1.6, color=color, label=label)
        if getattr(run, "diverged", False) and len(gap) == len(run.losses):
            ax.semilogy([len(gap) - 1], [gap[-1]], "x", color=line.get_color(), ms=9, mew=2)
    tidy_log_ticks(ax)
    ax.set_xlabel("step t")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best")
    return fig


def _style(label: str, i: int) -> tuple[str, str]:
    """Colour by rule (first word of the label), line style by start ("below"/"above")."""
    color = next((c for rule, c in RULE_COLORS.items() if label.startswith(rule)), _color(i + 1))
    return color, "--" if "above" in label else "-"


def _outcome_markers(ax, x, y, runs, color, label, ls="-"):
    """Plot y against x with one marker per run: ● ok, × diverged."""
    ok = np.array([not r.diverged for r in runs])
    ax.plot(x, y, ls, color=color, lw=1.3, alpha=0.75, label=label)
    ax.plot(x[ok], y[ok], "o", color=color, ms=5)
    if np.any(~ok):
        ax.plot(x[~ok], y[~ok], "x", color=color, ms=9, mew=2)


def _marker_legend(ax, negative: bool = False) -> None:
    ax.plot([], [], "x", color="0.3", ms=8, mew=2, label="diverged")
    if negative:
        ax.plot([], [], "o", mfc="white", mec="0.3", ms=7, label="ended with η_T < 0")


def _log_limits(ax, values: np.ndarray, floor: float = 1e-6) -> None:
    v = values[np.isfinite(values) & (values > floor)]
    if v.size:
        ax.set_ylim(max(floor, v.min() / 3), v.max() * 3)


@styled
def final_rate_vs_hyper_lr(alphas: Any, runs_by_label: Mapping[str, Sequence[Any]], *,
                           optimal: float, bound: float, good_region: tuple[float, float],
                           ax: Any = None, title: str = ""):
    """|η_T| (last rate) against α on log axes, one line per (rule, start) label.

    Runs whose rate ended negative get a hollow marker at |η_T|; diverged runs an ×. Rates
    below 1e-6 (a collapsed log rule) are drawn at the bottom edge. The optimal rate η*, the
    bound 2/λmax and the good region are marked.
    """
    fig, ax = axes_or_new(ax)
    a = np.asarray(alphas, dtype=float)
    ax.axhspan(*good_region, color=STABLE, alpha=0.12, lw=0, label="good region")
    every = []
    for i, (label, runs) in enumerate(runs_by_label.items()):
        last = np.array([r.lrs[-1] if len(r.lrs) else r.lr0 for r in runs], dtype=float)
        mag = np.maximum(np.abs(last), 1e-6)
        every.append(mag)
        color, ls = _style(label, i)
        _outcome_markers(ax, a, mag, runs, color, label, ls)
        neg = last < 0
        if np.any(neg):
            ax.plot(a[neg], mag[neg], "o", mfc="white", mec=color, ms=8)
    ax.axhline(optimal, color=PREDICTED, ls="--", lw=1.2, label=f"η* = {optimal:.3g}")
    ax.axhline(bound, color=UNSTABLE, ls=":", lw=1.2, label=f"2/λmax = {bound:.3g}")
    _marker_legend(ax, negative=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_limits(ax, np.concatenate([*every, np.array([optimal, bound])]), floor=1e-6 / 3)
    tidy_log_ticks(ax)
    ax.set_xlabel("hyper-rate α")
    ax.set_ylabel("final learning rate |η_T|")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower left", fontsize=7.5, ncol=2)
    return fig


@styled
def min_rate_vs_hyper_lr(alphas: Any, runs_by_label: Mapping[str, Sequence[Any]], *,
                         ax: Any = None, title: str = ""):
    """The smallest rate min_t η_t of each run against α (symmetric-log y): below 0 means the
    rule turned gradient descent into gradient ascent."""
    fig, ax = axes_or_new(ax)
    a = np.asarray(alphas, dtype=float)
    for i, (label, runs) in enumerate(runs_by_label.items()):
        low = np.array([r.lrs.min() if len(r.lrs) else r.lr0 for r in runs], dtype=float)
        color, ls = _style(label, i)
        _outcome_markers(ax, a, low, runs, color, label, ls)
    ax.axhline(0.0, color=UNSTABLE, lw=1.0)
    _marker_legend(ax)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("hyper-rate α")
    ax.set_ylabel("smallest rate min_t η_t")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower left", fontsize=7.5)
    return fig


@styled
def final_loss_vs_hyper_lr(alphas: Any, runs_by_label: Mapping[str, Sequence[Any]], *,
                           reference: Mapping[str, float] | None = None, ax: Any = None,
                           title: str = ""):
    """Final training loss against α for each rule; constant-rate references as lines."""
    fig, ax = axes_or_new(ax)
    a = np.asarray(alphas, dtype=float)
    for i, (label, runs) in enumerate(runs_by_label.items()):
        final = np.array([r.final_loss for r in runs], dtype=float)
        color, ls = _style(label, i)
        _outcome_markers(ax, a, final, runs, color, label, ls)
    _marker_legend(ax)
    for j, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(value, color=_OTHER[j % len(_OTHER)], ls=("--", ":", "-.")[j % 3],
                   lw=1.2, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    tidy_log_ticks(ax)
    ax.set_xlabel("hyper-rate α")
    ax.set_ylabel("training loss after the last step")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig


@styled
def final_loss_vs_initial_lr(lr0s: Any, finals: Mapping[str, Any], *, ax: Any = None,
                             title: str = ""):
    """Final loss against the starting rate η_0, one line per method (constant, HD rules)."""
    fig, ax = axes_or_new(ax)
    x = np.asarray(lr0s, dtype=float)
    for i, (label, values) in enumerate(finals.items()):
        color = RULE_COLORS.get(label.split()[0], PREDICTED if i == 0 else _color(i + 1))
        ax.loglog(x, np.asarray(values, dtype=float), "o-", color=color, lw=1.4, ms=5,
                  label=label)
    tidy_log_ticks(ax)
    ax.set_xlabel("starting learning rate η_0")
    ax.set_ylabel("training loss after the last step")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------
# layer-wise rates
# ---------------------------------------------------------------------------------------


@styled
def block_curvature_history(steps: Any, values: Any, *, full: Any = None,
                            labels: Sequence[str] | None = None, ax: Any = None,
                            title: str = ""):
    """λ_max(H_ℓ) per block (and λ_max(H)) against the training step at which it was measured.

    ``values`` has shape (n_times, n_blocks); ``full`` (n_times,) is optional.
    """
    fig, ax = axes_or_new(ax)
    s = np.asarray(steps, dtype=float)
    v = np.atleast_2d(np.asarray(values, dtype=float))
    names = labels or [f"layer {i + 1}" for i in range(v.shape[1])]
    for i in range(v.shape[1]):
        ax.semilogy(s, v[:, i], "o-", color=_color(i + 1), lw=1.5, ms=4, label=f"λmax(H_ℓ) of {names[i]}")
    if full is not None:
        ax.semilogy(s, np.asarray(full, dtype=float), "s--", color=PREDICTED, lw=1.5, ms=4,
                    label="λmax(H), whole network")
    tidy_log_ticks(ax)
    ax.set_xlabel("training step t")
    ax.set_ylabel("top Hessian eigenvalue")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig


@styled
def block_rates(result: Any, *, labels: Sequence[str] | None = None, ax: Any = None,
                title: str = ""):
    """The rate of each block against step for a :class:`~lrctl.training.Run` of a per-block policy."""
    fig, ax = axes_or_new(ax)
    r = np.asarray(result.lrs, dtype=float)  # a Run of a per-block policy: (steps, n_blocks)
    names = labels or [f"layer {i + 1}" for i in range(r.shape[1])]
    for i in range(r.shape[1]):
        ax.semilogy(np.arange(len(r)), r[:, i], lw=1.5, color=_color(i + 1), label=names[i])
    tidy_log_ticks(ax)
    ax.set_xlabel("step t")
    ax.set_ylabel("learning rate η_ℓ of the layer")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig


@styled
def sharpness_bars(labels: Sequence[str], values: Any, *, limit: float = 2.0, ax: Any = None,
                   title: str = ""):
    """Bars of λ_max(D^{1/2} H D^{1/2}) for several rate vectors, with the stability limit 2."""
    fig, ax = axes_or_new(ax)
    v = np.asarray(values, dtype=float)
    colors = [STABLE if x < limit else UNSTABLE for x in v]
    ax.bar(np.arange(len(v)), v, color=colors, width=0.6)
    for i, x in enumerate(v):
        ax.text(i, x, f"{x:.2f}", ha="center", va="bottom", fontsize=9)
    ax.axhline(limit, color="0.2", ls="--", lw=1.2, label=f"stability limit {limit:g}")
    ax.set_xticks(np.arange(len(v)), labels, fontsize=8.5)
    ax.set_ylabel("λmax(D^½ H D^½)  (stable if < 2)")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------
# snapshot ensembles
# ---------------------------------------------------------------------------------------


@styled
def snapshot_schedule(runs: Mapping[str, Any], *, ax: Any = None, title: str = ""):
    """The SGDR rate against step for the :class:`~lrctl.training.Run` of snapshot training, with the
    snapshot steps marked."""
    fig, ax = axes_or_new(ax)
    for i, (label, run) in enumerate(runs.items()):
        color = _color(i + 1)
        ax.plot(np.arange(len(run.lrs)), run.lrs, lw=1.3, color=color, label=label)
        idx = np.asarray(run.snapshot_steps) - 1
        ax.plot(idx, run.lrs[idx], "v", color=color, ms=7)
    ax.plot([], [], "v", color="0.3", label="snapshot (end of cycle)")
    top = max(float(np.max(run.lrs)) for run in runs.values())
    ax.set_ylim(-0.03 * top, 1.3 * top)
    ax.set_xlabel("step t (mini-batches)")
    ax.set_ylabel("learning rate η_t")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper center", fontsize=8, ncol=3)
    return fig


@styled
def diversity_grid(amplitudes: Any, periods: Any, values: Any, *, label: str, ax: Any = None,
                   fmt: str = "{:.3g}", title: str = ""):
    """A heat map of a diversity measure over restart amplitude (rows) and cycle length
    (columns), with the values printed in the cells."""
    fig, ax = axes_or_new(ax)
    v = np.asarray(values, dtype=float)
    im = ax.imshow(v, origin="lower", cmap="viridis", aspect="auto")
    ax.set_xticks(np.arange(len(periods)), [str(p) for p in periods])
    ax.set_yticks(np.arange(len(amplitudes)), [f"{a:g}" for a in amplitudes])
    ax.grid(False)
    lo, hi = np.nanmin(v), np.nanmax(v)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            bright = (v[i, j] - lo) > 0.6 * (hi - lo) if hi > lo else False
            ax.text(j, i, fmt.format(v[i, j]), ha="center", va="center", fontsize=8.5,
                    color="black" if bright else "white")
    ax.set_xlabel("cycle length (steps)")
    ax.set_ylabel("restart amplitude η_max")
    fig.colorbar(im, ax=ax, label=label)
    if title:
        ax.set_title(title)
    return fig


@styled
def ensemble_vs_single(labels: Sequence[str], ensemble: Any, best_single: Any, mean_single: Any,
                       *, ax: Any = None, title: str = ""):
    """Test accuracy of the snapshot ensemble against the best and the mean single snapshot,
    one group of bars per configuration."""
    fig, ax = axes_or_new(ax)
    x = np.arange(len(labels))
    w = 0.27
    ax.bar(x - w, 100 * np.asarray(mean_single), w, color="0.7", label="mean single snapshot")
    ax.bar(x, 100 * np.asarray(best_single), w, color=PREDICTED, label="best single snapshot")
    ax.bar(x + w, 100 * np.asarray(ensemble), w, color=MEASURED, label="snapshot ensemble")
    lo = 100 * min(np.min(mean_single), np.min(best_single), np.min(ensemble))
    hi = 100 * max(np.max(mean_single), np.max(best_single), np.max(ensemble))
    ax.set_ylim(max(0.0, lo - 0.5), min(100.0, hi + 0.25 * (hi - lo) + 0.3))
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper center", fontsize=8, ncol=3)
    return fig
