"""Tests for the lrctl.continual: the ODE solver against the closed
forms, the Cauchy–Schwarz statement, the schedule comparison and Pareto frontier, the fits, the
ranking-agreement measure, and the two-task training check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from lrctl import continual as D
from lrctl import schedules as S

SCHEDULES = {
    "constant": S.constant(0.08),
    "linear": S.linear_decay(0.1, 100, lr_min=0.005),
    "cosine": S.cosine(0.1, 100),
    "step": S.step_decay(0.1, 25, gamma=0.5),
    "sgdr": S.cosine_warm_restarts(0.1, 10, mult=2, lr_min=0.001),
    "exponential": S.exponential(0.1, 0.97),
    "one-cycle": S.one_cycle(0.1, 100),
    "warmup-cosine": S.join([S.linear_warmup(0.1, 10), S.cosine(0.1, 90)], [10]),
}


# ---------------------------------------------------------------------------------------
# ODE vs closed form
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("model", ["saturating", "linear"])
def test_ode_matches_closed_form(name, model):
    f = SCHEDULES[name]
    a, b = 0.6, 15.0
    res = D.simulate_stability_plasticity(f, 120, a, b, model=model, initial=(0.1, 0.9),
                                          rtol=1e-10, atol=1e-12)
    P, R = D.closed_form_stability_plasticity(f, res.t, a, b, model=model, initial=(0.1, 0.9))
    np.testing.assert_allclose(res.plasticity, P, rtol=2e-9, atol=2e-9)
    np.testing.assert_allclose(res.retention, R, rtol=2e-9, atol=2e-9)
    np.testing.assert_allclose(res.lr, f(res.t))
    assert res.t[0] == 0 and res.t[-1] == 120 and not res.diverged
    # dense output between the grid points
    tq = np.random.default_rng(1).uniform(0, 120, 50)
    Pq, Rq = res.at(tq)
    P2, R2 = D.closed_form_stability_plasticity(f, tq, a, b, model=model, initial=(0.1, 0.9))
    np.testing.assert_allclose(Pq, P2, atol=1e-8)
    np.testing.assert_allclose(Rq, R2, atol=1e-8)


def test_closed_form_by_hand():
    # constant η: ∫η = ηt, ∫η² = η²t
    P, R = D.closed_form_stability_plasticity(S.constant(0.2), 5.0, 2.0, 3.0)
    assert P == pytest.approx(1 - math.exp(-2.0 * 0.2 * 5))
    assert R == pytest.approx(math.exp(-3.0 * 0.04 * 5))
    P, R = D.closed_form_stability_plasticity(S.constant(0.2), 5.0, 2.0, 3.0, model="linear")
    assert (P, R) == pytest.approx((2.0, 1 - 0.6))
    # broadcasting over t and the rates
    P, R = D.closed_form_stability_plasticity(S.cosine(0.1, 10), np.array([[0.0], [10.0]]),
                                              np.array([1.0, 2.0]), 1.0)
    assert P.shape == (2, 2) and np.all(P[0] == 0)


def test_tolerances_control_the_error():
    f = S.cosine(0.1, 100)
    errs = []
    for tol in (1e-4, 1e-7, 1e-10):
        res = D.simulate_stability_plasticity(f, 100, 1.0, 30.0, rtol=tol, atol=tol * 1e-2)
        P, R = D.closed_form_stability_plasticity(f, res.t, 1.0, 30.0)
        errs.append(max(np.abs(res.plasticity - P).max(), np.abs(res.retention - R).max()))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-9


def test_user_rhs_and_plain_callable_schedule():
    # drift forgetting dR/dt = −bηR has R = exp(−b∫η)
    def drift(eta, P, R, a, b):
        return a * eta * (1 - P), -b * eta * R

    f = lambda t: 0.1 / (1 + 0.05 * t)  # noqa: E731
    res = D.simulate_stability_plasticity(f, 50, 1.0, 2.0, model=drift, rtol=1e-10, atol=1e-12)
    I1 = 0.1 / 0.05 * np.log1p(0.05 * res.t)  # ∫₀ᵗ 0.1/(1 + 0.05s) ds
    np.testing.assert_allclose(res.retention, np.exp(-2.0 * I1), atol=1e-8)
    np.testing.assert_allclose(res.plasticity, 1 - np.exp(-I1), atol=1e-8)
    assert res.model == "drift"
    # the built-in saturating model written as a callable gives the same answer
    sat = D.simulate_stability_plasticity(S.cosine(0.1, 80), 80, 0.5, 10.0,
                                          model=lambda e, P, R, a, b: (a * e * (1 - P),
                                                                       -b * e * e * R))
    ref = D.simulate_stability_plasticity(S.cosine(0.1, 80), 80, 0.5, 10.0)
    np.testing.assert_allclose(sat.plasticity, ref.plasticity, atol=1e-9)


def test_divergence_stops_and_says_so():
    # dP/dt = P² from P(0) = 1 (η ≡ 1) blows up at t = 1: P = 1/(1 − t)
    res = D.simulate_stability_plasticity(S.constant(1.0), 3.0, 1.0, 0.0,
                                          model=lambda e, P, R, a, b: (P * P, 0.0),
                                          initial=(1.0, 1.0), divergence_bound=1e6)
    assert res.diverged
    assert res.diverged_at == pytest.approx(1 - 1e-6, abs=1e-6)
    assert np.all(np.isfinite(res.plasticity)) and res.t[-1] <= res.diverged_at
    assert np.all(np.abs(res.plasticity) <= 1e6 * (1 + 1e-9))


def test_t_eval_and_n_points():
    res = D.simulate_stability_plasticity(S.constant(0.1), 10, 1.0, 1.0, t_eval=[0, 2.5, 10])
    np.testing.assert_array_equal(res.t, [0, 2.5, 10])
    assert D.simulate_stability_plasticity(S.constant(0.1), 10, 1, 1, n_points=7).t.size == 7


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"horizon": 0}, ValueError, "horizon"),
        ({"plasticity": -1}, ValueError, "plasticity"),
        ({"forgetting": float("nan")}, ValueError, "forgetting"),
        ({"model": "quadratic"}, ValueError, "model"),
        ({"initial": (0, 1, 2)}, ValueError, "initial"),
        ({"rtol": 0}, ValueError, "rtol"),
        ({"t_eval": [0, 20]}, ValueError, "t_eval"),
        ({"t_eval": [5, 1]}, ValueError, "t_eval"),
        ({"n_points": 1}, ValueError, "n_points"),
        ({"schedule": 0.1}, TypeError, "schedule"),
        ({"model": lambda e, P, R, a, b: (float("nan"), 0.0)}, ValueError, "not finite"),
    ],
)
def test_simulate_bad_input(kwargs, exc, match):
    args = {"schedule": S.constant(0.1), "horizon": 10, "plasticity": 1.0, "forgetting": 1.0}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        D.simulate_stability_plasticity(**args)


def test_at_outside_range():
    res = D.simulate_stability_plasticity(S.constant(0.1), 10, 1.0, 1.0)
    with pytest.raises(ValueError, match="solved range"):
        res.at(11.0)


# ---------------------------------------------------------------------------------------
# Derivations
# ---------------------------------------------------------------------------------------


def test_derive_stability_plasticity_for_constant_rate():
    d = D.derive_stability_plasticity()
    s = sp.Symbol("s", nonnegative=True)
    c = sp.Symbol("c", positive=True)
    P_const = d.result.replace(sp.Function("eta"), sp.Lambda(s, c)).doit()
    f = sp.lambdify([d.symbols["a"], d.symbols["P_0"], c, d.symbols["t"]], P_const)
    expected, _ = D.closed_form_stability_plasticity(S.constant(0.3), 4.0, 0.7, 1.0,
                                                     initial=(0.2, 1.0))
    assert f(0.7, 0.2, 0.3, 4.0) == pytest.approx(expected, rel=1e-12)


def test_derive_constant_rate_optimality():
    d = D.derive_constant_rate_optimality()
    assert sp.simplify(d.result - d.symbols["I"] ** 2 / d.symbols["T"]) == 0
    assert d.lambdify("I", "T")(3.0, 2.0) == pytest.approx(4.5)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6), horizon=st.floats(1, 100))
def test_cauchy_schwarz_on_random_schedules(values, horizon):
    bounds = list(np.linspace(0, horizon, len(values) + 1)[1:-1])
    f = S.piecewise_constant(values, bounds)
    i1, i2 = S.integral(f, horizon), S.integral(f, horizon, power=2)
    assert i2 >= i1**2 / horizon * (1 - 1e-12) - 1e-15
    if i1 > 0:
        c = D.equal_plasticity_constant(f, horizon)
        assert S.integral(c, horizon) == pytest.approx(i1, rel=1e-12)
        assert S.integral(c, horizon, power=2) <= i2 * (1 + 1e-12)


# ---------------------------------------------------------------------------------------
# Comparison, frontier, best schedule
# ---------------------------------------------------------------------------------------


def test_compare_schedules_and_honest_cauchy_schwarz_point():
    T, a, b = 100, 0.5, 20.0
    cmp = D.compare_schedules(SCHEDULES, T, a, b)
    P, R = [], []
    for f in SCHEDULES.values():
        p, r = D.closed_form_stability_plasticity(f, T, a, b)
        P.append(p)
        R.append(r)
    np.testing.assert_allclose(cmp.plasticity, P, atol=1e-7)
    np.testing.assert_allclose(cmp.retention, R, atol=1e-7)
    # every schedule is matched in P and beaten (or tied) in R by its equal-plasticity constant
    for name, f in SCHEDULES.items():
        c = D.equal_plasticity_constant(f, T)
        pc, rc = D.closed_form_stability_plasticity(c, T, a, b)
        i = cmp.names.index(name)
        assert pc == pytest.approx(cmp.plasticity[i], abs=1e-7)
        assert rc >= cmp.retention[i] - 1e-9
        if name != "constant":
            assert rc > cmp.retention[i]
    # the equal-∫η constant dominates the decaying schedules in the comparison's Pareto mask
    with_eq = D.compare_schedules({"cos": S.cosine(0.1, T), "eq": S.constant(0.05)}, T, a, b)
    np.testing.assert_array_equal(with_eq.pareto, [False, True])
    # so the constant-rate curve is the frontier: no schedule lies above it
    Pc, Rc = D.constant_rate_frontier(np.linspace(0, 0.2, 2001), T, a, b)
    for p, r in zip(cmp.plasticity, cmp.retention, strict=True):
        assert r <= np.interp(p, Pc, Rc) + 1e-6
    # a decaying schedule retains more than the constant rate at its peak η
    hi = D.compare_schedules({"hi": S.constant(0.1), "cos": S.cosine(0.1, T)}, T, a, b)
    assert hi.retention[1] > hi.retention[0] and hi.plasticity[1] < hi.plasticity[0]


def test_best_and_score():
    cmp = D.compare_schedules(SCHEDULES, 100, 0.5, 20.0)
    assert cmp.best(1.0) == cmp.names[int(np.argmax(cmp.plasticity))]
    assert cmp.best(0.0) == cmp.names[int(np.argmax(cmp.retention))]
    w = np.array([0.0, 0.3, 1.0])
    sc = cmp.score(w)
    assert sc.shape == (3, len(SCHEDULES))
    np.testing.assert_allclose(sc[1], 0.3 * cmp.plasticity + 0.7 * cmp.retention)
    with pytest.raises(ValueError, match="weight"):
        cmp.score(1.5)
    # the best schedule is on the Pareto frontier for every interior weight
    for wi in np.linspace(0.01, 0.99, 25):
        assert cmp.pareto[cmp.names.index(cmp.best(wi))]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=12))
def test_pareto_front_matches_brute_force(points):
    P = np.array([p for p, _ in points], dtype=float)
    R = np.array([r for _, r in points], dtype=float)
    mask = D.pareto_front(P, R)
    for i in range(len(points)):
        dominated = any(
            P[j] >= P[i] and R[j] >= R[i] and (P[j] > P[i] or R[j] > R[i])
            for j in range(len(points))
        )
        assert mask[i] == (not dominated)


def test_pareto_tolerance_and_bad_input():
    # a point better by 1e-12 in P and worse by 0.1 in R: strictly, both are on the front;
    # with a tolerance the first dominates the second
    P, R = [0.5, 0.5 + 1e-12], [0.9, 0.8]
    np.testing.assert_array_equal(D.pareto_front(P, R), [True, True])
    np.testing.assert_array_equal(D.pareto_front(P, R, tol=1e-9), [True, False])
    with pytest.raises(ValueError, match="equal length"):
        D.pareto_front([1, 2], [1])
    with pytest.raises(ValueError, match="tol"):
        D.pareto_front([1, 2], [1, 2], tol=-1)


# ---------------------------------------------------------------------------------------
# Fits and agreement
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["saturating", "linear"])
def test_fit_recovers_known_rates(model):
    f = S.cosine_warm_restarts(0.1, 20, mult=2)
    t = np.linspace(0, 140, 29)
    P, R = D.closed_form_stability_plasticity(f, t, 0.37, 4.2, model=model)
    fit = D.fit_stability_plasticity(f, t, P, R, model=model)
    assert fit.plasticity == pytest.approx(0.37, rel=1e-7)
    assert fit.forgetting == pytest.approx(4.2, rel=1e-7)
    assert fit.rms_plasticity < 1e-9 and fit.rms_retention < 1e-9


def test_fit_with_noise_and_with_a_callable_model():
    rng = np.random.default_rng(3)
    f = S.linear_decay(0.2, 100)
    t = np.linspace(0, 100, 41)
    P, R = D.closed_form_stability_plasticity(f, t, 0.3, 5.0)
    Pn, Rn = P + 0.005 * rng.standard_normal(t.size), R + 0.005 * rng.standard_normal(t.size)
    Pn[0], Rn[0] = 0.0, 1.0
    fit = D.fit_stability_plasticity(f, t, Pn, Rn)
    assert fit.plasticity == pytest.approx(0.3, rel=0.03)
    assert fit.forgetting == pytest.approx(5.0, rel=0.03)
    assert 0.002 < fit.rms_plasticity < 0.01

    def drift(eta, P, R, a, b):
        return a * eta * (1 - P), -b * eta * R

    t2 = np.linspace(0, 100, 11)
    res = D.simulate_stability_plasticity(f, 100, 0.3, 0.05, model=drift, t_eval=t2,
                                          rtol=1e-11, atol=1e-13)
    fit2 = D.fit_stability_plasticity(f, t2, res.plasticity, res.retention, model=drift)
    assert fit2.forgetting == pytest.approx(0.05, rel=1e-4)
    assert fit2.model == "drift"


def test_fit_bad_input():
    f = S.constant(0.1)
    with pytest.raises(ValueError, match="equal length"):
        D.fit_stability_plasticity(f, [0, 1, 2], [0, 0.1], [1, 1, 1])
    with pytest.raises(ValueError, match="t = 0"):
        D.fit_stability_plasticity(f, [1, 2, 3], [0, 0.1, 0.2], [1, 1, 1])
    with pytest.raises(ValueError, match="increasing"):
        D.fit_stability_plasticity(f, [0, 2, 1], [0, 0.1, 0.2], [1, 1, 1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=3, max_size=10))
def test_prediction_agreement_matches_scipy_kendall(pairs):
    p = np.array([a for a, _ in pairs], dtype=float)
    m = np.array([b for _, b in pairs], dtype=float)
    agree = D.prediction_agreement(p, m)
    ref = kendalltau(p, m).statistic  # τ-b
    if np.isnan(ref):
        assert agree.kendall_tau == 0.0
    else:
        assert agree.kendall_tau == pytest.approx(ref, abs=1e-12)
    assert agree.mean_abs_error == pytest.approx(np.mean(np.abs(p - m)))
    assert 0.0 <= agree.pairwise_agreement <= 1.0


def test_prediction_agreement_hand_values():
    a = D.prediction_agreement([1, 2, 3], [10, 20, 30])
    assert a.kendall_tau == 1.0 and a.pairwise_agreement == 1.0
    b = D.prediction_agreement([3, 2, 1], [10, 20, 30])
    assert b.kendall_tau == -1.0 and b.pairwise_agreement == 0.0
    with pytest.raises(ValueError, match="length"):
        D.prediction_agreement([1], [1])


# ---------------------------------------------------------------------------------------
# Real training: two tasks from the digits data
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_task():
    scheds = {"zero": S.constant(0.0), "small": S.constant(0.01), "large": S.constant(0.2)}
    return D.train_two_tasks(scheds, 60, n_seeds=2, n_checkpoints=4, seed=7)


def test_two_task_shapes_and_zero_rate(two_task):
    r = two_task
    assert r.names == ("zero", "small", "large")
    np.testing.assert_array_equal(r.steps, [0, 20, 40, 60])
    assert r.new_task_accuracy.shape == (3, 4) == r.old_task_accuracy.shape
    assert r.classes_a == (0, 1, 2, 3, 4) and r.classes_b == (5, 6, 7, 8, 9)
    # phase A learnt task A and nothing of task B (its classes never appeared)
    assert r.old_task_initial > 0.95
    np.testing.assert_allclose(r.retention[:, 0], 1.0)
    np.testing.assert_allclose(r.plasticity[:, 0], 0.0)
    # η ≡ 0 changes nothing
    np.testing.assert_allclose(r.retention[0], 1.0)
    np.testing.assert_allclose(r.plasticity[0], 0.0)
    assert np.all(r.new_task_std[0] == 0)


def test_two_task_larger_rate_learns_more_and_forgets_more(two_task):
    r = two_task
    assert r.plasticity[2, -1] > r.plasticity[1, -1] > 0.1
    assert r.retention[2, -1] < r.retention[1, -1] <= 1.0


def test_two_task_is_reproducible():
    scheds = {"c": S.constant(0.1)}
    a = D.train_two_tasks(scheds, 10, n_seeds=1, n_checkpoints=2, seed=3)
    b = D.train_two_tasks(scheds, 10, n_seeds=1, n_checkpoints=2, seed=3)
    np.testing.assert_array_equal(a.new_task_accuracy, b.new_task_accuracy)
    with pytest.raises(ValueError, match="n_classes_a"):
        D.train_two_tasks(scheds, 10, n_classes_a=10)
    with pytest.raises(TypeError, match="mapping"):
        D.train_two_tasks([S.constant(0.1)], 10)


@pytest.mark.parametrize("horizon, a, b", [(1e300, 1.0, 1.0), (10.0, 1e300, 1.0),
                                           (10.0, 1.0, 1e300), (1e7, 1.0, 1.0)])
def test_horizons_that_would_not_finish_are_refused(horizon, a, b):
    """Audit E1: these hung for over 120 s; the stiffness bound T·max(aη, bη²) <= 1e5
    (η = 0.1 here, so 1e7·0.1 = 1e6 is over it) refuses them before solving."""
    import time

    from lrctl.schedules import constant

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="would not finish"):
        D.simulate_stability_plasticity(constant(0.1), horizon, a, b)
    with pytest.raises(ValueError, match="would not finish"):
        D.compare_schedules({"c": constant(0.1)}, horizon, a, b)
    assert time.perf_counter() - t0 < 10.0  # a bound on a refusal, not a benchmark


def test_stiffness_just_under_the_bound_still_solves():
    """S = T·a·η = 1e4·1·0.1 = 1e3 is far under 1e5: solved, P(T) = 1 − e^{−1000} ≈ 1."""
    from lrctl.schedules import constant

    res = D.simulate_stability_plasticity(constant(0.1), 1e4, 1.0, 0.0, n_points=3)
    assert res.final_plasticity == pytest.approx(1.0, abs=1e-6)


def test_a_horizon_spanning_too_many_breakpoints_is_refused():
    """A step decay of period 30 over T = 1e12 has 3·10¹⁰ steps: listing them needed 248 GiB
    (MemoryError). The count is probed by doubling and refused past 10⁶ breakpoints."""
    from lrctl.schedules import step_decay

    sched = step_decay(0.1, 30, 0.5)
    with pytest.raises(ValueError, match="breakpoints"):
        D.simulate_stability_plasticity(sched, 1e12, 1.0, 1.0)
    with pytest.raises(ValueError, match="breakpoints"):
        D.closed_form_stability_plasticity(sched, 1e12, 1.0, 1.0)
    with pytest.raises(ValueError, match="horizon"):
        D.equal_plasticity_constant(sched, 1e300)
