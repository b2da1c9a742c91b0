"""The ``lrctl`` command.

``lrctl report`` runs analysis scripts and writes a browsable, offline report of their
figures, numbers, claims (with verdicts), checks and derivations, with the seed's claims
table at the top.

Exit codes: 0 every analysis ran or was skipped for a missing optional module (a claim that
does not hold is a finding, shown with ✗, not a failure); 1 an analysis failed (exception,
timeout, malformed result); 2 bad arguments (or an ``--out`` folder lrctl refuses to replace,
or ``--dask`` without dask installed or without a reachable scheduler); 130 interrupted with
Ctrl-C; 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

_EPILOG = """exit codes:
  0    every analysis ran or was skipped (needs an optional module); claims that do
       not hold are findings, not failures
  1    at least one analysis failed (exception, timeout, malformed result)
  2    bad arguments, an --out folder lrctl refuses to replace, or --dask without
       dask installed or without a reachable scheduler
  130  interrupted (Ctrl-C); the previous report is left as it was
  143  stopped by SIGTERM; the previous report is left as it was
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    from lrctl.report._constants import DEFAULT_TIMEOUT

    p = argparse.ArgumentParser(
        prog="lrctl",
        description=textwrap.fill(
            "lrctl: the learning rate as a control signal. Derivations, stability checks and "
            "reports for training treated as a plant. Run `lrctl report --help` for the "
            "report's options.", 78),
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"lrctl {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser(
        "report", help="run analysis scripts and write an offline HTML report",
        description=textwrap.fill(
            "Run every analysis script (each in its own process group, several at once) and "
            "write DIR/index.html (offline), DIR/report.json and the figures. The page opens "
            "with the provenance and the seed's claims with their verdicts, then one section "
            "per analysis in the seed's order. An --out folder is replaced only if it is "
            "empty or an lrctl report; an interrupted run leaves the previous report in place.",
            78),
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--analyses", default="analyses", metavar="PATH",
                   help="a folder of analysis scripts, or one script (default: ./analyses)")
    r.add_argument("--out", default="report", metavar="DIR",
                   help="report folder (default: ./report)")
    r.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="scripts run at once (default: the number of cores)")
    r.add_argument("--quick", action="store_true",
                   help="the quick variant of every analysis: smaller grids, same claims; a "
                        "first look in a fraction of the time")
    r.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run each analysis on the Dask cluster whose scheduler is at ADDRESS "
                        "(e.g. tcp://10.0.0.5:8786), still in its own process on the worker; "
                        "--jobs is then the cluster's (needs pip install 'lrctl[dask]')")
    r.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds after which one analysis (its whole process group) is "
                        f"stopped and reported as failed (default: {DEFAULT_TIMEOUT:g}; "
                        "0: no timeout)")
    return p


def _version() -> str:
    import lrctl

    return getattr(lrctl, "__version__", "unknown")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrctl`` command; returns the exit code (see the module docstring)."""
    if argv is not None and (isinstance(argv, str) or not isinstance(argv, Sequence)
                             or not all(isinstance(a, str) for a in argv)):
        raise TypeError(f"argv must be a list of str (or None for sys.argv), got {argv!r:.80}")
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a usage error (argparse prints it)
            return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
        if args.command == "report":
            return _report(args)
        return EXIT_USAGE  # pragma: no cover - argparse enforces the sub-command
    except KeyboardInterrupt:
        print("lrctl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _report(args: argparse.Namespace) -> int:
    from lrctl.report import build_report
    from lrctl.report._engine import Terminated

    try:
        report = build_report(args.analyses, args.out, jobs=args.jobs, quick=args.quick,
                              timeout=args.timeout, dask=args.dask)
    except (ValueError, TypeError, ModuleNotFoundError) as exc:
        print(f"lrctl report: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lrctl report: interrupted; the report at {args.out} is left as it was",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"lrctl report: stopped by SIGTERM; the report at {args.out} is left as it was",
              file=sys.stderr)
        return EXIT_TERMINATED
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
