"""Tests for lrctl.diffusion: curvature by sympy, finite differences, Monte Carlo and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl import diffusion as D
from lrctl.objectives import load_dataset


@pytest.fixture(scope="module")
def digits16():
    """16 pixels of the digits images scaled to [-1, 1] (small enough for dense Hessians)."""
    X, _ = load_dataset("digits", standardize=False)
    X = X / 8.0 - 1.0
    cols = [18, 19, 20, 21, 26, 27, 28, 29, 34, 35, 36, 37, 42, 43, 44, 45]  # central 4×4 block
    return X[:, cols]


def _spd(seed: int, d: int = 5) -> np.ndarray:
    A = np.random.default_rng(seed).standard_normal((d, d))
    return A @ A.T / d


# ---------------------------------------------------------------------------------------
# The curvature, four independent routes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pre", ["none", "edm"])
def test_sympy_derivation_matches_numeric(pre):
    d = D.derive_denoising_curvature(pre)
    f = d.lambdify("lam", "sigma", "sigma_data")
    lam, sd = 0.7, 0.4
    sig = np.geomspace(0.01, 50, 9)
    c = D.denoising_curvature(lam, sig, preconditioning=pre, weighting="edm" if pre == "edm"
                              else "none", sigma_data=sd)
    np.testing.assert_allclose(f(lam, sig, sd), c.top, rtol=1e-12)


def test_hessian_by_finite_differences_on_digits(digits16):
    # Route independent of the covariance formula: the exact noise-averaged loss written over
    # the data points, L(W) = mean_i ‖(W − I) x_i‖² + σ²‖W‖_F² (cross terms vanish as E n = 0),
    # differentiated twice numerically (central differences are exact on a quadratic up to
    # round-off); compared with 2 (Σ̂ + σ²I) ⊗ I in the column-stacked vec(W).
    X = digits16 - digits16.mean(axis=0)
    d, sigma = X.shape[1], 0.3

    def loss(vecW):
        W = vecW.reshape(d, d, order="F")
        R = X @ (W - np.eye(d)).T
        return np.mean(np.sum(R**2, axis=1)) + sigma**2 * np.sum(W**2)

    n = d * d
    h = 1e-2
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal(n) * 0.1
    E = np.eye(n)
    # Hessian-vector products by differences of the (exact) gradient is overkill; use the
    # polarization identity on a subset of index pairs plus the full diagonal
    H_expected = 2 * np.kron(D.empirical_covariance(digits16) + sigma**2 * np.eye(d), np.eye(d))
    idx = rng.choice(n, 25, replace=False)
    for i in idx:
        for j in idx[:8]:
            fpp = loss(W0 + h * E[i] + h * E[j])
            fpm = loss(W0 + h * E[i] - h * E[j])
            fmp = loss(W0 - h * E[i] + h * E[j])
            fmm = loss(W0 - h * E[i] - h * E[j])
            hij = (fpp - fpm - fmp + fmm) / (4 * h * h)
            assert hij == pytest.approx(H_expected[i, j], abs=1e-7)
    # and the closed-form spectrum: top eigenvalue of the dense Hessian vs denoising_curvature
    c = D.denoising_curvature(D.empirical_covariance(digits16), sigma)
    assert np.linalg.eigvalsh(H_expected)[-1] == pytest.approx(float(c.top[0]), rel=1e-12)


def test_monte_carlo_hessian_with_sampled_noise(digits16):
    # The sample loss (1/m) Σ ‖W x̃_i − x_i‖² over noisy copies has Hessian 2 G ⊗ I with
    # G = X̃ᵀX̃/m → Σ̂ + σ²I; with 40 noise draws per image, λ_max agrees to about 1%.
    X = digits16 - digits16.mean(axis=0)
    rng = np.random.default_rng(1)
    reps = 40
    for sigma in (0.05, 0.5, 3.0):
        Xt = np.tile(X, (reps, 1)) + sigma * rng.standard_normal((reps * X.shape[0], X.shape[1]))
        G = Xt.T @ Xt / Xt.shape[0]
        top = 2 * np.linalg.eigvalsh(G)[-1]
        c = D.denoising_curvature(D.empirical_covariance(digits16), sigma)
        assert top == pytest.approx(float(c.top[0]), rel=0.02)


def test_loss_formula_matches_data_level_sum(digits16):
    X = digits16 - digits16.mean(axis=0)
    d = X.shape[1]
    Sigma = D.empirical_covariance(digits16)
    rng = np.random.default_rng(2)
    sig = np.array([0.1, 1.0, 5.0])
    W = rng.standard_normal((3, d, d)) * 0.2
    for pre in ("none", "edm"):
        got = D.denoising_loss(W, Sigma, sig, preconditioning=pre, sigma_data=0.5)
        e = D.edm_coefficients(sig, 0.5)
        skip, a = (np.zeros(3), np.ones(3)) if pre == "none" else (e.c_skip, e.c_out * e.c_in)
        for k in range(3):
            A = skip[k] * np.eye(d) + a[k] * W[k]
            # mean_i ‖(A − I) x_i‖² + σ² ‖A‖_F² (noise enters only through its variance)
            want = np.mean(np.sum((X @ (A - np.eye(d)).T) ** 2, axis=1)) + sig[k] ** 2 * np.sum(A**2)
            assert got[k] == pytest.approx(want, rel=1e-12)


def test_optimum_is_the_wiener_filter_and_reaches_the_minimum_loss():
    Sigma = _spd(3)
    lam = np.linalg.eigvalsh(Sigma)
    sig = np.array([0.2, 1.5])
    for pre in ("none", "edm"):
        W = D.denoiser_optimum(Sigma, sig, preconditioning=pre, sigma_data=0.6)
        L = D.denoising_loss(W, Sigma, sig, preconditioning=pre, sigma_data=0.6)
        # Σ_j λ_j σ²/(λ_j + σ²) (scalar derivation per eigen-direction)
        np.testing.assert_allclose(L, [np.sum(lam * s**2 / (lam + s**2)) for s in sig], rtol=1e-12)
        for k, s in enumerate(sig):
            bump = D.denoising_loss(W[k] + 1e-3 * np.eye(5), Sigma, s, preconditioning=pre,
                                    sigma_data=0.6)
            assert bump[0] > L[k]
    # the Wiener filter Σ(Σ + σ²I)⁻¹
    np.testing.assert_allclose(D.denoiser_optimum(Sigma, 0.2)[0],
                               Sigma @ np.linalg.inv(Sigma + 0.04 * np.eye(5)), atol=1e-12)


# ---------------------------------------------------------------------------------------
# EDM coefficients and weightings
# ---------------------------------------------------------------------------------------


def test_edm_coefficients_by_hand_and_unit_variance():
    # σ = σ_d: c_skip = 1/2, c_out = σ_d/√2, c_in = 1/(σ_d √2) (Karras et al. 2022, Table 1)
    e = D.edm_coefficients(0.5, 0.5)
    assert float(e.c_skip) == 0.5
    assert float(e.c_out) == pytest.approx(0.5 / np.sqrt(2))
    assert float(e.c_in) == pytest.approx(1 / (0.5 * np.sqrt(2)))
    assert float(e.loss_weight) == pytest.approx(1 / float(e.c_out) ** 2)
    # data of variance σ_d²: input c_in x̃ and target (x − c_skip x̃)/c_out have unit variance
    sig = np.geomspace(0.002, 80, 7)
    e = D.edm_coefficients(sig, 0.5)
    var_in = e.c_in**2 * (0.25 + sig**2)
    var_target = ((1 - e.c_skip) ** 2 * 0.25 + e.c_skip**2 * sig**2) / e.c_out**2
    np.testing.assert_allclose(var_in, 1.0, rtol=1e-12)
    np.testing.assert_allclose(var_target, 1.0, rtol=1e-12)


def test_loss_weights_by_hand():
    sig = np.array([0.1, 0.5, 2.0])
    # SNR = 1/σ² by hand; Min-SNR-5 = min(1/σ², 5) (Hang et al. 2023)
    np.testing.assert_allclose(D.loss_weight(sig, "snr"), [100.0, 4.0, 0.25])
    np.testing.assert_allclose(D.loss_weight(sig, "min-snr", gamma=5.0), [5.0, 4.0, 0.25])
    # 1/c_out² = (σ² + σ_d²)/(σσ_d)²
    np.testing.assert_allclose(D.loss_weight(sig, "edm", sigma_data=0.5),
                               (sig**2 + 0.25) / (0.25 * sig**2))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), sd=st.floats(0.1, 3.0), log_sigma=st.floats(-6, 4.5))
def test_edm_curvature_lies_between_its_limits(seed, sd, log_sigma):
    # c_σ = 2(λ_max + σ²)/(σ² + σ_d²) lies between 2 and 2 λ_max/σ_d² (derivation's limits)
    Sigma = _spd(seed, 4)
    lam_max = np.linalg.eigvalsh(Sigma)[-1]
    c = D.denoising_curvature(Sigma, np.exp(log_sigma), preconditioning="edm", weighting="edm",
                              sigma_data=sd)
    lo, hi = sorted([2.0, 2 * lam_max / sd**2])
    assert lo * (1 - 1e-12) <= c.top[0] <= hi * (1 + 1e-12)


def test_min_snr_caps_the_epsilon_loss_curvature():
    # ε-loss: 2(λ + σ²)/σ² blows up as σ → 0; Min-SNR-γ: ≤ 2(γ λ_max + 1) everywhere,
    # with equality at σ² = 1/γ (w switches from γ to 1/σ² there)
    Sigma, gamma = _spd(4), 5.0
    lam_max = np.linalg.eigvalsh(Sigma)[-1]
    sig = np.append(np.geomspace(1e-3, 100, 200), 1 / np.sqrt(gamma))
    eps = D.denoising_curvature(Sigma, sig, weighting="snr")
    msnr = D.denoising_curvature(Sigma, sig, weighting="min-snr", gamma=gamma)
    assert msnr.top.max() == pytest.approx(2 * (gamma * lam_max + 1), rel=1e-12)
    assert eps.top.max() > 1e5
    np.testing.assert_array_less(msnr.top, eps.top * (1 + 1e-12))


def test_weighting_is_a_per_level_rate():
    # GD on w(σ)·L_σ with rate η is GD on L_σ with rate η·w(σ): identical curves
    Sigma = _spd(5)
    sig = np.array([0.05, 0.7, 4.0])
    c = D.denoising_curvature(Sigma, sig, preconditioning="edm", weighting="edm", sigma_data=0.5)
    eta = 0.4 / c.top.max()
    a = D.train_denoiser(Sigma, sig, eta, 30, preconditioning="edm", weighting="edm",
                         sigma_data=0.5)
    b = D.train_denoiser(Sigma, sig, eta * c.weight, 30, preconditioning="edm", sigma_data=0.5)
    np.testing.assert_allclose(a.excess_loss, b.excess_loss, rtol=1e-9, atol=1e-14)


def test_equalizing_weight_makes_curvature_one():
    Sigma = _spd(6)
    sig = np.geomspace(0.01, 80, 11)
    for pre in ("none", "edm"):
        w = D.curvature_equalizing_weight(Sigma, sig, preconditioning=pre, sigma_data=0.5)
        c = D.denoising_curvature(Sigma, sig, preconditioning=pre, sigma_data=0.5)
        np.testing.assert_allclose(w * c.top, 1.0, rtol=1e-12)


def test_sigma_data_defaults_to_data_std():
    Sigma = np.diag([0.5, 1.5])
    c = D.denoising_curvature(Sigma, 1.0, preconditioning="edm", weighting="edm")
    assert c.sigma_data == pytest.approx(1.0)  # √(tr Σ/d) = √1


# ---------------------------------------------------------------------------------------
# Training: simulation vs closed form, rates
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pre", "wt"), [("none", "none"), ("none", "min-snr"), ("edm", "edm"),
                                         ("edm", "none")])
def test_simulation_matches_closed_form(digits16, pre, wt):
    Sigma = D.empirical_covariance(digits16)
    sig = np.geomspace(0.01, 20, 6)
    c = D.denoising_curvature(Sigma, sig, preconditioning=pre, weighting=wt)
    lr = D.adapted_lr(c, 0.7)
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((16, 16)) * 0.1
    sim = D.train_denoiser(Sigma, sig, lr, 60, preconditioning=pre, weighting=wt, initial=W0)
    cf = D.denoiser_learning_curve(Sigma, sig, lr, 60, preconditioning=pre, weighting=wt,
                                   initial=W0)
    scale = sim.excess_loss[:, :1]
    np.testing.assert_allclose(sim.excess_loss / scale, cf.excess_loss / scale, atol=1e-10)


def test_adapted_rate_contracts_the_top_mode_by_one_minus_kappa_everywhere():
    Sigma = _spd(7)
    _, Q = np.linalg.eigh(Sigma)
    sig = np.geomspace(0.002, 80, 12)
    kappa = 0.6
    c = D.denoising_curvature(Sigma, sig)
    Wstar = D.denoiser_optimum(Sigma, sig)
    u = np.random.default_rng(0).standard_normal(5)
    W0 = Wstar + np.outer(u, Q[:, -1])[None]  # error only along the top eigen-direction
    run = D.train_denoiser(Sigma, sig, D.adapted_lr(c, kappa), 5, initial=W0)
    ratios = run.excess_loss[:, 1:] / run.excess_loss[:, :-1]
    np.testing.assert_allclose(ratios, (1 - kappa) ** 2, rtol=1e-6)
    # one fixed rate, stable at the stiffest level, is c_σ/max c_σ times slower elsewhere
    fixed = D.train_denoiser(Sigma, sig, kappa / c.top.max(), 5, initial=W0)
    f_ratio = (fixed.excess_loss[:, 1] / fixed.excess_loss[:, 0])
    np.testing.assert_allclose(f_ratio, (1 - kappa * c.top / c.top.max()) ** 2, rtol=1e-6)


def test_stability_boundary_and_divergence_reporting():
    Sigma = _spd(8)
    sig = np.array([0.1, 1.0, 10.0])
    c = D.denoising_curvature(Sigma, sig)
    ok = D.train_denoiser(Sigma, sig, 0.99 * 2 / c.top, 400)
    assert not ok.diverged.any()
    lr = np.array([0.99, 1.05, 0.99]) * 2 / c.top
    bad = D.train_denoiser(Sigma, sig, lr, 2000)
    np.testing.assert_array_equal(bad.diverged, [False, True, False])
    k = bad.diverged_at[1]
    assert k > 0 and bad.diverged_at[0] is None and bad.diverged_at[2] is None
    assert bad.excess_loss.mask[1, k:].all() and not bad.excess_loss.mask[1, :k].any()
    assert np.all(np.isfinite(bad.excess_loss.data))
    cf = D.denoiser_learning_curve(Sigma, sig, lr, 2000)
    np.testing.assert_array_equal(cf.diverged, bad.diverged)
    assert abs(int(cf.diverged_at[1]) - int(k)) <= 1
    assert np.isinf(bad.steps_to(1e-3)[1])


def test_run_started_at_the_optimum_stays_there():
    W = D.denoiser_optimum(_spd(2), [0.1, 1.0])
    run = D.train_denoiser(_spd(2), [0.1, 1.0], 0.05, 5, initial=W)
    np.testing.assert_allclose(run.excess_loss, 0.0, atol=1e-13)
    np.testing.assert_array_equal(run.steps_to(0.5), [0.0, 0.0])


def test_steps_to():
    # λ = σ = 1, η = 1/8: factor per step (1 − 2·(1/8)·(1 + 1))² = 1/4, relative excess 4^-t
    c = D.denoiser_learning_curve(1.0, 1.0, 0.125, 6)
    assert c.steps_to(0.25)[0] == 1 and c.steps_to(0.01)[0] == 4
    assert np.isinf(D.denoiser_learning_curve(1.0, 1.0, 0.001, 3).steps_to(0.01)[0])


def test_empirical_covariance_matches_numpy(digits16):
    np.testing.assert_allclose(D.empirical_covariance(digits16),
                               np.cov(digits16, rowvar=False, bias=True), atol=1e-13)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: D.denoising_curvature(1.0, 0.0), ValueError, "sigma must be > 0"),
        (lambda: D.denoising_curvature(1.0, [-1.0, 1.0]), ValueError, "sigma must be > 0"),
        (lambda: D.denoising_curvature(1.0, np.nan), ValueError, "sigma must be finite"),
        (lambda: D.denoising_curvature([[1.0, np.inf], [np.inf, 1.0]], 1.0), ValueError,
         "covariance must be finite"),
        (lambda: D.denoising_curvature([[1.0, 2.0], [0.0, 1.0]], 1.0), ValueError,
         "covariance must be symmetric"),
        (lambda: D.denoising_curvature([[1.0, 0.0], [0.0, -1.0]], 1.0), ValueError,
         "positive semi-definite"),
        (lambda: D.denoising_curvature(0.0, 1.0), ValueError, "covariance is zero"),
        (lambda: D.denoising_curvature(1.0, 1.0, weighting="v"), ValueError,
         "weighting must be one of"),
        (lambda: D.denoising_curvature(1.0, 1.0, preconditioning="ve"), ValueError,
         "preconditioning must be one of"),
        (lambda: D.denoising_curvature(1.0, 1.0, sigma_data=0.0), ValueError,
         "sigma_data must be finite and > 0"),
        (lambda: D.loss_weight(1.0, "min-snr", gamma=-1.0), ValueError, "gamma must be finite"),
        (lambda: D.adapted_lr(D.denoising_curvature(1.0, 1.0), 2.0), ValueError,
         r"fraction must lie in \(0.0, 2.0\)"),
        (lambda: D.adapted_lr(np.ones(3), 1.0), TypeError, "DenoisingCurvature"),
        (lambda: D.train_denoiser(1.0, [1.0, 2.0], [0.1, 0.1, 0.1], 3), ValueError,
         "lr must be a scalar or have one entry per noise level"),
        (lambda: D.train_denoiser(1.0, 1.0, 0.1, -1), ValueError, "steps must be an integer >= 0"),
        (lambda: D.train_denoiser(np.eye(2), 1.0, 0.1, 3, initial=np.eye(3)), ValueError,
         "initial must have shape"),
        (lambda: D.denoising_loss(np.ones((2, 2)), 1.0, 1.0), ValueError,
         "weights must have shape"),
        (lambda: D.empirical_covariance(np.ones(5)), ValueError, "at least two rows"),
        (lambda: D.derive_denoising_curvature("ddpm"), ValueError, "preconditioning must be one of"),
        (lambda: D.denoiser_learning_curve(1.0, 1.0, 0.1, 3).steps_to(0.0), ValueError,
         "target must lie in"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------------------------------
# The audit's defects (shared/audit/reliability.md)
# ---------------------------------------------------------------------------------------


def test_edm_coefficients_with_huge_sigma_data_C7():
    # σ_d = 1e300 ≫ σ = 1: c_skip → 1, c_out → σ = 1, c_in → 1/σ_d, λ = 1/c_out² → 1
    e = D.edm_coefficients(1.0, sigma_data=1e300)  # was OverflowError
    assert float(e.c_skip) == 1.0 and float(e.c_out) == pytest.approx(1.0)
    assert float(e.c_in) == pytest.approx(1e-300) and float(e.loss_weight) == pytest.approx(1.0)
    # the same ratios as the direct formula where both apply (σ = 3, σ_d = 4: √(9 + 16) = 5)
    e = D.edm_coefficients(3.0, sigma_data=4.0)
    assert (float(e.c_skip), float(e.c_out), float(e.c_in)) == pytest.approx((16 / 25, 12 / 5, 1 / 5))
    with pytest.raises(ValueError, match="sigma"):
        D.edm_coefficients(1e-300, sigma_data=1e-300)  # λ = 1/c_out² overflows


def test_loss_weight_checks_sigma_data_even_when_unused_N12():
    with pytest.raises(ValueError, match="sigma_data"):
        D.loss_weight([0.5, 1.0], "none", sigma_data=np.nan)  # was [1, 1]
    with pytest.raises(TypeError, match="sigma_data"):
        D.loss_weight([0.5, 1.0], "snr", sigma_data="x")


def test_empirical_covariance_of_huge_data_N7():
    X = np.random.default_rng(0).standard_normal((50, 2))
    # scaling X by c scales Σ̂ by c²: 1e150² = 1e300 is finite (was NaN)
    np.testing.assert_allclose(D.empirical_covariance(X * 1e150),
                               D.empirical_covariance(X) * 1e300, rtol=1e-12)
    with pytest.raises(ValueError, match="X"):
        D.empirical_covariance(X * 1e300)  # 1e600 does not fit in float64


def test_divergence_rule_sets_the_excess_loss_level():
    # Level Divergence.level(E_0, E_0) = f·E_0 (floor 0). Independent route: a run with a
    # huge factor records the excess losses; f = 100 must stop at the first step above 100·E_0,
    # in the simulation and in the closed form alike.
    from lrctl.training import Divergence

    lr = 1.05 * 2 / D.denoising_curvature([1.0, 4.0], 1.0).top
    long = D.train_denoiser([1.0, 4.0], 1.0, lr, 300, divergence=Divergence(factor=1e200))
    e = long.excess_loss.compressed()
    first = int(np.argmax(e > 100 * e[0]))
    assert first > 0
    for fn in (D.train_denoiser, D.denoiser_learning_curve):
        run = fn([1.0, 4.0], 1.0, lr, 300, divergence=Divergence(factor=100.0))
        assert run.diverged[0] and run.diverged_at[0] == first
    with pytest.raises(TypeError, match="divergence"):
        D.train_denoiser(1.0, 1.0, 0.1, 5, divergence=1e8)
    with pytest.raises(ValueError, match="divergence"):
        D.denoiser_learning_curve(1.0, 1.0, 0.1, 5, divergence=Divergence(window=3))
