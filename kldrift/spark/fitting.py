"""Fitting a profile on Spark: kldrift's own fitting, with its passes over the reference run on the executors.

The steps are those of :func:`kldrift.fitting.fit_profile`, and so are the bins, counts and roles:

1. the columns' plan and the sampling stride, from the reference's schema and row count;
2. for a big reference, the pilot: the same rows (row groups of the files, or slices of a DataFrame's
   rows), every ``stride``-th one, collected to cut provisional quantiles;
3. one pass a group of columns (at most :data:`~kldrift.fitting.HOLD_VALUES` kept values a group, as
   kldrift holds at once): each partition runs kldrift's :class:`~kldrift.numeric_tally.NumericFit`,
   :class:`~kldrift.tally.CategoryFit` and :class:`~kldrift.tally.TimeFit` on its rows at their places in
   kldrift's order (even and odd rows, the systematic sample), and the driver merges them. Category
   counts are summed inside Spark; only each column's ``binning.max_categories`` most frequent values
   (by the even rows, as kldrift chooses them) and its totals reach the driver, so a column of a
   hundred million distinct ids costs the driver no memory;
4. kldrift's :class:`~kldrift.fitting.Fitter` turns the merged state into bins, counts and roles;
5. where cut points came from a sample, a counting pass (:func:`~kldrift.spark.frames.count_frames`).

Driver memory: the kept values of one group of columns (64 MiB), the categories chosen, the counts.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from kldrift import fitting
from kldrift.binning import BinSpec, FeatureSpec, integer_edges, quantile_edges
from kldrift.config import Settings
from kldrift.files import held_groups
from kldrift.filestamps import file_records
from kldrift.fitting import PILOT_ROW_GROUPS, Fitter, pilot_per_column, select_features
from kldrift.histogram import Histogram
from kldrift.profile import Profile
from kldrift.redact import redact_url
from kldrift.roles import ColumnPlan, ColumnStats, plan_columns
from kldrift.scan import Scan
from kldrift.spark.frames import Frames, count_frames, counter_for
from kldrift.spark.merge import CategoryTotals, category_totals, check_rows, collect, merge
from kldrift.spark.partials import (
    PILOT_SCHEMA,
    TALLY_SCHEMA,
    NumericPlan,
    pilot_partition,
    tally_partition,
)
from kldrift.tally import Counts, TestCounts, split_test

__all__ = ["CategoryTotals", "fit_dataframe", "fit_frames", "fit_scan", "pilot_ranges", "table_pilot_ranges"]


def fit_scan(frames: Frames, scan: Scan, settings: Settings, pilot: Frames | None = None) -> Profile:
    """The profile of a job's reference files, as :func:`kldrift.fitting.fit_profile` fits it, on Spark.

    ``pilot``: the frames of the files that hold the pilot's row groups (``frames`` when not given).
    """
    plan = select_features(scan, settings)
    return fit_frames(
        frames,
        settings,
        plan,
        pilot=pilot_ranges(scan),
        pilot_frames=pilot,
        pandas_index=scan.pandas_index(),
        source=redact_url(scan.description),
        files=file_records(scan),
    )


def fit_dataframe(frames: Frames, settings: Settings) -> Profile:
    """The profile of a user's DataFrame: what ``kldrift.fit(df.toArrow())`` fits, rows in the same order."""
    plan = plan_columns(frames.schema, settings, where=f"reference {frames.description}")
    total = frames.total_rows()
    return fit_frames(
        frames,
        settings,
        plan,
        pilot=table_pilot_ranges(total, len(frames.schema)),
        pandas_index=(),
        source=frames.description,
        files=(),
    )


def pilot_ranges(scan: Scan) -> list[tuple[int, int]]:
    """The rows of kldrift's pilot (:meth:`Scan.spread`: row groups spread over the files), as
    ``[start, stop)`` in the scan's row order."""
    first: dict[str, int] = {}
    row = 0
    for info in scan.files:
        first[info.path] = row
        row += scan._metadata(info).num_rows
    out = []
    for info in scan.spread(PILOT_ROW_GROUPS).files:
        md = scan._metadata(info)
        assert info.row_groups is not None
        rg = info.row_groups[0]
        start = first[info.path] + sum(md.row_group(i).num_rows for i in range(rg))
        out.append((start, start + md.row_group(rg).num_rows))
    return out


def table_pilot_ranges(rows: int, columns: int) -> list[tuple[int, int]]:
    """The rows of kldrift's pilot of a table (:meth:`Scan.spread`: slices of a batch's rows)."""
    size = Scan("", pa.schema([])).batch_size(columns)
    starts = range(0, rows, size)
    if not len(starts):
        return []
    picked = sorted({starts[i * len(starts) // PILOT_ROW_GROUPS] for i in range(min(PILOT_ROW_GROUPS, len(starts)))})
    return [(s, min(s + size, rows)) for s in picked]


def fit_frames(
    frames: Frames,
    settings: Settings,
    plan: ColumnPlan,
    *,
    pilot: Sequence[tuple[int, int]],
    pilot_frames: Frames | None = None,
    pandas_index: Sequence[str],
    source: str,
    files: tuple[dict[str, Any], ...],
) -> Profile:
    """Bins, counts and roles of the reference ``frames``: kldrift's fitting with its passes on Spark."""
    total = frames.total_rows()
    fitter = _SparkFitter(plan, settings, total, pandas_index=pandas_index)
    if not fitter.sample_is_complete():
        quantiled = fitter.numeric_quantile_columns()
        numbers = {n for n in quantiled if fitter.domains[n] == "number"}
        edges = _pilot_edges(pilot_frames or frames, settings, quantiled, numbers, pilot)
        fitter = _SparkFitter(plan, settings, total, edges, pandas_index=pandas_index)
    for group in held_groups(fitter.names, fitter.held, fitting.HOLD_VALUES):
        _tally(frames, fitter, group)
        fitter.finish_columns(set(group))  # its kept values go before the next group is collected
    fit = fitter.finish()
    spec, counts = fit.spec, fit.counts
    rest = [f for f in spec.features if f.name not in counts]
    if rest:
        sub = BinSpec(tuple(rest))
        partial = count_frames(sub, frames, counter_for(sub, None, frames.schema, f"reference {frames.description}"))
        counts.update(partial.counts)
    hist = Histogram(spec.fingerprint, total, {f.name: counts[f.name] for f in spec.features}, {})
    return Profile(
        spec,
        hist,
        settings.binning_fingerprint(),
        source,
        files,
        fit.columns,
        fit.test_counts,
        fit.test_pool,
        fit.coverage,
    )


def _pilot_edges(
    frames: Frames, settings: Settings, names: list[str], numbers: set[str], ranges: Sequence[tuple[int, int]]
) -> dict[str, tuple[float, ...]]:
    """kldrift's pilot cut points (see ``kldrift.fitting._pilot_edges``) from the same rows, collected."""
    if not names:
        return {}
    per_column = pilot_per_column(len(names), settings.binning.sample_size)
    stride = max(1, -(-sum(b - a for a, b in ranges) // per_column))
    out = {}
    for group in held_groups(names, dict.fromkeys(names, per_column), fitting.HOLD_VALUES):
        fn = functools.partial(pilot_partition, layout=frames.layout, names=group, ranges=list(ranges), stride=stride)
        pieces: dict[int, list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]] = {i: [] for i in range(len(group))}
        for r in frames.run(group, fn, PILOT_SCHEMA, with_rows=True).collect():
            pieces[r.col].append((np.frombuffer(r.rows, np.int64), np.frombuffer(r.vals, np.float64)))
        for i, n in enumerate(group):
            rows = np.concatenate([p[0] for p in pieces[i]] or [np.zeros(0, np.int64)])
            values = np.concatenate([p[1] for p in pieces[i]] or [np.zeros(0)])[np.argsort(rows, kind="stable")]
            pieces[i] = []
            edges = quantile_edges(values, settings.column(n).bins or settings.binning.bins)
            if n in numbers and bool(np.array_equal(values, np.floor(values))):
                edges = integer_edges(edges)
            if edges:
                out[n] = edges
    return out


_OTHERS = object()


class _SparkFitter(Fitter):
    """kldrift's :class:`Fitter`, its categorical columns finished from :class:`CategoryTotals`."""

    totals: dict[str, CategoryTotals]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.totals = {}

    def _categorical(self, name: str, t: pa.DataType) -> tuple[FeatureSpec, Counts, TestCounts, ColumnStats]:
        # The same choice as Fitter._categorical, over the values Spark sent.
        agg = self.totals[name]
        b = self.settings.binning
        full = {v: k for v, (k, _) in agg.values.items()}
        even = {v: e for v, (_, e) in agg.values.items()}
        if agg.distinct <= b.max_categories:
            chosen = list(full)
        else:
            eligible = [v for v, k in even.items() if 2 * k >= b.min_category_count]
            eligible.sort(key=lambda v: (-even[v], v))
            chosen = eligible[: b.max_categories]
        chosen.sort(key=lambda v: (-full[v], v))
        f = FeatureSpec(name, "categorical", self.domains[name], categories=tuple(chosen), source_type=str(t))
        c = np.zeros(f.n_bins, np.int64)
        for i, v in enumerate(chosen):
            c[i] = full[v]
        c[-2] = agg.total - int(c[:-2].sum())
        c[-1] = agg.nulls
        # What split_test reads of the full counts: each chosen value, and the sum (the others as one key).
        full_r: dict[Any, int] = {v: full[v] for v in chosen}
        even_r: dict[Any, int] = {v: even[v] for v in chosen}
        full_r[_OTHERS] = agg.total - sum(full_r.values())
        even_r[_OTHERS] = agg.even_total - sum(even_r.values())
        test = split_test(chosen, full_r, even_r, agg.odd_nulls, self.settings, chosen=len(chosen) < agg.distinct)
        n = agg.total + agg.nulls
        return f, c, test, ColumnStats(n, agg.nulls, agg.distinct, agg.total)


def _tally(frames: Frames, fitter: _SparkFitter, group: list[str]) -> None:
    """One pass over the reference for the columns of ``group``: their merged state set on ``fitter``."""
    numeric = {
        n: NumericPlan(fit.stride, fit.max_discrete, None if fit.edges is None else tuple(fit.edges.tolist()))
        for n in group
        if (fit := fitter.numeric.get(n)) is not None
    }
    categorical = [n for n in group if n in fitter.categorical]
    times = [n for n in group if n in fitter.times]
    fn = functools.partial(tally_partition, layout=frames.layout, numeric=numeric, categorical=categorical, times=times)
    from pyspark import StorageLevel

    parts = frames.run(group, fn, TALLY_SCHEMA, with_rows=True)
    if categorical:  # two queries read it: compute it once
        parts = parts.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        got = collect(parts, list(numeric), times)
        check_rows(frames, got.rows)
        for name, segments in got.numeric.items():
            fitter.numeric[name] = merge(segments, numeric[name])
        fitter.times.update(got.times)
        if categorical:
            fitter.totals.update(category_totals(parts, categorical, fitter.settings))
    finally:
        if categorical:
            parts.unpersist()
