"""The public API that DESIGN.md promises analysts, called exactly as documented there.

Each call uses the documented names and argument order; the expected values are hand
derivations given in the comments. If one of these breaks, an analyst's script breaks.
"""

import numpy as np
import pytest


def test_quadratic_api():
    from lrctl import quadratic

    assert quadratic.gd_stability_bound(np.diag([1.0, 4.0])) == pytest.approx(0.5)  # 2/4
    lr, contraction = quadratic.optimal_lr([1.0, 3.0])  # 2/(1+3), (3−1)/(3+1)
    assert (lr, contraction) == pytest.approx((0.5, 0.5))
    assert quadratic.momentum_stability_bound(2.0, 0.5) == pytest.approx(1.5)  # 2(1+0.5)/2
    assert quadratic.range_test_slope(0.1, 1.0, 2.0) == pytest.approx(-0.4)  # −2·0.1·1·2
    assert quadratic.sharpness_from_slope(-0.4, 0.1, 1.0) == pytest.approx(2.0)
    assert quadratic.equivalent_l2(0.01, 0.1) == pytest.approx(0.1)  # λ/η
    np.testing.assert_allclose(quadratic.layerwise_lr_caps([1.0, 4.0], fraction=1.0), [2.0, 0.5])
    for derive in (quadratic.derive_gd_stability, quadratic.derive_range_test_slope,
                   quadratic.derive_weight_decay_equivalence):
        d = derive()
        assert d.result is not None and d.statement is not None and d.steps and d.assumptions


def test_zdomain_api():
    import control

    from lrctl import zdomain

    C = zdomain.pi_controller(0.4, 0.2, dt=1.0)  # C(z) = 0.4 + 0.2 z/(z − 1)
    assert isinstance(C, control.TransferFunction)
    G = control.tf([0.5], [1, -0.9], 1.0)
    coeffs = zdomain.characteristic_polynomial(G, C)
    # (z − 0.9)(z − 1) + 0.5(0.6 z − 0.4) = z² − 1.6 z + 0.7
    np.testing.assert_allclose(coeffs, [1.0, -1.6, 0.7])
    assert bool(zdomain.is_schur_stable(coeffs))  # roots 0.8 ± 0.245i, |z| = 0.837
    region = zdomain.stability_region(G, np.array([0.4, 10.0]), np.array([0.2, 0.2]), dt=1.0)
    assert region.tolist() == [True, False]
    margins = zdomain.stability_margins(G, C)
    assert margins[0] == pytest.approx(7.6)  # 1/|L(−1)|: C(−1) = 0.4 + 0.2·(−1)/(−2) = 0.5, G(−1) = 0.5/(−1.9)
    pi = zdomain.PIController(kp=0.1, ki=0.05, setpoint=1.0, lr0=0.01, lr_min=1e-4, lr_max=1.0,
                              dt=1.0)
    lr = pi.update(2.0)
    assert 1e-4 <= lr <= 1.0 and lr < 0.01  # measurement above the setpoint: the rate drops


def test_continual_cerebellar_and_schedules_api():
    from lrctl import cerebellar, continual, schedules

    traj = cerebellar.cerebellar_trajectory(1.0, 0.0, 0.5, 3)  # C_n = 0.5^n
    np.testing.assert_allclose(traj, [1.0, 0.5, 0.25, 0.125])
    res = continual.simulate_stability_plasticity(schedules.constant(0.1), 10.0, 1.0, 1.0)
    # closed forms: P = 1 − exp(−a∫η) = 1 − e^{−1}, R = exp(−b∫η²) = e^{−0.1}
    assert res.plasticity[-1] == pytest.approx(1 - np.exp(-1.0), rel=1e-6)
    assert res.retention[-1] == pytest.approx(np.exp(-0.1), rel=1e-6)
    assert schedules.linear_decay(1.0, 10)(5) == pytest.approx(0.5)
    assert schedules.cosine(1.0, 10)(5) == pytest.approx(0.5)  # ½(1 + cos π/2)
    assert schedules.cosine_warm_restarts(1.0, 10)(10) == pytest.approx(1.0)  # restart
    joined = schedules.join([schedules.constant(1.0), schedules.constant(0.1)], [5])
    np.testing.assert_allclose(joined(np.array([0, 4, 5, 9])), [1.0, 1.0, 0.1, 0.1])


def test_search_curvature_games_federated_api():
    from lrctl import curvature, federated, games, search

    # log-uniform over [1e-4, 1], target [1e-3, 1e-2]: one decade of four, 1 − (3/4)^n
    assert search.hit_probability((1e-3, 1e-2), (1e-4, 1.0), 2, scale="log") == pytest.approx(
        1 - 0.75**2)
    H = np.diag([1.0, 5.0, 2.0])
    top = curvature.top_eigenvalue(lambda v: H @ v, 3)
    assert top.value == pytest.approx(5.0) and top.n_products > 0
    # bilinear x·y, simultaneous GDA: ρ = √(1 + η_x η_y σ²) = √(1 + 0.01)
    assert games.gda_spectral_radius(np.eye(1), 0.1, 0.1) == pytest.approx(np.sqrt(1.01))
    # one client: the fixed point is its optimum
    fp = federated.fedavg_fixed_point([1.0, 2.0], [0.0, 3.0], 0.1, 1)
    # c_i = 1 − (1 − η h_i)^K = η h_i for K = 1 ⇒ Σ h_i w_i / Σ h_i = 6/3 = 2
    assert np.asarray(fp).item() == pytest.approx(2.0)


def test_objectives_and_training_api():
    from lrctl import objectives, training

    q = objectives.QuadraticObjective(np.diag([1.0, 4.0]))
    assert isinstance(q, objectives.Objective)
    r = training.run(q, training.Constant(0.6), 40, theta0=[1.0, 1.0])
    assert isinstance(r, training.Run) and r.diverged and r.diverged_at == 21  # |1 − 2.4| > 1
    rule = training.Divergence(factor=1e6, loss_floor=0.0)
    assert training.run(q, training.Constant(0.3), 40, theta0=[1.0, 1.0], monitor=rule).steps == 40
    from lrctl import schedules

    policies = [training.Scheduled(schedules.constant(0.1)),
                training.ExponentialRamp(1e-3, 1e-1, 10),
                training.Hypergradient(0.01, 1e-3, rule="log")]
    for p in policies:
        assert training.run(q, p, 10, theta0=[1.0, 1.0]).lrs.shape == (10,)
    from lrctl.zdomain import PIController

    ctl = PIController(0.2, 0.3, setpoint=0.8, lr0=0.05, lr_min=1e-3, lr_max=1.0)
    fb = training.Feedback(ctl, measure=training.Sharpness(), every=1)
    assert training.run(q, fb, 60, theta0=[1.0, 1.0]).lrs[-1] == pytest.approx(0.2, rel=1e-4)  # 0.8/4
