"""The script API: what one analysis script declares — figures, numbers, claims, checks,
seed-claim verdicts and derivations.

A **claim** is a sentence fixed before the run; the run decides whether it holds by a
comparison that could have come out the other way (simulation vs closed form, measured vs
predicted, lrctl vs an independent library). A claim that does not hold is a *finding*, shown
with ✗ and its evidence; it is not an error. A **check** is an identity or consistency test of
the software (symbolic = numeric, a theorem, a formula at its own limits): shown apart and not
counted as evidence. Neither sentence may depend on the outcome.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrctl.report._constants import (
    ENV_FIGURE_DIR,
    ENV_QUICK,
    ENV_RESULT_FILE,
    PROGRESS_PREFIX,
    STATUS_OK,
    STATUS_SKIPPED,
)
from lrctl.report._seed import SEED_CLAIMS

__all__ = ["Analysis", "Check", "Claim", "analysis_name"]

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

#: The install line of the optional modules lrctl has an extra for (``an.requires``).
EXTRA_FOR_MODULE = {
    "torch": "lrctl[torch]",
    "jax": "lrctl[jax]",
    "optax": "lrctl[jax]",
    "optuna": "lrctl[optuna]",
    "dask": "lrctl[dask]",
    "distributed": "lrctl[dask]",
}


def analysis_name(path: str | os.PathLike[str]) -> str:
    """The analysis name of a script: its file stem with ``_`` written as ``-``.

    >>> analysis_name("analyses/pi_controller.py")
    'pi-controller'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (a script path), got "
                        f"{type(path).__name__}: {path!r:.80}")
    return Path(path).stem.replace("_", "-")


def _check_text(what: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}: {value!r:.80}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _check_bool(what: str, value: Any) -> bool:
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(
        f"{what} must be a Python or numpy bool (the outcome of a comparison), "
        f"got {type(value).__name__}: {value!r:.80}"
    )


def _json_value(name: str, value: Any) -> Any:
    """A JSON-safe copy of a number or a 1-D list of numbers; NaN and 2-D arrays are refused."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            raise ValueError(f"number {name!r}: value is NaN; a report number must be a real value")
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value, dtype=object)
        if arr.ndim > 1:
            raise ValueError(
                f"number {name!r}: value has shape {arr.shape}; a report number is a scalar or "
                "a 1-D list (record a 2-D result as a figure or as several numbers)"
            )
        return [_json_value(name, v) for v in arr.tolist()]
    raise TypeError(
        f"number {name!r}: value must be a bool, int, float, str or a 1-D list of those, "
        f"got {type(value).__name__}"
    )


@dataclass(frozen=True)
class Claim:
    """A recorded claim: its anchor ``key``, the fixed ``text``, the verdict and the evidence.

    Truthy when it holds, so ``if an.claim(...):`` reads naturally.
    """

    key: str
    text: str
    holds: bool
    evidence: str = ""

    def __bool__(self) -> bool:
        return self.holds

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "text": self.text, "holds": self.holds, "evidence": self.evidence}


@dataclass(frozen=True)
class Check(Claim):
    """A recorded check: an identity or consistency test of the software, not evidence."""


class Analysis:
    """What one analysis script produced: figures, numbers, claims, checks and derivations.

    Parameters
    ----------
    script
        The script's path (pass ``__file__``); its stem names the analysis.
    title
        A one-line title for the report section.
    summary
        Optional paragraph shown under the title.

    Use it as a context manager: on exit the result is written, also when the script raised
    (then the engine reports the analysis as failed with the traceback).
    """

    def __init__(self, script: str | os.PathLike[str], title: str, summary: str = "") -> None:
        if not isinstance(script, (str, os.PathLike)):
            raise TypeError(f"script must be a path (pass __file__), got {type(script).__name__}")
        self.title = _check_text("title", title)
        self.summary = _check_text("summary", summary, allow_empty=True)
        self.name = analysis_name(script)
        self._standalone = ENV_RESULT_FILE not in os.environ
        default_dir = Path.cwd() / "lrctl-out" / self.name
        self.figure_dir = Path(os.environ.get(ENV_FIGURE_DIR, default_dir))
        self.result_file = Path(os.environ.get(ENV_RESULT_FILE, default_dir / "result.json"))
        self.figures: list[dict[str, str]] = []
        self.numbers: dict[str, Any] = {}
        self.number_details: dict[str, dict[str, str]] = {}
        self.claims: list[Claim] = []
        self.checks: list[Check] = []
        self.seed_claims: list[dict[str, Any]] = []
        self.derivations: list[dict[str, Any]] = []
        self.skip_reason = ""
        self._t0 = time.perf_counter()

    # -- switches -------------------------------------------------------------------------
    @property
    def quick(self) -> bool:
        """True when the report runs in ``--quick`` mode (CI): use smaller grids and fewer steps."""
        return os.environ.get(ENV_QUICK, "") not in ("", "0")

    # -- requirements ---------------------------------------------------------------------
    def requires(self, *modules: str, install: str | None = None) -> None:
        """Declare the optional modules this analysis needs, before any work.

        Each module is imported; when one is missing (``ImportError``), the analysis is
        recorded as *skipped* with the reason ``"needs torch: pip install 'lrctl[torch]'"``
        (the install line of lrctl's extra for torch, jax/optax, optuna, dask; for another
        module ``install`` names it, e.g. ``install="pip install scikit-image"``) and the
        script exits with status 0: the report shows it as skipped, not failed. When every
        module imports, this returns and the script goes on.

        Call it before recording anything, and before the script imports the module
        (a module-level ``import torch`` above it would fail first)::

            from lrctl.report import Analysis

            Analysis(__file__, title="The range test on PyTorch").requires("torch")

            import torch  # noqa: E402

        >>> Analysis("demo.py", title="Demo").requires("math")  # present: returns
        """
        import importlib

        if not modules:
            raise ValueError("requires needs at least one module name, e.g. requires('torch')")
        for m in modules:
            if not isinstance(m, str) or not _MODULE.fullmatch(m):
                raise ValueError(f"requires: module must be a dotted module name such as "
                                 f"'torch', got {m!r:.80}")
        if install is not None:
            _check_text("install", install)
        if (self.figures or self.numbers or self.claims or self.checks or self.seed_claims
                or self.derivations):
            raise ValueError(f"analysis {self.name!r}: call requires(...) before recording "
                             "anything (a skipped analysis records nothing)")
        for m in modules:
            try:
                importlib.import_module(m)
            except ImportError as exc:
                top = m.split(".")[0]
                hint = install or (f"pip install '{EXTRA_FOR_MODULE[top]}'"
                                   if top in EXTRA_FOR_MODULE else None)
                self.skip_reason = f"needs {m}: {hint}" if hint else (
                    f"needs {m}, which is not installed ({exc})")
                self.save()
                if self._standalone:
                    print(f"{self.name}: {self.title}\n  skipped: {self.skip_reason}",
                          file=sys.stdout)
                raise SystemExit(0) from None

    # -- declarations ---------------------------------------------------------------------
    def figure(self, fig: Any, key: str, caption: str = "", *, dpi: int = 110) -> Path:
        """Save a matplotlib Figure as ``<name>-<key>.png`` and ``.svg``, then close it.

        ``key`` is letters, digits, ``.``, ``_`` and ``-`` (at most 80, starting with a letter
        or digit), unique within the analysis.
        """
        import numpy as np

        from lrctl.plots import is_figure, save_figure

        if not is_figure(fig):
            raise TypeError(
                f"fig must be a matplotlib Figure (for an Axes pass ax.figure), "
                f"got {type(fig).__name__}"
            )
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(
                "figure key must be 1-80 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, got {key!r}"
            )
        _check_text("caption", caption, allow_empty=True)
        if isinstance(dpi, (bool, np.bool_)) or not isinstance(dpi, numbers.Integral):
            raise TypeError(f"dpi must be an int (dots per inch), got {dpi!r:.40}")
        if not 10 <= dpi <= 1200:
            raise ValueError(f"dpi must lie in [10, 1200] (dots per inch), got {dpi!r}")
        if any(f["key"] == key for f in self.figures):
            raise ValueError(f"figure key {key!r} is used twice in analysis {self.name!r}")
        self.figure_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{self.name}-{key}"
        png = self.figure_dir / f"{stem}.png"
        # byte-identical files for identical runs (lrctl.plots.save_figure)
        save_figure(fig, png, self.figure_dir / f"{stem}.svg", dpi=dpi)
        self.figures.append({"key": key, "png": png.name, "svg": f"{stem}.svg", "caption": caption})
        return png

    def number(self, key: str, value: Any, *, unit: str = "", description: str = "") -> Any:
        """Record a named number (or a 1-D list of numbers); NaN and 2-D arrays are refused.

        Returns the value as recorded (JSON-safe: a Python number, ``"inf"``/``"-inf"`` for an
        infinity, a list for an array).

        Timings do not belong here (they would make two runs differ); the engine records the
        wall time of each analysis in the provenance.
        """
        _check_text("number key", key)
        _check_text("unit", unit, allow_empty=True)
        _check_text("description", description, allow_empty=True)
        if key in self.numbers:
            raise ValueError(f"number {key!r} is recorded twice in analysis {self.name!r}")
        recorded = _json_value(key, value)
        self.numbers[key] = recorded
        self.number_details[key] = {"unit": unit, "description": description}
        return recorded

    def claim(self, text: str, holds: Any, evidence: str = "") -> Claim:
        """Record a claim: a sentence fixed before the run and whether the run bore it out.

        ``holds`` must be a Python or numpy bool, the outcome of a comparison that could have
        come out the other way; ``evidence`` gives the measured numbers in words. The text
        must not depend on the outcome.
        """
        _check_text("claim text", text)
        ok = _check_bool(f"claim {text!r:.60}: holds", holds)
        _check_text("evidence", evidence, allow_empty=True)
        if any(c.text == text for c in self.claims):
            raise ValueError(f"claim text {text!r:.80} is recorded twice in {self.name!r}")
        c = Claim(f"{self.name}--claim-{len(self.claims) + 1}", text, ok, evidence)
        self.claims.append(c)
        return c

    def check(self, text: str, holds: Any, evidence: str = "") -> Check:
        """Record a check: an identity or a consistency test of the software (symbolic =
        numeric, a theorem, a formula at its own limits). Shown apart; not evidence."""
        _check_text("check text", text)
        ok = _check_bool(f"check {text!r:.60}: holds", holds)
        _check_text("evidence", evidence, allow_empty=True)
        if any(c.text == text for c in self.checks):
            raise ValueError(f"check text {text!r:.80} is recorded twice in {self.name!r}")
        c = Check(f"{self.name}--check-{len(self.checks) + 1}", text, ok, evidence)
        self.checks.append(c)
        return c

    def seed_claim(self, id: str, claims: Any, condition: Claim | None = None) -> None:
        """Declare which of this analysis's claims decide the seed claim ``id``.

        The engine draws the verdict (:func:`lrctl.report._seed.seed_verdict`): all hold ->
        holds, none -> fails, some -> partly when ``condition`` (a claim saying under which
        condition the statement holds) holds itself, fails otherwise. A seed claim decided by
        more than one claim must name its condition, fixed before the run.
        """
        if not isinstance(id, str):
            raise TypeError(f"id must be a seed claim id (a str), got {type(id).__name__} "
                            f"{id!r:.60}; the ids are {sorted(SEED_CLAIMS)}")
        if id not in SEED_CLAIMS:
            raise ValueError(f"unknown seed claim id {id!r}; the ids are {sorted(SEED_CLAIMS)}")
        if any(s["id"] == id for s in self.seed_claims):
            raise ValueError(f"seed claim {id!r} is declared twice in {self.name!r}")
        if isinstance(claims, Claim):
            claims = [claims]
        if isinstance(claims, (str, bytes, dict)) or not isinstance(claims, Iterable):
            raise TypeError(f"claims must be a Claim or a list of claims recorded by "
                            f"an.claim(...), got {type(claims).__name__} {claims!r:.60}")
        claims = list(claims)
        if not claims:
            raise ValueError(f"claims of seed claim {id!r} must hold at least one deciding "
                             "claim")
        for c in [*claims, *([condition] if condition is not None else [])]:
            if type(c) is not Claim or c not in self.claims:
                raise TypeError(
                    f"seed claim {id!r}: deciding claims and the condition must be claims "
                    f"recorded by this analysis's an.claim(...) (not checks), got {c!r:.80}"
                )
        if len(claims) > 1 and condition is None:
            raise ValueError(
                f"seed claim {id!r} is decided by {len(claims)} claims: name the condition "
                "under which it holds (a claim) with condition=..."
            )
        self.seed_claims.append({
            "id": id,
            "claims": [c.key for c in claims],
            "condition": condition.key if condition is not None else None,
        })

    def derivation(self, deriv: Any) -> None:
        """Record a :class:`lrctl.derivation.Derivation`, rendered as MathML in the report."""
        from lrctl.derivation import Derivation

        if not isinstance(deriv, Derivation):
            raise TypeError(f"derivation must be a lrctl Derivation, got {type(deriv).__name__}")
        self.derivations.append(deriv.to_dict())

    def progress(self, message: str) -> None:
        """Show a progress line on the terminal (also while the engine runs the script)."""
        _check_text("message", message, allow_empty=True)
        print(PROGRESS_PREFIX + message, file=sys.stderr, flush=True)

    # -- output ---------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "status": STATUS_SKIPPED if self.skip_reason else STATUS_OK,
            "skip_reason": self.skip_reason,
            "figures": list(self.figures),
            "numbers": dict(self.numbers),
            "number_details": dict(self.number_details),
            "claims": [c.as_dict() for c in self.claims],
            "checks": [c.as_dict() for c in self.checks],
            "seed_claims": list(self.seed_claims),
            "derivations": list(self.derivations),
            "seconds": round(time.perf_counter() - self._t0, 3),
        }

    def save(self) -> Path:
        self.result_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.result_file.with_suffix(".json.part")
        tmp.write_text(json.dumps(self.as_dict(), indent=1, allow_nan=False))
        tmp.replace(self.result_file)
        return self.result_file

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.skip_reason:
            return  # requires() saved the skipped result and is exiting the script
        self.save()
        if self._standalone:
            out = sys.stdout
            print(f"{self.name}: {self.title}", file=out)
            for c in self.claims:
                print(f"  [{'holds' if c.holds else 'DOES NOT HOLD'}] {c.text}", file=out)
                if c.evidence:
                    print(f"      {c.evidence}", file=out)
            for c in self.checks:
                print(f"  [check {'ok' if c.holds else 'FAILED'}] {c.text}", file=out)
            for k, v in self.numbers.items():
                print(f"  {k} = {v}", file=out)
            print(f"  figures in {self.figure_dir}", file=out)
