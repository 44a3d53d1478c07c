"""``kldrift`` command line: a thin shell over :mod:`kldrift.pipeline`.

Exit codes (each command's ``--help`` lists those it can return):
  0  it ran (alerts or not)
  1  ``--fail-on`` / ``alerts.fail_on`` severity was reached; the reason on stderr
  2  bad input or config: one line on stderr naming the file, column or key
  3  internal error (a bug): one line on stderr; ``-v`` shows the traceback
  130 interrupted (Ctrl-C)

Everything printed goes through :mod:`kldrift.terminal` (``say``, ``print_json``, the tables).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from rich_argparse import RawDescriptionRichHelpFormatter

from kldrift.errors import KLDriftError
from kldrift.terminal import (
    print_columns,
    print_history,
    print_json,
    print_report,
    print_settings,
    profile_json,
    progress,
    say,
    setup_logging,
)

__all__ = ["main"]

log = logging.getLogger("kldrift")

EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_CODES = {
    EXIT_OK: "ran (with or without alerts)",
    EXIT_FAIL_ON: "the --fail-on (or alerts.fail_on) severity was reached (the reason on stderr)",
    EXIT_BAD_INPUT: "bad input or config (one line on stderr; -v for details)",
    EXIT_INTERNAL: "internal error (one line on stderr; -v for the traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
FORMATS = ("table", "json")
LEVELS = ("never", "warn", "critical")


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


def _parser() -> argparse.ArgumentParser:
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
        "--fail-on", choices=LEVELS, default="never", help="exit 1 when an alert reaches this severity (default never)"
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
        "--fail-on", choices=LEVELS, help="exit 1 when an alert reaches this severity (overrides alerts.fail_on)"
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


def _verdict_exit(report: Any, fail_on: str | None, *, source: str) -> int:
    """Exit 1 when the run reaches ``fail_on``, with the reason on stderr; else 0.

    The one place that decides the verdict's exit code (and says why), for ``compare`` and ``run``.
    """
    reason = report.fail_reason(fail_on) if fail_on else None
    if reason is None:
        return EXIT_OK
    say(f"kldrift: {source} {fail_on} reached: {reason}", err=True)
    return EXIT_FAIL_ON


def _interval(args: argparse.Namespace, config: Any) -> Any:
    """The data interval of ``--date`` (as the job's schedule reads it) or of ``--start`` and ``--end``."""
    from kldrift.errors import ConfigError
    from kldrift.interval import Interval

    if args.date and (args.start or args.end):
        raise KLDriftError("give either --date or --start/--end, not both")
    try:
        if args.date:
            return config.schedule_of().for_date(args.date)
        if args.start and args.end:
            return Interval.parse(args.start, args.end)
    except ConfigError as exc:  # "date: ...", "start: ...": the flags' names here
        raise ConfigError(f"--{exc}" if str(exc).startswith(("date:", "start:", "end:")) else str(exc)) from None
    raise KLDriftError("missing data interval: give --date YYYY-MM-DD, or --start and --end")


def _show(args: argparse.Namespace) -> bool:
    """Whether to print the command's result: always as JSON (asked for by name), as a table unless ``-q``."""
    return args.format == "json" or not args.quiet


def _note(args: argparse.Namespace, line: str) -> None:
    """A line about what was done (paths written): stdout, stderr beside JSON, nothing with ``-q``."""
    if not args.quiet:
        say(line, err=getattr(args, "format", "table") == "json")


def cmd_compare(args: argparse.Namespace) -> int:
    from kldrift.config import coerce_config
    from kldrift.pipeline import compare

    settings = coerce_config(args.config)
    timings: dict[str, float] = {}
    with progress(not args.quiet, "reading") as on_rows:
        report = compare(args.reference, args.current, config=settings, on_rows=on_rows, timings=timings)
    if _show(args):
        print_report(report, args.format, timings=timings)
    if args.out:
        from kldrift.outputs import write_outputs
        from kldrift.redact import redact_url

        paths = write_outputs(
            args.out,
            report,
            dataset="compare",
            settings=settings,
            manifest={
                "inputs": {"reference": redact_url(str(args.reference)), "current": redact_url(str(args.current))},
                "timings": {k: round(v, 4) for k, v in timings.items()},
            },
        )
        for name, path in paths.items():
            log.info("wrote %s: %s", name, path)
    return _verdict_exit(report, args.fail_on, source="--fail-on")


def cmd_run(args: argparse.Namespace) -> int:
    from kldrift.config import load_config
    from kldrift.pipeline import run

    config = load_config(args.config)
    interval = _interval(args, config)
    with progress(not args.quiet, f"{config.dataset} {interval.ds}") as on_rows:
        result = run(config, interval, on_rows=on_rows, deliver=not args.no_webhook)
    if _show(args):
        print_report(result.report, args.format, timings=result.timings)
    for name, path in result.paths.items():
        _note(args, f"{name}: {path}")
    source = "--fail-on" if args.fail_on else "alerts.fail_on"
    return _verdict_exit(result.report, args.fail_on or config.alerts.fail_on, source=source)


def cmd_profile(args: argparse.Namespace) -> int:
    from kldrift.config import load_config
    from kldrift.pipeline import load_or_fit_profile

    config = load_config(args.config)
    with progress(not args.quiet, "fitting") as on_rows:
        profile = load_or_fit_profile(config, refit=True, on_rows=on_rows)
    if args.format == "json":
        print_json(profile_json(profile))
    elif not args.quiet:
        print_columns(profile)
        print_settings(config)
    _note(
        args,
        f"profile: {config.profile_path()} ({profile.rows:,} rows, {len(profile.features)} features scored of "
        f"{len(profile.columns)} columns, fingerprint {profile.fingerprint})",
    )
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from kldrift.config import load_config
    from kldrift.history import history_table

    config = load_config(args.config)
    df, title = history_table(config, feature=args.feature, segment=args.segment)
    if args.format == "json":
        say(df.to_json(orient="records", indent=1))  # pandas: NaN as null, dates as text
    elif not args.quiet:
        print_history(df, title=title)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from kldrift.demo import make_demo

    info = make_demo(args.out, days=args.days, first_day=args.first_day)
    _note(
        args,
        f"demo data: {os.path.abspath(args.out)} ({len(info['dates'])} days {info['dates'][0]} .. "
        f"{info['dates'][-1]}; drift from {info['drift_from']} in {', '.join(info['drifted'])})",
    )
    _note(args, f"config: {os.path.abspath(info['config'])}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from kldrift.config import load_config
    from kldrift.outputs.report import rerender
    from kldrift.runstore import check_key

    config = load_config(args.config)
    paths = rerender(config, check_key(args.date))
    if args.pdf:
        from kldrift import runstore
        from kldrift.outputs.report.pdf import print_pdf

        # Beside the page, under the run's lock; the run's next re-render or re-run replaces its folder
        # (the PDF goes with the old page rather than outlive it).
        with runstore.locked(os.path.dirname(paths["report"])):
            paths["pdf"] = print_pdf(paths["report"])
    for name, path in paths.items():
        _note(args, f"{name}: {path}")
    return EXIT_OK


def cmd_airflow(args: argparse.Namespace) -> int:
    from kldrift.scaffold import init_airflow

    for path in init_airflow(args.dags_folder, demo=args.demo, force=args.force):
        _note(args, f"wrote {path}")
    _note(args, "next: put job configs (*.yaml) into the kldrift/ folder; each becomes the DAG kldrift__<name>")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "compare": cmd_compare,
    "run": cmd_run,
    "profile": cmd_profile,
    "history": cmd_history,
    "demo-data": cmd_demo,
    "report": cmd_report,
    "airflow": cmd_airflow,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kldrift`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    try:
        return COMMANDS[args.command](args)
    except KLDriftError as exc:
        if args.verbose:
            traceback.print_exc()
        say(f"kldrift: error: {exc}", err=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        say("kldrift: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        msg = " ".join(str(exc).split())
        say(f"kldrift: internal error: {type(exc).__name__}: {msg} (run with -v for the traceback)", err=True)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
