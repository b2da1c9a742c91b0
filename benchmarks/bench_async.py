"""Asynchronous vs batch-synchronous proposals on 4 workers with heterogeneous durations.

Goal (issue 14): ``BayesianOptimizer.run`` keeps every worker busy — a new proposal as soon as
one evaluation returns, conditioned on the ones still running — so that one straggler does
not idle the other workers, as the batch-synchronous mode (``synchronous=True``) does.

Setup: 4 threads (``ThreadPoolExecutor(4)``, ``batch_size=4``). Each evaluation sleeps for a
duration drawn log-uniformly over a factor 10, [d_min, 10·d_min] (from a generator seeded by
the rate, so both modes pay the same for the same rate), then returns an analytic objective
(Forrester, Gramacy-Lee: 1-D functions of the normalized log rate). Sleeping costs no CPU, so
the wall clock measures the scheduling, plus lrctl's own proposal time.

Printed, per mode, medians over seeds: the wall-clock time to a fixed number of evaluations,
and the evaluations to come within 2% of the global minimum; then the ratios sync / async.
The expected wall-clock ratio for pure waiting is E[max of 4 durations] / E[duration] ≈ 1.7
for this distribution (a batch waits for its slowest member; an asynchronous worker for its
own evaluation only).

    python benchmarks/bench_async.py [--seeds 6] [--evaluations 48] [--d-min 0.02]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from lrctl.bayesopt import BayesianOptimizer
from lrctl.search import LogScaleTestFunction, evaluations_to_reach, within_tolerance


class Sleepy:
    """f(η) after a sleep of a duration log-uniform on [d_min, 10 d_min], fixed by η."""

    def __init__(self, f: LogScaleTestFunction, d_min: float):
        self.f, self.d_min = f, d_min

    def duration(self, lr: float) -> float:
        rng = np.random.default_rng(abs(hash(float(lr))) % (2**32))
        return self.d_min * 10.0 ** rng.uniform()

    def __call__(self, lr: float) -> float:
        time.sleep(self.duration(lr))
        return self.f(lr)


def one(f: LogScaleTestFunction, seed: int, n: int, d_min: float,
        synchronous: bool) -> tuple[float, float]:
    obj = Sleepy(f, d_min)
    opt = BayesianOptimizer(f.bounds, seed=seed)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        res = opt.run(obj, n, batch_size=4, executor=pool, synchronous=synchronous)
    wall = time.perf_counter() - t0
    evals = evaluations_to_reach(res.values, within_tolerance(f.minimum()[1]))
    return wall, evals


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--evaluations", type=int, default=48)
    p.add_argument("--d-min", type=float, default=0.02)
    args = p.parse_args()
    u = np.random.default_rng(0).uniform(size=(200_000, 4))
    d = args.d_min * 10.0**u
    print(f"4 workers, {args.evaluations} evaluations, durations log-uniform on "
          f"[{args.d_min:g}, {10 * args.d_min:g}] s; {args.seeds} seeds. Pure-waiting "
          f"ratio E[max of 4]/E[one] = {np.mean(d.max(axis=1)) / np.mean(d):.2f} (simulated)")
    print(f"{'objective':12s} {'mode':6s} {'wall s':>7s} {'evals to 2%':>12s}")
    for name in ("forrester", "gramacy-lee"):
        f = LogScaleTestFunction(name, (1e-4, 1.0))
        out = {}
        for mode, sync in (("async", False), ("sync", True)):
            runs = [one(f, s, args.evaluations, args.d_min, sync) for s in range(args.seeds)]
            wall = float(np.median([r[0] for r in runs]))
            evals = float(np.median([r[1] for r in runs]))
            out[mode] = (wall, evals)
            shown = f"{evals:g}" if math.isfinite(evals) else f">{args.evaluations}"
            print(f"{name:12s} {mode:6s} {wall:7.2f} {shown:>12s}", flush=True)
        ratio = out["sync"][0] / out["async"][0]
        e_ratio = out["sync"][1] / out["async"][1]
        print(f"{name:12s} wall-clock sync/async = {ratio:.2f}; evaluations to 2% "
              f"sync/async = {e_ratio:.2f}")


if __name__ == "__main__":
    main()
