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
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from kldrift.cliparser import (
    EXIT_BAD_INPUT,
    EXIT_FAIL_ON,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    build_parser,
)
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
        print_json(json.loads(df.to_json(orient="records")))  # pandas: NaN as null, dates as text
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
    args = build_parser().parse_args(argv)
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


def entry() -> None:
    """The ``kldrift`` console script: :func:`main`, then out at once, its output flushed.

    Tearing the interpreter down after a run (numpy, pyarrow, scipy and their memory) takes 0.1-0.2 s that
    the user waits for and nothing needs (mypy ends the same way). Not after Airflow or Spark were loaded,
    whose exit handlers close sessions and logs, nor while another thread still works.

    kldrift does no linear algebra, yet the OpenBLAS copies of numpy and scipy start a thread per core when
    they load, which spin idle for a while: 0.2 s of CPU taken from decoding in a 10 M-row compare
    (measured). The console script asks for none (``OPENBLAS_NUM_THREADS``, unless the caller set it).
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a reader that went away, a closed stream: nothing to keep
        pass
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others or "airflow" in sys.modules or "pyspark" in sys.modules:
        raise SystemExit(code)
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
