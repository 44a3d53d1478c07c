"""Webhook sink: POST one JSON summary of a run, with bounded retries and backoff.

A delivery never raises: it returns a record of every attempt, which the run
writes into its manifest. The run's files are written before any delivery,
so a slow or dead endpoint cannot lose or delay them.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from kldrift.config import Webhook
from kldrift.scoring import DriftReport

__all__ = ["deliver", "payload", "should_deliver", "slack_escape"]

log = logging.getLogger(__name__)


def should_deliver(report: DriftReport, hook: Webhook) -> bool:
    """Whether the run has an alert (drift, schema, volume, no data) at ``hook.on`` or above."""
    return report.reaches(hook.on)


def slack_escape(text: str) -> str:
    """``text`` safe inside Slack mrkdwn: ``&``, ``<``, ``>`` escaped, so a column named ``<!channel>``
    or a category holding a link is shown, not acted on."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(report: DriftReport, alerts: list[dict[str, Any]], *, dataset: str, date: str | None) -> dict[str, Any]:
    """The JSON body: summary fields, the alert rows, and a Slack-compatible ``text`` led by the verdict."""
    verdict = report.verdict
    names = [a["feature"] for a in alerts if a["feature"] is not None]
    shown = ", ".join(names[:10]) + (f", +{len(names) - 10} more" if len(names) > 10 else "")
    text = f"kldrift: {dataset} {date or ''}: {verdict.worst.upper()}: {verdict.headline}"
    if shown:
        text += f" ({shown})"
    return {
        "dataset": dataset,
        "date": date,
        "worst_severity": str(verdict.worst),
        "verdict": verdict.headline,
        "dataset_drift": report.dataset_drift,
        "drift_share": report.drift_share,
        "alerts": alerts,
        "text": slack_escape(text),
    }


def deliver(hook: Webhook, body: dict[str, Any], *, sleep: Any = time.sleep) -> dict[str, Any]:
    """POST ``body`` to ``hook.url``; retry on errors and 5xx with exponential backoff."""
    data = json.dumps(body, allow_nan=False).encode()
    attempts: list[dict[str, Any]] = []
    started = time.time()
    for attempt in range(hook.retries + 1):
        if attempt:
            sleep(hook.backoff * 2 ** (attempt - 1))
        t0 = time.perf_counter()
        try:
            req = urllib.request.Request(
                hook.url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "kldrift"},
            )
            with urllib.request.urlopen(req, timeout=hook.timeout) as resp:
                status = int(resp.status)
            attempts.append({"status": status, "seconds": round(time.perf_counter() - t0, 3)})
            if 200 <= status < 300:
                return {
                    "sink": "webhook",
                    "url": hook.url,
                    "ok": True,
                    "attempts": attempts,
                    "started": started,
                }
        except urllib.error.HTTPError as exc:
            attempts.append({"status": exc.code, "seconds": round(time.perf_counter() - t0, 3)})
            if exc.code < 500 and exc.code != 429:
                break  # a client error will not heal by retrying
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError, ValueError) as exc:
            # HTTPException: an answer that is not HTTP (BadStatusLine); ValueError: a URL urllib rejects.
            reason = getattr(exc, "reason", exc)
            attempts.append(
                {"error": f"{type(reason).__name__}: {reason}", "seconds": round(time.perf_counter() - t0, 3)}
            )
    log.warning("webhook delivery to %s failed after %d attempt(s): %s", hook.url, len(attempts), attempts[-1])
    return {"sink": "webhook", "url": hook.url, "ok": False, "attempts": attempts, "started": started}
