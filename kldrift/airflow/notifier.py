"""``KLDriftNotifier``: a webhook message from an Airflow callback, the URL taken from a Connection.

Use it where Airflow takes a notifier (``on_failure_callback``, ``on_success_callback``, a DAG's or
a task's), as the Slack provider's ``SlackWebhookNotifier``::

    drift_dags("kldrift", on_failure_callback=KLDriftNotifier(conn_id="kldrift_webhook"))

The message is a Jinja template rendered with the task's context; the body is
``{"text": ...}`` (Slack-compatible, mrkdwn-escaped). Delivery has kldrift's
bounded timeout and retries; a failed delivery is logged (scheme and host
only), never raised: a callback must not hide the task's own outcome.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseNotifier

__all__ = ["DEFAULT_MESSAGE", "KLDriftNotifier"]

DEFAULT_MESSAGE = (
    "kldrift: {{ ti.dag_id }}.{{ ti.task_id }} {{ ti.state.value | default(ti.state) }}"
    "{% if data_interval_start %} (data interval {{ data_interval_start | ds }}){% endif %}, run {{ run_id }}"
)


class KLDriftNotifier(BaseNotifier):  # type: ignore[misc]  # Airflow is untyped for mypy here
    """POST ``{"text": message}`` to the webhook of Airflow connection ``conn_id``.

    :param conn_id: the connection holding the URL (``extra.webhook_url``, or host and password).
    :param message: a Jinja template over the task's context (``ti``, ``run_id``, ``data_interval_start``, ...).
    :param timeout: seconds one attempt may take; ``retries`` further attempts on errors and 5xx.
    """

    # Rendered in notify(), into a local: Airflow renders template_fields in place, once per
    # instance, so a notifier shared through default_args would repeat its first message.
    template_fields = ()

    def __init__(
        self,
        *,
        conn_id: str = "kldrift_webhook",
        message: str = DEFAULT_MESSAGE,
        timeout: float = 5.0,
        retries: int = 3,
    ) -> None:
        super().__init__()
        from kldrift.jobsections import Webhook

        self.hook = Webhook(conn_id=conn_id, timeout=timeout, retries=retries)  # checks the arguments now
        self.message = message

    def notify(self, context: Any) -> None:
        from kldrift.outputs.webhook import deliver, slack_escape

        text = str(self.render_template(self.message, context))
        record = deliver(self.hook, {"text": slack_escape(text)})
        if record["ok"]:
            self.log.info("kldrift notifier: delivered to %s", record["url"])
        else:
            last = record["attempts"][-1] if record["attempts"] else {}
            self.log.warning("kldrift notifier: delivery to %s failed: %s", record["url"], last)
