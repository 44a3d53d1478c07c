"""The report's charts as pixels: pages of 1, 2 and 60 daily runs (and 5 hourly ones) in headless Chromium.

What a screenshot or a PDF made in CI shows, checked on the pixels rather than
against a golden image: every chart in the viewport is drawn as soon as the page
has loaded (no scrolling, no waiting), with the series' colours in the plot; the
thresholds are dashed lines across the trend's plot box, for one run too; this
run's ringed point is inside the plot box; the time axis has one label per tick
and none twice; Chromium's own ``--screenshot`` (with and without a virtual time
budget) and ``--print-to-pdf`` (``kldrift report --pdf``) show every chart.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from helpers import chromium, write_parquet

from kldrift import cli
from kldrift.config import load_config
from kldrift.demo import make_demo
from kldrift.interval import Interval
from kldrift.pipeline import run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST_DAY = dt.date(2026, 11, 17)
# The page's colours (kldrift/outputs/report/static/common.js COLORS), as RGB.
REF, CUR, LINE = (0x00, 0x72, 0xB2), (0xE6, 0x9F, 0x00), (0x99, 0x99, 0x99)
CRITICAL, WARN, OK = (0xB3, 0x26, 0x1E), (0xB3, 0x5C, 0x00), (0x1E, 0x7D, 0x32)
PENDING = (0xF3, 0xF5, 0xF7)  # one of the two stripes of a chart not drawn yet (_style.css.j2)
TREND_PLOT_PX = 306  # report.js: TREND_W 420 - y axis 44 - right padding 70
VIEW = {"width": 1280, "height": 2400}


def _daily(root: Path, days: int) -> Path:
    """A demo job of ``days`` daily runs from FIRST_DAY (drift from the 5th, or the last when fewer); its last page."""
    info = make_demo(
        str(root), days=days, first_day=FIRST_DAY, drift_day=min(5, days), reference_rows=5_000, rows_per_day=500
    )
    config = load_config(info["config"])
    for day in info["dates"]:
        result = run(config, Interval.for_date(day), deliver=False)
    return Path(result.paths["report"])


def _hourly(root: Path, hours: int) -> Path:
    rng = np.random.default_rng(5)
    write_parquet(root / "ref" / "a.parquet", pa.table({"x": rng.normal(size=2_000)}))
    (root / "job.yaml").write_text(
        "dataset: hourly\nreference: ref/\ncurrent: 'cur/h={start}/'\noutput: out/\nschedule: '@hourly'\n"
    )
    config = load_config(root / "job.yaml")
    for h in range(hours):
        start = dt.datetime(2026, 11, 23, 10 + h, tzinfo=dt.UTC)
        write_parquet(root / "cur" / f"h={start.isoformat()}" / "a.parquet", pa.table({"x": rng.normal(h, 1, 500)}))
        result = run(config, Interval(start, start + dt.timedelta(hours=1)), deliver=False)
    return Path(result.paths["report"])


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pixels")
    out = {f"{n} runs": _daily(root / f"d{n}", n) for n in (1, 2, 60)}
    out["5 hourly runs"] = _hourly(root / "hourly", 5)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def _rgb(png: bytes) -> np.ndarray[Any, Any]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def _mask(px: np.ndarray[Any, Any], color: tuple[int, int, int], tol: int = 24) -> np.ndarray[Any, Any]:
    """Where ``px`` is within ``tol`` of ``color`` in every channel."""
    return np.all(np.abs(px - np.array(color, dtype=np.int16)) <= tol, axis=-1)


def _crop(px: np.ndarray[Any, Any], box: dict[str, float]) -> np.ndarray[Any, Any]:
    x, y = round(box["x"]), round(box["y"])
    return px[y : y + round(box["height"]), x : x + round(box["width"])]


def _open(browser: Any, path: Path) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport=VIEW, device_scale_factor=1)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.goto(path.resolve().as_uri())
    return page, messages


@pytest.mark.parametrize("name", ["1 runs", "2 runs", "60 runs"], ids=["1-run", "2-runs", "60-runs"])
def test_the_charts_in_view_are_drawn_at_load(browser: Any, pages: dict[str, Path], name: str) -> None:
    page, messages = _open(browser, pages[name])
    # No scrolling and no waiting: what a screenshot taken right after the load event shows.
    assert page.evaluate("document.body.dataset.drawn") in ("view", "all")
    px = _rgb(page.screenshot())
    boxes = page.evaluate(
        """Array.from(document.querySelectorAll('section.feature .chart')).map(c => {
             const r = c.getBoundingClientRect(), o = c.querySelectorAll('.u-over');
             return {kind: c.classList.contains('trend') ? 'trend' : 'bins', pending: c.classList.contains('pending'),
                     box: {x: r.x, y: r.y, width: r.width, height: r.height},
                     plot: Array.from(o).map(e => { const b = e.getBoundingClientRect();
                                                    return {x: b.x, y: b.y, width: b.width, height: b.height}; })};
           }).filter(c => c.box.y + c.box.height <= innerHeight)"""
    )
    assert len(boxes) >= 4, boxes  # the first two features' charts at least: 2,400 px of page
    for chart in boxes:
        assert not chart["pending"], chart
        area = _crop(px, chart["box"])
        assert _mask(area, PENDING, 0).sum() == 0, chart  # no placeholder stripes left
        if chart["kind"] == "bins":
            assert _mask(area, REF, 0).sum() > 50, chart  # reference bars
            assert _mask(area, CUR, 0).sum() > 50, chart  # current bars
            continue
        plot = _crop(px, chart["plot"][0])
        h, w, _ = plot.shape
        # both thresholds: dashed lines across the plot box (4 px on, 3 off: over half its columns)
        for color in (WARN, CRITICAL):
            rows = _mask(plot, color, 8)
            assert rows.any(axis=0).mean() > 0.5, (name, color)
        # this run's point, ringed in black, inside the plot box and clear of its edges
        ring = np.argwhere(np.all(plot < 60, axis=-1))
        assert len(ring) >= 8, name
        cy, cx = ring.mean(axis=0)
        assert 4 < cx < w - 4, (name, cx, w)
        assert 4 < cy < h - 4, (name, cy, h)
        if name == "1 runs":
            assert abs(cx - w / 2) < 0.1 * w  # the one run in the middle of its axis
        if name == "60 runs":
            assert _mask(plot, LINE, 8).sum() > 40  # the line through the runs (anti-aliased: few exact pixels)
            assert _mask(plot, OK, 8).sum() > 10  # the quiet first days' points
    assert messages == []
    page.close()


EXPECTED_TICKS = {
    "1 runs": ["11-17\n2026"],
    "2 runs": ["11-17\n2026", "11-18"],
    # 5 hourly runs from 10:00: one tick an hour, the date under the first
    "5 hourly runs": ["10:00\n2026-11-23", "11:00", "12:00", "13:00", "14:00"],
}


@pytest.mark.parametrize("name", [*EXPECTED_TICKS, "60 runs"], ids=["1-run", "2-runs", "5-hourly", "60-runs"])
def test_the_time_axis_has_each_label_once(browser: Any, pages: dict[str, Path], name: str) -> None:
    page, messages = _open(browser, pages[name])
    axis = page.evaluate(f"KD.timeAxis({TREND_PLOT_PX})")
    runs = page.evaluate("KD.data.runs.x")
    lo, hi = axis["range"]
    assert lo < runs[0]  # every run inside the range, with room on both sides
    assert runs[-1] < hi
    labels = axis["labels"]
    assert len(set(labels)) == len(labels)
    assert axis["at"] == sorted(axis["at"])
    if name in EXPECTED_TICKS:
        assert labels == EXPECTED_TICKS[name]
    else:  # 60 days from 2026-11-17: every other Monday (11-23 is one), the year under the first and the new one
        assert labels == ["11-23\n2026", "12-07", "12-21", "01-04\n2027"]
    assert messages == []
    page.close()


def _pdf_pages(pdf: Path, tmp_path: Path) -> list[np.ndarray[Any, Any]]:
    """The PDF's pages rasterised at 96 dpi by poppler's pdftoppm."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pdftoppm is not installed; CI must install it (scripts/ensure-system-packages.sh)")
        pytest.skip("pdftoppm is not installed (poppler-utils; scripts/ensure-system-packages.sh installs it)")
    subprocess.run([exe, "-r", "96", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=300)
    return [_rgb(p.read_bytes()) for p in sorted(tmp_path.glob("page-*.png"))]


def _assert_every_chart_printed(pdf: Path, tmp_path: Path, features: int) -> None:
    sheets = _pdf_pages(pdf, tmp_path)
    # one feature a page (break-before: page): its bars and its trend's warn line on it
    with_bars = [i for i, px in enumerate(sheets) if _mask(px, REF, 12).sum() > 30 and _mask(px, CUR, 12).sum() > 30]
    with_lines = [i for i, px in enumerate(sheets) if _mask(px, WARN, 40).sum() > 30]
    assert len(with_bars) == features, (len(sheets), with_bars)
    assert with_bars == with_lines


def test_kldrift_report_pdf_prints_every_chart(pages: dict[str, Path], tmp_path: Path) -> None:
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed")
    folder = pages["60 runs"].parent
    job = folder.parents[2] / "demo.yaml"
    assert cli.main(["-q", "report", "--config", str(job), "--date", folder.name[3:], "--pdf"]) == 0
    pdf = folder / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    _assert_every_chart_printed(pdf, tmp_path, features=7)  # the demo's 7 scored features


def test_printing_from_a_browser_draws_every_chart(browser: Any, pages: dict[str, Path], tmp_path: Path) -> None:
    page, messages = _open(browser, pages["60 runs"])
    drawn = "Array.from(document.querySelectorAll('section.feature canvas')).length"
    assert page.evaluate(drawn) < 3 * 7  # lazy until printed: the last features are far below 2,400 px
    page.emulate_media(media="print")  # the print media query: what a print preview switches to
    page.wait_for_function("document.body.dataset.drawn === 'all'")  # its change event comes with the next frame
    assert page.evaluate(drawn) == 3 * 7
    assert messages == []
    page.close()
    # A fresh page printed at once (DevTools' printToPDF, as Playwright's page.pdf does it): beforeprint draws them.
    page, messages = _open(browser, pages["60 runs"])
    pdf = tmp_path / "playwright.pdf"
    pdf.write_bytes(page.pdf(prefer_css_page_size=True, print_background=True))
    _assert_every_chart_printed(pdf, tmp_path, features=7)
    assert messages == []
    page.close()


@pytest.mark.parametrize("budget", [None, 5000], ids=["no-budget", "virtual-time-5s"])
def test_chromium_screenshots_show_every_chart_in_the_window(
    pages: dict[str, Path], tmp_path: Path, budget: int | None
) -> None:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed")
    # Three times each: the charts used to be drawn after the first frame, so a different half was blank each time.
    for i in range(3):
        shot = tmp_path / f"shot{i}.png"
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,8000"]
        args += [f"--virtual-time-budget={budget}"] if budget else []
        subprocess.run(
            [*args, f"--screenshot={shot}", pages["60 runs"].resolve().as_uri()],
            capture_output=True,
            check=True,
            timeout=120,
        )
        px = _rgb(shot.read_bytes())
        assert _mask(px, PENDING, 0).sum() < 50  # no chart left as its placeholder
        # the 7 features' bars: reference and current of each, at least
        assert _mask(px, REF, 0).sum() > 7 * 200
        assert _mask(px, CUR, 0).sum() > 7 * 200
