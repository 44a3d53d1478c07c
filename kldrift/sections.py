"""The sections of a config: each a frozen pydantic model with its bounds (``binning``, ``thresholds``, ...).

:mod:`kldrift.config` assembles them into :class:`~kldrift.config.Settings` and
:class:`~kldrift.config.JobConfig`; every model here forbids unknown keys, so a
typo is an error that names the key.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from kldrift.severity import RowLevel

__all__ = [
    "METRICS",
    "Binning",
    "Calibrate",
    "ColumnSettings",
    "DatasetDrift",
    "Features",
    "SchemaSeverities",
    "Segments",
    "Significance",
    "Smoothing",
    "Thresholds",
    "Volume",
]

METRICS = ("kl", "kl_reverse", "psi", "jensen_shannon")
MAX_SEGMENTS = 1_000
"""The most segments a job may ask for (``segments.max``): counts, the profile and the page grow with it."""
MAX_SEGMENT_COLUMNS = 5
"""The most columns a segment may combine: their value codes must fit one int64 key per row."""

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


class Segments(Model):
    """Drift per slice of the rows: every feature scored in each segment as well as over the whole table.

    Segments are the most frequent combinations of the ``columns``' values in the reference (up to ``max``;
    the rest pooled as ``(other)``), chosen once and saved in the profile with the bins. The bins stay the
    whole reference's, so every segment is measured with the same yardstick. See "Segments" in the docs.
    """

    columns: tuple[str, ...] = Field(min_length=1, max_length=MAX_SEGMENT_COLUMNS)
    """The columns whose values define a segment (``[origin]``, or ``[origin, carrier]`` for their
    combinations); strings, integers, booleans or dates, read as text like categories."""
    max: int = Field(50, ge=1, le=MAX_SEGMENTS)
    """Segments of their own: the most frequent value combinations of the reference; the rest are pooled
    into one more segment, ``(other)``."""
    min_rows: int = Field(200, ge=0)
    """A segment with fewer rows (current or reference) is ``insufficient_data``, listed, and not tested."""

    @field_validator("columns")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not c for c in v):
            raise ValueError("expected column names, got an empty one")
        twice = sorted({c for c in v if v.count(c) > 1})
        if twice:
            raise ValueError(f"each column once, got {', '.join(map(repr, twice))} more than once")
        return v


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
