"""Tests for lrctl.games: closed forms vs eigenvalues vs simulation vs sympy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrctl import games
from lrctl.games import (
    CONVERGES,
    CYCLES,
    DIVERGES,
    METHODS,
    DiracGAN,
    QuadraticGame,
)

MOMENTUM_METHODS = ("simultaneous", "alternating")


def _rho(M):
    return float(np.abs(np.linalg.eigvals(M)).max())


def hand_block(method, a, b, beta=0.0):
    """The update matrix of one step on the 1-D game σxy, written out by hand from the update
    rules (a = η_xσ, b = η_yσ); state (u, v) or (u, v, u_prev, v_prev)."""
    if method == "simultaneous" and beta == 0:
        return np.array([[1, -a], [b, 1]])
    if method == "alternating" and beta == 0:
        # u' = u − a v;  v' = v + b u' = b u + (1 − ab) v
        return np.array([[1, -a], [b, 1 - a * b]])
    if method == "extragradient":
        # half step u½ = u − a v, v½ = v + b u; then u' = u − a v½, v' = v + b u½
        return np.array([[1 - a * b, -a], [b, 1 - a * b]])
    if method == "optimistic":
        # u' = u − 2a v + a v_prev;  v' = v + 2b u − b u_prev
        return np.array([[1, -2 * a, 0, a], [2 * b, 1, -b, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    if method == "simultaneous":
        return np.array([[1 + beta, -a, -beta, 0], [b, 1 + beta, 0, -beta],
                         [1, 0, 0, 0], [0, 1, 0, 0]])
    # alternating with momentum: u' = (1+β)u − a v − β u_p; v' = (1+β)v + b u' − β v_p
    return np.array([[1 + beta, -a, -beta, 0],
                     [b * (1 + beta), 1 + beta - a * b, -b * beta, -beta],
                     [1, 0, 0, 0], [0, 1, 0, 0]])


def random_game(rng, n=4, m=3, curved=True):
    A = rng.standard_normal((n, m))
    if not curved:
        return QuadraticGame(A=A)
    P = rng.standard_normal((n, n))
    Q = rng.standard_normal((m, m))
    return QuadraticGame(A=A, P=0.1 * P @ P.T, Q=0.1 * Q @ Q.T)


# ---------------------------------------------------------------------------------------
# Closed forms of the 1-D blocks
# ---------------------------------------------------------------------------------------


@given(sigma=st.floats(0.0, 3.0), ex=st.floats(1e-3, 5.0), ey=st.floats(1e-3, 5.0),
       method=st.sampled_from(METHODS))
def test_block_radius_matches_eigenvalues_of_hand_written_matrix(sigma, ex, ey, method):
    got = games.block_spectral_radius(sigma, ex, ey, method=method)
    want = _rho(hand_block(method, ex * sigma, ey * sigma))
    assert got == pytest.approx(want, rel=1e-7, abs=1e-9)


@given(sigma=st.floats(0.05, 2.0), ex=st.floats(1e-2, 3.0), ey=st.floats(1e-2, 3.0),
       beta=st.floats(-0.95, 0.95), method=st.sampled_from(MOMENTUM_METHODS))
def test_block_radius_with_momentum_matches_hand_written_matrix(sigma, ex, ey, beta, method):
    got = games.block_spectral_radius(sigma, ex, ey, method=method, momentum=beta)
    want = _rho(hand_block(method, ex * sigma, ey * sigma, beta))
    assert got == pytest.approx(want, rel=1e-6, abs=1e-8)


def test_block_reference_values():
    # Hand derivations (p = η_xη_yσ²):
    # simultaneous √(1+p): p = 3 → 2.
    assert games.block_spectral_radius(1.0, 1.0, 3.0) == pytest.approx(2.0)
    # alternating p = 5: (p − 2 + √(p² − 4p))/2 = (3 + √5)/2 (the golden ratio squared).
    assert games.block_spectral_radius(1.0, 5.0, 1.0, method="alternating") == pytest.approx(
        (3 + np.sqrt(5)) / 2)
    # extragradient at p = 1/2: √(1 − ½ + ¼) = √3/2, its minimum over p.
    assert games.block_spectral_radius(1.0, 0.5, 1.0, method="extragradient") == pytest.approx(
        np.sqrt(3) / 2)
    # optimistic at p = 1/4: roots (1 + i)/2 (double), modulus 1/√2.
    assert games.block_spectral_radius(2.0, 0.25, 0.25, method="optimistic") == pytest.approx(
        1 / np.sqrt(2))
    # σ = 0: nothing moves, ρ = 1 for every method.
    for m in METHODS:
        assert games.block_spectral_radius(0.0, 1.0, 1.0, method=m) == pytest.approx(1.0)


@pytest.mark.parametrize("method,bound", [("alternating", 4.0), ("extragradient", 1.0),
                                          ("optimistic", 1.0 / 3.0)])
def test_stability_bounds_in_p(method, bound):
    """Alternating cycles below p = 4, extragradient converges below 1, optimistic below 1/3
    (the derivations' bounds), and all three diverge above."""
    p = np.array([0.01, 0.5 * bound, 0.999 * bound, 1.001 * bound, 2 * bound])
    rho = games.block_spectral_radius(1.0, np.sqrt(p), np.sqrt(p), method=method)
    below = games.CYCLES if method == "alternating" else games.CONVERGES
    assert list(games.regime(rho[:3])) == [below] * 3
    assert list(games.regime(rho[3:])) == [DIVERGES] * 2


@given(ex=st.floats(1e-4, 10.0), ey=st.floats(1e-4, 10.0), sigma=st.floats(1e-3, 5.0))
def test_simultaneous_gda_diverges_for_every_positive_step(ex, ey, sigma):
    assert games.block_spectral_radius(sigma, ex, ey) > 1.0


@given(eta=st.floats(1e-3, 5.0), beta=st.floats(-0.99, 0.99))
def test_momentum_never_makes_simultaneous_gda_converge(eta, beta):
    # Gidel et al. 2019: simultaneous GDA with momentum has ρ ≥ 1 on bilinear games.
    assert games.block_spectral_radius(1.0, eta, eta, method="simultaneous",
                                       momentum=beta) >= 1.0 - 1e-9


def test_negative_momentum_makes_alternating_gda_converge():
    # Gidel et al. 2019: alternating GDA with β < 0 converges for suitable steps; a point found
    # on the (η, β) grid of the analysis, checked against the hand-written 4×4 matrix.
    rho = games.block_spectral_radius(1.0, 1.5, 1.5, method="alternating", momentum=-0.15)
    assert rho < 0.7
    assert rho == pytest.approx(_rho(hand_block("alternating", 1.5, 1.5, -0.15)))


def test_block_radius_broadcasts():
    out = games.block_spectral_radius(np.array([0.5, 1.0])[:, None, None], np.ones((1, 3, 1)),
                                      np.ones((1, 1, 4)), method="optimistic")
    assert out.shape == (2, 3, 4)
    out = games.block_spectral_radius(1.0, np.ones(5), 1.0, method="alternating",
                                      momentum=np.linspace(-0.5, 0.5, 5))
    assert out.shape == (5,)


# ---------------------------------------------------------------------------------------
# Full update matrices
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 5)])
@pytest.mark.parametrize("method", METHODS)
def test_bilinear_closed_form_equals_full_matrix_eigenvalues(rng, shape, method):
    A = rng.standard_normal(shape)
    game = QuadraticGame(A=A)
    ex = np.geomspace(0.01, 3, 9)[None, :]
    ey = np.geomspace(0.01, 3, 7)[:, None]
    betas = (0.0, -0.4, 0.3) if method in MOMENTUM_METHODS else (0.0,)
    for beta in betas:
        closed = games.bilinear_spectral_radius(A, ex, ey, method=method, momentum=beta)
        eig = games.game_spectral_radius(game, ex, ey, method=method, momentum=beta)
        assert closed.shape == (7, 9)
        np.testing.assert_allclose(closed, eig, rtol=1e-10)


def test_gda_spectral_radius_against_numpy_on_explicit_matrix(rng):
    """gda_spectral_radius against np.linalg.eigvals of the update matrix written in full:
    simultaneous [[I, −η_xA], [η_yAᵀ, I]], alternating [[I, −η_xA], [η_yAᵀ, I − η_xη_yAᵀA]]."""
    A = rng.standard_normal((3, 2))
    ex, ey = 0.4, 0.9
    I3, I2 = np.eye(3), np.eye(2)
    sim = np.block([[I3, -ex * A], [ey * A.T, I2]])
    alt = np.block([[I3, -ex * A], [ey * A.T, I2 - ex * ey * A.T @ A]])
    assert games.gda_spectral_radius(A, ex, ey) == pytest.approx(_rho(sim), rel=1e-12)
    assert games.gda_spectral_radius(A, ex, ey, alternating=True) == pytest.approx(
        _rho(alt), rel=1e-9)
    per = games.gda_spectral_radius(A, ex, ey, per_singular_value=True)
    sv = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(per, np.sqrt(1 + ex * ey * sv**2))


def test_update_matrix_matches_gradient_simulation(rng):
    """The update matrix applied t times equals t steps of the gradient-oracle simulation."""
    game = random_game(rng)
    x0, y0 = rng.standard_normal(4), rng.standard_normal(3)
    for method in METHODS:
        for beta in ((0.0, -0.4, 0.5) if method in MOMENTUM_METHODS else (0.0,)):
            run = games.simulate(game, x0, y0, 0.3, 0.2, method=method, momentum=beta, steps=6)
            M = games.update_matrix(game, 0.3, 0.2, method=method, momentum=beta)
            s = np.concatenate([x0, y0])
            if M.shape[0] == 14:  # (z, z_prev) with z_prev = z_0
                s = np.concatenate([s, s])
            for t in range(1, 7):
                s = M @ s
                np.testing.assert_allclose(s[:7], np.concatenate([run.x[t], run.y[t]]),
                                           rtol=1e-12, atol=1e-12)


def test_update_matrix_shapes_and_area_preservation(rng):
    game = random_game(rng, 2, 3, curved=False)
    M = games.update_matrix(game, np.full((4, 1), 0.3), np.linspace(0.1, 1, 5),
                            method="alternating")
    assert M.shape == (4, 5, 5, 5)
    # Alternating GDA on a bilinear game is symplectic-like: det M = 1.
    np.testing.assert_allclose(np.linalg.det(M), 1.0, rtol=1e-10)
    assert games.update_matrix(game, 0.3, 0.3, method="optimistic").shape == (10, 10)
    assert games.update_matrix(game, 0.3, 0.3, method="simultaneous", momentum=0.2).shape == (10, 10)


def test_game_spectral_radius_chunks_give_same_answer(rng, monkeypatch):
    game = random_game(rng)
    ex = np.geomspace(0.01, 2, 13)[None, :]
    ey = np.geomspace(0.01, 2, 11)[:, None]
    whole = games.game_spectral_radius(game, ex, ey, method="optimistic")
    monkeypatch.setattr(games, "_EIG_CHUNK_ENTRIES", 500)  # forces many chunks
    chunked = games.game_spectral_radius(game, ex, ey, method="optimistic")
    np.testing.assert_array_equal(whole, chunked)


def test_quadratic_game_reference_value():
    # f = ½·½x² + xy − ½·½y², η = ½: I − ηV with V = [[½, 1], [−1, ½]] has eigenvalues
    # 1 − ½(½ ± i) = ¾ ∓ ½i, modulus √(9/16 + 1/4) = √13/4 (hand computation).
    game = QuadraticGame(A=1.0, P=0.5, Q=0.5)
    assert games.game_spectral_radius(game, 0.5, 0.5) == pytest.approx(np.sqrt(13) / 4)


def test_strongly_monotone_game_converges_for_small_steps(rng):
    # With P, Q ≻ 0 the symmetric part of D^{1/2} V D^{1/2} is positive definite, so the
    # eigenvalues of DV have positive real parts and ρ(I − DV) < 1 for small enough steps.
    game = random_game(rng)
    P = game.P + 0.05 * np.eye(4)
    Q = game.Q + 0.05 * np.eye(3)
    game = QuadraticGame(A=game.A, P=P, Q=Q)
    ex, ey = np.meshgrid(np.geomspace(1e-4, 1e-2, 6), np.geomspace(1e-4, 1e-2, 6))
    assert np.all(games.game_spectral_radius(game, ex, ey) < 1)


# ---------------------------------------------------------------------------------------
# The conserved quantity of alternating GDA
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ex,ey", [(0.7, 1.3), (1.5, 2.6), (0.05, 3.0)])
def test_alternating_energy_conserved_over_long_runs(rng, ex, ey):
    A = rng.standard_normal((3, 2))
    A /= np.linalg.svd(A, compute_uv=False)[0]  # σ_max = 1, so p_max = η_xη_y < 4
    run = games.simulate(QuadraticGame(A=A), rng.standard_normal(3), rng.standard_normal(2),
                         ex, ey, method="alternating", steps=20000)
    E = games.alternating_energy(A, run.x, run.y, ex, ey)
    assert not run.diverged
    assert np.max(np.abs(E - E[0])) / abs(E[0]) < 1e-10
    # ‖z‖² is not conserved (it oscillates), so the test above is not vacuous.
    assert np.ptp(run.norm**2) / run.norm[0] ** 2 > 1e-2
    # Bounded orbit: ‖z‖² ≤ E(z_0)/λ_min(W).
    lam_min = np.linalg.eigvalsh(games.alternating_energy_form(A, ex, ey))[0]
    assert lam_min > 0
    assert run.norm.max() ** 2 <= E[0] / lam_min * (1 + 1e-9)


def test_energy_form_positive_definite_iff_p_below_4():
    for p, pd in ((3.9, True), (4.1, False)):
        W = games.alternating_energy_form(1.0, np.sqrt(p), np.sqrt(p))
        assert (np.linalg.eigvalsh(W)[0] > 0) == pd


def test_energy_form_and_energy_agree(rng):
    A = rng.standard_normal((2, 3))
    x, y = rng.standard_normal((5, 2)), rng.standard_normal((5, 3))
    W = games.alternating_energy_form(A, 0.3, 0.8)
    z = np.concatenate([x, y], axis=1)
    np.testing.assert_allclose(games.alternating_energy(A, x, y, 0.3, 0.8),
                               np.einsum("ti,ij,tj->t", z, W, z))


def test_alternating_invariant_derivation_matches_numeric():
    d = games.derive_alternating_invariant()
    f = d.lambdify("u", "v", "eta_x", "eta_y", "sigma")
    for u, v, ex, ey, s in [(1.0, 0.5, 0.3, 0.7, 1.2), (-2.0, 1.0, 1.1, 0.4, 0.5)]:
        assert f(u, v, ex, ey, s) == pytest.approx(
            games.alternating_energy(np.array([[s]]), np.array([u]), np.array([v]), ex, ey))
    assert d.to_dict()["steps"]


# ---------------------------------------------------------------------------------------
# Derivations
# ---------------------------------------------------------------------------------------


def test_simultaneous_derivation_matches_closed_form():
    f = games.derive_bilinear_spectral_radius("simultaneous").lambdify("eta_x", "eta_y", "sigma")
    ex, ey, s = np.array([0.1, 1.0, 3.0]), np.array([0.2, 0.5, 2.0]), np.array([1.0, 2.0, 0.3])
    np.testing.assert_allclose(f(ex, ey, s), games.block_spectral_radius(s, ex, ey))


@pytest.mark.parametrize("method", ["alternating", "extragradient", "optimistic"])
def test_derived_bounds_are_where_the_closed_form_crosses_one(method):
    d = games.derive_bilinear_spectral_radius(method)
    sigma, ey = 1.7, 0.9
    bound = float(d.lambdify("eta_x", "eta_y", "sigma")(1.0, ey, sigma))  # bound on η_xη_y
    ex_edge = bound / ey
    below = games.block_spectral_radius(sigma, 0.99 * ex_edge, ey, method=method)
    above = games.block_spectral_radius(sigma, 1.01 * ex_edge, ey, method=method)
    assert below <= 1.0 + 1e-12 and above > 1.0
    assert d.to_dict()["statement_mathml"].startswith("<math")


def test_optimistic_bound_is_one_third():
    # p < 1/3 (derived in derive_bilinear_spectral_radius("optimistic")).
    d = games.derive_bilinear_spectral_radius("optimistic")
    assert float(d.lambdify("eta_x", "eta_y", "sigma")(1.0, 1.0, 1.0)) == pytest.approx(1 / 3)


# ---------------------------------------------------------------------------------------
# Regimes and simulation
# ---------------------------------------------------------------------------------------


def test_regime_codes():
    assert list(games.regime([0.2, 1 - 1e-3, 1.0, 1 + 1e-8, 1.01])) == [
        CONVERGES, CONVERGES, CYCLES, CYCLES, DIVERGES]
    assert games.regime(1.0 + 1e-3, tol=1e-2) == CYCLES
    assert games.REGIMES[games.regime(0.5)] == "converges"


def test_regime_map_shapes_and_boundary():
    lrs = np.geomspace(0.05, 5, 17)
    rm = games.regime_map(QuadraticGame(A=np.diag([2.0, 1.0])), lrs, lrs[:9],
                          method="extragradient")
    assert rm.spectral_radius.shape == (9, 17)
    P = lrs[None, :] * lrs[:9, None] * 4.0  # σ_max² = 4
    assert np.all(rm.regime[P < 0.999] == CONVERGES)
    assert np.all(rm.regime[P > 1.001] == DIVERGES)
    assert 0 < rm.fraction(CONVERGES) < 1


def test_momentum_regime_map_agrees_with_block_radius():
    lrs, betas = np.geomspace(0.1, 3, 7), np.linspace(-0.8, 0.8, 5)
    rm = games.momentum_regime_map(QuadraticGame(A=1.0), lrs, betas)
    want = games.block_spectral_radius(1.0, lrs[None, :], lrs[None, :], method="alternating",
                                       momentum=betas[:, None])
    np.testing.assert_allclose(rm.spectral_radius, want)
    assert rm.x_name == "lr" and rm.y_name == "momentum"


def test_simulate_regimes_agree_with_prediction_where_decidable():
    game = QuadraticGame(A=np.diag([1.0, 0.4]))
    lrs = np.geomspace(0.05, 5, 12)
    ex, ey = np.meshgrid(lrs, lrs)
    steps = 600
    for method in ("simultaneous", "extragradient", "optimistic"):
        pred = games.regime_map(game, lrs, lrs, method=method)
        sim = games.simulate_regimes(game, ex, ey, method=method, steps=steps, seed=4)
        ok = np.abs(np.log(pred.spectral_radius)) * steps / 2 > 3
        assert ok.sum() > 40
        np.testing.assert_array_equal(sim.regime[ok], pred.regime[ok])
        assert np.all(np.isfinite(sim.peak_ratio))
        assert all(k is None for k in sim.diverged_at[~sim.diverged])
        assert all(isinstance(k, int) and k > 0 for k in sim.diverged_at[sim.diverged])


def test_simulate_regimes_is_deterministic_in_seed():
    game = QuadraticGame(A=np.eye(2))
    a = games.simulate_regimes(game, [0.3, 3.0], 1.0, method="optimistic", steps=50, seed=7)
    b = games.simulate_regimes(game, [0.3, 3.0], 1.0, method="optimistic", steps=50, seed=7)
    np.testing.assert_array_equal(a.peak_ratio, b.peak_ratio)


def test_simulate_stops_on_divergence_without_inf():
    run = games.simulate(QuadraticGame(A=1.0), [1.0], [1.0], 2.0, 2.0, steps=10_000)
    assert run.diverged and run.diverged_at is not None
    assert run.steps == run.diverged_at - 1
    assert np.all(np.isfinite(run.x)) and np.all(np.isfinite(run.y))
    # The growth rate is the predicted √(1 + 4) until the stop.
    assert run.rate() == pytest.approx(np.sqrt(5.0), rel=1e-9)
    calm = games.simulate(QuadraticGame(A=1.0), [1.0], [1.0], 0.2, 0.2, method="extragradient",
                          steps=100)
    assert not calm.diverged and calm.diverged_at is None and calm.steps == 100


@pytest.mark.parametrize("method", METHODS)
def test_simulated_local_rate_equals_spectral_radius(rng, method):
    game = random_game(rng)
    pred = games.game_spectral_radius(game, 0.2, 0.3, method=method)
    run = games.simulate(game, rng.standard_normal(4), rng.standard_normal(3), 0.2, 0.3,
                         method=method, steps=400)
    assert run.local_rate(band=(1e-12, 1e5)) == pytest.approx(pred, rel=2e-3)


# ---------------------------------------------------------------------------------------
# The Dirac-GAN
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [0.0, 0.7])
def test_dirac_gan_linearization_is_the_jacobian(gamma):
    """Central finite differences of the Dirac-GAN's vector field (∇_θL, −∇_ψL) at the
    equilibrium equal the linearization's V = [[P, A], [−Aᵀ, Q]]."""
    gan = DiracGAN(gamma=gamma)
    h = 1e-6

    def field(z):
        gx, gy = gan.grad(z[:1], z[1:])
        return np.concatenate([gx, -gy])

    J = np.column_stack([(field(h * e) - field(-h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(J, gan.linearization().vector_field, atol=1e-8)


def test_dirac_gan_gradient_matches_finite_differences_of_value():
    gan = DiracGAN(gamma=0.3)
    x, y, h = np.array([0.7]), np.array([-1.2]), 1e-6
    gx, gy = gan.grad(x, y)
    assert gx[0] == pytest.approx((gan.value(x + h, y) - gan.value(x - h, y)) / (2 * h), rel=1e-6)
    assert gy[0] == pytest.approx((gan.value(x, y + h) - gan.value(x, y - h)) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_dirac_gan_local_rate_predicted_by_linearization(method):
    gan = DiracGAN()
    eta = 0.8
    pred = games.block_spectral_radius(0.5, eta, eta, method=method)  # σ = f'(0) = ½
    run = games.simulate(gan, [1e-8], [0.0], eta, eta, method=method, steps=3000)
    assert run.local_rate(band=(1e-6, 1e6)) == pytest.approx(pred, rel=1e-4)


def test_dirac_gan_r1_converges_with_simultaneous_gda():
    # Mescheder et al. 2018: with the R1 penalty, simultaneous GD converges locally.
    gan = DiracGAN(gamma=0.5)  # (γ = 1 would make the linearization defective: a Jordan block)
    pred = games.game_spectral_radius(gan.linearization(), 0.5, 0.5)
    assert pred < 1
    run = games.simulate(gan, [0.1], [0.1], 0.5, 0.5, steps=500)
    assert run.norm[-1] < 1e-6 * run.norm[0]
    assert run.rate(250, 501) == pytest.approx(pred, rel=1e-3)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("call,exc,match", [
    (lambda: QuadraticGame(A=[[np.nan, 1.0]]), ValueError, "A must be finite"),
    (lambda: QuadraticGame(A=[[1.0, np.inf]]), ValueError, "A must be finite"),
    (lambda: QuadraticGame(A=np.ones(3)), ValueError, "2-D"),
    (lambda: QuadraticGame(A=np.ones((2, 2)), P=[[1.0, 2.0], [0.0, 1.0]]), ValueError, "symmetric"),
    (lambda: QuadraticGame(A=np.ones((2, 2)), Q=np.eye(3)), ValueError, "shape"),
    (lambda: QuadraticGame(A="x"), TypeError, "A must be a number"),
    (lambda: games.gda_spectral_radius([[1.0]], -0.1, 1.0), ValueError, "lr_x"),
    (lambda: games.gda_spectral_radius([[1.0]], 0.1, np.nan), ValueError, "lr_y"),
    (lambda: games.gda_spectral_radius([[np.inf]], 0.1, 0.1), ValueError, "A must be finite"),
    (lambda: games.gda_spectral_radius([[1.0]], 0.1, 0.1, alternating="yes"), TypeError,
     "alternating"),
    (lambda: games.gda_spectral_radius([[1.0]], [0.1, 0.2], [0.1, 0.2, 0.3]), ValueError,
     "broadcast"),
    (lambda: games.bilinear_spectral_radius([[1.0]], 0.1, 0.1, method="adam"), ValueError,
     "method"),
    (lambda: games.bilinear_spectral_radius([[1.0]], 0.1, 0.1, method="extragradient",
                                            momentum=0.1), ValueError, "momentum"),
    (lambda: games.block_spectral_radius(1.0, 0.1, 0.1, momentum=1.0), ValueError, "momentum"),
    (lambda: games.block_spectral_radius(-1.0, 0.1, 0.1), ValueError, "sigma"),
    (lambda: games.regime(0.5, tol=-1.0), ValueError, "tol"),
    (lambda: games.regime(np.nan), ValueError, "spectral_radius"),
    (lambda: DiracGAN(gamma=-0.1), ValueError, "gamma"),
    (lambda: DiracGAN(gamma=np.inf), ValueError, "gamma"),
    (lambda: games.simulate(QuadraticGame(A=1.0), [1.0], [0.0], 0.1, 0.1, steps=0), ValueError,
     "steps"),
    (lambda: games.simulate(QuadraticGame(A=1.0), [1.0, 2.0], [0.0], 0.1, 0.1), ValueError,
     "x0"),
    (lambda: games.simulate(QuadraticGame(A=1.0), [np.nan], [0.0], 0.1, 0.1), ValueError,
     "x0"),
    (lambda: games.simulate(object(), [1.0], [0.0], 0.1, 0.1), TypeError, "game"),
    (lambda: games.simulate_regimes(QuadraticGame(A=1.0), 0.1, 0.1, x0=[1.0]), ValueError,
     "both"),
    (lambda: games.simulate_regimes(QuadraticGame(A=1.0), 0.1, 0.1, x0=[0.0], y0=[0.0]),
     ValueError, "equilibrium"),
    (lambda: games.alternating_energy([[1.0]], [1.0, 2.0], [1.0], 0.1, 0.1), ValueError,
     "axis of length"),
    (lambda: games.alternating_energy([[1.0]], [1.0], [1.0], 0.0, 0.1), ValueError, "lr_x"),
    (lambda: games.regime_map(QuadraticGame(A=1.0), [[0.1]], [0.1]), ValueError, "1-D"),
    (lambda: games.update_matrix(np.eye(2), 0.1, 0.1), TypeError, "QuadraticGame"),
    (lambda: games.derive_bilinear_spectral_radius("sgd"), ValueError, "method"),
])
def test_bad_input_is_refused_with_a_clear_message(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_local_rate_needs_enough_steps():
    run = games.simulate(QuadraticGame(A=1.0), [1.0], [0.0], 5.0, 5.0, steps=100)
    with pytest.raises(ValueError, match="steps stay within"):
        run.local_rate(band=(1e-3, 1e2))
    with pytest.raises(ValueError, match="band"):
        run.local_rate(band=(2.0, 3.0))


# -- the audit's defects (shared/audit/reliability.md) ------------------------------------


def test_game_oracles_validate_their_inputs_N4_C5():
    from lrctl.games import DiracGAN, QuadraticGame

    gan = DiracGAN()
    game = QuadraticGame.bilinear(np.eye(2))
    for fn in (gan.grad, gan.grad_x, gan.grad_y, gan.value):
        with pytest.raises(ValueError, match="x"):
            fn(np.array([np.nan]), np.array([1.0]))  # was (nan, nan)
        with pytest.raises(TypeError, match="y"):
            fn(np.array([1.0]), "ab")  # was UFuncTypeError
        with pytest.raises(ValueError, match="x"):
            fn(np.array([1.0, 2.0]), np.array([1.0]))  # a DiracGAN player is 1-D
    for fn in (game.grad, game.grad_x, game.grad_y, game.value):
        with pytest.raises(ValueError, match="x"):
            fn(np.array([np.nan, 0.0]), np.zeros(2))
        with pytest.raises(ValueError, match="y"):
            fn(np.zeros(2), np.zeros(3))
    # a scalar is a 1-vector for a 1-D game: L = f(θψ) + f(0), f(t) = −log(1 + e^{−t}), θψ = ¼
    assert gan.value(0.5, 0.5) == pytest.approx(-np.logaddexp(0.0, -0.25) - np.log(2.0))
    # batched: a (3, 2) batch of x against one y, f = xᵀy for A = I
    np.testing.assert_allclose(game.value(np.ones((3, 2)), np.array([1.0, 2.0])), [3.0, 3.0, 3.0])


def test_local_rate_band_and_regime_fraction_are_checked_C6_N16():
    from lrctl.games import QuadraticGame, regime_map, simulate

    run = simulate(QuadraticGame(A=1.0), [1e-3], [0.0], 0.5, 0.5, steps=200)
    for bad in ((), {}, (1e-8,), "ab", 0.5):
        with pytest.raises(TypeError, match="band"):
            run.local_rate(band=bad)
    rm = regime_map(QuadraticGame(A=1.0), [0.1, 1.0], [0.1, 1.0])
    assert sum(rm.fraction(c) for c in (0, 1, 2)) == pytest.approx(1.0)
    for bad in (np.nan, 3, -1, True, 0.5):
        with pytest.raises((TypeError, ValueError), match="code"):
            rm.fraction(bad)


def test_huge_couplings_are_finite_N7():
    from lrctl.games import gda_spectral_radius

    # ρ = √(1 + η_xη_yσ²) = hypot(1, 0.1·1e300) = 1e299: finite, no longer inf
    assert gda_spectral_radius(np.eye(1) * 1e300, 0.1, 0.1) == pytest.approx(1e299)


def test_divergence_rule_sets_the_level_of_both_simulations():
    # The level is Divergence.level(r, r) = f·r (floor 0) with r = max(1, ‖z_0‖) for simulate
    # and r = ‖z_0‖ for simulate_regimes. Independent route: a run with a huge factor records
    # the norms; the rule with f = 50 must stop at the first step whose norm exceeds 50·r.
    from lrctl.training import Divergence

    game = QuadraticGame(A=1.0)
    z0 = (3.0, 4.0)  # ‖z_0‖ = 5
    long = games.simulate(game, [z0[0]], [z0[1]], 0.5, 0.5, steps=200,
                          divergence=Divergence(factor=1e30))
    first = int(np.argmax(long.norm > 50 * 5.0))
    assert first > 0
    short = games.simulate(game, [z0[0]], [z0[1]], 0.5, 0.5, steps=200,
                           divergence=Divergence(factor=50.0))
    assert short.diverged and short.diverged_at == first
    sim = games.simulate_regimes(game, [0.5, 0.1], 0.5, x0=[z0[0]], y0=[z0[1]], steps=200,
                                 divergence=Divergence(factor=50.0))
    assert sim.diverged_at[0] == first
    with pytest.raises(TypeError, match="divergence"):
        games.simulate(game, [1.0], [0.0], 0.5, 0.5, divergence=1e6)
    with pytest.raises(ValueError, match="divergence"):
        games.simulate_regimes(game, 0.5, 0.5, divergence=Divergence(reference="best"))
    with pytest.raises(TypeError):
        games.simulate(game, [1.0], [0.0], 0.5, 0.5, divergence_factor=1e6)  # no alias
