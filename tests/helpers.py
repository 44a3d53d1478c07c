"""Helpers the tests share (not fixtures: those are in conftest.py, which tests never import)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["one_error", "write_parquet"]


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
