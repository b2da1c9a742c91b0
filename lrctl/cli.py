"""The ``lrctl`` command.

``lrctl report [--analyses PATH] [--out DIR] [--jobs N] [--quick] [--timeout S]`` runs analysis
scripts and writes a browsable report. The exit code is 0 when every analysis ran (a claim that
does not hold is a finding, shown with ✗, not a failure), 1 when any analysis failed
(exception, timeout, malformed output), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lrctl", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="run analysis scripts and write figures, numbers, claims")
    r.add_argument("--analyses", default="analyses",
                   help="a folder of analysis scripts, or one script (default: ./analyses)")
    r.add_argument("--out", default="report", help="report folder (default: ./report)")
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="scripts run at once (default: number of cores)")
    r.add_argument("--quick", action="store_true",
                   help="quick variant of every analysis (smaller grids; used by the tests)")
    r.add_argument("--timeout", type=float, default=None,
                   help="seconds after which one analysis is stopped and reported as failed")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "report":
        from lrctl.report import build_report

        try:
            report = build_report(
                args.analyses, args.out, jobs=args.jobs, quick=args.quick, timeout=args.timeout
            )
        except ValueError as exc:
            print(f"lrctl report: error: {exc}", file=sys.stderr)
            return 2
        return 0 if report.ok else 1
    return 2  # pragma: no cover - argparse enforces the sub-command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
