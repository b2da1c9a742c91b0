"""Benchmark: lrctl.quadratic.momentum_contraction from the extreme eigenvalues vs every one.

The heavy-ball spectral radius over a spectrum is attained at λ_min or λ_max (proof in the
docstring of :func:`lrctl.quadratic.momentum_contraction`), so lrctl evaluates the root modulus
at the two extremes. The former route evaluated it at every eigenvalue of the matrix (complex
square roots, shape grid × n). This prints, for an n×n symmetric matrix and a G×G grid of
(lr, momentum):

- the time of each route (process CPU time, best of interleaved rounds; the eigendecomposition
  ``eigvalsh`` is inside both, since both start from the matrix);
- the ratio old/new (the goal: the 8–11 s of the issue's 500×500 case down to well under 0.1 s);
- the largest absolute difference between the two answers (they should agree to round-off).

Run: ``python benchmarks/bench_momentum_contraction.py [--n 500] [--grid 100] [--rounds 3]``.
It prints the numbers of one run; there are no timing assertions anywhere.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lrctl import quadratic

CLOCK = time.process_time


def every_eigenvalue(H: np.ndarray, lr: np.ndarray, momentum: np.ndarray) -> np.ndarray:
    """The former route: the root modulus at every eigenvalue, then the max."""
    eig = np.linalg.eigvalsh(H)
    eta, beta = np.broadcast_arrays(lr, momentum)
    trace = 1.0 + beta[..., None] - eta[..., None] * eig
    sq = np.sqrt(trace.astype(complex) ** 2 - 4.0 * beta[..., None])
    return np.maximum(np.abs((trace + sq) / 2), np.abs((trace - sq) / 2)).max(axis=-1)


def interleaved_best(fns: dict, rounds: int) -> dict:
    for fn in fns.values():  # warm-up
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = CLOCK()
            fn()
            best[name] = min(best[name], CLOCK() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="matrix size (eigenvalues)")
    ap.add_argument("--grid", type=int, default=100, help="grid points per axis (lr, momentum)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((args.n, args.n)))
    eig = np.geomspace(1e-3, 1.0, args.n)
    H = (Q * eig) @ Q.T
    H = 0.5 * (H + H.T)
    lr = np.linspace(0.01, 4.0, args.grid)[:, None]
    mom = np.linspace(0.0, 0.99, args.grid)[None, :]

    fns = {
        "extremes (lrctl)": lambda: quadratic.momentum_contraction(H, lr, mom),
        "every eigenvalue": lambda: every_eigenvalue(H, lr, mom),
    }
    best = interleaved_best(fns, args.rounds)
    diff = float(np.abs(fns["extremes (lrctl)"]() - fns["every eigenvalue"]()).max())
    print(f"momentum_contraction: {args.n}x{args.n} matrix, {args.grid}x{args.grid} grid "
          f"of (lr, momentum), best of {args.rounds} rounds (CPU s)")
    for name, t in best.items():
        print(f"  {name:18s} {t:9.4f} s")
    print(f"  ratio every/extremes: {best['every eigenvalue'] / best['extremes (lrctl)']:.1f}x")
    print(f"  max |difference|: {diff:.2e}")


if __name__ == "__main__":
    main()
