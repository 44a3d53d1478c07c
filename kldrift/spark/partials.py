"""What Spark's executors run: one partition's Arrow batches in, a small partial result out.

Each function here is the body of a ``mapInArrow`` (see :mod:`kldrift.spark.frames`) and runs kldrift's
own state and kernels on the partition's rows, so the partial results are exactly what kldrift computes
for the same rows, and they merge exactly: counts are a :class:`~kldrift.histogram.Histogram` (merged
with ``+``), reference tallies are the per-column state of :mod:`kldrift.tally` taken at the rows' places
in kldrift's row order (even and odd rows, the systematic sample), merged on the driver or, for
categories, aggregated inside Spark.

No pyspark here: these functions see pyarrow batches only.
"""

from __future__ import annotations

import itertools
import json
import pickle
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from kldrift.binning import BinSpec
from kldrift.columns import domain_of, to_numbers
from kldrift.histogram import Counter
from kldrift.numeric_tally import NumericFit
from kldrift.scan import Scan
from kldrift.tally import CategoryFit, TimeFit

__all__ = [
    "COUNT_SCHEMA",
    "ID_BITS",
    "PILOT_SCHEMA",
    "ROW",
    "ROWS_SCHEMA",
    "TALLY_SCHEMA",
    "Layout",
    "NumericPlan",
    "Segment",
    "conform",
    "count_partition",
    "pilot_partition",
    "rows_partition",
    "tally_partition",
]

ROW = "__kldrift_row"
"""The column that carries each row's place in kldrift's row order (see :class:`Layout`)."""
ID_BITS = 33
"""``monotonically_increasing_id()`` is the partition's index shifted left by 33 bits, plus the row's place in it."""

COUNT_SCHEMA = "histogram string"
ROWS_SCHEMA = "part long, rows long"
PILOT_SCHEMA = "col int, rows binary, vals binary"
TALLY_SCHEMA = "kind string, col int, value string, period double, even long, odd long, blob binary"


@dataclass(frozen=True, slots=True)
class Layout:
    """How a partition's rows map to kldrift's row order, and the column types kldrift reads.

    ``offsets`` is ``None`` when :data:`ROW` holds the global row (a file's first row plus Parquet's row
    index); otherwise :data:`ROW` is ``monotonically_increasing_id()`` and ``offsets`` the first global
    row of each partition.
    """

    schema: pa.Schema
    offsets: Mapping[int, int] | None = None


def conform(batch: pa.Table, names: Sequence[str], schema: pa.Schema) -> pa.Table:
    """The batch with the columns ``names`` as kldrift reads them from the files.

    A column the batch lacks (a file without it) is nulls of its type, as :class:`~kldrift.scan.Scan`
    reads it; where Spark widened a type (uint64 as decimal(20, 0), timestamps in nanoseconds as
    plain int64) the values go back to the file's type, so ids above 2**53 and nanoseconds are not
    rounded. Other types Spark changes (uint32 as int64, milliseconds as microseconds) hold the same
    values, which is all kldrift reads.
    """
    arrays = []
    for name in names:
        want = schema.field(name).type
        if name not in batch.schema.names:
            arrays.append(pa.nulls(batch.num_rows, want))
            continue
        arr = batch.column(name)
        got = arr.type
        if got != want and _restore(got, want):
            arr = arr.cast(want)
        arrays.append(arr)
    return pa.table(arrays, names=list(names))


def _restore(got: pa.DataType, want: pa.DataType) -> bool:
    if pa.types.is_decimal(got) and pa.types.is_integer(want):
        return True
    unit = getattr(want, "unit", None)
    return pa.types.is_int64(got) and unit == "ns" and domain_of(want) in ("temporal", "duration", "time")


def _rebatched(batches: Iterable[pa.RecordBatch], n_columns: int) -> Iterator[pa.Table]:
    """Spark's batches (10,000 rows by default) glued into tables of about kldrift's batch size, one
    chunk a column: per-batch costs (a numpy call per bin and column) dominate otherwise."""
    target = Scan("", pa.schema([])).batch_size(n_columns) // 2
    buf: list[pa.RecordBatch] = []
    rows = 0
    for b in batches:
        buf.append(b)
        rows += b.num_rows
        if rows >= target:
            yield pa.Table.from_batches(buf).combine_chunks()
            buf, rows = [], 0
    if buf:
        yield pa.Table.from_batches(buf).combine_chunks()


def _global_rows(table: pa.Table, layout: Layout) -> np.ndarray[Any, Any]:
    raw = table.column(ROW).to_numpy()
    if layout.offsets is None:
        return raw.astype(np.int64)
    part = raw >> ID_BITS
    starts = np.array([layout.offsets[int(p)] for p in np.unique(part)])
    return starts[np.searchsorted(np.unique(part), part)] + (raw & ((1 << ID_BITS) - 1))


def _runs(rows: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    """``[start, stop)`` of the stretches of a batch whose rows follow each other in kldrift's order."""
    if not len(rows):
        return []
    cuts = np.flatnonzero(np.diff(rows) != 1) + 1
    bounds = [0, *cuts.tolist(), len(rows)]
    return list(itertools.pairwise(bounds))


def rows_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Rows per Spark partition (from ``monotonically_increasing_id``): the offsets of :class:`Layout`."""
    counts: dict[int, int] = {}
    for b in batches:
        if b.num_rows:
            part, n = np.unique(b.column(0).to_numpy() >> ID_BITS, return_counts=True)
            for p, k in zip(part.tolist(), n.tolist(), strict=True):
                counts[p] = counts.get(p, 0) + k
    yield pa.record_batch(
        {"part": pa.array(list(counts), pa.int64()), "rows": pa.array(list(counts.values()), pa.int64())}
    )


def count_partition(
    batches: Iterable[pa.RecordBatch], spec: BinSpec, schema: pa.Schema, columns: Sequence[str]
) -> Iterator[pa.RecordBatch]:
    """Counts of one partition in the bins of ``spec``: one row, ``Histogram.to_json`` as text.

    ``columns`` are the features the driver found countable (the others are errors there, from the
    same schema); a partition that has no batch yields the zero histogram.
    """
    counter = Counter(spec, schema)
    for f in spec.features:
        if f.name not in columns:
            counter.exclude(f.name, "not counted")
    names = list(counter.columns)
    for table in _rebatched(batches, len(names)):
        counter.add(conform(table, names, schema))
    yield pa.record_batch({"histogram": [json.dumps(counter.histogram().to_json())]})


@dataclass(frozen=True, slots=True)
class NumericPlan:
    """How a numeric column is tallied: the pass's stride, the discrete limit and cut points known before it."""

    stride: int
    max_discrete: int
    edges: tuple[float, ...] | None


@dataclass(slots=True)
class Segment:
    """A numeric column's tally of rows that follow each other in kldrift's order, from ``row0`` on."""

    row0: int
    rows: int
    first: int | None
    """Its first value when an integer: whether the column increases across segments needs it."""
    fit: NumericFit


@dataclass(slots=True)
class _Tallies:
    numeric: dict[str, list[Segment]] = field(default_factory=dict)
    categorical: dict[str, CategoryFit] = field(default_factory=dict)
    times: dict[str, TimeFit] = field(default_factory=dict)


def tally_partition(
    batches: Iterable[pa.RecordBatch],
    layout: Layout,
    numeric: Mapping[str, NumericPlan],
    categorical: Sequence[str],
    times: Sequence[str],
) -> Iterator[pa.RecordBatch]:
    """One partition's reference tallies: kldrift's pass-one state of each column, at the rows' places.

    Rows: ``num`` (one per numeric column: its pickled :class:`Segment` list), ``cat`` (a category's
    even- and odd-row counts; ``value`` null for the nulls), ``time`` (a timestamp column's rows and
    nulls, and the days and hours it covers, pickled; ``None`` once over kldrift's cap) and ``rows``
    (the partition's rows, by Spark partition in ``period``, to check the layout held).
    """
    names = [*numeric, *categorical, *times]
    t = _Tallies({n: [] for n in numeric}, {n: CategoryFit() for n in categorical}, {n: TimeFit() for n in times})
    seen_parts: dict[int, int] = {}
    for table in _rebatched(batches, len(names) + 1):
        rows = _global_rows(table, layout)
        if layout.offsets is not None:
            part, k = np.unique(table.column(ROW).to_numpy() >> ID_BITS, return_counts=True)
            for p, c in zip(part.tolist(), k.tolist(), strict=True):
                seen_parts[p] = seen_parts.get(p, 0) + c
        data = conform(table, names, layout.schema)
        for start, stop in _runs(rows):
            row0 = int(rows[start])
            part = data.slice(start, stop - start)
            for name, plan in numeric.items():
                _add_numeric(t.numeric[name], plan, part.column(name), row0)
            for name in categorical:
                t.categorical[name].add(part.column(name), row0)
            for name in times:
                t.times[name].add(to_numbers(part.column(name)))
    yield from _tally_rows(t, numeric, categorical, times, seen_parts)


def _add_numeric(segments: list[Segment], plan: NumericPlan, arr: pa.ChunkedArray, row0: int) -> None:
    x = to_numbers(arr)
    last = segments[-1] if segments else None
    if last is None or last.row0 + last.rows != row0:
        first = int(x[0]) if len(x) and x.dtype.kind in "iu" else None
        last = Segment(row0, 0, first, NumericFit(plan.stride, plan.max_discrete, plan.edges))
        segments.append(last)
    last.fit.add(x, row0)
    last.rows += len(x)


def _tally_rows(
    t: _Tallies,
    numeric: Mapping[str, NumericPlan],
    categorical: Sequence[str],
    times: Sequence[str],
    seen_parts: Mapping[int, int],
) -> Iterator[pa.RecordBatch]:
    out: dict[str, list[Any]] = {k: [] for k in ("kind", "col", "value", "period", "even", "odd", "blob")}

    def row(
        kind: str,
        col: int,
        value: str | None = None,
        period: float | None = None,
        even: int = 0,
        odd: int = 0,
        blob: bytes | None = None,
    ) -> None:
        for k, v in zip(out, (kind, col, value, period, even, odd, blob), strict=True):
            out[k].append(v)

    for i, name in enumerate(numeric):
        row("num", i, blob=pickle.dumps(t.numeric[name], protocol=pickle.HIGHEST_PROTOCOL))
    for i, name in enumerate(categorical):
        fit = t.categorical[name]
        for half, column in ((0, "even"), (1, "odd")):
            values, counts = fit.halves[half].totals()
            for v, k in zip(values.to_pylist(), counts.tolist(), strict=True):
                row("cat", i, v, even=k if column == "even" else 0, odd=k if column == "odd" else 0)
        row("cat", i, None, even=fit.halves[0].nulls, odd=fit.halves[1].nulls)
    for i, name in enumerate(times):
        fit_t = t.times[name]
        periods = [None if seen is None else np.array(sorted(seen), np.float64) for seen in (fit_t.days, fit_t.hours)]
        row("time", i, even=fit_t.n, odd=fit_t.nulls, blob=pickle.dumps(periods, protocol=pickle.HIGHEST_PROTOCOL))
    for p, k in seen_parts.items():
        row("rows", -1, period=float(p), even=k)
    types = [pa.string(), pa.int32(), pa.string(), pa.float64(), pa.int64(), pa.int64(), pa.binary()]
    yield pa.record_batch([pa.array(v, t_) for v, t_ in zip(out.values(), types, strict=True)], names=list(out))


def pilot_partition(
    batches: Iterable[pa.RecordBatch],
    layout: Layout,
    names: Sequence[str],
    ranges: Sequence[tuple[int, int]],
    stride: int,
) -> Iterator[pa.RecordBatch]:
    """Values of the pilot sample in one partition: rows of the pilot ``ranges`` (``[start, stop)`` in
    kldrift's order, concatenated) at every ``stride``-th place, as kldrift's pilot keeps them.

    One row per column: the kept values' global rows and the values (NaN out, as float64), pickled.
    """
    starts = np.array([a for a, _ in ranges], np.int64)
    stops = np.array([b for _, b in ranges], np.int64)
    before = np.concatenate(([0], np.cumsum(stops - starts)))[:-1]  # pilot rows before each range
    kept: dict[str, list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]] = {n: [] for n in names}
    for table in _rebatched(batches, len(names) + 1):
        rows = _global_rows(table, layout)
        k = np.searchsorted(starts, rows, side="right") - 1
        inside = (k >= 0) & (rows < stops[np.maximum(k, 0)])
        place = before[np.maximum(k, 0)] + rows - starts[np.maximum(k, 0)]
        take = np.flatnonzero(inside & (place % stride == 0))
        if not len(take):
            continue
        data = conform(table.take(pa.array(take)), names, layout.schema)
        for name in names:
            x = to_numbers(data.column(name))
            ok = ~np.isnan(x) if x.dtype.kind == "f" else np.ones(len(x), bool)
            kept[name].append((rows[take][ok], x[ok].astype(np.float64)))
    cols, row_blobs, val_blobs = [], [], []
    for i, name in enumerate(names):
        parts = kept[name]
        r = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        v = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        cols.append(i)
        row_blobs.append(r.tobytes())
        val_blobs.append(v.tobytes())
    yield pa.record_batch(
        [pa.array(cols, pa.int32()), pa.array(row_blobs, pa.binary()), pa.array(val_blobs, pa.binary())],
        names=["col", "rows", "vals"],
    )
