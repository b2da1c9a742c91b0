"""Evaluations to come within 2% of the best value, out of sample: lrctl's GP-UCB BO against
log-uniform random search and Optuna's GP and TPE samplers.

Goal (issue 14): on every HELD-APART objective, lrctl's BO needs at least 3x fewer evaluations
than log-uniform random search, and no more than Optuna's GPSampler or TPESampler.

Out of sample. The settings of lrctl's search that were tuned by hand before (κ and the
exploration threshold) are chosen here on the TUNING objectives only, by a rule fixed before the
run: the candidate with the smallest mean over the tuning objectives of ln(median evaluations
to 2%) (a run that never succeeds counts as 2 × budget); ties go to the smaller κ. The chosen
setting is then run once on the HELD-APART objectives, which played no part in the choice:

  TUNING      synthetic: forrester, gramacy-lee (1-D test functions of the normalized log
              rate) and quadratic-gd (loss after 50 GD steps on a quadratic, closed form)
  HELD-APART  real data: the validation loss of softmax regression on digits and of logistic
              regression on breast cancer after 100 full-batch GD steps (lrctl.search.
              ValidationLoss), over 7 decades [1e-4, 1e3], and breast cancer over 9 decades
              [1e-6, 1e3]; diverging rates return a finite penalty, flagged

Success: the first evaluation whose value is ≤ f* + 0.02·|f*| (f* the global minimum on the
search bounds; a diverged evaluation never counts). The table shows medians over seeds; random
search's median is also given in closed form from the measured share p of the good rates,
⌈ln ½ / ln(1 − p)⌉.

CACHING (benchmark only, for speed): the real objectives are evaluated once on a log grid of
100 points per decade (vectorized, the same ValidationLoss.evaluate code) and interpolated
linearly in ln η; diverged grid points stay diverged. The cache is kept in the temp directory.

    python benchmarks/bench_bayesopt.py [--seeds 10] [--budget 60] [--random-seeds 1000]
                                        [--no-optuna]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from lrctl.bayesopt import BayesianOptimizer, Evaluation
from lrctl.search import (
    LogScaleTestFunction,
    QuadraticGDLoss,
    ValidationLoss,
    evaluations_to_reach,
    sample_lrs,
    within_tolerance,
)

REAL_BOUNDS = (1e-4, 1e3)  # 7 decades; divergence starts near 1e2 for both data sets
TABLE_BOUNDS = (1e-8, 1e3)  # the cache covers every range of the width study
PER_DECADE = 100


class CachedObjective:
    """A real objective tabulated on a log grid over ``TABLE_BOUNDS`` and interpolated
    linearly in ln η; searched on ``bounds``."""

    _tables: ClassVar[dict] = {}

    def __init__(self, name: str, objective: ValidationLoss, bounds: tuple[float, float]):
        self.name, self.bounds, self.positive = name, bounds, True
        if name not in self._tables:
            self._tables[name] = self._table(name, objective)
        self.log_lrs, self.values, self.diverged = self._tables[name]

    @staticmethod
    def _table(name: str, objective: ValidationLoss):
        cache = Path(tempfile.gettempdir()) / "lrctl-bench-bayesopt"
        cache.mkdir(exist_ok=True)
        lo, hi = TABLE_BOUNDS
        n = round(math.log10(hi / lo) * PER_DECADE) + 1
        path = cache / f"{name}-{objective.steps}-{lo:g}-{hi:g}-{n}.npz"
        if path.exists():
            d = np.load(path)
            lrs, values, diverged = d["lrs"], d["values"], d["diverged"]
        else:
            t0 = time.perf_counter()
            print(f"  caching {name} on {n} rates in [{lo:g}, {hi:g}] ...", end="", flush=True)
            curve = objective.evaluate(np.geomspace(lo, hi, n))
            lrs, values, diverged = curve.lrs, curve.values, curve.diverged
            np.savez(path, lrs=lrs, values=values, diverged=diverged)
            print(f" {time.perf_counter() - t0:.0f} s", flush=True)
        return np.log(lrs), values, diverged

    def evaluate(self, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = np.log(np.asarray(lrs, dtype=float))
        i = np.clip(np.searchsorted(self.log_lrs, u), 1, self.log_lrs.size - 1)
        w = (u - self.log_lrs[i - 1]) / (self.log_lrs[i] - self.log_lrs[i - 1])
        v = (1 - w) * self.values[i - 1] + w * self.values[i]
        div = self.diverged[i - 1] | self.diverged[i]
        return np.where(div, np.maximum(self.values[i - 1], self.values[i]), v), div

    def __call__(self, lr: float):
        v, d = self.evaluate(np.array([lr]))
        return Evaluation(float(v[0]), diverged=True) if d[0] else float(v[0])

    def minimum(self) -> float:
        inside = (self.log_lrs >= math.log(self.bounds[0]) - 1e-9) & (
            self.log_lrs <= math.log(self.bounds[1]) + 1e-9)
        return float(np.min(self.values[inside & ~self.diverged]))


class Exact:
    """An analytic objective with the same interface."""

    def __init__(self, name: str, f, bounds: tuple[float, float], f_min: float, positive: bool):
        self.name, self.f, self.bounds, self.f_min, self.positive = name, f, bounds, f_min, positive

    def evaluate(self, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.f.evaluate(np.asarray(lrs, dtype=float))
        if hasattr(out, "diverged"):
            return out.values, out.diverged
        return np.asarray(out), np.zeros(np.shape(out), dtype=bool)

    def __call__(self, lr: float):
        return self.f(lr)

    def minimum(self) -> float:
        return self.f_min


def tuning_objectives() -> list:
    """The objectives the settings are chosen on (synthetic)."""
    q = QuadraticGDLoss()
    qb = (1e-3, 10.0)
    out = [Exact("quadratic-gd", q, qb, q.minimum(qb)[1], True)]
    for name in ("forrester", "gramacy-lee"):
        f = LogScaleTestFunction(name, (1e-4, 1.0))
        out.append(Exact(name, f, f.bounds, f.minimum()[1], False))
    return out


def held_apart_objectives() -> list:
    """The objectives the chosen setting is reported on (real data), never used to choose."""
    return [CachedObjective("digits", ValidationLoss("digits"), REAL_BOUNDS),
            CachedObjective("breast-cancer", ValidationLoss("breast_cancer"), REAL_BOUNDS),
            CachedObjective("breast-cancer", ValidationLoss("breast_cancer"), (1e-6, 1e3))]


#: The candidate settings of lrctl's search (κ, explore_threshold), fixed before the run.
CANDIDATES = [(k, e) for k in (0.5, 1.0, 2.0) for e in (1e-3, 1e-2)]


def run_bo(obj, threshold: float, seed: int, budget: int, kappa: float, n_initial: int,
           explore: float = 1e-3) -> float:
    opt = BayesianOptimizer(obj.bounds, seed=seed, kappa=kappa, n_initial=n_initial,
                            transform="log" if obj.positive else "none",
                            explore_threshold=explore)
    for i in range(budget):
        trial = opt.ask()
        out = obj(trial.lr)
        rec = opt.tell(trial, out)
        if rec.status == "ok" and rec.value <= threshold:
            return i + 1.0
    return math.inf


def run_random(obj, threshold: float, seed: int, budget: int, scale: str) -> float:
    """lrctl.search.random_search's sampler, evaluated in blocks until the first success."""
    lrs = sample_lrs(obj.bounds, budget, scale, seed=seed)[0]
    for start in range(0, budget, 512):
        values, diverged = obj.evaluate(lrs[start:start + 512])
        n = evaluations_to_reach(np.where(diverged, np.inf, values), threshold)
        if math.isfinite(n):
            return start + n
    return math.inf


def run_optuna(obj, threshold: float, seed: int, budget: int, sampler_name: str) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = {"TPE": lambda: optuna.samplers.TPESampler(seed=seed),
               "GP": lambda: optuna.samplers.GPSampler(seed=seed)}[sampler_name]()
    study = optuna.create_study(sampler=sampler)
    for i in range(budget):
        trial = study.ask()
        lr = trial.suggest_float("lr", *obj.bounds, log=True)
        out = obj(lr)
        value = out.value if isinstance(out, Evaluation) else float(out)
        study.tell(trial, value)
        if not isinstance(out, Evaluation) and value <= threshold:
            return i + 1.0
    return math.inf


def optuna_samplers(enabled: bool) -> tuple[list[str], list[str]]:
    if not enabled:
        return [], ["Optuna (disabled)"]
    try:
        import optuna  # noqa: F401
    except ImportError:
        return [], ["Optuna (not installed: pip install optuna)"]
    samplers, skipped = ["TPE"], []
    try:
        import torch  # noqa: F401

        samplers.append("GP")
    except ImportError:
        skipped.append("Optuna GPSampler (needs PyTorch, not installed)")
    return samplers, skipped


def threshold_of(obj) -> tuple[float, float, float, int]:
    """(f*, threshold, share p of good rates, closed-form median of log-random search)."""
    f_star = obj.minimum()
    thr = within_tolerance(f_star)
    grid = np.geomspace(*obj.bounds, 200_001)
    gv, gd = obj.evaluate(grid)
    p_good = float(np.mean((gv <= thr) & ~gd))
    closed = math.ceil(math.log(0.5) / math.log1p(-p_good))
    return f_star, thr, p_good, closed


def label(obj) -> str:
    return f"{obj.name} [{obj.bounds[0]:g}, {obj.bounds[1]:g}]"


def tune(args) -> tuple[float, float]:
    """The candidate with the smallest mean ln(median evaluations) on the tuning set."""
    objs = tuning_objectives()
    print(f"\nTUNING on {', '.join(o.name for o in objs)} ({args.seeds} seeds, budget "
          f"{args.budget}); score = mean over objectives of ln(median evaluations to 2%)")
    print(f"{'kappa':>6s} {'explore':>8s} " + "".join(f"{o.name:>14s}" for o in objs)
          + f"{'score':>8s}")
    thresholds = {o.name: threshold_of(o)[1] for o in objs}
    best = None
    for kappa, explore in CANDIDATES:
        meds = []
        for o in objs:
            runs = [run_bo(o, thresholds[o.name], s, args.budget, kappa, args.n_initial,
                           explore) for s in range(args.seeds)]
            runs = [2.0 * args.budget if not math.isfinite(r) else r for r in runs]
            meds.append(float(np.median(runs)))
        score = float(np.mean(np.log(meds)))
        print(f"{kappa:6g} {explore:8g} " + "".join(f"{m:14g}" for m in meds)
              + f"{score:8.3f}", flush=True)
        if best is None or score < best[0] - 1e-12:
            best = (score, kappa, explore)
    assert best is not None
    print(f"chosen: kappa = {best[1]:g}, explore_threshold = {best[2]:g}")
    return best[1], best[2]


def held_apart(args, kappa: float, explore: float, samplers: list[str]) -> None:
    print(f"\nHELD-APART (real data; kappa {kappa:g}, explore_threshold {explore:g}; "
          f"{args.seeds} seeds for BO and Optuna, {args.random_seeds} for random search)")
    rows = []
    for obj in held_apart_objectives():
        t0 = time.perf_counter()
        f_star, thr, p_good, closed = threshold_of(obj)
        seeds = range(args.seeds)
        res = {"lrctl": [run_bo(obj, thr, s, args.budget, kappa, args.n_initial, explore)
                         for s in seeds],
               "log-random": [run_random(obj, thr, s, args.random_budget, "log")
                              for s in range(args.random_seeds)]}
        for name in samplers:
            res[name] = [run_optuna(obj, thr, s, args.budget, name) for s in seeds]
        med = {k: float(np.median(v)) for k, v in res.items()}
        succ = {k: float(np.mean(np.isfinite(v))) for k, v in res.items()}
        rows.append((label(obj), med, succ, closed))
        print(f"  {label(obj)}: f* = {f_star:.5g}, p = {p_good:.4f}, closed-form random "
              f"median {closed}; " + ", ".join(f"{k} {fmt(med[k], args.budget)} "
                                              f"({succ[k]:.0%} succeed)" for k in res)
              + f"   [{time.perf_counter() - t0:.0f} s]", flush=True)
    print("\nsummary: median evaluations to within 2% of the best value (held-apart set)")
    head = f"{'objective':30s} {'lrctl':>6s} {'log-rnd':>8s}" + "".join(
        f" {'opt-' + s:>7s}" for s in samplers) + f" {'rnd/lrctl':>9s}" + "".join(
        f" {s + '/lrctl':>9s}" for s in samplers)
    print(head)
    verdicts = []
    for name, med, _, _ in rows:
        line = f"{name:30s} {fmt(med['lrctl'], args.budget):>6s} {med['log-random']:8g}"
        line += "".join(f" {fmt(med[s], args.budget):>7s}" for s in samplers)
        ratio = med["log-random"] / med["lrctl"]
        line += f" {ratio:9.2f}" + "".join(f" {med[s] / med['lrctl']:9.2f}" for s in samplers)
        print(line)
        verdicts.append(f"{name}: random/lrctl = {ratio:.2f} "
                        + ("(goal >= 3 met)" if ratio >= 3 else
                           f"(goal >= 3 MISSED by {3 / ratio:.2f}x)"))
        for s in samplers:
            extra = med["lrctl"] - med[s]
            verdicts.append(f"{name}: lrctl {fmt(med['lrctl'], args.budget)} vs {s} "
                            f"{fmt(med[s], args.budget)} " + (
                                "(goal lrctl <= Optuna met)" if extra <= 0 else
                                f"(goal MISSED: {extra:g} more evaluations)"))
    print("\nverdicts")
    for v in verdicts:
        print("  " + v)


def fmt(x: float, budget: int) -> str:
    return f">{budget}" if not math.isfinite(x) else f"{x:g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--budget", type=int, default=60, help="evaluations for BO and Optuna")
    p.add_argument("--random-seeds", type=int, default=1000)
    p.add_argument("--random-budget", type=int, default=20_000)
    p.add_argument("--n-initial", type=int, default=3)
    p.add_argument("--no-optuna", action="store_true")
    args = p.parse_args()
    samplers, skipped = optuna_samplers(not args.no_optuna)
    for s in skipped:
        print(f"skipped: {s}")
    t0 = time.perf_counter()
    kappa, explore = tune(args)
    held_apart(args, kappa, explore, samplers)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
