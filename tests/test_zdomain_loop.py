"""lrctl.zdomain: margins, time responses, plant models, identification, loop analysis.

Margins are checked against a brute-force sweep of L(e^{jω}) and against the pole that a gain
of exactly GM puts on the unit circle; responses against python-control's forced_response and
the final-value theorem; plant models against finite differences and simulations of the
nonlinear maps they linearize.
"""

import math

import control
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrctl import zdomain as zd

# ---------------------------------------------------------------------------------------
# stability margins
# ---------------------------------------------------------------------------------------


def test_gain_margin_at_nyquist_frequency_hand_example():
    # G = 0.5/(z − 0.9), C = 0.4 + 0.2z/(z − 1). At z = −1: G = 0.5/(−1.9), C = 0.4 + 0.2·(−1)/(−2)
    # = 0.5, so L(−1) = −0.25/1.9 = −0.131579 and GM = 1/|L(−1)| = 7.6 (hand computation).
    G = zd.first_order_plant(0.9, 0.5)
    C = zd.pi_controller(0.4, 0.2)
    m = zd.stability_margins(G, C)
    assert m.gain_margin == pytest.approx(7.6, rel=1e-12)
    assert m.phase_crossover == pytest.approx(math.pi)
    assert m.closed_loop_stable
    # The phase margin and gain crossover agree with python-control (which is right there).
    _, pm, _, _, wgc, _ = control.stability_margins(C * G.tf)
    assert m.phase_margin == pytest.approx(pm, rel=1e-9)
    assert m.gain_crossover == pytest.approx(wgc, rel=1e-9)
    # A loop gain of exactly GM puts a closed-loop pole on z = −1.
    Cg = zd.pi_controller(0.4 * 7.6, 0.2 * 7.6)
    poles = zd.closed_loop_poles(G, Cg)
    assert np.min(np.abs(poles + 1)) < 1e-9
    gm, pm2, *_ = m  # python-control's tuple order
    assert gm == m.gain_margin and pm2 == m.phase_margin


def _brute_force(L_num, L_den, n=400_001):
    """Phase and gain crossovers of L = num/den by a dense sweep of ω ∈ (0, π]."""
    w = np.linspace(1e-6, math.pi, n)
    z = np.exp(1j * w)
    L = np.polyval(L_num, z) / np.polyval(L_den, z)
    im, mag = L.imag, np.abs(L)
    # phase crossovers: sign changes of Im L with Re L < 0, and ω = π when L(−1) < 0
    idx = np.flatnonzero(np.sign(im[:-1]) != np.sign(im[1:]))
    pc = [(w[i], 1 / abs(L[i])) for i in idx if L[i].real < 0 and abs(L[i]) < 1e8]
    Lpi = np.polyval(L_num, -1.0) / np.polyval(L_den, -1.0)
    if Lpi < 0 and not any(abs(x - math.pi) < 1e-3 for x, _ in pc):
        pc.append((math.pi, 1 / abs(Lpi)))
    idx = np.flatnonzero(np.sign(mag[:-1] - 1) != np.sign(mag[1:] - 1))
    gc = [(w[i], np.angle(L[i], deg=True) % 360 - 180) for i in idx]
    return sorted(pc), sorted(gc)


LOOPS = [
    (zd.first_order_plant(0.9, 0.5), (0.4, 0.2)),
    (zd.first_order_plant(0.9, 0.5, delay=2), (0.1, 0.02)),
    (zd.first_order_plant(0.5, 1.0, delay=1), (0.3, 0.1)),
    (zd.sharpness_plant(1.0), (0.3, 0.2)),
    (zd.first_order_plant(-0.5, 0.8, delay=3), (0.2, 0.05)),
]


@pytest.mark.parametrize(("plant", "gains"), LOOPS)
def test_margins_match_brute_force_sweep(plant, gains):
    C = zd.pi_controller(*gains)
    g = zd._tf_parts(plant, "plant")
    num = np.polymul(g.num, [gains[0] + gains[1], -gains[0]])
    den = np.polymul(g.den, [1.0, -1.0])
    pc, gc = _brute_force(num, den)
    m = zd.stability_margins(plant, C)
    assert len(m.phase_crossovers) == len(pc)
    for (w, gm), w2, gm2 in zip(pc, m.phase_crossovers, m.gain_margins, strict=True):
        assert w2 == pytest.approx(w, abs=2e-5)
        assert gm2 == pytest.approx(gm, rel=1e-4)
    assert len(m.gain_crossovers) == len(gc)
    for (w, pm), w2, pm2 in zip(gc, m.gain_crossovers, m.phase_margins, strict=True):
        assert w2 == pytest.approx(w, abs=2e-5)
        assert pm2 == pytest.approx(pm, abs=1e-3)
    # stability margin: the minimum distance to −1 over the same sweep
    w = np.linspace(1e-6, math.pi, 200_001)
    L = np.polyval(num, np.exp(1j * w)) / np.polyval(den, np.exp(1j * w))
    assert m.stability_margin == pytest.approx(np.min(np.abs(1 + L)), rel=1e-6, abs=1e-9)


@given(st.floats(-0.9, 0.9), st.floats(0.1, 2.0), st.integers(0, 3),
       st.floats(-0.5, 1.0), st.floats(0.01, 0.5))
def test_gain_margin_puts_a_pole_on_the_circle(a, b, delay, kp, ki):
    plant = zd.first_order_plant(a, b, delay=delay)
    m = zd.stability_margins(plant, zd.pi_controller(kp, ki))
    for gm, w in zip(m.gain_margins, m.phase_crossovers, strict=True):
        if not np.isfinite(gm) or gm > 1e6:
            continue
        poles = zd.closed_loop_poles(plant, zd.pi_controller(kp * gm, ki * gm))
        # a pole at e^{±jω}: the loop gain GM is exactly the boundary
        assert np.min(np.abs(poles - np.exp(1j * w))) < 1e-6


def test_margins_scale_frequencies_by_dt():
    G1 = zd.first_order_plant(0.9, 0.5, dt=1.0)
    G5 = zd.first_order_plant(0.9, 0.5, dt=5.0)
    m1 = zd.stability_margins(G1, zd.pi_controller(0.4, 0.2, dt=1.0))
    # same discrete loop (ki·dt the same), frequencies in rad per step divided by dt
    m5 = zd.stability_margins(G5, zd.pi_controller(0.4, 0.04, dt=5.0))
    assert m5.gain_margin == pytest.approx(m1.gain_margin)
    assert m5.phase_crossover == pytest.approx(m1.phase_crossover / 5.0)


def test_margins_without_crossovers():
    # L = 0.05/(z − 0.5) (no integrator): |L| < 1 everywhere, L(−1) < 0 ⇒ GM 30, PM inf.
    G = zd.first_order_plant(0.5, 0.05)
    C = control.tf([1.0], [1.0], 1.0)
    m = zd.stability_margins(G, C)
    assert m.gain_margin == pytest.approx(30.0)  # 1/|0.05/(−1.5)| (hand computation)
    assert m.phase_margin == math.inf and m.gain_crossover is None


# ---------------------------------------------------------------------------------------
# Time responses
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", zd.METHODS)
def test_step_response_matches_python_control(method):
    G = zd.first_order_plant(0.8, 0.3, delay=1)
    C = zd.pi_controller(0.5, 0.2, method=method)
    res = zd.step_response(G, C, 80)
    T = control.feedback(C * G.tf, 1)
    ref = control.forced_response(T, T=np.arange(80), U=np.ones(80))
    assert np.allclose(res.output, ref.outputs, atol=1e-12)
    info = control.step_info(T, T=np.arange(400))
    assert res.overshoot == pytest.approx(info["Overshoot"], rel=1e-6)


def test_disturbance_response_matches_sensitivity():
    # y = S·d with S = 1/(1 + CG) for r = 0.
    G = zd.first_order_plant(0.9, 0.5, delay=1)
    C = zd.pi_controller(0.2, 0.05)
    d = np.sin(0.3 * np.arange(120)) + 0.01 * np.arange(120)
    res = zd.simulate_closed_loop(G, C, 120, reference=0.0, disturbance=d)
    S = control.feedback(control.tf([1.0], [1.0], 1.0), C * G.tf)
    ref = control.forced_response(S, T=np.arange(120), U=d)
    assert np.allclose(res.output, ref.outputs, atol=1e-10)


def test_biproper_algebraic_loop_is_solved():
    G = control.tf([0.5, -0.2], [1.0, -0.6], 1.0)
    C = zd.pi_controller(0.3, 0.1)
    res = zd.step_response(G, C, 60)
    T = control.feedback(C * G, 1)
    ref = control.forced_response(T, T=np.arange(60), U=np.ones(60))
    assert np.allclose(res.output, ref.outputs, atol=1e-10)


@pytest.mark.parametrize(("kp", "ki", "slope"), [(0.4, 0.2, 0.01), (0.1, 0.05, -0.03)])
def test_ramp_error_matches_final_value_theorem(kp, ki, slope):
    G = zd.first_order_plant(0.9, 0.5)
    C = zd.pi_controller(kp, ki)
    res = zd.ramp_disturbance_response(G, C, 600, slope=slope)
    # e∞ = −slope/(ki·G(1)), G(1) = 0.5/0.1 = 5 (hand derivation, see predicted_ramp_error)
    expected = -slope / (ki * 5.0)
    assert zd.predicted_ramp_error(G, C, slope) == pytest.approx(expected)
    assert res.steady_state_error == pytest.approx(expected, rel=1e-6)
    assert res.settled


def test_predicted_ramp_error_without_integrator_is_infinite():
    G = zd.first_order_plant(0.5, 0.5)
    P = control.tf([0.4], [1.0], 1.0)
    assert zd.predicted_ramp_error(G, P, 0.01) == -math.inf


def test_unstable_loop_stops_and_says_so():
    G = zd.first_order_plant(0.9, 0.5)
    C = zd.pi_controller(5.0, 1.0)  # χ = z² + 1.1z − 1.6: a root at −1.86 (hand)
    res = zd.step_response(G, C, 2000)
    assert res.diverged and res.diverged_at is not None and res.diverged_at < 2000
    assert np.all(np.isfinite(res.output)) and len(res.output) == res.diverged_at + 1
    assert not res.settled and res.settling_time == math.inf
    assert not res.predicted_stable


def test_settling_metrics_hand_example():
    # Plant 1/z with C = ki·z/(z − 1), ki = 1 (deadbeat): χ = z², y = [0, 1, 1, ...].
    res = zd.step_response(zd.sharpness_plant(1.0), zd.pi_controller(0.0, 1.0), 30)
    assert np.allclose(res.output[:4], [0.0, 1.0, 1.0, 1.0])
    assert res.settling_time == 1.0 and res.overshoot == 0.0 and res.steady_state_error == 0.0


def test_simulation_bad_input():
    G, C = zd.first_order_plant(0.9, 0.5), zd.pi_controller(0.4, 0.2)
    with pytest.raises(ValueError, match="reference"):
        zd.simulate_closed_loop(G, C, 10, reference=np.ones(9))
    with pytest.raises(ValueError, match="disturbance"):
        zd.simulate_closed_loop(G, C, 10, disturbance=np.nan)
    with pytest.raises(ValueError, match="steps"):
        zd.simulate_closed_loop(G, C, 0)


# ---------------------------------------------------------------------------------------
# Plant models
# ---------------------------------------------------------------------------------------


def test_sharpness_plant_matches_derivation():
    d = zd.derive_sharpness_plant()
    f = __import__("sympy").lambdify([d.symbols["s"], d.symbols["beta"], d.symbols["z"]], d.result)
    for s, beta in [(1.0, 0.0), (1.5, 0.5), (0.3, 0.9)]:
        G = zd.sharpness_plant(s, beta=beta)
        for zz in (0.3 + 0.2j, -0.8, 1.7):
            assert complex(G.tf(zz)) == pytest.approx(complex(f(s, beta, zz)), rel=1e-12)
        assert G.gain == s
    assert zd.sharpness_plant(1.5, log_measurement=True).gain == 1.0


def test_sharpness_plant_linearizes_the_exact_loop():
    # Exact map: y_j = exp(u_{j−1})·λ. For a small input perturbation the deviation of y
    # equals s*·δu delayed one sample (G = s*/z).
    lam, s = 4.0, 1.2
    u0 = math.log(s / lam)
    du = 1e-6 * np.sin(np.arange(20))
    y = np.exp(u0 + np.concatenate([[0.0], du[:-1]])) * lam
    lin = s * np.concatenate([[0.0], du[:-1]])
    assert np.allclose(y - s, lin, atol=1e-11)


def test_sharpness_plant_validation():
    with pytest.raises(ValueError, match=r"setpoint.*\(0, 2\)"):
        zd.sharpness_plant(2.0)
    with pytest.raises(ValueError, match="beta"):
        zd.sharpness_plant(1.0, beta=1.0)


def test_loss_ratio_gain_matches_finite_differences():
    # dr/dlog η of r = (1 − ηλ)², central differences (independent route).
    lam = 3.0
    eta = np.array([0.05, 0.2, 0.3, 0.5])
    h = 1e-6
    r = lambda e: (1 - e * lam) ** 2  # noqa: E731
    fd = (r(eta * np.exp(h)) - r(eta * np.exp(-h))) / (2 * h)
    assert np.allclose(zd.loss_ratio_gain(eta, lam), fd, rtol=1e-6)
    fd_lin = (r(eta + h) - r(eta - h)) / (2 * h)
    assert np.allclose(zd.loss_ratio_gain(eta, lam, actuation="linear"), fd_lin, rtol=1e-6)
    d = zd.derive_loss_ratio_plant()
    g = d.lambdify("eta", "lam")
    assert np.allclose(g(eta, lam), zd.loss_ratio_gain(eta, lam))


def test_loss_ratio_sign_flip_is_detected_and_reported():
    lam = 2.0
    below = zd.loss_ratio_plant(0.25, lam)
    above = zd.loss_ratio_plant(0.75, lam)
    assert below.gain_sign == -1 and above.gain_sign == 1
    assert below.sign_flip_lr == above.sign_flip_lr == 0.5
    # gain −2ηλ(1 − ηλ): −2·0.5·0.5 = −0.5 and −2·1.5·(−0.5) = 1.5 (hand computation)
    assert below.gain == pytest.approx(-0.5) and above.gain == pytest.approx(1.5)
    with pytest.raises(ValueError, match="sign flip"):
        zd.loss_ratio_plant(0.5, lam)
    with pytest.raises(ValueError, match=r"\(0, 2\)"):
        zd.loss_ratio_plant(1.2, lam)
    # positive gains on the below-flip branch: positive feedback, reported
    rep = zd.analyze_loop(below, zd.pi_controller(0.2, 0.1))
    assert rep.classification == "unstable"
    assert any("wrong sign" in w for w in rep.warnings)
    assert any("below" in w for w in rep.warnings)
    # negated gains are stable there, and the same negated gains are wrong above the flip
    assert zd.analyze_loop(below, zd.pi_controller(-0.2, -0.1)).stable
    assert not zd.analyze_loop(above, zd.pi_controller(-0.2, -0.1)).stable
    near = zd.loss_ratio_plant(0.45, lam)
    assert any("within 20 %" in w for w in zd.analyze_loop(near, zd.pi_controller(-1, -1)).warnings)


def test_loss_ratio_operating_points():
    lo, hi = zd.loss_ratio_operating_points(0.25, 2.0)
    assert (1 - lo * 2.0) ** 2 == pytest.approx(0.25) and (1 - hi * 2.0) ** 2 == pytest.approx(0.25)
    assert lo < 0.5 < hi


@pytest.mark.parametrize(("kp", "ki"), [(-0.3, -0.4), (-0.1, -1.5), (-1.5, -0.2), (-0.1, -5.0), (-2.5, -0.2), (0.3, 0.4)])
def test_loss_ratio_loop_prediction_matches_nonlinear_simulation(kp, ki):
    # 1-D quadratic, GD with η from a PI controller on the loss ratio r = (1 − ηλ)²,
    # u = log η, operating point r* = 0.25 on the lower branch η* = 0.5/λ.
    lam, rstar = 2.0, 0.25
    eta_star = zd.loss_ratio_operating_points(rstar, lam)[0]
    plant = zd.loss_ratio_plant(eta_star, lam)
    predicted = zd.analyze_loop(plant, zd.pi_controller(kp, ki)).stable
    ctl = zd.PIController(kp, ki, setpoint=rstar, lr0=eta_star * 1.02, lr_min=1e-4,
                          lr_max=0.95 / lam)
    eta = ctl.lr
    for _ in range(300):
        r = (1 - eta * lam) ** 2  # the ratio measured over the step taken with η
        eta = ctl.update(r)
    settled = abs(math.log(eta / eta_star)) < 1e-6
    assert settled == predicted


def test_first_order_plant_and_validation():
    G = zd.first_order_plant(0.9, 0.5, delay=2, dt=3.0)
    assert G.dt == 3.0 and G.gain == pytest.approx(5.0)  # 0.5/(1 − 0.9)
    # b z^-2/(z − 0.9): impulse response 0, 0, 0, 0.5, 0.45, ... (hand derivation)
    pulse = np.zeros(6)
    pulse[0] = 1.0
    h = control.forced_response(G.tf, T=np.arange(6) * 3.0, U=pulse).outputs
    assert np.allclose(h, [0, 0, 0, 0.5, 0.45, 0.405])
    with pytest.raises(ValueError, match="b must be non-zero"):
        zd.first_order_plant(0.9, 0.0)
    with pytest.raises(TypeError, match="delay"):
        zd.first_order_plant(0.9, 0.5, delay=1.5)


def test_identification_recovers_parameters_with_noise(rng):
    a, b, d = 0.85, -0.4, 1
    n = 3000
    lr = np.exp(0.3 * rng.standard_normal(n))
    u = np.log(lr)
    y = np.zeros(n)
    for k in range(d, n - 1):
        y[k + 1] = a * y[k] + b * u[k - d] + 0.2 + 0.01 * rng.standard_normal()
    fit = zd.identify_first_order(lr, y, max_delay=4)
    assert fit.delay == d
    assert abs(fit.a - a) < 4 * fit.a_stderr + 1e-3
    assert abs(fit.b - b) < 4 * fit.b_stderr + 1e-3
    assert fit.offset == pytest.approx(0.2, abs=0.02)
    assert fit.r_squared > 0.99 and fit.simulation_fit > 0.9
    assert fit.residual_std == pytest.approx(0.01, rel=0.1)
    assert np.argmin(fit.ssr_by_delay) == d
    assert fit.plant.tf.dt == 1.0 and fit.plant.kind == "identified"
    # the identified model predicts the logged trace: its one-step predictions via lfilter
    G = fit.plant.tf
    assert np.allclose(G.den_array[0, 0], [1.0, -fit.a, 0.0])


def test_identification_validation():
    with pytest.raises(ValueError, match="constant"):
        zd.identify_first_order(np.ones(50), np.arange(50.0))
    with pytest.raises(ValueError, match="positive"):
        zd.identify_first_order(-np.ones(50), np.arange(50.0))
    with pytest.raises(ValueError, match="same length"):
        zd.identify_first_order(np.ones(50), np.arange(40.0))
    with pytest.raises(ValueError, match="at least"):
        zd.identify_first_order(np.arange(1.0, 8.0), np.arange(7.0))


def test_pole_zero_map():
    G = zd.first_order_plant(0.9, 0.5)
    pz = zd.pole_zero_map(G, zd.pi_controller(0.4, 0.2))
    # zero of C: 0.6z − 0.4 = 0 ⇒ z = 2/3; poles of z² − 1.6z + 0.7: |z| = √0.7 (hand)
    assert np.allclose(pz.zeros, [2 / 3])
    assert pz.spectral_radius == pytest.approx(math.sqrt(0.7))
    T = control.feedback(zd.pi_controller(0.4, 0.2) * G.tf, 1)
    assert np.allclose(np.sort_complex(pz.poles), np.sort_complex(T.poles()))
