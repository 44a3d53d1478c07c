"""``alerts.jsonl``: one JSON object per alert of a run — drifted features, schema changes,
row-count checks and the dataset-level row — each with the same keys.

``check`` says what kind of row it is (``drift``, ``schema``, ``volume``,
``no_data``, ``dataset``); ``feature`` is the column (``null`` for run-level
rows). Rows are ordered by check, then column, so a rerun writes the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from kldrift.atomic import write_text
from kldrift.results import DriftReport
from kldrift.severity import Severity

__all__ = ["KEYS", "alert_rows", "render_alerts", "write_alerts"]

KEYS = (
    "dataset",
    "date",
    "check",
    "feature",
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


def alert_rows(report: DriftReport, *, dataset: str, date: str | None) -> list[dict[str, Any]]:
    """The alert objects of a report (warn and critical rows of every kind), in a fixed order."""
    rows: list[dict[str, Any]] = [
        {
            "check": "drift",
            "feature": f.feature,
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
        for f in report.alerts
    ]
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
    rows += [
        {
            "check": c.check,
            "severity": c.severity,
            "message": c.message,
            "metric": "rows_ratio" if c.ratio is not None else None,
            "value": _num(c.ratio),
            "n_reference": report.n_reference,
            "n_current": c.rows,
            "expected_rows": _num(c.expected),
        }
        for c in report.checks
        if Severity(c.severity).alerting
    ]
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
    rows.sort(key=lambda r: (_ORDER[r["check"]], r.get("feature") or ""))
    base = {"dataset": dataset, "date": date}
    return [{k: ({**base, **r}).get(k) for k in KEYS} for r in rows]


def render_alerts(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, sort_keys=False, allow_nan=False) + "\n" for r in rows)


def write_alerts(path: str, report: DriftReport, *, dataset: str, date: str | None) -> str:
    """Write ``alerts.jsonl`` atomically (an empty file when nothing alerts)."""
    return write_text(path, render_alerts(alert_rows(report, dataset=dataset, date=date)))
