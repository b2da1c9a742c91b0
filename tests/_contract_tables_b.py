"""Contract-harness tables for zdomain, continual, cerebellar, derivation, plots, report, jax
and torch (the second contract pass, branch contract2b).

Merged into the harness by tests/test_contract.py: EXAMPLES / SPECIAL / INSTANCES entries
override, VALID / VALID_AT kinds are added. Every VALID_AT entry says why the bad-value kind
is a genuinely valid input for that argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_SIGNED = {"zero", "negative", "arr-neg"}
#: Broadcasting parameters: any grid shape is valid (a shape that does not broadcast with the
#: other arguments must be refused with a named error, which is class (a) anyway).
_GRID = {"empty", "3d", "nonsquare", "longer"}


def _two_rate_paradigm() -> tuple[np.ndarray, np.ndarray]:
    from lrctl.cerebellar import simulate_two_rate

    f = np.concatenate([np.ones(30), -np.ones(6), np.zeros(10)])
    return f, simulate_two_rate(f).output


EXAMPLES: dict[str, Callable[[], Any]] = {}

SPECIAL: dict[str, dict[str, Callable[[], Any]]] = {
    "cerebellar.cerebellar_trajectory": {"steps": lambda: 3},
    "cerebellar.fit_cerebellar_rate": {
        # C_n = 1 − 0.7^n: the rule with C_0 = 0, C_opt = 1, k = 0.3
        "trajectory": lambda: 1.0 - 0.7 ** np.arange(8.0)},
    "cerebellar.fit_two_rate": {"perturbation": lambda: _two_rate_paradigm()[0],
                                "output": lambda: _two_rate_paradigm()[1]},
}

INSTANCES: dict[str, Callable[[], Any]] = {}

VALID: dict[str, set[str]] = {}

VALID_AT: dict[tuple[str, str], set[str]] = {}

# -- cerebellar: C_0 and C_opt are positions (any sign, 0 included); the closed forms
#    broadcast over all of their arguments.
for _fn in ("cerebellar_closed_form", "cerebellar_continuous", "cerebellar_trajectory"):
    for _p in ("c0", "c_opt"):
        VALID_AT[(f"cerebellar.{_fn}", _p)] = _SIGNED | _GRID
    VALID_AT[(f"cerebellar.{_fn}", "k")] = _GRID
VALID_AT[("cerebellar.cerebellar_closed_form", "n")] = {"zero"} | _GRID  # C_0 itself
VALID_AT[("cerebellar.cerebellar_continuous", "t")] = {"zero"} | _GRID  # C(0) = C_0
VALID_AT[("cerebellar.cerebellar_regime", "k")] = _GRID
VALID_AT[("cerebellar.cerebellar_noise_variance", "k")] = _GRID
for _fn in ("cerebellar_noise_variance", "optimal_cerebellar_rate"):
    for _p in ("state_noise", "motor_noise"):  # either noise may be absent (documented limits)
        VALID_AT[(f"cerebellar.{_fn}", _p)] = {"zero"} | _GRID
for _p in ("c0", "c_opt"):
    VALID_AT[("cerebellar.simulate_cerebellar", _p)] = _SIGNED
for _p in ("state_noise", "motor_noise"):
    VALID_AT[("cerebellar.simulate_cerebellar", _p)] = {"zero"}
# a perturbation of any sign, and any number of trials (one more trial is still a paradigm)
for _fn in ("simulate_adaptation", "simulate_two_rate"):
    VALID_AT[(f"cerebellar.{_fn}", "perturbation")] = {"arr-neg", "longer"}
VALID_AT[("cerebellar.fit_cerebellar_rate", "trajectory")] = {"arr-neg", "longer"}
VALID_AT[("cerebellar.fit_cerebellar_rate", "c_opt")] = _SIGNED
VALID_AT[("cerebellar.fit_two_rate", "perturbation")] = {"arr-neg"}
VALID_AT[("cerebellar.fit_two_rate", "output")] = {"arr-neg"}
