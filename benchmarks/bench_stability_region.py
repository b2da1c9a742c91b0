"""Benchmark: lrctl.zdomain.stability_region over a gain grid.

Two ratios, for the PI loop on a first-order-plus-delay plant G = 0.5·z^{-1}/(z − 0.9)
(cubic characteristic polynomial) and on the normalized-sharpness plant G = 1/z:

1. speed-up per point over python-control: time of ``feedback(C*G, 1).poles()`` for one
   (kp, ki) (plus the max |pole| < 1 test) divided by lrctl's time per grid point
   (goal: >= 10,000x);
2. lrctl's time over the grid divided by the time of one numpy elementwise pass over the same
   grid (``np.add`` of the two gain arrays, writing a new array) (goal: <= 50x).

Run: ``python benchmarks/bench_stability_region.py [--n 1000] [--pc-points 200]``. It prints
the numbers of one run (best of several repeats for the numpy timings); there are no timing
assertions anywhere.
"""

from __future__ import annotations

import argparse
import time

import control
import numpy as np

from lrctl import zdomain

# The machine this runs on may be shared: wall-clock timings of a 20 ms call are then more
# often interrupted than those of a 1 ms numpy pass, which biases the ratio. The ratios use the
# process CPU time (time.process_time: numpy runs single-threaded here). All candidates are
# timed in interleaved rounds (one call of each per round, after a warm-up round), and each
# keeps its best round, so that no candidate is favoured by when it ran.
CLOCK = time.process_time


def interleaved_best(fns: dict, rounds: int, clock=CLOCK) -> dict:
    for fn in fns.values():  # warm-up: first-touch page faults are not what is measured
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            best[name] = min(best[name], clock() - t0)
    return best


def bench_plant(name: str, plant, n: int, pc_points: int, repeats: int, rng) -> dict:
    kp1 = np.linspace(-2.0, 3.0, n)
    ki1 = np.linspace(-0.5, 1.5, n)
    KP, KI = (np.ascontiguousarray(a) for a in np.meshgrid(kp1, ki1, indexing="ij"))

    fns = {
        "grid": lambda: zdomain.stability_region(plant, KP, KI),
        "bcast": lambda: zdomain.stability_region(plant, kp1[:, None], ki1[None, :]),
        "pass": lambda: np.add(KP, KI),
        "pass_b": lambda: np.add(kp1[:, None], ki1[None, :]),
    }
    cpu = interleaved_best(fns, repeats)
    wall = interleaved_best(fns, repeats, time.perf_counter)
    t_grid, t_bcast, t_pass, t_pass_b = cpu["grid"], cpu["bcast"], cpu["pass"], cpu["pass_b"]
    t_grid_wall, t_pass_wall = wall["grid"], wall["pass"]

    region = zdomain.stability_region(plant, KP, KI)
    idx = rng.integers(0, n, size=(pc_points, 2))
    tf = plant.tf
    t0 = CLOCK()
    verdicts = []
    for i, j in idx:
        C = zdomain.pi_controller(KP[i, j], KI[i, j])
        verdicts.append(bool(np.max(np.abs(control.feedback(C * tf, 1).poles())) < 1))
    t_pc = (CLOCK() - t0) / pc_points
    agree = np.mean(np.array(verdicts) == region[idx[:, 0], idx[:, 1]])

    per_point = t_grid / KP.size
    return {
        "name": name,
        "points": KP.size,
        "lrctl_s": t_grid,
        "lrctl_bcast_s": t_bcast,
        "per_point_ns": per_point * 1e9,
        "pc_per_point_ms": t_pc * 1e3,
        "speedup_vs_python_control": t_pc / per_point,
        "one_pass_s": t_pass,
        "ratio_to_one_pass": t_grid / t_pass,
        "ratio_to_one_pass_bcast": t_bcast / t_pass_b,
        "ratio_to_one_pass_wall": t_grid_wall / t_pass_wall,
        "lrctl_wall_s": t_grid_wall,
        "agreement_with_python_control": agree,
        "stable_fraction": float(region.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="grid is n x n (default 1000)")
    parser.add_argument("--pc-points", type=int, default=200,
                        help="points timed with python-control (default 200)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    plants = {
        "0.5 z^-1/(z - 0.9)": zdomain.first_order_plant(0.9, 0.5, delay=1),
        "sharpness 1/z": zdomain.sharpness_plant(1.0),
    }
    print(f"stability_region on a {args.n} x {args.n} gain grid (python-control {control.__version__}, "
          f"numpy {np.__version__})")
    for name, plant in plants.items():
        r = bench_plant(name, plant, args.n, args.pc_points, args.repeats, rng)
        print(f"\nplant {r['name']}: {r['points']:,} points, stable fraction {r['stable_fraction']:.3f}")
        print("  (CPU times, best of repeats)")
        print(f"  lrctl stability_region       {r['lrctl_s'] * 1e3:8.2f} ms  "
              f"({r['per_point_ns']:.1f} ns per point; broadcast 1-D inputs {r['lrctl_bcast_s'] * 1e3:.2f} ms)")
        print(f"  python-control feedback+poles {r['pc_per_point_ms']:8.3f} ms per point "
              f"(agrees on {r['agreement_with_python_control']:.1%} of {args.pc_points} sampled points)")
        print(f"  one numpy elementwise pass    {r['one_pass_s'] * 1e3:8.2f} ms")
        print(f"  RATIO speed-up per point vs python-control: {r['speedup_vs_python_control']:,.0f}x "
              f"(goal >= 10,000x)")
        print(f"  RATIO time vs one numpy pass: {r['ratio_to_one_pass']:.1f}x "
              f"(broadcast inputs: {r['ratio_to_one_pass_bcast']:.1f}x) (goal <= 50x)")
        print(f"  wall clock: lrctl {r['lrctl_wall_s'] * 1e3:.2f} ms, ratio to one pass "
              f"{r['ratio_to_one_pass_wall']:.1f}x")


if __name__ == "__main__":
    main()
