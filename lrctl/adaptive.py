r"""Adapting the learning rate during training.

Three ways to let the learning rate follow the plant instead of fixing it in advance:

**Hypergradient descent** (Baydin et al., "Online learning rate adaptation with hypergradient
descent", ICLR 2018). Gradient descent θ_{t+1} = θ_t − η_t g_t, g_t = ∇L(θ_t), makes the next
loss a function of the rate just used, and

.. math:: ∂L(θ_{t+1})/∂η_t = −g_{t+1}ᵀ g_t

(:func:`derive_hypergradient`). Descending on it gives

- the *additive* rule η_{t+1} = η_t + α g_{t+1}ᵀ g_t, which can drive η below zero (gradient
  ascent) or run away when α g_{t+1}ᵀg_t is large;
- the *log* rule on λ = ln η: ∂L/∂λ = η ∂L/∂η, so λ_{t+1} = λ_t + α η_t g_{t+1}ᵀ g_t and
  η = exp(λ) stays positive whatever α does.

On the quadratic model the hypergradient is −Σ_i (1 − ηλ_i) λ_i² c_i² (c the error in the
eigenbasis): positive weight on the stiff modes when η is too large, on the flat modes when η
is too small. Adapted slowly, η settles where the slowest flat mode and the fastest stiff mode
decay alike, |1 − ηλ_min| = |1 − ηλ_max|, i.e. near η* = 2/(λ_min + λ_max)
(:func:`lrctl.quadratic.optimal_lr`). Both rules take ``hyper_lr`` α; the rule's update
shrinks with ‖g‖², so η freezes as training converges.

**Layer-wise rates.** Each parameter block ℓ (a layer) gets its own rate η_ℓ = c·2/λ_max(H_ℓ)
from the top eigenvalue of its diagonal Hessian block (Lanczos on block Hessian-vector
products, :func:`block_top_eigenvalues`), against one global rate c·2/λ_max(H). The caps are
exact for a block-diagonal Hessian; with coupling, per-block GD with rates D = diag(η_ℓ) is
linearly stable iff λ_max(D^{1/2} H D^{1/2}) < 2 (:func:`blockwise_sharpness`). The peer
heuristic is LARS (You et al., 2017): η_ℓ = lr·‖θ_ℓ‖/‖g_ℓ‖ (:func:`lars_descent`).

**Snapshot ensembles** (Huang et al., 2017). SGD under cosine annealing with warm restarts
(:func:`lrctl.schedules.cosine_warm_restarts`) visits a new low-loss point at the end of each
cycle; the snapshots taken there form an ensemble for free (:func:`snapshot_training`,
:func:`snapshot_ensemble`).

One loop. Every run here is one call of :func:`lrctl.training.run` with a policy:
:class:`lrctl.training.Hypergradient`, :class:`lrctl.training.Constant`,
:class:`lrctl.training.Scheduled`, and the per-block policies of this module,
:class:`BlockRates`, :class:`LARS` and :class:`LayerwiseCaps`. It stops at the step where the
loss, the gradient or the parameters stop being finite, or the loss gap L − L* exceeds
``divergence_factor`` times the initial gap (:class:`lrctl.training.Divergence`), and says so
(``diverged``, ``diverged_at``); arrays hold only the steps that were completed.

Stacked runs. :func:`hypergradient_sweep`, :func:`constant_lr_sweep`, :func:`blockwise_descent`
(with a 2-D ``block_lrs``), :func:`lars_descent` (with an array ``lr``) and
:func:`snapshot_training` (with an array ``lr_max``) advance K runs together; on an objective
with ``stacked = True`` (lrctl's own plants) that is one batched evaluation of the (K, dim)
stack per step, on any other :class:`lrctl.objectives.Objective` one call per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from lrctl.objectives import block_index, check_objective
from lrctl.training import Constant, Divergence, Hypergradient, Run, Scheduled
from lrctl.training import run as train
from lrctl.training._policies import check_observation

__all__ = [
    "LARS",
    "BlockCurvature",
    "BlockRates",
    "BlockwiseResult",
    "HypergradientResult",
    "LayerwiseCaps",
    "SnapshotEnsemble",
    "block_top_eigenvalues",
    "blockwise_descent",
    "blockwise_sharpness",
    "constant_lr_sweep",
    "curvature_capped_descent",
    "derive_hypergradient",
    "hypergradient_descent",
    "hypergradient_sweep",
    "lars_descent",
    "snapshot_ensemble",
    "snapshot_training",
]

_RULES = ("additive", "log")
_TRAINABLE = ("dim", "loss", "grad")  # what a run needs; curvature methods also need hvp


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HypergradientResult:
    """A hypergradient-descent run: the :class:`lrctl.training.Run` and the rule's settings.

    Attributes
    ----------
    rule
        ``"additive"`` (η += α g_{t+1}ᵀg_t) or ``"log"`` (ln η += α η g_{t+1}ᵀg_t).
    lr0, hyper_lr
        The starting rate η_0 and the hyper-rate α.
    negative_lr_at
        The first step whose rate was negative (gradient ascent), or ``None``. Only the
        additive rule can produce one.
    run
        The run: ``run.losses`` L(θ_0) … L(θ_n), ``run.lrs`` η_0 … η_{n−1}, ``run.theta``,
        ``run.diverged``, ``run.diverged_at`` (the step whose iterate blew up or whose rate
        overflowed) and ``run.diverged_lr``.
    """

    rule: str
    lr0: float
    hyper_lr: float
    negative_lr_at: int | None
    run: Run

    __repr__ = summary_repr


@dataclass(frozen=True)
class BlockCurvature:
    """Top Hessian eigenvalues per parameter block (layer), by Lanczos.

    Attributes
    ----------
    values
        λ_max(H_ℓ) of each diagonal block H_ℓ, shape (n_blocks,).
    full
        λ_max(H) of the whole Hessian, or ``None`` when it was not computed.
    n_products
        Hessian-vector products used in total.
    """

    values: np.ndarray
    full: float | None
    n_products: int

    __repr__ = summary_repr

    @property
    def spread(self) -> float:
        """max_ℓ λ_ℓ / min_ℓ λ_ℓ: how much the blocks differ in curvature."""
        return float(self.values.max() / self.values.min())


@dataclass(frozen=True)
class BlockwiseResult:
    """Gradient descent at per-block rates set from the curvature (:func:`curvature_capped_descent`).

    Attributes
    ----------
    method
        ``"layerwise-caps"`` (c·2/λ_max(H_ℓ)), ``"layerwise-coupled"`` (∝ 1/λ_max(H_ℓ), scaled
        to the coupled bound) or ``"global-cap"`` (c·2/λ_max(H) for every block).
    curvature
        The :class:`BlockCurvature` of each recomputation; ``curvature_steps`` are the steps at
        which they were computed.
    run
        The run: ``run.losses``, ``run.lrs`` (shape (n, n_blocks): the rate of each block at
        each completed step), ``run.theta``, ``run.diverged``, ``run.diverged_at``.
    """

    method: str
    curvature: tuple[BlockCurvature, ...]
    curvature_steps: tuple[int, ...]
    run: Run

    __repr__ = summary_repr


@dataclass(frozen=True)
class SnapshotEnsemble:
    """Accuracy and diversity of a set of snapshots on an evaluation set.

    Attributes
    ----------
    accuracies
        Accuracy of each snapshot, shape (M,).
    ensemble_accuracy
        Accuracy of the ensemble that averages the snapshots' class probabilities.
    distances
        (M, M) Euclidean distances ‖θ_i − θ_j‖ between snapshot parameters.
    disagreement
        (M, M) fraction of evaluation points on which snapshots i and j predict different
        classes.
    log_losses, ensemble_log_loss
        Mean cross-entropy −log p(y|x) of each snapshot and of the ensemble. By Jensen's
        inequality (−log is convex) the ensemble's is at most the mean of the snapshots'.
    """

    accuracies: np.ndarray
    ensemble_accuracy: float
    distances: np.ndarray
    disagreement: np.ndarray
    log_losses: np.ndarray
    ensemble_log_loss: float

    __repr__ = summary_repr

    @property
    def best_single_accuracy(self) -> float:
        return float(self.accuracies.max())

    @property
    def mean_distance(self) -> float:
        """Mean distance over distinct pairs."""
        return float(self.distances[np.triu_indices(len(self.accuracies), 1)].mean())

    @property
    def mean_disagreement(self) -> float:
        """Mean disagreement over distinct pairs."""
        return float(self.disagreement[np.triu_indices(len(self.accuracies), 1)].mean())


# ---------------------------------------------------------------------------------------
# Shared pieces: every run here is one call of lrctl.training.run
# ---------------------------------------------------------------------------------------


def _vector(name: str, value: Any, *, positive: bool, allow_zero: bool = False) -> np.ndarray:
    arr = check_positive(name, value, allow_zero=allow_zero) if positive else check_finite(name, value)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D array, got shape {arr.shape}")
    return np.atleast_1d(arr)


def _monitor(loss_floor: Any, divergence_factor: Any) -> Divergence:
    return Divergence.from_args(divergence_factor, loss_floor)


def _theta0(objective: Any, theta0: Any, k: int) -> np.ndarray:
    t = check_finite("theta0", theta0)
    if t.shape not in ((objective.dim,), (k, objective.dim)):
        raise ValueError(f"theta0 must have shape ({objective.dim},) or ({k}, {objective.dim}), "
                         f"got {t.shape}")
    return t


# ---------------------------------------------------------------------------------------
# Hypergradient descent
# ---------------------------------------------------------------------------------------


def hypergradient_sweep(
    objective: Any,
    theta0: Any,
    lr0: Any,
    hyper_lr: Any,
    steps: int,
    *,
    rule: str = "additive",
    loss_floor: float | None = None,
    divergence_factor: float = 1e6,
) -> tuple[HypergradientResult, ...]:
    r"""K hypergradient-descent runs at once, one per entry of ``lr0`` and ``hyper_lr``.

    Each run: θ_{t+1} = θ_t − η_t g_t, then

    - ``rule="additive"``: η_{t+1} = η_t + α g_{t+1}ᵀ g_t (Baydin et al. 2018, HD-SGD);
    - ``rule="log"``: λ_{t+1} = λ_t + α η_t g_{t+1}ᵀ g_t with η = exp(λ), gradient descent
      on λ = ln η since ∂L/∂λ = η ∂L/∂η = −η g_{t+1}ᵀg_t; η > 0 always.

    It is ``training.run(objective, training.Hypergradient(lr0, hyper_lr, rule), steps)``.

    Parameters
    ----------
    objective
        An :class:`lrctl.objectives.Objective` (one with ``stacked = True`` makes the K runs
        one batched evaluation per step).
    theta0
        Start, shape ``(dim,)`` (shared) or ``(K, dim)``.
    lr0
        Starting rates η_0 > 0; broadcast with ``hyper_lr`` to K runs.
    hyper_lr
        Hyper-rates α >= 0 (α = 0 is constant-rate gradient descent).
    steps
        Steps per run, >= 0.
    rule
        ``"additive"`` or ``"log"``.
    loss_floor, divergence_factor
        The :class:`lrctl.training.Divergence` rule: a run diverges when its loss, gradient or
        parameters stop being finite or L − loss_floor exceeds ``divergence_factor``·(L_0 −
        loss_floor); also when its rate overflows.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 10.0]))
    >>> runs = hypergradient_sweep(q, [1.0, 1.0], lr0=0.01, hyper_lr=[0.0, 1e-3], steps=200)
    >>> [round(float(r.run.lrs[-1]), 3) for r in runs]   # α = 0 keeps η; α > 0 raises it
    [0.01, 0.105]
    """
    check_objective(objective, require=_TRAINABLE)
    check_choice("rule", rule, _RULES)
    lr0_v = _vector("lr0", lr0, positive=True)
    alpha_v = _vector("hyper_lr", hyper_lr, positive=True, allow_zero=True)
    try:
        lr0_v, alpha_v = np.broadcast_arrays(lr0_v, alpha_v)
    except ValueError as exc:
        raise ValueError(f"lr0 (shape {lr0_v.shape}) and hyper_lr (shape {alpha_v.shape}) "
                         "must broadcast to one length K") from exc
    policy = Hypergradient(lr0_v.copy(), alpha_v.copy(), rule)
    runs = train(objective, policy, steps, theta0=_theta0(objective, theta0, len(lr0_v)),
                 monitor=_monitor(loss_floor, divergence_factor))
    out = []
    for i, r in enumerate(runs):
        used = r.lrs if r.diverged_lr is None else np.append(r.lrs, r.diverged_lr)
        neg = np.flatnonzero(used < 0)
        out.append(HypergradientResult(
            rule=rule, lr0=float(lr0_v[i]), hyper_lr=float(alpha_v[i]),
            negative_lr_at=int(neg[0]) if neg.size else None, run=r,
        ))
    return tuple(out)


def hypergradient_descent(
    objective: Any,
    theta0: Any,
    lr0: float,
    hyper_lr: float,
    steps: int,
    *,
    rule: str = "additive",
    loss_floor: float | None = None,
    divergence_factor: float = 1e6,
) -> HypergradientResult:
    r"""One hypergradient-descent run (see :func:`hypergradient_sweep` for the rules).

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 10.0]))
    >>> add = hypergradient_descent(q, [1.0, 1.0], lr0=0.01, hyper_lr=3e-3, steps=300)
    >>> add.negative_lr_at, add.run.diverged, add.run.diverged_at   # η < 0 at step 2, then blows up
    (2, True, 5)
    >>> log = hypergradient_descent(q, [1.0, 1.0], 0.01, 3e-3, 300, rule="log")
    >>> log.run.diverged, bool(log.run.lrs.min() > 0)
    (False, True)
    """
    lr0_s = check_scalar("lr0", lr0)
    alpha_s = check_scalar("hyper_lr", hyper_lr)
    return hypergradient_sweep(objective, theta0, lr0_s, alpha_s, steps, rule=rule,
                               loss_floor=loss_floor, divergence_factor=divergence_factor)[0]


def constant_lr_sweep(
    objective: Any,
    theta0: Any,
    lrs: Any,
    steps: int,
    *,
    loss_floor: float | None = None,
    divergence_factor: float = 1e6,
) -> tuple[Run, ...]:
    """Full-batch gradient descent at each constant rate of ``lrs``, K runs at once.

    ``training.run(objective, training.Constant(lrs), steps)``: one :class:`lrctl.training.Run`
    per rate, in the order of ``lrs``.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 4.0]))
    >>> runs = constant_lr_sweep(q, [1.0, 1.0], [0.1, 0.4, 0.6], steps=40)
    >>> [r.diverged for r in runs], runs[2].diverged_at   # |1 − 0.6·4| = 1.4 > 1
    ([False, False, True], 21)
    """
    lr_v = _vector("lrs", lrs, positive=True)
    check_objective(objective, require=_TRAINABLE)
    runs = train(objective, Constant(lr_v), steps, theta0=_theta0(objective, theta0, len(lr_v)),
                 monitor=_monitor(loss_floor, divergence_factor))
    return tuple(runs)


def derive_hypergradient():
    r"""Derive ∂L(θ_{t+1})/∂η_t = −g_{t+1}ᵀ g_t, on the quadratic model, with sympy.

    On L = ½ Σ_i λ_i c_i² (coordinates c in the eigenbasis of H), one GD step gives
    c_i ← (1 − ηλ_i) c_i; differentiating the new loss in η gives −Σ (1 − ηλ_i) λ_i² c_i²,
    which is −g_{t+1}ᵀg_t. It vanishes at the exact line-search step gᵀg/gᵀHg, and the log
    rule's derivative is η times it.

    >>> d = derive_hypergradient()
    >>> d.statement
    Eq(dL/deta, -c_1**2*lambda_1**2*(-eta*lambda_1 + 1) - c_2**2*lambda_2**2*(-eta*lambda_2 + 1))
    """
    import sympy

    from lrctl.derivation import Derivation

    eta = sympy.Symbol("eta", positive=True)
    lam1, lam2 = sympy.symbols("lambda_1 lambda_2", positive=True)
    c1, c2 = sympy.symbols("c_1 c_2", real=True)
    loss_next = sympy.Rational(1, 2) * (lam1 * ((1 - eta * lam1) * c1) ** 2
                                        + lam2 * ((1 - eta * lam2) * c2) ** 2)
    g_t = (lam1 * c1, lam2 * c2)
    g_next = (lam1 * (1 - eta * lam1) * c1, lam2 * (1 - eta * lam2) * c2)
    dot = g_next[0] * g_t[0] + g_next[1] * g_t[1]
    dl_deta = sympy.diff(loss_next, eta)
    if sympy.simplify(dl_deta + dot) != 0:  # pragma: no cover - a failed derivation
        raise ArithmeticError("the hypergradient identity did not simplify to zero")
    cauchy = sympy.solve(sympy.Eq(dot, 0), eta)[0]
    gg = g_t[0] ** 2 + g_t[1] ** 2
    gHg = lam1 * g_t[0] ** 2 + lam2 * g_t[1] ** 2
    if sympy.simplify(cauchy - gg / gHg) != 0:  # pragma: no cover - a failed derivation
        raise ArithmeticError("the zero of the hypergradient is not g'g/g'Hg")
    lam_log = sympy.Symbol("lambda_log", real=True)
    hyper = sympy.Symbol("dL/deta")
    return Derivation(
        title="The hypergradient of gradient descent with respect to its learning rate",
        result=-dot,
        statement=sympy.Eq(hyper, -dot),
        steps=(
            ("One gradient step in the eigenbasis multiplies each coordinate",
             sympy.Eq(sympy.Symbol("c_i'"), (1 - eta * sympy.Symbol("lambda_i")) * sympy.Symbol("c_i"))),
            ("so the next loss is", sympy.Eq(sympy.Symbol("L_next"), loss_next)),
            ("Its derivative in the learning rate", sympy.Eq(hyper, sympy.factor(dl_deta))),
            ("equals minus the product of successive gradients", sympy.Eq(hyper, -dot)),
            ("It vanishes at the exact line-search step of Cauchy",
             sympy.Eq(eta, sympy.simplify(cauchy))),
            ("The log rule adapts the logarithm of the rate", sympy.Eq(eta, sympy.exp(lam_log))),
            ("so its derivative is the learning rate times the hypergradient",
             sympy.Eq(sympy.Symbol("dL/dlambda_log"),
                      sympy.exp(lam_log) * (-dot).subs(eta, sympy.exp(lam_log)))),
        ),
        assumptions=(
            "full-batch gradient descent on the quadratic model (shown with two eigen-directions; "
            "the sum extends to any number)",
            "the identity dL(θ_{t+1})/dη_t = −g_{t+1}ᵀg_t holds for any differentiable loss",
        ),
        symbols={"eta": eta, "lam1": lam1, "lam2": lam2, "c1": c1, "c2": c2},
    )


# ---------------------------------------------------------------------------------------
# Layer-wise rates
# ---------------------------------------------------------------------------------------


def block_top_eigenvalues(
    objective: Any,
    theta: Any,
    *,
    include_full: bool = True,
    tol: float = 1e-4,
    seed: Any = 0,
) -> BlockCurvature:
    r"""λ_max(H_ℓ) for each diagonal Hessian block H_ℓ (and λ_max(H)), by Lanczos.

    H_ℓ v = [H (0, …, v, …, 0)]_ℓ: the block's slice of a full Hessian-vector product with v
    embedded in zeros (:func:`lrctl.curvature.block_spectra`). Each eigenvalue comes from Lanczos
    (:func:`lrctl.curvature.lanczos`: the largest *algebraic* eigenvalue, which the bound 2/λ needs).

    >>> from lrctl.objectives import QuadraticObjective
    >>> H = np.diag([1.0, 3.0, 10.0, 20.0, 4.0])
    >>> q = QuadraticObjective(H, blocks=(slice(0, 2), slice(2, 5)))
    >>> bc = block_top_eigenvalues(q, np.zeros(5))
    >>> bc.values.round(6).tolist(), round(bc.full, 6)
    ([3.0, 20.0], 20.0)
    """
    from lrctl.curvature import block_spectra, top_eigenvalue

    check_objective(objective)
    theta = check_finite("theta", theta)
    if theta.shape != (objective.dim,):
        raise ValueError(f"theta must have shape ({objective.dim},), got {theta.shape}")
    tol = check_tol("tol", tol)
    include_full = check_bool("include_full", include_full)
    rng = as_rng(seed)
    blocks, _ = block_index(objective)
    spectra = block_spectra(lambda v: objective.hvp(theta, v), blocks, objective.dim, k=1,
                            tol=tol, seed=rng)
    values, products = spectra.lam_max, spectra.total_products
    full = None
    if include_full:
        res = top_eigenvalue(lambda v: objective.hvp(theta, v), objective.dim, tol=tol, seed=rng)
        full = float(res.value)
        products += res.n_products
    return BlockCurvature(values=np.asarray(values), full=full, n_products=products)


def blockwise_sharpness(objective: Any, theta: Any, block_lrs: Any, *, tol: float = 1e-4,
                        seed: Any = 0) -> float:
    r"""λ_max(D^{1/2} H D^{1/2}), D = diag(η_ℓ repeated over block ℓ): stable iff < 2.

    Per-block GD θ ← θ − D∇L linearizes to e ← (I − DH)e, which is similar to
    I − D^{1/2}HD^{1/2}; for positive semi-definite H it contracts iff λ_max(D^{1/2}HD^{1/2})
    < 2. With one rate η for every block this is η·λ_max(H).

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 4.0]), blocks=(slice(0, 1), slice(1, 2)))
    >>> round(blockwise_sharpness(q, np.zeros(2), [2.0, 0.25]), 9)   # max(2·1, 0.25·4)
    2.0
    """
    from lrctl.curvature import top_eigenvalue

    check_objective(objective)
    theta = check_finite("theta", theta)
    if theta.shape != (objective.dim,):
        raise ValueError(f"theta must have shape ({objective.dim},), got {theta.shape}")
    blocks, owner = block_index(objective)
    rates = check_positive("block_lrs", block_lrs)
    if rates.shape != (len(blocks),):
        raise ValueError(f"block_lrs must have one rate per block, shape ({len(blocks)},), "
                         f"got {rates.shape}")
    tol = check_tol("tol", tol)
    root = np.sqrt(rates[owner])
    try:
        res = top_eigenvalue(lambda v: root * objective.hvp(theta, root * v), objective.dim,
                             tol=tol, seed=seed)
    except ValueError as exc:
        if "overflow" not in str(exc):
            raise
        # the scaled operator D^½HD^½ left the float range: the rates are too large for H
        raise ValueError(f"block_lrs {rates!r:.80} scale the Hessian beyond the float range "
                         f"(λ_max(D^½HD^½) overflows); give rates whose product with the "
                         f"curvature is finite") from exc
    return float(res.value)


@dataclass(frozen=True)
class BlockRates:
    """A policy: a fixed rate per parameter block, shape (n_blocks,) or (K, n_blocks) for K runs."""

    block_lrs: Any

    def __post_init__(self) -> None:
        rates = check_positive("block_lrs", self.block_lrs)
        if rates.ndim not in (1, 2) or rates.size == 0:
            raise ValueError(f"block_lrs must have shape (n_blocks,) or (K, n_blocks), "
                             f"got {rates.shape}")
        object.__setattr__(self, "block_lrs", rates)
        object.__setattr__(self, "runs", None if rates.ndim == 1 else len(rates))

    def update(self, obs: Any, state: Any) -> tuple[np.ndarray, Any]:
        check_observation(obs)
        if state is not None:
            raise TypeError(f"state must be None for BlockRates (a stateless policy), got "
                            f"{type(state).__name__}")
        return self.block_lrs, state


@dataclass(frozen=True)
class LARS:
    r"""A policy: layer-wise trust ratios η_ℓ,t = lr·‖θ_ℓ‖/‖∇_ℓ L‖ (You, Gitman & Ginsburg, 2017).

    Without momentum and with the trust coefficient folded into ``lr``: every block moves by
    the fraction ``lr`` of its own norm each step; a block with a zero gradient gets rate 0.
    An array of K values of ``lr`` runs K stacked runs. Needs the objective's ``blocks``.
    """

    lr: Any

    def __post_init__(self) -> None:
        lr = check_positive("lr", self.lr)
        if lr.ndim > 1 or lr.size == 0:
            raise ValueError(f"lr must be a number or a non-empty 1-D array, got shape {lr.shape}")
        object.__setattr__(self, "lr", scalar_or_array(lr))
        object.__setattr__(self, "runs", None if lr.ndim == 0 else lr.size)

    def init(self, obs: Any) -> tuple[slice, ...]:
        check_observation(obs)
        return block_index(obs.objective)[0]

    def update(self, obs: Any, blocks: tuple[slice, ...]) -> tuple[np.ndarray, Any]:
        check_observation(obs)
        if not (isinstance(blocks, tuple) and blocks
                and all(isinstance(b, slice) for b in blocks)):
            raise TypeError(f"blocks must be the tuple of slices that LARS.init returns, got "
                            f"{type(blocks).__name__}")
        th, g = obs.theta, obs.grad
        out = np.empty((*th.shape[:-1], len(blocks)))
        for j, sl in enumerate(blocks):
            wn = np.linalg.norm(th[..., sl], axis=-1)
            gn = np.linalg.norm(g[..., sl], axis=-1)
            out[..., j] = np.where(gn > 0, self.lr * wn / np.where(gn > 0, gn, 1.0), 0.0)
        return out, blocks


_CAP_METHODS = ("layerwise", "coupled", "global")


@dataclass(frozen=True)
class LayerwiseCaps:
    r"""A policy: rates from the curvature, η_ℓ = c·2/λ_max(H_ℓ) per block, or one global rate.

    ``method``:

    - ``"layerwise"``: the caps η_ℓ = c·2/λ_max(H_ℓ) of :func:`lrctl.quadratic.layerwise_lr_caps`
      (from :func:`block_top_eigenvalues`): each block at the fraction c of its own bound,
      which is exactly stable only when H is block-diagonal;
    - ``"coupled"``: the same shape η_ℓ ∝ 1/λ_max(H_ℓ), scaled so that the whole step sits at
      the fraction c of its coupled bound, λ_max(D^{1/2} H D^{1/2}) = 2c
      (:func:`blockwise_sharpness`); equal to ``"layerwise"`` for a block-diagonal H;
    - ``"global"``: one conservative rate c·2/λ_max(H) for every block.

    The eigenvalues are computed at θ_0 and, with ``recompute_every=R``, again every R steps at
    the current iterate. ``record_full`` also computes λ_max(H) for the per-layer methods.
    ``tol`` and ``seed`` are the Lanczos tolerance and start-vector seed. One run (not
    stacked); the state records each recomputation as ``state["curvature"]`` (a list of
    :class:`BlockCurvature`) and ``state["steps"]``.
    """

    fraction: float = 0.5
    method: str = "layerwise"
    recompute_every: int | None = None
    record_full: bool = False
    tol: float = 1e-4
    seed: Any = 0
    runs = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", float(check_in_interval(
            "fraction", check_scalar("fraction", self.fraction), 0.0, 1.0, low_closed=False,
            high_closed=True)))
        check_choice("method", self.method, _CAP_METHODS)
        if self.recompute_every is not None:
            check_int("recompute_every", self.recompute_every, minimum=1)
        object.__setattr__(self, "record_full", check_bool("record_full", self.record_full))
        object.__setattr__(self, "tol", check_tol("tol", self.tol))
        as_rng(self.seed)  # validates: an int, a SeedSequence, a Generator or None

    def init(self, obs: Any) -> dict[str, Any]:
        check_observation(obs)
        check_objective(obs.objective)
        block_index(obs.objective)
        return {"rng": as_rng(self.seed), "rates": None, "curvature": [], "steps": []}

    def update(self, obs: Any, state: dict[str, Any]) -> tuple[np.ndarray, Any]:
        from lrctl.quadratic import layerwise_lr_caps

        check_observation(obs)
        if not (isinstance(state, dict) and {"rng", "rates", "curvature", "steps"} <= state.keys()):
            raise TypeError(f"state must be the dict that LayerwiseCaps.init returns, got "
                            f"{type(state).__name__}")
        t, every = obs.step, self.recompute_every
        if state["rates"] is not None and (every is None or t % every != 0):
            return state["rates"], state
        objective, theta, rng = obs.objective, obs.theta, state["rng"]
        bc = block_top_eigenvalues(objective, theta, tol=self.tol, seed=rng,
                                   include_full=self.method == "global" or self.record_full)
        if self.method == "global":
            if bc.full is None or bc.full <= 0:
                raise ValueError(f"λ_max(H) = {bc.full} at step {t}: no positive curvature to "
                                 "set the rate from")
            rates = np.full(len(bc.values), self.fraction * 2.0 / bc.full)
        else:
            rates = np.asarray(layerwise_lr_caps(list(bc.values), fraction=self.fraction))
            if self.method == "coupled":
                sharp = blockwise_sharpness(objective, theta, rates, tol=self.tol, seed=rng)
                if sharp <= 0:
                    raise ValueError(f"λ_max(D^1/2 H D^1/2) = {sharp} at step {t}: no positive "
                                     "curvature to scale the rates with")
                rates = rates * (2.0 * self.fraction / sharp)
        state["rates"] = rates
        state["curvature"].append(bc)
        state["steps"].append(t)
        return rates, state


def blockwise_descent(
    objective: Any,
    theta0: Any,
    block_lrs: Any,
    steps: int,
    *,
    loss_floor: float | None = None,
    divergence_factor: float = 1e6,
) -> BlockwiseResult | tuple[BlockwiseResult, ...]:
    r"""Gradient descent with a fixed rate per block: θ_ℓ ← θ_ℓ − η_ℓ ∇_ℓ L.

    ``block_lrs`` of shape (n_blocks,) gives one run; of shape (K, n_blocks), K stacked runs
    (a tuple of results). It is ``training.run(objective, BlockRates(block_lrs), steps)``.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 100.0]), blocks=(slice(0, 1), slice(1, 2)))
    >>> run = blockwise_descent(q, [1.0, 1.0], [1.0, 0.01], steps=1)   # each block's 1/λ
    >>> run.final_loss   # one step solves a block-diagonal quadratic exactly
    0.0
    """
    check_objective(objective, require=_TRAINABLE)
    blocks, _ = block_index(objective)
    policy = BlockRates(block_lrs)
    if policy.block_lrs.shape[-1] != len(blocks):
        raise ValueError(f"block_lrs must have shape ({len(blocks)},) or (K, {len(blocks)}), "
                         f"got {policy.block_lrs.shape}")
    runs = train(objective, policy, steps, theta0=theta0,
                 monitor=_monitor(loss_floor, divergence_factor))
    return runs


def lars_descent(
    objective: Any,
    theta0: Any,
    lr: Any,
    steps: int,
    *,
    loss_floor: float | None = None,
    divergence_factor: float = 1e6,
) -> BlockwiseResult | tuple[BlockwiseResult, ...]:
    r"""Gradient descent with LARS trust ratios: η_ℓ,t = lr · ‖θ_ℓ‖ / ‖∇_ℓ L‖ (:class:`LARS`).

    Layer-wise adaptive rate scaling (You, Gitman & Ginsburg, 2017, without momentum and
    with the trust coefficient folded into ``lr``): every block moves by the same fraction
    ``lr`` of its own norm each step, whatever the scale of its gradient. A block whose
    gradient is exactly zero gets rate 0. ``lr`` an array of K values gives K stacked runs.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 100.0]), blocks=(slice(0, 1), slice(1, 2)))
    >>> run = lars_descent(q, [1.0, 1.0], lr=0.5, steps=1)
    >>> run.lrs[0].tolist()   # 0.5·|θ_ℓ|/|g_ℓ| = 0.5/1 and 0.5/100
    [0.5, 0.005]
    """
    check_objective(objective, require=_TRAINABLE)
    block_index(objective)
    policy = LARS(lr)
    runs = train(objective, policy, steps, theta0=theta0,
                 monitor=_monitor(loss_floor, divergence_factor))
    return runs


def curvature_capped_descent(
    objective: Any,
    theta0: Any,
    steps: int,
    *,
    fraction: float = 0.5,
    method: str = "layerwise",
    recompute_every: int | None = None,
    record_full: bool = False,
    tol: float = 1e-4,
    seed: Any = 0,
    loss_floor: float | None = None,
    divergence_factor: float = 1e6,
) -> BlockwiseResult:
    r"""Gradient descent at rates set from the curvature: per layer, or one global rate.

    ``training.run(objective, LayerwiseCaps(fraction, method, recompute_every, record_full,
    tol, seed), steps)``; see :class:`LayerwiseCaps` for the three methods. ``curvature``
    holds the :class:`BlockCurvature` of each recomputation, ``curvature_steps`` their steps.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 100.0]), blocks=(slice(0, 1), slice(1, 2)))
    >>> lw = curvature_capped_descent(q, [1.0, 1.0], 20, fraction=0.5)
    >>> gl = curvature_capped_descent(q, [1.0, 1.0], 20, fraction=0.5, method="global")
    >>> lw.run.lrs[0].round(6).tolist(), gl.run.lrs[0].round(6).tolist()
    ([1.0, 0.01], [0.01, 0.01])
    >>> bool(lw.run.final_loss < 1e-12 < gl.run.final_loss)
    True
    """
    check_objective(objective)
    policy = LayerwiseCaps(fraction=fraction, method=method, recompute_every=recompute_every,
                           record_full=record_full, tol=tol, seed=seed)
    r = train(objective, policy, steps, theta0=_theta0(objective, theta0, 1).reshape(-1),
              monitor=_monitor(loss_floor, divergence_factor))
    state = r.policy_state or {"curvature": [], "steps": []}
    name = {"layerwise": "layerwise-caps", "coupled": "layerwise-coupled",
            "global": "global-cap"}[method]
    return BlockwiseResult(method=name, curvature=tuple(state["curvature"]),
                           curvature_steps=tuple(state["steps"]), run=r)


# ---------------------------------------------------------------------------------------
# Snapshot ensembles
# ---------------------------------------------------------------------------------------


def snapshot_training(
    objective: Any,
    theta0: Any,
    lr_max: Any,
    period: int,
    n_cycles: int,
    *,
    lr_min: float = 0.0,
    batch_size: int | None = None,
    seed: Any = 0,
    loss_floor: float | None = None,
    divergence_factor: float = 1e6,
) -> Run | tuple[Run, ...]:
    r"""SGD under cosine annealing with warm restarts (SGDR), snapshotting each cycle's end.

    η_t = :func:`lrctl.schedules.cosine_warm_restarts` (lr_max, period, mult=1, lr_min)(t):
    η falls from lr_max to lr_min along half a cosine over ``period`` steps, then jumps back
    (a restart of amplitude lr_max − lr_min). After steps period, 2·period, …,
    n_cycles·period the parameters are saved (Huang et al., "Snapshot ensembles: train 1,
    get M for free", ICLR 2017). It is ``training.run(objective, Scheduled(schedule), steps,
    batches=..., snapshot_at=...)`` and returns its :class:`lrctl.training.Run`: ``lrs`` the
    rate of every completed step, ``losses`` the mini-batch loss at each completed step (and,
    last, the loss of the whole objective at the final iterate), ``snapshots`` (M, dim) and
    ``snapshot_steps`` (period, 2·period, …).

    Parameters
    ----------
    objective
        An objective whose ``loss_and_grad`` takes ``batch=`` (an index array of training rows)
        when ``batch_size`` is given, e.g. :class:`lrctl.objectives.MLP`.
    theta0
        Start, shape ``(dim,)`` or ``(K, dim)``.
    lr_max
        Peak rate(s); an array of K values gives K stacked runs (a tuple of results).
    period, n_cycles
        Steps per cycle and number of cycles (snapshots), both >= 1.
    lr_min
        The floor of each cycle, 0 <= lr_min <= lr_max.
    batch_size
        Mini-batch size (sampled without replacement, reshuffled every epoch, the same
        batches for all K runs); ``None`` for full-batch gradient descent.
    seed
        Seed of the mini-batch order (an int or a Generator).

    >>> from lrctl.objectives import MLP, split_dataset
    >>> Xtr, ytr, Xte, yte = split_dataset("digits", seed=0)
    >>> net = MLP(Xtr, ytr, hidden=(16,))
    >>> run = snapshot_training(net, net.initial(seed=0), 0.5, period=20, n_cycles=3,
    ...                         batch_size=64, seed=0)
    >>> run.snapshots.shape, run.snapshot_steps.tolist(), run.diverged
    ((3, 1210), [20, 40, 60], False)
    """
    from lrctl.schedules import cosine_warm_restarts

    check_objective(objective, require=_TRAINABLE)
    period = check_int("period", period, minimum=1)
    n_cycles = check_int("n_cycles", n_cycles, minimum=1)
    lr_arr = check_positive("lr_max", lr_max)
    lr_v = _vector("lr_max", lr_arr, positive=True)
    lo = float(check_positive("lr_min", check_scalar("lr_min", lr_min), allow_zero=True))
    if np.any(lo > lr_v):
        raise ValueError(f"lr_min must lie in [0, lr_max] = [0, {lr_v.min()!r}], got {lo!r}")
    k = len(lr_v)
    theta = _theta0(objective, theta0, k)
    steps = period * n_cycles
    scheds = [cosine_warm_restarts(float(m), period, 1, lo) for m in lr_v]
    policy = Scheduled(scheds[0] if lr_arr.ndim == 0 else scheds)
    rng = as_rng(seed)
    batches = None
    if batch_size is not None:
        n_rows = len(getattr(objective, "y", ()))
        bs = check_int("batch_size", batch_size, minimum=1)
        if n_rows == 0:
            raise TypeError("batch_size needs an objective with training rows (e.g. an MLP)")
        if bs > n_rows:
            raise ValueError(f"batch_size must be at most the {n_rows} training rows, got {bs}")

        def epochs():
            while True:
                perm = rng.permutation(n_rows)
                yield from (perm[i:i + bs] for i in range(0, n_rows - bs + 1, bs))

        batches = epochs()
    runs = train(objective, policy, steps, theta0=theta,
                 monitor=_monitor(loss_floor, divergence_factor), batches=batches,
                 snapshot_at=period * np.arange(1, n_cycles + 1))
    return runs


def snapshot_ensemble(objective: Any, snapshots: Any, X: Any = None, y: Any = None
                      ) -> SnapshotEnsemble:
    r"""Accuracy of each snapshot and of their ensemble, and the snapshots' diversity.

    The ensemble averages class probabilities, p̄ = (1/M) Σ_m p(x; θ_m), and predicts
    argmax p̄; its cross-entropy −log p̄(y|x) is at most the snapshots' mean (Jensen), while
    its accuracy carries no such guarantee. Diversity: pairwise parameter distances ‖θ_i − θ_j‖ and pairwise prediction
    disagreement (the fraction of points where argmax p(x; θ_i) ≠ argmax p(x; θ_j)).
    (X, y) default to the objective's training set; pass a held-out set to measure
    generalization.

    >>> from lrctl.objectives import MLP
    >>> net = MLP(np.eye(4), np.array([0, 1, 0, 1]), hidden=(3,))
    >>> thetas = np.stack([net.initial(seed=s, scale=3.0) for s in range(3)])
    >>> ens = snapshot_ensemble(net, thetas)
    >>> ens.accuracies.shape, ens.distances.shape, bool(ens.distances[0, 0] == 0)
    ((3,), (3, 3), True)
    """
    check_objective(objective, require=("dim", "predict_proba"))
    S = check_finite("snapshots", snapshots)
    if S.ndim != 2 or S.shape[1] != objective.dim or S.shape[0] < 2:
        raise ValueError(f"snapshots must have shape (M, {objective.dim}) with M >= 2, "
                         f"got {S.shape}")
    if (X is None) != (y is None):
        raise ValueError("give both X and y (or neither, for the training set)")
    labels = np.asarray(objective.y if y is None else y)
    if (labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer)
            or (labels.size and labels.min() < 0)):
        raise TypeError(f"y must be non-negative integer class labels, got dtype {labels.dtype}")
    P = objective.predict_proba(S, X)  # (M, n, C)
    if labels.shape != (P.shape[1],):
        raise ValueError(f"y must have one label per row of X ({P.shape[1]}), "
                         f"got shape {labels.shape}")
    preds = P.argmax(axis=-1)
    acc = np.mean(preds == labels, axis=-1)
    ens = float(np.mean(P.mean(axis=0).argmax(axis=-1) == labels))
    big = float(np.abs(S).max())
    scale = big if big > 1e150 else 1.0  # rescaled only where the squares would overflow
    Ss = S / scale
    dist = scale * np.linalg.norm(Ss[:, None, :] - Ss[None, :, :], axis=-1)  # no cancellation
    rows = np.arange(len(labels))
    tiny = np.finfo(float).tiny  # a probability that underflowed to 0 counts as 1e-308
    nll = -np.log(np.maximum(P[:, rows, labels], tiny)).mean(axis=-1)
    ens_nll = float(-np.log(np.maximum(P.mean(axis=0)[rows, labels], tiny)).mean())
    disagree = np.mean(preds[:, None, :] != preds[None, :, :], axis=-1)
    return SnapshotEnsemble(accuracies=acc, ensemble_accuracy=ens, distances=dist,
                            disagreement=disagree, log_losses=nll, ensemble_log_loss=ens_nll)

