"""The scheduled job on the demo data: quiet days, drift days, the files, and reruns byte for byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from kldrift import cli
from kldrift.config import load_config
from kldrift.demo import DRIFTED
from kldrift.history import read_history
from kldrift.interval import Interval
from kldrift.outputs.alerts import KEYS
from kldrift.pipeline import run
from kldrift.results import COLUMNS

DAYS = [f"2026-11-{d}" for d in range(17, 24)]  # demo-data's 7 days; drift from day 5 (2026-11-21)
ALERT_FIELDS = list(KEYS)
FEATURES = ["distance_km", "fare", "passengers", "payment_type", "pickup_zone", "rating", "tip_pct"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``kldrift demo-data`` then ``kldrift run`` on each of the 7 days, through the CLI."""
    root = tmp_path_factory.mktemp("demo")
    assert cli.main(["-q", "demo-data", "--out", str(root), "--first-day", DAYS[0]]) == 0
    config = root / "demo.yaml"
    codes = {day: cli.main(["-q", "run", "--config", str(config), "--date", day]) for day in DAYS}
    out = root / "out" / "demo"
    snapshot = {
        day: {n: (out / f"dt={day}" / n).read_bytes() for n in ("alerts.jsonl", "metrics.parquet")} for day in DAYS
    }
    return {"root": root, "config": config, "out": out, "codes": codes, "snapshot": snapshot}


def alerts_of(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "alerts.jsonl").read_text().splitlines()]


def test_every_day_ran(demo: dict[str, Any]) -> None:
    assert demo["codes"] == dict.fromkeys(DAYS, 0)
    for day in DAYS:
        folder = demo["out"] / f"dt={day}"
        assert {"alerts.jsonl", "metrics.parquet", "manifest.json"} <= set(os.listdir(folder))
        assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]


@pytest.mark.parametrize("day", DAYS[:4])
def test_quiet_days_write_an_empty_alerts_file(demo: dict[str, Any], day: str) -> None:
    assert (demo["out"] / f"dt={day}" / "alerts.jsonl").read_bytes() == b""


@pytest.mark.parametrize("day", DAYS[4:])
def test_drift_days_alert_exactly_the_drifted_features(demo: dict[str, Any], day: str) -> None:
    rows = alerts_of(demo["out"] / f"dt={day}")
    assert all(list(r) == ALERT_FIELDS for r in rows)  # every row has the same keys, in the same order
    assert [r["check"] for r in rows] == ["drift"] * 4 + ["dataset"]  # drift rows first, then the dataset's
    features = [r["feature"] for r in rows if r["check"] == "drift"]
    assert features == sorted(DRIFTED) == ["fare", "payment_type", "pickup_zone", "rating"]
    for r in rows:
        assert (r["dataset"], r["date"]) == ("demo", day)
        assert r["severity"] in ("warn", "critical")
        assert r["message"]
        assert r["value"] >= r["threshold"]
    for r in (r for r in rows if r["check"] == "drift"):
        assert r["metric"] == "kl"
        assert r["threshold"] in (0.1, 0.25)
        assert r["p_adjusted"] < 0.01
        assert r["n_reference"] == 60_000
        assert r["n_current"] == 6_000
    # 4 of the 7 features drifted: 57% reaches dataset_drift.share 0.5, so the dataset row is there.
    (dataset_row,) = [r for r in rows if r["check"] == "dataset"]
    assert dataset_row["feature"] is None  # run-level: no column (a column may be named anything)
    assert dataset_row["metric"] == "drift_share"
    assert dataset_row["value"] == pytest.approx(4 / 7)
    assert dataset_row["threshold"] == 0.5
    assert dataset_row["p_value"] is None
    assert dataset_row["message"].startswith("4 of 7 scored features drifted")


def drift_rows(table: Any) -> list[dict[str, Any]]:
    return [r for r in table.to_pylist() if r["check"] == "drift"]


def test_metrics_hold_every_feature_and_its_bins(demo: dict[str, Any]) -> None:
    table = pq.read_table(demo["out"] / f"dt={DAYS[5]}" / "metrics.parquet")
    assert {"dataset", "date", "check", *COLUMNS, "bin_labels", "reference_counts", "current_counts"} <= set(
        table.schema.names
    )
    rows = drift_rows(table)
    assert sorted(r["feature"] for r in rows) == FEATURES
    for r in rows:
        assert (r["dataset"], r["date"]) == ("demo", DAYS[5])
        assert len(r["bin_labels"]) == len(r["reference_counts"]) == len(r["current_counts"])
        used = sum(a + b > 0 for a, b in zip(r["reference_counts"], r["current_counts"], strict=True))
        assert r["n_bins"] == used  # bins empty on both sides are dropped from the scoring
        assert sum(r["reference_counts"]) == 60_000
        assert sum(r["current_counts"]) == 6_000
        assert r["spec_fingerprint"]
        assert math.isfinite(r["kl"])
    # and the run's other rows: the volume against the reference's 6,000 trips a day, the unscored event time
    others = {(r["check"], r["feature"]): r for r in table.to_pylist() if r["check"] != "drift"}
    assert set(others) == {("volume", None), ("unscored", "pickup_at")}
    volume = others[("volume", None)]
    assert (volume["severity"], volume["n_current"], volume["expected_rows"]) == ("ok", 6_000, 6_000.0)
    assert volume["message"] == "volume: 6,000 rows, 1x the expected 6,000 (median of 5 earlier runs)"
    # before three earlier runs, the expected rows are the reference's per day, from the days its event time covers
    first = pq.read_table(demo["out"] / f"dt={DAYS[0]}" / "metrics.parquet").to_pylist()
    (volume,) = [r for r in first if r["check"] == "volume"]
    assert volume["message"] == (
        "volume: 6,000 rows, 1x the expected 6,000 (60,000 reference rows over 10 days of pickup_at)"
    )
    assert (others[("unscored", "pickup_at")]["kind"], others[("unscored", "pickup_at")]["message"]) == (
        "timestamp",
        "features.exclude",
    )


def test_manifest_records_how_the_run_came_to_be(demo: dict[str, Any]) -> None:
    folder = demo["out"] / f"dt={DAYS[4]}"
    m = json.loads((folder / "manifest.json").read_text())
    cfg = load_config(demo["config"])
    assert (m["dataset"], m["date"], m["config_hash"]) == ("demo", DAYS[4], cfg.fingerprint())
    assert m["rows"] == {"reference": 60_000, "current": 6_000}
    assert {"python", "kldrift", "pyarrow", "numpy"} <= set(m["versions"])
    (cur,) = m["inputs"]["current"]["files"]
    part = demo["root"] / "current" / f"dt={DAYS[4]}" / "part-000.parquet"
    assert (cur["path"], cur["size"]) == (str(part), part.stat().st_size)
    assert cur["mtime"] == pytest.approx(part.stat().st_mtime, abs=1e-5)
    assert len(m["inputs"]["reference"]["files"]) == 3
    assert {"profile_s", "count_s"} <= set(m["timings"])
    started = dt.datetime.fromisoformat(m["wall_clock"]["started"])
    assert started <= dt.datetime.fromisoformat(m["wall_clock"]["finished"])
    assert "deliveries.jsonl" not in os.listdir(folder)  # no webhook in the demo
    assert m["worst"] == "critical"
    for name in ("alerts", "metrics"):
        blob = (folder / m["outputs"][name]["path"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == m["outputs"][name]["sha256"]


def test_history_reads_the_trend_of_all_days(demo: dict[str, Any]) -> None:
    df = read_history(load_config(demo["config"]), feature="fare")
    assert df["date"].tolist() == DAYS
    assert df["severity"].tolist() == ["ok"] * 4 + ["critical"] * 3
    # And the output folder is a valid hive-partitioned Parquet dataset for any other reader.
    table = ds.dataset(demo["out"], format="parquet", partitioning="hive", exclude_invalid_files=True).to_table()
    assert table.filter(pc.field("check") == "drift").num_rows == len(DAYS) * len(FEATURES)


def test_a_rerun_is_byte_identical_and_replaces(demo: dict[str, Any]) -> None:
    config = demo["config"]
    for day in (DAYS[0], DAYS[4]):  # a quiet day and a drift day
        folder = demo["out"] / f"dt={day}"
        manifest_before = json.loads((folder / "manifest.json").read_text())
        assert cli.main(["-q", "run", "--config", str(config), "--date", day]) == 0
        for name, blob in demo["snapshot"][day].items():
            assert (folder / name).read_bytes() == blob, name
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["outputs"]["alerts"] == manifest_before["outputs"]["alerts"]
        assert manifest["wall_clock"] != manifest_before["wall_clock"]  # times go only in the manifest


def test_a_rerun_with_another_config_replaces_never_appends(demo: dict[str, Any], tmp_path: Path) -> None:
    # Same dataset and output, thresholds nothing reaches: the drift day's alerts become empty.
    day = DAYS[6]
    text = (
        demo["config"]
        .read_text()
        .replace("thresholds: {warn: 0.1, critical: 0.25}", "thresholds: {warn: 50, critical: 99}")
    )
    lenient = demo["root"] / "lenient.yaml"
    lenient.write_text(text)
    folder = demo["out"] / f"dt={day}"
    try:
        result = run(load_config(lenient), Interval.for_date(day))
        assert result.report.alerts == ()
        assert (folder / "alerts.jsonl").read_bytes() == b""
        assert len(drift_rows(pq.read_table(folder / "metrics.parquet"))) == len(FEATURES)  # replaced, not 14
    finally:
        assert cli.main(["-q", "run", "--config", str(demo["config"]), "--date", day]) == 0
    assert (folder / "alerts.jsonl").read_bytes() == demo["snapshot"][day]["alerts.jsonl"]


def test_demo_data_is_a_pure_function_of_the_seed(demo: dict[str, Any], tmp_path: Path) -> None:
    assert cli.main(["-q", "demo-data", "--out", str(tmp_path), "--days", "2", "--first-day", DAYS[0]]) == 0
    for rel in ("reference/part-001.parquet", f"current/dt={DAYS[1]}/part-000.parquet", "demo.yaml"):
        assert (tmp_path / rel).read_bytes() == (demo["root"] / rel).read_bytes(), rel
    assert sorted(os.listdir(tmp_path / "current")) == [f"dt={d}" for d in DAYS[:2]]
    shutil.rmtree(tmp_path / "reference")
