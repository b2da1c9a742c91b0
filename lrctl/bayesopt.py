r"""Bayesian optimization of the learning rate over ln η, with a resumable SQLite history.

**Surrogate.** The search works in the normalized log learning rate

    x = (ln η − ln η_lo) / (ln η_hi − ln η_lo) ∈ [0, 1].

The observed values y are standardized, z = (y − ȳ)/s_y (as scikit-learn's
``normalize_y=True``), and modelled by a Gaussian process with the kernel

    k(x, x') = σ_f² m(|x − x'|/ℓ) + σ_n² δ_{xx'},   m(d) = (1 + √5 d + 5d²/3) e^{−√5 d},

the Matérn-5/2 covariance plus white noise (scikit-learn's
``ConstantKernel(σ_f²) * Matern(ℓ, nu=2.5) + WhiteKernel(σ_n²)``; the tests hold this
implementation to that one). The hyperparameters maximize the log marginal likelihood
log p(z | x) = −½ zᵀK⁻¹z − ½ log|K| − (n/2) log 2π. With g = σ_n²/σ_f² fixed the best σ_f² is
zᵀ(M + gI)⁻¹z / n in closed form, so the search is over (ℓ, g) only: a log-spaced grid of
both (no local optimum of the likelihood can be missed at the grid's resolution), then three
finer grids around the best point. Posterior: μ(x) = ȳ + s_y k*ᵀK⁻¹z,
σ²(x) = s_y² (σ_f² − k*ᵀK⁻¹k*) (the latent function; the noise σ_n² is not added).

**Acquisition.** We *minimize* a loss. The next rate minimizes the lower confidence bound

    LCB(x) = μ(x) − κ σ(x),

which is the upper confidence bound μ' + κσ of the negated loss −f (GP-UCB of Srinivas et al.,
2010, maximized). κ is a constant (default 1: chosen with the exploration threshold
below among κ ∈ {0.5, 1, 2} on the synthetic tuning objectives of ``benchmarks/bench_bayesopt.py``
and reported out of sample on its real-data objectives) or the GP-UCB schedule
κ_t = √β_t, β_t = 2 ln(|D| t² π² / (6δ)) (their Theorem 1, |D| the number of grid candidates;
known to over-explore in practice, their own experiments scale it down). LCB is minimized
robustly on the bounded 1-D interval: on a dense grid (``grid_size`` points), then the five best
local minima are refined on a 101-point grid between their grid neighbours. Candidates
closer than ``min_distance`` (in x) to an evaluated rate are excluded: a deterministic objective
gains nothing from a repeat. When the posterior standard deviation at the chosen point is below
``explore_threshold`` (10⁻³) times the prior one, the model already knows the value there and
the point would teach nothing; the next rate is then argmax σ instead. Without this rule, a GP
whose fitted length scale is too long keeps refining a local minimum for ever (measured with
κ = 1 on the Gramacy-Lee function: without the rule 9 of 30 runs never came within 2% of the
global minimum in 100 evaluations; with it all 30 did, within 41).

**Batches.** ``ask_batch(q)`` proposes q rates before any is evaluated. The pending rates enter
the surrogate with a made-up value and the hyperparameters fixed: the posterior mean there
("kriging believer"; for UCB this is GP-BUCB, Desautels, Krause & Burdick 2014: the mean is
unchanged and only the variance shrinks), or the worst value observed so far ("constant liar",
CL-max of Ginsbourger, Le Riche & Carraro 2010, which spreads the batch further).

**Failures.** An objective may return a float or an :class:`Evaluation` (a value plus a
``diverged`` flag for a finite penalty). An exception, NaN or ±inf makes the trial *failed*: it
is recorded with the error, never silently dropped. In the surrogate, diverged and failed trials
are imputed to the worst successful value (the history keeps what really happened).

**Persistence.** With ``storage="file.sqlite"`` every trial is written when it is proposed
(status ``pending``) and again when its value arrives, each in its own committed transaction;
with a local executor the worker itself commits the value in the transaction that marks the
trial finished, the moment the objective returns. Opening the same file and study again
reloads the history; pending trials of a run that was killed are handed out again, first,
with their original numbers and rates, so a resumed (batch-synchronous) search is the same
search: no completed trial is lost or repeated. What remains: an evaluation whose objective
returned but whose commit had not completed when the process was killed is run again (the
window is the commit itself, well under a millisecond on a local disk).

**Several drivers.** Any number of optimizers (processes, or machines sharing a local file
system that supports SQLite locking) may drive one study at once. Each proposal is made under
the database's write lock (``BEGIN IMMEDIATE``) after re-reading every trial, so numbers are
unique and each new rate is conditioned on every driver's pending trials (kriging believer /
constant liar, as in a batch). A driver owns its pending trials under a lease that a heartbeat
thread renews every ``lease_seconds / 4``; a pending trial whose lease has expired, or whose
owner ran on the same host and is dead, is taken over by the next driver that asks. An outcome
is recorded only while the trial is pending, so it is recorded once (the first one stays).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._process import pid_alive
from lrctl._validation import (
    as_float_array,
    check_choice,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
)

__all__ = [
    "BATCH_STRATEGIES",
    "RULES",
    "TRANSFORMS",
    "BayesianOptimizer",
    "Evaluation",
    "GaussianProcess1D",
    "PosteriorSnapshot",
    "SearchProgress",
    "SearchResult",
    "SerialExecutor",
    "Trial",
    "fit_gp",
    "gp_ucb_kappa",
    "lower_confidence_bound",
    "matern52",
    "record_evaluations",
]

#: How pending rates of a batch enter the surrogate.
BATCH_STRATEGIES = ("kriging-believer", "constant-liar")
#: How a proposal was made: the initial stratified design, the point farthest from all trials
#: (no usable value yet), the LCB minimizer, or the exploration rule (argmax σ).
RULES = ("initial", "farthest", "lcb", "explore")
#: What the surrogate models: the values themselves or their logarithm (positive losses).
TRANSFORMS = ("none", "log")

_SQRT5 = math.sqrt(5.0)
_LOG_2PI = math.log(2.0 * math.pi)
#: √5·d/ℓ is capped here: (1 + s + s²/3) e^{−s} underflows to 0.0 long before (at s ≈ 750),
#: and the cap keeps s² from overflowing to inf (inf·0 = NaN) for huge distances.
_S_MAX = 1e3


def _real_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a float array; bools (``True`` is not a number) and strings refused."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray)
                                               and value.dtype == bool):
        raise TypeError(f"{name} must be a number or an array of numbers, got the bool "
                        f"{value!r:.80}")
    arr = as_float_array(name, value)
    if arr.dtype == bool:  # pragma: no cover - as_float_array returns float
        raise TypeError(f"{name} must be numbers, not bools")
    if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in
                                                np.ravel(np.asarray(value, dtype=object))):
        raise TypeError(f"{name} must be numbers, got a bool in {value!r:.80}")
    return arr


def _finite(name: str, value: Any) -> np.ndarray:
    arr = _real_array(name, value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {value!r:.80}")
    return arr


# ---------------------------------------------------------------------------------------
# The Gaussian process
# ---------------------------------------------------------------------------------------


def matern52(distance: ArrayLike, length_scale: float) -> np.ndarray:
    r"""The Matérn-5/2 correlation m(d/ℓ) = (1 + √5 d/ℓ + 5d²/(3ℓ²)) exp(−√5 d/ℓ).

    Twice differentiable sample paths; m(0) = 1. Broadcasts over ``distance``.

    >>> float(matern52(0.0, 0.3)), round(float(matern52(0.3, 0.3)), 6)
    (1.0, 0.523994)
    """
    d = _real_array("distance", distance)
    if not np.all(np.isfinite(d)):
        raise ValueError(f"distance must be finite (no NaN or inf), got {distance!r:.80}")
    if np.any(d < 0):
        raise ValueError(f"distance must be >= 0 (|x - x'|), got {distance!r:.80}")
    ell = check_scalar("length_scale", length_scale)
    check_positive("length_scale", ell)
    with np.errstate(over="ignore"):  # d/ℓ beyond the float range is capped like any s > s_max
        s = np.minimum(_SQRT5 * (d / ell), _S_MAX)  # beyond _S_MAX the correlation is 0.0
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


def _correlation(x1: np.ndarray, x2: np.ndarray, ell: np.ndarray | float) -> np.ndarray:
    """Matérn-5/2 correlation matrix; ``ell`` may carry leading batch axes."""
    ell = np.asarray(ell, dtype=float)
    with np.errstate(over="ignore"):  # a huge distance: s is capped (correlation 0.0)
        d = np.abs(x1[:, None] - x2[None, :])
        s = np.minimum(_SQRT5 * (d / ell[..., None, None]), _S_MAX)
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


@dataclass(frozen=True, eq=False)
class GaussianProcess1D:
    r"""A fitted 1-D Gaussian process with the Matérn-5/2 + white-noise kernel.

    Hyperparameters are in the standardized units of z = (y − ``y_mean``)/``y_std``:
    k = ``signal_variance``·m(d/``length_scale``) + ``noise_variance``·δ.
    Build one with :func:`fit_gp` (hyperparameters by maximum marginal likelihood) or directly
    with fixed hyperparameters.

    Attributes
    ----------
    x, y
        Inputs and observed values (original units).
    length_scale, signal_variance, noise_variance
        ℓ, σ_f², σ_n² (standardized units).
    y_mean, y_std
        The standardization (``y_std`` = 1 when all y are equal, as in scikit-learn).

    >>> gp = GaussianProcess1D(np.array([0.0, 0.5, 1.0]), np.array([1.0, 0.0, 1.0]),
    ...                        length_scale=0.3, signal_variance=1.0, noise_variance=1e-6)
    >>> mean, std = gp.predict(np.array([0.5, 0.25]))
    >>> round(float(mean[0]), 4), float(std[0]) < 1e-2 < float(std[1])
    (0.0, True)
    """

    x: np.ndarray
    y: np.ndarray
    length_scale: float
    signal_variance: float
    noise_variance: float
    y_mean: float = field(default=math.nan)
    y_std: float = field(default=math.nan)
    _chol: np.ndarray = field(init=False, repr=False)
    _alpha: np.ndarray = field(init=False, repr=False)
    _chol_inv: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        x = _finite("x", self.x).ravel()
        y = _finite("y", self.y).ravel()
        if x.shape != y.shape or x.size == 0:
            raise ValueError(f"x and y must be non-empty and of equal length, got {x.size} and "
                             f"{y.size}")
        for name in ("length_scale", "signal_variance", "noise_variance"):
            check_positive(name, check_scalar(name, getattr(self, name)))
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        mean = _nan_or_scalar("y_mean", self.y_mean)
        mean = _standardization(y)[0] if mean is None else mean
        std = _nan_or_scalar("y_std", self.y_std)
        if std is None:
            std = _standardization(y)[1]
        elif std <= 0:
            raise ValueError(f"y_std must be > 0 (NaN: the standard deviation of y), got {std}")
        object.__setattr__(self, "y_mean", mean)
        object.__setattr__(self, "y_std", std)
        z = (y - self.y_mean) / self.y_std
        K = self.signal_variance * _correlation(x, x, self.length_scale)
        K[np.diag_indices_from(K)] += self.noise_variance
        L = np.linalg.cholesky(K)
        from scipy.linalg import cho_solve, solve_triangular

        object.__setattr__(self, "_chol", L)
        object.__setattr__(self, "_alpha", cho_solve((L, True), z))
        object.__setattr__(self, "_chol_inv", solve_triangular(L, np.eye(L.shape[0]),
                                                               lower=True))

    def __repr__(self) -> str:
        return (f"GaussianProcess1D(n={self.x.size}, length_scale={self.length_scale:.4g}, "
                f"signal_variance={self.signal_variance:.4g}, "
                f"noise_variance={self.noise_variance:.4g}, y_mean={self.y_mean:.4g}, "
                f"y_std={self.y_std:.4g})")

    @property
    def z(self) -> np.ndarray:
        """The standardized observations."""
        return (self.y - self.y_mean) / self.y_std

    def predict(self, x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at ``x`` (1-D)."""
        xs = _finite("x", x)
        flat = np.atleast_1d(xs).ravel()
        k = self.signal_variance * _correlation(flat, self.x, self.length_scale)
        mean_z = k @ self._alpha
        v = k @ self._chol_inv.T  # rows L⁻¹k*
        var_z = np.maximum(self.signal_variance - np.sum(v * v, axis=1), 0.0)
        mean = self.y_mean + self.y_std * mean_z
        std = self.y_std * np.sqrt(var_z)
        return mean.reshape(xs.shape), std.reshape(xs.shape)

    def log_marginal_likelihood(self) -> float:
        """log p(z | x) of the standardized data under this GP's hyperparameters."""
        z = self.z
        return float(-0.5 * z @ self._alpha - np.sum(np.log(np.diag(self._chol)))
                     - 0.5 * z.size * _LOG_2PI)

    def condition(self, x_new: ArrayLike, y_new: ArrayLike) -> GaussianProcess1D:
        """The GP with (x_new, y_new) added, same hyperparameters and standardization."""
        xn = np.atleast_1d(_finite("x_new", x_new)).ravel()
        yn = np.atleast_1d(_finite("y_new", y_new)).ravel()
        if xn.shape != yn.shape:
            raise ValueError(f"x_new and y_new must have equal length, got {xn.size} and "
                             f"{yn.size}")
        return GaussianProcess1D(np.concatenate([self.x, xn]), np.concatenate([self.y, yn]),
                                 self.length_scale, self.signal_variance, self.noise_variance,
                                 self.y_mean, self.y_std)

    def to_sklearn(self) -> Any:
        """The same model as a fitted scikit-learn ``GaussianProcessRegressor``.

        Kernel ``ConstantKernel(σ_f²) * Matern(ℓ, nu=2.5) + WhiteKernel(σ_n²)``, fixed
        (``optimizer=None``), ``normalize_y=True``, ``alpha=0``. Its ``predict(..,
        return_std=True)`` includes the white noise: its variance is ours plus s_y²·σ_n².
        """
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = (ConstantKernel(self.signal_variance, "fixed")
                  * Matern(self.length_scale, "fixed", nu=2.5)
                  + WhiteKernel(self.noise_variance, "fixed"))
        gpr = GaussianProcessRegressor(kernel, alpha=0.0, optimizer=None, normalize_y=True)
        return gpr.fit(self.x[:, None], self.y)


def fit_gp(
    x: ArrayLike,
    y: ArrayLike,
    *,
    length_scale_bounds: tuple[float, float] = (0.01, 10.0),
    noise_bounds: tuple[float, float] = (1e-6, 0.1),
    length_scale_prior: tuple[float, float] | None = (3.0, 6.0),
    grid: tuple[int, int] = (24, 10),
    zoom: int = 3,
) -> GaussianProcess1D:
    r"""Fit the Matérn-5/2 + noise GP by maximizing the log marginal likelihood (times a prior
    on the length scale).

    σ_f² is profiled out (σ̂_f² = zᵀ(M + gI)⁻¹z/n), ℓ and the noise ratio g = σ_n²/σ_f² are
    searched on a log grid of ``grid`` = (n_ℓ, n_g) points within the bounds; then ``zoom``
    times a 9 × 9 grid spanning the neighbouring cells of the best point so far, each finer by
    4, refines it (all grids are evaluated in one batched Cholesky each; no local optimizer
    that could stall).

    Parameters
    ----------
    x, y
        Inputs (1-D, e.g. the normalized log learning rate) and finite values.
    length_scale_bounds
        Bounds of ℓ, in the units of x.
    noise_bounds
        Bounds of the noise-to-signal ratio g = σ_n²/σ_f² (σ_n² = g·σ_f² in standardized units).
    length_scale_prior
        (α, β) of a Gamma(α, β) prior on ℓ, p(ℓ) ∝ ℓ^{α−1} e^{−βℓ}: the hyperparameters then
        maximize log p(z | x) + log p(ℓ) (MAP). The default Gamma(3, 6) (mode 1/3 of the unit
        interval) is BoTorch's classic length-scale prior for inputs scaled to [0, 1]; it keeps
        fits to the first two or three points from collapsing to ℓ → 0, which makes the
        posterior flat and the acquisition arbitrary. ``None``: plain maximum likelihood
        (what scikit-learn's optimizer does).
    grid, zoom
        Coarse grid size (n_ℓ, n_g) and the number of refinements.

    >>> x = np.linspace(0, 1, 8)
    >>> gp = fit_gp(x, np.sin(6 * x))
    >>> mean, _ = gp.predict(np.array([0.3]))
    >>> bool(abs(mean[0] - np.sin(1.8)) < 0.05)
    True
    """
    xs = _finite("x", x).ravel()
    ys = _finite("y", y).ravel()
    if xs.shape != ys.shape or xs.size == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {xs.size} and "
                         f"{ys.size}")
    lb = _check_bounds("length_scale_bounds", length_scale_bounds)
    nb = _check_bounds("noise_bounds", noise_bounds)
    if not isinstance(grid, (tuple, list)) or len(grid) != 2:
        raise TypeError(f"grid must be a pair (n_ell, n_g) of integers >= 2, got {grid!r:.80}")
    n_ell, n_g = (check_int("grid[0]", grid[0], minimum=2), check_int("grid[1]", grid[1],
                                                                        minimum=2))
    zoom = check_int("zoom", zoom, minimum=0)
    if length_scale_prior is None:
        prior_a, prior_b = 1.0, 0.0  # Gamma(1, 0): flat
    else:
        prior_a, prior_b = (float(v) for v in _check_bounds_free("length_scale_prior",
                                                                 length_scale_prior))
    mean, std = _standardization(ys)
    z = (ys - mean) / std
    n = z.size
    if not np.any(z):  # all values equal: nothing to learn, keep the prior
        return GaussianProcess1D(xs, ys, math.sqrt(lb[0] * lb[1]), 1.0, nb[0], mean, std)
    with np.errstate(over="ignore"):  # |x - x'| beyond the float range: capped below
        d = np.abs(xs[:, None] - xs[None, :])
    eye = np.eye(n)

    def profile(log_ell: np.ndarray, log_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Profiled log marginal likelihood + log prior, and σ̂_f², batched."""
        with np.errstate(over="ignore"):  # a huge distance: capped, correlation 0.0
            s = np.minimum(_SQRT5 * (d / np.exp(log_ell)[..., None, None]), _S_MAX)
        A = (1.0 + s + s * s / 3.0) * np.exp(-s) + np.exp(log_g)[..., None, None] * eye
        L = np.linalg.cholesky(A)
        sol = np.linalg.solve(L, np.broadcast_to(z, A.shape[:-1])[..., None])[..., 0]
        quad = np.sum(sol * sol, axis=-1)
        sig2 = np.maximum(quad / n, 1e-300)
        logdet = 2.0 * np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
        lml = -0.5 * n * (np.log(sig2) + 1.0 + _LOG_2PI) - 0.5 * logdet
        log_prior = (prior_a - 1.0) * log_ell - prior_b * np.exp(log_ell)
        return lml + log_prior, sig2

    lo = np.array([math.log(lb[0]), math.log(nb[0])])
    hi = np.array([math.log(lb[1]), math.log(nb[1])])
    step = (hi - lo) / (np.array([n_ell, n_g]) - 1)
    centre = 0.5 * (lo + hi)
    half = 0.5 * (hi - lo)
    counts = (n_ell, n_g)
    for _ in range(1 + zoom):  # the full grid, then finer grids around the best point so far
        axes = [np.clip(np.linspace(c - h, c + h, m), a, b)
                for c, h, m, a, b in zip(centre, half, counts, lo, hi, strict=True)]
        LE, LG = np.meshgrid(*axes, indexing="ij")
        lml, sig2 = profile(LE, LG)
        i = np.unravel_index(int(np.argmax(lml)), lml.shape)
        centre = np.array([LE[i], LG[i]])
        half, counts = step, (9, 9)
        step = step / 4.0
    ell, g, sig2 = math.exp(centre[0]), math.exp(centre[1]), float(sig2[i])
    return GaussianProcess1D(xs, ys, ell, sig2, g * sig2, mean, std)


def _nan_or_scalar(name: str, value: Any) -> float | None:
    """None for NaN (the "compute it" default), else a finite float."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return check_scalar(name, value)


def _standardization(y: np.ndarray) -> tuple[float, float]:
    """(ȳ, s_y) of finite values, s_y = 1 when all are equal (as scikit-learn)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(np.mean(y)), float(np.std(y))
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise ValueError(f"y is too large to standardize (mean {mean}, std {std}); rescale "
                         "the values (e.g. transform='log')")
    return mean, (std if std > 0 else 1.0)


def _check_bounds_free(name: str, value: Any) -> tuple[float, float]:
    b = check_positive(name, value)
    if b.shape != (2,):
        raise ValueError(f"{name} must be a pair of positive numbers, got {value!r}")
    return float(b[0]), float(b[1])


def _check_bounds(name: str, value: Any) -> tuple[float, float]:
    b = check_positive(name, value)
    if b.shape != (2,) or not b[0] < b[1]:
        raise ValueError(f"{name} must be a pair (low, high) with 0 < low < high, got {value!r}")
    return float(b[0]), float(b[1])


def lower_confidence_bound(gp: GaussianProcess1D, x: ArrayLike, kappa: float) -> np.ndarray:
    r"""LCB(x) = μ(x) − κ σ(x), the acquisition minimized to choose the next point.

    Minimizing LCB of a loss f is maximizing the GP-UCB acquisition μ + κσ of −f.

    >>> gp = GaussianProcess1D(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.5, 1.0, 1e-6)
    >>> lcb = lower_confidence_bound(gp, np.array([0.0, 0.5]), kappa=2.0)
    >>> bool(lcb[1] < lcb[0])      # the unexplored middle is optimistic
    True
    """
    if not isinstance(gp, GaussianProcess1D):
        raise TypeError(f"gp must be a GaussianProcess1D (e.g. from fit_gp), got "
                        f"{type(gp).__name__}")
    kappa = check_scalar("kappa", kappa)
    check_positive("kappa", kappa, allow_zero=True)
    mean, std = gp.predict(x)
    return mean - kappa * std


def gp_ucb_kappa(t: ArrayLike, n_candidates: int, delta: float = 0.1) -> np.ndarray | float:
    r"""The GP-UCB exploration weight κ_t = √β_t, β_t = 2 ln(|D| t² π² / (6δ)).

    Srinivas, Krause, Kakade & Seeger (2010), Theorem 1, for a finite candidate set D of size
    ``n_candidates``: with probability ≥ 1 − δ the regret grows sublinearly. Vectorized over t.

    >>> round(gp_ucb_kappa(1, 1000), 4)      # √(2 ln(1000 π²/0.6)) = √19.416
    4.4064
    """
    tt = _finite("t", t)
    if np.any(tt < 1):
        raise ValueError(f"t must be >= 1 (the iteration number), got {t!r}")
    n_candidates = check_int("n_candidates", n_candidates, minimum=1)
    delta = check_scalar("delta", delta)
    check_in_interval("delta", delta, 0.0, 1.0, low_closed=False)
    # in logarithms, so that a huge t cannot overflow t²
    beta = 2.0 * (math.log(n_candidates) + 2.0 * np.log(tt)
                  + math.log(math.pi**2 / (6.0 * delta)))
    out = np.sqrt(beta)
    return float(out) if out.ndim == 0 else out


def _minimize_acquisition(gp: GaussianProcess1D, kappa: float, grid_size: int,
                          taken: np.ndarray, min_distance: float) -> float:
    """The x in [0, 1] of smallest LCB, at least ``min_distance`` from every ``taken`` x."""
    grid = np.linspace(0.0, 1.0, grid_size)
    acq = lower_confidence_bound(gp, grid, kappa)

    def far(x: np.ndarray) -> np.ndarray:
        if taken.size == 0:
            return np.ones(np.shape(x), dtype=bool)
        return np.min(np.abs(np.asarray(x)[..., None] - taken), axis=-1) >= min_distance

    allowed = far(grid)
    if not np.any(allowed):
        return float(grid[np.argmax(np.min(np.abs(grid[:, None] - taken), axis=1))])
    masked = np.where(allowed, acq, np.inf)
    left = np.concatenate([[np.inf], masked[:-1]])
    right = np.concatenate([masked[1:], [np.inf]])
    minima = np.flatnonzero(allowed & (masked <= left) & (masked <= right))
    minima = minima[np.argsort(masked[minima])][:5]
    # Local refinement: a fine grid (101 points) between the neighbours of each of the best
    # local minima, all in one vectorized posterior evaluation.
    lo = grid[np.maximum(minima - 1, 0)]
    hi = grid[np.minimum(minima + 1, grid_size - 1)]
    fine = (lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, 101)).ravel()
    fine_acq = np.where(far(fine), lower_confidence_bound(gp, fine, kappa), np.inf)
    j = int(np.argmin(fine_acq))
    if fine_acq[j] < masked[minima[0]]:
        return float(fine[j])
    return float(grid[minima[0]])


# ---------------------------------------------------------------------------------------
# Trials, evaluations, results
# ---------------------------------------------------------------------------------------

STATUSES = ("pending", "ok", "diverged", "failed")


def _clean_info(info: Any) -> dict[str, Any]:
    """``info`` as a JSON-safe ``{str: float | int | bool | str | list}``.

    numpy scalars become Python numbers and numpy arrays nested lists; anything else is a
    ``TypeError`` naming the key.
    """
    if not isinstance(info, Mapping):
        raise TypeError(f"info must be a mapping of names to numbers, got "
                        f"{type(info).__name__} {info!r:.60}")
    out: dict[str, Any] = {}
    for key, value in info.items():
        if not isinstance(key, str):
            raise TypeError(f"info keys must be strings, got {key!r:.60}")
        out[key] = _json_value(f"info[{key!r}]", value)
    return out


def _json_value(name: str, value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got an array of dtype {arr.dtype}")
        return arr.tolist()
    raise TypeError(f"{name} must be a number, a string, a bool or an array of numbers, got "
                    f"{type(value).__name__} {value!r:.60}")


@dataclass(frozen=True)
class Evaluation:
    """What an objective may return instead of a bare float.

    Attributes
    ----------
    value
        The finite objective value (for a diverged rate: the finite penalty), stored as a
        float. NaN, ±inf or a non-number raise here (``ValueError`` / ``TypeError``), inside
        the objective, so the trial is recorded as failed with that reason.
    diverged
        True when training at this rate diverged and ``value`` is a penalty (a bool).
    info
        Extra numbers to store with the trial (e.g. the step training diverged at): Python or
        numpy scalars, strings, bools or arrays (stored as lists). Checked here, so that a
        bad ``info`` fails inside the objective and is recorded as a failed trial.

    >>> Evaluation(0.5, info={"step": np.int64(3), "curve": np.array([1.0, 0.5])}).info
    {'step': 3, 'curve': [1.0, 0.5]}
    """

    value: float
    diverged: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.value
        if isinstance(v, np.ndarray) and v.shape == () and v.dtype.kind in "iuf":
            v = v.item()
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            raise TypeError(f"value must be a real number (the objective value), got "
                            f"{type(self.value).__name__} {self.value!r:.60}")
        if not math.isfinite(float(v)):
            raise ValueError(f"value must be finite, got {float(v)}; for a diverging rate "
                             "return a large finite penalty with diverged=True")
        object.__setattr__(self, "value", float(v))
        if not isinstance(self.diverged, (bool, np.bool_)):
            raise TypeError(f"diverged must be a bool, got {self.diverged!r:.60}")
        object.__setattr__(self, "diverged", bool(self.diverged))
        object.__setattr__(self, "info", _clean_info(self.info))


@dataclass(frozen=True)
class Trial:
    """One proposed learning rate and, once known, its outcome.

    ``status`` is ``"pending"`` (proposed, no value yet), ``"ok"``, ``"diverged"`` (``value``
    is the objective's finite penalty) or ``"failed"`` (``value`` is None and ``error`` says
    why: an exception, a NaN or inf, or the executor failing). ``rule`` says how the rate was
    chosen (:data:`RULES`; empty for rates not proposed by the optimizer).
    """

    number: int
    lr: float
    status: str = "pending"
    value: float | None = None
    error: str | None = None
    batch: int = 0
    info: Mapping[str, Any] = field(default_factory=dict)
    rule: str = ""


def _summary(arr: np.ndarray) -> str:
    """A short repr of an array: its size and range, not every entry."""
    a = np.asarray(arr)
    if a.size <= 6:
        return np.array2string(a, precision=4, separator=", ")
    if a.dtype.kind in "iuf":
        finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
        rng = (f", min {np.min(finite):.4g}, max {np.max(finite):.4g}" if finite.size else "")
        return f"<{a.size} values{rng}>"
    return f"<{a.size} entries>"


@dataclass(frozen=True, repr=False)
class SearchResult:
    """The finished trials of a search, in the order they were proposed.

    Attributes
    ----------
    numbers, lrs
        Trial numbers and learning rates.
    values
        Objective values; NaN exactly where ``statuses`` is ``"failed"``.
    statuses
        ``"ok"``, ``"diverged"`` or ``"failed"`` per trial.
    best_lr, best_value, best_number
        The best ``"ok"`` trial (None when there is none).
    errors
        The error message of each failed trial (None elsewhere).

    The repr summarizes: ``SearchResult(n_trials=40, ok=36, diverged=4, failed=0,
    best_lr=1.91, best_value=...)``.
    """

    numbers: np.ndarray
    lrs: np.ndarray
    values: np.ndarray
    statuses: np.ndarray
    errors: tuple[str | None, ...]
    best_lr: float | None
    best_value: float | None
    best_number: int | None

    def __repr__(self) -> str:
        best = ("best_lr=None" if self.best_lr is None else
                f"best_lr={self.best_lr:.6g}, best_value={self.best_value:.6g}, "
                f"best_number={self.best_number}")
        ok = int(np.sum(self.statuses == "ok"))
        return (f"SearchResult(n_trials={self.n_trials}, ok={ok}, diverged={self.n_diverged}, "
                f"failed={self.n_failed}, {best})")

    @property
    def n_trials(self) -> int:
        return int(self.lrs.size)

    @property
    def n_failed(self) -> int:
        return int(np.sum(self.statuses == "failed"))

    @property
    def n_diverged(self) -> int:
        return int(np.sum(self.statuses == "diverged"))

    def best_so_far(self) -> np.ndarray:
        """Running minimum of the values of ``"ok"`` trials (``inf`` before the first one)."""
        v = np.where(self.statuses == "ok", self.values, np.inf)
        return np.minimum.accumulate(v) if v.size else v

    @classmethod
    def from_trials(cls, trials: Iterable[Trial]) -> SearchResult:
        """The finished trials among ``trials`` (any iterable of :class:`Trial`)."""
        if isinstance(trials, (str, bytes, Mapping)) or not isinstance(trials, Iterable):
            raise TypeError(f"trials must be an iterable of Trial, got {type(trials).__name__}")
        items = list(trials)
        for t in items:
            if not isinstance(t, Trial):
                raise TypeError(f"trials must hold Trial objects, got {type(t).__name__} "
                                f"{t!r:.60}")
        done = sorted((t for t in items if t.status != "pending"), key=lambda t: t.number)
        values = np.array([math.nan if t.value is None else t.value for t in done], dtype=float)
        statuses = np.array([t.status for t in done], dtype="<U8")
        ok = [t for t in done if t.status == "ok"]
        best = min(ok, key=lambda t: (t.value, t.number)) if ok else None
        return cls(
            numbers=np.array([t.number for t in done], dtype=int),
            lrs=np.array([t.lr for t in done], dtype=float),
            values=values,
            statuses=statuses,
            errors=tuple(t.error for t in done),
            best_lr=None if best is None else best.lr,
            best_value=None if best is None else best.value,
            best_number=None if best is None else best.number,
        )


@dataclass(frozen=True, repr=False)
class PosteriorSnapshot:
    """The surrogate and the acquisition of a search at one moment, on a grid of rates.

    Attributes
    ----------
    n_finished
        Finished trials the GP was fitted to.
    lrs
        The grid of learning rates.
    mean, std
        Posterior mean and standard deviation of the modelled quantity (the value, or its
        logarithm when ``transform == "log"``).
    acquisition
        LCB = mean − kappa·std on the grid (model units).
    kappa
        κ used for this proposal.
    observed_lrs, observed_values
        The finished trials' rates and the values the GP saw (model units, imputed for
        diverged and failed trials).
    next_lr, rule
        The rate the optimizer proposes next and the rule that chose it (:data:`RULES`).
    transform
        ``"none"`` or ``"log"``.
    """

    n_finished: int
    lrs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    acquisition: np.ndarray
    kappa: float
    observed_lrs: np.ndarray
    observed_values: np.ndarray
    next_lr: float
    rule: str
    transform: str

    def __repr__(self) -> str:
        return (f"PosteriorSnapshot(n_finished={self.n_finished}, lrs={_summary(self.lrs)}, "
                f"kappa={self.kappa:.4g}, next_lr={self.next_lr:.6g}, rule={self.rule!r}, "
                f"transform={self.transform!r})")


@dataclass(frozen=True)
class SearchProgress:
    """Passed to the ``progress`` callback of :meth:`BayesianOptimizer.run` after each trial.

    ``n_complete`` counts the evaluations finished in this ``run`` call, ``n_total`` is its
    ``n_trials``; the best rate and value are the study's.
    """

    n_complete: int
    n_total: int
    best_lr: float | None
    best_value: float | None
    trial: Trial


class SerialExecutor(Executor):
    """An ``Executor`` that runs each task in the calling thread, at ``submit`` time.

    For objectives that cannot be pickled (lambdas, closures) and for debugging.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            fut.set_exception(exc)
        return fut


def _outcome(out: Any, transform: str) -> tuple[str, float | None, str | None, dict[str, Any]]:
    """``(status, value, error, info)`` of what an objective returned, for ``transform``."""
    status, val, error, info = _interpret(out)
    if transform == "log" and val is not None and val <= 0:
        info = {**info, "value": val}
        status, val, error = "failed", None, (
            f"objective returned {val!r} <= 0, which transform='log' cannot model (the "
            "value is kept in info); use transform='none' for objectives that can be <= 0")
    return status, val, error, info


def _evaluate(objective: Callable[[float], Any], lr: float,
              record: tuple[str, str, int, str, str] | None = None) -> tuple[str, Any]:
    """Run the objective in a worker; its own errors come back as data, not as exceptions,
    so that an exception from ``Future.result()`` always means the executor failed.

    With ``record = (sqlite path, study, trial number, transform, owner)`` the worker first
    notes its pid on the trial (returning ``("taken", None)`` without evaluating when the
    trial is no longer pending under ``owner``), then commits the outcome itself in the
    transaction that marks the trial finished, the moment the objective returns (so a driver
    killed after that instant loses nothing), and returns ``("recorded", (status, value,
    error, info))``; if it cannot (no such file, the trial is no longer pending), the driver
    records it.
    """
    global _COMMITTING
    if record is not None and not _mark_worker(record):
        return ("taken", None)  # another driver took the trial over: do not evaluate it
    try:
        out: tuple[str, Any] = ("value", objective(lr))
    except Exception as exc:
        tb = traceback.format_exception_only(type(exc), exc)
        out = ("error", "objective raised " + "".join(tb).strip())
    if record is None:
        return out
    _COMMITTING = True  # a pool worker whose driver dies now commits first, then exits
    try:
        return _commit_outcome(out, record)
    finally:
        _COMMITTING = False
        if _EXIT_AFTER_COMMIT:
            os._exit(1)


#: In a pool worker: an outcome is being committed (the parent's death waits for it), and
#: the parent died meanwhile (exit once it is committed).
_COMMITTING = False
_EXIT_AFTER_COMMIT = False


def _mark_worker(record: tuple[str, str, int, str, str]) -> bool:
    """Note in the study which process evaluates the trial (so that it is not taken over
    while this process might still commit it). False when the trial is no longer pending
    under the driver that submitted it (taken over meanwhile): then it must not be run."""
    path, study, number, _, owner = record
    conn = _worker_connection(path)
    if conn is None:
        return True  # cannot see the study: the driver records the outcome
    try:
        cur = conn.execute(
            "UPDATE trials SET worker = ? WHERE study = ? AND number = ? AND status = "
            "'pending' AND owner = ?", (f"{socket.gethostname()}:{os.getpid()}", study, number,
                                        owner))
        return cur.rowcount == 1
    except sqlite3.Error:
        return True


_LOCAL = threading.local()


def _worker_connection(path: str) -> sqlite3.Connection | None:
    """This thread's connection to the study file (kept open: opening one costs more than the
    commit it serves), or None when the file does not exist here."""
    conns = getattr(_LOCAL, "conns", None)
    if conns is None:
        conns = _LOCAL.conns = {}
    key = (os.getpid(), path)
    if key not in conns:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=60.0,
                                   isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a process kill
            conns[key] = conn
        except sqlite3.Error:
            return None
    return conns[key]


def _commit_outcome(out: tuple[str, Any],
                    record: tuple[str, str, int, str, str]) -> tuple[str, Any]:
    path, study, number, transform, _ = record
    kind, payload = out
    outcome = ("failed", None, payload, {}) if kind == "error" else _outcome(payload, transform)
    conn = _worker_connection(path)
    if conn is None:
        return out
    try:
        if _write_outcome(conn, study, number, outcome):
            return ("recorded", outcome)
        return out
    except sqlite3.Error:
        return out


def _write_outcome(conn: sqlite3.Connection, study: str, number: int,
                   outcome: tuple[str, float | None, str | None, dict[str, Any]]) -> bool:
    """Mark a pending trial finished with its outcome, in one transaction; False when the
    trial is no longer pending (someone recorded it first)."""
    status, value, error, info = outcome
    cur = conn.execute(
        "UPDATE trials SET status = ?, value = ?, error = ?, info = ?, finished = ?, "
        "lease_until = NULL WHERE study = ? AND number = ? AND status = 'pending'",
        (status, value, error, json.dumps(info), time.time(), study, number))
    return cur.rowcount == 1


def _interpret(out: Any) -> tuple[str, float | None, str | None, dict[str, Any]]:
    """``(status, value, error, info)`` of what an objective returned."""
    info: dict[str, Any] = {}
    diverged = False
    if isinstance(out, Evaluation):
        value, diverged, info = out.value, bool(out.diverged), dict(out.info)
    else:
        value = out
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
            value = value.item()
        else:
            return ("failed", None, f"objective returned {type(value).__name__} {value!r:.60}, "
                                    "not a real number", info)
    value = float(value)
    if math.isnan(value):
        return ("failed", None, "objective returned NaN", info)
    if math.isinf(value):
        return ("failed", None, f"objective returned {value}; return a large finite penalty "
                                "as Evaluation(value, diverged=True) for a diverging rate", info)
    return ("diverged" if diverged else "ok", value, None, info)


def record_evaluations(objective: Callable[[float], Any], lrs: ArrayLike) -> SearchResult:
    """Evaluate ``objective`` at the given rates, in order, and record every outcome as a
    trial (numbers 0, 1, …), as :meth:`BayesianOptimizer.run` records its own.

    When ``objective`` has a vectorized ``evaluate(lrs)`` it is called once: its result may
    be an array of values or an object with ``values`` and ``diverged`` arrays (such as
    :class:`lrctl.search.LossCurve`). Exceptions, NaN and inf become failed trials.

    >>> res = record_evaluations(lambda lr: (lr - 0.1) ** 2, [0.01, 0.1, 1.0])
    >>> res.best_lr, res.statuses.tolist()
    (0.1, ['ok', 'ok', 'ok'])
    """
    if not callable(objective) and not callable(getattr(objective, "evaluate", None)):
        raise TypeError(f"objective must be callable (or have an evaluate(lrs) method), got "
                        f"{type(objective).__name__} {objective!r:.60}")
    rates = check_positive("lrs", _real_array("lrs", lrs))
    if rates.ndim > 1:
        raise ValueError(f"lrs must be a 1-D sequence of rates, got shape {rates.shape}")
    rates = np.atleast_1d(rates)
    batch_eval = getattr(objective, "evaluate", None)
    if callable(batch_eval):
        out = batch_eval(rates)
        if hasattr(out, "values") and hasattr(out, "diverged"):
            # a non-finite value stays a bare float: _interpret records it as a failed trial
            outs: list[Any] = [Evaluation(float(v), bool(dv)) if math.isfinite(float(v))
                               else float(v) for v, dv in
                               zip(np.ravel(out.values), np.ravel(out.diverged), strict=True)]
        else:
            outs = list(np.asarray(out, dtype=float).ravel())
        if len(outs) != rates.size:
            raise ValueError(f"objective.evaluate returned {len(outs)} values for "
                             f"{rates.size} rates")
        results: list[tuple[str, Any]] = [("value", o) for o in outs]
    else:
        results = [_evaluate(objective, float(lr)) for lr in rates]
    trials = []
    for i, (lr, (kind, out)) in enumerate(zip(rates, results, strict=True)):
        if kind == "error":
            trials.append(Trial(i, float(lr), "failed", None, out))
        else:
            status, value, error, info = _interpret(out)
            trials.append(Trial(i, float(lr), status, value, error, 0, info))
    return SearchResult.from_trials(trials)


# ---------------------------------------------------------------------------------------
# SQLite history, shared by several drivers
# ---------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    study TEXT NOT NULL REFERENCES studies(name),
    number INTEGER NOT NULL,
    lr REAL NOT NULL,
    batch INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'diverged', 'failed')),
    value REAL,
    error TEXT,
    info TEXT NOT NULL DEFAULT '{}',
    rule TEXT NOT NULL DEFAULT '',
    proposed REAL NOT NULL,
    finished REAL,
    owner TEXT,
    lease_until REAL,
    worker TEXT,
    PRIMARY KEY (study, number)
);
"""
#: Columns added since the first schema (a study file written before gets them on open).
_NEW_COLUMNS = (("owner", "TEXT"), ("lease_until", "REAL"), ("worker", "TEXT"))
_MISSING = object()


def _owner_id() -> str:
    """``host:pid:random`` — one driver (one optimizer object) of a study."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_dead(owner: str | None) -> bool:
    """True when the driver or worker ``owner`` (``host:pid[:…]``) ran on this host and its
    process is gone (or a zombie); False when it is alive or on another host (only its lease
    can tell then)."""
    if not owner:
        return True
    try:
        host, pid_text = owner.split(":")[:2]
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    try:  # a killed child that its parent has not reaped yet is a zombie: dead for us
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class _Storage:
    """The trials of one study in an SQLite file, shared safely by several drivers.

    Every change is one transaction. A proposal is made inside ``BEGIN IMMEDIATE`` (the
    database's write lock), after re-reading every trial, so two drivers never propose the
    same number and each proposal sees every other driver's pending trials. A driver owns the
    pending trials it proposed or reclaimed (``owner``) under a lease (``lease_until``) that a
    heartbeat thread renews every ``lease_seconds / 4``; another driver reclaims a pending
    trial when its lease has expired or when its owner ran on this host and is dead.
    """

    def __init__(self, path: str | os.PathLike[str], study: str, config: dict[str, Any],
                 lease_seconds: float) -> None:
        self.path = Path(path)
        self.study = study
        self.owner = _owner_id()
        self.lease = lease_seconds
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._closed = False
        self.conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            self.conn.execute("PRAGMA synchronous=NORMAL")  # durable across a process kill
            self.conn.executescript(_SCHEMA)
            with self.transaction():
                have = {r[1] for r in self.conn.execute("PRAGMA table_info(trials)")}
                for name, kind in _NEW_COLUMNS:
                    if name not in have:
                        self.conn.execute(f"ALTER TABLE trials ADD COLUMN {name} {kind}")
                self._check_config(config)
        except BaseException:
            self.conn.close()
            raise

    def _check_config(self, config: dict[str, Any]) -> None:
        given = json.loads(json.dumps(config, sort_keys=True))
        row = self.conn.execute("SELECT config FROM studies WHERE name = ?",
                                (self.study,)).fetchone()
        if row is None:
            self.conn.execute("INSERT INTO studies VALUES (?, ?, ?)",
                              (self.study, json.dumps(given, sort_keys=True), time.time()))
            return
        stored = json.loads(row[0])
        diff = [k for k in sorted(set(stored) | set(given))
                if stored.get(k, _MISSING) != given.get(k, _MISSING)]
        if diff:
            what = "; ".join(
                f"{k}: stored {stored[k]!r}" if k in stored else f"{k}: not stored"
                for k in diff)
            given_text = ", ".join(f"{k}={given.get(k)!r}" for k in diff)
            raise ValueError(
                f"study {self.study!r} in {str(self.path)!r} was created with other settings "
                f"that change the proposals ({what}), and this optimizer has {given_text}; "
                "resume it with the stored settings or use a new study name")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on any exception)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def load(self) -> tuple[list[Trial], dict[int, tuple[str | None, float | None, str | None]]]:
        """Every trial, and (owner, lease_until, worker) of the pending ones."""
        rows = self.conn.execute(
            "SELECT number, lr, status, value, error, batch, info, rule, owner, lease_until, "
            "worker FROM trials WHERE study = ? ORDER BY number", (self.study,)).fetchall()
        trials, leases = [], {}
        for n, lr, st, val, err, b, info, rule, owner, until, worker in rows:
            trials.append(Trial(int(n), float(lr), st, val, err, int(b), json.loads(info), rule))
            if st == "pending":
                leases[int(n)] = (owner, until, worker)
        return trials, leases

    def reclaimable(self, leases: dict[int, tuple[str | None, float | None, str | None]]
                    ) -> list[int]:
        """Pending trials of other drivers whose lease expired or whose owner is dead, and
        that no process of this host is still evaluating (a worker of a killed driver
        commits the outcome it has just computed before it exits)."""
        now = time.time()
        out = []
        for number in sorted(leases):
            owner, until, worker = leases[number]
            if owner == self.owner:
                continue
            if until is None or until < now or _owner_dead(owner):
                same = owner is not None and worker is not None and \
                    worker.split(":")[:2] == owner.split(":")[:2]
                if worker is None or same or _owner_dead(worker):
                    out.append(number)
        return out

    def claim(self, numbers: list[int]) -> None:
        """Take over pending trials (inside :meth:`transaction`)."""
        until = time.time() + self.lease
        self.conn.executemany(
            "UPDATE trials SET owner = ?, lease_until = ?, worker = NULL WHERE study = ? AND "
            "number = ? AND status = 'pending'", [(self.owner, until, self.study, n)
                                                  for n in numbers])
        self.start_heartbeat()

    def propose(self, trials: list[Trial]) -> None:
        """Store new proposals, owned by this driver (inside :meth:`transaction`)."""
        now = time.time()
        self.conn.executemany(
            "INSERT INTO trials (study, number, lr, batch, status, rule, proposed, owner, "
            "lease_until) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
            [(self.study, t.number, t.lr, t.batch, t.rule, now, self.owner, now + self.lease)
             for t in trials])
        self.start_heartbeat()

    def finish(self, trial: Trial) -> Trial | None:
        """Record an outcome; None on success, else the trial as already recorded (by a
        driver that reclaimed it: the first outcome stays)."""
        with self.transaction():
            outcome = (trial.status, trial.value, trial.error, dict(trial.info))
            if _write_outcome(self.conn, self.study, trial.number, outcome):
                return None
        return self.get(trial.number)

    def get(self, number: int) -> Trial:
        row = self.conn.execute(
            "SELECT number, lr, status, value, error, batch, info, rule FROM trials "
            "WHERE study = ? AND number = ?", (self.study, number)).fetchone()
        if row is None:
            raise RuntimeError(f"trial {number} of study {self.study!r} is missing from "
                               f"{str(self.path)!r}")
        n, lr, st, val, err, b, info, rule = row
        return Trial(int(n), float(lr), st, val, err, int(b), json.loads(info), rule)

    # -- the lease --------------------------------------------------------------------------
    def start_heartbeat(self) -> None:
        if self._beat is None and not self._closed:
            self._beat = threading.Thread(target=self._heartbeat, name="lrctl-bo-lease",
                                          daemon=True)
            self._beat.start()

    def _heartbeat(self) -> None:
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            while not self._stop.wait(self.lease / 4.0):
                try:
                    conn.execute(
                        "UPDATE trials SET lease_until = ? WHERE study = ? AND owner = ? AND "
                        "status = 'pending'", (time.time() + self.lease, self.study, self.owner))
                except sqlite3.Error:  # busy for 60 s: try again at the next beat
                    continue
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the heartbeat, hand this driver's pending trials back (lease expired now)
        and close the file."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        try:
            self.conn.execute("UPDATE trials SET lease_until = 0 WHERE study = ? AND owner = ? "
                              "AND status = 'pending'", (self.study, self.owner))
        except sqlite3.Error:
            pass
        self.conn.close()


def _die_with_parent(parent: int) -> None:
    """Process-pool initializer: the worker dies when the driver ``parent`` dies.

    On Linux ``prctl(PR_SET_PDEATHSIG, SIGUSR1)`` makes the kernel signal the worker the moment
    its parent exits, and the handler exits at once — or, when the worker is committing an
    outcome it has just computed, right after the commit. Everywhere, a daemon thread also
    polls the parent's pid every 0.2 s (for start methods whose worker parent is a server
    process, and for other systems).
    """
    signal.signal(signal.SIGUSR1, _parent_died)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGUSR1, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent and not pid_alive(parent):
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.2)
            if not pid_alive(parent):
                _parent_died(0, None)

    threading.Thread(target=watch, name="lrctl-parent-watch", daemon=True).start()


def _parent_died(signum: int, frame: Any) -> None:
    """Exit now, unless an outcome is being committed: then right after the commit (so an
    evaluation that finished is recorded even when its driver was killed a moment before)."""
    global _EXIT_AFTER_COMMIT
    if _COMMITTING:
        _EXIT_AFTER_COMMIT = True
    else:
        os._exit(1)


def _process_pool(workers: int) -> ProcessPoolExecutor:
    """The default executor: a process pool whose workers die with this process.

    Workers start from a fork server (spawned where there is none), never by forking this
    process: a fork copies the locks of this process's other threads (the lease heartbeat)
    and its SQLite state, and a child forked while one of them was held deadlocks. So the
    objective is sent by reference, like on macOS and Windows: define it in a module, or
    in a script under ``if __name__ == "__main__":``.
    """
    import multiprocessing

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                               initializer=_die_with_parent, initargs=(os.getpid(),))


def _is_local(executor: Executor) -> bool:
    """Executors whose workers see this machine's files (they may commit outcomes)."""
    return isinstance(executor, (SerialExecutor, ThreadPoolExecutor, ProcessPoolExecutor))


# ---------------------------------------------------------------------------------------
# The optimizer
# ---------------------------------------------------------------------------------------


class BayesianOptimizer:
    r"""GP-UCB Bayesian optimization of a loss over the learning rate, on a log scale.

    See the module docstring for the model. Use :meth:`run` to optimize a callable, or drive
    it yourself with :meth:`ask` / :meth:`ask_batch` and :meth:`tell`.

    Parameters
    ----------
    bounds
        Search interval (η_lo, η_hi), 0 < η_lo < η_hi.
    kappa
        Exploration weight κ of LCB = μ − κσ: a number ≥ 0, or ``"gp-ucb"`` for the schedule
        κ_t = √β_t of :func:`gp_ucb_kappa` (t = number of finished trials + 1).
    n_initial
        Trials placed before the surrogate is used: a stratified random design in ln η (one
        uniform point in each of ``n_initial`` equal cells, in random order).
    seed
        Seed of the initial design (the rest of the search is deterministic given the values).
    storage
        Path of an SQLite file holding the history (created if missing), or None to keep it
        in memory only. Several optimizers (processes, machines on a shared local disk) may
        drive one study at once: see the module docstring.
    study
        Name of the study within the storage; opening an existing study resumes it. Every
        setting that changes the proposals (:meth:`config`) is stored with the study and a
        different value on resume is refused, naming the setting.
    batch_strategy
        ``"kriging-believer"`` or ``"constant-liar"`` (see the module docstring).
    transform
        ``"none"``: the GP models the values; ``"log"``: it models ln(value), which resolves
        the bottom of a positive loss curve spanning decades (the usual case for losses). With
        ``"log"`` a value ≤ 0 is recorded as a failed trial, the value kept in its ``info``.
    grid_size, min_distance, delta
        Acquisition grid points, the smallest allowed distance in x to an evaluated rate,
        and δ of the GP-UCB schedule.
    explore_threshold
        When the posterior standard deviation at the LCB minimizer is below this fraction of
        the prior standard deviation, the model already knows the value there (typically it
        is refining a basin it has mapped); the next rate is then the most uncertain one,
        argmax σ. 0 disables the rule. It keeps the search from circling a local minimum
        forever when the fitted length scale is too long (see docs/search.md).
    lease_seconds
        With a storage: how long this driver's pending trials stay its own without a
        heartbeat (renewed every ``lease_seconds / 4`` by a thread); after that another
        driver may take them over. Not a search setting (not stored).

    >>> from lrctl.search import LogScaleTestFunction
    >>> f = LogScaleTestFunction("forrester", (1e-4, 1.0))     # minimum −6.0207
    >>> opt = BayesianOptimizer(f.bounds, seed=0)
    >>> res = opt.run(f, n_trials=12, executor=SerialExecutor())
    >>> res.n_trials, res.best_value < -5.9
    (12, True)
    """

    def __init__(
        self,
        bounds: Any,
        *,
        kappa: float | str = 1.0,
        n_initial: int = 3,
        seed: int = 0,
        storage: str | os.PathLike[str] | None = None,
        study: str = "default",
        batch_strategy: str = "kriging-believer",
        transform: str = "none",
        grid_size: int = 2001,
        min_distance: float = 1e-3,
        explore_threshold: float = 1e-3,
        delta: float = 0.1,
        lease_seconds: float = 60.0,
    ) -> None:
        b = check_positive("bounds", _real_array("bounds", bounds))
        if b.shape != (2,):
            raise ValueError(f"bounds must be a pair (low, high), got shape {b.shape}")
        if not b[0] < b[1]:
            what = "empty" if b[0] == b[1] else "inverted"
            raise ValueError(f"bounds must satisfy 0 < low < high, got the {what} interval "
                             f"({b[0]}, {b[1]})")
        if not math.isfinite(math.log(b[1]) - math.log(b[0])):  # pragma: no cover
            raise ValueError(f"bounds span too many decades: {bounds!r}")
        self.bounds = (float(b[0]), float(b[1]))
        if isinstance(kappa, str):
            check_choice("kappa", kappa, ("gp-ucb",))
            self.kappa: float | str = kappa
        else:
            k = check_scalar("kappa", kappa)
            check_positive("kappa", k, allow_zero=True)
            self.kappa = k
        self.n_initial = check_int("n_initial", n_initial, minimum=1)
        self.seed = check_int("seed", seed)
        self.batch_strategy = check_choice("batch_strategy", batch_strategy, BATCH_STRATEGIES)
        self.transform = check_choice("transform", transform, TRANSFORMS)
        self.grid_size = check_int("grid_size", grid_size, minimum=3)
        md = check_scalar("min_distance", min_distance)
        check_in_interval("min_distance", md, 0.0, 0.5, high_closed=False)
        self.min_distance = md
        et = check_scalar("explore_threshold", explore_threshold)
        check_in_interval("explore_threshold", et, 0.0, 1.0)
        self.explore_threshold = et
        dl = check_scalar("delta", delta)
        check_in_interval("delta", dl, 0.0, 1.0, low_closed=False, high_closed=False)
        self.delta = dl
        lease = check_scalar("lease_seconds", lease_seconds)
        check_in_interval("lease_seconds", lease, 0.0, 1e7, low_closed=False)
        self.lease_seconds = lease
        if not isinstance(study, str) or not study:
            raise ValueError(f"study must be a non-empty string, got {study!r}")
        if storage is not None and not isinstance(storage, (str, os.PathLike)):
            raise TypeError(f"storage must be a path (str or os.PathLike) or None, got "
                            f"{type(storage).__name__}")
        self.study = study
        if self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed}")
        rng = np.random.default_rng(self.seed)
        cells = rng.permutation(self.n_initial)
        self._initial_x = (cells + rng.uniform(size=self.n_initial)) / self.n_initial
        self._storage = None if storage is None else _Storage(storage, study, self.config(),
                                                              lease)
        self._finalizer = (None if self._storage is None
                           else weakref.finalize(self, self._storage.close))
        self._trials: dict[int, Trial] = {}
        self._told: set[int] = set()  # trials this optimizer recorded (told once)
        self._gp_cache: tuple[tuple[int, ...], GaussianProcess1D] | None = None
        if self._storage is not None:
            self._sync()

    # -- configuration and coordinates -------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Every setting that changes the proposals (stored with the study and checked on
        resume)."""
        return {"bounds": list(self.bounds), "kappa": self.kappa, "n_initial": self.n_initial,
                "seed": self.seed, "batch_strategy": self.batch_strategy,
                "transform": self.transform, "grid_size": self.grid_size,
                "min_distance": self.min_distance, "explore_threshold": self.explore_threshold,
                "delta": self.delta}

    def to_unit(self, lr: ArrayLike) -> np.ndarray:
        """x = (ln η − ln η_lo)/(ln η_hi − ln η_lo)."""
        lo, hi = math.log(self.bounds[0]), math.log(self.bounds[1])
        return (np.log(check_positive("lr", _real_array("lr", lr))) - lo) / (hi - lo)

    def from_unit(self, x: ArrayLike) -> np.ndarray:
        """η = exp(ln η_lo + x (ln η_hi − ln η_lo)), the inverse of :meth:`to_unit`."""
        lo, hi = math.log(self.bounds[0]), math.log(self.bounds[1])
        xs = _finite("x", x)
        with np.errstate(over="ignore"):
            out = np.exp(lo + xs * (hi - lo))
        if not np.all(np.isfinite(out) & (out > 0)):
            raise ValueError(f"x must map to a finite positive rate (x = 0 is the low bound, "
                             f"1 the high one), got {x!r:.80}")
        return out

    # -- history --------------------------------------------------------------------------
    @property
    def trials(self) -> tuple[Trial, ...]:
        """Every trial so far, pending ones included, by number (as of the last read of the
        storage: every ask, tell and run reads it)."""
        return tuple(self._trials[k] for k in sorted(self._trials))

    def result(self) -> SearchResult:
        """The finished trials as a :class:`SearchResult`."""
        return SearchResult.from_trials(self._trials.values())

    def refresh(self) -> SearchResult:
        """Re-read the storage (other drivers' trials) and return :meth:`result`."""
        if self._storage is not None:
            self._sync()
        return self.result()

    def close(self) -> None:
        """Close the storage (the history stays in the file). Pending trials this optimizer
        owns are handed back at once: the next driver to ask takes them over."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> BayesianOptimizer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        done = len(self._finished())
        where = "in memory" if self._storage is None else f"{str(self._storage.path)!r}"
        return (f"BayesianOptimizer(bounds={self.bounds}, study={self.study!r} {where}, "
                f"{len(self._trials)} trials, {done} finished)")

    def _sync(self) -> dict[int, tuple[str | None, float | None, str | None]]:
        """Reload every trial from the storage; returns the leases of the pending ones."""
        assert self._storage is not None
        trials, leases = self._storage.load()
        self._trials = {t.number: t for t in trials}
        return leases

    def _finished(self) -> list[Trial]:
        return [t for t in self.trials if t.status != "pending"]

    def _kappa_now(self) -> float:
        if self.kappa == "gp-ucb":
            return float(gp_ucb_kappa(len(self._finished()) + 1, self.grid_size, self.delta))
        return float(self.kappa)

    def _surrogate_data(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y for the GP: diverged and failed trials imputed to the worst ok value;
        y is ln(value) with ``transform="log"``."""
        done = self._finished()
        ok = [t.value for t in done if t.status == "ok"]
        worst = max(ok) if ok else None
        xs, ys = [], []
        for t in done:
            if t.status == "ok":
                y = t.value
            elif t.status == "diverged":
                y = t.value if worst is None else min(t.value, worst)
            elif worst is not None:
                y = worst
            else:
                continue
            xs.append(float(self.to_unit(t.lr)))
            ys.append(float(y))
        y_arr = np.array(ys)
        return np.array(xs), (np.log(y_arr) if self.transform == "log" else y_arr)

    def posterior(self) -> GaussianProcess1D | None:
        """The GP fitted to the finished trials (None before any usable value)."""
        x, y = self._surrogate_data()
        if x.size == 0:
            return None
        key = tuple(sorted(t.number for t in self._finished()))
        if self._gp_cache is None or self._gp_cache[0] != key:
            self._gp_cache = (key, fit_gp(x, y))
        return self._gp_cache[1]

    def snapshot(self, lrs: ArrayLike | None = None) -> PosteriorSnapshot:
        """Posterior, acquisition and the next proposal on a grid of rates (default: 401
        log-spaced points of the bounds), without changing the search."""
        if any(t.status == "pending" for t in self._trials.values()):
            raise ValueError("snapshot needs a search with no pending trials (tell them first)")
        gp = self.posterior()
        if gp is None:
            raise ValueError("snapshot needs at least one finished trial with a usable value")
        grid = (np.geomspace(*self.bounds, 401) if lrs is None
                else check_positive("lrs", _real_array("lrs", lrs)))
        if grid.ndim != 1 or grid.size == 0:
            raise ValueError(f"lrs must be a non-empty 1-D grid of rates, got shape "
                             f"{grid.shape}")
        x = self.to_unit(grid)
        mean, std = gp.predict(x)
        kappa = self._kappa_now()
        xo, yo = self._surrogate_data()
        x_next, rule = self._propose(self._next_number())
        return PosteriorSnapshot(
            n_finished=len(self._finished()), lrs=grid, mean=mean, std=std,
            acquisition=mean - kappa * std, kappa=kappa, observed_lrs=self.from_unit(xo),
            observed_values=yo, next_lr=float(self.from_unit(x_next)), rule=rule,
            transform=self.transform)

    def _next_number(self) -> int:
        return 1 + max(self._trials, default=-1)

    # -- ask / tell -----------------------------------------------------------------------
    def ask(self) -> Trial:
        """Propose one learning rate (recorded as a pending trial)."""
        return self.ask_batch(1)[0]

    def ask_batch(self, n: int) -> list[Trial]:
        """Propose ``n`` learning rates at once, for parallel evaluation.

        With a storage, the study is re-read and the proposals are claimed in one
        transaction under the database's write lock: pending trials that no live driver owns
        (an interrupted run's, or a dead driver's after its lease) are returned first, with
        their original numbers and rates; the new proposals are conditioned on every pending
        trial of every driver.
        """
        return self._ask(check_int("n", n, minimum=1), reclaimed_alone=False)

    def _ask(self, n: int, *, reclaimed_alone: bool) -> list[Trial]:
        if self._storage is None:
            return self._fresh(n)
        # Optimistic: propose from a plain read (the GP fit takes milliseconds), then take the
        # write lock and keep the proposals only if no trial changed meanwhile; otherwise
        # read again. The lock is held for a read and an insert, so the workers' commits
        # (which need the same lock) wait as little as possible. The last attempt proposes
        # under the lock.
        for attempt in range(3):
            last = attempt == 2
            if not last:
                leases = self._sync()
                if self._storage.reclaimable(leases):
                    last = True  # taking trials over is decided under the lock
                else:
                    state = self._state()
                    fresh = self._fresh(n)
            with self._storage.transaction():
                leases = self._sync()
                if last:
                    numbers = self._storage.reclaimable(leases)[:n]
                    if numbers:
                        self._storage.claim(numbers)
                    out = [self._trials[k] for k in numbers]
                    if not (reclaimed_alone and out):
                        more = self._fresh(n - len(out))
                        if more:
                            self._storage.propose(more)
                        out += more
                    return out
                if self._state() == state and not self._storage.reclaimable(leases):
                    for t in fresh:
                        self._trials[t.number] = t
                    self._storage.propose(fresh)
                    return fresh
        raise AssertionError("unreachable")  # pragma: no cover

    def _state(self) -> tuple[tuple[int, str], ...]:
        """What the proposals depend on: every trial's number and status."""
        return tuple((k, self._trials[k].status) for k in sorted(self._trials))

    def _fresh(self, n: int) -> list[Trial]:
        batch = 1 + max((t.batch for t in self._trials.values()), default=-1)
        fresh: list[Trial] = []
        try:
            for _ in range(n):
                number = self._next_number()
                x, rule = self._propose(number)
                trial = Trial(number, float(self.from_unit(x)), batch=batch, rule=rule)
                self._trials[number] = trial  # pending: the next proposal of the batch sees it
                fresh.append(trial)
        except BaseException:
            for t in fresh:  # not stored, so not proposed
                del self._trials[t.number]
            raise
        return fresh

    def _propose(self, number: int) -> tuple[float, str]:
        """The next x and the rule that chose it (see :data:`RULES`)."""
        if number < self.n_initial:
            return float(self._initial_x[number]), "initial"
        taken = np.array([float(self.to_unit(t.lr)) for t in self.trials])
        gp = self.posterior()
        if gp is None:  # nothing usable yet: the point farthest from every trial
            # and from the initial design, whose points earlier trials take by their number
            # even before they are recorded (an Optuna worker may ask first)
            avoid = np.concatenate([taken, np.asarray(self._initial_x, dtype=float).ravel()])
            if avoid.size == 0:
                return 0.5, "farthest"
            grid = np.linspace(0.0, 1.0, self.grid_size)
            far = float(grid[np.argmax(np.min(np.abs(grid[:, None] - avoid), axis=1))])
            return far, "farthest"
        pending = [t for t in self.trials if t.status == "pending"]
        if pending:
            xp = np.array([float(self.to_unit(t.lr)) for t in pending])
            if self.batch_strategy == "kriging-believer":
                yp = gp.predict(xp)[0]
            else:
                yp = np.full(xp.size, float(np.max(gp.y)))
            gp = gp.condition(xp, yp)
        x = _minimize_acquisition(gp, self._kappa_now(), self.grid_size, taken,
                                  self.min_distance)
        if self.explore_threshold > 0:
            prior_std = gp.y_std * math.sqrt(gp.signal_variance)
            if gp.predict(np.array([x]))[1][0] < self.explore_threshold * prior_std:
                # The model already knows the value at its pick: a repeat would teach nothing,
                # so look where it knows least.
                # (Never an evaluated rate: at the end of a long search σ is small
                # everywhere, and without the mask its argmax could be an evaluated bound.)
                grid = np.linspace(0.0, 1.0, self.grid_size)
                sd = gp.predict(grid)[1]
                far = np.min(np.abs(grid[:, None] - taken), axis=1) >= self.min_distance
                if np.any(far):
                    sd = np.where(far, sd, -np.inf)
                return float(grid[np.argmax(sd)]), "explore"
        return x, "lcb"

    def tell(self, trial: Trial | int, value: Any) -> Trial:
        """Record the outcome of a pending trial: a float, an :class:`Evaluation`, or anything
        else an objective might return (recorded as a failed trial with the reason; a bool is
        refused here as a ``TypeError``, since ``True`` is not a loss). Returns the recorded
        trial."""
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"value must be the objective's outcome (a number or an "
                            f"Evaluation), got the bool {value!r}")
        return self._record(trial, *_outcome(value, self.transform))

    def tell_failure(self, trial: Trial | int, error: str) -> Trial:
        """Record a pending trial as failed, with the reason."""
        if not isinstance(error, str) or not error:
            raise ValueError(f"error must be a non-empty message, got {error!r}")
        return self._record(trial, "failed", None, error, {})

    def _record(self, trial: Trial | int, status: str, value: float | None, error: str | None,
                info: dict[str, Any], *, stored: bool = False) -> Trial:
        number = trial.number if isinstance(trial, Trial) else check_int("trial", trial)
        old = self._trials.get(number)
        if old is None and self._storage is not None:
            self._sync()
            old = self._trials.get(number)
        if old is None:
            raise ValueError(f"trial {number} was never proposed (known: 0 … "
                             f"{self._next_number() - 1})")
        if old.status != "pending":
            if number in self._told:
                raise ValueError(f"trial {number} is already finished ({old.status}); a trial "
                                 "is told once")
            # recorded already by a worker of ours (read back by a sync) or by another driver
            # that took the trial over: the first outcome stays
            self._told.add(number)
            return old
        self._told.add(number)
        try:
            info = _clean_info(info)
        except TypeError as exc:
            status, value, error, info = "failed", None, f"bad info: {exc}", {}
        new = Trial(number, old.lr, status, value, error, old.batch, info, old.rule)
        if self._storage is not None and not stored:
            first = self._storage.finish(new)
            if first is not None:  # another driver recorded it first: its outcome stays
                new = first
        self._trials[number] = new
        return new

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        objective: Callable[[float], Any],
        n_trials: int,
        *,
        batch_size: int = 1,
        executor: Executor | None = None,
        synchronous: bool = False,
        progress: Callable[[SearchProgress], Any] | None = None,
        max_consecutive_failures: int = 5,
        record_in_worker: bool | None = None,
    ) -> SearchResult:
        """Evaluate ``objective(lr)`` at ``n_trials`` new rates; returns the study's result.

        ``n_trials`` counts the evaluations made by this call (trials of an interrupted run
        that are taken over count among them), not the trials already in the study: on a
        resumed study ``run(f, 4)`` evaluates 4 more rates. To finish a search of N trials,
        ask for ``N - opt.result().n_trials``.

        Up to ``batch_size`` evaluations run at once on ``executor`` (default: a process pool
        of ``min(batch_size, cpu_count)`` workers that die with this process, made and shut
        down here; it needs a picklable objective — for lambdas and closures use
        :class:`SerialExecutor`, a ``ThreadPoolExecutor``, or a Dask
        ``client.get_executor(pure=False)``, which pickles closures with cloudpickle). Its
        workers start from a fork server, so a script that uses it needs the usual
        ``if __name__ == "__main__":`` guard.

        **Asynchronous** (default): a new rate is proposed the moment an evaluation returns,
        conditioned on the ones still running, so no worker waits for a straggler. The trial
        sequence then depends on the order evaluations finish. **Batch-synchronous**
        (``synchronous=True``): ``batch_size`` rates are proposed together and the next batch
        waits for all of them; the trial sequence is then the same on every executor.

        Every outcome is committed the moment it arrives; with a storage and a local executor
        (``record_in_worker=None`` means: a process or thread pool or :class:`SerialExecutor`)
        the worker commits it itself in the transaction that marks the trial finished.

        Raises ``RuntimeError`` (after recording the trials as failed and the running ones as
        they finish) when the executor fails or ``max_consecutive_failures`` trials in a row
        fail.
        """
        if not callable(objective):
            raise TypeError(f"objective must be callable, got {type(objective).__name__}")
        n_trials = check_int("n_trials", n_trials, minimum=1)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        max_fail = check_int("max_consecutive_failures", max_consecutive_failures, minimum=1)
        _check_bool("synchronous", synchronous)
        if record_in_worker is not None:
            _check_bool("record_in_worker", record_in_worker)
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be callable or None, got {type(progress).__name__}")
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError("executor must be a concurrent.futures.Executor (or None for a "
                            f"process pool), got {type(executor).__name__}")
        own = executor is None
        if own:
            try:
                pickle.dumps(objective)
            except Exception as exc:
                raise TypeError(
                    f"the default process pool cannot send this objective to its workers "
                    f"({type(exc).__name__}: {exc}); define it at module level (in a "
                    "script, under if __name__ == '__main__':), or pass "
                    "executor=SerialExecutor() (same process), a "
                    "concurrent.futures.ThreadPoolExecutor, or a Dask "
                    "client.get_executor(pure=False) (cloudpickle sends lambdas and closures)"
                ) from exc
        pool = _process_pool(min(batch_size, os.cpu_count() or 1)) if own else executor
        in_worker = (_is_local(pool) if record_in_worker is None else record_in_worker) and \
            self._storage is not None
        loop = _Loop(self, objective, pool, n_trials, batch_size, synchronous, progress,
                     max_fail, in_worker)
        try:
            loop.run()
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
        return self.result()


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r:.60}")
    return bool(value)


class _Loop:
    """One call of :meth:`BayesianOptimizer.run`: keeps up to ``batch_size`` evaluations in
    flight and records each outcome as it arrives."""

    def __init__(self, opt: BayesianOptimizer, objective: Callable[[float], Any],
                 pool: Executor, n_trials: int, batch_size: int, synchronous: bool,
                 progress: Callable[[SearchProgress], Any] | None, max_fail: int,
                 in_worker: bool) -> None:
        self.opt, self.objective, self.pool = opt, objective, pool
        self.n, self.width, self.sync = n_trials, batch_size, synchronous
        self.progress, self.max_fail, self.in_worker = progress, max_fail, in_worker
        self.inflight: dict[Future, Trial] = {}
        self.started = self.done = 0
        self.broken: list[str] = []
        self.failing: str | None = None
        self.streak = 0

    def run(self) -> None:
        while True:
            if not self.broken and self.failing is None and self.started < self.n:
                free = self.width - len(self.inflight)
                if self.sync and self.inflight:
                    free = 0
                if free > 0:
                    self._submit(self.opt._ask(min(free, self.n - self.started),
                                               reclaimed_alone=self.sync))
            if not self.inflight:
                break
            finished, _ = wait(list(self.inflight), return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: self.inflight[f].number):
                self._collect(fut, self.inflight.pop(fut))
        if self.broken:
            raise RuntimeError(f"{len(self.broken)} trial(s) were recorded as failed because "
                               f"the executor failed ({self.broken[0]}); the history is saved, "
                               "resume with a working executor")
        if self.failing is not None:
            raise RuntimeError(self.failing)

    def _submit(self, trials: list[Trial]) -> None:
        opt = self.opt
        for trial in trials:
            self.started += 1
            record = None
            if self.in_worker:
                assert opt._storage is not None
                record = (str(opt._storage.path), opt.study, trial.number, opt.transform,
                          opt._storage.owner)
            try:
                fut = self.pool.submit(_evaluate, self.objective, trial.lr, record)
            except Exception as exc:  # e.g. a broken or shut-down pool
                msg = f"executor failed to start the trial: {type(exc).__name__}: {exc}"
                self._announce(opt.tell_failure(trial, msg))
                self.broken.append(f"{type(exc).__name__}: {exc}")
                continue
            self.inflight[fut] = trial

    def _collect(self, fut: Future, trial: Trial) -> None:
        opt = self.opt
        try:
            kind, out = fut.result()
        except BaseException as exc:  # the executor, not the objective, failed
            if isinstance(exc, KeyboardInterrupt):
                raise
            msg = f"executor failed: {type(exc).__name__}: {exc}"
            self._announce(opt.tell_failure(trial, msg))
            self.broken.append(msg)
            return
        if kind == "taken":  # another driver took the trial over before it started here
            self.started -= 1
            return
        if kind == "recorded":
            rec = opt._record(trial, *out, stored=True)
        elif kind == "error":
            rec = opt.tell_failure(trial, out)
        else:
            rec = opt._record(trial, *_outcome(out, opt.transform))
        self._announce(rec)
        self.streak = self.streak + 1 if rec.status == "failed" else 0
        if self.streak >= self.max_fail and self.failing is None:
            self.failing = (f"the last {self.max_fail} trials failed (last error: {rec.error})"
                            "; the objective is not usable at these rates")

    def _announce(self, trial: Trial) -> None:
        self.done += 1
        if self.progress is None:
            return
        res = self.opt.result()
        self.progress(SearchProgress(self.done, self.n, res.best_lr, res.best_value, trial))
