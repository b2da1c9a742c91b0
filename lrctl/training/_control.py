"""A PI learning-rate controller in the loop: holding η·λ_max at a setpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrctl._repr import summary_repr
from lrctl._validation import (
    as_rng,
    check_bool,
    check_in_interval,
    check_int,
    check_positive,
    check_scalar,
    check_tol,
)
from lrctl.objectives import check_objective
from lrctl.training._divergence import Divergence
from lrctl.training._loop import Run, run
from lrctl.training._policies import Feedback, Sharpness

__all__ = ["ControlledTraining", "sharpness_response", "train_with_sharpness_control"]


@dataclass(frozen=True)
class ControlledTraining:
    """Gradient descent with the rate set from measurements of η·λ_max (:class:`Feedback`).

    The measurement steps j = 0, M, 2M, … and the measured λ_max(θ_j) (Lanczos on
    Hessian-vector products) are the run's own record: ``run.measure_steps`` and
    ``run.measurements``.

    Attributes
    ----------
    lr
        η_j, the rate in force when measurement j was taken (set by update j − 1).
    normalized_sharpness
        y_j = η_j·λ_j, the plant output (before the EMA, if any).
    measurement
        The (EMA-filtered) y_j fed to the controller (its log with ``log_measurement``).
    setpoint
        The target s* of y; ``None`` for an open-loop :func:`sharpness_response`.
    n_products
        Hessian-vector products spent on the measurements.
    band, window
        The settling test: |y/s* − 1| <= band over the final ``window`` fraction of the
        measurements.
    settled
        Whether y stayed in the band over the window without diverging (False without a
        setpoint).
    tracking_error
        max |y/s* − 1| over the window; ``None`` where it is not defined (no setpoint, no
        measurement, or a run that diverged).
    run
        The underlying :class:`Run`: the losses L(θ_0) … L(θ_n) (``run.losses``), the final
        parameters θ_n (``run.theta``), and whether and where it diverged
        (``run.diverged``, ``run.diverged_at``).
    """

    lr: np.ndarray
    normalized_sharpness: np.ndarray
    measurement: np.ndarray
    setpoint: float | None
    n_products: int
    band: float
    window: float
    settled: bool
    tracking_error: float | None
    run: Run

    __repr__ = summary_repr


def _tracking(y: np.ndarray, target: float | None, diverged: bool, band: float,
              window: float) -> tuple[bool, float | None]:
    if target is None or diverged or y.size == 0:
        return False, None
    k = max(1, round(window * y.size))
    err = float(np.max(np.abs(y[-k:] / target - 1.0)))
    return bool(err <= band), err


def _initial(objective: Any, rng: np.random.Generator) -> Any:
    """``objective.initial(rng)`` when it takes a seed (lrctl's plants), else ``initial()``."""
    import inspect

    init = getattr(objective, "initial", None)
    if not callable(init):
        raise TypeError(f"theta0 is required: {type(objective).__name__} has no initial()")
    try:
        takes_seed = bool(inspect.signature(init).parameters)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        takes_seed = False
    return init(rng) if takes_seed else init()


def _controlled(objective: Any, policy: Feedback, steps: int, theta0: Any, rng: Any,
                divergence_factor: float, setpoint: float | None, band: float,
                window: float) -> ControlledTraining:
    steps = check_int("steps", steps, minimum=1)
    band = float(check_positive("band", check_scalar("band", band)))
    window = float(check_in_interval("window", check_scalar("window", window), 0.0, 1.0,
                                     low_closed=False, high_closed=True))
    if theta0 is None:
        theta0 = _initial(objective, rng)
    r = run(objective, policy, steps, theta0=theta0,
            monitor=Divergence.from_args(divergence_factor))
    rec = r.policy_state["record"] if r.policy_state is not None else []
    cols = list(zip(*rec, strict=True)) if rec else [()] * 6
    _, lrs, _, ys, seen, products = cols  # steps and λ_j are run.measure_steps, run.measurements
    y = np.asarray(ys, dtype=float)
    settled, err = _tracking(y, setpoint, r.diverged, band, window)
    return ControlledTraining(
        lr=np.asarray(lrs, dtype=float), normalized_sharpness=y,
        measurement=np.asarray(seen, dtype=float), setpoint=setpoint,
        n_products=int(sum(products)), band=band, window=window, settled=settled,
        tracking_error=err, run=r,
    )


def train_with_sharpness_control(objective: Any, controller: Any, steps: int, *,
                                 measure_every: int = 5, ema: float = 0.0,
                                 log_measurement: bool = False, theta0: Any = None,
                                 seed: Any = 0, lanczos_tol: float = 1e-8,
                                 divergence_factor: float = 1e6, band: float = 0.05,
                                 window: float = 0.25) -> ControlledTraining:
    r"""Full-batch GD whose learning rate a PI controller sets to hold η·λ_max at a setpoint.

    ``run(objective, Feedback(controller, Sharpness(lanczos_tol), every=M, ema=β,
    log=log_measurement), steps)``: every ``measure_every`` = M steps, λ_j = λ_max(∇²L(θ))
    by Lanczos, y_j = η_j·λ_j with the rate in force, optionally m_j = β·m_{j−1} + (1 − β)·y_j
    (``ema`` = β), then η_{j+1} = controller.update(m_j) for the next M steps. One controller
    sample is M optimizer steps, so the controller's ``dt`` must equal M, and the plant seen by
    the controller is :func:`lrctl.zdomain.sharpness_plant` ``(setpoint, beta=ema, dt=M,
    log_measurement=...)``.

    With ``log_measurement=True`` the controller sees log m_j and its setpoint is log s*
    (give ``PIController(setpoint=math.log(s_star), ...)``): log y_j = u_{j−1} + log λ_j
    holds exactly, so the loop is linear for deviations of any size, up to the clamps and to
    λ's own dependence on the trajectory. With the linear measurement the model is a
    linearization valid for small deviations only.

    ``controller`` is a :class:`lrctl.zdomain.PIController` (anything with ``reset()``,
    ``lr``, ``update(y) -> lr``, ``dt`` and ``config.setpoint``). The run stops (``diverged``)
    when the loss or the parameters stop being finite or the loss exceeds
    ``divergence_factor`` times its initial value. ``band`` and ``window`` define ``settled``
    and ``tracking_error``.

    >>> from lrctl.objectives import QuadraticObjective
    >>> from lrctl.zdomain import PIController
    >>> obj = QuadraticObjective(np.diag([4.0, 1.0]))
    >>> ctl = PIController(0.3, 0.3, setpoint=1.0, lr0=0.05, lr_min=1e-3, lr_max=1.0, dt=2)
    >>> res = train_with_sharpness_control(obj, ctl, 80, measure_every=2,
    ...                                    theta0=np.array([1.0, 1.0]))
    >>> res.settled, round(float(res.lr[-1]), 4)        # η → setpoint/λmax = 1/4
    (True, 0.25)
    """
    check_objective(objective)
    for attr in ("reset", "update", "lr", "dt", "config"):
        if not hasattr(controller, attr):
            raise TypeError(f"controller must be a PIController (reset, update, lr, dt, config); "
                            f"{type(controller).__name__} lacks {attr}")
    M = check_int("measure_every", measure_every, minimum=1)
    if not math.isclose(float(controller.dt), M, rel_tol=1e-12):
        raise ValueError(
            f"controller.dt = {controller.dt:g} must equal measure_every = {M}: one controller "
            "sample is measure_every optimizer steps"
        )
    tol = check_tol("lanczos_tol", lanczos_tol)
    log_measurement = check_bool("log_measurement", log_measurement)
    rng = as_rng(seed)
    lanczos_seed = int(rng.integers(2**31 - 1))
    policy = Feedback(controller, Sharpness(tol, lanczos_seed), every=M, ema=ema,
                      log=log_measurement)
    setpoint = float(controller.config.setpoint)
    if log_measurement:
        setpoint = math.exp(setpoint)
    return _controlled(objective, policy, steps, theta0, rng, divergence_factor, setpoint,
                       band, window)


class _Sequence:
    """An open-loop "controller" that replays a list of rates (one per measurement)."""

    def __init__(self, lrs: np.ndarray) -> None:
        self._lrs = [float(x) for x in lrs]
        self.reset()

    def reset(self) -> None:
        self._i = 0
        self.lr = self._lrs[0]

    def update(self, measurement: float) -> float:
        if self._i < len(self._lrs):
            self.lr = self._lrs[self._i]
        self._i += 1
        return self.lr


def sharpness_response(objective: Any, lrs: Any, *, measure_every: int = 5,
                       log_measurement: bool = True, theta0: Any = None,
                       seed: Any = 0, lanczos_tol: float = 1e-8,
                       divergence_factor: float = 1e6) -> ControlledTraining:
    r"""Open-loop excitation: GD with a given learning rate per sample, η·λ_max logged.

    Sample j runs ``measure_every`` = M steps at ``lrs[j]`` after measuring
    y_j = lrs[j − 1]·λ_max(θ_j) (its log with ``log_measurement``; lrs[0] is also the rate in
    force at the first measurement). The trace (``lrs[j]``, ``measurement[j]``) is what
    :func:`lrctl.zdomain.identify_first_order` fits: the input set at sample j acts on the
    measurement at j + 1, so the derived sharpness plant predicts a = 0, b = 1 (log
    measurement) and delay 0 in y_{j+1} = a·y_j + b·log lrs[j] + c.

    >>> from lrctl.objectives import QuadraticObjective
    >>> obj = QuadraticObjective(np.diag([4.0, 1.0]))
    >>> res = sharpness_response(obj, [0.1, 0.2, 0.05], measure_every=1, theta0=np.ones(2))
    >>> np.round(np.exp(res.measurement), 6)          # η_{j−1}·λ with λ = 4; η_{−1} = lrs[0]
    array([0.4, 0.4, 0.8])
    """
    check_objective(objective)
    lr_seq = check_positive("lrs", lrs)
    if lr_seq.ndim != 1 or lr_seq.size == 0:
        raise ValueError(f"lrs must be a non-empty 1-D array of learning rates, got shape "
                         f"{lr_seq.shape}")
    M = check_int("measure_every", measure_every, minimum=1)
    tol = check_tol("lanczos_tol", lanczos_tol)
    log_measurement = check_bool("log_measurement", log_measurement)
    rng = as_rng(seed)
    lanczos_seed = int(rng.integers(2**31 - 1))
    policy = Feedback(_Sequence(lr_seq), Sharpness(tol, lanczos_seed), every=M,
                      log=log_measurement)
    return _controlled(objective, policy, lr_seq.size * M, theta0, rng, divergence_factor,
                       None, 0.05, 0.25)
