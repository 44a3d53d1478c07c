"""The DAG factory as Airflow's own DagBag sees it: DAG ids, task graph, schedule, import errors, imports.

Airflow runs in child processes (see ``airflow_support``); one parse scenario
per module feeds the checks below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow_support import DAGS, HEAVY, airflow_env, run_cli, run_scenario, write_config

from kldrift.airflow.factory import load_job
from kldrift.config import load_config
from kldrift.errors import ConfigError

pytestmark = pytest.mark.airflow

COUNT_TASKS = ["count_shard", "plan_shards", "profile", "score_and_write"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dagbag")
    data, out = root / "data", root / "out"  # parsing reads no data: the folders need not exist
    good, broken, many = root / "good", root / "broken", root / "many"
    write_config(good, "demo", data, out, tags="[kldrift, demo]")
    write_config(
        good,
        "strict",
        data,
        out,
        dataset="trips",
        schedule='"0 6 * * *"',
        timezone="Europe/Paris",
        catchup="true",
        tags="[drift, trips]",
        doc='"Trips drift, checked at 06:00 Paris time."',
        alerts='{fail_on: critical, webhook: {url: "http://127.0.0.1:9/hook", on: warn}}',
        airflow="{max_shards: 2, retries: 5, pool: drift_pool}",
    )
    write_config(broken, "a", data, out, dataset="a")
    write_config(broken, "b", data, out, dataset="b")
    write_config(broken, "c", data, out, dataset="c", thresholds="{warn: 0.5, critical: 0.2}")
    write_config(broken, "d", data, out, dataset="d", schedule='"every day"')
    for i in range(20):
        write_config(many, f"job{i:02d}", data, out, dataset=f"job{i:02d}")
    return {"root": root, "good": good, "broken": broken, "many": many}


@pytest.fixture(scope="module")
def parsed(folders: dict[str, Path]) -> dict[str, Any]:
    env = airflow_env(folders["root"] / "airflow")
    args = {"dags": str(DAGS), **{k: str(folders[k]) for k in ("good", "broken", "many")}}
    return run_scenario("dagbag", args, env, timeout=240)


def test_one_dag_per_config_and_no_import_errors(parsed: dict[str, Any]) -> None:
    assert parsed["good"]["import_errors"] == {}
    assert sorted(parsed["good"]["dags"]) == ["kldrift__demo", "kldrift__strict"]
    for dag in parsed["good"]["dags"].values():
        assert dag["fileloc"].endswith("dags/kldrift_dags.py")


def test_task_graph(parsed: dict[str, Any]) -> None:
    demo = parsed["good"]["dags"]["kldrift__demo"]["tasks"]
    assert sorted(demo) == COUNT_TASKS  # no webhook, fail_on never: no delivery or check task
    assert demo["profile"]["upstream"] == demo["plan_shards"]["upstream"] == []
    assert demo["count_shard"]["upstream"] == ["plan_shards", "profile"]
    assert demo["count_shard"]["mapped"]
    assert demo["count_shard"]["map_index_template"] == "{{ shard }}"
    assert demo["score_and_write"]["upstream"] == ["count_shard", "plan_shards", "profile"]  # plan: the files counted
    # Airflow's public API: a classic operator (with the report link) instead of TaskFlow's private class
    assert demo["score_and_write"]["operator"] == "kldrift.airflow.operators.KLDriftScoreOperator"
    assert demo["score_and_write"]["extra_links"] == ["Drift report"]
    assert parsed["good"]["dags"]["kldrift__demo"]["max_active_runs"] == 4  # kldrift.airflow.dags.MAX_ACTIVE_RUNS
    strict = parsed["good"]["dags"]["kldrift__strict"]["tasks"]
    assert sorted(strict) == sorted([*COUNT_TASKS, "check_severity", "deliver_webhook"])
    assert strict["deliver_webhook"]["upstream"] == strict["check_severity"]["upstream"] == ["score_and_write"]


def test_schedule_and_settings_from_config(parsed: dict[str, Any]) -> None:
    demo = parsed["good"]["dags"]["kldrift__demo"]
    assert (demo["timetable"], demo["cron"], demo["timezone"]) == ("CronDataIntervalTimetable", "0 0 * * *", "UTC")
    assert demo["start_date"] == "2026-11-17T00:00:00+00:00"
    assert demo["catchup"] is False  # the config default
    assert demo["tags"] == ["demo", "kldrift"]
    assert demo["tasks"]["count_shard"]["retries"] == 2  # airflow.retries default
    assert demo["tasks"]["count_shard"]["pool"] == "default_pool"
    strict = parsed["good"]["dags"]["kldrift__strict"]
    assert (strict["cron"], strict["timezone"], strict["catchup"]) == ("0 6 * * *", "Europe/Paris", True)
    assert strict["start_date"] == "2026-11-16T23:00:00+00:00"  # midnight in Paris, stored in UTC
    assert strict["tags"] == ["drift", "trips"]
    assert strict["doc_md"].startswith("Trips drift, checked at 06:00 Paris time.")
    assert strict["tasks"]["count_shard"]["pool"] == "drift_pool"
    assert strict["tasks"]["profile"]["retries"] == 5
    assert strict["tasks"]["check_severity"]["retries"] == 0  # drift does not heal on a retry


def test_asset_outlet(parsed: dict[str, Any], folders: dict[str, Path]) -> None:
    tasks = parsed["good"]["dags"]["kldrift__demo"]["tasks"]
    assert [t for t, v in tasks.items() if v["outlets"]] == ["score_and_write"]
    expected = {"name": "kldrift__demo", "uri": (folders["root"] / "out" / "demo").as_uri(), "group": "kldrift"}
    assert tasks["score_and_write"]["outlets"] == [expected]


def test_broken_config_is_an_import_error_of_its_own(parsed: dict[str, Any], folders: dict[str, Path]) -> None:
    broken = parsed["broken"]
    # The good configs load; each broken one keeps its DAG id as a placeholder (no schedule, its error in its docs).
    assert broken["dags"] == ["kldrift__a", "kldrift__b", "kldrift__c", "kldrift__d"]
    for stub in ("kldrift__c", "kldrift__d"):
        assert broken["stubs"][stub]["schedule"] is None
        assert broken["stubs"][stub]["tags"] == ["broken-config", "kldrift"]
        assert list(broken["stubs"][stub]["tasks"]) == ["config_error"]
    # Keyed by the error-reporting file, never by the file that defines the DAGs.
    assert list(broken["import_errors"]) == ["kldrift_config_errors.py"]
    text = broken["import_errors"]["kldrift_config_errors.py"]
    with pytest.raises(ConfigError) as exc:  # the one-line message of `kldrift run`
        load_config(folders["broken"] / "c.yaml")
    assert str(exc.value).startswith(f"{folders['broken'] / 'c.yaml'}: thresholds: warn (0.5) must be <= critical")
    with pytest.raises(ConfigError) as exc_d:
        load_job(folders["broken"] / "d.yaml")
    assert str(exc_d.value).startswith(
        f"{folders['broken'] / 'd.yaml'}: schedule: 'every day' is not a cron expression"
    )
    # One line per broken config and nothing else: no traceback, no frame of kldrift's.
    assert text == f"ConfigErrors: {exc.value}\n{exc_d.value}"
    assert broken["stubs"]["kldrift__c"]["description"] == f"Broken config: {exc.value}"


def test_parse_imports_no_data_stack(parsed: dict[str, Any]) -> None:
    assert parsed["heavy_after_parse"] == []


def test_twenty_configs_parse_fast(parsed: dict[str, Any]) -> None:
    many = parsed["many"]
    assert many["dags"] == 20
    assert many["import_errors"] == {}
    seconds = sum(many["files"].values())
    print(f"20 configs: DagBag parse {many['seconds']:.3f} s, files {many['files']}")
    assert seconds < 2.0  # well under a second on an idle machine; slack for a busy CI


def test_import_kldrift_airflow_is_light() -> None:
    code = (
        "import sys, kldrift.airflow, kldrift.airflow.factory, kldrift.airflow.tasks\n"
        "assert callable(kldrift.airflow.get_provider_info)\n"
        f"print([m for m in ('airflow', *{HEAVY!r}) if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout.strip() == "[]"


def _airflow_json(args: list[str], env: dict[str, str]) -> Any:
    proc = run_cli(["airflow", *args, "-o", "json"], env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout[proc.stdout.index("[") :])


def test_providers_list_shows_kldrift_and_its_connection_type(tmp_path: Path) -> None:
    env = airflow_env(tmp_path / "home")
    providers = {p["package_name"]: p for p in _airflow_json(["providers", "list"], env)}
    assert "kldrift" in providers
    assert "drift" in providers["kldrift"]["description"]
    hooks = {h["connection_type"]: h for h in _airflow_json(["providers", "hooks"], env)}
    assert hooks["kldrift_webhook"] == {
        "connection_type": "kldrift_webhook",
        "class": "kldrift.airflow.hooks.KLDriftWebhookHook",
        "conn_id_attribute_name": "kldrift_conn_id",
        "package_name": "kldrift",
        "hook_name": "kldrift webhook",
    }
    # the form: its own field (the whole URL), and the standard fields relabelled for a webhook
    widgets = {w["connection_parameter_name"]: w for w in _airflow_json(["providers", "widgets"], env)}
    assert widgets["extra__kldrift_webhook__webhook_url"]["package_name"] == "kldrift"
    assert {"field_behaviours": "kldrift_webhook"} in _airflow_json(["providers", "behaviours"], env)


def test_a_kldrift_webhook_connection_is_added_and_tested_with_airflow_s_cli(tmp_path: Path) -> None:
    env = airflow_env(tmp_path / "home", AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    token = "T0KEN-in-the-connection-7c1d"
    assert run_cli(["airflow", "db", "migrate"], env, timeout=240).returncode == 0
    add = ["connections", "add", "team_hook", "--conn-type", "kldrift_webhook", "--conn-host", "hooks.example.com/h"]
    proc = run_cli(["airflow", *add, "--conn-password", token], env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = {c["conn_id"]: c for c in _airflow_json(["connections", "list"], env)}
    assert listed["team_hook"]["conn_type"] == "kldrift_webhook"
    proc = run_cli(["airflow", "connections", "test", "team_hook"], env, timeout=120)  # nothing is posted
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Connection success!" in proc.stdout
    assert token not in proc.stdout + proc.stderr
    assert run_cli(["airflow", "connections", "add", "empty", "--conn-type", "kldrift_webhook"], env, timeout=120)
    proc = run_cli(["airflow", "connections", "test", "empty"], env, timeout=120)
    assert "connection 'empty' holds no webhook URL: it has neither extra.webhook_url nor a host" in proc.stdout


CONNECTIONS = [
    "kldrift-webhook://:T000%2FB000%2FXXXX@hooks.slack.com%2Fservices",
    "slackwebhook://:T000%2FB000@hooks.slack.com%2Fservices",
    "http://:tok@127.0.0.1:8080/http",
    "https://?webhook_url=https%3A%2F%2Fchat.example%2Fh%3Ftoken%3DT",
    '{"conn_type": "kldrift_webhook", "extra": {"webhook_url": "https://hooks.example.com/T/B"}}',
    '{"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http", "password": "hooks/T"}',
    '{"conn_type": "http", "extra": "{\\"webhook_url\\": \\"https://x.example/T\\"}"}',
]


def test_the_cli_reads_connections_as_airflow_does(tmp_path: Path) -> None:
    # The CLI parses AIRFLOW_CONN_* itself (it does not import Airflow); Airflow's own Connection must agree.
    found = run_scenario("connections", {"values": CONNECTIONS}, airflow_env(tmp_path / "home"), timeout=120)
    for value, result in zip(CONNECTIONS, found, strict=True):
        theirs, ours = result["airflow"], result["kldrift"]
        for key in ("conn_type", "host", "port", "password", "extra"):
            assert (theirs.get(key) or None) == (ours.get(key) or None), (value, key, theirs, ours)
        assert result["urls"][0] == result["urls"][1], value
