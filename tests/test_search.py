"""Tests of lrctl.search: hit probabilities of log/linear search designs, and the objectives.

Independent routes: Monte Carlo simulation of the actual designs (membership tested on η, not
on measures), explicit enumeration of ``np.geomspace`` / ``np.linspace`` grids, hand-derived
values (noted next to each), a plain Python GD loop on lrctl.objectives' models for
ValidationLoss, and a GD simulation on lrctl.objectives.QuadraticObjective for QuadraticGDLoss.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.objectives import LogisticRegression, QuadraticObjective, SoftmaxRegression
from lrctl.search import (
    METHODS,
    LogScaleTestFunction,
    QuadraticGDLoss,
    ValidationLoss,
    evaluations_to_reach,
    expected_samples_to_hit,
    hit_fraction,
    hit_probability,
    monte_carlo_hit_probability,
    random_search,
    sample_lrs,
    within_tolerance,
)

BOUNDS = (1e-6, 1.0)


# ---------------------------------------------------------------------------------------
# hit_fraction and hit_probability: closed forms
# ---------------------------------------------------------------------------------------


def test_hit_fraction_hand_values():
    # one decade of five decades (hand)
    assert hit_fraction((1e-3, 1e-2), (1e-5, 1.0)) == pytest.approx(0.2)
    # linear: (1e-2 - 1e-3) / (1 - 1e-5) (hand)
    assert hit_fraction((1e-3, 1e-2), (1e-5, 1.0), "linear") == pytest.approx(9e-3 / (1 - 1e-5))
    # a target sticking out of the bounds counts only inside: [0.1, 1] of [1e-5, 1] = 1/5
    assert hit_fraction((0.1, 50.0), (1e-5, 1.0)) == pytest.approx(0.2)
    # a target outside the bounds is never hit
    assert hit_fraction((2.0, 3.0), (1e-5, 1.0)) == 0.0
    # the log scale ignores a non-positive target end below the bounds: [1e-5, 1e-4] -> 1/5
    assert hit_fraction((-1.0, 1e-4), (1e-5, 1.0)) == pytest.approx(0.2)


def test_hit_probability_hand_values():
    # random: 1 - (1 - p)^n with p = ln 4 / ln 1e6 (hand)
    p = math.log(4) / math.log(1e6)
    assert hit_probability((1e-3, 4e-3), BOUNDS, 10) == pytest.approx(1 - (1 - p) ** 10)
    # shifted grid: min(1, n p)
    assert hit_probability((1e-3, 4e-3), BOUNDS, 5, method="shifted-grid") == pytest.approx(5 * p)
    assert hit_probability((1e-3, 4e-3), BOUNDS, 20, method="shifted-grid") == 1.0
    # a 7-point log grid on [1e-6, 1] is 1e-6, 1e-5, ..., 1: [2e-3, 5e-3] holds none of them,
    # [5e-4, 2e-3] holds 1e-3
    assert hit_probability((2e-3, 5e-3), BOUNDS, 7, method="grid") == 0.0
    assert hit_probability((5e-4, 2e-3), BOUNDS, 7, method="grid") == 1.0
    # the one-point grid is the low bound
    assert hit_probability((1e-7, 2e-6), BOUNDS, 1, method="grid") == 1.0
    assert hit_probability((2e-6, 1.0), BOUNDS, 1, method="grid") == 0.0
    # stratified, target inside one cell of 2 (cells [1e-6,1e-3], [1e-3,1]): overlap/Δ
    assert hit_probability((1e-5, 1e-4), BOUNDS, 2, method="stratified") == pytest.approx(1 / 3)
    # stratified, target across the cell boundary: 1 - (1 - 1/3)(1 - 1/3) (hand)
    assert hit_probability((1e-4, 1e-2), BOUNDS, 2, method="stratified") == pytest.approx(5 / 9)


def test_whole_bounds_target_is_always_hit():
    for method in METHODS:
        assert hit_probability(BOUNDS, BOUNDS, 3, method=method) == 1.0


@pytest.mark.parametrize("scale", ["log", "linear"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("target", "n"), [((1e-3, 4e-3), 3), ((1e-3, 4e-3), 17),
                                           ((0.02, 0.3), 6), ((3e-7, 2e-6), 40)])
def test_closed_form_matches_monte_carlo(scale, method, target, n):
    p = hit_probability(target, BOUNDS, n, scale=scale, method=method)
    mc = monte_carlo_hit_probability(target, BOUNDS, n, scale, method, n_trials=20_000,
                                     seed=1000 * sum(map(ord, scale + method)) + n)
    # 4.5 binomial standard errors (a false alarm has probability < 1e-5 per case)
    tol = 4.5 * math.sqrt(max(p * (1 - p), 1e-12) / mc.n_trials) + 1e-9
    assert abs(mc.estimate - p) <= tol, (mc, p)


def test_monte_carlo_interval_covers():
    mc = monte_carlo_hit_probability((1e-3, 4e-3), BOUNDS, 10, n_trials=5000, seed=1)
    assert mc.low < mc.estimate < mc.high
    assert mc.contains(hit_probability((1e-3, 4e-3), BOUNDS, 10))
    assert 0.0 <= mc.low and mc.high <= 1.0


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(0.0, 0.97), width=st.floats(1e-3, 0.5), n=st.integers(1, 300),
       scale=st.sampled_from(["log", "linear"]))
def test_grid_matches_enumeration(lo, width, n, scale):
    low, high = 1e-5, 10.0
    if scale == "log":
        a = math.exp(math.log(low) + lo * math.log(high / low))
        b = math.exp(math.log(low) + min(lo + width, 1.0) * math.log(high / low))
        pts = np.geomspace(low, high, n)
    else:
        a = low + lo * (high - low)
        b = low + min(lo + width, 1.0) * (high - low)
        pts = np.linspace(low, high, n)
    if b <= a:
        return
    # skip targets whose ends sit within round-off of a grid point
    if np.min(np.abs(np.concatenate([pts - a, pts - b]))) < 1e-9 * (high - low):
        return
    expected = float(np.any((pts >= a) & (pts <= b)))
    assert hit_probability((a, b), (low, high), n, scale=scale, method="grid") == expected


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(0.0, 0.99), width=st.floats(1e-4, 1.0), n=st.integers(1, 500),
       k=st.integers(2, 4), scale=st.sampled_from(["log", "linear"]))
def test_design_ordering_and_monotonicity(lo, width, n, k, scale):
    low, high = 1e-4, 1.0
    u = np.array([lo, min(lo + width, 1.0)])
    t = np.exp(np.log(low) + u * np.log(high / low)) if scale == "log" else low + u * (high - low)
    if not t[0] < t[1]:
        return
    ns = [n, n + 1, k * n]
    r = hit_probability(t, (low, high), ns, scale, "random")
    s = hit_probability(t, (low, high), ns, scale, "stratified")
    g = hit_probability(t, (low, high), ns, scale, "shifted-grid")
    # a shifted grid beats one-point-per-cell, which beats independent samples (by concavity
    # of ln(1 - x): equal overlaps maximize the miss probability)
    assert np.all(g >= s - 1e-12) and np.all(s >= r - 1e-12)
    assert np.all(r >= 0) and np.all(g <= 1)
    # random and shifted-grid designs are monotone in n ...
    assert r[1] >= r[0] and g[1] >= g[0]
    # ... the stratified one is not (see the regression below), but splitting every cell
    # into k equal cells never lowers it: within one coarse cell of width Δ the target's
    # overlaps o_i with the fine cells give 1 − Π(1 − k o_i/Δ) ≥ Σ o_i/Δ.
    assert s[2] >= s[0] - 1e-12


def test_stratified_hit_probability_is_not_monotone_in_n():
    # Regression (audit T1): the old property test assumed P_strat(n + 1) ≥ P_strat(n), which
    # is false. Target [0.09765625, 0.1015625] of the log range of [1e-4, 1] (width 1/256).
    low, high = 1e-4, 1.0
    u = np.array([0.09765625, 0.1015625])
    t = np.exp(np.log(low) + u * np.log(high / low))
    p59, p60 = hit_probability(t, (low, high), [59, 60], "log", "stratified")
    # hand values: n = 59, cell boundary 6/59 = 0.1016949 is outside, 5/59 = 0.0847 too, so the
    # target lies inside cell 5: P = 59 · 0.00390625 = 0.23047; n = 60: boundary 0.1 inside,
    # overlaps 0.00234375 and 0.0015625, P = 1 − (1 − 0.140625)(1 − 0.09375) = 0.22119
    assert p59 == pytest.approx(59 * 0.00390625, rel=1e-9)
    assert p60 == pytest.approx(1 - (1 - 60 * 0.00234375) * (1 - 60 * 0.0015625), rel=1e-9)
    assert p60 < p59
    for n, p in ((59, p59), (60, p60)):  # simulation agrees with the closed form
        mc = monte_carlo_hit_probability(t, (low, high), n, "log", "stratified",
                                         n_trials=20_000, seed=n)
        assert mc.contains(p)


def test_log_random_search_does_not_care_where_the_target_sits():
    centres = np.geomspace(1e-5, 1e-1, 9)
    targets = np.stack([centres / 2, centres * 2], axis=-1)
    p_log = hit_probability(targets, BOUNDS, 20)
    assert np.ptp(p_log) < 1e-12
    # linear search: p is proportional to the centre (width 1.5 c of the linear range)
    p1 = hit_fraction(targets, BOUNDS, "linear")
    np.testing.assert_allclose(p1, 1.5 * centres / (1 - 1e-6), rtol=1e-12)


def test_vectorized_over_n_and_targets():
    ns = np.array([1, 2, 5, 40, 1000])
    for method in METHODS:
        vec = hit_probability((1e-4, 3e-4), BOUNDS, ns, method=method)
        loop = [hit_probability((1e-4, 3e-4), BOUNDS, int(k), method=method) for k in ns]
        np.testing.assert_allclose(vec, loop)
    targets = np.array([[[1e-4, 3e-4]], [[1e-2, 0.5]]])  # shape (2, 1, 2)
    out = hit_probability(targets, BOUNDS, ns)
    assert out.shape == (2, 5)
    assert isinstance(hit_probability((1e-4, 3e-4), BOUNDS, 3), float)


def test_numerically_stable_for_tiny_p_and_huge_n():
    # p = ln(1.0001)/ln(1e6) ~ 7.2e-6: 1 - (1 - p)^n ~ n p for n p << 1
    p = math.log(1.0001) / math.log(1e6)
    assert hit_probability((1e-3, 1.0001e-3), BOUNDS, 10) == pytest.approx(10 * p, rel=1e-4)
    assert hit_probability((1e-3, 1.0001e-3), BOUNDS, 10**9) == pytest.approx(1.0)


def test_expected_samples_to_hit_matches_simulated_geometric_mean():
    target = (1e-3, 4e-3)
    p = hit_fraction(target, BOUNDS)
    assert expected_samples_to_hit(target, BOUNDS) == pytest.approx(1 / p)
    lrs = sample_lrs(BOUNDS, 200, size=4000, seed=7)
    hit = (lrs >= target[0]) & (lrs <= target[1])
    first = np.argmax(hit, axis=1) + 1.0
    assert np.all(hit.any(axis=1))  # (1 - p)^200 ~ 1e-9: every row hits
    se = math.sqrt((1 - p) / p**2 / first.size)  # std of a geometric mean
    assert abs(first.mean() - 1 / p) < 4.5 * se
    assert expected_samples_to_hit((2.0, 3.0), BOUNDS) == math.inf
    # linear search needs 1/p_lin: far more for a target at small lr
    assert expected_samples_to_hit(target, BOUNDS, "linear") == pytest.approx((1 - 1e-6) / 3e-3)


def test_sample_lrs():
    g = sample_lrs((1e-4, 1.0), 5, method="grid")
    np.testing.assert_allclose(g[0], [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    for method in METHODS:
        for scale in ("log", "linear"):
            x = sample_lrs((1e-4, 1.0), 7, scale, method, size=50, seed=3)
            assert x.shape == (50, 7)
            assert np.all((x >= 1e-4) & (x <= 1.0))
    a = sample_lrs((1e-4, 1.0), 7, size=3, seed=11)
    b = sample_lrs((1e-4, 1.0), 7, size=3, seed=11)
    np.testing.assert_array_equal(a, b)
    # stratified: exactly one point per decade-cell of [1e-4, 1] with n = 4
    s = sample_lrs((1e-4, 1.0), 4, method="stratified", size=20, seed=0)
    cells = np.floor(np.log10(s) + 4)
    np.testing.assert_array_equal(np.sort(cells, axis=1), np.tile([0, 1, 2, 3], (20, 1)))


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"target": (1e-3, 1e-3)}, ValueError, "target.*empty"),
        ({"target": (1e-2, 1e-3)}, ValueError, "target.*inverted"),
        ({"target": (1e-3,)}, ValueError, "target"),
        ({"target": (np.nan, 1.0)}, ValueError, "target must be finite"),
        ({"bounds": (1.0, 1.0)}, ValueError, "bounds.*empty"),
        ({"bounds": (1.0, 1e-3)}, ValueError, "bounds.*inverted"),
        ({"bounds": (0.0, 1.0)}, ValueError, "bounds must be positive for scale='log'"),
        ({"bounds": (1e-3, 1.0, 2.0)}, ValueError, "bounds must be a pair"),
        ({"n": 0}, ValueError, "n must be >= 1"),
        ({"n": [3, -1]}, ValueError, "n must be >= 1"),
        ({"n": 2.5}, TypeError, "n must be an integer"),
        ({"n": True}, TypeError, "n must be an integer"),
        ({"scale": "log10"}, ValueError, "scale must be one of"),
        ({"method": "sobol"}, ValueError, "method must be one of"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = {"target": (1e-3, 4e-3), "bounds": BOUNDS, "n": 5, "scale": "log", "method": "random"}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        hit_probability(**args)


def test_bad_input_elsewhere():
    assert hit_probability((1e-3, 4e-3), (0.0, 1.0), 4, scale="linear") > 0  # 0 fine on linear
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        sample_lrs(BOUNDS, 0)
    with pytest.raises(ValueError, match="target must be one interval"):
        monte_carlo_hit_probability([[1e-3, 2e-3], [1e-2, 2e-2]], BOUNDS, 3)
    with pytest.raises(ValueError, match="rel must lie in"):
        within_tolerance(1.0, rel=0.0)
    with pytest.raises(ValueError, match="threshold must be finite"):
        evaluations_to_reach([1.0], math.nan)


def test_success_criteria():
    assert within_tolerance(0.5) == pytest.approx(0.51)  # 0.5 + 0.02 * 0.5
    assert within_tolerance(-6.0) == pytest.approx(-5.88)  # -6 + 0.02 * 6
    assert evaluations_to_reach([3.0, math.nan, 0.9], 1.0) == 3.0
    assert evaluations_to_reach([3.0, 2.0], 1.0) == math.inf
    # audit N16: an empty history is refused (it is no search), bools are not values
    with pytest.raises(ValueError, match="values must be a non-empty 1-D"):
        evaluations_to_reach([], 1.0)
    with pytest.raises(TypeError, match="values must be numbers"):
        evaluations_to_reach([True, 0.5], 1.0)
    with pytest.raises(TypeError, match="threshold must be a real number"):
        evaluations_to_reach([0.5], True)


# ---------------------------------------------------------------------------------------
# Objectives
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dataset", "model"), [("breast_cancer", LogisticRegression),
                                                ("digits", SoftmaxRegression)])
def test_validation_loss_matches_plain_gd_on_lrctl_objectives(dataset, model):
    f = ValidationLoss(dataset, steps=15, l2=1e-3)
    train = model(f.X_train[:, :-1], f.y_train, l2=1e-3)
    val = model(f.X_val[:, :-1], f.y_val, l2=0.0)
    lrs = np.array([1e-3, 0.3, 2.0])
    curve = f.evaluate(lrs)
    for lr, value in zip(lrs, curve.values, strict=True):
        theta = np.zeros(train.dim)
        for _ in range(15):
            theta = theta - lr * train.grad(theta)
        assert value == pytest.approx(val.loss(theta), rel=1e-10)
    assert not curve.diverged.any()
    # the scalar call is the same number, as an Evaluation
    ev = f(0.3)
    assert ev.value == pytest.approx(curve.values[1], rel=1e-12) and not ev.diverged


def test_validation_loss_divergence_is_flagged_with_a_finite_penalty():
    f = ValidationLoss("breast_cancer", steps=30)
    curve = f.evaluate(np.array([0.5, 1e3, 1e5]))
    assert curve.diverged.tolist() == [False, True, True]
    assert np.all(np.isfinite(curve.values))
    assert curve.values[1] == f.penalty == pytest.approx(10 * math.log(2))  # 10 x ln 2 (hand)
    assert curve.diverged_at[0] == -1 and curve.diverged_at[2] >= 1
    ev = f(1e5)
    assert ev.diverged and ev.info["diverged_at"] >= 1
    assert curve.best() == (0.5, curve.values[0])
    # chunked evaluation gives the same numbers as one block
    g = ValidationLoss("breast_cancer", steps=30)
    g._chunk = 2
    np.testing.assert_allclose(g.evaluate(curve.lrs).values, curve.values, rtol=1e-12)


def test_validation_loss_bad_input():
    with pytest.raises(ValueError, match="dataset must be one of"):
        ValidationLoss("mnist")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        ValidationLoss("breast_cancer", steps=0)
    with pytest.raises(ValueError, match="validation_fraction must lie in"):
        ValidationLoss("breast_cancer", validation_fraction=1.0)
    f = ValidationLoss("breast_cancer", steps=2)
    with pytest.raises(ValueError, match="lrs must be finite and > 0"):
        f.evaluate([0.1, -1.0])
    with pytest.raises(ValueError, match="lr must be finite and > 0"):
        f(0.0)


def test_quadratic_gd_loss_matches_gd_simulation():
    lam = np.geomspace(1e-2, 1.0, 6)
    c = np.linspace(0.5, 1.5, 6)
    f = QuadraticGDLoss(lam, steps=25, initial_error=c)
    q = QuadraticObjective(np.diag(lam))
    for lr in [0.05, 1.0, 1.9, 2.05, 3.0]:
        theta = c.copy()
        first_over = -1
        for t in range(1, 26):
            theta = theta - lr * q.grad(theta)
            if first_over < 0 and q.loss(theta) > 10 * q.loss(c):
                first_over = t
        ev = f(lr)
        if first_over < 0:
            assert not ev.diverged and ev.value == pytest.approx(q.loss(theta), rel=1e-10)
        else:
            assert ev.diverged and ev.info["diverged_at"] == first_over
            assert ev.value == pytest.approx(10 * q.loss(c))
    lr_star, f_star = f.minimum((1e-3, 10.0))
    grid = f.evaluate(np.geomspace(1e-3, 10.0, 5001))
    assert f_star <= np.min(grid.values[~grid.diverged]) + 1e-15
    assert lr_star < 2.0  # the best rate is stable: below 2/λmax = 2


def test_test_functions_reach_their_literature_minima():
    f = LogScaleTestFunction("forrester", (1e-4, 1.0))
    lr_star, f_star = f.minimum()
    # Forrester et al. (2008): min -6.02074 at x = 0.75725
    assert f_star == pytest.approx(-6.02074, abs=1e-5)
    assert f(lr_star) == pytest.approx(f_star, abs=1e-9)
    grid = f.evaluate(np.geomspace(1e-4, 1.0, 100_001))
    assert grid.min() >= f_star - 1e-9
    g = LogScaleTestFunction("gramacy-lee", (1e-3, 10.0))
    lr_g, f_g = g.minimum()
    # Gramacy & Lee (2012): min -0.869011 at t = 0.548563 on [0.5, 2.5]
    assert f_g == pytest.approx(-0.869011, abs=1e-6)
    assert g(lr_g) == pytest.approx(f_g, abs=1e-9)
    assert g.evaluate(np.geomspace(1e-3, 10.0, 100_001)).min() >= f_g - 1e-9
    with pytest.raises(ValueError, match="lrs must lie in"):
        f(2.0)
    with pytest.raises(ValueError, match="name must be one of"):
        LogScaleTestFunction("branin")


def test_random_search_records_like_bo():
    f = LogScaleTestFunction("forrester", (1e-4, 1.0))
    res = random_search(f, f.bounds, 30, seed=4)
    assert res.n_trials == 30 and res.n_failed == 0
    np.testing.assert_array_equal(res.lrs, sample_lrs(f.bounds, 30, seed=4)[0])
    assert res.best_value == pytest.approx(np.min(res.values))
    # failures are recorded, not dropped
    res = random_search(lambda lr: math.nan if lr > 0.01 else lr, (1e-4, 1.0), 20, seed=0)
    assert res.n_failed == int(np.sum(res.lrs > 0.01)) and res.n_failed > 0
    assert np.all(np.isnan(res.values[res.statuses == "failed"]))
    assert all(e == "objective returned NaN" for e, s in zip(res.errors, res.statuses,
                                                             strict=True) if s == "failed")


def test_derivation_matches_the_numbers():
    from lrctl.search import derive_hit_probability

    d = derive_hit_probability()
    f = d.lambdify("a", "b", "lo", "hi", "n")
    rng = np.random.default_rng(0)
    for _ in range(20):
        lo = 10 ** rng.uniform(-8, -3)
        hi = lo * 10 ** rng.uniform(2, 8)
        a = lo * (hi / lo) ** rng.uniform(0, 0.8)
        b = a * (hi / a) ** rng.uniform(0.05, 1)
        n = int(rng.integers(1, 200))
        assert f(a, b, lo, hi, n) == pytest.approx(hit_probability((a, b), (lo, hi), n),
                                                   rel=1e-10, abs=1e-14)
    import sympy

    p, q = sympy.symbols("p q", positive=True)
    assert sympy.simplify(d.steps[3][1].rhs - 1 / p) == 0  # E[N] = 1/p
    n_q = sympy.lambdify((p, q), d.steps[4][1].rhs)
    # n_q samples give success probability q exactly (continuous n)
    assert 1 - (1 - 0.1) ** n_q(0.1, 0.95) == pytest.approx(0.95)


def test_figure_builders_label_their_axes():
    import matplotlib.pyplot as plt

    from lrctl.bayesopt import BayesianOptimizer, SerialExecutor
    from lrctl.plots import search as splots

    ns = np.arange(1, 50)
    fig = splots.hit_probability_vs_n(
        ns, {"log-uniform random": hit_probability((1e-3, 4e-3), BOUNDS, ns)},
        monte_carlo={"log-uniform random": (np.array([5]), np.array([0.4]), np.array([0.38]),
                                            np.array([0.42]))})
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()
    plt.close(fig)
    f = LogScaleTestFunction("forrester", (1e-4, 1.0))
    opt = BayesianOptimizer(f.bounds, seed=0)
    opt.run(f, 5, executor=SerialExecutor())
    fig = splots.posterior_snapshots([opt.snapshot(), opt.snapshot()], ncols=2)
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert "learning rate η" in labels and fig.legends
    plt.close(fig)
    curve = ValidationLoss("breast_cancer", steps=5).evaluate(np.geomspace(1e-3, 1e4, 20))
    fig = splots.objective_curve(curve, threshold=0.3)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_ylabel() == "validation loss"
    plt.close(fig)
    gaps = np.abs(np.random.default_rng(0).standard_normal((4, 6)))
    fig = splots.convergence(np.arange(1, 7), {"lrctl BO": gaps}, tolerance=0.1)
    assert fig.axes[0].get_yscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError, match="gaps must be finite"):
        splots.convergence(np.arange(1, 3), {"x": np.array([[1.0, np.inf]])})


def test_targets_outside_the_bounds_are_never_hit():
    for method in METHODS:
        for scale in ("log", "linear"):
            assert hit_probability((2.0, 3.0), BOUNDS, [1, 10], scale, method).tolist() == [0, 0]
    assert expected_samples_to_hit(np.array([[2.0, 3.0], [1e-3, 1e-2]]), BOUNDS)[0] == math.inf


def test_loss_curve_repr_summarizes():
    curve = QuadraticGDLoss().evaluate(np.geomspace(1e-3, 10.0, 500))
    text = repr(curve)
    assert text.startswith("LossCurve(500 rates, lr 0.001 … 10, ") and "diverged)" in text
    assert "array" not in text


# -- the contract pass (contract2c) -------------------------------------------------------


def test_quadratic_gd_loss_refuses_a_spectrum_that_is_not_1d():
    for bad in ([], np.ones((2, 2))):
        with pytest.raises(ValueError, match="eigenvalues must be a non-empty 1-D"):
            QuadraticGDLoss(bad)
    with pytest.raises(TypeError, match="eigenvalues"):
        QuadraticGDLoss([True, 1.0])


def test_validation_loss_penalty_is_no_better_than_not_training():
    # breast cancer, binary: the untrained model (θ = 0) has validation loss ln 2 = 0.6931
    with pytest.raises(ValueError, match="penalty must be >= the validation loss"):
        ValidationLoss("breast_cancer", steps=2, penalty=0.0)
    with pytest.raises(ValueError, match="penalty must be >= the validation loss"):
        ValidationLoss("breast_cancer", steps=2, penalty=-5.0)
    f = ValidationLoss("breast_cancer", steps=2, penalty=1.0)
    assert f.initial_val_loss == pytest.approx(math.log(2.0))
    assert f.penalty == 1.0
    with pytest.raises(TypeError, match="l2"):
        ValidationLoss("breast_cancer", steps=2, l2=np.ones(2))


def test_hit_probability_refuses_a_design_too_large_for_an_integer():
    with pytest.raises(ValueError, match="n must be <="):
        hit_probability((1e-3, 1e-2), (1e-4, 1.0), 1e300)
    # 2**53 itself is a valid design size: the hit probability is then 1 to double precision
    assert hit_probability((1e-3, 1e-2), (1e-4, 1.0), 2.0**53) == 1.0
