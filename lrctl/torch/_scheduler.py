r"""lrctl's PI learning-rate controller as a PyTorch scheduler, and the probes that feed it.

:class:`PIScheduler` is a ``torch.optim.lr_scheduler.LRScheduler`` whose rate is set by a
measurement of training instead of by the step count. Each call ``step(y)`` hands the
measurement y to the controller (:class:`lrctl.zdomain.PIController`, or any object with
``reset()``, ``lr`` and ``update(y) -> lr``) and sets every param group g to

.. math::

    η_g = \text{base}_g \cdot w(t) \cdot \frac{η_\text{ctl}}{η_\text{ref}},

where base_g is the group's initial rate, η_ctl the controller's current rate, η_ref the
controller's rate at construction (its ``lr0``) and w(t) the warm-up factor
min(1, (t + 1)/W) at scheduler step t (w ≡ 1 without warm-up). With one param group whose
initial rate is the controller's ``lr0`` the group's rate *is* the controller's rate; with
several groups the controller moves all of them by the same factor, keeping their ratios.
``step()`` without a measurement keeps the rate (and advances the warm-up), so the scheduler
composes with code that calls ``step()`` every iteration. During the warm-up measurements
are not fed to the controller (the ramp is an open-loop override; feeding the error would
wind up the integrator against it).

The probes make the measurements the loops of :mod:`lrctl.zdomain` are designed for:

- :class:`SharpnessProbe`: the normalized sharpness y = λ_max(P^{1/2} H P^{1/2}) of the loss
  on a fixed probe batch, P = diag(η per parameter) from the optimizer's groups, which is
  η·λ_max(H) when all groups share one rate η (gradient descent is stable on the local
  quadratic model iff y < 2). Lanczos (:func:`lrctl.curvature.top_eigenvalue`) on the exact
  Hessian-vector products of :class:`lrctl.torch.TorchObjective`, every M-th call; the cost
  is counted (``n_products``, ``products_per_step``).
- :class:`LossRatioProbe`: the per-step loss ratio (L_j/L_{j−1})^{1/M} on a fixed probe
  batch, measured every M-th call.

The loop the analysis ``torch-pi-control`` runs (and ``docs/torch-control.md`` designs)::

    probe = SharpnessProbe(model, loss_fn, probe_batch, every=M, log_measurement=True)
    ctl = PIController(kp, ki, setpoint=math.log(s_star), lr0=..., lr_min=..., lr_max=..., dt=M)
    scheduler = PIScheduler(optimizer, ctl)
    for x, y in batches:
        optimizer.zero_grad(); loss_fn(model(x), y).backward(); optimizer.step()
        scheduler.step(probe(optimizer))        # None on M − 1 of every M steps: rate kept

The probe measures after the optimizer step with the rate in force, and the controller's new
rate acts from the next step on: y_j = η_{j−1}·λ_j, the sharpness plant G(z) = 1/z in log
units with dt = M (:func:`lrctl.zdomain.sharpness_plant`).
"""

from __future__ import annotations

import abc
import math
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from lrctl._validation import check_in_interval, check_int, check_positive, check_scalar

__all__ = ["LossRatioProbe", "PIScheduler", "SharpnessProbe"]


def _check_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    return optimizer


def _check_controller(controller: Any) -> Any:
    missing = [a for a in ("reset", "update") if not callable(getattr(controller, a, None))]
    if missing or not hasattr(controller, "lr"):
        raise TypeError(
            "controller must have reset(), a learning rate `lr` and update(measurement) -> lr "
            f"(e.g. lrctl.zdomain.PIController), got {type(controller).__name__}"
        )
    return controller


def _measurement_value(measurement: Any) -> float:
    if type(measurement) is float and math.isfinite(measurement):  # the common case, fast
        return measurement
    if isinstance(measurement, torch.Tensor):
        if measurement.numel() != 1:
            raise TypeError(f"measurement must be a scalar, got a tensor of shape "
                            f"{tuple(measurement.shape)}")
        measurement = measurement.detach().cpu().item()
    return check_scalar("measurement", measurement)


def _controller_lr(controller: Any) -> float:
    lr = controller.lr
    if type(lr) is float and 0.0 < lr < math.inf:  # the common case, fast
        return lr
    if isinstance(lr, bool):
        raise TypeError(f"controller.lr must be a positive number, got the bool {lr!r}")
    return float(check_positive("controller.lr", lr))


class PIScheduler(LRScheduler):
    r"""A measurement-driven ``LRScheduler``: the PI controller sets the learning rate.

    η_g = base_g · w(t) · η_ctl/η_ref for every param group g (module docstring): the
    controller's rate as a multiplier of each group's initial rate, times the linear warm-up
    factor w(t) = min(1, (t + 1)/``warmup``).

    Parameters
    ----------
    optimizer
        Any ``torch.optim.Optimizer``.
    controller
        :class:`lrctl.zdomain.PIController` (or any object with ``reset()``, ``lr`` and
        ``update(measurement) -> lr``; :meth:`state_dict` needs its ``state_dict()`` /
        ``load_state_dict()`` too). Reset at construction (``last_epoch=-1``); its rate then
        is η_ref.
    warmup
        ``None`` or W >= 1 scheduler steps of linear warm-up: the rate rises from base/W to
        base over the first W optimizer steps; measurements given meanwhile are not used
        (counted in ``measurements_skipped``).
    last_epoch
        As in torch: -1 starts fresh. With ``last_epoch >= 0`` the controller is not reset and
        its current rate is taken as η_ref; to resume a run, build the scheduler fresh and
        call :meth:`load_state_dict` (which restores the saved η_ref and controller state).

    Notes
    -----
    ``step(measurement)`` updates the controller, then sets the rates; ``step()`` keeps them.
    The rates are computed in closed form from the groups' initial rates, so another scheduler
    chained *after* this one (``ChainedScheduler``) is overridden at every step; a warm-up
    before it in ``SequentialLR`` works (the milestone hands over the initial rates; after it,
    call this scheduler's ``step(y)``). :meth:`state_dict` holds plain numbers only (the
    controller's gains, setpoint, limits, integrator and clamp state included), so
    ``torch.load(..., weights_only=True)`` reads it and a run resumed from it continues bit
    for bit.

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl.torch import PIScheduler
    >>> from lrctl.zdomain import PIController
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = torch.optim.SGD([{"params": [w]}, {"params": [], "lr": 0.01}], lr=0.1)
    >>> ctl = PIController(kp=0.2, ki=0.5, setpoint=1.0, lr0=0.1, lr_min=1e-3, lr_max=1.0)
    >>> sched = PIScheduler(opt, ctl)
    >>> opt.step()                       # (a training step), then the scheduler
    >>> sched.step(0.5)                  # error 0.5: log η grows by (0.2 + 0.5)·0.5
    >>> [round(lr, 6) for lr in sched.get_last_lr()]      # both groups × e^0.35
    [0.141907, 0.014191]
    >>> sched.step()                     # no measurement: the rate is kept
    >>> [round(lr, 6) for lr in sched.get_last_lr()]
    [0.141907, 0.014191]
    """

    def __init__(self, optimizer: torch.optim.Optimizer, controller: Any, *,
                 warmup: int | None = None, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.controller = _check_controller(controller)
        if warmup is not None:
            warmup = check_int("warmup", warmup, minimum=1)
        last_epoch = check_int("last_epoch", last_epoch, minimum=-1)
        if last_epoch == -1:
            controller.reset()
        self.warmup = warmup
        self.lr_ref = _controller_lr(controller)
        self.measurements_skipped = 0
        super().__init__(optimizer, last_epoch)

    # -- the rate -------------------------------------------------------------------------
    @property
    def multiplier(self) -> float:
        """η_ctl/η_ref: the controller's rate relative to its rate at construction."""
        return _controller_lr(self.controller) / self.lr_ref

    def warmup_factor(self, t: int | None = None) -> float:
        """w(t) = min(1, (t + 1)/W) at scheduler step t (default: the current one); 1 without
        warm-up."""
        t = self.last_epoch if t is None else check_int("t", t, minimum=0)
        if self.warmup is None:
            return 1.0
        return min(1.0, (t + 1) / self.warmup)

    def in_warmup(self) -> bool:
        """Whether the rate now in force is still below the full rate of the warm-up."""
        return self.warmup_factor() < 1.0

    def get_lr(self) -> list[float | torch.Tensor]:
        """base_g · w(t) · η_ctl/η_ref for every group (computed in closed form)."""
        lr = _controller_lr(self.controller)
        w = self.warmup_factor()
        return [lr * (base / self.lr_ref) * w for base in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float | torch.Tensor]:
        return self.get_lr()

    def step(self, measurement: Any = None) -> None:  # type: ignore[override]
        """Feed ``measurement`` to the controller (unless ``None`` or during warm-up), then
        advance one step and set the param groups' rates.

        Call it after ``optimizer.step()``. ``measurement`` is a real number or a one-element
        tensor (finite; ``True``/``False`` are refused).
        """
        if measurement is not None:
            y = _measurement_value(measurement)
            if self.in_warmup():
                self.measurements_skipped += 1
            else:
                self.controller.update(y)
                _controller_lr(self.controller)
        super().step()

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (torch's fields) and ``"controller"``: the controller's own
        ``state_dict()`` (for :class:`~lrctl.zdomain.PIController`: gains, setpoint, limits,
        log-rate integrator, last error, clamp flag)."""
        sd = getattr(self.controller, "state_dict", None)
        if not callable(sd) or not callable(getattr(self.controller, "load_state_dict", None)):
            raise TypeError(
                f"the controller ({type(self.controller).__name__}) has no state_dict() / "
                "load_state_dict(): its state cannot be saved; give it both (PIController has them)"
            )
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "controller")}
        state["controller"] = sd()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`, the controller's state included (into the controller
        this scheduler holds). As with torch's schedulers, the optimizer's rates come from the
        optimizer's own ``load_state_dict``."""
        if not isinstance(state_dict, dict) or "controller" not in state_dict:
            raise ValueError("state_dict must be a dict from PIScheduler.state_dict() "
                             "(with a 'controller' entry)")
        rest = dict(state_dict)
        self.controller.load_state_dict(rest.pop("controller"))
        self.__dict__.update(rest)


# ---------------------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------------------


class _Probe(abc.ABC):
    """Shared bookkeeping: measure on every ``every``-th call."""

    def __init__(self, model: Any, loss_fn: Any, probe_batch: Any, every: int,
                 dtype: torch.dtype | None) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (outputs, targets) -> scalar tensor, "
                            f"got {type(loss_fn).__name__}")
        if not (isinstance(probe_batch, (tuple, list)) and len(probe_batch) == 2
                and isinstance(probe_batch[1], torch.Tensor)):
            raise TypeError("probe_batch must be one (inputs, targets) pair of tensors, got "
                            f"{type(probe_batch).__name__}")
        if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
            raise TypeError(f"dtype must be None or a floating torch.dtype, got {dtype!r}")
        self.model = model
        self.loss_fn = loss_fn
        self.probe_batch = (probe_batch[0], probe_batch[1])
        self.every = check_int("every", every, minimum=1)
        self.dtype = dtype
        self.n_calls = 0
        self.n_measurements = 0

    def _objective(self):
        from lrctl.torch._objective import TorchObjective

        # Built per measurement so that the buffers (batch-norm statistics) are the current ones.
        return TorchObjective(self.model, self.loss_fn, self.probe_batch, dtype=self.dtype)

    def __call__(self, optimizer: Any = None) -> float | None:
        """Measure on calls 0, M, 2M, … (returns the measurement), else return ``None``."""
        due = self.n_calls % self.every == 0
        self.n_calls += 1
        return self.measure(optimizer) if due else None

    @abc.abstractmethod
    def measure(self, optimizer: Any = None) -> float | None:
        """Take one measurement now (each probe defines what it measures)."""

    def state_dict(self) -> dict[str, Any]:
        """Counters and the last reading, as plain numbers (``torch.load(weights_only=True)``)."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("model", "loss_fn", "probe_batch", "dtype")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` of the same kind of probe."""
        if not isinstance(state, dict) or set(state) != set(self.state_dict()):
            raise ValueError(f"state must be a dict from {type(self).__name__}.state_dict() "
                             f"with the keys {sorted(self.state_dict())}")
        self.__dict__.update(state)


class SharpnessProbe(_Probe):
    r"""The normalized sharpness y = λ_max(P^{1/2} H P^{1/2}) on a fixed probe batch, every M calls.

    H = ∇²L(θ) of ``loss_fn`` on ``probe_batch`` at the model's current parameters (exact
    Hessian-vector products, :class:`lrctl.torch.TorchObjective`); P = diag of each trainable
    scalar's learning rate, read from ``optimizer.param_groups`` at the time of the
    measurement (0 for a parameter in no group). With one rate η, y = η·λ_max(H): gradient
    descent on the local quadratic model is stable iff y < 2. ``log_measurement=True``
    returns log y, the input of a controller designed on the log-measurement plant
    G(z) = 1/z.

    λ_max by Lanczos to relative error bound ``tol``: the first measurement (or every one, with
    ``warm_start=False``) by :func:`lrctl.curvature.top_eigenvalue` from a start vector drawn
    from ``seed``; later ones (when dim > ``krylov_dim`` + 1) by :func:`lrctl.curvature.lanczos`
    started from the previous top eigenvector. Between two measurements a few steps apart the
    eigenvector barely moves, so the warm start needs fewer products than the cold one. The
    reading is a deterministic function of the
    parameters and of the probe's state (the last vector is in :meth:`state_dict`), so a
    resumed run repeats it exactly.

    Cost: ``n_products`` Hessian-vector products in all, ``products_per_step`` =
    n_products/n_calls; one product costs about two gradient evaluations on the probe batch.
    The model (parameters, buffers, ``.grad``, ``training``) is left as it was found.

    The quantity is the stability measure of (momentum) SGD, whose step is P·∇L. Adaptive
    optimizers (Adam, RMSprop) divide the step by their own running statistics, which this
    measurement does not include.

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl.torch import SharpnessProbe
    >>> net = torch.nn.Linear(3, 1, bias=False).double()
    >>> x = torch.eye(3, dtype=torch.float64) * torch.tensor([[2.0], [1.0], [0.5]]).double()
    >>> mse = lambda out, t: 0.5 * ((out - t) ** 2).sum()   # H = xᵀx = diag(4, 1, 0.25)
    >>> probe = SharpnessProbe(net, mse, (x, torch.zeros(3, 1, dtype=torch.float64)), every=2)
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> round(probe(opt), 9), probe(opt)              # η·λ_max = 0.1·4; then a skipped call
    (0.4, None)
    """

    def __init__(self, model: Any, loss_fn: Any, probe_batch: Any, *, every: int = 1,
                 tol: float = 1e-4, max_products: int | None = None, seed: int = 0,
                 warm_start: bool = True, krylov_dim: int = 6,
                 log_measurement: bool = False, dtype: torch.dtype | None = None) -> None:
        super().__init__(model, loss_fn, probe_batch, every, dtype)
        self.tol = float(check_in_interval("tol", check_scalar("tol", tol), 0.0, 1.0,
                                           low_closed=False))
        self.max_products = (None if max_products is None
                             else check_int("max_products", max_products, minimum=1))
        self.seed = check_int("seed", seed, minimum=0)
        for name, flag in (("warm_start", warm_start), ("log_measurement", log_measurement)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        self.warm_start = warm_start
        self.krylov_dim = check_int("krylov_dim", krylov_dim, minimum=3)
        self.log_measurement = log_measurement
        self.n_products = 0
        self.last_value: float | None = None
        self.last_vector: torch.Tensor | None = None

    @property
    def products_per_step(self) -> float:
        """Hessian-vector products per call (per optimizer step), averaged so far."""
        return self.n_products / self.n_calls if self.n_calls else 0.0

    def _scales(self, obj: Any, optimizer: Any) -> np.ndarray:
        """√η per entry of θ (TorchObjective order); 0 for parameters in no group."""
        _check_optimizer(optimizer)
        lr_of: dict[int, float] = {}
        for i, group in enumerate(optimizer.param_groups):
            lr = group["lr"]
            lr = float(lr.item()) if isinstance(lr, torch.Tensor) else lr
            lr = float(check_positive(f"optimizer.param_groups[{i}]['lr']", lr, allow_zero=True))
            for p in group["params"]:
                lr_of[id(p)] = lr
        params = dict(self.model.named_parameters())
        s = np.zeros(obj.dim)
        for name, sl in zip(obj.names, obj.blocks, strict=True):
            s[sl] = math.sqrt(lr_of.get(id(params[name]), 0.0))
        if not np.any(s):
            raise ValueError("no trainable parameter of the model is in the optimizer with a "
                             "positive learning rate; the normalized sharpness is 0")
        return s

    def _top(self, hvp: Any, dim: int) -> tuple[float, np.ndarray, int]:
        """(λ_max, its vector, products): cold Lanczos, or warm-started from the last vector."""
        from lrctl.curvature import top_eigenvalue

        v0 = self.last_vector
        if not (self.warm_start and v0 is not None and v0.numel() == dim
                and dim > self.krylov_dim + 1):
            res = top_eigenvalue(hvp, dim, tol=self.tol, seed=self.seed,
                                 max_products=self.max_products)
            return float(res.value), res.vector, int(res.n_products)
        from lrctl.curvature import lanczos

        res = lanczos(hvp, dim, tol=self.tol, seed=self.seed, max_products=self.max_products,
                      v0=v0.numpy())
        return float(res.top[0]), res.top_vectors[:, 0], int(res.n_products)

    def measure(self, optimizer: Any = None) -> float:
        """Measure now (does not count as a call): y, or log y with ``log_measurement``."""
        if optimizer is None:
            raise TypeError("SharpnessProbe needs the optimizer (its param groups' rates): "
                            "call probe(optimizer)")
        obj = self._objective()
        s = self._scales(obj, optimizer)
        theta = obj.initial()
        y, vec, products = self._top(lambda v: s * obj.hvp(theta, s * v), obj.dim)
        self.n_products += products
        self.n_measurements += 1
        self.last_value = y
        self.last_vector = torch.from_numpy(np.array(vec, dtype=np.float64))
        if self.log_measurement:
            if not y > 0:
                raise ValueError(f"log_measurement needs η·λmax > 0, got {y:.4g} (non-positive "
                                 "top curvature); use the linear measurement")
            return math.log(y)
        return y


class LossRatioProbe(_Probe):
    r"""The per-step loss ratio r_j = (L_j / L_{j−1})^{1/M} on a fixed probe batch.

    L_j = ``loss_fn`` on ``probe_batch`` at the model's parameters on call j·M (M = ``every``):
    the geometric mean of the one-step ratios L_{k+1}/L_k over the M steps between two
    measurements, the output of :func:`lrctl.zdomain.loss_ratio_plant` (r = (1 − ηλ)² on the
    local quadratic model). The first measurement only records L_0 and returns ``None`` (which
    :class:`PIScheduler` treats as "keep the rate"). The losses must be positive.

    >>> import pytest; torch = pytest.importorskip("torch")
    >>> from lrctl.torch import LossRatioProbe
    >>> w = torch.nn.Linear(1, 1, bias=False).double()
    >>> x, t = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    >>> mse = lambda out, t: 0.5 * ((out - t) ** 2).sum()   # λ = 1
    >>> probe, opt = LossRatioProbe(w, mse, (x, t)), torch.optim.SGD(w.parameters(), lr=0.5)
    >>> ratios = []
    >>> for _ in range(3):
    ...     ratios.append(probe(opt))
    ...     opt.zero_grad(); mse(w(x), t).backward(); opt.step()
    >>> ratios[0], [round(r, 12) for r in ratios[1:]]       # (1 − ηλ)² = 0.25
    (None, [0.25, 0.25])
    """

    def __init__(self, model: Any, loss_fn: Any, probe_batch: Any, *, every: int = 1,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(model, loss_fn, probe_batch, every, dtype)
        self.last_loss: float | None = None
        self.last_value: float | None = None

    def measure(self, optimizer: Any = None) -> float | None:
        """Measure now: r_j, or ``None`` at the first measurement. ``optimizer`` is unused
        (accepted, as by every probe, when it is ``None`` or a ``torch.optim.Optimizer``)."""
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got "
                            f"{type(optimizer).__name__}")
        obj = self._objective()
        loss = float(obj.loss(obj.initial()))
        if not (math.isfinite(loss) and loss > 0):
            raise ValueError(f"the probe loss must be finite and > 0 for a loss ratio, got {loss!r}")
        prev, self.last_loss = self.last_loss, loss
        self.n_measurements += 1
        if prev is None:
            return None
        self.last_value = (loss / prev) ** (1.0 / self.every)
        return self.last_value
