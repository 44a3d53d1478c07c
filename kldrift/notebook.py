"""A report's and a feature's HTML for a notebook cell (``_repr_html_``): self-contained, no script, bounded.

What a cell shows is a pure function of the result's fields: the verdict, the
most urgent features (at most :data:`TOP_FEATURES` rows, each with a sparkline
of its bins, and the charts of the first :data:`CHARTS` alerts), how many more
there are and where to find them, the schema changes, run checks and the
columns not scored. Charts are inline SVG drawn here (:mod:`kldrift.svg`), so
a notebook saved with its outputs shows them on GitHub and nbviewer, in VS
Code, JupyterLab and an untrusted notebook alike: there is no ``<script>``, no
link to fetch, and the essential styles are attributes. Every name from the
data is escaped (autoescaping templates, control characters shown as
``\\x1b``). A report of 1,000 features renders in well under a second, a few
hundred kilobytes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from kldrift.severity import Severity
from kldrift.svg import COLORS, Bars, bins_chart, sparkline, text

if TYPE_CHECKING:
    import jinja2

__all__ = ["CHARTS", "TOP_FEATURES", "feature_html", "report_html", "urgency"]

TOP_FEATURES = 25
"""Feature rows a report's cell shows, most urgent first."""
CHARTS = 6
"""Features whose bins a report's cell draws in full (the first alerts; without alerts, the largest metrics)."""
MAX_TABLE_BINS = 200
"""Rows of a feature's bins table."""


_BADGE = "display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:11px;font-weight:600;background:"


def _num(x: Any, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if isinstance(x, int | float) and math.isfinite(x) else "—"


def _int(x: Any) -> str:
    return f"{x:,}" if isinstance(x, int) else "—"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _color(severity: str) -> str:
    return COLORS.get(str(severity), COLORS["insufficient_data"])


@functools.cache
def _templates() -> dict[str, jinja2.Template]:
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kldrift", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, int=_int, pct=_pct, t=lambda s, limit=0: Markup(text(s, limit)))
    style = resources.files("kldrift").joinpath("templates", "cell.css").read_text(encoding="utf-8")
    env.globals.update(
        style=Markup(" ".join(style.split())),
        badge=_BADGE,
        color=_color,
        spark=lambda b: Markup(sparkline(b)),
        chart=lambda b: Markup(bins_chart(b)),
    )
    return {"report": env.get_template("report_cell.html.j2"), "feature": env.get_template("feature_cell.html.j2")}


def urgency(feature: Any) -> tuple[int, float]:
    """How features are ordered: severity (critical first), then the alert metric's value, largest first."""
    value = feature.value
    return Severity(feature.severity).rank, -value if math.isfinite(value) else math.inf


def bars_of(b: Any) -> Bars:
    """The chart's view of a :class:`~kldrift.scoring.FeatureBins`."""
    return Bars.of(b.labels, b.reference, b.current, b.contributions)


def report_html(report: Any) -> str:
    """The cell of a :class:`~kldrift.scoring.DriftReport`: verdict, most urgent features, charts, the rest counted."""
    pairs = sorted(zip(report.features, report.bins, strict=True), key=lambda p: urgency(p[0]))
    rows = [(f, bars_of(b)) for f, b in pairs[:TOP_FEATURES]]
    alerts = [(f, bars) for f, bars in rows if Severity(f.severity).alerting]
    scored = [(f, bars) for f, bars in rows if Severity(f.severity) is Severity.OK and math.isfinite(f.value)]
    charts = alerts[:CHARTS] or scored[:2]
    counts = {s.value: 0 for s in Severity}
    for f in report.features:
        counts[str(f.severity)] += 1
    return _templates()["report"].render(
        verdict=report.verdict,
        facts=_facts(report),
        counts=list(counts.items()),
        findings=_findings(report),
        metric=report.metric,
        rows=rows,
        hidden=_hidden(report.features, pairs[TOP_FEATURES:]),
        charts=charts,
        unscored=list(report.unscored),
    )


def feature_html(feature: Any, bins: Any | None) -> str:
    """The cell of one :class:`~kldrift.scoring.FeatureDrift`; its chart and bins table when ``bins`` are given."""
    bars = bars_of(bins) if bins is not None else None
    table = range(min(len(bars.labels), MAX_TABLE_BINS)) if bars else range(0)
    return _templates()["feature"].render(f=feature, bars=bars, table=table)


def _facts(report: Any) -> str:
    b = report.baseline  # a mapping, or a value with the same names as attributes
    baseline = (b.get("description") if isinstance(b, Mapping) else getattr(b, "description", "")) or "the reference"
    scored = sum(Severity(f.severity).scored for f in report.features)
    return (
        f"{scored:,} of {len(report.features):,} features scored · {report.n_current:,} current rows against "
        f"{report.n_reference:,} ({baseline}) · alert metric {report.metric}, significant at "
        f"p adjusted < {report.alpha:g}"
    )


def _findings(report: Any) -> list[tuple[str, str, str]]:
    """Schema changes and run checks worth a line: every schema change, the run checks that are not ``ok``."""
    out = [(str(s.severity), f"schema ({s.change})", s.message) for s in report.schema]
    out += [
        (str(c.severity), c.check.replace("_", " "), c.message)
        for c in report.checks
        if Severity(c.severity) is not Severity.OK
    ]
    seg = getattr(report, "segments", None)
    for s in seg.summaries if seg is not None else ():  # a line per alerting segment; the page has the heatmap
        if seg is not None and Severity(s.worst).alerting:
            drifted = [
                f"{f.feature} ({f.metric} {f.value:.3g})" for f in seg.of(s.segment) if Severity(f.severity).alerting
            ]
            out.append((str(s.worst), f"segment {s.segment.label}", ", ".join(drifted) or s.page_reason))
    return sorted(out, key=lambda x: Severity(x[0]).rank)


def _hidden(features: Sequence[Any], rest: Sequence[Any]) -> str:
    if not rest:
        return ""
    counts: dict[str, int] = {}
    for f, _ in rest:
        counts[str(f.severity)] = counts.get(str(f.severity), 0) + 1
    by = ", ".join(f"{n:,} {s}" for s, n in sorted(counts.items(), key=lambda x: Severity(x[0]).rank))
    return (
        f"The {TOP_FEATURES} most urgent of {len(features):,} features are shown; {len(rest):,} more ({by}). "
        "report.to_pandas() has every feature, report[name] shows one, report.save_html(path) writes the full page."
    )
