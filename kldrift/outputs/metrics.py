"""``metrics.parquet``: every row of a run, for trends, the volume baseline and re-rendering.

One row per feature (``check = "drift"``: the report's columns plus the bins),
then one per schema change (``schema``), per run-level check (``volume``,
``no_data``, ``insufficient_data``) and per reference column that was not
scored (``unscored``, with its role as ``kind`` and its reason as ``message``).
Every row repeats the run's context (rows, drift share, interval, baseline).

A run with segments goes on with, per segment, a ``segment`` row (its rows, worst
severity, what it paged at in ``segment_paged`` and why in ``message``), its feature
rows and its checks, each with its ``segment`` (a map, ``{"origin": "EWR"}``) and its
own baseline columns; then a ``new_value`` row per value the reference never had.
Rows of the whole table have a null ``segment``: the readers here keep them apart.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kldrift.findings import Page, RunCheck, SchemaChange, Verdict, combine_pages, page, summarize
from kldrift.jobsections import PageRule
from kldrift.segments import Segment
from kldrift.severity import Severity, worst

__all__ = [
    "CHECKS",
    "FEATURE_COLUMNS",
    "RUN_NOTE",
    "SCHEMA",
    "drift_rows",
    "metrics_bytes",
    "metrics_table",
    "run_findings",
    "run_note",
    "segment_of",
    "segment_rows",
    "urgency",
    "verdict_of",
    "with_note",
]

RUN_NOTE = "kldrift.run"
"""Footer key of ``metrics.parquet`` holding :func:`run_note` as JSON."""

CHECKS = ("drift", "schema", "volume", "no_data", "insufficient_data", "unscored", "segment", "new_value", "segments")
SEGMENT_TYPE = pa.map_(pa.string(), pa.string())
"""A row's segment: column → value (``null`` for a null value); the row itself is ``null`` for the whole table."""

FEATURE_COLUMNS: dict[str, pa.DataType] = {
    "feature": pa.string(),
    "kind": pa.string(),
    "n_reference": pa.int64(),
    "n_current": pa.int64(),
    "n_bins": pa.int64(),
    "kl": pa.float64(),
    "kl_reverse": pa.float64(),
    "psi": pa.float64(),
    "jensen_shannon": pa.float64(),
    "p_value": pa.float64(),
    "p_adjusted": pa.float64(),
    "severity": pa.string(),
    "message": pa.string(),
    "metric": pa.string(),
    "value": pa.float64(),
    "threshold_warn": pa.float64(),
    "threshold_critical": pa.float64(),
    "pseudocount": pa.float64(),
    "spec_fingerprint": pa.string(),
    "p_method": pa.string(),
    "calibrated": pa.bool_(),
    "calibration": pa.string(),
    "segment": SEGMENT_TYPE,
}
"""A feature row's columns: the fields of :class:`~kldrift.results.FeatureDrift`, in order, with their
file types. Spelled out (the file's format is not whatever the class holds today), and checked against
the class by the tests; not imported from it, so that this module, and the page drawn from its rows,
sit above the results in the module map (a report renders its own page, ``save_html``)."""

SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string()),
        pa.field("date", pa.string()),
        pa.field("check", pa.string()),
        *(pa.field(c, t) for c, t in FEATURE_COLUMNS.items()),
        pa.field("bin_labels", pa.list_(pa.string())),
        pa.field("reference_counts", pa.list_(pa.int64())),
        pa.field("current_counts", pa.list_(pa.int64())),
        pa.field("contributions", pa.list_(pa.float64())),
        pa.field("rows_reference", pa.int64()),
        pa.field("rows_current", pa.int64()),
        pa.field("drift_share", pa.float64()),
        pa.field("dataset_drift", pa.bool_()),
        pa.field("share_threshold", pa.float64()),
        pa.field("interval_start", pa.string()),
        pa.field("interval_end", pa.string()),
        pa.field("reference_type", pa.string()),
        pa.field("current_type", pa.string()),
        pa.field("file", pa.string()),
        pa.field("expected_rows", pa.float64()),
        pa.field("baseline", pa.string()),
        pa.field("baseline_first", pa.string()),
        pa.field("baseline_last", pa.string()),
        pa.field("baseline_intervals", pa.int64()),
        pa.field("baseline_used", pa.list_(pa.string())),
        pa.field("baseline_skipped", pa.list_(pa.string())),
        pa.field("baseline_since", pa.string()),
        pa.field("paged", pa.string()),
        pa.field("page_reason", pa.string()),
        pa.field("segment_paged", pa.string()),
    ]
)


def metrics_table(
    report: Any, *, dataset: str, date: str | None, start: str | None = None, end: str | None = None
) -> pa.Table:
    """Every row of the run (a :class:`~kldrift.results.DriftReport`): features first, then schema changes,
    run checks, unscored columns."""
    cols: dict[str, list[Any]] = {f.name: [] for f in SCHEMA}
    verdict = report.verdict
    context = {
        "dataset": dataset,
        "date": date,
        "rows_reference": report.n_reference,
        "rows_current": report.n_current,
        "drift_share": report.drift_share,
        "dataset_drift": report.dataset_drift,
        "share_threshold": report.share_threshold,
        "interval_start": start,
        "interval_end": end,
        # What the counts were compared with: "reference", or a window, the intervals it used and left out.
        "baseline": report.baseline.description,
        "baseline_first": report.baseline.first,
        "baseline_last": report.baseline.last,
        "baseline_intervals": len(report.baseline.used),
        "baseline_used": list(report.baseline.used),
        "baseline_skipped": list(report.baseline.skipped),
        "baseline_since": report.baseline.since,
        # What the run paged at (alerts.page): later runs' quarantine reads it, never the data.
        "paged": str(verdict.paged),
        "page_reason": verdict.page_reason,
        # With segments: what the whole table's rows page at alone (its baseline's quarantine follows it).
        "segment_paged": str(report.whole_page.level) if report.segments is not None else None,
    }

    def add(row: dict[str, Any]) -> None:
        full = {**context, **row}
        seg = full.get("segment")
        full["segment"] = list(seg.to_json().items()) if isinstance(seg, Segment) else None
        for name, values in cols.items():
            values.append(full.get(name))

    for f, b in zip(report.features, report.bins, strict=True):
        add(_feature_row(f, b))
    for s in report.schema:
        add(
            {
                "check": "schema",
                "feature": s.column,
                "kind": s.change,
                "severity": s.severity,
                "message": s.message,
                "reference_type": s.reference_type,
                "current_type": s.current_type,
                "file": s.file,
            }
        )
    for c in report.checks:
        add(_check_row(c))
    for u in report.unscored:
        add(
            {
                "check": "unscored",
                "feature": u.name,
                "kind": u.role,
                "severity": Severity.OK,
                "message": u.reason,
                "reference_type": u.type,
            }
        )
    if report.segments is not None:
        _add_segments(report.segments, add)
    return pa.table(cols, schema=SCHEMA)


def _feature_row(f: Any, b: Any) -> dict[str, Any]:
    return {
        "check": "drift",
        **{c: getattr(f, c) for c in FEATURE_COLUMNS},
        "bin_labels": list(b.labels),
        "reference_counts": list(b.reference),
        "current_counts": list(b.current),
        "contributions": list(b.contributions),
    }


def _check_row(c: RunCheck) -> dict[str, Any]:
    return {
        "check": c.check,
        "severity": c.severity,
        "message": c.message,
        "n_current": c.rows,
        "value": c.ratio,
        "expected_rows": c.expected,
        "segment": c.segment,
    }


def _add_segments(seg: Any, add: Any) -> None:
    """Per segment its summary row, its feature rows and its checks, each with the segment's own baseline."""
    features: dict[Any, list[tuple[Any, Any]]] = {s.segment: [] for s in seg.summaries}
    for f, b in zip(seg.features, seg.bins, strict=True):
        features[f.segment].append((f, b))
    checks: dict[Any, list[RunCheck]] = {s.segment: [] for s in seg.summaries}
    for c in seg.checks:
        checks.get(c.segment, []).append(c)
    for s in seg.summaries:
        b = s.baseline
        own = {
            "segment": s.segment,
            "segment_paged": str(s.paged),
            "baseline": b.description,
            "baseline_first": b.first,
            "baseline_last": b.last,
            "baseline_intervals": len(b.used),
            "baseline_used": list(b.used),
            "baseline_skipped": list(b.skipped),
            "baseline_since": b.since,
        }
        summary = {"check": "segment", "severity": s.worst, "message": s.page_reason}
        add({**own, **summary, "n_reference": s.n_reference, "n_current": s.n_current})
        for f, bins in features[s.segment]:
            add({**own, **_feature_row(f, bins)})
        for c in checks[s.segment]:
            add({**own, **_check_row(c)})
    for c in seg.checks:
        if c.segment not in checks:  # new values, a segment column missing: the run's, by value
            add(_check_row(c))


def drift_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The whole table's feature rows of a metrics table's rows (files written before ``check`` existed hold only
    those; rows of a segment are left out: see :func:`segment_rows`)."""
    return [r for r in rows if r.get("check", "drift") == "drift" and not r.get("segment")]


def segment_of(row: dict[str, Any]) -> Segment | None:
    """A saved row's segment (``None``: the whole table)."""
    seg = row.get("segment")
    return Segment.from_json(dict(seg)) if seg else None


def segment_rows(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Per segment of a run with segments: its ``segment`` row, its feature rows and its check rows, in order."""
    out: list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = []
    for r in rows:
        if not r.get("segment") or r.get("check") in ("new_value", "segments"):
            continue
        if r.get("check") == "segment":
            out.append((r, [], []))
        elif out:
            (out[-1][1] if r.get("check") == "drift" else out[-1][2]).append(r)
    return out


def run_findings(rows: list[dict[str, Any]]) -> tuple[list[SchemaChange], list[RunCheck], list[dict[str, Any]]]:
    """The schema changes, run checks and unscored columns saved in a metrics table's rows (the whole table's)."""
    rows = [r for r in rows if not r.get("segment")]
    schema = [
        SchemaChange(
            r["feature"], r["kind"], r["reference_type"], r["current_type"], r["severity"], r["message"], r["file"]
        )
        for r in rows
        if r.get("check") == "schema"
    ]
    checks = [
        RunCheck(r["check"], r["severity"], r["message"], int(r["n_current"] or 0), r["expected_rows"], r["value"])
        for r in rows
        if r.get("check") in ("volume", "no_data", "insufficient_data")
    ]
    unscored = [r for r in rows if r.get("check") == "unscored"]
    return schema, checks, unscored


def metrics_bytes(table: pa.Table) -> bytes:
    """``metrics.parquet``'s bytes: same table, same bytes."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True)
    return buf.getvalue()


# --- the run's note in the footer ---------------------------------------------------------


def verdict_of(rows: list[dict[str, Any]]) -> Verdict:
    """The verdict of a run from its saved metrics rows (with what it paged at, as saved)."""
    schema, checks, _ = run_findings(rows)
    first = rows[0] if rows else {}
    features = [Severity(r["severity"]) for r in drift_rows(rows)]
    dataset = worst(s for s in features if s.alerting) if first.get("dataset_drift") else Severity.OK
    # Written before the page rule, every alert paged; after, the saved level and reason say it.
    paged = page(features, schema, checks, dataset, PageRule())
    parts = segment_rows(rows)
    slices = [(_label(s), Severity(s.get("segment_paged") or "ok"), s.get("message") or "") for s, _, _ in parts]
    severities = [(_label(s), [Severity(r["severity"]) for r in (*f, *c)]) for s, f, c in parts]
    if parts:
        alerting = any(Severity(r["severity"]).alerting for _, f, _ in parts for r in f)
        paged = combine_pages(paged, slices, alerting=alerting)
    if first.get("paged") and (first["paged"], first.get("page_reason") or "") != (paged.level, paged.reason):
        paged = Page(Severity(first["paged"]), first.get("page_reason") or "", every_alert=False)
    return summarize(
        features,
        schema,
        checks,
        drift_share=_number(first.get("drift_share")) if rows else 0.0,
        dataset_drift=bool(first.get("dataset_drift")),
        share_threshold=_number(first.get("share_threshold")),
        page=paged,
        segments=severities,
    )


def _label(row: dict[str, Any]) -> str:
    seg = segment_of(row)
    return seg.label if seg is not None else ""


def urgency(row: dict[str, Any]) -> tuple[int, float]:
    """How tables order feature rows: severity (critical first), then the alert metric's value, largest first."""
    value = _number(row.get("value"))
    return Severity(row["severity"]).rank, -value if math.isfinite(value) else math.inf


def run_note(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the dataset's index shows of a run: its verdict, counts per severity, drift share, alerts."""
    features = drift_rows(rows)
    verdict = verdict_of(rows)
    counts = {s.value: 0 for s in Severity}
    for r in features:
        counts[r["severity"]] += 1
    first = rows[0] if rows else {}
    return {
        "worst": verdict.worst.value,
        "paged": verdict.paged.value,
        "tone": verdict.tone,
        "headline": verdict.headline,
        "counts": counts,
        "scored": sum(counts[s] for s in Severity if s.scored),
        "drift_share": first.get("drift_share") if _finite(first.get("drift_share")) else None,
        "rows_current": first.get("rows_current"),
        "alerts": [r["feature"] for r in sorted(features, key=urgency) if Severity(r["severity"]).alerting],
        **_segments_note(rows),
    }


def _segments_note(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the index shows of a run's segments: how many alert, and the worst one (``{}`` without segments)."""
    parts = segment_rows(rows)
    if not parts:
        return {}
    alerting = [(s, f) for s, f, c in parts if Severity(s["severity"]).alerting]
    note: dict[str, Any] = {"segments": {"total": len(parts), "alerting": len(alerting)}}
    if alerting:
        s, f = min(
            alerting,
            key=lambda a: (Severity(a[0]["severity"]).rank, -sum(Severity(r["severity"]).alerting for r in a[1])),
        )
        drifted = [r["feature"] for r in sorted(f, key=urgency) if Severity(r["severity"]).alerting]
        note["segments"]["worst"] = {"label": _label(s), "severity": s["severity"], "alerts": drifted}
    return note


def with_note(table: pa.Table) -> pa.Table:
    """``table`` with :func:`run_note` in its footer, under :data:`RUN_NOTE`: the index reads that, not the rows."""
    lists = [f.name for f in table.schema if pa.types.is_list(f.type)]  # per-bin counts: not in a note
    note = json.dumps(run_note(table.drop_columns(lists).to_pylist()), separators=(",", ":"), allow_nan=False)
    return table.replace_schema_metadata({RUN_NOTE: note})


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _number(x: Any) -> float:
    return float(x) if _finite(x) else math.nan
