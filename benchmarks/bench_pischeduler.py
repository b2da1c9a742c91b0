"""The cost of PI learning-rate control on a real PyTorch training step.

Goal (issue 13): ``PIScheduler.step`` without a probe costs at most 2 % of one optimizer step
of the benchmark network; with the sharpness probe every M steps, state the cost per step.

Benchmark network: the MLP of the analysis ``torch-pi-control`` (64–32–10, tanh, 2 410
parameters) on scikit-learn's digits images, mini-batches of 128, ``torch.optim.SGD``, one
thread. One optimizer step = ``zero_grad`` + forward + backward + ``optimizer.step()``.

Measured in one run, each as the best of ``--repeats`` interleaved blocks of ``--steps`` calls:
  t_opt          one optimizer step
  t_sched(y)     PIScheduler.step(y): controller update + rates set (a measurement each call)
  t_sched()      PIScheduler.step(): no measurement, rate kept
  ratio          t_sched / t_opt (goal: <= 0.02 for both)
  probe          SharpnessProbe every M steps for M in --every: Hessian-vector products per
                 step and the wall time per step of training + probe + scheduler, relative to
                 training alone

    python benchmarks/bench_pischeduler.py [--steps 1000] [--repeats 15] [--every 5,10,20]
                                           [--dtype float32|float64]
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from sklearn.datasets import load_digits

from lrctl.torch import PIScheduler, SharpnessProbe
from lrctl.zdomain import PIController


def setup(dtype):
    X, Y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=dtype)
    Y = torch.tensor(Y)
    perm = torch.randperm(len(Y), generator=torch.Generator().manual_seed(0))
    batches = [(X[perm[i:i + 128]], Y[perm[i:i + 128]]) for i in range(0, 1664, 128)]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(),
                              torch.nn.Linear(32, 10)).to(dtype)
    return net, batches, torch.nn.CrossEntropyLoss()


def best_per_call(fn, steps, repeats):
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(steps)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--every", default="5,10,20")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    dtype = getattr(torch, args.dtype)
    net, batches, loss_fn = setup(dtype)
    nb = len(batches)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def train(n, after=None):
        for k in range(n):
            x, y = batches[k % nb]
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
            if after is not None:
                after(k)

    ctl = PIController(0.0, 0.2, setpoint=0.0, lr0=0.1, lr_min=1e-3, lr_max=1.0, dt=5)
    sched = PIScheduler(opt, ctl)
    rng = np.random.default_rng(0)
    ys = (rng.standard_normal(args.steps) * 0.1).tolist()

    def sched_with(n):
        step = sched.step
        for k in range(n):
            step(ys[k])

    def sched_without(n):
        step = sched.step
        for _ in range(n):
            step()

    train(50)  # warm-up (allocator, autograd graph caches)
    # interleaved blocks, best of each: the machine's load hits all three alike
    t_opt = t_y = t_none = math.inf
    for _ in range(args.repeats):
        t_opt = min(t_opt, best_per_call(train, args.steps, 1))
        t_y = min(t_y, best_per_call(sched_with, args.steps, 1))
        t_none = min(t_none, best_per_call(sched_without, args.steps, 1))
    print(f"benchmark network: 64-32-10 MLP ({sum(p.numel() for p in net.parameters())} "
          f"parameters), digits, batch 128, SGD, {args.dtype}, 1 thread")
    print(f"optimizer step                 {1e6 * t_opt:9.1f} µs")
    print(f"PIScheduler.step(y)            {1e6 * t_y:9.1f} µs   ratio {t_y / t_opt:.4f}  "
          f"goal <= 0.02: {'met' if t_y / t_opt <= 0.02 else 'MISSED'}")
    print(f"PIScheduler.step()             {1e6 * t_none:9.1f} µs   ratio {t_none / t_opt:.4f}  "
          f"goal <= 0.02: {'met' if t_none / t_opt <= 0.02 else 'MISSED'}")

    probe_batch = (batches[0][0].repeat(2, 1), batches[0][1].repeat(2))  # 256 examples
    n_probe = max(200, args.steps // 10)
    t_train = best_per_call(train, n_probe, args.repeats)
    print(f"\nsharpness probe (256-example probe batch, warm-started Lanczos, tol 1e-4), "
          f"{n_probe} steps:")
    print("   M   products/step   time/step (µs)   × training alone")
    for M in (int(m) for m in args.every.split(",")):
        probe = SharpnessProbe(net, loss_fn, probe_batch, every=M, log_measurement=True)
        ctl_m = PIController(0.0, 0.2, setpoint=math.log(0.5), lr0=0.01, lr_min=1e-4,
                             lr_max=1.0, dt=M)
        opt.param_groups[0]["initial_lr"] = 0.01
        sched_m = PIScheduler(opt, ctl_m)
        probe(opt)  # first (cold) measurement and torch.func warm-up, not timed

        def both(n, probe=probe, sched_m=sched_m):
            train(n, lambda k: sched_m.step(probe(opt)))

        calls0, products0 = probe.n_calls, probe.n_products
        t = best_per_call(both, n_probe, args.repeats)
        per_step = (probe.n_products - products0) / (probe.n_calls - calls0)
        print(f"{M:4d}   {per_step:13.2f}   {1e6 * t:14.1f}   {t / t_train:8.2f}")


if __name__ == "__main__":
    main()
