"""Figures for federated learning: drift heatmaps, fixed points, server stability, real runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lrctl.plots import PREDICTED, axes_or_new, check_result, styled, tidy_log_ticks


def _edges(centers: np.ndarray, *, log: bool) -> np.ndarray:
    """Cell edges around sorted cell centres: midpoints (geometric ones on a log axis)."""
    c = np.log(centers) if log else np.asarray(centers, dtype=float)
    if c.size == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = 0.5 * (c[1:] + c[:-1])
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.exp(e) if log else e


@styled
def drift_heatmap(drift: Any, *, field: str = "relative_drift", lr_scale: float = 1.0,
                  ax: Any = None, title: str = "", label: str = "relative drift ‖w_fp − w*‖/spread",
                  levels: tuple[float, ...] = (0.1, 0.25, 0.5)):
    """A field of :class:`lrctl.federated.FedAvgDrift` over its (η_c, K) grid.

    ``drift`` must come from a grid ``client_lr[:, None]`` × ``local_steps[None, :]`` (one server
    rate). The x axis is η_c·``lr_scale`` (pass λ_max to show η_c λ_max), the y axis K (log).
    """
    check_result("drift", drift, ("client_lr", "local_steps"), "a drift map (lrctl.federated.fedavg_drift)")
    fig, ax = axes_or_new(ax)
    values = np.asarray(getattr(drift, field), dtype=float)
    if values.ndim != 2:
        raise ValueError(f"drift_heatmap needs a 2-D (η_c, K) grid, got shape {values.shape}")
    x = np.asarray(drift.client_lr)[:, 0] * lr_scale
    k = np.asarray(drift.local_steps)[0, :].astype(float)
    mesh = ax.pcolormesh(_edges(x, log=False), _edges(k, log=True), values.T, shading="flat",
                         cmap="viridis")
    cs = ax.contour(x, k, values.T, levels=list(levels), colors="white", linewidths=1.0)
    ax.clabel(cs, fmt="%.2g", fontsize=8)
    ax.set_yscale("log")
    tidy_log_ticks(ax, "y")
    ax.set_xlabel("client rate η_c·λ_max" if lr_scale != 1.0 else "client rate η_c")
    ax.set_ylabel("local steps K")
    fig.colorbar(mesh, ax=ax, label=label)
    ax.grid(False)
    if title:
        ax.set_title(title)
    return fig


@styled
def fixed_point_vs_steps(steps: np.ndarray, closed_form: Mapping[str, np.ndarray],
                         simulated: Mapping[str, np.ndarray], *, optimum: float, average: float,
                         sim_steps: np.ndarray | None = None, ax: Any = None, title: str = ""):
    """FedAvg's fixed point against K: closed form (lines), simulation (markers), w* and the
    plain average of the client optima (horizontal lines)."""
    fig, ax = axes_or_new(ax)
    xs = steps if sim_steps is None else sim_steps
    for label, values in closed_form.items():
        (line,) = ax.semilogx(steps, values, "-", lw=1.8, label=f"closed form, {label}")
        if label in simulated:
            ax.semilogx(xs, simulated[label], "o", color=line.get_color(), ms=5, mfc="none",
                        mew=1.5)
    ax.semilogx([], [], "o", color="0.3", mfc="none", label="simulated FedAvg")
    ax.axhline(optimum, color=PREDICTED, ls="--", lw=1.2, label="true optimum w*")
    ax.axhline(average, color="0.45", ls=":", lw=1.2, label="plain mean Σ p_i w_i*")
    tidy_log_ticks(ax, "x")
    ax.set_xlabel("local steps K")
    ax.set_ylabel("fixed point w_fp (parameter units)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def server_contraction(server_lrs: np.ndarray, predicted: np.ndarray, measured: np.ndarray, *,
                       bound: float, ax: Any = None, title: str = ""):
    """ρ(I − η_s C̄) against the server rate: prediction, measured per-round factor, the bound."""
    from lrctl.plots.quadratic import contraction_vs_lr

    return contraction_vs_lr(
        server_lrs, predicted, measured, bound=bound, ax=ax, title=title,
        xlabel="server rate η_s", ylabel="error factor per round",
        predicted_label="predicted ρ(I − η_s C̄)", measured_label="measured per round",
        bound_label="2/λ_max(C̄)", legend_fontsize=8)


@styled
def distance_to_optimum(curves: Mapping[str, np.ndarray], *,
                        predicted: Mapping[str, float] | None = None, ax: Any = None,
                        title: str = ""):
    """‖w_r − w*‖ against the round (log scale); dashed lines at predicted drift levels."""
    fig, ax = axes_or_new(ax)
    for label, dist in curves.items():
        (line,) = ax.semilogy(np.arange(len(dist)), np.maximum(dist, 1e-300), lw=1.6,
                              label=label)
        if predicted and label in predicted:
            ax.axhline(predicted[label], color=line.get_color(), ls="--", lw=1.0)
    if predicted:
        ax.plot([], [], "--", color="0.4", lw=1.0, label="predicted drift (local model)")
    ax.set_xlabel("round r")
    ax.set_ylabel("distance to optimum ‖w_r − w*‖")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def drift_prediction(steps: np.ndarray, predicted: Mapping[str, np.ndarray],
                     measured: Mapping[str, np.ndarray], *, ax: Any = None, title: str = ""):
    """Drift ‖w_fp − w*‖ against K: local-model prediction (lines) and measured (markers)."""
    fig, ax = axes_or_new(ax)
    for label, values in predicted.items():
        (line,) = ax.loglog(steps, values, "-", lw=1.8, label=f"predicted, {label}")
        if label in measured:
            ax.loglog(steps, measured[label], "o", color=line.get_color(), ms=6, mfc="none",
                      mew=1.5)
    ax.loglog([], [], "o", color="0.3", mfc="none", label="measured FedAvg")
    tidy_log_ticks(ax, "x")
    ax.set_xlabel("local steps K")
    ax.set_ylabel("drift ‖w_fp − w*‖ (parameter units)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
