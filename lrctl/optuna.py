r"""lrctl's GP-UCB search of the learning rate inside Optuna, and lrctl studies exported to it.

An adapter (it imports Optuna at the top, so only ``import lrctl.optuna`` needs it;
``import lrctl`` never does). Install with ``pip install lrctl[optuna]``.

**The sampler.** :class:`GPUCBSampler` is an ``optuna.samplers.BaseSampler``. The parameter
it searches, a float suggested with ``log=True`` on [η_lo, η_hi] (the learning rate:
``param_name``, or by default the first such parameter a trial suggests), is proposed exactly
as :class:`lrctl.bayesopt.BayesianOptimizer` proposes it: in x = (ln η − ln η_lo)/(ln η_hi −
ln η_lo), the minimizer of LCB(x) = μ(x) − κσ(x) of a Matérn-5/2 GP fitted to the study's
trials, the pending ones entered as in a batch (kriging believer or constant liar), after an
initial stratified design of ``n_initial`` rates (given to trials 0 … n_initial − 1 by
their Optuna number, so concurrent workers get distinct rates). The trials are read from the
study's storage at every suggestion, so it works with any storage (in memory, RDB, journal)
and any number of workers. How each trial enters the GP:

- ``COMPLETE``: its value (negated for a study that maximizes);
- ``RUNNING`` (another worker's, or an earlier trial of this process): pending;
- ``PRUNED``: its last intermediate value (the pruner judged it on that value); a pruned
  trial with no intermediate value is treated like a failed one;
- ``FAIL``: failed, imputed to the worst value observed (as lrctl does);
- ``WAITING``: ignored.

**Several workers.** Optuna stores a parameter only once the sampler has returned it, so a
worker that asks while another one's proposal is being made or written would not see that
rate, and since the rule is deterministic (the same history gives the same GP and the same
minimizer) it would propose the very same one (measured before this registry: 9-11 of 24
rates repeated with ``n_jobs=4`` in memory). Each sampler therefore keeps a registry,
under a lock, of the rates it has proposed and the storage does not show yet (trial id ->
rate), read, proposed and written in one critical section: a later ask of the same instance
(``n_jobs`` threads) enters those trials as pending like any running one, and an entry is
dropped as soon as the storage shows the trial's parameter or the trial finishes. Several
*processes* on one RDB or journal storage each have their own sampler, and the window between
one's read of the storage and its write of the rate remains (a proposal takes tens of
milliseconds): two asks that overlap there see the same history and give the same rate
(measured, 4 processes on one SQLite study, 24 trials: 6-7 repeats with 2 ms evaluations, 2-4
with 200 ms ones). Random jitter would make exact repeats unlikely but not near-repeats, and
it would change the method (the rate would no longer be the LCB minimizer given the history).
``lock_path`` closes the window instead: every process proposes under an exclusive POSIX lock
on that file (one host, or a file system with working ``flock``) and writes the rate as the
trial's system attribute ``"lrctl_gpucb:" + name`` before releasing it; every sampler reads
those attributes of running trials as pending (measured: no repeat in the same runs). Without
``lock_path``, processes on different machines can still repeat a rate when their asks
overlap; lrctl's own drivers (:class:`~lrctl.bayesopt.BayesianOptimizer` on a shared SQLite
study) claim each proposal in a transaction and have no such race.

Every other parameter is delegated to ``independent_sampler`` (default
``optuna.samplers.RandomSampler(seed)``). Pruners work unchanged (they read intermediate
values, not the sampler). Multi-objective studies are refused.

**Export.** :func:`export_to_optuna` writes an lrctl study (a
:class:`~lrctl.bayesopt.BayesianOptimizer`, or a study in an SQLite file) into an Optuna
storage, one ``COMPLETE`` trial per ``ok`` or ``diverged`` trial and one ``FAIL`` per failed
one, so that ``optuna.visualization`` and optuna-dashboard read lrctl's history.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from lrctl._validation import check_int, check_positive, check_scalar
from lrctl.bayesopt import BATCH_STRATEGIES, TRANSFORMS, BayesianOptimizer, Trial

__all__ = ["GPUCBSampler", "export_to_optuna"]


class GPUCBSampler(BaseSampler):
    """lrctl's GP-UCB for the learning rate, any other parameter from another sampler.

    Parameters
    ----------
    seed
        Seed of the initial design (and of the default independent sampler).
    independent_sampler
        The sampler of every parameter other than the learning rate (default
        ``RandomSampler(seed)``).
    param_name
        The parameter to search by GP-UCB; it must be suggested as a float with
        ``log=True``. None: the first log-scale float parameter a trial suggests.
    kappa, n_initial, batch_strategy, transform, grid_size, min_distance, explore_threshold
        As in :class:`lrctl.bayesopt.BayesianOptimizer`.
    lock_path
        A file every process driving the study can lock (POSIX ``flock``): proposals are then
        made one at a time across processes and claimed in the storage before the lock opens,
        so no two trials get the same rate. None: threads of one process never share a rate
        (the sampler's own registry), separate processes may when their asks overlap.

    >>> import optuna
    >>> from lrctl.search import LogScaleTestFunction
    >>> f = LogScaleTestFunction("forrester", (1e-4, 1.0))   # minimum −6.0207
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=GPUCBSampler(seed=0))
    >>> study.optimize(lambda t: f(t.suggest_float("lr", 1e-4, 1.0, log=True)), n_trials=12)
    >>> study.best_value < -5.9
    True
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        independent_sampler: BaseSampler | None = None,
        param_name: str | None = None,
        kappa: float = 1.0,
        n_initial: int = 3,
        batch_strategy: str = "kriging-believer",
        transform: str = "none",
        grid_size: int = 2001,
        min_distance: float = 1e-3,
        explore_threshold: float = 1e-3,
        lock_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if lock_path is not None:
            if not isinstance(lock_path, (str, os.PathLike)) or not os.fspath(lock_path):
                raise TypeError(f"lock_path must be a file path or None, got "
                                f"{lock_path!r:.60}")
            parent = os.path.dirname(os.path.abspath(os.fspath(lock_path)))
            if not os.path.isdir(parent):
                raise ValueError(f"lock_path {os.fspath(lock_path)!r}: no directory {parent!r}")
            try:
                import fcntl  # noqa: F401
            except ImportError:  # pragma: no cover - Windows
                raise ValueError("lock_path needs POSIX file locks (fcntl), which this "
                                 "platform lacks") from None
        self._lock_path = None if lock_path is None else os.fspath(lock_path)
        if seed is not None:
            check_int("seed", seed, minimum=0)
        if independent_sampler is not None and not isinstance(independent_sampler, BaseSampler):
            raise TypeError(f"independent_sampler must be an optuna BaseSampler or None, got "
                            f"{type(independent_sampler).__name__}")
        if param_name is not None and (not isinstance(param_name, str) or not param_name):
            raise TypeError(f"param_name must be a non-empty string or None, got "
                            f"{param_name!r:.60}")
        self._seed = 0 if seed is None else int(seed)
        self._independent = (RandomSampler(seed=seed) if independent_sampler is None
                             else independent_sampler)
        self._param = param_name
        # The settings are checked once by building an optimizer with them.
        self._settings = {"kappa": kappa, "n_initial": n_initial,
                          "batch_strategy": batch_strategy, "transform": transform,
                          "grid_size": grid_size, "min_distance": min_distance,
                          "explore_threshold": explore_threshold}
        if not isinstance(batch_strategy, str) or batch_strategy not in BATCH_STRATEGIES:
            raise ValueError(f"batch_strategy must be one of {BATCH_STRATEGIES}, got "
                             f"{batch_strategy!r:.60}")
        if not isinstance(transform, str) or transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r:.60}")
        BayesianOptimizer((1e-3, 1.0), seed=self._seed, **self._settings)
        self._init_registry()

    def _init_registry(self) -> None:
        # Proposals of this instance that the storage may not show yet:
        # (study id, trial id) -> (trial number, parameter name, rate). Read, proposed and
        # written under one lock, so each ask sees every earlier ask of this instance.
        self._lock = threading.Lock()
        self._proposed: dict[tuple[int, int], tuple[int, str, float]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # A lock does not pickle; a copy (another process) starts with an empty registry.
        state = self.__dict__.copy()
        del state["_lock"], state["_proposed"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_registry()

    # -- BaseSampler ------------------------------------------------------------------------
    def reseed_rng(self) -> None:
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        with self._lock:
            self._proposed.pop((study._study_id, trial._trial_id), None)
        self._independent.after_trial(study, trial, state, values)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if not self._is_target(trial, param_name, param_distribution):
            return self._independent.sample_independent(study, trial, param_name,
                                                        param_distribution)
        if len(study.directions) != 1:
            raise ValueError("GPUCBSampler searches one objective; this study has "
                             f"{len(study.directions)}")
        assert isinstance(param_distribution, FloatDistribution)
        lo, hi = param_distribution.low, param_distribution.high
        opt = BayesianOptimizer((lo, hi), seed=self._seed, **self._settings)
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        states = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED, TrialState.FAIL)
        sid = study._study_id
        attr = _ATTR + param_name
        with self._lock, _file_lock(self._lock_path):
            for t in study.get_trials(deepcopy=False, states=states):
                key = (sid, t._trial_id)
                mine = self._proposed.get(key)
                if mine is not None and (param_name in t.params or t.state.is_finished()
                                         or mine[0] != t.number):
                    del self._proposed[key]  # the storage shows it now (or it is over)
                    mine = None
                if t.number == trial.number:
                    continue
                if param_name in t.params:
                    lr = float(t.params[param_name])
                elif mine is not None and mine[1] == param_name:
                    lr = mine[2]  # proposed here, not yet written: pending all the same
                elif t.state == TrialState.RUNNING and attr in t.system_attrs:
                    lr = float(t.system_attrs[attr])  # claimed by another process (lock_path)
                else:
                    continue
                if not lo <= lr <= hi:  # an earlier search range
                    continue
                opt._trials[t.number] = _as_lrctl_trial(t, lr, sign, opt.transform)
            x, _ = opt._propose(trial.number)
            lr = float(min(max(float(opt.from_unit(x)), lo), hi))
            self._proposed[(sid, trial._trial_id)] = (trial.number, param_name, lr)
            if self._lock_path is not None:  # visible to every process before the lock opens
                study._storage.set_trial_system_attr(trial._trial_id, attr, lr)
        return lr

    def _is_target(self, trial: FrozenTrial, name: str, dist: BaseDistribution) -> bool:
        is_log_float = (isinstance(dist, FloatDistribution) and dist.log and dist.step is None)
        if self._param is not None:
            if name == self._param and not is_log_float:
                raise ValueError(f"GPUCBSampler searches {name!r} on a log scale: suggest it "
                                 f"with suggest_float(..., log=True), got {dist!r}")
            return name == self._param
        if not is_log_float:
            return False
        # the first log-scale float this trial suggests (its other ones go to the
        # independent sampler)
        return not any(isinstance(d, FloatDistribution) and d.log and d.step is None
                       for n, d in trial.distributions.items() if n != name)


_ATTR = "lrctl_gpucb:"  # system attribute of a claimed trial: _ATTR + parameter name -> rate


@contextlib.contextmanager
def _file_lock(path: str | None) -> Iterator[None]:
    """An exclusive POSIX lock on ``path`` for the block (nothing when ``path`` is None)."""
    if path is None:
        yield
        return
    import fcntl

    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _as_lrctl_trial(t: FrozenTrial, lr: float, sign: float, transform: str) -> Trial:
    """An Optuna trial as an lrctl trial (see the module docstring for the states)."""
    if t.state == TrialState.RUNNING:
        return Trial(t.number, lr)
    value: float | None = None
    if t.state == TrialState.COMPLETE and t.value is not None:
        value = sign * float(t.value)
    elif t.state == TrialState.PRUNED and t.intermediate_values:
        value = sign * float(t.intermediate_values[max(t.intermediate_values)])
    if value is None or not math.isfinite(value) or (transform == "log" and value <= 0):
        return Trial(t.number, lr, "failed", None, f"optuna trial {t.state.name}")
    return Trial(t.number, lr, "ok", value)


def export_to_optuna(study_or_storage: BayesianOptimizer | str | os.PathLike[str],
                     optuna_storage: str | optuna.storages.BaseStorage | None,
                     study_name: str, *, lrctl_study: str = "default",
                     param_name: str = "lr") -> optuna.Study:
    """Write an lrctl study into an Optuna storage; returns the new Optuna study.

    ``study_or_storage`` is a :class:`~lrctl.bayesopt.BayesianOptimizer` or the path of an
    lrctl SQLite file (with ``lrctl_study`` naming the study in it; it is opened with the
    settings stored there). Each finished trial becomes an Optuna trial with
    ``params={param_name: lr}`` on ``FloatDistribution(η_lo, η_hi, log=True)``: ``ok`` and
    ``diverged`` ones ``COMPLETE`` with their value, failed ones ``FAIL``; the user attributes
    keep lrctl's trial number, status, rule, error and info. Pending trials are not exported.
    The Optuna study (direction ``minimize``) must not exist yet.

    >>> import optuna
    >>> from lrctl.bayesopt import BayesianOptimizer, SerialExecutor
    >>> opt = BayesianOptimizer((1e-4, 1.0), seed=0)
    >>> res = opt.run(lambda lr: (np.log10(lr) + 2) ** 2, 5, executor=SerialExecutor())
    >>> ostudy = export_to_optuna(opt, None, "exported")
    >>> len(ostudy.trials), ostudy.best_value == res.best_value
    (5, True)
    """
    if not isinstance(lrctl_study, str) or not lrctl_study:
        raise TypeError(f"lrctl_study must be a non-empty string, got {lrctl_study!r:.60}")
    if not (optuna_storage is None or isinstance(optuna_storage, (str, BaseStorage))):
        raise TypeError("optuna_storage must be None (in memory), a database URL or an Optuna "
                        f"storage, got {type(optuna_storage).__name__}")
    if isinstance(study_or_storage, BayesianOptimizer):
        opt, own = study_or_storage, False
    elif isinstance(study_or_storage, (str, os.PathLike)):
        opt, own = _open_lrctl(study_or_storage, lrctl_study), True
    else:
        raise TypeError(f"study_or_storage must be a BayesianOptimizer or the path of an lrctl "
                        f"SQLite file, got {type(study_or_storage).__name__}")
    if not isinstance(study_name, str) or not study_name:
        raise TypeError(f"study_name must be a non-empty string, got {study_name!r:.60}")
    if not isinstance(param_name, str) or not param_name:
        raise TypeError(f"param_name must be a non-empty string, got {param_name!r:.60}")
    try:
        trials = [t for t in opt.trials if t.status != "pending"]
        lo, hi = opt.bounds
        dist = FloatDistribution(lo, hi, log=True)
        out = []
        for t in trials:
            attrs = {"lrctl_number": t.number, "lrctl_status": t.status, "lrctl_rule": t.rule,
                     "lrctl_error": t.error, "lrctl_info": dict(t.info)}
            if t.status == "failed":
                out.append(optuna.trial.create_trial(
                    state=TrialState.FAIL, params={param_name: t.lr},
                    distributions={param_name: dist}, user_attrs=attrs))
            else:
                out.append(optuna.trial.create_trial(
                    state=TrialState.COMPLETE, value=float(t.value),
                    params={param_name: t.lr}, distributions={param_name: dist},
                    user_attrs=attrs))
        try:
            study = optuna.create_study(storage=optuna_storage, study_name=study_name,
                                        direction="minimize")
        except optuna.exceptions.DuplicatedStudyError:
            raise
        except Exception as exc:  # e.g. a URL SQLAlchemy cannot parse or reach
            if not isinstance(optuna_storage, str):
                raise
            raise ValueError(f"optuna_storage {optuna_storage!r:.80} is not a usable database "
                             f"URL ({type(exc).__name__}: {exc})") from exc
        study.set_user_attr("lrctl_config", opt.config())
        study.add_trials(out)
        return study
    finally:
        if own:
            opt.close()


def _open_lrctl(path: str | os.PathLike[str], study: str) -> BayesianOptimizer:
    """An optimizer on a stored lrctl study, with the settings stored in the file."""
    import json
    import sqlite3

    if not os.path.exists(path):
        raise ValueError(f"study_or_storage: no lrctl study file at {str(path)!r}")
    with sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT config FROM studies WHERE name = ?", (study,)).fetchone()
    if row is None:
        raise ValueError(f"{str(path)!r} holds no lrctl study named {study!r}")
    config = json.loads(row[0])
    bounds = config.pop("bounds")
    check_positive("bounds", np.asarray(bounds, dtype=float))
    if not isinstance(config.get("kappa"), str):
        config["kappa"] = check_scalar("kappa", config["kappa"])
    return BayesianOptimizer(tuple(bounds), storage=path, study=study, **config)
