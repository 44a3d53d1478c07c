"""What a comparison returns: per-feature results, the per-bin view, what was compared with, the report.

Plain frozen values; :mod:`kldrift.scoring` makes them from histograms, the
writers in :mod:`kldrift.outputs` turn them into files.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from kldrift.display import FeatureDisplay, ReportDisplay
from kldrift.findings import Page, RunCheck, SchemaChange, Verdict, combine_pages, page, summarize
from kldrift.jobsections import PageRule
from kldrift.roles import ColumnInfo
from kldrift.segments import Segment
from kldrift.severity import Severity, worst

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "BaselineInfo",
    "DriftReport",
    "FeatureBins",
    "FeatureDrift",
    "SegmentResults",
    "SegmentSummary",
]


@dataclass(frozen=True, slots=True, repr=False)  # repr, _repr_html_, to_dict: FeatureDisplay's
class FeatureDrift(FeatureDisplay):
    """Drift of one feature between the reference (or the baseline) and the current data."""

    feature: str
    kind: str
    n_reference: int
    n_current: int
    n_bins: int
    kl: float
    kl_reverse: float
    psi: float
    jensen_shannon: float
    p_value: float
    p_adjusted: float
    severity: Severity
    message: str
    metric: str
    value: float
    """The alert metric's value (``kl`` unless ``metric:`` says otherwise)."""
    threshold_warn: float
    threshold_critical: float
    pseudocount: float
    spec_fingerprint: str
    p_method: str = ""
    """How ``p_value`` was obtained: ``g-test``, ``monte-carlo`` (sparse table), ``""`` when not tested."""
    calibrated: bool = False
    """Whether the thresholds were raised to the baseline's spread (``thresholds.calibrate``)."""
    calibration: str = ""
    """How they were raised: ``sd``, ``mad`` or ``conformal`` (``""``: the configured thresholds)."""
    segment: Segment | None = None
    """The segment this row measures (``None``: the whole table)."""

    @property
    def threshold(self) -> float:
        """The threshold that this severity reached (critical's for ok/insufficient rows)."""
        return self.threshold_warn if self.severity is Severity.WARN else self.threshold_critical


COLUMNS = [f.name for f in fields(FeatureDrift)]
"""The fields of a feature row, in order: the columns of ``to_pandas()`` and ``metrics.parquet``."""


@dataclass(frozen=True, slots=True)
class FeatureBins:
    """The per-bin view of one feature: what a histogram chart needs."""

    feature: str
    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    contributions: tuple[float, ...]
    """``rel_entr(p_i, q_i)``, the bin's share of ``kl`` (``nan`` for dropped bins)."""
    segment: Segment | None = None


@dataclass(frozen=True, slots=True)
class BaselineInfo:
    """What a run's counts were compared with, as recorded in its rows, its JSON and its page."""

    window: str = "fixed"
    """``fixed`` (the reference), ``rolling``, ``seasonal`` or ``range``: what was configured."""
    description: str = "reference"
    used: tuple[str, ...] = ()
    """Run keys of the intervals summed, oldest first (none: the reference's counts)."""
    skipped: tuple[str, ...] = ()
    """Intervals of the window left out, each ``"<key>: <why>"`` (paged at warn, no data, ...)."""
    since: str | None = None
    """The first interval of the level the window may use (set when a lasting change was accepted)."""
    method: str = ""
    """How thresholds were calibrated (``sd``, ``mad``, ``conformal``), ``""`` when they were not."""

    @property
    def first(self) -> str | None:
        return self.used[0] if self.used else None

    @property
    def last(self) -> str | None:
        return self.used[-1] if self.used else None

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "description": self.description,
            "first": self.first,
            "last": self.last,
            "intervals": len(self.used),
            "used": list(self.used),
            "skipped": list(self.skipped),
            "since": self.since,
            "calibration": self.method,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BaselineInfo:
        """The value of :meth:`to_json` (``first``, ``last`` and ``intervals`` follow from ``used``)."""
        return cls(
            window=str(data.get("window", "fixed")),
            description=str(data.get("description", "reference")),
            used=tuple(data.get("used") or ()),
            skipped=tuple(data.get("skipped") or ()),
            since=data.get("since"),
            method=str(data.get("calibration") or ""),
        )


def _plain(value: Any) -> Any:
    """A JSON-safe value (``None`` for NaN, a severity's name, a value's ``to_json()``, a dataclass's fields)."""
    if hasattr(value, "to_json") and not isinstance(value, type):
        return value.to_json()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


def _revive(cls: type, row: Mapping[str, Any]) -> Any:
    """A dataclass of :func:`_plain`'s fields (``None`` numbers back to NaN)."""
    import typing

    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in row:
            continue
        hint, v = str(hints[f.name]), row[f.name]
        if "Segment" in hint:
            v = None if v is None else Segment.from_json(v)
        elif "Severity" in hint:
            v = Severity(v)
        elif "BaselineInfo" in hint:
            v = BaselineInfo.from_json(v or {})
        elif hint.startswith("tuple"):
            v = tuple(math.nan if x is None and "float" in hint else x for x in v)
        elif v is None and hint in ("float", "<class 'float'>"):
            v = math.nan
        out[f.name] = v
    return cls(**out)


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    """One segment of a run: its rows on both sides, its worst row, what it paged at, its baseline."""

    segment: Segment
    n_reference: int
    """Rows of the segment in what it was compared with (the reference, or its baseline window)."""
    n_current: int
    worst: Severity
    paged: Severity
    """The level the segment's own rows reach under ``alerts.page`` (what its quarantine follows)."""
    page_reason: str
    baseline: BaselineInfo = field(default_factory=BaselineInfo)


@dataclass(frozen=True, slots=True)
class SegmentResults:
    """A run's drift per segment: each segment's summary, feature rows, bins and checks."""

    columns: tuple[str, ...]
    summaries: tuple[SegmentSummary, ...]
    """Every segment of the profile, in its order: the chosen value combinations, then ``(other)``."""
    features: tuple[FeatureDrift, ...]
    """Per segment, its features (the segment columns left out: constant within a segment)."""
    bins: tuple[FeatureBins, ...]
    checks: tuple[RunCheck, ...] = ()
    """Per segment ``volume``, ``no_data`` and ``insufficient_data`` rows; a ``new_value`` row per value the
    reference never had; a ``segments`` row when rows could not be told apart."""
    tests: int = 0
    """How many p-values were corrected together: the whole table's and every segment's."""
    min_rows: int = 0

    @property
    def alerts(self) -> tuple[FeatureDrift, ...]:
        return tuple(f for f in self.features if f.severity.alerting)

    def of(self, segment: Segment) -> tuple[FeatureDrift, ...]:
        """The feature rows of one segment."""
        return tuple(f for f in self.features if f.segment == segment)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "tests": self.tests,
            "min_rows": self.min_rows,
            "summaries": [_plain(s) for s in self.summaries],
            "features": [_plain(f) for f in self.features],
            "bins": [_plain(b) for b in self.bins],
            "checks": [_plain(c) for c in self.checks],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentResults:
        """The value of :meth:`to_json` (written without bins: each feature's bins unknown, not empty of rows)."""
        features = tuple(_revive(FeatureDrift, r) for r in data["features"])
        blank = (FeatureBins(f.feature, (), (), (), (), f.segment) for f in features)
        return cls(
            tuple(data["columns"]),
            tuple(_revive(SegmentSummary, r) for r in data["summaries"]),
            features,
            tuple(_revive(FeatureBins, r) for r in data["bins"]) if "bins" in data else tuple(blank),
            tuple(_revive(RunCheck, r) for r in data["checks"]),
            int(data.get("tests", 0)),
            int(data.get("min_rows", 0)),
        )


@dataclass(frozen=True, slots=True, repr=False)  # repr, _repr_html_, save_html, to_dict, frames: ReportDisplay's
class DriftReport(ReportDisplay):
    """The result of one comparison: one :class:`FeatureDrift` per feature, in column order."""

    features: tuple[FeatureDrift, ...]
    bins: tuple[FeatureBins, ...]
    n_reference: int
    n_current: int
    metric: str
    alpha: float
    drift_share: float
    """Share of scored features (ok/warn/critical) at warn or above."""
    dataset_drift: bool
    """Whether ``drift_share`` reached ``dataset_drift.share``."""
    share_threshold: float
    spec_fingerprint: str
    schema: tuple[SchemaChange, ...] = ()
    checks: tuple[RunCheck, ...] = ()
    unscored: tuple[ColumnInfo, ...] = ()
    """Reference columns not scored, each with its reason."""
    baseline: BaselineInfo = field(default_factory=BaselineInfo)
    """What the counts were compared with (the reference unless a window was configured)."""
    page_rule: PageRule = field(default_factory=PageRule)
    """When the run pages (``alerts.page``): what :attr:`page` and :meth:`reaches` follow."""
    segments: SegmentResults | None = None
    """Drift per segment (``segments:`` in the config); ``None``: the whole table only."""

    @property
    def alerts(self) -> tuple[FeatureDrift, ...]:
        """The warn and critical features."""
        return tuple(f for f in self.features if f.severity.alerting)

    @property
    def scored(self) -> tuple[FeatureDrift, ...]:
        """The features that were scored (ok, warn or critical)."""
        return tuple(f for f in self.features if f.severity.scored)

    @property
    def dataset_severity(self) -> Severity:
        """The dataset-level row's severity: the worst drifted feature's when the share rule fires."""
        if not self.dataset_drift:
            return Severity.OK
        return worst(f.severity for f in self.alerts)

    @property
    def worst(self) -> Severity:
        """The most urgent severity of the run's rows: features, schema changes, run checks (``ok`` when none)."""
        seg = self.segments
        return worst(
            [
                *(f.severity for f in self.features),
                *(s.severity for s in self.schema),
                *(c.severity for c in self.checks),
                *(s.worst for s in (seg.summaries if seg is not None else ())),
            ]
        )

    @property
    def page(self) -> Page:
        """Whether and at which level the run pages under ``alerts.page``, and why (or why not)."""
        seg = self.segments
        if seg is None:
            return self.whole_page
        slices = [(s.segment.label, s.paged, s.page_reason) for s in seg.summaries]
        return combine_pages(self.whole_page, slices, alerting=any(f.severity.alerting for f in seg.features))

    @property
    def whole_page(self) -> Page:
        """What the whole table's rows page at, segments aside (the run's level without segments)."""
        return page(
            [f.severity for f in self.features], self.schema, self.checks, self.dataset_severity, self.page_rule
        )

    def reaches(self, level: str) -> bool:
        """Whether the run pages at ``level`` (``warn`` / ``critical``) or above; ``never``: False.

        This is what ``fail_on``, the exit code, the webhook's ``on`` and the Airflow task state follow.
        """
        return self.page.level.reaches(level)

    def fail_reason(self, level: str) -> str | None:
        """Why the run fails under ``fail_on=level`` (one line), or ``None`` when it does not.

        The verdict's headline when every alert pages (the default rule); else what paged, by the rule.
        """
        page = self.page
        if not page.level.reaches(level):
            return None
        return self.verdict.headline if page.every_alert else f"paged at {page.level}: {page.reason}"

    def counts_by_severity(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.features:
            out[f.severity] += 1
        return out

    @property
    def verdict(self) -> Verdict:
        """The run's verdict: worst severity first, then what it consists of, and whether it paged."""
        return summarize(
            [f.severity for f in self.features],
            self.schema,
            self.checks,
            drift_share=self.drift_share,
            dataset_drift=self.dataset_drift,
            share_threshold=self.share_threshold,
            page=self.page,
            segments=self._segment_rows(),
        )

    def _segment_rows(self) -> list[tuple[str, list[Severity]]]:
        """Each segment's label and the severities of its rows, for the verdict."""
        if self.segments is None:
            return []
        rows: dict[Segment, list[Severity]] = {s.segment: [] for s in self.segments.summaries}
        for f in self.segments.features:
            if f.segment is not None:
                rows[f.segment].append(f.severity)
        for c in self.segments.checks:
            if c.segment in rows:
                rows[c.segment].append(c.severity)
        return [(s.label, v) for s, v in rows.items()]

    def __getitem__(self, feature: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == feature:
                return f
        raise KeyError(feature)

    def to_pandas(self) -> pd.DataFrame:
        """One row per feature with the :class:`FeatureDrift` fields as columns."""
        import pandas as pd

        rows = [{c: getattr(f, c) for c in COLUMNS} for f in self.features]
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["severity"] = frame["severity"].astype(str)
        return frame
