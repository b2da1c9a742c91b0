"""lrctl.quadratic: each formula against its sympy derivation, against simulation of the
recurrence, against brute force, and on bad input."""

import html
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator

from conftest import random_spd
from lrctl import quadratic as q
from lrctl.objectives import QuadraticObjective
from lrctl.training import gradient_descent

spectra = st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=12).map(np.array)
lrs = st.floats(1e-4, 10.0)
momenta = st.floats(0.0, 0.99)


# -- reference values (hand derivations in the comments) ---------------------------------


def test_reference_values():
    # λ = 0.5, 4: 2/λmax = 2/4
    assert q.gd_stability_bound([0.5, 4.0]) == 0.5
    # λ = 1, 3: η* = 2/(1+3) = 0.5, ρ* = (3−1)/(3+1) = 0.5
    assert q.optimal_lr([1.0, 3.0]) == (0.5, 0.5)
    # β = 0.9, λmax = 4: 2(1 + 0.9)/4 = 0.95
    assert q.momentum_stability_bound(4.0, 0.9) == pytest.approx(0.95)
    # λ ∈ [1, 9]: η* = 4/(1+3)² = 0.25, β* = ((3−1)/(3+1))² = 0.25, rate √β* = 0.5
    p = q.polyak_momentum([1.0, 9.0])
    assert (p.lr, p.momentum, p.contraction) == pytest.approx((0.25, 0.25, 0.5))
    # −2·1e-3·2·10 = −0.04
    assert q.range_test_slope(1e-3, 2.0, 10.0) == pytest.approx(-0.04)
    # 1e-4/1e-2 = 1e-2
    assert q.equivalent_l2(1e-4, 1e-2) == pytest.approx(1e-2)


# -- numeric vs symbolic (lambdify of the Derivation) ----------------------------------------


@given(spectra)
def test_gd_bound_matches_derivation(eig):
    f = q.derive_gd_stability().lambdify("lam")
    assert q.gd_stability_bound(eig) == pytest.approx(f(eig.max()), rel=1e-12)


@given(spectra)
def test_optimal_lr_matches_derivation(eig):
    f = q.derive_optimal_lr().lambdify("lam_min", "lam_max")
    eta, _ = q.optimal_lr(eig)
    assert eta == pytest.approx(f(eig.min(), eig.max()), rel=1e-12)


@given(spectra, momenta)
def test_momentum_bound_matches_derivation(eig, beta):
    f = q.derive_momentum_stability().lambdify("lam", "beta")
    assert q.momentum_stability_bound(eig, beta) == pytest.approx(f(eig.max(), beta), rel=1e-12)


@given(lrs, st.floats(1e-3, 1e3), st.floats(1e-3, 1e3))
def test_range_test_slope_matches_derivation(eta, loss, rho):
    f = q.derive_range_test_slope().lambdify("eta", "L", "rho")
    assert q.range_test_slope(eta, loss, rho) == pytest.approx(f(eta, loss, rho), rel=1e-12)
    assert q.sharpness_from_slope(q.range_test_slope(eta, loss, rho), eta, loss) == pytest.approx(rho)


@given(st.floats(0.0, 0.5), lrs)
def test_equivalent_l2_matches_derivation(wd, eta):
    f = q.derive_weight_decay_equivalence().lambdify("wd", "eta")
    assert q.equivalent_l2(wd, eta) == pytest.approx(f(wd, eta), rel=1e-12, abs=1e-300)


# -- numeric vs simulation of the recurrence --------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_gd_bound_is_the_divergence_threshold(seed):
    rng = np.random.default_rng(seed)
    H, _eig, _ = random_spd(rng, 8, lam_min=0.1, lam_max=1.0)
    model = QuadraticObjective(H)
    bound = q.gd_stability_bound(H)
    e0 = rng.standard_normal(8)
    # 0.98x: slowest factor max(|1 − 1.96|, 1 − 0.98·2·0.1) = 0.96 ⇒ 0.96^2000 ≈ 1e-36
    below = gradient_descent(model, e0, 0.98 * bound, 2000)
    # 1.02x: top factor 1.04 ⇒ the loss grows by 1.04² per step and trips the 1e6 factor
    above = gradient_descent(model, e0, 1.02 * bound, 2000)
    assert not below.diverged and below.losses[-1] < 1e-20 * below.losses[0]
    assert above.diverged and above.diverged_at < 2000


@given(spectra, st.lists(lrs, min_size=1, max_size=5))
def test_gd_contraction_is_spectral_radius(eig, etas):
    etas = np.array(etas)
    brute = np.abs(1 - etas[:, None] * eig[None, :]).max(axis=1)
    np.testing.assert_allclose(q.gd_contraction(eig, etas), brute, rtol=1e-12)


def test_gd_contraction_matches_matrix_eigenvalues(rng):
    H, _, _ = random_spd(rng, 6)
    for eta in (0.3, 1.0, 2.5):
        rho = np.abs(np.linalg.eigvals(np.eye(6) - eta * H)).max()
        assert q.gd_contraction(H, eta) == pytest.approx(rho, rel=1e-10)


def test_gd_contraction_matches_simulated_rate(rng):
    H, _, _ = random_spd(rng, 6, lam_min=0.2, lam_max=1.0)
    eta = 1.5
    e = rng.standard_normal(6)
    norms = []
    for _ in range(400):
        e = e - eta * H @ e
        norms.append(np.linalg.norm(e))
    rate = (norms[-1] / norms[199]) ** (1 / 200)
    assert rate == pytest.approx(q.gd_contraction(H, eta), rel=1e-3)


@given(spectra.filter(lambda e: e.max() / e.min() > 1.01))
def test_optimal_lr_minimizes_contraction(eig):
    eta, rho = q.optimal_lr(eig)
    assert q.gd_contraction(eig, eta) == pytest.approx(rho, rel=1e-9)
    grid = np.linspace(0.01, 2.0, 400) * q.gd_stability_bound(eig)
    assert np.all(q.gd_contraction(eig, grid) >= rho - 1e-12)


@given(spectra, momenta)
def test_momentum_bound_is_jury_boundary(eig, beta):
    bound = q.momentum_stability_bound(eig, beta)
    assert q.momentum_contraction(eig, 0.98 * bound, beta) < 1.0
    assert q.momentum_contraction(eig, 1.02 * bound, beta) > 1.0


def test_momentum_contraction_matches_companion_matrix(rng):
    eig = np.array([0.1, 0.5, 2.0])
    for eta, beta in ((0.3, 0.5), (1.1, 0.9), (0.9, 0.0)):
        blocks = [np.array([[1 + beta - eta * lam, -beta], [1.0, 0.0]]) for lam in eig]
        rho = max(np.abs(np.linalg.eigvals(B)).max() for B in blocks)
        assert q.momentum_contraction(eig, eta, beta) == pytest.approx(rho, rel=1e-10)


def test_heavy_ball_simulation_at_polyak_parameters(rng):
    H, _, _ = random_spd(rng, 10, lam_min=0.01, lam_max=1.0)
    p = q.polyak_momentum(H)
    x_prev = x = rng.standard_normal(10)
    norms = []
    for _ in range(600):
        x, x_prev = x - p.lr * H @ x + p.momentum * (x - x_prev), x
        norms.append(np.linalg.norm(x))
    rate = (norms[-1] / norms[299]) ** (1 / 300)
    # The extreme eigenvalues give a double root of modulus √β (a Jordan block), so the
    # measured rate approaches √β from above only polynomially; 2% is ample.
    assert rate == pytest.approx(p.contraction, rel=0.02)
    assert p.contraction < q.optimal_lr(H)[1]


def test_exact_range_test_slope_matches_finite_difference(rng):
    H, _, _ = random_spd(rng, 7)
    model = QuadraticObjective(H)
    theta = rng.standard_normal(7)
    g = model.grad(theta)
    etas = np.geomspace(1e-3, 1.0, 9)
    h = 1e-5
    fd = np.array([(model.loss(theta - e * np.exp(h) * g) - model.loss(theta - e * np.exp(-h) * g)) / (2 * h)
                   for e in etas])
    np.testing.assert_allclose(q.exact_range_test_slope(g, H, etas), fd, rtol=1e-6)
    np.testing.assert_allclose(q.exact_range_test_slope(g, lambda v: H @ v, etas), fd, rtol=1e-6)


@given(st.integers(0, 10_000))
def test_gradient_weighted_curvature_between_extremes(seed):
    rng = np.random.default_rng(seed)
    H, eig, _Q = random_spd(rng, 6)
    e = rng.standard_normal(6)
    g, L = H @ e, 0.5 * e @ H @ e
    rho_g = q.gradient_weighted_curvature(g, L)
    assert eig[0] * (1 - 1e-9) <= rho_g <= eig[-1] * (1 + 1e-9)
    top = np.linalg.eigh(H)[1][:, -1]
    assert q.gradient_weighted_curvature(H @ top, 0.5 * top @ H @ top) == pytest.approx(eig[-1])


def test_decoupled_weight_decay_fixed_point_matches_simulation(rng):
    H, _, _ = random_spd(rng, 5, lam_min=0.1)
    m = rng.standard_normal(5)
    wd, eta = 0.01, 0.5
    run = gradient_descent(QuadraticObjective(H, minimizer=m), np.zeros(5), eta, 5000, weight_decay=wd)
    np.testing.assert_allclose(run.theta, q.decoupled_weight_decay_fixed_point(H, m, wd, eta), rtol=1e-9)


def test_layerwise_caps_stabilize_each_block(rng):
    H1, e1, _ = random_spd(rng, 3, lam_max=5.0)
    H2, e2, _ = random_spd(rng, 4, lam_max=0.5)
    caps = q.layerwise_lr_caps([H1, e2], fraction=0.9)
    np.testing.assert_allclose(caps, [0.9 * 2 / e1.max(), 0.9 * 2 / e2.max()])
    # Block-diagonal H: each block at its own cap contracts.
    assert q.gd_contraction(H1, caps[0]) < 1 and q.gd_contraction(H2, caps[1]) < 1
    # and the global bound is set by the stiffest block
    H = np.block([[H1, np.zeros((3, 4))], [np.zeros((4, 3)), H2]])
    assert q.gd_stability_bound(H) == pytest.approx(min(2 / e1.max(), 2 / e2.max()))


# -- curvature arguments: matrix, eigenvalues, operator, callable ---------------------------


def test_operator_inputs_agree_with_matrix(rng):
    H, eig, _ = random_spd(rng, 30)
    expected = q.gd_stability_bound(H)
    assert q.gd_stability_bound(aslinearoperator(H)) == pytest.approx(expected, rel=1e-8)
    assert q.gd_stability_bound(lambda v: H @ v, dim=30) == pytest.approx(expected, rel=1e-8)
    assert q.optimal_lr(aslinearoperator(H))[0] == pytest.approx(q.optimal_lr(eig)[0], rel=1e-8)


def test_lanczos_uses_largest_algebraic_eigenvalue():
    # Indefinite: the largest magnitude is −7, the largest algebraic 5. The bound is 2/5
    # (eigsh which='LA'), not 2/7 (which='LM'); the full spectrum check refuses the saddle.
    H = np.diag([1.0, 2.0, 5.0, -7.0])
    assert q.gd_stability_bound(aslinearoperator(H)) == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="negative eigenvalue"):
        q.spectrum(aslinearoperator(H))
    with pytest.raises(ValueError, match="negative eigenvalue"):
        q.gd_stability_bound(H)


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("curvature", "match"),
    [
        (-1.0, "negative eigenvalue"),
        ([1.0, -0.5], "negative eigenvalue"),
        (np.nan, "finite"),
        ([1.0, np.inf], "finite"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
        (np.zeros((0, 0)), "empty"),
        ([], "empty"),
        (np.ones((2, 3)), "square"),
        (np.ones((2, 2, 2)), "shape"),
        (0.0, "positive largest eigenvalue"),
    ],
)
def test_bad_curvature(curvature, match):
    with pytest.raises(ValueError, match=match):
        q.gd_stability_bound(curvature)


def test_bad_curvature_types():
    with pytest.raises(TypeError, match="curvature"):
        q.gd_stability_bound("big")
    with pytest.raises(TypeError, match="dim"):
        q.gd_stability_bound(lambda v: v)


@pytest.mark.parametrize("lr", [0.0, -1.0, np.nan, np.inf, [0.1, -0.1]])
def test_bad_lr(lr):
    with pytest.raises(ValueError, match="lr"):
        q.gd_contraction([1.0, 2.0], lr)
    with pytest.raises(ValueError, match="lr"):
        q.equivalent_l2(0.1, lr)


@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5, np.nan])
def test_bad_momentum(beta):
    with pytest.raises(ValueError, match="momentum"):
        q.momentum_stability_bound(1.0, beta)


def test_bad_misc():
    with pytest.raises(ValueError, match="loss"):
        q.sharpness_from_slope(-1.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="fraction"):
        q.layerwise_lr_caps([1.0], fraction=0.0)
    with pytest.raises(ValueError, match="blocks"):
        q.layerwise_lr_caps([])
    with pytest.raises(ValueError, match="blocks\\[1\\]"):
        q.layerwise_lr_caps([1.0, -1.0])
    with pytest.raises(ValueError, match="polyak"):
        q.polyak_momentum([0.0, 1.0])
    with pytest.raises(ValueError, match="minimizer"):
        q.decoupled_weight_decay_fixed_point(np.eye(2), [1.0, 2.0, 3.0], 0.1, 0.1)


# -- derivations render -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "derive",
    [q.derive_gd_stability, q.derive_optimal_lr, q.derive_momentum_stability,
     q.derive_range_test_slope, q.derive_weight_decay_equivalence],
)
def test_derivations_render(derive):
    d = derive()
    assert d.steps and d.assumptions
    assert d.latex().count("\\text") >= len(d.steps)
    data = d.to_dict()
    json.dumps(data)  # JSON-serializable for report.json
    for markup in [data["statement_mathml"], *[s["mathml"] for s in data["steps"]]]:
        # XML knows only 5 named entities; HTML's (&InvisibleTimes;, &le;) become characters.
        xml_text = re.sub(r"&([A-Za-z]+);", lambda m: m.group(0) if m.group(1) in ("lt", "gt", "amp")
                          else html.unescape(m.group(0)), markup)
        ET.fromstring(xml_text)  # well-formed MathML (sympy leaves '<' unescaped; we fix it)
    assert "\\frac" in data["result_latex"] or "\\eta" in data["result_latex"]


def test_derivation_statements():
    import sympy

    eta, lam = sympy.Symbol("eta", positive=True), sympy.Symbol("lambda", positive=True)
    assert q.derive_gd_stability().statement == sympy.Lt(eta, 2 / lam)
    beta = sympy.Symbol("beta", nonnegative=True)
    assert sympy.simplify(q.derive_momentum_stability().result - 2 * (1 + beta) / lam) == 0
    with pytest.raises(ValueError, match="unknown symbol"):
        q.derive_gd_stability().lambdify("nope")


# -- the audit's defects (shared/audit/reliability.md), each with its repro ------------------


def _all_eigenvalue_momentum_contraction(eig, lr, momentum):
    """The former route: every eigenvalue, roots of z² − (1 + β − ηλ)z + β by complex sqrt."""
    eta, beta = np.broadcast_arrays(np.asarray(lr, float), np.asarray(momentum, float))
    trace = 1.0 + beta[..., None] - eta[..., None] * eig
    sq = np.sqrt(trace.astype(complex) ** 2 - 4.0 * beta[..., None])
    return np.maximum(np.abs((trace + sq) / 2), np.abs((trace - sq) / 2)).max(axis=-1)


@given(spectra, st.lists(lrs, min_size=1, max_size=5), st.lists(momenta, min_size=1, max_size=5))
def test_momentum_contraction_extremes_equal_every_eigenvalue(eig, lr_list, mom_list):
    lr = np.array(lr_list)[:, None]
    mom = np.array(mom_list)[None, :]
    fast = q.momentum_contraction(eig, lr, mom)
    slow = _all_eigenvalue_momentum_contraction(np.sort(eig), lr, mom)
    # the two routes agree to round-off (the docstring proves the maximum sits at an extreme);
    # next to a double root (t² = 4β) both carry an O(√ε) ≈ 1.5e-8 error, hence atol 1e-7
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-7)


def test_momentum_contraction_on_a_matrix_grid_matches_every_eigenvalue(rng):
    H, eig, _ = random_spd(rng, 60, 0.01, 1.0)
    lr, mom = np.meshgrid(np.linspace(0.01, 4.0, 40), np.linspace(0.0, 0.99, 30))
    np.testing.assert_allclose(q.momentum_contraction(H, lr, mom),
                               _all_eigenvalue_momentum_contraction(eig, lr, mom),
                               rtol=1e-12, atol=1e-13)


def test_momentum_contraction_huge_inputs_are_finite_or_refused():
    # λ = 1e300, η = 1e-300: t = 1 + β − 1 = β = 0.5 < 2√β, complex roots, ρ = √0.5
    assert q.momentum_contraction(1e300, 1e-300, 0.5) == pytest.approx(np.sqrt(0.5))
    # η·λ = 4e300 is finite: ρ ≈ |t| = 4e300 (the other root is β/ρ ≈ 0)
    assert q.momentum_contraction(4.0, 1e300, 0.5) == pytest.approx(4e300)
    with pytest.raises(ValueError, match="lr and curvature"):
        q.momentum_contraction(1e300, 1e300, 0.5)  # η·λ overflows


def test_nonsymmetric_operator_is_refused_N1():
    H = np.array([[2.0, 5.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="curvature is not symmetric"):
        q.gd_stability_bound(lambda v: H @ v, dim=2)  # was 0.494
    with pytest.raises(ValueError, match="curvature is not symmetric"):
        q.gd_stability_bound(aslinearoperator(H))
    with pytest.raises(ValueError, match="symmetric"):
        q.gd_stability_bound(H)


def test_dim_and_flags_are_checked_even_when_unused_N12_N10():
    with pytest.raises(TypeError, match="dim"):
        q.gd_stability_bound([1.0, 4.0], dim="abc")
    with pytest.raises(ValueError, match="dim"):
        q.gd_stability_bound([1.0, 4.0], dim=3)  # two eigenvalues, not three
    assert q.gd_stability_bound([1.0, 4.0], dim=2) == 0.5
    with pytest.raises(TypeError, match="need_min"):
        q.spectrum([1.0], need_min="no")
    with pytest.raises(TypeError, match="name"):
        q.spectrum([1.0], name=3)


def test_true_is_not_a_number_N11():
    for call in (lambda: q.gd_stability_bound(True), lambda: q.gd_contraction([1.0, 3.0], True),
                 lambda: q.equivalent_l2(True, 0.1), lambda: q.range_test_slope(0.1, 1.0, [True])):
        with pytest.raises(TypeError, match="must be"):
            call()


def test_tiny_curvature_overflow_is_a_named_error_N7():
    with pytest.raises(ValueError, match="curvature"):
        q.gd_stability_bound(1e-308)  # was inf
    with pytest.raises(ValueError, match="lr"):
        q.exact_range_test_slope([1.0, 0.0], np.diag([2.0, 1.0]), 1e300)  # was inf
    assert q.gd_stability_bound(1e-300) == pytest.approx(2e300)


def test_weight_decay_fixed_point_with_eigenvalues_C3():
    # diag(2, 4) with α = 0.01/0.1 = 0.1: θ_i = h_i θ*_i/(h_i + α)
    expected = np.array([2.0 / 2.1, 4.0 * 2.0 / 4.1])
    np.testing.assert_allclose(q.decoupled_weight_decay_fixed_point([2.0, 4.0], [1.0, 2.0], 0.01, 0.1),
                               expected)
    np.testing.assert_allclose(q.decoupled_weight_decay_fixed_point(np.diag([2.0, 4.0]), [1.0, 2.0],
                                                                    0.01, 0.1), expected)
    np.testing.assert_allclose(q.decoupled_weight_decay_fixed_point(2.0, [1.0], 0.01, 0.1),
                               [2.0 / 2.1])  # was IndexError
    with pytest.raises(ValueError, match="minimizer"):
        q.decoupled_weight_decay_fixed_point([2.0, 4.0], [1.0], 0.01, 0.1)
