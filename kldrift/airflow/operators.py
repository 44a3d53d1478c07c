"""``KLDriftOperator``: one task that runs a kldrift job for its data interval, as ``kldrift run`` does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from kldrift.airflow.tasks import fail_on_message, job_interval
from kldrift.config import load_config
from kldrift.severity import FAIL_ON

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["KLDriftOperator"]

_FAIL_ON = FAIL_ON


class KLDriftOperator(BaseOperator):  # type: ignore[misc]  # Airflow is untyped for mypy here
    """Score the drift of a job's current data for the task's data interval and write its files.

    The same pipeline as ``kldrift run --config <config_path>``: fit or reuse the
    reference profile, count the interval's data, score it, write
    ``alerts.jsonl``, ``metrics.parquet`` and ``manifest.json`` under
    ``<output>/<dataset>/dt=<ds>/`` (atomically, so a retry overwrites) and call
    the webhook when configured. Returns a small summary through XCom: counts
    per severity, the alerting features and the written paths.

    :param config_path: the job's YAML config (templated).
    :param fail_on: ``never``, ``warn`` or ``critical`` (templated); when the run's
        drift reaches it, the task fails *after* writing its files, without
        retries, so Airflow's own failure alerting fires. Default: the
        config's ``alerts.fail_on``.
    :param date: score ``[date, date + 1 day)`` (UTC, as ``kldrift run --date``)
        instead of the data interval (templated, e.g. ``"{{ ds }}"``).
    :param deliver_webhook: call the config's webhook (default true).
    """

    template_fields: Sequence[str] = ("config_path", "fail_on", "date")
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        config_path: str,
        fail_on: str | None = None,
        date: str | None = None,
        deliver_webhook: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if fail_on is not None and "{{" not in fail_on and fail_on not in _FAIL_ON:
            raise ValueError(f"`fail_on` must be one of never, warn, critical, got {fail_on!r}")
        self.config_path = config_path
        self.fail_on = fail_on
        self.date = date
        self.deliver_webhook = deliver_webhook

    def execute(self, context: Context) -> dict[str, Any]:
        from kldrift.pipeline import run

        config = load_config(self.config_path)
        if self.date:
            interval = config.schedule_of().for_date(self.date)
        else:
            interval = job_interval(config, context.get("data_interval_start"), context.get("data_interval_end"))
        fail_on = self.fail_on or config.alerts.fail_on
        if fail_on not in _FAIL_ON:
            raise ValueError(f"`fail_on` must be one of never, warn, critical, got {fail_on!r}")
        self.log.info("kldrift %s: scoring %s (%s .. %s)", config.dataset, interval.ds, interval.start, interval.end)
        result = run(config, interval, deliver=self.deliver_webhook)
        summary = result.summary()
        summary["deliveries"] = list(result.deliveries)
        self.log.info(
            "kldrift %s %s: worst %s; alerts: %s; files: %s",
            config.dataset,
            interval.ds,
            summary["worst"],
            ", ".join(summary["alerts"]) or "-",
            result.paths.get("alerts"),
        )
        reason = fail_on_message(summary, fail_on)
        if reason is not None:
            # The files are written; keep the summary visible, then fail without retrying
            # (drift does not go away on a retry).
            context["ti"].xcom_push(key="return_value", value=summary)
            raise AirflowFailException(reason)
        return summary
