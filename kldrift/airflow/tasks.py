"""What each task of a kldrift DAG does: one call into :mod:`kldrift.pipeline` per task.

Tasks pass only small JSON through XCom: the profile's path and fingerprint,
lists of file paths (the shards), partial counts (``Histogram.to_json``) and
the run's summary. Every function takes the config's path and loads it again,
so a worker needs the config file and the data, nothing from the scheduler.

Nothing here imports Airflow; the data stack is imported only when a task runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kldrift.config import JobConfig, load_config
from kldrift.errors import KLDriftError, OutputError, ProfileError, SourceError
from kldrift.interval import Interval

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
    """Whether a retry cannot fix ``exc``: a bad config, reference or profile, an empty data interval.

    Retried: output errors (a full disk, a webhook down) and sources that failed on I/O
    (an object store's timeout, a file removed while it was read).
    """
    if not isinstance(exc, KLDriftError) or isinstance(exc, OutputError):
        return False
    if isinstance(exc, SourceError):
        cause = exc.__cause__
        return not isinstance(cause, OSError) or isinstance(cause, PermissionError)
    return True


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


def summary_line(summary: Mapping[str, Any]) -> str:
    """One log line for a run: its verdict, alerts and where the page is."""
    alerts = summary.get("alerts") or []
    shown = ", ".join(alerts[:10]) + (f" and {len(alerts) - 10} more" if len(alerts) > 10 else "")
    return (
        f"kldrift {summary.get('dataset')} {summary.get('date')}: {summary.get('worst')}, {summary.get('verdict')}"
        f"{'; drifted: ' + shown if alerts else ''}; report: {summary.get('paths', {}).get('report', '-')}"
    )


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


def plan_shards(config_path: str, interval: Interval) -> list[list[dict[str, Any]]]:
    """The interval's current files in at most ``airflow.max_shards`` groups of file records (one mapped task
    each); the shards and the scoring use these records, so the files listed here are the files counted."""
    from kldrift import pipeline

    return pipeline.plan_shards(load_config(config_path), interval)


def shard_label(units: Sequence[Mapping[str, Any]]) -> str:
    """A readable name for a mapped count task: its first file (and row groups) and how many follow."""
    files = [u for u in units if "path" in u]
    if not files:
        return "no files (partition missing)" if units else "no files"
    first = str(files[0]["path"]).rstrip("/").rsplit("/", 1)[-1]
    if files[0].get("row_groups"):
        first += "#row_groups={}-{}".format(*files[0]["row_groups"])
    return first if len(files) == 1 else f"{first} +{len(files) - 1} files"


def count_shard(
    config_path: str, interval: Interval, units: Sequence[Mapping[str, Any]], profile_info: Mapping[str, Any]
) -> dict[str, Any]:
    """Partial counts of one shard's files in the profile's bins (``Histogram.to_json``; with segments,
    ``SegmentedHistogram.to_json``)."""
    from kldrift import pipeline

    return pipeline.count_shard(
        load_config(config_path), interval, [dict(u) for u in units], _load_profile(profile_info)
    )


def score_and_write(
    config_path: str,
    interval: Interval,
    profile_info: Mapping[str, Any],
    partials: Iterable[Mapping[str, Any]],
    shards: Sequence[Sequence[Mapping[str, Any]]],
) -> dict[str, Any]:
    """Merge the partial counts, score them and write the run's files; the run's summary.

    The files are those of ``kldrift run`` for the same interval, byte for byte
    (counts are integers, so their sum does not depend on how files were sharded).
    The webhook is not called here: the summary carries its ``webhook`` body
    (``None`` when not due) for the DAG's delivery task.
    """
    from kldrift.outputs.alerts import alert_rows
    from kldrift.outputs.webhook import payload, should_deliver
    from kldrift.pipeline import finish, merge_counts, planned_files

    config = load_config(config_path)
    prof = _load_profile(profile_info)
    current = merge_counts(prof, config, partials)  # per segment too, with segments:
    from kldrift.runstore import run_key

    scan, missing = planned_files(config, interval, [[dict(u) for u in shard] for shard in shards])
    result = finish(config, interval, prof, current, scan=scan, missing=missing, deliver=False)
    summary = result.summary()
    hook = config.alerts.webhook
    body = None
    key = run_key(interval)
    if hook is not None and should_deliver(result.report, hook):
        rows = alert_rows(result.report, dataset=config.dataset, date=key)
        body = payload(result.report, rows, dataset=config.dataset, date=key)
    summary["webhook"] = body
    return summary


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


def fail_on_message(summary: Mapping[str, Any], fail_on: str) -> str | None:
    """Why the run must fail under ``fail_on`` (``never``, ``warn``, ``critical``), or ``None``.

    The level the run paged at (``alerts.page``) decides, as for ``kldrift run``'s exit code 1.
    """
    from kldrift.severity import Severity, fail_on_level

    level = fail_on_level(fail_on, key="fail_on")
    paged = Severity(summary.get("paged", "ok"))
    if not paged.reaches(level):
        return None
    alerts = ", ".join(summary.get("alerts", [])) or "-"
    return (
        f"kldrift: {summary.get('dataset', '')} {summary.get('date', '')}: {summary.get('verdict') or 'drift'} "
        f"paged at {paged} (fail_on={level}: {summary.get('page_reason', '')}; drifted: {alerts}); files: "
        f"{summary.get('paths', {}).get('alerts', '')}"
    )
