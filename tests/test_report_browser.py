"""The report at scale in a real headless Chromium (Debian's, driven by Playwright): 1,000 features.

Three daily runs of a 1,000-column job go through the real pipeline; the last
run's page (1,000 sections, a three-run trend each) and the dataset's index are
opened from disk. Checked: no console error or failed script, no request that
is not the file itself, the first section's charts drawn and the others not
(lazy), the hover tooltip's numbers, the search box, the "drifted only"
toggle, sorting, the index's sparklines, and a screenshot that is not blank.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from helpers import chromium, write_parquet

from kldrift.config import load_config
from kldrift.interval import Interval
from kldrift.pipeline import run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COLUMNS = 1_000
DAYS = ["2026-10-01", "2026-10-02", "2026-10-03"]
SHIFTED = {f"c{i:04d}" for i in range(0, COLUMNS, 50)}  # 20 columns move on the last day
FIRST_DRAWN = "document.querySelector('section.feature').querySelectorAll('.chart.pending').length === 0"


def _table(rng: np.random.Generator, rows: int, shift: float) -> pa.Table:
    cols: dict[str, Any] = {}
    for i in range(COLUMNS):
        name = f"c{i:04d}"
        move = shift if name in SHIFTED else 0.0
        if i % 10 == 9:  # categorical; every 100th with labels of 300 characters
            k = 5 + i % 30
            cats = [("L" * 300 if i % 100 == 99 else "v") + str(j) for j in range(k)]
            p = np.arange(1, k + 1, dtype=float) ** -1.0
            p = (p[::-1] if move else p) / p.sum()
            cols[name] = pa.array(rng.choice(cats, rows, p=p))
        elif i % 10 == 8:  # integers
            cols[name] = pa.array(rng.integers(0, 500, rows) + int(200 * move))
        else:
            cols[name] = pa.array(rng.normal(move, 1.0, rows))
    return pa.table(cols)


@pytest.fixture(scope="module")
def wide_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset folder of three real runs of a 1,000-column job (the last one drifted)."""
    root = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(20261130)
    write_parquet(root / "reference" / "part.parquet", _table(rng, 1_000, 0.0))
    for day in DAYS:
        shift = 1.0 if day == DAYS[-1] else 0.0
        write_parquet(root / "current" / f"dt={day}" / "part.parquet", _table(rng, 600, shift))
    (root / "job.yaml").write_text("dataset: wide\nreference: reference/\ncurrent: 'current/dt={ds}/'\noutput: out/\n")
    config = load_config(root / "job.yaml")
    for day in DAYS:
        run(config, Interval.for_date(day), deliver=False)
    return Path(config.dataset_dir())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


class Page:
    """A page opened from disk at 1280 px, with what it logged and requested."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.messages: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)

    def js(self, code: str) -> Any:
        return self.page.evaluate(code)

    def drawn(self, selector: str) -> int:
        """How many canvases under ``selector`` hold any painted pixel."""
        return int(
            self.js(
                f"""Array.from(document.querySelectorAll({selector!r} + ' canvas')).filter(function (c) {{
                  var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  for (var i = 3; i < d.length; i += 4) if (d[i]) return true;
                  return false; }}).length"""
            )
        )


@pytest.fixture
def report_page(browser: Any, wide_job: Path) -> Iterator[Page]:
    page = Page(browser, wide_job / f"dt={DAYS[-1]}" / "report.html")
    yield page
    page.page.close()


def test_the_1000_feature_page_opens_clean_and_draws_lazily(report_page: Page, tmp_path: Path) -> None:
    p = report_page
    assert p.js("document.querySelectorAll('section.feature').length") == COLUMNS
    assert p.js("document.body.dataset.drawn") == "view"  # at load: what is in view is drawn (the summary table)
    first = 'section.feature[data-i="0"]'
    p.page.locator("section.feature").first.scroll_into_view_if_needed()
    p.page.wait_for_function(FIRST_DRAWN)
    assert p.drawn(first + " .chart.bins") == 2  # share bars and KL terms
    assert p.drawn(first + " .chart.trend") == 1
    # lazy: sections far below have not been drawn
    assert p.js("document.querySelectorAll('section.feature canvas').length") < 3 * 20
    assert p.js("document.querySelectorAll('section.feature .chart.pending').length") > 1_900
    png = tmp_path / "shot.png"
    p.page.screenshot(path=str(png))
    from PIL import Image

    with Image.open(png) as im:
        px = np.asarray(im.convert("L"), dtype=np.float64)
    assert px.shape == (900, 1280)
    assert px.std() > 20  # text, badges and bars: not a blank page
    assert p.messages == []
    assert [u for u in p.requests if u != p.url] == []  # nothing fetched, not even a favicon


def test_the_drifted_features_lead_and_the_hover_tells_the_numbers(report_page: Page) -> None:
    p = report_page
    leading = p.js(
        "Array.from(document.querySelectorAll('#summary tbody tr')).slice(0, 20).map(r => r.dataset.feature)"
    )
    assert set(leading) == SHIFTED  # the 20 moved columns are critical, listed first
    section = p.page.locator("section.feature").first
    section.scroll_into_view_if_needed()
    p.page.wait_for_function(FIRST_DRAWN)
    over = section.locator(".chart.bins .u-over").first.bounding_box()
    assert over is not None
    p.page.mouse.move(over["x"] + 30, over["y"] + 8)  # the first bin's row
    tip = section.locator(".chart.bins .kd-tip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    data = p.js("KD.data.f[0]")
    ref, cur = data["r"][0], data["c"][0]
    assert data["l"][0] in text
    assert f"reference {ref:,} ({100 * ref / sum(data['r']):.1f}%)" in text
    assert f"current {cur:,} ({100 * cur / sum(data['c']):.1f}%)" in text
    assert "KL term" in text


def test_search_toggle_and_sort(report_page: Page) -> None:
    p = report_page
    visible = (
        "Array.from(document.querySelectorAll('section.feature')).filter(s => !s.hidden).map(s => s.dataset.feature)"
    )
    p.page.fill("#q", "c0042")
    assert p.js(visible) == ["c0042"]
    assert p.page.inner_text("#shown") == "1 of 1000 features"
    p.page.fill("#q", "")
    p.page.check("#drifted")
    assert set(p.js(visible)) == SHIFTED
    assert p.page.inner_text("#shown") == "20 of 1000 features"
    p.page.uncheck("#drifted")
    # sort by KL, smallest first, then largest first
    p.page.click("#summary th:has-text('KL (alert)')")
    values = p.js("Array.from(document.querySelectorAll('#summary tbody tr td:nth-child(4)')).map(t => +t.dataset.v)")
    assert values == sorted(values)
    p.page.click("#summary th:has-text('KL (alert)')")
    values = p.js("Array.from(document.querySelectorAll('#summary tbody tr td:nth-child(4)')).map(t => +t.dataset.v)")
    assert values == sorted(values, reverse=True)
    # a long label (a category of 301 characters: kept as its head and a digest) is shortened on the axis to
    # the width of the label column, with an ellipsis; the tooltip and the bin table show all of it
    long = p.page.locator('section.feature[data-feature="c0099"]')
    long.scroll_into_view_if_needed()
    i = int(long.get_attribute("data-i") or "0")
    p.page.wait_for_function(f"document.querySelector('section.feature[data-i=\"{i}\"] .chart.pending') === null")
    labels = p.js(f"KD.data.f[{i}].l")[:-2]
    assert all("characters, sha256" in label for label in labels)
    shown = p.js(f"KD.data.f[{i}].l.slice(0, -2).map(s => [KD.fit(s, 162), KD.fit(KD.fit(s, 162), 162)])")
    assert all(a.endswith("…") and a == b for a, b in shown)
    long.locator("summary").click()
    assert long.locator("details td.label").first.inner_text() == labels[0]
    assert p.messages == []


def test_printing_draws_every_chart(report_page: Page) -> None:
    p = report_page
    p.js("window.dispatchEvent(new Event('beforeprint'))")
    assert p.js("document.querySelectorAll('.chart.pending').length") == 0
    assert p.js("document.querySelectorAll('section.feature canvas').length") == 3 * COLUMNS
    assert p.messages == []


def test_the_index_filters_sorts_and_draws_sparklines(browser: Any, wide_job: Path) -> None:
    p = Page(browser, wide_job / "index.html")
    rows = "Array.from(document.querySelectorAll('#runs tbody tr')).filter(r => !r.hidden).map(r => r.dataset.date)"
    assert p.js(rows) == DAYS[::-1]
    p.page.wait_for_function("!document.querySelector('#runs .spark.pending')")
    assert p.drawn("#runs tbody tr:first-child .spark") == 1
    p.page.check("#drifted")
    assert p.js(rows) == [DAYS[-1]]
    p.page.uncheck("#drifted")
    p.page.fill("#q", "c0050")  # a drifted feature's name finds the run it drifted in
    assert p.js(rows) == [DAYS[-1]]
    p.page.fill("#q", "")
    p.page.click("#runs th:has-text('Date')")
    assert p.js(rows) == DAYS
    assert p.messages == []
    assert [u for u in p.requests if u != p.url] == []
    p.page.close()
