"""Airflow Connections read without Airflow: a webhook URL from ``AIRFLOW_CONN_<ID>`` or Airflow's own lookup.

A connection gives the webhook URL in one of two ways (both as Airflow stores them):

* ``extra.webhook_url`` — the whole URL (a sensitive extra key: Airflow masks it in task logs);
* ``host`` (with ``schema`` as the scheme, ``https`` by default, and ``port``) and ``password``
  as the path: a Slack webhook is host ``hooks.slack.com/services``, password ``T000/B000/XXXX``.

Inside an Airflow task, :func:`connection_url` asks Airflow (secrets backends,
the metadata database) and masks the URL in the task's log; elsewhere it parses
the ``AIRFLOW_CONN_<ID>`` environment variable (URI or JSON), so the CLI runs
the job Airflow runs. Messages never hold the URL, only the connection id.

>>> import os
>>> os.environ["AIRFLOW_CONN_HOOK_DOC"] = "https://:T0%2FB0%2FXX@hooks.example.com%2Fservices"
>>> connection_url("hook_doc")
'https://hooks.example.com/services/T0/B0/XX'
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from typing import Any

from kldrift.errors import ConfigError

__all__ = ["connection_url", "parse_connection"]

_KEY = "alerts.webhook.conn_id"


def parse_connection(value: str) -> dict[str, Any]:
    """The fields of a connection given as Airflow's URI or JSON form (``conn_type``, ``host``, ``password``, ...)."""
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        if not isinstance(data, dict):
            raise ValueError("the JSON form must be an object")
        extra = data.get("extra") or {}
        data["extra"] = json.loads(extra) if isinstance(extra, str) else dict(extra)
        return data
    parts = urllib.parse.urlsplit(value)
    if not parts.scheme:
        raise ValueError("expected a URI such as https://:TOKEN@host or a JSON object")
    query = dict(urllib.parse.parse_qsl(parts.query))
    return {
        "conn_type": parts.scheme.replace("-", "_"),
        "host": urllib.parse.unquote(parts.hostname or ""),
        "port": parts.port,
        "login": urllib.parse.unquote(parts.username or "") or None,
        "password": urllib.parse.unquote(parts.password or "") or None,
        "schema": urllib.parse.unquote(parts.path.lstrip("/")) or None,
        "extra": query,
    }


def _url_of(fields: dict[str, Any]) -> str:
    extra = fields.get("extra") or {}
    if extra.get("webhook_url"):
        return str(extra["webhook_url"])
    host = str(fields.get("host") or "").strip("/")
    if not host:
        raise ValueError("it has neither extra.webhook_url nor a host")
    if "://" in host:
        scheme, _, host = host.partition("://")
    else:
        scheme = str(fields["schema"]) if fields.get("schema") in ("http", "https") else "https"
        if fields.get("conn_type") in ("http", "https") and not fields.get("schema"):
            scheme = str(fields["conn_type"])
    head, _, path = host.partition("/")
    port = f":{fields['port']}" if fields.get("port") else ""
    tail = "/".join(p for p in (path, str(fields.get("password") or "").strip("/")) if p)
    return f"{scheme}://{head}{port}/{tail}"


def _in_airflow_task() -> bool:
    """Whether this process runs an Airflow task (its task runner is loaded; kldrift never imports it)."""
    return "airflow.sdk.execution_time.task_runner" in sys.modules


def _from_airflow(conn_id: str) -> dict[str, Any] | None:
    """The connection as Airflow resolves it inside a task (secrets backends, database), else ``None``."""
    if not _in_airflow_task():
        return None
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # Airflow's AirflowNotFoundException, and backends' own errors
        raise ConfigError(f"{_KEY}: Airflow connection {conn_id!r} not found ({type(exc).__name__})") from None
    return {
        "conn_type": conn.conn_type,
        "host": conn.host,
        "port": conn.port,
        "login": conn.login,
        "password": conn.password,
        "schema": conn.schema,
        "extra": conn.extra_dejson,
    }


def connection_url(conn_id: str) -> str:
    """The webhook URL of connection ``conn_id``; :class:`ConfigError` naming the connection, never the URL."""
    env = "AIRFLOW_CONN_" + conn_id.upper()
    fields: dict[str, Any] | None
    if os.environ.get(env):
        try:
            fields = parse_connection(os.environ[env])
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise ConfigError(f"{_KEY}: {env} is not a connection URI or JSON: {exc}") from None
    else:
        fields = _from_airflow(conn_id)
        if fields is None:
            raise ConfigError(f"{_KEY}: connection {conn_id!r} not found: set {env} (outside an Airflow task)")
    try:
        url = _url_of(fields)
    except ValueError as exc:
        raise ConfigError(f"{_KEY}: connection {conn_id!r} holds no webhook URL: {exc}") from None
    if _in_airflow_task():
        from airflow.sdk.log import mask_secret

        mask_secret(url)  # Airflow hides it in the task's log from now on
    return url
