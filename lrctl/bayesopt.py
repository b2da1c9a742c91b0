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
2010, maximized). κ is a constant (default 1, the best of 0.5 … 2 in
``benchmarks/bench_bayesopt.py`` once the exploration rule below is on) or the GP-UCB schedule
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
(status ``pending``) and again when its value arrives, each in its own committed transaction.
Opening the same file and study again reloads the history; pending trials of a run that was
killed are handed out again, first, with their original numbers and rates, so a resumed search
is the same search: no completed trial is lost or repeated.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._validation import (
    as_float_array,
    check_choice,
    check_finite,
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


# ---------------------------------------------------------------------------------------
# The Gaussian process
# ---------------------------------------------------------------------------------------


def matern52(distance: ArrayLike, length_scale: float) -> np.ndarray:
    r"""The Matérn-5/2 correlation m(d/ℓ) = (1 + √5 d/ℓ + 5d²/(3ℓ²)) exp(−√5 d/ℓ).

    Twice differentiable sample paths; m(0) = 1. Broadcasts over ``distance``.

    >>> float(matern52(0.0, 0.3)), round(float(matern52(0.3, 0.3)), 6)
    (1.0, 0.523994)
    """
    d = np.abs(as_float_array("distance", distance))
    ell = check_scalar("length_scale", length_scale)
    check_positive("length_scale", ell)
    s = _SQRT5 * d / ell
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


def _correlation(x1: np.ndarray, x2: np.ndarray, ell: np.ndarray | float) -> np.ndarray:
    """Matérn-5/2 correlation matrix; ``ell`` may carry leading batch axes."""
    ell = np.asarray(ell, dtype=float)
    d = np.abs(x1[:, None] - x2[None, :])
    s = _SQRT5 * d / ell[..., None, None]
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
        x = check_finite("x", self.x).ravel()
        y = check_finite("y", self.y).ravel()
        if x.shape != y.shape or x.size == 0:
            raise ValueError(f"x and y must be non-empty and of equal length, got {x.size} and "
                             f"{y.size}")
        for name in ("length_scale", "signal_variance", "noise_variance"):
            check_positive(name, check_scalar(name, getattr(self, name)))
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        mean = float(np.mean(y)) if math.isnan(self.y_mean) else check_scalar("y_mean",
                                                                               self.y_mean)
        std = float(np.std(y)) if math.isnan(self.y_std) else check_scalar("y_std", self.y_std)
        object.__setattr__(self, "y_mean", mean)
        object.__setattr__(self, "y_std", std if std > 0 else 1.0)
        z = (y - self.y_mean) / self.y_std
        K = self.signal_variance * _correlation(x, x, self.length_scale)
        K[np.diag_indices_from(K)] += self.noise_variance
        L = np.linalg.cholesky(K)
        from scipy.linalg import cho_solve, solve_triangular

        object.__setattr__(self, "_chol", L)
        object.__setattr__(self, "_alpha", cho_solve((L, True), z))
        object.__setattr__(self, "_chol_inv", solve_triangular(L, np.eye(L.shape[0]),
                                                               lower=True))

    @property
    def z(self) -> np.ndarray:
        """The standardized observations."""
        return (self.y - self.y_mean) / self.y_std

    def predict(self, x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at ``x`` (1-D)."""
        xs = check_finite("x", x)
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
        xn = np.atleast_1d(check_finite("x_new", x_new)).ravel()
        yn = np.atleast_1d(check_finite("y_new", y_new)).ravel()
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
    xs = check_finite("x", x).ravel()
    ys = check_finite("y", y).ravel()
    if xs.shape != ys.shape or xs.size == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {xs.size} and "
                         f"{ys.size}")
    lb = _check_bounds("length_scale_bounds", length_scale_bounds)
    nb = _check_bounds("noise_bounds", noise_bounds)
    n_ell, n_g = (check_int("grid[0]", grid[0], minimum=2), check_int("grid[1]", grid[1],
                                                                        minimum=2))
    zoom = check_int("zoom", zoom, minimum=0)
    if length_scale_prior is None:
        prior_a, prior_b = 1.0, 0.0  # Gamma(1, 0): flat
    else:
        prior_a, prior_b = (float(v) for v in _check_bounds_free("length_scale_prior",
                                                                 length_scale_prior))
    mean = float(np.mean(ys))
    std = float(np.std(ys))
    std = std if std > 0 else 1.0
    z = (ys - mean) / std
    n = z.size
    if not np.any(z):  # all values equal: nothing to learn, keep the prior
        return GaussianProcess1D(xs, ys, math.sqrt(lb[0] * lb[1]), 1.0, nb[0], mean, std)
    d = np.abs(xs[:, None] - xs[None, :])
    eye = np.eye(n)

    def profile(log_ell: np.ndarray, log_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Profiled log marginal likelihood + log prior, and σ̂_f², batched."""
        s = _SQRT5 * d / np.exp(log_ell)[..., None, None]
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
    tt = check_finite("t", t)
    if np.any(tt < 1):
        raise ValueError(f"t must be >= 1 (the iteration number), got {t!r}")
    n_candidates = check_int("n_candidates", n_candidates, minimum=1)
    delta = check_scalar("delta", delta)
    check_in_interval("delta", delta, 0.0, 1.0, low_closed=False)
    beta = 2.0 * np.log(n_candidates * tt**2 * math.pi**2 / (6.0 * delta))
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


@dataclass(frozen=True)
class Evaluation:
    """What an objective may return instead of a bare float.

    Attributes
    ----------
    value
        The finite objective value (for a diverged rate: the finite penalty).
    diverged
        True when training at this rate diverged and ``value`` is a penalty.
    info
        Extra numbers to store with the trial (e.g. the step training diverged at).
    """

    value: float
    diverged: bool = False
    info: Mapping[str, float] = field(default_factory=dict)


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
    info: Mapping[str, float] = field(default_factory=dict)
    rule: str = ""


@dataclass(frozen=True)
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
    """

    numbers: np.ndarray
    lrs: np.ndarray
    values: np.ndarray
    statuses: np.ndarray
    errors: tuple[str | None, ...]
    best_lr: float | None
    best_value: float | None
    best_number: int | None

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
        done = sorted((t for t in trials if t.status != "pending"), key=lambda t: t.number)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class SearchProgress:
    """Passed to the ``progress`` callback of :meth:`BayesianOptimizer.run` after each trial."""

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
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            fut.set_exception(exc)
        return fut


def _evaluate(objective: Callable[[float], Any], lr: float) -> tuple[str, Any]:
    """Run the objective in a worker; its own errors come back as data, not as exceptions,
    so that an exception from ``Future.result()`` always means the executor failed."""
    try:
        return ("value", objective(lr))
    except Exception as exc:
        tb = traceback.format_exception_only(type(exc), exc)
        return ("error", "objective raised " + "".join(tb).strip())


def _interpret(out: Any) -> tuple[str, float | None, str | None, dict[str, float]]:
    """``(status, value, error, info)`` of what an objective returned."""
    info: dict[str, float] = {}
    diverged = False
    if isinstance(out, Evaluation):
        value, diverged, info = out.value, bool(out.diverged), dict(out.info)
    else:
        value = out
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        if isinstance(value, np.ndarray) and value.shape == ():
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


def _record_random(objective: Any, lrs: np.ndarray) -> SearchResult:
    """Evaluate at given rates in order and record the outcomes as trials (random search)."""
    from lrctl.search import LossCurve

    trials = []
    batch_eval = getattr(objective, "evaluate", None)
    if callable(batch_eval):
        out = batch_eval(lrs)
        if isinstance(out, LossCurve):
            outs: list[Any] = [Evaluation(float(v), bool(dv)) for v, dv in
                               zip(out.values, out.diverged, strict=True)]
        else:
            outs = list(np.asarray(out, dtype=float).ravel())
        results = [("value", o) for o in outs]
    else:
        results = [_evaluate(objective, float(lr)) for lr in lrs]
    for i, (lr, (kind, out)) in enumerate(zip(lrs, results, strict=True)):
        if kind == "error":
            trials.append(Trial(i, float(lr), "failed", None, out))
        else:
            status, value, error, info = _interpret(out)
            trials.append(Trial(i, float(lr), status, value, error, 0, info))
    return SearchResult.from_trials(trials)


# ---------------------------------------------------------------------------------------
# SQLite history
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
    PRIMARY KEY (study, number)
);
"""


class _Storage:
    """The trials of one study in an SQLite file; every write is its own transaction."""

    def __init__(self, path: str | os.PathLike[str], study: str, config: dict[str, Any]) -> None:
        self.path = Path(path)
        self.study = study
        self.conn = sqlite3.connect(self.path, timeout=60.0)
        with self.conn:
            self.conn.executescript(_SCHEMA)
        text = json.dumps(config, sort_keys=True)
        row = self.conn.execute("SELECT config FROM studies WHERE name = ?", (study,)).fetchone()
        if row is None:
            with self.conn:
                self.conn.execute("INSERT INTO studies VALUES (?, ?, ?)", (study, text,
                                                                           time.time()))
        elif json.loads(row[0]) != json.loads(text):
            raise ValueError(
                f"study {study!r} in {str(self.path)!r} was created with the settings "
                f"{row[0]}, which differ from {text}; resume it with the same settings or use "
                "a new study name"
            )

    def load(self) -> list[Trial]:
        rows = self.conn.execute(
            "SELECT number, lr, status, value, error, batch, info, rule FROM trials "
            "WHERE study = ? ORDER BY number", (self.study,)).fetchall()
        return [Trial(int(n), float(lr), st, val, err, int(b), json.loads(info), rule)
                for n, lr, st, val, err, b, info, rule in rows]

    def propose(self, trials: list[Trial]) -> None:
        """Store a batch of proposals in one transaction: a kill leaves all or none."""
        now = time.time()
        with self.conn:
            self.conn.executemany(
                "INSERT INTO trials (study, number, lr, batch, status, rule, proposed) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                [(self.study, t.number, t.lr, t.batch, t.rule, now) for t in trials])

    def finish(self, trial: Trial) -> None:
        with self.conn:
            cur = self.conn.execute(
                "UPDATE trials SET status = ?, value = ?, error = ?, info = ?, finished = ? "
                "WHERE study = ? AND number = ? AND status = 'pending'",
                (trial.status, trial.value, trial.error, json.dumps(dict(trial.info)),
                 time.time(), self.study, trial.number))
            if cur.rowcount != 1:
                raise RuntimeError(f"trial {trial.number} of study {self.study!r} is not pending "
                                   "in the storage; was it told twice?")

    def close(self) -> None:
        self.conn.close()


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
        in memory only.
    study
        Name of the study within the storage; opening an existing study resumes it (the
        settings must match).
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
    ) -> None:
        b = check_positive("bounds", bounds)
        if b.shape != (2,):
            raise ValueError(f"bounds must be a pair (low, high), got shape {b.shape}")
        if not b[0] < b[1]:
            what = "empty" if b[0] == b[1] else "inverted"
            raise ValueError(f"bounds must satisfy 0 < low < high, got the {what} interval "
                             f"({b[0]}, {b[1]})")
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
        if not isinstance(study, str) or not study:
            raise ValueError(f"study must be a non-empty string, got {study!r}")
        self.study = study
        rng = np.random.default_rng(self.seed)
        cells = rng.permutation(self.n_initial)
        self._initial_x = (cells + rng.uniform(size=self.n_initial)) / self.n_initial
        self._storage = None if storage is None else _Storage(storage, study, self.config())
        self._trials: dict[int, Trial] = {}
        self._orphans: list[int] = []
        self._gp_cache: tuple[tuple[int, ...], GaussianProcess1D] | None = None
        if self._storage is not None:
            for t in self._storage.load():
                self._trials[t.number] = t
                if t.status == "pending":
                    self._orphans.append(t.number)

    # -- configuration and coordinates -------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The settings that define the search (stored with the study and checked on resume)."""
        return {"bounds": list(self.bounds), "kappa": self.kappa, "n_initial": self.n_initial,
                "seed": self.seed, "batch_strategy": self.batch_strategy,
                "transform": self.transform, "grid_size": self.grid_size, "min_distance": self.min_distance,
                "delta": self.delta}

    def to_unit(self, lr: ArrayLike) -> np.ndarray:
        """x = (ln η − ln η_lo)/(ln η_hi − ln η_lo)."""
        lo, hi = math.log(self.bounds[0]), math.log(self.bounds[1])
        return (np.log(check_positive("lr", lr)) - lo) / (hi - lo)

    def from_unit(self, x: ArrayLike) -> np.ndarray:
        """η = exp(ln η_lo + x (ln η_hi − ln η_lo)), the inverse of :meth:`to_unit`."""
        lo, hi = math.log(self.bounds[0]), math.log(self.bounds[1])
        return np.exp(lo + check_finite("x", x) * (hi - lo))

    # -- history --------------------------------------------------------------------------
    @property
    def trials(self) -> tuple[Trial, ...]:
        """Every trial so far, pending ones included, by number."""
        return tuple(self._trials[k] for k in sorted(self._trials))

    def result(self) -> SearchResult:
        """The finished trials as a :class:`SearchResult`."""
        return SearchResult.from_trials(self._trials.values())

    def close(self) -> None:
        """Close the storage (the history stays in the file)."""
        if self._storage is not None:
            self._storage.close()

    def __enter__(self) -> BayesianOptimizer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

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
        grid = np.geomspace(*self.bounds, 401) if lrs is None else check_positive("lrs", lrs)
        x = self.to_unit(grid)
        mean, std = gp.predict(x)
        kappa = self._kappa_now()
        xo, yo = self._surrogate_data()
        x_next, rule = self._propose(len(self._trials))
        return PosteriorSnapshot(
            n_finished=len(self._finished()), lrs=grid, mean=mean, std=std,
            acquisition=mean - kappa * std, kappa=kappa, observed_lrs=self.from_unit(xo),
            observed_values=yo, next_lr=float(self.from_unit(x_next)), rule=rule,
            transform=self.transform)

    # -- ask / tell -----------------------------------------------------------------------
    def ask(self) -> Trial:
        """Propose one learning rate (recorded as a pending trial)."""
        return self.ask_batch(1)[0]

    def ask_batch(self, n: int) -> list[Trial]:
        """Propose ``n`` learning rates at once, for parallel evaluation.

        Pending trials of an interrupted run (loaded from the storage) are returned first.
        """
        n = check_int("n", n, minimum=1)
        out: list[Trial] = []
        while self._orphans and len(out) < n:
            out.append(self._trials[self._orphans.pop(0)])
        batch = 1 + max((t.batch for t in self._trials.values()), default=-1)
        fresh: list[Trial] = []
        try:
            while len(out) + len(fresh) < n:
                number = len(self._trials)
                x, rule = self._propose(number)
                trial = Trial(number, float(self.from_unit(x)), batch=batch, rule=rule)
                self._trials[number] = trial  # pending: the next proposal of the batch sees it
                fresh.append(trial)
            if self._storage is not None and fresh:
                self._storage.propose(fresh)
        except BaseException:
            for t in fresh:  # not stored, so not proposed
                del self._trials[t.number]
            raise
        return out + fresh

    def _propose(self, number: int) -> tuple[float, str]:
        """The next x and the rule that chose it (see :data:`RULES`)."""
        if number < self.n_initial:
            return float(self._initial_x[number]), "initial"
        taken = np.array([float(self.to_unit(t.lr)) for t in self.trials])
        gp = self.posterior()
        if gp is None:  # nothing usable yet: the point farthest from every trial
            grid = np.linspace(0.0, 1.0, self.grid_size)
            far = float(grid[np.argmax(np.min(np.abs(grid[:, None] - taken), axis=1))])
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
                grid = np.linspace(0.0, 1.0, self.grid_size)
                return float(grid[np.argmax(gp.predict(grid)[1])]), "explore"
        return x, "lcb"

    def tell(self, trial: Trial | int, value: Any) -> Trial:
        """Record the outcome of a pending trial: a float, an :class:`Evaluation`, or anything
        else (recorded as a failed trial with the reason). Returns the recorded trial."""
        status, val, error, info = _interpret(value)
        if self.transform == "log" and val is not None and val <= 0:
            info = {**info, "value": val}
            status, val, error = "failed", None, (
                f"objective returned {val!r} <= 0, which transform='log' cannot model (the "
                "value is kept in info); use transform='none' for objectives that can be <= 0")
        return self._record(trial, status, val, error, info)

    def tell_failure(self, trial: Trial | int, error: str) -> Trial:
        """Record a pending trial as failed, with the reason."""
        if not isinstance(error, str) or not error:
            raise ValueError(f"error must be a non-empty message, got {error!r}")
        return self._record(trial, "failed", None, error, {})

    def _record(self, trial: Trial | int, status: str, value: float | None, error: str | None,
                info: dict[str, float]) -> Trial:
        number = trial.number if isinstance(trial, Trial) else check_int("trial", trial)
        old = self._trials.get(number)
        if old is None:
            raise ValueError(f"trial {number} was never proposed (known: 0 … "
                             f"{len(self._trials) - 1})")
        if old.status != "pending":
            raise ValueError(f"trial {number} is already finished ({old.status}); a trial is "
                             "told once")
        new = Trial(number, old.lr, status, value, error, old.batch, info, old.rule)
        if self._storage is not None:
            self._storage.finish(new)
        self._trials[number] = new
        if number in self._orphans:
            self._orphans.remove(number)
        return new

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        objective: Callable[[float], Any],
        n_trials: int,
        *,
        batch_size: int = 1,
        executor: Executor | None = None,
        progress: Callable[[SearchProgress], Any] | None = None,
        max_consecutive_failures: int = 5,
    ) -> SearchResult:
        """Optimize ``objective(lr)`` until the study holds ``n_trials`` finished trials.

        ``n_trials`` counts the trials already in the study, so calling ``run`` again with the
        same arguments on a resumed study finishes the same search. Each batch of
        ``batch_size`` rates is submitted to ``executor`` (default: a process pool of
        ``min(batch_size, cpu_count)`` workers, made and shut down here; a Dask
        ``Client.get_executor()``, a ``ThreadPoolExecutor`` or :class:`SerialExecutor` work
        too). Every outcome is recorded the moment it arrives.

        Raises ``RuntimeError`` (after recording the trials as failed) when the executor fails
        or ``max_consecutive_failures`` trials in a row fail.
        """
        if not callable(objective):
            raise TypeError(f"objective must be callable, got {type(objective).__name__}")
        n_trials = check_int("n_trials", n_trials, minimum=1)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        max_fail = check_int("max_consecutive_failures", max_consecutive_failures, minimum=1)
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError("executor must be a concurrent.futures.Executor (or None for a "
                            f"process pool), got {type(executor).__name__}")
        own = executor is None
        pool = ProcessPoolExecutor(max_workers=min(batch_size, os.cpu_count() or 1)) if own \
            else executor
        try:
            while len(self._finished()) < n_trials:
                if self._orphans:
                    batch = self.ask_batch(len(self._orphans))
                else:
                    started = len(self._trials)
                    batch = self.ask_batch(min(batch_size, n_trials - started))
                self._run_batch(objective, batch, pool, n_trials, progress)
                self._check_failures(max_fail)
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
        return self.result()

    def _run_batch(self, objective: Callable[[float], Any], batch: list[Trial], pool: Executor,
                   n_total: int, progress: Callable[[SearchProgress], Any] | None) -> None:
        futures: dict[Future, Trial] = {}
        broken: list[str] = []
        for trial in batch:
            try:
                futures[pool.submit(_evaluate, objective, trial.lr)] = trial
            except Exception as exc:  # e.g. a broken or shut-down pool
                self._announce(self.tell_failure(trial, f"executor failed to start the trial: "
                                                        f"{type(exc).__name__}: {exc}"),
                               n_total, progress)
                broken.append(f"{type(exc).__name__}: {exc}")
        for fut in as_completed(futures):
            trial = futures[fut]
            try:
                kind, out = fut.result()
            except BaseException as exc:  # the executor, not the objective, failed
                if isinstance(exc, KeyboardInterrupt):
                    raise
                msg = f"executor failed: {type(exc).__name__}: {exc}"
                self._announce(self.tell_failure(trial, msg), n_total, progress)
                broken.append(msg)
                continue
            rec = self.tell_failure(trial, out) if kind == "error" else self.tell(trial, out)
            self._announce(rec, n_total, progress)
        if broken:
            raise RuntimeError(f"{len(broken)} trial(s) of this batch were recorded as failed "
                               f"because the executor failed ({broken[0]}); the history is "
                               "saved, resume with a working executor")

    def _announce(self, trial: Trial, n_total: int,
                  progress: Callable[[SearchProgress], Any] | None) -> None:
        if progress is None:
            return
        res = self.result()
        progress(SearchProgress(res.n_trials, n_total, res.best_lr, res.best_value, trial))

    def _check_failures(self, max_fail: int) -> None:
        done = self._finished()
        tail = done[-max_fail:]
        if len(tail) == max_fail and all(t.status == "failed" for t in tail):
            raise RuntimeError(f"the last {max_fail} trials failed (last error: {tail[-1].error})"
                               "; the objective is not usable at these rates")
