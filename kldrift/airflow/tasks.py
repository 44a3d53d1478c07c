"""What each task of a kldrift DAG does: one call into :mod:`kldrift.pipeline` per task.

Tasks pass only small JSON through XCom, each of a type that reads it back in
one place: the profile's path and fingerprint, the plan's shards
(``Shard.to_json``), partial counts (``Histogram.to_json``) and the run's
summary (``RunSummary.to_json``). Every function takes the config's path and loads it again,
so a worker needs the config file and the data, nothing from the scheduler.

Nothing here imports Airflow; the data stack is imported only when a task runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kldrift.config import JobConfig, load_config
from kldrift.errors import KLDriftError, OutputError, ProfileError
from kldrift.interval import Interval
from kldrift.summary import RunSummary

if TYPE_CHECKING:
    from kldrift.profile import Profile

__all__ = [
    "count_shard",
    "data_ready",
    "deliver_webhook",
    "fail_on_message",
    "is_permanent",
    "job_interval",
    "plan_shards",
    "profile",
    "run_on_spark",
    "score_and_write",
    "shard_label",
    "summary_line",
]


def job_interval(config: JobConfig, start: dt.datetime | None, end: dt.datetime | None) -> Interval:
    """The kldrift :class:`~kldrift.interval.Interval` of an Airflow data interval.

    Expressed in the config's time zone, so ``{ds}`` is the local date the
    interval starts on (``airflow dags test <dag> 2026-11-24`` of a daily DAG
    checks ``dt=2026-11-23``).
    """
    if start is None or end is None or end <= start:
        msg = (
            f"the task's data interval is empty ({start} .. {end}); kldrift scores a period: schedule the DAG "
            "with CronDataIntervalTimetable(...) or give the operator a date"
        )
        raise KLDriftError(msg)
    tz: dt.tzinfo = dt.UTC if config.timezone == "UTC" else ZoneInfo(config.timezone)
    # Plain datetimes (not pendulum's) so the interval prints exactly as `kldrift run --date` does.
    s = dt.datetime.fromisoformat(start.isoformat()).astimezone(tz)
    e = dt.datetime.fromisoformat(end.isoformat()).astimezone(tz)
    return Interval(s, e)


def is_permanent(exc: BaseException) -> bool:
    """Whether a retry cannot fix ``exc``: a kldrift error its raiser did not mark
    :attr:`~kldrift.errors.KLDriftError.transient` (a bad config, reference or profile, a corrupt file,
    a permission, an empty data interval).

    Retried: transient errors (an object store's timeout or 503 while listing or reading, a file
    removed while it was read, a full disk, a webhook down) and anything that is not a kldrift error.
    """
    return isinstance(exc, KLDriftError) and not exc.transient


def data_ready(config_path: str, interval: Interval, *, now: dt.datetime) -> tuple[bool, str]:
    """Whether to stop waiting for the interval's data, and why: all of it there, or the deadline passed."""
    from kldrift.partitions import absent_paths, is_there
    from kldrift.sources import describe

    config = load_config(config_path)
    source = config.current_source(interval)
    if isinstance(source, list):
        missing = absent_paths(config, interval)
    else:
        missing = [] if is_there(source) else [describe(source)]
    deadline = interval.end + dt.timedelta(seconds=config.airflow.wait)
    if not missing:
        return True, f"{config.dataset} {interval.ds}: the current data is there"
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    if now >= deadline:
        return True, f"{config.dataset} {interval.ds}: stopped waiting at {deadline.isoformat()}; not there: {shown}"
    return False, f"{config.dataset} {interval.ds}: waiting until {deadline.isoformat()} for {shown}"


def summary_line(summary: object) -> str:
    """One log line for a run (a summary's JSON): its verdict, alerts and where the page is."""
    return RunSummary.from_json(summary).line()


def _profile_path(config: JobConfig) -> str:
    ref = config.reference_source()
    return ref if isinstance(ref, str) and ref.endswith(".json") else config.profile_path()


def profile(config_path: str) -> dict[str, Any]:
    """Load the job's reference profile, fitting and saving it first if needed; its path and fingerprint."""
    from kldrift.pipeline import load_or_fit_profile

    config = load_config(config_path)
    prof = load_or_fit_profile(config)
    return {
        "path": _profile_path(config),
        "fingerprint": prof.fingerprint,
        "rows": prof.rows,
        "features": len(prof.features),
    }


def _load_profile(info: Mapping[str, Any]) -> Profile:
    from kldrift.profile import Profile

    prof = Profile.load(str(info["path"]))
    if prof.fingerprint != info["fingerprint"]:
        # Refitted between the profile task and this one (a config or reference change):
        # counts of two bin specs cannot be merged, so rerun the DAG run from the profile task.
        msg = (
            f"{info['path']}: the profile changed since this run's profile task "
            f"(fingerprint {prof.fingerprint}, expected {info['fingerprint']}); clear the run to recount"
        )
        raise ProfileError(msg)
    return prof


def plan_shards(config_path: str, interval: Interval) -> list[dict[str, Any]]:
    """The interval's current files in at most ``airflow.max_shards`` shards (``Shard.to_json``, one mapped
    task each); the shards and the scoring read these, so the files listed here are the files counted."""
    from kldrift import pipeline

    return [shard.to_json() for shard in pipeline.plan_shards(load_config(config_path), interval)]


def shard_label(shard: Mapping[str, Any]) -> str:
    """A readable name for a mapped count task: its first file (and row groups) and how many follow."""
    from kldrift.partitions import Shard

    return Shard.from_json(shard).label


def count_shard(
    config_path: str, interval: Interval, shard: Mapping[str, Any], profile_info: Mapping[str, Any]
) -> dict[str, Any]:
    """Partial counts of one shard's files in the profile's bins (``Histogram.to_json``; with segments,
    ``SegmentedHistogram.to_json``)."""
    from kldrift import pipeline
    from kldrift.partitions import Shard

    return pipeline.count_shard(load_config(config_path), interval, Shard.from_json(shard), _load_profile(profile_info))


def score_and_write(
    config_path: str,
    interval: Interval,
    profile_info: Mapping[str, Any],
    partials: Iterable[Mapping[str, Any]],
    shards: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Merge the partial counts, score them and write the run's files; the run's summary (``RunSummary``).

    The files are those of ``kldrift run`` for the same interval, byte for byte
    (counts are integers, so their sum does not depend on how files were sharded).
    The webhook is not called here: the summary carries its ``webhook`` body
    (``None`` when not due) for the DAG's delivery task.
    """
    from kldrift.outputs.alerts import alert_rows
    from kldrift.outputs.webhook import payload, should_deliver
    from kldrift.partitions import Shard
    from kldrift.pipeline import finish, merge_counts, planned_files
    from kldrift.runstore import run_key

    config = load_config(config_path)
    prof = _load_profile(profile_info)
    current = merge_counts(prof, config, partials)  # per segment too, with segments:
    scan, missing = planned_files(config, interval, [Shard.from_json(s) for s in shards])
    result = finish(config, interval, prof, current, scan=scan, missing=missing, deliver=False)
    hook = config.alerts.webhook
    body = None
    key = run_key(interval)
    if hook is not None and should_deliver(result.report, hook):
        rows = alert_rows(result.report, dataset=config.dataset, date=key)
        body = payload(result.report, rows, dataset=config.dataset, date=key)
    return dataclasses.replace(result.summary(), webhook=body).to_json()


def deliver_webhook(config_path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST the run's summary to the config's webhook and record it in the run's ``deliveries.jsonl``;
    the delivery record (the URL shown by scheme and host only), or OutputError when it failed."""
    from kldrift import runstore
    from kldrift.outputs.webhook import deliver

    config = load_config(config_path)
    hook = config.alerts.webhook
    if hook is None:
        raise OutputError(f"{config_path}: alerts.webhook is not configured any more")
    record = deliver(hook, dict(body))
    if body.get("date"):
        folder = runstore.run_dir(config.dataset_dir(), str(body["date"]))
        with runstore.locked(folder):
            runstore.record_delivery(folder, json.dumps(record, default=str))
    if not record["ok"]:
        last = record["attempts"][-1] if record["attempts"] else {}
        msg = f"webhook delivery to {record['url']} failed after {len(record['attempts'])} attempt(s): {last}"
        raise OutputError(msg)
    return record


def fail_on_message(summary: RunSummary, fail_on: str) -> str | None:
    """Why the run must fail under ``fail_on`` (``never``, ``warn``, ``critical``), or ``None``.

    The level the run paged at (``alerts.page``) decides, as for ``kldrift run``'s exit code 1.
    """
    from kldrift.severity import Severity, fail_on_level

    level = fail_on_level(fail_on, key="fail_on")
    paged = Severity(summary.paged)
    if not paged.reaches(level):
        return None
    alerts = ", ".join(summary.alerts) or "-"
    return (
        f"kldrift: {summary.dataset} {summary.date}: {summary.verdict or 'drift'} paged at {paged} "
        f"(fail_on={level}: {summary.page_reason}; drifted: {alerts}); files: {summary.paths.get('alerts', '')}"
    )


def run_on_spark(
    config_path: str, spark: Any, start: dt.datetime | None, end: dt.datetime | None, *, deliver: bool = True
) -> dict[str, Any]:
    """The job for an Airflow data interval with its reading and counting on Spark (``@task.pyspark``'s
    ``spark``); the run's summary, its files those of ``kldrift run`` (see :func:`kldrift.spark.run`)."""
    from kldrift.spark import run

    config = load_config(config_path)
    result = run(config, job_interval(config, start, end), spark=spark, deliver=deliver)
    return result.summary().to_json()  # the deliveries included
