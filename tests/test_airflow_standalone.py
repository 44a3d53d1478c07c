"""A real scheduler: ``airflow standalone`` runs a one-minute kldrift DAG on its own.

Starts ``airflow standalone`` (scheduler, DAG processor, API server, triggerer;
SQLite, LocalExecutor) on 127.0.0.1 in its own process group, waits (bounded)
for a successful *scheduled* run through the REST API, checks the run's files
and that a broken config next to it is reported without stopping it, then
stops exactly that process group with SIGINT. While it runs, the kldrift
plugin (loaded by the API server from the package's entry point) is checked
over HTTP and in a headless Chromium: the run's "Drift report" tab, the
scoring task's extra link, authentication, and that nothing else is served.
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
    stop_standalone,
    write_config,
)

from kldrift.demo import make_demo

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
def test_standalone_runs_the_dag_on_schedule(tmp_path: Path, demo_data: Path) -> None:
    data = demo_data
    configs, out = tmp_path / "configs", tmp_path / "out"
    # Every minute, always over the drift day's files (the schedule's {ds} is today).
    write_config(
        configs, "minutely", data, out, schedule='"* * * * *"', current=f"dt={DRIFT_DAY}", airflow="{max_shards: 1}"
    )
    write_config(configs, "broken", data, out, dataset="broken", metric="kl_divergence")
    # The demo as `kldrift airflow init --demo` writes it: days ending yesterday, catchup off, switched on now.
    today = make_demo(str(configs), dataset="today", output=f"{tmp_path / 'out_today'}/")
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

        def demo_scored() -> list[dict[str, Any]]:
            try:
                return list(api.get("/api/v2/dags/kldrift__today/dagRuns?state=success")["dag_runs"])
            except urllib.error.HTTPError:
                return []

        demo_run = _wait("a successful run of the demo", demo_scored, proc, deadline, log)[0]
        dag = api.get(f"/api/v2/dags/{DAG_ID}")
        broken = api.get("/api/v2/dags/kldrift__broken")
        errors = api.get("/api/v2/importErrors")["import_errors"]
        check_plugin(api, run["dag_run_id"], tmp_path)
    print(f"first scheduled success after {waited:.0f} s")

    assert not group_alive(proc.pid)  # every process of the group stopped
    # Switched on with catchup off, the demo ran its latest interval, yesterday: the demo's last day, drifted.
    assert demo_run["run_type"] == "scheduled"
    assert demo_run["data_interval_start"][:10] == today["dates"][-1]
    demo_alerts = (tmp_path / "out_today" / "today" / f"dt={today['dates'][-1]}" / "alerts.jsonl").read_text()
    assert sorted({json.loads(line)["feature"] for line in demo_alerts.splitlines()} & set(DRIFTED)) == DRIFTED
    # a one-minute interval: the run folder is keyed by its start, to the minute (UTC)
    key = run["data_interval_start"][:16] + "Z"
    alerts = [json.loads(line) for line in (out / "demo" / f"dt={key}" / "alerts.jsonl").read_text().splitlines()]
    assert sorted(a["feature"] for a in alerts if a["check"] == "drift") == DRIFTED
    assert (out / "demo" / f"dt={key}" / "metrics.parquet").exists()
    # The broken config is reported on its own file; the minutely DAG was scheduled regardless.
    assert (dag["is_stale"], dag["has_import_errors"]) == (False, False)
    assert [e["filename"] for e in errors] == ["kldrift_config_errors.py"]
    # One line, naming the file and the key: no traceback of kldrift's internals.
    line = errors[0]["stack_trace"]
    assert line.startswith(f"ConfigError: {configs / 'broken.yaml'}: metric: expected"), line
    assert "\n" not in line.strip()
    # The broken config's DAG is still there (not "Deactivated"), unscheduled, saying what is wrong.
    assert broken["is_stale"] is False
    assert broken["timetable_summary"] in (None, "None")
    assert broken["description"] == f"Broken config: {line.removeprefix('ConfigError: ')}"


def _status(api: Api, path: str, *, token: bool = True, accept: str | None = None) -> tuple[int, str, str]:
    """Status, final URL and body of a GET (redirects followed), with or without the token."""
    headers = {"Authorization": f"Bearer {api.token}"} if token else {}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(path if path.startswith("http") else api.base + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.url, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, path, exc.read().decode(errors="replace")


def _headers(api: Api, url: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {api.token}"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        return resp.headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _first_hop(api: Api, path: str, *, accept: str) -> tuple[int, str]:
    """Status and Location of a GET without a token, redirects not followed."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(api.base + path, headers={"Accept": accept}), timeout=20) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def check_plugin(api: Api, run_id: str, tmp_path: Path) -> None:
    from urllib.parse import quote

    plugins = {p["name"]: p for p in api.get("/api/v2/plugins")["plugins"]}
    assert plugins["kldrift"]["external_views"][0]["destination"] == "dag_run"
    run = quote(run_id, safe="")
    # The extra link of the scoring task, computed on the worker and only read by the API server.
    links = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run}/taskInstances/score_and_write/links")
    assert links["extra_links"] == {"Drift report": f"/kldrift/runs/{DAG_ID}/{run}"}
    # No token: an API client gets the 401 as JSON; a browser is sent to the login page, and back after it.
    assert _status(api, f"/kldrift/runs/{DAG_ID}/{run}", token=False) == (
        401,
        f"/kldrift/runs/{DAG_ID}/{run}",
        '{"detail":"Not authenticated"}',
    )
    json_client = _status(api, f"/kldrift/runs/{DAG_ID}/{run}", token=False, accept="application/json")
    assert json_client[0] == 401
    status, location = _first_hop(api, f"/kldrift/runs/{DAG_ID}/{run}", accept="text/html,application/xhtml+xml,*/*")
    assert (status, location) == (302, f"/api/v2/auth/login?next=%2Fkldrift%2Fruns%2F{DAG_ID}%2F{quote(run)}")
    status, url, body = _status(api, location, token=False, accept="text/html")
    assert status == 200
    assert "/auth/login" in url, url  # the auth manager's login page
    # With a token, the run's page in its dataset folder (so its links work), sandboxed: scripts, no same origin.
    status, url, body = _status(api, f"/kldrift/runs/{DAG_ID}/{run}")
    assert status == 200
    assert _headers(api, url)["Content-Security-Policy"].startswith("sandbox allow-scripts allow-downloads;")
    assert "allow-same-origin" not in _headers(api, url)["Content-Security-Policy"]
    # ... under a grant to read this DAG's reports: the sandboxed page's own links carry no session cookie.
    grant = url.removeprefix(f"{api.base}/kldrift/s/").split("/")[0]
    assert url == f"{api.base}/kldrift/s/{grant}/{url.split('/')[-2]}/report.html", url
    assert url.split("/")[-2].startswith("dt="), url
    assert "<h1>Drift report: demo" in body
    assert _status(api, url, token=False)[:1] == (200,)
    assert _status(api, f"/kldrift/s/{grant}/index.html", token=False)[0] == 200
    assert _status(api, f"/kldrift/s/{grant[:-2]}xx/index.html", token=False)[0] == 404  # a forged grant
    assert _status(api, f"/kldrift/dags/{DAG_ID}/index.html")[0] == 200
    for bad in ("../../../etc/passwd", "dt=x/../../../../etc/passwd", "profile.json", "%2e%2e/%2e%2e/etc/passwd"):
        assert _status(api, f"/kldrift/dags/{DAG_ID}/{bad}")[0] == 404, bad
        assert _status(api, f"/kldrift/s/{grant}/{bad}", token=False)[0] == 404, bad
    assert _status(api, f"/kldrift/runs/{DAG_ID}/manual__nothing")[0] == 404
    status, _, body = _status(api, f"/kldrift/runs/{DAG_ID}/{quote('<img src=x onerror=alert(1)>', safe='')}")
    assert status == 404
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<img" not in body
    screenshot_tab(api, run, tmp_path / "ui_drift_report_tab.png")


def screenshot_tab(api: Api, run: str, out: Path) -> None:
    """The run's "Drift report" tab in the Airflow UI, in headless Chromium: the page inside, not blank."""
    import os
    import shutil

    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must install it (scripts/ensure-system-packages.sh)")
        return
    from PIL import Image, ImageStat
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "_token", "value": str(api.token), "url": api.base}])
        page = context.new_page()
        page.goto(f"{api.base}/dags/{DAG_ID}/runs/{run}/plugin/kldrift-report", wait_until="networkidle")
        frame = page.frame_locator("iframe").first
        frame.locator("#verdict").wait_for(timeout=30_000)
        assert "CRITICAL" in frame.locator("#verdict").inner_text()
        inner = next(f for f in page.frames if f.url.endswith("/report.html"))
        assert "/kldrift/s/" in inner.url
        # The page's script ran (its charts are drawn) in an opaque origin: the UI is out of its reach.
        inner.wait_for_function("document.body.dataset.drawn")
        assert inner.evaluate("self.origin") == "null"
        assert inner.evaluate("(() => { try { return !!parent.document; } catch (e) { return false; } })()") is False
        page.screenshot(path=str(out))
        # Its links still work inside the tab (the session cookie goes with them).
        frame.locator("nav.files a", has_text="All runs").click()
        frame.locator("h1", has_text="Drift runs: demo").wait_for(timeout=30_000)
        # A browser without a session lands on Airflow's login page, not on raw JSON.
        anonymous = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        anonymous.goto(f"{api.base}/kldrift/runs/{DAG_ID}/{run}")
        assert "/auth/login" in anonymous.url, anonymous.url
        assert "Not authenticated" not in anonymous.content()
        browser.close()
    stat = ImageStat.Stat(Image.open(out).convert("L"))
    assert stat.stddev[0] > 10, "the screenshot is blank"
