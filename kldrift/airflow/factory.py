"""The parse-time half of the DAG factory: job configs found in a folder, checked for Airflow.

``dags/kldrift_dags.py`` turns every :class:`Job` of :func:`load_jobs` into a
DAG (and a broken config into a placeholder DAG that says what is wrong);
``dags/kldrift_config_errors.py`` reports the errors of the configs that
failed, so that a broken config becomes *that* file's import error, in one
line, while the other DAGs keep loading. Two files, because Airflow keys
import errors by the DAG file: an error raised by the file that defines the
DAGs would mark every DAG of that file as stale (not scheduled), and an error
keyed by the YAML path would be cleared as orphaned at the next bundle refresh.

Importing this module imports neither Airflow, pyarrow, scipy nor pandas:
it runs every time the scheduler parses the DAG folder.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kldrift.config import JobConfig, load_config
from kldrift.errors import ConfigError

if TYPE_CHECKING:
    from airflow.sdk import Asset

__all__ = [
    "CONFIG_DIR_ENV",
    "DAG_ID",
    "DAG_PREFIX",
    "ConfigErrors",
    "Job",
    "broken_configs",
    "config_error",
    "dag_id_for",
    "discover",
    "drift_asset",
    "load_job",
    "load_jobs",
]

DAG_PREFIX = "kldrift__"
CONFIG_DIR_ENV = "KLDRIFT_CONFIG_DIR"
_TAG_MAX_LEN = 100  # Airflow's limit on a DAG tag


def dag_id_for(path: str | os.PathLike[str]) -> str:
    """``kldrift__<file stem>``: the DAG id of a config file."""
    return DAG_PREFIX + Path(path).stem


@dataclass(frozen=True, slots=True)
class Job:
    """A job config that passed the Airflow checks, and what its DAG is made of."""

    path: str
    """Absolute path of the YAML file (tasks load it again at run time)."""
    config: JobConfig

    @property
    def dag_id(self) -> str:
        return dag_id_for(self.path)

    @property
    def start_date(self) -> dt.datetime | None:
        """Midnight of ``start_date`` in the schedule's time zone (None: Airflow's default)."""
        if self.config.start_date is None:
            return None
        import pendulum

        d = self.config.start_date
        return pendulum.datetime(d.year, d.month, d.day, tz=self.config.timezone)

    @property
    def output_uri(self) -> str:
        """URI of the dataset's output folder (``file://`` for local paths)."""
        folder = self.config.dataset_dir()
        return folder if "://" in folder else Path(folder).as_uri()

    def doc_md(self) -> str:
        c = self.config
        doc = c.doc.strip() if c.doc else f"Drift of `{c.dataset}` against its reference."
        return (
            f"{doc}\n\n"
            f"| | |\n|---|---|\n"
            f"| config | `{self.path}` |\n"
            f"| reference | `{c.reference}` |\n"
            f"| current | `{c.current}` |\n"
            f"| outputs | `{c.dataset_dir()}/dt={{ds}}/` |\n"
            f"| metric, thresholds | {c.metric}: warn {c.thresholds.warn:g}, critical {c.thresholds.critical:g} |\n"
            f"| fail_on | {c.alerts.fail_on} |\n"
        )

    def asset(self) -> Asset:
        return drift_asset(self)


def drift_asset(job: Job | str | os.PathLike[str]) -> Asset:
    """The Airflow ``Asset`` a job's DAG updates after writing a run's files.

    Name ``kldrift__<stem>`` (like the DAG id), URI the dataset's output
    folder. Schedule a downstream DAG on it: ``schedule=[drift_asset("configs/demo.yaml")]``.
    Each event's ``extra`` holds the run's ``date``, ``worst`` severity and ``alerts``.
    """
    from airflow.sdk import Asset

    if not isinstance(job, Job):
        job = load_job(job)
    return Asset(name=job.dag_id, uri=job.output_uri, group="kldrift", extra={"dataset": job.config.dataset})


def discover(folder: str | os.PathLike[str]) -> list[Path]:
    """The ``*.yaml`` files of ``folder``, sorted (hidden files skipped)."""
    return sorted(p for p in Path(folder).glob("*.yaml") if not p.name.startswith(".") and p.is_file())


def _check_airflow(config: JobConfig, source: str) -> None:
    """Raise the ConfigError Airflow would otherwise raise later, in the scheduler, for the whole file."""
    import pendulum
    from airflow.sdk import CronDataIntervalTimetable

    try:
        pendulum.timezone(config.timezone)
    except Exception:
        msg = f"{source}: timezone: unknown time zone {config.timezone!r}; use an IANA name such as UTC or Europe/Paris"
        raise ConfigError(msg) from None
    try:
        CronDataIntervalTimetable(config.schedule, timezone=config.timezone).validate()
    except Exception as exc:
        msg = (
            f"{source}: schedule: expected a cron expression or @hourly, @daily, @weekly, @monthly, "
            f"got {config.schedule!r} ({exc})"
        )
        raise ConfigError(msg) from None
    if config.catchup and config.start_date is None:
        raise ConfigError(f"{source}: catchup: true needs a start_date (the first interval to backfill)")
    for tag in config.tags:
        if len(tag) > _TAG_MAX_LEN:
            raise ConfigError(f"{source}: tags: {tag[:20]!r}... is longer than Airflow's {_TAG_MAX_LEN} characters")


DAG_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
"""What Airflow takes as a DAG id (the config file's stem must match, after ``kldrift__``)."""


def load_job(path: str | os.PathLike[str]) -> Job:
    """The :class:`Job` of one config file; a one-line :class:`ConfigError` naming the file otherwise."""
    p = Path(path).resolve()
    if not DAG_ID.match(p.stem):
        better = re.sub(r"[^A-Za-z0-9_.-]+", "_", p.stem).strip("_") or "job"
        msg = (
            f"{p}: the file name makes the DAG id {dag_id_for(p)!r}, which Airflow refuses: use letters, digits, "
            f"'_', '-' and '.' only (say {better}{p.suffix})"
        )
        raise ConfigError(msg)
    config = load_config(p)
    _check_airflow(config, str(p))
    return Job(str(p), config)


def broken_configs(
    folder: str | os.PathLike[str], *, only: str | None = None
) -> tuple[list[Job], list[tuple[Path, ConfigError]]]:
    """The jobs of the configs in ``folder``, and each config that failed with its one-line error.

    ``only`` (a DAG id) loads just that config: a worker running one task
    needs one DAG, not the whole folder.
    """
    root = Path(folder)
    if not root.is_dir():
        msg = f"{root}: kldrift config folder not found (set {CONFIG_DIR_ENV} to a folder of *.yaml job configs)"
        return [], [(root, ConfigError(msg))]
    jobs: list[Job] = []
    broken: list[tuple[Path, ConfigError]] = []
    owners: dict[str, str] = {}
    for path in discover(root):
        if only is not None and dag_id_for(path) != only:
            continue
        try:
            job = load_job(path)
        except ConfigError as exc:
            broken.append((path, exc))
            continue
        out = os.path.normpath(job.config.dataset_dir())
        if out in owners:
            # Two jobs writing one folder would overwrite each other's runs.
            msg = (
                f"{job.path}: output: {out} is already written by {owners[out]}; "
                "give one of them another dataset or output"
            )
            broken.append((path, ConfigError(msg)))
            continue
        owners[out] = job.path
        jobs.append(job)
    return jobs, broken


def load_jobs(folder: str | os.PathLike[str], *, only: str | None = None) -> tuple[list[Job], list[ConfigError]]:
    """The jobs of the configs in ``folder``, and one error per config that failed (see :func:`broken_configs`)."""
    jobs, broken = broken_configs(folder, only=only)
    return jobs, [error for _, error in broken]


class ConfigErrors(ConfigError):
    """Several broken configs at once: one line each (``<file>: <key>: <problem>``)."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        ValueError.__init__(self, "\n".join(str(e) for e in errors))  # one line each, not one in all
        self.errors = tuple(errors)


def config_error(errors: Sequence[ConfigError]) -> ConfigError | None:
    """The error to report for broken configs: one :class:`ConfigError` as is, several as :class:`ConfigErrors`."""
    if not errors:
        return None
    return errors[0] if len(errors) == 1 else ConfigErrors(errors)
