"""Merging the partitions' reference tallies: numeric state on the driver, category and period counts in Spark.

:mod:`kldrift.spark.partials` leaves one row set per partition (see ``tally_partition``). Numeric
state is merged on the driver in kldrift's row order (:func:`merge`): what one pass over all rows
would leave, since every part of it is a sum, a minimum, a union or a check on neighbouring rows.
Categories and the periods a timestamp covers can have as many values as rows: they are summed
inside Spark, and only each column's totals and the values kldrift may choose reach the driver.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from kldrift.config import Settings
from kldrift.errors import KLDriftError
from kldrift.numeric_tally import NumericFit
from kldrift.roles import ColumnStats
from kldrift.spark.frames import Frames
from kldrift.spark.partials import NumericPlan, Segment
from kldrift.tally import TimeFit

__all__ = ["CategoryTotals", "Collected", "category_totals", "check_rows", "collect", "merge"]


@dataclass(frozen=True, slots=True)
class CategoryTotals:
    """A categorical column's counts, summed inside Spark: its totals and the values kldrift may choose."""

    distinct: int
    total: int
    """Non-null rows."""
    even_total: int
    """Non-null even rows."""
    nulls: int
    odd_nulls: int
    values: Mapping[str, tuple[int, int]]
    """(all rows, even rows) of every value when there are at most ``binning.max_categories``; else of
    the ``max_categories`` most frequent by the even rows with enough support, ties by value."""


class _MergedTime(TimeFit):
    """A timestamp column's pass-one state, from counts summed inside Spark."""

    def __init__(self, n: int, nulls: int, days: int | None, hours: int | None) -> None:
        super().__init__()
        self.n, self.nulls = n, nulls
        self._periods = (days, hours)

    def stats(self) -> ColumnStats:
        return ColumnStats(self.n, self.nulls, days=self._periods[0], hours=self._periods[1])


@dataclass(frozen=True, slots=True)
class Collected:
    """The small part of a tally pass: numeric segments, timestamp coverage, rows by partition."""

    numeric: dict[str, list[Segment]]
    times: dict[str, TimeFit]
    rows: dict[int, int]


def collect(parts: Any, numeric: list[str], times: list[str]) -> Collected:
    """Numeric state, timestamp coverage and rows of every partition, in one query (no category rows)."""
    segments: dict[str, list[Segment]] = {n: [] for n in numeric}
    counts = {n: [0, 0] for n in times}
    periods: dict[str, list[Any]] = {n: [np.zeros(0), np.zeros(0)] for n in times}  # days, hours
    rows: dict[int, int] = {}
    for r in parts.where("kind <> 'cat'").select("kind", "col", "period", "even", "odd", "blob").collect():
        if r.kind == "num":
            segments[numeric[r.col]].extend(pickle.loads(r.blob))
        elif r.kind == "time":
            name = times[r.col]
            counts[name][0] += int(r.even)
            counts[name][1] += int(r.odd)
            periods[name] = [_union(a, b) for a, b in zip(periods[name], pickle.loads(r.blob), strict=True)]
        else:
            rows[int(r.period)] = rows.get(int(r.period), 0) + int(r.even)
    merged: dict[str, TimeFit] = {}
    for n in times:
        days, hours = (None if p is None else len(p) for p in periods[n])
        merged[n] = _MergedTime(counts[n][0], counts[n][1], days, hours)
    return Collected(segments, merged, rows)


_MAX_PERIODS = 1 << 20  # kldrift.tally._MAX_PERIODS: a coverage over it is not counted


def _union(a: Any, b: Any) -> Any:
    """Distinct periods of two parts, ``None`` past kldrift's cap (as its set is once over it)."""
    if a is None or b is None:
        return None
    u = np.union1d(a, b)
    return None if len(u) > _MAX_PERIODS else u


def check_rows(frames: Frames, rows: Mapping[int, int]) -> None:
    """Refuse a DataFrame whose partitions held other rows than in the layout pass (their order would differ)."""
    if frames.is_files:
        return
    want = {p: n for p, n in frames.partition_rows.items() if n}
    if dict(rows) != want:
        raise KLDriftError(
            f"reference {frames.description}: its partitions held other rows on a second pass; "
            "a DataFrame whose rows come from a shuffle or a non-deterministic source must be cached "
            "(df.cache()) or written out before kldrift.spark.fit reads it twice"
        )


def merge(segments: list[Segment], plan: NumericPlan) -> NumericFit:
    """The state kldrift's one pass would leave, from the states of its stretches of rows."""
    segments.sort(key=lambda s: s.row0)
    out = NumericFit(plan.stride, plan.max_discrete, plan.edges)
    last: int | None = None
    for s in segments:
        f = s.fit
        out.n += f.n
        out.nulls += f.nulls
        if out.counts is not None and f.counts is not None:
            out.counts += f.counts
        out.sample.extend(f.sample)
        out.vmin, out.vmax = min(out.vmin, f.vmin), max(out.vmax, f.vmax)
        if out.discrete is not None:
            if f.discrete is None:
                out.discrete = None
            else:
                for v, k in f.discrete.items():
                    out.discrete[v] = out.discrete.get(v, 0) + k
                if len(out.discrete) > out.max_discrete:
                    out.discrete = None
        for v, k in f.discrete_even.items():
            out.discrete_even[v] = out.discrete_even.get(v, 0) + k
        out.even_nulls += f.even_nulls
        out.integral = out.integral and f.integral
        if out.increasing and s.rows:
            ok = f.increasing and (last is None or (s.first is not None and s.first > last))
            out.increasing, last = ok, f.last
    out.last = last
    return out


def category_totals(parts: Any, names: list[str], settings: Settings) -> dict[str, CategoryTotals]:
    """Each categorical column's totals and the values kldrift may choose, summed inside Spark (one query).

    The values sent are all of a column's when it has at most ``binning.max_categories``, else its
    ``max_categories`` most frequent by the even rows among those with enough support, ties by value:
    the ones :meth:`kldrift.fitting.Fitter._categorical` can choose. Spark orders strings by their
    UTF-8 bytes, which is Python's order of their code points.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    b = settings.binning
    value, even, odd = F.col("value"), F.col("even"), F.col("odd")
    per_col = Window.partitionBy("col")
    eligible = value.isNotNull() & (2 * even >= F.lit(b.min_category_count))
    rank = F.row_number().over(Window.partitionBy("col", eligible).orderBy(F.desc("even"), F.asc("value")))
    ranked = (
        parts.where("kind = 'cat'")
        .groupBy("col", "value")
        .agg(F.sum("even").alias("even"), F.sum("odd").alias("odd"))
        .select(
            "col",
            "value",
            "even",
            "odd",
            F.count("value").over(per_col).alias("distinct"),
            F.sum(F.when(value.isNotNull(), even + odd).otherwise(0)).over(per_col).alias("total"),
            F.sum(F.when(value.isNotNull(), even).otherwise(0)).over(per_col).alias("even_total"),
            rank.alias("rank"),
            eligible.alias("eligible"),
        )
    )
    chosen = F.col("eligible") & (F.col("rank") <= b.max_categories)
    keep = value.isNull() | (F.col("distinct") <= b.max_categories) | chosen
    heads: dict[int, tuple[int, int, int]] = {}
    nulls: dict[int, tuple[int, int]] = {}
    values: dict[int, dict[str, tuple[int, int]]] = {}
    for r in ranked.where(keep).collect():
        heads[r.col] = (int(r.distinct), int(r.total), int(r.even_total))
        if r.value is None:
            nulls[r.col] = (int(r.even) + int(r.odd), int(r.odd))
        else:
            values.setdefault(r.col, {})[r.value] = (int(r.even) + int(r.odd), int(r.even))
    out = {}
    for i, name in enumerate(names):
        distinct, total, even_total = heads.get(i, (0, 0, 0))  # none: no partition, no rows
        out[name] = CategoryTotals(distinct, total, even_total, *nulls.get(i, (0, 0)), values.get(i, {}))
    return out
