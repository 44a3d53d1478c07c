"""Make docs/report.png, the README's picture of a report: the demo job, seven days, in headless Chromium.

.venv/bin/python scripts/report_screenshot.py [docs/report.png]
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from kldrift.config import load_config
from kldrift.demo import make_demo
from kldrift.interval import Interval
from kldrift.pipeline import run


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report.png")
    with tempfile.TemporaryDirectory() as tmp:
        info = make_demo(tmp, first_day=dt.date(2026, 11, 17))  # the dates the README's words name
        config = load_config(info["config"])
        for day in info["dates"]:
            result = run(config, Interval.for_date(day), deliver=False)
        page_path = Path(result.paths["report"])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1640}, device_scale_factor=1)
            page.goto(page_path.resolve().as_uri())
            first = page.locator("section.feature").first
            first.scroll_into_view_if_needed()
            page.wait_for_function("!document.querySelector('section.feature').querySelector('.chart.pending')")
            page.evaluate("window.scrollTo(0, 0)")
            box = first.locator(".chart.bins .u-over").first.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + 80, box["y"] + box["height"] - 26)  # the "other" bin of pickup_zone
            page.wait_for_timeout(200)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=False)
            browser.close()
    print(f"{out}: {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
