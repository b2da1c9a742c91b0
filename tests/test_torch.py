"""Tests of lrctl.torch: TorchObjective, hessian_eigenvalues, the range test.

The independent routes: torch.autograd (loss.backward for the gradient,
torch.autograd.functional.hessian for the dense Hessian), numpy's eigvalsh of that dense
Hessian, a hand-written torch loop for the sweep, and lrctl.rangetest's own functions applied
to the recorded losses.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrctl.torch import TorchObjective, theta_of  # noqa: E402

torch.set_num_threads(1)


def small_net(seed=0, *, hidden=5, bn=False, dtype=torch.float64):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(4, hidden)]
    if bn:
        layers.append(torch.nn.BatchNorm1d(hidden))
    layers += [torch.nn.Tanh(), torch.nn.Linear(hidden, 3)]
    return torch.nn.Sequential(*layers).to(dtype)


def small_data(seed=0, n=24, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(n, 4, generator=g, dtype=dtype)
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y


def dense_hessian(obj, theta):
    """The reference: torch.autograd.functional.hessian of the same loss (reverse-over-reverse)."""
    t = torch.as_tensor(theta, dtype=torch.float64)
    return torch.autograd.functional.hessian(obj._loss_tensor, t).numpy()


def autograd_loss_grad(model, loss_fn, batches):
    """Loss and gradient by plain loss.backward() on a copy of the model, batch-size weighted."""
    import copy

    m = copy.deepcopy(model)
    m.zero_grad()
    n = sum(len(y) for _, y in batches)
    total = 0.0
    for x, y in batches:
        loss = loss_fn(m(x), y) * (len(y) / n)
        loss.backward()
        total += float(loss.detach())
    g = torch.cat([p.grad.reshape(-1) for p in m.parameters() if p.requires_grad])
    return total, g.numpy()


# ---------------------------------------------------------------------------------------
# TorchObjective
# ---------------------------------------------------------------------------------------


def test_loss_and_grad_match_autograd_over_batches():
    net = small_net()
    x, y = small_data(n=30)
    batches = [(x[:10], y[:10]), (x[10:24], y[10:24]), (x[24:], y[24:])]
    loss_fn = torch.nn.CrossEntropyLoss()
    obj = TorchObjective(net, loss_fn, batches)
    theta = obj.initial()
    L_ref, g_ref = autograd_loss_grad(net, loss_fn, batches)
    # The batch-size-weighted mean of per-batch means is the mean over all 30 examples.
    with torch.no_grad():
        L_all = float(loss_fn(net(x), y))
    assert obj.loss(theta) == pytest.approx(L_ref, rel=1e-13)
    assert obj.loss(theta) == pytest.approx(L_all, rel=1e-13)
    np.testing.assert_allclose(obj.grad(theta), g_ref, rtol=1e-11, atol=1e-14)
    L2, g2 = obj.loss_and_grad(theta)
    assert L2 == pytest.approx(L_ref, rel=1e-13)
    np.testing.assert_allclose(g2, g_ref, rtol=1e-11, atol=1e-14)
    assert obj.n_examples == 30


def test_hvp_matches_dense_autograd_hessian():
    net = small_net(1)
    obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), small_data(1))
    theta = obj.initial() + 0.3 * np.random.default_rng(0).standard_normal(obj.dim)
    H = dense_hessian(obj, theta)
    V = np.random.default_rng(1).standard_normal((5, obj.dim))
    for v in V:
        np.testing.assert_allclose(obj.hvp(theta, v), H @ v, rtol=0, atol=1e-10)
    # every column: the whole Hessian
    cols = np.column_stack([obj.hvp(theta, e) for e in np.eye(obj.dim)])
    assert np.max(np.abs(cols - H)) < 1e-10


def test_blocks_and_names_follow_the_parameters():
    net = small_net(hidden=5)
    obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), small_data())
    assert obj.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    sizes = [b.stop - b.start for b in obj.blocks]
    assert sizes == [20, 5, 15, 3]
    assert obj.blocks[0].start == 0 and obj.blocks[-1].stop == obj.dim == 43
    theta = obj.initial()
    np.testing.assert_array_equal(theta[obj.blocks[2]],
                                  net[2].weight.detach().numpy().reshape(-1))


def test_stacked_vmap_path_equals_the_loop():
    net = small_net(2)
    x, y = small_data(2)
    obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), [(x[:12], y[:12]), (x[12:], y[12:])])
    rng = np.random.default_rng(3)
    T = obj.initial() + 0.2 * rng.standard_normal((4, obj.dim))
    V = rng.standard_normal((4, obj.dim))
    np.testing.assert_allclose(obj.loss(T), [obj.loss(t) for t in T], rtol=1e-13)
    np.testing.assert_allclose(obj.grad(T), [obj.grad(t) for t in T], rtol=1e-11, atol=1e-14)
    L, G = obj.loss_and_grad(T)
    np.testing.assert_allclose(L, [obj.loss(t) for t in T], rtol=1e-13)
    np.testing.assert_allclose(G, obj.grad(T), rtol=1e-13)
    np.testing.assert_allclose(obj.hvp(T, V), [obj.hvp(t, v) for t, v in zip(T, V, strict=True)],
                               rtol=1e-10, atol=1e-13)
    M = obj.hvp_many(T[0], V.T)
    np.testing.assert_allclose(M.T, [obj.hvp(T[0], v) for v in V], rtol=1e-10, atol=1e-13)


def test_frozen_parameters_are_excluded_and_kept():
    net = small_net(3)
    net[0].weight.requires_grad_(False)
    x, y = small_data(3)
    loss_fn = torch.nn.CrossEntropyLoss()
    obj = TorchObjective(net, loss_fn, (x, y))
    assert obj.dim == 5 + 15 + 3 and "0.weight" not in obj.names
    L_ref, g_ref = autograd_loss_grad(net, loss_fn, [(x, y)])
    assert obj.loss(obj.initial()) == pytest.approx(L_ref, rel=1e-13)
    np.testing.assert_allclose(obj.grad(obj.initial()), g_ref, rtol=1e-11, atol=1e-14)
    np.testing.assert_array_equal(theta_of(net), obj.initial())


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_batchnorm_buffers_held_fixed_and_not_modified(mode):
    net = small_net(4, bn=True)
    x, y = small_data(4)
    with torch.no_grad():  # non-trivial running statistics
        net.train()
        net(x * 2.0 + 1.0)
    getattr(net, mode)()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loss_fn = torch.nn.CrossEntropyLoss()
    obj = TorchObjective(net, loss_fn, (x, y))
    theta = obj.initial()
    T = np.stack([theta, theta + 0.01])
    obj.loss(theta), obj.grad(theta), obj.hvp(theta, np.ones(obj.dim)), obj.hvp(T, T)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert net.training == (mode == "train")
    # the function is the model's own in that mode (running stats in eval, batch stats in train)
    with torch.no_grad():
        ref = float(loss_fn(net(x), y)) if mode == "eval" else None
    if mode == "eval":
        assert obj.loss(theta) == pytest.approx(ref, rel=1e-13)
    else:
        # in train mode torch's own forward updates the running stats; compare on a copy
        import copy
        m = copy.deepcopy(net)
        with torch.no_grad():
            ref = float(loss_fn(m(x), y))
        assert obj.loss(theta) == pytest.approx(ref, rel=1e-13)
        np.testing.assert_allclose(obj.loss(T), [obj.loss(t) for t in T], rtol=1e-13)
    H = dense_hessian(obj, theta)
    v = np.random.default_rng(0).standard_normal(obj.dim)
    np.testing.assert_allclose(obj.hvp(theta, v), H @ v, atol=1e-10)


def test_write_and_to_model_put_theta_back():
    net = small_net(5)
    obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), small_data(5))
    theta = obj.initial()
    new = theta + 1.0
    copy_ = obj.to_model(new)
    np.testing.assert_array_equal(theta_of(net), theta)        # original unchanged
    np.testing.assert_array_equal(theta_of(copy_), new)
    weight = net[0].weight
    assert obj.write(new) is net
    assert net[0].weight is weight                              # same Parameter objects
    np.testing.assert_array_equal(theta_of(net), new)
    x, y = small_data(5)
    with torch.no_grad():
        ref = float(torch.nn.CrossEntropyLoss()(net(x), y))
    assert obj.loss(new) == pytest.approx(ref, rel=1e-13)


def test_float32_model_computes_in_float32_by_default():
    net = small_net(6, dtype=torch.float32)
    x, y = small_data(6, dtype=torch.float32)
    obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), (x, y))
    assert obj.dtype == torch.float32
    g = obj.grad(obj.initial())
    assert g.dtype == np.float64
    obj64 = TorchObjective(net, torch.nn.CrossEntropyLoss(), (x, y), dtype=torch.float64)
    np.testing.assert_allclose(g, obj64.grad(obj64.initial()), rtol=1e-4, atol=1e-6)


def test_custom_loss_and_tuple_inputs():
    class TwoInput(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(2, 1)
            self.b = torch.nn.Linear(3, 1)

        def forward(self, u, w):
            return self.a(u) + self.b(w)

    torch.manual_seed(0)
    net = TwoInput().double()
    u, w, y = torch.randn(10, 2).double(), torch.randn(10, 3).double(), torch.randn(10, 1).double()

    def huber_plus(out, target):
        return torch.nn.functional.huber_loss(out, target) + 0.1 * out.pow(2).mean()

    obj = TorchObjective(net, huber_plus, ((u, w), y))
    assert obj.hvp_mode == "forward-over-reverse"
    L_ref = float(huber_plus(net(u, w), y))
    assert obj.loss(obj.initial()) == pytest.approx(L_ref, rel=1e-13)
    H = dense_hessian(obj, obj.initial())
    v = np.ones(obj.dim)
    np.testing.assert_allclose(obj.hvp(obj.initial(), v), H @ v, atol=1e-10)
    # huber_loss has no forward-mode derivative of its backward: reverse-over-reverse is used
    assert obj.hvp_mode == "reverse-over-reverse"
    T = np.stack([obj.initial(), obj.initial() + 0.5])
    np.testing.assert_allclose(obj.hvp(T, T), [obj.hvp(t, t) for t in T], rtol=1e-10, atol=1e-13)


def test_through_lrctl_curvature_and_rangetest_unchanged():
    from lrctl.curvature import hessian_operator, top_eigenvalue
    from lrctl.rangetest import range_test as numpy_range_test

    net = small_net(7)
    obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), small_data(7))
    theta = obj.initial()
    lam = top_eigenvalue(hessian_operator(obj, theta), tol=1e-12).value
    assert lam == pytest.approx(np.linalg.eigvalsh(dense_hessian(obj, theta))[-1], rel=1e-8)
    r = numpy_range_test(obj.loss, obj.grad, theta, lr_min=1e-3, lr_max=100.0, n_steps=40)
    assert r.losses.size >= 5 and np.all(np.isfinite(r.losses))


def test_bad_inputs_are_refused():
    net = small_net()
    data = small_data()
    loss_fn = torch.nn.CrossEntropyLoss()
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        TorchObjective(lambda x: x, loss_fn, data)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        TorchObjective(net, 3.0, data)
    with pytest.raises(TypeError, match="data must be an"):
        TorchObjective(net, loss_fn, 5)
    with pytest.raises(ValueError, match="data holds no batches"):
        TorchObjective(net, loss_fn, [])
    with pytest.raises(TypeError, match=r"data\[1\] must be"):
        TorchObjective(net, loss_fn, [data, "x"])
    with pytest.raises(TypeError, match="dtype must be a floating"):
        TorchObjective(net, loss_fn, data, dtype=torch.int64)
    frozen = small_net()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        TorchObjective(frozen, loss_fn, data)
    obj = TorchObjective(net, loss_fn, data)
    with pytest.raises(ValueError, match=r"theta must have shape \(43,\)"):
        obj.loss(np.zeros(3))
    with pytest.raises(ValueError, match="theta must be finite"):
        obj.grad(np.full(obj.dim, np.nan))
    with pytest.raises(ValueError, match="v must have the shape of theta"):
        obj.hvp(np.zeros(obj.dim), np.zeros((2, obj.dim)))
    with pytest.raises(TypeError, match="loss_fn must return a scalar"):
        TorchObjective(net, torch.nn.CrossEntropyLoss(reduction="none"), data).loss(obj.initial())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_path_matches_cpu():
    net = small_net(8)
    x, y = small_data(8)
    cpu = TorchObjective(net, torch.nn.CrossEntropyLoss(), (x, y))
    gpu = TorchObjective(net.to("cuda"), torch.nn.CrossEntropyLoss(), (x, y))
    assert gpu.device.type == "cuda"
    theta = cpu.initial()
    v = np.ones(cpu.dim)
    np.testing.assert_allclose(gpu.loss(theta), cpu.loss(theta), rtol=1e-12)
    np.testing.assert_allclose(gpu.grad(theta), cpu.grad(theta), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(gpu.hvp(theta, v), cpu.hvp(theta, v), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------
# hessian_eigenvalues, layerwise_param_groups
# ---------------------------------------------------------------------------------------


def model_snapshot(model):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            model.training)


def assert_same_model(model, snap):
    state, grads, training = snap
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    for p, g in zip(model.parameters(), grads, strict=True):
        assert (p.grad is None) == (g is None)
        if g is not None:
            assert torch.equal(p.grad, g)
    assert model.training == training


@pytest.mark.parametrize("training", [True, False])
def test_hessian_eigenvalues_match_dense_eigvalsh_and_leave_the_model_alone(training):
    from lrctl.torch import hessian_eigenvalues

    net = small_net(9, hidden=6)
    x, y = small_data(9, n=40)
    loss_fn = torch.nn.CrossEntropyLoss()
    loss_fn(net(x), y).backward()          # some .grad to preserve
    net.train(training)
    snap = model_snapshot(net)
    spec = hessian_eigenvalues(net, loss_fn, (x, y), k=3, which="both", blocks=True,
                               tol=1e-10, vectors=True)
    assert_same_model(net, snap)
    obj = TorchObjective(net, loss_fn, (x, y))
    H = dense_hessian(obj, obj.initial())
    w = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(spec.values, np.concatenate([w[::-1][:3], w[:3][::-1]]),
                               rtol=1e-8, atol=1e-10)
    assert spec.lam_max == pytest.approx(w[-1], rel=1e-8)
    assert spec.lam_min == pytest.approx(w[0], rel=1e-8, abs=1e-10)
    # eigenvectors: H v = λ v
    for lam, v in zip(spec.values, spec.vectors.T, strict=True):
        np.testing.assert_allclose(H @ v, lam * v, atol=1e-7)
    # block spectra: eigvalsh of each diagonal block of the dense Hessian
    for sl, vals in zip(obj.blocks, spec.block_values, strict=True):
        wb = np.linalg.eigvalsh(H[sl, sl])[::-1][: len(vals)]
        np.testing.assert_allclose(vals, wb, rtol=1e-8, atol=1e-10)
    assert spec.n_products > 0 and spec.total_products > spec.n_products


def test_hessian_eigenvalues_top_only_and_errors():
    from lrctl.torch import hessian_eigenvalues

    net = small_net(10)
    data = small_data(10)
    loss_fn = torch.nn.CrossEntropyLoss()
    spec = hessian_eigenvalues(net, loss_fn, data)
    assert spec.values.shape == (1,) and spec.vectors is None and spec.block_values is None
    with pytest.raises(ValueError, match="lam_min was not computed"):
        _ = spec.lam_min
    with pytest.raises(ValueError, match="pass blocks=True"):
        _ = spec.block_lam_max
    with pytest.raises(ValueError, match="which must be one of"):
        hessian_eigenvalues(net, loss_fn, data, which="LA")
    with pytest.raises(TypeError, match="k must be an integer"):
        hessian_eigenvalues(net, loss_fn, data, k=1.5)
    with pytest.raises(TypeError, match="blocks must be True or False"):
        hessian_eigenvalues(net, loss_fn, data, blocks=1)
    with pytest.raises(ValueError, match="tol must be finite and > 0"):
        hessian_eigenvalues(net, loss_fn, data, tol=0.0)
    with pytest.raises(RuntimeError, match="did not converge within"):
        hessian_eigenvalues(net, loss_fn, data, tol=1e-14, max_products=3)


def test_layerwise_param_groups_are_fraction_times_the_block_bound():
    from lrctl.torch import layerwise_param_groups

    net = small_net(11, hidden=6)
    x, y = small_data(11, n=40)
    loss_fn = torch.nn.CrossEntropyLoss()
    obj = TorchObjective(net, loss_fn, (x, y))
    H = dense_hessian(obj, obj.initial())
    groups = layerwise_param_groups(net, loss_fn, (x, y), fraction=0.5, lr_max=10.0, tol=1e-10)
    opt = torch.optim.SGD(groups, lr=1.0)
    assert len(opt.param_groups) == len(obj.blocks)
    for g, sl in zip(opt.param_groups, obj.blocks, strict=True):
        lam = np.linalg.eigvalsh(H[sl, sl])[-1]
        expected = min(0.5 * 2.0 / lam, 10.0) if lam > 0 else 10.0
        assert g["lr"] == pytest.approx(expected, rel=1e-7)
    with pytest.raises(ValueError, match="fraction must lie in"):
        layerwise_param_groups(net, loss_fn, (x, y), fraction=1.5)
