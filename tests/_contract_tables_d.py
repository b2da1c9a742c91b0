"""Contract-harness tables for lrctl.optuna (the Optuna adapter).

Merged into the harness by tests/test_contract.py like the other ``_contract_tables_*``
modules. Every VALID_AT entry says why the bad-value kind is a genuinely valid input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EXAMPLES: dict[str, Callable[[], Any]] = {}
SPECIAL: dict[str, dict[str, Callable[[], Any]]] = {}
INSTANCES: dict[str, Callable[[], Any]] = {}
VALID: dict[str, set[str]] = {}
VALID_AT: dict[tuple[str, str], set[str]] = {}

#: The sampler protocol methods are called by Optuna itself, with Optuna's own study, trial
#: and distribution objects (never by a user); tests/test_optuna.py drives them through real
#: studies (in-memory, SQLite, threads, processes, a pruner, a second parameter).
DO_NOT_CALL = frozenset({
    "optuna.GPUCBSampler.infer_relative_search_space",
    "optuna.GPUCBSampler.sample_relative",
    "optuna.GPUCBSampler.sample_independent",
    "optuna.GPUCBSampler.before_trial",
    "optuna.GPUCBSampler.after_trial",
})


def _lrctl_search():
    from lrctl.bayesopt import BayesianOptimizer, SerialExecutor
    from lrctl.search import LogScaleTestFunction

    opt = BayesianOptimizer((1e-4, 1.0), seed=0)
    opt.run(LogScaleTestFunction("forrester", (1e-4, 1.0)), 4, executor=SerialExecutor())
    return opt


_names = iter(range(10**9))

SPECIAL["optuna.export_to_optuna"] = {
    "study_or_storage": _lrctl_search,
    "optuna_storage": lambda: None,  # in memory
    # a new name per call: the Optuna study must not exist yet
    "study_name": lambda: f"lrctl-{next(_names)}",
}

VALID_AT.update({
    # any non-empty text names a parameter or a study
    ("optuna.GPUCBSampler", "param_name"): {"str"},
    ("optuna.export_to_optuna", "study_name"): {"str"},
    ("optuna.export_to_optuna", "lrctl_study"): {"str"},
    ("optuna.export_to_optuna", "param_name"): {"str"},
    # κ = 0 is pure exploitation of the posterior mean; a zero distance or threshold turns
    # that rule off (documented in lrctl.bayesopt.BayesianOptimizer)
    ("optuna.GPUCBSampler", "kappa"): {"zero"},
    ("optuna.GPUCBSampler", "min_distance"): {"zero"},
    ("optuna.GPUCBSampler", "explore_threshold"): {"zero"},
    # a relative file name in an existing folder (the harness's scratch folder) is a lock path
    ("optuna.GPUCBSampler", "lock_path"): {"str"},
})
