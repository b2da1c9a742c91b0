"""lrctl.training: gradient_descent against the closed form on quadratics, and run with every
policy on a plain user class (no lrctl base class), checked against closed forms and
hand-written loops."""

import dataclasses
import math

import numpy as np
import pytest

from conftest import random_spd
from lrctl import adaptive, curvature, rangetest, schedules
from lrctl.objectives import MLP, Objective, QuadraticObjective, check_objective
from lrctl.training import (
    Constant,
    Divergence,
    ExponentialRamp,
    Feedback,
    Hypergradient,
    Run,
    Scheduled,
    Sharpness,
    gradient_descent,
    run,
)
from lrctl.zdomain import PIController


def test_matches_closed_form(rng):
    H, _, _ = random_spd(rng, 5)
    e0 = rng.standard_normal(5)
    eta, T = 0.7, 30
    run = gradient_descent(QuadraticObjective(H), e0, eta, T, reference=np.zeros(5))
    # closed form: e_T = (I − ηH)^T e_0
    expected = np.linalg.matrix_power(np.eye(5) - eta * H, T) @ e0
    np.testing.assert_allclose(run.theta, expected, rtol=1e-10, atol=1e-14)
    assert run.distances[-1] == pytest.approx(np.linalg.norm(expected))
    assert not run.diverged and run.steps == T


def test_divergence_stops_and_says_so():
    q = QuadraticObjective(np.diag([1.0, 4.0]))
    run = gradient_descent(q, [1.0, 1.0], lr=0.6, steps=1000)
    assert run.diverged and run.diverged_at is not None and run.diverged_at < 1000
    assert np.all(np.isfinite(run.losses)) and len(run.losses) == run.diverged_at


def test_schedule_multiplies_lr():
    q = QuadraticObjective(np.eye(1))
    run = gradient_descent(q, [1.0], lr=1.0, steps=2, lr_schedule=lambda t: 0.5)
    assert run.theta[0] == pytest.approx(0.25)  # two halvings


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lr": 0.0}, "lr"), ({"steps": -1}, "steps"), ({"weight_decay": 1.0}, "weight_decay"),
    ({"theta0": [np.nan, 0.0]}, "theta0"), ({"divergence_factor": 0}, "divergence_factor"),
])
def test_bad_input(kwargs, match):
    args = {"theta0": [1.0, 1.0], "lr": 0.1, "steps": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        gradient_descent(QuadraticObjective(np.eye(2)), **args)


def test_steps_must_be_int():
    with pytest.raises(TypeError, match="steps"):
        gradient_descent(QuadraticObjective(np.eye(2)), [1.0, 1.0], 0.1, 2.5)


# ---------------------------------------------------------------------------------------
# run and the policies, on a plain user class (no lrctl base class, single vectors only)
# ---------------------------------------------------------------------------------------

EIG = np.array([1.0, 4.0, 9.0])  # H = diag(EIG); blocks {0} and {1, 2}


class Bowl:
    """What a user writes: L = ½ θᵀHθ with H = diag(1, 4, 9), one vector at a time."""

    dim = 3
    blocks = (slice(0, 1), slice(1, 3))

    def __init__(self):
        self.calls = 0

    def loss(self, theta):
        assert np.shape(theta) == (3,)  # never handed a stack
        self.calls += 1
        return 0.5 * float(np.sum(EIG * theta * theta))

    def grad(self, theta):
        assert np.shape(theta) == (3,)
        return EIG * theta

    def hvp(self, theta, v):
        return EIG * np.asarray(v, dtype=float)


START = np.array([1.0, -1.0, 0.5])


def test_plain_class_is_an_objective_and_not_stacked():
    assert isinstance(Bowl(), Objective) and not getattr(Bowl(), "stacked", False)
    with pytest.raises(TypeError, match="lacks grad"):
        run(type("NoGrad", (), {"dim": 2, "loss": lambda self, t: 0.0})(), Constant(0.1), 3,
            theta0=[0.0, 0.0])
    with pytest.raises(TypeError, match="lacks hvp"):
        adaptive.block_top_eigenvalues(
            type("NoHvp", (), {"dim": 1, "loss": lambda s, t: 0.0, "grad": lambda s, t: t})(),
            [0.0])
    with pytest.raises(TypeError, match="lacks dim, loss, grad"):
        check_objective(object(), require=("dim", "loss", "grad"))


def test_constant_matches_the_closed_form_and_the_stack():
    eta, T = 0.15, 25
    r = run(Bowl(), Constant(eta), T, theta0=START)
    # closed form: θ_T = (1 − ηλ)^T θ_0 elementwise (diagonal H)
    np.testing.assert_allclose(r.theta, (1 - eta * EIG) ** T * START, rtol=1e-12)
    assert r.lrs.tolist() == [eta] * T and r.steps == T and not r.diverged
    # K stacked runs on a non-stacked objective: one call per run, same numbers as K runs
    both = run(Bowl(), Constant([eta, 0.3]), T, theta0=START)
    np.testing.assert_array_equal(both[0].theta, r.theta)
    # lrctl's own (stacked) plant gives the same numbers through the (K, dim) path
    q = QuadraticObjective(np.diag(EIG))
    same = run(q, Constant([eta, 0.3]), T, theta0=START)
    for a, b in zip(both, same, strict=True):
        np.testing.assert_allclose(a.losses, b.losses, rtol=1e-13)
    # 0.3 > 2/9: the stiff mode grows by |1 − 2.7| = 1.7 a step and the run stops
    assert both[1].diverged and both[1].diverged_at == same[1].diverged_at


def test_scheduled_and_weight_decay_match_the_closed_form():
    sched = schedules.cosine(0.2, 30)
    r = run(Bowl(), Scheduled(sched), 30, theta0=START, weight_decay=0.01)
    etas = np.array([sched(t) for t in range(30)])
    # θ_{t+1} = ((1 − λ) − η_t H) θ_t  (decoupled decay λ)
    expected = np.prod(0.99 - np.outer(etas, EIG), axis=0) * START
    np.testing.assert_allclose(r.theta, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(r.lrs, etas, rtol=0, atol=0)


def test_exponential_ramp_is_the_range_test_schedule():
    ramp = ExponentialRamp(1e-3, 1e-1, 5)
    r = run(Bowl(), ramp, 5, theta0=START)
    np.testing.assert_allclose(r.lrs, [1e-3, 10**-2.5, 1e-2, 10**-1.5, 1e-1], rtol=1e-12)
    with pytest.raises(ValueError, match="lr_max must exceed lr_min"):
        ExponentialRamp(1.0, 0.1, 5)


@pytest.mark.parametrize("rule", ["additive", "log"])
def test_hypergradient_matches_a_hand_written_loop(rule):
    lr0, alpha, T = 0.01, 2e-3, 60
    r = run(Bowl(), Hypergradient(lr0, alpha, rule), T, theta0=START)
    # the independent route: the rule written out (Baydin et al. 2018)
    th, lr, g_prev, lrs = START.copy(), lr0, None, []
    for _ in range(T):
        g = EIG * th
        if g_prev is not None:
            dot = float(g @ g_prev)
            lr = lr + alpha * dot if rule == "additive" else math.exp(math.log(lr) + alpha * lr * dot)
        lrs.append(lr)
        th, g_prev = th - lr * g, g
    np.testing.assert_allclose(r.lrs, lrs, rtol=1e-12)
    np.testing.assert_allclose(r.theta, th, rtol=1e-11, atol=1e-300)
    res = adaptive.hypergradient_descent(Bowl(), START, lr0, alpha, T, rule=rule)
    np.testing.assert_allclose(res.run.lrs, lrs, rtol=1e-12)


def test_layerwise_policies_on_the_plain_class():
    # block-diagonal H: the caps are fraction·2/λ_max(H_ℓ) = 0.5·2/1 and 0.5·2/9
    res = adaptive.curvature_capped_descent(Bowl(), START, 10, fraction=0.5, tol=1e-12)
    np.testing.assert_allclose(res.run.lrs[0], [1.0, 1.0 / 9.0], rtol=1e-9)
    bc = adaptive.block_top_eigenvalues(Bowl(), START, tol=1e-12)
    np.testing.assert_allclose(bc.values, [1.0, 9.0], rtol=1e-9)
    # LARS: η_ℓ = lr·‖θ_ℓ‖/‖g_ℓ‖ by hand at θ_0
    lars = run(Bowl(), adaptive.LARS(0.1), 1, theta0=START)
    g = EIG * START
    hand = [0.1 * abs(START[0]) / abs(g[0]),
            0.1 * np.linalg.norm(START[1:]) / np.linalg.norm(g[1:])]
    np.testing.assert_allclose(lars.lrs[0], hand, rtol=1e-12)
    no_blocks = type("Flat", (), {"dim": 3, "loss": Bowl.loss, "grad": Bowl.grad,
                                  "hvp": Bowl.hvp, "calls": 0})()
    with pytest.raises(TypeError, match="blocks"):
        run(no_blocks, adaptive.LARS(0.1), 1, theta0=START)


def test_feedback_holds_the_normalized_sharpness_on_the_plain_class():
    # λ_max = 9; a PI controller on log(η·λ_max) with setpoint log 0.9 drives η to 0.1
    ctl = PIController(0.2, 0.3, setpoint=math.log(0.9), lr0=0.01, lr_min=1e-4, lr_max=1.0)
    policy = Feedback(ctl, Sharpness(tol=1e-12), every=1, log=True)
    r = run(Bowl(), policy, 80, theta0=START)
    assert r.lrs[-1] == pytest.approx(0.1, rel=1e-6)
    np.testing.assert_allclose(r.measurements, 9.0, rtol=1e-9)
    with pytest.raises(TypeError, match="update"):
        Feedback(object(), Sharpness())


def test_curvature_and_range_test_on_the_plain_class():
    b = Bowl()
    top = curvature.top_eigenvalue(lambda v: b.hvp(START, v), b.dim, tol=1e-12)
    assert top.value == pytest.approx(9.0, rel=1e-10)
    rt = rangetest.range_test(Bowl(), START, lr_min=1e-3, lr_max=10.0, steps=80)
    assert rt.diverged and rt.diverged_lr > 2.0 / 9.0  # not before the bound 2/λmax


def test_a_policy_of_your_own():
    @dataclasses.dataclass(frozen=True)
    class Halving:  # η_t = lr·2^{−⌊t/every⌋}
        lr: float
        every: int

        def update(self, obs, state):
            return self.lr * 0.5 ** (obs.step // self.every), state

    r = run(Bowl(), Halving(0.2, 5), 12, theta0=START)
    assert r.lrs.tolist() == [0.2] * 5 + [0.1] * 5 + [0.05] * 2


def test_divergence_rule_step_by_step_equals_on_a_curve():
    curve = np.array([0.9, 0.5, 0.7, 2.5, 0.1])

    class Replay:  # a loss that replays `curve` after the initial 1.0, zero gradient
        dim = 1

        def __init__(self):
            self.i = -1

        def loss(self, theta):
            self.i += 1
            return 1.0 if self.i == 0 else float(curve[self.i - 1])

        def grad(self, theta):
            return np.zeros(1)

    rule = Divergence(factor=4.0, reference="best")
    r = run(Replay(), Constant(0.1), len(curve), theta0=[0.0], monitor=rule)
    at = rule.first_divergence(curve, 1.0)  # 2.5 > 4 × 0.5
    assert at == 3 and r.diverged_at == at + 1 and r.diverged_loss == 2.5
    with pytest.raises(ValueError, match="factor must be > 1"):
        Divergence(factor=1.0)
    with pytest.raises(ValueError, match="reference"):
        Divergence(reference="median")
    with pytest.raises(TypeError, match="monitor"):
        run(Bowl(), Constant(0.1), 2, theta0=START, monitor=1e6)


def test_run_is_frozen_and_refuses_bad_policies():
    r = run(Bowl(), Constant(0.1), 2, theta0=START)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.theta = None  # type: ignore[misc]
    assert isinstance(r, Run) and r.final_loss == r.losses[-1]
    with pytest.raises(TypeError, match="update"):
        run(Bowl(), object(), 2, theta0=START)
    with pytest.raises(ValueError, match="lr"):
        Constant(-0.1)
    with pytest.raises(TypeError, match="lr"):
        Constant(True)

    class Bad:
        def update(self, obs, state):
            return np.ones(5), state  # neither a number nor one rate per block

    with pytest.raises(ValueError, match="per block"):
        run(Bowl(), Bad(), 2, theta0=START)

    class Blowup:
        def update(self, obs, state):
            return math.inf if obs.step == 1 else 0.1, state

    b = run(Bowl(), Blowup(), 5, theta0=START)
    assert b.diverged and b.diverged_at == 1 and b.diverged_lr is None and b.steps == 1


def test_minibatches_and_snapshots_match_a_hand_written_sgd_loop():
    X = np.random.default_rng(0).standard_normal((40, 4))
    y = np.arange(40) % 3
    net = MLP(X, y, hidden=(5,))
    theta0 = net.initial(seed=1)
    batches = [np.arange(i, i + 8) for i in range(0, 40, 8)]
    r = run(net, Constant(0.3), 5, theta0=theta0, batches=iter(batches), snapshot_at=[0, 2, 5])
    th = theta0.copy()
    kept = {0: th.copy()}
    for t, idx in enumerate(batches):
        th = th - 0.3 * net.grad(th, batch=idx)
        kept[t + 1] = th.copy()
    np.testing.assert_allclose(r.theta, th, rtol=1e-12)
    assert r.snapshot_steps.tolist() == [0, 2, 5]
    np.testing.assert_allclose(r.snapshots, np.stack([kept[0], kept[2], kept[5]]), rtol=1e-12)
    # the batch losses before each step, then the whole objective at the end
    assert r.losses[1] == pytest.approx(net.loss(kept[1], batch=batches[1]), rel=1e-12)
    assert r.final_loss == pytest.approx(net.loss(th), rel=1e-12)
    with pytest.raises(ValueError, match="batches ran out"):
        run(net, Constant(0.3), 6, theta0=theta0, batches=iter(batches))


def test_controlled_training_on_a_plain_class_with_initial_and_no_seed():
    from lrctl.training import train_with_sharpness_control

    class Started(Bowl):
        def initial(self):  # the protocol's initial(): no seed argument
            return START.copy()

    ctl = PIController(0.2, 0.3, setpoint=math.log(0.9), lr0=0.01, lr_min=1e-4, lr_max=1.0)
    res = train_with_sharpness_control(Started(), ctl, 60, measure_every=1, log_measurement=True,
                                       lanczos_tol=1e-12, band=1e-3)
    assert res.settled and res.tracking_error < 1e-3 and res.run.theta.shape == (3,)
    assert res.lr[-1] == pytest.approx(0.1, rel=1e-4)  # η·λmax → 0.9 with λmax = 9
    with pytest.raises(TypeError, match="controller"):
        train_with_sharpness_control(Started(), object(), 10, measure_every=1)


# ---------------------------------------------------------------------------------------
# the contract's edge cases (issue 11): overflow, reprs, undefined tracking errors
# ---------------------------------------------------------------------------------------


def test_an_overflowing_lrctl_objective_is_a_named_error_and_a_diverged_run():
    from lrctl.objectives import ResultOverflow

    q = QuadraticObjective(np.diag([1.0, 4.0]))
    # ½·4·(1e200)² overflows float64: the objective refuses to return inf
    with pytest.raises(ResultOverflow, match="theta"):
        q.loss(np.array([0.0, 1e200]))
    assert issubclass(ResultOverflow, ValueError)
    # the loop reads the refusal as divergence. With a rule that tolerates any finite loss,
    # θ_1 ≈ −4e150 (loss 3.2e301, finite) and θ_2 ≈ 1.6e301, whose loss overflows
    r = run(q, Constant(1e150), 10, theta0=[1.0, 1.0], monitor=Divergence(factor=1e305))
    assert r.diverged and r.diverged_at == 2 and r.diverged_loss is None
    assert np.all(np.isfinite(r.losses)) and np.all(np.isfinite(r.theta))
    # stacked: only the run that overflows stops; the other one is untouched
    slow, fast = run(q, Constant([0.1, 1e150]), 10, theta0=[1.0, 1.0],
                     monitor=Divergence(factor=1e305))
    assert not slow.diverged and fast.diverged
    np.testing.assert_allclose(slow.losses, run(q, Constant(0.1), 10, theta0=[1.0, 1.0]).losses,
                               rtol=1e-15)


def test_result_reprs_summarize_arrays():
    q = QuadraticObjective(np.diag([1.0, 4.0]))
    r = run(q, Constant(0.1), 2000, theta0=[1.0, 1.0])
    text = repr(r)
    # the default dataclass repr prints all 2001 losses (tens of thousands of characters)
    assert len(text) < 1500 and "shape=(2001,)" in text and text.startswith("Run(")
    res = adaptive.hypergradient_descent(q, [1.0, 1.0], 0.01, 1e-3, 500)
    assert len(repr(res)) < 1500 and "HypergradientResult(" in repr(res)


def test_open_loop_response_has_no_tracking_error():
    from lrctl.training import sharpness_response

    q = QuadraticObjective(np.diag([4.0, 1.0]))
    res = sharpness_response(q, [0.1, 0.2], measure_every=1, theta0=np.ones(2))
    assert res.setpoint is None and res.tracking_error is None and not res.settled
    assert res.run.losses.shape == (3,)


def test_sharpness_needs_an_hvp():
    class NoHvp:
        dim = 2

        def loss(self, theta):
            return 0.5 * float(theta @ theta)

        def grad(self, theta):
            return np.asarray(theta, dtype=float)

    with pytest.raises(TypeError, match="lacks hvp"):
        Sharpness()(NoHvp(), np.ones(2))
