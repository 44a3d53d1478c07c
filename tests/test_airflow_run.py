"""DAG runs on the demo data with ``dag.test()``: alerts, byte-identical files, fail_on, webhook, operator.

One child process (see ``airflow_support``) runs every DAG run of this module;
the checks below read what it recorded. The same days are also run through
``kldrift run`` in this process, to compare the files byte for byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from airflow_support import (
    DAGS,
    DRIFT_DAY,
    DRIFTED,
    OPERATOR_DAGS,
    QUIET_DAY,
    airflow_env,
    free_port,
    run_scenario,
    write_config,
)

from kldrift.cli import main

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

TOKEN = "T0KEN-planted-in-the-webhook-url-5f1c"

# Logical date of a daily run = end of its data interval: 2026-11-24 scores dt=2026-11-23.
RUNS = [
    ["kldrift__demo", "2026-11-24"],
    ["kldrift__demo", "2026-11-19"],
    ["kldrift__strict", "2026-11-24"],
    ["op_critical", "2026-11-24"],
    ["op_never", "2026-11-19"],
]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dagrun")


@pytest.fixture(scope="module")
def runs(root: Path, demo_data: Path) -> dict[str, Any]:
    data = demo_data
    configs = root / "configs"
    write_config(configs, "demo", data, root / "out_dag", airflow="{max_shards: 3}")
    port = free_port()
    hook = f'{{url: "http://127.0.0.1:{port}/hook/{TOKEN}?token={TOKEN}", on: critical, retries: 0}}'
    write_config(configs, "strict", data, root / "out_strict", alerts=f"{{fail_on: critical, webhook: {hook}}}")
    op_config = write_config(root / "op", "op", data, root / "out_op")
    dags = root / "dags"
    dags.mkdir()
    for f in ("kldrift_dags.py", "kldrift_config_errors.py"):
        (dags / f).symlink_to(DAGS / f)
    (dags / "op_dags.py").write_text(OPERATOR_DAGS)
    env = airflow_env(root / "airflow", dags=dags, configs=configs, KLDRIFT_OPERATOR_CONFIG=str(op_config))
    return run_scenario("dag_test", {"dags": str(dags), "runs": RUNS, "webhook_port": port}, env, timeout=480)


@pytest.fixture(scope="module")
def cli_out(root: Path, runs: dict[str, Any], demo_data: Path) -> Path:
    config = write_config(root / "cli", "demo", demo_data, root / "out_cli")
    for day in (DRIFT_DAY, QUIET_DAY):
        assert main(["-q", "run", "--config", str(config), "--date", day]) == 0
    return root / "out_cli"


def _alerts(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_no_import_errors(runs: dict[str, Any]) -> None:
    assert runs["import_errors"] == {}


def test_run_fans_out_over_shards(runs: dict[str, Any], root: Path) -> None:
    run = runs["runs"]["kldrift__demo@2026-11-24"]
    assert run["state"] == "success"
    assert run["data_interval"] == ["2026-11-23 00:00:00+00:00", "2026-11-24 00:00:00+00:00"]
    shards = {k: v for k, v in run["tasks"].items() if k.startswith("count_shard[")}
    assert len(shards) >= 2  # 3 files, max_shards 3
    assert all(t["state"] == "success" for t in run["tasks"].values())
    assert shards["count_shard[0]"]["rendered_map_index"].startswith("part-000.parquet")
    planned = run["xcom"]["plan_shards[-1]:return_value"]  # Shard.to_json: file records, missing, absent
    assert len(planned) == len(shards)
    assert all(set(s) == {"files", "missing", "absent", "version"} for s in planned)
    names = {u["path"].rsplit("/", 1)[-1] for s in planned for u in s["files"]}
    assert names == {f"part-00{i}.parquet" for i in range(3)}
    assert all(set(u) == {"path", "size", "mtime", "row_groups"} for s in planned for u in s["files"])
    # the manifest lists exactly the files the shards counted
    manifest = json.loads((root / "out_dag" / "demo" / f"dt={DRIFT_DAY}" / "manifest.json").read_text())
    manifest_files = manifest["inputs"]["current"]["files"]
    assert sorted(f["path"] for f in manifest_files) == sorted({u["path"] for s in planned for u in s["files"]})
    for i in range(len(shards)):  # partial counts are small JSON
        part = run["xcom"][f"count_shard[{i}]:return_value"]
        assert set(part) == {"fingerprint", "rows", "counts", "errors"}
    assert sum(run["xcom"][f"count_shard[{i}]:return_value"]["rows"] for i in range(len(shards))) == 6000


def test_drift_day_alerts(runs: dict[str, Any], root: Path) -> None:
    alerts = _alerts(root / "out_dag" / "demo" / f"dt={DRIFT_DAY}" / "alerts.jsonl")
    assert sorted(a["feature"] for a in alerts if a["check"] == "drift") == DRIFTED
    assert {a["date"] for a in alerts} == {DRIFT_DAY}
    summary = runs["runs"]["kldrift__demo@2026-11-24"]["xcom"]["score_and_write[-1]:return_value"]
    assert (summary["date"], summary["worst"], sorted(summary["alerts"])) == (DRIFT_DAY, "critical", DRIFTED)
    assert summary["paths"]["alerts"] == str(root / "out_dag" / "demo" / f"dt={DRIFT_DAY}" / "alerts.jsonl")


def test_quiet_day_has_no_alerts(runs: dict[str, Any], root: Path) -> None:
    assert runs["runs"]["kldrift__demo@2026-11-19"]["state"] == "success"
    assert (root / "out_dag" / "demo" / f"dt={QUIET_DAY}" / "alerts.jsonl").read_text() == ""


@pytest.mark.parametrize("day", [DRIFT_DAY, QUIET_DAY], ids=["drift-day", "quiet-day"])
@pytest.mark.parametrize("name", ["alerts.jsonl", "metrics.parquet"])
def test_files_equal_kldrift_run(root: Path, cli_out: Path, day: str, name: str) -> None:
    dag_file = root / "out_dag" / "demo" / f"dt={day}" / name
    cli_file = cli_out / "demo" / f"dt={day}" / name
    assert dag_file.read_bytes() == cli_file.read_bytes()


def test_asset_events_carry_the_run(runs: dict[str, Any], root: Path) -> None:
    events = [e for e in runs["asset_events"] if e["name"] == "kldrift__demo"]
    assert [e["extra"]["date"] for e in events] == [DRIFT_DAY, QUIET_DAY]
    assert events[0]["uri"] == (root / "out_dag" / "demo").as_uri()
    assert (events[0]["extra"]["worst"], sorted(events[0]["extra"]["alerts"])) == ("critical", DRIFTED)


def test_fail_on_fails_the_run_after_writing_and_delivering(runs: dict[str, Any], root: Path) -> None:
    run = runs["runs"]["kldrift__strict@2026-11-24"]
    assert run["state"] == "failed"
    tasks = run["tasks"]
    assert tasks["score_and_write[-1]"]["state"] == "success"
    assert tasks["deliver_webhook[-1]"]["state"] == "success"
    assert (tasks["check_severity[-1]"]["state"], tasks["check_severity[-1]"]["try_number"]) == ("failed", 1)
    assert os.path.exists(root / "out_strict" / "demo" / f"dt={DRIFT_DAY}" / "alerts.jsonl")
    [body] = runs["webhook"]
    assert (body["dataset"], body["date"], body["worst_severity"]) == ("demo", DRIFT_DAY, "critical")
    # The delivery task records its delivery beside the run's files, as `kldrift run` does.
    lines = (root / "out_strict" / "demo" / f"dt={DRIFT_DAY}" / "deliveries.jsonl").read_text().splitlines()
    [delivery] = [json.loads(line) for line in lines]
    assert (delivery["sink"], delivery["ok"], delivery["attempts"][-1]["status"]) == ("webhook", True, 204)
    assert sorted(a["feature"] for a in body["alerts"] if a["check"] == "drift") == DRIFTED


def test_operator_fail_on_critical(runs: dict[str, Any], root: Path) -> None:
    run = runs["runs"]["op_critical@2026-11-24"]
    assert run["state"] == "failed"
    # Failed at once despite retries=2: drift does not go away on a retry.
    assert (run["tasks"]["drift[-1]"]["state"], run["tasks"]["drift[-1]"]["try_number"]) == ("failed", 1)
    summary = run["xcom"]["drift[-1]:return_value"]  # pushed before failing
    assert (summary["date"], summary["worst"], sorted(summary["alerts"])) == (DRIFT_DAY, "critical", DRIFTED)
    assert (root / "out_op" / "demo" / f"dt={DRIFT_DAY}" / "metrics.parquet").exists()


def test_operator_fail_on_never(runs: dict[str, Any]) -> None:
    run = runs["runs"]["op_never@2026-11-19"]
    assert run["state"] == "success"
    summary = run["xcom"]["drift[-1]:return_value"]
    assert (summary["date"], summary["worst"], summary["alerts"]) == (QUIET_DAY, "ok", [])
    assert summary["severities"]["critical"] == 0


def test_the_webhook_token_reaches_no_xcom_log_database_or_file(runs: dict[str, Any], root: Path) -> None:
    # The strict DAG's webhook URL holds TOKEN in its path and query. Everything the DAG runs left behind —
    # XComs, the Airflow database, task logs, the console, every output file — is searched for it.
    [body] = runs["webhook"]
    assert body["dataset"] == "demo"  # the delivery happened, through the URL with the token
    assert TOKEN not in json.dumps(runs["runs"]["kldrift__strict@2026-11-24"]["xcom"], default=str)
    searched = [p for base in (root / "airflow", root / "out_strict") for p in base.rglob("*") if p.is_file()]
    names = {p.name for p in searched}
    assert {"airflow.db", "dag_test.console", "deliveries.jsonl", "manifest.json"} <= names
    for p in searched:
        assert TOKEN.encode() not in p.read_bytes(), p
