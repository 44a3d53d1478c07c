"""A real scheduler: ``airflow standalone`` runs a one-minute kldrift DAG on its own.

Starts ``airflow standalone`` (scheduler, DAG processor, API server, triggerer;
SQLite, LocalExecutor) on 127.0.0.1 in its own process group, waits (bounded)
for a successful *scheduled* run through the REST API, checks the run's files
and that a broken config next to it is reported without stopping it, then
stops exactly that process group with SIGINT.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_support import (
    BIN,
    DRIFT_DAY,
    DRIFTED,
    airflow_env,
    free_port,
    group_alive,
    make_demo_data,
    stop_standalone,
    write_config,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "kldrift__minutely"
DEADLINE_S = 300  # start-up plus the first scheduled run: 25-60 s on an idle machine
# Reset SIGINT to its default before exec: a shell without job control starts background
# commands with SIGINT ignored, and an ignored SIGINT would survive into Airflow.
_EXEC = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


class Api:
    def __init__(self, base: str, home: Path) -> None:
        self.base = base
        self.home = home
        self.token: str | None = None

    def _request(self, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def ready(self) -> bool:
        try:
            health = self._request("/api/v2/monitor/health")
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return bool(health and health.get("metadatabase", {}).get("status") == "healthy")

    def login(self) -> None:
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        user, password = next(iter(passwords.items()))
        self.token = self._request("/auth/token", {"username": user, "password": password})["access_token"]

    def get(self, path: str) -> Any:
        return self._request(path)


@contextlib.contextmanager
def standalone(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``airflow standalone`` in a new process group; SIGINT to that group on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _EXEC, str(BIN / "airflow"), "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: pgid == proc.pid
        )
        try:
            yield proc
        finally:
            stop_standalone(proc)


def _wait(what: str, check: Any, proc: subprocess.Popen[bytes], deadline: float, log: Path) -> Any:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"airflow standalone exited ({proc.returncode}) waiting for {what}:\n{_tail(log)}")
        result = check()
        if result:
            return result
        time.sleep(3)
    pytest.fail(f"timed out after {DEADLINE_S} s waiting for {what}:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-5000:]


@pytest.mark.timeout(DEADLINE_S + 180)
def test_standalone_runs_the_dag_on_schedule(tmp_path: Path) -> None:
    data = make_demo_data(tmp_path / "data")
    configs, out = tmp_path / "configs", tmp_path / "out"
    # Every minute, always over the drift day's files (the schedule's {ds} is today).
    write_config(
        configs, "minutely", data, out, schedule='"* * * * *"', current=f"dt={DRIFT_DAY}", airflow="{max_shards: 1}"
    )
    write_config(configs, "broken", data, out, dataset="broken", metric="kl_divergence")
    home = tmp_path / "airflow"
    port = free_port()
    env = airflow_env(
        home,
        configs=configs,
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        # Log servers of the scheduler and triggerer: free ports too, so a second Airflow on the machine is no clash.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
    )
    api = Api(f"http://127.0.0.1:{port}", home)
    log = tmp_path / "standalone.log"
    started = time.monotonic()
    deadline = started + DEADLINE_S
    with standalone(env, log) as proc:
        _wait("the API server", api.ready, proc, deadline, log)
        api.login()

        def succeeded() -> list[dict[str, Any]]:
            try:
                runs = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns?state=success")["dag_runs"]
            except urllib.error.HTTPError:  # 404 until the DAG processor has parsed the file
                return []
            return [r for r in runs if r["run_type"] == "scheduled"]

        run = _wait("a successful scheduled run", succeeded, proc, deadline, log)[0]
        waited = time.monotonic() - started
        dag = api.get(f"/api/v2/dags/{DAG_ID}")
        errors = api.get("/api/v2/importErrors")["import_errors"]
    print(f"first scheduled success after {waited:.0f} s")

    assert not group_alive(proc.pid)  # every process of the group stopped
    # a one-minute interval: the run folder is keyed by its start, to the minute (UTC)
    key = run["data_interval_start"][:16] + "Z"
    alerts = [json.loads(line) for line in (out / "demo" / f"dt={key}" / "alerts.jsonl").read_text().splitlines()]
    assert sorted(a["feature"] for a in alerts if a["check"] == "drift") == DRIFTED
    assert (out / "demo" / f"dt={key}" / "metrics.parquet").exists()
    # The broken config is reported on its own file; the minutely DAG was scheduled regardless.
    assert (dag["is_stale"], dag["has_import_errors"]) == (False, False)
    assert [e["filename"] for e in errors] == ["kldrift_config_errors.py"]
    assert f"{configs / 'broken.yaml'}: metric: expected" in errors[0]["stack_trace"]
