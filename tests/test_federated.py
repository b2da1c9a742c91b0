"""Tests for lrctl.federated: closed forms against simulation, sympy against numpy, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl import federated as F
from lrctl.objectives import LogisticRegression, QuadraticObjective, load_dataset, minimize


def _random_clients(seed: int, n: int = 3, d: int = 4):
    rng = np.random.default_rng(seed)
    Hs = []
    for _ in range(n):
        A = rng.standard_normal((d, d))
        Hs.append(A @ A.T / d + 0.1 * np.eye(d))
    Hs = np.array(Hs)
    W = rng.standard_normal((n, d))
    p = rng.uniform(0.5, 2.0, n)
    lam_max = max(np.linalg.eigvalsh(H).max() for H in Hs)
    return Hs, W, p / p.sum(), lam_max


# ---------------------------------------------------------------------------------------
# Closed forms by hand
# ---------------------------------------------------------------------------------------


def test_client_factors_by_hand():
    # c = 1 − (1 − η h)^K: 1 − 0.9^5 = 0.40951, 1 − 0.6^5 = 0.92224 (hand arithmetic)
    c = F.fedavg_client_factors([1.0, 4.0], 0.1, 5)
    np.testing.assert_allclose(c, [0.40951, 0.92224], rtol=1e-14)
    # K = 1: c = η h exactly
    np.testing.assert_allclose(F.fedavg_client_factors([1.0, 4.0], 0.1, 1), [0.1, 0.4])


def test_client_factors_accurate_for_tiny_rates():
    # 1 − (1 − x)^K ≈ Kx − K(K−1)x²/2 for x = 1e-12, K = 10 (Taylor series, by hand)
    c = F.fedavg_client_factors(1.0, 1e-12, 10)
    assert c == pytest.approx(10e-12 - 45e-24, rel=1e-12)


def test_fixed_point_two_clients_by_hand():
    # Σ c_i w_i*/Σ c_i with c = (0.40951, 0.92224), w* = (0, 1): 0.92224/1.33175
    fp = F.fedavg_fixed_point([1.0, 4.0], [0.0, 1.0], 0.1, 5)
    assert fp == pytest.approx(0.92224 / 1.33175, rel=1e-13)
    # true optimum Σ h_i w_i*/Σ h_i = 4/5
    assert F.global_optimum([1.0, 4.0], [0.0, 1.0]) == pytest.approx(0.8)


def test_fixed_point_limits():
    h, w = np.array([0.5, 1.0, 3.0]), np.array([-1.0, 2.0, 0.5])
    p = np.array([0.2, 0.5, 0.3])
    # K = 1: FedAvg is GD on the mean loss and lands on the true optimum
    assert F.fedavg_fixed_point(h, w, 0.2, 1, p) == pytest.approx(F.global_optimum(h, w, p))
    # K → ∞ with η h < 1: c_i → 1 and the fixed point is the plain weighted mean of optima
    assert F.fedavg_fixed_point(h, w, 0.2, 10_000, p) == pytest.approx(p @ w, rel=1e-12)
    # η_c → 0 with K fixed: c_i ≈ K η h_i, so the fixed point tends to the true optimum
    small = F.fedavg_fixed_point(h, w, 1e-7, 20, p)
    assert small == pytest.approx(F.global_optimum(h, w, p), abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    h=st.lists(st.floats(0.05, 5.0), min_size=2, max_size=5),
    frac=st.floats(0.01, 0.99),
    K=st.integers(1, 60),
    seed=st.integers(0, 1000),
)
def test_fixed_point_is_a_convex_combination_1d(h, frac, K, seed):
    w = np.random.default_rng(seed).standard_normal(len(h))
    eta = frac * 2.0 / max(h)
    fp = F.fedavg_fixed_point(h, w, eta, K)
    assert w.min() - 1e-12 <= fp <= w.max() + 1e-12
    # K = 1 is always the true optimum
    assert F.fedavg_fixed_point(h, w, eta, 1) == pytest.approx(F.global_optimum(h, w), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 30), frac=st.floats(0.05, 1.9))
def test_matrix_fixed_point_rotates_with_the_basis(seed, K, frac):
    # Clients sharing an eigenbasis Q: the matrix formula must equal Q · (diagonal formula in Q's basis)
    rng = np.random.default_rng(seed)
    n, d = 3, 4
    eig = rng.uniform(0.1, 3.0, (n, d))
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    Hs = np.einsum("ij,nj,kj->nik", Q, eig, Q)
    W = rng.standard_normal((n, d))
    eta = frac / eig.max()
    fp_mat = F.fedavg_fixed_point(Hs, W, eta, K)
    fp_diag = F.fedavg_fixed_point(eig, W @ Q, eta, K)
    np.testing.assert_allclose(fp_mat, Q @ fp_diag, atol=1e-10)


# ---------------------------------------------------------------------------------------
# Closed form against simulation
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("K", [1, 4, 11])
def test_fixed_point_matches_simulation_matrix_clients(seed, K):
    Hs, W, p, lam_max = _random_clients(seed)
    eta = 0.7 / lam_max
    fp = F.fedavg_fixed_point(Hs, W, eta, K, p)
    run = F.simulate_federated(F.quadratic_clients(Hs, W), eta, K, 1.0, rounds=20_000,
                               weights=p, tol=1e-15)
    assert run.converged_at is not None and not run.diverged
    np.testing.assert_allclose(run.final, fp, atol=1e-11)


def test_simulation_matches_the_affine_round_map():
    # Each round is w ← w − η_s C̄ (w − w_fp): simulate it with explicit matrix powers
    Hs, W, p, lam_max = _random_clients(5)
    eta, K, eta_s = 0.5 / lam_max, 6, 1.3
    C = np.array([np.eye(4) - np.linalg.matrix_power(np.eye(4) - eta * H, K) for H in Hs])
    Cbar = np.einsum("n,nij->ij", p, C)
    fp = np.linalg.solve(Cbar, np.einsum("n,nij,nj->i", p, C, W))
    w = np.zeros(4)
    run = F.simulate_federated(F.quadratic_clients(Hs, W), eta, K, eta_s, rounds=25, weights=p)
    for r in range(1, 26):
        w = w - eta_s * Cbar @ (w - fp)
        np.testing.assert_allclose(run.iterates[r], w, atol=1e-12)


def test_server_bound_separates_convergence_from_divergence():
    # Client factors above 1 (K odd, η h > 1) push 2/λ_max(C̄) below 2, so η_s = 2 is unstable
    h, w = np.array([1.9, 0.3]), np.array([1.0, -1.0])
    eta, K = 1.0, 3
    bound = F.fedavg_server_lr_bound(h, eta, K)
    # c = 1 − (1 − η h)^3: 1 + 0.9^3 = 1.729 and 1 − 0.7^3 = 0.657; C̄ is 1-D: 2/1.193
    assert bound == pytest.approx(2.0 / ((1.729 + 0.657) / 2), rel=1e-12)
    clients = F.quadratic_clients(h, w)
    ok = F.simulate_federated(clients, eta, K, 0.98 * bound, rounds=2000, tol=1e-14)
    bad = F.simulate_federated(clients, eta, K, 1.02 * bound, rounds=5000)
    assert not ok.diverged and ok.converged_at is not None
    assert ok.final[0] == pytest.approx(F.fedavg_fixed_point(h, w, eta, K), abs=1e-10)
    assert bad.diverged and bad.diverged_at is not None
    assert np.all(np.isfinite(bad.iterates)) and len(bad.iterates) == bad.diverged_at


def test_server_contraction_matches_measured_error_ratio():
    h, w = np.array([1.0, 4.0]), np.array([0.0, 1.0])
    eta, K, eta_s = 0.1, 5, 1.7
    r = F.fedavg_drift(h, w, eta, K, eta_s)
    run = F.simulate_federated(F.quadratic_clients(h, w), eta, K, eta_s, rounds=30)
    err = np.abs(run.iterates[:, 0] - r.fixed_point)
    ratios = err[1:8] / err[:7]  # before the error reaches round-off
    np.testing.assert_allclose(ratios, r.server_contraction, rtol=1e-9)


def test_small_client_rate_bound_is_gd_bound_over_K_eta():
    # C̄ ≈ K η Σ p_i H_i for small η: 2/λ_max(C̄) ≈ 2/(K η λ_max(H̄))
    Hs, _, p, _ = _random_clients(3)
    eta, K = 1e-6, 8
    Hbar = np.einsum("n,nij->ij", p, Hs)
    expected = 2.0 / (K * eta * np.linalg.eigvalsh(Hbar)[-1])
    assert F.fedavg_server_lr_bound(Hs, eta, K, p) == pytest.approx(expected, rel=1e-4)


# ---------------------------------------------------------------------------------------
# Vectorized drift metrics
# ---------------------------------------------------------------------------------------


def test_drift_grid_matches_pointwise_calls_and_independent_quantities():
    Hs, W, p, lam_max = _random_clients(7)
    etas = np.array([0.2, 0.9, 1.5]) / lam_max
    Ks = np.array([1, 3, 10, 40])
    servers = np.array([0.5, 1.0, 2.5])
    r = F.fedavg_drift(Hs, W, etas[:, None, None], Ks[None, :, None], servers[None, None, :], p)
    assert r.drift.shape == (3, 4, 3) and r.fixed_point.shape == (3, 4, 3, 4)
    w_star = F.global_optimum(Hs, W, p)
    clients = [QuadraticObjective(H, minimizer=w) for H, w in zip(Hs, W, strict=True)]
    for i, eta in enumerate(etas):
        for j, K in enumerate(Ks):
            fp = F.fedavg_fixed_point(Hs, W, eta, int(K), p)
            np.testing.assert_allclose(r.fixed_point[i, j, 0], fp, atol=1e-12)
            # excess loss through the clients' own losses (an independent route)
            f = lambda x: sum(pi * c.loss(x) for pi, c in zip(p, clients, strict=True))  # noqa: E731
            assert r.excess_loss[i, j, 0] == pytest.approx(f(fp) - f(w_star), abs=1e-12)
            C = np.array([np.eye(4) - np.linalg.matrix_power(np.eye(4) - eta * H, int(K))
                          for H in Hs])
            Cbar = np.einsum("n,nij->ij", p, C)
            for k, eta_s in enumerate(servers):
                rho = np.abs(np.linalg.eigvals(np.eye(4) - eta_s * Cbar)).max()
                assert r.server_contraction[i, j, k] == pytest.approx(rho, rel=1e-10)
            assert r.server_lr_bound[i, j, 0] == pytest.approx(
                2.0 / np.linalg.eigvalsh(Cbar)[-1], rel=1e-12)
    np.testing.assert_allclose(r.drift[:, 0, :], 0.0, atol=1e-12)  # K = 1: no drift
    assert np.all(r.server_lr_bound > 1.0)  # plain averaging η_s = 1 is always stable
    np.testing.assert_array_equal(r.server_stable, r.server_contraction < 1)
    spread = np.sqrt(sum(pi * np.sum((w - w_star) ** 2) for pi, w in zip(p, W, strict=True)))
    assert r.spread == pytest.approx(spread)
    np.testing.assert_allclose(r.relative_drift, r.drift / spread)


def test_drift_is_zero_without_heterogeneity():
    # identical client optima: every fixed point is that optimum
    Hs, _, p, lam_max = _random_clients(2)
    W = np.tile([1.0, -2.0, 0.5, 3.0], (3, 1))
    r = F.fedavg_drift(Hs, W, 1.0 / lam_max, np.arange(1, 20), weights=p)
    np.testing.assert_allclose(r.drift, 0.0, atol=1e-12)
    np.testing.assert_allclose(r.relative_drift, 0.0)
    assert r.spread == 0.0


# ---------------------------------------------------------------------------------------
# Local-model prediction of the offset
# ---------------------------------------------------------------------------------------


def test_offset_equals_fixed_point_of_the_local_models():
    Hs, W, p, lam_max = _random_clients(11)
    w0 = np.array([0.3, -0.1, 0.2, 0.0])
    g = np.einsum("nij,nj->ni", Hs, w0 - W)  # gradients of the quadratic clients at w0
    for K in (1, 5, 17):
        off = F.fedavg_offset(Hs, g, 0.8 / lam_max, K, p)
        fp = F.fedavg_fixed_point(Hs, W, 0.8 / lam_max, K, p)
        np.testing.assert_allclose(w0 + off, fp, atol=1e-11)


def test_offset_handles_singular_client_hessians():
    # Client curvature 0 along an axis: S_i = K η there (C_i H_i⁻¹ undefined, but S_i is not).
    # Hand check, 1-D per axis: clients (h, g) = (0, 0.5) and (2, −0.5) along axis 0, η = 0.1,
    # K = 3: c = (0, 1 − 0.8³ = 0.488), s = (0.3, 0.488/2 = 0.244);
    # offset = −(0.3·0.5 + 0.244·(−0.5))/(0 + 0.488) = −0.028/0.488.
    H = np.array([[0.0, 1.0], [2.0, 1.0]])
    g = np.array([[0.5, 0.1], [-0.5, -0.1]])
    off = F.fedavg_offset(H, g, 0.1, 3)
    assert off[0] == pytest.approx(-0.028 / 0.488, rel=1e-12)
    assert off[1] == pytest.approx(0.0, abs=1e-15)  # equal curvatures along axis 1: no drift


# ---------------------------------------------------------------------------------------
# SCAFFOLD
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("K", [1, 3, 9])
def test_scaffold_simulation_follows_its_round_matrix(K):
    Hs, W, p, lam_max = _random_clients(4)
    eta, eta_s = 0.6 / lam_max, 0.9
    M = F.scaffold_round_matrix(Hs, eta, K, eta_s, p)
    w_star = F.global_optimum(Hs, W, p)
    z_star = np.concatenate([w_star, *[H @ (w_star - w) for H, w in zip(Hs, W, strict=True)]])
    z = np.zeros_like(z_star) - z_star  # controls and model start at 0
    run = F.simulate_federated(F.quadratic_clients(Hs, W), eta, K, eta_s, rounds=40,
                               method="scaffold", weights=p)
    for r in range(1, 41):
        z = M @ z
        np.testing.assert_allclose(run.iterates[r], z[:4] + w_star, atol=1e-11)


def test_scaffold_removes_the_drift_on_quadratics():
    Hs, W, p, lam_max = _random_clients(9)
    eta, K = 0.9 / lam_max, 12
    rho = F.scaffold_spectral_radius(Hs, eta, K, 1.0, p)
    assert rho < 1.0
    run = F.simulate_federated(F.quadratic_clients(Hs, W), eta, K, rounds=5000, method="scaffold",
                               weights=p, tol=1e-15)
    w_star = F.global_optimum(Hs, W, p)
    np.testing.assert_allclose(run.final, w_star, atol=1e-10)
    assert np.linalg.norm(F.fedavg_fixed_point(Hs, W, eta, K, p) - w_star) > 1e-2


def test_scaffold_K1_rate_is_gd_rate():
    # K = 1: the model follows GD with rate η_c η_s on the mean loss; the controls add
    # eigenvalue 0 (hand derivation in scaffold_round_matrix's docstring)
    h = np.array([1.0, 4.0])
    assert F.scaffold_spectral_radius(h, 0.1, 1, 1.0) == pytest.approx(1 - 0.1 * 2.5)
    grid = F.scaffold_spectral_radius(h, np.array([0.1, 0.2]), 1, np.array([[1.0], [2.0]]))
    np.testing.assert_allclose(grid, np.abs(1 - np.array([[0.1, 0.2], [0.2, 0.4]]) * 2.5))


def test_scaffold_measured_contraction_matches_spectral_radius():
    h, w = np.array([0.5, 3.0]), np.array([2.0, -1.0])
    eta, K, eta_s = 0.3, 4, 1.0
    rho = F.scaffold_spectral_radius(h, eta, K, eta_s)
    run = F.simulate_federated(F.quadratic_clients(h, w), eta, K, eta_s, rounds=200,
                               method="scaffold")
    e = run.iterates[:, 0] - F.global_optimum(h, w)
    # The state (x, c_1, c_2) is 3-D and M has an eigenvalue 0 and a complex pair μ, μ̄, so
    # after the first round e_{k+2} = a e_{k+1} + b e_k with b = −|μ|² (Prony's method):
    # identify a, b from the simulated iterates alone and read off |μ|.
    A = np.column_stack([e[2:14], e[1:13]])
    (a_, b_), *_ = np.linalg.lstsq(A, e[3:15], rcond=None)
    assert b_ < 0 and a_**2 + 4 * b_ < 0  # a complex pair indeed
    assert np.sqrt(-b_) == pytest.approx(rho, rel=1e-6)


# ---------------------------------------------------------------------------------------
# A real, non-IID data set
# ---------------------------------------------------------------------------------------


def test_real_data_drift_is_predicted_and_scaffold_removes_it():
    X, y = load_dataset("breast_cancer")
    parts = F.label_skew_split(y, 4, 0.5, seed=0, min_size=40)
    l2 = 0.05
    clients = [LogisticRegression(X[q], y[q], l2=l2) for q in parts]
    p = np.array([len(q) for q in parts], float)
    w_star = minimize(LogisticRegression(X, y, l2=l2), gtol=1e-12)
    Hs = np.array([c.hessian(w_star) for c in clients])
    g = np.array([c.grad(w_star) for c in clients])
    eta = 0.1 / max(np.linalg.eigvalsh(H)[-1] for H in Hs)
    K = 5
    pred = F.fedavg_offset(Hs, g, eta, K, p)
    run = F.simulate_federated(clients, eta, K, rounds=3000, weights=p, tol=1e-13,
                               initial=w_star)
    meas = run.final - w_star
    cos = pred @ meas / np.linalg.norm(pred) / np.linalg.norm(meas)
    # the local model is first order in the drift; at this drift (about 0.01, against a spread
    # of about 1) the measured relative error is about 3% and the cosine about 0.9999
    assert cos > 0.995
    assert np.linalg.norm(pred - meas) < 0.06 * np.linalg.norm(meas)
    sc = F.simulate_federated(clients, eta, K, rounds=3000, weights=p, tol=1e-13,
                              method="scaffold")
    assert np.linalg.norm(sc.final - w_star) < 1e-3 * np.linalg.norm(meas)


def test_label_skew_split_is_a_reproducible_partition_with_skew():
    y = np.repeat([0, 1, 2], [300, 200, 100])
    a = F.label_skew_split(y, 5, 0.2, seed=3)
    b = F.label_skew_split(y, 5, 0.2, seed=3)
    for qa, qb in zip(a, b, strict=True):
        np.testing.assert_array_equal(qa, qb)
    allidx = np.sort(np.concatenate(a))
    np.testing.assert_array_equal(allidx, np.arange(y.size))
    assert min(len(q) for q in a) >= 10

    def skew(parts):  # mean over clients of the largest label share
        return np.mean([np.bincount(y[q], minlength=3).max() / len(q) for q in parts])

    assert skew(a) > skew(F.label_skew_split(y, 5, 100.0, seed=3)) + 0.15


# ---------------------------------------------------------------------------------------
# Symbolic vs numeric
# ---------------------------------------------------------------------------------------


def test_derived_fixed_point_matches_numeric():
    f = F.derive_fedavg_fixed_point().lambdify("eta", "K", "lam_1", "lam_2", "w_1", "w_2")
    rng = np.random.default_rng(0)
    for _ in range(10):
        h = rng.uniform(0.1, 3.0, 2)
        w = rng.standard_normal(2)
        eta = rng.uniform(0.05, 1.9) / h.max()
        K = int(rng.integers(1, 25))
        assert float(f(eta, K, *h, *w)) == pytest.approx(F.fedavg_fixed_point(h, w, eta, K),
                                                         rel=1e-10, abs=1e-12)


def test_derived_server_bound_matches_numeric():
    d = F.derive_fedavg_server_stability()
    bound = d.lambdify("c")
    c = F.fedavg_client_factors(np.array([0.5, 2.0]), 0.3, 7).mean()
    assert float(bound(c)) == pytest.approx(F.fedavg_server_lr_bound([0.5, 2.0], 0.3, 7))


# ---------------------------------------------------------------------------------------
# Bad input and divergence
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"curvatures": [1.0, np.nan]}, ValueError, "curvatures must be finite"),
        ({"curvatures": [1.0, np.inf]}, ValueError, "curvatures must be finite"),
        ({"optima": [0.0, np.nan]}, ValueError, "optima must be finite"),
        ({"local_steps": 0}, ValueError, "local_steps must be integers >= 1"),
        ({"local_steps": -3}, ValueError, "local_steps must be integers >= 1"),
        ({"local_steps": 2.5}, TypeError, "local_steps must be integers"),
        ({"local_steps": True}, TypeError, "local_steps"),
        ({"client_lr": 0.0}, ValueError, "client_lr must be finite and > 0"),
        ({"client_lr": 0.5}, ValueError, r"client_lr must be < 2/λ_max = 0.5"),
        ({"curvatures": [1.0, -4.0]}, ValueError, "negative eigenvalue"),
        ({"curvatures": [0.0, 0.0]}, ValueError, "positive definite"),
        ({"optima": [0.0, 1.0, 2.0]}, ValueError, r"optima must have shape \(2,\)"),
        ({"weights": [1.0]}, ValueError, "weights must have one entry per client"),
        ({"weights": [1.0, -1.0]}, ValueError, "weights must be finite and > 0"),
        ({"curvatures": "abc"}, TypeError, "curvatures must be a number"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = {"curvatures": [1.0, 4.0], "optima": [0.0, 1.0], "client_lr": 0.1, "local_steps": 5,
            "weights": None}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        F.fedavg_fixed_point(**args)


def test_bad_matrix_input():
    with pytest.raises(ValueError, match="must be symmetric"):
        F.fedavg_fixed_point(np.array([[[1.0, 1.0], [0.0, 1.0]]] * 2), np.zeros((2, 2)), 0.1, 2)
    with pytest.raises(ValueError, match="must be finite"):
        F.fedavg_fixed_point(np.array([[[1.0, np.nan], [np.nan, 1.0]]] * 2), np.zeros((2, 2)),
                             0.1, 2)
    with pytest.raises(ValueError, match="square"):
        F.fedavg_fixed_point(np.ones((2, 2, 3)), np.zeros((2, 2)), 0.1, 2)
    with pytest.raises(ValueError, match="gradients must have shape"):
        F.fedavg_offset(np.ones((2, 3)), np.ones((2, 2)), 0.1, 2)
    with pytest.raises(ValueError, match="server_lr must be finite and > 0"):
        F.fedavg_drift([1.0, 4.0], [0.0, 1.0], 0.1, 2, server_lr=-1.0)
    with pytest.raises(ValueError, match="local_steps must be integers >= 1"):
        F.fedavg_drift([1.0, 4.0], [0.0, 1.0], 0.1, np.array([1, 0, 3]))


def test_bad_simulation_input_and_split():
    clients = F.quadratic_clients([1.0, 4.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="method must be one of"):
        F.simulate_federated(clients, 0.1, 2, method="fedprox")
    with pytest.raises(ValueError, match="local_steps must be an integer >= 1"):
        F.simulate_federated(clients, 0.1, 0)
    with pytest.raises(ValueError, match="non-empty sequence"):
        F.simulate_federated([], 0.1, 2)
    with pytest.raises(ValueError, match="same dimension"):
        F.simulate_federated([clients[0], QuadraticObjective(np.eye(2))], 0.1, 2)
    with pytest.raises(ValueError, match=r"initial must have shape \(1,\)"):
        F.simulate_federated(clients, 0.1, 2, initial=[0.0, 0.0])
    with pytest.raises(ValueError, match="cannot give 3 clients"):
        F.label_skew_split(np.array([0, 1, 0, 1]), 3, 1.0, min_size=2)
    with pytest.raises(ValueError, match="integer class labels"):
        F.label_skew_split(np.array([0.5, 1.0]), 2)


def test_locally_diverging_clients_stop_the_run():
    # η h = 2.5 > 2: the local steps blow up; the run says where and stores no inf
    run = F.simulate_federated(F.quadratic_clients([1.0, 5.0], [0.0, 1.0]), 0.5, 20, rounds=500)
    assert run.diverged and run.diverged_at is not None and run.converged_at is None
    assert len(run.iterates) == run.diverged_at == len(run.loss)
    assert np.all(np.isfinite(run.iterates)) and np.all(np.isfinite(run.loss))


# -- the audit's defects (shared/audit/reliability.md) ------------------------------------


def test_huge_float_local_steps_are_refused_N2_C9():
    from lrctl import federated as fd

    for call in (lambda K: fd.fedavg_fixed_point([1.0, 2.0], [0.0, 3.0], 0.1, K),
                 lambda K: fd.fedavg_client_factors([1.0, 2.0], 0.1, K),
                 lambda K: fd.fedavg_offset([[1.0], [2.0]], [[1.0], [-1.0]], 0.1, K),
                 lambda K: fd.scaffold_round_matrix([1.0, 2.0], 0.1, K),
                 lambda K: fd.scaffold_spectral_radius([1.0, 2.0], 0.1, K),
                 lambda K: fd.fedavg_drift([1.0, 2.0], [0.0, 3.0], 0.1, K)):
        with pytest.raises(ValueError, match="local_steps"):
            call(1e300)  # was nan / -inf / LinAlgError (int64 overflow)
        with pytest.raises(ValueError, match="local_steps"):
            call(np.array([5.0, 1e300]))
    # K = 2**53 is accepted: every client factor is 1 (the clients reach their optima), so the
    # fixed point is the plain mean of the optima (0 + 3)/2
    assert fd.fedavg_fixed_point([1.0, 2.0], [0.0, 3.0], 0.1, 2**53) == pytest.approx(1.5)


def test_simulate_federated_checks_clients_at_the_door_C1():
    from lrctl import federated as fd

    with pytest.raises(TypeError, match="clients"):
        fd.simulate_federated(np.ones((2, 3)), 0.1, 2)  # was AttributeError
    with pytest.raises(TypeError, match=r"clients\[1\]"):
        fd.simulate_federated([fd.quadratic_clients([1.0], [0.0])[0], "x"], 0.1, 2)


def test_divergence_rule_bounds_the_model_norm():
    # Level Divergence.level(r, r) = f·r (floor 0), r = 1 + ‖w_0‖. One client, one local step,
    # server rate 1: w_r = (1 − η h)^r w_0 exactly (here −2^r·w_0 with η h = 3), so with
    # w_0 = 1 (r = 2) and f = 100 the run stops at the first round with 2^r > 200: r = 8.
    from lrctl.training import Divergence

    clients = F.quadratic_clients([1.0], [0.0])
    run = F.simulate_federated(clients, 3.0, 1, rounds=50, initial=[1.0],
                               divergence=Divergence(factor=100.0))
    assert run.diverged and run.diverged_at == 8 and len(run.iterates) == 8
    with pytest.raises(TypeError, match="divergence"):
        F.simulate_federated(clients, 0.1, 1, divergence=1e8)
    with pytest.raises(ValueError, match="divergence"):
        F.simulate_federated(clients, 0.1, 1, divergence=Divergence(reference="best"))
