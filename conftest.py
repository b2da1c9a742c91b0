"""Collection rules for the doctests under lrctl/: the torch adapter needs torch (an optional
extra), so without torch its modules are not collected (the tests and docs skip by themselves)."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["lrctl/torch"]
