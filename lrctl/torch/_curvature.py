r"""The Hessian spectrum of a PyTorch network, and layer-wise learning rates from it.

:func:`hessian_eigenvalues` runs Lanczos on the operator v ↦ H(θ)v of a
:class:`~lrctl.torch.TorchObjective` at the model's current parameters θ, so H is never
formed: each product is one exact forward-over-reverse pass per batch, and the count of
products, the cost, is reported.

The Lanczos iteration
---------------------
The iteration is :func:`lrctl.curvature.lanczos`, the library's one Lanczos: from a random
unit q₁, m products build the orthonormal Krylov basis of span{q₁, Hq₁, …, H^{m−1}q₁} with
full re-orthogonalization and the tridiagonal T_m = Q_mᵀHQ_m; both ends of the spectrum come
from the same run. Each wanted Ritz value θ_j (with residual ‖r_j‖ = β_m|s_{m,j}|) gets an
error bound, and the run stops when every bound is <= ``tol``·|θ_j|: the Kato–Temple bound
λ_j − θ_j <= ‖r_j‖²/δ_j, with δ_j the gap to the next Ritz value less that value's own
residual, once that neighbour has converged (it assumes no eigenvalue was missed between
them), else the residual bound ‖r_j‖ (an eigenvalue of H within ‖r_j‖ of θ_j). What each
guarantees, and how often the assumption failed on random spectra, is in
:func:`lrctl.curvature.lanczos` and ``docs/curvature.md``. Unlike power iteration, Lanczos
needs no shift to find λ_max of an indefinite H. ``benchmarks/bench_torch_hessian.py``
counts its products against PyHessian's power iteration on a network.

Per-block spectra (``blocks=True``): for each parameter tensor ℓ the top eigenvalues of the
diagonal block H_ℓℓ u = [H P_ℓ u]_ℓ (P_ℓ pads u with zeros outside block ℓ; as in
:func:`lrctl.curvature.block_spectra`), by the same iteration; λ_max(H_ℓℓ) <= λ_max(H) by
Cauchy interlacing. :func:`layerwise_param_groups` turns them into torch param groups with
lr_ℓ = fraction · 2/λ_max(H_ℓℓ) (:func:`lrctl.quadratic.layerwise_lr_caps`).

The model is left exactly as it was found: its parameters, buffers, every ``.grad`` and its
``training`` flag (the computation never touches them; see :class:`TorchObjective`). The
spectrum is that of the function the model computes in its current mode; call
``model.eval()`` first for the usual deterministic curvature (batch norm on its running
statistics, no dropout), and restore the mode yourself afterwards if you want.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lrctl._validation import (
    as_rng,
    check_choice,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
)
from lrctl.torch._objective import TorchObjective

__all__ = ["HessianSpectrum", "hessian_eigenvalues", "layerwise_param_groups"]

_WHICH = ("top", "bottom", "both")
#: Default budget of Hessian-vector products (when the dimension is larger): the basis holds
#: that many vectors of the parameters' size.
_DEFAULT_BUDGET = 500


@dataclass(frozen=True, eq=False)
class HessianSpectrum:
    """Extreme eigenvalues of a network's Hessian at its current parameters.

    Attributes
    ----------
    values
        The eigenvalues found, in descending order: the ``k`` largest (``which='top'``), the
        ``k`` smallest (``'bottom'``), or the ``k`` largest followed by the ``k`` smallest
        (``'both'``).
    vectors
        Unit eigenvectors (columns, in the order of ``values``, in θ coordinates), or ``None``
        unless ``vectors=True`` was asked.
    n_products
        Hessian-vector products used for ``values`` (one Krylov space serves both ends).
    which
        ``"top"``, ``"bottom"`` or ``"both"``.
    names
        The parameter names, one per block (``TorchObjective.names``).
    block_values
        With ``blocks=True``: one descending array per parameter tensor, the top eigenvalues
        of its diagonal Hessian block H_ℓℓ; else ``None``.
    block_products
        Products used per block (``None`` without blocks).
    """

    values: np.ndarray
    vectors: np.ndarray | None
    n_products: int
    which: str
    names: tuple[str, ...]
    block_values: tuple[np.ndarray, ...] | None = None
    block_products: np.ndarray | None = None

    @property
    def lam_max(self) -> float:
        """λ_max(H) (needs ``which`` 'top' or 'both')."""
        if self.which == "bottom":
            raise ValueError("lam_max was not computed (which='bottom'); use which='top' or 'both'")
        return float(self.values[0])

    @property
    def lam_min(self) -> float:
        """λ_min(H) (needs ``which`` 'bottom' or 'both')."""
        if self.which == "top":
            raise ValueError("lam_min was not computed (which='top'); use which='bottom' or 'both'")
        return float(self.values[-1])

    @property
    def block_lam_max(self) -> np.ndarray:
        """λ_max(H_ℓℓ) per parameter tensor (needs ``blocks=True``)."""
        if self.block_values is None:
            raise ValueError("block spectra were not computed; pass blocks=True")
        return np.array([float(v[0]) for v in self.block_values])

    @property
    def total_products(self) -> int:
        """All products, the full spectrum's and the blocks'."""
        extra = 0 if self.block_products is None else int(self.block_products.sum())
        return int(self.n_products) + extra


def _run(matvec: Any, dim: int, k: int, which: str, tol: float, rng: np.random.Generator,
         max_products: int | None, want_vectors: bool) -> Any:
    """:func:`lrctl.curvature.lanczos` on an exact (so symmetric: no probe) Hessian product."""
    from lrctl.curvature import lanczos

    matvec._lrctl_symmetric = True  # autograd's Hessian-vector product is symmetric
    budget = min(dim, _DEFAULT_BUDGET) if max_products is None else max_products
    # with vectors, the residual stop: each vector then has ‖Hv − θv‖ <= tol·|θ|
    return lanczos(matvec, dim, k=k, which=which, tol=tol, seed=rng, max_products=budget,
                   vectors=want_vectors, bound="residual" if want_vectors else "gap")


def hessian_eigenvalues(
    model: torch.nn.Module,
    loss_fn: Any,
    data: Any,
    k: int = 1,
    *,
    which: str = "top",
    blocks: bool = False,
    tol: float = 1e-6,
    max_products: int | None = None,
    seed: Any = 0,
    vectors: bool = False,
    dtype: torch.dtype | None = None,
    device: Any = None,
) -> HessianSpectrum:
    r"""The ``k`` extreme eigenvalues of the network's Hessian ∇²L(θ), by Lanczos on H v.

    L is the loss of :class:`TorchObjective` (``model``, ``loss_fn``, ``data``) and θ the
    model's current trainable parameters. Lanczos (:func:`lrctl.curvature.lanczos`) stops when
    each wanted Ritz value θ has an error bound <= ``tol``·|θ|: the Kato–Temple bound
    ‖r‖²/δ where the gap δ to the next Ritz value can be trusted (under the assumption stated
    there), else the residual ‖r‖.

    Parameters
    ----------
    model, loss_fn, data
        As for :class:`TorchObjective` (``data``: a pair or an iterable of pairs; the
        spectrum is that of the batch-size-weighted mean loss over all of them).
    k
        Eigenvalues per end (>= 1).
    which
        ``"top"`` (largest algebraic), ``"bottom"`` (smallest) or ``"both"``.
    blocks
        Also the top-``k`` spectrum of each parameter tensor's diagonal block H_ℓℓ.
    tol
        Relative error bound of Lanczos (> 0). The products of a float32 model carry
        float32 round-off, so the eigenvalue is no more accurate than that (about 1e-7
        relative) whatever ``tol``; compute with ``dtype=torch.float64`` for more.
    max_products
        Budget of Hessian-vector products (a ``RuntimeError`` if it runs out first; default:
        min(dim, 500); at m = dim Lanczos is exact in exact arithmetic). Also per block. The
        basis costs m·dim float64 values.
    seed
        Seed of the Lanczos start vector.
    vectors
        Keep the eigenvectors. The stop then uses the residual bound alone, so that every
        vector v has ‖Hv − θv‖ <= ``tol``·|θ| (the gap bound certifies values, not vectors).
    dtype, device
        Where to compute (defaults: the model's).

    Returns
    -------
    HessianSpectrum

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl.torch import hessian_eigenvalues
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> spec = hessian_eigenvalues(net.double(), torch.nn.CrossEntropyLoss(), (x.double(), y),
    ...                            k=2, which="both", blocks=True)
    >>> spec.values.shape, bool(spec.lam_max >= spec.block_lam_max.max())   # interlacing
    ((4,), True)
    """
    k = check_int("k", k, minimum=1)
    check_choice("which", which, _WHICH)
    if not isinstance(blocks, bool):
        raise TypeError(f"blocks must be True or False, got {blocks!r}")
    if not isinstance(vectors, bool):
        raise TypeError(f"vectors must be True or False, got {vectors!r}")
    tol = float(check_positive("tol", check_scalar("tol", tol)))
    if max_products is not None:
        max_products = check_int("max_products", max_products, minimum=1)
    obj = TorchObjective(model, loss_fn, data, dtype=dtype, device=device)
    if k > obj.dim:
        raise ValueError(f"k must be <= the number of trainable parameters {obj.dim}, got {k}")
    if which == "both" and 2 * k > obj.dim:
        raise ValueError(f"which='both' needs 2k <= {obj.dim} trainable parameters, got k={k}")
    theta = obj.initial()
    ends = ("top", "bottom") if which == "both" else (which,)
    seeds = np.random.SeedSequence(int(as_rng(seed).integers(2**63 - 1))).spawn(
        1 + len(obj.blocks))
    def full_hvp(v: np.ndarray) -> np.ndarray:
        return obj.hvp(theta, v)

    res = _run(full_hvp, obj.dim, k, {"top": "LA", "bottom": "SA", "both": "both"}[which], tol,
               np.random.default_rng(seeds[0]), max_products, vectors)
    count = res.n_products
    values = np.concatenate([res.top if e == "top" else res.bottom[::-1] for e in ends])
    V = (np.concatenate([res.top_vectors if e == "top" else res.bottom_vectors[:, ::-1]
                         for e in ends], axis=1) if vectors else None)
    block_values = block_products = None
    if blocks:
        bv, bp = [], []
        for sl, ss in zip(obj.blocks, seeds[1:], strict=True):
            size = sl.stop - sl.start

            def block_hvp(u: np.ndarray, sl: slice = sl) -> np.ndarray:
                full = np.zeros(obj.dim)
                full[sl] = u
                return obj.hvp(theta, full)[sl]

            bres = _run(block_hvp, size, min(k, size), "LA", tol, np.random.default_rng(ss),
                        max_products, False)
            bv.append(bres.top)
            bp.append(bres.n_products)
        block_values, block_products = tuple(bv), np.asarray(bp, dtype=int)
    return HessianSpectrum(
        values=values,
        vectors=V,
        n_products=int(count),
        which=which,
        names=obj.names,
        block_values=block_values,
        block_products=block_products,
    )


def layerwise_param_groups(
    model: torch.nn.Module,
    loss_fn: Any,
    data: Any,
    fraction: float = 0.5,
    *,
    lr_max: float | None = None,
    tol: float = 1e-6,
    seed: Any = 0,
    dtype: torch.dtype | None = None,
    device: Any = None,
) -> list[dict[str, Any]]:
    r"""Torch param groups with lr_ℓ = fraction · 2/λ_max(H_ℓℓ), one per parameter tensor.

    λ_max(H_ℓℓ) is the top eigenvalue of the diagonal Hessian block of parameter tensor ℓ at
    the model's current parameters (block Lanczos, :func:`hessian_eigenvalues` with
    ``blocks=True``); 2/λ_max(H_ℓℓ) is the GD stability bound of that block alone
    (:func:`lrctl.quadratic.layerwise_lr_caps`), so ``fraction`` < 1 leaves a margin. The
    coupling between blocks is ignored (the caps are a heuristic where it is strong). A block
    whose top eigenvalue is <= 0 (locally flat or concave) has no GD bound; it gets ``lr_max``,
    which is then required. Pass the result to any ``torch.optim`` optimizer; each group also
    carries its ``"name"`` and ``"curvature"`` (λ_max(H_ℓℓ)). Frozen parameters are left out.

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl.torch import layerwise_param_groups
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> groups = layerwise_param_groups(net, torch.nn.CrossEntropyLoss(), (x, y), lr_max=1.0)
    >>> opt = torch.optim.SGD(groups, lr=0.1)
    >>> [g["name"] for g in opt.param_groups]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """
    frac = float(check_in_interval("fraction", check_scalar("fraction", fraction), 0.0, 1.0,
                                   low_closed=False, high_closed=True))
    cap = None if lr_max is None else float(check_positive("lr_max",
                                                           check_scalar("lr_max", lr_max)))
    spec = hessian_eigenvalues(model, loss_fn, data, 1, blocks=True, tol=tol, seed=seed,
                               dtype=dtype, device=device)
    from lrctl.quadratic import layerwise_lr_caps

    params = dict(model.named_parameters())
    lams = spec.block_lam_max
    caps = np.full(lams.shape, np.inf)
    if np.any(lams > 0):
        caps[lams > 0] = layerwise_lr_caps(list(lams[lams > 0]), fraction=frac)
    groups = []
    for name, lam, lr_cap in zip(spec.names, lams, caps, strict=True):
        if lam > 0:
            lr = float(lr_cap) if cap is None else min(float(lr_cap), cap)
        elif cap is not None:
            lr = cap
        else:
            raise ValueError(
                f"the Hessian block of {name!r} has no positive eigenvalue (λ_max = {lam:.3g}), "
                "so it has no GD stability bound; pass lr_max= for such blocks"
            )
        groups.append({"params": [params[name]], "lr": lr, "name": name, "curvature": float(lam)})
    return groups
