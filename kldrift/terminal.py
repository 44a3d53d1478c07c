"""What the command line shows: progress, log lines, the drift table, the columns' roles, the trend.

Everything here writes to a terminal or prints JSON; :mod:`kldrift.cli` decides
what to run. Text reaches the terminal through few doors: :func:`say` (a plain
line), :func:`print_json`, the tables (rich, through :func:`console`) and the
log handler of :func:`setup_logging`. Names from the data (columns,
categories, messages) are escaped before they reach ``rich`` (:func:`_cell`):
a column named ``[/bold]`` is text, not markup; and at every door their control
characters are shown as escapes (:func:`printable`): a column named
``ESC ] 0;title BEL`` cannot retitle the window, nor ``ESC [2J`` clear the screen.

Tables take the terminal's width (``COLUMNS`` when set); written to a file or
a pipe without ``COLUMNS``, they are as wide as their content, so a row stays
one line in a log. Below :data:`WIDE` columns the drift table shows the alert
metric only (``--format json`` has them all).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "console",
    "print_columns",
    "print_history",
    "print_json",
    "print_report",
    "print_settings",
    "printable",
    "profile_json",
    "progress",
    "say",
    "setup_logging",
]

PIPE_WIDTH = 4096
"""Width of a table written to a file or a pipe when ``COLUMNS`` is not set: its content's, in practice."""
WIDE = 140
"""From this width on, the drift table shows every metric (kl, reverse KL, PSI, JS), the kind and the bins."""

_STYLES = {"critical": "bold red", "warn": "yellow", "error": "magenta", "insufficient_data": "cyan", "ok": "green"}
_MARKS = {"critical": "!!", "warn": "!", "error": "E", "insufficient_data": "?"}


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


def say(line: str, *, err: bool = False) -> None:
    """One plain line to stdout (or stderr): every line of the CLI that is not a table, JSON or a log record
    (control characters shown as escapes: the line may hold names from the data)."""
    print(printable(line), file=sys.stderr if err else sys.stdout)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=1) + "\n")


def console(*, stderr: bool = False) -> Any:
    """A rich console for a table: the terminal's width (or ``COLUMNS``); :data:`PIPE_WIDTH` into a file or pipe."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(stderr=stderr, width=width, soft_wrap=False)


def _cell(text: Any) -> str:
    """Text from the data, safe in a rich cell or line (markup escaped)."""
    from rich.markup import escape

    return escape(printable(str(text)))


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


def print_report(report: Any, fmt: str, *, timings: dict[str, float] | None = None) -> None:
    """The drift table, or the report's JSON (``to_dict(bins=False)``, with the seconds of each step when given)."""
    if fmt == "json":
        out = report.to_dict(bins=False)
        if timings is not None:
            out["timings"] = {k: round(v, 4) for k, v in timings.items()}
        print_json(out)
        return
    from rich.table import Table

    con = console()
    wide = con.width >= WIDE
    t = Table(title=f"drift: {report.n_current:,} current rows vs {report.n_reference:,} reference rows")
    metrics = [("kl", "kl"), ("kl_reverse", "kl_reverse"), ("psi", "psi"), ("jensen_shannon", "js")]
    shown = metrics if wide else [(report.metric, {"jensen_shannon": "js"}.get(report.metric, report.metric))]
    heads = ["feature", *(["kind", "n_bins"] if wide else []), *(h for _, h in shown), "p_adj", "severity", "message"]
    for col in heads:
        t.add_column(
            col, overflow="fold", justify="right" if col in ("n_bins", "p_adj", *dict(shown).values()) else "left"
        )
    for f in report.features:
        t.add_row(
            _cell(f.feature),
            *([f.kind, str(f.n_bins)] if wide else []),
            *(_fmt(getattr(f, name)) for name, _ in shown),
            _fmt(f.p_adjusted),
            f"[{_STYLES[f.severity]}]{f.severity}[/]",
            _cell(f.message),
        )
    con.print(t)
    for c in report.schema:
        con.print(f"schema: [{_STYLES[c.severity]}]{c.severity}[/] {_cell(c.message)}")
    for c in report.checks:
        con.print(f"rows: [{_STYLES[c.severity]}]{c.severity}[/] {_cell(c.message)}")
    if report.unscored:
        names = ", ".join(f"{_cell(c.name)} ({c.role})" for c in report.unscored[:12])
        more = f", +{len(report.unscored) - 12} more" if len(report.unscored) > 12 else ""
        con.print(f"not scored: {names}{more} (features.include scores one anyway)")
    seg = report.segments
    if seg is not None:  # the alerting segments, a line each; every figure is in the report and the JSON
        hot = [s for s in seg.summaries if s.worst.alerting]
        con.print(f"segments: {len(seg.summaries)} by {', '.join(map(_cell, seg.columns))}, {len(hot)} alerting")
        for s in hot[:12]:
            drifted = ", ".join(
                f"{_cell(f.feature)} ({f.metric} {f.value:.3g})" for f in seg.of(s.segment) if f.severity.alerting
            )
            con.print(f"  [{_STYLES[s.worst]}]{s.worst}[/] {_cell(s.segment.label)}: {drifted or _cell(s.page_reason)}")
    verdict = report.verdict
    con.print(f"verdict: [{_STYLES[verdict.worst]}]{verdict.worst.upper()}[/] {_cell(verdict.headline)}")


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


def print_settings(config: Any) -> None:
    """The job's effective settings, presets expanded: what each run is compared with and when it pages."""
    from kldrift.presets import PRESET_DOC

    b, t, page = config.baseline, config.thresholds, config.alerts.page
    if b.window == "fixed":
        against = "the reference (fixed)"
    else:
        against = f"{b.window} window of {b.intervals} intervals (min_intervals {b.min_count})"
        if b.quarantine != "none":
            against += f", quarantine {b.quarantine} (max_lookback {b.lookback}, accept_after {b.accept_count})"
    cal = f", calibrated ({t.calibrate.method})" if t.calibrate is not None else ""
    lines = [
        f"preset {config.preset}: {PRESET_DOC[config.preset]}",
        f"  compared with: {against}",
        f"  thresholds: {config.metric} warn {t.warn:g}, critical {t.critical:g}{cal}",
        f"  pages: {page.critical_features}+ critical features, {page.warn_features}+ at warn, or "
        f"{', '.join(page.checks) or 'no run-level row'}; fail_on {config.alerts.fail_on}",
    ]
    if config.segments is not None:
        s = config.segments
        lines.append(f"  segments: by {', '.join(s.columns)}, at most {s.max}, min_rows {s.min_rows}; each pages alone")
    keys = config.effective()["preset_keys"]
    if keys:
        lines.append(f"  from the preset: {', '.join(keys)}")
    for line in lines:
        say(line)


def print_columns(profile: Any) -> None:
    from rich.table import Table

    t = Table(title=f"reference columns: {profile.rows:,} rows")
    for col in ("column", "type", "role", "scored", "kind", "bins", "nulls", "note"):
        t.add_column(col, overflow="fold")
    for row in profile_json(profile):
        nulls = "" if row["null_share"] is None else f"{row['null_share']:.1%}"
        t.add_row(
            _cell(row["column"]),
            _cell(row["type"]),
            row["role"],
            "yes" if row["scored"] else "[dim]no[/]",
            row["kind"] or "",
            "" if row["bins"] is None else str(row["bins"]),
            nulls,
            _cell(row["reason"]),
        )
    console().print(t)
    seg = profile.segments
    if seg is not None:  # the segments chosen on the reference, largest first, with their share of its rows
        rows = seg.counts.rows
        shown = [
            f"{_cell(s.label)} {n / max(profile.rows, 1):.1%}" for s, n in zip(seg.spec.segments, rows, strict=True)
        ]
        if len(shown) > 13:
            shown = [*shown[:12], f"+{len(shown) - 13} more", shown[-1]]
        console().print(f"segments by {', '.join(map(_cell, seg.spec.columns))}: {', '.join(shown)}")


def print_history(df: Any, *, title: str) -> None:
    """The alert metric per run date (rows) and feature (columns), marked by severity, with the marks' legend.

    The features that fit the width are shown, those with the most urgent severity first; the caption
    says how many more there are.
    """
    from rich.table import Table

    wide = df.pivot_table(index="date", columns="feature", values="value", aggfunc="first", sort=True, dropna=False)
    sev = df.pivot_table(index="date", columns="feature", values="severity", aggfunc="first", sort=True, dropna=False)
    con = console()
    rank = {s: i for i, s in enumerate(_MARKS)}
    urgency = {c: min((rank.get(str(s), len(rank)) for s in sev[c]), default=len(rank)) for c in wide.columns}
    order = sorted(range(len(wide.columns)), key=lambda i: urgency[wide.columns[i]])
    room, keep = con.width - 14, list[int]()  # the date column and the borders
    for i in order:
        need = max(len(str(wide.columns[i])), 9) + 3
        if keep and need > room:
            break
        keep.append(i)
        room -= need
    keep.sort()
    legend = "!! critical · ! warn · E error · ? insufficient data · no mark: ok"
    hidden = len(wide.columns) - len(keep)
    if hidden:
        legend += f" · {hidden} more feature{'s' if hidden > 1 else ''} not shown: --feature NAME, --format json"
    t = Table(title=_cell(title), caption=legend)
    t.add_column("date")
    for i in keep:
        t.add_column(_cell(wide.columns[i]), justify="right", overflow="fold")
    values, severities = wide.to_numpy(dtype=float), sev.to_numpy(dtype=object)
    for r, date in enumerate(wide.index):
        cells = [_fmt(float(values[r, i])) + _MARKS.get(str(severities[r, i]), "") for i in keep]
        t.add_row(str(date), *cells)
    con.print(t)
