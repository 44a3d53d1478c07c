"""Shared fixtures: small real Parquet data sets written to temp folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from helpers import write_parquet
from hypothesis import HealthCheck, settings

# Airflow reads its home at import time: point it at a throwaway folder before any test imports it.
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# How many examples each property test draws is a profile's business, not a test's. Locally (`fast`, the
# default) a few, and new ones on every run; CI (HYPOTHESIS_PROFILE=ci in .ci/run) many more, derandomized:
# the same examples on every run, so a red CI is never a dice roll. Every example builds and scores real
# Arrow tables, so no deadline; generated tables may be slow or large to draw.
_PROPERTY_TESTS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("fast", max_examples=20, **_PROPERTY_TESTS)
settings.register_profile("ci", max_examples=100, derandomize=True, database=None, print_blob=True, **_PROPERTY_TESTS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo set the Airflow tests run on (``airflow_support.make_demo_data``), built once per session:
    they only read it, each writing its own configs and outputs elsewhere."""
    from airflow_support import make_demo_data

    return make_demo_data(tmp_path_factory.mktemp("demo") / "data")


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test imported Airflow into the pytest process (see airflow_support)."""
    if "airflow" in sys.modules and exitstatus == 0:
        session.exitstatus = 1
        print("\nERROR: a test imported airflow into the pytest process; run Airflow in a child process")
