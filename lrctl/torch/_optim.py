r"""Hypergradient optimizers and lrctl schedules as torch schedulers.

**Hypergradient descent** (Baydin, Cornish, Martínez Rubio, Schmidt & Wood, "Online learning
rate adaptation with hypergradient descent", ICLR 2018). An optimizer that moves the parameters
by θ_t = θ_{t−1} − η d_{t−1} (d the update direction: the gradient for SGD, the momentum
buffer for heavy ball, m̂/(√v̂ + ε) for Adam) makes the loss at θ_t a function of the rate, with

.. math:: \frac{∂ f(θ_t)}{∂η} = −∇f(θ_t)ᵀ d_{t−1} = −h_t,\qquad h_t = g_tᵀ d_{t−1}

(the paper's h_t = ∇f(θ_{t−1})·∇_α u_{t−2}, its eqs. for SGD-HD, SGDN-HD and Adam-HD; u the
update). Each step first updates the rate of every param group from its own h_t (the dot
product summed over the group's tensors), then takes the optimizer's step with it:

- ``rule="additive"`` (the paper's rule): η_t = η_{t−1} + β h_t;
- ``rule="log"``: gradient descent on λ = ln η, ∂f/∂λ = η ∂f/∂η, so
  λ_t = λ_{t−1} + β η_{t−1} h_t and η_t = exp(λ_t) > 0 whatever β does.

β is ``hyper_lr``. The first step has no previous direction (h_1 = 0: the rate is kept).

Safeguards. lrctl's ``hypergradient`` analysis (:mod:`lrctl.adaptive`) measured three failures,
the issues of the reference implementation report them too (gbaydin/hypergradient-descent #1,
#4): the additive rule overshoots to η < 0 (gradient *ascent*) and then diverges; at large β it
runs away; the log rule cannot go negative but can collapse towards 0 after an overshoot
(exp(βη h) with a large negative h), which freezes training. So both rules clamp the rate to
[``lr_min``, ``lr_max``] of their group after every update:

- ``lr_min > 0`` is a floor: the additive rule never goes negative (nor to 0, where the step and
  then the hypergradient signal vanish), the log rule never collapses below it;
- ``lr_max`` is a ceiling against run-away; set it at the stability bound when you know it
  (2/λ_max on a quadratic model; see :func:`lrctl.quadratic.gd_stability_bound` and the torch
  curvature tools). ``math.inf`` removes the ceiling.

Defaults: ``lr_min = lr/1000`` and ``lr_max = 1000·lr`` of each group's initial ``lr``
(three decades either way). Under the log rule the clamp acts on λ, λ ∈ [ln lr_min,
ln lr_max], and a clamped rate is exactly lr_min or lr_max. A hypergradient that is not finite
(a NaN or inf gradient) leaves the rate unchanged.

``ScheduleLR(optimizer, schedule)``: an :mod:`lrctl.schedules` schedule as a torch
``LRScheduler``: after ``k`` calls of ``scheduler.step()`` every group's rate is
``schedule(k)`` (absolute rates, not multipliers of the base rate as ``LambdaLR``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from lrctl._validation import (
    check_choice,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
)

__all__ = ["HypergradientAdam", "HypergradientSGD", "ScheduleLR"]

RULES = ("additive", "log")
_BOUND_FACTOR = 1000.0


def _lr_bounds(group: dict[str, Any]) -> None:
    """Validate the hypergradient settings of ``group`` and resolve default bounds."""
    lr = float(check_positive("lr", check_scalar("lr", group["lr"])))
    group["lr"] = lr
    group["hyper_lr"] = float(check_positive("hyper_lr", check_scalar("hyper_lr", group["hyper_lr"]),
                                             allow_zero=True))
    check_choice("rule", group["rule"], RULES)
    lo = lr / _BOUND_FACTOR if group["lr_min"] is None else group["lr_min"]
    hi = lr * _BOUND_FACTOR if group["lr_max"] is None else group["lr_max"]
    if isinstance(lo, bool) or isinstance(hi, bool):
        raise TypeError(f"lr_min and lr_max must be real numbers, got {lo!r} and {hi!r}")
    lo = float(check_positive("lr_min", check_scalar("lr_min", lo)))
    try:
        hi = float(hi)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"lr_max must be a real number or math.inf, got {hi!r}") from exc
    if math.isnan(hi):
        raise ValueError(f"lr_max must be a number > 0 (math.inf for no ceiling), got {hi!r}")
    if not lo <= lr <= hi:
        raise ValueError(
            f"the bounds must bracket the initial rate: lr_min <= lr <= lr_max, got "
            f"lr_min={lo!r}, lr={lr!r}, lr_max={hi!r}"
        )
    group["lr_min"], group["lr_max"] = lo, hi
    group["weight_decay"] = float(check_positive("weight_decay", check_scalar(
        "weight_decay", group["weight_decay"]), allow_zero=True))


def _next_lr(group: dict[str, Any], h: float) -> float:
    """η_t from η_{t−1} and the hypergradient h_t, by the group's rule, clamped."""
    lr, beta, lo, hi = group["lr"], group["hyper_lr"], group["lr_min"], group["lr_max"]
    if not math.isfinite(h) or beta == 0.0:
        return lr
    if group["rule"] == "additive":
        return min(max(lr + beta * h, lo), hi)
    lam = math.log(lr) + beta * lr * h
    if lam <= math.log(lo):
        return lo
    if lam >= math.log(hi):
        return hi
    return math.exp(lam)


def _check_params(params: Any) -> Any:
    """``params`` must be an iterable of tensors or param-group dicts (not one tensor, a
    number, a string or a dict); the list is materialized once, so a generator works."""
    if isinstance(params, (torch.Tensor, str, bytes, dict, numbers.Number)) or not isinstance(
            params, Iterable):
        raise TypeError(f"params must be an iterable of tensors or param-group dicts (e.g. "
                        f"model.parameters()), got {type(params).__name__}")
    out = list(params)
    if not out:
        raise ValueError("params is empty: the optimizer needs at least one tensor")
    for i, p in enumerate(out):
        if not isinstance(p, (torch.Tensor, dict)):
            raise TypeError(f"params[{i}] must be a tensor or a param-group dict, got "
                            f"{type(p).__name__}")
    return out


class _HypergradientOptimizer(torch.optim.Optimizer):
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        try:
            self._check_group(self.param_groups[-1])
        except (TypeError, ValueError):
            self.param_groups.pop()
            raise

    def _check_group(self, group: dict[str, Any]) -> None:
        _lr_bounds(group)

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        """The loss from ``closure`` (re-evaluated with gradients on), or ``None``."""
        if closure is None:
            return None
        if not callable(closure):
            raise TypeError(f"closure must be a callable that re-evaluates the loss, or None, "
                            f"got {type(closure).__name__}")
        with torch.enable_grad():
            return closure()

    @staticmethod
    def _grads(group: dict[str, Any]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, gradient of the L2-regularized loss) for the group's tensors with a grad."""
        wd = group["weight_decay"]
        out = []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(p).__name__} gradients must be dense for hypergradient "
                                   "optimizers")
            g = p.grad if wd == 0.0 else p.grad.add(p, alpha=wd)
            out.append((p, g))
        return out


class HypergradientSGD(_HypergradientOptimizer):
    r"""SGD (heavy-ball or Nesterov momentum, L2 weight decay) whose rate learns itself online.

    Per param group and step, with g_t = ∇f(θ_{t−1}) + wd·θ_{t−1} and d the previous update
    direction (Baydin et al. 2018, SGD-HD and SGDN-HD):

    .. math::
        h_t = \sum_{p ∈ group} g_{t,p}ᵀ d_{t−1,p},\quad
        η_t = \mathrm{clip}(η_{t−1} + β h_t)\ \text{(additive)}\ \text{or}\
        \exp \mathrm{clip}(\ln η_{t−1} + β η_{t−1} h_t)\ \text{(log)},

    then the step of ``torch.optim.SGD`` with η_t: b_t = μ b_{t−1} + (1 − τ) g_t (b_1 = g_1),
    d_t = g_t + μ b_t (Nesterov) or b_t (momentum) or g_t (none), θ_t = θ_{t−1} − η_t d_t.
    Clip to [lr_min, lr_max] (see the module docstring for why and for the defaults). With
    ``hyper_lr=0`` it is ``torch.optim.SGD``, step for step.

    Parameters
    ----------
    params
        Parameters or param-group dicts; each group may set its own ``lr``, ``hyper_lr``,
        ``rule``, ``lr_min``, ``lr_max``, ``momentum``, ...; its rate adapts on its own.
    lr
        Initial rate η_0 > 0.
    hyper_lr
        β >= 0, the rate of the rate (β = 0: plain SGD). Its scale depends on the rule: the
        additive step is β h, the log step is β η h (relative).
    rule
        ``"additive"`` or ``"log"``.
    momentum, dampening, nesterov
        As ``torch.optim.SGD``: μ in [0, 1), τ in [0, 1]; Nesterov needs μ > 0 and τ = 0.
    weight_decay
        L2 coefficient wd >= 0 added to the gradient (part of the loss the rate descends).
    lr_min, lr_max
        The clamp of the rate, 0 < lr_min <= lr <= lr_max <= inf; ``None``: lr/1000 and
        1000·lr.

    The current rates are ``[g["lr"] for g in optimizer.param_groups]``; ``state_dict()`` /
    ``load_state_dict()`` carry them with the momentum buffers and previous directions. Memory:
    without momentum, and with Nesterov, the previous direction is one extra buffer per
    parameter (heavy ball reuses its momentum buffer). A torch scheduler that sets
    ``group["lr"]`` overrides the learned rate: its value becomes η_{t−1} of the next update.

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> w = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    >>> lam = torch.tensor([1.0, 10.0], dtype=torch.float64)   # f = ½ Σ λ_i w_i², 2/λmax = 0.2
    >>> opt = HypergradientSGD([w], lr=0.01, hyper_lr=3e-3, lr_max=0.19)
    >>> lrs = []
    >>> for _ in range(300):
    ...     opt.zero_grad(); (0.5 * (lam * w * w).sum()).backward(); opt.step()
    ...     lrs.append(opt.param_groups[0]["lr"])
    >>> min(lrs), max(lrs), bool(w.detach().abs().max() < 1e-12)   # floor lr/1000, ceiling hit
    (1e-05, 0.19, True)

    Unclamped, the same rule and β go negative at step 2 and diverge at step 5
    (``lrctl.adaptive.hypergradient_descent``, the docs of :mod:`lrctl.adaptive`).
    """

    def __init__(self, params: Iterable[Any], lr: float, hyper_lr: float, *,
                 rule: str = "additive", momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0,
                 lr_min: float | None = None, lr_max: float | None = None) -> None:
        defaults = dict(lr=lr, hyper_lr=hyper_lr, rule=rule, momentum=momentum,
                        dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                        lr_min=lr_min, lr_max=lr_max)
        super().__init__(_check_params(params), defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _lr_bounds(group)
        group["momentum"] = float(check_in_interval("momentum", check_scalar("momentum", group["momentum"]),
                                                    0.0, 1.0))
        group["dampening"] = float(check_in_interval("dampening", check_scalar(
            "dampening", group["dampening"]), 0.0, 1.0, high_closed=True))
        if not isinstance(group["nesterov"], bool):
            raise TypeError(f"nesterov must be True or False, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] == 0.0 or group["dampening"] != 0.0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One hypergradient update of each group's rate, then one SGD step with it."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            pairs = self._grads(group)
            if not pairs:
                continue
            mu, tau, nesterov = group["momentum"], group["dampening"], group["nesterov"]
            # h_t = Σ g_t·d_{t−1} over the tensors that have a previous direction
            dots = [torch.sum(g * self._direction(p, mu, nesterov)) for p, g in pairs
                    if self._has_direction(p, mu, nesterov)]
            if dots:
                group["lr"] = _next_lr(group, float(torch.stack(dots).sum()))
            lr = group["lr"]
            for p, g in pairs:
                state = self.state[p]
                if mu != 0.0:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = torch.clone(g).detach()
                    else:
                        buf.mul_(mu).add_(g, alpha=1.0 - tau)
                    if nesterov:
                        d = g.add(buf, alpha=mu)
                        state["direction"] = d
                    else:
                        d = buf
                else:
                    d = state.get("direction")
                    if d is None:
                        d = state["direction"] = torch.clone(g).detach()
                    else:
                        d.copy_(g)
                p.add_(d, alpha=-lr)
        return loss

    def _has_direction(self, p: torch.Tensor, mu: float, nesterov: bool) -> bool:
        state = self.state.get(p, {})
        key = "momentum_buffer" if mu != 0.0 and not nesterov else "direction"
        return key in state

    def _direction(self, p: torch.Tensor, mu: float, nesterov: bool) -> torch.Tensor:
        state = self.state[p]
        return state["momentum_buffer"] if mu != 0.0 and not nesterov else state["direction"]


class HypergradientAdam(_HypergradientOptimizer):
    r"""Adam (L2 weight decay) whose rate learns itself online (Baydin et al. 2018, Adam-HD).

    Per param group and step t, with g_t = ∇f(θ_{t−1}) + wd·θ_{t−1} and the previous Adam
    direction d_{t−1} = m̂_{t−1}/(√v̂_{t−1} + ε) (m̂ = m/(1 − β₁^{t−1}), v̂ = v/(1 − β₂^{t−1})):

    .. math:: h_t = \sum_{p ∈ group} g_{t,p}ᵀ d_{t−1,p},

    η_t from h_t by the rule and the clamp of :class:`HypergradientSGD`, then the step of
    ``torch.optim.Adam`` with η_t: m_t = β₁m_{t−1} + (1 − β₁)g_t, v_t = β₂v_{t−1} + (1 − β₂)g_t²,
    θ_t = θ_{t−1} − η_t m̂_t/(√v̂_t + ε). With ``hyper_lr=0`` it is ``torch.optim.Adam``
    (``amsgrad=False``), step for step. The previous direction is recomputed from the moments,
    so no extra buffer is stored.

    Parameters
    ----------
    params, lr, hyper_lr, rule, weight_decay, lr_min, lr_max
        As :class:`HypergradientSGD`. ``weight_decay`` is L2 (added to the gradient, as
        ``torch.optim.Adam``), not AdamW's decoupled decay.
    betas
        (β₁, β₂), each in [0, 1).
    eps
        ε > 0.

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> w = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    >>> opt = HypergradientAdam([w], lr=1e-3, hyper_lr=1e-3)
    >>> for _ in range(200):
    ...     opt.zero_grad(); (0.5 * (torch.tensor([1.0, 10.0]) * w * w).sum()).backward(); opt.step()
    >>> opt.param_groups[0]["lr"] > 1e-3       # h > 0 while Adam moves steadily downhill
    True
    """

    def __init__(self, params: Iterable[Any], lr: float, hyper_lr: float, *,
                 rule: str = "additive", betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 lr_min: float | None = None, lr_max: float | None = None) -> None:
        defaults = dict(lr=lr, hyper_lr=hyper_lr, rule=rule, betas=betas, eps=eps,
                        weight_decay=weight_decay, lr_min=lr_min, lr_max=lr_max)
        super().__init__(_check_params(params), defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        _lr_bounds(group)
        betas = group["betas"]
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(float(check_in_interval(name, check_scalar(name, b), 0.0, 1.0))
                               for name, b in zip(("betas[0]", "betas[1]"), betas, strict=True))
        group["eps"] = float(check_positive("eps", check_scalar("eps", group["eps"])))

    @staticmethod
    def _adam_direction(state: dict[str, Any], beta1: float, beta2: float, eps: float) -> torch.Tensor:
        step = state["step"]
        bc1 = 1.0 - beta1**step
        bc2_sqrt = math.sqrt(1.0 - beta2**step)
        return state["exp_avg"] / bc1 / ((state["exp_avg_sq"].sqrt() / bc2_sqrt).add_(eps))

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One hypergradient update of each group's rate, then one Adam step with it."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            pairs = self._grads(group)
            if not pairs:
                continue
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            dots = [torch.sum(g * self._adam_direction(self.state[p], beta1, beta2, eps))
                    for p, g in pairs if self.state.get(p, {}).get("step", 0) > 0]
            if dots:
                group["lr"] = _next_lr(group, float(torch.stack(dots).sum()))
            lr = group["lr"]
            for p, g in pairs:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                m.lerp_(g, 1.0 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                step_size = lr / (1.0 - beta1**t)
                denom = (v.sqrt() / math.sqrt(1.0 - beta2**t)).add_(eps)
                p.addcdiv_(m, denom, value=-step_size)
        return loss


class ScheduleLR(LRScheduler):
    r"""An :mod:`lrctl.schedules` schedule as a torch learning-rate scheduler.

    After construction each param group's rate is schedule(0); after the k-th
    ``scheduler.step()`` (called after ``optimizer.step()``, torch's convention) it is
    schedule(k). The rates are absolute (the schedule's values), not multiples of the groups'
    base rates as in ``LambdaLR``; give one schedule per group for different rates.

    ``state_dict()`` holds the step count and the last rates, not the schedule objects (rebuild
    the scheduler with the same schedule, then ``load_state_dict``); it records each schedule's
    ``repr`` and ``load_state_dict`` refuses a state saved with a different schedule.

    Parameters
    ----------
    optimizer
        Any ``torch.optim.Optimizer``.
    schedule
        A schedule (or any callable ``step -> lr``, wrapped by
        :func:`lrctl.schedules.as_schedule`), or a sequence of them, one per param group.
    last_epoch
        As ``LRScheduler`` (−1: start at step 0).

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl import schedules
    >>> s = schedules.cosine_warm_restarts(0.1, period=4, mult=2)
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> sched = ScheduleLR(opt, s)
    >>> rates = []
    >>> for _ in range(6):
    ...     rates.append(round(opt.param_groups[0]["lr"], 6)); opt.step(); sched.step()
    >>> rates == [round(float(x), 6) for x in s(range(6))], rates
    (True, [0.1, 0.085355, 0.05, 0.014645, 0.1, 0.096194])
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Any,
                 last_epoch: int = -1) -> None:
        from lrctl.schedules import as_schedule

        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        n = len(optimizer.param_groups)
        if isinstance(schedule, Sequence) and not isinstance(schedule, (str, bytes)):
            if len(schedule) != n:
                raise ValueError(f"schedule must be one schedule or one per param group ({n}), "
                                 f"got {len(schedule)}")
            parts = tuple(as_schedule(s) for s in schedule)
        else:
            parts = (as_schedule(schedule),) * n
        self.schedules = parts
        last_epoch = check_int("last_epoch", last_epoch, minimum=-1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """schedule(k) for each group, k = ``last_epoch`` (the scheduler steps taken)."""
        return [float(s(max(self.last_epoch, 0))) for s in self.schedules]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()

    def state_dict(self) -> dict[str, Any]:
        """The step count and rates, plus each schedule's ``repr`` (not the schedules)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedules")}
        out["schedules"] = [repr(s) for s in self.schedules]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` saved with the same schedule(s)."""
        if not isinstance(state_dict, dict) or not set(self.state_dict()) <= set(state_dict):
            raise TypeError(f"state_dict must be a dict from ScheduleLR.state_dict() (keys "
                            f"{sorted(self.state_dict())}), got {type(state_dict).__name__}")
        state = dict(state_dict)
        saved = state.pop("schedules", None)
        mine = [repr(s) for s in self.schedules]
        if saved is not None and list(saved) != mine:
            raise ValueError(f"state_dict was saved with the schedules {saved}, this scheduler has "
                             f"{mine}; rebuild it with the same schedule")
        self.__dict__.update(state)
