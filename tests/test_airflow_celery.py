"""The Celery recipe of docs/airflow.md, for real: CeleryExecutor, Redis, PostgreSQL and two named workers.

Starts PostgreSQL and Redis (Debian's packages, installed by
scripts/ensure-system-packages.sh) on free loopback ports in a temp folder, then
Airflow's api-server, scheduler, DAG processor and two Celery workers (``w1``,
``w2``, two slots each; the task's hostname is the worker's name through
``[core] hostname_callable``), triggers one run of the demo DAG, and checks that
its shards ran on both workers and that its files are byte-identical to
``kldrift run`` for the same date. Every process is stopped with its group.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_support import BIN, DRIFT_DAY, airflow_env, free_port, group_alive, write_config

from kldrift import cli

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "kldrift__demo"
DEADLINE_S = 420


def _postgres_bin() -> Path | None:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "postgres").exists():
            return folder
    found = shutil.which("postgres")
    return Path(found).resolve().parent if found else None


def _need(what: str, found: object) -> None:
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is not installed; CI must install it (scripts/ensure-system-packages.sh)")
        pytest.skip(f"{what} is not installed (scripts/ensure-system-packages.sh installs it)")


class Services:
    """Processes in their own groups, stopped together; their output in ``logs``."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        out = (self.logs / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.logs
        )

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")

    def tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            while group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.3)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def services(logs: Path) -> Iterator[Services]:
    s = Services(logs)
    try:
        yield s
    finally:
        s.stop()


@contextlib.contextmanager
def _removed(folder: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _wait(what: str, check: Any, s: Services, deadline: float) -> Any:
    while time.monotonic() < deadline:
        s.check()
        result = check()
        if result:
            return result
        time.sleep(2)
    logs = "\n".join(f"--- {n}\n{s.tail(n)}" for n in s.procs)
    pytest.fail(f"timed out waiting for {what}:\n{logs}")


class Api:
    def __init__(self, base: str, home: Path) -> None:
        self.base, self.home, self.token = base, home, ""

    def call(self, path: str, body: Any = None, method: str | None = None) -> Any:
        headers = {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
        }
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=20) as resp:
            return json.loads(resp.read() or b"null")

    def try_call(self, path: str) -> Any:
        try:
            return self.call(path)
        except (urllib.error.URLError, OSError, ValueError):  # HTTPError and timeouts are OSErrors
            return None

    def login(self) -> bool:
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        if not passwords.exists():
            return False
        user, password = next(iter(json.loads(passwords.read_text()).items()))
        self.token = self.call("/auth/token", {"username": user, "password": password})["access_token"]
        return True


@pytest.mark.timeout(DEADLINE_S + 240)
def test_celery_two_workers_share_the_shards(tmp_path: Path, demo_data: Path) -> None:
    pg_bin = _postgres_bin()
    _need("PostgreSQL", pg_bin)
    _need("redis-server", shutil.which("redis-server"))
    assert pg_bin is not None
    data = demo_data
    configs, out = tmp_path / "configs", tmp_path / "out"
    write_config(configs, "demo", data, out, airflow="{max_shards: 3}")
    logs = tmp_path / "logs"
    logs.mkdir()
    # Its own folder under /tmp: the postgres user cannot enter pytest's (mode 700, root's).
    pg_dir = Path(tempfile.mkdtemp(prefix="kldrift-pg-"))
    if os.geteuid() == 0:
        shutil.chown(pg_dir, "postgres", "postgres")
    subprocess.run(
        _as_postgres([str(pg_bin / "initdb"), "-D", str(pg_dir / "data"), "-A", "trust", "-U", "airflow"]),
        check=True,
        capture_output=True,
    )
    pg_port, redis_port, api_port = free_port(), free_port(), free_port()
    db = f"airflow@127.0.0.1:{pg_port}/postgres"
    home = tmp_path / "airflow"
    env = airflow_env(
        home,
        configs=configs,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"postgresql+psycopg2://{db}",
        AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+postgresql+psycopg2://{db}",
        AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__PARALLELISM="8",  # the three shards queued together, so both workers take some
        AIRFLOW__CORE__HOSTNAME_CALLABLE="airflow_support.worker_name",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{api_port}",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
    )
    airflow = str(BIN / "airflow")
    deadline = time.monotonic() + DEADLINE_S
    with services(logs) as s, _removed(pg_dir):
        s.start(
            "postgres",
            _as_postgres(
                [
                    str(pg_bin / "postgres"),
                    "-D",
                    str(pg_dir / "data"),
                    "-p",
                    str(pg_port),
                    "-k",
                    str(pg_dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                ]
            ),
        )
        s.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""])
        ready = [str(pg_bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(pg_port)]
        _wait("PostgreSQL", lambda: subprocess.run(ready, capture_output=True).returncode == 0, s, deadline)
        migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        s.start("api-server", [airflow, "api-server"], env)
        s.start("scheduler", [airflow, "scheduler"], env)
        s.start("dag-processor", [airflow, "dag-processor"], env)
        for name in ("w1", "w2"):
            worker = [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "2"]
            own = {"KLDRIFT_TEST_WORKER": name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            s.start(name, worker, {**env, **own})
        api = Api(f"http://127.0.0.1:{api_port}", home)
        _wait("the api-server", lambda: api.try_call("/api/v2/monitor/health"), s, deadline)
        _wait("a login", api.login, s, deadline)
        _wait("the DAG", lambda: api.try_call(f"/api/v2/dags/{DAG_ID}"), s, deadline)
        for name in ("w1", "w2"):
            _wait(
                f"worker {name}",
                lambda name=name: f"{name}@" in s.tail(name) and " ready." in s.tail(name),
                s,
                deadline,
            )

        def idle() -> bool:  # the scheduler's own run of the latest interval (no data there) is done
            runs = (api.try_call(f"/api/v2/dags/{DAG_ID}/dagRuns") or {}).get("dag_runs")
            return bool(runs) and all(r["state"] in ("success", "failed") for r in runs)

        _wait("the scheduled run to end", idle, s, deadline)
        # Celery hands each queued shard to an idle worker; a worker still busy with another task when
        # the three are queued leaves them all to the other. So: up to three runs (three days), and
        # at least one of them must have its shards on both workers.
        placed: dict[str, list[tuple[int, str]]] = {}
        for day in ("2026-11-24", "2026-11-23", "2026-11-22"):
            run = api.call(f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": f"{day}T00:00:00Z"})
            path = f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.request.quote(run['dag_run_id'], safe='')}"

            def finished(path: str = path) -> str | None:
                state = (api.try_call(path) or {}).get("state")  # a busy api-server may time out: ask again
                return state if state in ("success", "failed") else None

            state = _wait(f"the DAG run of {day}", finished, s, deadline)
            tis = api.call(f"{path}/taskInstances")["task_instances"]
            assert state == "success", [(t["task_id"], t["state"]) for t in tis]
            assert {t["hostname"] for t in tis} <= {"w1", "w2"}
            shards = sorted((t["map_index"], t["hostname"]) for t in tis if t["task_id"] == "count_shard")
            assert len(shards) == 3
            placed[day] = shards
            if {h for _, h in shards} == {"w1", "w2"}:
                break
    assert any({h for _, h in shards} == {"w1", "w2"} for shards in placed.values()), placed
    # the same files as `kldrift run` for the same day
    solo = configs / "solo.yaml"
    solo.write_text((configs / "demo.yaml").read_text().replace(f"output: {out}/", f"output: {tmp_path / 'solo'}/"))
    assert cli.main(["-q", "run", "--config", str(solo), "--date", DRIFT_DAY, "--no-webhook"]) == 0
    for name in ("alerts.jsonl", "metrics.parquet"):
        dag_file = out / "demo" / f"dt={DRIFT_DAY}" / name
        assert dag_file.read_bytes() == (tmp_path / "solo" / "demo" / f"dt={DRIFT_DAY}" / name).read_bytes(), name
    print(f"celery runs: shards on {placed}", file=sys.stderr)
