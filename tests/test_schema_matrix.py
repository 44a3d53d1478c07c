"""Issue 7's schema matrix through the CLI and the Python API: the run succeeds, every feature
gets a verdict by the contract or an ``error`` with a message, and the others are still scored."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import kldrift
from kldrift import cli

N = 2_000


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(77)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    instants = [base + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 20, N)]
    ref = pa.table(
        {
            "x": rng.normal(0, 1, N),
            "gone": rng.normal(0, 1, N),  # missing from current
            "retyped": rng.normal(0, 1, N),  # number in the reference, string in current
            "nulls": rng.normal(0, 1, N),  # all null in current
            "infs": rng.normal(0, 1, N),  # all +inf / -inf in current
            "constant": np.full(N, 3.0),  # constant in both
            "const_then_varies": np.full(N, 1.0),  # constant reference, varies in current
            "price": pa.array([decimal.Decimal(f"{v:.2f}") for v in rng.gamma(2, 5, N)], pa.decimal128(10, 2)),
            "flag": pa.array(rng.random(N) < 0.3),
            "seen_at": pa.array(instants, pa.timestamp("us", tz="UTC")),
        }
    )
    cur = pa.table(
        {
            "x": rng.normal(0, 1, N),
            "retyped": pa.array([f"{v:.3f}" for v in rng.normal(0, 1, N)]),
            "nulls": pa.nulls(N, pa.float64()),
            "infs": np.where(rng.random(N) < 0.5, np.inf, -np.inf),
            "constant": np.full(N, 3.0),
            "const_then_varies": rng.normal(1, 1, N),
            "price": pa.array([decimal.Decimal(f"{v:.2f}") for v in rng.gamma(2, 5, N)], pa.decimal128(10, 2)),
            "flag": pa.array(rng.random(N) < 0.3),
            # The same instants written in another time zone: same values, so no drift.
            "seen_at": pa.array(instants, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("ms", tz="Asia/Tokyo")),
            "brand_new": rng.normal(0, 1, N),  # only in current: ignored
        }
    )
    pq.write_table(ref, tmp_path / "ref.parquet")
    pq.write_table(cur, tmp_path / "cur.parquet")
    return tmp_path / "ref.parquet", tmp_path / "cur.parquet"


EXPECTED = {
    "x": "ok",
    "gone": "error",
    "retyped": "error",
    "nulls": "critical",  # all-null is real drift
    "infs": "critical",  # so is all ±inf
    "constant": "ok",
    "const_then_varies": "critical",
    "price": "ok",
    "flag": "ok",
    "seen_at": "ok",
}


def test_schema_matrix_through_the_api(tmp_path: Path) -> None:
    ref, cur = _pair(tmp_path)
    report = kldrift.compare(ref, cur)
    got = {f.feature: f.severity for f in report.features}
    assert got == EXPECTED  # brand_new is not a feature: the reference defines them
    assert report["gone"].message == "column 'gone' is missing from the current data"
    assert report["retyped"].message.startswith("type changed: column 'retyped' is string in the current data")
    assert report["constant"].kl == 0.0
    assert "one bin" in report["constant"].message
    assert report["seen_at"].kl < 1e-3  # same instants, other zone and unit


def test_schema_matrix_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = _pair(tmp_path)
    assert cli.main(["-q", "compare", str(ref), str(cur), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["feature"]: r["severity"] for r in rows} == EXPECTED
    assert cli.main(["-q", "compare", str(ref), str(cur), "--fail-on", "critical"]) == 1


@pytest.mark.slow
def test_a_million_distinct_strings_is_scored_in_bounded_bins(tmp_path: Path) -> None:
    n = 1_000_000
    ids = pa.array([f"id-{i:07d}" for i in range(n)])
    pq.write_table(pa.table({"id": ids}), tmp_path / "ref.parquet")
    later = pa.array([f"id-{i:07d}" for i in range(n // 2, n + n // 2)])
    pq.write_table(pa.table({"id": later}), tmp_path / "cur.parquet")
    report = kldrift.compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    f = report["id"]
    # 50 reference categories (all tied at 1: the first 50 names) and "other"; "null" is empty on both
    # sides and dropped. No current id is among the 50, so every current row is "other".
    assert (f.n_reference, f.n_current, f.n_bins) == (n, n, 51)
    expected = kldrift.kl_divergence([0] * 50 + [n], [1] * 50 + [n - 50], pseudocount=0.5)  # the contract's formula
    assert f.kl == pytest.approx(expected, rel=1e-12)
    assert f.kl < 1e-4
    assert f.severity == "ok"
