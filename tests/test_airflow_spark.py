"""The Airflow recipe of docs/spark.md, run for real: ``@task.pyspark`` with a ``local[2]`` connection.

A child process (see ``airflow_support``) runs the recipe's DAG with ``dag.test()``: the Apache Spark
provider starts a SparkSession from the connection, the task calls
:func:`kldrift.airflow.tasks.run_on_spark`, and the files it writes are compared byte for byte
with ``kldrift run``'s for the same day.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow_support import DRIFT_DAY, DRIFTED, airflow_env, make_demo_data, run_scenario, write_config

from kldrift.cli import main

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# The recipe's DAG file, as docs/spark.md shows it (the config path from the environment here).
RECIPE = '''\
"""kldrift with its counting on Spark: the recipe of docs/spark.md."""
import datetime as dt
import os

from airflow.sdk import CronDataIntervalTimetable, dag, task

CONFIG = os.environ["KLDRIFT_SPARK_CONFIG"]


@dag(
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=dt.datetime(2026, 11, 17, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["kldrift", "spark"],
)
def kldrift_on_spark():
    @task.pyspark(conn_id="kldrift_spark")
    def drift(spark=None, sc=None, data_interval_start=None, data_interval_end=None):
        from kldrift.airflow.tasks import run_on_spark

        return run_on_spark(CONFIG, spark, data_interval_start, data_interval_end)

    drift()


kldrift_on_spark()
'''

# Spark's settings ride in the connection's extra; Spark talks to itself on the loopback only.
CONNECTION = {
    "conn_type": "spark",
    "host": "local[2]",
    "extra": {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    },
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spark_dag")


@pytest.fixture(scope="module")
def outcome(root: Path) -> dict[str, Any]:
    data = make_demo_data(root / "data")
    config = write_config(root / "spark", "demo", data, root / "out_spark")
    dags = root / "dags"
    dags.mkdir()
    (dags / "kldrift_on_spark.py").write_text(RECIPE)
    env = airflow_env(
        root / "airflow",
        dags=dags,
        KLDRIFT_SPARK_CONFIG=str(config),
        AIRFLOW_CONN_KLDRIFT_SPARK=json.dumps(CONNECTION),
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
    )
    # a daily run at the end of its interval: 2026-11-24 scores dt=2026-11-23 (DRIFT_DAY)
    return run_scenario("dag_test", {"dags": str(dags), "runs": [["kldrift_on_spark", "2026-11-24"]]}, env, timeout=540)


def test_the_recipe_runs_on_spark_and_alerts(outcome: dict[str, Any]) -> None:
    assert outcome["import_errors"] == {}
    run = outcome["runs"]["kldrift_on_spark@2026-11-24"]
    assert run["state"] == "success", run
    summary = run["xcom"]["drift[-1]:return_value"]
    assert summary["date"] == DRIFT_DAY
    assert sorted(summary["alerts"]) == DRIFTED  # the demo's drifted features (airflow_support.DRIFTED)


@pytest.mark.parametrize("name", ["alerts.jsonl", "metrics.parquet"])
def test_the_files_equal_kldrift_run(outcome: dict[str, Any], root: Path, name: str) -> None:
    config = write_config(root / "cli", "demo", root / "data", root / "out_cli")
    if not (root / "out_cli/demo").exists():
        assert main(["-q", "run", "--config", str(config), "--date", DRIFT_DAY]) == 0
    got = (root / f"out_spark/demo/dt={DRIFT_DAY}/{name}").read_bytes()
    assert got == (root / f"out_cli/demo/dt={DRIFT_DAY}/{name}").read_bytes()
