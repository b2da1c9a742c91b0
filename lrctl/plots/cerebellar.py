"""Figures for lrctl.cerebellar: the cerebellar rule, its noise and the two-rate model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrctl.plots import MEASURED, PREDICTED, STABLE, UNSTABLE, axes_or_new, check_result, styled
from lrctl.plots.schedules import SERIES_COLOURS as _CYCLE

# ---------------------------------------------------------------------------------------
# Cerebellar
# ---------------------------------------------------------------------------------------


@styled
def cerebellar_regimes(trajectories: Mapping[float, np.ndarray], c_opt: float, *,
                       closed: Mapping[float, np.ndarray] | None = None, ax: Any = None,
                       title: str = "Cerebellar rule Cₙ₊₁ = Cₙ − k(Cₙ − C_opt)"):
    """C_n against n for several rates k (recurrence markers, closed form lines)."""
    from lrctl.cerebellar import cerebellar_regime

    fig, ax = axes_or_new(ax, height=3.8)
    for i, (k, traj) in enumerate(trajectories.items()):
        c = _CYCLE[i % len(_CYCLE)]
        n = np.arange(len(traj))
        label = f"k = {k:g} ({cerebellar_regime(k)})"
        if closed is not None and k in closed:
            ax.plot(n, closed[k], "-", color=c, lw=1.2, alpha=0.8)
        ax.plot(n, traj, "o", color=c, ms=3.5, label=label)
    ax.axhline(c_opt, color="0.3", ls="--", lw=1, label="C_opt")
    ax.set_xlabel("trial n")
    ax.set_ylabel("motor command Cₙ (a.u.)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


@styled
def continuous_limit(dts: np.ndarray, errors: np.ndarray, *, predicted_first_order: Any = None,
                     ax: Any = None, title: str = "Discrete rule → dC/dt = −k(C − C_opt)"):
    """|C_discrete(t) − C_continuous(t)| against Δt (log–log), with the O(Δt) prediction."""
    from lrctl.plots import tidy_log_ticks

    fig, ax = axes_or_new(ax, height=3.6)
    ax.loglog(dts, np.abs(errors), "o", color=MEASURED, ms=6, label="discrete rule, rate k·Δt")
    if predicted_first_order is not None:
        ax.loglog(dts, np.abs(predicted_first_order), "-", color=PREDICTED, lw=1.6,
                  label="first-order term |C₀ − C_opt|·k²t·e^(−kt)·Δt/2")
    tidy_log_ticks(ax, "both")
    ax.set_xlabel("time step Δt (time units)")
    ax.set_ylabel("error |C_N − C(t)| at t = NΔt (a.u.)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def noise_variance(k: np.ndarray, predicted: np.ndarray, k_mc: np.ndarray, measured: np.ndarray,
                   *, k_star: float | None = None, measured_err: Any = None, ax: Any = None,
                   title: str = "Steady-state variance of the noisy rule"):
    """Derived stationary variance against k (line) with Monte Carlo estimates (markers)."""
    fig, ax = axes_or_new(ax, height=3.8)
    ax.semilogy(k, predicted, "-", color=PREDICTED, lw=2, label="derived (k²σ_u² + σ_x²)/(k(2 − k))")
    ax.errorbar(k_mc, measured, yerr=measured_err, fmt="o", color=MEASURED, ms=5, capsize=2,
                label="Monte Carlo")
    if k_star is not None:
        ax.axvline(k_star, color=STABLE, ls="--", lw=1.3, label=f"optimal k* = {k_star:.3f}")
    ax.axvline(2.0, color=UNSTABLE, ls=":", lw=1.3, label="k = 2 (divergence)")
    ax.set_xlabel("cerebellar rate k")
    ax.set_ylabel("Var(C − C_opt) (a.u.²)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def two_rate_run(run: Any, *, ax: Any = None, phases: Sequence[tuple[int, int, str]] = (),
                 single: np.ndarray | None = None, title: str = "Two-rate model"):
    """Net adaptation, fast and slow states, the perturbation, shaded phases."""
    check_result("run", run, ("output", "fast", "slow", "perturbation"), "an AdaptationResult (lrctl.cerebellar.simulate_two_rate)")
    fig, ax = axes_or_new(ax, height=3.8)
    n = np.arange(run.output.size)
    shades = ("#f2f2f2", "#e6eef7", "#f7ece6", "#eaf4ea")
    for i, (lo, hi, label) in enumerate(phases):
        ax.axvspan(lo, hi, color=shades[i % len(shades)], zorder=0)
        ax.text(0.5 * (lo + hi), 1.08, label, ha="center", va="bottom", fontsize=8)
    ax.plot(n, run.perturbation, color="0.55", lw=1, ls="--", label="perturbation f")
    ax.plot(n, run.output, color="k", lw=2, label="net adaptation x_f + x_s")
    ax.plot(n, run.fast, color=MEASURED, lw=1.4, label="fast state x_f")
    ax.plot(n, run.slow, color=PREDICTED, lw=1.4, label="slow state x_s")
    if single is not None:
        ax.plot(n[: single.size], single, color="#7b7b7b", lw=1.3, ls="-.",
                label="single-rate model")
    ax.set_ylim(-1.15, 1.25)
    ax.set_xlabel("trial n")
    ax.set_ylabel("adaptation (fraction of perturbation)")
    if title:
        ax.set_title(title, pad=16)
    ax.legend(fontsize=7.5, loc="lower left", ncol=2)
    return fig


@styled
def savings_curves(two_rate: Any, single: Any = None, *, ax: Any = None,
                   title: str = "Savings: naive learning vs relearning"):
    """Naive and relearning curves (two-rate; optionally single-rate) with the criterion."""
    check_result("two_rate", two_rate, ("naive", "relearn", "criterion", "trials_naive", "trials_relearn"), "a SavingsResult (lrctl.cerebellar.savings)")
    if single is not None:
        check_result("single", single, ("naive", "relearn"), "a SavingsResult (lrctl.cerebellar.savings)")
    fig, ax = axes_or_new(ax, height=3.6)
    n = np.arange(two_rate.naive.size)
    ax.plot(n, two_rate.naive, color=PREDICTED, lw=1.8, label="two-rate: naive")
    ax.plot(n, two_rate.relearn, color=MEASURED, lw=1.8, label="two-rate: relearning")
    if single is not None:
        m = np.arange(single.naive.size)
        ax.plot(m, single.naive, color="0.35", lw=1.4, ls="--", label="single-rate: naive")
        ax.plot(m, single.relearn, color="0.6", lw=1.4, ls=":", label="single-rate: relearning")
    ax.axhline(two_rate.criterion, color="0.4", lw=0.9, ls=":")
    for trials, c in ((two_rate.trials_naive, PREDICTED), (two_rate.trials_relearn, MEASURED)):
        if trials is not None:
            ax.axvline(trials, color=c, lw=0.9, ls="--")
    ax.set_xlabel("trial n of the (re)learning block")
    ax.set_ylabel("adaptation (fraction of perturbation)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


@styled
def fitted_trajectory(observed: np.ndarray, fitted: np.ndarray, *, truth: Any = None,
                      ax: Any = None, ylabel: str = "motor command Cₙ (a.u.)",
                      title: str = "Least-squares fit"):
    """Observed (noisy) sequence, the fitted model and, if known, the true noise-free one."""
    fig, ax = axes_or_new(ax, height=3.6)
    n = np.arange(observed.size)
    ax.plot(n, observed, ".", color=MEASURED, ms=4, label="observed (with noise)")
    if truth is not None:
        ax.plot(n, truth, "-", color="0.6", lw=3, alpha=0.6, label="true model")
    ax.plot(n, fitted, "-", color=PREDICTED, lw=1.5, label="fitted model")
    ax.set_xlabel("trial n")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
