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

from kldrift.config import Settings
from kldrift.errors import KLDriftError
from kldrift.roles import ColumnStats
from kldrift.spark.frames import Frames
from kldrift.spark.partials import NumericPlan, Segment
from kldrift.tally import NumericFit, TimeFit

__all__ = ["CategoryTotals", "category_totals", "check_rows", "merge", "numeric_parts", "time_totals"]


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


def check_rows(frames: Frames, parts: Any) -> None:
    if frames.is_files:
        return
    seen = {
        int(r.period): int(r.even)
        for r in parts.where("kind = 'rows'").groupBy("period").sum("even").toDF("period", "even").collect()
    }
    want = {p: n for p, n in frames.partition_rows.items() if n}
    if seen != want:
        raise KLDriftError(
            f"reference {frames.description}: its partitions held other rows on a second pass; "
            "a DataFrame whose rows come from a shuffle or a non-deterministic source must be cached "
            "(df.cache()) or written out before kldrift.spark.fit reads it twice"
        )


def numeric_parts(parts: Any, names: list[str]) -> dict[str, list[Segment]]:
    out: dict[str, list[Segment]] = {n: [] for n in names}
    if names:
        for r in parts.where("kind = 'num'").select("col", "blob").toLocalIterator():
            out[names[r.col]].extend(pickle.loads(r.blob))
    return out


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
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    b = settings.binning
    agg = (
        parts.where("kind = 'cat'")
        .groupBy("col", "value")
        .agg(F.sum("even").alias("even"), F.sum("odd").alias("odd"))
        .persist()
    )
    try:
        head = {
            r.col: r
            for r in agg.groupBy("col")
            .agg(
                F.count("value").alias("distinct"),
                F.sum(F.when(F.col("value").isNotNull(), F.col("even") + F.col("odd")).otherwise(0)).alias("total"),
                F.sum(F.when(F.col("value").isNotNull(), F.col("even")).otherwise(0)).alias("even_total"),
                F.sum(F.when(F.col("value").isNull(), F.col("even") + F.col("odd")).otherwise(0)).alias("nulls"),
                F.sum(F.when(F.col("value").isNull(), F.col("odd")).otherwise(0)).alias("odd_nulls"),
            )
            .collect()
        }
        small = [c for c, r in head.items() if r.distinct <= b.max_categories]
        eligible = 2 * F.col("even") >= F.lit(b.min_category_count)
        rank = F.row_number().over(Window.partitionBy("col", eligible).orderBy(F.desc("even"), F.asc("value")))
        picked = (
            agg.where(F.col("value").isNotNull())
            .withColumn("rank", rank)
            .where(F.col("col").isin(small) | (eligible & (F.col("rank") <= b.max_categories)))
        )
        values: dict[int, dict[str, tuple[int, int]]] = {c: {} for c in head}
        for r in picked.select("col", "value", "even", "odd").toLocalIterator():
            values[r.col][r.value] = (int(r.even) + int(r.odd), int(r.even))
    finally:
        agg.unpersist()
    out = {}
    for i, name in enumerate(names):
        r = head.get(i)
        if r is None:  # no partition at all: no rows
            out[name] = CategoryTotals(0, 0, 0, 0, 0, {})
            continue
        out[name] = CategoryTotals(
            int(r.distinct), int(r.total), int(r.even_total), int(r.nulls), int(r.odd_nulls), values[i]
        )
    return out


_MAX_PERIODS = 1 << 20  # kldrift.tally._MAX_PERIODS: a coverage over it is not counted


def time_totals(parts: Any, names: list[str]) -> dict[str, TimeFit]:
    from pyspark.sql import functions as F

    rows = {
        r.col: (int(r.n), int(r.nulls))
        for r in parts.where("kind = 'time'")
        .groupBy("col")
        .agg(F.sum("even").alias("n"), F.sum("odd").alias("nulls"))
        .collect()
    }
    periods: dict[tuple[int, str], int | None] = {}
    for r in (
        parts.where("kind in ('day', 'hour')")
        .groupBy("col", "kind")
        .agg(F.count_distinct("period").alias("k"), F.max(F.col("period").isNull().cast("int")).alias("over"))
        .collect()
    ):
        periods[(r.col, r.kind)] = None if r.over or r.k > _MAX_PERIODS else int(r.k)
    out: dict[str, TimeFit] = {}
    for i, name in enumerate(names):
        n, nulls = rows.get(i, (0, 0))
        out[name] = _MergedTime(n, nulls, periods.get((i, "day"), 0), periods.get((i, "hour"), 0))
    return out
