"""Helpers the tests share (not fixtures: those are in conftest.py, which tests never import)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

__all__ = ["chromium", "one_error", "write_parquet"]


def write_parquet(path: Path, table: pa.Table, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **kw)
    return path


def one_error(err: str) -> str:
    """The one line of a CLI error on stderr, without its ``kldrift: error: `` prefix (no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kldrift: error: "), err
    assert "Traceback" not in err
    return lines[0].removeprefix("kldrift: error: ")


def chromium() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright, for a module-scoped ``browser`` fixture to yield from.

    Missing, it skips the test locally and fails it in CI (``scripts/ensure-system-packages.sh`` installs it).
    """
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must install it (scripts/ensure-system-packages.sh)")
        pytest.skip("chromium is not installed (scripts/ensure-system-packages.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()
