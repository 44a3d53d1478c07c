"""A run's findings besides drift, and the verdict that sums up all of them.

* :class:`SchemaChange` — a column dropped, retyped, added or duplicated;
* :class:`RunCheck` — the run's row count against the rows it was expected to hold
  (``volume``), a partition missing or empty (``no_data``), nothing scored
  (``insufficient_data``);
* :class:`Verdict` — what the page header, the index and the webhook lead with:
  the worst severity, the count of drifted features, then the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kldrift.config import Settings
from kldrift.severity import Severity, worst

__all__ = ["RunCheck", "SchemaChange", "Verdict", "summarize", "volume_check"]


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A column that was dropped, changed logical type, or appeared."""

    column: str
    change: str
    """``dropped``, ``retyped``, ``added`` or ``duplicated`` (a file holds two columns of the name)."""
    reference_type: str | None
    current_type: str | None
    severity: str
    message: str
    file: str | None = None
    """The current file that shows the change (``None``: the current data as a whole)."""


@dataclass(frozen=True, slots=True)
class RunCheck:
    """A finding about the run as a whole: ``volume``, ``no_data`` or ``insufficient_data``."""

    check: str
    severity: str
    message: str
    rows: int
    expected: float | None = None
    """Rows per interval the run was measured against (``volume``)."""
    ratio: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a run says, in the words the page header, the index and the webhook lead with."""

    worst: Severity
    headline: str
    """``"5 features drifted: 3 critical, 2 warn"``, ``"No drift: 12 features scored, all ok"``, …"""
    details: tuple[str, ...]
    """Further lines: the dataset-share rule, schema changes, volume."""
    tone: str
    """``critical``, ``warn``, ``ok`` (green: something was scored and nothing alerted) or ``none`` (grey)."""


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def summarize(
    feature_severities: Sequence[str],
    schema: Sequence[SchemaChange],
    checks: Sequence[RunCheck],
    *,
    drift_share: float,
    dataset_drift: bool,
    share_threshold: float,
) -> Verdict:
    """The verdict of a run's rows (what :func:`verdict` computes, from saved metrics as well)."""
    top = worst([*feature_severities, *(s.severity for s in schema), *(c.severity for c in checks)])
    drifted = [s for s in feature_severities if s in ("warn", "critical")]
    n_scored = sum(s in ("ok", "warn", "critical") for s in feature_severities)
    parts: list[str] = []
    if drifted:
        by = [f"{drifted.count(s)} {s}" for s in ("critical", "warn") if drifted.count(s)]
        parts.append(f"{_plural(len(drifted), 'feature')} drifted: {', '.join(by)}")
    alerting_schema = [s for s in schema if Severity(s.severity).alerting]
    if alerting_schema:
        kinds = [
            f"{n} {k}" for k in ("dropped", "retyped", "added") if (n := sum(s.change == k for s in alerting_schema))
        ]
        parts.append(f"schema changed ({_plural(len(alerting_schema), 'column')}: {', '.join(kinds)})")
    parts.extend(c.message for c in checks if Severity(c.severity).alerting)
    if parts:
        headline = "; ".join(parts)
        headline = headline[0].upper() + headline[1:]
    elif not n_scored:
        why = next((c.message for c in checks if c.check != "volume"), "no feature could be scored")
        headline = f"Nothing scored: {why}"
    else:
        headline = f"No drift: {_plural(n_scored, 'feature')} scored, all ok"
    details = []
    if n_scored:
        rule = "Dataset drift" if dataset_drift else "No dataset drift"
        details.append(
            f"{rule}: {len(drifted)} of {n_scored} scored features ({drift_share:.0%}) at warn or critical "
            f"(dataset_drift.share {share_threshold:.0%})"
        )
    details.extend(c.message for c in checks if not Severity(c.severity).alerting and c.message not in headline)
    if top.alerting:
        tone = top.value
    elif n_scored and "error" not in feature_severities:
        tone = "ok"
    else:
        tone = "none"  # nothing scored, or columns that could not be: never green
    return Verdict(top, headline, tuple(details), tone)


def volume_check(
    rows: int,
    expected: float | None,
    source: str,
    settings: Settings,
    *,
    missing: str | None = None,
    absent: Sequence[str] = (),
) -> RunCheck:
    """The run's row count against the rows it was expected to hold.

    ``no_data`` (severity ``volume.no_data``) when the partition is ``missing``
    or empty; else ``volume``: ``critical`` below ``volume.critical`` times the
    expected rows or above its inverse, ``warn`` likewise for ``volume.warn``,
    ``ok`` between. Without an expectation (``expected`` is ``None``: no
    earlier runs yet, no timestamp in the reference), the count is reported
    as ``ok``. Paths of the interval that are ``absent`` (a weekly job's missing
    days) make it at least ``warn`` and are named.
    """
    check = _volume(rows, expected, source, settings, missing)
    if not absent or check.check != "volume":
        return check
    shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
    return RunCheck(
        "volume",
        worst([check.severity, "warn"]).value,
        f"{check.message}; {len(absent)} of the interval's paths not there: {shown}",
        check.rows,
        check.expected,
        check.ratio,
    )


def _volume(rows: int, expected: float | None, source: str, settings: Settings, missing: str | None) -> RunCheck:
    v = settings.volume
    if missing is not None or rows == 0:
        why = missing or "the current data has no rows"
        return RunCheck("no_data", v.no_data, f"no data: {why}", 0, expected, 0.0 if expected else None)
    if expected is None or expected <= 0:
        return RunCheck(
            "volume",
            "ok",
            f"volume: {rows:,} rows (nothing to compare with yet: no volume.expected_rows, "
            f"fewer than volume.min_history={v.min_history} earlier runs, no timestamp column in the reference)",
            rows,
        )
    ratio = rows / expected
    if ratio < v.critical or ratio > 1 / v.critical:
        severity = "critical"
    elif ratio < v.warn or ratio > 1 / v.warn:
        severity = "warn"
    else:
        severity = "ok"
    what = "volume" if severity == "ok" else ("volume collapsed" if ratio < 1 else "volume exploded")
    return RunCheck(
        "volume",
        severity,
        f"{what}: {rows:,} rows, {ratio:.3g}x the expected {expected:,.0f} ({source})",
        rows,
        expected,
        ratio,
    )
