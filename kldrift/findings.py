"""A run's findings besides drift, and the verdict that sums up all of them.

* :class:`SchemaChange` — a column dropped, retyped, added or duplicated;
* :class:`RunCheck` — the run's row count against the rows it was expected to hold
  (``volume``), a partition missing or empty (``no_data``), nothing scored
  (``insufficient_data``);
* :class:`Page` — whether the run pages under ``alerts.page`` (the level ``fail_on``,
  the exit code, the webhook and the Airflow task state follow), and why or why not;
* :class:`Verdict` — what the page header, the index and the webhook lead with:
  the worst severity, the count of drifted features, then the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kldrift.config import Settings
from kldrift.jobsections import PageRule
from kldrift.segments import Segment
from kldrift.severity import Severity, worst

__all__ = ["Page", "RunCheck", "SchemaChange", "Verdict", "combine_pages", "page", "summarize", "volume_check"]


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A column that was dropped, changed logical type, or appeared."""

    column: str
    change: str
    """``dropped``, ``retyped``, ``added`` or ``duplicated`` (a file holds two columns of the name)."""
    reference_type: str | None
    current_type: str | None
    severity: Severity
    message: str
    file: str | None = None
    """The current file that shows the change (``None``: the current data as a whole)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))  # a config's level, a saved row's text


@dataclass(frozen=True, slots=True)
class RunCheck:
    """A finding about the run as a whole: ``volume``, ``no_data`` or ``insufficient_data``."""

    check: str
    severity: Severity
    message: str
    rows: int
    expected: float | None = None
    """Rows per interval the run was measured against (``volume``)."""
    ratio: float | None = None
    segment: Segment | None = None
    """The segment the row is about (``None``: the whole table); a ``new_value`` row's is the new value."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))


@dataclass(frozen=True, slots=True)
class Page:
    """Whether a run pages: the level its verdict reached under ``alerts.page``, and why."""

    level: Severity
    """``critical``, ``warn`` or ``ok`` (not paged)."""
    reason: str
    """Why it paged ("2 features at warn or above"), or why it did not when something alerted
    ("1 feature at warn or above; alerts.page needs 2"); empty when nothing alerted."""
    every_alert: bool = True
    """Whether the rule pages on every alert (the default): then the verdict's headline says it all."""


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def page(
    feature_severities: Sequence[Severity],
    schema: Sequence[SchemaChange],
    checks: Sequence[RunCheck],
    dataset: Severity,
    rule: PageRule,
) -> Page:
    """The level a run pages at under ``rule``: features counted per level, run-level rows at their own.

    ``dataset`` is the dataset-share row's severity (``ok`` when the rule did not fire).
    """
    n_critical = sum(s is Severity.CRITICAL for s in feature_severities)
    n_alerting = sum(s.alerting for s in feature_severities)
    rows: list[tuple[str, Severity]] = []
    if "schema" in rule.checks:
        rows += [(f"schema: {s.change} {s.column}", s.severity) for s in schema if s.severity.alerting]
    rows += [(c.message, c.severity) for c in checks if c.check in rule.checks and c.severity.alerting]
    if "dataset" in rule.checks and dataset.alerting:
        rows.append(("dataset drift", dataset))
    causes: dict[Severity, list[str]] = {Severity.CRITICAL: [], Severity.WARN: []}
    if n_critical >= rule.critical_features:
        causes[Severity.CRITICAL].append(f"{_plural(n_critical, 'feature')} critical")
    if n_alerting >= rule.warn_features:
        causes[Severity.WARN].append(f"{_plural(n_alerting, 'feature')} at warn or above")
    for text, severity in rows:
        causes[severity].append(text)
    every = rule == PageRule()
    for level in (Severity.CRITICAL, Severity.WARN):
        if causes[level]:
            # Everything that paged at this level or above, most urgent first.
            reasons = causes[Severity.CRITICAL] + (causes[Severity.WARN] if level is Severity.WARN else [])
            return Page(level, "; ".join(dict.fromkeys(reasons)), every)
    if not n_alerting:
        return Page(Severity.OK, "", every)
    needs = []
    if n_critical:
        needs.append(f"{_plural(n_critical, 'feature')} critical; alerts.page needs {rule.critical_features}")
    needs.append(f"{_plural(n_alerting, 'feature')} at warn or above; alerts.page needs {rule.warn_features}")
    return Page(Severity.OK, "; ".join(needs), every)


def combine_pages(whole: Page, segments: Sequence[tuple[str, Severity, str]], *, alerting: bool) -> Page:
    """The page of a run with segments: the most urgent of the whole table's and each segment's.

    ``segments`` holds each segment's label, the level its own rows page at under ``alerts.page`` (as if
    it were a run of its own) and why; ``alerting``, whether any segment row alerted at all.
    """
    paging = sorted((s for s in segments if s[1].alerting), key=lambda s: s[1].rank)
    if not paging:  # why nothing paged: the whole table's reason, then the segments'
        if not alerting:
            return whole
        quiet = [f"{label}: {reason}" for label, _, reason in segments if reason]
        more = [f"and {len(quiet) - 3} more segments"] if len(quiet) > 3 else []
        return Page(
            Severity.OK, "; ".join([*([whole.reason] if whole.reason else []), *quiet[:3], *more]), whole.every_alert
        )
    level = worst([whole.level, *(s[1] for s in paging)])
    reasons = [whole.reason] if whole.level.alerting else []
    reasons += [f"{label}: {reason}" for label, _, reason in paging[:5]]
    if len(paging) > 5:
        reasons.append(f"and {len(paging) - 5} more segments")
    return Page(level, "; ".join(reasons), whole.every_alert)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a run says, in the words the page header, the index and the webhook lead with."""

    worst: Severity
    headline: str
    """``"5 features drifted: 3 critical, 2 warn"``, ``"No drift: 12 features scored, all ok"``, …"""
    details: tuple[str, ...]
    """Further lines: whether it paged, the dataset-share rule, schema changes, volume."""
    tone: str
    """``critical``, ``warn``, ``ok`` (green: something was scored and nothing alerted) or ``none`` (grey)."""
    paged: Severity = Severity.OK
    """The level the run paged at under ``alerts.page`` (``ok``: it did not)."""
    page_reason: str = ""


def summarize(
    feature_severities: Sequence[Severity],
    schema: Sequence[SchemaChange],
    checks: Sequence[RunCheck],
    *,
    drift_share: float,
    dataset_drift: bool,
    share_threshold: float,
    page: Page,
    segments: Sequence[tuple[str, Sequence[Severity]]] = (),
) -> Verdict:
    """The verdict of a run's rows (what :attr:`DriftReport.verdict` computes, from saved metrics as well).

    ``segments`` holds each segment's label and the severities of its rows (features and checks).
    """
    seg_rows = [s for _, rows in segments for s in rows]
    top = worst([*feature_severities, *(s.severity for s in schema), *(c.severity for c in checks), *seg_rows])
    drifted = [s for s in feature_severities if s.alerting]
    n_scored = sum(s.scored for s in feature_severities)
    parts: list[str] = []
    if drifted:
        by = [f"{n} {s}" for s in (Severity.CRITICAL, Severity.WARN) if (n := drifted.count(s))]
        parts.append(f"{_plural(len(drifted), 'feature')} drifted: {', '.join(by)}")
    alerting_schema = [s for s in schema if s.severity.alerting]
    if alerting_schema:
        kinds = [
            f"{n} {k}" for k in ("dropped", "retyped", "added") if (n := sum(s.change == k for s in alerting_schema))
        ]
        parts.append(f"schema changed ({_plural(len(alerting_schema), 'column')}: {', '.join(kinds)})")
    parts.extend(c.message for c in checks if c.severity.alerting)
    alerting = [(label, [s for s in rows if s.alerting]) for label, rows in segments]
    alerting = [(label, rows) for label, rows in alerting if rows]
    if alerting:
        shown = [
            f"{label} ({', '.join(f'{n} {s}' for s in (Severity.CRITICAL, Severity.WARN) if (n := rows.count(s)))})"
            for label, rows in sorted(alerting, key=lambda a: (worst(a[1]).rank, -len(a[1])))[:3]
        ]
        more = f" and {len(alerting) - 3} more" if len(alerting) > 3 else ""
        parts.append(f"{_plural(len(alerting), 'segment')} alerting: {', '.join(shown)}{more}")
    if parts:
        headline = "; ".join(parts)
        headline = headline[0].upper() + headline[1:]
    elif not n_scored:
        why = next((c.message for c in checks if c.check != "volume"), "no feature could be scored")
        headline = f"Nothing scored: {why}"
    else:
        headline = f"No drift: {_plural(n_scored, 'feature')} scored, all ok"
    details = []
    if not page.level.alerting and page.reason:
        details.append(f"Not paged: {page.reason}")
    elif page.level.alerting and not page.every_alert:  # otherwise the headline says what paged
        details.append(f"Paged at {page.level}: {page.reason}")
    if n_scored:
        share = f"{len(drifted)} of {n_scored} scored features ({drift_share:.0%}) at warn or critical"
        rule = f"(dataset_drift.share {share_threshold:.0%})"
        if dataset_drift:
            details.append(f"Dataset drift: {share} {rule}")
        elif drifted:  # never "no drift" beside an alert
            details.append(f"Dataset-share rule not reached: {share} {rule}")
        else:
            details.append(f"No dataset drift: {share} {rule}")
    details.extend(c.message for c in checks if not c.severity.alerting and c.message not in headline)
    if top.alerting:
        tone = top.value
    elif n_scored and Severity.ERROR not in feature_severities:
        tone = "ok"
    else:
        tone = "none"  # nothing scored, or columns that could not be: never green
    return Verdict(top, headline, tuple(details), tone, page.level, page.reason)


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
        worst([check.severity, Severity.WARN]),
        f"{check.message}; {len(absent)} of the interval's paths not there: {shown}",
        check.rows,
        check.expected,
        check.ratio,
    )


def _volume(rows: int, expected: float | None, source: str, settings: Settings, missing: str | None) -> RunCheck:
    v = settings.volume
    if missing is not None or rows == 0:
        why = missing or "the current data has no rows"
        return RunCheck("no_data", Severity(v.no_data), f"no data: {why}", 0, expected, 0.0 if expected else None)
    if expected is None or expected <= 0:
        return RunCheck(
            "volume",
            Severity.OK,
            f"volume: {rows:,} rows (nothing to compare with yet: no volume.expected_rows, "
            f"fewer than volume.min_history={v.min_history} earlier runs, no timestamp column in the reference)",
            rows,
        )
    ratio = rows / expected
    if ratio < v.critical or ratio > 1 / v.critical:
        severity = Severity.CRITICAL
    elif ratio < v.warn or ratio > 1 / v.warn:
        severity = Severity.WARN
    else:
        severity = Severity.OK
    what = "volume" if severity is Severity.OK else ("volume collapsed" if ratio < 1 else "volume exploded")
    return RunCheck(
        "volume",
        severity,
        f"{what}: {rows:,} rows, {ratio:.3g}x the expected {expected:,.0f} ({source})",
        rows,
        expected,
        ratio,
    )
