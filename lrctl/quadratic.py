r"""The local quadratic model of training, numeric and symbolic.

Model. Near a minimizer θ*, L(θ) ≈ L* + ½ (θ − θ*)ᵀ H (θ − θ*) with H symmetric positive
semi-definite. Gradient descent with learning rate η makes the error e = θ − θ* evolve as

    e_{t+1} = (I − ηH) e_t,

so along the eigenvector of eigenvalue λ the error is multiplied by (1 − ηλ) each step. All
bounds here follow from that recursion (derivations: the ``derive_*`` functions, which return
:class:`lrctl.derivation.Derivation` objects that the tests hold the numeric code to).

Curvature arguments. Wherever a function takes ``curvature`` it accepts

- a scalar λ (one curvature direction),
- a 1-D array of eigenvalues,
- a symmetric matrix H (its spectrum is computed with ``eigvalsh``),
- a scipy ``LinearOperator`` or a Hessian-vector-product callable (with ``dim=``), whose
  extreme eigenvalues are found by Lanczos (:func:`lrctl.curvature.lanczos`, both ends) after a
  symmetry probe (two products: |u·(Hv) − v·(Hu)| must stay within 1e-6 of an estimate of
  ‖H‖ for random unit u, v; a non-symmetric operator is refused, since Lanczos would return a
  wrong eigenvalue and so a wrong bound).

``dim`` is checked whenever it is given (an int >= 1 that matches an array's size), ``True``
is not a number, and a result that would overflow float64 (2/λ_max for λ_max = 1e-308) is a
``ValueError`` naming the arguments instead of an inf.

Negative curvature is refused: on a direction with λ < 0, GD diverges at every η > 0, and no
learning-rate bound exists.

Symbols of the derivations, by the names ``Derivation.symbols`` and ``Derivation.lambdify``
take: ``eta`` learning rate, ``lam`` an eigenvalue (``lam_min``, ``lam_max`` the extreme
ones), ``rho`` the spectral radius ρ(H) = λ_max, ``L`` the loss above its minimum, ``wd`` the
decoupled weight decay, ``beta`` momentum. The sympy symbols themselves print as the Greek
letters they stand for (``lam`` is ``Symbol("lambda")``, shown ``lambda`` or λ), so substitute
by name through ``d.symbols["lam"]``, never by parsing a printed expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._validation import (
    check_bool,
    check_dim,
    check_finite,
    check_in_interval,
    check_output,
    check_positive,
    check_scalar,
)

__all__ = [
    "PolyakMomentum",
    "Spectrum",
    "decoupled_weight_decay_fixed_point",
    "derive_gd_stability",
    "derive_momentum_stability",
    "derive_optimal_lr",
    "derive_range_test_slope",
    "derive_weight_decay_equivalence",
    "equivalent_l2",
    "exact_range_test_slope",
    "gd_contraction",
    "gd_stability_bound",
    "gradient_weighted_curvature",
    "layerwise_lr_caps",
    "momentum_contraction",
    "momentum_stability_bound",
    "optimal_lr",
    "polyak_momentum",
    "range_test_slope",
    "sharpness_from_slope",
    "spectrum",
]

# Relative tolerance under which a slightly negative eigenvalue from round-off counts as 0.
_NEG_TOL = 1e-10


@dataclass(frozen=True)
class Spectrum:
    """The extreme eigenvalues of a curvature argument.

    ``eigenvalues`` is the full sorted spectrum when it is known (scalar, vector, matrix) and
    ``None`` when only the extremes were computed (operators, by Lanczos).
    """

    lam_min: float
    lam_max: float
    eigenvalues: np.ndarray | None = None

    @property
    def condition_number(self) -> float:
        """κ = λ_max/λ_min (inf when λ_min = 0)."""
        return float(np.inf) if self.lam_min == 0 else self.lam_max / self.lam_min


def _is_operator(curvature: Any) -> bool:
    if callable(curvature) and not isinstance(curvature, np.ndarray):
        return True
    try:
        from scipy.sparse.linalg import LinearOperator
    except ImportError:  # pragma: no cover
        return False
    return isinstance(curvature, LinearOperator)


def spectrum(curvature: Any, *, name: str = "curvature", dim: int | None = None,
             need_min: bool = True) -> Spectrum:
    """The extreme eigenvalues (and, when cheap, the whole spectrum) of ``curvature``.

    Raises ``ValueError`` for empty, non-finite, non-symmetric or negative curvature. An
    operator (callable with ``dim``, or a ``LinearOperator``) is first probed for symmetry
    (:func:`lrctl.curvature.as_linear_operator`: two products, |u·(Hv) − v·(Hu)| within 1e-6
    of an estimate of ‖H‖) and then run through Lanczos. ``dim`` is checked even when
    ``curvature`` is an array (it must then be ``None`` or match the matrix).

    >>> spectrum(np.array([[2.0, 0.0], [0.0, 8.0]])).lam_max
    8.0
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str (the argument name in messages), got {name!r}")
    dim = check_dim("dim", dim)
    need_min = check_bool("need_min", need_min)
    if _is_operator(curvature):
        from lrctl.curvature import _checked_operator, extreme_eigenvalue

        op = _checked_operator(curvature, dim, name)
        top = extreme_eigenvalue(op, which="LA").value
        low = extreme_eigenvalue(op, which="SA").value if need_min else 0.0
        scale = max(abs(top), abs(low), 1e-300)
        if low < -_NEG_TOL * scale:
            raise ValueError(
                f"{name} has a negative eigenvalue ({low:.6g}): gradient descent diverges along it "
                "at every learning rate; the quadratic bounds need positive semi-definite curvature"
            )
        if top <= 0:
            raise ValueError(f"{name} must have a positive largest eigenvalue, got {top:.6g}")
        return Spectrum(max(low, 0.0), top, None)
    arr = check_finite(name, curvature)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; give a scalar, eigenvalues, or a symmetric matrix")
    if arr.ndim == 2:
        if arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{name} must be a square symmetric matrix, got shape {arr.shape}")
        if dim is not None and dim != arr.shape[0]:
            raise ValueError(f"dim={dim} does not match {name}, a matrix of shape {arr.shape}")
        scale = max(float(np.abs(arr).max()), 1e-300)
        if not np.allclose(arr, arr.T, rtol=0.0, atol=1e-10 * scale):
            raise ValueError(f"{name} must be symmetric (a Hessian); got a non-symmetric matrix")
        # eigvalsh of a matrix scaled to max entry 1, rescaled: no overflow for huge entries
        eig = np.linalg.eigvalsh(0.5 * (arr + arr.T) / scale) * scale
    elif arr.ndim <= 1:
        if dim is not None and dim != arr.size:
            raise ValueError(f"dim={dim} does not match {name}, {arr.size} eigenvalue(s)")
        eig = np.sort(arr.ravel())
    else:
        raise ValueError(
            f"{name} must be a scalar, a 1-D array of eigenvalues or a 2-D symmetric matrix, "
            f"got an array of shape {arr.shape}"
        )
    scale = max(float(np.abs(eig).max()), 1e-300)
    if eig[0] < -_NEG_TOL * scale:
        raise ValueError(
            f"{name} has a negative eigenvalue ({eig[0]:.6g}): gradient descent diverges along it "
            "at every learning rate; the quadratic bounds need positive semi-definite curvature"
        )
    eig = np.clip(eig, 0.0, None)
    if eig[-1] <= 0:
        raise ValueError(f"{name} must have a positive largest eigenvalue, got {eig[-1]:.6g}")
    return Spectrum(float(eig[0]), float(eig[-1]), eig)


def _positive_lr(lr: ArrayLike, name: str = "lr") -> np.ndarray:
    return check_positive(name, lr)


# ---------------------------------------------------------------------------------------
# Gradient descent
# ---------------------------------------------------------------------------------------


def gd_stability_bound(curvature: Any, *, dim: int | None = None) -> float:
    r"""The largest stable constant learning rate of gradient descent, 2/λ_max.

    On the quadratic model the error along eigenvalue λ evolves as e ← (1 − ηλ)e, which
    contracts iff |1 − ηλ| < 1, i.e. 0 < η < 2/λ. All directions contract iff
    η < 2/λ_max (:func:`derive_gd_stability`).

    For an operator only λ_max is computed (one Lanczos run, ``which='LA'``); a negative
    eigenvalue elsewhere in its spectrum is not detected here (that would take a second
    run): call :func:`spectrum` to check. Arrays and matrices are always checked.

    >>> gd_stability_bound([0.5, 4.0])
    0.5
    """
    with np.errstate(over="ignore"):
        out = 2.0 / spectrum(curvature, dim=dim, need_min=False).lam_max
    return float(check_output(out, "curvature (λ_max is too small: 2/λ_max overflows)"))


def gd_contraction(curvature: Any, lr: ArrayLike, *, dim: int | None = None) -> np.ndarray | float:
    r"""Spectral radius of the GD iteration matrix, ρ(I − ηH) = max_i |1 − ηλ_i|.

    Since |1 − ηλ| is convex in λ, the maximum sits at λ_min or λ_max:
    ρ = max(|1 − ηλ_min|, |1 − ηλ_max|). Vectorized over ``lr``. GD converges iff ρ < 1.

    >>> gd_contraction([1.0, 3.0], [0.25, 0.5, 1.0])
    array([0.75, 0.5 , 2.  ])
    """
    s = spectrum(curvature, dim=dim)
    eta = _positive_lr(lr)
    with np.errstate(over="ignore", invalid="ignore"):
        rho = np.maximum(np.abs(1 - eta * s.lam_min), np.abs(1 - eta * s.lam_max))
    check_output(rho, "lr and curvature (η·λ_max overflows)")
    return float(rho) if rho.ndim == 0 else rho


def optimal_lr(curvature: Any, *, dim: int | None = None) -> tuple[float, float]:
    r"""The constant learning rate that minimizes ρ(I − ηH), and that contraction.

    η* = 2/(λ_min + λ_max) and ρ* = (κ − 1)/(κ + 1) with κ = λ_max/λ_min
    (:func:`derive_optimal_lr`). When λ_min = 0, ρ* = 1: no constant rate contracts the flat
    direction.

    >>> optimal_lr([1.0, 3.0])
    (0.5, 0.5)
    """
    s = spectrum(curvature, dim=dim)
    with np.errstate(over="ignore"):
        total = s.lam_min + s.lam_max
        if np.isfinite(total):
            eta, rho = 2.0 / total, (s.lam_max - s.lam_min) / total
        else:  # both near the float64 limit: divide by λ_max first
            ratio = s.lam_min / s.lam_max
            eta, rho = 2.0 / s.lam_max / (1.0 + ratio), (1.0 - ratio) / (1.0 + ratio)
    check_output(eta, "curvature (λ_max is too small: 2/(λ_min + λ_max) overflows)")
    return float(eta), float(rho)


# ---------------------------------------------------------------------------------------
# Heavy-ball momentum
# ---------------------------------------------------------------------------------------


def _momentum(momentum: ArrayLike) -> np.ndarray:
    return check_in_interval("momentum", momentum, 0.0, 1.0, low_closed=True, high_closed=False)


def momentum_stability_bound(curvature: Any, momentum: ArrayLike, *,
                             dim: int | None = None) -> np.ndarray | float:
    r"""The largest stable learning rate of heavy-ball momentum, 2(1 + β)/λ_max.

    Heavy ball: θ_{t+1} = θ_t − η∇L(θ_t) + β(θ_t − θ_{t−1}). Per eigenvalue the error obeys
    z² − (1 + β − ηλ) z + β = 0; by the Jury conditions both roots lie inside the unit circle
    iff 0 ≤ β < 1 and 0 < ηλ < 2(1 + β) (:func:`derive_momentum_stability`). Vectorized over
    ``momentum`` ∈ [0, 1).

    >>> momentum_stability_bound(4.0, 0.9)
    0.95
    """
    beta = _momentum(momentum)
    lam_max = spectrum(curvature, dim=dim, need_min=False).lam_max
    with np.errstate(over="ignore"):
        out = 2.0 * (1.0 + beta) / lam_max
    check_output(out, "curvature (λ_max is too small: 2(1 + β)/λ_max overflows)")
    return float(out) if out.ndim == 0 else out


def _heavy_ball_radius(trace: np.ndarray, beta: np.ndarray) -> np.ndarray:
    r"""Largest root modulus of z² − t z + β (β ∈ [0, 1)), without forming t² (no overflow).

    With a = |t|/2 and s = √β: complex roots (a < s) have modulus √β; real roots (a >= s) have
    largest modulus a + √(a² − β) = a·(1 + √((1 − s/a)(1 + s/a))).
    """
    a = 0.5 * np.abs(trace)
    s = np.sqrt(beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(a > 0, s / np.where(a > 0, a, 1.0), np.inf)
        real = a * (1.0 + np.sqrt(np.clip((1.0 - q) * (1.0 + q), 0.0, None)))
    return np.where(a >= s, real, s)


def momentum_contraction(curvature: Any, lr: ArrayLike, momentum: ArrayLike, *,
                         dim: int | None = None) -> np.ndarray | float:
    r"""Spectral radius of the heavy-ball iteration, broadcast over ``lr`` and ``momentum``.

    Per eigenvalue λ the iteration matrix [[1 + β − ηλ, −β], [1, 0]] has eigenvalues the
    roots of z² − t z + β with t(λ) = 1 + β − ηλ; the spectral radius of the whole iteration
    is the largest root modulus over the spectrum.

    Only the extreme eigenvalues matter. The largest root modulus is r = g(|t|) with
    g(u) = √β for u <= 2√β (complex roots) and g(u) = (u + √(u² − 4β))/2 beyond (real roots),
    a non-decreasing function of u >= 0. The map λ ↦ |t(λ)| = |1 + β − ηλ| is convex (the
    absolute value of an affine function), so its maximum over the spectrum ⊂ [λ_min, λ_max]
    is attained at λ_min or λ_max; since g is non-decreasing, max_λ g(|t(λ)|) =
    g(max_λ |t(λ)|) is attained there too. So ρ = max(r(λ_min), r(λ_max)) exactly, for a
    full spectrum as for an operator (``benchmarks/bench_momentum_contraction.py`` measures
    the saving against evaluating every eigenvalue). The root modulus is computed without
    squaring t, so huge finite inputs do not overflow unless η·λ_max itself does (then a
    ``ValueError`` names ``lr`` and ``curvature``).

    >>> round(float(momentum_contraction(1.0, 1.0, 0.0)), 12)
    0.0
    >>> round(float(momentum_contraction([1.0, 9.0], 0.25, 0.25)), 12)  # Polyak: √β = 0.5
    0.5
    """
    s = spectrum(curvature, dim=dim)
    eta = _positive_lr(lr)
    beta = _momentum(momentum)
    lams = np.array([s.lam_min, s.lam_max])
    eta_b, beta_b = np.broadcast_arrays(eta, beta)
    with np.errstate(over="ignore", invalid="ignore"):
        trace = 1.0 + beta_b[..., None] - eta_b[..., None] * lams  # shape (..., 2)
    check_output(trace, "lr and curvature (η·λ_max overflows)")
    r = _heavy_ball_radius(trace, beta_b[..., None]).max(axis=-1)
    return float(r) if r.ndim == 0 else r


@dataclass(frozen=True)
class PolyakMomentum:
    """Polyak's optimal heavy-ball parameters for a spectrum in [λ_min, λ_max]."""

    lr: float
    momentum: float
    contraction: float


def polyak_momentum(curvature: Any, *, dim: int | None = None) -> PolyakMomentum:
    r"""Polyak's optimal heavy ball: η* = 4/(√λ_max + √λ_min)², β* = ((√κ − 1)/(√κ + 1))².

    The asymptotic contraction per step is √β* = (√κ − 1)/(√κ + 1), against (κ − 1)/(κ + 1)
    for the best plain GD (Polyak 1964, "Some methods of speeding up the convergence of
    iteration methods"). Needs λ_min > 0.

    >>> p = polyak_momentum([1.0, 9.0])
    >>> p.lr, p.momentum, p.contraction
    (0.25, 0.25, 0.5)
    """
    s = spectrum(curvature, dim=dim)
    if s.lam_min <= 0:
        raise ValueError("polyak_momentum needs λ_min > 0 (a strongly convex quadratic)")
    a, b = np.sqrt(s.lam_min), np.sqrt(s.lam_max)
    beta = ((b - a) / (b + a)) ** 2
    with np.errstate(over="ignore"):
        lr = 4.0 / (a + b) ** 2
    check_output(lr, "curvature (λ_max is too small: 4/(√λ_min + √λ_max)² overflows)")
    return PolyakMomentum(float(lr), float(beta), float(np.sqrt(beta)))


# ---------------------------------------------------------------------------------------
# The learning-rate range test
# ---------------------------------------------------------------------------------------


def range_test_slope(lr: ArrayLike, loss: ArrayLike, sharpness: ArrayLike) -> np.ndarray | float:
    r"""Small-η slope of the loss against ln η in a range test: dL/d ln η ≈ −2·η·L·ρ.

    ``loss`` is the loss above its minimum, L − L*. Exact for a gradient aligned with the top
    eigenvector, to first order in η (:func:`derive_range_test_slope`; the exact one-step slope
    is :func:`exact_range_test_slope`). Broadcasts.

    >>> range_test_slope(1e-3, 2.0, 10.0)
    -0.04
    """
    eta = _positive_lr(lr)
    L = check_positive("loss", loss, allow_zero=True)
    rho = check_positive("sharpness", sharpness, allow_zero=True)
    with np.errstate(over="ignore", invalid="ignore"):
        out = -2.0 * eta * L * rho
    check_output(out, "lr, loss and sharpness (their product overflows)")
    return float(out) if out.ndim == 0 else out


def sharpness_from_slope(slope: ArrayLike, lr: ArrayLike, loss: ArrayLike) -> np.ndarray | float:
    r"""Invert the range-test slope: ρ̂ = −s/(2ηL).

    With the gradient aligned with the top eigenvector, ρ̂ = λ_max. In general it estimates
    the gradient-weighted curvature ‖g‖²/(2L) (:func:`gradient_weighted_curvature`), which lies
    between λ_min and λ_max. A positive slope gives a negative ρ̂: the sweep is past the
    descent range, and the small-η formula does not apply there.

    >>> sharpness_from_slope(-0.04, 1e-3, 2.0)
    10.0
    """
    s = check_finite("slope", slope)
    eta = _positive_lr(lr)
    L = check_positive("loss", loss)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        out = -s / (2.0 * eta * L)
    check_output(out, "slope, lr and loss (2·η·L underflows or overflows)")
    return float(out) if out.ndim == 0 else out


def exact_range_test_slope(grad: ArrayLike, curvature: Any, lr: ArrayLike) -> np.ndarray | float:
    r"""The exact slope of the loss after one GD step against ln η, on the quadratic model.

    One step: L(θ − ηg) = L(θ) − η‖g‖² + ½η² gᵀHg, so

        dL/d ln η = η·dL/dη = −η‖g‖² + η² gᵀHg.

    ``curvature`` is the Hessian matrix (or a Hessian-vector-product callable). Vectorized
    over ``lr``.

    >>> exact_range_test_slope([1.0, 0.0], np.diag([2.0, 1.0]), 0.1)
    -0.08
    """
    g = check_finite("grad", grad)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"grad must be a non-empty 1-D array, got shape {g.shape}")
    if _is_operator(curvature):
        from lrctl.curvature import _checked_operator

        op = _checked_operator(curvature, g.size, "curvature")
        Hg = np.asarray(op.matvec(g), dtype=float).ravel()
        if Hg.shape != g.shape or not np.all(np.isfinite(Hg)):
            raise ValueError("curvature returned a non-finite or mis-shaped product for grad")
    else:
        H = check_finite("curvature", curvature)
        if H.shape != (g.size, g.size):
            raise ValueError(f"curvature must be a {g.size}x{g.size} matrix to match grad, got "
                             f"shape {H.shape}")
        spectrum(H, name="curvature")  # symmetric positive semi-definite, like every H here
        Hg = H @ g
    eta = _positive_lr(lr)
    with np.errstate(over="ignore", invalid="ignore"):
        out = -eta * (g @ g) + eta**2 * (g @ Hg)
    check_output(out, "lr, grad and curvature (η²·gᵀHg overflows)")
    return float(out) if np.ndim(out) == 0 else out


def gradient_weighted_curvature(grad: ArrayLike, loss: float) -> float:
    r"""‖g‖²/(2L): the curvature that the small-η range-test slope actually measures.

    On the quadratic with g = He and L = ½eᵀHe, ‖g‖²/(2L) = eᵀH²e/eᵀHe, a Rayleigh quotient
    of H in the inner product weighted by H, so it lies in [λ_min, λ_max] and equals λ_max only
    when e (equivalently g) lies in the top eigenspace.

    >>> gradient_weighted_curvature([2.0, 0.0], 1.0)
    2.0
    """
    g = check_finite("grad", grad)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"grad must be a non-empty 1-D array, got shape {g.shape}")
    L = check_scalar("loss", loss)
    if L <= 0:
        raise ValueError(f"loss (above its minimum) must be > 0, got {loss!r}")
    scale = float(np.abs(g).max())
    if scale == 0.0:
        return 0.0
    with np.errstate(over="ignore", under="ignore"):
        u = g / scale  # ‖g‖²/(2L) = scale²·‖u‖²/(2L), without overflowing ‖g‖²
        out = (scale * float(u @ u)) * (scale / (2.0 * L))
    return float(check_output(out, "grad and loss (‖g‖²/(2L) overflows)"))


# ---------------------------------------------------------------------------------------
# Weight decay
# ---------------------------------------------------------------------------------------


def equivalent_l2(weight_decay: ArrayLike, lr: ArrayLike) -> np.ndarray | float:
    r"""The L2 coefficient equivalent to decoupled weight decay: α = λ/η.

    Decoupled weight decay θ ← (1 − λ)θ − η∇L equals GD on L + (α/2)‖θ‖²,
    θ ← θ − η(∇L + αθ), exactly when ηα = λ (:func:`derive_weight_decay_equivalence`). So with
    λ fixed, retuning η changes the effective L2 strength; keeping λ/η fixed keeps it.
    Broadcasts.

    >>> equivalent_l2(1e-4, 1e-2)
    0.01
    """
    wd = check_positive("weight_decay", weight_decay, allow_zero=True)
    eta = _positive_lr(lr)
    with np.errstate(over="ignore", invalid="ignore"):
        out = wd / eta
    check_output(out, "weight_decay and lr (λ/η overflows)")
    return float(out) if out.ndim == 0 else out


def decoupled_weight_decay_fixed_point(hessian: ArrayLike, minimizer: ArrayLike,
                                       weight_decay: float, lr: float) -> np.ndarray:
    r"""Where GD with decoupled weight decay settles on the quadratic model.

    The fixed point of θ ← (1 − λ)θ − ηH(θ − θ*) solves (H + (λ/η) I) θ = H θ*, the
    minimizer of the L2-regularized loss with α = λ/η.

    >>> decoupled_weight_decay_fixed_point(np.eye(2), [1.0, 2.0], 0.01, 0.01)
    array([0.5, 1. ])
    """
    H = check_finite("hessian", hessian)
    m = check_finite("minimizer", minimizer)
    spectrum(H, name="hessian")
    wd = check_positive("weight_decay", check_scalar("weight_decay", weight_decay), allow_zero=True)
    eta = check_positive("lr", check_scalar("lr", lr))
    alpha = float(equivalent_l2(wd, eta))
    if H.ndim <= 1:
        # eigenvalues (or one curvature): H = diag(h) in the eigenbasis, θ_i = h_i θ*_i/(h_i + α)
        h = np.broadcast_to(H.ravel(), m.shape) if H.size == 1 and m.ndim == 1 else H.ravel()
        if m.shape != h.shape:
            raise ValueError(f"minimizer must have shape {h.shape} to match the hessian "
                             f"eigenvalues, got {m.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            out = h * m / (h + alpha)
        return check_output(out, "hessian, minimizer, weight_decay and lr")
    if m.shape != (H.shape[0],):
        raise ValueError(f"minimizer must have shape ({H.shape[0]},) to match hessian, got {m.shape}")
    scale = max(float(np.abs(H).max()), alpha)
    # (H + αI)θ = Hθ*, scaled by 1/max(|H|, α) so that huge entries do not overflow the solve
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.linalg.solve((H + alpha * np.eye(H.shape[0])) / scale, (H / scale) @ m)
    return check_output(out, "hessian, minimizer, weight_decay and lr")


# ---------------------------------------------------------------------------------------
# Layer-wise caps
# ---------------------------------------------------------------------------------------


def layerwise_lr_caps(blocks: Any, fraction: float = 1.0) -> np.ndarray:
    r"""Per-block learning-rate caps η_ℓ = fraction · 2/λ_max(H_ℓ).

    ``blocks`` is a sequence of curvature arguments, one per parameter block (layer): the
    diagonal blocks H_ℓ of the Hessian, their eigenvalues, scalars, or operators. For a
    block-diagonal H these caps make every block stable; with coupling between blocks they
    are a heuristic (the off-diagonal blocks shift the spectrum), which the layer-wise
    analysis checks on a real network.

    >>> layerwise_lr_caps([4.0, np.diag([1.0, 2.0])], fraction=0.5)
    array([0.25, 0.5 ])
    """
    if isinstance(blocks, (str, bytes, dict)) or not hasattr(blocks, "__len__") or (
            isinstance(blocks, np.ndarray) and blocks.ndim == 0):
        raise TypeError(f"blocks must be a sequence of curvature arguments, got {type(blocks).__name__}")
    if len(blocks) == 0:
        raise ValueError("blocks is empty; give one curvature argument per layer")
    frac = check_in_interval("fraction", check_scalar("fraction", fraction), 0.0, 1.0,
                             low_closed=False, high_closed=True)
    lam = np.array([spectrum(b, name=f"blocks[{i}]", need_min=False).lam_max
                    for i, b in enumerate(blocks)])
    with np.errstate(over="ignore"):
        out = float(frac) * 2.0 / lam
    return check_output(out, "blocks (a λ_max is too small: 2/λ_max overflows)")


# ---------------------------------------------------------------------------------------
# Derivations (sympy)
# ---------------------------------------------------------------------------------------


def _sym():
    import sympy

    eta = sympy.Symbol("eta", positive=True)
    lam = sympy.Symbol("lambda", positive=True)
    return sympy, eta, lam


def derive_gd_stability():
    r"""Derive η < 2/λ from the scalar GD recursion e_{t+1} = (1 − ηλ) e_t.

    >>> d = derive_gd_stability()
    >>> d.result
    2/lambda
    """
    from lrctl.derivation import Derivation

    sympy, eta, lam = _sym()
    e = sympy.Function("e")
    t = sympy.Symbol("t", integer=True, nonnegative=True)
    factor = 1 - eta * lam
    # |1 − ηλ| < 1  ⇔  −1 < 1 − ηλ < 1; with η, λ > 0 the right inequality always holds.
    sol = sympy.solve_univariate_inequality(sympy.Abs(factor) < 1, eta, relational=False)
    bound = sympy.simplify(sol.sup)
    return Derivation(
        title="Gradient descent stability on the quadratic model",
        result=bound,
        statement=sympy.Lt(eta, bound),
        steps=(
            ("Quadratic loss along one eigenvector", sympy.Eq(sympy.Symbol("L"), lam * e(t) ** 2 / 2)),
            ("One GD step multiplies the error", sympy.Eq(e(t + 1), factor * e(t))),
            ("The error contracts iff", sympy.Abs(factor) < 1),
            ("Solved for the learning rate", sympy.And(sympy.Gt(eta, sol.inf), sympy.Lt(eta, bound))),
            ("All directions contract iff the steepest does", sympy.Lt(eta, 2 / sympy.Symbol("lambda_max", positive=True))),
        ),
        assumptions=(
            "loss locally quadratic with Hessian H (positive semi-definite)",
            "full-batch gradient descent with a constant learning rate η > 0",
            "λ > 0 is an eigenvalue of H; the bound uses the largest, λmax",
        ),
        symbols={"eta": eta, "lam": lam},
    )


def derive_optimal_lr():
    r"""Derive η* = 2/(λ_min + λ_max) and ρ* = (κ − 1)/(κ + 1) by equalizing the extremes."""
    from lrctl.derivation import Derivation

    sympy, eta, _ = _sym()
    m = sympy.Symbol("lambda_min", positive=True)
    M = sympy.Symbol("lambda_max", positive=True)
    kappa = sympy.Symbol("kappa", positive=True)
    # ρ(η) = max(|1 − ηm|, |1 − ηM|) is minimized where 1 − ηm = −(1 − ηM).
    eq = sympy.Eq(1 - eta * m, -(1 - eta * M))
    eta_star = sympy.solve(eq, eta)[0]
    rho_star = sympy.simplify(1 - eta_star * m)
    rho_kappa = sympy.simplify(rho_star.subs(M, kappa * m))
    return Derivation(
        title="Optimal constant learning rate on the quadratic model",
        result=eta_star,
        statement=sympy.Eq(sympy.Symbol("eta^*"), eta_star),
        steps=(
            ("Contraction per step", sympy.Eq(sympy.Symbol("rho"), sympy.Max(sympy.Abs(1 - eta * m), sympy.Abs(1 - eta * M)))),
            ("The max of the two is smallest where they balance", eq),
            ("Optimal rate", sympy.Eq(sympy.Symbol("eta^*"), eta_star)),
            ("Optimal contraction", sympy.Eq(sympy.Symbol("rho^*"), rho_star)),
            ("The condition number", sympy.Eq(kappa, M / m)),
            ("In terms of the condition number", sympy.Eq(sympy.Symbol("rho^*"), rho_kappa)),
        ),
        assumptions=("H positive definite with extreme eigenvalues λmin < λmax",),
        symbols={"lam_min": m, "lam_max": M},
    )


def derive_momentum_stability():
    r"""Derive η < 2(1 + β)/λ for heavy-ball momentum from the Jury conditions."""
    from lrctl.derivation import Derivation

    sympy, eta, lam = _sym()
    beta = sympy.Symbol("beta", nonnegative=True)
    z = sympy.Symbol("z")
    pz = sympy.Function("p")
    p = z**2 - (1 + beta - eta * lam) * z + beta
    # Jury conditions for a monic quadratic z² + a1 z + a0: p(1) > 0, p(−1) > 0, |a0| < 1.
    p1 = sympy.expand(p.subs(z, 1))
    pm1 = sympy.expand(p.subs(z, -1))
    bound = sympy.solve(sympy.Eq(pm1, 0), eta)[0]
    return Derivation(
        title="Heavy-ball momentum stability on the quadratic model",
        result=bound,
        statement=sympy.Lt(eta, bound),
        steps=(
            ("Characteristic polynomial of the error along one eigenvector", sympy.Eq(pz(z), p)),
            ("First Jury condition, the polynomial at one", sympy.Gt(pz(1), 0)),
            ("which reads", sympy.Gt(p1, 0, evaluate=False)),
            ("Second Jury condition, the polynomial at minus one", sympy.Gt(pz(-1), 0)),
            ("which reads", sympy.Gt(pm1, 0)),
            ("Third Jury condition, on the constant term", sympy.Lt(sympy.Abs(beta), 1)),
            ("The second condition solved for the learning rate", sympy.Lt(eta, bound)),
        ),
        assumptions=(
            "quadratic loss, heavy ball θ′ = θ − η∇L + β(θ − θ_prev)",
            "0 ≤ β < 1; λ > 0, the bound uses λmax",
        ),
        symbols={"eta": eta, "lam": lam, "beta": beta},
    )


def derive_range_test_slope():
    r"""Derive the range-test slope: exact −η‖g‖² + η² gᵀHg, and −2ηLρ when g ∥ top eigenvector."""
    from lrctl.derivation import Derivation

    sympy, eta, _ = _sym()
    G2, gHg, L0 = sympy.symbols("gg gHg L", positive=True)  # ‖g‖², gᵀHg, L − L*
    slope = sympy.Symbol("s")  # s = dL/d ln η
    L1 = sympy.Symbol("L_1")  # loss after one step
    rho = sympy.Symbol("rho", positive=True)
    c = sympy.Symbol("c", positive=True)
    loss_after = L0 - eta * G2 + eta**2 * gHg / 2
    slope_exact = sympy.expand(eta * sympy.diff(loss_after, eta))
    slope_first_order = sympy.expand(slope_exact.subs(gHg, 0))
    # Aligned: e = c·v_max ⇒ g = ρ c v_max, L = ρ c²/2, ‖g‖² = ρ² c² = 2ρL, gᵀHg = ρ³c².
    aligned = {G2: rho**2 * c**2, gHg: rho**3 * c**2}
    L_aligned = rho * c**2 / 2
    slope_aligned = sympy.factor(slope_exact.subs(aligned))
    result = sympy.simplify(-2 * eta * L0 * rho)
    check = sympy.simplify(slope_first_order.subs(aligned) - result.subs(L0, L_aligned))
    if check != 0:  # pragma: no cover - guards the derivation itself
        raise ArithmeticError(f"aligned slope does not reduce to -2*eta*L*rho: {check}")
    return Derivation(
        title="Range-test slope on the quadratic model",
        result=result,
        statement=sympy.Eq(slope, result),
        steps=(
            ("Shorthands: the squared gradient norm and the curvature along the gradient",
             sympy.Tuple(sympy.Eq(G2, sympy.Symbol("‖g‖") ** 2), sympy.Eq(gHg, sympy.Symbol("gᵀHg")))),
            ("Loss after one gradient step, exact on the quadratic model", sympy.Eq(L1, loss_after)),
            ("The slope is the derivative in the log learning rate",
             sympy.Eq(slope, eta * sympy.Derivative(sympy.Function("L_1")(eta), eta))),
            ("Exact slope", sympy.Eq(slope, slope_exact)),
            ("To first order in the learning rate", sympy.Eq(slope, slope_first_order)),
            ("Gradient along the top eigenvector, at distance c from the minimum",
             sympy.Tuple(sympy.Eq(sympy.Symbol("g"), rho * c * sympy.Symbol("v_max")),
                         sympy.Eq(L0, L_aligned))),
            ("so its squared norm is", sympy.Eq(G2, 2 * rho * L0)),
            ("Aligned, exact", sympy.Eq(slope, slope_aligned)),
            ("Aligned, first order", sympy.Eq(slope, result)),
            ("Otherwise the top eigenvalue is replaced by the gradient-weighted curvature", sympy.Eq(sympy.Symbol("rho_g"), G2 / (2 * L0))),
        ),
        assumptions=(
            "loss locally quadratic; L is the loss above its minimum",
            "one GD step from θ at each learning rate of the sweep",
            "η small (ηρ ≪ 1) for the first-order form",
            "ρ = λmax only when the gradient lies in the top eigenspace",
        ),
        symbols={"eta": eta, "L": L0, "rho": rho},
    )


def derive_weight_decay_equivalence():
    r"""Derive α = λ/η: decoupled weight decay as L2 regularization."""
    from lrctl.derivation import Derivation

    sympy, eta, _ = _sym()
    wd = sympy.Symbol("wd", positive=True)
    alpha = sympy.Symbol("alpha", positive=True)
    theta, g = sympy.symbols("theta g")
    decoupled = (1 - wd) * theta - eta * g
    coupled = theta - eta * (g + alpha * theta)
    sol = sympy.solve(sympy.Eq(sympy.expand(decoupled), sympy.expand(coupled)), alpha)[0]
    H, ts = sympy.symbols("h theta^*", positive=True)
    fixed = sympy.solve(sympy.Eq(theta, (1 - wd) * theta - eta * H * (theta - ts)), theta)[0]
    return Derivation(
        title="Decoupled weight decay as L2 regularization",
        result=sol,
        statement=sympy.Eq(alpha, sol),
        steps=(
            ("Decoupled weight decay step", sympy.Eq(sympy.Symbol("theta'"), decoupled)),
            ("Loss with an L2 penalty", sympy.Eq(sympy.Symbol("L_alpha"), sympy.Symbol("L") + alpha / 2 * theta**2)),
            ("A gradient step on it", sympy.Eq(sympy.Symbol("theta'"), coupled)),
            ("The two steps agree for every parameter and gradient exactly when", sympy.Eq(alpha, sol)),
            ("Fixed point on a one-dimensional quadratic of curvature h", sympy.Eq(sympy.Symbol("theta_inf"), sympy.simplify(fixed))),
        ),
        assumptions=(
            "plain (S)GD; for adaptive optimizers the equivalence is per coordinate and breaks",
            "weight decay applied as θ ← (1 − wd)θ each step, not scaled by η",
        ),
        symbols={"wd": wd, "eta": eta},
    )

