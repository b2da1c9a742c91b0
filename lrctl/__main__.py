"""``python -m lrctl``: the ``lrctl`` command (see :mod:`lrctl.cli`)."""

import sys

from lrctl.cli import main

sys.exit(main())
