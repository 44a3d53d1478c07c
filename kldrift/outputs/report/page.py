"""Rendering ``report.html`` and ``index.html``: Jinja2 templates, the numbers formatted, the charts' script.

The HTML is server-side (autoescaped): verdict, tables, every feature's figures,
so a page reads without its script. Charts are drawn in the browser by uPlot
(vendored under ``static/`` with its licence, inlined), from the compact data of
:mod:`~kldrift.outputs.report.data`, lazily: a section's charts when it nears
the viewport, all of them before printing. Nothing is fetched, so a page opens
from disk, a mail attachment or an object store. Output is a pure function of
its inputs: re-rendering writes the same bytes.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from kldrift import runstore
from kldrift.outputs.metrics import drift_rows, run_findings, run_note, urgency, verdict_of
from kldrift.outputs.report.data import TREND_RUNS, bins_item, finite, index_data, report_data, script_json
from kldrift.outputs.report.heatmap import segments_view
from kldrift.severity import Severity

if TYPE_CHECKING:
    import jinja2
    import pyarrow as pa

    from kldrift.config import Settings
    from kldrift.runstore import RunSummary

__all__ = ["SEVERITY_COLORS", "render_index", "render_report"]

UPLOT_VERSION = "1.6.32"
SEVERITY_COLORS = {
    "critical": "#b3261e",
    "warn": "#b35c00",
    "error": "#6a1b9a",
    "insufficient_data": "#5f6368",
    "ok": "#1e7d32",
}
_METRICS = (("kl", "KL"), ("kl_reverse", "reverse KL"), ("psi", "PSI"), ("jensen_shannon", "JS"))


# --- formatting ----------------------------------------------------------------


def _float(x: Any) -> float:
    return float(x) if finite(x) else math.nan


def _num(x: Any, digits: int = 4) -> str:
    """``0.5861``, ``1.2e-05``; ``—`` when missing or not finite."""
    return f"{x:.{digits}g}" if finite(x) else "—"


def _pct(x: Any) -> str:
    return f"{100 * x:.0f}%" if finite(x) else "—"


def _int(x: Any) -> str:
    return f"{int(x):,}" if finite(x) else "—"


def _level(x: Any) -> str:
    """A threshold: ``0.25``, or ``never`` when infinite (that level never alerts)."""
    return f"{x:.4g}" if finite(x) else "never"


def _sort_value(x: Any) -> str:
    """A number for a sortable column's ``data-v`` (``""`` when missing: sorted last)."""
    return repr(float(x)) if finite(x) else ""


def _rank(severity: str) -> int:
    """A severity's rank for sorting (0: critical)."""
    return Severity(severity).rank


def _when(start: str | None, end: str | None) -> str:
    """``[2026-11-22 00:00, 2026-11-23 00:00) UTC``, or the ISO strings when not in UTC."""
    if not start or not end:
        return "ad-hoc comparison (no data interval)"
    s, e = start.replace("T", " "), end.replace("T", " ")
    if s.endswith("+00:00") and e.endswith("+00:00"):
        return f"[{s[:-9]}, {e[:-9]}) UTC" if s.endswith(":00+00:00") else f"[{s[:-6]}, {e[:-6]}) UTC"
    return f"[{start}, {end})"


def _slug(name: str, taken: set[str]) -> str:
    base = "f-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "feature")
    slug = base
    for i in itertools.count(2):
        if slug not in taken:
            break
        slug = f"{base}-{i}"
    taken.add(slug)
    return slug


def _clip(text: Any, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (column names and labels can be long)."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_BREAKS = re.compile(r"(?<=[_./:-])(?=[^_./:-])|(?<=[a-z])(?=[A-Z])")


def _wrap(text: Any) -> Any:
    """``text`` escaped, with a ``<wbr>`` at each word boundary of a column name (after ``_ . / : -``, inside
    camelCase), so a narrow cell wraps ``pickup_zone`` as ``pickup_`` / ``zone``, never mid-word.

    >>> str(_wrap("trip.pickup_zone<b>"))
    'trip.<wbr>pickup_<wbr>zone&lt;b&gt;'
    """
    from markupsafe import Markup, escape

    return Markup("<wbr>").join(escape(part) for part in _BREAKS.split(str(text)))


def _counts(features: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out = {s.value: 0 for s in Severity}
    for r in features:
        out[r["severity"]] += 1
    return out


# --- assets and templates ----------------------------------------------------------


def _static(name: str) -> str:
    return resources.files("kldrift.outputs.report").joinpath("static", name).read_text(encoding="utf-8")


def _inline(text: str, what: str) -> str:
    """``text`` checked to be safe inside an inline ``<script>``/``<style>`` element."""
    low = text.lower()
    if "</script" in low or "</style" in low or "<!--" in low:
        raise ValueError(f"{what} would end its inline element")
    return text


@functools.cache
def _assets() -> dict[str, str]:
    """The page's inline CSS and scripts: uPlot (with its licence as a comment), then kldrift's own."""
    from markupsafe import Markup

    licence = _static("uPlot-LICENSE.txt").replace("*/", "* /")
    uplot = f"/*! uPlot {UPLOT_VERSION} (MIT licence, below)\n{licence}*/\n{_static('uPlot.iife.min.js')}"
    return {
        "uplot_css": Markup(_inline(_static("uPlot.min.css"), "uPlot.min.css")),
        "uplot_js": Markup(_inline(uplot, "uPlot.iife.min.js")),
        "common_js": Markup(_inline(_static("common.js"), "common.js")),
        "report_js": Markup(_inline(_static("report.js"), "report.js")),
        "index_js": Markup(_inline(_static("index.js"), "index.js")),
    }


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kldrift.outputs.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=_num, pct=_pct, int=_int, short=_clip, wrap=_wrap, level=_level, v=_sort_value, rank=_rank)
    env.globals.update(severity_colors=SEVERITY_COLORS, metrics=_METRICS, uplot_version=UPLOT_VERSION, **_assets())
    return env


def _data_json(data: object) -> Any:
    from markupsafe import Markup

    return Markup(script_json(data))


# --- the run's page --------------------------------------------------------------


def render_report(
    metrics: pa.Table,
    *,
    settings: Settings,
    history: Sequence[RunSummary] = (),
    index_href: str | None = None,
) -> str:
    """The HTML page of one run, from its ``metrics.parquet`` table and the runs before it.

    ``history`` holds earlier runs only (oldest first; see
    :func:`~kldrift.runstore.read_runs`); ``index_href`` links back to the
    dataset's ``index.html`` when given.
    """
    all_rows = metrics.to_pylist()
    schema, checks, unscored = run_findings(all_rows)
    first: dict[str, Any] = all_rows[0] if all_rows else {}
    date = first.get("date")
    metric = str(first.get("metric") or settings.metric)
    features = sorted(drift_rows(all_rows), key=urgency)
    taken: set[str] = set()
    sections = []
    for i, r in enumerate(features):
        labels = r["bin_labels"] or []
        sections.append(
            {
                **r,
                "i": i,
                "id": _slug(r["feature"], taken),
                "n_labels": len(labels),
                "has_counts": bool(labels) and bool(sum(r["reference_counts"] or []) + sum(r["current_counts"] or [])),
                "bins_height": 58 + 16 * max(len(labels), 4),
            }
        )
    counts = _counts(features)
    defaults = (settings.thresholds.warn, settings.thresholds.critical)
    calibrated = sorted(f["feature"] for f in features if f.get("calibrated"))
    overrides = sorted(
        f["feature"]
        for f in features
        if not f.get("calibrated") and (f["threshold_warn"], f["threshold_critical"]) != defaults
    )
    baseline = first.get("baseline") or "reference"
    base_name = "reference" if baseline.startswith("reference") else "baseline"
    data = report_data(features, history, metric=metric, date=date, base_name=base_name)
    seg = segments_view(all_rows, [f["feature"] for f in features], first_chart=len(features))
    if seg is not None:  # the drifted segment features' bins charts follow the whole table's in the data
        data["f"].extend(bins_item(r) for r in seg["charts"])
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            dataset=first.get("dataset") or "",
            date=date,
            verdict=verdict_of(all_rows),
            schema=schema,
            checks=checks,
            unscored=unscored,
            interval=_when(first.get("interval_start"), first.get("interval_end")),
            rows_reference=first.get("rows_reference"),
            rows_current=first.get("rows_current"),
            counts=counts,
            metric=metric,
            thresholds=settings.thresholds,
            overrides=overrides,
            calibrated=calibrated,
            baseline=baseline,
            base_name=base_name,
            significance=settings.significance,
            pseudocount=first.get("pseudocount"),
            spec_fingerprint=first.get("spec_fingerprint"),
            features=sections,
            index_href=index_href,
            trend_runs=len(data["runs"]["d"]) if data["runs"] else 0,
            max_trend_runs=TREND_RUNS,
            data_json=_data_json(data),
            seg=seg,
        )
    )


# --- the dataset's index -------------------------------------------------------------


def render_index(dataset: str, runs: Sequence[RunSummary]) -> str:
    """The HTML list of every run, newest first, with its verdict, links to its files and a sparkline.

    A run's line comes from the note in its ``metrics.parquet`` footer (see
    :func:`~kldrift.outputs.metrics.run_note`), or from its rows for files
    written before notes existed.
    """
    items = []
    for i, run in enumerate(sorted(runs, key=lambda r: r.date)):
        note = run.note if run.note is not None else run_note(list(run.rows)) if run.readable else None
        items.append(
            {
                "i": i,
                "date": run.date,
                "folder": run.folder,
                "problem": run.problem or (None if note else f"no rows in {runstore.METRICS}"),
                "note": note or {},
                "worst": note["worst"] if note else "",
                "drift_share": note["drift_share"] if note else None,
                "files": [n for n in runstore.RUN_FILES if n in run.files],
            }
        )
    return (
        _environment()
        .get_template("index.html.j2")
        .render(dataset=dataset, runs=items[::-1], data_json=_data_json(index_data(items)))
    )
