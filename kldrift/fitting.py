"""Fitting a profile end to end: which columns, one pass over the reference, bins, a second pass where needed.

:func:`fit_profile` is the whole of it. Columns are planned first (:func:`kldrift.roles.plan_columns`:
what to fit, what only to observe, what the type alone settles). Up to :data:`KEEP_ALL_VALUES` numeric
values the reference is fitted and counted exactly in one pass. Beyond that, cut points come from a pilot
of :data:`PILOT_ROW_GROUPS` row groups spread over the data, counted exactly during the one full pass
(on the reader thread that decoded each row group) and checked against the pass's systematic sample; a
column where the pilot missed (sorted or clustered data) is re-cut from the sample and counted in a
second pass, that column only. Counts are always exact. Then every column gets its role
(:func:`kldrift.roles.classify`) and only the scored ones keep their bins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from kldrift.binning import (
    BinSpec,
    FeatureSpec,
    integer_edges,
    pilot_holds,
    point_edges,
    quantile_edges,
    uniform_edges,
)
from kldrift.columns import Domain, domain_of, to_numbers
from kldrift.config import Settings
from kldrift.files import Batch
from kldrift.filestamps import file_records
from kldrift.floats import read_float32_roundings
from kldrift.histogram import Histogram, count, workers
from kldrift.kernels import count_edges, count_sorted, count_values
from kldrift.numeric_tally import NumericFit, NumericPart
from kldrift.profile import Profile
from kldrift.redact import redact_url
from kldrift.roles import ColumnInfo, ColumnPlan, ColumnStats, classify, is_calendar_name, select_features
from kldrift.scan import Scan
from kldrift.tally import CategoryFit, Counts, TestCounts, TimeFit, merge_close, split_test

__all__ = [
    "KEEP_ALL_VALUES",
    "PILOT_ROW_GROUPS",
    "PILOT_VALUES",
    "FitResult",
    "Fitter",
    "fit_profile",
    "pilot_per_column",
    "sample_per_column",
    "sampling_stride",
    "select_features",
]

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Told the rows of each batch read (a progress bar)."""


@dataclass(frozen=True, slots=True)
class FitResult:
    """What :meth:`Fitter.finish` produces."""

    spec: BinSpec
    counts: dict[str, np.ndarray[Any, Any]]
    """Reference counts known without another pass, by feature."""
    test_counts: dict[str, np.ndarray[Any, Any]]
    """Odd-row reference counts, per bin, of the features whose G-test compares against the odd rows."""
    test_pool: dict[str, tuple[int, ...]]
    """Per such feature, the bins the G-test pools into one: "other" and values the even rows never saw."""
    columns: tuple[ColumnInfo, ...]
    """Every reference column with its role, scored or not, in the reference's order."""
    coverage: dict[str, tuple[int | None, int | None]]
    """Distinct (days, hours) each timestamp column covers."""


class Fitter:
    """Streams reference batches once and produces the :class:`BinSpec`.

    Call :meth:`add_column` for every column of every batch (columns may go to threads), then
    :meth:`finish`. Counts of categorical, discrete and explicit-edge features come out of the same
    pass, and of continuous ones when every value was kept or the pilot's cut points held.
    """

    def __init__(
        self,
        plan: ColumnPlan,
        settings: Settings,
        total_rows: int,
        pilot: Mapping[str, tuple[float, ...]] | None = None,
        *,
        pandas_index: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.columns = list(plan.fit)
        self.pandas_index = set(pandas_index)
        b = settings.binning
        self.numeric: dict[str, NumericFit] = {}
        self.categorical: dict[str, CategoryFit] = {}
        self.times: dict[str, TimeFit] = {name: TimeFit() for name, _ in plan.observe}
        self.domains: dict[str, str] = {}
        numeric_names = []
        for name, t in self.columns:
            dom: Domain | None = domain_of(t)
            self.domains[name] = "number" if dom in ("number", "null", None) else str(dom)
            if name in plan.categorical:  # the kind is the plan's: decided once
                self.categorical[name] = CategoryFit()
            else:
                numeric_names.append(name)
        self.stride = sampling_stride(total_rows, len(numeric_names), b.sample_size)
        self.held = dict.fromkeys(numeric_names, -(-total_rows // self.stride))  # values each keeps over the pass
        self._done: dict[str, tuple[FeatureSpec, Counts | None, TestCounts, ColumnInfo]] = {}
        self.pilot = dict(pilot or {})
        for name in numeric_names:
            explicit = settings.column(name).edges
            edges = tuple(explicit) if explicit is not None else self.pilot.get(name)
            limit = -1 if explicit is not None else b.discrete_max_values  # explicit cut points: never discrete
            self.numeric[name] = NumericFit(self.stride, limit, edges, capacity=total_rows)

    @property
    def names(self) -> list[str]:
        """Every column a pass reads: the ones fitted and the timestamps observed."""
        return [n for n, _ in self.columns] + list(self.times)

    def numeric_quantile_columns(self) -> list[str]:
        """Numeric columns whose cut points are reference quantiles (candidates for a pilot)."""
        return [
            n
            for n in self.numeric
            if self.settings.column(n).edges is None
            and (self.settings.column(n).strategy or self.settings.binning.strategy) == "quantile"
        ]

    def prepared(self, batch: Batch, row0: int | None) -> tuple[Batch, dict[str, NumericPart]]:
        """``batch`` (its first row the pass's ``row0``; ``None``: not known yet) and what each of its numeric
        columns adds (:meth:`NumericFit.part`): the work that does not depend on row order, done on the
        thread that decoded the batch (:meth:`Scan.map_batches`) while its values are in that core's cache."""
        fits = self.numeric
        return batch, {n: fits[n].part_of(batch.column(n), row0) for n in batch.schema.names if n in fits}

    def add_column(
        self, name: str, arr: pa.Array | pa.ChunkedArray, row0: int, ready: NumericPart | None = None
    ) -> None:
        """Thread-safe per column: callers may fan a batch's columns out to threads (``ready``: :meth:`prepared`'s)."""
        if name in self.numeric:
            fit = self.numeric[name]
            fit.merge(ready if ready is not None else fit.part_of(arr, row0), row0)
        elif name in self.categorical:
            self.categorical[name].add(arr, row0)
        else:
            self.times[name].add(to_numbers(arr))

    def sample_is_complete(self) -> bool:
        return self.stride == 1

    def finish_columns(self, names: Collection[str], pool: Executor | None = None) -> None:
        """Fit the columns ``names`` (a set) once all their batches were added, releasing their kept values."""
        todo = [c for c in self.columns if c[0] in names and c[0] not in self._done]
        done = (pool.map if pool else map)(self._finish_column, todo)
        self._done.update(zip([n for n, _ in todo], done, strict=True))

    def finish(self, pool: Executor | None = None) -> FitResult:
        """The fitted spec of the scored features, the reference counts known without another pass, and
        every column's role. Columns not fitted yet by :meth:`finish_columns` are fitted here, on ``pool``
        when given (numpy's sort releases the GIL).
        """
        self.finish_columns({n for n, _ in self.columns}, pool)
        done = [self._done.pop(n) for n, _ in self.columns]
        info = {i.name: i for _, _, _, i in done}
        for name, t in self.plan.observe:
            stats = self.times[name].stats()
            info[name] = classify(name, t, stats, self.settings, observed=True)
        info.update(self.plan.settled)
        scored = [(f, c, tc) for f, c, tc, i in done if i.scored]
        features = [f for f, _, _ in scored]
        counts = {f.name: c for f, c, _ in scored if c is not None}
        test_counts = {f.name: tc[0] for f, _, tc in scored if tc is not None}
        test_pool = {f.name: tc[1] for f, _, tc in scored if tc is not None}
        coverage = {n: (s.days, s.hours) for n, s in ((n, self.times[n].stats()) for n in self.times)}
        columns = tuple(info[n] for n in self.plan.order if n in info)
        return FitResult(BinSpec(tuple(features)), counts, test_counts, test_pool, columns, coverage)

    def _finish_column(
        self, column: tuple[str, pa.DataType]
    ) -> tuple[FeatureSpec, Counts | None, TestCounts, ColumnInfo]:
        name, t = column
        pandas_index = name in self.pandas_index
        if name in self.categorical:
            f, counts, test_counts, stats = self._categorical(name, t)
            return f, counts, test_counts, classify(name, t, stats, self.settings, pandas_index=pandas_index)
        fit = self.numeric[name]
        values = fit.take_sample()
        keys = pa.types.is_integer(t)
        if keys:  # distinct values are counted on the sorted values; else the quantiles partition them
            values.sort()
        stats = fit.stats(values, keys=keys, calendar=is_calendar_name(name))
        info = classify(name, t, stats, self.settings, pandas_index=pandas_index)
        f = self._numeric(name, t, values, is_sorted=keys)
        if f.values is not None and fit.discrete is not None:
            merged, rep = merge_close(fit.discrete)
            full = {v: merged.get(v, 0) for v in f.values}
            even: dict[float, int] = {}
            for v, k in fit.discrete_even.items():
                even[rep[v]] = even.get(rep[v], 0) + k
            c = np.array([*full.values(), 0, fit.nulls], np.int64)
            test = split_test(list(full), full, even, fit.nulls - fit.even_nulls, self.settings, chosen=False)
            return f, c, test, info
        if fit.counts is not None and fit.edges is not None and f.edges == tuple(fit.edges.tolist()):
            return f, fit.counts, None, info  # counted exactly during the pass
        if self.stride == 1:  # binary searches in sorted values, else a compare per cut point: the same counts
            counter = count_values if f.values is not None else count_sorted if keys else count_edges
            c = counter(values, np.asarray(f.values if f.values is not None else f.edges, dtype=np.float64))
            c[-1] = fit.nulls
            return f, c, None, info
        return f, None, None, info

    def _categorical(self, name: str, t: pa.DataType) -> tuple[FeatureSpec, Counts, TestCounts, ColumnStats]:
        fit = self.categorical[name]
        b = self.settings.binning
        values, counts = fit.totals()
        full = dict(zip(values.to_pylist(), counts.tolist(), strict=True))
        even_values, even_counts = fit.totals(0)
        even = dict(zip(even_values.to_pylist(), even_counts.tolist(), strict=True))
        if len(full) <= b.max_categories:
            chosen = list(full)  # every category has a bin of its own
        else:
            # Chosen on the even rows: the most frequent, with enough support (doubled: half the rows).
            eligible = [v for v, k in even.items() if 2 * k >= b.min_category_count]
            eligible.sort(key=lambda v: (-even[v], v))
            chosen = eligible[: b.max_categories]
        chosen.sort(key=lambda v: (-full[v], v))  # shown most frequent first over all rows
        f = FeatureSpec(name, "categorical", self.domains[name], categories=tuple(chosen), source_type=str(t))
        c = self._category_counts(f, full, fit.nulls)
        test = split_test(chosen, full, even, fit.halves[1].nulls, self.settings, chosen=len(chosen) < len(full))
        stats = ColumnStats(fit.n, fit.nulls, len(full), fit.n - fit.nulls)
        return f, c, test, stats

    @staticmethod
    def _category_counts(f: FeatureSpec, totals: Mapping[str, int], nulls: int) -> np.ndarray[Any, Any]:
        c = np.zeros(f.n_bins, np.int64)
        index = {v: i for i, v in enumerate(f.categories)}
        for v, k in totals.items():
            c[index.get(v, len(f.categories))] += k
        c[-1] = nulls
        return c

    def _numeric(self, name: str, t: pa.DataType, sample: np.ndarray[Any, Any], *, is_sorted: bool) -> FeatureSpec:
        fit = self.numeric[name]
        col = self.settings.column(name)
        dom = self.domains[name]
        if col.edges is not None:
            return FeatureSpec(name, "numeric", dom, edges=tuple(float(e) for e in col.edges), source_type=str(t))
        merged = merge_close(fit.discrete)[0] if fit.discrete is not None else {}
        if merged and 2 * sum(k == 1 for k in merged.values()) <= len(merged):
            return FeatureSpec(name, "numeric", dom, values=tuple(sorted(merged)), source_type=str(t))
        bins = col.bins or self.settings.binning.bins
        strategy = col.strategy or self.settings.binning.strategy
        # An integer column (by type, or every value): whole-number cut points, the same counts.
        whole = integer_edges if dom == "number" and (pa.types.is_integer(t) or fit.integral) else tuple
        if strategy == "uniform":
            edges = whole(uniform_edges(fit.vmin, fit.vmax, bins))
        else:
            edges = whole(quantile_edges(sample, bins, is_sorted=is_sorted, overwrite_input=True))
            if fit.edges is not None and fit.counts is not None and pilot_holds(fit.counts, fit.edges, sample, edges):
                edges = tuple(float(e) for e in fit.edges)
        if fit.vmin == fit.vmax and bins >= 2:
            # A constant reference: give its value a bin of its own, so that a column that
            # becomes non-constant (above or below) moves rows to another bin and can alert.
            edges = point_edges(fit.vmin)
        return FeatureSpec(name, "numeric", dom, edges=edges, source_type=str(t))


KEEP_ALL_VALUES = 40_000_000
"""Reference values (all numeric columns together) kept to fit and count exactly in one pass;
above it, fitting samples and counting reads the reference again."""
HOLD_VALUES = 8_000_000
"""Kept values (~64 MiB) held at once: the pass reads and fits the columns a group at a time within it."""
SAMPLE_VALUES = 16_000_000
"""Sampled values for all numeric columns together (~128 MiB) when not keeping all."""


def sampling_stride(total_rows: int, n_numeric: int, sample_size: int) -> int:
    """Keep every ``stride``-th reference row for cut points (1: keep every value): every value when the rows
    fit ``sample_size`` or all numeric values fit :data:`KEEP_ALL_VALUES`, else :func:`sample_per_column`'s."""
    if total_rows <= sample_size or total_rows * max(1, n_numeric) <= KEEP_ALL_VALUES:
        return 1
    return max(1, -(-total_rows // sample_per_column(n_numeric, sample_size)))


def sample_per_column(n_numeric: int, sample_size: int) -> int:
    """Values each numeric column keeps when sampling: ``sample_size``, less for wide tables."""
    return max(16_384, min(sample_size, SAMPLE_VALUES // max(1, n_numeric)))


def fit_profile(scan: Scan, settings: Settings, on_rows: Progress | None = None) -> Profile:
    """The profile of the reference ``scan``: its bins, its counts in them, every column's role.

    ``on_rows`` is told the rows of each batch of the first pass (a progress bar).
    """
    plan = select_features(scan, settings)
    total = scan.count_rows()
    index = scan.pandas_index()
    fitter = Fitter(plan, settings, total, pandas_index=index)
    if not fitter.sample_is_complete():
        # Big reference: cut points from a pilot, counted exactly in the one pass (see the module's text).
        quantiled = fitter.numeric_quantile_columns()
        pilot = _pilot_edges(scan, settings, quantiled, {n for n in quantiled if fitter.domains[n] == "number"})
        fitter = Fitter(plan, settings, total, pilot, pandas_index=index)
    names = fitter.names
    groups = scan.column_groups(names, held=fitter.held, budget=HOLD_VALUES)
    with ThreadPoolExecutor(workers()) as pool:
        for i, group in enumerate(groups):
            row0 = 0
            for rows, (batch, ready) in scan.map_batches(group, fitter.prepared, lambda b, _: (b, {})):
                for name, part in ready.items():  # worked out on the reader thread: only adding is left
                    fitter.add_column(name, batch.column(name), row0, part)
                others = [n for n in group if n not in ready]
                list(pool.map(fitter.add_column, others, [batch.column(n) for n in others], [row0] * len(others)))
                row0 += rows
                if on_rows and i == 0:
                    on_rows(rows)
            fitter.finish_columns(set(group), pool)  # its kept values go before the next group is read
        if not names:
            row0 = total
        fit = fitter.finish(pool)
    spec, counts = fit.spec, fit.counts
    rest = [f for f in spec.features if f.name not in counts]
    if rest:
        # Cut points came from a sample: count the reference exactly in a second pass.
        sub = BinSpec(tuple(rest))
        partial = count(sub, scan, where=f"reference {scan.description}", on_batch=on_rows)
        counts.update(partial.counts)
    hist = Histogram(spec.fingerprint, row0, {f.name: counts[f.name] for f in spec.features}, {})
    files = file_records(scan)
    pa.default_memory_pool().release_unused()  # Arrow keeps the pass's freed buffers (~100 MiB) otherwise
    return Profile(
        spec,
        hist,
        settings.binning_fingerprint(),
        redact_url(scan.description),
        files,
        fit.columns,
        fit.test_counts,
        fit.test_pool,
        fit.coverage,
    )


PILOT_ROW_GROUPS = 8
PILOT_VALUES = 1 << 17
"""Values a pilot's cut points come from at most: a bin's mass within ~0.001 of its quantile's, far inside
:data:`~kldrift.binning.PILOT_TOLERANCE` (they are checked against the full pass's sample)."""


def pilot_per_column(n_numeric: int, sample_size: int) -> int:
    """Values each column's pilot keeps: :func:`sample_per_column`, at most :data:`PILOT_VALUES`."""
    return min(PILOT_VALUES, sample_per_column(n_numeric, sample_size))


def _pilot_edges(scan: Scan, settings: Settings, names: list[str], numbers: set[str]) -> dict[str, tuple[float, ...]]:
    """Quantile cut points of each column from a few row groups spread over the reference, sampled on the reader
    threads (its floats read as kldrift reads them once taken, not before) and cut on a pool; whole numbers for
    a column of ``numbers`` whose pilot values are all integers (as the final ones will be: ``Fitter._numeric``)."""
    if not names:
        return {}
    pilot = scan.spread(PILOT_ROW_GROUPS)
    per_column = pilot_per_column(len(names), settings.binning.sample_size)
    stride = max(1, -(-pilot.count_rows() // per_column))
    out: dict[str, tuple[float, ...]] = {}

    def cut(n: str, samples: list[np.ndarray[Any, Any]]) -> tuple[float, ...]:
        values = np.concatenate(samples or [np.zeros(0)])
        edges = quantile_edges(values, settings.column(n).bins or settings.binning.bins, overwrite_input=True)
        return integer_edges(edges) if n in numbers and bool(np.array_equal(values, np.floor(values))) else edges

    def taken(arr: pa.Array | pa.ChunkedArray, row0: int) -> np.ndarray[Any, Any]:  # rows 0, stride, ... of all
        x = read_float32_roundings(to_numbers(arr, native=True)[(-row0) % stride :: stride])
        return x[~np.isnan(x)] if x.dtype.kind == "f" else x.astype(np.float64)

    def on_reader(batch: Batch, row0: int | None) -> tuple[Batch, dict[str, np.ndarray[Any, Any]]]:  # (see Fitter)
        return batch, {} if row0 is None else {n: taken(batch.column(n), row0) for n in batch.schema.names}

    for group in pilot.column_groups(names, held=dict.fromkeys(names, per_column), budget=HOLD_VALUES):
        samples: dict[str, list[np.ndarray[Any, Any]]] = {n: [] for n in group}
        row0 = 0
        for rows, (batch, ready) in pilot.map_batches(group, on_reader):
            for n in group:
                samples[n].append(ready[n] if n in ready else taken(batch.column(n), row0))
            row0 += rows
        with ThreadPoolExecutor(workers()) as pool:  # cut, the values released, before the next group is read
            cuts = pool.map(cut, group, [samples.pop(n) for n in group])
            out.update((n, e) for n, e in zip(group, cuts, strict=True) if e)
    return out
