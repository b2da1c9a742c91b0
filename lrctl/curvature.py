"""Hessian spectra from Hessian-vector products.

The curvature of a training problem enters every learning-rate bound through the extreme
eigenvalues of its Hessian H. For problems too large to form H, lrctl works with a
Hessian-vector product v ↦ Hv, as a callable plus the dimension, or as a scipy
``LinearOperator``. Lanczos (ARPACK's ``eigsh``) with ``which='LA'`` returns the largest
*algebraic* eigenvalue λ_max, which is what the GD bound 2/λ_max needs; ``which='LM'`` would
return the eigenvalue of largest magnitude, a negative one on a saddle.

Every result counts the Hessian-vector products it used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl._validation import as_rng, check_int, check_positive

__all__ = ["EigenResult", "as_linear_operator", "extreme_eigenvalue", "top_eigenvalue"]


@dataclass(frozen=True)
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
    """

    value: float
    vector: np.ndarray
    n_products: int


class _CountingOperator:
    """A LinearOperator wrapper that counts the products it performs."""

    def __init__(self, op: Any) -> None:
        from scipy.sparse.linalg import LinearOperator

        self.count = 0
        self.inner = op

        def matvec(v: np.ndarray) -> np.ndarray:
            self.count += 1
            out = np.asarray(op.matvec(np.ravel(v)), dtype=float).ravel()
            if not np.all(np.isfinite(out)):
                raise ValueError("the Hessian-vector product returned NaN or inf")
            return out

        self.op = LinearOperator(op.shape, matvec=matvec, dtype=float)


def as_linear_operator(hvp: Any, dim: int | None = None):
    """A scipy ``LinearOperator`` for a Hessian-vector product.

    ``hvp`` may be a ``LinearOperator``, a square array, or a callable ``v -> H v`` (then
    ``dim`` is required).
    """
    from scipy.sparse.linalg import LinearOperator, aslinearoperator

    if isinstance(hvp, LinearOperator):
        if hvp.shape[0] != hvp.shape[1]:
            raise ValueError(f"the Hessian operator must be square, got shape {hvp.shape}")
        return hvp
    if isinstance(hvp, np.ndarray):
        if hvp.ndim != 2 or hvp.shape[0] != hvp.shape[1]:
            raise ValueError(f"the Hessian must be a square matrix, got shape {hvp.shape}")
        return aslinearoperator(hvp)
    if callable(hvp):
        if dim is None:
            raise TypeError("a Hessian-vector-product callable needs dim= (the parameter count)")
        dim = check_int("dim", dim, minimum=1)
        return LinearOperator((dim, dim), matvec=lambda v: np.asarray(hvp(np.ravel(v))), dtype=float)
    raise TypeError(
        f"hvp must be a callable v -> Hv, a scipy LinearOperator or a square array, "
        f"got {type(hvp).__name__}"
    )


def extreme_eigenvalue(
    hvp: Callable[[np.ndarray], np.ndarray] | Any,
    dim: int | None = None,
    *,
    which: str = "LA",
    tol: float = 1e-10,
    seed: Any = 0,
    max_products: int | None = None,
) -> EigenResult:
    """The largest (``which='LA'``) or smallest (``'SA'``) algebraic eigenvalue, by Lanczos."""
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

    if which not in ("LA", "SA"):
        raise ValueError(f"which must be 'LA' (largest algebraic) or 'SA' (smallest), got {which!r}")
    check_positive("tol", tol)
    op = as_linear_operator(hvp, dim)
    n = op.shape[0]
    counted = _CountingOperator(op)
    v0 = as_rng(seed).standard_normal(n)
    if n <= 2:  # ARPACK needs k < n; a 1x1 or 2x2 operator is formed densely.
        H = np.column_stack([counted.op.matvec(e) for e in np.eye(n)])
        w, V = np.linalg.eigh(0.5 * (H + H.T))
        i = -1 if which == "LA" else 0
        return EigenResult(float(w[i]), V[:, i], counted.count)
    maxiter = None if max_products is None else check_int("max_products", max_products, minimum=1)
    try:
        w, V = eigsh(counted.op, k=1, which=which, tol=tol, v0=v0, maxiter=maxiter)
    except ArpackNoConvergence as exc:
        raise RuntimeError(
            f"Lanczos did not converge within {counted.count} Hessian-vector products "
            f"(tol={tol:g}); raise max_products or tol"
        ) from exc
    vec = V[:, 0] / np.linalg.norm(V[:, 0])
    return EigenResult(float(w[0]), vec, counted.count)


def top_eigenvalue(
    hvp: Callable[[np.ndarray], np.ndarray] | Any,
    dim: int | None = None,
    *,
    tol: float = 1e-10,
    seed: Any = 0,
) -> EigenResult:
    """λ_max(H), the largest algebraic eigenvalue, by Lanczos (``eigsh``, ``which='LA'``).

    >>> H = np.diag([1.0, 2.0, 5.0, -7.0])
    >>> round(top_eigenvalue(lambda v: H @ v, dim=4).value, 9)
    5.0
    """
    return extreme_eigenvalue(hvp, dim, which="LA", tol=tol, seed=seed)
