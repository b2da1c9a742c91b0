"""lrctl.zdomain: the runtime PI learning-rate controller and the controlled training loop."""

import math

import control
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrctl import zdomain as zd
from lrctl.objectives import QuadraticObjective
from lrctl.training import train_with_sharpness_control

gain = st.floats(-1.0, 1.0).filter(lambda x: abs(x) > 1e-3)  # no near-cancelling numerators


@pytest.mark.parametrize("method", zd.METHODS)
@given(st.lists(st.floats(-1.0, 1.0), min_size=5, max_size=40), gain, gain)
def test_velocity_form_equals_transfer_function(method, measurements, kp, ki):
    # Away from the limits, log η − log η0 is C(z) applied to e = setpoint − y (zero initial
    # conditions): python-control's forced_response of pi_controller is the independent route.
    ctl = zd.PIController(kp, ki, setpoint=0.2, lr0=1.0, lr_min=1e-300, lr_max=1e300,
                          dt=2.0, method=method)
    u = np.array([math.log(ctl.update(y)) for y in measurements])
    e = 0.2 - np.array(measurements)
    C = zd.pi_controller(kp, ki, dt=2.0, method=method)
    ref = control.forced_response(C, T=2.0 * np.arange(len(e)), U=e).outputs
    assert np.allclose(u, np.atleast_1d(ref), atol=1e-10)


def test_first_update_hand_example():
    # backward Euler, e_{−1} = 0: Δlog η = (kp + ki·dt)·e_0 = (0.2 + 0.5·2)·0.5 = 0.6.
    ctl = zd.PIController(0.2, 0.5, setpoint=1.0, lr0=0.1, lr_min=1e-3, lr_max=1.0, dt=2.0)
    assert ctl.update(0.5) == pytest.approx(0.1 * math.exp(0.6))
    # second: Δ = kp·(e1 − e0) + ki·dt·e1 with e1 = 0 ⇒ −0.1
    assert ctl.update(1.0) == pytest.approx(0.1 * math.exp(0.5))
    assert ctl.n_updates == 2


def test_clamping_anti_windup_leaves_the_limit_immediately():
    # A long stretch of positive error drives a positional PI's integrator far past the
    # limit; the velocity form sits at lr_max and leaves it on the first sample whose
    # correction points inside.
    kp, ki = 0.1, 0.2
    ctl = zd.PIController(kp, ki, setpoint=1.0, lr0=0.5, lr_min=0.01, lr_max=1.0)
    for _ in range(50):
        lr = ctl.update(0.0)  # error +1: wants to raise the rate
    assert lr == 1.0 and ctl.saturated
    lr = ctl.update(2.0)  # error −1: first sample back
    assert lr < 1.0 and not ctl.saturated
    # positional PI with an unclamped integrator (the windup it avoids)
    integ = 0.0
    outs = []
    for e in [1.0] * 50 + [-1.0]:
        integ += ki * e
        outs.append(min(max(math.log(0.5) + kp * e + integ, math.log(0.01)), 0.0))
    assert outs[-1] == 0.0  # still pinned at the limit after the sign change


def test_lower_limit_and_reset():
    ctl = zd.PIController(0.5, 0.5, setpoint=1.0, lr0=0.1, lr_min=0.05, lr_max=1.0)
    for _ in range(20):
        ctl.update(10.0)
    assert ctl.lr == 0.05 and ctl.saturated
    ctl.reset()
    assert ctl.lr == pytest.approx(0.1) and ctl.n_updates == 0 and not ctl.saturated


def test_config_validation():
    ok = dict(kp=0.1, ki=0.1, setpoint=1.0, lr0=0.1, lr_min=0.01, lr_max=1.0)
    for key, bad, pattern in [
        ("kp", math.nan, "kp"),
        ("ki", math.inf, "ki"),
        ("setpoint", math.nan, "setpoint"),
        ("lr_min", 0.0, "lr_min"),
        ("lr_max", 0.005, "lr_max"),
        ("lr0", 2.0, "lr0"),
        ("lr0", 0.001, "lr0"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            zd.PIController(**{**ok, key: bad})
    with pytest.raises(ValueError, match="dt"):
        zd.PIController(**ok, dt=-1.0)
    with pytest.raises(ValueError, match="method"):
        zd.PIController(**ok, method="euler")
    with pytest.raises(TypeError, match="kp"):
        zd.PIController(**{**ok, "kp": "0.1"})
    ctl = zd.PIController(**ok)
    with pytest.raises(ValueError, match="measurement"):
        ctl.update(math.nan)
    cfg = zd.PIConfig(**ok)
    with pytest.raises(AttributeError):
        cfg.kp = 2.0  # frozen
    again = zd.PIController.from_config(cfg)
    assert again.config == cfg
    assert "PIController" in repr(again)
    with pytest.raises(TypeError, match="PIConfig"):
        zd.PIController.from_config(ok)


def test_controller_objects_are_accepted_as_controllers():
    ctl = zd.PIController(0.4, 0.2, setpoint=1.0, lr0=0.1, lr_min=0.01, lr_max=1.0)
    G = zd.first_order_plant(0.9, 0.5)
    assert np.allclose(zd.characteristic_polynomial(G, ctl), [1.0, -1.6, 0.7])
    assert np.allclose(zd.characteristic_polynomial(G, ctl.config), [1.0, -1.6, 0.7])


# ---------------------------------------------------------------------------------------
# The controlled training loop (on quadratics: constant, known λmax)
# ---------------------------------------------------------------------------------------


def _quadratic():
    return QuadraticObjective(np.diag([4.0, 1.0, 0.25]))


@pytest.mark.parametrize("log_measurement", [False, True])
def test_stable_gains_hold_the_setpoint(log_measurement):
    obj, M, s = _quadratic(), 3, 0.8
    plant = zd.sharpness_plant(s, dt=M, log_measurement=log_measurement)
    kp, ki = 0.2, 0.1
    assert zd.stability_region(plant, kp, ki, dt=M)
    sp = math.log(s) if log_measurement else s
    ctl = zd.PIController(kp, ki, setpoint=sp, lr0=0.02, lr_min=1e-4, lr_max=2.0, dt=M)
    run = train_with_sharpness_control(obj, ctl, 240, measure_every=M, band=1e-3,
                                       theta0=np.ones(3), log_measurement=log_measurement)
    assert run.setpoint == pytest.approx(s)
    assert run.settled and run.run.theta.shape == (3,)
    assert run.lr[-1] == pytest.approx(s / 4.0, rel=1e-4)  # η = s*/λmax
    assert np.allclose(run.run.measurements, 4.0)  # λ_j, the run's measurement record
    assert run.run.measure_steps.tolist() == list(range(0, 240, M))
    assert len(run.run.losses) == 241 and not run.run.diverged
    assert run.tracking_error < 1e-3


def test_unstable_gains_do_not_settle_and_match_the_linear_loop():
    # With λ constant and the log measurement the loop is exactly linear: log y_j =
    # u_{j−1} + log λ. An unstable gain pair oscillates until the clamps hold it in a cycle.
    obj, M = _quadratic(), 2
    plant = zd.sharpness_plant(1.0, dt=M, log_measurement=True)
    kp, ki = 0.5, 0.8  # χ = z² + 1.1z − 0.5: a root at −1.45 (hand computation)
    assert not zd.stability_region(plant, kp, ki, dt=M)
    ctl = zd.PIController(kp, ki, setpoint=0.0, lr0=0.1, lr_min=1e-3, lr_max=0.45, dt=M)
    run = train_with_sharpness_control(obj, ctl, 200, measure_every=M, theta0=np.ones(3),
                                          log_measurement=True)
    assert not run.settled
    # before any clamping, the logged trajectory is the linear closed loop's step response:
    # the disturbance is log(λ·η0) relative to the setpoint 0
    ctl2 = zd.PIController(0.2, 0.1, setpoint=0.0, lr0=0.1, lr_min=1e-6, lr_max=1e6, dt=M)
    run2 = train_with_sharpness_control(obj, ctl2, 60, measure_every=M, theta0=np.ones(3),
                                           log_measurement=True)
    lin = zd.simulate_closed_loop(
        plant, zd.pi_controller(0.2, 0.1, dt=M), len(run2.measurement), reference=0.0,
        disturbance=math.log(4.0 * 0.1))
    assert np.allclose(run2.measurement, lin.output, atol=1e-9)


def test_divergence_is_detected():
    # lr pinned at lr_min = 0.6 > 2/λmax = 0.5 on the quadratic: GD diverges.
    obj = _quadratic()
    ctl = zd.PIController(0.1, 0.1, setpoint=1.0, lr0=0.6, lr_min=0.6, lr_max=0.7, dt=1)
    run = train_with_sharpness_control(obj, ctl, 500, measure_every=1, theta0=np.ones(3),
                                          divergence_factor=1e4)
    assert run.run.diverged and run.run.diverged_at is not None
    assert len(run.run.losses) == run.run.diverged_at and np.all(np.isfinite(run.run.losses))
    assert not run.settled and run.tracking_error is None  # a field: false/None when diverged


def test_training_validation():
    obj = _quadratic()
    ctl = zd.PIController(0.1, 0.1, setpoint=1.0, lr0=0.1, lr_min=0.01, lr_max=1.0, dt=1)
    with pytest.raises(ValueError, match="measure_every"):
        train_with_sharpness_control(obj, ctl, 10, measure_every=5)
    with pytest.raises(TypeError, match="controller"):
        train_with_sharpness_control(obj, ctl.config, 10, measure_every=1)
    with pytest.raises(ValueError, match="ema"):
        train_with_sharpness_control(obj, ctl, 10, measure_every=1, ema=1.0)
    with pytest.raises(ValueError, match="theta0"):
        train_with_sharpness_control(obj, ctl, 10, measure_every=1, theta0=np.ones(2))


def test_same_seed_same_run():
    obj = _quadratic()
    runs = []
    for _ in range(2):
        ctl = zd.PIController(0.2, 0.1, setpoint=1.0, lr0=0.05, lr_min=1e-3, lr_max=1.0, dt=2)
        runs.append(train_with_sharpness_control(obj, ctl, 40, measure_every=2, seed=7))
    assert np.array_equal(runs[0].run.losses, runs[1].run.losses)
    assert np.array_equal(runs[0].lr, runs[1].lr)
