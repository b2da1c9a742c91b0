"""lrctl.jax: JaxObjective, to_optax, pi_lr_controller (skipped without jax/optax)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from lrctl import adaptive, curvature, rangetest, schedules  # noqa: E402
from lrctl.jax import JaxObjective, PIState, pi_lr_controller, to_optax  # noqa: E402
from lrctl.objectives import LogisticRegression, load_dataset  # noqa: E402
from lrctl.zdomain import PIController  # noqa: E402


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# -- a small tanh MLP in jax --------------------------------------------------------------

def mlp_loss(p, data):
    X, y = data
    h = jnp.tanh(X @ p["w1"] + p["b1"])
    z = h @ p["w2"] + p["b2"]
    return 0.5 * jnp.mean((z[:, 0] - y) ** 2) + 1e-3 * jnp.sum(p["w1"] ** 2)


def mlp_problem(seed=0, n=12, d=3, hidden=4):
    rng = np.random.default_rng(seed)
    params = {"w1": rng.standard_normal((d, hidden)) / np.sqrt(d), "b1": 0.1 * rng.standard_normal(hidden),
              "w2": rng.standard_normal((hidden, 1)) / 2.0, "b2": np.zeros(1)}
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n)
    return params, (X, y)


def test_hvp_matches_dense_jax_hessian(x64):
    params, data = mlp_problem()
    obj = JaxObjective(mlp_loss, params, data, dtype="float64")
    theta = obj.initial()
    # independent route: ravel ourselves, jax.hessian (forward-over-reverse jacobians)
    flat, unravel = ravel_pytree(jax.tree.map(jnp.asarray, params))
    H = np.asarray(jax.hessian(lambda x: mlp_loss(unravel(x), data))(flat))
    np.testing.assert_allclose(theta, np.asarray(flat), rtol=0, atol=0)
    rng = np.random.default_rng(1)
    V = rng.standard_normal((5, obj.dim))
    for v in V:
        np.testing.assert_allclose(obj.hvp(theta, v), H @ v, rtol=0, atol=1e-10 * np.abs(H).max())
    # the stacked path: K points and K directions in one vmapped call
    thetas = theta + 0.1 * rng.standard_normal((5, obj.dim))
    stacked = obj.hvp(thetas, V)
    for k in range(5):
        np.testing.assert_allclose(stacked[k], obj.hvp(thetas[k], V[k]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(obj.hessian(theta), H, rtol=1e-12, atol=1e-14)


def test_loss_and_grad_against_the_function_and_finite_differences(x64):
    params, data = mlp_problem(seed=2)
    obj = JaxObjective(mlp_loss, params, data, dtype="float64")
    theta = obj.initial() + 0.05
    direct = float(mlp_loss(obj.unravel(theta), data))
    assert obj.loss(theta) == pytest.approx(direct, rel=1e-14)
    g = obj.grad(theta)
    loss, g2 = obj.loss_and_grad(theta)
    assert loss == pytest.approx(direct, rel=1e-14)
    np.testing.assert_allclose(g2, g, rtol=1e-13, atol=1e-15)
    # central differences, step 1e-5: truncation error O(h²) ~ 1e-10
    h = 1e-5
    fd = np.array([(obj.loss(theta + h * e) - obj.loss(theta - h * e)) / (2 * h)
                   for e in np.eye(obj.dim)])
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-8)
    K = np.stack([theta, theta + 0.1, theta - 0.2])
    losses, grads = obj.loss_and_grad(K)
    assert losses.shape == (3,) and grads.shape == (3, obj.dim)
    np.testing.assert_allclose(obj.loss(K), [obj.loss(t) for t in K], rtol=1e-13)
    np.testing.assert_allclose(obj.grad(K), np.stack([obj.grad(t) for t in K]), rtol=1e-12, atol=1e-15)


def test_blocks_unravel_and_batch(x64):
    params, data = mlp_problem()
    obj = JaxObjective(mlp_loss, params, data, dtype="float64")
    assert obj.block_names == ("['b1']", "['b2']", "['w1']", "['w2']")  # dict keys sorted
    sizes = [b.stop - b.start for b in obj.blocks]
    assert sizes == [4, 1, 12, 4] and obj.dim == 21 and obj.blocks[-1].stop == obj.dim
    back = obj.unravel(obj.initial())
    for key in params:
        np.testing.assert_array_equal(np.asarray(back[key]), params[key])
        np.testing.assert_array_equal(obj.initial()[obj.blocks[obj.block_names.index(f"['{key}']")]],
                                      params[key].ravel())
    # another batch: the loss on the first 6 rows
    X, y = data
    half = (X[:6], y[:6])
    assert obj.loss(obj.initial(), batch=half) == pytest.approx(
        float(mlp_loss(jax.tree.map(jnp.asarray, params), half)), rel=1e-14)
    # initial() is a copy
    t = obj.initial()
    t[0] = 99.0
    assert obj.initial()[0] != 99.0


def logistic_jax(p, data):
    X, y = data
    w, b = p
    z = X @ w + b[0]
    return jnp.mean(jnp.logaddexp(0.0, z) - y * z) + 0.5 * 1e-2 * (jnp.sum(w * w) + jnp.sum(b * b))


@pytest.fixture
def logistic_pair(x64):
    X, y = load_dataset("breast_cancer")
    X, y = X[:120], y[:120].astype(float)
    ref = LogisticRegression(X, y, l2=1e-2)
    obj = JaxObjective(logistic_jax, [np.zeros(X.shape[1]), np.zeros(1)], (X, y), dtype="float64")
    return ref, obj


def test_same_numbers_as_lrctl_numpy_logistic_regression(logistic_pair):
    ref, obj = logistic_pair
    rng = np.random.default_rng(3)
    theta = 0.1 * rng.standard_normal(obj.dim)
    v = rng.standard_normal(obj.dim)
    assert obj.loss(theta) == pytest.approx(ref.loss(theta), rel=1e-13)
    np.testing.assert_allclose(obj.grad(theta), ref.grad(theta), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(obj.hvp(theta, v), ref.hvp(theta, v), rtol=1e-11, atol=1e-13)


def test_curvature_rangetest_adaptive_unchanged(logistic_pair):
    ref, obj = logistic_pair
    theta = obj.initial()
    dense = np.linalg.eigvalsh(ref.hessian(theta))[-1]
    top = curvature.top_eigenvalue(curvature.hessian_operator(obj, theta), tol=1e-10)
    assert top.value == pytest.approx(dense, rel=1e-9)
    rt_jax = rangetest.range_test(obj, theta, lr_min=1e-3, lr_max=100.0, steps=40)
    rt_np = rangetest.range_test(ref, theta, lr_min=1e-3, lr_max=100.0, steps=40)
    # the same sweep to round-off (which the last steps, at η ~ 80 near divergence, amplify)
    np.testing.assert_allclose(rt_jax.losses, rt_np.losses, rtol=1e-8)
    assert (rt_jax.diverged, rt_jax.diverged_at) == (rt_np.diverged, rt_np.diverged_at)
    s_jax, s_np = rt_jax.suggestions, rt_np.suggestions
    assert (s_jax.steepest_index, s_jax.valley_index, s_jax.minimum_index) == (
        s_np.steepest_index, s_np.valley_index, s_np.minimum_index)
    # adaptive stacks K runs: the (K, dim) path of the objective
    hj = adaptive.hypergradient_sweep(obj, theta, 0.1, [0.0, 0.05], 30, rule="log")
    hn = adaptive.hypergradient_sweep(ref, theta, 0.1, [0.0, 0.05], 30, rule="log")
    for a, b in zip(hj, hn, strict=True):
        np.testing.assert_allclose(a.run.lrs, b.run.lrs, rtol=1e-11)
        np.testing.assert_allclose(a.run.losses, b.run.losses, rtol=1e-11)


def test_float32_default_and_x64_guard():
    params, data = mlp_problem()
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="64-bit mode"):
            JaxObjective(mlp_loss, params, data, dtype="float64")
        obj32 = JaxObjective(mlp_loss, jax.tree.map(lambda a: a.astype(np.float32), params), data)
        assert obj32.dtype == np.float32
        # float64 numpy parameters without x64: float32, as JAX itself would hold them
        assert JaxObjective(mlp_loss, params, data).dtype == np.float32
        out = obj32.grad(obj32.initial())
        assert out.dtype == np.float64
    with jax.enable_x64(True):
        obj64 = JaxObjective(mlp_loss, params, data)
        assert obj64.dtype == np.float64
        np.testing.assert_allclose(out, obj64.grad(obj64.initial()), rtol=1e-4, atol=1e-6)
    with jax.enable_x64(False), pytest.raises(ValueError, match="64-bit mode"):
        obj64.loss(obj64.initial())


def test_bad_inputs(x64):
    params, data = mlp_problem()
    obj = JaxObjective(mlp_loss, params, data)
    with pytest.raises(ValueError, match=r"theta must have shape \(21,\)"):
        obj.loss(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        obj.grad(np.full(21, np.nan))
    with pytest.raises(ValueError, match="v must have the shape"):
        obj.hvp(np.zeros(21), np.zeros((2, 21)))
    with pytest.raises(TypeError, match="fun must be a callable"):
        JaxObjective("loss", params, data)
    with pytest.raises(ValueError, match="scalar loss"):
        JaxObjective(lambda p, d: p["w1"], params, data)
    with pytest.raises(TypeError, match="floating-point"):
        JaxObjective(mlp_loss, {"w": np.arange(3)}, data)
    with pytest.raises(ValueError, match="at least one array"):
        JaxObjective(mlp_loss, {}, data)
    with pytest.raises(TypeError, match="dtype"):
        JaxObjective(mlp_loss, params, data, dtype="int32")


# -- schedules under jit ------------------------------------------------------------------

SCHEDULES = [
    schedules.constant(0.1),
    schedules.piecewise_constant([0.1, 0.01, 0.001], [30, 60]),
    schedules.step_decay(0.1, 7, gamma=0.5),
    schedules.exponential(0.1, 0.5, decay_steps=10),
    schedules.linear_decay(0.1, 100, lr_min=0.01),
    schedules.cosine(0.1, 100, lr_min=0.001),
    schedules.cosine_warm_restarts(0.1, period=10, mult=1, lr_min=0.01),
    schedules.cosine_warm_restarts(0.1, period=3, mult=2),
    schedules.cosine_warm_restarts(0.1, period=1, mult=3, lr_min=0.001),
    schedules.linear_warmup(0.1, 10, lr_init=0.01),
    schedules.one_cycle(0.1, 150, pct_start=0.25),
    schedules.join([schedules.linear_warmup(0.1, 5), schedules.cosine(0.1, 95)], [5]),
    schedules.join([schedules.linear_warmup(0.2, 7.5),
                    schedules.cosine_warm_restarts(0.2, period=6, mult=2, lr_min=0.02),
                    schedules.step_decay(0.05, 10)], [7.5, 100]),
    schedules.join([schedules.constant(0.3),
                    schedules.join([schedules.cosine(0.3, 20), schedules.exponential(0.05, 0.9)],
                                   [20])], [13]),
]


@pytest.mark.parametrize("sched", SCHEDULES, ids=repr)
def test_to_optax_equals_numpy_schedule_under_jit(sched, x64):
    f = jax.jit(to_optax(sched))
    steps = np.arange(0, 400)
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(steps))), sched(steps), rtol=1e-13, atol=1e-16)
    # one scalar integer count at a time (optax's count), including every restart/boundary
    for k in (0, 1, 5, 6, 7, 9, 10, 12, 13, 33, 99, 100, 101, 363):
        assert float(f(k)) == pytest.approx(sched(k), rel=1e-13, abs=1e-16)
    # float steps (continuous time) too
    ts = np.linspace(0.0, 250.0, 1001)
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(ts))), sched(ts), rtol=1e-12, atol=1e-15)


def test_to_optax_float32_mode_and_huge_int_steps():
    s = schedules.cosine_warm_restarts(1.0, period=10, mult=2)
    with jax.enable_x64(False):
        f = jax.jit(to_optax(s))
        out = f(jnp.arange(2000))
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(out), s(np.arange(2000)), rtol=2e-6, atol=1e-6)
    with jax.enable_x64(True):
        f = jax.jit(to_optax(s))
        big = np.array([10 * (2**59 - 1), 10 * (2**59 - 1) + 7, 10**18], dtype=np.int64)
        # numpy's int64 path finds cycles exactly; restarts near 5.8e18 give lr_max exactly
        np.testing.assert_allclose(np.asarray(f(jnp.asarray(big))), s(big), rtol=1e-12)
        assert float(f(jnp.asarray(10 * (2**59 - 1)))) == 1.0


def test_to_optax_inside_optax_sgd(x64):
    s = schedules.join([schedules.linear_warmup(0.5, 4), schedules.cosine(0.5, 16)], [4])
    tx = optax.sgd(learning_rate=to_optax(s))
    p = jnp.ones(3)
    state = tx.init(p)
    step = jax.jit(tx.update)
    g = jnp.ones(3)
    for k in range(25):
        upd, state = step(g, state, p)
        assert float(-upd[0]) == pytest.approx(s(k), rel=1e-13, abs=1e-16)


def test_to_optax_against_optax_own_schedules(x64):
    # an independent route: optax's schedules with the same formulas
    pairs = [
        (schedules.cosine(0.1, 50, lr_min=0.002),
         optax.cosine_decay_schedule(init_value=0.1, decay_steps=50, alpha=0.02)),
        (schedules.linear_decay(0.1, 40, lr_min=0.01), optax.linear_schedule(0.1, 0.01, 40)),
        (schedules.step_decay(0.1, 7, gamma=0.5),
         optax.exponential_decay(0.1, transition_steps=7, decay_rate=0.5, staircase=True)),
        (schedules.exponential(0.1, 0.5, decay_steps=10),
         optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5)),
        (schedules.join([schedules.linear_warmup(0.1, 10), schedules.cosine(0.1, 90)], [10]),
         optax.warmup_cosine_decay_schedule(0.0, 0.1, warmup_steps=10, decay_steps=100)),
    ]
    steps = jnp.arange(0, 150)
    for ours, theirs in pairs:
        np.testing.assert_allclose(np.asarray(jax.jit(to_optax(ours))(steps)),
                                   np.asarray(jax.vmap(theirs)(steps)), rtol=1e-12, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(period=st.integers(1, 40), mult=st.integers(1, 4),
       steps=st.lists(st.integers(0, 2**40), min_size=1, max_size=16))
def test_to_optax_sgdr_property(period, mult, steps):
    # eager jax.numpy (the same code jit traces), fixed shapes so the ops compile once
    s = schedules.cosine_warm_restarts(0.3, period=period, mult=mult, lr_min=0.01)
    restarts = s.cycle_starts(10 * period * mult).tolist()
    t = np.zeros(32, dtype=np.int64)
    t[: len(steps)] = steps
    t[16: 16 + len(restarts[:16])] = restarts[:16]
    with jax.enable_x64(True):
        got = np.asarray(to_optax(s)(jnp.asarray(t)))
    np.testing.assert_allclose(got, s(t), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(got[16: 16 + len(restarts[:16])], 0.3)  # lr_max at restarts


def test_to_optax_refuses_what_it_cannot_trace():
    with pytest.raises(TypeError, match="arbitrary Python"):
        to_optax(schedules.as_schedule(lambda t: 0.1 / (1 + t)))
    with pytest.raises(TypeError, match=r"lrctl\.schedules schedule"):
        to_optax(lambda t: 0.1)


# -- the PI controller as an optax transformation -------------------------------------------

def measurements(n=240, seed=0):
    """A sequence that drives the controller into both clamps and back."""
    rng = np.random.default_rng(seed)
    y = 1.0 + 0.6 * np.sin(np.arange(n) / 9.0) + 0.2 * rng.standard_normal(n)
    y[40:60] = 5.0   # far above the setpoint: the rate falls to lr_min
    y[120:150] = -3.0  # far below: the rate rises to lr_max
    return y


@pytest.mark.parametrize("method", ["backward", "forward", "tustin"])
def test_pi_transform_equals_pi_controller_step_for_step(method, x64):
    args = dict(kp=0.3, ki=0.4, setpoint=1.0, lr0=0.05, lr_min=1e-3, lr_max=0.5, dt=2.0,
                method=method)
    y = measurements()
    ctl = PIController(**args)
    expected = np.array([ctl.update(v) for v in y])
    tx = pi_lr_controller(**args)
    params = {"a": jnp.zeros(2), "b": jnp.zeros(())}
    grads = {"a": jnp.ones(2), "b": jnp.asarray(2.0)}

    @jax.jit
    def scan(state, ys):
        def body(s, yk):
            upd, s = tx.update(grads, s, params, measurement=yk)
            return s, (s.lr, upd["b"])
        return jax.lax.scan(body, state, ys)

    final, (lrs, ub) = scan(tx.init(params), jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(lrs), expected, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ub), -2.0 * expected, rtol=1e-13)
    assert float(lrs[59]) == 1e-3 and float(lrs[149]) == 0.5  # both clamps reached exactly
    assert int(final.count) == len(y) and int(final.rejected) == 0
    assert float(final.log_lr) == pytest.approx(math.log(ctl.lr), rel=1e-13)


def test_pi_transform_hold_nan_and_float32():
    args = dict(kp=0.2, ki=0.5, setpoint=1.0, lr0=0.1, lr_min=1e-3, lr_max=1.0)
    tx = pi_lr_controller(**args)
    with jax.enable_x64(False):
        state = tx.init(None)
        assert isinstance(state, PIState) and state.lr.dtype == jnp.float32
        upd = jax.jit(lambda g, s, y: tx.update(g, s, measurement=y))
        hold = jax.jit(lambda g, s: tx.update(g, s))
        ctl = PIController(**args)
        g = jnp.ones(2, jnp.float32)
        for y in (0.5, 0.7, np.nan, 1.3, np.inf, 0.9):
            before = float(state.lr)
            out, state = upd(g, state, y)
            if np.isfinite(y):
                assert float(state.lr) == pytest.approx(ctl.update(y), rel=1e-6)
            else:
                assert float(state.lr) == before  # the rate is held
            assert np.all(np.isfinite(np.asarray(out)))
            out, s2 = hold(g, state)  # no measurement: same rate, same state
            assert float(s2.lr) == float(state.lr) and int(s2.count) == int(state.count)
        assert int(state.count) == 4 and int(state.rejected) == 2


def test_pi_transform_in_an_optax_chain_with_adam(x64):
    tx = optax.chain(optax.scale_by_adam(), pi_lr_controller(0.2, 0.5, 1.0, 0.1, 1e-3, 1.0))
    p = jnp.asarray([1.0, -2.0])
    state = tx.init(p)
    adam = optax.scale_by_adam()
    astate = adam.init(p)
    ctl = PIController(0.2, 0.5, 1.0, 0.1, 1e-3, 1.0)
    for y in (0.4, 0.8, 1.5):
        g = 2.0 * p
        upd, state = tx.update(g, state, p, measurement=y)
        direction, astate = adam.update(g, astate, p)
        np.testing.assert_allclose(np.asarray(upd), -ctl.update(y) * np.asarray(direction), rtol=1e-13)
        p = optax.apply_updates(p, upd)


def test_pi_closed_loop_under_jit_settles_on_a_quadratic(x64):
    # L = ½ Σ λ_i θ_i², λ_max = 4; measure y = η·λ_max, setpoint 1: the loop is G(z) = 1/z on
    # u = ln η in log form, here linear in η; PI with these gains settles (lrctl.zdomain docs).
    lam = jnp.asarray([4.0, 1.0])
    tx = pi_lr_controller(0.3, 0.3, setpoint=1.0, lr0=0.05, lr_min=1e-3, lr_max=1.0)

    @jax.jit
    def run(theta, state):
        def body(carry, _):
            th, s = carry
            upd, s = tx.update(lam * th, s, measurement=s.lr * 4.0)
            return (th + upd, s), s.lr
        return jax.lax.scan(body, (theta, state), None, length=80)

    (_, state), _ = run(jnp.ones(2), tx.init(None))
    assert float(state.lr) == pytest.approx(0.25, rel=1e-6)  # η → setpoint/λ_max


def test_pi_transform_bad_config():
    with pytest.raises(ValueError, match="lr_max"):
        pi_lr_controller(0.1, 0.1, 1.0, 0.1, lr_min=1.0, lr_max=0.5)
    with pytest.raises(ValueError, match="method"):
        pi_lr_controller(0.1, 0.1, 1.0, 0.1, 1e-3, 1.0, method="euler")
    with pytest.raises(TypeError, match="flip_sign"):
        pi_lr_controller(0.1, 0.1, 1.0, 0.1, 1e-3, 1.0, flip_sign=1)
    tx = pi_lr_controller(0.1, 0.1, 1.0, 0.1, 1e-3, 1.0)
    with pytest.raises(ValueError, match="measurement must be a scalar"):
        tx.update(jnp.ones(2), tx.init(None), measurement=jnp.ones(2))


def test_jax_objective_through_lrctl_training_run_with_every_policy(logistic_pair):
    """A JAX function in lrctl's one loop: every policy gives the same run as on lrctl's own
    numpy LogisticRegression of the same data (an independent implementation of the loss)."""
    from lrctl import schedules, training
    from lrctl.adaptive import LARS
    from lrctl.zdomain import PIController

    ref, obj = logistic_pair
    theta0 = obj.initial()
    policies = {
        "constant": training.Constant(0.5),
        "scheduled": training.Scheduled(schedules.cosine(0.8, 30)),
        "ramp": training.ExponentialRamp(1e-3, 10.0, 30),
        "hypergradient": training.Hypergradient(0.1, 0.01, rule="log"),
        "lars": LARS(0.05),
        "feedback": training.Feedback(
            PIController(0.3, 0.3, setpoint=1.0, lr0=0.1, lr_min=1e-3, lr_max=10.0, dt=5),
            measure=training.Sharpness(1e-10), every=5),
    }
    for name, policy in policies.items():
        a = training.run(obj, policy, 30, theta0=theta0)
        b = training.run(ref, policy, 30, theta0=theta0)
        assert (a.diverged, a.diverged_at) == (b.diverged, b.diverged_at), name
        np.testing.assert_allclose(a.losses, b.losses, rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(a.lrs, b.lrs, rtol=1e-8, err_msg=name)
