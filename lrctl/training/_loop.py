"""The one training loop: run(objective, policy, steps) -> Run."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrctl._repr import summary_repr
from lrctl._validation import (
    check_finite,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
    scalar_or_array,
)
from lrctl.objectives import ResultOverflow, block_index, check_objective
from lrctl.training._divergence import Divergence
from lrctl.training._policies import Constant, Observation, Scheduled, policy_runs

__all__ = ["Run", "gradient_descent", "run"]


@dataclass(frozen=True)
class Run:
    """One training run.

    Attributes
    ----------
    losses
        L(θ_0), …, L(θ_n) for the n steps completed (n = ``steps`` unless it diverged). With
        mini-batches, L(θ_t) is the loss of the batch of step t, and L(θ_n) the loss of the
        whole objective.
    lrs
        The rate of each completed step: shape (n,), or (n, n_blocks) for per-block rates.
    theta
        θ_n, the last finite iterate.
    diverged, diverged_at
        Whether the run stopped early (:class:`Divergence`), and the step t at which it did:
        θ_t (its loss, its gradient or its entries) failed the rule, or the policy's rate for
        step t was not finite. θ_{t−1} is then ``theta``.
    diverged_lr
        The finite rate of the step that produced the diverged iterate (``None`` when the run
        did not diverge or the rate itself was not finite).
    diverged_loss
        The finite loss that fired the rule; ``None`` when the run did not diverge or the
        loss that stopped it was not finite (NaN or inf).
    distances
        ‖θ_t − reference‖ for t = 0 … n when ``run`` was given a reference, else ``None``.
    measure_steps, measurements
        For a measuring policy (:class:`Feedback`): the steps at which the plant was measured
        and the measured values.
    snapshot_steps, snapshots
        The requested steps that were reached and θ at each, shape (M, dim).
    policy_state
        The policy's state after the last step (per-policy records, e.g. the curvature each
        :class:`LayerwiseCaps` recomputation found, or a controller's trace).
    """

    losses: np.ndarray
    lrs: np.ndarray
    theta: np.ndarray
    diverged: bool
    diverged_at: int | None
    diverged_lr: Any = None
    diverged_loss: float | None = None
    distances: np.ndarray | None = None
    measure_steps: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    measurements: np.ndarray = field(default_factory=lambda: np.empty(0))
    snapshot_steps: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    snapshots: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    policy_state: Any = None

    __repr__ = summary_repr

    @property
    def steps(self) -> int:
        """n, the steps completed."""
        return len(self.losses) - 1

    @property
    def final_loss(self) -> float:
        """L(θ_n)."""
        return float(self.losses[-1])


def _evaluate(objective: Any, theta: np.ndarray, batch: Any, stacked: bool
              ) -> tuple[np.ndarray, np.ndarray]:
    """Losses (k,) and gradients (k, dim) of the k rows of ``theta`` (finite rows only).

    A row whose evaluation overflows (:class:`lrctl.objectives.ResultOverflow`, raised by
    lrctl's own objectives) gets the loss inf: the loop then records it as diverged.
    """
    try:
        return _evaluate_rows(objective, theta, batch, stacked)
    except ResultOverflow:
        if len(theta) == 1 and not stacked:
            return np.full(1, np.inf), np.zeros_like(theta)
    losses = np.empty(len(theta))
    grads = np.empty_like(theta)
    for i in range(len(theta)):  # the rare overflow path: find the rows, one at a time
        try:
            lo, gr = _evaluate_rows(objective, theta[i:i + 1], batch, stacked)
            losses[i], grads[i] = lo[0], gr[0]
        except ResultOverflow:
            losses[i], grads[i] = np.inf, 0.0
    return losses, grads


def _evaluate_rows(objective: Any, theta: np.ndarray, batch: Any, stacked: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    target, kw = objective, {}
    if batch is not None:
        if callable(getattr(batch, "grad", None)):
            target = batch
        else:
            kw = {"batch": batch}
    lag = getattr(target, "loss_and_grad", None)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if stacked:
            loss, grad = lag(theta, **kw) if lag is not None else (
                target.loss(theta, **kw), target.grad(theta, **kw))
            loss = np.asarray(loss, dtype=float).reshape(len(theta))
            grad = np.asarray(grad, dtype=float)
        else:
            loss = np.empty(len(theta))
            grad = np.empty_like(theta)
            for i, row in enumerate(theta):
                lo, gr = lag(row, **kw) if lag is not None else (
                    target.loss(row, **kw), target.grad(row, **kw))
                lo = np.asarray(lo, dtype=float)
                if lo.ndim != 0:
                    raise TypeError(f"the objective's loss must return a scalar, got an array "
                                    f"of shape {lo.shape}")
                loss[i] = lo
                gr = np.asarray(gr, dtype=float)
                if gr.shape != row.shape:
                    raise ValueError(f"the objective's gradient must have shape {row.shape}, "
                                     f"got {gr.shape}")
                grad[i] = gr
    if grad.shape != theta.shape:
        raise ValueError(f"the objective's gradient must have shape {theta.shape}, "
                         f"got {grad.shape}")
    return loss, grad


def _norm(x: np.ndarray) -> np.ndarray:
    """‖x‖ along the last axis without overflow for entries near the float64 limit."""
    scale = np.max(np.abs(x), axis=-1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    with np.errstate(over="ignore"):
        return (safe[..., 0] * np.linalg.norm(x / safe, axis=-1))


def _snapshot_steps(value: Any) -> set[int]:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise TypeError(f"snapshot_at must be a sequence of steps (ints >= 0), got "
                        f"{type(value).__name__}")
    items = np.asarray(value).ravel().tolist() if isinstance(value, np.ndarray) else list(value)
    return {check_int("snapshot_at", s, minimum=0) for s in items}


def _accepts_batch(objective: Any) -> bool:
    import inspect

    fn = getattr(objective, "loss_and_grad", None) or objective.grad
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return True
    return "batch" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _start(objective: Any, theta0: Any, k: int | None) -> np.ndarray:
    n = 1 if k is None else k
    if theta0 is None:
        init = getattr(objective, "initial", None)
        if not callable(init):
            raise TypeError(f"theta0 is required: {type(objective).__name__} has no initial()")
        theta0 = init()
    t = check_finite("theta0", theta0).astype(float)
    if t.shape == (objective.dim,):
        return np.tile(t, (n, 1))
    if k is not None and t.shape == (k, objective.dim):
        return t.copy()
    shapes = f"({objective.dim},)" + ("" if k is None else f" or ({k}, {objective.dim})")
    raise ValueError(f"theta0 must have shape {shapes}, got {t.shape}")


def run(
    objective: Any,
    policy: Any,
    steps: int,
    *,
    theta0: Any = None,
    monitor: Divergence | None = None,
    weight_decay: float = 0.0,
    batches: Iterable[Any] | None = None,
    reference: Any = None,
    snapshot_at: Iterable[int] = (),
) -> Run | tuple[Run, ...]:
    r"""Gradient descent whose learning rate a policy sets: the one training loop of lrctl.

    For t = 0 … steps − 1, with g_t = ∇L(θ_t):

    .. math:: η_t = \mathrm{policy}(t, θ_t, g_t, g_{t−1}, L(θ_t), η_{t−1}, m_t),
              \qquad θ_{t+1} = (1 − λ)\,θ_t − η_t ⊙ g_t

    (λ = ``weight_decay``; η_t a number, or one rate per parameter block). The run stops at the
    first step whose iterate fails ``monitor`` (default :class:`Divergence` ``()``: a
    non-finite value, or a loss gap 10⁶ times the initial one) and says so in the result.

    Parameters
    ----------
    objective
        Anything with ``dim``, ``loss(theta)`` and ``grad(theta)`` on one flat float vector
        (:class:`lrctl.objectives.Objective`); ``loss_and_grad`` is used when present.
        Stacked runs: when the policy drives K runs and the objective declares
        ``stacked = True`` (lrctl's own plants do), its methods are called once per step on the
        (K, dim) stack; otherwise once per run on single vectors.
    policy
        An object with ``update(observation, state) -> (lr, state)`` (and optionally
        ``init(observation) -> state``, ``runs``, ``measure``, ``every``); see
        :mod:`lrctl.training`.
    steps
        Number of steps, >= 0.
    theta0
        Start, shape (dim,) (shared by stacked runs) or (K, dim); default
        ``objective.initial()``.
    monitor
        The divergence rule.
    weight_decay
        Decoupled weight decay λ in [0, 1).
    batches
        Mini-batches, one item per step: step t's gradient is taken on item t, either an
        objective (the batch's own problem) or any value passed as ``batch=`` to the
        objective's methods (e.g. row indices for :class:`lrctl.objectives.MLP`). The final
        iterate is evaluated on the whole objective.
    reference
        A point (e.g. the minimizer) whose distance ‖θ_t − reference‖ is recorded.
    snapshot_at
        Steps (0 … steps) at which θ is saved.

    Returns
    -------
    Run, or a tuple of K runs when the policy drives K stacked runs.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 4.0]))
    >>> r = run(q, Constant(0.6), 40, theta0=[1.0, 1.0])   # |1 − 0.6·4| = 1.4 > 1
    >>> r.diverged, r.diverged_at
    (True, 21)
    >>> [x.diverged for x in run(q, Constant([0.1, 0.6]), 40, theta0=[1.0, 1.0])]
    [False, True]
    """
    check_objective(objective, "objective", ("dim", "loss", "grad"))
    k = policy_runs(policy)
    steps = check_int("steps", steps, minimum=0)
    rule = Divergence() if monitor is None else monitor
    if not isinstance(rule, Divergence):
        raise TypeError(f"monitor must be a Divergence, got {type(monitor).__name__}")
    wd = float(check_in_interval("weight_decay", check_scalar("weight_decay", weight_decay),
                                 0.0, 1.0))
    theta = _start(objective, theta0, k)
    n = len(theta)
    ref = None if reference is None else check_finite("reference", reference)
    if ref is not None and ref.shape != (objective.dim,):
        raise ValueError(f"reference must have shape ({objective.dim},), got {ref.shape}")
    snap_set = _snapshot_steps(snapshot_at)
    measure = getattr(policy, "measure", None)
    every = 1
    if measure is not None:
        if not callable(measure):
            raise TypeError(f"policy.measure must be a callable (objective, theta) -> value, "
                            f"got {measure!r}")
        every = check_int("policy.every", getattr(policy, "every", 1), minimum=1)
        if k is not None:
            raise TypeError("a measuring policy drives one run, not a stack")
    stacked = bool(getattr(objective, "stacked", False))
    it = None
    if batches is not None:
        if isinstance(batches, (str, bytes, dict)) or not hasattr(batches, "__iter__"):
            raise TypeError(f"batches must be an iterable of mini-batches (one per step), got "
                            f"{type(batches).__name__}")
        it = iter(batches)

    def next_batch(t: int) -> Any:
        if it is None or t >= steps:
            return None
        try:
            return next(it)
        except StopIteration:
            raise ValueError(f"batches ran out at step {t}: give one batch per step "
                             f"({steps})") from None

    first = next_batch(0)
    if first is not None and not callable(getattr(first, "grad", None)) and not _accepts_batch(
            objective):
        raise TypeError(f"batches: {type(objective).__name__}'s methods take no batch= "
                        "argument; give objectives (one per step) as the batches, or an "
                        "objective whose loss/grad accept batch=")
    loss, grad = _evaluate(objective, theta, first, stacked)
    if not (np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))):
        raise ValueError("the objective's loss or gradient at theta0 is not finite")
    watch = rule._watch(loss, steps)
    losses = np.empty((n, steps + 1))
    losses[:, 0] = loss
    dists = None
    if ref is not None:
        dists = np.empty((n, steps + 1))
        dists[:, 0] = _norm(theta - ref)
    snaps: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
    if 0 in snap_set:
        for i in range(n):
            snaps[i].append((0, theta[i].copy()))
    done = np.zeros(n, dtype=int)
    diverged_at = np.full(n, -1)
    diverged_lr: list[Any] = [None] * n
    diverged_loss: list[float | None] = [None] * n
    active = np.ones(n, dtype=bool)
    single = k is None
    prev_grad: np.ndarray | None = None
    prev_lr: np.ndarray | None = None
    record: np.ndarray | None = None
    owner: np.ndarray | None = None
    m_steps: list[int] = []
    m_values: list[float] = []
    state: Any = None

    for t in range(steps):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        m = None
        if measure is not None and t % every == 0:
            m = measure(objective, theta[0].copy())
            m_steps.append(t)
            m_values.append(float(getattr(m, "value", m)))
        # the policy sees read-only views: it cannot change the loop's state by accident
        if single:
            obs = Observation(t, _ro(theta[0]), _ro(grad[0]),
                              None if prev_grad is None else _ro(prev_grad[0]), float(loss[0]),
                              None if prev_lr is None else scalar_or_array(prev_lr[0].copy()),
                              m, objective)
        else:
            obs = Observation(t, _ro(theta), _ro(grad), None if prev_grad is None else _ro(prev_grad),
                              _ro(loss), None if prev_lr is None else prev_lr.copy(), m, objective)
        if t == 0 and callable(getattr(policy, "init", None)):
            state = policy.init(obs)
        lr_out, state = policy.update(obs, state)
        with np.errstate(over="ignore", invalid="ignore"):
            rate = np.asarray(lr_out, dtype=float)
        if record is None:
            per_block = rate.ndim == (1 if single else 2)
            if per_block:
                blocks, owner = block_index(objective)
                shape = (n, steps, len(blocks))
            else:
                shape = (n, steps)
            record = np.zeros(shape)
            prev_lr = np.zeros((n, *shape[2:]))
        rate = _shape_rate(rate, n, record.shape[2:], single)
        finite_rate = np.isfinite(rate[rows]) if owner is None else np.all(
            np.isfinite(rate[rows]), axis=-1)
        blown = rows[~finite_rate]
        diverged_at[blown] = t
        active[blown] = False
        rows = rows[finite_rate]
        if rows.size == 0:
            continue
        r = rate[rows]
        record[rows, t] = r
        prev_lr[rows] = r
        th = theta[rows]
        if wd:
            th = (1.0 - wd) * th
        with np.errstate(over="ignore", invalid="ignore"):
            new = th - (r[:, None] if owner is None else r[:, owner]) * grad[rows]
        finite = np.all(np.isfinite(new), axis=-1)
        new_loss = np.full(rows.size, np.inf)
        new_grad = np.zeros_like(new)
        if np.any(finite):
            new_loss[finite], new_grad[finite] = _evaluate(
                objective, new[finite] if not np.all(finite) else new, next_batch(t + 1), stacked)
        elif it is not None:
            next_batch(t + 1)
        ok = finite & np.isfinite(new_loss) & np.all(np.isfinite(new_grad), axis=-1)
        ok[ok] = ~watch.exceeded(rows[ok], t, new_loss[ok])
        for j in np.flatnonzero(~ok):
            i = rows[j]
            diverged_at[i] = t + 1
            diverged_lr[i] = scalar_or_array(r[j])
            diverged_loss[i] = float(new_loss[j]) if np.isfinite(new_loss[j]) else None
        active[rows[~ok]] = False
        good = rows[ok]
        theta[good] = new[ok]
        if prev_grad is None:
            prev_grad = np.zeros_like(grad)
        prev_grad[good] = grad[good]
        grad[good] = new_grad[ok]
        loss[good] = new_loss[ok]
        losses[good, t + 1] = new_loss[ok]
        done[good] = t + 1
        if dists is not None:
            dists[good, t + 1] = _norm(new[ok] - ref)
        if t + 1 in snap_set:
            for i in good:
                snaps[i].append((t + 1, theta[i].copy()))

    out = []
    for i in range(n):
        nd = int(done[i])
        lrs = np.empty(0) if record is None else record[i, :nd].copy()
        at = int(diverged_at[i])
        sn = snaps[i]
        out.append(Run(
            losses=losses[i, :nd + 1].copy(), lrs=lrs, theta=theta[i].copy(),
            diverged=at >= 0, diverged_at=at if at >= 0 else None,
            diverged_lr=diverged_lr[i], diverged_loss=diverged_loss[i],
            distances=None if dists is None else dists[i, :nd + 1].copy(),
            measure_steps=np.asarray(m_steps, dtype=int),
            measurements=np.asarray(m_values, dtype=float),
            snapshot_steps=np.asarray([s for s, _ in sn], dtype=int),
            snapshots=(np.stack([x for _, x in sn]) if sn else np.empty((0, objective.dim))),
            policy_state=state,
        ))
    return out[0] if single else tuple(out)


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def _shape_rate(rate: np.ndarray, n: int, block_shape: tuple[int, ...], single: bool
                ) -> np.ndarray:
    """The policy's rate as shape (n,) or (n, n_blocks), or a ValueError saying why not."""
    want = (n, *block_shape)
    if single:
        if rate.shape != block_shape:
            kind = f"one rate per block, shape {block_shape}" if block_shape else "a number"
            raise ValueError(f"the policy must return {kind} at every step, got shape {rate.shape}")
        return rate.reshape(want)
    if block_shape:
        if rate.shape != want:
            raise ValueError(f"the policy must return per-block rates of shape {want}, "
                             f"got {rate.shape}")
        return rate
    if rate.shape not in ((), (n,)):
        raise ValueError(f"the policy must return a number or shape ({n},), got {rate.shape}")
    return np.broadcast_to(rate, (n,))


def gradient_descent(
    objective: Any,
    theta0: Any,
    lr: float,
    steps: int,
    *,
    weight_decay: float = 0.0,
    reference: Any = None,
    loss_floor: float | None = None,
    divergence_factor: float = 1e6,
    lr_schedule: Callable[[int], float] | None = None,
) -> Run:
    r"""Full-batch gradient descent θ_{t+1} = (1 − λ)θ_t − η·m(t)·∇L(θ_t): one call of :func:`run`.

    ``run(objective, Constant(lr), steps, ...)`` (or ``Scheduled(lambda t: lr·m(t))`` with a
    multiplier ``lr_schedule`` = m) with ``monitor=Divergence(divergence_factor, loss_floor)``:
    the run stops when L − L* exceeds ``divergence_factor`` times L_0 − L* (L* = ``loss_floor``,
    default 0) or a value stops being finite. ``reference`` records ‖θ_t − reference‖ in
    ``distances``.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 4.0]))
    >>> r = gradient_descent(q, [1.0, 1.0], lr=0.6, steps=40)  # |1 - 0.6*4| = 1.4 > 1
    >>> r.diverged, r.diverged_at
    (True, 21)
    """
    eta = float(check_positive("lr", check_scalar("lr", lr)))
    monitor = Divergence.from_args(divergence_factor, loss_floor)
    if lr_schedule is None:
        policy: Any = Constant(eta)
    else:
        if not callable(lr_schedule):
            raise TypeError(f"lr_schedule must be a callable f(step) -> multiplier, "
                            f"got {lr_schedule!r}")
        policy = Scheduled(lambda t: eta * float(lr_schedule(t)))
    return run(objective, policy, steps, theta0=theta0, monitor=monitor,
               weight_decay=weight_decay, reference=reference)
