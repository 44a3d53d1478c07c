"""The Airflow fan-out with segments: shards count per segment, their counts merge, the files are `kldrift run`'s.

The demo data (three files a day), segmented by ``payment_type`` (a dictionary column, four values);
one child process runs the DAG (see ``airflow_support``), this process runs ``kldrift run`` on the same
days, and the files are compared byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow_support import DAGS, DRIFT_DAY, QUIET_DAY, airflow_env, make_demo_data, run_scenario, write_config

from kldrift.cli import main

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SEGMENTS = "{columns: [payment_type], max: 10, min_rows: 50}"
RUNS = [["kldrift__seg", "2026-11-24"], ["kldrift__seg", "2026-11-19"]]  # score DRIFT_DAY, QUIET_DAY


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segdag")


@pytest.fixture(scope="module")
def runs(root: Path) -> dict[str, Any]:
    data = make_demo_data(root / "data")
    configs = root / "configs"
    write_config(configs, "seg", data, root / "out_dag", airflow="{max_shards: 3}", segments=SEGMENTS)
    dags = root / "dags"
    dags.mkdir()
    (dags / "kldrift_dags.py").symlink_to(DAGS / "kldrift_dags.py")
    env = airflow_env(root / "airflow", dags=dags, configs=configs)
    return run_scenario("dag_test", {"dags": str(dags), "runs": RUNS}, env, timeout=480)


@pytest.fixture(scope="module")
def cli_out(root: Path, runs: dict[str, Any]) -> Path:
    config = write_config(root / "cli", "seg", root / "data", root / "out_cli", segments=SEGMENTS)
    for day in (DRIFT_DAY, QUIET_DAY):
        assert main(["-q", "run", "--config", str(config), "--date", day]) == 0
    return root / "out_cli"


def test_shards_count_per_segment(runs: dict[str, Any]) -> None:
    run = runs["runs"]["kldrift__seg@2026-11-24"]
    assert run["state"] == "success"
    parts = [v for k, v in run["xcom"].items() if k.startswith("count_shard[")]
    assert len(parts) >= 2
    for part in parts:
        assert len(part["rows"]) == 5  # four payment types and (other)
        assert part["segments"]
    total = [sum(p["rows"][i] for p in parts) for i in range(5)]
    assert sum(total) == 6000  # the day's rows, each in one segment


@pytest.mark.parametrize("day", [DRIFT_DAY, QUIET_DAY], ids=["drift-day", "quiet-day"])
@pytest.mark.parametrize("name", ["alerts.jsonl", "metrics.parquet"])
def test_files_equal_kldrift_run(root: Path, cli_out: Path, day: str, name: str) -> None:
    dag_file = root / "out_dag" / "demo" / f"dt={day}" / name
    cli_file = cli_out / "demo" / f"dt={day}" / name
    assert dag_file.read_bytes() == cli_file.read_bytes()


def test_the_drift_day_alerts_per_segment(root: Path, runs: dict[str, Any]) -> None:
    lines = (root / "out_dag" / "demo" / f"dt={DRIFT_DAY}" / "alerts.jsonl").read_text().splitlines()
    segments = {json.dumps(a["segment"]) for a in map(json.loads, lines) if a["segment"]}
    assert segments  # the demo's drift shows in some payment type
    summary = runs["runs"]["kldrift__seg@2026-11-24"]["xcom"]["score_and_write[-1]:return_value"]
    assert summary["worst"] == "critical"
