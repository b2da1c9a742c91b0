"""lrctl.torch._optim: HypergradientSGD, HypergradientAdam, ScheduleLR (skipped without torch)."""

import copy
import io
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrctl import adaptive, schedules  # noqa: E402
from lrctl.objectives import QuadraticObjective  # noqa: E402
from lrctl.torch._optim import HypergradientAdam, HypergradientSGD, ScheduleLR  # noqa: E402

# -- the plant: a quadratic f(θ) = ½ θᵀAθ − bᵀθ over two tensors (θ = [x (3), y (2)]) -------

RNG = np.random.default_rng(7)
_Q, _ = np.linalg.qr(RNG.standard_normal((5, 5)))
A = (_Q * np.array([0.2, 0.5, 1.0, 2.0, 4.0])) @ _Q.T
A = 0.5 * (A + A.T)
B = RNG.standard_normal(5)
THETA0 = RNG.standard_normal(5)


def np_grad(theta):
    return A @ theta - B


def torch_problem(split=((0, 3), (3, 5))):
    params = [torch.tensor(THETA0[a:b], dtype=torch.float64, requires_grad=True) for a, b in split]
    At, Bt = torch.tensor(A), torch.tensor(B)

    def closure():
        theta = torch.cat(params)
        return 0.5 * theta @ At @ theta - Bt @ theta

    return params, closure


def run_torch(opt, params, closure, steps):
    thetas, lrs = [], []
    for _ in range(steps):
        opt.zero_grad()
        closure().backward()
        opt.step()
        thetas.append(torch.cat([p.detach() for p in params]).numpy().copy())
        lrs.append([g["lr"] for g in opt.param_groups])
    return np.array(thetas), np.array(lrs)


# -- hand-written numpy references of the same rules (Baydin et al. 2018, eqs. of SGD-HD,
#    SGDN-HD, Adam-HD; clamps as documented) --------------------------------------------

def rate_update(lr, h, beta, rule, lo, hi):
    if rule == "additive":
        return float(np.clip(lr + beta * h, lo, hi))
    lam = np.log(lr) + beta * lr * h
    return lo if lam <= np.log(lo) else hi if lam >= np.log(hi) else float(np.exp(lam))


def np_sgd_hd(groups, steps):
    """groups: list of dicts with idx (slice of θ), lr, beta, rule, mu, tau, nesterov, wd, lo, hi."""
    theta = THETA0.copy()
    state = [dict(buf=None, d=None) for _ in groups]
    thetas, lrs = [], []
    for _ in range(steps):
        g_full = np_grad(theta)
        new = theta.copy()
        for grp, st in zip(groups, state, strict=True):
            sl = grp["idx"]
            g = g_full[sl] + grp["wd"] * theta[sl]
            if st["d"] is not None:
                grp["lr"] = rate_update(grp["lr"], float(g @ st["d"]), grp["beta"], grp["rule"],
                                        grp["lo"], grp["hi"])
            if grp["mu"]:
                st["buf"] = g.copy() if st["buf"] is None else grp["mu"] * st["buf"] + (1 - grp["tau"]) * g
                d = g + grp["mu"] * st["buf"] if grp["nesterov"] else st["buf"]
            else:
                d = g
            st["d"] = d.copy()
            new[sl] = theta[sl] - grp["lr"] * d
        theta = new
        thetas.append(theta.copy())
        lrs.append([grp["lr"] for grp in groups])
    return np.array(thetas), np.array(lrs)


def np_adam_hd(groups, steps, b1=0.9, b2=0.999, eps=1e-8):
    theta = THETA0.copy()
    state = [dict(m=0.0, v=0.0, t=0) for _ in groups]
    thetas, lrs = [], []
    for _ in range(steps):
        g_full = np_grad(theta)
        new = theta.copy()
        for grp, st in zip(groups, state, strict=True):
            sl = grp["idx"]
            g = g_full[sl] + grp["wd"] * theta[sl]
            if st["t"] > 0:
                t = st["t"]
                d_prev = (st["m"] / (1 - b1**t)) / (np.sqrt(st["v"] / (1 - b2**t)) + eps)
                grp["lr"] = rate_update(grp["lr"], float(g @ d_prev), grp["beta"], grp["rule"],
                                        grp["lo"], grp["hi"])
            st["t"] += 1
            t = st["t"]
            st["m"] = b1 * st["m"] + (1 - b1) * g
            st["v"] = b2 * st["v"] + (1 - b2) * g * g
            new[sl] = theta[sl] - grp["lr"] * (st["m"] / (1 - b1**t)) / (np.sqrt(st["v"] / (1 - b2**t)) + eps)
        theta = new
        thetas.append(theta.copy())
        lrs.append([grp["lr"] for grp in groups])
    return np.array(thetas), np.array(lrs)


SGD_CASES = [
    dict(rule="additive", mu=0.0, tau=0.0, nesterov=False, wd=0.0),
    dict(rule="log", mu=0.0, tau=0.0, nesterov=False, wd=0.0),
    dict(rule="additive", mu=0.9, tau=0.0, nesterov=False, wd=1e-2),
    dict(rule="log", mu=0.8, tau=0.1, nesterov=False, wd=0.0),
    dict(rule="log", mu=0.9, tau=0.0, nesterov=True, wd=1e-3),
]


@pytest.mark.parametrize("case", SGD_CASES, ids=lambda c: f"{c['rule']}-mu{c['mu']}-nest{c['nesterov']}")
def test_sgd_hd_equals_numpy_reference(case):
    # two groups with their own rates: x at lr 0.05 (β 0.02), y at lr 0.2 (β 0.05); the
    # bounds are tight enough that both clamps engage in some cases
    spec = [dict(idx=slice(0, 3), lr=0.05, beta=0.02, lo=0.01, hi=0.3),
            dict(idx=slice(3, 5), lr=0.2, beta=0.05, lo=0.05, hi=0.45)]
    params, closure = torch_problem()
    groups = [dict(params=[p], lr=s["lr"], hyper_lr=s["beta"], lr_min=s["lo"], lr_max=s["hi"])
              for p, s in zip(params, spec, strict=True)]
    opt = HypergradientSGD(groups, lr=1.0, hyper_lr=0.0, rule=case["rule"], momentum=case["mu"],
                           dampening=case["tau"], nesterov=case["nesterov"],
                           weight_decay=case["wd"])
    th_t, lr_t = run_torch(opt, params, closure, 120)
    ref = [dict(s, **case) for s in spec]
    th_n, lr_n = np_sgd_hd(ref, 120)
    np.testing.assert_allclose(lr_t, lr_n, rtol=1e-12, atol=0)
    np.testing.assert_allclose(th_t, th_n, rtol=1e-12, atol=1e-13)
    assert np.ptp(lr_t[:, 0]) > 0 and np.ptp(lr_t[:, 1]) > 0  # the rates did move


@pytest.mark.parametrize("rule", ["additive", "log"])
def test_adam_hd_equals_numpy_reference(rule):
    spec = [dict(idx=slice(0, 3), lr=0.01, beta=1e-3 if rule == "additive" else 0.2, lo=1e-3, hi=0.05),
            dict(idx=slice(3, 5), lr=0.03, beta=2e-3 if rule == "additive" else 0.3, lo=1e-3, hi=0.2)]
    params, closure = torch_problem()
    groups = [dict(params=[p], lr=s["lr"], hyper_lr=s["beta"], lr_min=s["lo"], lr_max=s["hi"])
              for p, s in zip(params, spec, strict=True)]
    opt = HypergradientAdam(groups, lr=1.0, hyper_lr=0.0, rule=rule, weight_decay=1e-3)
    th_t, lr_t = run_torch(opt, params, closure, 150)
    th_n, lr_n = np_adam_hd([dict(s, rule=rule, wd=1e-3) for s in spec], 150)
    np.testing.assert_allclose(lr_t, lr_n, rtol=1e-12, atol=0)
    np.testing.assert_allclose(th_t, th_n, rtol=1e-12, atol=1e-13)
    assert np.ptp(lr_t[:, 0]) > 0


def test_one_group_over_two_tensors_sums_the_hypergradient():
    # one group holding x and y: h is the dot product over the whole θ, as one vector
    params, closure = torch_problem()
    opt = HypergradientSGD(params, lr=0.05, hyper_lr=0.02, rule="log", momentum=0.5,
                           lr_min=1e-4, lr_max=10.0)
    th_t, lr_t = run_torch(opt, params, closure, 80)
    ref = [dict(idx=slice(0, 5), lr=0.05, beta=0.02, lo=1e-4, hi=10.0, rule="log", mu=0.5,
                tau=0.0, nesterov=False, wd=0.0)]
    th_n, lr_n = np_sgd_hd(ref, 80)
    np.testing.assert_allclose(lr_t, lr_n, rtol=1e-12)
    np.testing.assert_allclose(th_t, th_n, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(("rule", "beta"), [("additive", 1e-3), ("log", 0.3), ("log", 1.0)])
def test_sgd_hd_equals_lrctl_adaptive_on_a_quadratic(rule, beta):
    # the docs' quadratic of lrctl.adaptive, λ = 1 and 10; no clamp engages (bounds wide)
    q = QuadraticObjective(np.diag([1.0, 10.0]))
    ref = adaptive.hypergradient_descent(q, [1.0, 1.0], lr0=0.01, hyper_lr=beta, steps=200,
                                         rule=rule).run
    assert not ref.diverged
    w = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    lam = torch.tensor([1.0, 10.0], dtype=torch.float64)
    opt = HypergradientSGD([w], lr=0.01, hyper_lr=beta, rule=rule, lr_min=1e-12, lr_max=math.inf)
    lrs, losses = [], []
    for _ in range(200):
        opt.zero_grad()
        (0.5 * (lam * w * w).sum()).backward()
        opt.step()
        lrs.append(opt.param_groups[0]["lr"])  # the rate this step used (ref.lrs[t])
        losses.append(float(0.5 * (lam * w.detach() ** 2).sum()))
    np.testing.assert_allclose(lrs, ref.lrs, rtol=1e-12)
    np.testing.assert_allclose(losses, ref.losses[1:], rtol=1e-10, atol=1e-300)


def test_the_clamp_stops_the_failures_lrctl_adaptive_shows():
    q = QuadraticObjective(np.diag([1.0, 10.0]))  # 2/λmax = 0.2
    # additive, β = 3e-3: unclamped it goes negative at step 2 and diverges at step 5
    ref = adaptive.hypergradient_descent(q, [1.0, 1.0], 0.01, 3e-3, 300)
    assert ref.negative_lr_at == 2 and ref.run.diverged_at == 5
    lam = torch.tensor([1.0, 10.0], dtype=torch.float64)

    def train(lr, **kw):
        w = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
        opt = HypergradientSGD([w], lr=lr, **kw)
        lrs = []
        for _ in range(300):
            opt.zero_grad()
            (0.5 * (lam * w * w).sum()).backward()
            opt.step()
            lrs.append(opt.param_groups[0]["lr"])
        return np.array(lrs), w.detach().numpy()

    lrs, w = train(0.01, hyper_lr=3e-3, lr_max=0.19)
    assert lrs.min() == pytest.approx(1e-5) and lrs.min() > 0  # the floor lr/1000, never < 0
    assert lrs.max() == 0.19 and np.abs(w).max() < 1e-12       # the ceiling, and it converges
    # log rule, β = 3 from η_0 = 0.19: after the first overshoot the rate collapses unclamped
    # (η → 1.6e-23, the loss frozen at 4.38) ...
    col = adaptive.hypergradient_descent(q, [1.0, 1.0], 0.19, 3.0, 300, rule="log").run
    assert not col.diverged and col.lrs.min() < 1e-20 and col.final_loss > 1.0
    # ... and with the clamp it stops at the floor lr/1000, recovers and converges
    lrs, w = train(0.19, hyper_lr=3.0, rule="log", lr_max=0.19)
    assert lrs.min() == pytest.approx(1.9e-4) and lrs[-1] > 0.1
    assert np.abs(w).max() < 1e-12


def test_hyper_lr_zero_is_torch_sgd_and_adam():
    for kw in (dict(momentum=0.9), dict(momentum=0.9, nesterov=True, weight_decay=1e-2),
               dict(momentum=0.7, dampening=0.3)):
        p1, c1 = torch_problem()
        p2, c2 = torch_problem()
        a = run_torch(HypergradientSGD(p1, lr=0.1, hyper_lr=0.0, **kw), p1, c1, 60)[0]
        b = run_torch(torch.optim.SGD(p2, lr=0.1, **kw), p2, c2, 60)[0]
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    p1, c1 = torch_problem()
    p2, c2 = torch_problem()
    a = run_torch(HypergradientAdam(p1, lr=0.05, hyper_lr=0.0, weight_decay=1e-2), p1, c1, 60)[0]
    b = run_torch(torch.optim.Adam(p2, lr=0.05, weight_decay=1e-2), p2, c2, 60)[0]
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("make", [
    lambda ps: HypergradientSGD(ps, lr=0.05, hyper_lr=0.02, rule="log", momentum=0.9, nesterov=True),
    lambda ps: HypergradientSGD(ps, lr=0.05, hyper_lr=0.01),
    lambda ps: HypergradientAdam(ps, lr=0.01, hyper_lr=0.1, rule="log"),
], ids=["sgd-nesterov-log", "sgd-additive", "adam-log"])
def test_state_dict_round_trip_mid_run(make):
    params, closure = torch_problem()
    opt = make(params)
    run_torch(opt, params, closure, 25)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "params": [p.detach().clone() for p in params]}, buf)
    cont = run_torch(opt, params, closure, 30)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    params2 = [p.clone().requires_grad_(True) for p in saved["params"]]
    A_t, B_t = torch.tensor(A), torch.tensor(B)

    def closure2():
        theta = torch.cat(params2)
        return 0.5 * theta @ A_t @ theta - B_t @ theta

    opt2 = make(params2)
    opt2.load_state_dict(saved["opt"])
    again = run_torch(opt2, params2, closure2, 30)
    np.testing.assert_array_equal(cont[0], again[0])
    np.testing.assert_array_equal(cont[1], again[1])


def test_closure_nonfinite_gradient_and_missing_grads():
    params, closure = torch_problem()
    opt = HypergradientSGD(params, lr=0.05, hyper_lr=0.01)
    loss = opt.step(closure=lambda: (opt.zero_grad(), closure().backward(), closure())[2])
    assert isinstance(loss, torch.Tensor)
    opt.zero_grad()
    closure().backward()
    params[0].grad[0] = float("nan")
    lr_before = opt.param_groups[0]["lr"]
    opt.step()
    assert opt.param_groups[0]["lr"] == lr_before  # a NaN hypergradient leaves the rate
    # a tensor without a grad is skipped, the rest still steps
    x = torch.zeros(2, requires_grad=True)
    y = torch.zeros(2, requires_grad=True)
    opt = HypergradientAdam([x, y], lr=0.1, hyper_lr=0.01)
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        ((x - 1.0) ** 2).sum().backward()
        opt.step()
    assert torch.all(x != 0) and torch.all(y == 0) and y not in opt.state


def test_bad_arguments():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="lr must be finite and > 0"):
        HypergradientSGD(p, lr=0.0, hyper_lr=0.1)
    with pytest.raises(TypeError, match="lr must be a real number, got the bool"):
        HypergradientSGD(p, lr=True, hyper_lr=0.1)
    with pytest.raises(ValueError, match="hyper_lr"):
        HypergradientSGD(p, lr=0.1, hyper_lr=-1.0)
    with pytest.raises(ValueError, match="rule must be one of"):
        HypergradientSGD(p, lr=0.1, hyper_lr=0.1, rule="exp")
    with pytest.raises(ValueError, match="lr_min <= lr <= lr_max"):
        HypergradientSGD(p, lr=0.1, hyper_lr=0.1, lr_min=0.2)
    with pytest.raises(ValueError, match="lr_min <= lr <= lr_max"):
        HypergradientSGD(p, lr=0.1, hyper_lr=0.1, lr_max=0.05)
    with pytest.raises(ValueError, match="lr_min"):
        HypergradientSGD(p, lr=0.1, hyper_lr=0.1, lr_min=0.0)
    with pytest.raises(ValueError, match="lr_max"):
        HypergradientSGD(p, lr=0.1, hyper_lr=0.1, lr_max=float("nan"))
    with pytest.raises(ValueError, match="momentum"):
        HypergradientSGD(p, lr=0.1, hyper_lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="nesterov"):
        HypergradientSGD(p, lr=0.1, hyper_lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="betas"):
        HypergradientAdam(p, 1e-3, 1e-3, betas=0.9)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        HypergradientAdam(p, 1e-3, 1e-3, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps"):
        HypergradientAdam(p, 1e-3, 1e-3, eps=0.0)
    opt = HypergradientSGD(p, lr=0.1, hyper_lr=0.1)
    with pytest.raises(ValueError, match="lr must be finite"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": -1.0})
    assert len(opt.param_groups) == 1  # the invalid group was not kept
    assert opt.param_groups[0]["lr_min"] == pytest.approx(1e-4)
    assert opt.param_groups[0]["lr_max"] == pytest.approx(100.0)


# -- ScheduleLR ---------------------------------------------------------------------------

def drive(sched, opt, steps):
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.array(out)


@pytest.mark.parametrize("s", [
    schedules.cosine_warm_restarts(0.1, period=5, mult=2, lr_min=0.001),
    schedules.join([schedules.linear_warmup(0.2, 10), schedules.cosine(0.2, 90, lr_min=0.01)], [10]),
    schedules.one_cycle(0.1, 99),
    schedules.piecewise_constant([0.1, 0.01, 0.001], [30, 60]),
], ids=repr)
def test_schedule_lr_equals_the_schedule(s):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    got = drive(ScheduleLR(opt, s), opt, 200)[:, 0]
    np.testing.assert_array_equal(got, s(np.arange(200)))


def test_schedule_lr_against_torch_schedulers():
    # independent routes: torch's own schedulers, the equalities lrctl.schedules documents
    cases = [
        (schedules.cosine_warm_restarts(0.1, period=3, mult=2, lr_min=0.001),
         lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001)),
        (schedules.step_decay(0.1, 7, gamma=0.5),
         lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
        (schedules.cosine(0.1, 50, lr_min=0.01),
         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=50, eta_min=0.01)),
    ]
    for s, make in cases:
        o1 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        o2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        ours = drive(ScheduleLR(o1, s), o1, 51)[:, 0]
        theirs = drive(make(o2), o2, 51)[:, 0]
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_schedule_lr_per_group_and_state_dict():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    s1 = schedules.cosine(0.1, 40)
    s2 = schedules.cosine_warm_restarts(0.5, period=6)
    sched = ScheduleLR(opt, [s1, s2])
    drive(sched, opt, 17)
    saved = copy.deepcopy(sched.state_dict())
    assert saved["schedules"] == [repr(s1), repr(s2)]
    rest = drive(sched, opt, 20)
    opt2 = torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    sched2 = ScheduleLR(opt2, [s1, s2])
    sched2.load_state_dict(saved)
    for g, lr in zip(opt2.param_groups, saved["_last_lr"], strict=True):
        g["lr"] = lr  # the optimizer's own state_dict carries these in real use
    again = drive(sched2, opt2, 20)
    np.testing.assert_array_equal(rest, again)
    np.testing.assert_array_equal(rest[:, 0], s1(np.arange(17, 37)))
    np.testing.assert_array_equal(rest[:, 1], s2(np.arange(17, 37)))
    with pytest.raises(ValueError, match="saved with the schedules"):
        ScheduleLR(torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1), s1).load_state_dict(saved)
    with pytest.raises(ValueError, match="one per param group"):
        ScheduleLR(opt, [s1])
    with pytest.raises(TypeError, match=r"torch\.optim\.Optimizer"):
        ScheduleLR("sgd", s1)
    with pytest.raises(TypeError, match="schedule must be"):
        ScheduleLR(torch.optim.SGD([a], lr=0.1), 0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("cls", [HypergradientSGD, HypergradientAdam])
def test_cuda_matches_cpu(cls):
    def run(device):
        torch.manual_seed(0)
        net = torch.nn.Linear(4, 1).double().to(device)
        X = torch.randn(16, 4, dtype=torch.float64).to(device)
        y = X.sum(1, keepdim=True)
        opt = cls(net.parameters(), lr=0.01, hyper_lr=1e-3, rule="log")
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(X), y).backward()
            opt.step()
        return opt.param_groups[0]["lr"], torch.cat([p.detach().cpu().ravel() for p in net.parameters()])

    lr_cpu, p_cpu = run("cpu")
    lr_gpu, p_gpu = run("cuda")
    assert lr_gpu == pytest.approx(lr_cpu, rel=1e-10)
    torch.testing.assert_close(p_gpu, p_cpu, rtol=1e-10, atol=1e-12)
