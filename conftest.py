"""Collection rules for the doctests under lrctl/: the torch adapter needs torch (an optional
extra), so without torch its modules are not collected (the tests and docs skip by themselves)."""

import importlib.util


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


collect_ignore = [] if _have("torch") else ["lrctl/torch"]
