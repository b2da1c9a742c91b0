"""Figures for Hessian spectra (:mod:`lrctl.curvature`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lrctl.plots import MEASURED, PREDICTED, axes_or_new, styled

__all__ = ["eigenvalue_convergence"]


@styled
def eigenvalue_convergence(power_history: np.ndarray, lanczos: Mapping[int, float],
                           true_value: float, *, target: float | None = None, ax: Any = None,
                           title: str = "λmax: Lanczos vs power iteration"):
    """Relative error of λ_max against Hessian-vector products.

    ``power_history`` is a power iteration's estimate after every product
    (:attr:`lrctl.curvature.EigenResult.history`); ``lanczos`` maps product counts to Lanczos
    estimates (e.g. from runs at several tolerances).
    """
    fig, ax = axes_or_new(ax)
    floor = 1e-17
    err = np.maximum(np.abs(power_history - true_value) / abs(true_value), floor)
    ax.semilogy(np.arange(1, err.size + 1), err, color=MEASURED, lw=1.5, label="power iteration")
    counts = np.array(sorted(lanczos))
    lerr = np.maximum(np.abs(np.array([lanczos[c] for c in counts]) - true_value)
                      / abs(true_value), floor)
    ax.semilogy(counts, lerr, "o-", color=PREDICTED, ms=5, lw=1.5,
                label="Lanczos (largest algebraic eigenvalue), one run per tolerance")
    if target is not None:
        ax.axhline(target, color="0.4", ls=":", lw=1.2, label=f"relative error {target:g}")
    ax.set_xlabel("Hessian-vector products")
    ax.set_ylabel("relative error of λmax")
    ax.set_title(title)
    from lrctl.plots.rangetest import lean_log_ticks

    lean_log_ticks(ax)
    ax.legend(fontsize=8)
    return fig
