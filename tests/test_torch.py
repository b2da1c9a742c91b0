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


def numpy_range_test(objective, theta0, *, steps, **kw):
    """lrctl.rangetest.range_test (the numpy sweep) on an objective."""
    from lrctl.rangetest import range_test

    return range_test(objective, theta0, steps=steps, **kw)


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
    rr = TorchObjective(net, torch.nn.CrossEntropyLoss(), small_data(1),
                        hvp_mode="reverse-over-reverse")
    for v in V:
        np.testing.assert_allclose(rr.hvp(theta, v), H @ v, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="hvp_mode must be one of"):
        TorchObjective(net, torch.nn.CrossEntropyLoss(), small_data(1), hvp_mode="fwd")


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
    with torch.no_grad():
        L_ref = float(huber_plus(net(u, w), y))
    assert obj.loss(obj.initial()) == pytest.approx(L_ref, rel=1e-13)
    H = dense_hessian(obj, obj.initial())
    v = np.ones(obj.dim)
    np.testing.assert_allclose(obj.hvp(obj.initial(), v), H @ v, atol=1e-10)
    # huber_loss has no forward-mode derivative of its backward: reverse-over-reverse is used
    assert obj.hvp_mode == "reverse-over-reverse"
    T = np.stack([obj.initial(), obj.initial() + 0.5])
    np.testing.assert_allclose(obj.hvp(T, T), [obj.hvp(t, t) for t in T], rtol=1e-10, atol=1e-13)


def test_mse_loss_hvp_falls_back_to_reverse_over_reverse():
    # torch 2.13's mse_loss backward writes into an immutable ZeroTensor under forward AD
    # ("ZeroTensors are immutable"); the objective switches to reverse-over-reverse, still exact.
    torch.manual_seed(1)
    net = torch.nn.Linear(3, 1).double()
    x, y = torch.randn(8, 3).double(), torch.randn(8, 1).double()
    obj = TorchObjective(net, torch.nn.MSELoss(), (x, y))
    theta, v = obj.initial(), np.arange(1.0, obj.dim + 1)
    H = dense_hessian(obj, theta)
    np.testing.assert_allclose(obj.hvp(theta, v), H @ v, atol=1e-12)
    # the closed form: L = mean((Xw + b − y)²), so H = 2 X̃ᵀX̃ / n with X̃ = [X, 1]
    Xt = np.hstack([x.numpy(), np.ones((8, 1))])
    np.testing.assert_allclose(H, 2 * Xt.T @ Xt / 8, atol=1e-12)
    assert obj.hvp_mode == "reverse-over-reverse"


def test_through_lrctl_curvature_and_rangetest_unchanged():
    from lrctl.curvature import hessian_operator, top_eigenvalue

    net = small_net(7)
    obj = TorchObjective(net, torch.nn.CrossEntropyLoss(), small_data(7))
    theta = obj.initial()
    lam = top_eigenvalue(hessian_operator(obj, theta), tol=1e-12).value
    assert lam == pytest.approx(np.linalg.eigvalsh(dense_hessian(obj, theta))[-1], rel=1e-8)
    r = numpy_range_test(obj, theta, lr_min=1e-3, lr_max=100.0, steps=40)
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


# ---------------------------------------------------------------------------------------
# range_test, analyse_sweep, repeated_range_test
# ---------------------------------------------------------------------------------------


def sweep_problem(seed=0, *, bn=False, dropout=False, n=192, batch=32):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(4, 16)]
    if bn:
        layers.append(torch.nn.BatchNorm1d(16))
    layers.append(torch.nn.ReLU())
    if dropout:
        layers.append(torch.nn.Dropout(0.2))
    layers.append(torch.nn.Linear(16, 3))
    net = torch.nn.Sequential(*layers)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, 4, generator=g)
    y = (x @ torch.randn(4, 3, generator=g)).argmax(1)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]
    return net, batches


OPTIMIZERS = {
    "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.05),
}


def full_snapshot(model, opt):
    import copy
    return (model_snapshot(model), copy.deepcopy(opt.state_dict()), torch.get_rng_state(),
            [m.training for m in model.modules()])


def assert_state_equal(a, b):
    (sa, ga, _), oa, ra, ma = a
    (sb, gb, _), ob, rb, mb = b
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert all((x is None and y is None) or torch.equal(x, y) for x, y in zip(ga, gb, strict=True))
    assert torch.equal(ra, rb) and ma == mb
    assert oa["param_groups"] == ob["param_groups"]
    assert oa["state"].keys() == ob["state"].keys()
    for k in oa["state"]:
        for name, v in oa["state"][k].items():
            w = ob["state"][k][name]
            assert torch.equal(v, w) if isinstance(v, torch.Tensor) else v == w, (k, name)


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_range_test_restores_everything_exactly(kind):
    from lrctl.torch import range_test

    net, batches = sweep_problem(1, bn=True, dropout=True)
    opt = OPTIMIZERS[kind](net.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    for x, y in batches[:3]:                     # non-empty optimizer state, .grad, running stats
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    net.eval()
    net[1].train()                               # mixed per-module modes survive too
    before = full_snapshot(net, opt)
    r = range_test(net, opt, loss_fn, batches, lr_min=1e-5, lr_max=10.0, steps=60, seed=3)
    assert_state_equal(before, full_snapshot(net, opt))
    assert r.losses.size >= 5
    # and the restored pair continues training exactly like an untouched copy would
    import copy
    net2, opt2 = copy.deepcopy((net, opt))
    for m, o in ((net, opt), (net2, opt2)):
        torch.manual_seed(7)
        o.zero_grad()
        loss_fn(m(batches[0][0]), batches[0][1]).backward()
        o.step()
    for p, q in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(p, q)


def hand_written_sweep(model, opt, loss_fn, batches, lrs):
    """The reference: the plain torch loop, recording the loss after each step on the next batch."""
    model.train()
    it = iter(range(10**9))
    losses = []
    x, y = batches[next(it) % len(batches)]
    loss = loss_fn(model(x), y)
    L0 = float(loss.detach())
    for eta in lrs:
        opt.zero_grad()
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = float(eta)
        opt.step()
        x, y = batches[next(it) % len(batches)]
        loss = loss_fn(model(x), y)
        losses.append(float(loss.detach()))
    return L0, np.array(losses)


@pytest.mark.parametrize("kind", ["sgd-momentum", "adam"])
def test_range_test_is_the_hand_written_loop_analysed_by_lrctl(kind):
    import copy

    from lrctl.rangetest import divergence_index, exponential_lrs, smooth_in_log_lr, suggest
    from lrctl.torch import range_test

    net, batches = sweep_problem(2)
    opt = OPTIMIZERS[kind](net.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    ref_net, ref_opt = copy.deepcopy((net, opt))
    r = range_test(net, opt, loss_fn, batches, lr_min=1e-5, lr_max=30.0, steps=70)
    lrs = exponential_lrs(1e-5, 30.0, 70)
    L0, ref = hand_written_sweep(ref_net, ref_opt, loss_fn, batches, lrs)
    assert r.initial_loss == L0
    np.testing.assert_array_equal(r.losses, ref[: r.losses.size])   # same steps, same pairing
    d = divergence_index(ref, L0, threshold=3.0, window=3)
    assert r.diverged and r.diverged_at == d and r.losses.size == d + 1
    sm, sl, _ = smooth_in_log_lr(lrs[: len(r.smoothed)], ref[: len(r.smoothed)], 1.0)
    np.testing.assert_allclose(r.smoothed, sm, rtol=1e-12)
    s = suggest(lrs[: len(r.smoothed)], sm, sl)
    assert r.suggestions.as_dict() == s.as_dict()


def test_analyse_sweep_reproduces_lrctl_range_test_on_a_numpy_sweep():
    from lrctl.objectives import QuadraticObjective
    from lrctl.torch import analyse_sweep

    q = QuadraticObjective(np.diag([0.5, 2.0, 8.0]))
    r = numpy_range_test(q, np.array([1.0, -1.0, 0.5]), lr_min=1e-3, lr_max=10.0, steps=80)
    a = analyse_sweep(r.lrs, r.losses, initial_loss=r.initial_loss)
    assert a.diverged == r.diverged and a.diverged_at == r.diverged_at
    np.testing.assert_array_equal(a.smoothed, r.smoothed)
    np.testing.assert_array_equal(a.slopes, r.slopes)
    assert a.suggestions.as_dict() == r.suggestions.as_dict()
    assert a.smoothing_window == r.smoothing_window


def test_analyse_sweep_on_a_peer_recorded_sweep_with_a_nan_tail():
    from lrctl.torch import analyse_sweep

    # a torch-lr-finder-like history: geometric lrs (its ExponentialLR), a NaN once it blew up
    lrs = 1e-6 * (10.0 / 1e-6) ** (np.arange(100) / 99)
    losses = 2.3 - 2.0 / (1 + (1e-3 / lrs) ** 2)
    losses[90:] = np.nan
    a = analyse_sweep(lrs, losses)
    assert a.diverged and a.diverged_at == 90 and a.losses.size == 90
    assert 5e-4 < a.suggestions.steepest < 2e-3      # the logistic term's steepest point: 1e-3
    with pytest.raises(ValueError, match="geometric grid"):
        analyse_sweep(np.linspace(1e-3, 1.0, 50), np.ones(50))
    with pytest.raises(ValueError, match="one length"):
        analyse_sweep(lrs, losses[:10])
    with pytest.raises(ValueError, match="first point"):
        analyse_sweep(lrs[:10], [np.inf, 1, 1, 1, 1, 1, 1, 1, 1, 1], initial_loss=1.0)
    with pytest.raises(ValueError, match="only 1 finite losses"):
        analyse_sweep(lrs[:10], [1.0, np.nan, 1, 1, 1, 1, 1, 1, 1, 1])


def test_incremental_stop_equals_divergence_index():
    from hypothesis import given
    from hypothesis import strategies as st

    from lrctl.rangetest import divergence_index
    from lrctl.torch._rangetest import _Stop

    @given(st.lists(st.floats(-5, 5), min_size=1, max_size=40), st.floats(-3, 3),
           st.integers(1, 5), st.floats(0.1, 4))
    def check(ys, L0, w, thr):
        stop = _Stop(L0, thr, w)
        fired = next((i for i, v in enumerate(ys) if stop.fires(v)), None)
        assert fired == divergence_index(ys, L0, threshold=thr, window=w)

    check()


def test_range_test_param_group_ratios_custom_loss_and_single_batch():
    from lrctl.torch import range_test

    net, batches = sweep_problem(3)
    opt = torch.optim.SGD([{"params": net[0].parameters(), "lr": 0.1},
                           {"params": net[2].parameters(), "lr": 0.02}], lr=0.1)
    seen = []

    def loss_fn(out, y):   # a custom loss: cross-entropy plus a penalty on the logits
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
        return torch.nn.functional.cross_entropy(out, y) + 1e-3 * out.pow(2).mean()

    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    r = range_test(net, opt, loss_fn, (x, y), lr_min=1e-4, lr_max=1.0, steps=20)
    ratios = [b / a for a, b in seen[1:]]
    np.testing.assert_allclose(ratios, 0.2, rtol=1e-12)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.02]
    assert r.lrs.size <= 20


def test_range_test_on_a_dataloader_with_seeds_and_the_interval():
    from concurrent.futures import ThreadPoolExecutor

    from lrctl.torch import range_test, repeated_range_test

    net, batches = sweep_problem(4, n=256)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32,
                                         shuffle=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    kw = {"lr_min": 1e-5, "lr_max": 10.0, "steps": 50}
    a = range_test(net, opt, loss_fn, loader, seed=1, **kw)
    b = range_test(net, opt, loss_fn, loader, seed=1, **kw)
    c = range_test(net, opt, loss_fn, loader, seed=2, **kw)
    np.testing.assert_array_equal(a.losses, b.losses)        # same seed, same batch order
    assert not np.array_equal(a.losses[:10], c.losses[:10])  # another order
    rep = repeated_range_test(net, opt, loss_fn, loader, seeds=[1, 2, 3], **kw)
    assert len(rep.sweeps) == 3
    np.testing.assert_array_equal(rep.sweeps[0].losses, a.losses)
    for kind, iv in rep.intervals.items():
        assert iv.low <= iv.high and iv.values.size <= 3
        assert (iv.point is not None) == (iv.high / iv.low <= 2.0), kind
    with ThreadPoolExecutor(max_workers=1) as ex:
        rep2 = repeated_range_test(net, opt, loss_fn, loader, seeds=[1, 2, 3], executor=ex, **kw)
    for s1, s2 in zip(rep.sweeps, rep2.sweeps, strict=True):
        np.testing.assert_array_equal(s1.losses, s2.losses)
    # batches given as a list: the seed draws their order
    d = range_test(net, opt, loss_fn, batches, seed=5, **kw)
    e = range_test(net, opt, loss_fn, batches, **kw)
    assert not np.array_equal(d.losses[:5], e.losses[:5])


def test_range_test_bad_inputs():
    from lrctl.torch import range_test, repeated_range_test

    net, batches = sweep_problem(5)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer"):
        range_test(net, "sgd", loss_fn, batches)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        range_test(None, opt, loss_fn, batches)
    with pytest.raises(ValueError, match="lr_max must exceed lr_min"):
        range_test(net, opt, loss_fn, batches, lr_min=1.0, lr_max=0.1)
    with pytest.raises(TypeError, match="one-shot iterator"):
        range_test(net, opt, loss_fn, iter(batches))
    with pytest.raises(TypeError, match="must be an integer"):
        range_test(net, opt, loss_fn, batches, steps=True)
    with pytest.raises(ValueError, match="steps must be >= 5"):
        range_test(net, opt, loss_fn, batches, steps=3)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        repeated_range_test(net, opt, loss_fn, batches, seeds=[1])
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(RuntimeError, match="boom"):    # state restored on an exception, too
        calls = []

        def failing(out, y):
            calls.append(1)
            if len(calls) > 4:
                raise RuntimeError("boom")
            return loss_fn(out, y)

        range_test(net, opt, failing, batches, steps=20)
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before, strict=True))


@pytest.mark.parametrize("seed", range(4))
def test_lanczos_certifies_its_tolerance_on_random_spectra(seed):
    # hessian_eigenvalues runs lrctl.curvature.lanczos; its certificates against eigvalsh
    from lrctl.curvature import lanczos

    rng = np.random.default_rng(seed)
    n = 60
    eig = np.concatenate([rng.uniform(-1, 1, n - 2), [3.0, -2.5]])   # indefinite
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = (Q * eig) @ Q.T
    H = 0.5 * (H + H.T)
    w = np.linalg.eigvalsh(H)
    for tol in (1e-2, 1e-6, 1e-10):
        r = lanczos(lambda v: H @ v, n, k=2, which="both", tol=tol, seed=seed)
        for theta, b in zip(np.concatenate([r.top, r.bottom]),
                            np.concatenate([r.top_bounds, r.bottom_bounds]), strict=True):
            assert b <= tol * abs(theta)
        assert r.top[0] == pytest.approx(w[-1], rel=tol)
        assert r.bottom[0] == pytest.approx(w[0], rel=tol)
        assert r.n_products <= n + 2
    np.testing.assert_allclose(r.top, w[::-1][:2], rtol=1e-9)
    for lam, v, res in zip(r.top, r.top_vectors.T, r.top_residuals, strict=True):
        assert np.linalg.norm(H @ v - lam * v) <= res + 1e-12   # the residual it reports
    zero = lanczos(lambda v: 0.0 * v, 5, tol=1e-6)
    assert zero.top.tolist() == [0.0] and zero.n_products == 2 + 1   # probe + one step


def test_hessian_eigenvalues_agree_with_lrctl_curvature_arpack_on_a_wider_net():
    from lrctl.curvature import hessian_operator, top_eigenvalues
    from lrctl.torch import hessian_eigenvalues

    net = small_net(12, hidden=40)
    x, y = small_data(12, n=64)
    loss_fn = torch.nn.CrossEntropyLoss()
    spec = hessian_eigenvalues(net, loss_fn, (x, y), k=2, tol=1e-10)
    obj = TorchObjective(net, loss_fn, (x, y))
    ref = top_eigenvalues(hessian_operator(obj, obj.initial()), k=2, tol=1e-12)
    np.testing.assert_allclose(spec.values, ref.values, rtol=1e-8)
    cheap = hessian_eigenvalues(net, loss_fn, (x, y), tol=1e-3)
    assert cheap.lam_max == pytest.approx(ref.values[0], rel=1e-3)
    assert cheap.n_products < ref.n_products


def test_plain_sgd_full_batch_sweep_is_lrctl_rangetest_on_the_torch_objective():
    """Independent route: lrctl.rangetest.range_test's numpy GD sweep on TorchObjective."""
    from lrctl.torch import range_test

    net = small_net(13, hidden=6)
    x, y = small_data(13, n=48)
    loss_fn = torch.nn.CrossEntropyLoss()
    obj = TorchObjective(net, loss_fn, (x, y))
    ref = numpy_range_test(obj, obj.initial(), lr_min=1e-3, lr_max=300.0, steps=60)
    r = range_test(net, torch.optim.SGD(net.parameters(), lr=0.1), loss_fn, (x, y),
                   lr_min=1e-3, lr_max=300.0, steps=60)
    assert r.initial_loss == pytest.approx(ref.initial_loss, rel=1e-14)
    np.testing.assert_allclose(r.losses, ref.losses, rtol=1e-9)
    assert r.diverged_at == ref.diverged_at
    assert r.suggestions.steepest_index == ref.suggestions.steepest_index
    assert r.suggestions.valley_index == ref.suggestions.valley_index
    lrs_a, rho_a = r.sharpness_estimates(0.0)
    lrs_b, rho_b = ref.sharpness_estimates(0.0)
    np.testing.assert_array_equal(lrs_a, lrs_b)
    np.testing.assert_allclose(rho_a, rho_b, rtol=1e-6)


def test_repeated_range_test_on_a_process_pool_matches_the_sequential_sweeps():
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from lrctl.torch import repeated_range_test

    net, batches = sweep_problem(6)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    kw = {"lr_min": 1e-5, "lr_max": 10.0, "steps": 40}
    seq = repeated_range_test(net, opt, loss_fn, batches, seeds=[0, 1], **kw)
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
        par = repeated_range_test(net, opt, loss_fn, batches, seeds=[0, 1], executor=ex, **kw)
    for a, b in zip(seq.sweeps, par.sweeps, strict=True):
        np.testing.assert_array_equal(a.losses, b.losses)
    with pytest.raises(TypeError, match="must pickle"):
        repeated_range_test(net, opt, lambda o, t: loss_fn(o, t), batches, seeds=[0, 1],
                            executor=ex, **kw)


def test_torch_objective_through_lrctl_training_run():
    """TorchObjective in lrctl's one loop: a run equals torch's own SGD loop; a stack of rates
    (the vmap path) equals the single runs."""
    import lrctl.training as training

    net = small_net(14, hidden=6)
    x, y = small_data(14, n=40)
    loss_fn = torch.nn.CrossEntropyLoss()
    obj = TorchObjective(net, loss_fn, (x, y))
    r = training.run(obj, training.Constant(0.5), 25, theta0=obj.initial())
    import copy
    ref_net = copy.deepcopy(net)
    opt = torch.optim.SGD(ref_net.parameters(), lr=0.5)
    ref = []
    for _ in range(25):
        opt.zero_grad()
        loss = loss_fn(ref_net(x), y)
        ref.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        ref.append(loss_fn(ref_net(x), y).item())
    np.testing.assert_allclose(r.losses, ref, rtol=1e-12)
    np.testing.assert_allclose(r.theta, theta_of(ref_net), rtol=1e-10, atol=1e-13)
    stacked = training.run(obj, training.Constant(np.array([0.2, 0.5])), 10, theta0=obj.initial())
    for k, lr in enumerate([0.2, 0.5]):
        single = training.run(obj, training.Constant(lr), 10, theta0=obj.initial())
        np.testing.assert_allclose(stacked[k].losses, single.losses, rtol=1e-12)  # K Runs


def test_lanczos_basis_grows_and_the_default_budget_binds():
    from lrctl.curvature import lanczos

    n = 200
    H = np.diag(np.linspace(1.0, 1.001, n))   # clustered: slow, needs many products
    r = lanczos(H, tol=1e-13, seed=0)
    assert r.n_products > 33                  # past the first allocation of the basis
    assert r.top[0] == pytest.approx(1.001, rel=1e-9)
    with pytest.raises(RuntimeError, match="within 5 Hessian-vector products"):
        lanczos(H, tol=1e-13, seed=0, max_products=5)


def test_range_test_with_lbfgs_and_rmsprop_restores_state():
    from lrctl.torch import range_test

    loss_fn = torch.nn.CrossEntropyLoss()
    for make in (lambda ps: torch.optim.LBFGS(ps, lr=0.1, max_iter=3),
                 lambda ps: torch.optim.RMSprop(ps, lr=1e-3, momentum=0.5)):
        net, batches = sweep_problem(7)
        opt = make(net.parameters())
        before = full_snapshot(net, opt)
        r = range_test(net, opt, loss_fn, batches, lr_min=1e-5, lr_max=10.0, steps=30)
        assert_state_equal(before, full_snapshot(net, opt))
        assert r.losses.size >= 5 and np.all(np.isfinite(r.losses))
