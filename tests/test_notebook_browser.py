"""The notebook cell (``_repr_html_``) in a real headless Chromium (Debian's, driven by Playwright), scripts off.

A saved notebook on GitHub or nbviewer, an untrusted notebook and VS Code show a cell's HTML without
running its scripts, GitHub inside a sandboxed frame. So each page here is opened with JavaScript
disabled, and the cell once more inside ``<iframe sandbox>``: the charts must be there all the same
(their bars' colours in a screenshot), nothing may be fetched, a column named
``<img src=x onerror=alert(1)>`` must stay text (no image element, no dialog), and on a dark theme the
labels are drawn in the theme's text colour.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import chromium

import kldrift
from kldrift.svg import COLORS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def report() -> Any:
    rng = np.random.default_rng(5)

    def frame(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "fare": rng.normal(shift, 1.0, n),
                EVIL: rng.choice(["a", "b", "</svg><script>alert(2)</script>"], n),
                "tip": rng.exponential(1.0 + shift, n),
            }
        )

    return kldrift.compare(frame(3_000, 0.0), frame(1_500, 1.0))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def open_cell(
    browser: Any, path: Path, body: str, *, dark: bool = False, scripts: bool = False
) -> tuple[Any, list[str]]:
    """``body`` in a page of its own, opened from disk (JavaScript off unless ``scripts``); the page and what it
    asked for or popped up."""
    colors = "background:#1e1e1e;color:#d4d4d4" if dark else "background:#fff;color:#000"
    path.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="{colors}">{body}</body>')
    context = browser.new_context(java_script_enabled=scripts, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    events: list[str] = []
    page.on("request", lambda r: events.append(r.url) if r.url != path.as_uri() else None)
    page.on("dialog", lambda d: (events.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(path.as_uri())
    return page, events


def pixels(page: Any, path: Path, selector: str) -> np.ndarray[Any, Any]:
    """The RGB pixels of the first element matching ``selector``, from a screenshot."""
    from PIL import Image

    page.locator(selector).first.screenshot(path=str(path))
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int64)


def has_color(px: np.ndarray[Any, Any], hex_color: str, tolerance: int = 12) -> int:
    """How many pixels are ``hex_color`` (within ``tolerance`` per channel)."""
    want = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(px - want).max(axis=2) <= tolerance).sum())


def test_the_report_cell_draws_its_charts_without_scripts(browser: Any, report: Any, tmp_path: Path) -> None:
    page, events = open_cell(browser, tmp_path / "cell.html", report._repr_html_())
    assert page.locator("svg").count() >= 4  # a sparkline a feature and the drifted feature's chart
    assert page.locator("img").count() == 0
    assert page.get_by_text(EVIL).count() >= 1  # the name is shown, as text
    chart = pixels(page, tmp_path / "chart.png", "details svg")
    assert has_color(chart, COLORS["reference"]) > 200
    assert has_color(chart, COLORS["current"]) > 200
    assert has_color(chart, COLORS["more"]) > 50  # KL terms where the current data has more
    spark = pixels(page, tmp_path / "spark.png", "tbody tr svg")
    assert has_color(spark, COLORS["current"]) > 50
    assert has_color(spark, COLORS["reference"]) > 20
    assert events == []  # nothing fetched, no dialog
    trusted, events = open_cell(browser, tmp_path / "trusted.html", report._repr_html_(), scripts=True)
    trusted.wait_for_load_state("load")
    assert trusted.locator("img").count() == 0
    assert trusted.locator("script").count() == 0
    assert events == []  # a trusted notebook runs scripts: there are none to run, and no onerror fires


def test_a_feature_cell_in_a_sandboxed_frame_like_githubs(browser: Any, report: Any, tmp_path: Path) -> None:
    cell = report[EVIL]._repr_html_()
    frame = f'<iframe sandbox style="width:1000px;height:800px;border:0" srcdoc="{html.escape(cell)}"></iframe>'
    page, events = open_cell(browser, tmp_path / "frame.html", frame)
    inner = page.frame_locator("iframe")
    assert inner.locator("svg").count() == 1
    assert inner.locator("script").count() == 0
    assert inner.locator("img").count() == 0
    shot = pixels(page, tmp_path / "frame.png", "iframe")
    assert has_color(shot, COLORS["reference"]) > 200
    assert has_color(shot, COLORS["current"]) > 200
    assert events == []


def test_on_a_dark_theme_the_labels_take_the_text_colour(browser: Any, report: Any, tmp_path: Path) -> None:
    page, _ = open_cell(browser, tmp_path / "dark.html", report["fare"]._repr_html_(), dark=True)
    fill = page.locator("svg text").first.evaluate("t => getComputedStyle(t).fill")
    assert fill == "rgb(212, 212, 212)"  # currentColor: the theme's text, not black on dark grey
    chart = pixels(page, tmp_path / "dark.png", "svg")
    light = (chart.min(axis=2) > 150).sum()  # label text on the dark ground
    assert light > 100
