"""Package-level promises: a light import, lazy submodules, the console script."""

import subprocess
import sys

import pytest

import lrctl


def test_import_is_light():
    code = (
        "import sys, lrctl; heavy = [m for m in ('sympy', 'scipy', 'matplotlib', 'control', 'sklearn')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_submodules():
    assert lrctl.quadratic.gd_stability_bound(2.0) == 1.0
    assert "quadratic" in dir(lrctl)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lrctl.nope  # noqa: B018


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "lrctl.cli", "report", "--help"],
                         capture_output=True, text=True, check=True)
    assert "--analyses" in out.stdout and "--quick" in out.stdout
