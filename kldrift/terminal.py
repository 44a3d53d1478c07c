"""What the command line shows: progress, log lines, the drift table, the columns' roles, the trend.

Everything here writes to a terminal or prints JSON; :mod:`kldrift.cli` decides
what to run. Names from the data (columns, categories, messages) are escaped
before they reach ``rich``: a column named ``[/bold]`` is text, not markup; and
their control characters are shown as escapes (:func:`printable`), in tables,
log lines and errors alike: a column named ``ESC ] 0;title BEL`` cannot retitle
the window, nor ``ESC [2J`` clear the screen.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "print_columns",
    "print_history",
    "print_report",
    "printable",
    "profile_json",
    "progress",
    "report_json",
    "setup_logging",
]

_CONTROLS = {
    c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}")
    for c in (*range(0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}
_CONTROLS.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def printable(text: str) -> str:
    r"""``text`` with every control character shown as an escape, as Python writes it in a string literal.

    C0 and C1 controls (ESC, BEL, CSI, newlines), DEL, and the marks that reorder
    text on screen (bidirectional overrides and isolates): text from the data
    (column names, categories, paths, messages) cannot move the cursor, clear
    the screen, retitle the window or hide part of a line.

    >>> printable("fare\x1b]0;pwned\x07 \x1b[2J\nnext \u202etxt.exe")
    'fare\\x1b]0;pwned\\x07 \\x1b[2J\\nnext \\u202etxt.exe'
    """
    return text.translate(_CONTROLS)


class _PrintableFormatter(logging.Formatter):
    """Log lines with :func:`printable` messages (a traceback, when there is one, keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = printable(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet or not verbose else (logging.INFO if verbose == 1 else logging.DEBUG)
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=_stderr_console(), show_path=False, show_time=False, rich_tracebacks=False)
        handler.setFormatter(_PrintableFormatter("%(message)s"))
    else:
        # cron mail and Airflow logs: one plain line per record, never wrapped to a terminal width
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_PrintableFormatter("kldrift: %(levelname)s: %(message)s"))
    root = logging.getLogger("kldrift")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


@contextmanager
def progress(enabled: bool, label: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr counting rows, only when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=_stderr_console(),
        transient=True,
    ) as prog:
        task = prog.add_task(label, total=None)
        yield lambda n: prog.advance(task, n)


def _fmt(x: float) -> str:
    return "" if isinstance(x, float) and math.isnan(x) else f"{x:.4g}"


def report_json(report: Any) -> dict[str, Any]:
    """The JSON output of a comparison: the verdict, every feature, schema changes, run checks, unscored columns."""
    import dataclasses

    from kldrift.scoring import COLUMNS

    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    verdict = report.verdict
    return {
        "verdict": {"worst": str(verdict.worst), "headline": verdict.headline, "details": list(verdict.details)},
        "features": [{k: clean(getattr(f, k)) for k in COLUMNS} for f in report.features],
        "schema": [dataclasses.asdict(c) for c in report.schema],
        "checks": [{k: clean(v) for k, v in dataclasses.asdict(c).items()} for c in report.checks],
        "unscored": [{"column": c.name, "type": c.type, "role": c.role, "reason": c.reason} for c in report.unscored],
        "baseline": dict(report.baseline) or {"window": "fixed", "description": "reference"},
    }


def print_report(report: Any, fmt: str, *, timings: dict[str, float] | None = None) -> None:
    """The drift table, or the JSON of :func:`report_json` (with the seconds of each step, when given)."""
    if fmt == "json":
        out = report_json(report)
        if timings is not None:
            out["timings"] = {k: round(v, 4) for k, v in timings.items()}
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    styles = {
        "critical": "bold red",
        "warn": "yellow",
        "error": "magenta",
        "insufficient_data": "cyan",
        "ok": "green",
    }
    console = Console(soft_wrap=False, width=max(160, Console().width))
    t = Table(title=f"drift: {report.n_current:,} current rows vs {report.n_reference:,} reference rows")
    for col in ("feature", "kind", "n_bins", "kl", "kl_reverse", "psi", "js", "p_adj", "severity", "message"):
        t.add_column(col, overflow="fold")
    for f in report.features:
        t.add_row(
            escape(printable(f.feature)),
            f.kind,
            str(f.n_bins),
            _fmt(f.kl),
            _fmt(f.kl_reverse),
            _fmt(f.psi),
            _fmt(f.jensen_shannon),
            _fmt(f.p_adjusted),
            f"[{styles[f.severity]}]{f.severity}[/]",
            escape(printable(f.message)),
        )
    console.print(t)
    for c in report.schema:
        console.print(f"schema: [{styles[c.severity]}]{c.severity}[/] {escape(printable(c.message))}")
    for c in report.checks:
        console.print(f"rows: [{styles[c.severity]}]{c.severity}[/] {escape(printable(c.message))}")
    if report.unscored:
        shown = ", ".join(f"{escape(printable(c.name))} ({c.role})" for c in report.unscored[:12])
        more = f", +{len(report.unscored) - 12} more" if len(report.unscored) > 12 else ""
        console.print(f"not scored: {shown}{more} (features.include scores one anyway)")
    verdict = report.verdict
    console.print(f"verdict: [{styles[verdict.worst]}]{verdict.worst.upper()}[/] {escape(printable(verdict.headline))}")


def profile_json(profile: Any) -> list[dict[str, Any]]:
    """Every reference column: its type, role, whether it is scored and why, its bins and null share."""
    out = []
    for c in profile.columns:
        f = profile.features.get(c.name)
        out.append(
            {
                "column": c.name,
                "type": c.type,
                "role": c.role,
                "scored": c.scored,
                "kind": f.kind if f else None,
                "bins": f.spec.n_bins if f else None,
                "null_share": c.null_share,
                "distinct": c.distinct,
                "reason": c.reason,
            }
        )
    return out


def print_columns(profile: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"reference columns: {profile.rows:,} rows")
    for col in ("column", "type", "role", "scored", "kind", "bins", "nulls", "note"):
        t.add_column(col, overflow="fold")
    for row in profile_json(profile):
        nulls = "" if row["null_share"] is None else f"{row['null_share']:.1%}"
        t.add_row(
            escape(printable(row["column"])),
            escape(printable(row["type"])),
            row["role"],
            "yes" if row["scored"] else "[dim]no[/]",
            row["kind"] or "",
            "" if row["bins"] is None else str(row["bins"]),
            nulls,
            escape(printable(row["reason"])),
        )
    Console(soft_wrap=False, width=max(140, Console().width)).print(t)


def print_history(df: Any, *, title: str) -> None:
    """The alert metric per run date (rows) and feature (columns), marked by severity."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    wide = df.pivot_table(index="date", columns="feature", values="value", aggfunc="first", sort=True, dropna=False)
    sev = df.pivot_table(index="date", columns="feature", values="severity", aggfunc="first", sort=True, dropna=False)
    t = Table(title=title)
    t.add_column("date")
    for col in wide.columns:
        t.add_column(escape(printable(str(col))), justify="right")
    marks = {"critical": "!!", "warn": "!", "error": "E", "insufficient_data": "?"}
    values, severities = wide.to_numpy(dtype=float), sev.to_numpy(dtype=object)
    for i, date in enumerate(wide.index):
        cells = [_fmt(float(v)) + marks.get(str(s), "") for v, s in zip(values[i], severities[i], strict=True)]
        t.add_row(str(date), *cells)
    Console(width=max(120, Console().width)).print(t)
