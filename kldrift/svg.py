"""Small charts drawn on the server as inline SVG: a feature's two shares per bin, its KL terms, a sparkline.

What a notebook cell shows where no script runs (a saved notebook on GitHub or
nbviewer, an untrusted notebook, a mail): plain SVG elements with presentation
attributes, text in ``currentColor`` (readable on light and dark themes), a
``<title>`` per bin for the hover note. Sizes are bounded: at most
:data:`MAX_BINS` rows a chart (the bins holding the most rows on either side;
the rest summed in a note), a sparkline is two ``<path>`` elements whatever
its bins, so a report of 1,000 features stays a few hundred kilobytes.

Drawn by hand: a chart here is a few rectangles, and a plotting library's SVG
(matplotlib: ~80 ms a figure) or a script-drawn one (uPlot, Vega) either costs
a thousand times more or shows nothing where scripts do not run.

>>> svg = sparkline(Bars.of(["a", "b", "c"], [50, 30, 20], [20, 30, 50], [0.0, 0.0, 0.0]))
>>> svg.startswith("<svg") and svg.count("<path") == 2
True
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["COLORS", "MAX_BINS", "Bars", "bins_chart", "sparkline", "text"]

COLORS = {
    "reference": "#0072b2",
    "current": "#e69f00",
    "more": "#d55e00",
    "less": "#56b4e9",
    "critical": "#b3261e",
    "warn": "#b35c00",
    "error": "#6a1b9a",
    "insufficient_data": "#5f6368",
    "ok": "#1e7d32",
}
"""The page's colours (Okabe–Ito for the data, the page's for severities), so both look alike."""

MAX_BINS = 40
"""Bins drawn in one chart; beyond, those holding the most rows on either side."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def text(value: object, limit: int = 0) -> str:
    """``value`` as escaped HTML/SVG text: control characters shown as ``\\x1b``, cut to ``limit`` (0: whole).

    >>> text("<b>\\x1b[31m", 0)
    '&lt;b&gt;\\\\x1b[31m'
    """
    s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
    if limit and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=True)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if math.isfinite(x) else "—"


def _num(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else "—"


@dataclass(frozen=True, slots=True)
class Bars:
    """One feature's bins as a chart needs them: counts, shares and KL terms, and which bins are drawn."""

    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    terms: tuple[float, ...]
    shown: tuple[int, ...]
    """Indices of the bins drawn, in bin order."""

    @classmethod
    def of(
        cls,
        labels: Sequence[str],
        reference: Sequence[int],
        current: Sequence[int],
        terms: Sequence[float],
        *,
        limit: int = MAX_BINS,
    ) -> Bars:
        """The bins of a feature; ``shown`` keeps bin order and, past ``limit``, the bins with the largest share."""
        n_ref, n_cur = sum(reference) or 1, sum(current) or 1
        weight = [max(r / n_ref, c / n_cur) for r, c in zip(reference, current, strict=True)]
        used = [i for i, w in enumerate(weight) if w > 0]  # bins empty on both sides say nothing
        if len(used) > limit:
            used = sorted(sorted(used, key=lambda i: -weight[i])[:limit])
        return cls(tuple(labels), tuple(reference), tuple(current), tuple(terms), tuple(used))

    def share(self, side: Sequence[int], i: int) -> float:
        total = sum(side)
        return side[i] / total if total else 0.0

    def note(self) -> str:
        """What the chart leaves out: ``""`` when it draws every bin that holds rows."""
        shown = set(self.shown)
        used = [i for i in range(len(self.labels)) if i not in shown and (self.reference[i] or self.current[i])]
        if not used:
            return ""
        ref = sum(self.share(self.reference, i) for i in used)
        cur = sum(self.share(self.current, i) for i in used)
        return f"{len(used):,} more bins not drawn, holding {_pct(ref)} of the reference and {_pct(cur)} of the current"


def bins_chart(bars: Bars, *, width: int = 600) -> str:
    """Reference and current share per bin (two bars a row) beside each bin's KL term (a bar either side of 0)."""
    row, top = 16, 20
    lab_w = int(width * 0.3)
    share_x, share_w = lab_w + 4, int(width * 0.44)
    kl_mid, kl_half = share_x + share_w + int(width * 0.13), int(width * 0.11)
    shown = bars.shown
    height = top + row * max(len(shown), 1) + 6
    ref = [bars.share(bars.reference, i) for i in shown]
    cur = [bars.share(bars.current, i) for i in shown]
    top_share = max([*ref, *cur, 1e-12])
    terms = [bars.terms[i] for i in shown]
    top_term = max([abs(t) for t in terms if math.isfinite(t)] + [1e-12])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="reference and current share per bin, and KL terms" '
        'font-family="system-ui, sans-serif" font-size="11" style="max-width:100%;height:auto">',
        f'<rect x="{share_x}" y="4" width="9" height="9" fill="{COLORS["reference"]}"/>'
        f'<text x="{share_x + 12}" y="12" fill="currentColor">reference</text>'
        f'<rect x="{share_x + 76}" y="4" width="9" height="9" fill="{COLORS["current"]}"/>'
        f'<text x="{share_x + 88}" y="12" fill="currentColor">current</text>'
        f'<text x="{share_x + share_w}" y="12" text-anchor="end" fill="currentColor" opacity="0.7">'
        f"max {_pct(top_share)}</text>"
        f'<text x="{kl_mid}" y="12" text-anchor="middle" font-size="10" fill="currentColor">'
        "KL term (+: current more)</text>"
        f'<line x1="{kl_mid}" x2="{kl_mid}" y1="{top - 2}" y2="{height - 4}" stroke="currentColor" opacity="0.4"/>',
    ]
    for k, i in enumerate(shown):
        y = top + k * row
        t = terms[k]
        tip = (
            f"{bars.labels[i]}: reference {bars.reference[i]:,} ({_pct(ref[k])}), "
            f"current {bars.current[i]:,} ({_pct(cur[k])}), KL term {_num(t)}"
        )
        w_ref, w_cur = share_w * ref[k] / top_share, share_w * cur[k] / top_share
        parts = [
            f"<g><title>{text(tip)}</title>",
            f'<rect x="0" y="{y}" width="{width}" height="{row}" fill="transparent"/>',
            f'<text x="{lab_w}" y="{y + 11}" text-anchor="end" fill="currentColor">{text(bars.labels[i], 28)}</text>',
            f'<rect x="{share_x}" y="{y + 2}" width="{w_ref:.1f}" height="5" fill="{COLORS["reference"]}"/>',
            f'<rect x="{share_x}" y="{y + 8}" width="{w_cur:.1f}" height="5" fill="{COLORS["current"]}"/>',
        ]
        if math.isfinite(t) and t:
            w = kl_half * abs(t) / top_term
            x = kl_mid if t > 0 else kl_mid - w
            color = COLORS["more"] if t > 0 else COLORS["less"]
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="9" fill="{color}"/>')
        parts.append("</g>")
        out.append("".join(parts))
    if not shown:
        out.append(f'<text x="{share_x}" y="{top + 11}" fill="currentColor">no rows in any bin</text>')
    out.append("</svg>")
    return "".join(out)


def sparkline(bars: Bars, *, width: int = 120, height: int = 24) -> str:
    """Current share per bin as bars, the reference's as a step line over them: two paths, the bins drawn only."""
    shown = bars.shown
    ref = [bars.share(bars.reference, i) for i in shown]
    cur = [bars.share(bars.current, i) for i in shown]
    top = max([*ref, *cur, 1e-12])
    step = width / max(len(shown), 1)
    columns, line = [], []
    for k in range(len(shown)):
        x = k * step
        h = (height - 2) * cur[k] / top
        if h > 0:
            columns.append(f"M{x + 0.5:.1f} {height}v{-h:.1f}h{max(step - 1, 0.5):.1f}v{h:.1f}z")
        y = height - (height - 2) * ref[k] / top
        line.append(f"{'M' if k == 0 else 'L'}{x:.1f} {y:.1f}H{x + step:.1f}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="share per bin: current bars, reference line">'
        "<title>share per bin: current (bars), reference (line)</title>"
        f'<path d="{"".join(columns)}" fill="{COLORS["current"]}"/>'
        f'<path d="{"".join(line)}" fill="none" stroke="{COLORS["reference"]}" stroke-width="1.5"/>'
        "</svg>"
    )
