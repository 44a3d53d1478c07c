"""The webhook sink against a real HTTP server on 127.0.0.1: success, retries, refused, slow, dripping, garbage.

Every case is bounded in time, and a failed delivery never costs the run its files:
the run's deliveries.jsonl records what happened, naming the endpoint by scheme and host only.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_parquet

from kldrift import cli
from kldrift.config import load_config
from kldrift.interval import Interval
from kldrift.jobsections import Webhook
from kldrift.outputs.webhook import deliver
from kldrift.pipeline import RunResult, run
from kldrift.runstore import read_deliveries

DRIFT = "2026-01-02"


class Hook:
    """A real HTTP endpoint; each request gets the next scripted answer (the last one repeats)."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script) or [200]
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # ends a "slow" answer early at teardown
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                answer = hook.script[min(len(hook.requests), len(hook.script)) - 1]
                if answer == "garbage":
                    self.wfile.write(b"THIS IS NOT HTTP\r\n\r\n")
                    return
                if answer == "hang-up":
                    self.close_connection = True
                    return
                if isinstance(answer, tuple):  # ("slow", seconds): answer 200, too late
                    hook.release.wait(answer[1])
                    answer = 200
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def _table(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    return pa.table({"x": rng.normal(shift, 1.0, n), "c": pa.array(rng.choice(["a", "b", "c"], n))})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference and one day on which ``x`` drifts by 1 sd (KL ≈ 0.4: critical at the defaults)."""
    root = tmp_path_factory.mktemp("hookdata")
    rng = np.random.default_rng(5)
    (root / "ref").mkdir()
    pq.write_table(_table(rng, 4_000, 0.0), root / "ref" / "part-0.parquet")
    (root / "cur" / f"dt={DRIFT}").mkdir(parents=True)
    pq.write_table(_table(rng, 1_500, 1.0), root / "cur" / f"dt={DRIFT}" / "part-0.parquet")
    return root


def job(data: Path, tmp_path: Path, webhook: str, extra: str = "") -> Path:
    config = tmp_path / "job.yaml"
    config.write_text(
        f"dataset: hooked\nreference: {data / 'ref'}\ncurrent: {data / 'cur'}/dt={{ds}}/\noutput: out/\n"
        f"alerts: {{webhook: {webhook}}}\n{extra}"
    )
    return config


def run_job(config: Path) -> tuple[RunResult, list[dict[str, Any]], float]:
    """Run the drift day; the run, its recorded deliveries and how long it took."""
    t0 = time.perf_counter()
    result = run(load_config(config), Interval.for_date(DRIFT))
    elapsed = time.perf_counter() - t0
    folder = config.parent / "out" / "hooked" / f"dt={DRIFT}"
    assert (folder / "alerts.jsonl").read_text().count("\n") >= 1  # the files are there whatever the hook did
    assert (folder / "metrics.parquet").stat().st_size > 0
    return result, read_deliveries(str(folder)), elapsed


# --- through a run: payload, manifest ---------------------------------------------------------------


def test_success_posts_the_summary_and_the_run_records_it(data: Path, tmp_path: Path) -> None:
    with Hook(200) as hook:
        result, deliveries, _ = run_job(job(data, tmp_path, f"{{url: '{hook.url}', on: critical}}"))
    (req,) = hook.requests
    assert req["path"] == "/hook"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["body"]
    alerts = [json.loads(line) for line in (tmp_path / "out" / "hooked" / f"dt={DRIFT}" / "alerts.jsonl").open()]
    assert (body["dataset"], body["date"], body["worst_severity"]) == ("hooked", DRIFT, "critical")
    assert body["alerts"] == alerts
    assert [(a["check"], a["feature"]) for a in alerts] == [("drift", "x"), ("dataset", None)]
    assert body["verdict"] == "1 feature drifted: 1 critical"
    assert body["text"] == "kldrift: hooked 2026-01-02: CRITICAL: 1 feature drifted: 1 critical (x)"
    (delivery,) = deliveries
    assert delivery["ok"] is True
    assert delivery["url"] == hook.url.rsplit("/", 1)[0] + "/***"  # the path of a webhook URL is its secret
    assert delivery["sink"] == "webhook"
    assert [a["status"] for a in delivery["attempts"]] == [200]
    assert result.deliveries == (delivery,)


def test_down_webhook_is_recorded_and_the_run_finishes(data: Path, tmp_path: Path) -> None:
    url = closed_port_url()
    _, deliveries, elapsed = run_job(job(data, tmp_path, f"{{url: '{url}', retries: 2, backoff: 0.05, timeout: 1}}"))
    (delivery,) = deliveries
    assert delivery["ok"] is False
    assert len(delivery["attempts"]) == 3
    assert all("Connection refused" in a["error"] for a in delivery["attempts"])
    assert elapsed < 30


def test_slow_webhook_times_out_and_the_run_finishes(data: Path, tmp_path: Path) -> None:
    with Hook(("slow", 30)) as hook:
        _, deliveries, elapsed = run_job(
            job(data, tmp_path, f"{{url: '{hook.url}', retries: 1, backoff: 0, timeout: 0.5}}")
        )
    (delivery,) = deliveries
    assert delivery["ok"] is False
    assert len(delivery["attempts"]) == 2
    assert all("no complete answer within 0.5 s" in a["error"] for a in delivery["attempts"])
    assert all(0.4 < a["seconds"] < 5 for a in delivery["attempts"])
    assert elapsed < 30
    assert len(hook.requests) == 2


def test_on_critical_does_not_fire_on_a_warn_only_run(data: Path, tmp_path: Path) -> None:
    warn_only = "thresholds: {warn: 0.01, critical: 100}\n"
    with Hook(200) as hook:
        result, deliveries, _ = run_job(job(data, tmp_path, f"{{url: '{hook.url}', on: critical}}", warn_only))
        assert result.report.worst == "warn"
        assert hook.requests == []
        assert deliveries == []
        # The same run with on: warn does post.
        result, deliveries, _ = run_job(job(data, tmp_path, f"{{url: '{hook.url}', on: warn}}", warn_only))
        assert len(hook.requests) == 1
        assert hook.requests[0]["body"]["worst_severity"] == "warn"
        assert deliveries[0]["ok"] is True


def test_no_webhook_flag_and_quiet_runs_do_not_post(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Hook(200) as hook:
        config = job(data, tmp_path, f"{{url: '{hook.url}', on: warn}}")
        assert cli.main(["-q", "run", "--config", str(config), "--date", DRIFT, "--no-webhook"]) == 0
        assert hook.requests == []
        huge = "thresholds: {warn: 50, critical: 100}\n"  # nothing alerts: nothing to say
        result = run(
            load_config(job(data, tmp_path, f"{{url: '{hook.url}', on: warn}}", huge)), Interval.for_date(DRIFT)
        )
        assert result.report.worst == "ok"
        assert hook.requests == []
        assert result.deliveries == ()


# --- deliver() itself: retries and their bounds ---------------------------------------------------------


def hook_at(url: str, **kw: Any) -> Webhook:
    return Webhook(url=url, **{"retries": 3, "backoff": 0.05, "timeout": 2.0, **kw})


def test_500_then_success_is_retried() -> None:
    with Hook(500, 503, 200) as hook:
        t0 = time.perf_counter()
        d = deliver(hook_at(hook.url), {"text": "hi"})
        elapsed = time.perf_counter() - t0
    assert d["ok"] is True
    assert [a["status"] for a in d["attempts"]] == [500, 503, 200]
    assert len(hook.requests) == 3
    assert all(r["body"] == {"text": "hi"} for r in hook.requests)
    assert 0.15 <= elapsed < 10  # backoff 0.05 then 0.1 between the attempts


def test_500_forever_gives_up_after_the_retries() -> None:
    with Hook(500) as hook:
        d = deliver(hook_at(hook.url, retries=2), {"text": "hi"})
    assert d["ok"] is False
    assert [a["status"] for a in d["attempts"]] == [500, 500, 500]


@pytest.mark.parametrize(("status", "tries"), [(404, 1), (400, 1), (429, 3)], ids=["404", "400", "429"])
def test_client_errors_are_not_retried_but_429_is(status: int, tries: int) -> None:
    with Hook(status) as hook:
        d = deliver(hook_at(hook.url, retries=2), {"text": "hi"})
    assert d["ok"] is False
    assert [a["status"] for a in d["attempts"]] == [status] * tries


@pytest.mark.parametrize("answer", ["garbage", "hang-up"])
def test_a_broken_server_is_a_failed_delivery_not_a_crash(answer: str) -> None:
    with Hook(answer) as hook:
        d = deliver(hook_at(hook.url, retries=1), {"text": "hi"})
    assert d["ok"] is False
    assert len(d["attempts"]) == 2
    assert all(a["error"] for a in d["attempts"])


def test_refused_is_bounded() -> None:
    t0 = time.perf_counter()
    d = deliver(hook_at(closed_port_url(), retries=3, backoff=0.01), {"text": "hi"})
    assert d["ok"] is False
    assert len(d["attempts"]) == 4
    assert time.perf_counter() - t0 < 5


def test_record_delivery_appends_a_line(tmp_path: Path) -> None:
    from kldrift.runstore import record_delivery

    record_delivery(str(tmp_path), json.dumps({"ok": False}))
    record_delivery(str(tmp_path), json.dumps({"sink": "webhook", "ok": True}))
    assert read_deliveries(str(tmp_path)) == [{"ok": False}, {"sink": "webhook", "ok": True}]


def test_a_dripping_webhook_is_cut_off_at_the_timeout() -> None:
    # One header line a second: every read succeeds, so per-read timeouts never fire. The timeout bounds
    # the whole attempt.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        stop = threading.Event()

        def drip() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.wait(0.3):
                    try:
                        conn.sendall(b"X-Drip: 1\r\n")
                    except OSError:
                        return

        threading.Thread(target=drip, daemon=True).start()
        t0 = time.perf_counter()
        d = deliver(hook_at(f"http://127.0.0.1:{server.getsockname()[1]}/h", retries=0, timeout=1.0), {"t": 1})
        elapsed = time.perf_counter() - t0
        stop.set()
    assert d["ok"] is False
    assert d["attempts"][0]["error"] == "TimeoutError: no complete answer within 1 s"
    assert elapsed < 3


def test_the_url_can_come_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with Hook(200) as hook:
        monkeypatch.setenv("KLDRIFT_TEST_HOOK", hook.url)
        d = deliver(Webhook(url_env="KLDRIFT_TEST_HOOK"), {"text": "hi"})
        assert d["ok"] is True
        assert len(hook.requests) == 1
    monkeypatch.delenv("KLDRIFT_TEST_HOOK")
    d = deliver(Webhook(url_env="KLDRIFT_TEST_HOOK"), {"text": "hi"})
    assert d["ok"] is False
    assert d["attempts"] == [{"error": "alerts.webhook.url_env: environment variable KLDRIFT_TEST_HOOK is not set"}]
    monkeypatch.setenv("KLDRIFT_TEST_HOOK", "ftp://secret-host/path/TOKEN")
    d = deliver(Webhook(url_env="KLDRIFT_TEST_HOOK"), {"text": "hi"})
    assert "TOKEN" not in json.dumps(d)
    assert d["attempts"][0]["error"].startswith("alerts.webhook.url_env: KLDRIFT_TEST_HOOK does not hold a usable URL")


def test_the_webhook_follows_the_page_rule(tmp_path: Path) -> None:
    """Two features at warn: with ``alerts.page.warn_features: 3`` nothing is posted; with 2, the post says why."""
    rng = np.random.default_rng(5)
    n = 20_000
    write_parquet(tmp_path / "ref" / "r.parquet", pa.table({k: rng.normal(0, 1, n) for k in "abc"}))
    shifted = {"a": rng.normal(0.45, 1, n), "b": rng.normal(0.45, 1, n), "c": rng.normal(0, 1, n)}
    write_parquet(tmp_path / "cur" / f"dt={DRIFT}" / "c.parquet", pa.table(shifted))
    with Hook(200) as hook:
        for needs, posts in ((3, 0), (2, 1)):
            (tmp_path / "job.yaml").write_text(
                "dataset: d\nreference: ref/\ncurrent: 'cur/dt={ds}/'\noutput: out/\n"
                "thresholds: {warn: 0.05, critical: 10}\ndataset_drift: {share: 1}\n"
                f"alerts: {{page: {{warn_features: {needs}}}, webhook: {{url: '{hook.url}', on: warn}}}}\n"
            )
            assert cli.main(["-q", "run", "--config", str(tmp_path / "job.yaml"), "--date", DRIFT]) == 0
            assert len(hook.requests) == posts
    body = hook.requests[0]["body"]
    assert (body["worst_severity"], body["paged"], body["page_reason"]) == (
        "warn",
        "warn",
        "2 features at warn or above",
    )
    assert body["text"].endswith(". Paged: 2 features at warn or above")
