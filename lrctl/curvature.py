r"""Hessian spectra from Hessian-vector products.

The curvature of a training problem enters every learning-rate bound through the extreme
eigenvalues of its Hessian H: GD is stable for η < 2/λ_max (:mod:`lrctl.quadratic`). For
problems too large to form H, lrctl works with a Hessian-vector product v ↦ Hv, given as a
callable plus the dimension, a scipy ``LinearOperator``, a square array, or built from an
objective with :func:`hessian_operator`. Every result counts the Hessian-vector products it
used (``n_products``): a product costs about two gradient evaluations, so the count is the cost.

What is here
------------
- :func:`lanczos`: the library's one Lanczos (full re-orthogonalization): the k largest and/or
  smallest eigenvalues from one Krylov space, each with a certified error bound (Kato–Temple
  ‖r‖²/δ under a stated gap assumption, else the residual ‖r‖), counting products.
- :func:`top_eigenvalue`: λ_max, the largest *algebraic* eigenvalue, by :func:`lanczos` (the
  default), ARPACK's ``eigsh`` (``method='arpack'``) or power iteration (``method='power'``).
  The default is :func:`lanczos` because it used fewer products than ARPACK on every problem
  measured (``benchmarks/bench_lanczos.py``: 1.5–1.8× fewer at tol 1e-10; ARPACK spends about
  20 products before its first convergence test).
- :func:`extreme_eigenvalue`: λ_max or λ_min by Lanczos.
- :func:`top_eigenvalues`: the k largest (or smallest) eigenvalues and their vectors.
- :func:`hutchinson_trace`: tr H from Rademacher probes, with a confidence interval.
- :func:`block_spectra`: the top eigenvalues of each diagonal block H_ℓℓ (a layer's
  curvature), from full Hessian-vector products of block-padded vectors.

Largest algebraic vs largest magnitude
--------------------------------------
Plain power iteration v ← Hv/‖Hv‖ converges to the eigenvalue of largest *magnitude*. On an
indefinite H (a saddle, or a Hessian away from a minimum) that may be λ_min < 0, not λ_max;
the GD bound needs λ_max. :func:`top_eigenvalue` with ``method='power'`` therefore works on the
shifted operator H − σI, whose eigenvalues are λ_i − σ:

1. it iterates with σ = 0 (or the ``shift`` given). If it converges to μ ≥ 0, the dominant
   eigenvalue of H − σI is λ_max − σ, and λ_max = σ + μ.
2. If it converges to μ < 0, then σ + μ = λ_min. With the new shift σ = λ_min the operator
   H − λ_min I is positive semi-definite, its dominant eigenvalue is λ_max − λ_min, and a second
   run returns λ_max. It need not wait that long: ν_k = ‖(H − σI)v_k‖ grows monotonically to
   the spectral radius, so once it stalls (relative growth < 1e-3 per step) while the Rayleigh
   quotient is negative, the shift moves down by ν_k, which makes the operator (about) positive
   semi-definite even when λ_min is clustered and its eigenvector converges slowly.
3. If two eigenvalues of opposite sign have (nearly) the same magnitude ±ν, the iterates
   alternate between two directions instead of settling: consecutive iterates stay apart while
   every second one coincides. On detecting that, the shift moves down by ν̂ = ‖(H − σI)v‖
   (an estimate of ν), which makes the operator positive semi-definite as well.

The shift changes the rate: power iteration converges like ((λ_2 − σ)/(λ_max − σ))^k, so it
is slowest when the top gap is small relative to λ_max − σ. Lanczos needs no shift (it
builds the Krylov space, whose Ritz values approximate both ends of the spectrum) and on a
spectrum whose top gap is a fraction γ of its width it converges in O(1/√γ) products instead
of power iteration's O(1/γ) (``benchmarks/bench_lanczos.py`` measures the ratio).

The analysis ``range-test`` compares these Lanczos eigenvalues with the curvature read off a
learning-rate range test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl._validation import (
    as_rng,
    check_choice,
    check_dim,
    check_in_interval,
    check_int,
    check_output,
    check_scalar,
    check_tol,
)

__all__ = [
    "BlockSpectra",
    "EigenResult",
    "Eigenpairs",
    "LanczosResult",
    "TraceEstimate",
    "as_linear_operator",
    "block_spectra",
    "extreme_eigenvalue",
    "hessian_operator",
    "hutchinson_trace",
    "lanczos",
    "top_eigenvalue",
    "top_eigenvalues",
]

_METHODS = ("lanczos", "arpack", "power")
_LANCZOS_METHODS = ("lanczos", "arpack")
_DEFAULT_POWER_BUDGET = 10_000
#: Largest operator formed column by column when ARPACK fails (the zero operator).
_DENSE_FALLBACK_MAX = 5_000
#: Relative tolerance of the symmetry probe |u·(Hv) − v·(Hu)| <= _SYM_TOL·√n·max(‖Hu‖_∞, ‖Hv‖_∞)
#: for unit u, v. Float64 Hessian-vector products are symmetric to ~1e-15 relative, float32
#: ones to ~1e-7; a genuinely non-symmetric operator differs at O(1).
_SYM_TOL = 1e-6


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EigenResult:
    """An eigenvalue estimate.

    Attributes
    ----------
    value
        The eigenvalue.
    vector
        A unit eigenvector.
    n_products
        Hessian-vector products used.
    method
        ``"lanczos"``, ``"arpack"``, ``"power"`` or ``"dense"`` (``method='arpack'`` on a tiny
        operator, or one on which ARPACK
        fails, such as the zero operator: formed column by column, ``dim`` products).
    history
        Power iteration only: the eigenvalue estimate σ + vᵀ(H − σI)v after every product (the
        Rayleigh quotient of H at the current iterate), so convergence can be plotted;
        ``None`` for Lanczos.
    shift
        Power iteration only: the final shift σ (the iteration ran on H − σI).
    bound
        ``method='lanczos'`` only: the error bound certified at the stop (see :func:`lanczos`
        for what it guarantees); ``None`` otherwise.
    """

    value: float
    vector: np.ndarray
    n_products: int
    method: str = "lanczos"
    history: np.ndarray | None = None
    shift: float = 0.0
    bound: float | None = None


@dataclass(frozen=True, eq=False)
class Eigenpairs:
    """Several extreme eigenvalues with their eigenvectors.

    Attributes
    ----------
    values
        The eigenvalues, most extreme first: descending for ``which='LA'``, ascending for
        ``'SA'``.
    vectors
        Unit eigenvectors, one per column, in the order of ``values``.
    n_products
        Hessian-vector products used.
    """

    values: np.ndarray
    vectors: np.ndarray
    n_products: int


@dataclass(frozen=True, eq=False)
class TraceEstimate:
    r"""A Hutchinson estimate of tr H with a Student-t confidence interval.

    Attributes
    ----------
    estimate
        The mean of the probe values zᵀHz.
    stderr
        The standard error s/√m of that mean (s: sample standard deviation of the m probes).
    low, high
        The interval estimate ∓ t_{m−1, (1+c)/2} · stderr at confidence c.
    confidence
        c.
    samples
        The m probe values zᵀHz.
    n_products
        Hessian-vector products used (one per probe, plus two for the symmetry check of a
        callable or operator).
    """

    estimate: float
    stderr: float
    low: float
    high: float
    confidence: float
    samples: np.ndarray
    n_products: int

    def covers(self, value: float) -> bool:
        """Whether ``value`` (a finite number) lies in the confidence interval [low, high]."""
        v = check_scalar("value", value)
        return bool(self.low <= v <= self.high)


@dataclass(frozen=True, eq=False)
class BlockSpectra:
    """The top eigenvalues of each diagonal Hessian block H_ℓℓ.

    Attributes
    ----------
    blocks
        The blocks, as the index arrays they select.
    eigenvalues
        One array per block, descending (``min(k, block size)`` values).
    n_products
        Full Hessian-vector products used per block (the first block's count includes the
        two products of the symmetry probe when ``hvp`` is a callable or an operator).
    """

    blocks: tuple[np.ndarray, ...]
    eigenvalues: tuple[np.ndarray, ...]
    n_products: np.ndarray

    @property
    def lam_max(self) -> np.ndarray:
        """λ_max(H_ℓℓ) per block, e.g. for :func:`lrctl.quadratic.layerwise_lr_caps`."""
        return np.array([float(e[0]) for e in self.eigenvalues])

    @property
    def total_products(self) -> int:
        return int(self.n_products.sum())


# ---------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------


class _BudgetExhausted(Exception):
    """Raised inside a product when the product budget is used up."""


class _CountingOperator:
    """A LinearOperator wrapper that counts the products it performs and enforces a budget."""

    def __init__(self, op: Any, budget: int | None = None) -> None:
        from scipy.sparse.linalg import LinearOperator

        self.count = 0
        self.inner = op
        self.budget = budget

        def matvec(v: np.ndarray) -> np.ndarray:
            if self.budget is not None and self.count >= self.budget:
                raise _BudgetExhausted
            self.count += 1
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    out = np.asarray(op.matvec(np.ravel(v)), dtype=float).ravel()
            except (ValueError, TypeError) as exc:  # scipy's own shape check
                raise ValueError(f"hvp (the Hessian-vector product) failed: {exc}") from exc
            if out.shape != (op.shape[0],):
                raise ValueError(
                    f"hvp (the Hessian-vector product) returned shape {out.shape}, "
                    f"expected ({op.shape[0]},)"
                )
            if not np.all(np.isfinite(out)):
                raise ValueError("hvp (the Hessian-vector product) returned NaN or inf")
            return out

        def matmat(V: np.ndarray) -> np.ndarray:
            """Products with the columns of V (one product each), batched when ``op`` can."""
            V = np.asarray(V, dtype=float)
            if self.budget is not None and self.count + V.shape[1] > self.budget:
                raise _BudgetExhausted
            self.count += V.shape[1]
            with np.errstate(over="ignore", invalid="ignore"):
                out = np.asarray(op.matmat(V), dtype=float)
            if out.shape != V.shape:
                raise ValueError(f"hvp (the Hessian-vector product) returned shape {out.shape}, "
                                 f"expected {V.shape}")
            if not np.all(np.isfinite(out)):
                raise ValueError("hvp (the Hessian-vector product) returned NaN or inf")
            return out

        self.matvec = matvec
        self.matmat = matmat
        self.op = LinearOperator(op.shape, matvec=matvec, dtype=float)


def _operator(hvp: Any, dim: Any, name: str = "hvp"):
    """``hvp`` as a square ``LinearOperator`` (no symmetry check); ``dim`` checked always."""
    from scipy.sparse.linalg import LinearOperator, aslinearoperator

    from lrctl._validation import check_finite

    dim = check_dim("dim", dim)
    if isinstance(hvp, LinearOperator):
        if len(hvp.shape) != 2 or hvp.shape[0] != hvp.shape[1] or hvp.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty square operator, got shape {hvp.shape}")
        if dim is not None and dim != hvp.shape[0]:
            raise ValueError(f"dim={dim} does not match the {name} operator's shape {hvp.shape}")
        return hvp
    if isinstance(hvp, (np.ndarray, list, tuple)) or (
            not callable(hvp) and np.ndim(hvp) == 0 and not isinstance(hvp, (str, bytes, dict))):
        H = check_finite(name, hvp)
        if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty square matrix, got shape {H.shape}")
        if dim is not None and dim != H.shape[0]:
            raise ValueError(f"dim={dim} does not match the {name} matrix's shape {H.shape}")
        scale = max(float(np.abs(H).max()), np.finfo(float).tiny)
        if not np.allclose(H, H.T, rtol=0.0, atol=1e-10 * scale):
            raise ValueError(f"{name} must be symmetric (a Hessian); got a non-symmetric matrix")
        return aslinearoperator(H)
    if callable(hvp) and not isinstance(hvp, type):
        if dim is None:
            raise TypeError(f"{name} is a Hessian-vector-product callable: it needs dim= "
                            "(the parameter count, an int >= 1)")
        return LinearOperator((dim, dim), matvec=lambda v: np.asarray(hvp(np.ravel(v))),
                              dtype=float)
    raise TypeError(
        f"{name} must be a callable v -> Hv (with dim=), a scipy LinearOperator or a square "
        f"array, got {type(hvp).__name__}"
    )


def _probe_symmetry(matvec: Callable[[np.ndarray], np.ndarray], n: int, name: str) -> None:
    r"""Refuse a non-symmetric operator: compare u·(Hv) with v·(Hu) for two random unit vectors.

    Two products. For symmetric H the two agree up to round-off; the test refuses
    |u·(Hv) − v·(Hu)| > ``_SYM_TOL``·√n·max(‖Hu‖_∞, ‖Hv‖_∞), i.e. 1e-6 relative to an
    estimate of ‖H‖ (√n‖Hu‖_∞ >= ‖Hu‖ for unit u).
    The vectors come from a fixed seed, so the verdict is reproducible.
    """
    rng = np.random.default_rng(0x5E1F)
    u = rng.standard_normal(n)
    v = rng.standard_normal(n)
    u /= np.linalg.norm(u)
    v /= np.linalg.norm(v)
    Hu = _checked_product(matvec, u, n, name)
    Hv = _checked_product(matvec, v, n, name)
    a, b = float(u @ Hv), float(v @ Hu)
    # max-norms, not 2-norms: the squares of subnormal entries underflow to 0
    scale = max(float(np.abs(Hu).max()), float(np.abs(Hv).max())) * np.sqrt(n)
    if abs(a - b) > _SYM_TOL * scale:
        raise ValueError(
            f"{name} is not symmetric: u·(Hv) = {a:.6g} but v·(Hu) = {b:.6g} for random unit u, v "
            f"(tolerance {_SYM_TOL:g}·‖H‖ ≈ {_SYM_TOL * scale:.3g}); Lanczos needs a symmetric "
            "Hessian"
        )


def _checked_product(matvec: Callable[[np.ndarray], np.ndarray], v: np.ndarray, n: int,
                     name: str) -> np.ndarray:
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(matvec(v), dtype=float).ravel()
    except (ValueError, TypeError) as exc:  # scipy's shape check, or a product on bad data
        raise ValueError(f"{name} failed on a vector of shape ({n},): {exc}") from exc
    if out.shape != (n,):
        raise ValueError(f"{name} returned shape {out.shape} for a vector of shape ({n},)")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} returned NaN or inf")
    return out


def _checked_operator(hvp: Any, dim: Any, name: str):
    """:func:`as_linear_operator` with messages naming ``name``; the result is marked probed."""
    op = _operator(hvp, dim, name)
    if not _needs_probe(hvp):
        return op
    from scipy.sparse.linalg import LinearOperator

    _probe_symmetry(op.matvec, op.shape[0], name)
    probed = LinearOperator(op.shape, matvec=op.matvec, dtype=float)
    probed._lrctl_symmetric = True  # the probe ran; Lanczos need not repeat it
    return probed


def _needs_probe(hvp: Any) -> bool:
    """A callable or operator not yet probed (a matrix is checked exactly by ``_operator``)."""
    return (not isinstance(hvp, (np.ndarray, list, tuple))
            and not getattr(hvp, "_lrctl_symmetric", False))


def as_linear_operator(hvp: Any, dim: int | None = None):
    """A scipy ``LinearOperator`` for a symmetric Hessian-vector product.

    ``hvp`` may be a ``LinearOperator``, a square array, or a callable ``v -> H v`` (then
    ``dim`` is required; when ``hvp`` has a shape, ``dim`` must be ``None`` or agree with it).
    A matrix must be symmetric (to 1e-10 of its largest entry). A callable or operator is
    probed with two products: for random unit u, v, |u·(Hv) − v·(Hu)| must not exceed
    1e-6·√n·max(‖Hu‖_∞, ‖Hv‖_∞) (1e-6 relative to an estimate of ‖H‖), and the products must be finite and of the right shape; otherwise
    a ``ValueError`` naming ``hvp``.

    >>> as_linear_operator(lambda v: 2.0 * v, dim=3).shape
    (3, 3)
    """
    return _checked_operator(hvp, dim, "hvp")


def hessian_operator(objective: Any, theta: Any):
    """The Hessian of ``objective`` at ``theta`` as a ``LinearOperator`` v ↦ ∇²L(θ)v.

    ``objective`` is anything with ``dim`` and ``hvp(theta, v)``, e.g. an
    :mod:`lrctl.objectives` problem.

    >>> from lrctl.objectives import QuadraticObjective
    >>> op = hessian_operator(QuadraticObjective(np.diag([1.0, 3.0])), np.zeros(2))
    >>> op.matvec(np.array([1.0, 1.0]))
    array([1., 3.])
    """
    from scipy.sparse.linalg import LinearOperator

    from lrctl._validation import check_finite

    if not (hasattr(objective, "hvp") and hasattr(objective, "dim")):
        raise TypeError(
            f"objective must have .dim and .hvp(theta, v) (an lrctl.objectives problem), "
            f"got {type(objective).__name__}"
        )
    dim = int(objective.dim)
    theta = check_finite("theta", theta)
    if theta.shape != (dim,):
        raise ValueError(f"theta must have shape ({dim},), got {theta.shape}")
    theta = theta.copy()
    return LinearOperator(
        (dim, dim), matvec=lambda v: np.asarray(objective.hvp(theta, np.ravel(v)), dtype=float),
        dtype=float,
    )


def _dense(counted: _CountingOperator, n: int) -> np.ndarray:
    """The operator formed column by column (n products), checked symmetric, symmetrized."""
    H = np.column_stack([counted.matvec(e) for e in np.eye(n)])
    scale = max(float(np.abs(H).max()), np.finfo(float).tiny)
    if not np.allclose(H, H.T, rtol=0.0, atol=_SYM_TOL * scale):
        raise ValueError("hvp is not symmetric: the operator, formed column by column, differs "
                         f"from its transpose by more than {_SYM_TOL:g} of its largest entry")
    return 0.5 * (H + H.T)


def _budget_error(counted: _CountingOperator, what: str, tol: float) -> RuntimeError:
    return RuntimeError(
        f"{what} did not converge within {counted.count} Hessian-vector products "
        f"(max_products={counted.budget}, tol={tol:g}); raise max_products or tol"
    )


# ---------------------------------------------------------------------------------------
# Lanczos (one implementation: full re-orthogonalization, a Ritz stop with a gap bound)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LanczosResult:
    r"""Extreme eigenvalues from one Lanczos run, with a certified error bound for each.

    Attributes
    ----------
    top
        The ``k`` largest Ritz values, descending (empty for ``which='SA'``).
    bottom
        The ``k`` smallest Ritz values, ascending (empty for ``which='LA'``).
    top_vectors, bottom_vectors
        The unit Ritz vectors (columns, in the order of the values), or ``None`` unless
        ``vectors=True``.
    top_bounds, bottom_bounds
        The error bound of each value at the stop: ‖r‖²/δ for a ``"gap"`` value, ‖r‖ for a
        ``"residual"`` one (what each guarantees: :func:`lanczos`).
    top_rules, bottom_rules
        ``"gap"`` or ``"residual"``: which bound each value was certified by.
    top_residuals, bottom_residuals
        ‖H y − θ y‖ of each Ritz pair (θ, y).
    top_gaps, bottom_gaps
        The gap δ_j of each ``"gap"`` value (0 for a ``"residual"`` one). Its assumption is
        that the next eigenvalue inwards lies within θ_j − δ_j (for the top end,
        λ_{j+1} <= θ_j − δ_j; for the bottom end, λ_{n−j} >= θ_j + δ_j).
    ritz_values
        All m Ritz values at the stop, ascending.
    n_products
        Hessian-vector products used: the m Lanczos steps, plus the two of the symmetry probe
        when ``hvp`` is a callable or an operator.
    """

    top: np.ndarray
    bottom: np.ndarray
    top_vectors: np.ndarray | None
    bottom_vectors: np.ndarray | None
    top_bounds: np.ndarray
    bottom_bounds: np.ndarray
    top_rules: tuple[str, ...]
    bottom_rules: tuple[str, ...]
    top_residuals: np.ndarray
    bottom_residuals: np.ndarray
    top_gaps: np.ndarray
    bottom_gaps: np.ndarray
    ritz_values: np.ndarray
    n_products: int


#: Lanczos steps when ``max_products`` is not given (the basis holds that many vectors).
_LANCZOS_BUDGET = 500
#: The gap to the neighbouring Ritz value θ_{j+1} is trusted only once that neighbour has
#: converged this far: ‖r_{j+1}‖ <= _GAP_TRUST·(θ_j − θ_{j+1}). Chosen by the stress test in
#: tests/test_curvature.py (error <= tol on every one of the random spectra there).
_GAP_TRUST = 0.1
#: β_m below this fraction of max|θ|: the Krylov space is invariant (the values are exact).
_INVARIANT = 1e-12


def _end_bounds(t: np.ndarray, r: np.ndarray, k: int, rule: str
                ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Error bounds of the k largest Ritz values ``t`` (descending, with the neighbour t[k]).

    ``r``: their residuals. The gap bound of value j needs the neighbour j+1 (see
    :func:`lanczos`); where it is not available or not trusted, the residual bound ‖r_j‖.
    """
    bounds = r[:k].astype(float)
    rules = ["residual"] * k
    gaps = np.zeros(k)
    if rule != "gap":
        return bounds, rules, gaps
    for j in range(min(k, len(t) - 1)):
        upper = t[j + 1] + r[j + 1]          # >= λ_{j+1}: the assumption (see lanczos)
        delta = t[j] - upper
        if not (delta > 0 and r[j + 1] <= _GAP_TRUST * (t[j] - t[j + 1])):
            continue
        if j > 0 and not r[j] ** 2 < delta * (t[j - 1] - t[j]):
            continue                         # Kato–Temple's interval holds no eigenvalue
        quad = r[j] ** 2 / delta
        if quad < bounds[j]:
            bounds[j], rules[j], gaps[j] = quad, "gap", delta
    return bounds, rules, gaps


def _ritz(alphas: list[float], betas: list[float], lo: int, hi: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues lo..hi (ascending) of the tridiagonal T and the matching eigenvectors."""
    from scipy.linalg import eigh_tridiagonal

    d, e = np.asarray(alphas), np.asarray(betas)
    m = d.size
    if m <= 64:
        T = np.diag(d) + np.diag(e, 1) + np.diag(e, -1)
        w, S = np.linalg.eigh(T)
        return w[lo:hi + 1], S[:, lo:hi + 1]
    return eigh_tridiagonal(d, e, select="i", select_range=(lo, hi))


def _run_lanczos(matvec: Callable[[np.ndarray], np.ndarray], n: int, k: int,
                 ends: tuple[str, ...], tol: float, rng: np.random.Generator, steps: int,
                 rule: str, want_vectors: bool, v0: np.ndarray | None = None
                 ) -> dict[str, Any]:
    """The iteration; ``matvec`` is checked (finite, shape) by the caller, ``steps`` >= 1."""
    need = k * len(ends)
    Q = np.empty((min(steps, n, 32) + 1, n))
    q = rng.standard_normal(n) if v0 is None else v0
    Q[0] = q / np.linalg.norm(q)
    alphas: list[float] = []
    betas: list[float] = []
    m, blocks = 0, 1
    while True:
        w = matvec(Q[m])
        m += 1
        alphas.append(float(Q[m - 1] @ w))
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(2):  # full re-orthogonalization, twice ("twice is enough")
                w -= Q[:m].T @ (Q[:m] @ w)
            beta = float(np.linalg.norm(w))
        if not (np.isfinite(beta) and np.isfinite(alphas[-1])):
            raise ValueError("hvp: the Lanczos recurrence overflowed (products of about 1e308); "
                             "scale the Hessian down")
        out: dict[str, Any] = {}
        scale = 0.0
        for end in ends:
            kk = min(k + 1, m)               # the wanted values and their neighbour
            lo, hi = (m - kk, m - 1) if end == "top" else (0, kk - 1)
            w_end, S = _ritz(alphas, betas, lo, hi)
            res = beta * np.abs(S[-1])
            if end == "top":
                t, r, S = w_end[::-1], res[::-1], S[:, ::-1]
            else:
                t, r = -w_end, res           # the top end of −H
            bounds, rules, gaps = _end_bounds(t, r, min(k, m), rule)
            out[end] = (t, r, S, bounds, rules, gaps)
            scale = max(scale, float(np.abs(w_end).max()))
        scale = max(scale, np.finfo(float).tiny)
        invariant = beta <= _INVARIANT * scale
        # On an invariant space the values are exact; up to k such blocks are built so that a
        # multiple eigenvalue (seen once per block) is found up to k times.
        restart = invariant and m < n and (blocks < k or m < need)
        exhausted = m >= n or (invariant and not restart)
        # a restarted block is run until it is invariant too: its first Ritz values say
        # nothing yet about the copies it is there to find
        converged = (not restart and (blocks == 1 or invariant) and m >= need and all(
            np.all(out[e][3] <= tol * np.maximum(np.abs(out[e][0][:k]), _INVARIANT * scale))
            for e in ends))
        if exhausted or converged:
            break
        if m >= steps:
            raise _BudgetExhausted
        if restart:
            # Continue from a fresh direction orthogonal to the invariant space (e.g. H = 0,
            # or a multiple eigenvalue).
            blocks += 1
            w = rng.standard_normal(n)
            for _ in range(2):
                w -= Q[:m].T @ (Q[:m] @ w)
            beta = 0.0
            w_next = w / np.linalg.norm(w)
        else:
            w_next = w / beta
        betas.append(beta)
        if m >= Q.shape[0]:
            Q = np.concatenate([Q, np.empty((min(Q.shape[0], n + 1 - Q.shape[0]), n))])
        Q[m] = w_next
    result: dict[str, Any] = {"m": m}
    for end in ends:
        t, r, S, bounds, rules, gaps = out[end]
        sign = 1.0 if end == "top" else -1.0
        vecs = None
        if want_vectors:
            vecs = Q[:m].T @ S[:, :k]
            vecs /= np.linalg.norm(vecs, axis=0)
        result[end] = (sign * t[:k], vecs, bounds[:k], tuple(rules[:k]), r[:k], gaps[:k])
    T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1) if m <= 64 else None
    if T is not None:
        result["ritz"] = np.linalg.eigvalsh(T)
    else:
        from scipy.linalg import eigh_tridiagonal

        result["ritz"] = eigh_tridiagonal(np.asarray(alphas), np.asarray(betas),
                                          eigvals_only=True)
    return result


def lanczos(
    hvp: Callable[[np.ndarray], np.ndarray] | Any,
    dim: int | None = None,
    *,
    k: int = 1,
    which: str = "LA",
    tol: float = 1e-10,
    bound: str = "gap",
    seed: Any = 0,
    max_products: int | None = None,
    vectors: bool = True,
    v0: Any = None,
) -> LanczosResult:
    r"""The k largest and/or smallest eigenvalues by Lanczos, each with an error bound.

    From a random unit q₁, m products build the orthonormal Krylov basis Q_m of
    span{q₁, Hq₁, …, H^{m−1}q₁} (three-term recurrence, re-orthogonalized against all of Q_m
    twice, so round-off makes no ghost copies) and T_m = Q_mᵀHQ_m, tridiagonal. An eigenpair
    (θ_j, s_j) of T_m gives the Ritz pair (θ_j, y_j = Q_m s_j), whose residual is
    ‖r_j‖ = ‖Hy_j − θ_j y_j‖ = β_m |s_{m,j}|, free to compute. Both ends of the spectrum come
    from the same Krylov space, so ``which='both'`` costs no more than its slower end.

    Stop. Every wanted θ_j (the k largest, descending, and/or the k smallest) gets a bound
    e_j, and the run stops at the first m with e_j <= ``tol``·|θ_j| for all of them:

    - residual bound (always available): e_j = ‖r_j‖. *Guaranteed*: H has an eigenvalue
      within ‖r_j‖ of θ_j (Parlett, *The Symmetric Eigenvalue Problem*, 1998, Thm 4.5.1).
    - gap bound (``bound='gap'``, the default): e_j = ‖r_j‖²/δ_j with
      δ_j = θ_j − (θ_{j+1} + ‖r_{j+1}‖), θ_{j+1} the next Ritz value inwards. *Guaranteed,
      under the assumption* λ_{j+1} <= θ_{j+1} + ‖r_{j+1}‖ (that the Krylov space has not
      missed an eigenvalue between θ_{j+1} and θ_j): 0 <= λ_j − θ_j <= ‖r_j‖²/δ_j for the
      j-th largest eigenvalue λ_j itself. This is the Kato–Temple inequality (Kato 1949;
      Temple 1928; the quadratic residual bound |λ − θ| <= ‖r‖²/gap of Bai et al., eds.,
      *Templates for the Solution of Algebraic Eigenvalue Problems*, SIAM 2000, §4.8,
      eq. 4.55), and the proof is short: for j = 1 and any α with λ₂ <= α < θ₁, every term
      of yᵀ(λ₁I − H)(H − αI)y = Σᵢ cᵢ²(λ₁ − λᵢ)(λᵢ − α) is <= 0, and the left side equals
      (λ₁ − θ₁)(θ₁ − α) − ‖r₁‖² (as ‖Hy‖² = θ₁² + ‖r₁‖²), so λ₁ − θ₁ <= ‖r₁‖²/(θ₁ − α);
      λ₁ >= θ₁ by Cauchy interlacing. For j > 1 the interval (α, θ_{j−1}) holds no eigenvalue
      but λ_j (interlacing again: λ_{j−1} >= θ_{j−1}), and Kato–Temple on that interval gives
      the same bound once ‖r_j‖² < δ_j(θ_{j−1} − θ_j), which is checked. The smallest
      eigenvalues are the largest of −H.

      The gap bound is used only where it is trustworthy: δ_j > 0 and the neighbour has
      itself converged, ‖r_{j+1}‖ <= 0.1·(θ_j − θ_{j+1}); otherwise, and where it is not
      smaller, the residual bound is used. Near convergence the gap bound is about ‖r‖/δ
      times the residual bound, so it stops when ‖r‖ ≈ √(tol·|θ|·δ) instead of tol·|θ|.

      The assumption is what no Krylov method can check: an eigenvector nearly orthogonal to
      the start vector, or a cluster λ_1 … λ_p narrower than the residual, stays unseen while
      all the run can measure looks converged. For the cluster the same argument gives
      (λ₁ − θ₁)(δ − w) <= ‖r₁‖² + w·δ with w = λ₁ − λ_p: the bound plus about the cluster's
      width. Measured (``benchmarks/bench_lanczos.py``, 300 random spectra of five kinds):
      λ_max missed its tol in 17 runs with the gap stop and 11 with the residual stop at
      tol 1e-3, 3 and 0 at 1e-6, none at 1e-10, while the gap stop used 0–21 % fewer
      products. ``bound='residual'`` is the choice when a miss costs more than products.

    A multiple eigenvalue appears once in a Krylov space (one vector of its eigenspace);
    ``k`` values may then skip copies. If the space becomes invariant (β_m ≈ 0; its values are
    then exact), the run continues from a fresh random direction orthogonal to it, up to k
    such blocks, so that an eigenvalue seen once per block is found up to k times (H = 0 gives
    k zeros). At m = n the values are exact (up to round-off). Cost: m products, m·n floats for the basis.

    Parameters
    ----------
    hvp, dim
        The Hessian: a callable v ↦ Hv (with ``dim``), a ``LinearOperator`` or a square array;
        symmetric (a callable or operator is probed, two products, see
        :func:`as_linear_operator`).
    k
        Values per end (>= 1; ``k`` <= n, and 2k <= n for ``'both'``).
    which
        ``"LA"`` (largest algebraic), ``"SA"`` (smallest) or ``"both"``.
    tol
        Relative error bound (> 0): the run stops once every wanted e_j <= tol·|θ_j| (with a
        floor of 1e-12·max|θ| for θ_j near 0).
    bound
        ``"gap"`` (default) or ``"residual"`` (the assumption-free residual bound only).
    seed
        Seed of the start vector.
    max_products
        Budget of products, the symmetry probe included (a ``RuntimeError`` when used up);
        default: at most 500 Lanczos steps (and never more than n).
    vectors
        Also return the Ritz vectors.
    v0
        A start vector (shape (n,), finite, nonzero) instead of the random one, e.g. the
        previous eigenvector when H changes a little (a warm start).

    >>> H = np.diag([4.0, 3.0, 1.0, 0.5, -2.0])
    >>> r = lanczos(H, which="both", tol=1e-12)
    >>> np.round(r.top, 12), np.round(r.bottom, 12), r.n_products
    (array([4.]), array([-2.]), 5)
    >>> bool(abs(r.top[0] - 4.0) <= r.top_bounds[0])
    True
    """
    check_choice("which", which, ("LA", "SA", "both"))
    check_choice("bound", bound, ("gap", "residual"))
    tol = check_tol("tol", tol)
    k = check_int("k", k, minimum=1)
    if not isinstance(vectors, bool):
        raise TypeError(f"vectors must be True or False, got {vectors!r}")
    op = _operator(hvp, dim)
    n = op.shape[0]
    if k > n:
        raise ValueError(f"k must be <= the dimension {n}, got {k}")
    if which == "both" and 2 * k > n:
        raise ValueError(f"which='both' needs 2k <= the dimension {n}, got k={k}")
    budget = None if max_products is None else check_int("max_products", max_products, minimum=1)
    if v0 is not None:
        from lrctl._validation import check_finite

        v0 = check_finite("v0", v0).astype(float)
        if v0.shape != (n,) or not np.any(v0):
            raise ValueError(f"v0 must be a nonzero vector of shape ({n},), got shape {v0.shape}")
    counted = _CountingOperator(op, budget)
    ends = {"LA": ("top",), "SA": ("bottom",), "both": ("top", "bottom")}[which]
    try:
        if _needs_probe(hvp):
            _probe_symmetry(counted.matvec, n, "hvp")
        steps = min(n, _LANCZOS_BUDGET) if budget is None else budget - counted.count
        if steps < 1:
            raise _BudgetExhausted
        res = _run_lanczos(counted.matvec, n, k, ends, tol, as_rng(seed), steps, bound,
                           vectors, v0)
    except _BudgetExhausted:
        raise _budget_error(counted, "Lanczos", tol) from None
    empty = np.empty(0)
    none = (empty, np.empty((n, 0)) if vectors else None, empty, (), empty, empty)
    top, bot = res.get("top", none), res.get("bottom", none)
    return LanczosResult(
        top=top[0], bottom=bot[0], top_vectors=top[1], bottom_vectors=bot[1],
        top_bounds=top[2], bottom_bounds=bot[2], top_rules=top[3], bottom_rules=bot[3],
        top_residuals=top[4], bottom_residuals=bot[4], top_gaps=top[5], bottom_gaps=bot[5],
        ritz_values=res["ritz"],
        n_products=counted.count,
    )


def _arpack(hvp: Any, dim: int | None, k: int, which: str, tol: float, seed: Any,
            max_products: int | None) -> tuple[np.ndarray, np.ndarray, int, str]:
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

    op = _operator(hvp, dim)
    n = op.shape[0]
    if k > n:
        raise ValueError(f"k must be <= the dimension {n}, got {k}")
    budget = None if max_products is None else check_int("max_products", max_products, minimum=1)
    counted = _CountingOperator(op, budget)
    v0 = as_rng(seed).standard_normal(n)
    try:
        if n <= max(2, k + 1):
            # ARPACK needs k < n - 1 for some shapes; a tiny operator is formed densely (n products).
            w, V = np.linalg.eigh(_dense(counted, n))
            method = "dense"
        else:
            if _needs_probe(hvp):  # a matrix was checked exactly in _operator
                _probe_symmetry(counted.matvec, n, "hvp")
            try:
                w, V = eigsh(counted.op, k=k, which=which, tol=tol, v0=v0)
                method = "arpack"
            except ArpackError:
                # ARPACK gives up when the Krylov space collapses (the zero operator, e.g. a
                # dead layer's block): form the operator instead, if that is affordable.
                if n > _DENSE_FALLBACK_MAX:
                    raise
                w, V = np.linalg.eigh(_dense(counted, n))
                method = "dense"
    except _BudgetExhausted:
        raise _budget_error(counted, "Lanczos", tol) from None
    except ArpackNoConvergence as exc:
        raise RuntimeError(
            f"Lanczos did not converge within {counted.count} Hessian-vector products "
            f"(tol={tol:g}); raise tol"
        ) from exc
    order = np.argsort(w)
    order = order[::-1][:k] if which == "LA" else order[:k]
    V = V[:, order]
    V = V / np.linalg.norm(V, axis=0)
    return w[order].astype(float), V, counted.count, method


def _lanczos(hvp: Any, dim: int | None, k: int, which: str, tol: float, seed: Any,
             max_products: int | None, method: str = "lanczos"
             ) -> tuple[np.ndarray, np.ndarray, int, str, float | None]:
    """(values most extreme first, unit vectors, products, method, bound of the first)."""
    if method == "arpack":
        return (*_arpack(hvp, dim, k, which, tol, seed, max_products), None)
    r = lanczos(hvp, dim, k=k, which=which, tol=tol, seed=seed, max_products=max_products)
    if which == "LA":
        return r.top, r.top_vectors, r.n_products, "lanczos", float(r.top_bounds[0])
    return r.bottom, r.bottom_vectors, r.n_products, "lanczos", float(r.bottom_bounds[0])


def extreme_eigenvalue(
    hvp: Callable[[np.ndarray], np.ndarray] | Any,
    dim: int | None = None,
    *,
    which: str = "LA",
    tol: float = 1e-10,
    seed: Any = 0,
    max_products: int | None = None,
    method: str = "lanczos",
) -> EigenResult:
    """The largest (``which='LA'``) or smallest (``'SA'``) algebraic eigenvalue, by Lanczos.

    ``method='lanczos'`` (default): :func:`lanczos`, stopped when the certified error bound
    (the Kato–Temple gap bound, or the residual bound) is below ``tol``·|λ|; ``bound`` holds it.
    ``method='arpack'``: ARPACK's implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``),
    stopped when the Ritz estimate of the residual is below ``tol`` times the Ritz value.
    ``max_products`` caps the Hessian-vector products (a ``RuntimeError`` when it is reached
    first).

    >>> H = np.diag([1.0, 2.0, 5.0, -7.0])
    >>> extreme_eigenvalue(H, which="SA").value
    -7.0
    """
    check_choice("which", which, ("LA", "SA"))
    check_choice("method", method, _LANCZOS_METHODS)
    tol = check_tol("tol", tol)
    w, V, count, used, bnd = _lanczos(hvp, dim, 1, which, tol, seed, max_products, method)
    return EigenResult(float(w[0]), V[:, 0], count, method=used, bound=bnd)


def top_eigenvalues(
    hvp: Callable[[np.ndarray], np.ndarray] | Any,
    dim: int | None = None,
    *,
    k: int = 5,
    which: str = "LA",
    tol: float = 1e-10,
    seed: Any = 0,
    max_products: int | None = None,
    method: str = "lanczos",
) -> Eigenpairs:
    """The ``k`` largest (``which='LA'``) or smallest (``'SA'``) eigenvalues, by Lanczos.

    Values come most extreme first (descending for ``'LA'``). ``method``: ``'lanczos'``
    (:func:`lanczos`, default) or ``'arpack'`` (``eigsh``; operators of size <= k + 1 are then
    formed densely, size-many products). A multiple eigenvalue is found once by a single-vector
    Krylov method, so the k values may skip its copies.

    >>> H = np.diag([1.0, 2.0, 5.0, -7.0, 4.0])
    >>> top_eigenvalues(H, k=2).values
    array([5., 4.])
    """
    check_choice("which", which, ("LA", "SA"))
    check_choice("method", method, _LANCZOS_METHODS)
    tol = check_tol("tol", tol)
    k = check_int("k", k, minimum=1)
    w, V, count, _, _ = _lanczos(hvp, dim, k, which, tol, seed, max_products, method)
    return Eigenpairs(w, V, count)


# ---------------------------------------------------------------------------------------
# Power iteration
# ---------------------------------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _apart(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between the lines through unit vectors a and b (sign-blind)."""
    return float(min(np.linalg.norm(a - b), np.linalg.norm(a + b)))


#: Relative growth of ‖(H − σI)v‖ per step below which the negative side counts as found.
_STALL = 1e-3


def _power(counted: _CountingOperator, n: int, tol: float, rng: np.random.Generator,
           shift: float) -> EigenResult:
    sigma = float(shift)
    history: list[float] = []
    v = _unit(rng.standard_normal(n))
    prev: np.ndarray | None = None
    nu_prev: float | None = None
    alternating = 0
    shifted = False  # True once H − σI is (about) positive semi-definite
    while True:
        w = counted.matvec(v) - sigma * v
        mu = float(v @ w)
        nu = float(np.linalg.norm(w))
        history.append(sigma + mu)
        residual = float(np.linalg.norm(w - mu * v))
        if residual <= tol * max(nu, np.finfo(float).tiny) or nu == 0.0:
            if mu >= 0.0 or nu == 0.0:
                # The dominant eigenvalue of H − σI is λ_max − σ >= 0.
                return EigenResult(sigma + mu, v, counted.count, method="power",
                                   history=np.asarray(history), shift=sigma)
            # Converged to λ_min = σ + μ < σ: H − λ_min I is PSD; restart from a fresh vector
            # (the current one is the λ_min eigenvector, with no λ_max component left).
            sigma += mu
            v, prev, nu_prev, alternating, shifted = _unit(rng.standard_normal(n)), None, None, 0, True
            continue
        nxt = w / nu
        if not shifted:
            # ν_k = ‖(H − σI)v_k‖ never decreases (power iteration on (H − σI)², in effect) and
            # tends to the spectral radius. Once it has stalled while the Rayleigh quotient is
            # negative, the dominant side is λ_min: σ − ν makes the operator (about) PSD without
            # waiting for the λ_min eigenvector to converge (slow when λ_min is clustered).
            if mu < 0.0 and nu_prev is not None and nu - nu_prev <= _STALL * nu:
                sigma -= nu
                v, prev, nu_prev, alternating, shifted = (_unit(rng.standard_normal(n)), None,
                                                          None, 0, True)
                continue
            if prev is not None:
                one_step = _apart(nxt, v)
                two_step = _apart(nxt, prev)
                # Monotone convergence moves about twice as far in two steps as in one;
                # iterates alternating between the eigenvectors of ±ν return after two steps.
                alternating = (alternating + 1
                               if one_step > 1e-8 and two_step < 0.25 * one_step else 0)
                if alternating >= 3:
                    sigma -= nu  # H − σI + νI is (up to the estimate of ν) PSD
                    prev, nu_prev, shifted = None, None, True
                    continue
        prev, nu_prev, v = v, nu, nxt


def top_eigenvalue(
    hvp: Callable[[np.ndarray], np.ndarray] | Any,
    dim: int | None = None,
    *,
    method: str = "lanczos",
    tol: float = 1e-10,
    seed: Any = 0,
    max_products: int | None = None,
    shift: float | None = None,
) -> EigenResult:
    r"""λ_max(H), the largest algebraic eigenvalue, by Lanczos or power iteration.

    ``method='lanczos'`` (default): :func:`lanczos` (full re-orthogonalization, no restarts),
    stopped when its certified error bound — ‖r‖²/δ (Kato–Temple, under the gap assumption
    stated there) or the residual ‖r‖ — is below ``tol``·|λ|; ``bound`` holds it.
    ``method='arpack'``: ARPACK ``eigsh`` with ``which='LA'``; it stops when the Ritz residual
    estimate is below ``tol``·|λ| (at least about 20 products before its first test).

    ``method='power'``: v ← (H − σI)v/‖(H − σI)v‖, stopped when the residual
    ‖Hv − λ̂v‖ <= ``tol``·‖(H − σI)v‖, with λ̂ = σ + vᵀ(H − σI)v the Rayleigh quotient. The
    shift σ starts at ``shift`` (default 0) and is moved automatically so that the result is
    λ_max and not the eigenvalue of largest magnitude (see the module docstring). Converges
    like ((λ_2 − σ)/(λ_max − σ))^k; ``history`` holds λ̂ after every product.

    Parameters
    ----------
    hvp
        A callable v ↦ Hv (with ``dim``), a ``LinearOperator`` or a square array; H symmetric.
    dim
        The dimension, for a callable.
    method
        ``"lanczos"``, ``"arpack"`` or ``"power"``.
    tol
        Relative residual tolerance (> 0).
    seed
        Seed of the random start vector.
    max_products
        Budget of Hessian-vector products; a ``RuntimeError`` when it is used up before
        convergence. Default: none for Lanczos (ARPACK's own limit), 10 000 for power iteration.
    shift
        Power iteration only: the initial shift σ (any value; a σ at or below λ_min gives a
        positive semi-definite H − σI from the start).

    >>> H = np.diag([1.0, 2.0, 5.0, -7.0])
    >>> round(top_eigenvalue(lambda v: H @ v, dim=4).value, 9)
    5.0
    >>> r = top_eigenvalue(H, method="power")   # |−7| > 5: shifted to about H + 7I
    >>> round(r.value, 9), bool(-7.0 <= r.shift < -6.9)
    (5.0, True)
    """
    check_choice("method", method, _METHODS)
    tol = check_tol("tol", tol)
    if method in _LANCZOS_METHODS:
        if shift is not None:
            raise ValueError("shift applies to method='power' only; Lanczos needs no shift")
        return extreme_eigenvalue(hvp, dim, which="LA", tol=tol, seed=seed,
                                  max_products=max_products, method=method)
    sigma = 0.0 if shift is None else check_scalar("shift", shift)
    budget = (_DEFAULT_POWER_BUDGET if max_products is None
              else check_int("max_products", max_products, minimum=1))
    op = _operator(hvp, dim)
    n = op.shape[0]
    counted = _CountingOperator(op, budget)
    try:
        if _needs_probe(hvp):
            _probe_symmetry(counted.matvec, n, "hvp")
        return _power(counted, n, tol, as_rng(seed), sigma)
    except _BudgetExhausted:
        raise _budget_error(counted, "power iteration", tol) from None


# ---------------------------------------------------------------------------------------
# Trace
# ---------------------------------------------------------------------------------------


def hutchinson_trace(
    hvp: Callable[[np.ndarray], np.ndarray] | Any,
    dim: int | None = None,
    *,
    n_probes: int = 64,
    confidence: float = 0.95,
    seed: Any = 0,
    distribution: str = "rademacher",
) -> TraceEstimate:
    r"""Hutchinson's estimate of tr H, with a Student-t confidence interval.

    For probes z with E[zzᵀ] = I, E[zᵀHz] = tr H. With m independent probes the estimate is the
    mean of zᵢᵀHzᵢ and the interval mean ∓ t_{m−1,(1+c)/2}·s/√m. Rademacher probes (entries ±1)
    have the smallest variance among i.i.d. probes, Var zᵀHz = 2(‖H‖_F² − Σᵢ Hᵢᵢ²)
    (Hutchinson 1990; Avron & Toledo 2011); Gaussian probes have 2‖H‖_F². The interval assumes
    the mean is close to normal (m of a few dozen suffices for the coverage, which the tests
    measure over many seeds).

    Parameters
    ----------
    hvp, dim
        The Hessian (see :func:`top_eigenvalue`).
    n_probes
        m >= 2 (one Hessian-vector product each).
    confidence
        c in (0, 1).
    seed
        Seed of the probes.
    distribution
        ``"rademacher"`` or ``"gaussian"``.

    >>> H = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> t = hutchinson_trace(H, n_probes=200, seed=0)
    >>> t.covers(5.0), t.n_products
    (True, 200)
    """
    from scipy import stats

    m = check_int("n_probes", n_probes, minimum=2)
    c = float(check_in_interval("confidence", check_scalar("confidence", confidence), 0.0, 1.0,
                                low_closed=False))
    check_choice("distribution", distribution, ("rademacher", "gaussian"))
    op = _operator(hvp, dim)
    n = op.shape[0]
    counted = _CountingOperator(op)
    if _needs_probe(hvp):
        _probe_symmetry(counted.matvec, n, "hvp")
    rng = as_rng(seed)
    if distribution == "rademacher":
        Z = rng.choice(np.array([-1.0, 1.0]), size=(m, n))
    else:
        Z = rng.standard_normal((m, n))
    with np.errstate(over="ignore", invalid="ignore"):
        samples = np.sum(Z.T * counted.matmat(Z.T), axis=0)
        est = float(samples.mean())
        se = float(samples.std(ddof=1) / np.sqrt(m))
        half = float(stats.t.ppf(0.5 + c / 2, m - 1)) * se
    check_output([est, se, est - half, est + half], "hvp (its entries)")
    return TraceEstimate(est, se, est - half, est + half, c, samples, counted.count)


# ---------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------


def _block_indices(blocks: Any, dim: int) -> tuple[np.ndarray, ...]:
    if isinstance(blocks, (slice, str, bytes, np.ndarray)) or not hasattr(blocks, "__len__"):
        raise TypeError(
            f"blocks must be a sequence of slices or index arrays, got {type(blocks).__name__}"
        )
    if len(blocks) == 0:
        raise ValueError("blocks is empty; give one slice (or index array) per parameter block")
    out = []
    for i, b in enumerate(blocks):
        if isinstance(b, slice):
            idx = np.arange(dim)[b]
        else:
            idx = np.asarray(b)
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
                raise TypeError(f"blocks[{i}] must be a slice or a 1-D integer index array")
            if idx.size and (idx.min() < 0 or idx.max() >= dim):
                raise ValueError(f"blocks[{i}] has indices outside [0, {dim})")
        if idx.size == 0:
            raise ValueError(f"blocks[{i}] selects no parameters (dimension {dim})")
        if np.unique(idx).size != idx.size:
            raise ValueError(f"blocks[{i}] repeats indices")
        out.append(idx)
    return tuple(out)


def block_spectra(
    hvp: Callable[[np.ndarray], np.ndarray] | Any,
    blocks: Sequence[Any],
    dim: int | None = None,
    *,
    k: int = 1,
    tol: float = 1e-10,
    seed: Any = 0,
    method: str = "lanczos",
) -> BlockSpectra:
    r"""The top-``k`` eigenvalues of each diagonal Hessian block H_ℓℓ (per layer).

    For a block with index set I_ℓ, H_ℓℓ u = [H P_ℓ u]_{I_ℓ}, where P_ℓ pads u with zeros
    outside I_ℓ: one full Hessian-vector product per block product, and H_ℓℓ is exactly the
    diagonal block of H (not a Hessian of the layer's loss with the others frozen at some other
    point; it is that, at the same θ). Lanczos runs on each block (dense for blocks of size
    <= k + 1). λ_max(H_ℓℓ) <= λ_max(H) by Cauchy interlacing; the per-block caps
    2/λ_max(H_ℓℓ) are :func:`lrctl.quadratic.layerwise_lr_caps`.

    Parameters
    ----------
    hvp, dim
        The full Hessian (see :func:`top_eigenvalue`).
    blocks
        Slices or integer index arrays (e.g. an objective's ``blocks``).
    k
        Eigenvalues per block (fewer for a smaller block).
    method
        ``"lanczos"`` (:func:`lanczos`) or ``"arpack"``, as for :func:`top_eigenvalues`.

    >>> H = np.array([[4.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 9.0]])
    >>> bs = block_spectra(H, [slice(0, 2), slice(2, 3)])
    >>> np.round(bs.lam_max, 6)
    array([4.414214, 9.      ])
    """
    k = check_int("k", k, minimum=1)
    tol = check_tol("tol", tol)
    check_choice("method", method, _LANCZOS_METHODS)
    op = _operator(hvp, dim)
    n = op.shape[0]
    idx_blocks = _block_indices(blocks, n)
    probe = 0
    if _needs_probe(hvp):  # the full operator must be symmetric, not just its blocks
        counted = _CountingOperator(op)
        _probe_symmetry(counted.matvec, n, "hvp")
        probe = counted.count
    rngs = np.random.SeedSequence(int(as_rng(seed).integers(2**63 - 1))).spawn(len(idx_blocks))
    values, counts = [], []
    for idx, ss in zip(idx_blocks, rngs, strict=True):
        def block_hvp(u: np.ndarray, idx: np.ndarray = idx) -> np.ndarray:
            full = np.zeros(n)
            full[idx] = u
            return np.asarray(op.matvec(full), dtype=float).ravel()[idx]

        block_hvp._lrctl_symmetric = True  # a diagonal block of the (probed) symmetric H
        kb = min(k, idx.size)
        w, _, count, _, _ = _lanczos(block_hvp, idx.size, kb, "LA", tol,
                                     np.random.default_rng(ss), None, method)
        values.append(w)
        counts.append(count)
    counts[0] += probe
    return BlockSpectra(idx_blocks, tuple(values), np.asarray(counts, dtype=int))
