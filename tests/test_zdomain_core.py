"""lrctl.zdomain: controller, characteristic polynomial, Jury/Schur–Cohn, regions, polygon.

Every result is checked against an independent route: python-control (c2d, feedback, poles),
numpy.roots / companion eigenvalues, the sympy Jury conditions, or a hand derivation.
"""

import math

import control
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrctl import zdomain as zd

METHODS = zd.METHODS


# ---------------------------------------------------------------------------------------
# pi_controller
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "pc_method"),
    [("backward", "backward_diff"), ("forward", "euler"), ("tustin", "tustin")],
)
@pytest.mark.parametrize("dt", [1.0, 5.0, 0.3])
def test_pi_controller_matches_python_control_discretization(method, pc_method, dt):
    # Independent route: discretize the continuous PI kp + ki/s with python-control's
    # c2d (backward_diff: s = (z−1)/(z dt); euler: s = (z−1)/dt; tustin: s = 2(z−1)/(dt(z+1))).
    kp, ki = 0.7, -0.3
    Cs = control.tf([kp, ki], [1.0, 0.0])
    Cd = control.sample_system(Cs, dt, method=pc_method)
    C = zd.pi_controller(kp, ki, dt=dt, method=method)
    assert C.dt == dt
    for zz in (0.3 + 0.4j, -0.7, 2.0, np.exp(1j * 2.0)):
        assert complex(C(zz)) == pytest.approx(complex(Cd(zz)), rel=1e-12)


def test_pi_controller_formula_backward():
    # C(z) = kp + ki·dt·z/(z−1) evaluated by hand at z = 2: 0.4 + 0.2·1·2/1 = 0.8.
    assert complex(zd.pi_controller(0.4, 0.2)(2.0)).real == pytest.approx(0.8)


def test_zero_gain_controller_keeps_integrator_pole():
    C = zd.pi_controller(0.0, 0.0)
    # python-control itself reduces 0/(z−1) to 0/1; lrctl keeps the pole z = 1.
    assert np.allclose(C.den_array[0, 0], [1.0, -1.0])
    G = zd.first_order_plant(0.5, 1.0)
    chi = zd.characteristic_polynomial(G, C)
    assert np.allclose(chi, np.polymul([1.0, -1.0], [1.0, -0.5]))
    assert zd.classify_stability(chi) == "marginal"
    rep = zd.analyze_loop(G, C)
    assert rep.classification == "marginal" and not rep.stable
    assert any("zero gain" in w for w in rep.warnings)
    assert zd.stability_region(G, 0.0, 0.0) is False


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None])
def test_pi_controller_rejects_bad_gains(bad):
    with pytest.raises((ValueError, TypeError), match="kp"):
        zd.pi_controller(bad, 0.1)
    with pytest.raises((ValueError, TypeError), match="ki"):
        zd.pi_controller(0.1, bad)


def test_pi_controller_rejects_bad_dt_and_method():
    with pytest.raises(ValueError, match="dt"):
        zd.pi_controller(0.1, 0.1, dt=0.0)
    with pytest.raises(ValueError, match="method"):
        zd.pi_controller(0.1, 0.1, method="zoh")


# ---------------------------------------------------------------------------------------
# Timebase and plant validation
# ---------------------------------------------------------------------------------------


def test_continuous_plant_is_refused():
    G = control.tf([1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="continuous-time"):
        zd.characteristic_polynomial(G, zd.pi_controller(0.1, 0.1))
    with pytest.raises(ValueError, match="continuous-time"):
        zd.stability_region(G, 0.1, 0.1)


def test_unspecified_timebase_is_refused():
    G = control.tf([1.0], [1.0, 0.5], True)
    with pytest.raises(ValueError, match="unspecified sampling time"):
        zd.stability_margins(G, zd.pi_controller(0.1, 0.1))


def test_improper_plant_is_refused():
    G = control.tf([1.0, 0.0, 0.0], [1.0, 0.5], 1.0)
    with pytest.raises(ValueError, match="improper"):
        zd.stability_region(G, 0.1, 0.1)


def test_mismatched_dt_is_refused():
    G = zd.first_order_plant(0.5, 1.0, dt=2.0)
    with pytest.raises(ValueError, match="sampling times differ"):
        zd.characteristic_polynomial(G, zd.pi_controller(0.1, 0.1, dt=1.0))
    with pytest.raises(ValueError, match="sampling times differ"):
        zd.stability_region(G, 0.1, 0.1, dt=1.0)
    with pytest.raises(ValueError, match="sampling times differ"):
        zd.simulate_closed_loop(G, zd.pi_controller(0.1, 0.1), 10)
    assert zd.stability_region(G, 0.1, 0.1, dt=2.0) in (True, False)


def test_non_finite_plant_and_wrong_types():
    G = control.tf([1.0], [1.0, 0.5], 1.0)
    G.num_array[0, 0] = np.array([np.nan])
    with pytest.raises(ValueError, match="non-finite"):
        zd.characteristic_polynomial(G, zd.pi_controller(0.1, 0.1))
    with pytest.raises(TypeError, match="TransferFunction"):
        zd.characteristic_polynomial([1.0, 0.5], zd.pi_controller(0.1, 0.1))
    with pytest.raises(ValueError, match="kp"):
        zd.stability_region(zd.first_order_plant(0.5, 1.0), [0.1, np.nan], 0.1)
    with pytest.raises(ValueError, match="broadcast"):
        zd.stability_region(zd.first_order_plant(0.5, 1.0), np.ones(3), np.ones(4))


def test_ill_posed_loop():
    # G = 1 (static, biproper) with C(∞) = c1 = −1: 1 + C(∞)G(∞) = 0.
    G = control.tf([1.0], [1.0], 1.0)
    C = zd.pi_controller(-0.5, -0.5)  # c1 = kp + ki = −1
    with pytest.raises(ValueError, match="ill-posed"):
        zd.characteristic_polynomial(G, C)
    # On the gain grid that point is simply not stable; the radius is inf.
    assert zd.stability_region(G, -0.5, -0.5) is False
    assert zd.closed_loop_spectral_radius(G, -0.5, -0.5) == math.inf


# ---------------------------------------------------------------------------------------
# characteristic polynomial
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_characteristic_polynomial_matches_python_control(method):
    G = zd.first_order_plant(0.9, 0.5, delay=2)
    C = zd.pi_controller(0.3, 0.15, method=method)
    chi = zd.characteristic_polynomial(G, C)
    T = control.feedback(C * G.tf, 1)
    den = np.asarray(T.den_array[0, 0], float)
    assert np.allclose(chi, den / den[0], atol=1e-12)
    assert np.allclose(np.sort_complex(np.roots(chi)), np.sort_complex(T.poles()), atol=1e-9)


def test_characteristic_polynomial_hand_example():
    # (z − 1)(z − 0.9) + (0.6z − 0.4)·0.5 = z² − 1.6z + 0.7 (hand expansion).
    chi = zd.characteristic_polynomial(zd.first_order_plant(0.9, 0.5), zd.pi_controller(0.4, 0.2))
    assert np.allclose(chi, [1.0, -1.6, 0.7])


# ---------------------------------------------------------------------------------------
# Schur–Cohn / Jury vs roots
# ---------------------------------------------------------------------------------------

coeff = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


@given(st.lists(coeff, min_size=1, max_size=7), st.floats(0.2, 2.0))
def test_schur_matches_roots(tail, lead):
    p = np.array([lead, *tail])
    radius = np.max(np.abs(np.roots(p))) if len(p) > 1 else 0.0
    if abs(radius - 1.0) < 1e-6:  # too close to call in floating point
        return
    assert zd.is_schur_stable(p, tol=0.0) == (radius < 1.0)
    assert zd.jury_table(p).stable == (radius < 1.0)


@given(st.lists(st.floats(0.0, 1.6), min_size=1, max_size=6),
       st.lists(st.floats(0.0, math.pi), min_size=1, max_size=6))
def test_schur_matches_roots_for_polynomials_built_from_roots(mags, angles):
    roots = []
    for r, a in zip(mags, angles, strict=False):
        roots += [r * np.exp(1j * a), r * np.exp(-1j * a)] if 1e-3 < a < math.pi - 1e-3 else [r]
    p = np.real(np.poly(roots))
    radius = max(abs(r) for r in roots)
    if abs(radius - 1.0) < 1e-6:
        return
    assert zd.is_schur_stable(p, tol=0.0) == (radius < 1.0)


def test_schur_rows_vectorized_match_single(rng):
    P = np.column_stack([np.ones(500), rng.uniform(-1, 1, (500, 4))])
    rows = zd.is_schur_stable(P)
    single = np.array([zd.is_schur_stable(p) for p in P])
    radius = np.max(np.abs(np.array([np.roots(p) for p in P])), axis=1)
    assert rows.dtype == bool and rows.shape == (500,)
    assert np.array_equal(rows, single)
    assert np.array_equal(rows, radius < 1 - zd.DEFAULT_TOL)
    assert 0.05 < rows.mean() < 0.95  # both outcomes are exercised


def test_roots_on_the_unit_circle_are_not_stable_but_marginal():
    # z² + 1 (roots ±j), z + 1, and (z − 1)(z − 0.5): each has a root on |z| = 1.
    for p in ([1.0, 0.0, 1.0], [1.0, 1.0], [1.0, -1.5, 0.5]):
        assert zd.is_schur_stable(p) is False
        assert zd.is_schur_stable(p, tol=0.0) is False
        assert zd.classify_stability(p) == "marginal"
    assert zd.classify_stability([1.0, -0.5]) == "stable"
    assert zd.classify_stability([1.0, -1.01]) == "unstable"
    out = zd.classify_stability(np.array([[1.0, -0.5], [1.0, 1.0], [1.0, 2.0]]))
    assert out.tolist() == ["stable", "marginal", "unstable"]


def test_tolerance_shrinks_the_disk():
    # Root at 0.99: stable with tol 0; not with tol 0.02 (|z| < 0.98 required).
    assert zd.is_schur_stable([1.0, -0.99], tol=0.0)
    assert not zd.is_schur_stable([1.0, -0.99], tol=0.02)


def test_schur_bad_input():
    with pytest.raises(ValueError, match="leading coefficient"):
        zd.is_schur_stable([0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="coeffs"):
        zd.is_schur_stable([1.0, np.inf])
    with pytest.raises(ValueError, match="coeffs"):
        zd.is_schur_stable(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="tol"):
        zd.is_schur_stable([1.0, 0.5], tol=1.5)
    with pytest.raises(ValueError, match="tol"):
        zd.classify_stability([1.0, 0.5], tol=0.0)


def test_jury_table_hand_example():
    # Ogata-style example built from its roots: (z − 1.2)(z − 0.5)(z + 0.4)
    # = z³ − 1.3z² − 0.08z + 0.24 (hand expansion). Unstable (root 1.2).
    t = zd.jury_table([1.0, -1.3, -0.08, 0.24])
    assert not t.stable
    # P(1) = 1 − 1.3 − 0.08 + 0.24 = −0.14 < 0 (hand computation): the first condition fails.
    assert t.conditions[0][0] == "P(1) > 0" and t.conditions[0][1] == pytest.approx(-0.14)
    # rows: ascending coefficients and their reverse, then b_k = a0·a_k − a3·a_{3−k}.
    assert np.allclose(t.rows[0], [0.24, -0.08, -1.3, 1.0])
    b = [0.24 * 0.24 - 1.0, 0.24 * -0.08 - 1.0 * -1.3, 0.24 * -1.3 - 1.0 * -0.08]
    assert np.allclose(t.rows[2], b)
    assert "not stable" in str(t)
    stable = zd.jury_table(np.poly([0.5, -0.4, 0.3j, -0.3j]).real)
    assert stable.stable and len(stable.conditions) == 5  # n + 1 conditions for n = 4


def test_jury_table_sign_and_degree_edge_cases():
    assert zd.jury_table([-1.0, 0.5]).stable  # −(z − 0.5): the sign is normalized
    assert zd.jury_table([2.0]).stable  # a non-zero constant has no roots
    with pytest.raises(ValueError, match="one polynomial"):
        zd.jury_table(np.ones((2, 3)))


# ---------------------------------------------------------------------------------------
# stability_region
# ---------------------------------------------------------------------------------------

PLANTS = {
    "first-order": zd.first_order_plant(0.9, 0.5),
    "delay-2": zd.first_order_plant(0.8, 0.3, delay=2),
    "sharpness-ema": zd.sharpness_plant(1.2, beta=0.6, dt=3.0),
    "second-order": control.tf([0.2, 0.1], [1.0, -1.2, 0.5], 1.0),
    "biproper": control.tf([0.5, -0.2], [1.0, -0.6], 1.0),
}


@pytest.mark.parametrize("name", sorted(PLANTS))
@pytest.mark.parametrize("method", METHODS)
def test_region_matches_companion_eigenvalues(name, method):
    plant = PLANTS[name]
    dt = zd._tf_parts(plant, "plant").dt
    kp = np.linspace(-3, 3, 61)[:, None]
    ki = np.linspace(-1, 2, 47)[None, :]
    region = zd.stability_region(plant, kp, ki, dt=dt, method=method)
    radius = zd.closed_loop_spectral_radius(plant, kp, ki, dt=dt, method=method)
    assert region.shape == (61, 47)
    decided = np.abs(radius - (1 - zd.DEFAULT_TOL)) > 1e-7
    assert np.array_equal(region[decided], radius[decided] < 1 - zd.DEFAULT_TOL)
    assert region.any() and not region.all()


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_region_matches_python_control_feedback_poles(name, rng):
    plant = PLANTS[name]
    tf = plant.tf if isinstance(plant, zd.PlantModel) else plant
    dt = float(tf.dt)
    kp = rng.uniform(-2, 2, 60)
    ki = rng.uniform(-0.5, 1.5, 60)
    region = zd.stability_region(plant, kp, ki, dt=dt)
    for p, i, ok in zip(kp, ki, region, strict=True):
        poles = control.feedback(zd.pi_controller(p, i, dt) * tf, 1).poles()
        radius = np.max(np.abs(poles))
        if abs(radius - 1) > 1e-7:
            assert ok == (radius < 1), (p, i, radius)


def test_region_broadcasting_and_scalars():
    G = zd.sharpness_plant(1.0)
    assert zd.stability_region(G, 0.2, 0.5) is True
    out = zd.stability_region(G, np.array([0.2, 0.2, -2.0]), np.array([0.5, -0.1, 0.5]))
    assert out.tolist() == [True, False, False]
    grid = zd.stability_region(G, np.linspace(-2, 2, 7)[:, None, None], np.ones((1, 3, 5)) * 0.3)
    assert grid.shape == (7, 3, 5)
    # chunking over the first axis (40 000 rows > one chunk) does not change the answer
    kp = np.linspace(-1.5, 1.5, 40000)
    flat = zd.stability_region(G, kp, 0.3)
    column = zd.stability_region(G, kp[:, None], np.array([0.3]))[:, 0]
    assert np.array_equal(flat, column)
    radius = zd.closed_loop_spectral_radius(G, kp[::97], 0.3)
    decided = np.abs(radius - 1) > 1e-7
    assert np.array_equal(flat[::97][decided], radius[decided] < 1)


def test_region_huge_gains_do_not_warn_or_claim_stability():
    G = zd.first_order_plant(0.9, 0.5, delay=1)
    out = zd.stability_region(G, np.array([1e200, -1e300, 0.2]), np.array([1e300, 1e200, 0.05]))
    assert out.tolist() == [False, False, True]


@pytest.mark.parametrize("name", ["first-order", "delay-2", "second-order", "biproper"])
@pytest.mark.parametrize("method", METHODS)
def test_symbolic_conditions_match_numeric_region(name, method):
    plant = PLANTS[name]
    d = zd.derive_stability_conditions(plant, method=method)
    f = d.lambdify("kp", "ki")
    kp = np.linspace(-3, 3, 41)[:, None]
    ki = np.linspace(-1, 2, 37)[None, :]
    KP, KI = np.broadcast_arrays(kp, ki)
    sym = np.asarray(f(KP, KI), dtype=bool)
    num = zd.stability_region(plant, KP, KI, method=method, tol=0.0)
    radius = zd.closed_loop_spectral_radius(plant, KP, KI, method=method)
    decided = np.abs(radius - 1) > 1e-7
    assert np.array_equal(sym[decided], num[decided])


@pytest.mark.parametrize("method", METHODS)
def test_symbolic_characteristic_polynomial_matches_numeric(method):
    import sympy

    plant = zd.first_order_plant(0.8, 0.3, delay=1, dt=2.0)
    d = zd.derive_characteristic_polynomial(plant, method=method)
    kp, ki, z = d.symbols["kp"], d.symbols["ki"], d.symbols["z"]
    for p, i in [(0.3, 0.1), (-1.2, 0.7)]:
        expr = d.result.subs({kp: p, ki: i})
        coeffs = np.array(sympy.Poly(expr, z).all_coeffs(), dtype=float)
        num = zd.characteristic_polynomial(plant, zd.pi_controller(p, i, dt=2.0, method=method))
        assert np.allclose(coeffs / coeffs[0], num, atol=1e-12)


# ---------------------------------------------------------------------------------------
# The polygon of a first-order plant
# ---------------------------------------------------------------------------------------


def test_polygon_hand_derived_triangle():
    # G = 1/z (sharpness plant, s* = 1): χ = z² + (kp + ki − 1)z − kp. Jury: ki > 0,
    # 2 − 2kp − ki > 0, |kp| < 1 ⇒ triangle (−1, 0), (1, 0), (−1, 4) (hand derivation).
    poly = zd.stability_polygon(zd.sharpness_plant(1.0))
    expected = {(-1.0, 0.0), (1.0, 0.0), (-1.0, 4.0)}
    assert {tuple(np.round(v, 9)) for v in poly.vertices} == expected


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("a", "b", "dt"), [(0.9, 0.5, 1.0), (-0.3, 2.0, 1.0), (0.5, -0.7, 4.0)])
def test_polygon_contains_matches_region(method, a, b, dt):
    plant = zd.first_order_plant(a, b, dt=dt)
    poly = zd.stability_polygon(plant, method=method)
    lo, hi = poly.vertices.min(axis=0), poly.vertices.max(axis=0)
    span = hi - lo
    kp = np.linspace(lo[0] - 0.3 * span[0], hi[0] + 0.3 * span[0], 90)[:, None]
    ki = np.linspace(lo[1] - 0.3 * span[1], hi[1] + 0.3 * span[1], 80)[None, :]
    inside = poly.contains(kp, ki)
    region = zd.stability_region(plant, kp, ki, dt=dt, method=method, tol=0.0)
    radius = zd.closed_loop_spectral_radius(plant, kp, ki, dt=dt, method=method)
    decided = np.abs(radius - 1) > 1e-6
    assert np.array_equal(inside[decided], region[decided])
    assert inside.mean() > 0.05  # the polygon occupies a real part of the window
    # vertices sit on the boundary: the spectral radius there is 1.
    r = zd.closed_loop_spectral_radius(plant, poly.vertices[:, 0], poly.vertices[:, 1], dt=dt,
                                       method=method)
    assert np.allclose(r, 1.0, atol=1e-6)


def test_polygon_refuses_other_plants():
    with pytest.raises(ValueError, match="first-order"):
        zd.stability_polygon(zd.first_order_plant(0.9, 0.5, delay=1))
    with pytest.raises(ValueError, match="first-order"):
        zd.stability_polygon(PLANTS["biproper"])


def test_schur_is_invariant_to_the_sign_of_each_row(rng):
    P = np.column_stack([rng.uniform(0.5, 2.0, 300), rng.uniform(-1, 1, (300, 3))])
    signs = np.where(rng.random(300) < 0.5, -1.0, 1.0)[:, None]
    assert np.array_equal(zd.is_schur_stable(P), zd.is_schur_stable(P * signs))


def test_state_space_plants_are_accepted():
    # the same first-order plant as a state-space model: x+ = 0.9x + u, y = 0.5x
    ss = control.ss([[0.9]], [[1.0]], [[0.5]], [[0.0]], 1.0)
    chi = zd.characteristic_polynomial(ss, zd.pi_controller(0.4, 0.2))
    assert np.allclose(chi, [1.0, -1.6, 0.7])


def test_spectral_radius_of_huge_gains_is_finite_and_right():
    """Audit N7: kp = 1e300 gave inf/NaN. For G = 0.5/(z − 0.9) and backward Euler,
    χ(z) = (z − 1)(z − 0.9) + 0.5((kp + ki)z − kp): for huge kp the large root is
    ≈ −0.5(kp + ki) (the product of the roots is 0.9 − 0.5kp, the sum 1.9 − 0.5(kp + ki)),
    so the radius is 0.5·kp to leading order, independent of np.roots."""
    G = zd.first_order_plant(0.9, 0.5)
    for kp in (1e8, 1e100, 1e300):
        r = zd.closed_loop_spectral_radius(G, kp, 0.2)
        assert math.isfinite(r)
        assert r == pytest.approx(0.5 * kp, rel=1e-6)
    # moderate gains: the scaled companion matrix agrees with np.roots
    kp, ki = np.meshgrid(np.linspace(-2, 3, 7), np.linspace(-1, 2, 5))
    r = zd.closed_loop_spectral_radius(G, kp, ki)
    chi = [[1.0, -1.9 + 0.5 * (p + i), 0.9 - 0.5 * p] for p, i in
           zip(kp.ravel(), ki.ravel(), strict=True)]
    ref = np.array([np.max(np.abs(np.roots(c))) for c in chi]).reshape(kp.shape)
    np.testing.assert_allclose(r, ref, rtol=1e-10)
