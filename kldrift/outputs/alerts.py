"""``alerts.jsonl``: one JSON object per warn/critical feature, plus the dataset-level row."""

from __future__ import annotations

import json
import math
from typing import Any

from kldrift.atomic import write_text
from kldrift.scoring import DriftReport

__all__ = ["DATASET_FEATURE", "alert_rows", "render_alerts", "write_alerts"]

DATASET_FEATURE = "__dataset__"


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def alert_rows(report: DriftReport, *, dataset: str, date: str | None) -> list[dict[str, Any]]:
    """The alert objects of a report, sorted by feature (a pure function of the report)."""
    rows = [
        {
            "dataset": dataset,
            "date": date,
            "feature": f.feature,
            "severity": f.severity,
            "metric": f.metric,
            "value": _num(f.value),
            "threshold": f.threshold,
            "p_value": _num(f.p_value),
            "p_adjusted": _num(f.p_adjusted),
            "n_reference": f.n_reference,
            "n_current": f.n_current,
            "message": f.message,
        }
        for f in report.alerts
    ]
    if report.dataset_drift:
        scored = [f for f in report.features if f.severity in ("ok", "warn", "critical")]
        drifted = [f for f in scored if f.severity in ("warn", "critical")]
        rows.append(
            {
                "dataset": dataset,
                "date": date,
                "feature": DATASET_FEATURE,
                "severity": "critical" if any(f.severity == "critical" for f in drifted) else "warn",
                "metric": "drift_share",
                "value": report.drift_share,
                "threshold": report.share_threshold,
                "p_value": None,
                "p_adjusted": None,
                "n_reference": report.n_reference,
                "n_current": report.n_current,
                "message": (
                    f"{len(drifted)} of {len(scored)} scored features drifted "
                    f"({report.drift_share:.0%}) >= dataset_drift.share {report.share_threshold:g}"
                ),
            }
        )
    return sorted(rows, key=lambda r: r["feature"])


def render_alerts(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, sort_keys=False, allow_nan=False) + "\n" for r in rows)


def write_alerts(path: str, report: DriftReport, *, dataset: str, date: str | None) -> str:
    """Write ``alerts.jsonl`` atomically (an empty file when nothing alerts)."""
    return write_text(path, render_alerts(alert_rows(report, dataset=dataset, date=date)))
