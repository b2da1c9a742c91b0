"""Evaluations to come within 2% of the best value: lrctl's GP-UCB BO against random search
and Optuna, on real learning-rate objectives and analytic 1-D test functions.

Goal (issue 5): lrctl's Bayesian optimization needs at least 3x fewer evaluations than
log-uniform random search, and no more than Optuna's samplers.

Success criterion: the first evaluation whose value is ≤ f* + 0.02·|f*| (f* the global minimum
on the search bounds). Each method runs with many seeds; the table shows the median number of
evaluations (runs that never succeed within the budget count as > budget) and the ratios
random/BO and Optuna/BO of the medians.

Objectives:
  digits, breast-cancer  validation loss of softmax / logistic regression trained 100 full-batch
                         GD steps at rate η on scikit-learn's bundled data (lrctl.search.
                         ValidationLoss); diverging rates return a finite penalty, flagged.
  quadratic-gd           loss after 50 GD steps on a quadratic, closed form (QuadraticGDLoss)
  forrester, gramacy-lee standard 1-D BO test functions of the normalized log rate

CACHING (benchmark only, for speed): the real objectives take 0.03-0.2 s per evaluation, so
they are evaluated once on a log grid of 100 points per decade (vectorized, the same
ValidationLoss.evaluate code) and interpolated linearly in ln η; diverged grid points stay
diverged. The cache is kept in the temp directory. The analytic objectives are evaluated
exactly. Random search is the same sampler as lrctl.search.random_search; its median is also
given in closed form from the measured share p of the good rates, ⌈ln ½ / ln(1 − p)⌉.

Optuna (TPESampler, seeded, ``log=True``) is used when installed; it is not a dependency of
lrctl. Its GPSampler needs PyTorch and is reported as skipped when that is missing.

A second table repeats the real objectives with search ranges of 4 to 11 decades: random
search's cost grows in proportion to the width, BO's roughly with its logarithm.

    python benchmarks/bench_bayesopt.py [--seeds 30] [--random-seeds 1000] [--kappa 1]
                                        [--no-optuna] [--no-widths] [--only digits,...]
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

from lrctl.search import (
    BayesianOptimizer,
    Evaluation,
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


def objectives() -> list:
    out = [CachedObjective("digits", ValidationLoss("digits"), REAL_BOUNDS),
           CachedObjective("breast-cancer", ValidationLoss("breast_cancer"), REAL_BOUNDS)]
    q = QuadraticGDLoss()
    qb = (1e-3, 10.0)
    out.append(Exact("quadratic-gd", q, qb, q.minimum(qb)[1], True))
    for name in ("forrester", "gramacy-lee"):
        f = LogScaleTestFunction(name, (1e-4, 1.0))
        out.append(Exact(name, f, f.bounds, f.minimum()[1], False))
    return out


def run_bo(obj, threshold: float, seed: int, budget: int, kappa: float, n_initial: int) -> float:
    opt = BayesianOptimizer(obj.bounds, seed=seed, kappa=kappa, n_initial=n_initial,
                            transform="log" if obj.positive else "none")
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


def compare(obj, args, samplers, verbose: bool = True):
    """Median evaluations to success of every method on one objective."""
    t0 = time.perf_counter()
    f_star = obj.minimum()
    thr = within_tolerance(f_star)
    grid = np.geomspace(*obj.bounds, 200_001)
    gv, gd = obj.evaluate(grid)
    p_good = float(np.mean((gv <= thr) & ~gd))
    closed = math.ceil(math.log(0.5) / math.log1p(-p_good))
    seeds, rseeds = range(args.seeds), range(args.random_seeds)
    res = {
        "BO": [run_bo(obj, thr, s, args.budget, args.kappa, args.n_initial) for s in seeds],
        "log-random": [run_random(obj, thr, s, args.random_budget, "log") for s in rseeds],
    }
    if verbose:
        res["linear-random"] = [run_random(obj, thr, s, args.random_budget, "linear")
                                for s in range(min(args.random_seeds, 200))]
    for name in samplers:
        res[f"optuna-{name}"] = [run_optuna(obj, thr, s, args.budget, name) for s in seeds]
    med = {k: float(np.median(v)) for k, v in res.items()}
    succ = {k: float(np.mean(np.isfinite(v))) for k, v in res.items()}
    if verbose:
        print(f"\n{obj.name}: bounds {obj.bounds}, f* = {f_star:.6g}, good share p = "
              f"{p_good:.4f} (closed-form log-random median {closed})   "
              f"[{time.perf_counter() - t0:.0f} s]")
        for k in res:
            budget = args.random_budget if "random" in k else args.budget
            print(f"  {k:15s} median {fmt(med[k], budget):>7s}   success {succ[k]:5.0%}   "
                  f"({len(res[k])} runs)")
        print(f"  ratio log-random / BO = {med['log-random'] / med['BO']:.2f}", end="")
        for name in samplers:
            print(f"   optuna-{name} / BO = {med[f'optuna-{name}'] / med['BO']:.2f}", end="")
        print(flush=True)
    return obj.name, p_good, closed, med, succ


def width_study(args) -> None:
    """The ratio against the width of the search range, on the real objectives."""
    print("\nratio log-random / BO against the width of the search range [lo, 1e3] "
          "(real objectives)")
    print(f"{'objective':15s} {'decades':>7s} {'p':>7s} {'BO':>5s} {'log-rnd':>8s} "
          f"{'closed':>7s} {'rnd/BO':>7s}")
    for name, ds in (("digits", "digits"), ("breast-cancer", "breast_cancer")):
        for lo in (1e-1, 1e-2, 1e-4, 1e-6, 1e-8):
            obj = CachedObjective(name, ValidationLoss(ds), (lo, 1e3))
            _, p_good, closed, med, _ = compare(obj, args, [], verbose=False)
            print(f"{name:15s} {math.log10(1e3 / lo):7.0f} {p_good:7.4f} {med['BO']:5g} "
                  f"{med['log-random']:8g} {closed:7d} {med['log-random'] / med['BO']:7.2f}",
                  flush=True)


def fmt(x: float, budget: int) -> str:
    return f">{budget}" if not math.isfinite(x) else f"{x:g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--budget", type=int, default=100, help="evaluations for BO and Optuna")
    p.add_argument("--random-seeds", type=int, default=1000)
    p.add_argument("--random-budget", type=int, default=20_000)
    p.add_argument("--kappa", type=float, default=1.0)
    p.add_argument("--n-initial", type=int, default=3)
    p.add_argument("--no-optuna", action="store_true")
    p.add_argument("--only", default="", help="comma-separated objective names")
    p.add_argument("--no-widths", action="store_true", help="skip the search-range study")
    args = p.parse_args()
    samplers, skipped = optuna_samplers(not args.no_optuna)
    print(f"seeds {args.seeds} (random search: {args.random_seeds}), budget {args.budget} "
          f"(random: {args.random_budget}), "
          f"lrctl BO: kappa {args.kappa}, n_initial {args.n_initial}")
    for s in skipped:
        print(f"skipped: {s}")
    objs = [o for o in objectives() if not args.only or o.name in args.only.split(",")]
    rows = []
    for obj in objs:
        rows.append(compare(obj, args, samplers))
    print("\nsummary (median evaluations to within 2% of the best value)")
    head = f"{'objective':15s} {'BO':>6s} {'log-rnd':>8s} {'lin-rnd':>8s}"
    head += "".join(f" {'opt-' + s:>8s}" for s in samplers)
    head += f" {'rnd/BO':>7s}" + "".join(f" {s + '/BO':>7s}" for s in samplers)
    print(head)
    for name, _, _, med, _ in rows:
        line = f"{name:15s} {med['BO']:6g} {med['log-random']:8g} {med['linear-random']:8g}"
        line += "".join(f" {med[f'optuna-{s}']:8g}" for s in samplers)
        line += f" {med['log-random'] / med['BO']:7.2f}"
        line += "".join(f" {med[f'optuna-{s}'] / med['BO']:7.2f}" for s in samplers)
        print(line)
    sys.stdout.flush()
    if not args.no_widths:
        width_study(args)


if __name__ == "__main__":
    main()
