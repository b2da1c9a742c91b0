"""Tests of lrctl.rangetest.

The independent routes: the closed form of GD on a quadratic (simulated sweeps vs
quadratic_sweep_log_excess), lrctl.quadratic's slope formulas (exact_range_test_slope,
gradient_weighted_curvature), finite differences (one-step slopes), the sequential stop rule vs
its vectorized form (property test), mpmath's dilogarithm (the ramp theory), and hand-made
curves whose suggestions are known.
"""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrctl import quadratic
from lrctl.objectives import LogisticRegression, QuadraticObjective, minimize
from lrctl.rangetest import (
    derive_ramp_amplitude,
    divergence_index,
    exponential_lrs,
    one_step_sweep,
    quadratic_sweep_log_excess,
    ramp_log_amplitude,
    ramp_return_point,
    range_test,
    repeated_range_test,
    smooth_in_log_lr,
    steepest_lr_prediction,
    suggest,
)


@pytest.fixture(scope="module")
def logistic():
    obj = LogisticRegression.from_dataset("breast_cancer", l2=1e-2)
    theta_star = minimize(obj)
    return obj, theta_star, obj.loss(theta_star)


def random_quadratic(seed, dim=8, lam_max=4.0):
    rng = np.random.default_rng(seed)
    eig = np.concatenate([[0.05, lam_max], rng.uniform(0.05, lam_max, dim - 2)])
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    H = 0.5 * ((Q * eig) @ Q.T + ((Q * eig) @ Q.T).T)
    return H, eig


# ---------------------------------------------------------------------------------------
# The sweep on a quadratic: simulation vs closed form
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sweep_on_quadratic_matches_closed_form(seed):
    H, eig = random_quadratic(seed)
    minimizer = np.random.default_rng(seed + 10).standard_normal(8)
    q = QuadraticObjective(H, minimizer=minimizer, loss_min=0.7)
    theta0 = np.zeros(8)
    r = range_test(q, theta0, lr_min=1e-3, lr_max=50.0, steps=80, stop_window=1)
    lrs = exponential_lrs(1e-3, 50.0, 80)
    log_excess = quadratic_sweep_log_excess(H, theta0 - minimizer, lrs)
    closed = 0.7 + np.exp(np.minimum(log_excess, 700.0))
    n = len(r.losses)
    # The ramp is fast (Δ = 0.14), so the top component is never crushed below round-off and
    # the float simulation follows the exact recursion.
    assert np.allclose(r.losses, closed[:n], rtol=1e-7, atol=0)
    assert r.diverged
    assert r.diverged_at == divergence_index(closed, q.loss(theta0), threshold=3.0, window=1)
    assert r.diverged_lr > 2.0 / eig.max()  # nothing diverges below the stability bound


def test_closed_form_single_component_by_hand():
    # One eigenvalue λ = 2, e0 = 1: L_t = ½·2·Π(1 − 2η_s)² (hand computation).
    lrs = np.array([0.1, 0.25, 1.0])
    got = np.exp(quadratic_sweep_log_excess(np.array([[2.0]]), [1.0], lrs))
    expected = np.array([0.8**2, (0.8 * 0.5) ** 2, (0.8 * 0.5 * 1.0) ** 2])
    assert np.allclose(got, expected, rtol=1e-12)


def test_closed_form_stays_finite_far_past_divergence():
    le = quadratic_sweep_log_excess(np.diag([1.0, 100.0]), [1.0, 1.0], np.geomspace(1.0, 1e6, 400))
    assert np.all(np.isfinite(le)) and le[-1] > 1000  # a loss of e^1000, held as its log


class Fn:
    """A plain objective made of two callables (the range test takes any Objective)."""

    def __init__(self, loss, grad, dim=1):
        self.loss, self.grad, self.dim = loss, grad, dim


# ---------------------------------------------------------------------------------------
# Divergence stop
# ---------------------------------------------------------------------------------------


@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(0.1, 10.0),
    st.integers(1, 5),
)
def test_stop_rule_sequential_equals_vectorized(losses, initial, threshold, window):
    # range_test applies the rule step by step; divergence_index applies it to a whole curve.
    # Feed the curve to range_test through a loss callable that replays it.
    curve = list(losses) + [0.0] * 5  # padding so that MIN_POINTS can be met
    calls = {"i": -1}

    def loss(theta):
        calls["i"] += 1
        return initial if calls["i"] == 0 else curve[calls["i"] - 1]

    expected = divergence_index(curve, initial, threshold=threshold, window=window)
    try:
        r = range_test(Fn(loss, lambda th: np.zeros_like(th)), [0.0], lr_min=1e-3, lr_max=1.0,
                       steps=len(curve), threshold=threshold, stop_window=window)
    except ValueError:
        # Too few points before the divergence (the trailing run above the divergence level,
        # at most `window` losses, is not smoothed), or a divergence at the first step.
        assert expected is not None and expected < 5 + window
        return
    assert r.diverged_at == expected


def test_stop_works_for_negative_losses_and_nan():
    # A loss that is negative everywhere near its minimum (L* = −10). fastai's "loss > 4x best"
    # would fire at once there (any loss > −40); the |best| scale fires where the loss has
    # climbed 3|best| above the best.
    q = QuadraticObjective(np.diag([1.0, 4.0]), loss_min=-10.0)
    r = range_test(q, [1.0, 1.0], lr_min=1e-3, lr_max=100.0, steps=100,
                   stop_window=1)
    assert r.diverged and r.diverged_lr > 0.5 and r.losses.min() < -9.9
    best = np.minimum.accumulate(np.concatenate([[r.initial_loss], r.losses]))[:-1]
    over = r.losses > best + 3.0 * np.abs(best)
    assert over[-1] and not over[:-1].any()
    # NaN mid-sweep: stop there, keep only finite losses.
    state = {"t": 0}

    def loss(theta):
        state["t"] += 1
        return float("nan") if state["t"] > 30 else 1.0 / state["t"]

    r = range_test(Fn(loss, lambda th: np.zeros_like(th)), [0.0], steps=60, stop_window=1)
    assert r.diverged and r.diverged_at == 29 and len(r.losses) == 29
    assert np.all(np.isfinite(r.losses)) and np.all(np.isfinite(r.smoothed))


def test_nan_from_the_first_step_is_a_clear_error():
    with pytest.raises(ValueError, match="first step"):
        range_test(Fn(lambda th: float("nan") if th[0] != 1.0 else 1.0,
                      lambda th: np.ones_like(th)), [1.0])
    with pytest.raises(ValueError, match="loss or gradient at theta0"):
        range_test(Fn(lambda th: float("nan"), lambda th: th), [1.0])
    with pytest.raises(ValueError, match="loss or gradient at theta0"):
        range_test(Fn(lambda th: 1.0, lambda th: th * np.nan), [1.0])
    curve = iter([0.9, 0.8, 0.7, float("inf")])
    with pytest.raises(ValueError, match="only 3 finite losses"):
        range_test(Fn(lambda th: 1.0 if th[0] == 0.0 else next(curve),
                      lambda th: -np.ones_like(th)), [0.0], steps=20)


# ---------------------------------------------------------------------------------------
# Smoothing and suggestions
# ---------------------------------------------------------------------------------------


def test_smoothing_has_no_lag_and_exact_slopes_on_cubics():
    lrs = np.geomspace(1e-4, 1.0, 81)
    u = np.log(lrs)
    y = 1.0 - 0.2 * u + 0.05 * u**2 - 0.01 * u**3
    sm, slope, pts = smooth_in_log_lr(lrs, y, width=2.0)
    assert pts > 5
    assert np.allclose(sm, y, atol=1e-10)  # a lagging filter would shift the curve right
    assert np.allclose(slope, -0.2 + 0.1 * u - 0.03 * u**2, atol=1e-9)


def test_smoothing_removes_noise_without_shifting_the_minimum():
    # A noisy valley with its minimum at ln η = 0 (hand-made). An EMA of span w would put the
    # minimum about w/2 steps later; the centred filter does not move it.
    rng = np.random.default_rng(0)
    lrs = np.geomspace(np.exp(-4.0), np.exp(4.0), 401)
    u = np.log(lrs)
    clean = 0.1 * u**2
    sm, _, _ = smooth_in_log_lr(lrs, clean + 0.05 * rng.standard_normal(u.size), width=1.5)
    assert abs(u[np.argmin(sm)]) < 0.15
    assert np.std(sm - clean) < 0.3 * 0.05


def test_suggestions_on_a_hand_made_curve():
    lrs = np.geomspace(1e-4, 1.0, 9)
    loss = np.array([1.0, 0.99, 0.95, 0.8, 0.5, 0.3, 0.25, 0.22, 2.0])
    s = suggest(lrs, loss, np.gradient(loss, np.log(lrs)))
    # Central differences: the steepest descent is at index 4 (−0.5/ln 10 per half decade).
    assert s.steepest_index == 4 and s.minimum_index == 7
    assert s.valley_index == 3  # the decreasing run covers indices 0..7; its middle is 3
    assert np.isclose(s.min_over_10, lrs[7] / 10)
    flat = suggest(lrs, np.linspace(1.0, 2.0, 9), np.full(9, 0.5))
    assert flat.steepest is None and flat.valley is None and flat.minimum_index == 0


def test_range_test_on_logistic_regression(logistic):
    obj, theta_star, loss_star = logistic
    lam_max = np.linalg.eigvalsh(obj.hessian(theta_star))[-1]
    r = range_test(obj, np.zeros(obj.dim), lr_min=1e-4, lr_max=1e3, steps=141)
    s = r.suggestions
    assert r.diverged and r.diverged_lr > 2.0 / lam_max  # not before the bound at the optimum
    assert s.steepest < s.min_over_10 * 10 and r.lrs[s.minimum_index] < r.diverged_lr
    assert r.losses.min() < 0.2 and r.losses.min() > loss_star - 1e-12


def test_repeated_sweeps_give_an_interval_when_they_disagree():
    q = QuadraticObjective(np.diag([0.01, 1.0]))

    def problem(seed):
        # The start decides which direction dominates: the sweeps disagree on purpose.
        start = np.array([10.0, 0.0]) if seed == 0 else np.array([0.0, 10.0])
        return q, start

    rep = repeated_range_test(problem, seeds=[0, 1], lr_min=1e-3, lr_max=1e3, steps=120,
                              agreement=2.0)
    iv = rep.intervals["min_over_10"]
    assert iv.spread > 2.0 and iv.point is None and not iv.agree
    same = repeated_range_test(lambda s: problem(1), seeds=[0, 1], lr_min=1e-3, lr_max=1e3,
                               steps=120)
    iv = same.intervals["min_over_10"]
    assert iv.agree and iv.low == iv.high and np.isclose(iv.point, iv.low, rtol=1e-12)


def test_repeated_sweeps_over_minibatch_orders(logistic):
    obj, _, _ = logistic
    X, y = obj.X[:, :-1], obj.y

    def problem(seed):
        rng = np.random.default_rng(seed)
        batches = [LogisticRegression(X[i], y[i], l2=1e-2)
                   for i in np.array_split(rng.permutation(len(y)), 569 // 64)]
        return obj, np.zeros(obj.dim), itertools.cycle(batches)

    rep = repeated_range_test(problem, seeds=range(4), lr_min=1e-4, lr_max=1e3, steps=141,
                              stop_window=5)
    assert len(rep.sweeps) == 4
    for kind, iv in rep.intervals.items():
        assert iv.low <= iv.high and len(iv.values) <= 4, kind
        assert (iv.point is not None) == (iv.high / iv.low <= 2.0)


@pytest.mark.parametrize("per_decade", [10, 40, 160])
def test_steepest_suggestion_follows_the_ramp_on_one_curvature(per_decade):
    # One direction of curvature 2: L_t − L* = (L_0 − L*)·exp(2 Σ ln|1 − η_sλ|). Its steepest
    # point in ln η is (1 − e^{−Δ})/(2λ) (steepest_lr_prediction's derivation) up to the O(ηλ)
    # correction of ln(1 − ηλ) ≈ −ηλ and the grid (half a step in ln η); measured: within 3 %.
    lam = 2.0
    q = QuadraticObjective(np.array([[lam]]), loss_min=1.0)
    n = 6 * per_decade + 1
    r = range_test(q, [1.0], lr_min=1e-5, lr_max=10.0, steps=n, stop_window=1,
                   smoothing=0.0)
    predicted = steepest_lr_prediction(lam, r.log_lr_step)
    assert abs(np.log(r.suggestions.steepest / predicted)) < 0.15 + r.log_lr_step / 2


# ---------------------------------------------------------------------------------------
# Slopes and curvature estimates
# ---------------------------------------------------------------------------------------


def test_one_step_slope_is_the_exact_quadratic_slope():
    H, _ = random_quadratic(3)
    q = QuadraticObjective(H)
    theta = np.random.default_rng(1).standard_normal(8)
    lrs = np.geomspace(1e-4, 1.0, 30)
    sw = one_step_sweep(q.loss, q.grad, theta, lrs)
    expected = quadratic.exact_range_test_slope(q.grad(theta), H, lrs)
    assert np.allclose(sw.slopes, expected, rtol=1e-10, atol=1e-14)
    stacked = one_step_sweep(q.loss, q.grad, theta, lrs, stacked=True)
    assert np.allclose(stacked.losses, sw.losses, rtol=1e-13)


def test_one_step_slope_matches_finite_differences_on_logistic(logistic):
    obj, _, _ = logistic
    theta = obj.initial(seed=0, scale=0.5)
    lrs = np.geomspace(1e-3, 3.0, 12)
    sw = one_step_sweep(obj.loss, obj.grad, theta, lrs, stacked=True)
    g = obj.grad(theta)
    h = 1e-5
    fd = np.array([(obj.loss(theta - eta * np.exp(h) * g) - obj.loss(theta - eta * np.exp(-h) * g))
                   / (2 * h) for eta in lrs])
    assert np.allclose(sw.slopes, fd, rtol=1e-5, atol=1e-12)


def test_small_lr_estimate_is_the_gradient_weighted_curvature(logistic):
    obj, theta_star, loss_star = logistic
    for theta in (np.zeros(obj.dim), theta_star + 0.3 * obj.initial(seed=2, scale=1.0)):
        sw = one_step_sweep(obj.loss, obj.grad, theta, np.geomspace(1e-7, 1e-5, 3))
        rho_hat = sw.sharpness_estimates(loss_star)[0]
        rho_g = quadratic.gradient_weighted_curvature(obj.grad(theta), obj.loss(theta) - loss_star)
        assert abs(rho_hat / rho_g - 1.0) < 1e-4


def test_aligned_error_recovers_lambda_max_on_a_quadratic():
    H, eig = random_quadratic(4)
    q = QuadraticObjective(H)
    u = np.linalg.eigh(H)[1][:, -1]
    sw = one_step_sweep(q.loss, q.grad, 0.3 * u, np.geomspace(1e-8, 1e-6, 3))
    assert abs(sw.sharpness_estimates(0.0)[0] - eig.max()) < 1e-6 * eig.max()


def test_training_sweep_estimate_uses_the_geometric_factor():
    # A loss whose gradient is constant (linear in θ, plus a huge floor far below): the per-step
    # decrease is exactly η_t‖g‖², so the sweep's ρ̂ must equal ‖g‖²/(2(L − L*)) wherever
    # L barely moves; without the factor 1 − e^{−Δ} it would be off by Δ/(1 − e^{−Δ}).
    g = np.array([3.0, 4.0])
    floor = -1e6

    def loss(theta):
        return 1.0 + float(g @ theta)

    r = range_test(Fn(loss, lambda th: g.copy(), 2), np.zeros(2), lr_min=1e-9, lr_max=1e-7, steps=101,
                   smoothing=0.5)
    _, rho = r.sharpness_estimates(floor)
    expected = (g @ g) / (2.0 * (r.smoothed[: len(rho)] - floor))
    interior = slice(10, -10)
    assert np.allclose(rho[interior], expected[interior], rtol=1e-6)


# ---------------------------------------------------------------------------------------
# Ramp theory
# ---------------------------------------------------------------------------------------


def test_ramp_return_point_is_the_root_of_the_real_dilogarithm():
    x0 = float(mpmath.findroot(lambda t: mpmath.re(mpmath.polylog(2, t)), 12.6))
    assert abs(ramp_return_point() - x0) < 1e-9


def test_ramp_log_amplitude_matches_mpmath_and_the_derivation():
    X = np.array([0.5, 1.0, 2.0, 5.0, 20.0])
    got = ramp_log_amplitude(X, 1.0, 0.1)
    ref = np.array([-float(mpmath.re(mpmath.polylog(2, x))) / 0.1 for x in X])
    assert np.allclose(got, ref, rtol=1e-10)
    d = derive_ramp_amplitude()
    sym = d.symbols
    val = d.result.subs({sym["eta"]: 5, sym["lam"]: 1, sym["Delta"]: 0.1}).evalf()
    assert abs(float(val) - got[3]) < 1e-8
    # At the bound the exponent is −π²/(4Δ) (Re Li₂(2) = π²/4).
    assert np.isclose(ramp_log_amplitude(2.0, 1.0, 0.1), -np.pi**2 / 0.4)


def test_ramp_integral_approximates_the_discrete_sum():
    # The discrete log-amplitude Σ ln|1 − η_sλ| of a slow sweep vs the continuum −Re Li₂/Δ,
    # away from the singular point ηλ = 1 (where single factors dominate the sum).
    lam = 1.0
    lrs = exponential_lrs(1e-6, 30.0, 4001)
    step = np.log(lrs[1] / lrs[0])
    log_amp = 0.5 * (quadratic_sweep_log_excess(np.array([[lam]]), [1.0], lrs) - np.log(0.5))
    for X in (0.5, 2.0, 5.0, 20.0):
        i = int(np.argmin(np.abs(lrs * lam - X)))
        cont = ramp_log_amplitude(lrs[i], lam, step)
        assert abs(log_amp[i] - cont) < 0.02 * abs(cont) + 1.0


def test_exact_sweeps_on_a_quadratic_diverge_past_the_return_point():
    # In exact arithmetic (the closed form) the top component is crushed at 2/λ and regrows to
    # its starting size only at X₀/λ. With a loss floor L* = 1 the stop needs the excess loss to
    # reach about 3 (four times the starting excess 0.65), so it fires past η = X₀/λ_max at
    # every ramp speed, i.e. beyond 6.3x the stability bound 2/λ_max.
    H = np.diag([0.3, 1.0])
    e0 = np.array([1.0, 1.0])
    L0 = 1.0 + 0.5 * e0 @ H @ e0
    for per_decade in (5, 20, 100, 400):
        lrs = exponential_lrs(1e-4, 1e3, 7 * per_decade + 1)
        losses = 1.0 + np.exp(np.minimum(quadratic_sweep_log_excess(H, e0, lrs), 700.0))
        i = divergence_index(losses, L0, threshold=3.0, window=1)
        assert lrs[i] * 1.0 > ramp_return_point()


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


def test_bad_input_is_refused_with_clear_errors():
    q = QuadraticObjective(np.eye(2))
    args = (q, [1.0, 1.0])
    with pytest.raises(ValueError, match="lr_max must exceed lr_min"):
        range_test(*args, lr_min=1.0, lr_max=0.1)
    with pytest.raises(ValueError, match="lr_min"):
        range_test(*args, lr_min=-1.0)
    with pytest.raises(ValueError, match="steps must be >= 5"):
        range_test(*args, steps=3)
    with pytest.raises(ValueError, match="threshold"):
        range_test(*args, threshold=0.0)
    with pytest.raises(ValueError, match="stop_window"):
        range_test(*args, stop_window=0)
    with pytest.raises(ValueError, match="smoothing"):
        range_test(*args, smoothing=-1.0)
    with pytest.raises(TypeError, match="loss must return a scalar"):
        range_test(Fn(lambda th: th, q.grad, 2), [1.0, 1.0])
    with pytest.raises(ValueError, match="gradient must have shape"):
        range_test(Fn(q.loss, lambda th: np.zeros(3), 2), [1.0, 1.0])
    with pytest.raises(TypeError, match="lacks grad"):
        range_test(type("NoGrad", (), {"dim": 2, "loss": lambda self, th: 0.0})(), [1.0, 1.0])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        repeated_range_test(lambda s: args, seeds=[0])
    with pytest.raises(ValueError, match="agreement"):
        repeated_range_test(lambda s: args, seeds=[0, 1], agreement=1.0)
    with pytest.raises(TypeError, match="make_problem"):
        repeated_range_test(lambda s: q, seeds=[0, 1])
    with pytest.raises(ValueError, match="geometric"):
        smooth_in_log_lr([1.0, 2.0, 5.0], [1.0, 1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="increasing"):
        one_step_sweep(q.loss, q.grad, [1.0, 1.0], lrs=[0.1, 0.01])
    with pytest.raises(ValueError, match="loss_min"):
        one_step_sweep(q.loss, q.grad, [1.0, 1.0], lrs=[0.1, 0.2]).sharpness_estimates(5.0)
    with pytest.raises(ValueError, match="negative eigenvalue"):
        quadratic_sweep_log_excess(np.diag([1.0, -1.0]), [1.0, 1.0], [0.1])
    with pytest.raises(ValueError, match="no component"):
        quadratic_sweep_log_excess(np.diag([1.0, 0.0]), [0.0, 1.0], [0.1])
    with pytest.raises(ValueError, match="window"):
        divergence_index([1.0], 1.0, window=0)


# ---------------------------------------------------------------------------------------
# repeated_range_test on an executor: one sweep per seed, the same result as sequentially


def _seeded_minibatch_problem(seed):
    """Module level so that a spawned process pool can unpickle it: a start and a
    mini-batch order (noisy copies of one quadratic) drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    batches = [QuadraticObjective(np.diag(rng.uniform(0.5, 2.0, size=3)))
               for _ in range(8)]
    return QuadraticObjective(np.diag([0.5, 1.0, 2.0])), rng.normal(size=3), itertools.cycle(batches)


_EXEC_KW = {"lr_min": 1e-3, "lr_max": 30.0, "steps": 60}


def _assert_same_sweeps(a, b):
    assert len(a.sweeps) == len(b.sweeps)
    for x, y in zip(a.sweeps, b.sweeps, strict=True):
        np.testing.assert_array_equal(x.losses, y.losses)
        np.testing.assert_array_equal(x.lrs, y.lrs)
        assert x.suggestions.as_dict() == y.suggestions.as_dict()
    assert sorted(a.intervals) == sorted(b.intervals)
    for k in a.intervals:
        np.testing.assert_array_equal(a.intervals[k].values, b.intervals[k].values)
        assert a.intervals[k].point == b.intervals[k].point


def test_repeated_range_test_on_threads_and_a_spawned_process_pool():
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    seeds = [3, 1, 4]
    seq = repeated_range_test(_seeded_minibatch_problem, seeds, **_EXEC_KW)
    # the seeds matter (otherwise "identical" would prove nothing)
    assert not np.array_equal(seq.sweeps[0].losses[:20], seq.sweeps[1].losses[:20])
    with ThreadPoolExecutor(2) as pool:
        _assert_same_sweeps(seq, repeated_range_test(_seeded_minibatch_problem, seeds,
                                                     executor=pool, **_EXEC_KW))
        # threads need no pickling: a lambda is fine
        _assert_same_sweeps(seq, repeated_range_test(
            lambda s: _seeded_minibatch_problem(s), seeds, executor=pool, **_EXEC_KW))
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        _assert_same_sweeps(seq, repeated_range_test(_seeded_minibatch_problem, seeds,
                                                     executor=pool, **_EXEC_KW))
        with pytest.raises(TypeError, match=r"must pickle.*ThreadPoolExecutor.*Dask"):
            repeated_range_test(lambda s: _seeded_minibatch_problem(s), seeds, executor=pool,
                                **_EXEC_KW)


def test_repeated_range_test_on_a_dask_local_cluster():
    distributed = pytest.importorskip("distributed")

    seeds = [0, 1, 2]
    seq = repeated_range_test(_seeded_minibatch_problem, seeds, **_EXEC_KW)
    offset = 0  # a closure (cloudpickle sends it)
    with distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        ex = client.get_executor(pure=False)
        par = repeated_range_test(lambda s: _seeded_minibatch_problem(s + offset), seeds,
                                  executor=ex, **_EXEC_KW)
    _assert_same_sweeps(seq, par)


def test_repeated_range_test_executor_errors():
    from concurrent.futures import ThreadPoolExecutor

    with pytest.raises(TypeError, match=r"executor must be a concurrent\.futures\.Executor"):
        repeated_range_test(_seeded_minibatch_problem, [0, 1], executor=object(), **_EXEC_KW)
    with pytest.raises(TypeError, match="make_problem must be a callable"):
        repeated_range_test(None, [0, 1], **_EXEC_KW)
    with ThreadPoolExecutor(2) as pool, pytest.raises(TypeError, match="must return a tuple"):
        repeated_range_test(lambda s: 1.0, [0, 1], executor=pool, **_EXEC_KW)
