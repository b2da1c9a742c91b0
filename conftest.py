"""Collection rules for the doctests under lrctl/: the torch and JAX adapters need their
frameworks (optional extras), so without them their modules are not collected (the tests and docs skip by themselves)."""

import importlib.util


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


collect_ignore = [
    *([] if _have("torch") else ["lrctl/torch"]),
    *([] if _have("jax") and _have("optax") else ["lrctl/jax.py"]),
    *([] if _have("optuna") else ["lrctl/optuna.py"]),
]
