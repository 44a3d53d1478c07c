"""Benchmark: fan-out of a DAG run's count shards on Airflow's LocalExecutor (issue 6).

Usage (run by hand, on a quiet machine; takes a few minutes)::

    .venv/bin/python ../shared/bench/make_data.py --rows 10000000 --out benchmarks/data/10m   # once
    .venv/bin/python benchmarks/bench_fanout.py [--data benchmarks/data/10m] [--shards 1,2]
                                                [--repeat 1] [--parallelism 4] [--warmup 1]
                                                [--timeout 1800] [--keep]

One temp ``AIRFLOW_HOME`` and one job config per shard count (``airflow:
{max_shards: N}``, DAG ``kldrift__fanout_<N>``) over the same reference and
current file; each profile is fitted beforehand with ``kldrift profile`` so a
run measures counting, not fitting. Then ``airflow standalone`` (SQLite,
LocalExecutor, ``AIRFLOW__CORE__PARALLELISM`` from ``--parallelism``, DAGs
paused at creation) runs ``--warmup`` unmeasured DAG runs (a fresh
standalone's first tasks are slower: its workers import the task code cold),
then one manually triggered DAG run per shard count and repeat (the order
alternates between repeats); the task instances from the REST API give:

* count phase: first ``count_shard`` start -> last ``count_shard`` end;
* run: the DAG run's start -> end (includes scheduling latency and the
  profile / plan / score tasks, each a fresh Airflow task process);
* trigger->done: the same seen from here (trigger request -> state polled, 1 s).

A row whose ``mapped`` count is below its ``max_shards`` did not fan out
(``plan_shards`` made fewer shards) and is flagged under the table.

Each run must succeed and write its ``alerts.jsonl``. Airflow is stopped with
SIGINT to ``airflow standalone`` itself (escalating on its process group only
if it hangs), also on errors and Ctrl-C.

The DAGs start today (``start_date``: today's date, UTC), so unpausing them
schedules nothing before tomorrow's midnight (a ``catchup: false`` DAG with
an older start date runs its latest interval at once). The manual runs' logical
dates must not be before the start date (Airflow then creates no task
instances), so each run of a DAG has a logical date a few seconds after
today 00:00 UTC, and scores yesterday (``dt=<yesterday>``). Each DAG is paused again
right after its measured run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "benchmarks" / "data" / "10m"
MAKE_DATA = ROOT.parent / "shared" / "bench" / "make_data.py"
STARTUP_S = 300  # airflow standalone up and the DAGs parsed: 25-60 s on an idle machine
# Reset SIGINT to its default before exec: a shell without job control starts background
# commands with SIGINT ignored, and an ignored SIGINT would survive into Airflow.
_EXEC = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"

T = TypeVar("T")


class BenchError(Exception):
    """A failed step: printed as one message (with the standalone log's tail), exit 1."""


class HttpError(BenchError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def support() -> ModuleType:
    """``tests/airflow_support.py``: the Airflow child-process environment of the test suite."""
    sys.path.insert(0, str(ROOT / "tests"))
    return importlib.import_module("airflow_support")


# --- REST API ---------------------------------------------------------------------


class Api:
    """A minimal client of Airflow's REST API v2 with a bearer token."""

    def __init__(self, base: str, home: Path) -> None:
        self.base = base
        self.home = home
        self.token: str | None = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise HttpError(f"{method} {path}: HTTP {exc.code}: {detail}", exc.code) from None

    def ready(self) -> bool:
        try:
            health = self.request("GET", "/api/v2/monitor/health")
        except (BenchError, urllib.error.URLError, OSError, ValueError):
            return False
        return bool(health and health.get("metadatabase", {}).get("status") == "healthy")

    def login(self) -> None:
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        user, password = next(iter(passwords.items()))
        self.token = self.request("POST", "/auth/token", {"username": user, "password": password})["access_token"]


# --- airflow standalone -----------------------------------------------------------


@contextlib.contextmanager
def standalone(airflow: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``airflow standalone`` in its own process group (Ctrl-C reaches only us); stopped on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _EXEC, str(airflow), "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # pgid == proc.pid
        )
        try:
            yield proc
        finally:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave it running
            try:
                print("stopping airflow standalone (up to 2 min) ...", file=sys.stderr, flush=True)
                t0 = time.monotonic()
                if not support().stop_standalone(proc):
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                    print(f"--- airflow standalone log (tail) ---\n{tail}", file=sys.stderr)
                print(f"airflow standalone stopped in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
            finally:
                signal.signal(signal.SIGINT, previous)


def wait_for(what: str, check: Callable[[], T | None], proc: subprocess.Popen[bytes], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise BenchError(f"airflow standalone exited ({proc.returncode}) while waiting for {what}")
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(1)


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM / SIGHUP: stop Airflow like Ctrl-C does


# --- the benchmark ----------------------------------------------------------------


def _ts(value: str | None) -> dt.datetime:
    if not value:
        raise BenchError("a task instance or run has no start/end date")
    return dt.datetime.fromisoformat(value)


def write_config(folder: Path, data: Path, out: Path, shards: int, start: dt.date) -> Path:
    path = folder / f"fanout_{shards}.yaml"
    lines = [
        f"dataset: fanout_{shards}",
        f"reference: {data / 'reference.parquet'}",
        f"current: {data / 'current.parquet'}",
        f"output: {out}/",
        'schedule: "@daily"',
        f"start_date: {start.isoformat()}",
        "catchup: false",
        f"airflow: {{max_shards: {shards}}}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def measure(
    api: Api,
    proc: subprocess.Popen[bytes],
    shards: int,
    rep: int,
    start: dt.date,
    out: Path,
    timeout: float,
    *,
    warmup: bool = False,
) -> dict[str, Any]:
    """One manually triggered DAG run of the ``shards`` config; its timings from the task instances."""
    dag_id = f"kldrift__fanout_{shards}"
    run_id = f"{'warmup' if warmup else 'bench'}_{shards}_{rep}"
    midnight = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
    # One logical date per run of a DAG: >= the DAG's start date, <= now.
    logical = midnight + dt.timedelta(seconds=rep + (100 if warmup else 0))
    api.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    try:
        t0, triggered = time.monotonic(), time.time()
        api.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": logical.isoformat()}
        )

        def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = api.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        run = wait_for(f"DAG run {dag_id} {run_id}", finished, proc, timeout)
        observed = time.monotonic() - t0
    finally:
        api.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": True})
    tis = api.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]
    if run["state"] != "success":
        states = ", ".join(f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis)
        raise BenchError(f"DAG run {dag_id} {run_id} {run['state']}: {states}")
    counts = [t for t in tis if t["task_id"] == "count_shard"]
    if not counts:
        raise BenchError(f"DAG run {dag_id} {run_id} has no count_shard task instances")
    ds = run["data_interval_start"][:10]
    alerts = out / f"fanout_{shards}" / f"dt={ds}" / "alerts.jsonl"
    if not alerts.is_file() or alerts.stat().st_mtime < triggered - 1:  # repeats score the same day
        raise BenchError(f"DAG run {dag_id} {run_id} succeeded but wrote no {alerts}")
    others = api.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
    unexpected = [r["dag_run_id"] for r in others if r["run_type"] != "manual"]
    if unexpected:
        print(f"warning: {dag_id} also ran {unexpected}: timings may overlap", file=sys.stderr)
    count_start = min(_ts(t["start_date"]) for t in counts)
    count_end = max(_ts(t["end_date"]) for t in counts)
    return {
        "shards": shards,
        "repeat": rep,
        "mapped": len(counts),
        "count_s": (count_end - count_start).total_seconds(),
        "task_s": [round(float(t["duration"] or 0.0), 1) for t in sorted(counts, key=lambda t: t["map_index"])],
        "run_s": (_ts(run["end_date"]) - _ts(run["start_date"])).total_seconds(),
        "observed_s": observed,
    }


def report(results: list[dict[str, Any]], shard_counts: list[int]) -> None:
    print()
    head = ("max_shards", "rep", "mapped", "count phase s", "run s", "trigger->done s")
    print(f"{head[0]:>10} {head[1]:>3} {head[2]:>6} {head[3]:>13} {head[4]:>7} {head[5]:>15}  count_shard tasks s")
    for r in results:
        tasks = ", ".join(f"{s:.1f}" for s in r["task_s"])
        print(
            f"{r['shards']:>10} {r['repeat']:>3} {r['mapped']:>6} {r['count_s']:>13.1f} {r['run_s']:>7.1f} "
            f"{r['observed_s']:>15.1f}  {tasks}"
        )
    median = {
        n: {k: statistics.median(r[k] for r in results if r["shards"] == n) for k in ("count_s", "run_s")}
        for n in shard_counts
    }
    base = shard_counts[0]
    print()
    for n in shard_counts:
        mapped = sorted({r["mapped"] for r in results if r["shards"] == n})
        if mapped != [n]:
            got = "/".join(map(str, mapped))
            print(
                f"warning: max_shards={n} gave {got} count_shard task(s), not {n} "
                f"(plan_shards made fewer shards): these rows do not measure a {n}-way fan-out"
            )
    for n in shard_counts[1:]:
        print(
            f"speedup {base} -> {n} shards (median): count phase "
            f"{median[base]['count_s'] / median[n]['count_s']:.2f}x, "
            f"whole run {median[base]['run_s'] / median[n]['run_s']:.2f}x"
        )


def _short(path: Path) -> str:
    """``path`` relative to the working directory when that does not climb above it."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("../..") else rel


def _shard_list(value: str) -> list[int]:
    try:
        shards = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected shard counts like 1,2, got {value!r}") from None
    if not shards or min(shards) < 1 or len(set(shards)) != len(shards):
        raise argparse.ArgumentTypeError(f"expected distinct shard counts >= 1, got {value!r}")
    return shards


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with reference.parquet, current.parquet")
    ap.add_argument("--shards", type=_shard_list, default=[1, 2], help="airflow.max_shards values (default 1,2)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per shard count, alternating (default 1)")
    ap.add_argument("--parallelism", type=int, default=4, help="AIRFLOW__CORE__PARALLELISM (default 4)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per DAG run (default 1800)")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (default 1)")
    ap.add_argument(
        "--keep", action="store_true", help="keep the temp folder (Airflow home and logs, configs, outputs)"
    )
    args = ap.parse_args(argv)
    data: Path = args.data.resolve()
    if not ((data / "reference.parquet").is_file() and (data / "current.parquet").is_file()):
        print(
            f"no reference.parquet / current.parquet in {data}; make them with:\n"
            f"  {_short(ROOT / '.venv' / 'bin' / 'python')} {_short(MAKE_DATA)} --rows 10000000 --out {_short(data)}",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.repeat <= 100 or args.parallelism < 1 or not 0 <= args.warmup <= 100:
        ap.error("--repeat must be 1 to 100, --parallelism >= 1, --warmup 0 to 100")
    if args.parallelism < 2:
        print("note: --parallelism 1 runs the shards one after the other", file=sys.stderr)
    sup = support()
    bin_dir = Path(sup.BIN)
    if not (bin_dir / "airflow").exists():
        print(f"no airflow next to {sys.executable}: run this with .venv/bin/python", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)

    tmp = Path(tempfile.mkdtemp(prefix="kldrift-fanout-"))
    try:
        return bench(args, data, tmp, sup)
    finally:
        if args.keep:
            print(f"kept {tmp} (airflow standalone log: {tmp / 'standalone.log'})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(args: argparse.Namespace, data: Path, tmp: Path, sup: ModuleType) -> int:
    """Set up, run the DAG runs under ``airflow standalone``, stop it, print the table; the exit code."""
    bin_dir = Path(sup.BIN)
    shard_counts: list[int] = args.shards
    configs, out, home = tmp / "configs", tmp / "out", tmp / "airflow"
    configs.mkdir()
    today = dt.datetime.now(dt.UTC).date()
    paths = {n: write_config(configs, data, out, n, today) for n in shard_counts}
    for n, path in paths.items():
        t0 = time.perf_counter()
        fit = subprocess.run(
            [str(bin_dir / "kldrift"), "profile", "--config", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if fit.returncode != 0:
            print(f"kldrift profile --config {path} failed:\n{fit.stderr}", file=sys.stderr)
            return 1
        print(f"profile fitted for max_shards={n} in {time.perf_counter() - t0:.1f} s", flush=True)

    port = sup.free_port()
    env = sup.airflow_env(
        home,
        configs=configs,
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM=str(args.parallelism),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(sup.free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(sup.free_port()),
    )
    api = Api(f"http://127.0.0.1:{port}", home)
    log = tmp / "standalone.log"
    results: list[dict[str, Any]] = []
    print(
        f"airflow standalone: LocalExecutor, parallelism {args.parallelism}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        with standalone(bin_dir / "airflow", env, log) as proc:
            t0 = time.monotonic()
            wait_for("the API server", api.ready, proc, STARTUP_S)
            api.login()

            def parsed() -> bool:
                for n in shard_counts:
                    try:
                        api.request("GET", f"/api/v2/dags/kldrift__fanout_{n}")
                    except HttpError as exc:
                        if exc.status == 404:  # not parsed yet
                            return False
                        raise
                return True

            wait_for("the DAGs to be parsed", parsed, proc, max(30.0, STARTUP_S - (time.monotonic() - t0)))
            print(f"airflow up and DAGs parsed in {time.monotonic() - t0:.0f} s", flush=True)
            for i in range(args.warmup):
                # The first runs of a fresh standalone are slower (its LocalExecutor workers import the
                # task code cold): unmeasured runs with the most shards warm up as many workers.
                r = measure(api, proc, max(shard_counts), i, today, out, args.timeout, warmup=True)
                print(f"warm-up run {i} (max_shards={max(shard_counts)}, not counted): run {r['run_s']:.1f} s")
            for rep in range(args.repeat):
                for n in shard_counts if rep % 2 == 0 else shard_counts[::-1]:
                    r = measure(api, proc, n, rep, today, out, args.timeout)
                    results.append(r)
                    print(
                        f"max_shards={n} repeat {rep}: {r['mapped']} count_shard task(s), "
                        f"count phase {r['count_s']:.1f} s, run {r['run_s']:.1f} s",
                        flush=True,
                    )
    except BenchError as exc:
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
        print(f"error: {exc}\n--- airflow standalone log (tail) ---\n{tail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; airflow stopped", file=sys.stderr)
        return 130
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    report(results, shard_counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
