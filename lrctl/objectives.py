"""Real training problems used as plants: loss, gradient, Hessian-vector product.

Every objective exposes the same small interface, so the analyses can run the same optimizer
loop on a quadratic, on logistic regression on real data, or on a small network:

``dim``, ``loss(theta)``, ``grad(theta)``, ``hvp(theta, v)`` (exact), ``hessian(theta)``
(dense, for small problems), ``blocks`` (parameter groups, e.g. layers, as slices), and
``initial(seed)``. :func:`minimize` finds a minimizer to high precision with L-BFGS.

Data sets come from scikit-learn's bundled files (no download at run time): the Wisconsin
breast-cancer data (569 × 30, binary) and the UCI digits (1797 × 64, ten classes). Features are
standardized to zero mean and unit variance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrctl._validation import as_rng, check_finite, check_positive

__all__ = [
    "LogisticRegression",
    "QuadraticObjective",
    "SoftmaxRegression",
    "load_dataset",
    "minimize",
]


def load_dataset(name: str, *, standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a data set bundled with scikit-learn: ``"breast_cancer"`` or ``"digits"``.

    >>> X, y = load_dataset("breast_cancer")
    >>> X.shape, sorted(set(y.tolist()))
    ((569, 30), [0, 1])
    """
    from sklearn import datasets

    loaders = {"breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits}
    if name not in loaders:
        raise ValueError(f"name must be one of {sorted(loaders)}, got {name!r}")
    X, y = loaders[name](return_X_y=True)
    X = np.asarray(X, dtype=float)
    if standardize:
        std = X.std(axis=0)
        std[std == 0] = 1.0  # constant pixels in digits
        X = (X - X.mean(axis=0)) / std
    return X, np.asarray(y, dtype=int)


class _Objective:
    dim: int
    blocks: tuple[slice, ...]

    def _check_theta(self, theta: Any, name: str = "theta") -> np.ndarray:
        t = check_finite(name, theta)
        if t.shape != (self.dim,):
            raise ValueError(f"{name} must have shape ({self.dim},), got {t.shape}")
        return t

    def hessian(self, theta: Any) -> np.ndarray:
        """The dense Hessian, column by column from :meth:`hvp` (small problems only)."""
        theta = self._check_theta(theta)
        eye = np.eye(self.dim)
        H = np.column_stack([self.hvp(theta, eye[:, i]) for i in range(self.dim)])
        return 0.5 * (H + H.T)

    def initial(self, seed: Any = 0, scale: float = 0.01) -> np.ndarray:
        """A small random starting point."""
        return scale * as_rng(seed).standard_normal(self.dim)


@dataclass(frozen=True, eq=False)
class QuadraticObjective(_Objective):
    """L(θ) = L* + ½ (θ − θ*)ᵀ H (θ − θ*): the local model itself, as a plant.

    >>> q = QuadraticObjective(np.diag([1.0, 10.0]))
    >>> float(q.loss(np.array([1.0, 1.0])))
    5.5
    """

    hessian_matrix: np.ndarray
    minimizer: np.ndarray | None = None
    loss_min: float = 0.0
    blocks: tuple[slice, ...] = field(default=())

    def __post_init__(self) -> None:
        H = check_finite("hessian_matrix", self.hessian_matrix)
        if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
            raise ValueError(f"hessian_matrix must be a non-empty square matrix, got shape {H.shape}")
        if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(H).max())):
            raise ValueError("hessian_matrix must be symmetric")
        object.__setattr__(self, "hessian_matrix", H)
        d = H.shape[0]
        m = np.zeros(d) if self.minimizer is None else check_finite("minimizer", self.minimizer)
        if m.shape != (d,):
            raise ValueError(f"minimizer must have shape ({d},), got {m.shape}")
        object.__setattr__(self, "minimizer", m)
        if not self.blocks:
            object.__setattr__(self, "blocks", (slice(0, d),))

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.hessian_matrix.shape[0]

    def loss(self, theta: Any) -> float:
        e = self._check_theta(theta) - self.minimizer
        return float(self.loss_min + 0.5 * e @ self.hessian_matrix @ e)

    def grad(self, theta: Any) -> np.ndarray:
        return self.hessian_matrix @ (self._check_theta(theta) - self.minimizer)

    def hvp(self, theta: Any, v: Any) -> np.ndarray:
        return self.hessian_matrix @ self._check_theta(v, "v")

    def hessian(self, theta: Any = None) -> np.ndarray:
        return self.hessian_matrix.copy()


class LogisticRegression(_Objective):
    """Binary logistic regression with an intercept and an L2 penalty.

    L(θ) = (1/n) Σ_i [log(1 + e^{z_i}) − y_i z_i] + (l2/2)‖θ‖²,  z = X̃θ, X̃ = [X, 1].

    ∇L = X̃ᵀ(σ(z) − y)/n + l2·θ,  ∇²L·v = X̃ᵀ(σ(1−σ) ⊙ X̃v)/n + l2·v (exact).

    >>> obj = LogisticRegression.from_dataset("breast_cancer", l2=1e-2)
    >>> obj.dim
    31
    """

    def __init__(self, X: Any, y: Any, l2: float = 0.0) -> None:
        X = check_finite("X", X)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
        y = check_finite("y", y)
        if y.shape != (X.shape[0],) or not np.all((y == 0) | (y == 1)):
            raise ValueError("y must be a vector of 0/1 labels, one per row of X")
        self.X = np.hstack([X, np.ones((X.shape[0], 1))])
        self.y = y
        self.l2 = float(check_positive("l2", l2, allow_zero=True))
        self.dim = self.X.shape[1]
        self.blocks = (slice(0, self.dim - 1), slice(self.dim - 1, self.dim))

    @classmethod
    def from_dataset(cls, name: str = "breast_cancer", l2: float = 0.0) -> LogisticRegression:
        X, y = load_dataset(name)
        if len(set(y.tolist())) != 2:
            raise ValueError(f"data set {name!r} is not binary; use SoftmaxRegression")
        return cls(X, y, l2=l2)

    def loss(self, theta: Any) -> float:
        z = self.X @ self._check_theta(theta)
        return float(np.mean(np.logaddexp(0.0, z) - self.y * z) + 0.5 * self.l2 * theta @ theta)

    def grad(self, theta: Any) -> np.ndarray:
        theta = self._check_theta(theta)
        s = _sigmoid(self.X @ theta)
        return self.X.T @ (s - self.y) / len(self.y) + self.l2 * theta

    def hvp(self, theta: Any, v: Any) -> np.ndarray:
        theta, v = self._check_theta(theta), self._check_theta(v, "v")
        s = _sigmoid(self.X @ theta)
        return self.X.T @ (s * (1 - s) * (self.X @ v)) / len(self.y) + self.l2 * v

    def hessian(self, theta: Any) -> np.ndarray:
        s = _sigmoid(self.X @ self._check_theta(theta))
        H = (self.X * (s * (1 - s))[:, None]).T @ self.X / len(self.y)
        return H + self.l2 * np.eye(self.dim)

    def accuracy(self, theta: Any) -> float:
        return float(np.mean((self.X @ self._check_theta(theta) > 0) == (self.y == 1)))


class SoftmaxRegression(_Objective):
    """Multinomial logistic regression (softmax) with intercepts and an L2 penalty.

    θ is the flattened (d+1) × C weight matrix W. L = mean(logsumexp(X̃W) − (X̃W)_{y})
    + (l2/2)‖W‖²; the Hessian-vector product is exact (R-operator of the softmax).
    """

    def __init__(self, X: Any, y: Any, n_classes: int | None = None, l2: float = 0.0) -> None:
        X = check_finite("X", X)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
        y = np.asarray(y)
        if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise ValueError("y must be a vector of non-negative integer labels, one per row of X")
        self.n_classes = int(n_classes if n_classes is not None else y.max() + 1)
        if y.max() >= self.n_classes:
            raise ValueError(f"labels reach {y.max()} but n_classes is {self.n_classes}")
        self.X = np.hstack([X, np.ones((X.shape[0], 1))])
        self.y = y
        self.Y = np.eye(self.n_classes)[y]
        self.l2 = float(check_positive("l2", l2, allow_zero=True))
        self.dim = self.X.shape[1] * self.n_classes
        self.blocks = (slice(0, self.dim),)

    @classmethod
    def from_dataset(cls, name: str = "digits", l2: float = 0.0) -> SoftmaxRegression:
        X, y = load_dataset(name)
        return cls(X, y, l2=l2)

    def _W(self, theta: np.ndarray) -> np.ndarray:
        return theta.reshape(self.X.shape[1], self.n_classes)

    def _probs(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = self.X @ self._W(theta)
        Z = Z - Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(axis=1, keepdims=True)
        return Z, P

    def loss(self, theta: Any) -> float:
        theta = self._check_theta(theta)
        Z, _ = self._probs(theta)
        lse = np.log(np.exp(Z).sum(axis=1))
        nll = np.mean(lse - Z[np.arange(len(self.y)), self.y])
        return float(nll + 0.5 * self.l2 * theta @ theta)

    def grad(self, theta: Any) -> np.ndarray:
        theta = self._check_theta(theta)
        _, P = self._probs(theta)
        G = self.X.T @ (P - self.Y) / len(self.y)
        return G.ravel() + self.l2 * theta

    def hvp(self, theta: Any, v: Any) -> np.ndarray:
        theta, v = self._check_theta(theta), self._check_theta(v, "v")
        _, P = self._probs(theta)
        U = self.X @ self._W(v)
        RP = P * (U - np.sum(P * U, axis=1, keepdims=True))
        return (self.X.T @ RP / len(self.y)).ravel() + self.l2 * v

    def predict(self, theta: Any) -> np.ndarray:
        return np.argmax(self.X @ self._W(self._check_theta(theta)), axis=1)

    def accuracy(self, theta: Any) -> float:
        return float(np.mean(self.predict(theta) == self.y))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def minimize(objective: Any, theta0: Any = None, *, gtol: float = 1e-10,
             max_iter: int = 10_000) -> np.ndarray:
    """A minimizer of ``objective`` by L-BFGS (scipy), to gradient norm ``gtol``.

    Raises ``RuntimeError`` when the optimizer stops without reaching the tolerance.
    """
    from scipy.optimize import minimize as sp_minimize

    x0 = np.zeros(objective.dim) if theta0 is None else check_finite("theta0", theta0)
    res = sp_minimize(
        objective.loss, x0, jac=objective.grad, method="L-BFGS-B",
        options={"gtol": gtol, "ftol": 0.0, "maxiter": max_iter, "maxcor": 30},
    )
    gnorm = float(np.linalg.norm(objective.grad(res.x)))
    if not np.isfinite(gnorm) or gnorm > max(1e3 * gtol, 1e-6):
        raise RuntimeError(f"minimize did not converge: |grad| = {gnorm:.3g} ({res.message})")
    return res.x
