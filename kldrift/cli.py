"""``kldrift`` command line: a thin shell over :mod:`kldrift.pipeline`.

Exit codes:
  0  it ran (alerts or not)
  1  ``--fail-on`` / ``alerts.fail_on`` severity was reached
  2  bad input or config: one line on stderr naming the file, column or key
  3  internal error (a bug): one line on stderr; ``-v`` shows the traceback
"""

from __future__ import annotations

import argparse
import json
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
    print_report,
    printable,
    profile_json,
    progress,
    setup_logging,
)

__all__ = ["main"]

log = logging.getLogger("kldrift")

EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EPILOG = """\
exit codes:
  0  ran (with or without alerts)
  1  the --fail-on (or alerts.fail_on) severity was reached
  2  bad input or config (one line on stderr; -v for details)
  3  internal error (one line on stderr; -v for the traceback)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors: exit 2, one line
        self.print_usage(sys.stderr)
        sys.stderr.write(f"kldrift: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> argparse.ArgumentParser:
    fmt = RawDescriptionRichHelpFormatter
    p = _Parser(
        prog="kldrift",
        description="KL-divergence drift monitoring for Parquet data.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging; tracebacks on errors")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, warnings only")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG, formatter_class=fmt)
        sp.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return sp

    c = add("compare", "Compare a current data set with a reference (or a saved profile) and print the drift.")
    c.add_argument("reference", help="reference Parquet file, folder or glob, or a saved profile (.json)")
    c.add_argument("current", help="current Parquet file, folder or glob")
    c.add_argument("--config", help="YAML config (binning, thresholds, ...)")
    c.add_argument("--format", choices=("table", "json"), default="table")
    c.add_argument("--fail-on", choices=("never", "warn", "critical"), default="never")
    c.add_argument("--out", help="also write alerts.jsonl, metrics.parquet and manifest.json into this folder")

    r = add("run", "Run the scheduled job of a config for one data interval and write its files.")
    r.add_argument("--config", required=True)
    r.add_argument(
        "--date", help="YYYY-MM-DD: the data interval of the job's schedule starting that day (or holding it)"
    )
    r.add_argument("--start", help="interval start (ISO), with --end")
    r.add_argument("--end", help="interval end (ISO), with --start")
    r.add_argument("--fail-on", choices=("never", "warn", "critical"), help="overrides alerts.fail_on")
    r.add_argument("--no-webhook", action="store_true", help="write the files but do not call the webhook")
    r.add_argument("--format", choices=("table", "json"), default="table")

    pr = add(
        "profile", "Fit the reference profile of a config, save it (reused by `run`) and list every column's role."
    )
    pr.add_argument("--config", required=True)
    pr.add_argument("--format", choices=("table", "json"), default="table")

    h = add("history", "Print each feature's alert metric per run date (the trend).")
    h.add_argument("--config", required=True)
    h.add_argument("--feature", help="only this feature")
    h.add_argument("--format", choices=("table", "json"), default="table")

    d = add("demo-data", "Write a demo data set (reference + 7 daily partitions) and its config.")
    d.add_argument("--out", required=True)
    d.add_argument("--days", type=int, default=7)

    af = add("airflow", "Set up Airflow: `init DAGS_FOLDER` writes the two-line DAG file and a sample config.")
    af.add_argument("action", choices=("init",))
    af.add_argument("dags_folder", help="Airflow's dags folder ([core] dags_folder)")
    af.add_argument("--demo", action="store_true", help="also write the demo data and its config (kldrift/demo.yaml)")
    af.add_argument("--force", action="store_true", help="overwrite files that are there")

    rp = add("report", "Re-render a run's report.html from its saved metrics (no data is read).")
    rp.add_argument("--config", required=True)
    rp.add_argument("--date", required=True, help="the run: its date, or its start for runs shorter than a day")
    return p


def _exit_for(report: Any, fail_on: str | None) -> int:
    if not fail_on or fail_on == "never":
        return EXIT_OK
    return EXIT_FAIL_ON if report.reaches(fail_on) else EXIT_OK


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


def cmd_compare(args: argparse.Namespace) -> int:
    from kldrift.config import coerce_config
    from kldrift.pipeline import compare

    settings = coerce_config(args.config)
    timings: dict[str, float] = {}
    with progress(not args.quiet, "reading") as on_rows:
        report = compare(args.reference, args.current, config=settings, on_rows=on_rows, timings=timings)
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
    return _exit_for(report, args.fail_on)


def cmd_run(args: argparse.Namespace) -> int:
    from kldrift.config import load_config
    from kldrift.pipeline import run

    config = load_config(args.config)
    interval = _interval(args, config)
    with progress(not args.quiet, f"{config.dataset} {interval.ds}") as on_rows:
        result = run(config, interval, on_rows=on_rows, deliver=not args.no_webhook)
    if not args.quiet or args.format == "json":  # JSON was asked for by name: -q only silences the table
        print_report(result.report, args.format, timings=result.timings)
    if not args.quiet:
        for name, path in result.paths.items():
            print(f"{name}: {path}", file=sys.stderr if args.format == "json" else sys.stdout)
    return _exit_for(result.report, args.fail_on or config.alerts.fail_on)


def cmd_profile(args: argparse.Namespace) -> int:
    from kldrift.config import load_config
    from kldrift.pipeline import load_or_fit_profile

    config = load_config(args.config)
    with progress(not args.quiet, "fitting") as on_rows:
        profile = load_or_fit_profile(config, refit=True, on_rows=on_rows)
    if args.format == "json":
        sys.stdout.write(json.dumps(profile_json(profile), indent=1) + "\n")
    elif not args.quiet:
        print_columns(profile)
    print(
        f"profile: {config.profile_path()} ({profile.rows:,} rows, {len(profile.features)} features scored of "
        f"{len(profile.columns)} columns, fingerprint {profile.fingerprint})",
        file=sys.stderr if args.format == "json" else sys.stdout,
    )
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from kldrift.config import load_config
    from kldrift.history import read_history

    config = load_config(args.config)
    df = read_history(config, feature=args.feature)
    if args.format == "json":
        sys.stdout.write(df.to_json(orient="records", indent=1) + "\n")
        return EXIT_OK
    print_history(df, title=f"{config.dataset}: {config.metric} per run")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from kldrift.demo import make_demo

    info = make_demo(args.out, days=args.days)
    print(
        f"demo data: {os.path.abspath(args.out)} ({len(info['dates'])} days {info['dates'][0]} .. "
        f"{info['dates'][-1]}; drift from {info['drift_from']} in {', '.join(info['drifted'])})"
    )
    print(f"config: {os.path.abspath(info['config'])}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from kldrift.config import load_config
    from kldrift.outputs.report import rerender
    from kldrift.runstore import check_key

    config = load_config(args.config)
    paths = rerender(config, check_key(args.date))
    for name, path in paths.items():
        print(f"{name}: {path}")
    return EXIT_OK


def cmd_airflow(args: argparse.Namespace) -> int:
    from kldrift.scaffold import init_airflow

    for path in init_airflow(args.dags_folder, demo=args.demo, force=args.force):
        print(f"wrote {path}")
    print("next: put job configs (*.yaml) into the kldrift/ folder; each becomes the DAG kldrift__<name>")
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
        print(f"kldrift: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("kldrift: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        msg = printable(" ".join(str(exc).split()))
        print(
            f"kldrift: internal error: {type(exc).__name__}: {msg} (run with -v for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
