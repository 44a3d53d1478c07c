"""``alerts.jsonl``: one JSON object per alert of a run — drifted features, schema changes,
row-count checks and the dataset-level row — each with the same keys.

``check`` says what kind of row it is (``drift``, ``schema``, ``volume``,
``no_data``, ``dataset``); ``feature`` is the column (``null`` for run-level
rows); ``segment`` the segment a row is about (``{"origin": "EWR"}``), ``null``
for the whole table. Rows are ordered by segment (the whole table first, then the
profile's segments in order), then check, then column, so a rerun writes the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from kldrift.atomic import write_text
from kldrift.findings import RunCheck
from kldrift.results import DriftReport, FeatureDrift
from kldrift.severity import Severity

__all__ = ["KEYS", "alert_rows", "render_alerts", "write_alerts"]

KEYS = (
    "dataset",
    "date",
    "check",
    "feature",
    "segment",
    "severity",
    "message",
    "metric",
    "value",
    "threshold",
    "p_value",
    "p_adjusted",
    "n_reference",
    "n_current",
    "change",
    "reference_type",
    "current_type",
    "file",
    "expected_rows",
)
_ORDER = {"drift": 0, "schema": 1, "no_data": 2, "volume": 3, "insufficient_data": 4, "dataset": 5}


def _num(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _drift(f: FeatureDrift) -> dict[str, Any]:
    return {
        "check": "drift",
        "feature": f.feature,
        "segment": f.segment,
        "severity": f.severity,
        "message": f.message,
        "metric": f.metric,
        "value": _num(f.value),
        "threshold": f.threshold,
        "p_value": _num(f.p_value),
        "p_adjusted": _num(f.p_adjusted),
        "n_reference": f.n_reference,
        "n_current": f.n_current,
    }


def _check(c: RunCheck, n_reference: int | None) -> dict[str, Any]:
    return {
        "check": c.check,
        "segment": c.segment,
        "severity": c.severity,
        "message": c.message,
        "metric": "rows_ratio" if c.ratio is not None else None,
        "value": _num(c.ratio),
        "n_reference": n_reference,
        "n_current": c.rows,
        "expected_rows": _num(c.expected),
    }


def alert_rows(report: DriftReport, *, dataset: str, date: str | None) -> list[dict[str, Any]]:
    """The alert objects of a report (warn and critical rows of every kind), in a fixed order."""
    rows: list[dict[str, Any]] = [_drift(f) for f in report.alerts]
    rows += [
        {
            "check": "schema",
            "feature": s.column,
            "severity": s.severity,
            "message": s.message,
            "change": s.change,
            "reference_type": s.reference_type,
            "current_type": s.current_type,
            "file": s.file,
        }
        for s in report.schema
        if Severity(s.severity).alerting
    ]
    rows += [_check(c, report.n_reference) for c in report.checks if Severity(c.severity).alerting]
    if report.dataset_drift:
        scored = report.scored
        drifted = report.alerts
        rows.append(
            {
                "check": "dataset",
                "severity": report.dataset_severity,
                "message": (
                    f"{len(drifted)} of {len(scored)} scored features drifted "
                    f"({report.drift_share:.0%}) >= dataset_drift.share {report.share_threshold:g}"
                ),
                "metric": "drift_share",
                "value": report.drift_share,
                "threshold": report.share_threshold,
                "n_reference": report.n_reference,
                "n_current": report.n_current,
            }
        )
    seg = report.segments
    if seg is not None:
        rows += [_drift(f) for f in seg.alerts]
        refs: dict[Any, int] = {s.segment: s.n_reference for s in seg.summaries}
        rows += [_check(c, refs.get(c.segment)) for c in seg.checks if Severity(c.severity).alerting]
    order: dict[Any, int] = {s.segment: i for i, s in enumerate(seg.summaries)} if seg is not None else {}
    rows.sort(key=lambda r: (order.get(r.get("segment"), -1), _ORDER[r["check"]], r.get("feature") or ""))
    for r in rows:
        r["segment"] = r["segment"].to_json() if r.get("segment") is not None else None
    base = {"dataset": dataset, "date": date}
    return [{k: ({**base, **r}).get(k) for k in KEYS} for r in rows]


def render_alerts(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, sort_keys=False, allow_nan=False) + "\n" for r in rows)


def write_alerts(path: str, report: DriftReport, *, dataset: str, date: str | None) -> str:
    """Write ``alerts.jsonl`` atomically (an empty file when nothing alerts)."""
    return write_text(path, render_alerts(alert_rows(report, dataset=dataset, date=date)))
