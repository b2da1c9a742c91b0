"""Several drivers on one SQLite study, with SIGKILLs (issues 11 item 4 and 14).

Each driver is a separate process running ``BayesianOptimizer.run`` on the same study with a
thread pool (so outcomes are committed by the worker). The objective appends ``start PID LR``
and ``end PID LR`` lines to a log (one ``os.write`` on an ``O_APPEND`` file each, atomic for
lines this short) before and after it computes, so the test can count every evaluation that
ran, independently of the database. Checked: trial numbers are unique and contiguous, every
trial is finished at the end (none lost), no trial was evaluated twice except one whose first
evaluation was cut short by the SIGKILL of its driver, and every evaluation that finished in a
driver that was not killed is in the study with its value.
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from lrctl.bayesopt import BayesianOptimizer, SerialExecutor
from lrctl.search import LogScaleTestFunction

FORRESTER = LogScaleTestFunction("forrester", (1e-4, 1.0))

_DRIVER = textwrap.dedent("""
    import os, sys, time
    from concurrent.futures import ThreadPoolExecutor
    from lrctl.bayesopt import BayesianOptimizer
    from lrctl.search import LogScaleTestFunction

    f = LogScaleTestFunction("forrester", (1e-4, 1.0))

    def objective(lr):
        # in the driver (threads) or in a pool worker, which imports this file as a module:
        # the log and the driver's pid come through the environment
        fd = os.open(os.environ["LRCTL_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        driver = os.environ["LRCTL_DRIVER"]
        try:
            os.write(fd, f"start {driver} {lr!r}\\n".encode())
            time.sleep(0.05 + 0.15 * f._x(lr))
            value = f(lr)
            os.write(fd, f"end {driver} {lr!r}\\n".encode())
        finally:
            os.close(fd)
        return value

    if __name__ == "__main__":
        db, log, n, pool = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
        os.environ["LRCTL_LOG"], os.environ["LRCTL_DRIVER"] = log, str(os.getpid())
        opt = BayesianOptimizer(f.bounds, seed=5, storage=db, study="shared",
                                lease_seconds=1.0)
        if pool == "threads":
            with ThreadPoolExecutor(2) as ex:
                opt.run(objective, n, batch_size=2, executor=ex)
        else:  # the default process pool
            opt.run(objective, n, batch_size=2)
        opt.close()
        print("done")
""")



def _start(tmp_path, n, pool="processes"):
    script = tmp_path / "driver.py"
    if not script.exists():
        script.write_text(_DRIVER)
    # output to files, not pipes: a stray grandchild holding a pipe would block the read
    out = open(tmp_path / f"driver-{time.monotonic_ns()}.err", "w+b")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "s.sqlite"),
                             str(tmp_path / "calls.log"), str(n), pool],
                            stdout=subprocess.DEVNULL, stderr=out)
    proc.err = out
    return proc


def _stderr(proc):
    proc.err.seek(0)
    return proc.err.read().decode(errors="replace")


def _rows(db):
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT number, lr, status, value FROM trials WHERE study = "
                            "'shared' ORDER BY number").fetchall()


def _n_finished(db):
    try:
        return sum(r[2] != "pending" for r in _rows(db))
    except sqlite3.OperationalError:
        return 0


def _n_started(tmp_path, pid):
    try:
        return sum(e[0] == "start" and e[1] == pid for e in _log(tmp_path))
    except (FileNotFoundError, ValueError):  # no log yet, or a line being written
        return 0


def _log(tmp_path):
    events = []
    for line in (tmp_path / "calls.log").read_text().splitlines():
        kind, pid, lr = line.split()
        events.append((kind, int(pid), float(lr)))
    return events


def _check(tmp_path, killed: set[int], expected_total: int):
    """The invariants; returns (lost, repeated, cut_short) counts."""
    rows = _rows(tmp_path / "s.sqlite")
    numbers = [r[0] for r in rows]
    assert numbers == list(range(len(rows))), "trial numbers are unique and contiguous"
    assert len(rows) == expected_total
    assert all(r[2] != "pending" for r in rows), "nothing left pending"
    assert all(r[2] == "ok" for r in rows)
    events = _log(tmp_path)
    starts = collections.defaultdict(list)
    ends = collections.defaultdict(list)
    for kind, pid, lr in events:
        (starts if kind == "start" else ends)[lr].append(pid)
    by_lr = {r[1]: r for r in rows}
    assert set(starts) == set(by_lr), "every trial was evaluated, and only trials"
    repeated = cut_short = lost = 0
    for lr, pids in starts.items():
        # every start but the last was in a driver that was then killed
        for pid in pids[:-1]:
            assert pid in killed, f"lr {lr} evaluated twice without a kill ({pids})"
        cut_short += len(pids) - 1
        done = ends.get(lr, [])
        repeated += max(0, len(done) - 1)  # finished twice: a kill between end and commit
        for pid in done:
            if pid not in killed:  # finished in a live driver: recorded with its value
                assert by_lr[lr][3] == pytest.approx(FORRESTER(lr), rel=0, abs=0)
    lost = sum(1 for lr in by_lr if not ends.get(lr))
    assert lost == 0, "every recorded trial was really evaluated to the end"
    return lost, repeated, cut_short


def _wait_all(procs, timeout=30):
    deadline = time.time() + timeout
    for p in procs:
        p.wait(timeout=max(0.1, deadline - time.time()))


def test_three_drivers_share_one_study(tmp_path):
    procs = [_start(tmp_path, 6, pool) for pool in ("threads", "processes", "threads")]
    try:
        _wait_all(procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p in procs:
        assert p.returncode == 0, _stderr(p)
    lost, repeated, cut = _check(tmp_path, set(), 18)
    assert (lost, repeated, cut) == (0, 0, 0)
    # the shared study is one search: every proposal after the initial design was
    # conditioned on the trials of all drivers (no two rates closer than min_distance)
    with BayesianOptimizer(FORRESTER.bounds, seed=5, storage=tmp_path / "s.sqlite",
                           study="shared") as opt:
        x = sorted(float(opt.to_unit(t.lr)) for t in opt.trials)
        assert min(b - a for a, b in itertools.pairwise(x)) >= opt.min_distance * (1 - 1e-9)


@pytest.mark.parametrize("n_drivers", [2, 4])
def test_killed_drivers_lose_and_repeat_nothing(tmp_path, n_drivers):
    db = tmp_path / "s.sqlite"
    procs = [_start(tmp_path, 8) for _ in range(n_drivers)]
    killed: set[int] = set()
    try:
        # kill one driver once it has started 3 evaluations and 4 trials are finished,
        # another one (with 4 drivers) at 3 starts and 9 trials
        for victim, after in ((procs[0], 4), (procs[1], 9))[: n_drivers // 2]:
            deadline = time.time() + 15
            while time.time() < deadline and (_n_finished(db) < after
                                               or _n_started(tmp_path, victim.pid) < 3):
                time.sleep(0.02)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)  # reaped: its pid is gone, its trials reclaimable now
            killed.add(victim.pid)
        # a replacement driver takes over whatever the dead left pending
        procs.append(_start(tmp_path, 3))
        _wait_all([p for p in procs if p.pid not in killed])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p in procs:
        if p.pid not in killed:
            assert p.returncode == 0, _stderr(p)
    # finish the study here: the dead drivers' last pending trials, if any, come first
    pending = [r for r in _rows(db) if r[2] == "pending"]
    fd = os.open(tmp_path / "calls.log", os.O_WRONLY | os.O_APPEND)

    def objective(lr):
        os.write(fd, f"start {os.getpid()} {lr!r}\n".encode())
        value = FORRESTER(lr)
        os.write(fd, f"end {os.getpid()} {lr!r}\n".encode())
        return value

    if pending:
        with BayesianOptimizer(FORRESTER.bounds, seed=5, storage=db, study="shared") as opt:
            res = opt.run(objective, len(pending), executor=SerialExecutor())
        assert {r[0] for r in pending} <= set(res.numbers.tolist())
    os.close(fd)
    total = len(_rows(db))
    lost, repeated, cut = _check(tmp_path, killed, total)
    print(f"drivers {n_drivers}, kills {len(killed)}, trials {total}: lost {lost}, finished "
          f"evaluations repeated {repeated}, evaluations cut short by a kill and re-run {cut}")
    assert lost == 0 and repeated == 0
    # the evaluations cut short by the kills were re-run, never more than the pending
    # trials a killed driver had (2 threads each)
    assert cut <= 2 * len(killed)


def test_a_lease_expires_without_heartbeat_and_the_first_outcome_stays(tmp_path):
    # Two drivers in one process (distinct owners): a driver whose heartbeat stopped (a frozen
    # process, a machine that vanished) keeps its pending trial until the lease expires, then
    # the other driver takes it over; whoever records first wins, the late one gets that
    # outcome back instead of an error.
    db = tmp_path / "l.sqlite"
    a = BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db, lease_seconds=0.6)
    b = BayesianOptimizer(FORRESTER.bounds, seed=0, storage=db, lease_seconds=0.6)
    ta = a.ask()
    tb = b.ask()
    assert tb.number == 1  # a's trial 0 is leased: b proposes a new one
    time.sleep(0.8)
    assert b.ask().number == 2  # a's heartbeat renews its lease
    b.tell(2, FORRESTER(b.trials[2].lr))
    a._storage._stop.set()  # a's heartbeat stops; its lease runs out
    a._storage._beat.join()
    time.sleep(0.8)
    taken = b.ask()
    assert (taken.number, taken.lr) == (ta.number, ta.lr)  # taken over, same rate
    first = b.tell(taken, 1.5)
    late = a.tell(ta, FORRESTER(ta.lr))
    assert first.value == late.value == 1.5  # the first outcome stays
    b.tell(tb, FORRESTER(tb.lr))
    a.close()
    b.close()
    rows = _rows_of(db)
    assert [r[0] for r in rows] == [0, 1, 2] and all(r[2] == "ok" for r in rows)


def _rows_of(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT number, lr, status FROM trials ORDER BY number").fetchall()
