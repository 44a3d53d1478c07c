"""Webhook sink: POST one JSON summary of a run, with bounded retries and backoff.

A delivery never raises: it returns a record of every attempt, which the run
writes into its manifest. The run's files are written before any delivery,
so a slow or dead endpoint cannot lose or delay them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from kldrift.errors import ConfigError
from kldrift.jobsections import Webhook, check_webhook_url
from kldrift.redact import redact_text, redact_url
from kldrift.results import DriftReport
from kldrift.segments import Segment

__all__ = ["deliver", "payload", "resolve_url", "should_deliver", "slack_escape"]

log = logging.getLogger(__name__)


def should_deliver(report: DriftReport, hook: Webhook) -> bool:
    """Whether the run pages (``alerts.page``: drift, schema, volume, no data) at ``hook.on`` or above."""
    return report.reaches(hook.on)


def slack_escape(text: str) -> str:
    """``text`` safe inside Slack mrkdwn: ``&``, ``<``, ``>`` escaped, so a column named ``<!channel>``
    or a category holding a link is shown, not acted on."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(report: DriftReport, alerts: list[dict[str, Any]], *, dataset: str, date: str | None) -> dict[str, Any]:
    """The JSON body: summary fields, the alert rows, and a Slack-compatible ``text`` led by the verdict."""
    verdict = report.verdict
    names = [n for n in map(_name, alerts) if n is not None]
    shown = ", ".join(names[:10]) + (f", +{len(names) - 10} more" if len(names) > 10 else "")
    text = f"kldrift: {dataset} {date or ''}: {verdict.worst.upper()}: {verdict.headline}"
    if shown:
        text += f" ({shown})"
    if report.page.level.alerting and not report.page.every_alert:  # what paged, by alerts.page
        text += f". Paged: {verdict.page_reason}"
    return {
        "dataset": dataset,
        "date": date,
        "worst_severity": str(verdict.worst),
        "paged": str(verdict.paged),
        "page_reason": verdict.page_reason,
        "verdict": verdict.headline,
        "dataset_drift": report.dataset_drift,
        "drift_share": report.drift_share,
        "alerts": alerts,
        "text": slack_escape(text),
    }


def _name(alert: dict[str, Any]) -> str | None:
    """What the text names of an alert row: its feature, with its segment (``fare [origin=EWR]``)."""
    seg = alert.get("segment")
    label = Segment.from_json(seg).label if seg else None
    what = alert["feature"] if alert["feature"] is not None else alert["check"] if label else None
    return f"{what} [{label}]" if label and what else what


class _Sockets:
    """The sockets one delivery attempt opened, so a watchdog can close them when time is up."""

    def __init__(self) -> None:
        self.open: list[socket.socket] = []

    def handler(self, https: bool) -> urllib.request.BaseHandler:
        base = http.client.HTTPSConnection if https else http.client.HTTPConnection
        sockets = self.open

        class Conn(base):  # type: ignore[valid-type,misc]
            def connect(self) -> None:
                super().connect()
                sockets.append(self.sock)

        if https:

            class HTTPS(urllib.request.HTTPSHandler):
                def https_open(self, req: urllib.request.Request) -> Any:
                    return self.do_open(Conn, req, context=getattr(self, "_context", None))

            return HTTPS()

        class HTTP(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(Conn, req)

        return HTTP()

    def close(self) -> None:
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


def _attempt(url: str, data: bytes, timeout: float) -> int:
    """POST once and return the HTTP status; the whole attempt — connect, send, the answer — ends by ``timeout``.

    A per-read timeout is not enough: an endpoint that drips one header line a second never
    trips it and would hold the run (and its lock) indefinitely. The request runs on a
    thread; when time is up, its sockets are shut down, which ends it at once.
    """
    sockets = _Sockets()
    opener = urllib.request.build_opener(sockets.handler(False), sockets.handler(True))
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", "User-Agent": "kldrift"}
    )
    outcome: dict[str, Any] = {}

    def post() -> None:
        try:
            with opener.open(req, timeout=timeout) as resp:
                outcome["status"] = int(resp.status)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=post, name="kldrift-webhook", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        sockets.close()
        worker.join(1.0)
        raise TimeoutError(f"no complete answer within {timeout:g} s")
    if "error" in outcome:
        # The socket's own timeout can fire a moment before the join's: the same event, one message.
        if isinstance(getattr(outcome["error"], "reason", outcome["error"]), TimeoutError):
            raise TimeoutError(f"no complete answer within {timeout:g} s") from None
        raise outcome["error"]
    return int(outcome["status"])


def resolve_url(hook: Webhook) -> str:
    """The URL to POST to; :class:`ConfigError` when ``url_env`` names an unset variable or holds no usable URL."""
    if hook.url is not None:
        return hook.url
    if hook.conn_id is not None:
        from kldrift.connections import connection_url

        url = connection_url(hook.conn_id)  # ConfigError naming the connection when it has none
        try:
            return check_webhook_url(url)
        except ValueError as exc:
            raise ConfigError(f"alerts.webhook.conn_id: {hook.conn_id} does not hold a usable URL: {exc}") from None
    assert hook.url_env is not None
    value = os.environ.get(hook.url_env)
    if not value:
        raise ConfigError(f"alerts.webhook.url_env: environment variable {hook.url_env} is not set")
    try:
        return check_webhook_url(value)
    except ValueError as exc:
        raise ConfigError(f"alerts.webhook.url_env: {hook.url_env} does not hold a usable URL: {exc}") from None


def deliver(hook: Webhook, body: dict[str, Any], *, sleep: Any = time.sleep) -> dict[str, Any]:
    """POST ``body`` to the hook's URL; retry on errors and 5xx with exponential backoff.

    The record it returns (and every log line) names the endpoint by scheme and
    host only: the rest of a webhook URL is its secret.
    """
    data = json.dumps(body, allow_nan=False).encode()
    attempts: list[dict[str, Any]] = []
    started = time.time()
    try:
        url = resolve_url(hook)
    except ConfigError as exc:
        log.warning("webhook not called: %s", exc)
        where = f"${hook.url_env}" if hook.url_env else f"connection {hook.conn_id}"
        return {"sink": "webhook", "url": where, "ok": False, "attempts": [{"error": str(exc)}], "started": started}
    shown = redact_url(url, webhook=True)
    for attempt in range(hook.retries + 1):
        if attempt:
            sleep(hook.backoff * 2 ** (attempt - 1))
        t0 = time.perf_counter()
        try:
            status = _attempt(url, data, hook.timeout)
            attempts.append({"status": status, "seconds": round(time.perf_counter() - t0, 3)})
            if 200 <= status < 300:
                return {"sink": "webhook", "url": shown, "ok": True, "attempts": attempts, "started": started}
        except urllib.error.HTTPError as exc:
            attempts.append({"status": exc.code, "seconds": round(time.perf_counter() - t0, 3)})
            if exc.code < 500 and exc.code != 429:
                break  # a client error will not heal by retrying
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError, ValueError) as exc:
            # HTTPException: an answer that is not HTTP (BadStatusLine); ValueError: a URL urllib rejects.
            reason = getattr(exc, "reason", exc)
            message = redact_text(str(reason)).replace(url, shown)
            seconds = round(time.perf_counter() - t0, 3)
            attempts.append({"error": f"{type(reason).__name__}: {message}", "seconds": seconds})
    log.warning("webhook delivery to %s failed after %d attempt(s): %s", shown, len(attempts), attempts[-1])
    return {"sink": "webhook", "url": shown, "ok": False, "attempts": attempts, "started": started}
