"""``KLDriftWebhookHook``: the ``kldrift_webhook`` connection type, its form, and the URL it holds.

Registered by the provider (``get_provider_info``: ``connection-types``), so Airflow's UI offers
"kldrift webhook" when adding a connection, with the fields a user fills in: the whole
**Webhook URL**, or **Host and path** (``hooks.slack.com/services``) plus the **Token** (the rest
of the path, the secret part), and an optional scheme and port. Airflow 3.2+ reads that form from
the provider info; older versions ask this class (:meth:`get_connection_form_widgets`,
:meth:`get_ui_field_behaviour`).

``alerts.webhook.conn_id`` and :class:`~kldrift.airflow.notifier.KLDriftNotifier` accept a
connection of this type (or of any type holding the same fields).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from kldrift.connections import CONN_FIELDS, CONN_TYPE, UI_FIELD_BEHAVIOUR, connection_fields, webhook_url

__all__ = ["KLDriftWebhookHook"]


class KLDriftWebhookHook(BaseHook):  # type: ignore[misc]  # Airflow is untyped for mypy here
    """The webhook URL of a ``kldrift_webhook`` connection (:meth:`get_conn`), never logged.

    :param kldrift_conn_id: the connection's id (default ``kldrift_webhook``).
    """

    conn_name_attr = "kldrift_conn_id"
    default_conn_name = "kldrift_webhook"
    conn_type = CONN_TYPE
    hook_name = "kldrift webhook"

    def __init__(self, kldrift_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kldrift_conn_id = kldrift_conn_id

    def get_conn(self) -> str:
        """The webhook URL, from Airflow's lookup of the connection (in any Airflow process: a task, the CLI,
        the API server); ``ConfigError`` naming the connection, never the URL."""
        from kldrift.errors import ConfigError

        conn = self.get_connection(self.kldrift_conn_id)
        try:
            return webhook_url(connection_fields(conn))
        except ValueError as exc:
            raise ConfigError(f"connection {self.kldrift_conn_id!r} holds no webhook URL: {exc}") from None

    def test_connection(self) -> tuple[bool, str]:
        """Whether the connection holds a usable URL (nothing is sent: a test must not post to a chat)."""
        import urllib.parse

        from kldrift.errors import KLDriftError

        try:
            url = self.get_conn()
        except KLDriftError as exc:
            return False, str(exc)
        parts = urllib.parse.urlsplit(url)
        return True, f"a webhook URL: {parts.scheme}://{parts.hostname} (not called)"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's own field, for Airflow versions that do not read ``conn-fields`` (before 3.2)."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import PasswordField

        field = CONN_FIELDS["webhook_url"]
        return {
            "webhook_url": PasswordField(
                lazy_gettext(field["label"]), widget=BS3PasswordFieldWidget(), description=field["description"]
            )
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the form, for Airflow versions before 3.2."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }
