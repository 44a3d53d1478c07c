"""A webhook URL from an Airflow Connection: Airflow's own lookup in a task, ``AIRFLOW_CONN_<ID>`` elsewhere.

A connection (type ``kldrift_webhook``, registered by the provider with its form;
any type will do) gives the webhook URL in one of two ways, both as Airflow stores them:

* ``extra.webhook_url`` — the whole URL (a sensitive extra key: Airflow masks it in task logs);
* ``host`` (with ``schema`` as the scheme, ``https`` by default, and ``port``) and ``password``
  as the path: a Slack webhook is host ``hooks.slack.com/services``, password ``T000/B000/XXXX``.

Inside an Airflow task, :func:`connection_url` asks Airflow, whose ``Connection``
parses and resolves it (``AIRFLOW_CONN_*`` variables, secrets backends, the
metadata database), and masks the URL in the task's log. Elsewhere (the CLI,
which does not import Airflow: that takes seconds and sets up ``$AIRFLOW_HOME``)
it parses the ``AIRFLOW_CONN_<ID>`` environment variable (URI or JSON) as
Airflow's ``Connection.from_uri`` / ``from_json`` do (the tests compare the two),
so the CLI runs the job Airflow runs. Messages never hold the URL, only the
connection id.

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
from collections.abc import Mapping
from typing import Any

from kldrift.errors import ConfigError

__all__ = [
    "CONN_FIELDS",
    "CONN_TYPE",
    "UI_FIELD_BEHAVIOUR",
    "connection_fields",
    "connection_url",
    "parse_connection",
    "webhook_url",
]

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


CONN_TYPE = "kldrift_webhook"
"""The connection type the provider registers (:mod:`kldrift.airflow.hooks`), with the form below."""

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "webhook_url": {
        "label": "Webhook URL",
        "schema": {"type": ["string", "null"], "format": "password"},
        "description": "The whole URL, its token included (or give Host and Token instead)",
    }
}
"""The form's own field (Airflow's ``conn-fields``): stored as ``extra.webhook_url``, masked as a secret."""

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "extra"],
    "relabeling": {"host": "Host and path", "password": "Token", "schema": "Scheme"},
    "placeholders": {
        "host": "hooks.slack.com/services",
        "password": "T000/B000/XXXX (the rest of the path: the secret part)",
        "schema": "https",
        "webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX",
    },
}
"""How Airflow's connection form shows the standard fields for this type (``ui-field-behaviour``)."""


def webhook_url(fields: Mapping[str, Any]) -> str:
    """The webhook URL a connection's fields give (``ValueError`` when they give none)."""
    extra = fields.get("extra") or {}
    # the form's field, under its name or the older ``extra__<type>__<field>`` one
    url = extra.get("webhook_url") or extra.get(f"extra__{CONN_TYPE}__webhook_url")
    if url:
        return str(url)
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
    return connection_fields(conn)


def connection_fields(conn: Any) -> dict[str, Any]:
    """The fields of an Airflow ``Connection`` object, as :func:`parse_connection` gives them."""
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
    fields = _from_airflow(conn_id)  # in a task: Airflow's lookup, AIRFLOW_CONN_* included
    if fields is None:
        if not os.environ.get(env):
            raise ConfigError(f"{_KEY}: connection {conn_id!r} not found: set {env} (outside an Airflow task)")
        try:
            fields = parse_connection(os.environ[env])
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise ConfigError(f"{_KEY}: {env} is not a connection URI or JSON: {exc}") from None
    try:
        url = webhook_url(fields)
    except ValueError as exc:
        raise ConfigError(f"{_KEY}: connection {conn_id!r} holds no webhook URL: {exc}") from None
    if _in_airflow_task():
        from airflow.sdk.log import mask_secret

        mask_secret(url)  # Airflow hides it in the task's log from now on
    return url
