"""lrctl.torch.range_test against a hand-written torch loop doing the same sweep: the overhead.

The issue's goal: the range test's overhead is at most 1.10× the time of a hand-written
PyTorch loop doing the same sweep.

The same sweep, on the benchmark network (MLP 64 → 32 → 10, ReLU, float32, on the digits
images, mini-batches of 64 cycled in a fixed order, SGD with Nesterov momentum 0.9): n steps
of "set lr = η_t in every group, zero_grad, forward, backward, optimizer.step()", the loss of
each step read with ``.item()`` and checked by the same divergence rule (median of the last 3 losses above the
best level by 3·|best|), the model's and the
optimizer's ``state_dict`` saved before and loaded after (what torch-lr-finder and Lightning
do to restore them). lrctl's range_test does the same and in addition restores ``.grad``, the
modules' modes and the RNG, and analyses the sweep (smoothing, suggestions). The rates stay
below divergence (1e-6 … 0.05), so both loops run all n steps.

Run: ``python benchmarks/bench_torch_rangetest.py [--steps 300] [--repeats 15]``. Prints the best
of the repeats (interleaved) for both and the ratio lrctl / hand-written. Times are the
process's CPU time (``time.process_time``; torch runs on one thread), so that other processes
on a shared machine do not enter the ratio.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from lrctl.objectives import split_dataset
from lrctl.rangetest import exponential_lrs
from lrctl.torch import analyse_sweep, range_test

torch.set_num_threads(1)
LR_MIN, LR_MAX = 1e-6, 0.05


def problem(seed: int = 0):
    Xtr, ytr, _, _ = split_dataset("digits", seed=0)
    x, y = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr)
    batches = [(x[i:i + 64], y[i:i + 64]) for i in range(0, len(y), 64)]
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    return net, opt, torch.nn.CrossEntropyLoss(), batches


def hand_written(net, opt, loss_fn, batches, steps):
    """The plain loop: save state, sweep with the loss after each step, stop check, restore."""
    model_state = copy.deepcopy(net.state_dict())
    opt_state = copy.deepcopy(opt.state_dict())
    lrs = exponential_lrs(LR_MIN, LR_MAX, steps)
    net.train()
    losses = []
    x, y = batches[0]
    loss = loss_fn(net(x), y)
    best = loss.item()
    for t, eta in enumerate(lrs):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = float(eta)
        opt.step()
        x, y = batches[(t + 1) % len(batches)]
        loss = loss_fn(net(x), y)
        value = loss.item()
        losses.append(value)
        if not math.isfinite(value):
            break
        last = sorted(losses[-3:])  # the same stop: median of the last 3 above best + 3|best|
        med = last[len(last) // 2] if len(last) % 2 else 0.5 * (last[0] + last[1])
        best = min(best, med)
        if med > best + 3.0 * abs(best):
            break
    net.load_state_dict(model_state)
    opt.load_state_dict(opt_state)
    return np.array(losses)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    net, opt, loss_fn, batches = problem()
    # warm-up (first calls allocate and import)
    hand_written(net, opt, loss_fn, batches, 20)
    range_test(net, opt, loss_fn, batches, lr_min=LR_MIN, lr_max=LR_MAX, steps=20)
    t_hand, t_ours = [], []
    for _ in range(args.repeats):
        t0 = time.process_time()
        ref = hand_written(net, opt, loss_fn, batches, args.steps)
        t_hand.append(time.process_time() - t0)
        t0 = time.process_time()
        r = range_test(net, opt, loss_fn, batches, lr_min=LR_MIN, lr_max=LR_MAX, steps=args.steps)
        t_ours.append(time.process_time() - t0)
    same = np.array_equal(ref, r.losses)
    print(f"range test, {args.steps} steps, MLP 64-32-10 on digits, SGD-Nesterov, batch 64")
    print(f"  same losses recorded by both loops: {same} ({len(r.losses)} steps each)")
    print(f"  hand-written loop: best {min(t_hand) * 1e3:8.1f} ms  median {np.median(t_hand) * 1e3:8.1f} ms")
    print(f"  lrctl range_test:  best {min(t_ours) * 1e3:8.1f} ms  median {np.median(t_ours) * 1e3:8.1f} ms")
    t_an = []
    for _ in range(args.repeats):
        t0 = time.process_time()
        analyse_sweep(r.lrs, r.losses, initial_loss=r.initial_loss)
        t_an.append(time.process_time() - t0)
    print(f"  of which the analysis (smoothing, suggestions; lrctl.rangetest): "
          f"{min(t_an) * 1e3:.1f} ms")
    ratio = min(t_ours) / min(t_hand)
    print(f"  ratio lrctl / hand-written (best of {args.repeats}): {ratio:.3f}  "
          f"(goal <= 1.10: {'met' if ratio <= 1.10 else 'MISSED'})")


if __name__ == "__main__":
    main()
