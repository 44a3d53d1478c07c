"""Column roles: which reference columns are features, and why the others are not scored.

Every column of the reference gets a role:

* ``feature`` — scored;
* ``constant`` — one value (or none) in the reference; scored, so a column
  that starts varying alerts;
* ``timestamp`` — timestamps and dates, and calendar fields (integer
  ``year``, ``month``, ``day``, ``weekday`` … columns in their ranges): their
  values move with the data interval, so they "drift" every day by
  construction. Not scored by default;
* ``identifier`` — keys: strictly increasing integers (row numbers,
  sequences), string keys whose values are nearly all distinct, integer
  columns named like keys (``user_id``) whose values are nearly all distinct,
  and the pandas index ``to_parquet`` writes. Not scored by default. A wrong
  identifier label would hide real drift, so floats and integer amounts stay
  features: a nearly unique integer column not named like a key is scored,
  with the hint in its row;
* ``unsupported`` — values kldrift cannot bin (nested, binary, …);
* ``partition`` — hive partition keys of the folder names.

``features.include`` and ``columns.NAME.score: true`` score a column whatever
its role; ``features.exclude`` and ``score: false`` leave it out. Every column
that is not scored is listed with its reason (the report, the JSON output,
``kldrift profile``): nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from kldrift.columns import domain_of
from kldrift.config import Settings
from kldrift.errors import SchemaError
from kldrift.scan import Scan

__all__ = [
    "ROLES",
    "ColumnInfo",
    "ColumnPlan",
    "ColumnStats",
    "classify",
    "is_calendar_name",
    "plan_columns",
    "select_features",
]

Role = Literal["feature", "constant", "timestamp", "identifier", "unsupported", "partition"]
ROLES = ("feature", "constant", "timestamp", "identifier", "unsupported", "partition")

MIN_ROWS_FOR_KEYS = 100
"""Non-null values a column needs before kldrift calls it an identifier from its values."""
UNIQUE_SHARE = 0.95
"""Share of distinct values among non-null ones above which values are "nearly all distinct"."""

_ID_NAME = re.compile(
    r"(^|[_\W])(id|ids|key|uuid|guid|pk)$|[a-z0-9](Id|ID|Key|Uuid|UUID)$|^(id|key|uuid|guid|pk)[_\W]", re.I
)
_CALENDAR = {
    "year": (1000, 3000),
    "yr": (1000, 3000),
    "month": (1, 12),
    "mon": (1, 12),
    "day": (1, 31),
    "dom": (1, 31),
    "day_of_month": (1, 31),
    "dayofmonth": (1, 31),
    "weekday": (0, 7),
    "dow": (0, 7),
    "day_of_week": (0, 7),
    "dayofweek": (0, 7),
    "week": (0, 53),
    "weekofyear": (0, 53),
    "week_of_year": (0, 53),
    "iso_week": (0, 53),
    "quarter": (1, 4),
    "doy": (1, 366),
    "day_of_year": (1, 366),
    "dayofyear": (1, 366),
}


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """What one pass over the reference tells about a column (for its role)."""

    rows: int
    nulls: int
    distinct: int | None = None
    """Distinct non-null values: exact, or counted in the sample of ``sampled`` values."""
    sampled: int = 0
    """Non-null values ``distinct`` was counted over (all of them, or a systematic sample)."""
    increasing: bool = False
    """Integers that strictly increase in row order (over every non-null row)."""
    integral: bool = False
    vmin: float | None = None
    vmax: float | None = None
    days: int | None = None
    """Distinct UTC days a temporal column covers (for the reference's rows per interval)."""
    hours: int | None = None

    @property
    def unique_share(self) -> float:
        return (self.distinct or 0) / self.sampled if self.sampled else 0.0


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """A reference column: its type, its role, whether it is scored, and why (not)."""

    name: str
    type: str
    role: str
    scored: bool
    reason: str = ""
    """Why it is not scored, or a hint about a scored column ("" when there is nothing to say)."""
    null_share: float | None = None
    distinct: int | None = None
    domain: str = ""
    """What its values are (``number``, ``temporal``, ``category``, …; ``""`` when kldrift cannot bin them)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "domain": self.domain,
            "role": self.role,
            "scored": self.scored,
            "reason": self.reason,
            "null_share": self.null_share,
            "distinct": self.distinct,
        }

    @classmethod
    def from_json(cls, name: str, data: Any) -> ColumnInfo:
        return cls(
            name,
            str(data["type"]),
            str(data["role"]),
            bool(data["scored"]),
            str(data.get("reason", "")),
            None if data.get("null_share") is None else float(data["null_share"]),
            None if data.get("distinct") is None else int(data["distinct"]),
            str(data.get("domain", "")),
        )


@dataclass(slots=True)
class ColumnPlan:
    """The reference's columns sorted by what one pass does with them."""

    fit: list[tuple[str, pa.DataType]] = field(default_factory=list)
    """Columns to fit bins for: candidate features (their role is settled on the data)."""
    categorical: set[str] = field(default_factory=set)
    """The columns of :attr:`fit` binned by category (strings, booleans, ``kind: categorical``); the rest by value."""
    observe: list[tuple[str, pa.DataType]] = field(default_factory=list)
    """Timestamps not scored: only their coverage is measured (rows per interval)."""
    settled: dict[str, ColumnInfo] = field(default_factory=dict)
    """Columns whose role the type alone settles (unsupported, partition keys, excluded, timestamps)."""
    order: list[str] = field(default_factory=list)
    """Every column, in the reference's order."""


def _forced(name: str, settings: Settings) -> bool | None:
    """True: the config asks to score it; False: to leave it out; None: up to its role."""
    if name in settings.features.exclude or settings.column(name).score is False:
        return False
    include = settings.features.include
    if (include is not None and name in include) or settings.column(name).score is True:
        return True
    if include is not None:
        return False
    return None


def plan_columns(
    schema: pa.Schema,
    settings: Settings,
    *,
    partition_columns: Sequence[str] = (),
    problems: Mapping[str, str] | None = None,
    where: str,
) -> ColumnPlan:
    """Which reference columns to fit, to observe, and which are settled by their type alone.

    Names in ``features.include`` / ``exclude`` / ``columns`` must exist; an
    included column of a type kldrift cannot bin is an error. ``problems``
    names columns the reference's files disagree on (why, by column): they are
    listed as ``unsupported`` with that reason, never read.
    """
    names = [n for n in schema.names if n not in partition_columns]
    include = settings.features.include
    for name in [*(include or ()), *settings.features.exclude, *settings.columns]:
        if name not in schema.names:
            raise SchemaError.missing_column(name, names, where=where)
    plan = ColumnPlan(order=list(schema.names))
    for key in partition_columns:
        if key not in plan.order:
            plan.order.append(key)
        plan.settled[key] = ColumnInfo(key, "string", "partition", False, "hive partition key (a folder name)")
    for name in names:
        t = schema.field(name).type
        if problems and name in problems:
            plan.settled[name] = ColumnInfo(name, str(t), "unsupported", False, problems[name], domain="")
            continue
        forced = _forced(name, settings)
        kind = settings.column(name).kind
        dom = domain_of(t)
        if dom is None and not (kind == "categorical" and pa.types.is_integer(t)):
            if forced:
                raise SchemaError(
                    f"column {name!r} has type {t}, which kldrift cannot bin "
                    "(expected numbers, timestamps, dates, durations, strings or booleans)"
                )
            plan.settled[name] = ColumnInfo(name, str(t), "unsupported", False, _unsupported(t), domain="")
            continue
        if kind == "numeric" and dom == "category":
            raise SchemaError(f"columns.{name}.kind: numeric, but column {name!r} holds {t} values")
        if forced is False:
            why = "features.exclude" if name in settings.features.exclude else "not in features.include"
            if settings.column(name).score is False:
                why = f"columns.{name}.score: false"
            role = "timestamp" if dom == "temporal" else "feature"
            plan.settled[name] = ColumnInfo(name, str(t), role, False, why, domain=str(dom))
            if dom == "temporal":
                plan.observe.append((name, t))  # still measured: the days it covers give the rows per interval
            continue
        if dom == "temporal" and not forced:
            plan.observe.append((name, t))
            continue
        plan.fit.append((name, t))
        if kind == "categorical" or dom == "category":
            plan.categorical.add(name)
    return plan


def _unsupported(t: pa.DataType) -> str:
    if pa.types.is_nested(t):
        what = "nested values (lists, structs, maps)"
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        what = "binary values"
    else:
        what = f"{t} values"
    return f"{what} cannot be binned"


def is_calendar_name(name: str) -> bool:
    """Whether ``name`` is a calendar field's (``year``, ``month``, ``day``, ``weekday`` …)."""
    return name.lower() in _CALENDAR


def _calendar(name: str, stats: ColumnStats) -> str | None:
    bounds = _CALENDAR.get(name.lower())
    if bounds is None or not stats.integral or stats.vmin is None or stats.vmax is None:
        return None
    lo, hi = bounds
    if lo <= stats.vmin and stats.vmax <= hi:
        return f"calendar field ({name.lower()}): moves with the data interval, so it drifts by construction"
    return None


def classify(
    name: str,
    t: pa.DataType,
    stats: ColumnStats,
    settings: Settings,
    *,
    pandas_index: bool = False,
    observed: bool = False,
) -> ColumnInfo:
    """The role of a fitted (or observed) reference column, from its values and name."""
    dom = domain_of(t)
    forced = _forced(name, settings)
    null_share = stats.nulls / stats.rows if stats.rows else None
    distinct = stats.distinct if stats.sampled == stats.rows - stats.nulls else None

    def info(role: str, reason: str, default: bool) -> ColumnInfo:
        scored = default if forced is None else forced
        if forced and not default:
            reason = f"scored on request ({reason})"
        return ColumnInfo(name, str(t), role, scored, reason, null_share, distinct, str(dom or ""))

    non_null = stats.rows - stats.nulls
    if observed or dom == "temporal":
        return info("timestamp", "timestamp or date: moves with the data interval, so it drifts by construction", False)
    if pandas_index:
        return info("identifier", "pandas index (written by DataFrame.to_parquet)", False)
    calendar = _calendar(name, stats)
    if calendar is not None:  # even constant: a January reference holds month 1 only
        return info("timestamp", calendar, False)
    if stats.distinct is not None and stats.distinct <= 1:
        return info("constant", "one value in the reference" if stats.distinct else "no values in the reference", True)
    key_type = pa.types.is_integer(t) or (dom == "category" and not pa.types.is_boolean(t))
    if stats.increasing and non_null >= MIN_ROWS_FOR_KEYS:
        return info("identifier", "strictly increasing integers (a row number or a sequence)", False)
    nearly_unique = non_null >= MIN_ROWS_FOR_KEYS and stats.unique_share >= UNIQUE_SHARE
    if key_type and nearly_unique:
        share = f"{stats.unique_share:.0%} of values distinct"
        if dom == "category" or _ID_NAME.search(name):
            return info("identifier", f"{share}: a key", False)
        return info("feature", f"{share}: an identifier? leave it out with features.exclude", True)
    return info("feature", "", True)


def select_features(scan: Scan, settings: Settings) -> ColumnPlan:
    """The reference columns of ``scan`` sorted by what fitting does with them (see :func:`plan_columns`)."""
    problems = {n: f"mixed types in the reference: {t} in {path}" for n, (path, t) in scan.conflicts.items()}
    problems.update({n: f"{path} has several columns named {n!r}" for n, path in scan.duplicates.items()})
    return plan_columns(
        scan.schema,
        settings,
        partition_columns=scan.partition_columns,
        problems=problems,
        where=f"reference {scan.description}",
    )
