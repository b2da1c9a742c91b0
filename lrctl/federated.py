r"""Learning rates in federated learning: FedAvg's client drift on quadratic clients.

Model. N clients; client i holds a share p_i of the data (Σ p_i = 1) and the loss

    f_i(w) = ½ (w − w_i*)ᵀ H_i (w − w_i*),

so the global objective f = Σ p_i f_i has the minimizer (the *true optimum*)

    w* = (Σ p_i H_i)⁻¹ Σ p_i H_i w_i*.

FedAvg (McMahan et al. 2017, full participation, full-batch client gradients). From the server
model w, every client runs K steps of gradient descent with client rate η_c, then the server
moves along the average client update with server rate η_s:

    w_i ← w_i − η_c ∇f_i(w_i)  (K times, from w_i = w),     w ← w − η_s Σ p_i (w − w_i).

On the quadratic, K local steps give w − w_i = C_i (w − w_i*) with

    C_i = I − (I − η_c H_i)^K       (per eigenvalue h of H_i: c = 1 − (1 − η_c h)^K),

so one round is the affine map w ← w − η_s C̄ (w − w_fp) with C̄ = Σ p_i C_i and the FedAvg
fixed point

    w_fp = C̄⁻¹ Σ p_i C_i w_i*                  (1-D: Σ p_i c_i w_i* / Σ p_i c_i).

It differs from w*: each client is weighted by c_i instead of its curvature h_i. For K = 1,
c_i = η_c h_i and w_fp = w* (FedAvg is then gradient descent on f); for K → ∞ with stable local
steps, c_i → 1 and w_fp tends to the plain average Σ p_i w_i* of the client optima. The gap
w_fp − w* is the *client drift* (Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled
Averaging for Federated Learning").

Server stability. The error e = w − w_fp evolves as e ← (I − η_s C̄) e. With stable local steps
(0 < η_c λ_max(H_i) < 2 on every client) each c lies in [0, 2), C̄ is positive definite when
Σ p_i H_i is, and the rounds converge iff

    0 < η_s < 2/λ_max(C̄)                       (> 1: plain averaging, η_s = 1, is stable).

For small η_c, C̄ ≈ K η_c Σ p_i H_i and the bound reads K η_c η_s < 2/λ_max(Σ p_i H_i): the
product of the two rates and the number of local steps is what GD's 2/λ_max limits.

SCAFFOLD (Karimireddy et al. 2020, Algorithm 1 with option II control variates) corrects every
local step by c − c_i, the difference between the server's and the client's control variate;
its fixed point is the true optimum w*. :func:`scaffold_round_matrix` gives its round map on
quadratic clients, whose spectral radius decides convergence.

Arguments ``curvatures`` (client curvature) may be

- a 1-D array of N scalars h_i (a one-dimensional problem, ``optima`` has shape (N,)),
- an (N, d) array: per-client curvatures along d shared eigen-directions (diagonal H_i),
- an (N, d, d) array: the client Hessians H_i (symmetric positive semi-definite),

with ``optima`` of shape (N,) or (N, d). ``weights`` are the p_i (default: equal), normalized
to sum 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lrctl._validation import (
    as_rng,
    check_choice,
    check_finite,
    check_int,
    check_output,
    check_positive,
    check_scalar,
)
from lrctl.training import Divergence

__all__ = [
    "FedAvgDrift",
    "FederatedRun",
    "derive_fedavg_fixed_point",
    "derive_fedavg_server_stability",
    "fedavg_client_factors",
    "fedavg_drift",
    "fedavg_fixed_point",
    "fedavg_offset",
    "fedavg_server_lr_bound",
    "global_optimum",
    "label_skew_split",
    "quadratic_clients",
    "scaffold_round_matrix",
    "scaffold_spectral_radius",
    "simulate_federated",
]

# Relative tolerance under which a slightly negative eigenvalue from round-off counts as 0.
_NEG_TOL = 1e-10


# ---------------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clients:
    """Validated clients in a common eigen-representation.

    ``eig`` (N, d): eigenvalues of H_i; ``vec`` (N, d, d) eigenvectors (columns) or ``None``
    when every H_i is diagonal in the standard basis; ``optima`` (N, d); ``weights`` (N,).
    """

    eig: np.ndarray
    vec: np.ndarray | None
    optima: np.ndarray
    weights: np.ndarray
    scalar: bool  # one-dimensional problem: outputs drop the last axis

    @property
    def n(self) -> int:
        return self.eig.shape[0]

    @property
    def dim(self) -> int:
        return self.eig.shape[1]

    def mean_hessian(self) -> np.ndarray:
        """Σ p_i H_i as a (d, d) matrix."""
        if self.vec is None:
            return np.diag(self.weights @ self.eig)
        return np.einsum("n,nij,nj,nkj->ik", self.weights, self.vec, self.eig, self.vec)

    def hessians(self) -> np.ndarray:
        """The H_i as an (N, d, d) array."""
        if self.vec is None:
            return np.einsum("ni,ij->nij", self.eig, np.eye(self.dim))
        return np.einsum("nij,nj,nkj->nik", self.vec, self.eig, self.vec)


def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    p = check_positive("weights", weights)
    if p.shape != (n,):
        raise ValueError(f"weights must have one entry per client, shape ({n},), got {p.shape}")
    return p / p.sum()


def _clients(curvatures: Any, optima: Any, weights: Any = None, *,
             need_optima: bool = True, name: str = "curvatures") -> _Clients:
    H = check_finite(name, curvatures)
    if H.ndim not in (1, 2, 3) or H.size == 0 or H.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty array of shape (N,) (scalar clients), (N, d) "
            f"(diagonal client Hessians) or (N, d, d) (client Hessians), got shape {H.shape}"
        )
    n = H.shape[0]
    scalar = H.ndim == 1
    if H.ndim == 3:
        if H.shape[1] != H.shape[2]:
            raise ValueError(f"client Hessians must be square: {name} has shape {H.shape}")
        scale = max(float(np.abs(H).max()), 1e-300)
        if not np.allclose(H, np.swapaxes(H, 1, 2), rtol=0.0, atol=1e-10 * scale):
            bad = int(np.argmax(np.abs(H - np.swapaxes(H, 1, 2)).max(axis=(1, 2))))
            raise ValueError(f"{name}[{bad}] must be symmetric (a Hessian)")
        # scaled: eigh of matrices with huge entries does not overflow
        eig, vec = np.linalg.eigh(0.5 * (H + np.swapaxes(H, 1, 2)) / scale)
        eig = eig * scale
    else:
        eig = H.reshape(n, -1).copy()
        vec = None
    scale = max(float(np.abs(eig).max()), 1e-300)
    if eig.min() < -_NEG_TOL * scale:
        i = int(np.argmin(eig.min(axis=1)))
        raise ValueError(
            f"{name}[{i}] has a negative eigenvalue ({eig[i].min():.6g}); a client's "
            "quadratic loss needs positive semi-definite curvature"
        )
    eig = np.clip(eig, 0.0, None)
    d = eig.shape[1]
    if need_optima:
        w = check_finite("optima", optima)
        expected = (n,) if scalar else (n, d)
        if w.shape != expected:
            raise ValueError(f"optima must have shape {expected} (one optimum per client) to "
                             f"match {name} of shape {H.shape}, got {w.shape}")
        w = w.reshape(n, d)
    else:
        w = np.zeros((n, d))
    p = _weights(weights, n)
    clients = _Clients(eig, vec, w, p, scalar)
    with np.errstate(over="ignore", invalid="ignore"):
        mean_eig = (np.linalg.eigvalsh(clients.mean_hessian() / scale) * scale
                    if vec is not None else p @ eig)
    check_output(mean_eig, f"{name} (Σ p_i H_i overflows)")
    if mean_eig.min() <= _NEG_TOL * max(float(mean_eig.max()), 1e-300):
        raise ValueError(
            f"the weighted mean of the client curvatures ({name}), Σ p_i H_i, must be positive "
            f"definite (smallest eigenvalue {mean_eig.min():.3g}): otherwise the global optimum "
            "is not unique"
        )
    return clients


#: Largest number of local steps: 2**53, the largest integer below which every float64 is exact
#: (a float K beyond it is not an integer count, and int64 overflows at 2**63).
_MAX_LOCAL_STEPS = 2**53


def _local_steps(value: Any) -> np.ndarray:
    """``local_steps`` as an int array, every entry an integer in [1, 2**53]."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"local_steps must be an integer >= 1 or an array of them, got {value!r}")
    arr = check_finite("local_steps", value)
    if np.any(arr != np.round(arr)):
        raise TypeError(f"local_steps must be integers (K local steps), got {value!r}")
    if np.any(arr < 1):
        raise ValueError(f"local_steps must be integers >= 1 (K < 1 is no local training), "
                         f"got {value!r}")
    if np.any(arr > _MAX_LOCAL_STEPS):
        raise ValueError(f"local_steps must be <= 2**53 = {_MAX_LOCAL_STEPS:.4g} (an exact "
                         f"integer count), got {value!r}")
    return arr.astype(np.int64)


def _client_lr(value: Any, clients: _Clients) -> np.ndarray:
    eta = check_positive("client_lr", value)
    lam_max = float(clients.eig.max())
    if np.any(eta * lam_max >= 2.0):
        raise ValueError(
            f"client_lr must be < 2/λ_max = {2.0 / lam_max:.6g} (λ_max = {lam_max:.6g}, the largest "
            f"client curvature in curvatures): beyond it local gradient descent diverges; "
            f"got {value!r}"
        )
    return eta


def _factors(eta: np.ndarray, steps: np.ndarray, eig: np.ndarray) -> np.ndarray:
    """c = 1 − (1 − ηλ)^K, shape grid + eig.shape, accurate for small ηλ."""
    x = eta[..., None, None] * eig  # grid + (N, d)
    k = steps[..., None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        small = -np.expm1(k * np.log1p(-np.minimum(x, 0.5)))
    return np.where(x <= 0.5, small, 1.0 - (1.0 - x) ** k)


def _sum_factors(eta: np.ndarray, steps: np.ndarray, eig: np.ndarray) -> np.ndarray:
    """s = η Σ_{j<K} (1 − ηλ)^j = c/λ (= Kη at λ = 0), shape grid + eig.shape."""
    # c is computed without cancellation (expm1/log1p), so c/λ is accurate for every λ > 0
    c = _factors(eta, steps, eig)
    k_eta = (steps * eta)[..., None, None]
    return np.where(eig > 0, c / np.where(eig > 0, eig, 1.0), k_eta)


def _compose(clients: _Clients, diag: np.ndarray) -> np.ndarray:
    """Per-client matrices V_i diag(diag_i) V_iᵀ, shape grid + (N, d, d)."""
    if clients.vec is None:
        return diag[..., None] * np.eye(clients.dim)
    return np.einsum("nij,...nj,nkj->...nik", clients.vec, diag, clients.vec, optimize=True)


def _grid(client_lr: Any, local_steps: Any, clients: _Clients):
    eta = _client_lr(client_lr, clients)
    steps = _local_steps(local_steps)
    shape = np.broadcast_shapes(eta.shape, steps.shape)
    return np.broadcast_to(eta, shape), np.broadcast_to(steps, shape)


def _mean_factor_and_rhs(clients: _Clients, eta: np.ndarray, steps: np.ndarray):
    """C̄ (grid + (d, d), or grid + (d,) for diagonal clients) and Σ p_i C_i w_i*."""
    c = _factors(eta, steps, clients.eig)  # grid + (N, d)
    p = clients.weights
    if clients.vec is None:
        cbar = np.einsum("n,...nd->...d", p, c)
        rhs = np.einsum("n,...nd,nd->...d", p, c, clients.optima)
        return cbar, rhs
    proj = np.einsum("nji,nj->ni", clients.vec, clients.optima)  # V_iᵀ w_i*
    cbar = np.einsum("n,nij,...nj,nkj->...ik", p, clients.vec, c, clients.vec, optimize=True)
    rhs = np.einsum("n,nij,...nj,nj->...i", p, clients.vec, c, proj, optimize=True)
    return cbar, rhs


def _solve(clients: _Clients, cbar: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    if clients.vec is None:
        return rhs / cbar
    return np.linalg.solve(cbar, rhs[..., None])[..., 0]


def _out(clients: _Clients, arr: np.ndarray) -> np.ndarray | float:
    if clients.scalar:
        arr = arr[..., 0]
    return float(arr) if np.ndim(arr) == 0 else arr


# ---------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------


def global_optimum(curvatures: ArrayLike, optima: ArrayLike,
                   weights: ArrayLike | None = None) -> np.ndarray | float:
    r"""The minimizer of the global objective, w* = (Σ p_i H_i)⁻¹ Σ p_i H_i w_i*.

    1-D: the curvature-weighted mean Σ p_i h_i w_i* / Σ p_i h_i.

    >>> global_optimum([1.0, 4.0], [0.0, 1.0])
    0.8
    """
    cl = _clients(curvatures, optima, weights)
    Hw = np.einsum("n,nij,nj->i", cl.weights, cl.hessians(), cl.optima)
    return _out(cl, np.linalg.solve(cl.mean_hessian(), Hw))


def fedavg_client_factors(curvatures: ArrayLike, client_lr: ArrayLike,
                          local_steps: ArrayLike) -> np.ndarray:
    r"""The per-eigenvalue client factors c = 1 − (1 − η_c h)^K.

    After K local GD steps from w, a client with curvature h sits at w_i* + (1 − η_c h)^K
    (w − w_i*), so its update w − w_i is c (w − w_i*). ``curvatures`` is any array of
    eigenvalues (each in [0, 2/η_c)); the result has shape ``broadcast(client_lr,
    local_steps).shape + curvatures.shape``.

    >>> fedavg_client_factors([1.0, 4.0], 0.1, 5)
    array([0.40951, 0.92224])
    """
    h = check_positive("curvatures", curvatures, allow_zero=True)
    eta = check_positive("client_lr", client_lr)
    with np.errstate(over="ignore"):
        unstable = np.any(eta * h.max(initial=0.0) >= 2.0)
    if unstable:
        raise ValueError(f"client_lr must be < 2/max(curvatures) = {2.0 / h.max():.6g}, "
                         f"got {client_lr!r}")
    steps = _local_steps(local_steps)
    shape = np.broadcast_shapes(eta.shape, steps.shape)
    eta, steps = np.broadcast_to(eta, shape), np.broadcast_to(steps, shape)
    flat = h.reshape(1, -1)
    return _factors(eta, steps, flat).reshape(shape + h.shape)


def fedavg_fixed_point(curvatures: ArrayLike, optima: ArrayLike, client_lr: ArrayLike,
                       local_steps: ArrayLike, weights: ArrayLike | None = None
                       ) -> np.ndarray | float:
    r"""Where FedAvg on quadratic clients settles: w_fp = (Σ p_i C_i)⁻¹ Σ p_i C_i w_i*.

    C_i = I − (I − η_c H_i)^K (1-D: c_i = 1 − (1 − η_c h_i)^K, w_fp = Σ p_i c_i w_i*/Σ p_i c_i).
    Independent of the server rate η_s (which only sets how fast the rounds get there, see
    :func:`fedavg_server_lr_bound`). Vectorized: ``client_lr`` and ``local_steps`` broadcast
    together, and the result has shape ``grid + (d,)`` (``grid`` for 1-D clients).

    Assumptions: full participation, full-batch client gradients, stable local steps
    (0 < η_c < 2/λ_max over all clients; refused otherwise), Σ p_i H_i positive definite.

    >>> round(fedavg_fixed_point([1.0, 4.0], [0.0, 1.0], 0.1, 5), 6)
    0.692501
    >>> round(fedavg_fixed_point([1.0, 4.0], [0.0, 1.0], 0.1, 1), 12)  # K = 1: the true optimum
    0.8
    """
    cl = _clients(curvatures, optima, weights)
    eta, steps = _grid(client_lr, local_steps, cl)
    cbar, rhs = _mean_factor_and_rhs(cl, eta, steps)
    return _out(cl, _solve(cl, cbar, rhs))


def fedavg_offset(hessians: ArrayLike, gradients: ArrayLike, client_lr: ArrayLike,
                  local_steps: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    r"""FedAvg's fixed-point offset w_fp − w predicted from the clients' local quadratic models at w.

    Around a point w (in practice the true optimum of a real problem) client i's loss is
    modelled by its gradient g_i and Hessian H_i there. FedAvg's fixed point on that model is

        w_fp − w = −(Σ p_i C_i)⁻¹ Σ p_i S_i g_i,    S_i = η_c Σ_{j<K} (I − η_c H_i)^j,

    (the local model's minimizer is w − H_i⁻¹g_i and C_i H_i⁻¹ = S_i, which stays defined
    for singular H_i). At the true optimum Σ p_i g_i = 0, so for K = 1 (S_i = η_c I) the
    offset is 0. ``hessians`` (N, d, d) or diagonal (N, d); ``gradients`` (N, d).
    Vectorized over ``client_lr`` and ``local_steps``: the result has shape ``grid + (d,)``.

    >>> H = np.array([[1.0], [4.0]]); g = np.array([[0.8], [-0.8]])  # h_i (w - w_i*) at w = 0.8
    >>> np.round(fedavg_offset(H, g, 0.1, 5) + 0.8, 6)  # = fedavg_fixed_point(...)
    array([0.692501])
    """
    Hs = check_finite("hessians", hessians)
    if Hs.ndim not in (2, 3):
        raise ValueError(f"hessians must have shape (N, d) or (N, d, d), got {Hs.shape}")
    cl = _clients(Hs, None, weights, need_optima=False, name="hessians")
    g = check_finite("gradients", gradients)
    if g.shape != (cl.n, cl.dim):
        raise ValueError(f"gradients must have shape ({cl.n}, {cl.dim}) to match hessians of "
                         f"shape {Hs.shape}, got {g.shape}")
    eta, steps = _grid(client_lr, local_steps, cl)
    c = _factors(eta, steps, cl.eig)
    s = _sum_factors(eta, steps, cl.eig)
    p = cl.weights
    with np.errstate(over="ignore", invalid="ignore"):
        if cl.vec is None:
            cbar = np.einsum("n,...nd->...d", p, c)
            rhs = np.einsum("n,...nd,nd->...d", p, s, g)
            out = -rhs / cbar
        else:
            proj = np.einsum("nji,nj->ni", cl.vec, g)
            cbar = np.einsum("n,nij,...nj,nkj->...ik", p, cl.vec, c, cl.vec, optimize=True)
            rhs = np.einsum("n,nij,...nj,nj->...i", p, cl.vec, s, proj, optimize=True)
            out = -np.linalg.solve(cbar, rhs[..., None])[..., 0]
    return check_output(out, "gradients, hessians and local_steps (the offset overflows)")


def fedavg_server_lr_bound(curvatures: ArrayLike, client_lr: ArrayLike, local_steps: ArrayLike,
                           weights: ArrayLike | None = None) -> np.ndarray | float:
    r"""The largest stable server rate, 2/λ_max(C̄), C̄ = Σ p_i (I − (I − η_c H_i)^K).

    The error to the fixed point evolves e ← (I − η_s C̄) e each round; C̄ is positive definite
    with eigenvalues in (0, 2) under stable local steps, so the rounds converge iff
    0 < η_s < 2/λ_max(C̄), a bound above 1. Vectorized over ``client_lr`` and ``local_steps``.

    >>> round(fedavg_server_lr_bound([1.0, 4.0], 0.1, 5), 6)  # 2/((0.40951 + 0.92224)/2)
    3.003567
    """
    cl = _clients(curvatures, None, weights, need_optima=False)
    eta, steps = _grid(client_lr, local_steps, cl)
    cbar, _ = _mean_factor_and_rhs(cl, eta, steps)
    top = cbar.max(axis=-1) if cl.vec is None else np.linalg.eigvalsh(cbar)[..., -1]
    out = 2.0 / top
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class FedAvgDrift:
    """FedAvg's drift and server stability over a grid of (η_c, K, η_s).

    Every field but ``optimum`` and ``spread`` has the broadcast grid shape of the three
    rates (``fixed_point`` one axis more, d, unless the problem is one-dimensional).

    Attributes
    ----------
    client_lr, local_steps, server_lr
        The grid, broadcast.
    fixed_point
        w_fp, where the rounds settle.
    optimum
        The true optimum w*.
    drift
        ‖w_fp − w*‖.
    relative_drift
        drift / spread: 0 for K = 1, near 1 when the fixed point is as far from w* as the
        typical client optimum.
    spread
        The heterogeneity scale √(Σ p_i ‖w_i* − w*‖²) (0 when the client optima agree to
        round-off; ``relative_drift`` is then 0).
    excess_loss
        f(w_fp) − f(w*) = ½ (w_fp − w*)ᵀ (Σ p_i H_i) (w_fp − w*).
    server_lr_bound
        2/λ_max(C̄): the rounds converge iff η_s is below it.
    server_contraction
        ρ(I − η_s C̄), the factor by which the error shrinks per round.
    """

    client_lr: np.ndarray
    local_steps: np.ndarray
    server_lr: np.ndarray
    fixed_point: np.ndarray
    optimum: np.ndarray
    drift: np.ndarray
    relative_drift: np.ndarray
    spread: float
    excess_loss: np.ndarray
    server_lr_bound: np.ndarray
    server_contraction: np.ndarray

    @property
    def server_stable(self) -> np.ndarray:
        """True where the rounds converge (contraction < 1)."""
        return self.server_contraction < 1.0


def fedavg_drift(curvatures: ArrayLike, optima: ArrayLike, client_lr: ArrayLike,
                 local_steps: ArrayLike, server_lr: ArrayLike = 1.0,
                 weights: ArrayLike | None = None) -> FedAvgDrift:
    r"""Drift metrics and server stability of FedAvg over a grid of (η_c, K, η_s).

    ``client_lr``, ``local_steps`` and ``server_lr`` broadcast together (pass
    ``eta[:, None]``, ``K[None, :]`` for a heatmap); the fixed point and C̄ are computed once
    per (η_c, K) and the server quantities per η_s. See :class:`FedAvgDrift` for the fields.

    >>> r = fedavg_drift([1.0, 4.0], [0.0, 1.0], 0.1, np.array([1, 5, 100]))
    >>> np.round(r.drift, 4)
    array([0.    , 0.1075, 0.3   ])
    """
    cl = _clients(curvatures, optima, weights)
    eta, steps = _grid(client_lr, local_steps, cl)
    eta_s = check_positive("server_lr", server_lr)
    try:
        np.broadcast_shapes(eta.shape, eta_s.shape)
    except ValueError as exc:
        raise ValueError(f"server_lr {eta_s.shape} must broadcast with client_lr and local_steps "
                         f"{eta.shape}") from exc
    with np.errstate(over="ignore", invalid="ignore"):
        result = _drift(cl, eta, steps, eta_s)
    fields = ("fixed_point", "optimum", "drift", "relative_drift", "excess_loss",
              "server_lr_bound", "server_contraction")
    check_output(np.concatenate([np.ravel(getattr(result, f)) for f in fields]
                                + [np.atleast_1d(result.spread)]),
        "optima, curvatures and server_lr (a drift metric overflows)")
    return result


def _drift(cl: _Clients, eta: np.ndarray, steps: np.ndarray, eta_s: np.ndarray) -> FedAvgDrift:
    cbar, rhs = _mean_factor_and_rhs(cl, eta, steps)
    fp = _solve(cl, cbar, rhs)  # grid1 + (d,)
    Hbar = cl.mean_hessian()
    opt = np.linalg.solve(Hbar, np.einsum("n,nij,nj->i", cl.weights, cl.hessians(), cl.optima))
    e = fp - opt
    drift = np.linalg.norm(e, axis=-1)
    spread = float(np.sqrt(cl.weights @ np.sum((cl.optima - opt) ** 2, axis=1)))
    if spread <= 1e-12 * max(1.0, float(np.linalg.norm(opt))):
        spread = 0.0  # identical client optima (up to round-off): no drift to measure
    rel = drift / spread if spread > 0 else np.zeros_like(drift)
    excess = 0.5 * np.einsum("...i,ij,...j->...", e, Hbar, e)
    if cl.vec is None:
        lo, hi = cbar.min(axis=-1), cbar.max(axis=-1)
    else:
        ev = np.linalg.eigvalsh(cbar)
        lo, hi = ev[..., 0], ev[..., -1]
    full = np.broadcast_shapes(eta.shape, eta_s.shape)

    def _b(a: np.ndarray, tail: tuple[int, ...] = ()) -> np.ndarray:
        # the (η_c, K) quantities broadcast against the server-rate axes
        return np.broadcast_to(a, full + tail)

    contraction = np.maximum(np.abs(1.0 - eta_s * lo), np.abs(1.0 - eta_s * hi))
    fp_out = _b(fp, (cl.dim,))
    return FedAvgDrift(
        client_lr=_b(eta),
        local_steps=_b(steps),
        server_lr=_b(eta_s),
        fixed_point=fp_out[..., 0] if cl.scalar else fp_out,
        optimum=opt[0] if cl.scalar else opt,
        drift=_b(drift),
        relative_drift=_b(rel),
        spread=spread,
        excess_loss=_b(excess),
        server_lr_bound=_b(2.0 / hi),
        server_contraction=_b(contraction),
    )


# ---------------------------------------------------------------------------------------
# SCAFFOLD on quadratic clients
# ---------------------------------------------------------------------------------------


def scaffold_round_matrix(curvatures: ArrayLike, client_lr: ArrayLike, local_steps: ArrayLike,
                          server_lr: ArrayLike = 1.0, weights: ArrayLike | None = None
                          ) -> np.ndarray:
    r"""The linear part M of one SCAFFOLD round on quadratic clients, state (x, c_1, …, c_N).

    SCAFFOLD (Karimireddy et al. 2020, Algorithm 1, full participation, option II): client i
    runs y ← y − η_c (∇f_i(y) − c_i + c) K times from y = x, then sets
    c_i⁺ = c_i − c + (x − y)/(K η_c); the server sets x ← x + η_s Σ p_i (y_i − x) and
    c = Σ p_i c_i. With b_i = c − c_i, A_i = I − η_c H_i, S_i = η_c Σ_{j<K} A_iʲ and
    C_i = I − A_iᴷ, a round is affine in the state with linear part

        x⁺   = (I − η_s C̄) x − η_s Σ_i p_i S_i b_i,
        c_i⁺ = C_i x/(K η_c) + (S_i/(K η_c) − I) b_i.

    Its fixed point is x = w*, c_i = ∇f_i(w*); the rounds converge iff ρ(M) < 1
    (:func:`scaffold_spectral_radius`). Shape ``grid + ((N+1)d, (N+1)d)``.

    >>> M = scaffold_round_matrix([1.0, 4.0], 0.1, 1)
    >>> M.shape
    (3, 3)
    """
    cl = _clients(curvatures, None, weights, need_optima=False)
    eta, steps = _grid(client_lr, local_steps, cl)
    eta_s = check_positive("server_lr", server_lr)
    try:
        shape = np.broadcast_shapes(eta.shape, eta_s.shape)
    except ValueError as exc:
        raise ValueError(f"server_lr {eta_s.shape} must broadcast with client_lr and local_steps "
                         f"{eta.shape}") from exc
    eta, steps, eta_s = (np.broadcast_to(a, shape) for a in (eta, steps, eta_s))
    n, d, p = cl.n, cl.dim, cl.weights
    C = _compose(cl, _factors(eta, steps, cl.eig))  # grid + (N, d, d)
    S = _compose(cl, _sum_factors(eta, steps, cl.eig))
    K_eta = (steps * eta)[..., None, None, None]
    eye = np.eye(d)
    # b_i = Σ_j p_j c_j − c_i: coefficient of c_j in b_i is (p_j − δ_ij) I
    B = (p[None, :] - np.eye(n))  # (i, j)
    M = np.zeros((*shape, (n + 1) * d, (n + 1) * d))
    Cbar = np.einsum("n,...nij->...ij", p, C)
    M[..., :d, :d] = eye - eta_s[..., None, None] * Cbar
    # x⁺ coefficient of c_j: −η_s Σ_i p_i S_i (p_j − δ_ij)
    top = -eta_s[..., None, None, None] * np.einsum("i,ij,...iab->...jab", p, B, S)
    # c_i⁺ coefficient of c_j: (S_i/(Kη) − I)(p_j − δ_ij)
    bottom = np.einsum("...iab,ij->...ijab", S / K_eta - eye, B)
    left = C / K_eta
    for j in range(n):
        M[..., :d, (j + 1) * d:(j + 2) * d] = top[..., j, :, :]
    for i in range(n):
        M[..., (i + 1) * d:(i + 2) * d, :d] = left[..., i, :, :]
        for j in range(n):
            M[..., (i + 1) * d:(i + 2) * d, (j + 1) * d:(j + 2) * d] = bottom[..., i, j, :, :]
    return M


def scaffold_spectral_radius(curvatures: ArrayLike, client_lr: ArrayLike,
                             local_steps: ArrayLike, server_lr: ArrayLike = 1.0,
                             weights: ArrayLike | None = None) -> np.ndarray | float:
    r"""ρ(M) of :func:`scaffold_round_matrix`: SCAFFOLD's error shrinks by it per round.

    M acts on the control variates only through b_i = c − c_i, so a common shift of all c_i
    lies in its kernel. Vectorized over the three rates.

    >>> round(scaffold_spectral_radius([1.0, 4.0], 0.1, 1), 6)  # K = 1: x follows GD at rate 0.1
    0.75
    """
    M = scaffold_round_matrix(curvatures, client_lr, local_steps, server_lr, weights)
    check_output(M, "curvatures, client_lr, local_steps and server_lr (the round matrix "
                    "overflows)")
    out = np.abs(np.linalg.eigvals(M)).max(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------------
# Simulation on any client objectives
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FederatedRun:
    """One federated training run (server models per round).

    Attributes
    ----------
    method
        ``"fedavg"`` or ``"scaffold"``.
    iterates
        Server models w_0 … w_R, shape (R + 1, d); shorter when the run stopped early.
    loss
        The global loss Σ p_i f_i(w_r) per stored round.
    diverged, diverged_at
        Whether the run blew up, and at which round (``None`` if it did not). The arrays end
        before that round: no inf is stored.
    converged_at
        The round at which ‖w_{r} − w_{r−1}‖ fell below ``tol``·(1 + ‖w_{r−1}‖), or ``None``.
    """

    method: str
    iterates: np.ndarray
    loss: np.ndarray
    diverged: bool
    diverged_at: int | None
    converged_at: int | None

    @property
    def final(self) -> np.ndarray:
        """The last stored server model."""
        return self.iterates[-1]


def quadratic_clients(curvatures: ArrayLike, optima: ArrayLike) -> list:
    """Client objectives ½ (w − w_i*)ᵀ H_i (w − w_i*) as :class:`lrctl.objectives.QuadraticObjective`.

    Shapes as in the module docstring; 1-D clients become 1 × 1 problems.

    >>> [float(c.loss(np.array([1.0]))) for c in quadratic_clients([1.0, 4.0], [0.0, 1.0])]
    [0.5, 0.0]
    """
    from lrctl.objectives import QuadraticObjective

    cl = _clients(curvatures, optima)
    return [QuadraticObjective(H, minimizer=w) for H, w in zip(cl.hessians(), cl.optima,
                                                                strict=True)]


#: The default rule of this module's simulations (a frozen value, safe to share).
_FEDERATED_DIVERGENCE = Divergence(factor=1e8)


def simulate_federated(clients: Sequence[Any], client_lr: float, local_steps: int,
                       server_lr: float = 1.0, rounds: int = 100, *, method: str = "fedavg",
                       initial: ArrayLike | None = None, weights: ArrayLike | None = None,
                       tol: float | None = None,
                       divergence: Divergence = _FEDERATED_DIVERGENCE) -> FederatedRun:
    r"""Run FedAvg or SCAFFOLD with full participation and full-batch client gradients.

    ``clients`` are objectives with ``dim``, ``loss(w)`` and ``grad(w)`` (e.g.
    :func:`quadratic_clients`, or :class:`lrctl.objectives.LogisticRegression` on each client's
    share of a real data set). FedAvg: K steps w_i ← w_i − η_c ∇f_i(w_i) from the server model,
    then w ← w + η_s Σ p_i (w_i − w). SCAFFOLD (Karimireddy et al. 2020, option II, controls
    initialized at 0): local steps w_i ← w_i − η_c (∇f_i(w_i) − c_i + c), then
    c_i ← c_i − c + (w − w_i)/(K η_c) and c ← Σ p_i c_i.

    A run stops as ``diverged`` when the model or loss becomes non-finite or a model (server
    or client iterate) leaves the ball of radius ``divergence.level(r, r)``, r = 1 + ‖w_0‖:
    the :class:`lrctl.training.Divergence` rule applied to a distance, not a loss (the norm
    ‖w‖ is the quantity, r its reference, reference ``"initial"``, window 1; the default
    f = 10⁸ with floor 0 is ‖w‖ > 10⁸·(1 + ‖w_0‖)). It stops as converged when an update is
    below ``tol`` (relative).

    >>> run = simulate_federated(quadratic_clients([1.0, 4.0], [0.0, 1.0]), 0.1, 5, rounds=200)
    >>> round(float(run.final[0]), 6)  # fedavg_fixed_point([1, 4], [0, 1], 0.1, 5)
    0.692501
    """
    method = check_choice("method", method, ("fedavg", "scaffold"))
    if isinstance(clients, (str, bytes, dict)) or not hasattr(clients, "__len__"):
        raise TypeError("clients must be a non-empty sequence of objectives with dim, grad and "
                        f"loss, got {type(clients).__name__}")
    if len(clients) == 0:
        raise ValueError("clients must be a non-empty sequence of objectives with grad and loss")
    for i, c in enumerate(clients):
        if not all(hasattr(c, a) for a in ("dim", "grad", "loss")):
            raise TypeError(f"clients[{i}] must be an objective with dim, grad(w) and loss(w) "
                            f"(e.g. from quadratic_clients), got {type(c).__name__}")
    dims = {int(c.dim) for c in clients}
    if len(dims) != 1:
        raise ValueError(f"all clients must have the same dimension, got {sorted(dims)}")
    d = dims.pop()
    n = len(clients)
    eta = check_scalar("client_lr", client_lr)
    check_positive("client_lr", eta)
    steps = check_int("local_steps", local_steps, minimum=1)
    eta_s = check_scalar("server_lr", server_lr)
    check_positive("server_lr", eta_s)
    rounds = check_int("rounds", rounds, minimum=0)
    if not isinstance(divergence, Divergence):
        raise TypeError(f"divergence must be an lrctl.training.Divergence, got {divergence!r}")
    if divergence.reference != "initial" or divergence.window != 1:
        raise ValueError("divergence must use reference='initial' and window=1 here (a bound "
                         f"on ‖w‖ against the start), got {divergence!r}")
    if tol is not None:
        tol = float(check_positive("tol", check_scalar("tol", tol)))
    p = _weights(weights, n)
    w = np.zeros(d) if initial is None else check_finite("initial", initial).astype(float)
    if w.shape != (d,):
        raise ValueError(f"initial must have shape ({d},), got {w.shape}")

    def global_loss(x: np.ndarray) -> float:
        return float(sum(pi * c.loss(x) for pi, c in zip(p, clients, strict=True)))

    r0 = 1.0 + float(np.linalg.norm(w))
    limit = float(divergence._level_unchecked(r0, r0))
    if not np.isfinite(limit):
        raise ValueError(f"divergence.level(1 + ‖initial‖) overflows: divergence.factor "
                         f"({divergence.factor:g}) or initial too large")
    iterates, losses = [w.copy()], [global_loss(w)]
    ci = np.zeros((n, d))
    c = np.zeros(d)
    diverged_at = converged_at = None
    for r in range(1, rounds + 1):
        ends = np.empty((n, d))
        ok = True
        with np.errstate(all="ignore"):
            for i, client in enumerate(clients):
                y = w.copy()
                corr = c - ci[i] if method == "scaffold" else 0.0
                for _ in range(steps):
                    y = y - eta * (np.asarray(client.grad(y)) + corr)
                    if not np.all(np.isfinite(y)) or np.linalg.norm(y) > limit:
                        ok = False
                        break
                if not ok:
                    break
                ends[i] = y
            if ok:
                w_new = w + eta_s * (p @ (ends - w))
                ok = bool(np.all(np.isfinite(w_new)) and np.linalg.norm(w_new) <= limit)
            if ok:
                loss = global_loss(w_new)
                ok = bool(np.isfinite(loss))
        if not ok:
            diverged_at = r
            break
        if method == "scaffold":
            ci = ci - c + (w - ends) / (steps * eta)
            c = p @ ci
        step = float(np.linalg.norm(w_new - w))
        scale = 1.0 + float(np.linalg.norm(w))
        w = w_new
        iterates.append(w.copy())
        losses.append(loss)
        if tol is not None and step <= tol * scale:
            converged_at = r
            break
    return FederatedRun(
        method=method,
        iterates=np.array(iterates),
        loss=np.array(losses),
        diverged=diverged_at is not None,
        diverged_at=diverged_at,
        converged_at=converged_at,
    )


# ---------------------------------------------------------------------------------------
# Non-IID splits of a real data set
# ---------------------------------------------------------------------------------------


def label_skew_split(labels: ArrayLike, n_clients: int, concentration: float = 0.5, *,
                     seed: Any = 0, min_size: int = 10, max_tries: int = 100) -> list[np.ndarray]:
    r"""Split sample indices across clients with Dirichlet label skew (Hsu et al. 2019).

    For each class the share of its samples that goes to each client is drawn from
    Dir(concentration · 1): small concentrations (0.1–0.5) give clients dominated by one
    label, large ones an almost IID split. Draws are repeated (up to ``max_tries``) until every
    client has at least ``min_size`` samples and both… at least one sample of the data set's
    classes is not required. Same seed, same split.

    >>> parts = label_skew_split(np.repeat([0, 1], 50), 2, 0.3, seed=1)
    >>> sum(len(q) for q in parts), len(parts)
    (100, 2)
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError("labels must be a non-empty 1-D array of integer class labels")
    n_clients = check_int("n_clients", n_clients, minimum=1)
    alpha = float(check_positive("concentration", check_scalar("concentration", concentration)))
    min_size = check_int("min_size", min_size, minimum=0)
    max_tries = check_int("max_tries", max_tries, minimum=1)
    if n_clients * min_size > y.size:
        raise ValueError(f"cannot give {n_clients} clients min_size={min_size} samples each "
                         f"from {y.size} samples")
    rng = as_rng(seed)
    classes = np.unique(y)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for k in classes:
            idx = rng.permutation(np.flatnonzero(y == k))
            share = rng.dirichlet(np.full(n_clients, alpha))
            cuts = (np.cumsum(share)[:-1] * idx.size).astype(int)
            for i, chunk in enumerate(np.split(idx, cuts)):
                parts[i].append(chunk)
        out = [np.sort(np.concatenate(q)) for q in parts]
        if min(len(q) for q in out) >= min_size:
            return out
    raise ValueError(f"no split with at least min_size={min_size} samples per client in "
                     f"{max_tries} draws; raise concentration or lower min_size")


# ---------------------------------------------------------------------------------------
# Derivations (sympy)
# ---------------------------------------------------------------------------------------


def derive_fedavg_fixed_point():
    r"""Derive FedAvg's fixed point for two 1-D clients and its drift from the true optimum.

    >>> d = derive_fedavg_fixed_point()
    >>> float(d.lambdify("eta", "K", "lam_1", "lam_2", "w_1", "w_2")(0.1, 5, 1.0, 4.0, 0.0, 1.0))
    0.6925...
    """
    import sympy

    from lrctl.derivation import Derivation

    eta = sympy.Symbol("eta", positive=True)
    K = sympy.Symbol("K", integer=True, positive=True)
    lam1, lam2 = sympy.symbols("lambda_1 lambda_2", positive=True)
    w1, w2, w = sympy.symbols("w_1^* w_2^* w", real=True)
    k = sympy.Symbol("k", integer=True, nonnegative=True)
    u = sympy.Function("u")
    lam = sympy.Symbol("lambda", positive=True)
    # K local steps on ½λ(w − w*)²: u_{k+1} = (1 − ηλ) u_k for u = w − w*
    sol = sympy.rsolve(u(k + 1) - (1 - eta * lam) * u(k), u(k), {u(0): sympy.Symbol("u_0")})
    u_K = sol.subs(k, K)
    c = 1 - (1 - eta * lam) ** K
    c1, c2 = c.subs(lam, lam1), c.subs(lam, lam2)
    # server fixed point: mean of the client updates c_i (w − w_i*) vanishes (equal weights)
    w_fp = sympy.solve(sympy.Eq(c1 * (w - w1) + c2 * (w - w2), 0), w)[0]
    w_star = sympy.solve(sympy.Eq(lam1 * (w - w1) + lam2 * (w - w2), 0), w)[0]
    at_one = sympy.simplify(w_fp.subs(K, 1) - w_star)
    if at_one != 0:  # pragma: no cover - guards the derivation itself
        raise ArithmeticError(f"K = 1 does not reduce to the true optimum: {at_one}")
    drift = sympy.factor(sympy.simplify(w_fp - w_star))
    fp_sym = sympy.Symbol("w_fp")
    return Derivation(
        title="FedAvg fixed point on two quadratic clients",
        result=w_fp,
        statement=sympy.Eq(fp_sym, w_fp),
        steps=(
            ("A client's loss, with its curvature and optimum",
             sympy.Eq(sympy.Symbol("L_i"), lam / 2 * (w - sympy.Symbol("w_i^*")) ** 2)),
            ("One local gradient step scales the distance to the client's optimum by",
             sympy.Eq(u(k + 1), (1 - eta * lam) * u(k))),
            ("After K local steps", sympy.Eq(u(K), u_K)),
            ("So the client's update is its distance to its optimum times the client factor",
             sympy.Eq(sympy.Symbol("c"), c)),
            ("Server fixed point: the mean client update vanishes",
             sympy.Eq(c1 * (w - w1) + c2 * (w - w2), 0)),
            ("FedAvg fixed point", sympy.Eq(fp_sym, w_fp)),
            ("True optimum of the mean loss", sympy.Eq(sympy.Symbol("w^*"), w_star)),
            ("With one local step the two agree", sympy.Eq(sympy.simplify(w_fp.subs(K, 1)), w_star,
                                                           evaluate=False)),
            ("Client drift", sympy.Eq(fp_sym - sympy.Symbol("w^*"), drift)),
        ),
        assumptions=(
            "quadratic client losses with curvatures λ_i > 0 and optima w_i*",
            "equal client weights, full participation, full-batch local gradients",
            "stable local steps: 0 < ηλ_i < 2",
        ),
        symbols={"eta": eta, "K": K, "lam_1": lam1, "lam_2": lam2, "w_1": w1, "w_2": w2},
    )


def derive_fedavg_server_stability():
    r"""Derive the server-rate bound η_s < 2/c̄ and its small-η_c form η_s < 2/(K η_c λ̄).

    >>> derive_fedavg_server_stability().result
    2/c
    """
    import sympy

    from lrctl.derivation import Derivation

    eta_s = sympy.Symbol("eta_s", positive=True)
    eta = sympy.Symbol("eta", positive=True)
    cbar = sympy.Symbol("c", positive=True)
    lam = sympy.Symbol("lambda", positive=True)
    K = sympy.Symbol("K", integer=True, positive=True)
    e = sympy.Function("e")
    r = sympy.Symbol("r", integer=True, nonnegative=True)
    factor = 1 - eta_s * cbar
    sol = sympy.solve_univariate_inequality(sympy.Abs(factor) < 1, eta_s, relational=False)
    bound = sympy.simplify(sol.sup)
    c_lam = 1 - (1 - eta * lam) ** K
    first = sympy.series(c_lam, eta, 0, 2).removeO()
    first = sympy.simplify(first)
    return Derivation(
        title="FedAvg server-rate stability",
        result=bound,
        statement=sympy.Lt(eta_s, bound),
        steps=(
            ("Each round scales the error to the fixed point, along an eigenvector of the "
             "mean client factor with eigenvalue c, by", sympy.Eq(e(r + 1), factor * e(r))),
            ("The rounds converge iff", sympy.Abs(factor) < 1),
            ("Solved for the server rate", sympy.And(sympy.Gt(eta_s, sol.inf),
                                                      sympy.Lt(eta_s, bound))),
            ("Client factor per eigenvalue", sympy.Eq(sympy.Symbol("c"), c_lam)),
            ("To first order in the client rate", sympy.Eq(sympy.Symbol("c"), first)),
            ("So for small client rates the bound limits the product of the two rates and "
             "the local steps",
             sympy.Lt(eta_s * K * eta, 2 / lam)),
        ),
        assumptions=(
            "quadratic clients, full participation, full-batch local gradients",
            "stable local steps, so c lies in (0, 2); the bound uses the largest c",
        ),
        symbols={"eta_s": eta_s, "c": cbar},
    )
