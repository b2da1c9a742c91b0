"""Cost of the hypergradient optimizers and of the JAX objective's numpy boundary.

No goal is set for these in the issue; the ratios say what the adapters cost.

1. ``HypergradientSGD`` / ``HypergradientAdam`` step against ``torch.optim.SGD`` / ``Adam`` (same
   settings, ``hyper_lr`` > 0) on an MLP 64 → 128 → 10 with a batch of 128 digits-sized inputs:
   the ratio of (forward + backward + step) times, and of the step alone. The hypergradient
   adds one dot product per tensor and one host sync (``float(h)``) per group.
2. ``JaxObjective``: ``grad`` and ``hvp`` through the numpy boundary against the same jitted JAX
   functions called on device arrays, and hvp/grad (forward-over-reverse costs about two
   gradients).

Run: ``python benchmarks/bench_adapters_optim.py [--repeat 200]``. Prints the medians and the
ratios measured in this run.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_torch(repeat: int) -> None:
    import torch

    from lrctl.torch._optim import HypergradientAdam, HypergradientSGD

    torch.set_num_threads(1)
    X = torch.randn(128, 64)
    y = torch.randint(0, 10, (128,))

    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(), torch.nn.Linear(128, 10))

    pairs = {
        "SGD momentum 0.9": (lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
                             lambda ps: HypergradientSGD(ps, lr=0.05, hyper_lr=1e-3, momentum=0.9)),
        "SGD plain": (lambda ps: torch.optim.SGD(ps, lr=0.05),
                      lambda ps: HypergradientSGD(ps, lr=0.05, hyper_lr=1e-3, rule="log")),
        "Adam": (lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
                 lambda ps: HypergradientAdam(ps, lr=1e-3, hyper_lr=1e-4)),
    }
    print(f"{'optimizer':<18} {'torch step':>11} {'HD step':>10} {'ratio':>6} "
          f"{'torch iter':>11} {'HD iter':>10} {'ratio':>6}")
    for name, (ref, hd) in pairs.items():
        row = []
        for make_opt in (ref, hd):
            net = make()
            opt = make_opt(net.parameters())

            def backward(net=net, opt=opt):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(X), y).backward()

            def full(opt=opt, backward=backward):
                backward()
                opt.step()

            backward()
            opt.step()
            step_only = median_time(opt.step, repeat)  # same gradients each call
            row += [step_only, median_time(full, repeat)]
        print(f"{name:<18} {row[0] * 1e6:9.1f}us {row[2] * 1e6:8.1f}us {row[2] / row[0]:6.2f} "
              f"{row[1] * 1e6:9.1f}us {row[3] * 1e6:8.1f}us {row[3] / row[1]:6.2f}")


def bench_jax(repeat: int) -> None:
    import jax
    import jax.numpy as jnp

    from lrctl.jax import JaxObjective

    def mlp(p, data):
        X, y = data
        h = jnp.tanh(X @ p["w1"] + p["b1"])
        z = h @ p["w2"] + p["b2"]
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, y[:, None], 1)[:, 0])

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        params = {"w1": rng.standard_normal((64, 128)) / 8, "b1": np.zeros(128),
                  "w2": rng.standard_normal((128, 10)) / 11, "b2": np.zeros(10)}
        data = (rng.standard_normal((128, 64)), rng.integers(0, 10, 128))
        obj = JaxObjective(mlp, params, data, dtype="float64")
        theta = obj.initial()
        v = rng.standard_normal(obj.dim)
        jt, jv = jnp.asarray(theta), jnp.asarray(v)
        jd = obj._data
        g_np = median_time(lambda: obj.grad(theta), repeat)
        h_np = median_time(lambda: obj.hvp(theta, v), repeat)
        g_jx = median_time(lambda: obj._jit["grad"](jt, jd).block_until_ready(), repeat)
        h_jx = median_time(lambda: obj._jit["hvp"](jt, jv, jd).block_until_ready(), repeat)
    print(f"JaxObjective (dim {obj.dim}, float64):")
    print(f"  grad: {g_np * 1e6:8.1f}us via numpy, {g_jx * 1e6:8.1f}us jitted on device, "
          f"boundary ratio {g_np / g_jx:.2f}")
    print(f"  hvp:  {h_np * 1e6:8.1f}us via numpy, {h_jx * 1e6:8.1f}us jitted on device, "
          f"boundary ratio {h_np / h_jx:.2f}")
    print(f"  hvp/grad (jitted): {h_jx / g_jx:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    bench_torch(args.repeat)
    bench_jax(args.repeat)


if __name__ == "__main__":
    main()
