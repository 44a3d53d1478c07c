"""The sections of a scheduled job and of its alerts: ``baseline``, ``alerts`` (the page rule, the webhook),
``airflow`` and lakehouse ``reference`` / ``current`` tables.

Frozen pydantic models like those of :mod:`kldrift.sections`, which holds the sections of how to bin and
score; :mod:`kldrift.config` assembles both.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kldrift.sections import Model
from kldrift.severity import FailOn

__all__ = [
    "AirflowSettings",
    "AlertSettings",
    "Baseline",
    "PageRule",
    "TableSettings",
    "Webhook",
    "check_webhook_url",
]


Window = Literal["fixed", "rolling", "seasonal", "range"]


class Baseline(Model):
    """What each run's counts are compared with: the reference (``fixed``) or earlier data intervals.

    The bins are always the reference's (the profile); a window only changes the counts on the other side.
    """

    window: Window = "fixed"
    """``fixed``: the reference's counts; ``rolling``, ``seasonal``, ``range``: earlier intervals (see below)."""
    intervals: int = Field(28, ge=1, le=1_000)
    """rolling: the intervals just before the current one; seasonal: how many periods back. With ``fixed``
    and ``thresholds.calibrate``, the rolling intervals the thresholds are calibrated on."""
    period: int | None = Field(None, ge=2, le=1_000)
    """seasonal only: intervals per period (7 for the same weekday of a daily job)."""
    range: tuple[dt.date, dt.date] | None = None
    """range only: the first and last day of a fixed set of past intervals."""
    min_intervals: int | None = Field(None, ge=1, le=1_000)
    """Fewer intervals with data: compare with the reference instead, and say so (default: 7, or
    ``intervals`` when that is smaller)."""
    quarantine: Literal["none", "warn", "critical"] = "none"
    """Leave out of later windows (and of calibration) the intervals whose run paged at this level or above;
    the window then reaches further back for healthy intervals, at most ``max_lookback`` of them."""
    max_lookback: int | None = Field(None, ge=1, le=10_000)
    """With ``quarantine``: how many intervals (periods, for ``seasonal``) back the window may reach for
    healthy ones (default: twice ``intervals``). When fewer than ``min_intervals`` healthy ones are left
    within it, the baseline accepts the new level: the latest intervals, paged or not."""
    accept_after: int | None = Field(None, ge=1, le=1_000)
    """With ``quarantine``: after this many consecutive paged intervals, a lasting change is the new normal:
    the window starts at the first of them (default: ``min_intervals``)."""

    @property
    def min_count(self) -> int:
        """``min_intervals``, or its default: 7, at most ``intervals``."""
        return self.min_intervals if self.min_intervals is not None else min(7, self.intervals)

    @property
    def lookback(self) -> int:
        """``max_lookback``, or its default: twice ``intervals``."""
        return self.max_lookback if self.max_lookback is not None else 2 * self.intervals

    @property
    def accept_count(self) -> int:
        """``accept_after``, or its default: ``min_intervals``."""
        return self.accept_after if self.accept_after is not None else self.min_count

    @model_validator(mode="after")
    def _consistent(self) -> Baseline:
        if self.window == "seasonal" and self.period is None:
            raise ValueError("window: seasonal needs period (intervals per period, say 7 for weekdays)")
        if self.period is not None and self.window != "seasonal":
            raise ValueError(f"period applies to window: seasonal, not {self.window}")
        if self.window == "range" and self.range is None:
            raise ValueError("window: range needs range: [first day, last day]")
        if self.range is not None and self.window != "range":
            raise ValueError(f"range applies to window: range, not {self.window}")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range: the first day {self.range[0]} is after the last {self.range[1]}")
        if self.window != "range" and self.min_intervals is not None and self.min_intervals > self.intervals:
            # Never satisfiable: every run would silently compare with the reference.
            raise ValueError(
                f"min_intervals ({self.min_intervals}) must be <= intervals ({self.intervals}): a window of "
                f"{self.intervals} intervals can never hold {self.min_intervals}"
            )
        if self.quarantine != "none":
            if self.lookback < self.intervals:
                raise ValueError(f"max_lookback ({self.lookback}) must be >= intervals ({self.intervals})")
            if self.accept_count < self.min_count:
                raise ValueError(
                    f"accept_after ({self.accept_count}) must be >= min_intervals ({self.min_count}): an "
                    "accepted level needs enough intervals to compare with"
                )
        elif self.max_lookback is not None or self.accept_after is not None:
            raise ValueError("max_lookback and accept_after apply with quarantine: warn or critical")
        return self


class Webhook(Model):
    """Where to POST a run's alerts. The URL is a secret (for Slack it *is* the credential): give it
    by reference, ``url_env`` (the name of an environment variable holding it), or inline as ``url``.
    kldrift never writes or logs it: files and logs show the scheme and host only."""

    url: str | None = None
    """The webhook's URL inline (http or https). Prefer ``url_env`` or ``conn_id``: the URL is a secret."""
    url_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The name of the environment variable that holds the URL."""
    conn_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,250}$")
    """An Airflow Connection holding the URL (``extra.webhook_url``, or host and password); outside
    Airflow, the ``AIRFLOW_CONN_<ID>`` environment variable (URI or JSON) is read."""
    on: Literal["warn", "critical"] = "critical"
    """The run's worst severity from which a summary is POSTed."""
    timeout: float = Field(5.0, gt=0, le=300)
    """Seconds one attempt may take, connecting, sending and reading the answer together."""
    retries: int = Field(3, ge=0, le=10)
    """Extra attempts after a connection error or a 5xx answer."""
    backoff: float = Field(0.5, ge=0, le=60)
    """Seconds before the first retry, doubling after each."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        return check_webhook_url(v)

    @model_validator(mode="after")
    def _one_source(self) -> Webhook:
        if sum(v is not None for v in (self.url, self.url_env, self.conn_id)) != 1:
            msg = (
                "give exactly one of url (inline), url_env (the environment variable that holds the URL) "
                "or conn_id (an Airflow Connection)"
            )
            raise ValueError(msg)
        return self


def check_webhook_url(v: str) -> str:
    """``v`` when it is an http(s) URL with a host; ValueError (without the URL: it may be a secret) otherwise."""
    from kldrift.redact import redact_url

    shown = redact_url(v, webhook=True)
    if not v.startswith(("http://", "https://")):
        msg = f"expected an http:// or https:// URL, got {shown!r}"
        raise ValueError(msg)
    try:
        parts = urllib.parse.urlsplit(v)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", a bad port
        msg = f"not a valid URL ({exc}): {shown!r}"
        raise ValueError(msg) from None
    if not host:
        msg = f"expected a URL with a host name, got {shown!r}"
        raise ValueError(msg)
    return v


PageCheck = Literal["schema", "volume", "no_data", "dataset"]


class PageRule(Model):
    """When a run pages: the run's verdict, which drives ``fail_on``, the exit code, the webhook and the
    Airflow task state. Feature rows keep their own severities; the rule only decides the run's level.

    The run pages at ``critical`` when at least ``critical_features`` features are critical, or a row
    of one of ``checks`` is; at ``warn`` when at least ``warn_features`` features are at warn or above,
    or a row of one of ``checks`` is at warn.
    """

    critical_features: int = Field(1, ge=1, le=100_000)
    """Features at critical that make the run page at critical."""
    warn_features: int = Field(1, ge=1, le=100_000)
    """Features at warn or above that make the run page at warn."""
    checks: tuple[PageCheck, ...] = ("schema", "volume", "no_data", "dataset")
    """Run-level rows that page at their own severity: a schema change, the row count, a missing partition,
    the dataset-share rule."""


class AlertSettings(Model):
    fail_on: FailOn = "never"
    """The run fails (exit 1, a failed Airflow task) when its verdict pages at this level or above."""
    page: PageRule = PageRule()
    """When the run pages (``alerts.page``)."""
    webhook: Webhook | None = None
    """POST a JSON summary (with a Slack-compatible ``text``) of a run that reaches ``on``; ``null``: none."""


class AirflowSettings(Model):
    """How the factory builds the job's DAG (the factory's own arguments override these)."""

    max_shards: int = Field(4, ge=1, le=1024)
    """The current data's files (or row groups) are counted in at most this many mapped tasks."""
    retries: int = Field(2, ge=0, le=20)
    """Retries of a task on errors a retry can fix (I/O); a bad config or reference fails at once."""
    retry_delay: float = Field(120, ge=0, le=86_400)
    """Seconds between two tries of a task."""
    pool: str | None = None
    """The Airflow pool of the counting tasks (bounds how many count at once)."""
    queue: str | None = None
    """Celery queue of every task (workers started with ``-q <queue>``)."""
    owner: str | None = None
    """The DAG's owner (Airflow's default: ``airflow``)."""
    execution_timeout: float | None = Field(None, gt=0, le=7 * 86_400)
    """Seconds a task may run before Airflow stops it."""
    wait: float = Field(0, ge=0, le=7 * 86_400)
    """Seconds after the data interval's end to wait for its partition(s) (a sensor in reschedule mode):
    the run goes on when they are all there, or at the deadline with what there is (``no_data`` when nothing)."""
    poke_interval: float = Field(300, ge=30, le=86_400)
    """Seconds between two looks for the partition while waiting."""


class TableSettings(Model):
    """A lakehouse table as a job's ``reference`` or ``current``: a Delta table (``table``) or an Iceberg
    table (``iceberg``), at its latest version or a pinned one, ``where`` selecting partitions.

    ``table``, ``where`` and ``as_of`` take the interval's placeholders (``{ds}``, ``{start}``, ``{end}``).
    """

    table: str | None = None
    """A Delta Lake table: the folder (or s3:// / gs:// URI) holding ``_delta_log/``."""
    iceberg: str | None = None
    """An Apache Iceberg table's identifier, ``namespace.table``, in ``catalog``."""
    catalog: str | dict[str, str | bool | int | float] | None = None
    """Iceberg only: a catalog's name (pyiceberg's ``~/.pyiceberg.yaml`` or ``PYICEBERG_CATALOG__<NAME>__*``
    environment variables) or its properties (``type``, ``uri``, ``warehouse``, ...); default: pyiceberg's."""
    where: str | None = Field(None, min_length=1)
    """Delta: a SQL predicate on partition columns; Iceberg: a pyiceberg row filter."""
    version: int | None = Field(None, ge=0)
    """Delta only: read this version of the table."""
    snapshot_id: int | None = None
    """Iceberg only: read this snapshot."""
    as_of: str | None = None
    """Read the version (snapshot) that was current at this time: an ISO timestamp, or ``{end}``."""
    rerun: Literal["same_version", "latest"] = "same_version"
    """A rerun of an interval reads the version its earlier run recorded (``same_version``), or the latest."""
    storage_options: dict[str, str | bool | int | float] = Field(default_factory=dict)
    """Delta only: delta-rs's storage options (object-store settings and credentials)."""

    @model_validator(mode="after")
    def _consistent(self) -> TableSettings:
        from kldrift.interval import check_template

        if (self.table is None) == (self.iceberg is None):
            raise ValueError("give one of table (a Delta table's path) or iceberg (an Iceberg table's name)")
        other = "iceberg" if self.table is not None else "table"
        only = {"version": "table", "storage_options": "table", "snapshot_id": "iceberg", "catalog": "iceberg"}
        for key, owner in only.items():
            if owner == other and getattr(self, key) not in (None, {}):
                what = "a Delta table (table:)" if owner == "table" else "an Iceberg table (iceberg:)"
                raise ValueError(f"{key}: applies to {what} only")
        pins = [k for k in ("version", "snapshot_id", "as_of") if getattr(self, k) is not None]
        if len(pins) > 1:
            raise ValueError(f"give one of {' or '.join(pins)}, not both")
        for key in ("table", "where", "as_of"):
            value = getattr(self, key)
            if value is not None:
                try:
                    check_template(value)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
        if self.iceberg is not None and "." not in self.iceberg.strip("."):
            raise ValueError(f"iceberg: expected a table identifier namespace.table, got {self.iceberg!r}")
        return self

    def __repr_args__(self) -> Any:
        from kldrift.tables import shown_properties

        for key, value in super().__repr_args__():
            if isinstance(value, dict):  # catalog properties, storage options: secrets as ***
                yield key, shown_properties(value)
            elif value is not None:
                yield key, value

    def __str__(self) -> str:
        return repr(self)
