r"""The one training loop of lrctl, with the learning rate as a pluggable policy.

:func:`run` ``(objective, policy, steps)`` is gradient descent θ_{t+1} = (1 − λ)θ_t − η_t g_t
whose rate η_t a **policy** sets from an observation of the training state (step, θ_t,
g_t, g_{t−1}, L(θ_t), η_{t−1}, a measurement); it stops where the iterate diverges
(:class:`Divergence`, the one divergence rule) and returns a frozen :class:`Run`.

Policies (frozen, validated; arrays of K parameters run K stacked runs):

- :class:`Constant` ``(lr)``, :class:`Scheduled` ``(schedule)``,
  :class:`ExponentialRamp` ``(lr_min, lr_max, steps)`` (the range test);
- :class:`Hypergradient` ``(lr0, hyper_lr, rule)`` (Baydin et al. 2018);
- :class:`lrctl.adaptive.LayerwiseCaps` ``(fraction, method, ...)`` and
  :class:`lrctl.adaptive.LARS` ``(lr)`` (they live with the curvature tools they use): one
  rate per parameter block, a policy output, not a separate loop;
- :class:`Feedback` ``(controller, measure, every)``: any controller with ``reset()``, ``lr``
  and ``update(measurement) -> lr`` (:class:`lrctl.zdomain.PIController`), fed a measure such as
  :class:`Sharpness` (λ_max by Lanczos); :func:`train_with_sharpness_control` and
  :func:`sharpness_response` wrap it.

A policy of your own is any object with ``update(observation, state) -> (lr, state)`` (and an
optional ``init(observation) -> state``); ``docs/training.md`` shows one in ten lines.
:func:`gradient_descent` is the constant-rate (or scheduled) call of :func:`run`.
"""

from lrctl.training._control import (
    ControlledTraining,
    sharpness_response,
    train_with_sharpness_control,
)
from lrctl.training._divergence import Divergence
from lrctl.training._loop import Run, gradient_descent, run
from lrctl.training._policies import (
    Constant,
    ExponentialRamp,
    Feedback,
    Hypergradient,
    Observation,
    Scheduled,
    Sharpness,
    policy_runs,
)

__all__ = [
    "Constant",
    "ControlledTraining",
    "Divergence",
    "ExponentialRamp",
    "Feedback",
    "Hypergradient",
    "Observation",
    "Run",
    "Scheduled",
    "Sharpness",
    "gradient_descent",
    "policy_runs",
    "run",
    "sharpness_response",
    "train_with_sharpness_control",
]
