"""The Objective protocol, and real training problems used as plants.

**The protocol.** :class:`Objective` is what every dynamic tool of lrctl (``training.run``
and its policies, ``rangetest``, ``adaptive``, and the Hessian operators given to
``curvature``) needs from a problem, on one flat float64 parameter vector θ:

- ``dim``: the number of parameters;
- ``loss(theta) -> float``, ``grad(theta) -> (dim,)``, ``hvp(theta, v) -> (dim,)`` (H(θ)·v);
- optional: ``loss_and_grad(theta)`` (one pass), ``blocks`` (a tuple of slices, one per
  layer), ``initial()`` (a starting point), and ``stacked = True`` (see below).

Any class with these methods works; it needs no lrctl base class. :func:`check_objective`
checks an object at the door and names what is missing.

**Stacked parameters** (an optimization, never a requirement). lrctl's own problems declare
``stacked = True``: ``loss``, ``grad``, ``loss_and_grad`` and ``hvp`` then also take a stack
of K parameter vectors, shape ``(K, dim)``, and return K losses (shape ``(K,)``) and K
gradients (shape ``(K, dim)``), so a sweep over K learning rates is one batched matrix product
per step instead of K Python calls. ``training.run`` uses the stack only when the objective
says ``stacked = True``; otherwise it calls the single-vector methods once per run.

Problems:

- :class:`QuadraticObjective`: the local quadratic model itself;
- :class:`LogisticRegression` (binary) and :class:`SoftmaxRegression` (multiclass), convex;
- :class:`MLP`: a multilayer perceptron (tanh or ReLU hidden layers, softmax output) with
  the exact Hessian-vector product by Pearlmutter's R-operator and one parameter block per
  layer; non-convex, with layers of different curvature.

Data sets come from scikit-learn's bundled files (no download at run time): the Wisconsin
breast-cancer data (569 × 30, binary) and the UCI digits (1797 × 64, ten classes). Features are
standardized to zero mean and unit variance (:func:`load_dataset`); :func:`split_dataset`
splits train/test first and standardizes both with the training statistics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lrctl._repr import summary_repr
from lrctl._validation import (
    as_rng,
    check_bool,
    check_choice,
    check_finite,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
    check_tol,
    scalar_or_array,
)

__all__ = [
    "MLP",
    "LogisticRegression",
    "Objective",
    "QuadraticObjective",
    "SoftmaxRegression",
    "block_index",
    "check_objective",
    "load_dataset",
    "minimize",
    "split_dataset",
]

_DATASETS = ("breast_cancer", "digits")


class ResultOverflow(ValueError):
    """A loss, gradient or Hessian-vector product overflowed float64 at finite parameters.

    A ``ValueError`` (the parameters are too large for the problem); the training loop catches
    it and records the iterate as diverged.
    """


def _finite_result(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` without floating-point warnings; a non-finite result raises ResultOverflow."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            out = fn(self, *args, **kwargs)
        parts = out if isinstance(out, tuple) else (out,)
        if not all(np.all(np.isfinite(p)) for p in parts):
            raise ResultOverflow(
                f"{type(self).__name__}.{fn.__name__} overflows float64 at these parameters; "
                "theta (or v) too large (scale them down)")
        return out

    return wrapper


@runtime_checkable
class Objective(Protocol):
    """A training problem on one flat float64 parameter vector θ of length ``dim``.

    Required: ``dim``, ``loss(theta) -> float``, ``grad(theta) -> ndarray (dim,)``,
    ``hvp(theta, v) -> ndarray (dim,)`` (the Hessian-vector product H(θ)v). Optional (used
    when present): ``loss_and_grad(theta)``, ``blocks`` (tuple of slices, one per layer),
    ``initial()``, ``stacked`` (True when the methods also take a (K, dim) stack).

    ``isinstance(obj, Objective)`` checks that the required names exist;
    :func:`check_objective` says which are missing.

    >>> import numpy as np
    >>> class Bowl:                       # a user's class: no lrctl base class
    ...     dim = 2
    ...     def loss(self, theta): return 0.5 * float(theta @ theta)
    ...     def grad(self, theta): return np.asarray(theta, dtype=float)
    ...     def hvp(self, theta, v): return np.asarray(v, dtype=float)
    >>> isinstance(Bowl(), Objective), isinstance(object(), Objective)
    (True, False)
    """

    dim: int

    def loss(self, theta: Any) -> Any: ...

    def grad(self, theta: Any) -> Any: ...

    def hvp(self, theta: Any, v: Any) -> Any: ...


_REQUIRED = ("dim", "loss", "grad", "hvp")


def check_objective(obj: Any, name: str = "objective",
                    require: Sequence[str] = _REQUIRED) -> Any:
    """``obj`` if it has every attribute in ``require``, else a ``TypeError`` naming the missing.

    ``dim`` must be a positive integer; the others must be callable.

    >>> check_objective(object(), require=("dim", "loss"))
    Traceback (most recent call last):
    ...
    TypeError: objective must be an Objective (dim, loss, grad, hvp); object lacks dim, loss
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (used in the messages), got {name!r}")
    if isinstance(require, (str, bytes)) or not isinstance(require, (Sequence, set, frozenset)) \
            or not all(isinstance(a, str) for a in require):
        raise TypeError(f"require must be a sequence of attribute names, got {require!r}")
    missing = []
    for attr in require:
        value = getattr(obj, attr, None)
        if value is None or (attr != "dim" and not callable(value)):
            missing.append(attr)
    if missing:
        raise TypeError(f"{name} must be an Objective (dim, loss, grad, hvp); "
                        f"{type(obj).__name__} lacks {', '.join(missing)}")
    if "dim" in require:
        check_int(f"{name}.dim", obj.dim, minimum=1)
    return obj


def _raw_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    check_choice("name", name, _DATASETS)
    loader = {"breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits}[name]
    X, y = loader(return_X_y=True)
    return np.asarray(X, dtype=float), np.asarray(y, dtype=int)


def _standardizer(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = X.std(axis=0)
    std[std == 0] = 1.0  # constant pixels in digits
    return X.mean(axis=0), std


def load_dataset(name: str, *, standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a data set bundled with scikit-learn: ``"breast_cancer"`` or ``"digits"``.

    >>> X, y = load_dataset("breast_cancer")
    >>> X.shape, sorted(set(y.tolist()))
    ((569, 30), [0, 1])
    """
    standardize = check_bool("standardize", standardize)
    X, y = _raw_dataset(name)
    if standardize:
        mean, std = _standardizer(X)
        X = (X - mean) / std
    return X, y


def split_dataset(
    name: str, *, test_fraction: float = 0.25, seed: Any = 0, standardize: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)``: a stratified random split of a bundled data set.

    With ``standardize`` (the default) both parts are standardized with the mean and standard
    deviation of the *training* part (the test set does not leak into the features); without
    it the raw features are returned (digits: pixel intensities 0…16). Same ``seed``, same
    split.

    >>> Xtr, ytr, Xte, yte = split_dataset("digits", test_fraction=0.25, seed=0)
    >>> Xtr.shape, Xte.shape
    ((1347, 64), (450, 64))
    """
    from sklearn.model_selection import train_test_split

    frac = float(check_in_interval("test_fraction", check_scalar("test_fraction", test_fraction),
                                   0.0, 1.0, low_closed=False, high_closed=False))
    standardize = check_bool("standardize", standardize)
    X, y = _raw_dataset(name)
    seed_int = int(as_rng(seed).integers(2**31 - 1))
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=frac, random_state=seed_int, stratify=y)
    if not standardize:
        return Xtr, ytr, Xte, yte
    mean, std = _standardizer(Xtr)
    return (Xtr - mean) / std, ytr, (Xte - mean) / std, yte


def block_index(objective: Any) -> tuple[tuple[slice, ...], np.ndarray]:
    """``(blocks, owner)``: the objective's parameter blocks and, per parameter, its block.

    ``TypeError`` when the objective has no ``blocks``; ``ValueError`` when they leave a
    parameter uncovered.

    >>> q = QuadraticObjective(np.eye(3), blocks=(slice(0, 1), slice(1, 3)))
    >>> block_index(q)[1].tolist()
    [0, 1, 1]
    """
    blocks = tuple(getattr(objective, "blocks", None) or ())
    if not blocks:
        raise TypeError(f"a per-block method needs an objective with `blocks` (one slice per "
                        f"parameter block); {type(objective).__name__} has none")
    owner = np.full(objective.dim, -1)
    for i, sl in enumerate(blocks):
        owner[sl] = i
    if np.any(owner < 0):
        raise ValueError("the objective's blocks do not cover every parameter")
    return blocks, owner


class _Objective:
    dim: int
    blocks: tuple[slice, ...]
    stacked = True  # the methods take (K, dim) stacks (see the module docstring)

    def _check_theta(self, theta: Any, name: str = "theta", *, stacked: bool = False) -> np.ndarray:
        t = check_finite(name, theta)
        ok = t.shape == (self.dim,) or (stacked and t.ndim == 2 and t.shape[1] == self.dim
                                        and t.shape[0] > 0)
        if not ok:
            shapes = f"({self.dim},) or (K, {self.dim})" if stacked else f"({self.dim},)"
            raise ValueError(f"{name} must have shape {shapes}, got {t.shape}")
        return t

    def _check_pair(self, theta: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
        theta = self._check_theta(theta, stacked=True)
        v = self._check_theta(v, "v", stacked=True)
        if v.shape != theta.shape:
            raise ValueError(f"v must have the shape of theta {theta.shape}, got {v.shape}")
        return theta, v

    @_finite_result
    def loss_and_grad(self, theta: Any) -> tuple[Any, np.ndarray]:
        """``(loss(theta), grad(theta))`` (one pass where the objective can share work)."""
        return self.loss(theta), self.grad(theta)

    def hessian(self, theta: Any) -> np.ndarray:
        """The dense Hessian, column by column from :meth:`hvp` (small problems only)."""
        theta = self._check_theta(theta)
        eye = np.eye(self.dim)
        H = np.column_stack([self.hvp(theta, eye[:, i]) for i in range(self.dim)])
        return 0.5 * (H + H.T)

    def initial(self, seed: Any = 0, scale: float = 0.01) -> np.ndarray:
        """A small random starting point."""
        return scale * as_rng(seed).standard_normal(self.dim)


def _out(value: np.ndarray) -> Any:
    """A 0-d result as a Python float, a stacked one as an array."""
    return scalar_or_array(value)


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
            raise ValueError(
                f"hessian_matrix must be a non-empty square matrix, got shape {H.shape}")
        if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(H).max())):
            raise ValueError("hessian_matrix must be symmetric")
        object.__setattr__(self, "hessian_matrix", H)
        d = H.shape[0]
        m = np.zeros(d) if self.minimizer is None else check_finite("minimizer", self.minimizer)
        if m.shape != (d,):
            raise ValueError(f"minimizer must have shape ({d},), got {m.shape}")
        object.__setattr__(self, "minimizer", m)
        object.__setattr__(self, "loss_min", check_scalar("loss_min", self.loss_min))
        blocks = self.blocks
        if isinstance(blocks, (str, bytes, dict, np.ndarray)) or not isinstance(
                blocks, (tuple, list)):
            raise TypeError(f"blocks must be a tuple of slices (one per parameter block), got "
                            f"{type(blocks).__name__}")
        for i, b in enumerate(blocks):
            if not (isinstance(b, slice) and b.step in (None, 1)
                    and isinstance(b.start, (int, np.integer)) and 0 <= b.start
                    and isinstance(b.stop, (int, np.integer)) and b.start < b.stop <= d):
                raise ValueError(f"blocks[{i}] must be a slice(start, stop) with "
                                 f"0 <= start < stop <= {d}, got {b!r}")
        object.__setattr__(self, "blocks", tuple(blocks) or (slice(0, d),))

    __repr__ = summary_repr

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.hessian_matrix.shape[0]

    @_finite_result
    def loss(self, theta: Any) -> Any:
        e = self._check_theta(theta, stacked=True) - self.minimizer
        return _out(self.loss_min + 0.5 * np.sum((e @ self.hessian_matrix) * e, axis=-1))

    @_finite_result
    def grad(self, theta: Any) -> np.ndarray:
        # H is symmetric, so (H e)ᵀ = eᵀ H: one product serves a single vector and a stack.
        return (self._check_theta(theta, stacked=True) - self.minimizer) @ self.hessian_matrix

    @_finite_result
    def hvp(self, theta: Any, v: Any) -> np.ndarray:
        _, v = self._check_pair(theta, v)
        return v @ self.hessian_matrix

    def hessian(self, theta: Any = None) -> np.ndarray:
        """H (the same at every θ; ``theta``, when given, is checked like any parameter)."""
        if theta is not None:
            self._check_theta(theta)
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
        self.l2 = float(check_positive("l2", check_scalar("l2", l2), allow_zero=True))
        self.dim = self.X.shape[1]
        self.blocks = (slice(0, self.dim - 1), slice(self.dim - 1, self.dim))

    @classmethod
    def from_dataset(cls, name: str = "breast_cancer", l2: float = 0.0) -> LogisticRegression:
        X, y = load_dataset(name)
        if len(set(y.tolist())) != 2:
            raise ValueError(f"data set {name!r} is not binary; use SoftmaxRegression")
        return cls(X, y, l2=l2)

    @_finite_result
    def loss(self, theta: Any) -> Any:
        theta = self._check_theta(theta, stacked=True)
        z = theta @ self.X.T
        nll = np.mean(np.logaddexp(0.0, z) - self.y * z, axis=-1)
        return _out(nll + 0.5 * self.l2 * np.sum(theta * theta, axis=-1))

    @_finite_result
    def grad(self, theta: Any) -> np.ndarray:
        theta = self._check_theta(theta, stacked=True)
        s = _sigmoid(theta @ self.X.T)
        return (s - self.y) @ self.X / len(self.y) + self.l2 * theta

    @_finite_result
    def loss_and_grad(self, theta: Any) -> tuple[Any, np.ndarray]:
        """Loss and gradient from one product X̃θ."""
        theta = self._check_theta(theta, stacked=True)
        z = theta @ self.X.T
        nll = np.mean(np.logaddexp(0.0, z) - self.y * z, axis=-1)
        loss = _out(nll + 0.5 * self.l2 * np.sum(theta * theta, axis=-1))
        g = (_sigmoid(z) - self.y) @ self.X / len(self.y) + self.l2 * theta
        return loss, g

    @_finite_result
    def hvp(self, theta: Any, v: Any) -> np.ndarray:
        theta, v = self._check_pair(theta, v)
        s = _sigmoid(theta @ self.X.T)
        return (s * (1 - s) * (v @ self.X.T)) @ self.X / len(self.y) + self.l2 * v

    def hessian(self, theta: Any) -> np.ndarray:
        s = _sigmoid(self.X @ self._check_theta(theta))
        H = (self.X * (s * (1 - s))[:, None]).T @ self.X / len(self.y)
        return H + self.l2 * np.eye(self.dim)

    def accuracy(self, theta: Any) -> Any:
        z = self._check_theta(theta, stacked=True) @ self.X.T
        return _out(np.mean((z > 0) == (self.y == 1), axis=-1))


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
        self.n_classes = (int(y.max()) + 1 if n_classes is None
                          else check_int("n_classes", n_classes, minimum=2))
        if y.max() >= self.n_classes:
            raise ValueError(f"n_classes must exceed every label: labels reach {y.max()} but "
                             f"n_classes is {self.n_classes}")
        self.X = np.hstack([X, np.ones((X.shape[0], 1))])
        self.y = y
        self.Y = np.eye(self.n_classes)[y]
        self.l2 = float(check_positive("l2", check_scalar("l2", l2), allow_zero=True))
        self.dim = self.X.shape[1] * self.n_classes
        self.blocks = (slice(0, self.dim),)

    @classmethod
    def from_dataset(cls, name: str = "digits", l2: float = 0.0) -> SoftmaxRegression:
        X, y = load_dataset(name)
        return cls(X, y, l2=l2)

    def _W(self, theta: np.ndarray) -> np.ndarray:
        return theta.reshape(*theta.shape[:-1], self.X.shape[1], self.n_classes)

    def _logits(self, theta: np.ndarray) -> np.ndarray:
        """X̃W, shape (n, C), or (K, n, C) for a stack: one (n × (d+1)) @ ((d+1) × KC) GEMM."""
        W = self._W(theta)
        if W.ndim == 2:
            return self.X @ W
        k, d1, c = W.shape
        Z = self.X @ W.transpose(1, 0, 2).reshape(d1, k * c)
        return Z.reshape(-1, k, c).transpose(1, 0, 2)

    def _back(self, R: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """X̃ᵀR (per stack member, as one GEMM), flattened to the parameter shape."""
        if R.ndim == 2:
            return (self.X.T @ R).reshape(shape)
        k, n, c = R.shape
        G = self.X.T @ R.transpose(1, 0, 2).reshape(n, k * c)
        return G.reshape(-1, k, c).transpose(1, 0, 2).reshape(shape)

    def _probs(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = self._logits(theta)
        Z = Z - Z.max(axis=-1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(axis=-1, keepdims=True)
        return Z, P

    @_finite_result
    def loss(self, theta: Any) -> Any:
        theta = self._check_theta(theta, stacked=True)
        Z, _ = self._probs(theta)
        lse = np.log(np.exp(Z).sum(axis=-1))
        nll = np.mean(lse - Z[..., np.arange(len(self.y)), self.y], axis=-1)
        return _out(nll + 0.5 * self.l2 * np.sum(theta * theta, axis=-1))

    @_finite_result
    def grad(self, theta: Any) -> np.ndarray:
        return self.loss_and_grad(theta)[1]

    @_finite_result
    def loss_and_grad(self, theta: Any) -> tuple[Any, np.ndarray]:
        """Loss and gradient from one forward pass."""
        theta = self._check_theta(theta, stacked=True)
        Z, P = self._probs(theta)
        lse = np.log(np.exp(Z).sum(axis=-1))
        nll = np.mean(lse - Z[..., np.arange(len(self.y)), self.y], axis=-1)
        loss = _out(nll + 0.5 * self.l2 * np.sum(theta * theta, axis=-1))
        return loss, self._back(P - self.Y, theta.shape) / len(self.y) + self.l2 * theta

    @_finite_result
    def hvp(self, theta: Any, v: Any) -> np.ndarray:
        theta, v = self._check_pair(theta, v)
        _, P = self._probs(theta)
        U = self._logits(v)
        RP = P * (U - np.sum(P * U, axis=-1, keepdims=True))
        return self._back(RP, v.shape) / len(self.y) + self.l2 * v

    def predict(self, theta: Any) -> np.ndarray:
        return np.argmax(self.X @ self._W(self._check_theta(theta, stacked=True)), axis=-1)

    def accuracy(self, theta: Any) -> Any:
        return _out(np.mean(self.predict(theta) == self.y, axis=-1))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1/(1 + e^{−z}) from e^{−|z|} ≤ 1: no overflow, full relative accuracy in both tails."""
    ez = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, ez) / (1.0 + ez)


# ---------------------------------------------------------------------------------------
# A multilayer perceptron with the exact Hessian-vector product
# ---------------------------------------------------------------------------------------

_ACTIVATIONS = ("tanh", "relu")


class MLP(_Objective):
    r"""A multilayer perceptron classifier: hidden tanh (or ReLU) layers, softmax output.

    Layers ℓ = 1 … m map a_{ℓ−1} to z_ℓ = a_{ℓ−1} W_ℓ + b_ℓ, a_ℓ = φ(z_ℓ) (the output layer
    has no φ), a_0 = x. The loss is the mean cross-entropy of softmax(z_m) plus
    (l2/2)‖θ‖²; θ concatenates W_1 (row-major), b_1, W_2, b_2, …, and ``blocks[ℓ]`` is the
    slice of layer ℓ + 1 (its weights and its bias), so the Hessian blocks H_ℓ are the
    per-layer curvatures.

    Gradient: backpropagation, δ_m = (P − Y)/n, δ_{ℓ−1} = (δ_ℓ W_ℓᵀ) ⊙ φ'(z_{ℓ−1}),
    ∇W_ℓ = a_{ℓ−1}ᵀ δ_ℓ, ∇b_ℓ = Σ_rows δ_ℓ.

    Hessian-vector product Hv, exact, by Pearlmutter's R-operator R{·} = d/dr (·)(θ + r v)
    at r = 0, one forward and one backward pass:

    - forward: R{z_ℓ} = R{a_{ℓ−1}} W_ℓ + a_{ℓ−1} V_ℓ + v_{b,ℓ},  R{a_ℓ} = φ'(z_ℓ) ⊙ R{z_ℓ};
    - output: R{δ_m} = P ⊙ (R{z_m} − rowsum(P ⊙ R{z_m}))/n;
    - backward: R{∇W_ℓ} = R{a_{ℓ−1}}ᵀ δ_ℓ + a_{ℓ−1}ᵀ R{δ_ℓ},
      R{δ_{ℓ−1}} = (R{δ_ℓ} W_ℓᵀ + δ_ℓ V_ℓᵀ) ⊙ φ'(z_{ℓ−1}) + (δ_ℓ W_ℓᵀ) ⊙ φ''(z_{ℓ−1}) ⊙ R{z_{ℓ−1}};
    - plus l2·v.

    With ``hidden=()`` the network is softmax regression, and its loss, gradient and
    Hessian-vector product equal those of :class:`SoftmaxRegression` (same parameter order).

    Parameters
    ----------
    X, y
        Training features (n × d) and integer labels.
    hidden
        Widths of the hidden layers, e.g. ``(32,)``.
    activation
        ``"tanh"`` (smooth; the default) or ``"relu"`` (φ'' = 0 away from the kinks).
    l2
        The L2 penalty coefficient (on every parameter), >= 0.
    n_classes
        Number of classes (default: ``max(y) + 1``).

    Every method that takes parameters also takes ``batch=``, an index array of training rows:
    the loss, gradient and Hessian-vector product of that mini-batch (stochastic training).

    >>> Xtr, ytr, Xte, yte = split_dataset("digits", seed=0)
    >>> net = MLP(Xtr, ytr, hidden=(32,))
    >>> net.dim, [b.stop - b.start for b in net.blocks]
    (2410, [2080, 330])
    >>> theta = net.initial(seed=0)
    >>> 2.0 < net.loss(theta) < 3.0   # near ln 10 = 2.30 at a random start
    True
    """

    def __init__(self, X: Any, y: Any, hidden: Any = (32,), *, activation: str = "tanh",
                 l2: float = 0.0, n_classes: int | None = None) -> None:
        X = check_finite("X", X)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
        y = np.asarray(y)
        if (y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer)
                or y.min() < 0):
            raise ValueError("y must be a vector of non-negative integer labels, one per row of X")
        if (isinstance(hidden, (str, bytes, dict, set, frozenset)) or not hasattr(hidden, "__iter__")
                or (isinstance(hidden, np.ndarray) and hidden.dtype.kind not in "iu")):
            raise TypeError(f"hidden must be a sequence of layer widths (ints >= 1), got "
                            f"{hidden!r}")
        widths = tuple(check_int(f"hidden[{i}]", w, minimum=1) for i, w in enumerate(hidden))
        self.activation = check_choice("activation", activation, _ACTIVATIONS)
        self.n_classes = (int(y.max()) + 1 if n_classes is None
                          else check_int("n_classes", n_classes, minimum=2))
        if self.n_classes < 2 or y.max() >= self.n_classes:
            raise ValueError(f"n_classes must be >= 2 and > every label (max {y.max()}), "
                             f"got {self.n_classes}")
        self.l2 = float(check_positive("l2", check_scalar("l2", l2), allow_zero=True))
        self.X = X
        self.y = y
        self.Y = np.eye(self.n_classes)[y]
        self.hidden = widths
        self.sizes = (X.shape[1], *widths, self.n_classes)
        shapes, blocks, start = [], [], 0
        for d_in, d_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            w = slice(start, start + d_in * d_out)
            b = slice(w.stop, w.stop + d_out)
            shapes.append((w, b, d_in, d_out))
            blocks.append(slice(start, b.stop))
            start = b.stop
        self._layers = tuple(shapes)
        self.blocks = tuple(blocks)
        self.dim = start

    @classmethod
    def from_dataset(cls, name: str = "digits", hidden: Any = (32,), *,
                     activation: str = "tanh", l2: float = 0.0) -> MLP:
        """The network on a whole bundled data set (see :func:`split_dataset` for a split)."""
        X, y = load_dataset(name)
        return cls(X, y, hidden, activation=activation, l2=l2)

    @property
    def n_layers(self) -> int:
        return len(self._layers)

    def initial(self, seed: Any = 0, scale: float = 1.0) -> np.ndarray:
        """LeCun-normal weights W_ℓ ~ N(0, scale²/fan_in) and zero biases."""
        rng = as_rng(seed)
        scale = float(check_positive("scale", check_scalar("scale", scale)))
        theta = np.zeros(self.dim)
        for w, _, d_in, d_out in self._layers:
            theta[w] = scale * rng.standard_normal(d_in * d_out) / np.sqrt(d_in)
        return theta

    # -- internals ----------------------------------------------------------------------
    def _unpack(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        lead = theta.shape[:-1]
        return [(theta[..., w].reshape(*lead, d_in, d_out), theta[..., b].reshape(*lead, 1, d_out))
                for w, b, d_in, d_out in self._layers]

    def _data(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        if batch is None:
            return self.X, self.Y
        idx = np.asarray(batch)
        if (idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer)
                or idx.min() < 0 or idx.max() >= len(self.y)):
            raise ValueError(f"batch must be a non-empty 1-D array of row indices in "
                             f"[0, {len(self.y)}), got {batch!r}")
        return self.X[idx], self.Y[idx]

    def _phi(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """φ(z), φ'(z), φ''(z)."""
        if self.activation == "tanh":
            a = np.tanh(z)
            d1 = 1.0 - a * a
            return a, d1, -2.0 * a * d1
        pos = z > 0
        return np.where(pos, z, 0.0), pos.astype(float), np.zeros_like(z)

    def _forward(self, theta: np.ndarray, X: np.ndarray):
        params = self._unpack(theta)
        acts, derivs = [X], []
        z = X
        for i, (W, b) in enumerate(params):
            z = acts[-1] @ W + b
            if i < len(params) - 1:
                a, d1, d2 = self._phi(z)
                acts.append(a)
                derivs.append((z, d1, d2))
        z = z - z.max(axis=-1, keepdims=True)
        ez = np.exp(z)
        s = ez.sum(axis=-1, keepdims=True)
        return params, acts, derivs, z, ez / s, np.log(s)

    def _nll(self, z: np.ndarray, log_s: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return np.mean(log_s[..., 0] - np.sum(z * Y, axis=-1), axis=-1)

    def _flatten(self, grads: list[tuple[np.ndarray, np.ndarray]],
                 lead: tuple[int, ...]) -> np.ndarray:
        parts = []
        for gW, gb in grads:
            parts.append(gW.reshape(*lead, -1))
            parts.append(gb.reshape(*lead, -1))
        return np.concatenate(parts, axis=-1)

    def _backward(self, params, acts, derivs, P, Y, lead) -> np.ndarray:
        n = Y.shape[0]
        delta = (P - Y) / n
        grads: list[Any] = [None] * len(params)
        for i in range(len(params) - 1, -1, -1):
            W, _ = params[i]
            grads[i] = (np.swapaxes(acts[i], -1, -2) @ delta, delta.sum(axis=-2))
            if i > 0:
                delta = (delta @ np.swapaxes(W, -1, -2)) * derivs[i - 1][1]
        return self._flatten(grads, lead)

    # -- the interface ------------------------------------------------------------------
    @_finite_result
    def loss(self, theta: Any, *, batch: Any = None) -> Any:
        theta = self._check_theta(theta, stacked=True)
        X, Y = self._data(batch)
        *_, z, _, log_s = self._forward(theta, X)
        return _out(self._nll(z, log_s, Y) + 0.5 * self.l2 * np.sum(theta * theta, axis=-1))

    @_finite_result
    def loss_and_grad(self, theta: Any, *, batch: Any = None) -> tuple[Any, np.ndarray]:
        theta = self._check_theta(theta, stacked=True)
        X, Y = self._data(batch)
        params, acts, derivs, z, P, log_s = self._forward(theta, X)
        loss = self._nll(z, log_s, Y) + 0.5 * self.l2 * np.sum(theta * theta, axis=-1)
        g = self._backward(params, acts, derivs, P, Y, theta.shape[:-1]) + self.l2 * theta
        return _out(loss), g

    @_finite_result
    def grad(self, theta: Any, *, batch: Any = None) -> np.ndarray:
        return self.loss_and_grad(theta, batch=batch)[1]

    @_finite_result
    def hvp(self, theta: Any, v: Any, *, batch: Any = None) -> np.ndarray:
        theta, v = self._check_pair(theta, v)
        X, Y = self._data(batch)
        lead = theta.shape[:-1]
        n = Y.shape[0]
        params, acts, derivs, _, P, _ = self._forward(theta, X)
        vparams = self._unpack(v)
        m = len(params)
        # Forward R-pass: R{z_ℓ}, R{a_ℓ}.
        r_acts: list[Any] = [None]  # R{a_0} = R{x} = 0
        r_z: list[np.ndarray] = []
        for i in range(m):
            W, _ = params[i]
            VW, Vb = vparams[i]
            rz = acts[i] @ VW + Vb
            if r_acts[i] is not None:
                rz = rz + r_acts[i] @ W
            r_z.append(rz)
            if i < m - 1:
                r_acts.append(derivs[i][1] * rz)
        # Output layer: δ = (P − Y)/n, R{δ} = R{P}/n.
        delta = (P - Y) / n
        rp = P * (r_z[-1] - np.sum(P * r_z[-1], axis=-1, keepdims=True))
        r_delta = rp / n
        grads: list[Any] = [None] * m
        for i in range(m - 1, -1, -1):
            W, _ = params[i]
            VW, _ = vparams[i]
            rgW = np.swapaxes(acts[i], -1, -2) @ r_delta
            if r_acts[i] is not None:
                rgW = rgW + np.swapaxes(r_acts[i], -1, -2) @ delta
            grads[i] = (rgW, r_delta.sum(axis=-2))
            if i > 0:
                Wt, VWt = np.swapaxes(W, -1, -2), np.swapaxes(VW, -1, -2)
                _, d1, d2 = derivs[i - 1]
                back = delta @ Wt
                r_delta = (r_delta @ Wt + delta @ VWt) * d1 + back * d2 * r_z[i - 1]
                delta = back * d1
        return self._flatten(grads, lead) + self.l2 * v

    def block_hvp(self, theta: Any, block: int, v_block: Any, *, batch: Any = None) -> np.ndarray:
        """H_ℓ v: the diagonal Hessian block of layer ``block`` times ``v_block`` (its size).

        The block vector is embedded in a full zero vector, multiplied by H, and the block's
        rows are returned, so H_ℓ is exactly the diagonal block of the full Hessian.
        """
        b = check_int("block", block, minimum=0)
        if b >= len(self.blocks):
            raise ValueError(f"block must be in [0, {len(self.blocks)}), got {block}")
        sl = self.blocks[b]
        vb = check_finite("v_block", v_block)
        if vb.shape != (sl.stop - sl.start,):
            raise ValueError(f"v_block must have shape ({sl.stop - sl.start},), got {vb.shape}")
        full = np.zeros(self.dim)
        full[sl] = vb
        return self.hvp(theta, full, batch=batch)[sl]

    @_finite_result
    def predict_proba(self, theta: Any, X: Any = None) -> np.ndarray:
        """Class probabilities, shape (n, C) (or (K, n, C) for stacked parameters)."""
        theta = self._check_theta(theta, stacked=True)
        Xe = self.X if X is None else check_finite("X", X)
        if Xe.ndim != 2 or Xe.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have shape (n, {self.sizes[0]}), got {Xe.shape}")
        return self._forward(theta, Xe)[4]

    def predict(self, theta: Any, X: Any = None) -> np.ndarray:
        return np.argmax(self.predict_proba(theta, X), axis=-1)

    def accuracy(self, theta: Any, X: Any = None, y: Any = None) -> Any:
        """Fraction of correct predictions on (X, y); the training set by default."""
        if (X is None) != (y is None):
            raise ValueError("give both X and y (or neither, for the training set)")
        labels = self.y if y is None else np.asarray(y)
        if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"y must be integer class labels, got dtype {labels.dtype}")
        pred = self.predict(theta, X)
        if labels.shape != pred.shape[-1:]:
            raise ValueError(f"y must have one label per row of X ({pred.shape[-1]}), "
                             f"got shape {labels.shape}")
        return _out(np.mean(pred == labels, axis=-1))


def minimize(objective: Any, theta0: Any = None, *, gtol: float = 1e-10,
             max_iter: int = 10_000) -> np.ndarray:
    """A minimizer of ``objective`` by L-BFGS (scipy), to gradient norm ``gtol``.

    Raises ``RuntimeError`` when the optimizer stops without reaching the tolerance.
    """
    from scipy.optimize import minimize as sp_minimize

    check_objective(objective, require=("dim", "loss", "grad"))
    x0 = np.zeros(objective.dim) if theta0 is None else check_finite("theta0", theta0)
    if x0.shape != (objective.dim,):
        raise ValueError(f"theta0 must have shape ({objective.dim},), got {x0.shape}")
    gtol = check_tol("gtol", gtol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    def loss(x: np.ndarray) -> Any:  # a trial point whose loss overflows is rejected, not fatal
        try:
            return objective.loss(x)
        except ResultOverflow:
            return np.inf

    def grad(x: np.ndarray) -> Any:
        try:
            return objective.grad(x)
        except ResultOverflow:
            return np.full(objective.dim, np.inf)

    res = sp_minimize(
        loss, x0, jac=grad, method="L-BFGS-B",
        options={"gtol": gtol, "ftol": 0.0, "maxiter": max_iter, "maxcor": 30},
    )
    gnorm = float(np.linalg.norm(objective.grad(res.x)))
    if not np.isfinite(gnorm) or gnorm > max(1e3 * gtol, 1e-6):
        raise RuntimeError(f"minimize did not converge: |grad| = {gnorm:.3g} ({res.message})")
    return res.x
