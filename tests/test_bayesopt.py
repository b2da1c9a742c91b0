"""Tests of lrctl.bayesopt: the GP surrogate, the acquisition, ask/tell, batches, failures and
the resumable SQLite history.

Independent routes: scikit-learn's GaussianProcessRegressor and kernels (posterior, log
marginal likelihood, its own hyperparameter optimizer), brute-force acquisition minimization on
a 200 001-point grid, hand values, and a search killed in a subprocess and resumed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from lrctl.bayesopt import (
    BayesianOptimizer,
    Evaluation,
    GaussianProcess1D,
    SearchProgress,
    SearchResult,
    SerialExecutor,
    Trial,
    _minimize_acquisition,
    fit_gp,
    gp_ucb_kappa,
    lower_confidence_bound,
    matern52,
)
from lrctl.search import LogScaleTestFunction, QuadraticGDLoss, within_tolerance

FORRESTER = LogScaleTestFunction("forrester", (1e-4, 1.0))


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Small matrix products are much slower with BLAS threads fighting over 2 shared cores.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _data(n=9, seed=0):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 1, n))
    y = np.sin(7 * x) + 0.3 * x + 2.0
    return x, y


# ---------------------------------------------------------------------------------------
# The GP against scikit-learn
# ---------------------------------------------------------------------------------------


def test_matern52_matches_sklearn():
    d = np.linspace(0, 2, 41)
    ref = Matern(length_scale=0.37, nu=2.5)(np.zeros((1, 1)), d[:, None])[0]
    np.testing.assert_allclose(matern52(d, 0.37), ref, rtol=1e-12, atol=1e-15)
    # hand value: d = ℓ gives (1 + √5 + 5/3) e^{−√5}
    assert float(matern52(0.3, 0.3)) == pytest.approx((1 + 5**0.5 + 5 / 3) * math.exp(-(5**0.5)))


def test_posterior_matches_sklearn_with_the_same_kernel():
    x, y = _data()
    gp = GaussianProcess1D(x, y, length_scale=0.21, signal_variance=1.7, noise_variance=1e-3)
    kernel = (ConstantKernel(1.7, "fixed") * Matern(0.21, "fixed", nu=2.5)
              + WhiteKernel(1e-3, "fixed"))
    ref = GaussianProcessRegressor(kernel, alpha=0.0, optimizer=None, normalize_y=True)
    ref.fit(x[:, None], y)
    xs = np.linspace(-0.1, 1.1, 57)
    mean, std = gp.predict(xs)
    rmean, rstd = ref.predict(xs[:, None], return_std=True)
    np.testing.assert_allclose(mean, rmean, rtol=1e-9, atol=1e-10)
    # scikit-learn's std includes the white noise: var_sk = var_latent + s_y² σ_n²
    np.testing.assert_allclose(std**2 + gp.y_std**2 * 1e-3, rstd**2, rtol=1e-8, atol=1e-12)
    assert gp.log_marginal_likelihood() == pytest.approx(ref.log_marginal_likelihood_value_,
                                                         rel=1e-10)
    # to_sklearn builds the same model
    m2 = gp.to_sklearn().predict(xs[:, None])
    np.testing.assert_allclose(m2, rmean, rtol=1e-9, atol=1e-10)


def test_fit_reaches_sklearns_maximum_likelihood():
    x, y = _data(25, seed=3)
    y = y + 0.1 * np.random.default_rng(4).standard_normal(x.size)  # noise: an interior optimum
    gp = fit_gp(x, y, length_scale_prior=None, noise_bounds=(1e-6, 0.1))
    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(0.3, (0.01, 10.0), nu=2.5)
              + WhiteKernel(1e-4, (1e-8, 1e-1)))
    ref = GaussianProcessRegressor(kernel, alpha=0.0, normalize_y=True, n_restarts_optimizer=8,
                                   random_state=0).fit(x[:, None], y)
    sk_lml = ref.log_marginal_likelihood_value_
    sk = ref.kernel_.get_params()
    sk_ratio = sk["k2__noise_level"] / sk["k1__k1__constant_value"]
    assert 1e-6 <= sk_ratio <= 0.1  # scikit-learn's optimum lies in our search box
    assert gp.log_marginal_likelihood() >= sk_lml - 1e-3 * abs(sk_lml)
    assert gp.length_scale == pytest.approx(sk["k1__k2__length_scale"], rel=0.05)


def test_fit_with_prior_and_degenerate_data():
    x, y = _data(3)
    gp = fit_gp(x, y)  # Gamma(3, 6) prior keeps ℓ away from the 0.01 bound with 3 points
    assert gp.length_scale > 0.05
    flat = fit_gp(np.array([0.1, 0.5]), np.array([2.0, 2.0]))
    mean, std = flat.predict(np.array([0.3]))
    assert mean[0] == pytest.approx(2.0) and np.isfinite(std[0])
    one = fit_gp(np.array([0.4]), np.array([1.0]))
    assert one.predict(np.array([0.4]))[0][0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="x and y must be non-empty and of equal length"):
        fit_gp(np.array([0.1, 0.2]), np.array([1.0]))
    with pytest.raises(ValueError, match="y must be finite"):
        fit_gp(np.array([0.1, 0.2]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="length_scale_bounds"):
        fit_gp(x, y, length_scale_bounds=(1.0, 0.1))


def test_kriging_believer_keeps_the_mean_and_shrinks_the_variance():
    x, y = _data()
    gp = fit_gp(x, y)
    xp = np.array([0.33, 0.71])
    mp, sp = gp.predict(xp)
    gp2 = gp.condition(xp, mp)
    xs = np.linspace(0, 1, 101)
    m1, s1 = gp.predict(xs)
    m2, s2 = gp2.predict(xs)
    np.testing.assert_allclose(m2, m1, atol=1e-6 * gp.y_std)  # GP-BUCB: mean unchanged
    assert np.all(s2 <= s1 + 1e-12)
    # conditioning on a noisy observation at a point leaves at most the noise variance there
    assert np.all(gp2.predict(xp)[1] <= gp.y_std * math.sqrt(gp.noise_variance) * (1 + 1e-9))
    assert np.all(gp2.predict(xp)[1] < sp)


def test_acquisition_and_kappa():
    gp = fit_gp(*_data())
    xs = np.linspace(0, 1, 11)
    m, s = gp.predict(xs)
    np.testing.assert_allclose(lower_confidence_bound(gp, xs, 2.5), m - 2.5 * s)
    # Srinivas et al. (2010) Thm 1: κ_t = sqrt(2 ln(|D| t² π² / (6δ))); t=1, |D|=1000, δ=0.1
    assert gp_ucb_kappa(1, 1000) == pytest.approx(math.sqrt(2 * math.log(1000 * math.pi**2 / 0.6)))
    np.testing.assert_allclose(gp_ucb_kappa(np.array([1, 10]), 50),
                               [gp_ucb_kappa(1, 50), gp_ucb_kappa(10, 50)])
    with pytest.raises(ValueError, match="t must be >= 1"):
        gp_ucb_kappa(0, 10)
    with pytest.raises(ValueError, match="kappa must be finite and >= 0"):
        lower_confidence_bound(gp, xs, -1.0)


@pytest.mark.parametrize("kappa", [0.0, 1.0, 3.0])
def test_acquisition_minimizer_matches_brute_force(kappa):
    x, y = _data(7, seed=5)
    gp = fit_gp(x, y)
    fine = np.linspace(0, 1, 200_001)
    lcb = lower_confidence_bound(gp, fine, kappa)
    allowed = np.min(np.abs(fine[:, None] - x), axis=1) >= 1e-3
    brute = np.min(lcb[allowed])
    xb = _minimize_acquisition(gp, kappa, 2001, x, 1e-3)
    assert np.min(np.abs(xb - x)) >= 1e-3
    got = float(lower_confidence_bound(gp, np.array([xb]), kappa)[0])
    assert got <= brute + 1e-6 * (1 + abs(brute))


# ---------------------------------------------------------------------------------------
# The optimizer
# ---------------------------------------------------------------------------------------


def test_finds_forrester_minimum_and_is_reproducible():
    thr = within_tolerance(FORRESTER.minimum()[1])
    runs = [BayesianOptimizer(FORRESTER.bounds, seed=s).run(FORRESTER, 14,
                                                           executor=SerialExecutor())
            for s in (0, 1, 1)]
    assert all(r.best_value <= thr for r in runs)
    np.testing.assert_array_equal(runs[1].lrs, runs[2].lrs)
    assert not np.array_equal(runs[0].lrs, runs[1].lrs)
    assert np.all((runs[0].lrs >= 1e-4) & (runs[0].lrs <= 1.0))


def test_initial_design_is_stratified_in_log_lr():
    opt = BayesianOptimizer((1e-6, 1.0), n_initial=6, seed=2)
    trials = opt.ask_batch(6)
    cells = np.floor(opt.to_unit([t.lr for t in trials]) * 6)
    assert sorted(cells.tolist()) == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(opt.from_unit(opt.to_unit([t.lr for t in trials])),
                               [t.lr for t in trials], rtol=1e-12)


def test_ask_tell_contract():
    opt = BayesianOptimizer(FORRESTER.bounds, seed=0)
    t = opt.ask()
    assert t.status == "pending" and t.number == 0
    rec = opt.tell(t, FORRESTER(t.lr))
    assert rec.status == "ok" and rec.value == FORRESTER(t.lr)
    with pytest.raises(ValueError, match="already finished"):
        opt.tell(t, 1.0)
    with pytest.raises(ValueError, match="never proposed"):
        opt.tell(5, 1.0)
    t2 = opt.ask()
    assert opt.tell(t2.number, Evaluation(3.0, diverged=True, info={"step": 4.0})).status == \
        "diverged"
    t3 = opt.ask()
    bad = opt.tell(t3, "nope")
    assert bad.status == "failed" and "not a real number" in bad.error
    res = opt.result()
    assert res.statuses.tolist() == ["ok", "diverged", "failed"]
    assert np.isnan(res.values[2]) and res.values[1] == 3.0
    assert res.best_number == 0 and res.n_diverged == 1 and res.n_failed == 1
    np.testing.assert_array_equal(res.best_so_far(), [res.values[0]] * 3)


def test_batches_are_spread_and_strategies_differ():
    for strategy in ("kriging-believer", "constant-liar"):
        opt = BayesianOptimizer(FORRESTER.bounds, seed=1, batch_strategy=strategy)
        for t in opt.ask_batch(3):
            opt.tell(t, FORRESTER(t.lr))
        batch = opt.ask_batch(4)
        x = np.sort(opt.to_unit([t.lr for t in batch]))
        assert len(set(t.number for t in batch)) == 4
        assert np.min(np.diff(x)) >= opt.min_distance
        assert all(t.batch == 1 for t in batch)


def test_parallel_batches_with_executors():
    thr = within_tolerance(FORRESTER.minimum()[1])
    with ThreadPoolExecutor(2) as pool:
        res = BayesianOptimizer(FORRESTER.bounds, seed=0).run(FORRESTER, 16, batch_size=2,
                                                              executor=pool, synchronous=True)
    assert res.n_trials == 16 and res.best_value <= thr
    # the default executor: a process pool (the objective is picklable); batch-synchronous
    # mode makes the same search whatever the executor
    res2 = BayesianOptimizer(FORRESTER.bounds, seed=0).run(FORRESTER, 6, batch_size=2,
                                                           synchronous=True)
    np.testing.assert_array_equal(res2.lrs, res.lrs[:6])
    ser = BayesianOptimizer(FORRESTER.bounds, seed=0).run(FORRESTER, 6, batch_size=2,
                                                          synchronous=True,
                                                          executor=SerialExecutor())
    np.testing.assert_array_equal(ser.lrs, res.lrs[:6])
    # asynchronous (the default) with 2 threads: a proposal per returned evaluation
    with ThreadPoolExecutor(2) as pool:
        opt = BayesianOptimizer(FORRESTER.bounds, seed=0)
        res3 = opt.run(FORRESTER, 16, batch_size=2, executor=pool)
    assert res3.n_trials == 16 and res3.best_value <= thr
    assert res3.numbers.tolist() == list(range(16))


@pytest.mark.parametrize("synchronous", [False, True])
def test_asynchronous_run_keeps_every_worker_busy(synchronous):
    # 3 workers; the first rate of the initial design takes 0.4 s, every other one 0.02 s.
    # Asynchronous mode proposes a new rate whenever one returns, so the two fast workers go
    # on while the straggler runs; batch-synchronous mode waits for the whole batch of 3.
    import threading

    opt = BayesianOptimizer(FORRESTER.bounds, seed=0)
    slow = float(opt.from_unit(opt._initial_x[0]))
    starts, lock = [], threading.Lock()
    slow_end = []

    def objective(lr):
        with lock:
            starts.append(time.monotonic())
        time.sleep(0.4 if lr == slow else 0.02)
        if lr == slow:
            slow_end.append(time.monotonic())
        return FORRESTER(lr)

    seen: list[SearchProgress] = []
    with ThreadPoolExecutor(3) as pool:
        res = opt.run(objective, 9, batch_size=3, executor=pool, progress=seen.append,
                      synchronous=synchronous)
    started_during = sum(t < slow_end[0] for t in starts)
    if synchronous:
        assert started_during == 3  # the first batch only
    else:
        assert started_during >= 6  # the two fast workers kept going (about 0.4/0.02 · 2)
    assert res.n_trials == 9 and [p.n_complete for p in seen] == list(range(1, 10))
    assert all(t.status != "pending" for t in opt.trials)


def test_progress_callback():
    seen: list[SearchProgress] = []
    BayesianOptimizer(FORRESTER.bounds, seed=0).run(FORRESTER, 5, executor=SerialExecutor(),
                                                    progress=seen.append)
    assert [p.n_complete for p in seen] == [1, 2, 3, 4, 5]
    assert all(p.n_total == 5 for p in seen)
    assert seen[-1].best_value == min(p.trial.value for p in seen)


def test_log_transform_models_positive_losses_and_refuses_nonpositive():
    f = QuadraticGDLoss()
    opt = BayesianOptimizer((1e-3, 10.0), seed=0, transform="log")
    res = opt.run(f, 8, executor=SerialExecutor())
    gp = opt.posterior()
    ok = res.statuses == "ok"
    worst = np.max(res.values[ok])
    expected = np.log(np.where(ok, res.values, np.minimum(res.values, worst)))
    np.testing.assert_allclose(gp.y, expected)  # ln of the values, diverged ones imputed
    t = opt.ask()
    rec = opt.tell(t, -1.0)
    assert rec.status == "failed" and "transform='log'" in rec.error and rec.info["value"] == -1


def test_objective_failures_are_recorded_not_hidden():
    def objective(lr):
        if lr > 0.1:
            return math.nan
        if lr < 1e-3:
            raise FloatingPointError("boom")
        return math.log(lr) ** 2

    opt = BayesianOptimizer((1e-4, 1.0), seed=0, n_initial=4)
    res = opt.run(objective, 10, executor=SerialExecutor(), max_consecutive_failures=10)
    failed = res.statuses == "failed"
    assert failed.sum() >= 1
    for lr, err, st in zip(res.lrs, res.errors, res.statuses, strict=True):
        if lr > 0.1:
            assert st == "failed" and err == "objective returned NaN"
        elif lr < 1e-3:
            assert st == "failed" and "FloatingPointError: boom" in err
        else:
            assert st == "ok"
    assert res.best_value is not None and res.best_lr <= 0.1
    # inf is refused with advice
    opt2 = BayesianOptimizer((1e-4, 1.0), seed=0)
    assert "finite penalty" in opt2.tell(opt2.ask(), math.inf).error


def test_nan_from_the_first_step_stops_with_a_clear_error():
    opt = BayesianOptimizer((1e-4, 1.0), seed=0)
    with pytest.raises(RuntimeError, match=r"the last 3 trials failed.*NaN"):
        opt.run(lambda lr: math.nan, 20, executor=SerialExecutor(), max_consecutive_failures=3)
    res = opt.result()
    assert res.n_trials == 3 and res.n_failed == 3 and res.best_value is None


class _FlakyExecutor(Executor):
    """Runs tasks inline, but the k-th submitted task fails as if a worker died."""

    def __init__(self, fail_at):
        self.count = 0
        self.fail_at = fail_at

    def submit(self, fn, /, *args, **kwargs):
        self.count += 1
        fut = Future()
        if self.count in self.fail_at:
            fut.set_exception(RuntimeError("worker lost"))
        else:
            fut.set_result(fn(*args, **kwargs))
        return fut


@pytest.mark.parametrize("synchronous", [True, False])
def test_executor_failing_mid_batch_records_failed_trials(tmp_path, synchronous):
    db = tmp_path / "h.sqlite"
    opt = BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db)
    with pytest.raises(RuntimeError, match=r"executor failed.*worker lost"):
        opt.run(FORRESTER, 12, batch_size=3, executor=_FlakyExecutor({5}),
                synchronous=synchronous)
    res = opt.result()
    # The executor runs tasks at submit time, so both modes see trials 0-2 return together
    # and propose 3-5; the 5th task (trial 4) fails; nothing is proposed after the failure
    # and the trials in flight are recorded.
    n_done = 6
    assert res.n_trials == n_done and res.n_failed == 1
    assert res.statuses[4] == "failed" and "worker lost" in res.errors[4]
    assert all(t.status != "pending" for t in opt.trials)
    opt.close()
    # resume with a working executor: nothing lost, the failed trial stays failed
    opt2 = BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db)
    res2 = opt2.run(FORRESTER, 12 - n_done, batch_size=3, executor=SerialExecutor(),
                    synchronous=synchronous)
    assert res2.n_trials == 12 and res2.n_failed == 1
    np.testing.assert_array_equal(res2.lrs[:n_done], res.lrs)
    opt2.close()


def test_storage_round_trip_and_settings_check(tmp_path):
    db = tmp_path / "h.sqlite"
    with BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db, study="a") as opt:
        res = opt.run(FORRESTER, 6, executor=SerialExecutor())
    with BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db, study="a") as again:
        np.testing.assert_array_equal(again.result().lrs, res.lrs)
        np.testing.assert_array_equal(again.result().values, res.values)
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM trials WHERE study='a'").fetchone()
    assert rows[0] == 6
    with pytest.raises(ValueError, match=r"study 'a'.*settings.*seed: stored 0.*seed=1"):
        BayesianOptimizer(FORRESTER.bounds, seed=1, storage=db, study="a")
    # BO1: every setting that changes the proposals is stored, explore_threshold included
    with pytest.raises(ValueError, match=r"explore_threshold: stored 0.001.*explore_thr"
                                         r"eshold=0.5"):
        BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db, study="a",
                          explore_threshold=0.5)
    stored = json.loads(sqlite3.connect(db).execute(
        "SELECT config FROM studies WHERE name='a'").fetchone()[0])
    assert stored == json.loads(json.dumps(BayesianOptimizer(FORRESTER.bounds).config()))
    assert set(stored) == {"bounds", "kappa", "n_initial", "seed", "batch_strategy",
                           "transform", "grid_size", "min_distance", "explore_threshold",
                           "delta"}
    with BayesianOptimizer(FORRESTER.bounds, seed=1, storage=db, study="b") as other:
        assert other.trials == ()


_CHILD = textwrap.dedent("""
    import sys, time
    from concurrent.futures import ThreadPoolExecutor
    from lrctl.bayesopt import BayesianOptimizer
    from lrctl.search import LogScaleTestFunction

    db, log = sys.argv[1], sys.argv[2]
    f = LogScaleTestFunction("forrester", (1e-4, 1.0))

    class Slow:
        def __call__(self, lr):
            with open(log, "a") as fh:
                fh.write(repr(lr) + "\\n")
            time.sleep(0.15 + 0.25 * f._x(lr))
            return f(lr)

    opt = BayesianOptimizer(f.bounds, seed=3, storage=db, study="kill")
    with ThreadPoolExecutor(2) as pool:
        opt.run(Slow(), 14, batch_size=2, executor=pool, synchronous=True)
    print("finished")
""")


def test_killed_search_resumes_with_nothing_lost_or_repeated(tmp_path):
    db, log, script = tmp_path / "h.sqlite", tmp_path / "calls.log", tmp_path / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done_before: list[tuple] = []
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            time.sleep(0.05)
            if not db.exists():
                continue
            try:
                rows = sqlite3.connect(db, timeout=5).execute(
                    "SELECT number, lr, status, value FROM trials ORDER BY number").fetchall()
            except sqlite3.OperationalError:
                continue
            if sum(r[2] != "pending" for r in rows) >= 5:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    rows = sqlite3.connect(db).execute(
        "SELECT number, lr, status, value FROM trials ORDER BY number").fetchall()
    done_before = [r for r in rows if r[2] != "pending"]
    pending = [r for r in rows if r[2] == "pending"]
    assert 5 <= len(done_before) < 14

    calls_before = log.read_text().split()
    with BayesianOptimizer(FORRESTER.bounds, seed=3, storage=db, study="kill") as opt:
        counted = []

        def counting(lr):
            counted.append(lr)
            return FORRESTER(lr)

        res = opt.run(counting, 14 - len(done_before), batch_size=2, executor=SerialExecutor(),
                      synchronous=True)
    assert res.n_trials == 14
    assert res.numbers.tolist() == list(range(14))
    # every trial finished before the kill is kept exactly as it was ...
    for number, lr, status, value in done_before:
        assert res.lrs[number] == lr and res.statuses[number] == status
        assert res.values[number] == value
    # ... and is not evaluated again; only the interrupted (pending) trials are re-run
    done_lrs = {r[1] for r in done_before}
    assert not done_lrs & set(counted)
    assert [r[1] for r in pending] == counted[: len(pending)]
    assert len(counted) == 14 - len(done_before)
    assert {float(v) for v in calls_before} >= done_lrs
    # the resumed search is the search an uninterrupted run makes
    ref = BayesianOptimizer(FORRESTER.bounds, seed=3).run(FORRESTER, 14, batch_size=2,
                                                          executor=SerialExecutor(),
                                                          synchronous=True)
    np.testing.assert_array_equal(res.lrs, ref.lrs)
    np.testing.assert_array_equal(res.values, ref.values)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"bounds": (1.0, 1.0)}, ValueError, "bounds.*empty"),
        ({"bounds": (1.0, 0.1)}, ValueError, "bounds.*inverted"),
        ({"bounds": (0.0, 1.0)}, ValueError, "bounds must be finite and > 0"),
        ({"kappa": -1.0}, ValueError, "kappa must be finite and >= 0"),
        ({"kappa": "ei"}, ValueError, "kappa must be one of"),
        ({"n_initial": 0}, ValueError, "n_initial must be an integer >= 1"),
        ({"batch_strategy": "qEI"}, ValueError, "batch_strategy must be one of"),
        ({"transform": "sqrt"}, ValueError, "transform must be one of"),
        ({"min_distance": 0.6}, ValueError, "min_distance must lie in"),
        ({"study": ""}, ValueError, "study must be a non-empty string"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ],
)
def test_optimizer_bad_input(kwargs, exc, match):
    args = {"bounds": (1e-4, 1.0)}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        BayesianOptimizer(**args)


def test_run_bad_input():
    opt = BayesianOptimizer((1e-4, 1.0))
    with pytest.raises(TypeError, match="objective must be callable"):
        opt.run(3.0, 5)
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        opt.run(FORRESTER, 0)
    with pytest.raises(TypeError, match=r"executor must be a concurrent.futures.Executor"):
        opt.run(FORRESTER, 3, executor="dask")
    with pytest.raises(ValueError, match="error must be a non-empty message"):
        opt.tell_failure(opt.ask(), "")


def test_result_types():
    res = SearchResult.from_trials([Trial(1, 0.1, "ok", 2.0), Trial(0, 0.2, "failed", None, "x"),
                                    Trial(2, 0.3)])
    assert res.numbers.tolist() == [0, 1]  # pending trials are not results
    assert res.best_lr == 0.1 and res.best_so_far().tolist() == [math.inf, 2.0]


def test_exploration_rule_frees_a_search_stuck_in_a_local_minimum():
    # Gramacy & Lee (2012): many local minima; seeds 9 and 10 of the default search settle in
    # the basins at x = 0.22 and x = 0.43 and, without the rule, never leave them.
    f = LogScaleTestFunction("gramacy-lee", (1e-4, 1.0))
    thr = within_tolerance(f.minimum()[1])
    for seed in (9, 10):
        stuck = BayesianOptimizer(f.bounds, seed=seed, explore_threshold=0.0)
        res = stuck.run(f, 60, executor=SerialExecutor())
        last = stuck.to_unit(res.lrs[-10:])
        assert res.best_value > thr and np.ptp(last) < 0.05  # circling one basin
        assert all(t.rule in ("initial", "lcb") for t in stuck.trials)
        free = BayesianOptimizer(f.bounds, seed=seed)
        res = free.run(f, 60, executor=SerialExecutor())
        assert res.best_value <= thr
        assert any(t.rule == "explore" for t in free.trials)


def test_snapshot_and_rules_are_recorded(tmp_path):
    opt = BayesianOptimizer(FORRESTER.bounds, seed=0, storage=tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="at least one finished trial"):
        opt.snapshot()
    for _ in range(5):
        t = opt.ask()
        opt.tell(t, FORRESTER(t.lr))
    snap = opt.snapshot()
    gp = opt.posterior()
    m, s = gp.predict(opt.to_unit(snap.lrs))
    np.testing.assert_allclose(snap.mean, m)
    np.testing.assert_allclose(snap.acquisition, m - snap.kappa * s)
    assert snap.n_finished == 5 and snap.rule in ("lcb", "explore")
    nxt = opt.ask()  # the snapshot did not change the search: it predicted this proposal
    assert nxt.lr == pytest.approx(snap.next_lr, rel=1e-12) and nxt.rule == snap.rule
    with pytest.raises(ValueError, match="no pending trials"):
        opt.snapshot()
    opt.close()
    again = BayesianOptimizer(FORRESTER.bounds, seed=0, storage=tmp_path / "s.sqlite")
    assert [t.rule for t in again.trials] == ["initial"] * 3 + ["lcb", "lcb", nxt.rule]
    again.close()


def test_gp_ucb_schedule_grows_with_the_trials():
    opt = BayesianOptimizer(FORRESTER.bounds, seed=0, kappa="gp-ucb", grid_size=501)
    k0 = opt._kappa_now()
    opt.run(FORRESTER, 6, executor=SerialExecutor())
    assert opt._kappa_now() == pytest.approx(gp_ucb_kappa(7, 501, 0.1)) and opt._kappa_now() > k0


def test_unpicklable_objective_on_the_default_process_pool_is_a_clear_failure():
    opt = BayesianOptimizer(FORRESTER.bounds, seed=0)
    with pytest.raises(TypeError, match=r"(?i:pickl).*SerialExecutor.*ThreadPoolExecutor.*"
                                        r"Dask.*pure=False"):
        opt.run(lambda lr: FORRESTER(lr), 4, batch_size=2)
    assert opt.trials == ()  # refused before anything was proposed
    # the advice works: a lambda on threads
    with ThreadPoolExecutor(2) as pool:
        assert opt.run(lambda lr: FORRESTER(lr), 4, batch_size=2, executor=pool).n_trials == 4


# ---------------------------------------------------------------------------------------
# Storage of outcomes, resume semantics, reprs (issue 11 item 4, audit BO1-BO5)
# ---------------------------------------------------------------------------------------


def _info_objective(lr):
    return Evaluation(FORRESTER(lr), info={"step": np.int64(3), "loss": np.float32(0.5),
                                           "curve": np.array([1.0, 0.5]), "ok": np.bool_(True),
                                           "name": "sgd"})


def _bad_info_objective(lr):
    return Evaluation(FORRESTER(lr), info="x")  # raises inside the objective


def test_numpy_info_is_stored_and_bad_info_is_a_failed_trial(tmp_path):
    db = tmp_path / "i.sqlite"
    with BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db) as opt:
        res = opt.run(_info_objective, 3, executor=SerialExecutor())  # BO2 crashed here
        assert res.n_trials == 3 and res.n_failed == 0
        res = opt.run(_bad_info_objective, 2, executor=SerialExecutor())  # BO5 crashed here
        assert res.n_trials == 5 and res.n_failed == 2
        assert all("info must be a mapping" in e for e in res.errors[3:])
    with BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db) as again:
        assert again.trials[0].info == {"step": 3, "loss": 0.5, "curve": [1.0, 0.5], "ok": True,
                                        "name": "sgd"}
    with pytest.raises(TypeError, match=r"info\['f'\] must be a number"):
        Evaluation(1.0, info={"f": object()})
    with pytest.raises(TypeError, match="diverged must be a bool"):
        Evaluation(1.0, diverged="no")


def test_run_counts_new_evaluations_on_a_resumed_study(tmp_path):
    db = tmp_path / "r.sqlite"
    with BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db) as opt:
        opt.run(FORRESTER, 4, executor=SerialExecutor())
    with BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db) as opt:
        res = opt.run(FORRESTER, 4, executor=SerialExecutor())  # used to do nothing
    assert res.n_trials == 8 and res.numbers.tolist() == list(range(8))
    ref = BayesianOptimizer(FORRESTER.bounds, seed=0).run(FORRESTER, 8, executor=SerialExecutor())
    np.testing.assert_array_equal(res.lrs, ref.lrs)  # 4 + 4 is the search of 8


def test_outcomes_are_committed_by_the_worker(tmp_path):
    # With a local executor the worker commits the outcome itself, so the row is finished
    # before the driver sees the future (checked from inside the next evaluation).
    db = tmp_path / "w.sqlite"
    seen = []

    def objective(lr):
        rows = sqlite3.connect(db).execute("SELECT status FROM trials ORDER BY number").fetchall()
        seen.append([r[0] for r in rows])
        return FORRESTER(lr)

    with BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db) as opt:
        opt.run(objective, 3, executor=SerialExecutor())
        assert seen[-1] == ["ok", "ok", "pending"]
        opt.run(objective, 1, executor=SerialExecutor(), record_in_worker=False)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM trials WHERE status = 'ok'"
                                       ).fetchone()[0] == 4


def test_reprs_summarize():
    opt = BayesianOptimizer(FORRESTER.bounds, seed=0)
    res = opt.run(FORRESTER, 6, executor=SerialExecutor())
    text = repr(res)
    assert text.startswith("SearchResult(n_trials=6, ok=6, diverged=0, failed=0, best_lr=")
    assert "array" not in text and len(text) < 200
    snap = opt.snapshot()
    assert "array" not in repr(snap) and "<401 values" in repr(snap) and len(repr(snap)) < 250
    assert "array" not in repr(opt.posterior()) and "n=6" in repr(opt.posterior())
    assert "6 trials" in repr(opt)


_ORPHAN_CHILD = textwrap.dedent("""
    import os, sys, time
    from lrctl.bayesopt import BayesianOptimizer

    pids = sys.argv[1]

    def objective(lr):
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(30)
        return lr

    if __name__ == "__main__":
        BayesianOptimizer((1e-4, 1.0), seed=0).run(objective, 2, batch_size=2)
""")


def test_pool_workers_die_with_the_driver(tmp_path):
    # BO4: the default process pool's workers must not outlive a SIGKILLed driver.
    script, pids = tmp_path / "child.py", tmp_path / "pids"
    script.write_text(_ORPHAN_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(pids)])
    try:
        deadline = time.time() + 20
        while time.time() < deadline and (not pids.exists() or
                                           len(pids.read_text().split()) < 2):
            time.sleep(0.05)
        workers = [int(p) for p in pids.read_text().split()]
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.time() + 5
        alive = workers
        while alive and time.time() < deadline:
            time.sleep(0.05)
            alive = [p for p in workers if _running(p)]
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---------------------------------------------------------------------------------------
# Bad input at the door (audit classes b-f)
# ---------------------------------------------------------------------------------------


def test_gp_functions_refuse_bad_input_and_never_return_nan():
    gp = fit_gp(*_data())
    with pytest.raises(ValueError, match="distance must be finite"):  # N3
        matern52(float("nan"), 0.3)
    with pytest.raises(ValueError, match="distance must be finite"):
        matern52(np.inf, 0.3)
    with pytest.raises(TypeError, match=r"distance must be a number.*bool"):
        matern52(True, 0.3)
    assert float(matern52(1e300, 0.3)) == 0.0  # huge but finite: the exact limit
    mean, std = gp.predict(np.array([1e300, -1e300]))  # N7: was (nan, nan)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    np.testing.assert_allclose(mean, gp.y_mean)  # far from the data: the prior mean
    assert np.all(np.isfinite(lower_confidence_bound(gp, np.array([1e300]), 1.0)))
    assert math.isfinite(gp_ucb_kappa(1e300, 1000))  # was inf
    # √(2 (ln 1000 + 2 ln 1e300 + ln(π²/0.6)))
    assert gp_ucb_kappa(1e300, 1000) == pytest.approx(
        math.sqrt(2 * (math.log(1000) + 600 * math.log(10) + math.log(math.pi**2 / 0.6))))
    with pytest.raises(TypeError, match="gp must be a GaussianProcess1D"):  # C1
        lower_confidence_bound(3.0, np.array([0.5]), 1.0)
    with pytest.raises(ValueError, match="y_std must be > 0"):  # N14
        GaussianProcess1D(np.array([0.0, 1.0]), np.array([1.0, 0.0]), 0.5, 1.0, 1e-6, y_std=-5.0)
    with pytest.raises(ValueError, match="y is too large to standardize"):
        GaussianProcess1D(np.array([0.0, 1.0]), np.array([1e308, -1e308]), 0.5, 1.0, 1e-6)
    for grid in ((), {}, (24,), "ab"):  # C4
        with pytest.raises(TypeError, match="grid must be a pair"):
            fit_gp([0, 0.5, 1], [1, 0, 1], grid=grid)
    with pytest.raises(TypeError, match="trials must be an iterable of Trial"):  # C12
        SearchResult.from_trials("abc")
    with pytest.raises(TypeError, match="trials must hold Trial objects"):
        SearchResult.from_trials([np.zeros(3)])


def test_optimizer_methods_refuse_bools_and_nonsense():
    opt = BayesianOptimizer(FORRESTER.bounds, seed=0)
    with pytest.raises(TypeError, match=r"lr must be a number.*bool"):
        opt.to_unit(True)
    with pytest.raises(TypeError, match=r"x must be a number.*bool"):
        opt.from_unit(True)
    with pytest.raises(ValueError, match="x must map to a finite positive rate"):
        opt.from_unit(1e300)
    with pytest.raises(TypeError, match="fn must be callable"):
        SerialExecutor().submit(True)
    t = opt.ask()
    with pytest.raises(TypeError, match=r"value must be the objective's outcome.*bool"):
        opt.tell(t, True)
    with pytest.raises(TypeError, match="synchronous must be a bool"):
        opt.run(FORRESTER, 1, executor=SerialExecutor(), synchronous="yes")
    with pytest.raises(TypeError, match="progress must be callable"):
        opt.run(FORRESTER, 1, executor=SerialExecutor(), progress=3)
    with pytest.raises(TypeError, match=r"bounds must be numbers.*bool"):
        BayesianOptimizer((True, 2.0))
    with pytest.raises(TypeError, match="storage must be a path"):
        BayesianOptimizer(FORRESTER.bounds, storage=3)
    with pytest.raises(ValueError, match="lease_seconds must lie in"):
        BayesianOptimizer(FORRESTER.bounds, lease_seconds=0.0)


def test_the_exploration_rule_never_repeats_an_evaluated_rate():
    # Regression: late in a long search σ is small everywhere and argmax σ used to land on an
    # evaluated bound: this search evaluated η = 1e-4 at trials 6 and 86 and η = 1 at trials
    # 9 and 85 (found by the kill/resume measurement, whose log counts evaluations per rate).
    opt = BayesianOptimizer(FORRESTER.bounds, seed=3, grid_size=2001)
    res = opt.run(FORRESTER, 88, executor=SerialExecutor())
    x = np.sort(opt.to_unit(res.lrs))
    assert np.min(np.diff(x)) >= opt.min_distance * (1 - 1e-9)
    assert any(t.rule == "explore" for t in opt.trials)


# -- the contract pass (contract2c): values checked at the door --------------------------


def test_evaluation_refuses_a_value_that_is_not_a_finite_number():
    for bad, exc in ((math.nan, ValueError), (math.inf, ValueError), (True, TypeError),
                     ("0.5", TypeError), (np.ones(2), TypeError)):
        with pytest.raises(exc, match="value"):
            Evaluation(bad)
    assert Evaluation(np.float32(0.5)).value == 0.5  # numpy scalars are numbers
    assert type(Evaluation(np.array(2)).value) is float  # as is a 0-d array, stored as float


def test_an_objective_building_a_bad_evaluation_records_a_failed_trial():
    from lrctl.bayesopt import record_evaluations

    res = record_evaluations(lambda lr: Evaluation(math.nan), [0.1, 0.2])
    assert res.statuses.tolist() == ["failed", "failed"]
    assert all("value must be finite" in e for e in res.errors)


def test_record_evaluations_batch_path_keeps_non_finite_values_as_failures():
    from lrctl.bayesopt import record_evaluations

    class Curve:  # a vectorized objective whose curve has a NaN and an inf
        def evaluate(self, lrs):
            return np.array([1.0, math.nan, math.inf])[: np.size(lrs)]

    res = record_evaluations(Curve(), [0.1, 0.2, 0.3])
    assert res.statuses.tolist() == ["ok", "failed", "failed"]
    with pytest.raises(ValueError, match="lrs must be a 1-D"):
        record_evaluations(Curve(), np.full((2, 2), 0.1))


def test_matern52_refuses_negative_distances_and_caps_huge_ones():
    with pytest.raises(ValueError, match="distance must be >= 0"):
        matern52(-0.1, 0.3)
    # beyond s = √5·d/ℓ = 1e3 the correlation is exactly 0 (it underflows at s ≈ 750)
    assert matern52(1e300, 1e-3) == 0.0


def test_fit_gp_with_a_huge_finite_input_stays_finite():
    x = np.array([0.0, 0.3, 0.7, 1e300])
    gp = fit_gp(x, np.array([1.0, 0.2, 0.4, 0.9]))
    mean, std = gp.predict(np.array([0.5, 1e300]))
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))


def test_snapshot_refuses_a_grid_that_is_not_1d():
    opt = BayesianOptimizer((1e-4, 1.0), seed=0, grid_size=201)
    opt.run(FORRESTER, 4, executor=SerialExecutor())
    with pytest.raises(ValueError, match="lrs must be a non-empty 1-D"):
        opt.snapshot(np.full((2, 2), 0.1))
    with pytest.raises(ValueError, match="lrs must be a non-empty 1-D"):
        opt.snapshot(np.array([]))
    assert opt.snapshot(np.array([1e-3, 0.1])).mean.shape == (2,)


def test_from_trials_refuses_a_mapping():
    with pytest.raises(TypeError, match="trials must be an iterable of Trial"):
        SearchResult.from_trials({})
    assert SearchResult.from_trials([]).n_trials == 0
