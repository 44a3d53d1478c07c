"""``report.html`` (one run) and ``index.html`` (every run of a dataset), from saved metrics only.

A run's page is a pure function of its ``metrics.parquet``, the earlier runs'
``metrics.parquet`` (for the trend) and the settings (thresholds, alpha, the
dataset-drift share): the raw data is never read. So :func:`write_outputs`
renders the live page and :func:`rerender` (``kldrift report``) re-renders it
later, byte for byte the same as long as the config and library versions are.

The page is self-contained: Jinja2 (autoescaped) for the HTML, matplotlib for
the charts, saved as SVG and inlined, text kept as ``<text>`` (no embedded or
fetched fonts), no scripts, no external URLs. The two figures are built once
per render and only their data artists are replaced per feature, which keeps
a page of 50 features to a few seconds (2.5 s of CPU without trends, 4 s with
30-run trends, on a busy 2-core machine).
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from kldrift import runstore
from kldrift.atomic import write_text
from kldrift.config import JobConfig, Settings
from kldrift.errors import SourceError
from kldrift.findings import Verdict, summarize
from kldrift.outputs.metrics import drift_rows, run_findings
from kldrift.runstore import RunSummary
from kldrift.scoring import SEVERITY_RANK

if TYPE_CHECKING:
    import jinja2
    from matplotlib.figure import Figure

__all__ = [
    "REPORT_NAME",
    "RUN_COLUMNS",
    "render_index",
    "render_report",
    "rerender",
    "write_index",
    "write_report",
]

log = logging.getLogger(__name__)

REPORT_NAME = runstore.REPORT
INDEX_NAME = runstore.INDEX
TREND_RUNS = 60
"""Runs drawn in a feature's trend: this one and up to 59 before it."""

RUN_COLUMNS = runstore.SUMMARY_COLUMNS
_LABEL_CHARS = 28
"""Longest bin label drawn on a chart axis; the full label is in the bin table."""

# Colour-blind-safe pairs (Okabe–Ito): reference blue, current orange; contributions by sign.
_REFERENCE, _CURRENT = "#0072b2", "#e69f00"
_MORE, _LESS = "#d55e00", "#56b4e9"
SEVERITY_COLORS = {
    "critical": "#b3261e",
    "warn": "#b35c00",
    "error": "#6a1b9a",
    "insufficient_data": "#5f6368",
    "ok": "#1e7d32",
}
_RC = {
    "svg.hashsalt": "kldrift",
    "svg.fonttype": "none",  # text stays <text>: small, selectable, no embedded glyphs or fonts
    "text.parse_math": False,  # a category named "$5" is a label, not mathtext
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # bundled with matplotlib; one family, no fallback chain to build
    "font.size": 9.0,
    "axes.titlesize": 9.5,
    "axes.titley": 1.0,  # a fixed title position: matplotlib's automatic one measures every tick label
    "axes.titlepad": 6.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "xtick.bottom": False,  # grid lines instead of tick marks: fewer artists to draw
    "ytick.left": False,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "legend.frameon": False,
    "legend.fontsize": 8.0,
}
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


def verdict_of(rows: list[dict[str, Any]]) -> Verdict:
    """The verdict of a run from its saved metrics rows."""
    schema, checks, _ = run_findings(rows)
    first = rows[0] if rows else {}
    return summarize(
        [r["severity"] for r in drift_rows(rows)],
        schema,
        checks,
        drift_share=_float(first.get("drift_share")) if rows else 0.0,
        dataset_drift=bool(first.get("dataset_drift")),
        share_threshold=_float(first.get("share_threshold")),
    )


def _counts(features: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out = dict.fromkeys(SEVERITY_RANK, 0)
    for r in features:
        out[r["severity"]] = out.get(r["severity"], 0) + 1
    return out


# --- formatting ----------------------------------------------------------------


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _float(x: Any) -> float:
    return float(x) if _finite(x) else math.nan


def _num(x: Any, digits: int = 4) -> str:
    """``0.5861``, ``1.2e-05``; ``—`` when missing or not finite."""
    return f"{x:.{digits}g}" if _finite(x) else "—"


def _pct(x: Any) -> str:
    return f"{100 * x:.0f}%" if _finite(x) else "—"


def _int(x: Any) -> str:
    return f"{int(x):,}" if _finite(x) else "—"


def _when(start: str | None, end: str | None) -> str:
    """``[2026-11-22 00:00, 2026-11-23 00:00) UTC``, or the ISO strings when not in UTC."""
    if not start or not end:
        return "ad-hoc comparison (no data interval)"
    s, e = start.replace("T", " "), end.replace("T", " ")
    if s.endswith("+00:00") and e.endswith("+00:00"):
        return f"[{s[:-9]}, {e[:-9]}) UTC" if s.endswith(":00+00:00") else f"[{s[:-6]}, {e[:-6]}) UTC"
    return f"[{start}, {end})"


def _slug(name: str, taken: set[str]) -> str:
    base = "f-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "feature")
    slug = base
    for i in itertools.count(2):
        if slug not in taken:
            break
        slug = f"{base}-{i}"
    taken.add(slug)
    return slug


def _clip(text: Any, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (column names and labels can be megabytes)."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def _sort_key(row: Mapping[str, Any]) -> tuple[int, float]:
    value = row["value"]
    return SEVERITY_RANK.get(row["severity"], len(SEVERITY_RANK)), -value if _finite(value) else math.inf


# --- charts --------------------------------------------------------------------


class _Charts:
    """Two figures (bins, trend) set up once and redrawn per feature; SVG strings out.

    Speed: only the data artists are removed between features, so the axes keep
    their tick objects, formatters and grid; clearing the axes (or a new figure)
    rebuilds all of them and costs several times more per feature.
    """

    def __init__(self) -> None:
        from matplotlib.figure import Figure
        from matplotlib.ticker import PercentFormatter

        self._serial = 0
        self._bins: Figure = Figure(figsize=(7.6, 3.0))
        ax, bx = self._bins.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        self._share, self._contrib = ax, bx
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
        ax.tick_params(axis="y", pad=2)
        ax.set_xlabel("share of rows")
        bx.set_yticks([])
        bx.axvline(0, color="#555555", linewidth=0.7)
        bx.set_xlabel("← current rarer · current more common →")
        for a in (ax, bx):
            a.grid(axis="x", color="#e5e5e5", linewidth=0.6)
            a.set_axisbelow(True)

        self._trend: Figure = Figure(figsize=(4.8, 2.6))
        self._trend.subplots_adjust(left=0.13, right=0.87, top=0.87, bottom=0.2)
        tx = self._ax_trend = self._trend.subplots()
        tx.xaxis.set_label_coords(0.5, -0.17)
        tx.yaxis.set_label_coords(-0.1, 0.5)
        tx.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        tx.set_axisbelow(True)

    def bins(
        self, feature: str, labels: Sequence[str], ref: Sequence[int], cur: Sequence[int], contrib: Sequence[float]
    ) -> str:
        """Reference vs current share of rows per bin, and each bin's KL term, on one row per bin."""
        n = len(labels)
        height = 0.9 + 0.19 * max(n, 4)
        longest = max((len(_short(s)) for s in labels), default=4)
        width = 7.6
        self._bins.set_size_inches(width, height)
        self._bins.subplots_adjust(
            left=(0.25 + 0.062 * longest) / width, right=0.98, top=1 - 0.45 / height, bottom=0.5 / height, wspace=0.06
        )
        ax, bx = self._share, self._contrib
        axes_h = height - 0.95
        for a in (ax, bx):
            # Fixed label positions: matplotlib's automatic ones measure every tick label again.
            a.xaxis.set_label_coords(0.5, -0.36 / axes_h)
            a.yaxis.set_label_coords(0.0, 0.5)
        for art in [*ax.collections, *bx.collections, *bx.texts]:
            art.remove()
        y = list(range(n))
        n_ref, n_cur = sum(ref), sum(cur)
        p_ref = [c / n_ref if n_ref else 0.0 for c in ref]
        p_cur = [c / n_cur if n_cur else 0.0 for c in cur]
        ax.add_collection(_hbars([v - 0.2 for v in y], p_ref, 0.4, _REFERENCE), autolim=False)
        ax.add_collection(_hbars([v + 0.2 for v in y], p_cur, 0.4, _CURRENT), autolim=False)
        ax.set_yticks(y, [_short(s) for s in labels])
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xlim(0, max([*p_ref, *p_cur, 0.01]) * 1.06)
        # The legend as the two side titles: a Legend artist costs a tenth of the render time.
        ax.set_title(f"■ reference, {n_ref:,} rows", loc="left", color=_REFERENCE)
        ax.set_title(f"■ current, {n_cur:,} rows", loc="right", color=_CURRENT)

        values = [c if _finite(c) else 0.0 for c in contrib]
        bx.add_collection(_hbars(y, values, 0.7, [_MORE if v > 0 else _LESS for v in values]), autolim=False)
        for i, c in enumerate(contrib):
            if not _finite(c):
                bx.text(0, i, " dropped (empty)", va="center", ha="left", fontsize=7, color="#777777")
        bx.set_ylim(n - 0.5, -0.5)
        lo, hi = min([0.0, *values]), max([0.0, *values])
        pad = 0.08 * (hi - lo) or 1e-3
        bx.set_xlim(lo - pad, hi + pad)
        total = math.fsum(c for c in contrib if _finite(c))
        bx.set_title(f"KL term per bin (sum {total:.4g} nats)", loc="left")
        return self._svg(self._bins, f"distribution of {feature}: reference vs current share per bin, KL contribution")

    def trend(
        self,
        feature: str,
        dates: Sequence[str],
        values: Sequence[float],
        severities: Sequence[str],
        *,
        metric: str,
        warn: float,
        critical: float,
    ) -> str:
        """The alert metric per run (this run last), coloured by severity, with both thresholds."""
        ax = self._ax_trend
        for art in [*ax.lines, *ax.collections, *ax.texts]:
            art.remove()
        x = list(range(len(dates)))
        ys = [v if _finite(v) else math.nan for v in values]
        ax.plot(x, ys, color="#999999", linewidth=1.0, zorder=1)
        last = len(x) - 1
        # One marker line per severity: SVG then defines each marker once and <use>s it per run,
        # where a scatter writes every point as its own path (a third of the page's bytes).
        for sev in dict.fromkeys(severities[:-1]):
            pts = [(i, ys[i]) for i in x[:-1] if severities[i] == sev]
            ax.plot(
                *zip(*pts, strict=True), ls="none", marker="o", ms=4.5, mew=0, color=SEVERITY_COLORS.get(sev, "#999")
            )
        ax.plot(
            [last],
            [ys[last]],
            ls="none",
            marker="o",
            ms=7.5,
            mec="#000000",
            mew=1.0,
            color=SEVERITY_COLORS.get(severities[last], "#999"),
        )
        levels = [(n, v) for n, v in (("warn", warn), ("critical", critical)) if _finite(v)]  # inf: never alerts
        top = max([*(v for _, v in levels), *(v for v in ys if _finite(v))], default=0.0)
        top = top * 1.15 if top > 0 else 1.0
        for name, level in levels:
            color = SEVERITY_COLORS[name]
            ax.axhline(level, color=color, linestyle="--", linewidth=0.9, zorder=0)
            # Labels in the right margin, critical's above its line and warn's below: apart even when close.
            above = name == "critical"
            ax.text(
                1.01,
                level,
                f"{name}\n{level:g}",
                transform=ax.get_yaxis_transform(),
                color=color,
                fontsize=7.5,
                va="bottom" if above else "top",
                linespacing=1.0,
            )
        ax.set_ylim(0, top)
        ax.set_xlim(-0.6, len(x) - 0.4)
        step = max(1, math.ceil(len(x) / 8))
        ticks = [i for i in x if (last - i) % step == 0]
        ax.set_xticks(ticks, [dates[i][5:] if len(dates[i]) == 10 else dates[i] for i in ticks])
        ax.set_ylabel(metric)
        years = sorted({d[:4] for d in dates})
        ax.set_xlabel(f"run date (MM-DD, {'–'.join(dict.fromkeys([years[0], years[-1]]))})")
        ax.set_title(f"{metric} per run (this run ringed)", loc="left")
        return self._svg(
            self._trend, f"{metric} of {feature} over the last {len(x)} runs with warn and critical thresholds"
        )

    def _svg(self, fig: Figure, label: str) -> str:
        import matplotlib
        from markupsafe import escape

        buf = io.StringIO()
        with matplotlib.rc_context({"svg.hashsalt": _RC["svg.hashsalt"]}):
            fig.savefig(buf, format="svg", metadata=_NO_METADATA)
        text = buf.getvalue()
        # Inline: no XML prolog or DOCTYPE; drop matplotlib's indentation and path line breaks (~15% of the bytes).
        text = text[text.index("<svg") :].replace(" \n", " ")
        text = re.sub(r">\n\s*<", "><", text)
        # Many SVGs share one HTML document: give each its own id namespace (ids must be unique).
        self._serial += 1
        p = f"c{self._serial}-"
        text = text.replace(' id="', f' id="{p}').replace("url(#", f"url(#{p}").replace('href="#', f'href="#{p}')
        return text.replace("<svg ", f'<svg class="chart" role="img" aria-label="{escape(label)}" ', 1)


def _hbars(y: Sequence[float], widths: Sequence[float], height: float, color: str | Sequence[str]) -> Any:
    """Horizontal bars from 0 as one collection: one artist instead of a Rectangle per bin (much faster)."""
    from matplotlib.collections import PolyCollection

    h = height / 2
    verts = [[(0.0, c - h), (w, c - h), (w, c + h), (0.0, c + h)] for c, w in zip(y, widths, strict=True)]
    return PolyCollection(verts, facecolors=color, edgecolors="none", linewidths=0.0)


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kldrift.outputs", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=_num, pct=_pct, int=_int, short=_clip)
    env.globals["severity_colors"] = SEVERITY_COLORS
    return env


# --- the run's page --------------------------------------------------------------


def _trend_points(
    rows: Sequence[Mapping[str, Any]], history: Sequence[RunSummary], metric: str
) -> dict[str, list[tuple[str, float, str]]]:
    """feature → [(date, value of ``metric``, severity)] over the earlier runs, oldest first."""
    out: dict[str, list[tuple[str, float, str]]] = {r["feature"]: [] for r in rows}
    for run in history[-(TREND_RUNS - 1) :]:
        for r in run.features:
            pts = out.get(r["feature"])
            if pts is not None:
                value = r.get(metric, r.get("value"))
                pts.append((run.date, _float(value), str(r["severity"])))
    return out


def render_report(
    metrics: pa.Table,
    *,
    settings: Settings,
    history: Sequence[RunSummary] = (),
    index_href: str | None = None,
) -> str:
    """The HTML page of one run, from its ``metrics.parquet`` table and the runs before it.

    ``history`` holds earlier runs only (oldest first; see :func:`read_runs`);
    ``index_href`` links back to the dataset's ``index.html`` when given.
    """
    import matplotlib

    all_rows = metrics.to_pylist()
    rows = drift_rows(all_rows)
    schema, checks, unscored = run_findings(all_rows)
    verdict = verdict_of(all_rows)
    first: dict[str, Any] = all_rows[0] if all_rows else {}
    date = first.get("date")
    metric = str(first.get("metric") or settings.metric)
    trends = _trend_points(rows, history, metric) if date else {}
    taken: set[str] = set()
    features = []
    with matplotlib.rc_context(_RC):
        charts = _Charts()
        for r in rows:
            labels = list(r["bin_labels"] or [])
            ref, cur = list(r["reference_counts"] or []), list(r["current_counts"] or [])
            contrib = [c if c is not None else math.nan for c in (r["contributions"] or [])]
            bins_svg = (
                charts.bins(r["feature"], labels, ref, cur, contrib) if labels and (sum(ref) or sum(cur)) else None
            )
            trend_svg = None
            if date:
                pts = [
                    *trends.get(r["feature"], []),
                    (date, _float(r[metric]), r["severity"]),
                ]
                trend_svg = charts.trend(
                    r["feature"],
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    [p[2] for p in pts],
                    metric=metric,
                    warn=r["threshold_warn"],
                    critical=r["threshold_critical"],
                )
            n_ref, n_cur = sum(ref), sum(cur)
            features.append(
                {
                    **r,
                    "id": _slug(r["feature"], taken),
                    "bins_svg": bins_svg,
                    "trend_svg": trend_svg,
                    "bin_rows": [
                        {
                            "label": lab,
                            "ref": rc,
                            "cur": cc,
                            "ref_share": rc / n_ref if n_ref else math.nan,
                            "cur_share": cc / n_cur if n_cur else math.nan,
                            "contribution": cb,
                        }
                        for lab, rc, cc, cb in zip(labels, ref, cur, contrib, strict=False)
                    ],
                }
            )
    from markupsafe import Markup

    for f in features:
        for key in ("bins_svg", "trend_svg"):
            if f[key] is not None:
                f[key] = Markup(f[key])  # matplotlib escapes the text it writes into the SVG
    summary = sorted(features, key=_sort_key)
    counts = dict.fromkeys(SEVERITY_RANK, 0)
    for f in features:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    scored = sum(counts.get(s, 0) for s in ("ok", "warn", "critical"))
    overrides = sorted(
        f["feature"]
        for f in features
        if (f["threshold_warn"], f["threshold_critical"]) != (settings.thresholds.warn, settings.thresholds.critical)
    )
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            dataset=first.get("dataset") or "",
            date=date,
            verdict=verdict,
            schema=schema,
            checks=checks,
            unscored=unscored,
            interval=_when(first.get("interval_start"), first.get("interval_end")),
            rows_reference=first.get("rows_reference"),
            rows_current=first.get("rows_current"),
            drift_share=first.get("drift_share"),
            dataset_drift=bool(first.get("dataset_drift")),
            share_threshold=settings.dataset_drift.share,
            scored=scored,
            counts=counts,
            metric=metric,
            thresholds=settings.thresholds,
            overrides=overrides,
            significance=settings.significance,
            pseudocount=first.get("pseudocount"),
            spec_fingerprint=first.get("spec_fingerprint"),
            features=features,
            summary=summary,
            index_href=index_href,
            trend_runs=TREND_RUNS,
        )
    )


def write_report(
    folder: str,
    metrics: pa.Table,
    *,
    settings: Settings,
    history: Sequence[RunSummary] = (),
    index_href: str | None = None,
) -> str:
    """Render and atomically write ``<folder>/report.html``; returns its path."""
    html = render_report(metrics, settings=settings, history=history, index_href=index_href)
    return write_text(os.path.join(folder, REPORT_NAME), html)


# --- the dataset's index -------------------------------------------------------------


def render_index(dataset: str, runs: Sequence[RunSummary]) -> str:
    """The HTML list of every run, newest first, with its verdict and links to its files."""
    items = []
    for run in sorted(runs, key=lambda r: r.date, reverse=True):
        alerts = sorted((r for r in run.features if r["severity"] in ("critical", "warn")), key=_sort_key)
        counts = _counts(run.features)
        items.append(
            {
                "date": run.date,
                "folder": run.folder,
                "problem": run.problem,
                "verdict": verdict_of(list(run.rows)) if run.rows else None,
                "counts": counts,
                "scored": sum(counts[s] for s in ("ok", "warn", "critical")),
                "drift_share": run.first("drift_share"),
                "dataset_drift": bool(run.first("dataset_drift")),
                "rows_current": run.first("rows_current"),
                "alerts": [a["feature"] for a in alerts],
                "files": [n for n in runstore.RUN_FILES if n in run.files],
            }
        )
    return _environment().get_template("index.html.j2").render(dataset=dataset, runs=items)


def write_index(dataset_dir: str, *, dataset: str) -> str:
    """Re-read every run under ``dataset_dir`` and atomically write its ``index.html``."""
    runs = runstore.read_runs(dataset_dir, columns=RUN_COLUMNS)
    return write_text(os.path.join(dataset_dir, INDEX_NAME), render_index(dataset, runs))


# --- kldrift report ------------------------------------------------------------------


def rerender(config: JobConfig, key: str) -> dict[str, str]:
    """Re-render ``report.html`` of the run ``key`` (see :func:`~kldrift.runstore.run_key`) and the index.

    Reads only saved ``metrics.parquet`` files and commits the page with the
    run's other files as one set (the manifest's digest of the page updated);
    raises :class:`~kldrift.errors.SourceError` when that run has none.
    """
    import hashlib
    import json

    dataset_dir = config.dataset_dir()
    folder = runstore.run_dir(dataset_dir, key)
    path = os.path.join(folder, runstore.METRICS)
    if not os.path.isfile(path):
        raise SourceError(f"{path}: no saved metrics for {key}; {_runs_hint(dataset_dir)}")
    with runstore.locked(folder):
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise SourceError.for_path(path, f"cannot read saved metrics: {exc}") from None
        earlier = runstore.read_runs(dataset_dir, columns=RUN_COLUMNS, before=key, last=TREND_RUNS - 1)
        history = [r for r in earlier if r.rows]
        page = render_report(table, settings=config, history=history, index_href=f"../{INDEX_NAME}").encode()
        files = {runstore.REPORT: page}
        for name in (runstore.ALERTS, runstore.METRICS, runstore.MANIFEST):
            with contextlib.suppress(FileNotFoundError), open(os.path.join(folder, name), "rb") as fh:
                files[name] = fh.read()
        if runstore.MANIFEST in files:
            manifest = json.loads(files[runstore.MANIFEST])
            manifest.setdefault("outputs", {})["report"] = {
                "path": runstore.REPORT,
                "sha256": hashlib.sha256(page).hexdigest(),
            }
            manifest.get("errors", {}).pop("report", None)
            files[runstore.MANIFEST] = (json.dumps(manifest, indent=1, default=str) + "\n").encode()
        written = runstore.commit(folder, files, keep=(runstore.DELIVERIES,))
    with runstore.locked(dataset_dir):
        index = write_index(dataset_dir, dataset=config.dataset)
    return {"report": written[runstore.REPORT], "index": index}


def _runs_hint(dataset_dir: str) -> str:
    dates = [r.date for r in runstore.read_runs(dataset_dir, columns=["feature"]) if r.problem is None]
    if not dates:
        return f"no runs with metrics under {dataset_dir} (run `kldrift run --config ... --date ...` first)"
    shown = ", ".join(dates[-5:])
    return f"runs with metrics: {'..., ' if len(dates) > 5 else ''}{shown}"
