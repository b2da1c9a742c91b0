"""PIScheduler and the measurement probes on real PyTorch models.

Independent routes: the numpy PIController fed the same measurements (the scheduler must set
exactly its rate), lrctl.zdomain's own sharpness loop on the same quadratic (the torch loop
must reproduce its learning rates), the dense Hessian from torch.autograd.functional.hessian
(the probe's λ_max), the closed-form loss ratio (1 − ηλ)² of a quadratic, and an
uninterrupted run (a checkpointed and resumed run must equal it bit for bit).
"""

import io
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrctl import zdomain  # noqa: E402
from lrctl.objectives import QuadraticObjective  # noqa: E402
from lrctl.torch import LossRatioProbe, PIScheduler, SharpnessProbe  # noqa: E402
from lrctl.training import train_with_sharpness_control  # noqa: E402
from lrctl.zdomain import PIController  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _ctl(**kw):
    args = {"kp": 0.2, "ki": 0.5, "setpoint": 1.0, "lr0": 0.1, "lr_min": 1e-3, "lr_max": 1.0}
    args.update(kw)
    return PIController(**args)


def _opt(lrs=(0.1,)):
    ws = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in lrs]
    return torch.optim.SGD([{"params": [w], "lr": lr} for w, lr in zip(ws, lrs, strict=True)])


def _step(opt, sched, y=None):
    opt.step()  # no gradients: a no-op step, in torch's order before the scheduler
    sched.step(y)


# ---------------------------------------------------------------------------------------
# PIScheduler: an LRScheduler that applies the controller
# ---------------------------------------------------------------------------------------


def test_is_an_lrscheduler_and_starts_at_lr0():
    opt = _opt()
    sched = PIScheduler(opt, _ctl())
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert sched.get_last_lr() == [0.1] and opt.param_groups[0]["lr"] == 0.1
    assert sched.multiplier == 1.0


def test_step_sets_exactly_the_controllers_rate():
    rng = np.random.default_rng(0)
    ys = rng.uniform(0.2, 2.5, 40)
    opt = _opt()
    sched = PIScheduler(opt, _ctl())
    ref = _ctl()  # the numpy controller alone, fed the same measurements
    for y in ys:
        _step(opt, sched, float(y))
        assert sched.get_last_lr() == [ref.update(float(y))]
        assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]
    # the first update by hand: e = 1 − y0, Δlog η = (kp + ki)·e (backward Euler, dt = 1)
    one = PIScheduler(_opt(), _ctl())
    _step(one.optimizer, one, float(ys[0]))
    assert one.get_last_lr()[0] == pytest.approx(0.1 * math.exp(0.7 * (1.0 - ys[0])), rel=1e-14)


def test_step_without_measurement_keeps_the_rate():
    opt = _opt()
    sched = PIScheduler(opt, _ctl())
    _step(opt, sched, 0.4)
    lr = sched.get_last_lr()
    for _ in range(5):
        _step(opt, sched)
    assert sched.get_last_lr() == lr
    assert sched.controller.n_updates == 1 and sched.last_epoch == 6


def test_measurement_may_be_a_tensor_or_numpy_scalar():
    a, b = PIScheduler(_opt(), _ctl()), PIScheduler(_opt(), _ctl())
    _step(a.optimizer, a, torch.tensor(0.3, dtype=torch.float64))
    _step(b.optimizer, b, np.float64(0.3))
    assert a.get_last_lr() == b.get_last_lr() == [_ctl().update(0.3)]


def test_per_param_group_rates_keep_their_ratios():
    opt = _opt((0.1, 0.02, 0.5))
    sched = PIScheduler(opt, _ctl(lr0=0.1))
    ref = _ctl(lr0=0.1)
    for y in (0.3, 1.7, 0.9):
        _step(opt, sched, y)
        m = ref.update(y) / 0.1
        np.testing.assert_allclose(sched.get_last_lr(), [0.1 * m, 0.02 * m, 0.5 * m], rtol=1e-15)
    assert sched.get_last_lr()[0] == ref.lr  # the group at lr0 carries the controller's rate
    assert sched.multiplier == pytest.approx(ref.lr / 0.1, rel=1e-15)


def test_controller_limits_hold_through_the_scheduler():
    opt = _opt()
    sched = PIScheduler(opt, _ctl(kp=0.0, ki=5.0, lr_max=0.3))
    for _ in range(10):
        _step(opt, sched, -5.0)  # e = 6 per sample: drives the rate to lr_max
    assert sched.get_last_lr() == [0.3] and sched.controller.saturated
    _step(opt, sched, 1.5)  # the first correction pointing back leaves the clamp (anti-windup)
    assert sched.get_last_lr()[0] == pytest.approx(0.3 * math.exp(-2.5))


def test_linear_warmup_then_control():
    W = 4
    opt = _opt((0.1, 0.05))
    sched = PIScheduler(opt, _ctl(), warmup=W)
    ref = _ctl()
    seen = [sched.get_last_lr()]
    for _ in range(1, 8):
        _step(opt, sched, 0.5)
        seen.append(sched.get_last_lr())
    # t = 0..3: base·(t+1)/4; measurements given while the rate in force was below full are
    # skipped (steps 1..3); the measurement at step 4 (rate in force full) is the first used.
    for t in range(W):
        np.testing.assert_allclose(seen[t], [0.1 * (t + 1) / W, 0.05 * (t + 1) / W], rtol=1e-15)
    assert sched.measurements_skipped == W - 1
    for t in range(W, 8):
        lr = ref.update(0.5)
        np.testing.assert_allclose(seen[t], [lr, lr / 2], rtol=1e-15)


def test_composes_with_sequential_lr_warmup():
    opt = _opt()
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3)
    pi = PIScheduler(opt, _ctl())
    seq = torch.optim.lr_scheduler.SequentialLR(opt, [warm, pi], milestones=[3])
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(3):
        opt.step()
        seq.step()  # LinearLR's ramp, then the milestone hands over the initial rate
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.025, 0.05, 0.075, 0.1], rtol=1e-12)
    for y in (0.6, 0.8):
        opt.step()
        pi.step(y)  # past the milestone: the PI scheduler's own step takes the measurement
    ref = _ctl()
    ref.update(0.6)
    assert opt.param_groups[0]["lr"] == ref.update(0.8)
    opt.step()
    seq.step()  # SequentialLR's plain step() past the milestone keeps the rate
    assert opt.param_groups[0]["lr"] == ref.lr


def test_state_dict_holds_plain_numbers_and_round_trips_the_controller():
    opt = _opt()
    sched = PIScheduler(opt, _ctl())
    for y in (0.2, 0.7, 3.0):
        _step(opt, sched, y)
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)  # plain numbers only
    other = PIScheduler(_opt(), _ctl(kp=-1.0, ki=0.01, setpoint=0.3))  # other gains and setpoint
    other.load_state_dict(state)
    assert other.controller.config == sched.controller.config
    assert other.controller.state_dict() == sched.controller.state_dict()
    assert other.last_epoch == sched.last_epoch and other.get_last_lr() == sched.get_last_lr()


# ---------------------------------------------------------------------------------------
# Bit-identical continuation of a real training run from a checkpoint
# ---------------------------------------------------------------------------------------

def _digits_like(seed=0, n=96):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g, dtype=torch.float64)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 0.5).long()
    return x, y


def _net(seed=1):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 12), torch.nn.Tanh(),
                               torch.nn.Linear(12, 3)).double()


def _train(model, opt, sched, probe, batches, k0, k1, record):
    loss_fn = torch.nn.CrossEntropyLoss()
    for k in range(k0, k1):
        x, y = batches[k % len(batches)]
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        sched.step(probe(opt))
        record.append(opt.param_groups[0]["lr"])


def test_checkpoint_mid_run_continues_bit_for_bit():
    x, y = _digits_like()
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 96, 16)]
    probe_batch = (x[:48], y[:48])
    loss_fn = torch.nn.CrossEntropyLoss()
    M, N, total = 3, 14, 30

    def fresh(kp=0.4, ki=0.15):
        model = _net()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        ctl = PIController(kp, ki, setpoint=math.log(0.5), lr0=0.05, lr_min=1e-3, lr_max=5.0,
                           dt=M)
        return (model, opt, PIScheduler(opt, ctl, warmup=2),
                SharpnessProbe(model, loss_fn, probe_batch, every=M, log_measurement=True))

    # uninterrupted
    model_f, opt_f, sched_f, probe_f = fresh()
    full = []
    _train(model_f, opt_f, sched_f, probe_f, batches, 0, total, full)
    # interrupted at N, saved, restored into fresh objects (other gains: they must be restored)
    model, opt, sched, probe = fresh()
    part = []
    _train(model, opt, sched, probe, batches, 0, N, part)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "probe": probe.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)  # plain numbers and tensors only
    model2, opt2, sched2, probe2 = fresh(kp=-3.0, ki=2.0)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    probe2.load_state_dict(ck["probe"])
    _train(model2, opt2, sched2, probe2, batches, N, total, part)

    assert part == full  # every learning rate, exactly
    assert sched2.controller.n_updates > 4 and len(set(full)) > 5  # the controller did act
    for p, q in zip(model_f.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p, q)  # the resumed model equals the uninterrupted one bit for bit
    for p, q in zip(model_f.parameters(), model.parameters(), strict=True):
        assert not torch.equal(p, q)  # (and the run stopped at N is not already there)
    assert probe2.n_products == probe_f.n_products
    assert sched2.state_dict()["controller"] == sched_f.state_dict()["controller"]


# ---------------------------------------------------------------------------------------
# SharpnessProbe against the dense Hessian
# ---------------------------------------------------------------------------------------


def _dense_hessian(model, loss_fn, x, y):
    from torch.func import functional_call

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def f(flat):
        parts = torch.split(flat, sizes)
        params = {n: t.view(s) for n, t, s in zip(names, parts, shapes, strict=True)}
        return loss_fn(functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(f, flat0).numpy(), sizes


def test_sharpness_probe_matches_dense_hessian_with_one_rate():
    x, y = _digits_like(n=40)
    model, loss_fn = _net(), torch.nn.CrossEntropyLoss()
    H, _ = _dense_hessian(model, loss_fn, x, y)
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    probe = SharpnessProbe(model, loss_fn, (x, y), tol=1e-10)
    expected = 0.3 * np.linalg.eigvalsh(H)[-1]
    assert probe(opt) == pytest.approx(expected, rel=1e-8)
    log_probe = SharpnessProbe(model, loss_fn, (x, y), tol=1e-10, log_measurement=True)
    assert log_probe(opt) == pytest.approx(math.log(expected), abs=1e-8)


def test_sharpness_probe_with_group_rates_and_a_parameter_left_out():
    x, y = _digits_like(n=40)
    model, loss_fn = _net(), torch.nn.CrossEntropyLoss()
    H, sizes = _dense_hessian(model, loss_fn, x, y)
    w1, b1, w2, _b2 = model.parameters()
    # b2 is in no group: its rate is 0 (it is not trained)
    opt = torch.optim.SGD([{"params": [w1, b1], "lr": 0.2}, {"params": [w2], "lr": 0.05}])
    rates = np.concatenate([np.full(sizes[0] + sizes[1], 0.2), np.full(sizes[2], 0.05),
                            np.zeros(sizes[3])])
    s = np.sqrt(rates)
    expected = np.linalg.eigvalsh(s[:, None] * H * s[None, :])[-1]  # λmax(P^½ H P^½)
    probe = SharpnessProbe(model, loss_fn, (x, y), tol=1e-10)
    assert probe(opt) == pytest.approx(expected, rel=1e-8)


def test_warm_started_lanczos_agrees_with_the_dense_hessian_at_lower_cost():
    x, y = _digits_like(n=40)
    model, loss_fn = _net(), torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    warm = SharpnessProbe(model, loss_fn, (x, y), tol=1e-10)
    cold = SharpnessProbe(model, loss_fn, (x, y), tol=1e-10, warm_start=False)
    warm(opt), cold(opt)
    first_warm, first_cold = warm.n_products, cold.n_products
    assert first_warm == first_cold  # the first reading is a cold start for both
    for _ in range(3):  # move the parameters a little, as a few training steps would
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        H, _ = _dense_hessian(model, loss_fn, x, y)
        expected = 0.3 * np.linalg.eigvalsh(H)[-1]
        assert warm(opt) == pytest.approx(expected, rel=1e-8)
        assert cold(opt) == pytest.approx(expected, rel=1e-8)
    assert warm.n_products - first_warm < cold.n_products - first_cold


def test_sharpness_probe_leaves_the_model_as_found_and_counts_its_cost():
    x, y = _digits_like(n=40)
    model, loss_fn = _net(), torch.nn.CrossEntropyLoss()
    model.eval()
    loss_fn(model(x), y).backward()
    before = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    probe = SharpnessProbe(model, loss_fn, (x, y), every=4)
    out = [probe(opt) for _ in range(9)]
    assert [o is None for o in out] == [False, True, True, True] * 2 + [False]
    assert probe.n_calls == 9 and probe.n_measurements == 3
    assert probe.n_products > 0 and probe.products_per_step == probe.n_products / 9
    assert not model.training
    for p, b, g in zip(model.parameters(), before, grads, strict=True):
        assert torch.equal(p, b) and torch.equal(p.grad, g)


def test_loss_ratio_probe_closed_form():
    # L = ½ λ w², one GD step multiplies w by (1 − ηλ): L_{k+1}/L_k = (1 − ηλ)² exactly.
    lam, lr, M = 2.0, 0.2, 3
    w = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        w.weight.fill_(1.5)
    x, t = torch.full((1, 1), math.sqrt(lam), dtype=torch.float64), torch.zeros(1, 1).double()

    def mse(out, t):
        return 0.5 * ((out - t) ** 2).sum()

    probe, opt = LossRatioProbe(w, mse, (x, t), every=M), torch.optim.SGD(w.parameters(), lr=lr)
    got = []
    for _ in range(3 * M):
        got.append(probe(opt))
        opt.zero_grad()
        mse(w(x), t).backward()
        opt.step()
    ratios = [g for g in got if g is not None]
    assert got[0] is None and len(ratios) == 2
    np.testing.assert_allclose(ratios, (1 - lr * lam) ** 2, rtol=1e-12)


# ---------------------------------------------------------------------------------------
# The closed loop: torch reproduces lrctl.training's sharpness loop
# ---------------------------------------------------------------------------------------


def test_torch_loop_reproduces_the_numpy_sharpness_loop():
    # L = ½ θᵀHθ with H = xᵀx = diag(4, 1): a linear layer on the rows of diag(2, 1).
    M, n = 2, 80
    obj = QuadraticObjective(np.diag([4.0, 1.0]))
    ref = train_with_sharpness_control(
        obj, PIController(0.3, 0.3, setpoint=1.0, lr0=0.05, lr_min=1e-3, lr_max=1.0, dt=M), n,
        measure_every=M, theta0=np.array([1.0, 1.0]), lanczos_tol=1e-10)
    lin = torch.nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.fill_(1.0)
    x, t = torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64)), torch.zeros(2, 1).double()

    def loss_fn(out, t):
        return 0.5 * ((out - t) ** 2).sum()

    opt = torch.optim.SGD(lin.parameters(), lr=0.05)
    sched = PIScheduler(opt, PIController(0.3, 0.3, setpoint=1.0, lr0=0.05, lr_min=1e-3,
                                          lr_max=1.0, dt=M))
    probe = SharpnessProbe(lin, loss_fn, (x, t), every=M, tol=1e-10)
    lrs = []
    with warnings.catch_warnings():
        # zdomain's order (measure, set the rate, then step) puts the first scheduler step
        # before the first optimizer step; torch warns about that order, harmlessly here.
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(n):
            lrs.append(opt.param_groups[0]["lr"])
            sched.step(probe(opt))
            opt.zero_grad()
            loss_fn(lin(x), t).backward()
            opt.step()
    np.testing.assert_allclose(lrs[::M], ref.lr, rtol=1e-8)
    assert ref.settled and opt.param_groups[0]["lr"] == pytest.approx(0.25, rel=1e-6)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


def test_bad_arguments_are_named():
    opt = _opt()
    with pytest.raises(TypeError, match="optimizer"):
        PIScheduler("sgd", _ctl())
    with pytest.raises(TypeError, match="controller"):
        PIScheduler(opt, object())
    for bad in (0, -3):
        with pytest.raises(ValueError, match="warmup"):
            PIScheduler(opt, _ctl(), warmup=bad)
    for bad in (True, 2.5):
        with pytest.raises(TypeError, match="warmup"):
            PIScheduler(opt, _ctl(), warmup=bad)
    sched = PIScheduler(_opt(), _ctl())
    for bad, err in ((float("nan"), ValueError), (math.inf, ValueError), (True, TypeError),
                     ("1.0", TypeError), (torch.ones(2), TypeError), ([0.5], TypeError)):
        with pytest.raises(err, match="measurement"):
            sched.step(bad)
    assert sched.controller.n_updates == 0 and sched.last_epoch == 0  # nothing changed


def test_state_dict_needs_a_checkpointable_controller():
    class Bare:
        lr = 0.1

        def reset(self):
            pass

        def update(self, y):
            return self.lr

    sched = PIScheduler(_opt(), Bare())
    _step(sched.optimizer, sched, 0.5)
    with pytest.raises(TypeError, match="state_dict"):
        sched.state_dict()
    with pytest.raises(ValueError, match="controller"):
        PIScheduler(_opt(), _ctl()).load_state_dict({"last_epoch": 3})


def test_controller_returning_a_bad_rate_is_refused():
    class Broken:
        lr = 0.1

        def reset(self):
            self.lr = 0.1

        def update(self, y):
            self.lr = -1.0
            return self.lr

    sched = PIScheduler(_opt(), Broken())
    with pytest.raises(ValueError, match=r"controller\.lr"):
        sched.step(0.5)


def test_pi_controller_load_state_dict_validates():
    ctl = _ctl()
    good = ctl.state_dict()
    with pytest.raises(TypeError, match="state"):
        ctl.load_state_dict([1, 2])
    with pytest.raises(ValueError, match="missing"):
        ctl.load_state_dict({k: v for k, v in good.items() if k != "u"})
    with pytest.raises(ValueError, match="limits"):
        ctl.load_state_dict({**good, "u": math.log(5.0), "lr": 5.0})
    with pytest.raises(ValueError, match="lr_max"):
        ctl.load_state_dict({**good, "lr_max": 1e-4})
    with pytest.raises(TypeError, match="saturated"):
        ctl.load_state_dict({**good, "saturated": 1})
    assert ctl.state_dict() == good  # a refused state changes nothing


def test_probe_bad_arguments_are_named():
    model, loss_fn = _net(), torch.nn.CrossEntropyLoss()
    batch = _digits_like(n=8)
    with pytest.raises(TypeError, match="model"):
        SharpnessProbe("net", loss_fn, batch)
    with pytest.raises(TypeError, match="loss_fn"):
        SharpnessProbe(model, 3, batch)
    with pytest.raises(TypeError, match="probe_batch"):
        SharpnessProbe(model, loss_fn, [batch, batch, batch])
    with pytest.raises(ValueError, match="every"):
        SharpnessProbe(model, loss_fn, batch, every=0)
    with pytest.raises(ValueError, match="tol"):
        SharpnessProbe(model, loss_fn, batch, tol=0.0)
    with pytest.raises(TypeError, match="log_measurement"):
        SharpnessProbe(model, loss_fn, batch, log_measurement=1)
    with pytest.raises(TypeError, match="warm_start"):
        SharpnessProbe(model, loss_fn, batch, warm_start="yes")
    with pytest.raises(ValueError, match="krylov_dim"):
        SharpnessProbe(model, loss_fn, batch, krylov_dim=2)
    probe = SharpnessProbe(model, loss_fn, batch)
    with pytest.raises(TypeError, match="optimizer"):
        probe()
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="no trainable parameter"):
        probe(other)
    with pytest.raises(ValueError, match="keys"):
        probe.load_state_dict({"n_calls": 3})


# ---------------------------------------------------------------------------------------
# The loss-ratio loop, tensor rates, CUDA
# ---------------------------------------------------------------------------------------


def test_loss_ratio_loop_settles_where_the_plant_model_says():
    # L = ½λw² with λ = 2: one step gives the ratio r = (1 − ηλ)², whatever w is. Below the
    # sign flip η = 1/λ the plant is G = −2ηλ(1 − ηλ)/z = −0.5/z at η0 = 0.25 (r* = 0.25);
    # lrctl.zdomain predicts kp = 0, ki = −1 stable (radius 0.5), and the loop must settle at
    # η = (1 − √r*)/λ = 0.25 (loss_ratio_operating_points).
    lam, r_star = 2.0, 0.25
    eta_lo, _ = zdomain.loss_ratio_operating_points(r_star, lam)
    plant = zdomain.loss_ratio_plant(eta_lo, lam)
    assert bool(zdomain.stability_region(plant, 0.0, -1.0))
    w = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        w.weight.fill_(1.0)
    x, t = torch.full((1, 1), math.sqrt(lam), dtype=torch.float64), torch.zeros(1, 1).double()

    def mse(out, t):
        return 0.5 * ((out - t) ** 2).sum()

    opt = torch.optim.SGD(w.parameters(), lr=0.1)
    sched = PIScheduler(opt, PIController(0.0, -1.0, setpoint=r_star, lr0=0.1, lr_min=1e-3,
                                          lr_max=0.45))
    probe = LossRatioProbe(w, mse, (x, t))
    for _ in range(40):
        opt.zero_grad()
        mse(w(x), t).backward()
        opt.step()
        sched.step(probe(opt))
    assert eta_lo == pytest.approx(0.25)
    assert opt.param_groups[0]["lr"] == pytest.approx(eta_lo, rel=1e-9)
    assert probe.last_value == pytest.approx(r_star, rel=1e-9)


def test_tensor_learning_rates_are_kept_as_tensors():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([w], lr=torch.tensor(0.1))
    sched = PIScheduler(opt, _ctl())
    ref = _ctl()
    for y in (0.4, 1.3):
        _step(opt, sched, y)
        assert isinstance(opt.param_groups[0]["lr"], torch.Tensor)
        assert float(sched.get_last_lr()[0]) == pytest.approx(ref.update(y), rel=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_probe_and_scheduler_on_cuda():
    x, y = _digits_like(n=40)
    model, loss_fn = _net(), torch.nn.CrossEntropyLoss()
    H, _ = _dense_hessian(model, loss_fn, x, y)
    gpu = _net().cuda()
    opt = torch.optim.SGD(gpu.parameters(), lr=0.3)
    probe = SharpnessProbe(gpu, loss_fn, (x.cuda(), y.cuda()), tol=1e-10)
    assert probe(opt) == pytest.approx(0.3 * np.linalg.eigvalsh(H)[-1], rel=1e-8)
    sched = PIScheduler(opt, _ctl(lr0=0.3, lr_max=3.0))
    opt.step()
    sched.step(torch.tensor(0.5, device="cuda"))
    assert sched.get_last_lr() == [_ctl(lr0=0.3, lr_max=3.0).update(0.5)]
