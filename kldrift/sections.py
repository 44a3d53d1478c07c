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

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from kldrift.severity import FailOn, RowLevel

__all__ = [
    "METRICS",
    "AirflowSettings",
    "AlertSettings",
    "Baseline",
    "Binning",
    "Calibrate",
    "ColumnSettings",
    "DatasetDrift",
    "Features",
    "PageRule",
    "SchemaSeverities",
    "Significance",
    "Smoothing",
    "Thresholds",
    "Volume",
    "Webhook",
    "check_webhook_url",
]

METRICS = ("kl", "kl_reverse", "psi", "jensen_shannon")

Metric = Literal["kl", "kl_reverse", "psi", "jensen_shannon"]
Strategy = Literal["quantile", "uniform"]


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
    """Bins of a numeric column (``quantile``: cut points at the 1/bins ... reference quantiles), open outer bins
    and a null bin besides. KL grows with the bin count: see "Choosing bins and thresholds"."""
    strategy: Strategy = "quantile"
    """``quantile``: equal reference counts per bin; ``uniform``: equal widths over the reference's range."""
    max_categories: int = Field(50, ge=1, le=100_000)
    """Categorical columns: the most frequent categories that get a bin of their own; the rest share ``other``."""
    discrete_max_values: int = Field(20, ge=0, le=10_000)
    """A numeric column with at most this many distinct values, most repeated, gets a bin per value (+ ``other``)."""
    sample_size: int = Field(1 << 18, ge=1_000)
    """Reference values per column kept to place quantile cut points; above it, a systematic sample."""
    min_category_count: int = Field(5, ge=1, le=1_000_000)
    """Reference rows a category needs for a bin of its own; rarer ones are "other"."""


class Calibrate(Model):
    """Per feature, raise the thresholds to the spread of the metric over the baseline's intervals.

    For each interval of the window, the metric of its counts against the sum of the others (leave one
    out); then, by ``method``:

    * ``sd``: ``warn = max(warn, mean + warn_sd x sd)`` (``ddof=1``), ``critical`` likewise with ``critical_sd``;
    * ``mad``: the median and 1.4826 x the median absolute deviation instead of the mean and sd: the same
      for normal data, but barely moved by a few disrupted intervals in the window;
    * ``conformal``: ``warn = max(warn, the largest leave-one-out value)``: a run is unusual when it exceeds
      every one of the W intervals, ``p <= 1/(W+1)`` whatever their distribution; ``critical`` keeps the
      configured ratio ``critical / warn`` above the calibrated warn.
    """

    method: Literal["sd", "mad", "conformal"] = Field("sd", validation_alias=AliasChoices("method", "spread"))
    """``sd``, ``mad`` or ``conformal`` (``spread:``, its name before 0.2, is read as ``method:``)."""
    warn_sd: float = Field(3.0, gt=0, le=1_000)
    """``sd`` / ``mad``: warn = max(warn, center + warn_sd x spread) of the leave-one-out metric."""
    critical_sd: float = Field(5.0, gt=0, le=1_000)
    """``sd`` / ``mad``: critical = max(critical, center + critical_sd x spread)."""

    @model_validator(mode="after")
    def _ordered(self) -> Calibrate:
        return _in_order(self, "warn_sd", "critical_sd")


class Thresholds(Model):
    warn: float = Field(0.1, ge=0)
    """The metric's value (nats for ``kl``) from which a significant drift is ``warn``."""
    critical: float = Field(0.25, ge=0)
    """The metric's value from which a significant drift is ``critical``; at least ``warn``."""
    calibrate: Calibrate | None = None
    """Thresholds from the baseline's own spread (scheduled runs; an ad-hoc comparison has no intervals)."""

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        return _in_order(self, "warn", "critical")


class ColumnSettings(Model):
    """Per-column overrides."""

    kind: Literal["numeric", "categorical"] | None = None
    """Force how the column is binned (a numeric zip code as ``categorical``, say); default: from its type."""
    edges: tuple[float, ...] | None = None
    """Explicit cut points, strictly increasing: ``[0, 5]`` gives the bins (-inf, 0), [0, 5), [5, +inf)."""
    bins: int | None = Field(None, ge=1, le=10_000)
    """This column's bin count instead of ``binning.bins``."""
    strategy: Strategy | None = None
    """This column's strategy instead of ``binning.strategy``."""
    thresholds: Thresholds | None = None
    """This column's thresholds instead of the job's."""
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


class Smoothing(Model):
    pseudocount: float = Field(0.5, ge=0, allow_inf_nan=False)
    """Added to every bin on both sides (bins empty on both sides are dropped first), so no KL is infinite."""


class Significance(Model):
    alpha: float = Field(0.01, gt=0, lt=1)
    """A feature alerts only when its corrected p-value (``p_adjusted``) is below this."""
    correction: Literal["fdr_bh", "bonferroni", "none"] = "fdr_bh"
    """Multiple-testing correction across the features of one run: Benjamini–Hochberg, Bonferroni or none."""


class Features(Model):
    include: tuple[str, ...] | None = None
    """Score exactly these columns, whatever their role; ``null``: the default set."""
    exclude: tuple[str, ...] = ()
    """Never score these columns."""


class DatasetDrift(Model):
    share: float = Field(0.5, gt=0, le=1)
    """The share of scored features at ``warn`` or above from which the dataset row alerts."""


class SchemaSeverities(Model):
    """Severity of each kind of schema change (``ok``: reported, not an alert)."""

    dropped: RowLevel = "critical"
    """A reference column missing from the current data."""
    retyped: RowLevel = "critical"
    """A column whose values changed logical type (numbers became strings, say)."""
    added: RowLevel = "warn"
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
    no_data: RowLevel = "critical"
    """Severity of a run whose partition is missing or has no rows."""

    @model_validator(mode="after")
    def _ordered(self) -> Volume:
        return _in_order(self, "critical", "warn", ": ratios, the smaller the further off")


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
