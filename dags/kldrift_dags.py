"""kldrift DAGs: one per job config (``*.yaml``) in ``$KLDRIFT_CONFIG_DIR``, by default the repo's ``configs/``.

``kldrift__<stem>`` scores the drift of one data interval per run, with the
schedule, time zone, start date, catchup, tags and docs of its config::

    profile ──────┐
                  ├─> count_shard (mapped, one per shard of files) ─> score_and_write ─> deliver_webhook
    plan_shards ──┘                                                  (Asset outlet)   └> check_severity

``{ds}`` is the start of the data interval: the run with logical date
2026-11-24 of a daily DAG scores ``dt=2026-11-23``. Only paths, file lists,
partial counts and summaries pass through XCom; every task reloads its config
and writes through ``os.replace``, so retries and reruns are idempotent.

Configs that fail to load are skipped here and raised by
``kldrift_config_errors.py`` (see :mod:`kldrift.airflow.factory` for why).
Parse-time imports: Airflow, pydantic and PyYAML; the data stack is imported
inside the tasks only.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, dag, get_current_context, get_parsing_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from kldrift.airflow.factory import CONFIG_DIR_ENV, Job, load_jobs

log = logging.getLogger(__name__)

CONFIG_DIR = Path(os.environ.get(CONFIG_DIR_ENV) or Path(__file__).resolve().parent.parent / "configs")


def build_dag(job: Job) -> DAG:
    """The DAG of one job config."""
    config, path = job.config, job.path
    asset = job.asset()

    @dag(  # type: ignore[untyped-decorator]  # Airflow is not type-checked here
        dag_id=job.dag_id,
        schedule=CronDataIntervalTimetable(config.schedule, timezone=config.timezone),
        start_date=job.start_date,
        catchup=config.catchup,
        tags=list(config.tags) or ["kldrift"],
        doc_md=job.doc_md(),
        description=f"KL-divergence drift of {config.dataset} per data interval",
        default_args={"retries": config.airflow.retries, "retry_delay": dt.timedelta(minutes=2)},
        max_active_runs=4,
    )
    def kldrift_job() -> None:
        @task
        def profile() -> dict[str, Any]:
            """Load the reference profile, fitting and saving it first when missing or stale."""
            from kldrift.airflow import tasks

            return tasks.profile(path)

        @task
        def plan_shards(
            data_interval_start: dt.datetime | None = None, data_interval_end: dt.datetime | None = None
        ) -> list[list[dict[str, Any]]]:
            """Group the interval's current files into at most ``airflow.max_shards`` shards of file records."""
            from kldrift.airflow import tasks

            interval = tasks.job_interval(config, data_interval_start, data_interval_end)
            return tasks.plan_shards(path, interval)

        @task(map_index_template="{{ shard }}", pool=config.airflow.pool or "default_pool")  # type: ignore[untyped-decorator]
        def count_shard(
            files: list[dict[str, Any]],
            profile: dict[str, Any],
            data_interval_start: dt.datetime | None = None,
            data_interval_end: dt.datetime | None = None,
        ) -> dict[str, Any]:
            """Partial counts of one shard in the profile's bins (small JSON)."""
            from kldrift.airflow import tasks

            get_current_context()["shard"] = tasks.shard_label(files)
            interval = tasks.job_interval(config, data_interval_start, data_interval_end)
            return tasks.count_shard(path, interval, files, profile)

        @task(outlets=[asset])  # type: ignore[untyped-decorator]
        def score_and_write(
            profile: dict[str, Any],
            partials: list[dict[str, Any]],
            shards: list[list[dict[str, Any]]],
            data_interval_start: dt.datetime | None = None,
            data_interval_end: dt.datetime | None = None,
            outlet_events: Any = None,
        ) -> dict[str, Any]:
            """Merge the partial counts, score, write alerts.jsonl / metrics.parquet / manifest.json."""
            from kldrift.airflow import tasks

            interval = tasks.job_interval(config, data_interval_start, data_interval_end)
            # partials[:] fetches every shard's counts in one request (iterating asks one by one).
            summary = tasks.score_and_write(path, interval, profile, partials[:], shards)
            outlet_events[asset].extra = {
                "date": summary["date"],
                "worst": summary["worst"],
                "alerts": summary["alerts"],
                "path": os.path.dirname(summary["paths"]["alerts"]),
            }
            return summary

        shards = plan_shards()
        prof = profile()
        partials = count_shard.partial(profile=prof).expand(files=shards)
        summary = score_and_write(prof, partials, shards)

        if config.alerts.webhook is not None:

            @task
            def deliver_webhook(summary: dict[str, Any]) -> dict[str, Any]:
                """POST the alerts to the config's webhook when the run reaches ``alerts.webhook.on``."""
                from kldrift.airflow import tasks

                if summary.get("webhook") is None:
                    raise AirflowSkipException(f"worst severity {summary['worst']}: below alerts.webhook.on")
                return tasks.deliver_webhook(path, summary["webhook"])

            deliver_webhook(summary)

        if config.alerts.fail_on != "never":

            @task(retries=0)  # type: ignore[untyped-decorator]
            def check_severity(summary: dict[str, Any]) -> None:
                """Fail (without retries) when the drift reaches ``alerts.fail_on``, so Airflow alerting fires."""
                from kldrift.airflow import tasks

                reason = tasks.fail_on_message(summary, config.alerts.fail_on)
                if reason is not None:
                    raise AirflowFailException(reason)

            check_severity(summary)

    return kldrift_job()


# A worker running one task parses this file for that task's DAG only.
_jobs, _errors = load_jobs(CONFIG_DIR, only=get_parsing_context().dag_id)
for _error in _errors:
    log.warning("kldrift: skipped a config (reported by kldrift_config_errors.py): %s", _error)
for _job in _jobs:
    globals()[_job.dag_id] = build_dag(_job)
