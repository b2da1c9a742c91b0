"""Optimizer loops on lrctl objectives, with divergence detection.

The analyses run the same plain loops on quadratics and on real problems
(:mod:`lrctl.objectives`); this module holds them once. A run that diverges stops at the step
where the loss (or the parameters) stopped being finite or exceeded ``divergence_factor`` times
the initial loss gap, and says so in its result (``diverged``, ``diverged_at``) instead of
filling arrays with inf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl._validation import check_finite, check_int, check_positive, check_scalar

__all__ = ["GDRun", "gradient_descent"]


@dataclass(frozen=True)
class GDRun:
    """A gradient-descent run.

    Attributes
    ----------
    losses
        L(θ_0), …, L(θ_T) for the steps that were taken (T = ``steps`` unless it diverged).
    distances
        ‖θ_t − reference‖ when a reference was given, else ``None``.
    theta
        The last finite iterate.
    diverged
        True when the run stopped because it diverged.
    diverged_at
        The step at which divergence was detected (``None`` when it did not diverge).
    """

    losses: np.ndarray
    distances: np.ndarray | None
    theta: np.ndarray
    diverged: bool
    diverged_at: int | None

    @property
    def steps(self) -> int:
        return len(self.losses) - 1


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
) -> GDRun:
    r"""Full-batch gradient descent, θ_{t+1} = (1 − λ)θ_t − η_t ∇L(θ_t).

    Parameters
    ----------
    objective
        Anything with ``loss(theta)`` and ``grad(theta)`` (an :mod:`lrctl.objectives` object).
    theta0
        Starting point.
    lr
        Learning rate η > 0 (the constant rate, or the base rate if ``lr_schedule`` is given).
    steps
        Number of steps T >= 0.
    weight_decay
        Decoupled weight decay λ in [0, 1) applied as θ ← (1 − λ)θ each step.
    reference
        A point (e.g. the minimizer) to which the distance is recorded each step.
    loss_floor
        The minimum loss L*, used to measure the loss gap for divergence detection (default:
        0, the floor of the losses lrctl ships).
    divergence_factor
        The run is declared diverged when L − L* exceeds this factor times max(L_0 − L*, tiny)
        or when the loss or the parameters stop being finite.
    lr_schedule
        Optional ``f(step) -> multiplier`` of ``lr``.

    >>> from lrctl.objectives import QuadraticObjective
    >>> q = QuadraticObjective(np.diag([1.0, 4.0]))
    >>> run = gradient_descent(q, [1.0, 1.0], lr=0.6, steps=40)  # |1 - 0.6*4| = 1.4 > 1
    >>> run.diverged, run.diverged_at
    (True, 21)
    """
    theta = check_finite("theta0", theta0).astype(float).copy()
    eta = float(check_positive("lr", lr))
    steps = check_int("steps", steps, minimum=0)
    wd = check_scalar("weight_decay", weight_decay)
    if not 0.0 <= wd < 1.0:
        raise ValueError(f"weight_decay must lie in [0, 1), got {wd}")
    factor = float(check_positive("divergence_factor", divergence_factor))
    floor = 0.0 if loss_floor is None else check_scalar("loss_floor", loss_floor)
    ref = None if reference is None else check_finite("reference", reference)

    losses = [float(objective.loss(theta))]
    if not np.isfinite(losses[0]):
        raise ValueError("the objective's loss at theta0 is not finite")
    gap0 = max(losses[0] - floor, 1e-300)
    dists = [float(np.linalg.norm(theta - ref))] if ref is not None else None
    diverged_at = None
    last_good = theta.copy()
    for t in range(steps):
        m = 1.0 if lr_schedule is None else float(lr_schedule(t))
        with np.errstate(over="ignore", invalid="ignore"):
            theta = (1.0 - wd) * theta - eta * m * objective.grad(theta)
            loss = float(objective.loss(theta)) if np.all(np.isfinite(theta)) else np.inf
        if not np.isfinite(loss) or loss - floor > factor * gap0:
            diverged_at = t + 1
            break
        last_good = theta.copy()
        losses.append(loss)
        if dists is not None:
            dists.append(float(np.linalg.norm(theta - ref)))
    return GDRun(
        losses=np.asarray(losses),
        distances=None if dists is None else np.asarray(dists),
        theta=last_good,
        diverged=diverged_at is not None,
        diverged_at=diverged_at,
    )
