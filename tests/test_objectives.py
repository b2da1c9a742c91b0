"""Tests of lrctl.objectives: data, stacked parameters, and the MLP's exact derivatives.

The independent routes: central finite differences of the loss (for gradients) and of the
gradient (for Hessian-vector products), the dense Hessian from scipy's numerical Jacobian,
and SoftmaxRegression (a separate implementation) for the MLP without hidden layers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.objectives import (
    MLP,
    LogisticRegression,
    QuadraticObjective,
    SoftmaxRegression,
    load_dataset,
    minimize,
    split_dataset,
)


@pytest.fixture(scope="module")
def digits_split():
    return split_dataset("digits", test_fraction=0.25, seed=0)


@pytest.fixture(scope="module")
def small_net(digits_split):
    Xtr, ytr, _, _ = digits_split
    return MLP(Xtr[:150], ytr[:150], hidden=(7, 5), l2=1e-3)


def _fd_grad(obj, theta, v, eps=1e-5):
    return (obj.loss(theta + eps * v) - obj.loss(theta - eps * v)) / (2 * eps)


def _fd_hvp(obj, theta, v, eps=1e-5):
    return (obj.grad(theta + eps * v) - obj.grad(theta - eps * v)) / (2 * eps)


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


def test_load_dataset_shapes_and_standardization():
    X, y = load_dataset("digits")
    # 1797 × 64 is the UCI digits set as shipped by scikit-learn (sklearn docs).
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert np.allclose(X.mean(axis=0), 0.0, atol=1e-12)
    std = X.std(axis=0)
    assert np.all(np.isclose(std, 1.0) | np.isclose(std, 0.0))  # constant pixels stay 0


def test_load_dataset_rejects_unknown_name():
    with pytest.raises(ValueError, match="name"):
        load_dataset("mnist")


def test_split_dataset_is_stratified_reproducible_and_uses_train_statistics(digits_split):
    Xtr, ytr, Xte, yte = digits_split
    assert len(ytr) + len(yte) == 1797
    # stratified: every class keeps (almost) its share in the test part
    share_all = np.bincount(np.concatenate([ytr, yte])) / 1797
    share_test = np.bincount(yte, minlength=10) / len(yte)
    assert np.max(np.abs(share_all - share_test)) < 0.01
    # standardized with the training statistics: train exactly centred, test only roughly
    assert np.allclose(Xtr.mean(axis=0), 0.0, atol=1e-12)
    assert not np.allclose(Xte.mean(axis=0), 0.0, atol=1e-6)
    again = split_dataset("digits", test_fraction=0.25, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(digits_split, again, strict=True))
    other = split_dataset("digits", test_fraction=0.25, seed=1)
    assert not np.array_equal(other[1], ytr)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, float("nan")])
def test_split_dataset_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        split_dataset("digits", test_fraction=fraction)


# ---------------------------------------------------------------------------------------
# stacked parameters: one call for K parameter vectors equals K single calls
# ---------------------------------------------------------------------------------------


def _stack_matches_rows(obj, rng):
    T = 0.1 * rng.standard_normal((3, obj.dim))
    V = rng.standard_normal((3, obj.dim))
    losses, grads = obj.loss(T), obj.grad(T)
    hv = obj.hvp(T, V)
    assert losses.shape == (3,) and grads.shape == (3, obj.dim) and hv.shape == (3, obj.dim)
    for k in range(3):
        assert isinstance(obj.loss(T[k]), float)
        assert np.isclose(losses[k], obj.loss(T[k]), rtol=1e-13, atol=1e-13)
        assert np.allclose(grads[k], obj.grad(T[k]), rtol=1e-12, atol=1e-14)
        assert np.allclose(hv[k], obj.hvp(T[k], V[k]), rtol=1e-12, atol=1e-14)
    lo, go = obj.loss_and_grad(T)
    assert np.allclose(lo, losses) and np.allclose(go, grads)


def test_stacked_parameters_match_single_calls(digits_split):
    rng = np.random.default_rng(0)
    Xtr, ytr, _, _ = digits_split
    H = rng.standard_normal((6, 6))
    _stack_matches_rows(QuadraticObjective(H @ H.T, minimizer=rng.standard_normal(6)), rng)
    _stack_matches_rows(LogisticRegression.from_dataset("breast_cancer", l2=1e-2), rng)
    _stack_matches_rows(SoftmaxRegression(Xtr[:200], ytr[:200], l2=1e-2), rng)
    _stack_matches_rows(MLP(Xtr[:100], ytr[:100], hidden=(5,), l2=1e-3), rng)


def test_stacked_shape_errors_name_the_argument():
    q = QuadraticObjective(np.eye(3))
    with pytest.raises(ValueError, match=r"theta must have shape \(3,\) or \(K, 3\)"):
        q.grad(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="v must have the shape of theta"):
        q.hvp(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"theta must have shape \(3,\)"):
        q._check_theta(np.zeros((2, 3)))  # single-vector methods still refuse stacks


def test_existing_classes_keep_their_single_vector_results():
    # L = 1/2 (1·1² + 10·1²) = 5.5 by hand; gradient diag(1, 10)·(1, 1).
    q = QuadraticObjective(np.diag([1.0, 10.0]))
    assert q.loss(np.ones(2)) == 5.5
    assert np.array_equal(q.grad(np.ones(2)), [1.0, 10.0])
    lr = LogisticRegression.from_dataset("breast_cancer", l2=1e-2)
    theta = 0.05 * np.random.default_rng(1).standard_normal(lr.dim)
    assert np.allclose(lr.hessian(theta), super(LogisticRegression, lr).hessian(theta), atol=1e-12)
    v = np.random.default_rng(2).standard_normal(lr.dim)
    assert np.isclose(_fd_grad(lr, theta, v), lr.grad(theta) @ v, rtol=1e-7)


# ---------------------------------------------------------------------------------------
# the MLP
# ---------------------------------------------------------------------------------------


def test_mlp_layout_blocks_partition_parameters(small_net):
    # 64·7 + 7 = 455, 7·5 + 5 = 40, 5·10 + 10 = 60 parameters per layer (hand count).
    sizes = [b.stop - b.start for b in small_net.blocks]
    assert sizes == [455, 40, 60] and small_net.dim == 555
    assert small_net.blocks[0].start == 0 and small_net.blocks[-1].stop == small_net.dim
    assert all(a.stop == b.start for a, b in zip(small_net.blocks[:-1], small_net.blocks[1:], strict=True))
    assert small_net.n_layers == 3 and small_net.sizes == (64, 7, 5, 10)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_gradient_matches_finite_differences(digits_split, activation):
    Xtr, ytr, _, _ = digits_split
    net = MLP(Xtr[:120], ytr[:120], hidden=(6, 4), activation=activation, l2=1e-3)
    rng = np.random.default_rng(3)
    # biases off zero: with zero biases a sample whose hidden units are all off sits exactly
    # on a ReLU kink, where the loss is not differentiable and finite differences straddle it
    theta = net.initial(seed=4) + 0.1 * rng.standard_normal(net.dim)
    for _ in range(3):
        v = rng.standard_normal(net.dim)
        assert np.isclose(net.grad(theta) @ v, _fd_grad(net, theta, v), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_hvp_r_operator_matches_finite_differences(digits_split, activation):
    Xtr, ytr, _, _ = digits_split
    net = MLP(Xtr[:120], ytr[:120], hidden=(6, 4), activation=activation, l2=1e-3)
    rng = np.random.default_rng(5)
    theta = net.initial(seed=6) + 0.1 * rng.standard_normal(net.dim)  # off the ReLU kinks
    for _ in range(3):
        v = rng.standard_normal(net.dim)
        exact, fd = net.hvp(theta, v), _fd_hvp(net, theta, v)
        assert np.linalg.norm(exact - fd) <= 1e-6 * np.linalg.norm(exact)


def test_mlp_dense_hessian_matches_numerical_jacobian_of_gradient(digits_split):
    from scipy.optimize import approx_fprime

    Xtr, ytr, _, _ = digits_split
    net = MLP(Xtr[:60, :6], ytr[:60] % 3, hidden=(3,), l2=1e-2)  # 33 parameters
    theta = net.initial(seed=7, scale=2.0)
    H = net.hessian(theta)
    J = np.array([approx_fprime(theta, lambda t, i=i: net.grad(t)[i], 1e-6)
                  for i in range(net.dim)])
    assert np.allclose(H, H.T)
    assert np.max(np.abs(H - J)) < 1e-5 * np.max(np.abs(H))
    # the trace (sum of second derivatives) agrees as well
    assert np.isclose(np.trace(H), np.trace(J), rtol=1e-5)


def test_mlp_without_hidden_layers_is_softmax_regression(digits_split):
    Xtr, ytr, _, _ = digits_split
    net = MLP(Xtr, ytr, hidden=(), l2=1e-2)
    ref = SoftmaxRegression(Xtr, ytr, l2=1e-2)
    rng = np.random.default_rng(8)
    theta, v = 0.1 * rng.standard_normal(net.dim), rng.standard_normal(net.dim)
    assert net.dim == ref.dim
    assert np.isclose(net.loss(theta), ref.loss(theta), rtol=1e-13)
    assert np.allclose(net.grad(theta), ref.grad(theta), rtol=1e-11, atol=1e-14)
    assert np.allclose(net.hvp(theta, v), ref.hvp(theta, v), rtol=1e-11, atol=1e-14)
    assert np.array_equal(net.predict(theta), ref.predict(theta))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_mlp_hvp_is_symmetric_and_linear(small_net, seed, a, b):
    rng = np.random.default_rng(seed)
    theta = small_net.initial(seed=rng)
    u, w = rng.standard_normal((2, small_net.dim))
    Hu, Hw = small_net.hvp(theta, u), small_net.hvp(theta, w)
    scale = np.linalg.norm(Hu) * np.linalg.norm(w) + 1e-12
    assert abs(w @ Hu - u @ Hw) <= 1e-10 * scale
    combo = small_net.hvp(theta, a * u + b * w)
    assert np.allclose(combo, a * Hu + b * Hw, rtol=1e-9, atol=1e-11 * (1 + abs(a) + abs(b)))


def test_mlp_block_hvp_is_the_diagonal_block_of_the_hessian(digits_split):
    Xtr, ytr, _, _ = digits_split
    net = MLP(Xtr[:80, :5], ytr[:80] % 3, hidden=(4,), l2=0.0)
    theta = net.initial(seed=9)
    H = net.hessian(theta)
    rng = np.random.default_rng(10)
    for k, sl in enumerate(net.blocks):
        v = rng.standard_normal(sl.stop - sl.start)
        assert np.allclose(net.block_hvp(theta, k, v), H[sl, sl] @ v, atol=1e-12)
    with pytest.raises(ValueError, match="block must be in"):
        net.block_hvp(theta, 2, np.zeros(3))
    with pytest.raises(ValueError, match="v_block must have shape"):
        net.block_hvp(theta, 0, np.zeros(3))


def test_mlp_batch_equals_network_on_the_subset(digits_split):
    Xtr, ytr, _, _ = digits_split
    net = MLP(Xtr[:200], ytr[:200], hidden=(5,), l2=1e-3, n_classes=10)
    idx = np.array([3, 17, 18, 150, 199, 4])
    sub = MLP(Xtr[idx], ytr[idx], hidden=(5,), l2=1e-3, n_classes=10)
    theta = net.initial(seed=11)
    v = np.random.default_rng(12).standard_normal(net.dim)
    assert np.isclose(net.loss(theta, batch=idx), sub.loss(theta), rtol=1e-13)
    assert np.allclose(net.grad(theta, batch=idx), sub.grad(theta), rtol=1e-12, atol=1e-15)
    assert np.allclose(net.hvp(theta, v, batch=idx), sub.hvp(theta, v), rtol=1e-12, atol=1e-15)
    for bad in ([], [200], [-1], [0.5], [[1, 2]]):
        with pytest.raises(ValueError, match="batch must be"):
            net.loss(theta, batch=np.array(bad))


def test_mlp_initial_is_lecun_normal_and_reproducible(digits_split):
    Xtr, ytr, _, _ = digits_split
    net = MLP(Xtr, ytr, hidden=(256,))
    t0, t1 = net.initial(seed=0), net.initial(seed=0)
    assert np.array_equal(t0, t1) and not np.array_equal(t0, net.initial(seed=1))
    W1 = t0[net._layers[0][0]]
    # LeCun normal: Var W = 1/fan_in = 1/64 (LeCun et al. 1998, "Efficient BackProp")
    assert abs(W1.var() * 64 - 1.0) < 0.05
    assert np.all(t0[net._layers[0][1]] == 0.0)  # biases start at zero
    with pytest.raises(ValueError, match="scale"):
        net.initial(seed=0, scale=0.0)


def test_mlp_predictions_and_accuracy(digits_split):
    Xtr, ytr, Xte, yte = digits_split
    net = MLP(Xtr, ytr, hidden=(16,), l2=1e-4)
    theta = net.initial(seed=0)
    for _ in range(150):  # plain full-batch GD at a safe rate: the loss falls
        theta = theta - 0.5 * net.grad(theta)
    P = net.predict_proba(theta, Xte)
    assert P.shape == (len(yte), 10) and np.allclose(P.sum(axis=1), 1.0)
    acc_test = net.accuracy(theta, Xte, yte)
    assert 0.85 < acc_test <= 1.0  # a 1-hidden-layer net reaches >0.9 on digits (sklearn MLP docs)
    assert net.loss(theta) < 0.5
    stacked = net.accuracy(np.stack([theta, net.initial(seed=1)]), Xte, yte)
    assert stacked.shape == (2,) and stacked[0] == acc_test
    with pytest.raises(ValueError, match="give both X and y"):
        net.accuracy(theta, Xte)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 64\)"):
        net.predict_proba(theta, Xte[:, :10])


def test_mlp_minimize_reaches_a_stationary_point(digits_split):
    Xtr, ytr, _, _ = digits_split
    net = MLP(Xtr[:100, :8], ytr[:100] % 2, hidden=(3,), l2=1e-1)
    theta = minimize(net, net.initial(seed=0), gtol=1e-8)
    assert np.linalg.norm(net.grad(theta)) < 1e-5
    # at a (local) minimum the Hessian is positive semi-definite
    assert np.linalg.eigvalsh(net.hessian(theta))[0] > -1e-8


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"hidden": 5}, TypeError, "hidden must be a sequence"),
        ({"hidden": (0,)}, ValueError, r"hidden\[0\]"),
        ({"hidden": (2.5,)}, TypeError, r"hidden\[0\]"),
        ({"activation": "sigmoid"}, ValueError, "activation"),
        ({"l2": -1.0}, ValueError, "l2"),
        ({"n_classes": 3}, ValueError, "n_classes"),
    ],
)
def test_mlp_rejects_bad_arguments(digits_split, kwargs, exc, match):
    Xtr, ytr, _, _ = digits_split
    with pytest.raises(exc, match=match):
        MLP(Xtr[:50], ytr[:50], **kwargs)


def test_mlp_rejects_bad_data():
    with pytest.raises(ValueError, match="X must be"):
        MLP(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="y must be"):
        MLP(np.zeros((4, 3)), np.array([0.0, 1.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="X must be finite"):
        MLP(np.full((2, 2), np.nan), np.array([0, 1]))
    net = MLP(np.eye(3), np.array([0, 1, 2]), hidden=(2,))
    with pytest.raises(ValueError, match="theta must be finite"):
        net.loss(np.full(net.dim, np.inf))


# ---------------------------------------------------------------------------------------
# The Objective protocol, block_index, and the single-pass loss_and_grad
# ---------------------------------------------------------------------------------------


def test_protocol_and_door_checks():
    from lrctl.objectives import Objective, block_index, check_objective

    q = QuadraticObjective(np.eye(3), blocks=(slice(0, 2), slice(2, 3)))
    assert isinstance(q, Objective) and q.stacked
    blocks, owner = block_index(q)
    assert owner.tolist() == [0, 0, 1] and blocks == q.blocks
    with pytest.raises(TypeError, match="lacks hvp"):
        check_objective(type("NoHvp", (), {"dim": 1, "loss": abs, "grad": abs})())
    with pytest.raises(ValueError, match=r"objective\.dim must be an integer >= 1"):
        check_objective(type("Empty", (), {"dim": 0, "loss": abs, "grad": abs, "hvp": abs})())
    with pytest.raises(TypeError, match="blocks"):
        block_index(type("NoBlocks", (), {"dim": 2})())
    with pytest.raises(ValueError, match="cover every parameter"):
        block_index(QuadraticObjective(np.eye(3), blocks=(slice(0, 1),)))


@pytest.mark.parametrize("make", [
    lambda Xtr, ytr: LogisticRegression.from_dataset("breast_cancer", l2=1e-2),
    lambda Xtr, ytr: SoftmaxRegression(Xtr[:150], ytr[:150], l2=1e-2),
])
def test_single_pass_loss_and_grad_matches_central_differences(digits_split, make):
    Xtr, ytr, _, _ = digits_split
    obj = make(Xtr, ytr)
    theta = 0.1 * np.random.default_rng(3).standard_normal(obj.dim)
    loss, grad = obj.loss_and_grad(theta)
    assert loss == obj.loss(theta)
    # the independent route: central differences of loss along random directions (O(h²))
    rng = np.random.default_rng(4)
    h = 1e-5
    for _ in range(3):
        u = rng.standard_normal(obj.dim)
        fd = (obj.loss(theta + h * u) - obj.loss(theta - h * u)) / (2 * h)
        assert fd == pytest.approx(float(grad @ u), rel=1e-6, abs=1e-9)


def test_sigmoid_is_the_logistic_function_without_overflow():
    from lrctl.objectives import _sigmoid

    z = np.array([-800.0, -30.0, -1.0, 0.0, 2.0, 30.0, 800.0])
    with np.errstate(over="ignore"):
        direct = 1.0 / (1.0 + np.exp(-z))  # overflows to 0 at −800: still the right limit
    np.testing.assert_allclose(_sigmoid(z), direct, rtol=1e-12, atol=1e-300)
