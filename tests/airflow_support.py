"""Helpers of the Airflow tests: demo data, configs, and Airflow run in subprocesses.

Every Airflow call of the test suite runs in a child process with its own
``AIRFLOW_HOME`` (a temp folder, SQLite), its own DAG and config folders and
no inherited ``AIRFLOW__*`` variables. Airflow reads its configuration once,
at import, so the pytest process never imports it: the other tests are not
affected, the order of test modules does not matter, and the suite's
``filterwarnings = error`` does not apply to Airflow's internals.

The ``scenario_*`` functions are what those child processes run; each writes
its findings as JSON to a file for the test to check.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
BIN = Path(sys.executable).parent
HEAVY = ("pyarrow", "scipy", "pandas")

DRIFT_DAY = "2026-11-23"  # demo drift starts on 2026-11-21
QUIET_DAY = "2026-11-18"
DRIFTED = ["fare", "payment_type", "pickup_zone", "rating"]


# --- data and configs ------------------------------------------------------------


def make_demo_data(folder: Path) -> Path:
    """The demo set under ``folder``, each day split into 3 files (so the DAG counts several shards)."""
    import pyarrow.parquet as pq

    from kldrift.demo import make_demo

    if (folder / "done").exists():
        return folder
    make_demo(str(folder), first_day=dt.date(2026, 11, 17))
    for day in sorted((folder / "current").iterdir()):
        src = day / "part-000.parquet"
        table = pq.read_table(src)
        src.unlink()
        n = table.num_rows
        for i in range(3):
            lo, hi = i * n // 3, (i + 1) * n // 3
            pq.write_table(table.slice(lo, hi - lo), day / f"part-{i:03d}.parquet", row_group_size=1024)
    (folder / "done").write_text("")
    return folder


def write_config(
    folder: Path,
    stem: str,
    data: Path,
    output: Path,
    *,
    dataset: str = "demo",
    current: str = "dt={ds}",
    **extra: str,
) -> Path:
    """A job config ``<folder>/<stem>.yaml`` over the demo data; ``extra`` adds raw YAML lines."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"dataset: {dataset}",
        f"reference: {data}/reference/",
        f"current: {data}/current/{current}/",
        f"output: {output}/",
        "start_date: 2026-11-17",
        "features: {exclude: [pickup_at]}",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    path = folder / f"{stem}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- child processes --------------------------------------------------------------


def airflow_env(home: Path, *, dags: Path = DAGS, configs: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment of a child Airflow process: a fresh home, SQLite, few workers, no examples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KLDRIFT_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PARALLELISM="2",
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]),  # `airflow standalone` starts `airflow ...`
    )
    env.update(extra)
    if configs is not None:
        env["KLDRIFT_CONFIG_DIR"] = str(configs)
    home.mkdir(parents=True, exist_ok=True)
    return env


def run_scenario(name: str, args: Mapping[str, Any], env: Mapping[str, str], *, timeout: float) -> Any:
    """Run ``scenario_<name>(**args)`` of this module in a child process; its JSON result."""
    out = Path(env["AIRFLOW_HOME"]) / f"{name}.json"
    code = textwrap.dedent(
        f"""
        import json, sys
        import airflow_support
        result = airflow_support.scenario_{name}(**json.loads(sys.argv[1]))
        with open({str(out)!r}, "w") as fh:
            json.dump(result, fh, default=str)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args, default=str)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    # Kept beside the result: the console of a run is one of the places a secret must never reach.
    (Path(env["AIRFLOW_HOME"]) / f"{name}.console").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.exists():
        raise AssertionError(f"scenario {name} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return json.loads(out.read_text())


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(args: list[str], env: Mapping[str, str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )


# --- what the child processes run ------------------------------------------------


def scenario_load_jobs(folder: str) -> dict[str, Any]:
    """The DAG factory's view of a config folder: jobs loaded, errors, and how long it took."""
    from kldrift.airflow.factory import load_jobs

    t0 = time.perf_counter()
    jobs, errors = load_jobs(folder)
    return {
        "seconds": time.perf_counter() - t0,
        "datasets": [j.config.dataset for j in jobs],
        "dag_ids": [j.dag_id for j in jobs],
        "errors": [str(e) for e in errors],
        "error_files": [str(e).split(":")[0] for e in errors],
    }


def _describe_dag(dag: Any) -> dict[str, Any]:
    tasks = {}
    for t in dag.tasks:
        tasks[t.task_id] = {
            "upstream": sorted(t.upstream_task_ids),
            "retries": t.retries,
            "pool": t.pool,
            "mapped": "Mapped" in type(t).__name__,
            "operator": f"{t.operator_class.__module__}.{t.operator_class.__qualname__}"
            if hasattr(t, "operator_class") and isinstance(t.operator_class, type)
            else f"{type(t).__module__}.{type(t).__qualname__}",
            "extra_links": sorted(link.name for link in getattr(t, "operator_extra_links", ())),
            "map_index_template": getattr(t, "map_index_template", None),
            "outlets": [{"name": a.name, "uri": a.uri, "group": a.group} for a in t.outlets],
        }
    tt = dag.timetable
    return {
        "tasks": tasks,
        "timetable": type(tt).__name__,
        "cron": getattr(tt, "expression", None),
        "timezone": str(getattr(tt, "timezone", "")),
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tags": sorted(dag.tags),
        "doc_md": dag.doc_md,
        "fileloc": dag.fileloc,
    }


def _bag(dags: str, configs: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    os.environ["KLDRIFT_CONFIG_DIR"] = configs
    return DagBag(dag_folder=dags, bundle_path=Path(dags), bundle_name="dags-folder")


def scenario_dagbag(dags: str, good: str, broken: str, many: str) -> dict[str, Any]:
    """Parse the DAG folder over three config folders; sync the broken one to the DB like the scheduler."""
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    bag = _bag(dags, good)
    out["good"] = {
        "seconds": time.perf_counter() - t0,
        "dags": {d: _describe_dag(bag.dags[d]) for d in sorted(bag.dag_ids)},
        "import_errors": bag.import_errors,
    }
    out["heavy_after_parse"] = [m for m in HEAVY if m in sys.modules]

    t0 = time.perf_counter()
    bag = _bag(dags, many)
    out["many"] = {
        "seconds": time.perf_counter() - t0,
        "files": {s.file: s.duration.total_seconds() for s in bag.dagbag_stats},
        "dags": len(bag.dag_ids),
        "import_errors": bag.import_errors,
    }

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.utils import db
    from airflow.utils.session import create_session
    from sqlalchemy import select

    db.initdb()
    DagBundlesManager().sync_bundles_to_db()  # the "dags-folder" bundle the DAG rows refer to
    bag = _bag(dags, broken)
    sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        models = {
            m.dag_id: {"stale": m.is_stale, "has_import_errors": m.has_import_errors}
            for m in session.scalars(select(DagModel))
        }
        errors = {e.filename: e.stacktrace for e in session.scalars(select(ParseImportError))}
    stubs = {
        d: {
            "schedule": bag.dags[d].timetable.summary if bag.dags[d].timetable.can_be_scheduled else None,
            "tags": sorted(bag.dags[d].tags),
            "tasks": sorted(bag.dags[d].task_ids),
            "description": bag.dags[d].description,
        }
        for d in sorted(bag.dag_ids)
        if "broken-config" in bag.dags[d].tags
    }
    out["broken"] = {
        "dags": sorted(bag.dag_ids),
        "stubs": stubs,
        "import_errors": bag.import_errors,
        "db": models,
        "db_errors": errors,
    }
    return out


def scenario_connections(values: list[str]) -> list[dict[str, Any]]:
    """Each ``AIRFLOW_CONN_*`` value parsed by Airflow's own ``Connection`` and by kldrift's parser (which the
    CLI uses without Airflow), and the webhook URL each gives."""
    from airflow.sdk import Connection

    from kldrift.connections import connection_fields, parse_connection, webhook_url

    out = []
    for value in values:
        if value.lstrip().startswith("{"):
            conn = Connection.from_json(value, conn_id="probe")
        else:
            conn = Connection.from_uri(value, conn_id="probe")
        theirs, ours = connection_fields(conn), parse_connection(value)
        out.append({"airflow": theirs, "kldrift": ours, "urls": [webhook_url(theirs), webhook_url(ours)]})
    return out


def scenario_lineage(summary: dict[str, Any]) -> dict[str, Any]:
    """The OpenLineage datasets kldrift's facets name for a run's summary (the provider's own classes)."""
    from kldrift.airflow.lineage import lineage
    from kldrift.summary import RunSummary

    found = lineage(RunSummary.from_json(summary))
    return {
        "inputs": [[d.namespace, d.name, sorted(d.inputFacets or {})] for d in found.inputs],
        "outputs": [[d.namespace, d.name] for d in found.outputs],
    }


def _webhook_server(port: int) -> list[Any]:
    """A local HTTP endpoint in a thread; the JSON bodies POSTed to it."""
    import http.server
    import threading

    received: list[Any] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return received


class FlakyProxy:
    """An HTTP proxy on 127.0.0.1 in front of an S3-compatible server (moto) that answers ``503 SlowDown``
    to every attempt of the first ``fail`` bucket listings whose ``prefix`` starts with ``prefix``, as S3
    does under load.

    The AWS SDK under pyarrow retries a 503 itself; its ``amz-sdk-request: attempt=N`` header tells a new
    call from a retry, so every attempt of the call is refused and it fails for good (an ``OSError`` in
    pyarrow), whatever the SDK's retry budget. Every request is recorded (method, path and query, status,
    attempt header).
    """

    def __init__(self, upstream: str, *, prefix: str, fail: int = 1) -> None:
        import http.client
        import http.server
        import threading
        import urllib.parse

        self.log: list[tuple[str, str, int, str]] = []
        self.fail = fail
        self.calls = 0
        lock = threading.Lock()
        proxy = self
        target = urllib.parse.urlsplit(upstream)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                listing = self.command == "GET" and "list-type" in query
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                attempt = self.headers.get("amz-sdk-request", "")
                tries = dict(p.strip().partition("=")[::2] for p in attempt.split(";") if "=" in p)
                with lock:
                    refuse = listing and query.get("prefix", [""])[0].startswith(prefix)
                    if refuse and tries.get("attempt", "1") == "1":  # a new call (a retry says attempt=2, ...)
                        proxy.calls += 1
                    refuse = refuse and proxy.calls <= proxy.fail
                if refuse:
                    error = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                    proxy.log.append((self.command, self.path, 503, attempt))
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                proxy.log.append((self.command, self.path, resp.status, attempt))
                self.send_response(resp.status)
                head = self.command == "HEAD"  # its Content-Length is the object's size: pass it on
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection") and (head or k.lower() != "content-length"):
                        self.send_header(k, v)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _relay

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def scenario_dag_test(dags: str, runs: list[list[str]], webhook_port: int | None = None) -> dict[str, Any]:
    """``dag.test()`` each (dag_id, logical date); the run's state, task states and XComs."""
    import datetime as dt

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils import db
    from airflow.utils.session import create_session
    from sqlalchemy import select

    received = _webhook_server(webhook_port) if webhook_port else []
    db.initdb()
    bag = DagBag(dag_folder=dags)
    out: dict[str, Any] = {"import_errors": bag.import_errors, "runs": {}, "webhook": received}
    for dag_id, date in runs:
        logical = dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC)
        t0 = time.perf_counter()
        dr = bag.dags[dag_id].test(logical_date=logical)
        seconds = time.perf_counter() - t0
        with create_session() as session:
            tis = session.scalars(
                select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == dr.run_id)
            ).all()
            xcoms = session.scalars(
                select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == dr.run_id)
            ).all()
            out["runs"][f"{dag_id}@{date}"] = {
                "state": str(dr.state),
                "run_id": dr.run_id,
                "seconds": seconds,
                "data_interval": [str(dr.data_interval_start), str(dr.data_interval_end)],
                "tasks": {
                    f"{ti.task_id}[{ti.map_index}]": {
                        "state": str(ti.state),
                        "try_number": ti.try_number,
                        "rendered_map_index": ti.rendered_map_index,
                        "queue": ti.queue,
                        "owner": bag.dags[dag_id].get_task(ti.task_id).owner,
                    }
                    for ti in tis
                },
                "xcom": {f"{x.task_id}[{x.map_index}]:{x.key}": XComModel.deserialize_value(x) for x in xcoms},
            }
    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetModel.uri, AssetEvent.extra).join(
                AssetModel, AssetModel.id == AssetEvent.asset_id
            )
        )
        out["asset_events"] = [{"name": n, "uri": u, "extra": e} for n, u, e in rows]
    return out


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_standalone(proc: subprocess.Popen[bytes]) -> bool:
    """SIGINT to ``airflow standalone``, which stops its components; escalate on the group if it hangs.

    True when SIGINT alone stopped it.
    """
    pgid = proc.pid
    steps = ((signal.SIGINT, False, 90), (signal.SIGTERM, True, 15), (signal.SIGKILL, True, 5))
    clean = True
    for sig, whole_group, grace in steps:
        if not group_alive(pgid):
            break
        if sig != signal.SIGINT:
            clean = False
            print(f"airflow standalone still running: {sig.name} to its process group", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(pgid, sig)
            else:
                os.kill(proc.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_alive(pgid):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if group_alive(pgid):
        print(f"warning: processes of group {pgid} are still running", file=sys.stderr)
    return clean


OPERATOR_DAGS = '''\
"""Test DAGs of KLDriftOperator (an Airflow DAG file)."""
import datetime as dt
import os

from airflow.sdk import DAG, CronDataIntervalTimetable

from kldrift.airflow import KLDriftOperator

for fail_on in ("critical", "never"):
    with DAG(
        dag_id=f"op_{fail_on}",
        schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
        start_date=dt.datetime(2026, 11, 17, tzinfo=dt.timezone.utc),
        catchup=False,
    ):
        KLDriftOperator(
            task_id="drift",
            config_path=os.environ["KLDRIFT_OPERATOR_CONFIG"],
            fail_on="{{ params.fail_on }}",
            params={"fail_on": fail_on},
            retries=2,
        )
'''


def worker_name() -> str:
    """``[core] hostname_callable`` of the Celery test's workers: the name each was started with."""
    return os.environ.get("KLDRIFT_TEST_WORKER") or "unnamed"
