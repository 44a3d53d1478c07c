"""The charts' data of a page: compact JSON, embedded once, drawn by the page's script when needed.

A page holds no drawn chart: each feature's bins, counts, KL terms and trend
go into one ``<script type="application/json">`` element, and the browser
draws a feature's charts when its section scrolls into view, is opened or is
printed. Numbers shown only in charts and tooltips keep 4 significant digits
(the page shows 4); counts stay exact.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SEVERITY_CODES", "TREND_RUNS", "bins_item", "index_data", "report_data", "run_seconds", "script_json"]

TREND_RUNS = 60
"""Runs drawn in a feature's trend: this one and up to 59 before it."""

SEVERITY_CODES = {"ok": "o", "warn": "w", "critical": "c", "error": "e", "insufficient_data": "i"}
"""One character per run in a trend's severity string; ``-`` where the feature has no row."""


def finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _g4(x: Any) -> float | None:
    """``x`` to 4 significant digits; ``None`` when missing or not finite."""
    return float(f"{x:.4g}") if finite(x) else None


def _threshold(x: Any) -> float | None:
    """A threshold as drawn: ``None`` when infinite (a level that never alerts is not drawn)."""
    return float(x) if finite(x) else None


def run_seconds(key: str) -> int:
    """Seconds since the epoch (UTC) of a run key: ``2026-11-23`` or ``2026-11-23T10:00Z``."""
    text = key if "T" in key else f"{key}T00:00:00+00:00"
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp())


def script_json(data: object) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``.

    No ``<`` at all (so no ``</script>`` or ``<!--`` from a label can end the
    element), ``>`` and ``&`` escaped too, and the two line separators JSON
    allows but JavaScript source did not.

    >>> script_json({"label": "</script><b>"})
    '{"label":"\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"}'
    """
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(char, escaped)
    return text.replace("\u2029", "\\u2029")


def _trend(
    rows: Sequence[Mapping[str, Any]], history: Sequence[Any], metric: str, date: str
) -> tuple[list[str], dict[str, tuple[list[float | None], list[str]]]]:
    """Run keys (oldest first, this run last) and per feature its values of ``metric`` and severity codes."""
    runs = [*history[-(TREND_RUNS - 1) :]]
    keys = [r.date for r in runs] + [date]
    out: dict[str, tuple[list[float | None], list[str]]] = {
        r["feature"]: ([None] * len(keys), ["-"] * len(keys)) for r in rows
    }
    for i, run in enumerate(runs):
        # Column by column: a run of 1,000 features is 1,000 rows, and 59 of them are read per page.
        checks, names, severities = run.column("check"), run.column("feature"), run.column("severity")
        values, segments = run.column(metric if run.has(metric) else "value"), run.column("segment")
        for check, name, severity, value, seg in zip(checks, names, severities, values, segments, strict=True):
            slot = out.get(name)
            if slot is not None and (check or "drift") == "drift" and not seg:  # the whole table's row
                slot[0][i] = _g4(value)
                slot[1][i] = SEVERITY_CODES.get(str(severity), "-")
    for r in rows:
        values, codes = out[r["feature"]]
        values[-1] = _g4(r.get(metric))
        codes[-1] = SEVERITY_CODES.get(str(r["severity"]), "-")
    return keys, out


def report_data(
    features: Sequence[Mapping[str, Any]],
    history: Sequence[Any],
    *,
    metric: str,
    date: str | None,
    base_name: str = "reference",
) -> dict[str, Any]:
    """The chart data of a run's page: ``f[i]`` belongs to ``<section data-i="i">``.

    ``history`` holds the earlier runs (:class:`~kldrift.runstore.RunSummary`,
    oldest first); ``date`` is this run's key, ``None`` for an ad-hoc comparison
    (no trend); ``base_name`` what the charts call the compared counts
    (``reference``, or ``baseline`` for a window of earlier intervals).
    """
    trend: dict[str, tuple[list[float | None], list[str]]] = {}
    runs: dict[str, Any] | None = None
    if date:
        keys, trend = _trend(features, history, metric, date)
        runs = {"x": [run_seconds(k) for k in keys], "d": keys}
    out = []
    for r in features:
        item = bins_item(r)
        if date:
            values, codes = trend[r["feature"]]
            item.update(t=values, s="".join(codes))
        out.append(item)
    return {"metric": metric, "base": base_name, "runs": runs, "f": out}


def bins_item(r: Mapping[str, Any]) -> dict[str, Any]:
    """A feature row's bins chart data: labels, counts of both sides, KL terms, thresholds."""
    return {
        "l": [str(s) for s in r["bin_labels"] or []],
        "r": [int(c) for c in r["reference_counts"] or []],
        "c": [int(c) for c in r["current_counts"] or []],
        "k": [_g4(c) for c in r["contributions"] or []],
        "th": [_threshold(r["threshold_warn"]), _threshold(r["threshold_critical"])],
    }


def index_data(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The sparklines of the index: per run (oldest first) its time, drift share and worst severity."""
    return {
        "x": [run_seconds(r["date"]) for r in runs],
        "d": [r["date"] for r in runs],
        "share": [_g4(r["drift_share"]) for r in runs],
        "s": "".join(SEVERITY_CODES.get(str(r["worst"]), "-") for r in runs),
    }
