"""The one training loop against the hand-written loops it replaced: same work, time ratio.

Goal (issue 12): running through ``lrctl.training.run`` costs at most 5 % more than the
pre-port code, ratio new/old <= 1.05, on

1. a constant-rate sweep over 64 learning rates on the digits MLP (stacked, one (64, dim)
   evaluation per step);
2. a hypergradient sweep (16 runs: 4 starting rates × 4 hyper-rates, additive rule);
3. a range test (one exponential sweep, 1e-3 … 1e2).

The pre-port code path is copied below (``_old_*``: the loops of lrctl.adaptive and
lrctl.rangetest before the port, unchanged but for names); both paths run on the same
objective, start and rates, and the benchmark checks that they give the same losses before it
times them. Each timing is the best of ``--repeats`` runs, old and new alternating.

Run: ``python benchmarks/bench_training.py [--steps 20] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from lrctl import adaptive, rangetest
from lrctl.objectives import MLP, split_dataset

# ---------------------------------------------------------------------------------------
# The pre-port code path (lrctl.adaptive / lrctl.rangetest at commit cfdd82e)
# ---------------------------------------------------------------------------------------


def _old_loss_and_grad(objective, theta, batch=None):
    if batch is None:
        if hasattr(objective, "loss_and_grad"):
            return objective.loss_and_grad(theta)
        return objective.loss(theta), objective.grad(theta)
    return objective.loss_and_grad(theta, batch=batch)


class _OldMonitor:
    def __init__(self, objective, theta, steps, loss_floor, divergence_factor):
        self.factor = float(divergence_factor)
        self.floor = 0.0 if loss_floor is None else float(loss_floor)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, grad = _old_loss_and_grad(objective, theta)
        loss = np.asarray(loss, dtype=float).reshape(len(theta))
        self.gap0 = np.maximum(loss - self.floor, 1e-300)
        k = len(theta)
        self.losses = np.zeros((k, steps + 1))
        self.losses[:, 0] = loss
        self.done = np.zeros(k, dtype=int)
        self.diverged_at = np.full(k, -1)
        self.active = np.ones(k, dtype=bool)
        self.grad = np.asarray(grad, dtype=float).reshape(theta.shape)

    def bad(self, theta, loss, grad, rows):
        loss = np.asarray(loss, dtype=float)
        ok = np.isfinite(loss) & np.all(np.isfinite(grad), axis=-1)
        ok &= np.all(np.isfinite(theta), axis=-1)
        ok[ok] &= loss[ok] - self.floor <= self.factor * self.gap0[rows[ok]]
        return ~ok

    def stop(self, rows, t):
        self.diverged_at[rows] = t
        self.active[rows] = False

    def record(self, rows, t, loss):
        self.losses[rows, t] = loss
        self.done[rows] = t


def _old_safe_eval(objective, theta, batch=None):
    k = len(theta)
    finite = np.all(np.isfinite(theta), axis=-1)
    loss = np.full(k, np.inf)
    grad = np.zeros_like(theta)
    if np.any(finite):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            lo, gr = _old_loss_and_grad(objective, theta[finite], batch)
        loss[finite] = lo
        grad[finite] = gr
        grad[~np.isfinite(grad)] = np.inf
    return loss, grad


def _old_hypergradient_sweep(objective, theta0, lr0, hyper_lr, steps, rule="additive",
                             divergence_factor=1e6):
    lr0_v, alpha_v = np.broadcast_arrays(np.atleast_1d(lr0), np.atleast_1d(hyper_lr))
    k = len(lr0_v)
    theta = np.tile(theta0, (k, 1))
    mon = _OldMonitor(objective, theta, steps, None, divergence_factor)
    g = mon.grad
    lr = lr0_v.astype(float).copy()
    log_lr = np.log(lr)
    lrs = np.zeros((k, steps))
    for t in range(steps):
        rows = np.flatnonzero(mon.active)
        if rows.size == 0:
            break
        lrs[rows, t] = lr[rows]
        with np.errstate(over="ignore", invalid="ignore"):
            new_theta = theta[rows] - lr[rows, None] * g[rows]
        loss, g_new = _old_safe_eval(objective, new_theta, None)
        bad = mon.bad(new_theta, loss, g_new, rows)
        mon.stop(rows[bad], t + 1)
        good = rows[~bad]
        theta[good] = new_theta[~bad]
        mon.record(good, t + 1, loss[~bad])
        with np.errstate(over="ignore", invalid="ignore"):
            dot = np.sum(g_new[~bad] * g[good], axis=-1)
            if rule == "additive":
                lr[good] = lr[good] + alpha_v[good] * dot
            else:
                log_lr[good] = log_lr[good] + alpha_v[good] * lr[good] * dot
                lr[good] = np.exp(log_lr[good])
        g[good] = g_new[~bad]
        blown = good[~np.isfinite(lr[good]) | ~np.isfinite(log_lr[good])]
        if blown.size and t + 1 < steps:
            mon.stop(blown, t + 1)
    return [mon.losses[i, : mon.done[i] + 1] for i in range(k)]


def _old_range_test_losses(loss, grad, params, lrs, threshold=3.0, w=3):
    """The sweep loop of the pre-port rangetest.range_test (the part that trains)."""
    theta = np.asarray(params, dtype=float).copy()
    L0 = float(loss(theta))
    recorded, medians, best = [], [], L0
    for eta in lrs:
        g = np.asarray(grad(theta), dtype=float)
        if not np.all(np.isfinite(g)):
            break
        with np.errstate(over="ignore", invalid="ignore"):
            theta = theta - eta * g
        value = float(loss(theta)) if np.all(np.isfinite(theta)) else float("nan")
        if not np.isfinite(value):
            break
        recorded.append(value)
        med = float(np.median(recorded[-w:]))
        medians.append(med)
        if med > best + threshold * max(abs(best), 1e-12 * max(1.0, abs(L0))):
            break
        best = min(best, med)
    return np.asarray(recorded)


# ---------------------------------------------------------------------------------------


def best_of_interleaved(old_fn, new_fn, repeats):
    """Best time of each path, the two alternating so that a change in machine load (the
    machine is shared) hits both alike."""
    t_old, t_new, old, new = [], [], None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        old = old_fn()
        t_old.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        new = new_fn()
        t_new.append(time.perf_counter() - t0)
    return min(t_old), old, min(t_new), new


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    Xtr, ytr, _, _ = split_dataset("digits", test_fraction=0.25, seed=0)
    net = MLP(Xtr, ytr, hidden=(32,), l2=1e-4)
    start = net.initial(seed=0)
    T = args.steps

    rows = []
    lrs64 = np.geomspace(0.01, 10.0, 64)
    t_old, old, t_new, new = best_of_interleaved(
        lambda: _old_hypergradient_sweep(net, start, lrs64, 0.0, T),
        lambda: adaptive.constant_lr_sweep(net, start, lrs64, T), args.repeats)
    same = all(np.allclose(o, n.losses, rtol=1e-12, atol=0) for o, n in zip(old, new, strict=True))
    rows.append(("constant-rate sweep, 64 rates", t_old, t_new, same))

    lr0 = np.repeat([0.01, 0.03, 0.1, 0.3], 4)
    alpha = np.tile([0.0, 1e-3, 1e-2, 1e-1], 4)
    t_old, old, t_new, new = best_of_interleaved(
        lambda: _old_hypergradient_sweep(net, start, lr0, alpha, T),
        lambda: adaptive.hypergradient_sweep(net, start, lr0, alpha, T), args.repeats)
    same = all(np.allclose(o, n.run.losses, rtol=1e-10, atol=0)
               for o, n in zip(old, new, strict=True))
    rows.append(("hypergradient sweep, 16 runs", t_old, t_new, same))

    n_rt = 5 * T
    ramp = rangetest.exponential_lrs(1e-3, 100.0, n_rt)
    t_old, old, t_new, new = best_of_interleaved(
        lambda: _old_range_test_losses(net.loss, net.grad, start, ramp),
        lambda: rangetest.range_test(net, start, lr_min=1e-3, lr_max=100.0, steps=n_rt),
        args.repeats)
    same = old.shape == new.losses.shape and np.allclose(old, new.losses, rtol=1e-12, atol=0)
    rows.append((f"range test, {n_rt} steps", t_old, t_new, same))

    print(f"digits MLP (hidden 32, dim {net.dim}), {T} steps per sweep, best of {args.repeats}")
    print(f"{'work':32s} {'pre-port s':>11s} {'run s':>9s} {'ratio':>7s}  same losses")
    for name, a, b, ok in rows:
        print(f"{name:32s} {a:11.3f} {b:9.3f} {b / a:7.3f}  {ok}")
    total_old, total_new = sum(r[1] for r in rows), sum(r[2] for r in rows)
    ratio = total_new / total_old
    print(f"{'total':32s} {total_old:11.3f} {total_new:9.3f} {ratio:7.3f}  "
          f"goal <= 1.05: {'met' if ratio <= 1.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
