"""``KLDriftOperator``: one task that runs a kldrift job for its data interval, as ``kldrift run`` does.

Also the DAG factory's scoring task (:class:`KLDriftScoreOperator`), and what
every kldrift task shares: :func:`fail_fast` (errors a retry cannot fix fail
the task at once) and :class:`DriftReportLink` (the extra link to the run's page
in the Airflow UI, served by the kldrift plugin). Airflow's public API only:
``airflow.sdk`` and ``airflow.sdk.exceptions``, but for the one import noted below.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowFailException

from kldrift.airflow.tasks import fail_on_message, is_permanent, job_interval
from kldrift.config import load_config
from kldrift.severity import fail_on_level
from kldrift.summary import RunSummary

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["DriftReportLink", "KLDriftOperator", "KLDriftScoreOperator", "RunLineage", "fail_fast", "report_url"]

PLUGIN_PREFIX = "/kldrift"


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Turn an error a retry cannot fix (see :func:`~kldrift.airflow.tasks.is_permanent`) into
    ``AirflowFailException``: the task fails now instead of after its retries."""
    try:
        yield
    except Exception as exc:
        if is_permanent(exc):
            raise AirflowFailException(str(exc)) from exc
        raise


def report_url(dag_id: str, run_id: str) -> str:
    """The plugin's address of a DAG run's page (relative to the Airflow UI)."""
    return f"{PLUGIN_PREFIX}/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


class DriftReportLink(BaseOperatorLink):  # type: ignore[misc]  # Airflow is untyped for mypy here
    """The "Drift report" button of a task instance: the run's page, once it was written."""

    name = "Drift report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Airflow 3 calls this on the worker after the task ran; the api-server only reads the result.
        # airflow.sdk has no public XCom reader for links: providers import this one (as common.compat does).
        from airflow.sdk.execution_time.xcom import XCom

        summary = RunSummary.read(XCom.get_value(ti_key=ti_key, key="return_value"))
        if summary is None or not summary.paths.get("report"):
            return ""
        return report_url(ti_key.dag_id, ti_key.run_id)


class RunLineage:
    """What the operators that write a run share: its summary kept on the operator (``_kldrift_summary``,
    set by ``execute``) and the OpenLineage facets made from it on completion."""

    _kldrift_summary: RunSummary | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the run's inputs, output and per-feature assertions (see :mod:`kldrift.airflow.lineage`)."""
        from kldrift.airflow.lineage import lineage

        return lineage(self._kldrift_summary)


class KLDriftScoreOperator(RunLineage, BaseOperator):  # type: ignore[misc]  # Airflow is untyped for mypy here
    """The DAG factory's ``score_and_write`` task: merge a plan's partial counts, score, write the run's files.

    A classic operator rather than a ``@task``, so that it carries the "Drift report" link and the
    OpenLineage facets through Airflow's public API (TaskFlow's operator class is private). Its inputs
    are the other tasks' outputs (XComArgs), passed as template fields: Airflow makes those tasks
    upstream and resolves their values when this one runs. Returns the run's summary
    (``RunSummary.to_json``) and sets the extra of the events of its outlet (the job's Asset).

    :param config_path: the job's YAML config.
    :param profile: the ``profile`` task's output (the profile's path and fingerprint).
    :param partials: the mapped ``count_shard`` tasks' outputs (partial counts).
    :param shards: the ``plan_shards`` task's output (the plan's shards, ``Shard.to_json``).
    """

    template_fields: Sequence[str] = ("profile", "partials", "shards")
    ui_color = "#e8f0fe"
    operator_extra_links = (DriftReportLink(),)

    def __init__(self, *, config_path: str, profile: Any, partials: Any, shards: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.profile = profile
        self.partials = partials
        self.shards = shards

    def execute(self, context: Context) -> dict[str, Any]:
        from kldrift.airflow import tasks

        with fail_fast():
            config = load_config(self.config_path)
            interval = job_interval(config, context.get("data_interval_start"), context.get("data_interval_end"))
            # partials[:] fetches every shard's counts in one request (iterating asks one by one).
            data = tasks.score_and_write(self.config_path, interval, self.profile, self.partials[:], self.shards)
        summary = self._kldrift_summary = RunSummary.from_json(data)
        self.log.info("%s", summary.line())
        for asset in self.outlets:
            context["outlet_events"][asset].extra = {
                "date": summary.date,
                "worst": summary.worst,
                "paged": summary.paged,
                "alerts": list(summary.alerts),
                "path": os.path.dirname(summary.paths["alerts"]),
            }
        return data


class KLDriftOperator(RunLineage, BaseOperator):  # type: ignore[misc]  # Airflow is untyped for mypy here
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
    :param date: score the schedule's interval that holds this date, as ``kldrift run --date``
        does, instead of the task's data interval (templated: ``"{{ data_interval_start | ds }}"``;
        not ``"{{ ds }}"``, which is the interval's *end* for manual, API and ``dags test`` runs).
    :param deliver_webhook: call the config's webhook (default true).
    """

    template_fields: Sequence[str] = ("config_path", "fail_on", "date")
    ui_color = "#e8f0fe"
    operator_extra_links = (DriftReportLink(),)

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
        if fail_on is not None and "{{" not in fail_on:
            fail_on_level(fail_on, key="fail_on")
        self.config_path = config_path
        self.fail_on = fail_on
        self.date = date
        self.deliver_webhook = deliver_webhook

    def execute(self, context: Context) -> dict[str, Any]:
        with fail_fast():
            summary, fail_on = self._execute(context)
        self._kldrift_summary = summary
        reason = fail_on_message(summary, fail_on)
        if reason is not None:
            # The files are written; keep the summary visible, then fail without retrying
            # (drift does not go away on a retry).
            context["ti"].xcom_push(key="return_value", value=summary.to_json())
            raise AirflowFailException(reason)
        return summary.to_json()

    def _execute(self, context: Context) -> tuple[RunSummary, str]:
        from kldrift.pipeline import run

        config = load_config(self.config_path)
        if self.date:
            interval = config.schedule_of().for_date(self.date)
        else:
            interval = job_interval(config, context.get("data_interval_start"), context.get("data_interval_end"))
        fail_on = fail_on_level(self.fail_on or config.alerts.fail_on, key="fail_on")  # rendered now
        self.log.info("kldrift %s: scoring %s (%s .. %s)", config.dataset, interval.ds, interval.start, interval.end)
        summary = run(config, interval, deliver=self.deliver_webhook).summary()
        self.log.info("%s", summary.line())
        return summary, fail_on
