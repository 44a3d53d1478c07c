"""Shared fixtures: small real Parquet data sets written to temp folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

# Airflow reads its home at import time: point it at a throwaway folder before any test imports it.
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


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


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261124)


@pytest.fixture
def small_pair(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """A reference and a current file: ``x`` shifted in current, ``y`` and ``c`` unchanged."""
    n = 5_000
    ref = pa.table(
        {
            "x": rng.normal(0, 1, n),
            "y": rng.normal(5, 2, n),
            "c": pa.array(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])),
        }
    )
    cur = pa.table(
        {
            "x": rng.normal(1.0, 1, n),
            "y": rng.normal(5, 2, n),
            "c": pa.array(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])),
        }
    )
    return write_parquet(tmp_path / "ref.parquet", ref), write_parquet(tmp_path / "cur.parquet", cur)
