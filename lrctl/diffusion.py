r"""Learning rates across the noise levels of a diffusion model: the denoising loss's curvature.

Model. A linear denoiser at noise level σ maps the noisy sample x̃ = x + σn (n standard normal,
independent of the data x, which have zero mean and covariance Σ) to D(x̃) = A x̃. Its loss

    L_σ(A) = E‖A(x + σn) − x‖² = tr(A (Σ + σ²I) Aᵀ) − 2 tr(A Σ) + tr Σ

is quadratic in A, with Hessian (in vec(A), stacking the columns)

    ∇²L_σ = 2 (Σ + σ²I) ⊗ I        (scalar case: d²L/da² = 2(s + σ²), s = E x²),

eigenvalues 2(λ_j + σ²) for the eigenvalues λ_j of Σ, each d times, and minimizer
A* = Σ(Σ + σ²I)⁻¹ with loss Σ_j λ_j σ²/(λ_j + σ²). Only the second moments enter, so on a real
data set the formula is exact with the empirical covariance (no Gaussian assumption on x; the
noise only needs zero mean, unit variance and independence).

Parameterizations (``preconditioning``). ``"none"``: A = W, the trainable weights. ``"edm"``
(Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models",
Table 1): D(x̃) = c_skip x̃ + c_out F(c_in x̃) with a linear network F(u) = W u, so
A = c_skip I + c_out c_in W, with

    c_skip = σ_d²/(σ² + σ_d²),  c_out = σ σ_d/√(σ² + σ_d²),  c_in = 1/√(σ² + σ_d²),

σ_d (``sigma_data``) the data's standard deviation. The curvature in the trainable W carries
the factor a² = (c_out c_in)².

Loss weightings (``weighting``) multiply L_σ by w(σ):

- ``"none"``: w = 1, the x₀ (denoiser-output) loss;
- ``"snr"``: w = SNR = 1/σ², which is the ε-prediction loss ‖ε̂ − ε‖² (x̂₀ = x̃ − σε̂);
- ``"min-snr"``: w = min(SNR, γ) (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR
  Weighting Strategy", x₀ form; γ = 5 by default);
- ``"edm"``: w = λ(σ) = 1/c_out² (Karras et al. 2022), which with EDM preconditioning turns the
  loss into E‖F(c_in x̃) − (x − c_skip x̃)/c_out‖².

So the curvature of the trainable part at noise level σ along data eigenvalue λ is

    c_σ(λ) = 2 w(σ) a(σ)² (λ + σ²),

and the top curvature c_σ = c_σ(λ_max) sets the largest stable rate 2/c_σ. Unpreconditioned it
grows like σ² (a factor σ_max²/λ_max across EDM's range σ ∈ [0.002, 80]); EDM preconditioning
with its weighting gives c_σ = 2(λ_max + σ²)/(σ² + σ_d²), between 2 and 2λ_max/σ_d², and exactly
2 at every σ for isotropic data with variance σ_d².

Rates per noise level. A gradient step on w(σ) L_σ with rate η equals a step on L_σ with rate
η w(σ): a loss weighting *is* a per-σ learning rate. The rate η_σ = κ/c_σ (:func:`adapted_lr`)
multiplies the error along the top eigen-direction by 1 − κ at every σ, so every noise level
makes the same progress on its stiffest mode; one fixed rate, stable at the stiffest level,
leaves the others a factor c_σ/max c_σ slower. What remains different between levels is the
conditioning within a level, κ_σ = (λ_max + σ²)/(λ_min + σ²), which no weighting changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._validation import (
    check_choice,
    check_finite,
    check_in_interval,
    check_int,
    check_output,
    check_positive,
    check_scalar,
)
from lrctl.training import Divergence

__all__ = [
    "PRECONDITIONINGS",
    "WEIGHTINGS",
    "DenoiserTraining",
    "DenoisingCurvature",
    "EDMCoefficients",
    "adapted_lr",
    "curvature_equalizing_weight",
    "denoiser_learning_curve",
    "denoiser_optimum",
    "denoising_curvature",
    "denoising_loss",
    "derive_denoising_curvature",
    "edm_coefficients",
    "empirical_covariance",
    "loss_weight",
    "train_denoiser",
]

PRECONDITIONINGS = ("none", "edm")
WEIGHTINGS = ("none", "snr", "min-snr", "edm")

_NEG_TOL = 1e-10


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


def _sigma(sigma: Any) -> np.ndarray:
    s = check_finite("sigma", sigma)
    if np.any(s <= 0):
        raise ValueError(f"sigma must be > 0 (a noise level; σ = 0 is no noise and the "
                         f"denoising loss is then flat in the noise direction), got {sigma!r}")
    if s.ndim > 1:
        raise ValueError(f"sigma must be a scalar or a 1-D array of noise levels, got shape {s.shape}")
    return s


def _covariance(covariance: Any) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues ascending, eigenvectors) of the data covariance; 1-D input is diagonal."""
    C = check_finite("covariance", covariance)
    if C.ndim == 0:
        C = C.reshape(1, 1)
    elif C.ndim == 1:
        if C.size == 0:
            raise ValueError("covariance is empty; give a variance, eigenvalues or a matrix")
        C = np.diag(C)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] == 0:
        raise ValueError(f"covariance must be a variance, a 1-D array of variances or a square "
                         f"matrix, got shape {C.shape}")
    scale = max(float(np.abs(C).max()), 1e-300)
    if not np.allclose(C, C.T, rtol=0.0, atol=1e-10 * scale):
        raise ValueError("covariance must be symmetric")
    lam, Q = np.linalg.eigh(0.5 * (C + C.T))
    if lam[0] < -_NEG_TOL * scale:
        raise ValueError(f"covariance must be positive semi-definite, its smallest eigenvalue "
                         f"is {lam[0]:.6g}")
    if lam[-1] <= 0:
        raise ValueError("covariance is zero: there is nothing to denoise")
    return np.clip(lam, 0.0, None), Q


def _sigma_data(sigma_data: Any, lam: np.ndarray) -> float:
    """σ_d: given, or the data's standard deviation √(tr Σ / d)."""
    if sigma_data is None:
        return float(np.sqrt(lam.mean()))
    value = check_scalar("sigma_data", sigma_data)
    check_positive("sigma_data", value)
    return value


# ---------------------------------------------------------------------------------------
# Coefficients and weights
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EDMCoefficients:
    """EDM's preconditioning (Karras et al. 2022, Table 1) at the noise levels ``sigma``."""

    sigma: np.ndarray
    sigma_data: float
    c_skip: np.ndarray
    c_out: np.ndarray
    c_in: np.ndarray
    loss_weight: np.ndarray  # λ(σ) = 1/c_out²


def edm_coefficients(sigma: ArrayLike, sigma_data: float = 0.5) -> EDMCoefficients:
    r"""c_skip = σ_d²/(σ²+σ_d²), c_out = σσ_d/√(σ²+σ_d²), c_in = 1/√(σ²+σ_d²), λ = 1/c_out².

    These make the network's input c_in x̃ and its training target (x − c_skip x̃)/c_out have
    unit variance for data of standard deviation σ_d (Karras et al. 2022, Appendix B.6).

    >>> e = edm_coefficients(0.5, sigma_data=0.5)
    >>> float(e.c_skip), round(float(e.c_out), 6), round(float(e.c_in), 6)
    (0.5, 0.353553, 1.414214)
    """
    s = _sigma(sigma)
    sd = check_scalar("sigma_data", sigma_data)
    check_positive("sigma_data", sd)
    sd64 = np.float64(sd)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        tot = s**2 + sd64**2
        direct = np.isfinite(tot)
        # beyond ~1e154 the squares overflow: the same ratios through r = hypot(σ, σ_d)
        r = np.hypot(s, sd64)
        c_out = np.where(direct, s * sd64 / np.sqrt(tot), s * (sd64 / r))
        c_skip = np.where(direct, sd64**2 / tot, (sd64 / r) ** 2)
        c_in = np.where(direct, 1.0 / np.sqrt(tot), 1.0 / r)
        weight = np.where(direct, 1.0 / c_out**2, (r / (s * sd64)) ** 2)
        coeffs = tuple(c if np.ndim(c) else c[()] for c in (c_skip, c_out, c_in, weight))
    for name, value in zip(("c_skip", "c_out", "c_in", "loss_weight"), coeffs, strict=True):
        check_output(value, f"sigma and sigma_data ({name} overflows)")
    return EDMCoefficients(s, sd, *coeffs)


def loss_weight(sigma: ArrayLike, weighting: str = "none", *, sigma_data: float = 0.5,
                gamma: float = 5.0) -> np.ndarray:
    r"""The per-σ weight w(σ) of the denoiser-output loss E‖D(x̃) − x‖².

    ``"none"``: 1; ``"snr"``: 1/σ² (the ε-prediction loss); ``"min-snr"``: min(1/σ², γ)
    (Hang et al. 2023); ``"edm"``: 1/c_out² = (σ² + σ_d²)/(σ σ_d)² (Karras et al. 2022).
    Signal-to-noise ratio SNR(σ) = 1/σ² as for x̃ = x + σn.

    >>> loss_weight(np.array([0.1, 1.0]), "min-snr", gamma=5.0)
    array([5., 1.])
    """
    s = _sigma(sigma)
    weighting = check_choice("weighting", weighting, WEIGHTINGS)
    g = check_scalar("gamma", gamma)
    check_positive("gamma", g)
    sd = check_scalar("sigma_data", sigma_data)  # checked even when the weighting ignores it
    check_positive("sigma_data", sd)
    if weighting == "none":
        return np.ones_like(s)
    if weighting == "edm":
        return edm_coefficients(s, sd).loss_weight
    with np.errstate(over="ignore", under="ignore"):
        snr = 1.0 / s**2
    if weighting == "snr":
        return check_output(snr, "sigma (1/σ² overflows)")
    return np.minimum(snr, g)


def _scale(sigma: np.ndarray, preconditioning: str, sigma_data: float) -> tuple[np.ndarray, np.ndarray]:
    """(skip, a): A = skip·I + a·W."""
    if preconditioning == "none":
        return np.zeros_like(sigma), np.ones_like(sigma)
    e = edm_coefficients(sigma, sigma_data)
    return e.c_skip, e.c_out * e.c_in


# ---------------------------------------------------------------------------------------
# Curvature
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DenoisingCurvature:
    """The Hessian spectrum of the (weighted) denoising loss in the trainable weights, per σ.

    Attributes
    ----------
    sigma
        Noise levels, shape (S,).
    data_eigenvalues
        Eigenvalues λ_j of the data covariance, ascending, shape (d,).
    weight
        The loss weight w(σ).
    scale
        a(σ)², the factor of the trainable weights in the denoiser, squared.
    top, bottom
        The largest and smallest Hessian eigenvalues 2 w a² (λ_max + σ²) and
        2 w a² (λ_min + σ²): ``top`` is the curvature c_σ that limits the rate.
    preconditioning, weighting, sigma_data
        The setting (σ_d as used, also when it was estimated from the data).
    """

    sigma: np.ndarray
    data_eigenvalues: np.ndarray
    weight: np.ndarray
    scale: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    preconditioning: str
    weighting: str
    sigma_data: float

    @property
    def condition_number(self) -> np.ndarray:
        """κ_σ = (λ_max + σ²)/(λ_min + σ²), the same for every weighting."""
        return self.top / self.bottom

    @property
    def spread(self) -> float:
        """max_σ c_σ / min_σ c_σ: how far one fixed rate is from the adapted ones."""
        return float(self.top.max() / self.top.min())

    def eigenvalues(self) -> np.ndarray:
        """All distinct Hessian eigenvalues 2 w a² (λ_j + σ²), shape (S, d) (each is d-fold)."""
        return 2.0 * (self.weight * self.scale)[:, None] * (self.data_eigenvalues + self.sigma[:, None] ** 2)


def denoising_curvature(covariance: ArrayLike, sigma: ArrayLike, *, preconditioning: str = "none",
                        weighting: str = "none", sigma_data: float | None = None,
                        gamma: float = 5.0) -> DenoisingCurvature:
    r"""Curvature of the denoising loss at each noise level: c_σ = 2 w(σ) a(σ)² (λ_max + σ²).

    ``covariance`` is the data covariance Σ (a matrix, its eigenvalues, or a variance);
    ``sigma`` one or more noise levels σ > 0. ``sigma_data`` defaults to √(tr Σ/d), the data's
    standard deviation. See the module docstring for the parameterizations and weightings.

    >>> c = denoising_curvature([1.0, 4.0], [0.5, 2.0])
    >>> c.top, c.bottom    # 2(4 + σ²), 2(1 + σ²)
    (array([ 8.5, 16. ]), array([ 2.5, 10. ]))
    >>> c = denoising_curvature(0.25, [0.01, 1.0, 80.0], preconditioning="edm",
    ...                         weighting="edm", sigma_data=0.5)
    >>> np.round(c.top, 12)  # isotropic data of variance σ_d²: 2 at every σ
    array([2., 2., 2.])
    """
    s = np.atleast_1d(_sigma(sigma))
    lam, _ = _covariance(covariance)
    preconditioning = check_choice("preconditioning", preconditioning, PRECONDITIONINGS)
    weighting = check_choice("weighting", weighting, WEIGHTINGS)
    sd = _sigma_data(sigma_data, lam)
    w = loss_weight(s, weighting, sigma_data=sd, gamma=gamma)
    _, a = _scale(s, preconditioning, sd)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        f = 2.0 * w * a**2
        top, bottom = f * (lam[-1] + s**2), f * (lam[0] + s**2)
    for value in (f, top, bottom):
        check_output(value, "sigma and covariance (the curvature 2·w·a²·(λ + σ²) overflows)")
    return DenoisingCurvature(
        sigma=s, data_eigenvalues=lam, weight=w, scale=a**2, top=top, bottom=bottom,
        preconditioning=preconditioning, weighting=weighting, sigma_data=sd,
    )


def adapted_lr(curvature: DenoisingCurvature, fraction: float = 1.0) -> np.ndarray:
    r"""The per-noise-level rate η_σ = κ/c_σ, κ = ``fraction`` ∈ (0, 2).

    With it the top eigen-direction of every level contracts by |1 − κ| per step (stable for
    κ < 2; κ = 1 removes that direction in one step).

    >>> adapted_lr(denoising_curvature([1.0, 4.0], [0.5, 2.0]), 0.5)
    array([0.05882353, 0.03125   ])
    """
    if not isinstance(curvature, DenoisingCurvature):
        raise TypeError(f"curvature must be a DenoisingCurvature (from denoising_curvature), "
                        f"got {type(curvature).__name__}")
    k = check_in_interval("fraction", check_scalar("fraction", fraction), 0.0, 2.0,
                          low_closed=False, high_closed=False)
    with np.errstate(over="ignore", divide="ignore"):
        out = float(k) / curvature.top
    return check_output(out, "curvature (a top curvature is too small: κ/c_σ overflows)")


def curvature_equalizing_weight(covariance: ArrayLike, sigma: ArrayLike, *,
                                preconditioning: str = "none",
                                sigma_data: float | None = None) -> np.ndarray:
    r"""The loss weight w(σ) = 1/(2 a(σ)² (λ_max + σ²)) that makes c_σ = 1 at every σ.

    Training all levels with one rate η on this weighting is training each with η_σ = η/c_σ
    of the unweighted loss: the loss-weighting form of :func:`adapted_lr`.

    >>> curvature_equalizing_weight([1.0, 4.0], [0.5, 2.0])
    array([0.11764706, 0.0625    ])
    """
    s = np.atleast_1d(_sigma(sigma))
    lam, _ = _covariance(covariance)
    preconditioning = check_choice("preconditioning", preconditioning, PRECONDITIONINGS)
    sd = _sigma_data(sigma_data, lam)
    _, a = _scale(s, preconditioning, sd)
    with np.errstate(over="ignore", divide="ignore", under="ignore"):
        out = 1.0 / (2.0 * a**2 * (lam[-1] + s**2))
    return check_output(out, "sigma and covariance (the weight 1/(2a²(λ_max + σ²)) overflows)")


# ---------------------------------------------------------------------------------------
# Loss, optimum, training
# ---------------------------------------------------------------------------------------


def empirical_covariance(X: ArrayLike) -> np.ndarray:
    r"""Σ̂ = (1/m) Σ_i (x_i − x̄)(x_i − x̄)ᵀ of the rows of ``X`` (biased: the exact second
    moment of the centred empirical distribution, which is what the expected loss uses).

    >>> empirical_covariance([[1.0, 0.0], [-1.0, 0.0]])
    array([[1., 0.],
           [0., 0.]])
    """
    A = check_finite("X", X)
    if A.ndim != 2 or A.shape[0] < 2:
        raise ValueError(f"X must be a 2-D array with at least two rows, got shape {A.shape}")
    scale = float(np.abs(A).max()) or 1.0
    Z = A / scale  # scaled: the products of huge entries do not overflow
    Z = Z - Z.mean(axis=0)
    with np.errstate(over="ignore"):
        out = (Z.T @ Z / A.shape[0]) * scale * scale
    return check_output(out, "X (the covariance of its entries overflows float64)")


def denoiser_optimum(covariance: ArrayLike, sigma: ArrayLike, *, preconditioning: str = "none",
                     sigma_data: float | None = None) -> np.ndarray:
    r"""The trainable weights W* that minimize L_σ, shape (S, d, d).

    A* = Σ(Σ + σ²I)⁻¹ (the Wiener filter); W* = A* for ``"none"`` and
    (A* − c_skip I)/(c_out c_in) for ``"edm"``. The weighting does not move the minimizer.

    >>> denoiser_optimum(1.0, 1.0)
    array([[[0.5]]])
    """
    s = np.atleast_1d(_sigma(sigma))
    lam, Q = _covariance(covariance)
    preconditioning = check_choice("preconditioning", preconditioning, PRECONDITIONINGS)
    sd = _sigma_data(sigma_data, lam)
    skip, a = _scale(s, preconditioning, sd)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        gain = lam / (lam + s[:, None] ** 2)  # (S, d); σ² = inf gives gain 0, the limit
        A = np.einsum("ij,sj,kj->sik", Q, gain, Q)
        eye = np.eye(lam.size)
        out = (A - skip[:, None, None] * eye) / a[:, None, None]
    return check_output(out, "sigma, covariance and sigma_data (W* overflows)")


def denoising_loss(weights: ArrayLike, covariance: ArrayLike, sigma: ArrayLike, *,
                   preconditioning: str = "none", sigma_data: float | None = None) -> np.ndarray:
    r"""The unweighted expected loss E‖D(x̃) − x‖² = tr(A(Σ+σ²I)Aᵀ) − 2 tr(AΣ) + tr Σ.

    ``weights`` W has shape (d, d) or (S, d, d) (one per noise level); A = W or
    c_skip I + c_out c_in W. Returns shape (S,). At the optimum it is Σ_j λ_j σ²/(λ_j + σ²).

    >>> denoising_loss(np.zeros((1, 1)), 1.0, 1.0)   # D = 0: the loss is tr Σ
    array([1.])
    """
    s = np.atleast_1d(_sigma(sigma))
    lam, Q = _covariance(covariance)
    preconditioning = check_choice("preconditioning", preconditioning, PRECONDITIONINGS)
    sd = _sigma_data(sigma_data, lam)
    W = _weights_array("weights", weights, s.size, lam.size)
    skip, a = _scale(s, preconditioning, sd)
    with np.errstate(over="ignore", invalid="ignore"):
        A = skip[:, None, None] * np.eye(lam.size) + a[:, None, None] * W
        Sigma = (Q * lam) @ Q.T
        M = Sigma[None] + s[:, None, None] ** 2 * np.eye(lam.size)
        quad = np.einsum("sij,sij->s", A @ M, A)
        out = quad - 2.0 * np.einsum("sij,ji->s", A, Sigma) + lam.sum()
    return check_output(out, "weights, sigma and covariance (the loss overflows)")


def _weights_array(name: str, value: Any, n_sigma: int, d: int) -> np.ndarray:
    W = check_finite(name, value)
    if W.shape == (d, d):
        W = np.broadcast_to(W, (n_sigma, d, d))
    if W.shape != (n_sigma, d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) or ({n_sigma}, {d}, {d}) to match "
                         f"covariance (d = {d}) and sigma ({n_sigma} levels), got {W.shape}")
    return np.array(W, dtype=float)


@dataclass(frozen=True)
class DenoiserTraining:
    """Gradient descent on the denoising loss, one independent run per noise level.

    Attributes
    ----------
    sigma, lr
        Noise levels and the rate used at each, shape (S,).
    excess_loss
        L_σ(W_t) − min L_σ (unweighted), shape (S, steps + 1), as a ``numpy.ma.MaskedArray``:
        entries from the step a level diverged on are masked (no inf is stored).
    diverged
        Per level, whether its run diverged (the :class:`lrctl.training.Divergence` rule on
        the excess loss).
    diverged_at
        Per level, the step at which it did, ``None`` where it did not (an object array of
        ``int`` / ``None``, as ``lrctl.training.Run.diverged_at`` for each run).
    """

    sigma: np.ndarray
    lr: np.ndarray
    excess_loss: np.ma.MaskedArray
    diverged: np.ndarray
    diverged_at: np.ndarray

    @property
    def relative_excess(self) -> np.ma.MaskedArray:
        """Excess loss divided by its value at step 0 (0 for a level that starts at its optimum)."""
        start = np.asarray(self.excess_loss[:, :1].filled(0.0))
        scale = np.where(start > 0, start, 1.0)
        return self.excess_loss / scale

    def steps_to(self, target: float) -> np.ndarray:
        """Per level, the first step with relative excess ≤ ``target`` (inf if never reached)."""
        t = check_in_interval("target", check_scalar("target", target), 0.0, 1.0,
                              low_closed=False, high_closed=True)
        hit = np.ma.filled(self.relative_excess <= float(t), False)
        first = np.argmax(hit, axis=1).astype(float)
        first[~hit.any(axis=1)] = np.inf
        return first


def _setup(covariance, sigma, lr, preconditioning, weighting, sigma_data, gamma):
    s = np.atleast_1d(_sigma(sigma))
    lam, Q = _covariance(covariance)
    preconditioning = check_choice("preconditioning", preconditioning, PRECONDITIONINGS)
    weighting = check_choice("weighting", weighting, WEIGHTINGS)
    sd = _sigma_data(sigma_data, lam)
    eta = check_positive("lr", lr)
    if eta.ndim > 1 or (eta.ndim == 1 and eta.size != s.size):
        raise ValueError(f"lr must be a scalar or have one entry per noise level of sigma "
                         f"({s.size}), got shape {eta.shape}")
    eta = np.broadcast_to(eta, s.shape).astype(float)
    w = loss_weight(s, weighting, sigma_data=sd, gamma=gamma)
    skip, a = _scale(s, preconditioning, sd)
    return s, lam, Q, sd, eta, w, skip, a, preconditioning


#: The default rule of this module's simulations (a frozen value, safe to share).
_DENOISER_DIVERGENCE = Divergence(factor=1e8)


def _divergence(divergence: Any) -> Divergence:
    """The rule of a ``divergence`` argument: these fast recursions apply the rule against the
    initial level with window 1 (the excess loss of one full-batch run has no mini-batch noise)."""
    if not isinstance(divergence, Divergence):
        raise TypeError(f"divergence must be an lrctl.training.Divergence, got {divergence!r}")
    if divergence.reference != "initial" or divergence.window != 1:
        raise ValueError("divergence must use reference='initial' and window=1 here (the "
                         f"rule against the starting excess loss), got {divergence!r}")
    return divergence


def _steps_or_none(index: np.ndarray) -> np.ndarray:
    """Step indices with −1 (did not diverge) as ``None``, in an object array."""
    out = np.empty(index.shape, dtype=object)
    out[...] = [None if int(k) < 0 else int(k) for k in index.ravel()]
    return out


def _result(s, eta, values, diverged_at) -> DenoiserTraining:
    return DenoiserTraining(s, eta, _mask_after(values, diverged_at), diverged_at >= 0,
                            _steps_or_none(diverged_at))


def _mask_after(values: np.ndarray, diverged_at: np.ndarray) -> np.ma.MaskedArray:
    steps = np.arange(values.shape[1])
    mask = (diverged_at[:, None] >= 0) & (steps[None, :] >= diverged_at[:, None])
    return np.ma.MaskedArray(np.where(mask, 0.0, values), mask=mask)


def train_denoiser(covariance: ArrayLike, sigma: ArrayLike, lr: ArrayLike, steps: int, *,
                   preconditioning: str = "none", weighting: str = "none",
                   sigma_data: float | None = None, gamma: float = 5.0,
                   initial: ArrayLike | None = None,
                   divergence: Divergence = _DENOISER_DIVERGENCE) -> DenoiserTraining:
    r"""Full-batch GD on w(σ)·L_σ(W) at every noise level, in the pixel basis.

    W ← W − η_σ ∇_W [w(σ) L_σ(W)],  ∇_W L_σ = 2 a (A(Σ + σ²I) − Σ),  A = c_skip I + a W.

    ``lr`` is one rate for all levels or one per level (e.g. :func:`adapted_lr`); ``initial``
    W₀ (default 0), shape (d, d) or (S, d, d). A level whose excess loss E_t becomes
    non-finite or passes ``divergence.level(E_0, E_0)`` (the :class:`lrctl.training.Divergence`
    rule on the excess loss, reference ``"initial"``, window 1; the default f = 10⁸ with floor
    0 is E_t > 10⁸·E_0) is marked diverged and stops. An
    excess below the round-off of the loss terms that cancel (10⁻¹³ of their size) is
    reported as 0. The closed-form prediction of the same curves is
    :func:`denoiser_learning_curve`.

    >>> run = train_denoiser([1.0, 4.0], [0.5, 2.0], 0.05, 20)
    >>> run.excess_loss.shape, bool(run.diverged.any())
    ((2, 21), False)
    """
    s, lam, Q, _, eta, w, skip, a, _ = _setup(covariance, sigma, lr, preconditioning,
                                              weighting, sigma_data, gamma)
    steps = check_int("steps", steps, minimum=0)
    rule = _divergence(divergence)
    d, S = lam.size, s.size
    W = np.zeros((S, d, d)) if initial is None else _weights_array("initial", initial, S, d)
    with np.errstate(all="ignore"):
        return _train(s, lam, Q, eta, w, skip, a, W, steps, rule)


def _start_check(start: np.ndarray) -> None:
    check_output(start, "sigma, covariance, lr and initial (the starting excess loss overflows)")


def _train(s, lam, Q, eta, w, skip, a, W, steps, rule) -> DenoiserTraining:
    d, S = lam.size, s.size
    Sigma = (Q * lam) @ Q.T
    M = Sigma[None] + s[:, None, None] ** 2 * np.eye(d)
    loss_min = np.sum(lam * s[:, None] ** 2 / (lam + s[:, None] ** 2), axis=1)
    eye = np.eye(d)

    def excess(A: np.ndarray, AM: np.ndarray) -> np.ndarray:
        quad = np.einsum("sij,sij->s", AM, A)
        cross = 2.0 * np.einsum("sij,ji->s", A, Sigma)
        e = quad - cross + lam.sum() - loss_min
        # below the round-off of the terms that cancel, the excess is indistinguishable from 0
        scale = quad + np.abs(cross) + lam.sum() + loss_min
        return np.where(e > 1e-13 * scale, e, 0.0)

    out = np.zeros((S, steps + 1))
    A = skip[:, None, None] * eye + a[:, None, None] * W
    AM = A @ M
    out[:, 0] = excess(A, AM)
    _start_check(out[:, 0])
    limit = rule._level_unchecked(out[:, 0], out[:, 0])  # inf where it overflows
    alive = np.ones(S, dtype=bool)
    diverged_at = np.full(S, -1)
    coef = (eta * w * 2.0 * a)[:, None, None]
    for t in range(1, steps + 1):
        grad = AM - Sigma[None]  # ∇_W L_σ / (2a)
        W = np.where(alive[:, None, None], W - coef * grad, W)
        A = skip[:, None, None] * eye + a[:, None, None] * W
        AM = A @ M
        e = excess(A, AM)
        bad = alive & (~np.isfinite(e) | (e > limit))
        diverged_at[bad] = t
        alive &= ~bad
        out[:, t] = np.where(alive, e, 0.0)
        if not alive.any():
            break
    return _result(s, eta, out, diverged_at)


def denoiser_learning_curve(covariance: ArrayLike, sigma: ArrayLike, lr: ArrayLike, steps: int, *,
                            preconditioning: str = "none", weighting: str = "none",
                            sigma_data: float | None = None, gamma: float = 5.0,
                            initial: ArrayLike | None = None,
                            divergence: Divergence = _DENOISER_DIVERGENCE) -> DenoiserTraining:
    r"""The excess loss of :func:`train_denoiser` in closed form, in the eigenbasis of Σ.

    With E₀ = W₀ − W* and Ẽ = E₀Q (Q the eigenvectors of Σ),

        L_σ(W_t) − min L_σ = a² Σ_j (λ_j + σ²) ‖Ẽ_{:, j}‖² (1 − 2 η_σ w a² (λ_j + σ²))^{2t}.

    Same result type and divergence rule as the simulation (the curve is masked from the first
    step above ``divergence.level(E_0, E_0)``, E_0 its start).

    >>> c = denoiser_learning_curve(1.0, 1.0, 0.125, 3)  # factor (1 − 2·0.125·2)² = 1/4 per step
    >>> c.relative_excess.compressed()
    array([1.      , 0.25    , 0.0625  , 0.015625])
    """
    s, lam, Q, sd, eta, w, _, a, pre = _setup(covariance, sigma, lr, preconditioning,
                                              weighting, sigma_data, gamma)
    steps = check_int("steps", steps, minimum=0)
    rule = _divergence(divergence)
    d, S = lam.size, s.size
    W0 = np.zeros((S, d, d)) if initial is None else _weights_array("initial", initial, S, d)
    with np.errstate(all="ignore"):
        return _curve(s, lam, Q, sd, eta, w, a, pre, W0, steps, rule)


def _curve(s, lam, Q, sd, eta, w, a, pre, W0, steps, rule) -> DenoiserTraining:
    # W* in the eigenbasis of Σ (a diagonal covariance), rotated back: Q W*_eig Qᵀ
    Wstar = np.einsum("ij,sjk,lk->sil", Q,
                      denoiser_optimum(lam, s, preconditioning=pre, sigma_data=sd), Q)
    E = np.einsum("sij,jk->sik", W0 - Wstar, Q)
    col = np.sum(E**2, axis=1)  # (S, d): ‖Ẽ_{:, j}‖²
    mode = lam[None, :] + s[:, None] ** 2
    amp = (a**2)[:, None] * mode * col  # (S, d)
    factor = (1.0 - 2.0 * (eta * w * a**2)[:, None] * mode) ** 2  # per step, squared
    t = np.arange(steps + 1)
    logf = np.log(np.where(factor > 0, factor, 1.0))
    terms = np.where(
        (factor[:, :, None] > 0) | (t[None, None, :] == 0),
        amp[:, :, None] * np.exp(logf[:, :, None] * t[None, None, :]),
        0.0,
    )
    curve = terms.sum(axis=1)
    _start_check(curve[:, 0])
    limit = rule._level_unchecked(curve[:, 0], curve[:, 0])  # inf where it overflows
    over = ~np.isfinite(curve) | (curve > limit[:, None])
    diverged_at = np.where(over.any(axis=1), np.argmax(over, axis=1), -1)
    return _result(s, eta, np.where(over, 0.0, curve), diverged_at)


# ---------------------------------------------------------------------------------------
# Derivation (sympy)
# ---------------------------------------------------------------------------------------


def _expect(expr, x, n, s):
    """E[expr] for a polynomial in x, n with E x = E n = E xn = 0, E x² = s, E n² = 1."""
    import sympy

    moments = {(0, 0): 1, (1, 0): 0, (0, 1): 0, (1, 1): 0, (2, 0): s, (0, 2): 1}
    poly = sympy.Poly(sympy.expand(expr), x, n)
    total = 0
    for (i, j), coeff in poly.terms():
        if (i, j) not in moments:  # pragma: no cover - the losses here are quadratic
            raise ValueError(f"moment x^{i} n^{j} is not defined by the model")
        total += coeff * moments[(i, j)]
    return sympy.simplify(total)


def derive_denoising_curvature(preconditioning: str = "none"):
    r"""Derive the curvature of the scalar denoising loss, plain (2(λ + σ²)) or EDM.

    Scalar data x with E x² = λ, noise n with E n² = 1, independent and zero-mean; the loss
    E[(D(x + σn) − x)²] with D = w·x̃ (``"none"``) or D = c_skip x̃ + c_out w c_in x̃ weighted by
    λ(σ) = 1/c_out² (``"edm"``), differentiated twice in the trainable w.

    >>> derive_denoising_curvature().result
    2*(lambda + sigma**2)
    >>> derive_denoising_curvature("edm").lambdify("lam", "sigma", "sigma_data")(0.25, 3.0, 0.5)
    2.0
    """
    import sympy

    from lrctl.derivation import Derivation

    preconditioning = check_choice("preconditioning", preconditioning, PRECONDITIONINGS)
    x, n, w = sympy.symbols("x n w", real=True)
    lam = sympy.Symbol("lambda", positive=True)
    sigma = sympy.Symbol("sigma", positive=True)
    sd = sympy.Symbol("sigma_d", positive=True)
    xt = x + sigma * n
    c_sym = sympy.Symbol("c_sigma")
    if preconditioning == "none":
        D = w * xt
        weight = sympy.Integer(1)
    else:
        c_skip = sd**2 / (sigma**2 + sd**2)
        c_out = sigma * sd / sympy.sqrt(sigma**2 + sd**2)
        c_in = 1 / sympy.sqrt(sigma**2 + sd**2)
        D = c_skip * xt + c_out * w * c_in * xt
        weight = 1 / c_out**2
    loss = _expect(weight * (D - x) ** 2, x, n, lam)
    curvature = sympy.factor(sympy.simplify(sympy.diff(loss, w, 2)))
    w_opt = sympy.simplify(sympy.solve(sympy.diff(loss, w), w)[0])
    loss_min = sympy.simplify(loss.subs(w, w_opt) / weight)
    steps: list[tuple[str, Any]] = [
        ("Denoiser output", sympy.Eq(sympy.Symbol("D"), D)),
        ("Moments of the data and the noise",
         sympy.Tuple(sympy.Eq(sympy.Symbol("E[x²]"), lam), sympy.Eq(sympy.Symbol("E[n²]"), 1),
                     sympy.Eq(sympy.Symbol("E[xn]"), 0))),
        ("Expected loss",
         sympy.Eq(sympy.Symbol("L"), sum(sympy.factor(cf) * w**k for k, cf in
                                         enumerate(reversed(sympy.Poly(loss, w).all_coeffs()))))),
        ("Second derivative in the trainable weight", sympy.Eq(c_sym, curvature)),
        ("Minimizer", sympy.Eq(sympy.Symbol("w^*"), w_opt)),
        ("Unweighted loss at the minimizer", sympy.Eq(sympy.Symbol("L^*"), loss_min)),
    ]
    if preconditioning == "edm":
        iso = sympy.simplify(curvature.subs(lam, sd**2))
        steps.append(("For data whose variance matches the preconditioning",
                      sympy.Eq(lam, sd**2)))
        steps.append(("the curvature is the same at every noise level", sympy.Eq(c_sym, iso)))
        steps.append(("Limits at low and at high noise",
                      sympy.Tuple(sympy.Eq(sympy.Limit(c_sym, sigma, 0), sympy.limit(curvature, sigma, 0)),
                                  sympy.Eq(sympy.Limit(c_sym, sigma, sympy.oo),
                                           sympy.limit(curvature, sigma, sympy.oo)))))
    else:
        # matrix case, d = 2: E‖W x̃ − x‖² = tr(W(Σ + σ²I)Wᵀ) − 2 tr(WΣ) + tr Σ, Hessian in
        # the column-stacked vec(W) against 2 (Σ + σ²I) ⊗ I
        s11, s12, s22 = sympy.symbols("Sigma_11 Sigma_12 Sigma_22", real=True)
        Sig = sympy.Matrix([[s11, s12], [s12, s22]])
        Wm = sympy.Matrix(2, 2, sympy.symbols("w_11 w_12 w_21 w_22", real=True))
        M = Sig + sigma**2 * sympy.eye(2)
        L2 = (Wm * M * Wm.T).trace() - 2 * (Wm * Sig).trace() + Sig.trace()
        vec = [Wm[0, 0], Wm[1, 0], Wm[0, 1], Wm[1, 1]]
        H2 = sympy.hessian(sympy.expand(L2), vec)
        kron = 2 * sympy.kronecker_product(M, sympy.eye(2))
        if sympy.simplify(H2 - kron) != sympy.zeros(4, 4):  # pragma: no cover - guards the algebra
            raise ArithmeticError("matrix Hessian is not 2 (Sigma + sigma^2 I) kron I")
        steps.append(("Matrix case in two dimensions: the expected loss of a linear denoiser",
                      sympy.Eq(sympy.Symbol("L_W"), sympy.Symbol("E‖W(x + σn) − x‖²"))))
        steps.append(("its Hessian in the stacked columns of the weight matrix", H2))
        steps.append(("equals a Kronecker product with the identity",
                      sympy.Eq(sympy.Symbol("H_W"), 2 * sympy.KroneckerProduct(
                          sympy.MatrixSymbol("Sigma", 2, 2) + sigma**2 * sympy.Identity(2),
                          sympy.Identity(2)))))
    return Derivation(
        title=("Curvature of the unweighted denoising loss of a linear denoiser"
               if preconditioning == "none"
               else "Curvature of the EDM-preconditioned, EDM-weighted denoising loss of a linear "
                    "denoiser"),
        result=curvature,
        statement=sympy.Eq(c_sym, curvature),
        steps=tuple(steps),
        assumptions=(
            "linear denoiser; data x and noise n independent, zero mean; E n² = 1",
            "λ is the data variance (an eigenvalue of the covariance in the matrix case)",
            "only second moments enter, so the result is exact for an empirical covariance",
        ) + (("EDM: c_skip, c_out, c_in of Karras et al. 2022, loss weight 1/c_out²",)
             if preconditioning == "edm" else ()),
        symbols={"lam": lam, "sigma": sigma, "sigma_data": sd},
    )
