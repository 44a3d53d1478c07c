"""The sections of a config: each a frozen pydantic model with its bounds (``binning``, ``thresholds``, ...).

:mod:`kldrift.config` assembles them into :class:`~kldrift.config.Settings` and
:class:`~kldrift.config.JobConfig`; every model here forbids unknown keys, so a
typo is an error that names the key.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import urllib.parse
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "METRICS",
    "SEVERITIES",
    "AirflowSettings",
    "AlertSettings",
    "Baseline",
    "Binning",
    "Calibrate",
    "ColumnSettings",
    "DatasetDrift",
    "Features",
    "SchemaSeverities",
    "Significance",
    "Smoothing",
    "TableSettings",
    "Thresholds",
    "Volume",
    "Webhook",
    "check_webhook_url",
]

METRICS = ("kl", "kl_reverse", "psi", "jensen_shannon")
SEVERITIES = ("ok", "warn", "critical", "insufficient_data", "error")

Metric = Literal["kl", "kl_reverse", "psi", "jensen_shannon"]
Strategy = Literal["quantile", "uniform"]
FailOn = Literal["never", "warn", "critical"]


def _in_order(model: Any, smaller: str, larger: str, why: str = "") -> Any:
    """``model`` when its field ``smaller`` is at most ``larger``; a ValueError saying so otherwise."""
    a, b = getattr(model, smaller), getattr(model, larger)
    if a > b:
        msg = f"{smaller} ({a}) must be <= {larger} ({b}){why}"
        raise ValueError(msg)
    return model


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, populate_by_name=True)


class Binning(Model):
    """How numeric and categorical columns are binned (fitted on the reference only)."""

    bins: int = Field(10, ge=1, le=10_000)
    strategy: Strategy = "quantile"
    max_categories: int = Field(50, ge=1, le=100_000)
    discrete_max_values: int = Field(20, ge=0, le=10_000)
    sample_size: int = Field(1 << 18, ge=1_000)
    """Reference values per column kept to place quantile cut points; above it, a systematic sample."""
    min_category_count: int = Field(5, ge=1, le=1_000_000)
    """Reference rows a category needs for a bin of its own; rarer ones are "other"."""


class Calibrate(Model):
    """Per feature, raise the thresholds to the spread of the metric over the baseline's intervals."""

    warn_sd: float = Field(3.0, gt=0, le=1_000)
    """warn = max(warn, mean + warn_sd x sd) of the leave-one-out metric over the intervals."""
    critical_sd: float = Field(5.0, gt=0, le=1_000)
    """critical = max(critical, mean + critical_sd x sd)."""
    spread: Literal["sd", "mad"] = "sd"
    """``sd``: mean and standard deviation (ddof=1). ``mad``: median and 1.4826 x the median absolute
    deviation, the same for normal data but barely moved by a few disrupted intervals in the window."""

    @model_validator(mode="after")
    def _ordered(self) -> Calibrate:
        return _in_order(self, "warn_sd", "critical_sd")


class Thresholds(Model):
    warn: float = Field(0.1, ge=0)
    critical: float = Field(0.25, ge=0)
    calibrate: Calibrate | None = None
    """Thresholds from the baseline's own spread (scheduled runs; an ad-hoc comparison has no intervals)."""

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        return _in_order(self, "warn", "critical")


class ColumnSettings(Model):
    """Per-column overrides."""

    kind: Literal["numeric", "categorical"] | None = None
    edges: tuple[float, ...] | None = None
    bins: int | None = Field(None, ge=1, le=10_000)
    strategy: Strategy | None = None
    thresholds: Thresholds | None = None
    score: bool | None = None
    """true: score the column whatever its role (a timestamp, an identifier); false: never score it."""

    @field_validator("edges")
    @classmethod
    def _edges(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is None:
            return v
        if not v:
            msg = "expected at least one cut point"
            raise ValueError(msg)
        if not all(math.isfinite(e) for e in v):
            msg = "cut points must be finite numbers"
            raise ValueError(msg)
        if any(b <= a for a, b in itertools.pairwise(v)):
            msg = f"cut points must be strictly increasing, got {list(v)}"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSettings:
        if self.kind == "categorical" and (self.edges is not None or self.bins is not None):
            msg = "edges/bins apply to numeric columns, not kind: categorical"
            raise ValueError(msg)
        return self


Window = Literal["fixed", "rolling", "seasonal", "range"]


class Baseline(Model):
    """What each run's counts are compared with: the reference (``fixed``) or earlier data intervals.

    The bins are always the reference's (the profile); a window only changes the counts on the other side.
    """

    window: Window = "fixed"
    intervals: int = Field(28, ge=1, le=1_000)
    """rolling: the intervals just before the current one; seasonal: how many periods back. With ``fixed``
    and ``thresholds.calibrate``, the rolling intervals the thresholds are calibrated on."""
    period: int | None = Field(None, ge=2, le=1_000)
    """seasonal only: intervals per period (7 for the same weekday of a daily job)."""
    range: tuple[dt.date, dt.date] | None = None
    """range only: the first and last day of a fixed set of past intervals."""
    min_intervals: int = Field(7, ge=1, le=1_000)
    """Fewer intervals with data: compare with the reference instead, and say so."""

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
        return self


class Smoothing(Model):
    pseudocount: float = Field(0.5, ge=0, allow_inf_nan=False)


class Significance(Model):
    alpha: float = Field(0.01, gt=0, lt=1)
    correction: Literal["fdr_bh", "bonferroni", "none"] = "fdr_bh"


class Features(Model):
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()


class DatasetDrift(Model):
    share: float = Field(0.5, gt=0, le=1)


Level = Literal["ok", "warn", "critical"]


class SchemaSeverities(Model):
    """Severity of each kind of schema change (``ok``: reported, not an alert)."""

    dropped: Level = "critical"
    """A reference column missing from the current data."""
    retyped: Level = "critical"
    """A column whose values changed logical type (numbers became strings, say)."""
    added: Level = "warn"
    """A current column the reference does not have."""


class Volume(Model):
    """Row counts as a signal: a partition that collapses, explodes, is empty or missing."""

    warn: float = Field(0.5, gt=0, lt=1)
    """warn when rows < warn x expected or > expected / warn."""
    critical: float = Field(0.2, gt=0, lt=1)
    """critical when rows < critical x expected or > expected / critical."""
    expected_rows: int | None = Field(None, ge=1)
    """Rows per data interval; default: the median of earlier runs, else the reference's rows per interval."""
    history: int = Field(28, ge=1, le=10_000)
    """Earlier runs whose row counts give the expected rows."""
    min_history: int = Field(3, ge=1, le=10_000)
    """Earlier runs needed before their median is used."""
    no_data: Level = "critical"
    """Severity of a run whose partition is missing or has no rows."""

    @model_validator(mode="after")
    def _ordered(self) -> Volume:
        return _in_order(self, "critical", "warn", ": ratios, the smaller the further off")


class Webhook(Model):
    """Where to POST a run's alerts. The URL is a secret (for Slack it *is* the credential): give it
    by reference, ``url_env`` (the name of an environment variable holding it), or inline as ``url``.
    kldrift never writes or logs it: files and logs show the scheme and host only."""

    url: str | None = None
    url_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    conn_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,250}$")
    """An Airflow Connection holding the URL (``extra.webhook_url``, or host and password); outside
    Airflow, the ``AIRFLOW_CONN_<ID>`` environment variable (URI or JSON) is read."""
    on: Literal["warn", "critical"] = "critical"
    timeout: float = Field(5.0, gt=0, le=300)
    """Seconds one attempt may take, connecting, sending and reading the answer together."""
    retries: int = Field(3, ge=0, le=10)
    backoff: float = Field(0.5, ge=0, le=60)

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


class AlertSettings(Model):
    fail_on: FailOn = "never"
    webhook: Webhook | None = None


class AirflowSettings(Model):
    """How the factory builds the job's DAG (the factory's own arguments override these)."""

    max_shards: int = Field(4, ge=1, le=1024)
    retries: int = Field(2, ge=0, le=20)
    """Retries of a task on errors a retry can fix (I/O); a bad config or reference fails at once."""
    retry_delay: float = Field(120, ge=0, le=86_400)
    pool: str | None = None
    queue: str | None = None
    """Celery queue of every task (workers started with ``-q <queue>``)."""
    owner: str | None = None
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
