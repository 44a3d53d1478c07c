"""The Airflow user's way in: the DAG file ``kldrift airflow init`` writes, Connections, a notifier, failing fast.

``dag.test()`` in a child process (see airflow_support) over a dags folder made
by ``kldrift airflow init``: nothing of the repository's ``dags/`` is used, and
``$KLDRIFT_CONFIG_DIR`` is unset, so the configs are found beside the DAG file.
The webhook's token lives only in an ``AIRFLOW_CONN_*`` variable: the test
checks every byte written under the test's folder (the Airflow database with its
XComs, the task logs, the run's files) and the console for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from airflow_support import DRIFT_DAY, DRIFTED, airflow_env, free_port, run_scenario, write_config

from kldrift import cli

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

TOKEN = "conn-T0KEN-planted-7d2e"
NOTIFY_DAG = """\
from kldrift.airflow import KLDriftNotifier, drift_dags

drift_dags("notify", on_failure_callback=KLDriftNotifier(conn_id="kldrift_hook"), owner="data-team", queue="drift")
"""


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory, demo_data: Path) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("native")
    data = demo_data
    dags = root / "dags"
    assert cli.main(["-q", "airflow", "init", str(dags)]) == 0
    write_config(dags / "kldrift", "demo", data, root / "out", alerts="{webhook: {conn_id: kldrift_hook, on: warn}}")
    # Late data: wait up to an hour after the interval for a partition that never comes.
    write_config(
        dags / "kldrift", "late", data, root / "out", dataset="late", current="never/dt={ds}", airflow="{wait: 3600}"
    )
    # A second DAG file with the factory's options and a notifier; its config's reference is missing.
    (dags / "notify_dags.py").write_text(NOTIFY_DAG)
    write_config(
        dags / "notify", "broken", data, root / "out", dataset="broken", airflow="{retries: 2, retry_delay: 1}"
    )
    (dags / "notify" / "broken.yaml").write_text(
        (dags / "notify" / "broken.yaml").read_text().replace(f"{data}/reference/", f"{data}/nowhere/")
    )
    port = free_port()
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "password": f"hooks/{TOKEN}"}
    lineage = root / "openlineage.jsonl"
    env = airflow_env(
        root / "airflow",
        dags=dags,
        AIRFLOW_CONN_KLDRIFT_HOOK=json.dumps(conn),
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "file", "log_file_path": str(lineage), "append": True}),
        AIRFLOW__OPENLINEAGE__NAMESPACE="kldrift-test",
    )
    day = "2026-11-24"  # a daily run with this logical date scores the day before: the drift day
    result = run_scenario(
        "dag_test",
        {
            "dags": str(dags),
            "runs": [["kldrift__demo", day], ["kldrift__broken", day], ["kldrift__late", day]],
            "webhook_port": port,
        },
        env,
        timeout=600,
    )
    result["root"] = str(root)
    result["port"] = port
    result["lineage"] = [json.loads(line) for line in lineage.read_text().splitlines()] if lineage.exists() else []
    result["data"] = str(data)
    result["console"] = (root / "airflow" / "dag_test.console").read_text()
    return result


def test_the_init_dag_file_runs_the_job(outcome: dict[str, Any]) -> None:
    assert outcome["import_errors"] == {}
    run = outcome["runs"]["kldrift__demo@2026-11-24"]
    assert run["state"] == "success", run["tasks"]
    summary = run["xcom"]["score_and_write[-1]:return_value"]
    assert summary["date"] == DRIFT_DAY
    assert sorted(summary["alerts"]) == DRIFTED
    # one XCom entry per task (multiple_outputs=False), and the extra link pushed by the scoring task
    keys = sorted(k.split(":")[1] for k in run["xcom"] if k.startswith("score_and_write"))
    assert keys == ["_link_DriftReportLink", "return_value"]
    link = run["xcom"]["score_and_write[-1]:_link_DriftReportLink"]
    assert link == f"/kldrift/runs/kldrift__demo/{quote(run['run_id'], safe='')}"
    assert not any(k.endswith((":alerts", ":worst", ":paths")) for k in run["xcom"])
    # the log: one line per run, not the shards' counts nor the file lists
    assert f"kldrift demo {DRIFT_DAY}: critical, 4 features drifted: 4 critical; drifted: " in outcome["console"]
    assert "'counts': {" not in outcome["console"]
    assert "Returned value was: [[{'path'" not in outcome["console"]


def test_the_webhook_comes_from_the_connection(outcome: dict[str, Any]) -> None:
    drift = [b for b in outcome["webhook"] if "drift" in b.get("text", "").lower() and "demo" in b["text"]]
    assert drift, outcome["webhook"]
    delivered = outcome["runs"]["kldrift__demo@2026-11-24"]["xcom"]["deliver_webhook[-1]:return_value"]
    assert delivered["ok"] is True
    assert delivered["url"] == f"http://127.0.0.1:{outcome['port']}/***"  # the path holds the token


def test_a_permanent_error_fails_at_once_and_notifies(outcome: dict[str, Any]) -> None:
    run = outcome["runs"]["kldrift__broken@2026-11-24"]
    assert run["state"] == "failed"
    profile = run["tasks"]["profile[-1]"]
    assert (profile["state"], profile["try_number"]) == ("failed", 1)  # retries: 2, none used
    # the factory's options reach every task
    assert {(t["owner"], t["queue"]) for t in run["tasks"].values()} == {("data-team", "drift")}
    assert {t["queue"] for t in outcome["runs"]["kldrift__demo@2026-11-24"]["tasks"].values()} == {"default"}
    run_id = run["run_id"]
    texts = [b["text"] for b in outcome["webhook"] if "kldrift__broken" in b.get("text", "")]
    assert texts == [f"kldrift: kldrift__broken.profile failed (data interval 2026-11-23), run {run_id}"]


def test_the_token_is_written_nowhere(outcome: dict[str, Any]) -> None:
    assert TOKEN not in outcome["console"]
    for path in Path(outcome["root"]).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_openlineage_carries_each_features_result(outcome: dict[str, Any]) -> None:
    complete = [
        e
        for e in outcome["lineage"]
        if e.get("eventType") == "COMPLETE" and e.get("job", {}).get("name") == "kldrift__demo.score_and_write"
    ]
    assert len(complete) == 1, [(e.get("eventType"), e.get("job", {}).get("name")) for e in outcome["lineage"]]
    event = complete[0]
    current, reference = event["inputs"]
    assert (current["namespace"], current["name"]) == ("file", f"{outcome['data']}/current/dt={DRIFT_DAY}")
    assert (reference["namespace"], reference["name"]) == ("file", f"{outcome['data']}/reference")
    assertions = current["inputFacets"]["dataQualityAssertions"]["assertions"]
    failed = sorted(a["column"] for a in assertions if not a["success"])
    assert failed == DRIFTED
    fare = next(a for a in assertions if a["column"] == "fare")
    assert (fare["assertion"], fare["severity"], fare["expected"]) == ("kl_below_warn_threshold", "critical", "< 0.1")
    metrics = current["inputFacets"]["dataQualityMetrics"]
    assert (
        metrics["rowCount"]
        == outcome["runs"]["kldrift__demo@2026-11-24"]["xcom"]["score_and_write[-1]:return_value"]["n_current"]
    )
    assert event["outputs"][0]["name"].endswith(f"/out/demo/dt={DRIFT_DAY}")


def test_late_data_is_waited_for_until_the_deadline_then_no_data(outcome: dict[str, Any]) -> None:
    run = outcome["runs"]["kldrift__late@2026-11-24"]
    assert run["state"] == "success", run["tasks"]
    assert run["tasks"]["wait_for_data[-1]"]["state"] == "success"
    why = run["xcom"]["wait_for_data[-1]:return_value"]
    # the interval ended 2026-11-24 00:00 UTC: the deadline (an hour later) has passed, so no waiting
    missing = f"{outcome['data']}/current/never/dt={DRIFT_DAY}"
    assert why == f"late {DRIFT_DAY}: stopped waiting at 2026-11-24T01:00:00+00:00; not there: {missing}"
    summary = run["xcom"]["score_and_write[-1]:return_value"]
    assert (summary["worst"], summary["checks"]["no_data"]) == ("critical", "critical")
