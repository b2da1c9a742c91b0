"""Tests for the lrctl.cerebellar: the rule vs its closed form and vs gradient
descent, regimes, the continuous-time limit, motor noise (derived variance vs Monte Carlo), the
two-rate model with savings and spontaneous recovery, and the fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from lrctl import cerebellar as D
from lrctl.objectives import QuadraticObjective
from lrctl.training import gradient_descent

# ---------------------------------------------------------------------------------------
# The rule, its closed form and the GD identity
# ---------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(c0=st.floats(-10, 10), c_opt=st.floats(-10, 10), k=st.floats(0.01, 2.6),
       n=st.integers(0, 60))
def test_trajectory_equals_closed_form(c0, c_opt, k, n):
    traj = D.cerebellar_trajectory(c0, c_opt, k, n)
    closed = D.cerebellar_closed_form(c0, c_opt, k, np.arange(n + 1))
    scale = max(1.0, abs(c0 - c_opt) * max(1.0, abs(1 - k)) ** n)
    np.testing.assert_allclose(traj, closed, rtol=1e-12, atol=1e-12 * scale)


def test_trajectory_broadcasts():
    k = np.array([0.2, 0.5, 1.5])
    c0 = np.array([[0.0], [2.0]])
    traj = D.cerebellar_trajectory(c0, 1.0, k, 5)
    assert traj.shape == (6, 2, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(traj[:, i, j],
                                       D.cerebellar_trajectory(c0[i, 0], 1.0, k[j], 5))


def test_symbolic_gd_identity():
    d = D.derive_cerebellar_gd_identity()
    C0, Copt, k, n = (d.symbols[s] for s in ("C_0", "C_opt", "k", "n"))
    assert sp.simplify(d.result - (Copt + (1 - k) ** n * (C0 - Copt))) == 0
    # the step "GD with η = k minus the cerebellar update" is identically 0
    assert dict(d.steps)["the gradient step minus the cerebellar update is"] == 0
    f = d.lambdify("C_0", "C_opt", "k", "n")
    np.testing.assert_allclose(f(3.0, -1.0, 0.7, np.arange(10)),
                               D.cerebellar_trajectory(3.0, -1.0, 0.7, 9), rtol=1e-13)


def test_numeric_gd_identity_with_lrctl_training():
    # lrctl's own GD loop on L(C) = ½(C − C_opt)² with lr = k reproduces the rule's losses
    c_opt, c0, k = 2.0, -1.0, 0.4
    obj = QuadraticObjective(np.array([[1.0]]), minimizer=np.array([c_opt]))
    run = gradient_descent(obj, [c0], lr=k, steps=15)
    traj = D.cerebellar_trajectory(c0, c_opt, k, 15)
    np.testing.assert_allclose(run.losses, 0.5 * (traj - c_opt) ** 2, rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------------------------------
# Regimes and divergence
# ---------------------------------------------------------------------------------------


def test_regimes_by_behaviour():
    for k in (0.1, 0.5, 0.99, 1.0):
        e = D.cerebellar_trajectory(1.0, 0.0, k, 30)
        assert D.cerebellar_regime(k) == "monotone"
        assert np.all(e >= 0) and np.all(np.diff(e) <= 0)
    for k in (1.01, 1.5, 1.99):
        e = D.cerebellar_trajectory(1.0, 0.0, k, 30)
        assert D.cerebellar_regime(k) == "oscillating"
        assert np.all(np.sign(e[1:]) == -np.sign(e[:-1]))
        assert np.all(np.diff(np.abs(e)) < 0)
    for k in (2.0, 2.5, 4.0):
        e = D.cerebellar_trajectory(1.0, 0.0, k, 30)
        assert D.cerebellar_regime(k) == "divergent"
        assert np.all(np.diff(np.abs(e)) >= 0)
    # k = 1 lands in one step; k = 2 flips with constant amplitude
    np.testing.assert_array_equal(D.cerebellar_trajectory(5.0, 2.0, 1.0, 3), [5, 2, 2, 2])
    np.testing.assert_array_equal(D.cerebellar_trajectory(1.0, 0.0, 2.0, 3), [1, -1, 1, -1])
    regimes = D.cerebellar_regime(np.array([[0.5, 1.5], [2.0, 1.0]]))
    assert regimes.tolist() == [["monotone", "oscillating"], ["divergent", "monotone"]]


@pytest.mark.parametrize("k", [0.0, -0.5, float("nan"), float("inf"), -np.inf])
def test_invalid_k_rejected(k):
    with pytest.raises(ValueError, match="k must be"):
        D.cerebellar_trajectory(0.0, 1.0, k, 5)
    with pytest.raises(ValueError, match="k"):
        D.cerebellar_regime(k)
    with pytest.raises(ValueError, match="k"):
        D.simulate_cerebellar(0.0, 1.0, k, 5)


def test_other_bad_input():
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        D.cerebellar_trajectory(0.0, 1.0, 0.5, -1)
    with pytest.raises(TypeError, match="steps must be an integer"):
        D.cerebellar_trajectory(0.0, 1.0, 0.5, 2.5)
    with pytest.raises(ValueError, match="c0"):
        D.cerebellar_trajectory(float("nan"), 1.0, 0.5, 2)
    with pytest.raises(ValueError, match="n must be integers"):
        D.cerebellar_closed_form(0.0, 1.0, 0.5, 1.5)


def test_divergent_rate_is_valid_and_says_so():
    traj = D.cerebellar_trajectory(0.0, 1.0, 3.0, 20)  # |1 − k| = 2: error 2^n
    np.testing.assert_allclose(np.abs(traj - 1.0), 2.0 ** np.arange(21))
    with pytest.raises(ValueError, match=r"overflows.*simulate_cerebellar"):
        D.cerebellar_trajectory(0.0, 1.0, 3.0, 2000)
    res = D.simulate_cerebellar(0.0, 1.0, 3.0, 2000)
    assert res.diverged and res.regime == "divergent"
    # 2^n > 1e6 first at n = 20
    assert res.diverged_at == 20 and res.c.shape == (20,) and np.all(np.isfinite(res.c))
    np.testing.assert_allclose(res.c, traj[:20])
    marginal = D.simulate_cerebellar(0.0, 1.0, 2.0, 50)
    assert marginal.diverged and marginal.diverged_at is None and marginal.c.shape == (51,)
    ok = D.simulate_cerebellar(0.0, 1.0, 1.5, 50)
    assert not ok.diverged and ok.diverged_at is None


# ---------------------------------------------------------------------------------------
# Continuous-time limit
# ---------------------------------------------------------------------------------------


def test_continuous_limit_first_order():
    k, t, c0, c_opt = 1.3, 2.0, 0.0, 1.0
    exact = D.cerebellar_continuous(c0, c_opt, k, t)
    errs = []
    Ns = np.array([100, 1000, 10000])
    for N in Ns:
        dt = t / N
        errs.append(D.cerebellar_trajectory(c0, c_opt, k * dt, int(N))[-1] - exact)
    errs = np.asarray(errs)
    order = np.polyfit(np.log(t / Ns), np.log(np.abs(errs)), 1)[0]  # log|err| vs log Δt
    assert order == pytest.approx(1.0, abs=0.02)
    # the leading error term from the derivation: (C0 − C_opt)·(−k²t²/(2N))e^{−kt}
    lead = (c0 - c_opt) * (-(k**2) * t**2 / (2 * Ns[-1])) * math.exp(-k * t)
    assert errs[-1] == pytest.approx(lead, rel=2e-3)
    d = D.derive_cerebellar_continuous_limit()
    assert d.lambdify("k", "t")(k, t) == pytest.approx(math.exp(-k * t))
    first = dict(d.steps)["The first-order term in the reciprocal of N, so the error is of order of the step"]
    val = float(first.subs({d.symbols["k"]: k, d.symbols["t"]: t}))
    assert val == pytest.approx(-(k**2) * t**2 / 2 * math.exp(-k * t))


def test_continuous_solves_the_ode():
    from scipy.integrate import solve_ivp

    sol = solve_ivp(lambda t, c: -0.8 * (c - 3.0), (0, 5), [1.0], rtol=1e-11, atol=1e-12,
                    t_eval=np.linspace(0, 5, 11))
    np.testing.assert_allclose(D.cerebellar_continuous(1.0, 3.0, 0.8, sol.t), sol.y[0],
                               rtol=1e-9)


# ---------------------------------------------------------------------------------------
# Motor noise
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("k, sx, su", [(0.2, 0.1, 0.0), (0.7, 0.05, 0.3), (1.6, 0.0, 0.2),
                                       (1.0, 0.1, 0.1)])
def test_noise_variance_matches_monte_carlo(k, sx, su):
    res = D.simulate_cerebellar(0.0, 0.0, k, 150, state_noise=sx, motor_noise=su,
                                n_runs=20000, seed=11)
    # after 150 steps (variance V(1 − (1 − k)^{2n}) has converged) the initial condition is forgotten; the 20000 runs are independent
    measured = np.var(res.c[:, -1])
    predicted = D.cerebellar_noise_variance(k, sx, su)
    assert measured == pytest.approx(predicted, rel=0.04)  # sd of the estimate ≈ 1 %
    executed = np.var(res.executed[:, -1])
    assert executed == pytest.approx(predicted + su**2, rel=0.04)


def test_noise_variance_formula_matches_sympy_and_limits():
    d = D.derive_cerebellar_noise()
    f = d.lambdify("k", "sigma_u", "sigma_x")
    k = np.linspace(0.05, 1.95, 20)
    np.testing.assert_allclose(D.cerebellar_noise_variance(k, 0.3, 0.7), f(k, 0.7, 0.3))
    with pytest.raises(ValueError, match="k must lie in"):  # no stationary variance
        D.cerebellar_noise_variance(2.0, 1.0)
    assert D.cerebellar_noise_variance(1.0, 0.0, 0.0) == 0.0
    # seeded Monte Carlo is reproducible
    a = D.simulate_cerebellar(0, 0, 0.5, 10, state_noise=1.0, n_runs=3, seed=5)
    b = D.simulate_cerebellar(0, 0, 0.5, 10, state_noise=1.0, n_runs=3, seed=5)
    np.testing.assert_array_equal(a.c, b.c)


@pytest.mark.parametrize("sx, su", [(1.0, 1.0), (0.1, 1.0), (1.0, 0.1), (0.3, 2.0)])
def test_optimal_rate_minimizes_variance_and_is_the_kalman_gain(sx, su):
    k_star = D.optimal_cerebellar_rate(sx, su)
    num = minimize_scalar(lambda k: D.cerebellar_noise_variance(k, sx, su), bounds=(1e-6, 1.999),
                          method="bounded", options={"xatol": 1e-10})
    assert k_star == pytest.approx(num.x, abs=1e-6)
    # the steady-state Kalman gain of a random walk (process var q, measurement var r), by
    # iterating the Riccati recursion P ← P − P²/(P + r) + q
    q, r, P = sx**2, su**2, 1.0
    for _ in range(10000):
        P = P - P * P / (P + r) + q
    assert k_star == pytest.approx(P / (P + r), rel=1e-9)
    d = D.derive_cerebellar_noise()
    k_sym = dict(d.steps)["vanishes at the positive root"].rhs
    val = float(k_sym.subs({d.symbols["sigma_x"]: sx, d.symbols["sigma_u"]: su}))
    assert val == pytest.approx(k_star, rel=1e-12)


def test_optimal_rate_limits_and_bad_input():
    assert D.optimal_cerebellar_rate(1.0, 0.0) == 1.0
    assert D.optimal_cerebellar_rate(0.0, 1.0) == 0.0
    assert (D.optimal_cerebellar_rate(1.0, np.array([0.5, 1.0, 2.0])) < 1).all()
    with pytest.raises(ValueError, match="both be 0"):
        D.optimal_cerebellar_rate(0.0, 0.0)
    with pytest.raises(ValueError, match="state_noise"):
        D.cerebellar_noise_variance(0.5, -1.0)


# ---------------------------------------------------------------------------------------
# The two-rate model
# ---------------------------------------------------------------------------------------


def test_two_rate_first_steps_by_hand():
    p = D.TwoRateParams()
    res = D.simulate_two_rate(np.ones(3), p)
    # trial 0: x = (0, 0), e = 1 → x_f = 0.03, x_s = 0.004; trial 1: e = 1 − 0.034 = 0.966
    np.testing.assert_allclose(res.states[1], [0.03, 0.004])
    np.testing.assert_allclose(res.error[:2], [1.0, 0.966])
    np.testing.assert_allclose(res.states[2], [0.92 * 0.03 + 0.03 * 0.966,
                                               0.996 * 0.004 + 0.004 * 0.966])


def test_two_rate_steady_state_matches_linear_algebra():
    p = D.TwoRateParams()
    res = D.simulate_two_rate(np.ones(6000), p)
    # fixed point of x = Ax + B(1 − 1ᵀx): (I − A + B1ᵀ)x = B
    A, B = np.diag(p.retention), np.array(p.rate)
    x_star = np.linalg.solve(np.eye(2) - A + np.outer(B, np.ones(2)), B)
    np.testing.assert_allclose(res.states[-1], x_star, rtol=1e-8)
    assert res.output[-1] == pytest.approx(x_star.sum(), rel=1e-8)  # 0.579 (hand: 1.375/2.375)
    assert x_star.sum() == pytest.approx(1.375 / 2.375)


def test_single_rate_with_full_retention_is_the_cerebellar_rule():
    f = np.full(30, 2.5)
    res = D.simulate_adaptation(f, retention=[1.0], rate=[0.35])
    np.testing.assert_allclose(res.output, D.cerebellar_trajectory(0.0, 2.5, 0.35, 29))


def test_spontaneous_recovery_two_rate_but_not_single_rate():
    sr = D.spontaneous_recovery()
    assert sr.rebound > 0.1 and sr.rebound_trial > 5
    out = sr.run.output
    i0 = sr.n_adapt + sr.n_deadapt
    assert out[i0] <= 0 < out[i0 - 1]   # de-adaptation ended at output <= 0
    assert np.all(sr.run.error[i0:] == 0)
    single = D.spontaneous_recovery(retention=[0.996], rate=[0.03])
    assert single.rebound <= 1e-3
    assert single.run.output[single.n_adapt + single.n_deadapt:].max() <= 1e-3


def test_savings_two_rate_but_not_single_rate():
    s = D.savings()
    assert s.trials_relearn < s.trials_naive
    assert s.savings > 0.3
    assert np.all(s.relearn[1:60] > s.naive[1:60])
    single = D.savings(retention=[0.99], rate=[0.05])
    # one state at output 0 is the naive state: no savings (within the one-trial overshoot)
    assert abs(single.trials_relearn - single.trials_naive) <= 1
    np.testing.assert_allclose(single.relearn, single.naive, atol=0.05)


def test_two_rate_params_validation():
    with pytest.raises(ValueError, match="a_fast < a_slow"):
        D.TwoRateParams(a_fast=0.999, a_slow=0.99)
    with pytest.raises(ValueError, match="b_fast > b_slow"):
        D.TwoRateParams(b_fast=0.001)
    with pytest.raises(ValueError, match="a_fast"):
        D.TwoRateParams(a_fast=1.2)
    with pytest.raises(TypeError, match="params"):
        D.simulate_two_rate(np.ones(3), params=(0.9, 0.1, 0.99, 0.01))
    with pytest.raises(ValueError, match="error_clamp"):
        D.simulate_two_rate(np.ones(3), error_clamp=np.ones(2, dtype=bool))
    with pytest.raises(ValueError, match="retention"):
        D.simulate_adaptation(np.ones(3), retention=[1.5], rate=[0.1])


def test_adaptation_divergence_stops():
    res = D.simulate_adaptation(np.ones(500), retention=[1.0], rate=[2.5])
    assert res.diverged and res.diverged_at is not None
    assert res.output.size == res.diverged_at and np.all(np.isfinite(res.output))


# ---------------------------------------------------------------------------------------
# Fits
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0.05, 0.4, 1.0, 1.3, 1.85])
def test_fit_rate_recovers_exact(k):
    traj = D.cerebellar_trajectory(-2.0, 3.0, k, 25)
    fit = D.fit_cerebellar_rate(traj)
    assert fit.k == pytest.approx(k, rel=1e-7)
    assert fit.c_opt == pytest.approx(3.0, abs=1e-6)
    assert fit.regime == D.cerebellar_regime(k)
    fixed = D.fit_cerebellar_rate(traj, c_opt=3.0)
    assert fixed.k == pytest.approx(k, rel=1e-8) and fixed.c_opt == 3.0


def test_fit_rate_with_noise():
    rng = np.random.default_rng(2)
    traj = D.cerebellar_trajectory(0.0, 1.0, 0.15, 60) + 0.01 * rng.standard_normal(61)
    fit = D.fit_cerebellar_rate(traj)
    assert fit.k == pytest.approx(0.15, rel=0.05)
    assert 0.005 < fit.rms < 0.015
    with pytest.raises(ValueError, match="at least 3"):
        D.fit_cerebellar_rate([1.0, 2.0])


def test_fit_two_rate_recovers_parameters():
    true = D.TwoRateParams(a_fast=0.9, b_fast=0.05, a_slow=0.995, b_slow=0.006)
    sr = D.spontaneous_recovery(true.retention, true.rate, n_adapt=150, n_clamp=150)
    run = sr.run
    fit = D.fit_two_rate(run.perturbation, run.output, error_clamp=run.error_clamp)
    for name in ("a_fast", "b_fast", "a_slow", "b_slow"):
        assert getattr(fit.params, name) == pytest.approx(getattr(true, name), rel=1e-4)
    assert fit.rms < 1e-8
    # with measurement noise the estimates stay close
    rng = np.random.default_rng(0)
    noisy = run.output + 0.01 * rng.standard_normal(run.output.size)
    fit2 = D.fit_two_rate(run.perturbation, noisy, error_clamp=run.error_clamp)
    assert fit2.params.a_slow == pytest.approx(0.995, abs=0.002)
    assert fit2.params.b_fast == pytest.approx(0.05, rel=0.25)
    assert fit2.rms == pytest.approx(0.01, rel=0.15)


def test_adaptation_divergence_rule_is_an_absolute_bound():
    # Level Divergence.level(1, 1) = f (floor 0) on max_i |x_i|. One process, A = 1, B = 3,
    # f_n = 0 and x_0 = 1: x_{n+1} = (1 − 3) x_n = (−2)^{n+1}, so f = 100 stops at the first
    # trial with 2^{n+1} > 100: n + 1 = 7.
    from lrctl.training import Divergence

    res = D.simulate_adaptation(np.zeros(50), retention=[1.0], rate=[3.0], initial=[1.0],
                                divergence=Divergence(factor=100.0))
    assert res.diverged and res.diverged_at == 7 and res.states.shape == (7, 1)
    with pytest.raises(TypeError, match="divergence"):
        D.simulate_adaptation(np.ones(3), retention=[1.0], rate=[0.5], divergence=1e6)
    with pytest.raises(ValueError, match="divergence"):
        D.simulate_adaptation(np.ones(3), retention=[1.0], rate=[0.5],
                              divergence=Divergence(reference="best"))
