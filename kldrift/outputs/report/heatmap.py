"""The segments' part of a run's page, from its saved rows: a features x segments heatmap and a section
per segment.

The heatmap is drawn on the server (a table: a cell per feature and segment, coloured by the alert
metric against the feature's critical threshold, marked by severity) and each cell links to its
segment's section: the segment's rows, what it paged at and why, its checks, its features that are
not ok and the :data:`TOP_OK` highest of the rest (every feature is a heatmap cell), and the bins
chart of each of its drifted features (at most :data:`MAX_CHARTS` on the page, most urgent first: the
rest keep their numbers). At 50 segments x 50 features the page is about 0.6 MB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kldrift.outputs.metrics import segment_of, segment_rows, urgency
from kldrift.outputs.report.data import finite
from kldrift.segments import Segment
from kldrift.severity import Severity

__all__ = ["MAX_CHARTS", "TOP_OK", "segments_view"]

TOP_OK = 8
"""Features at ok a segment's table lists (the highest metric first); the rest are counted, and in the heatmap."""
MAX_CHARTS = 200
"""Bins charts of drifted segment features drawn on one page (the most urgent): the page stays small."""
_MARKS = {"critical": "!!", "warn": "!", "error": "E", "insufficient_data": "?", "ok": ""}
_LEVELS = (0.1, 0.25, 0.5, 1.0)
"""Heat classes: the alert metric's value as a share of the critical threshold (``h0`` below 0.1 ... ``h4`` at 1)."""


def _heat(value: Any, critical: Any) -> int:
    if not finite(value) or not finite(critical) or critical <= 0:
        return 0
    share = value / critical
    return sum(share >= level for level in _LEVELS)


def _worst_first(part: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]) -> tuple[Any, ...]:
    s, features, _ = part
    alerts = sum(Severity(f["severity"]).alerting for f in features)
    top = max((f["value"] / f["threshold_critical"] for f in features if _ratio_ok(f)), default=0.0)
    return Severity(s["severity"]).rank, -alerts, -top


def _ratio_ok(f: dict[str, Any]) -> bool:
    return finite(f.get("value")) and finite(f.get("threshold_critical")) and f["threshold_critical"] > 0


def segments_view(rows: Sequence[dict[str, Any]], order: Sequence[str], *, first_chart: int) -> dict[str, Any] | None:
    """What the template draws of a run's segments (``None`` without segments).

    ``order`` is the whole table's features in the page's order; ``first_chart`` the index the first
    segment chart takes in the page's chart data (after the whole table's features). Returns the
    segments (columns, worst first), the heatmap's rows, and ``charts``: the chart data rows of the
    drifted segment features that get a chart, in the order of their ``data-i``.
    """
    parts = sorted(segment_rows(list(rows)), key=_worst_first)
    if not parts:
        return None
    first = parts[0][0]
    segments, charts = [], []
    cells: dict[str, list[dict[str, Any] | None]] = {}
    by_urgency = sorted(
        ((j, f) for j, (_, features, _) in enumerate(parts) for f in features if Severity(f["severity"]).alerting),
        key=lambda jf: urgency(jf[1]),
    )
    charted = {(j, f["feature"]): first_chart + k for k, (j, f) in enumerate(by_urgency[:MAX_CHARTS])}
    for j, (s, features, checks) in enumerate(parts):
        seg = segment_of(s) or Segment(("?",), (None,))
        sid = f"s-{j}"
        shown: list[dict[str, Any]] = []
        for f in sorted(features, key=urgency):
            i = charted.get((j, f["feature"]))
            if i is not None:
                charts.append(f)
            n = len(f.get("bin_labels") or [])
            if f["severity"] != "ok" or sum(r["severity"] == "ok" for r in shown) < TOP_OK:
                shown.append({**f, "i": i, "bins_height": 58 + 16 * max(n, 4)})
            slot = cells.setdefault(f["feature"], [None] * len(parts))
            mark = _MARKS.get(str(f["severity"]), "")
            value = f.get("value")
            title = (
                f"{f['feature']} · {seg.label}: {f['metric']} {value:.4g}"
                if finite(value)
                else f"{f['feature']} · {seg.label}"
            )
            slot[j] = {
                "cls": f"h{_heat(value, f.get('threshold_critical'))} m-{f['severity']}",
                "mark": mark,
                "title": f"{title}, {f['severity']}",
                "href": sid,
            }
        segments.append(
            {
                "id": sid,
                "label": seg.label,
                "json": seg.to_json(),
                "worst": s["severity"],
                "paged": s.get("segment_paged") or "ok",
                "reason": s.get("message") or "",
                "n_reference": s.get("n_reference"),
                "n_current": s.get("n_current"),
                "baseline": s.get("baseline") or "",
                "alerts": sum(Severity(f["severity"]).alerting for f in features),
                "features": shown,
                "more": len(features) - len(shown),
                "checks": checks,
            }
        )
    known = [n for n in order if n in cells] + sorted(n for n in cells if n not in order)
    known.sort(key=lambda n: min((_rank(c) for c in cells[n] if c), default=9))
    heat_rows = [{"feature": n, "cells": _cells(cells[n])} for n in known]
    return {
        "segments": segments,
        "rows": heat_rows,
        "columns": ", ".join(dict.fromkeys(c for s in segments for c in s["json"])),
        "charts": charts,
        "baseline": first.get("baseline") or "",
    }


def _cells(row: Sequence[dict[str, Any] | None]) -> Any:
    """A heatmap row's cells as HTML, escaped here: 2,500 cells through the template cost a quarter second."""
    from markupsafe import Markup, escape

    out = []
    for c in row:
        if c is None:
            out.append('<td class="none"></td>')
        else:
            out.append(
                f'<td class="{c["cls"]}"><a href="#{c["href"]}" title="{escape(c["title"])}">{c["mark"]}</a></td>'
            )
    return Markup("".join(out))


def _rank(cell: dict[str, Any]) -> int:
    """A heat cell's severity rank, for ordering the heatmap's rows (critical features first)."""
    sev = cell["cls"].split(" m-", 1)[1]
    return Severity(sev).rank if sev in _MARKS else 9
