"""lrctl's Bayesian optimization on a Dask ``distributed.LocalCluster`` (issue 14).

"Identical trial sequence": the same trial numbers, rates, values, statuses and rules, in
order. It holds in batch-synchronous mode (``synchronous=True``, any ``batch_size``: every
batch is proposed from the same finished trials whatever the executor) and in the default
asynchronous mode with one evaluation in flight (``batch_size=1``). With several evaluations
in flight asynchronously the sequence depends on the order they finish, on any executor.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from lrctl.bayesopt import BayesianOptimizer, SerialExecutor  # noqa: E402
from lrctl.search import LogScaleTestFunction  # noqa: E402

FORRESTER = LogScaleTestFunction("forrester", (1e-4, 1.0))


@pytest.fixture(scope="module")
def threads_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def processes_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _same(a, b):
    np.testing.assert_array_equal(a.numbers, b.numbers)
    np.testing.assert_array_equal(a.lrs, b.lrs)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.statuses, b.statuses)


@pytest.mark.parametrize(("batch_size", "synchronous"), [(2, True), (1, False)])
def test_dask_search_is_the_serial_search(threads_client, batch_size, synchronous):
    ser = BayesianOptimizer(FORRESTER.bounds, seed=4)
    ref = ser.run(FORRESTER, 10, batch_size=batch_size, synchronous=synchronous,
                  executor=SerialExecutor())
    opt = BayesianOptimizer(FORRESTER.bounds, seed=4)
    res = opt.run(FORRESTER, 10, batch_size=batch_size, synchronous=synchronous,
                  executor=threads_client.get_executor(pure=False))
    _same(res, ref)
    assert [t.rule for t in opt.trials] == [t.rule for t in ser.trials]


def test_dask_processes_take_lambdas_and_closures_and_a_study(processes_client, tmp_path):
    scale = 2.0

    def closure(lr):  # a closure over a local: cloudpickle sends it to the worker processes
        return scale * FORRESTER(lr)

    db = tmp_path / "d.sqlite"
    with BayesianOptimizer(FORRESTER.bounds, seed=1, storage=db) as opt:
        res = opt.run(closure, 6, batch_size=2, synchronous=True,
                      executor=processes_client.get_executor(pure=False))
        res = opt.run(lambda lr: scale * FORRESTER(lr), 2, batch_size=2, synchronous=True,
                      executor=processes_client.get_executor(pure=False))
    ref = BayesianOptimizer(FORRESTER.bounds, seed=1).run(
        lambda lr: scale * FORRESTER(lr), 8, batch_size=2, synchronous=True,
        executor=SerialExecutor())
    _same(res, ref)
    with BayesianOptimizer(FORRESTER.bounds, seed=1, storage=db) as again:
        assert again.result().n_trials == 8


def test_worker_death_mid_evaluation_is_retried_or_recorded(processes_client, tmp_path):
    marker = tmp_path / "killed-once"

    def objective(lr):
        if not marker.exists():  # the first evaluation kills the worker process running it
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return FORRESTER(lr)

    db = tmp_path / "w.sqlite"
    with BayesianOptimizer(FORRESTER.bounds, seed=2, storage=db) as opt:
        try:
            opt.run(objective, 5, batch_size=2, executor=processes_client.get_executor(
                pure=False))
        except RuntimeError as exc:  # recorded as failed: the executor gave up on it
            assert "executor failed" in str(exc)
        trials = opt.refresh()
    assert marker.exists()
    assert trials.n_trials == 5 and trials.numbers.tolist() == list(range(5))
    assert all(t.status != "pending" for t in opt.trials)  # never lost
    # Dask reschedules a task whose worker died (the nanny restarts the worker): retried
    failed = [e for e in trials.errors if e]
    assert all("executor failed" in e for e in failed)
