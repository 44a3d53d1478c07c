"""Issue 7's schema matrix through the CLI and the Python API: the run succeeds, every feature
gets a verdict by the contract or an ``error`` with a message, and the others are still scored;
issue 10's schema rows: a dropped or retyped column is a critical alert of its own, a new one a warning."""

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
            "brand_new": rng.normal(0, 1, N),  # only in current: a schema row, not a feature
        }
    )
    pq.write_table(ref, tmp_path / "ref.parquet")
    pq.write_table(cur, tmp_path / "cur.parquet")
    return tmp_path / "ref.parquet", tmp_path / "cur.parquet"


EXPECTED = {
    "x": "ok",
    "gone": "error",  # not scored: its schema row is the alert
    "retyped": "error",
    "nulls": "critical",  # all-null is real drift
    "infs": "critical",  # so is all ±inf
    "constant": "ok",
    "const_then_varies": "critical",
    "price": "ok",
    "flag": "ok",
    "seen_at": "ok",
}
SCHEMA = [("gone", "dropped", "critical"), ("retyped", "retyped", "critical"), ("brand_new", "added", "warn")]
CONFIG = {"columns": {"seen_at": {"score": True}}}  # a timestamp: scored on request (its zone and unit change)


def test_schema_matrix_through_the_api(tmp_path: Path) -> None:
    ref, cur = _pair(tmp_path)
    report = kldrift.compare(ref, cur, config=CONFIG)
    got = {f.feature: f.severity for f in report.features}
    assert got == EXPECTED  # brand_new is not a feature: the reference defines them
    assert report["gone"].message == "column 'gone' is missing from the current data"
    assert report["retyped"].message.startswith("type changed: column 'retyped' is string in the current data")
    assert [(c.column, c.change, c.severity) for c in report.schema] == SCHEMA
    assert report.schema[1].message == (
        f"column 'retyped' changed type: double (number) in the reference, string (category) in the current data "
        f"({cur})"
    )
    assert report.schema[1].file == str(cur)
    assert report["constant"].kl == 0.0
    assert "one bin" in report["constant"].message
    assert report["seen_at"].kl < 1e-3  # same instants, other zone and unit
    assert (
        report.verdict.headline
        == "3 features drifted: 3 critical; schema changed (3 columns: 1 dropped, 1 retyped, 1 added)"
    )


def test_schema_matrix_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = _pair(tmp_path)
    config = tmp_path / "settings.yaml"
    config.write_text("columns: {seen_at: {score: true}}\n")
    assert cli.main(["-q", "compare", str(ref), str(cur), "--config", str(config), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["feature"]: r["severity"] for r in doc["features"]} == EXPECTED
    assert [(c["column"], c["change"], c["severity"]) for c in doc["schema"]] == SCHEMA
    assert cli.main(["-q", "compare", str(ref), str(cur), "--fail-on", "critical"]) == 1


def test_a_schema_change_alone_reaches_fail_on_and_the_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(5)
    ref = pa.table({"x": rng.normal(size=500), "y": rng.normal(size=500)})
    cur = pa.table({"x": rng.normal(size=500)})  # y dropped, x unchanged: no drift at all
    pq.write_table(ref, tmp_path / "ref.parquet")
    pq.write_table(cur, tmp_path / "cur.parquet")
    report = kldrift.compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    assert not report.alerts
    assert report.worst == "critical"
    assert report.reaches("critical")
    out = tmp_path / "out"
    args = ["-q", "compare", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--out", str(out)]
    assert cli.main([*args, "--fail-on", "critical"]) == 1
    rows = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert [(r["check"], r["feature"], r["change"], r["severity"]) for r in rows] == [
        ("schema", "y", "dropped", "critical")
    ]
    # configurable: a dropped column reported but not alerting
    settings = tmp_path / "s.yaml"
    settings.write_text("schema: {dropped: ok}\n")
    assert cli.main([*args, "--config", str(settings), "--fail-on", "warn"]) == 0
    assert (out / "alerts.jsonl").read_text() == ""


@pytest.mark.slow
def test_a_million_distinct_strings_is_an_identifier_and_scored_in_bounded_bins_on_request(tmp_path: Path) -> None:
    n = 1_000_000
    ids = pa.array([f"id-{i:07d}" for i in range(n)])
    pq.write_table(pa.table({"id": ids}), tmp_path / "ref.parquet")
    later = pa.array([f"id-{i:07d}" for i in range(n // 2, n + n // 2)])
    pq.write_table(pa.table({"id": later}), tmp_path / "cur.parquet")
    report = kldrift.compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    assert report.features == ()
    (info,) = report.unscored
    assert (info.name, info.role, info.reason) == ("id", "identifier", "100% of values distinct: a key")
    assert report.verdict.headline == "Nothing scored: no feature could be scored"
    assert report.verdict.tone == "none"
    report = kldrift.compare(
        tmp_path / "ref.parquet", tmp_path / "cur.parquet", config={"features": {"include": ["id"]}}
    )
    f = report["id"]
    # A million categories, none with the 5 reference rows a bin needs: everything is "other" (one bin).
    assert (f.n_reference, f.n_current, f.n_bins) == (n, n, 1)
    assert f.kl == 0.0
    assert f.severity == "ok"
    assert "all rows of both sides fall in one bin (other)" in f.message
