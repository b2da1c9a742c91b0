"""lrctl: the learning rate as a control signal.

Training is treated as a plant, the learning rate as its control input. The toolkit derives
bounds on the local quadratic model (symbolically with sympy, numerically with vectorized
numpy), checks learning-rate controllers in the z-domain, and turns analysis scripts into a
browsable report (``lrctl report``).

``import lrctl`` loads numpy only; each topic module is imported on first use, so
``lrctl.quadratic`` and ``from lrctl import zdomain`` both work without paying for sympy,
scipy, python-control or matplotlib up front.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBMODULES = frozenset(
    {
        "adaptive",
        "bayesopt",
        "cerebellar",
        "continual",
        "curvature",
        "derivation",
        "diffusion",
        "federated",
        "games",
        "jax",
        "objectives",
        "optuna",
        "plots",
        "quadratic",
        "rangetest",
        "report",
        "schedules",
        "search",
        "torch",
        "training",
        "zdomain",
    }
)

if TYPE_CHECKING:  # pragma: no cover
    from lrctl import derivation, objectives, quadratic, report  # noqa: F401


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"lrctl.{name}")
    raise AttributeError(f"module 'lrctl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
