"""What one pass over the reference keeps of each column: the pure, per-column state of fitting.

A numeric column keeps a bounded systematic sample (for quantile cut points),
its exact min and max, exact value counts while it has few distinct values
(for discrete bins, by even and odd rows), whether its integers strictly
increase (for its role); a categorical column keeps exact counts per
category, by even and odd rows; a timestamp that is not scored keeps the days
and hours it covers. :mod:`kldrift.fitting` drives the pass and turns these
into bins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from kldrift.columns import sum_by_value, to_text_counts
from kldrift.config import Settings
from kldrift.kernels import TOLERANCE, DictionaryCounts, EdgeCounter
from kldrift.roles import ColumnStats

__all__ = ["CategoryFit", "NumericFit", "TestCounts", "TimeFit", "merge_close", "split_test"]

_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_MAX_PERIODS = 1 << 20
"""Distinct days / hours a temporal column's coverage keeps count of before it stops."""


class TimeFit:
    """Pass-one state of a timestamp column that is not scored: nulls and the days and hours it covers."""

    __slots__ = ("days", "hours", "n", "nulls")

    def __init__(self) -> None:
        self.n = 0
        self.nulls = 0
        self.days: set[int] | None = set()
        self.hours: set[int] | None = set()

    def add(self, x: np.ndarray[Any, Any]) -> None:
        self.n += len(x)
        if x.dtype.kind == "f":  # nulls, or instants beyond int64 microseconds (seconds holding nanoseconds)
            ok = ~np.isnan(x)
            self.nulls += int(len(x) - np.count_nonzero(ok))
            x = x[ok & np.isfinite(x)]
        for attr, unit in (("days", _DAY_US), ("hours", _HOUR_US)):
            seen = getattr(self, attr)
            if seen is not None:
                seen.update(np.unique(x // unit).tolist())
                if len(seen) > _MAX_PERIODS:
                    setattr(self, attr, None)

    def stats(self) -> ColumnStats:
        return ColumnStats(
            self.n,
            self.nulls,
            days=None if self.days is None else len(self.days),
            hours=None if self.hours is None else len(self.hours),
        )


class NumericFit:
    """Pass-one state of one numeric column."""

    __slots__ = (
        "buffer",
        "counter",
        "counts",
        "discrete",
        "discrete_even",
        "edges",
        "even_nulls",
        "filled",
        "increasing",
        "integral",
        "last",
        "max_discrete",
        "n",
        "nulls",
        "sample",
        "stride",
        "vmax",
        "vmin",
    )

    def __init__(
        self, stride: int, max_discrete: int, edges: tuple[float, ...] | None = None, capacity: int = 0
    ) -> None:
        self.stride = stride
        # Keeping every value: one preallocated buffer, filled in place (no list of pieces to join).
        self.buffer = np.empty(capacity, np.float64) if stride == 1 and capacity else None
        self.filled = 0
        # Cut points known before the pass (explicit, or from a pilot sample): count exactly on the way.
        self.edges = None if edges is None else np.asarray(edges, dtype=np.float64)
        self.counts = None if edges is None else np.zeros(len(edges) + 2, np.int64)
        self.counter = None if edges is None else EdgeCounter(edges)
        self.max_discrete = max_discrete
        self.sample: list[np.ndarray[Any, Any]] = []
        self.n = 0
        self.nulls = 0
        self.vmin = math.inf
        self.vmax = -math.inf
        self.discrete: dict[float, int] | None = {} if max_discrete >= 0 else None
        self.discrete_even: dict[float, int] = {}
        """Counts of the even global rows (row 0, 2, ...): the half that chooses a discrete feature's test bins."""
        self.even_nulls = 0
        self.increasing = True  # integers strictly increasing in row order, so far
        self.integral = True  # every value an integer, so far (integer types are, by type)
        self.last: int | None = None

    def add(self, x: np.ndarray[Any, Any], row0: int, counted: Counts | None = None) -> None:  # counted: counter(x)
        n = len(x)
        self.n += n
        nnan = -1  # not known yet
        if self.counter is not None:
            counted = self.counter(x) if counted is None else counted
            self.counts += counted  # type: ignore[operator]
            nnan = int(counted[-1])  # the null bin: the NaN of a float array
        if self.increasing:
            self._track_increasing(x)
        # Systematic sample: global rows 0, stride, 2*stride, ... (every row when stride is 1).
        take = x[(-row0) % self.stride :: self.stride] if self.stride > 1 else x
        even = x[row0 % 2 :: 2] if self.discrete is not None else None
        if x.dtype.kind == "f":
            if nnan:  # some, or not known
                nan = np.isnan(x)
                nnan = int(np.count_nonzero(nan))
                if nnan:
                    self.nulls += nnan
                    x = x[~nan]
                    take = x if self.stride == 1 else take[~np.isnan(take)]
            if self.integral:  # a float column stops paying for this at its first fraction
                head = x[:64]
                self.integral = bool(np.array_equal(head, np.floor(head))) and bool(np.array_equal(x, np.floor(x)))
        if self.buffer is not None and self.filled + len(take) <= len(self.buffer):
            self.buffer[self.filled : self.filled + len(take)] = take
            self.filled += len(take)
        else:
            self.sample.append(np.array(take, dtype=np.float64, copy=True))
        if len(x) == 0:
            return
        lo, hi = float(x.min()), float(x.max())
        if math.isinf(lo) or math.isinf(hi):  # rare: only then pay for a finite-only copy
            finite = x[np.isfinite(x)]
            lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (math.inf, -math.inf)
        self.vmin, self.vmax = min(self.vmin, lo), max(self.vmax, hi)
        if self.discrete is not None and even is not None:
            self._track_discrete(x, lo, hi)
            if self.discrete is not None:
                if even.dtype.kind == "f":
                    nan = np.isnan(even)
                    self.even_nulls += int(np.count_nonzero(nan))
                    even = even[~nan]
                u, c = np.unique(even, return_counts=True)
                for v, k in zip(u.tolist(), c.tolist(), strict=True):
                    self.discrete_even[float(v)] = self.discrete_even.get(float(v), 0) + int(k)

    def _track_increasing(self, x: np.ndarray[Any, Any]) -> None:
        if x.dtype.kind not in "iu":  # floats (and integers with nulls, read as floats) are never keys by order
            self.increasing = False
            return
        if not len(x):
            return
        head = x[:65]  # cheap early exit for the usual unordered column
        if (self.last is not None and int(x[0]) <= self.last) or not bool(np.all(head[1:] > head[:-1])):
            self.increasing = False
            return
        self.increasing = bool(np.all(x[1:] > x[:-1]))
        self.last = int(x[-1])

    def _track_discrete(self, x: np.ndarray[Any, Any], lo: float, hi: float) -> None:
        limit = self.max_discrete
        if x.dtype.kind in "iu" and hi - lo < 1 << 16:
            base = x.min()  # an exact integer (a float of INT64_MAX would overflow int64)
            binc = np.bincount(x - base)
            nz = np.flatnonzero(binc)
            u, c = nz + base, binc[nz]
        else:
            # Cheap early exit: a head of the batch already has too many values.
            if len(x) > 4096 and len(np.unique(x[:4096])) > limit:
                self.discrete = None
                return
            u, c = np.unique(x, return_counts=True)
        if len(u) > limit:
            self.discrete = None
            return
        d = self.discrete
        assert d is not None
        for v, k in zip(u.tolist(), c.tolist(), strict=True):
            d[float(v)] = d.get(float(v), 0) + int(k)
        if len(d) > limit:
            self.discrete = None

    def take_sample(self) -> np.ndarray[Any, Any]:
        """The kept values as one array; releases the pieces."""
        parts, self.sample = self.sample, []
        if self.buffer is not None:
            parts.insert(0, self.buffer[: self.filled])
            self.buffer = None
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0)

    def stats(self, ordered: np.ndarray[Any, Any], *, keys: bool, calendar: bool) -> ColumnStats:
        """What the pass saw, with ``ordered`` the sorted kept values (all of them, or the sample).

        Distinct values are counted only for a column that could be a key (``keys``: integers): that
        costs a pass over the values. Integrality was tracked during the pass.
        """
        distinct: int | None = None
        sampled = 0
        integral = False
        if self.discrete is not None:
            distinct, sampled = len(self.discrete), self.n - self.nulls
            integral = all(float(v).is_integer() for v in self.discrete)
        else:
            if keys:
                distinct = int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if len(ordered) else 0
                sampled = len(ordered)
            elif self.vmin == self.vmax or not len(ordered):  # constant or empty: no pass needed
                distinct, sampled = (1 if len(ordered) else 0), len(ordered)
            if calendar:  # every finite value an integer, and at least one (tracked during the pass)
                integral = self.integral and math.isfinite(self.vmin)
        return ColumnStats(
            self.n,
            self.nulls,
            distinct,
            sampled,
            increasing=self.increasing and self.n > 0 and self.nulls == 0,
            integral=integral,
            vmin=self.vmin if math.isfinite(self.vmin) else None,
            vmax=self.vmax if math.isfinite(self.vmax) else None,
        )


class CategoryFit:
    """Pass-one state of one categorical column: exact counts per category, for even and odd rows.

    Categories are chosen on the even rows; when that leaves some in "other",
    the G-test compares the current data with the odd rows only, which took no
    part in the choice: a category picked *because* it was frequent in the
    very rows it is then compared with looks, in every later period, rarer
    (regression to the mean), and the test would call that drift.

    A dictionary array is counted on its indices: rows per entry, for each
    half, summed over the batches while their dictionary stays the same
    (Parquet gives each row group its own, usually equal), turned into texts
    only when it changes and at the end.
    """

    __slots__ = ("_dictionary", "_halves", "n", "nulls")

    def __init__(self) -> None:
        self._halves = (Totals(), Totals())
        self.nulls = 0
        self.n = 0
        self._dictionary: DictionaryCounts | None = None

    def add(self, arr: pa.Array | pa.ChunkedArray, row0: int) -> None:
        self.n += len(arr)
        for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
            first = row0 % 2  # the chunk's first row is global row row0: even rows go to half 0
            if pa.types.is_dictionary(chunk.type):
                self._add_indices(chunk, first)
            else:
                if pa.types.is_string_view(chunk.type):  # Arrow cannot take from views
                    chunk = chunk.cast(pa.string())
                for half, start in ((self._halves[first], 0), (self._halves[1 - first], 1)):
                    part = chunk[start::2] if len(chunk) > start else chunk[0:0]
                    self.nulls += half.add(part)
            row0 += len(chunk)

    def _add_indices(self, chunk: pa.DictionaryArray, first: int) -> None:
        tally = self._dictionary
        if tally is None or not tally.holds(chunk.dictionary):
            self._flush()
            tally = self._dictionary = DictionaryCounts(chunk.dictionary)
        for h, nulls in enumerate(tally.add(chunk, first)):
            self._halves[h].nulls += nulls
            self.nulls += nulls

    def _flush(self) -> None:
        """The dictionary's counts so far, as texts and counts, into each half's totals."""
        tally, self._dictionary = self._dictionary, None
        if tally is not None:
            for h, half in enumerate(self._halves):
                half.add_counts(*tally.totals(h))

    @property
    def halves(self) -> tuple[Totals, Totals]:
        """The even rows' and the odd rows' totals, the dictionary's counts so far included."""
        self._flush()
        return self._halves

    def totals(self, half: int | None = None) -> tuple[pa.Array, np.ndarray[Any, Any]]:
        """Distinct values and their counts: of one half (0 even rows, 1 odd rows) or of all rows."""
        if half is not None:
            return self.halves[half].totals()
        merged = Totals()
        for h in self.halves:
            merged.parts.extend(h.parts)
        return merged.totals()


class Totals:
    """Counts per distinct text value, merged lazily."""

    __slots__ = ("nulls", "parts", "pending")

    def __init__(self) -> None:
        self.parts: list[tuple[pa.Array, np.ndarray[Any, Any]]] = []
        self.pending = 0
        self.nulls = 0

    def add(self, arr: pa.Array | pa.ChunkedArray) -> int:
        values, counts, nulls = to_text_counts(arr)
        self.nulls += nulls
        self.add_counts(values, counts)
        return nulls

    def add_counts(self, values: pa.Array, counts: np.ndarray[Any, Any]) -> None:
        """Add distinct texts and their counts."""
        if len(values):
            self.parts.append((values, counts))
            self.pending += len(values)
        if len(self.parts) > 64 or self.pending > 1 << 20:
            self.parts = [self.totals()]
            self.pending = len(self.parts[0][0])

    def totals(self) -> tuple[pa.Array, np.ndarray[Any, Any]]:
        if not self.parts:
            return pa.array([], pa.string()), np.zeros(0, np.int64)
        if len(self.parts) == 1:
            return self.parts[0]
        return sum_by_value([p[0] for p in self.parts], [p[1] for p in self.parts])


Counts = np.ndarray[Any, np.dtype[np.int64]]
TestCounts = tuple[Counts, tuple[int, ...]] | None


def split_test(
    values: Sequence[Any],
    full: Mapping[Any, int],
    even: Mapping[Any, int],
    odd_nulls: int,
    settings: Settings,
    *,
    chosen: bool,
) -> TestCounts:
    """The odd-row reference counts the G-test compares with, and the bins it pools, or ``None``.

    Bins of values (categories, discrete numbers) come from the reference itself, so its "other" bin
    is empty by construction while a later period of the same distribution holds values the
    reference happened not to see — and a category chosen *because* it was frequent looks rarer in
    every later period. Both make the test call noise significant. So the test compares with the
    odd rows, binned by what the even rows saw: values the even rows never saw are pooled with
    "other". Not needed (``None``) when nothing was chosen and every value has
    ``binning.min_category_count`` reference rows: then unseen values are too rare to matter.
    """
    if not chosen and all(full[v] >= settings.binning.min_category_count for v in values):
        return None
    odd = [full[v] - even.get(v, 0) for v in values]
    other_odd = sum(full.values()) - sum(even.values()) - sum(odd)
    counts = np.array([*odd, other_odd, odd_nulls], np.int64)
    pooled = (*(i for i, v in enumerate(values) if not even.get(v)), len(values))
    return counts, pooled


def merge_close(counts: Mapping[float, int]) -> tuple[dict[float, int], dict[float, float]]:
    """Discrete values with values within the counting tolerance merged (``0.3`` and ``3 * 0.1``),
    and the value each one was merged into.

    The value kept is the more frequent one (the smaller on ties), so a stray
    rounding twin never renames the bin.
    """
    out: dict[float, int] = {}
    rep: dict[float, float] = {}
    keys = sorted(counts)
    group: list[float] = []

    def flush() -> None:
        if group:
            keep = min(group, key=lambda v: (-counts[v], v))
            out[keep] = sum(counts[v] for v in group)
            rep.update(dict.fromkeys(group, keep))

    for v in keys:
        close = math.isfinite(v) and math.isfinite(group[0]) if group else False
        if group and not (close and abs(v - group[0]) <= abs(group[0]) * (2 * TOLERANCE)):
            flush()
            group = []
        group.append(v)
    flush()
    return out, rep
