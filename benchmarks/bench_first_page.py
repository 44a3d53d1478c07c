"""Benchmark: a new user's time from ``pip install`` to the first drift report in the Airflow UI (issue 21).

Usage (run by hand; a few minutes; needs the network only for what uv's cache lacks)::

    .venv/bin/python benchmarks/bench_first_page.py [--keep] [--timeout 900]

What a new user does, each step timed from here:

1. build: ``uv build --wheel`` of this repository (a user gets the wheel from PyPI: not counted in
   the total);
2. install: ``uv venv`` + ``uv pip install -c requirements.lock 'kldrift[airflow] @ <wheel>'`` into a
   fresh venv (uv's cache warm or cold, as this machine has it);
3. init: ``kldrift airflow init dags --demo`` in an empty folder;
4. start: ``airflow standalone`` (DAGs not paused at creation, like a user switching the demo on
   at once) until the API answers;
5. first page: until the demo DAG's first run has succeeded and ``/kldrift/runs/kldrift__demo/<run>``
   (the *Drift report* tab's URL) serves its page.

Airflow is stopped with SIGINT to ``airflow standalone``'s process group (started here).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(args: list[str], **kw: Any) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"{args[:3]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str | None = None, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as resp:
        return resp.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kldrift-first-page-"))
    steps: dict[str, float] = {}

    t = time.monotonic()
    _run([str(BIN / "uv"), "build", "--wheel", "--out-dir", str(root / "dist"), str(REPO)])
    (wheel,) = (root / "dist").glob("kldrift-*.whl")
    steps["build (not counted)"] = time.monotonic() - t

    start = t = time.monotonic()
    venv = root / "venv"
    _run([str(BIN / "uv"), "venv", "--python", str(BIN / "python"), str(venv)])
    _run(
        [
            *(str(BIN / "uv"), "pip", "install", "--python", str(venv / "bin" / "python")),
            *("-c", str(REPO / "requirements.lock"), f"kldrift[airflow] @ {wheel.as_uri()}"),
        ],
        timeout=1200,
    )
    steps["install"] = time.monotonic() - t

    user = root / "user"
    user.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KLDRIFT_", "PYTHON"))}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(user / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(user / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
    )
    t = time.monotonic()
    _run([str(venv / "bin" / "kldrift"), "airflow", "init", "dags", "--demo"], env=env, cwd=user)
    steps["init --demo"] = time.monotonic() - t

    base = f"http://127.0.0.1:{port}"
    t = time.monotonic()
    log = (root / "standalone.log").open("wb")
    proc = subprocess.Popen(
        [str(venv / "bin" / "airflow"), "standalone"],
        env=env,
        cwd=user,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + args.timeout
        token = None
        while token is None:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the API server did not start: see {root / 'standalone.log'}")
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError, StopIteration, KeyError):
                passwords = json.loads((user / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
                user_name, password = next(iter(passwords.items()))
                token = json.loads(_get(f"{base}/auth/token", body={"username": user_name, "password": password}))[
                    "access_token"
                ]
            time.sleep(1)
        steps["start (API up)"] = time.monotonic() - t
        t = time.monotonic()
        page = b""
        while b"<h1>Drift report: demo" not in page:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"no page before the deadline: see {root / 'standalone.log'}")
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError, IndexError, KeyError):
                runs = json.loads(_get(f"{base}/api/v2/dags/kldrift__demo/dagRuns?state=success", token))["dag_runs"]
                run_id = urllib.parse.quote(runs[0]["dag_run_id"], safe="")
                page = _get(f"{base}/kldrift/runs/kldrift__demo/{run_id}", token)
            time.sleep(1)
        steps["first page"] = time.monotonic() - t
        total = time.monotonic() - start
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    for name, seconds in steps.items():
        print(f"{name:>22}: {seconds:6.1f} s")
    print(f"{'pip install -> page':>22}: {total:6.1f} s")
    if args.keep:
        print(f"kept: {root}")
    else:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
