"""Tests for lrctl.schedules: reference values from PyTorch, closed forms vs quadrature,
invariants, and argument validation.

Reference values marked "torch 2.13.0" were produced once with torch 2.13.0+cpu in a throwaway
virtualenv (torch is not a dependency of lrctl) by stepping ``torch.optim.lr_scheduler``
schedulers one step at a time (``scheduler.step()`` after ``optimizer.step()``) on
``SGD([torch.zeros(1)], lr=base_lr)`` and reading ``scheduler.get_last_lr()[0]``; the
"epoch mode" values came from ``scheduler.step(epoch)`` instead.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from lrctl import schedules as S

# ---------------------------------------------------------------------------------------
# PyTorch reference values
# ---------------------------------------------------------------------------------------

# torch 2.13.0: CosineAnnealingWarmRestarts(T_0=10, T_mult=2, eta_min=0.001), base lr 0.1,
# stepped 200 times.
SGDR_10_2 = {0: 0.1, 1: 0.09757729755661011, 5: 0.0505, 9: 0.0034227024433899004, 10: 0.1,
             11: 0.09939057285945932, 29: 0.001609427140540686, 30: 0.1,
             31: 0.09984740801978985, 69: 0.0011525919802101658, 70: 0.1, 150: 0.1,
             200: 0.07800072653447031}
# torch 2.13.0: CosineAnnealingWarmRestarts(T_0=7, T_mult=1, eta_min=0.0), base lr 0.5.
SGDR_7_1 = {0: 0.5, 3: 0.3056302334890786, 6: 0.02475778302439524, 7: 0.5,
            8: 0.47524221697560476, 20: 0.02475778302439524, 21: 0.5, 49: 0.5,
            50: 0.47524221697560476}
# torch 2.13.0: CosineAnnealingWarmRestarts(T_0=1, T_mult=3, eta_min=0.0), base lr 1.0,
# stepped 3**12 times; at each restart S_n = (3^n − 1)/2 the rate is 1.0; one step earlier
# (step S_n − 1, the keys below) it is:
SGDR_1_3_BEFORE_RESTART = {3: 0.2500000000000001, 12: 0.03015368960704584,
                           39: 0.0033808211290284884, 120: 0.0003760237478849793,
                           363: 4.1785072281363966e-05, 1092: 4.642843291491339e-06,
                           3279: 5.158721865239357e-07, 9840: 5.731914060058685e-08,
                           29523: 6.368793492583791e-09, 88572: 7.07643721398199e-10,
                           265719: 7.862710482697821e-11}
# torch 2.13.0, the same scheduler driven by step(epoch) (float log for the cycle index):
# at the restarts 121 and 29524 it returned 0.0 (one cycle short), elsewhere 1.0.
SGDR_1_3_EPOCH_MODE_WRONG = (121, 29524)
# torch 2.13.0 epoch mode where it is exact (mult=1 uses integer %, and mult=2 far from a
# restart): CosineAnnealingWarmRestarts(T_0=1000, T_mult=1, eta_min=0.01), base lr 1.0 ...
SGDR_BIG_1000_1 = {10**15 + 7: 0.9998803111963072, 10**15 + 999: 0.010002442725080185,
                   12345678901234: 0.8721621775056759}
# ... and CosineAnnealingWarmRestarts(T_0=1, T_mult=2, eta_min=0.0), base lr 1.0.
SGDR_BIG_1_2 = {2**40 + 12345: 0.9999999999999997, 2**45 + 3 * 2**40: 0.9784701678660914}
# torch 2.13.0: CosineAnnealingLR(T_max=100, eta_min=0.01), base lr 0.1.
COSINE_100 = {0: 0.1, 1: 0.09997779521645793, 25: 0.08681980515339464,
              50: 0.055000000000000014, 99: 0.010022204783542078, 100: 0.01}
# torch 2.13.0: OneCycleLR(max_lr=0.1, total_steps=100) (pct_start=0.3, div_factor=25,
# final_div_factor=1e4, cosine annealing).
ONECYCLE_100 = {0: 0.0040000000000000036, 1: 0.004281378056590748, 10: 0.029516394846410082,
                29: 0.1, 30: 0.09994965352845243, 50: 0.0793893450575732,
                98: 5.07464715475788e-05, 99: 4e-07}
# torch 2.13.0: StepLR(step_size=30, gamma=0.1), base lr 0.1.
STEP_30 = {0: 0.1, 29: 0.1, 30: 0.010000000000000002, 59: 0.010000000000000002,
           60: 0.0010000000000000002, 99: 0.00010000000000000003}
# torch 2.13.0: ExponentialLR(gamma=0.95), base lr 0.1.
EXP_095 = {0: 0.1, 1: 0.095, 10: 0.05987369392383786, 100: 0.0005920529220333994}
# torch 2.13.0: LinearLR(start_factor=0.1, end_factor=1.0, total_iters=10), base lr 0.2.
LINEAR_LR = {0: 0.020000000000000004, 1: 0.038000000000000006, 5: 0.11000000000000003,
             10: 0.2000000000000001, 20: 0.2000000000000001}


def _check(sched, table, rtol=1e-12, atol=1e-15):
    steps = np.array(list(table), dtype=np.int64)
    want = np.array(list(table.values()))
    np.testing.assert_allclose(sched(steps), want, rtol=rtol, atol=atol)
    for s, v in table.items():  # the scalar path too
        assert sched(s) == pytest.approx(v, rel=rtol, abs=atol)


def test_sgdr_matches_torch_small_steps():
    _check(S.cosine_warm_restarts(0.1, period=10, mult=2, lr_min=0.001), SGDR_10_2)
    _check(S.cosine_warm_restarts(0.5, period=7, mult=1), SGDR_7_1)


def test_sgdr_matches_torch_at_every_restart_where_float_log_fails():
    f = S.cosine_warm_restarts(1.0, period=1, mult=3)
    restarts = [(3**n - 1) // 2 for n in range(2, 13)]
    assert restarts == [k + 1 for k in SGDR_1_3_BEFORE_RESTART]
    np.testing.assert_array_equal(f(np.array(restarts)), 1.0)
    _check(f, SGDR_1_3_BEFORE_RESTART, rtol=1e-9)
    # The naive float-log cycle index (PyTorch's step(epoch) shortcut) is wrong exactly where
    # torch's epoch mode returned 0.0; ours is right there.
    for s in SGDR_1_3_EPOCH_MODE_WRONG:
        naive_n = int(math.log(s / 1 * (3 - 1) + 1, 3))
        exact_n = round(math.log(2 * s + 1) / math.log(3))
        assert naive_n == exact_n - 1
        assert f(s) == 1.0


def test_sgdr_matches_torch_at_very_large_steps():
    _check(S.cosine_warm_restarts(1.0, period=1000, mult=1, lr_min=0.01), SGDR_BIG_1000_1,
           rtol=1e-9)
    _check(S.cosine_warm_restarts(1.0, period=1, mult=2), SGDR_BIG_1_2, rtol=1e-9)


def test_sgdr_exact_at_huge_restarts():
    # Hand derivation: restarts of (period 1, mult 3) are S_n = (3^n − 1)/2; at S_n the rate is
    # lr_max, and at S_n − 1 it is ½(1 + cos(π(T−1)/T)) with T = 3^(n−1) = ½(1 − cos(π/T)).
    f = S.cosine_warm_restarts(1.0, period=1, mult=3)
    for n in (30, 38, 60, 80):   # up to 3^80 ≈ 1.5e38, beyond int64: Python-int path
        s = (3**n - 1) // 2
        assert f(s) == 1.0
        T = 3 ** (n - 1)
        assert f(s - 1) == pytest.approx(0.5 * (1 - math.cos(math.pi / T)), rel=1e-9, abs=0)
    # the int64 array path agrees with the Python-int path
    s = np.array([(3**n - 1) // 2 for n in range(20, 39)], dtype=np.int64)
    np.testing.assert_array_equal(f(s), 1.0)
    np.testing.assert_allclose(f(s - 1), [f(int(v) - 1) for v in s], rtol=1e-15)
    # a float step half a step after the restart S_20 (exact in float): T_cur = 0.5, T = 3^20
    assert f(float(s[0]) + 0.5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5 / 3**20)),
                                                 rel=1e-15)
    assert f(np.array([float(s[0]) - 0.5]))[0] == pytest.approx(
        0.5 * (1 + math.cos(math.pi * (3**19 - 0.5) / 3**19)), abs=1e-15)


def test_sgdr_cycle_starts():
    f = S.cosine_warm_restarts(0.1, period=10, mult=2)
    np.testing.assert_array_equal(f.cycle_starts(1000), [0, 10, 30, 70, 150, 310, 630])
    g = S.cosine_warm_restarts(0.1, period=4)
    np.testing.assert_array_equal(g.cycle_starts(13), [0, 4, 8, 12])


def test_cosine_one_cycle_step_exponential_linear_match_torch():
    _check(S.cosine(0.1, 100, lr_min=0.01), COSINE_100)
    # OneCycleLR(total_steps=N, pct_start=p) == one_cycle(max_lr, N-1, (pN-1)/(N-1)).
    _check(S.one_cycle(0.1, 99, pct_start=(0.3 * 100 - 1) / 99), ONECYCLE_100, rtol=1e-11)
    _check(S.step_decay(0.1, 30, gamma=0.1), STEP_30)
    _check(S.exponential(0.1, 0.95), EXP_095, rtol=1e-11)
    _check(S.linear_warmup(0.2, 10, lr_init=0.02), LINEAR_LR, rtol=1e-11)


# ---------------------------------------------------------------------------------------
# Values, shapes, invariants
# ---------------------------------------------------------------------------------------


ALL = [
    S.constant(0.05),
    S.piecewise_constant([0.1, 0.03, 0.01], [20, 55]),
    S.step_decay(0.1, 25, gamma=0.5),
    S.exponential(0.1, 0.9, decay_steps=7),
    S.linear_decay(0.1, 80, lr_min=0.01),
    S.cosine(0.1, 80, lr_min=0.002),
    S.cosine_warm_restarts(0.1, period=10, mult=2, lr_min=0.001),
    S.cosine_warm_restarts(0.1, period=7),
    S.linear_warmup(0.1, 15, lr_init=0.01),
    S.one_cycle(0.1, 90, pct_start=0.25),
    S.join([S.linear_warmup(0.1, 10), S.cosine(0.1, 60), S.constant(0.004)], [10, 70]),
    S.join([S.constant(0.1), S.cosine_warm_restarts(0.1, 5, 3)], [12.5]),
]


@pytest.mark.parametrize("sched", ALL, ids=repr)
def test_shapes_and_types(sched):
    assert isinstance(sched(3), float)
    assert isinstance(sched(3.5), float)
    assert isinstance(sched(np.float64(3.5)), float)
    grid = np.linspace(0, 120, 24).reshape(4, 6)
    out = sched(grid)
    assert out.shape == (4, 6) and out.dtype == float
    np.testing.assert_allclose(out.ravel(), [sched(float(v)) for v in grid.ravel()], rtol=1e-14)
    assert np.all(out >= 0) and np.all(np.isfinite(out))
    # the scalar fast path used by the ODE solver agrees, also exactly at the breakpoints
    points = np.concatenate([grid.ravel(), sched._breakpoints(120.0)])
    np.testing.assert_allclose([sched._scalar(float(v)) for v in points], sched(points),
                               rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("sched", ALL, ids=repr)
def test_repr_rebuilds_and_equality(sched):
    ns = {name: getattr(S, name) for name in S.__all__}
    rebuilt = eval(repr(sched), ns)
    assert rebuilt == sched and hash(rebuilt) == hash(sched)
    grid = np.linspace(0, 150, 301)
    np.testing.assert_array_equal(rebuilt(grid), sched(grid))


def test_frozen():
    f = S.cosine(0.1, 10)
    with pytest.raises(AttributeError):
        f.name = "x"


def test_hand_values():
    # hand derivations from the formulas in the docstrings
    assert S.linear_decay(0.1, 100, lr_min=0.02)(25) == pytest.approx(0.08)
    assert S.cosine(1.0, 4)(1) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert S.exponential(0.2, 0.5, decay_steps=4)(6) == pytest.approx(0.2 * 0.5**1.5)
    assert S.one_cycle(1.0, 10, pct_start=0.5, div_factor=10, final_div_factor=100)(5) == 1.0
    assert S.one_cycle(1.0, 10, pct_start=0.5, div_factor=10,
                       final_div_factor=100)(10) == pytest.approx(1e-3)
    f = S.join([S.constant(1.0), S.linear_decay(1.0, 10)], [5])
    assert f(4.999) == 1.0 and f(5) == 1.0 and f(10) == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(1e-4, 10), h=st.floats(1, 1e4), frac=st.floats(0, 1))
def test_decays_are_monotone_and_bounded(lr, h, frac):
    lo = frac * lr
    t = np.linspace(0, 1.5 * h, 200)
    for sched in (S.linear_decay(lr, h, lo), S.cosine(lr, h, lo)):
        v = sched(t)
        assert np.all(np.diff(v) <= 1e-12 * lr)
        assert v[0] == pytest.approx(lr) and v[-1] == pytest.approx(lo, abs=1e-12 * lr)


@settings(max_examples=40, deadline=None)
@given(period=st.integers(1, 50), mult=st.integers(1, 4), step=st.integers(0, 10**6))
def test_sgdr_restart_structure(period, mult, step):
    f = S.cosine_warm_restarts(1.0, period=period, mult=mult)
    starts = f.cycle_starts(step + 1)
    start = int(starts[-1])
    # the cycle containing `step`: start <= step < start + length
    length = period * mult ** (len(starts) - 1)
    assert start <= step < start + length
    assert f(step) == pytest.approx(0.5 * (1 + math.cos(math.pi * (step - start) / length)),
                                    abs=1e-12)
    assert f(start) == 1.0


# ---------------------------------------------------------------------------------------
# Integrals: closed forms vs quadrature
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sched", ALL, ids=repr)
@pytest.mark.parametrize("power", [1, 2])
def test_closed_form_integrals_match_scipy_quad(sched, power):
    assert sched.has_closed_form
    for horizon in (0.0, 3.7, 33.0, 100.0, 157.25):
        closed = S.integral(sched, horizon, power=power, method="closed")
        points = [p for p in sched._breakpoints(horizon)] or None
        ref, _ = quad(lambda t, f=sched: f(t) ** power, 0.0, horizon, points=points,
                      limit=400, epsabs=1e-14, epsrel=1e-12) if horizon > 0 else (0.0, 0.0)
        assert closed == pytest.approx(ref, rel=1e-9, abs=1e-13)
        ours = S.integral(sched, horizon, power=power, method="quadrature")
        assert ours == pytest.approx(closed, rel=1e-10, abs=1e-13)


def test_integral_broadcasts_over_horizon():
    f = S.cosine_warm_restarts(0.1, 10, 2)
    h = np.array([[5.0, 10.0], [30.0, 1234.5]])
    out = S.integral(f, h, power=2)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out.ravel(), [S.integral(f, float(v), power=2) for v in h.ravel()])


def test_integral_hand_values():
    # ∫ of the half cosine from lr to 0 over H is lr·H/2; of its square 3/8·lr²·H
    assert S.integral(S.cosine(0.1, 100), 100) == pytest.approx(5.0)
    assert S.integral(S.cosine(0.1, 100), 100, power=2) == pytest.approx(0.375, rel=1e-12)
    # linear decay 1 → 0 over H: ∫η = H/2, ∫η² = H/3
    assert S.integral(S.linear_decay(1.0, 6), 6, power=2) == pytest.approx(2.0)
    # SGDR: whole cycles average (M+m)/2 and ((M+m)/2)² + ((M−m)/2)²/2
    f = S.cosine_warm_restarts(1.0, 10, mult=2, lr_min=0.2)
    assert S.integral(f, 70) == pytest.approx(0.6 * 70)
    assert S.integral(f, 70, power=2) == pytest.approx((0.36 + 0.08) * 70)
    # at a huge horizon the closed form still works (mult=1: 10^12 whole cycles)
    g = S.cosine_warm_restarts(1.0, 10)
    assert S.integral(g, 1e13) == pytest.approx(0.5e13, rel=1e-12)
    # step decay: 0.1·(30 + 0.5·30 + 0.25·10)
    assert S.integral(S.step_decay(0.1, 30, 0.5), 70) == pytest.approx(0.1 * 47.5)


def test_integral_of_plain_callable_uses_quadrature():
    f = S.as_schedule(lambda t: 0.1 / (1.0 + t))
    assert not f.has_closed_form
    assert S.integral(f, 99.0) == pytest.approx(0.1 * math.log(100.0), rel=1e-10)
    assert S.integral(f, 99.0, power=2) == pytest.approx(0.01 * (1 - 1 / 100), rel=1e-10)
    with pytest.raises(ValueError, match="no closed-form"):
        S.integral(f, 10.0, method="closed")
    # scalar-only callables are evaluated one step at a time
    g = S.as_schedule(lambda t: 0.1 if t < 5 else 0.01, breakpoints=[5.0])
    assert S.integral(g, 10.0) == pytest.approx(0.55)
    j = S.join([S.constant(0.1), f], [5])
    assert not j.has_closed_form
    assert S.integral(j, 104.0) == pytest.approx(0.5 + 0.1 * math.log(100.0), rel=1e-9)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: S.constant(-0.1), ValueError, "lr"),
        (lambda: S.constant(float("nan")), ValueError, "lr"),
        (lambda: S.constant([0.1, 0.2]), TypeError, "lr must be a scalar"),
        (lambda: S.constant(True), TypeError, "lr"),
        (lambda: S.cosine(0.1, 0), ValueError, "horizon"),
        (lambda: S.cosine(0.1, 10, lr_min=0.2), ValueError, r"lr_min must lie in \[0, lr_max\]"),
        (lambda: S.linear_decay(0.0, 10), ValueError, "lr_max"),
        (lambda: S.cosine_warm_restarts(0.1, 10.5), TypeError, "period must be an integer"),
        (lambda: S.cosine_warm_restarts(0.1, 0), ValueError, "period must be an integer >= 1"),
        (lambda: S.cosine_warm_restarts(0.1, 10, mult=0), ValueError, "mult"),
        (lambda: S.cosine_warm_restarts(0.1, 10, mult=1.5), TypeError, "mult"),
        (lambda: S.step_decay(0.1, 10, gamma=1.5), ValueError, "gamma"),
        (lambda: S.step_decay(0.1, 10, gamma=0.0), ValueError, "gamma"),
        (lambda: S.exponential(0.1, 0.0), ValueError, "decay_rate"),
        (lambda: S.exponential(0.1, 0.9, decay_steps=-1), ValueError, "decay_steps"),
        (lambda: S.piecewise_constant([0.1, 0.2], [5, 6]), ValueError, "one more entry"),
        (lambda: S.piecewise_constant([0.1, 0.2, 0.3], [6, 5]), ValueError, "increasing"),
        (lambda: S.linear_warmup(0.1, 10, lr_init=0.5), ValueError, "lr_init"),
        (lambda: S.one_cycle(0.1, 100, pct_start=1.0), ValueError, "pct_start"),
        (lambda: S.one_cycle(0.1, 100, div_factor=0.5), ValueError, "div_factor"),
        (lambda: S.join([], []), ValueError, "at least one"),
        (lambda: S.join([S.constant(0.1), S.constant(0.2)], []), ValueError, "entries"),
        (lambda: S.join([S.constant(0.1), S.constant(0.2)], [-1]), ValueError, "boundaries"),
        (lambda: S.join([S.constant(0.1), 3.0], [1]), TypeError, "callable"),
        (lambda: S.join("abc", [1]), TypeError, "sequence"),
        (lambda: S.constant(0.1)(-1), ValueError, "step must be >= 0"),
        (lambda: S.constant(0.1)([0, float("nan")]), ValueError, "step must be finite"),
        (lambda: S.constant(0.1)("3"), TypeError, "step"),
        (lambda: S.constant(0.1)(True), TypeError, "step"),
        (lambda: S.cosine_warm_restarts(0.1, 10)(-3), ValueError, "step"),
        (lambda: S.integral(S.constant(0.1), -1.0), ValueError, "horizon"),
        (lambda: S.integral(S.constant(0.1), 1.0, power=3), ValueError, "power must be 1 or 2"),
        (lambda: S.integral(S.constant(0.1), 1.0, method="simpson"), ValueError, "method"),
        (lambda: S.as_schedule(lambda t: -t)(np.array([1.0])), ValueError, "negative"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
