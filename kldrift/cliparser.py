"""The ``kldrift`` command line's arguments: the parser, every option's help, the exit codes of each command.

:mod:`kldrift.cli` runs what it parses; the docs' CLI reference is generated from :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich_argparse import RawDescriptionRichHelpFormatter

from kldrift.terminal import say

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAIL_ON",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "FORMATS",
    "build_parser",
]

EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_CODES = {
    EXIT_OK: "ran (with or without alerts)",
    EXIT_FAIL_ON: "the --fail-on (or alerts.fail_on) severity was reached (the reason on stderr)",
    EXIT_BAD_INPUT: "bad input or config (one line on stderr; -v for details)",
    EXIT_INTERNAL: "internal error (one line on stderr; -v for the traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
FORMATS = ("table", "json")


def _epilog(*codes: int, done: str = "") -> str:
    """The exit codes a command can return, one a line."""
    lines = [f"  {c:<3} {done if c == EXIT_OK and done else _CODES[c]}" for c in codes]
    return "exit codes:\n" + "\n".join(lines) + "\n"


class _Help(RawDescriptionRichHelpFormatter):
    # Help strings are plain text, not rich markup: "[core] dags_folder" stays as written.
    help_markup = False
    text_markup = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors: exit 2, one line
        self.print_usage(sys.stderr)
        say(f"kldrift: error: {message}", err=True)
        raise SystemExit(EXIT_BAD_INPUT)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kldrift")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


QUIET = "print nothing but errors and the reason for exit 1 (JSON asked for with --format json still prints)"
VERBOSE = "more logging (-vv: debug); tracebacks on errors"
CONFIG = "the job's YAML config file (dataset, reference, current, output, thresholds, ...)"
FORMAT = "table (default) for people, json for programs (on stdout; other lines go to stderr)"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kldrift",
        description="KL-divergence drift monitoring for Parquet data.",
        epilog=_epilog(EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED),
        formatter_class=_Help,
    )
    p.add_argument("--version", action="version", version=f"kldrift {_version()}", help="print the version and exit")
    p.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE)
    p.add_argument("-q", "--quiet", action="store_true", help=QUIET)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_: str, *codes: int, done: str = "") -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name, help=help_, description=help_, epilog=_epilog(*codes, done=done), formatter_class=_Help
        )
        # Given after the command too (kldrift run -q ...); SUPPRESS keeps the value given before it.
        sp.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE)
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET)
        return sp

    ran = (EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED)
    done = (EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED)
    c = add("compare", "Compare a current data set with a reference (or a saved profile) and print the drift.", *ran)
    c.add_argument("reference", help="reference Parquet file, folder or glob, or a saved profile (.json)")
    c.add_argument("current", help="current Parquet file, folder or glob")
    c.add_argument(
        "--config", metavar="FILE", help="YAML config: binning, thresholds, ... (a job file's settings are used too)"
    )
    c.add_argument("--format", choices=FORMATS, default="table", help=FORMAT)
    c.add_argument(
        "--fail-on",
        type=_fail_on,
        default="never",
        metavar="{never,warn,critical}",
        help="exit 1 when the run pages at this severity or above (alerts.page; default never)",
    )
    c.add_argument(
        "--out",
        metavar="FOLDER",
        help="also write alerts.jsonl, metrics.parquet, report.html (the page) and manifest.json into FOLDER",
    )

    r = add("run", "Run the scheduled job of a config for one data interval and write its files.", *ran)
    r.add_argument("--config", required=True, metavar="FILE", help=CONFIG)
    r.add_argument(
        "--date", help="YYYY-MM-DD: the data interval of the job's schedule starting that day (or holding it)"
    )
    r.add_argument("--start", help="interval start (ISO 8601), with --end")
    r.add_argument("--end", help="interval end (ISO 8601, exclusive), with --start")
    r.add_argument(
        "--fail-on",
        type=_fail_on,
        metavar="{never,warn,critical}",
        help="exit 1 when the run pages at this severity or above (alerts.page; overrides alerts.fail_on)",
    )
    r.add_argument("--no-webhook", action="store_true", help="write the files but do not call the webhook")
    r.add_argument("--format", choices=FORMATS, default="table", help=FORMAT)

    pr = add(
        "profile",
        "Fit the reference profile of a config, save it (reused by `run`) and list every column's role.",
        *done,
        done="the profile was fitted and saved",
    )
    pr.add_argument("--config", required=True, metavar="FILE", help=CONFIG)
    pr.add_argument("--format", choices=FORMATS, default="table", help=FORMAT)

    h = add("history", "Print each feature's alert metric per run date (the trend).", *done, done="printed")
    h.add_argument("--config", required=True, metavar="FILE", help=CONFIG)
    h.add_argument("--feature", metavar="NAME", help="only this feature")
    seg = "a segment's rows instead of the whole table's: origin=EWR (repeat for more columns), other"
    h.add_argument("--segment", action="append", metavar="COLUMN=VALUE", help=seg)
    h.add_argument("--format", choices=FORMATS, default="table", help=FORMAT)

    d = add("demo-data", "Write a demo data set (reference + daily partitions) and its config.", *done, done="written")
    d.add_argument("--out", required=True, metavar="FOLDER", help="the folder to write the data and demo.yaml into")
    d.add_argument("--days", type=int, default=7, help="daily partitions to write (default 7)")
    d.add_argument(
        "--first-day",
        type=_day,
        metavar="YYYY-MM-DD",
        help="the first daily partition (default: --days before today, UTC, so the last one is yesterday)",
    )

    af = add(
        "airflow",
        "Set up Airflow: `init DAGS_FOLDER` writes the two-line DAG file and a sample config.",
        *done,
        done="the files were written",
    )
    af.add_argument("action", choices=("init",), help="init: write the DAG file and a sample config")
    af.add_argument("dags_folder", help="Airflow's dags folder (dags_folder in the [core] section of airflow.cfg)")
    af.add_argument("--demo", action="store_true", help="also write the demo data and its config (kldrift/demo.yaml)")
    af.add_argument("--force", action="store_true", help="overwrite files that are there")

    rp = add(
        "report",
        "Re-render a run's report.html from its saved metrics (no data is read).",
        *done,
        done="the page was written",
    )
    rp.add_argument("--config", required=True, metavar="FILE", help=CONFIG)
    rp.add_argument("--date", required=True, help="the run: its date, or its start for runs shorter than a day")
    rp.add_argument(
        "--pdf",
        action="store_true",
        help="also print the page to report.pdf beside it (every chart drawn; needs headless Chromium on PATH)",
    )
    return p


def _day(text: str) -> Any:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-17, got {text!r}") from None


def _fail_on(text: str) -> str:
    """``--fail-on``'s value, checked as every ``fail_on`` is (:func:`kldrift.severity.fail_on_level`)."""
    from kldrift.errors import ConfigError
    from kldrift.severity import fail_on_level

    try:
        return fail_on_level(text, key="--fail-on")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).partition(": ")[2]) from None
