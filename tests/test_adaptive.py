"""Tests of lrctl.adaptive: hypergradient descent, layer-wise rates, snapshot ensembles.

Independent routes: plain Python reference loops written here from the papers' update rules,
lrctl.training.gradient_descent (a separate GD implementation), dense eigen-decompositions
(numpy eigvalsh) of the Hessian and its blocks, finite differences, scipy's pdist, and the
SGDR schedule of lrctl.schedules.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl import quadratic
from lrctl.adaptive import (
    block_top_eigenvalues,
    blockwise_descent,
    blockwise_sharpness,
    constant_lr_sweep,
    curvature_capped_descent,
    derive_hypergradient,
    hypergradient_descent,
    hypergradient_sweep,
    lars_descent,
    snapshot_ensemble,
    snapshot_training,
)
from lrctl.objectives import MLP, QuadraticObjective, split_dataset


@pytest.fixture(scope="module")
def digits():
    return split_dataset("digits", test_fraction=0.25, seed=0)


@pytest.fixture(scope="module")
def tiny_net(digits):
    Xtr, ytr, _, _ = digits
    return MLP(Xtr[:120, :10], ytr[:120] % 4, hidden=(5, 4), l2=1e-3)


def _rotated_quadratic(eigs, seed=0):
    rng = np.random.default_rng(seed)
    d = len(eigs)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    H = (Q * np.asarray(eigs)) @ Q.T
    return QuadraticObjective(0.5 * (H + H.T))


def _reference_hd(obj, theta, lr, alpha, steps, rule):
    """Hypergradient descent written out step by step (Baydin et al. 2018, Alg. 1 without
    momentum; the log rule descends on ln η with ∂L/∂ln η = η·∂L/∂η)."""
    theta = np.array(theta, dtype=float)
    g = obj.grad(theta)
    losses, lrs = [obj.loss(theta)], []
    log_lr = np.log(lr)
    for _ in range(steps):
        lrs.append(lr)
        theta = theta - lr * g
        g_new = obj.grad(theta)
        losses.append(obj.loss(theta))
        if rule == "additive":
            lr = lr + alpha * (g_new @ g)
        else:
            log_lr = log_lr + alpha * lr * (g_new @ g)
            lr = np.exp(log_lr)
        g = g_new
    return np.array(losses), np.array(lrs)


# ---------------------------------------------------------------------------------------
# hypergradient descent
# ---------------------------------------------------------------------------------------


def test_derivation_identity_holds_on_the_mlp_by_finite_differences(tiny_net):
    # d/dη L(θ − η g) = −∇L(θ − η g)ᵀ g: the derivation's statement, on a non-quadratic loss.
    d = derive_hypergradient()
    assert "dL/deta" in str(d.statement)
    theta = tiny_net.initial(seed=1)
    g = tiny_net.grad(theta)
    for eta in (0.05, 0.5, 2.0):
        h = 1e-6
        fd = (tiny_net.loss(theta - (eta + h) * g) - tiny_net.loss(theta - (eta - h) * g)) / (2 * h)
        assert np.isclose(fd, -tiny_net.grad(theta - eta * g) @ g, rtol=1e-6, atol=1e-10)


def test_derivation_result_matches_numeric_quadratic():
    d = derive_hypergradient()
    f = d.lambdify("eta", "lam1", "lam2", "c1", "c2")
    q = QuadraticObjective(np.diag([2.0, 5.0]))
    c = np.array([0.7, -1.3])
    for eta in (0.1, 0.3, 0.45):
        g0 = q.grad(c)
        g1 = q.grad(c - eta * g0)
        assert np.isclose(f(eta, 2.0, 5.0, 0.7, -1.3), -(g1 @ g0), rtol=1e-12)


@pytest.mark.parametrize("rule", ["additive", "log"])
def test_hypergradient_matches_reference_loop(rule):
    q = _rotated_quadratic([0.2, 0.5, 1.0, 3.0], seed=1)
    theta0 = np.array([1.0, -0.5, 0.3, 0.8])
    res = hypergradient_descent(q, theta0, lr0=0.05, hyper_lr=0.05, steps=60, rule=rule)
    run = res.run
    losses, lrs = _reference_hd(q, theta0, 0.05, 0.05, 60, rule)
    assert not run.diverged and run.steps == 60
    assert np.allclose(run.losses, losses, rtol=1e-12, atol=1e-300)
    assert np.allclose(run.lrs, lrs, rtol=1e-12)
    assert res.rule == rule and res.lr0 == 0.05 and res.hyper_lr == 0.05


def test_first_additive_update_by_hand():
    # 1-D quadratic L = ½·4·θ², θ0 = 1, η0 = 0.1, α = 0.01:
    # g0 = 4, θ1 = 1 − 0.4 = 0.6, g1 = 2.4, η1 = 0.1 + 0.01·2.4·4 = 0.196 (hand computation).
    q = QuadraticObjective(np.array([[4.0]]))
    run = hypergradient_descent(q, [1.0], lr0=0.1, hyper_lr=0.01, steps=2).run
    assert np.allclose(run.lrs, [0.1, 0.196])
    assert np.allclose(run.losses[:2], [2.0, 0.72])  # ½·4·1², ½·4·0.6²


def test_zero_hyper_rate_is_constant_gradient_descent():
    from lrctl.training import gradient_descent

    q = _rotated_quadratic([0.1, 1.0, 2.0], seed=2)
    theta0 = np.array([1.0, 2.0, -1.0])
    run = hypergradient_descent(q, theta0, lr0=0.6, hyper_lr=0.0, steps=80).run
    ref = gradient_descent(q, theta0, 0.6, 80)
    assert np.allclose(run.losses, ref.losses, rtol=1e-12)
    assert np.all(run.lrs == 0.6)


def test_sweep_equals_single_runs_and_broadcasts():
    q = _rotated_quadratic([0.1, 0.4, 1.0], seed=3)
    theta0 = np.array([0.5, -1.0, 1.5])
    alphas = np.array([0.0, 0.3, 30.0])
    runs = [h.run for h in hypergradient_sweep(q, theta0, 0.2, alphas, 50)]
    assert len(runs) == 3
    for a, r in zip(alphas, runs, strict=True):
        single = hypergradient_descent(q, theta0, 0.2, a, 50).run
        # equal up to the summation order of a stacked vs a single matrix product
        assert r.steps == single.steps
        assert np.allclose(r.losses, single.losses, rtol=1e-9)
        assert np.allclose(r.lrs, single.lrs, rtol=1e-9)
        assert r.diverged == single.diverged and r.diverged_at == single.diverged_at
    # stacked starting points
    starts = np.stack([theta0, -theta0])
    pair = hypergradient_sweep(q, starts, [0.2, 0.3], 0.1, 20)
    assert np.allclose(pair[1].run.losses,
                       hypergradient_descent(q, -theta0, 0.3, 0.1, 20).run.losses)
    with pytest.raises(ValueError, match="broadcast"):
        hypergradient_sweep(q, theta0, [0.1, 0.2], [0.1, 0.2, 0.3], 5)


def test_additive_rule_goes_negative_and_diverges_where_log_rule_stays_positive():
    q = _rotated_quadratic(np.geomspace(0.1, 1.0, 8), seed=4)
    theta0 = np.random.default_rng(5).standard_normal(8)
    add = hypergradient_descent(q, theta0, 0.1, 5.0, 300, rule="additive")
    log = hypergradient_descent(q, theta0, 0.1, 5.0, 300, rule="log")
    assert add.negative_lr_at is not None and add.run.diverged
    r = add.run
    assert r.diverged_at <= r.steps + 1 and r.diverged_lr is not None
    assert np.all(np.isfinite(r.losses)) and np.all(np.isfinite(r.lrs))
    assert len(r.lrs) == len(r.losses) - 1
    assert log.negative_lr_at is None and np.all(log.run.lrs >= 0)


def test_hypergradient_settles_near_the_optimal_rate_on_a_quadratic():
    # Slow adaptation balances the flat and the stiff mode: η → about 2/(λmin + λmax), into
    # the "good region" ρ(η) <= (1 + ρ*)/2. The unnormalized rules freeze as ‖g‖² → 0, so α
    # must be large enough to get there in time; the α below sit inside the bands where this
    # holds for this problem (measured over α in [0.03, 10]: additive from below 0.66-4.6,
    # additive from above 0.03-4.6, log from below 3.1-6.8, log from above 0.03-1.0).
    eigs = np.geomspace(0.1, 1.0, 12)
    q = _rotated_quadratic(eigs, seed=6)
    _, rho_star = quadratic.optimal_lr(eigs)
    theta0 = np.random.default_rng(7).standard_normal(12)
    for lr0, rule, alpha in [(0.1, "additive", 1.5), (3.0, "additive", 1.5),
                             (0.1, "log", 4.6), (3.0, "log", 0.3)]:
        run = hypergradient_descent(q, theta0, lr0, alpha, 400, rule=rule).run
        rho = quadratic.gd_contraction(eigs, run.lrs[-1])
        assert not run.diverged
        assert rho <= 0.5 * (1 + rho_star), (lr0, rule, run.lrs[-1])


def test_from_above_the_bound_the_rate_returns_to_the_stable_range():
    # Started at 1.5·2/λmax, GD alone diverges; hypergradient descent pulls η below 2/λmax
    # for every α of the log rule and every α of the additive rule that does not diverge.
    eigs = np.geomspace(0.1, 1.0, 12)
    q = _rotated_quadratic(eigs, seed=6)
    theta0 = np.random.default_rng(7).standard_normal(12)
    alphas = np.geomspace(0.03, 10, 12)
    for rule in ("additive", "log"):
        for res in hypergradient_sweep(q, theta0, 3.0, alphas, 400, rule=rule):
            run = res.run
            if not run.diverged:
                assert 0 < run.lrs[-1] < 2.0 / eigs.max()
    assert constant_lr_sweep(q, theta0, [3.0], 400)[0].diverged


@settings(max_examples=40, deadline=None)
@given(lam=st.floats(0.1, 10.0), lr_factor=st.floats(0.05, 1.9), seed=st.integers(0, 1000))
def test_constant_rate_sweep_obeys_the_2_over_lambda_threshold(lam, lr_factor, seed):
    q = _rotated_quadratic([0.5 * lam, lam], seed=seed)
    theta0 = np.random.default_rng(seed).standard_normal(2)
    lrs = np.array([lr_factor, 2.2]) / lam  # below the bound 2/λ, and above it
    below, above = constant_lr_sweep(q, theta0, lrs, 400)
    assert not below.diverged and below.final_loss <= below.losses[0]
    assert above.diverged and above.diverged_at is not None
    assert np.all(np.isfinite(above.losses))


def test_divergence_threshold_and_floor():
    q = QuadraticObjective(np.array([[1.0]]), loss_min=5.0)
    run = constant_lr_sweep(q, [1.0], [2.5], 50, loss_floor=5.0, divergence_factor=100.0)[0]
    # gap grows by (1 − 2.5)² = 2.25 per step: first above 100× at 2.25^t > 100, t = 6
    assert run.diverged and run.diverged_at == 6 and run.steps == 5


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"rule": "multiplicative"}, ValueError, "rule"),
        ({"lr0": 0.0}, ValueError, "lr0"),
        ({"lr0": -0.1}, ValueError, "lr0"),
        ({"hyper_lr": -1.0}, ValueError, "hyper_lr"),
        ({"steps": -1}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"theta0": [1.0, 2.0, 3.0]}, ValueError, "theta0"),
        ({"theta0": [np.nan, 1.0]}, ValueError, "theta0"),
        ({"divergence_factor": 0.0}, ValueError, "divergence_factor"),
    ],
)
def test_hypergradient_rejects_bad_input(kwargs, exc, match):
    q = QuadraticObjective(np.diag([1.0, 2.0]))
    args = {"theta0": [1.0, 1.0], "lr0": 0.1, "hyper_lr": 0.1, "steps": 5} | kwargs
    with pytest.raises(exc, match=match):
        hypergradient_descent(q, **args)


def test_initial_nan_loss_is_refused():
    class Bad:
        dim = 2

        def loss(self, theta):
            return float("nan")

        def grad(self, theta):
            return np.zeros_like(theta)

    with pytest.raises(ValueError, match="not finite"):
        hypergradient_descent(Bad(), [0.0, 0.0], 0.1, 0.1, 3)


# ---------------------------------------------------------------------------------------
# layer-wise rates
# ---------------------------------------------------------------------------------------


def test_block_eigenvalues_match_dense_blocks(tiny_net):
    theta = tiny_net.initial(seed=2)
    H = tiny_net.hessian(theta)
    bc = block_top_eigenvalues(tiny_net, theta, tol=1e-10)
    dense = [np.linalg.eigvalsh(H[sl, sl])[-1] for sl in tiny_net.blocks]
    assert np.allclose(bc.values, dense, rtol=1e-7)
    assert np.isclose(bc.full, np.linalg.eigvalsh(H)[-1], rtol=1e-7)
    assert bc.n_products > 0 and bc.spread >= 1.0
    # the full Hessian's top eigenvalue bounds every diagonal block's (Cauchy interlacing)
    assert bc.full >= bc.values.max() - 1e-9


def test_blockwise_sharpness_matches_dense(tiny_net):
    theta = tiny_net.initial(seed=3)
    H = tiny_net.hessian(theta)
    rates = np.array([0.3, 1.2, 2.0])
    d = np.concatenate([np.full(sl.stop - sl.start, r) for sl, r in zip(tiny_net.blocks, rates, strict=True)])
    dense = np.linalg.eigvalsh(np.sqrt(d)[:, None] * H * np.sqrt(d)[None, :])[-1]
    assert np.isclose(blockwise_sharpness(tiny_net, theta, rates, tol=1e-10), dense, rtol=1e-7)
    with pytest.raises(ValueError, match="one rate per block"):
        blockwise_sharpness(tiny_net, theta, [0.1, 0.2])


def test_caps_are_exact_for_a_block_diagonal_hessian():
    H = np.diag([1.0, 2.0, 50.0, 100.0])
    q = QuadraticObjective(H, blocks=(slice(0, 2), slice(2, 4)))
    bc = block_top_eigenvalues(q, np.zeros(4), tol=1e-12)
    caps = quadratic.layerwise_lr_caps(list(bc.values), fraction=0.9)
    # block-diagonal: λmax(D^½HD^½) = max_ℓ η_ℓ λ_ℓ = 0.9·2 (hand derivation)
    assert np.isclose(blockwise_sharpness(q, np.zeros(4), caps, tol=1e-12), 1.8)
    lw = curvature_capped_descent(q, np.ones(4), 60, fraction=0.9)
    co = curvature_capped_descent(q, np.ones(4), 60, fraction=0.9, method="coupled")
    gl = curvature_capped_descent(q, np.ones(4), 60, fraction=0.9, method="global")
    assert np.allclose(lw.run.lrs[0], caps) and np.allclose(co.run.lrs[0], caps)
    assert np.allclose(gl.run.lrs[0], 0.9 * 2 / 100.0)
    assert lw.run.final_loss < 1e-3 * gl.run.final_loss  # the flat block converges much faster


def test_coupled_rates_sit_at_the_requested_margin(tiny_net):
    theta = tiny_net.initial(seed=4)
    run = curvature_capped_descent(tiny_net, theta, 3, fraction=0.5, method="coupled", tol=1e-10)
    rates = run.run.lrs[0]
    assert np.isclose(blockwise_sharpness(tiny_net, theta, rates, tol=1e-10), 1.0, rtol=1e-6)
    # same shape as the caps: rates ∝ 1/λ_ℓ
    lam = block_top_eigenvalues(tiny_net, theta, tol=1e-10).values
    assert np.allclose(rates * lam / (rates[0] * lam[0]), 1.0, rtol=1e-6)
    assert run.method == "layerwise-coupled" and run.curvature_steps == (0,)


def test_recompute_every_refreshes_the_rates(tiny_net):
    theta = tiny_net.initial(seed=5)
    run = curvature_capped_descent(tiny_net, theta, 10, fraction=0.5, method="global",
                                   recompute_every=4)
    assert run.curvature_steps == (0, 4, 8) and len(run.curvature) == 3
    assert np.allclose(run.run.lrs[4], 0.5 * 2 / run.curvature[1].full)
    assert np.allclose(run.run.lrs[3], run.run.lrs[0])


def test_blockwise_descent_matches_a_manual_loop_and_stacks(tiny_net):
    theta0 = tiny_net.initial(seed=6)
    rates = np.array([0.5, 1.0, 2.0])
    run = blockwise_descent(tiny_net, theta0, rates, 15)
    theta = theta0.copy()
    for _ in range(15):
        g = tiny_net.grad(theta)
        for sl, r in zip(tiny_net.blocks, rates, strict=True):
            theta[sl] = theta[sl] - r * g[sl]
    assert np.allclose(run.theta, theta, rtol=1e-12, atol=1e-14)
    both = blockwise_descent(tiny_net, theta0, np.stack([rates, 2 * rates]), 15)
    assert np.allclose(both[0].losses, run.losses)
    with pytest.raises(ValueError, match="block_lrs must have shape"):
        blockwise_descent(tiny_net, theta0, [0.1, 0.2], 3)


def test_lars_rates_follow_the_trust_ratio(tiny_net):
    theta0 = tiny_net.initial(seed=7)
    run = lars_descent(tiny_net, theta0, 0.05, 4)
    theta = theta0.copy()
    for t in range(4):
        g = tiny_net.grad(theta)
        expected = [0.05 * np.linalg.norm(theta[sl]) / np.linalg.norm(g[sl]) for sl in tiny_net.blocks]
        assert np.allclose(run.lrs[t], expected, rtol=1e-12)
        for sl, r in zip(tiny_net.blocks, expected, strict=True):
            theta[sl] = theta[sl] - r * g[sl]
    # each block moved by exactly lr times its norm in the first step
    step = run.lrs[0][0] * np.linalg.norm(tiny_net.grad(theta0)[tiny_net.blocks[0]])
    assert np.isclose(step, 0.05 * np.linalg.norm(theta0[tiny_net.blocks[0]]))
    runs = lars_descent(tiny_net, theta0, [0.05, 0.1], 4)
    assert isinstance(runs, tuple) and np.allclose(runs[0].losses, run.losses)


def test_diverging_blockwise_run_says_so(tiny_net):
    run = blockwise_descent(tiny_net, tiny_net.initial(seed=8), [1e4, 1e4, 1e4], 50,
                            divergence_factor=10.0)
    assert run.diverged and run.diverged_at is not None
    assert np.all(np.isfinite(run.losses)) and len(run.lrs) == run.steps


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"fraction": 0.0}, ValueError, "fraction"),
        ({"fraction": 1.5}, ValueError, "fraction"),
        ({"method": "lars"}, ValueError, "method"),
        ({"recompute_every": 0}, ValueError, "recompute_every"),
    ],
)
def test_curvature_capped_rejects_bad_input(kwargs, exc, match):
    q = QuadraticObjective(np.diag([1.0, 2.0]))
    with pytest.raises(exc, match=match):
        curvature_capped_descent(q, [1.0, 1.0], 3, **kwargs)


# ---------------------------------------------------------------------------------------
# snapshot ensembles
# ---------------------------------------------------------------------------------------


def test_snapshot_training_follows_sgdr_and_snapshots_cycle_ends(digits):
    from lrctl.schedules import cosine_warm_restarts

    Xtr, ytr, _, _ = digits
    net = MLP(Xtr[:200], ytr[:200], hidden=(6,))
    theta0 = net.initial(seed=0)
    run = snapshot_training(net, theta0, 0.8, period=7, n_cycles=3, lr_min=0.05)
    assert np.allclose(run.lrs, cosine_warm_restarts(0.8, 7, 1, 0.05)(np.arange(21)))
    assert run.snapshot_steps.tolist() == [7, 14, 21] and run.snapshots.shape == (3, net.dim)
    # full batch: the snapshots are plain GD iterates at the schedule's rates
    theta = theta0.copy()
    for t in range(21):
        theta = theta - run.lrs[t] * net.grad(theta)
        if t + 1 in (7, 14, 21):
            assert np.allclose(run.snapshots[(t + 1) // 7 - 1], theta, rtol=1e-12, atol=1e-14)
    assert np.isclose(run.losses[0], net.loss(theta0))


def test_snapshot_training_minibatches_reproducible_and_stacked(digits):
    Xtr, ytr, _, _ = digits
    net = MLP(Xtr[:300], ytr[:300], hidden=(6,))
    theta0 = net.initial(seed=1)
    a = snapshot_training(net, theta0, 0.5, 10, 2, batch_size=32, seed=3)
    b = snapshot_training(net, theta0, 0.5, 10, 2, batch_size=32, seed=3)
    c = snapshot_training(net, theta0, 0.5, 10, 2, batch_size=32, seed=4)
    assert np.array_equal(a.snapshots, b.snapshots) and not np.array_equal(a.snapshots, c.snapshots)
    both = snapshot_training(net, theta0, [0.5, 0.2], 10, 2, batch_size=32, seed=3)
    assert np.allclose(both[0].snapshots, a.snapshots, rtol=1e-12, atol=1e-14)
    assert both[1].lrs[0] == 0.2  # the second run's peak rate
    # epochs of 300 // 32 = 9 batches: the 20 steps draw rows without replacement per epoch
    with pytest.raises(ValueError, match="batch_size"):
        snapshot_training(net, theta0, 0.5, 10, 2, batch_size=301)


def test_snapshot_training_divergence_is_reported(digits):
    Xtr, ytr, _, _ = digits
    net = MLP(Xtr[:100], ytr[:100], hidden=(4,))
    run = snapshot_training(net, net.initial(seed=2, scale=3.0), 1e5, 5, 4, divergence_factor=10.0)
    assert run.diverged and run.diverged_at is not None
    assert len(run.snapshots) == run.diverged_at // 5 and np.all(np.isfinite(run.lrs))


def test_snapshot_ensemble_against_direct_computation(digits):
    from scipy.spatial.distance import pdist, squareform

    Xtr, ytr, Xte, yte = digits
    net = MLP(Xtr[:300], ytr[:300], hidden=(8,))
    run = snapshot_training(net, net.initial(seed=0), 1.0, 30, 4, batch_size=50, seed=0)
    ens = snapshot_ensemble(net, run.snapshots, Xte, yte)
    P = np.stack([net.predict_proba(s, Xte) for s in run.snapshots])
    assert np.allclose(ens.accuracies, [np.mean(p.argmax(1) == yte) for p in P])
    assert ens.ensemble_accuracy == np.mean(P.mean(0).argmax(1) == yte)
    assert np.allclose(ens.distances, squareform(pdist(run.snapshots)), atol=1e-12)
    preds = P.argmax(-1)
    assert ens.disagreement[0, 1] == np.mean(preds[0] != preds[1])
    assert np.isclose(ens.mean_distance, pdist(run.snapshots).mean())
    assert ens.best_single_accuracy == ens.accuracies.max()
    rows = np.arange(len(yte))
    assert np.allclose(ens.log_losses, [-np.log(p[rows, yte]).mean() for p in P])
    assert np.isclose(ens.ensemble_log_loss, -np.log(P.mean(0)[rows, yte]).mean())
    # Jensen: −log of the mean probability is at most the mean of −log (−log is convex)
    assert ens.ensemble_log_loss <= ens.log_losses.mean() + 1e-12
    with pytest.raises(ValueError, match="M >= 2"):
        snapshot_ensemble(net, run.snapshots[:1], Xte, yte)
    with pytest.raises(ValueError, match="give both"):
        snapshot_ensemble(net, run.snapshots, Xte)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"period": 0}, ValueError, "period"),
        ({"n_cycles": 0}, ValueError, "n_cycles"),
        ({"lr_max": -1.0}, ValueError, "lr_max"),
        ({"lr_min": 2.0}, ValueError, "lr_min"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_snapshot_training_rejects_bad_input(digits, kwargs, exc, match):
    Xtr, ytr, _, _ = digits
    net = MLP(Xtr[:50], ytr[:50], hidden=(3,))
    args = {"lr_max": 1.0, "period": 5, "n_cycles": 2} | kwargs
    with pytest.raises(exc, match=match):
        snapshot_training(net, net.initial(seed=0), **args)


def test_topic_results_hold_the_run_instead_of_copying_it():
    # issue 12: one Run, one divergence vocabulary; topic results add their own data only
    from dataclasses import fields

    from lrctl.adaptive import BlockwiseResult, HypergradientResult
    from lrctl.training import ControlledTraining, Run

    run_fields = {f.name for f in fields(Run)}
    for cls in (HypergradientResult, BlockwiseResult, ControlledTraining):
        names = {f.name for f in fields(cls)}
        assert "run" in names and not (names & run_fields), cls.__name__
    q = QuadraticObjective(np.diag([1.0, 4.0]), blocks=(slice(0, 1), slice(1, 2)))
    assert isinstance(constant_lr_sweep(q, [1.0, 1.0], [0.1], 3)[0], Run)
    assert isinstance(blockwise_descent(q, [1.0, 1.0], [0.1, 0.2], 3), Run)
    assert isinstance(lars_descent(q, [1.0, 1.0], 0.1, 3), Run)
    assert isinstance(curvature_capped_descent(q, [1.0, 1.0], 3).run, Run)
