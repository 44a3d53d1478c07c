"""What one pass over the reference keeps of each column: the pure, per-column state of fitting.

A categorical column keeps exact counts per category, by even and odd rows; a
timestamp that is not scored keeps the days and hours it covers. (A numeric
column's state is :mod:`kldrift.numeric_tally`'s: a bounded systematic sample,
exact min and max, value counts while few, whether its integers increase.)
:mod:`kldrift.fitting` drives the pass and turns these into bins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from kldrift.columns import sum_by_value, to_text_counts
from kldrift.config import Settings
from kldrift.kernels import TOLERANCE, DictionaryCounts
from kldrift.roles import ColumnStats

__all__ = ["CategoryFit", "Counts", "TestCounts", "TimeFit", "merge_close", "split_test"]

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
