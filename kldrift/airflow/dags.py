"""The DAG factory: one DAG per job config in a folder. A user's whole DAG file is two lines::

    from kldrift.airflow import drift_dags
    drift_dags("kldrift")  # the folder of job configs (*.yaml), relative to this file

``kldrift airflow init DAGS_FOLDER`` writes it, a sample config and the
companion file that reports broken configs (:func:`drift_config_errors`).
``kldrift__<stem>`` scores the drift of one data interval per run, with the
schedule, time zone, start date, catchup, tags and docs of its config::

    [wait_for_data] ─> plan_shards ──┐
                        profile ─────┴─> count_shard (mapped) ─> score_and_write ─> deliver_webhook
                                                                   (Asset outlet)   └> check_severity

``wait_for_data`` is there when ``airflow.wait`` is set: a sensor in
reschedule mode that lets the run go on once every partition of the interval
is there, or at ``interval end + wait`` with what there is (``no_data`` when
nothing came). Errors a retry cannot fix (a bad config, a missing or unreadable
reference, a profile that changed) fail the task at once; I/O errors are retried.
Only paths, file lists, partial counts and summaries pass through XCom, each
task's return value as one entry; no secret is ever among them.

Parse-time imports: Airflow, pydantic and PyYAML; the data stack is imported
inside the tasks only.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, dag, get_current_context, get_parsing_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from kldrift.airflow.factory import (
    CONFIG_DIR_ENV,
    DAG_ID,
    Job,
    broken_configs,
    config_error,
    dag_id_for,
    load_jobs,
)
from kldrift.airflow.operators import KLDriftScoreOperator, fail_fast

__all__ = ["DEFAULT_FOLDER", "build_broken_dag", "build_dag", "drift_config_errors", "drift_dags"]

log = logging.getLogger(__name__)

DEFAULT_FOLDER = "kldrift"
"""Where :func:`drift_dags` looks for configs by default: ``kldrift/`` beside the DAG file."""

MAX_ACTIVE_RUNS = 4
"""Data intervals of one job scored at once. A catch-up (``catchup: true`` over a year) queues its runs
instead of starting them all: each run holds up to ``airflow.max_shards`` count tasks, and a backfill
must not take every worker slot from the other DAGs (Airflow's own default is 16)."""

SENSOR_BACKSTOP = 3600
"""Seconds the ``wait_for_data`` sensor may run past its deadline (``interval end + airflow.wait``) before
Airflow stops it: past the deadline it says done by itself, so this only catches a sensor that cannot run."""

Callback = Callable[..., Any]


def _caller_file() -> str | None:
    """The file of the code that called our caller: the DAG file calling :func:`drift_dags`.

    Airflow has no public way to ask which DAG file is being parsed (its ``DAG`` finds its own
    ``fileloc`` the same way, from the calling frame); ``inspect.currentframe`` is the documented one.
    """
    frame = inspect.currentframe()
    caller = frame.f_back.f_back if frame is not None and frame.f_back is not None else None
    name = caller.f_globals.get("__file__") if caller is not None else None
    return str(name) if name else None


def _folder(folder: str | os.PathLike[str] | None, caller: str | None) -> Path:
    """``$KLDRIFT_CONFIG_DIR`` when set, else ``folder`` relative to the calling DAG file."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV])
    base = Path(caller).resolve().parent if caller else Path.cwd()
    return base / (folder if folder is not None else DEFAULT_FOLDER)


def drift_dags(
    folder: str | os.PathLike[str] | None = None,
    *,
    owner: str | None = None,
    email: str | list[str] | None = None,
    queue: str | None = None,
    pool: str | None = None,
    execution_timeout: dt.timedelta | None = None,
    retries: int | None = None,
    retry_delay: dt.timedelta | None = None,
    on_failure_callback: Callback | list[Callback] | None = None,
    on_success_callback: Callback | list[Callback] | None = None,
    on_retry_callback: Callback | list[Callback] | None = None,
    default_args: Mapping[str, Any] | None = None,
) -> list[DAG]:
    """The DAGs of the job configs in ``folder`` (``kldrift/`` beside the calling file; ``$KLDRIFT_CONFIG_DIR``
    wins when set), registered with the file Airflow is parsing.

    The keyword arguments apply to every task and override the config's
    ``airflow:`` section (``owner``, ``queue``, ``pool`` of the counting tasks,
    ``execution_timeout``, ``retries``, ``retry_delay``); callbacks take plain
    functions or notifiers such as :class:`~kldrift.airflow.notifier.KLDriftNotifier`.
    ``default_args`` are passed on last. A broken config becomes a placeholder DAG
    of its DAG id (:func:`build_broken_dag`: no schedule, its error in its
    description and docs), so the DAG does not vanish from the UI, and its error is
    the import error of the companion file of :func:`drift_config_errors`.
    """
    root = _folder(folder, _caller_file())
    extra: dict[str, Any] = {
        k: v
        for k, v in {
            "owner": owner,
            "email": email,
            "queue": queue,
            "pool": pool,
            "execution_timeout": execution_timeout,
            "retries": retries,
            "retry_delay": retry_delay,
            "on_failure_callback": on_failure_callback,
            "on_success_callback": on_success_callback,
            "on_retry_callback": on_retry_callback,
        }.items()
        if v is not None
    }
    extra.update(default_args or {})
    # A worker running one task parses the DAG file for that task's DAG only.
    jobs, broken = broken_configs(root, only=get_parsing_context().dag_id)
    dags = [build_dag(job, extra) for job in jobs]
    for path, error in broken:
        log.warning("kldrift: a broken config (reported by the config-errors DAG file): %s", error)
        if path.suffix == ".yaml" and DAG_ID.match(path.stem):
            dags.append(build_broken_dag(path, error))
    return dags


def drift_config_errors(folder: str | os.PathLike[str] | None = None) -> list[DAG]:
    """Report the broken configs in ``folder`` (as :func:`drift_dags` finds it) as this file's import error.

    One line per config, ``ConfigError: <file>: <key>: <problem>``, not a
    traceback: the error is raised by the ``validate()`` of a DAG this function
    registers (never scheduled), and Airflow reports a DAG that fails validation
    by its message alone. Call it from a DAG file of its own: Airflow keys import
    errors by file, and an error in the file that defines the DAGs would stop all
    of them. Returns that DAG, or nothing when every config loads.
    """
    error = config_error(load_jobs(_folder(folder, _caller_file()))[1])
    if error is None:
        return []
    # Not kldrift__...: never the id of a job's DAG (and never bagged, so it clashes with nothing).
    with _reporter()(dag_id="kldrift_config_errors", schedule=None, description=str(error)[:200]) as reporter:
        reporter.kldrift_error = error
    return [reporter]


@functools.cache
def _reporter() -> type[DAG]:
    class KLDriftConfigErrors(DAG):  # type: ignore[misc]  # Airflow is untyped for mypy here
        """Never bagged: its validation raises the configs' error, which Airflow keeps as the file's import error."""

        kldrift_error: Exception | None = None

        def validate(self) -> None:
            if self.kldrift_error is not None:
                raise self.kldrift_error
            super().validate()

    return KLDriftConfigErrors


def build_broken_dag(path: str | os.PathLike[str], error: Exception) -> DAG:
    """The placeholder DAG of a broken config: its DAG id, no schedule, the error in its description and docs,
    and one task that fails with it (a run started by hand says why at once)."""
    message = str(error)

    @dag(  # type: ignore[untyped-decorator]  # Airflow is not type-checked here
        dag_id=dag_id_for(path),
        schedule=None,
        catchup=False,
        tags=["kldrift", "broken-config"],
        description=f"Broken config: {message}"[:500],
        doc_md=(
            f"**This job's config is broken**, so the DAG has no schedule until it is fixed:\n\n"
            f"```\n{message}\n```\n\nThe same line is under *Import errors* (`kldrift_config_errors.py`)."
        ),
    )
    def broken_config() -> None:
        @task(retries=0)  # type: ignore[untyped-decorator]
        def config_error() -> None:
            """Fail with the config's error."""
            raise AirflowFailException(message)

        config_error()

    return broken_config()


def _default_args(job: Job, extra: Mapping[str, Any]) -> dict[str, Any]:
    a = job.config.airflow
    out: dict[str, Any] = {"retries": a.retries, "retry_delay": dt.timedelta(seconds=a.retry_delay)}
    if a.owner:
        out["owner"] = a.owner
    if a.queue:
        out["queue"] = a.queue
    if a.execution_timeout:
        out["execution_timeout"] = dt.timedelta(seconds=a.execution_timeout)
    out.update({k: v for k, v in extra.items() if k != "pool"})
    if "email" in out:
        out.setdefault("email_on_failure", True)
    return out


def build_dag(job: Job, extra: Mapping[str, Any] | None = None) -> DAG:
    """The DAG of one job config; ``extra`` as the keyword arguments of :func:`drift_dags`."""
    config, path = job.config, job.path
    extra = dict(extra or {})
    asset = job.asset()
    pool = extra.get("pool") or config.airflow.pool or "default_pool"

    @dag(  # type: ignore[untyped-decorator]  # Airflow is not type-checked here
        dag_id=job.dag_id,
        schedule=CronDataIntervalTimetable(config.schedule, timezone=config.timezone),
        start_date=job.start_date,
        catchup=config.catchup,
        tags=list(config.tags) or ["kldrift"],
        doc_md=job.doc_md(),
        description=f"KL-divergence drift of {config.dataset} per data interval",
        default_args=_default_args(job, extra),
        max_active_runs=MAX_ACTIVE_RUNS,
    )
    def kldrift_job() -> None:
        @task(multiple_outputs=False)  # type: ignore[untyped-decorator]
        def profile() -> dict[str, Any]:
            """Load the reference profile, fitting and saving it first when missing or stale."""
            from kldrift.airflow import tasks

            with fail_fast():
                return tasks.profile(path)

        # Lists of files and counts: the log says what they mean, not the whole value.
        quiet: dict[str, Any] = {"multiple_outputs": False, "show_return_value_in_logs": False}

        @task(**quiet)  # type: ignore[untyped-decorator]
        def plan_shards(
            data_interval_start: dt.datetime | None = None, data_interval_end: dt.datetime | None = None
        ) -> list[dict[str, Any]]:
            """Group the interval's current files into at most ``airflow.max_shards`` shards (``Shard.to_json``)."""
            from kldrift.airflow import tasks

            with fail_fast():
                interval = tasks.job_interval(config, data_interval_start, data_interval_end)
                return tasks.plan_shards(path, interval)

        @task(map_index_template="{{ shard }}", pool=pool, **quiet)  # type: ignore[untyped-decorator]
        def count_shard(
            shard: dict[str, Any],
            profile: dict[str, Any],
            data_interval_start: dt.datetime | None = None,
            data_interval_end: dt.datetime | None = None,
        ) -> dict[str, Any]:
            """Partial counts of one shard (``Shard.to_json``) in the profile's bins (small JSON)."""
            from kldrift.airflow import tasks

            with fail_fast():
                get_current_context()["shard"] = tasks.shard_label(shard)
                interval = tasks.job_interval(config, data_interval_start, data_interval_end)
                return tasks.count_shard(path, interval, shard, profile)

        planned = plan_shards()
        if config.airflow.wait > 0:

            @task.sensor(  # type: ignore[untyped-decorator]
                poke_interval=config.airflow.poke_interval,
                # Past the deadline the sensor says done: the timeout is only a backstop.
                timeout=config.airflow.wait + 2 * config.airflow.poke_interval + SENSOR_BACKSTOP,
                mode="reschedule",
            )
            def wait_for_data(
                data_interval_start: dt.datetime | None = None, data_interval_end: dt.datetime | None = None
            ) -> Any:
                """Done when every partition of the interval is there, or at ``interval end + airflow.wait``."""
                from airflow.sdk import PokeReturnValue

                from kldrift.airflow import tasks

                with fail_fast():
                    interval = tasks.job_interval(config, data_interval_start, data_interval_end)
                    done, why = tasks.data_ready(path, interval, now=dt.datetime.now(dt.UTC))
                log.info("%s", why)
                return PokeReturnValue(is_done=done, xcom_value=why)

            wait_for_data() >> planned
        prof = profile()
        partials = count_shard.partial(profile=prof).expand(shard=planned)
        summary = KLDriftScoreOperator(
            task_id="score_and_write",
            config_path=path,
            profile=prof,
            partials=partials,
            shards=planned,
            outlets=[asset],
            doc_md="Merge the partial counts, score, write alerts.jsonl / metrics.parquet / manifest.json / the page.",
        ).output

        if config.alerts.webhook is not None:

            @task(multiple_outputs=False)  # type: ignore[untyped-decorator]
            def deliver_webhook(summary: dict[str, Any]) -> dict[str, Any]:
                """POST the alerts to the config's webhook when the run reaches ``alerts.webhook.on``."""
                from kldrift.airflow import tasks
                from kldrift.summary import RunSummary

                run = RunSummary.from_json(summary)
                if run.webhook is None:
                    raise AirflowSkipException(f"paged at {run.paged}: below alerts.webhook.on")
                with fail_fast():
                    return tasks.deliver_webhook(path, run.webhook)

            deliver_webhook(summary)

        if config.alerts.fail_on != "never":

            @task(retries=0)  # type: ignore[untyped-decorator]
            def check_severity(summary: dict[str, Any]) -> None:
                """Fail (without retries) when the drift reaches ``alerts.fail_on``, so Airflow alerting fires."""
                from kldrift.airflow import tasks
                from kldrift.summary import RunSummary

                reason = tasks.fail_on_message(RunSummary.from_json(summary), config.alerts.fail_on)
                if reason is not None:
                    raise AirflowFailException(reason)

            check_severity(summary)

    return kldrift_job()
