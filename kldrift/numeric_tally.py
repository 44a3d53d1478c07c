"""What one pass over the reference keeps of a numeric column, batch by batch.

A batch's share (:class:`NumericPart`: its counts in known cut points, NaN,
min and max, systematic sample, distinct values while few) is worked out on
its own, on the thread that decoded it, in one compiled pass for float64
columns; :class:`NumericFit` adds the shares in row order (what depends on
order: strictly increasing integers, the sample's and the even rows' places).
:mod:`kldrift.fitting` drives the pass and turns the state into bins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from kldrift.columns import to_numbers
from kldrift.floats import read_float32_roundings
from kldrift.kernels import EdgeCounter
from kldrift.native import MAX_CUTS, NATIVE, fit_f64
from kldrift.roles import ColumnStats
from kldrift.tally import Counts

__all__ = ["NumericFit", "NumericPart"]


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
        self.merge(self.part(x, row0, counted), row0)

    def part(
        self, x: np.ndarray[Any, Any], row0: int | None, counted: Counts | None = None, *, native: bool = False
    ) -> NumericPart:
        """What the batch ``x`` (global rows from ``row0``; ``None``: not known yet) adds, worked out apart from
        this state (thread-safe: it reads only flags that never come back once dropped); :meth:`merge` adds it,
        in row order. Done right after the batch is decoded, its values are still in the core's cache.

        ``native``: ``x`` is :func:`~kldrift.columns.to_numbers`'s ``native=True`` values (floats not yet read
        as kldrift reads them); a float64 one then goes through one compiled pass where it can.
        """
        if native:
            p = self._compiled_part(x, row0) if counted is None else None
            if p is not None:
                return p
            x = read_float32_roundings(x)
        p = NumericPart(len(x), counted)
        if self.counter is not None and counted is None:
            p.counts = self.counter(x)
        if x.dtype.kind in "iu":
            if self.increasing and len(x):  # integers strictly increasing within the batch
                head = x[:65]  # cheap early exit for the usual unordered column
                ok = bool(np.all(head[1:] > head[:-1])) and bool(np.all(x[1:] > x[:-1]))
                p.increasing = (ok, int(x[0]), int(x[-1]))
            p.values = x
        else:
            p.floats = True
            nan = np.isnan(x) if p.counts is None or int(p.counts[-1]) else None  # counts[-1]: the NaN
            p.nulls = int(np.count_nonzero(nan)) if nan is not None else 0
            p.values = x[~nan] if nan is not None and p.nulls else x
            if self.integral:  # a float column stops paying for this at its first fraction
                head = p.values[:64]
                p.integral = bool(np.array_equal(head, np.floor(head))) and bool(
                    np.array_equal(p.values, np.floor(p.values))
                )
        if len(p.values):
            p.set_bounds(float(p.values.min()), float(p.values.max()))
            if self.discrete is not None and p.bounds is not None:
                p.distinct = _distinct(p.values, p.bounds[0], p.bounds[1], self.max_discrete)
        if row0 is not None:
            self._row_parts(p, x, row0)
        else:
            p.raw = x  # the sample and the even rows wait for the batch's place
        return p

    def part_of(self, arr: pa.Array | pa.ChunkedArray, row0: int | None) -> NumericPart:
        """:meth:`part` of an Arrow column (read as :func:`~kldrift.columns.to_numbers` reads it)."""
        return self.part(to_numbers(arr, native=True), row0, native=True)

    def _compiled_part(self, x: np.ndarray[Any, Any], row0: int | None) -> NumericPart | None:
        """:meth:`part` of a float64 ``x`` in one compiled pass (:func:`~kldrift.native.fit_f64`); ``None`` where
        that does not apply: no compiled kernels, another type, too many cut points, a column that may still
        be discrete (its values are counted in numpy), or float32 values among the doubles (they read
        otherwise)."""
        counter = self.counter
        if NATIVE is None or x.dtype != np.float64 or self.discrete is not None:
            return None
        if counter is not None and not 0 < len(counter.edges) <= MAX_CUTS:
            return None
        thresholds = None if counter is None else counter.thresholds(x.dtype)
        out = None if thresholds is None else np.empty(len(thresholds) + 2, np.int64)
        n = len(x)
        sample = offset = None
        if row0 is not None and self.stride > 1:
            offset = (-row0) % self.stride
            sample = np.empty(max(0, -(-(n - offset) // self.stride)), np.float64)
        seen = fit_f64(x, thresholds, out, sample, offset or 0, self.stride)
        if seen.candidates:
            return None
        p = NumericPart(n, out)
        p.floats = True
        p.nulls = seen.nans
        if self.integral:
            p.integral = seen.fractions == 0
        if sample is not None:
            p.sample = sample[: seen.taken]
        if self.stride == 1 or sample is None:
            p.values = x[~np.isnan(x)] if seen.nans else x
            if row0 is None:
                p.raw = x
            else:
                p.sample = p.values
        if seen.nans < n:
            p.set_bounds(seen.lo, seen.hi, p.values if len(p.values) else x)
        return p

    def _row_parts(self, p: NumericPart, x: np.ndarray[Any, Any], row0: int) -> None:
        """The parts that depend on the batch's global rows: its sample (rows 0, stride, 2*stride, ... of the
        whole pass; every row when stride is 1) and, while the column may be discrete, its even rows."""
        if self.stride > 1:
            take = x[(-row0) % self.stride :: self.stride]
            p.sample = np.array(take[~np.isnan(take)] if p.nulls else take, dtype=np.float64, copy=True)
        else:
            p.sample = p.values  # copied into the buffer (or a piece of its own) by merge
        if self.discrete is not None and p.distinct is not None:  # few values in the batch, so few in its even rows
            even = x[row0 % 2 :: 2]
            if even.dtype.kind == "f":
                nan = np.isnan(even)
                p.even_nulls = int(np.count_nonzero(nan))
                even = even[~nan] if p.even_nulls else even
            p.even = _distinct(even, None, None, -1)

    def merge(self, p: NumericPart, row0: int) -> None:
        """Add a batch's :meth:`part` (its global rows from ``row0``), in row order."""
        if p.raw is not None:
            self._row_parts(p, p.raw, row0)
            p.raw = None
        self.n += p.n
        self.nulls += p.nulls
        if p.counts is not None and self.counts is not None:
            self.counts += p.counts
        if self.increasing:
            if p.floats:  # floats (and integers with nulls, read as floats) are never keys by order
                self.increasing = False
            elif p.increasing is not None:
                ok, first, last = p.increasing
                self.increasing = ok and (self.last is None or first > self.last)
                self.last = last
        if self.integral and p.integral is not None:
            self.integral = p.integral
        sample = p.sample
        assert sample is not None
        if self.buffer is not None and self.filled + len(sample) <= len(self.buffer):
            self.buffer[self.filled : self.filled + len(sample)] = sample
            self.filled += len(sample)
        else:
            self.sample.append(sample if self.stride > 1 else np.array(sample, dtype=np.float64, copy=True))
        if p.bounds is None:
            return
        lo, hi = p.bounds
        self.vmin, self.vmax = min(self.vmin, lo), max(self.vmax, hi)
        if self.discrete is not None:
            self._add_discrete(p)

    def _add_discrete(self, p: NumericPart) -> None:
        d = self.discrete
        assert d is not None
        if p.distinct is None or p.even is None:  # too many values in the batch (or not worked out: stopped)
            self.discrete = None
            return
        for v, k in zip(*p.distinct, strict=True):
            d[float(v)] = d.get(float(v), 0) + int(k)
        if len(d) > self.max_discrete:
            self.discrete = None
            return
        self.even_nulls += p.even_nulls
        for v, k in zip(*p.even, strict=True):
            self.discrete_even[float(v)] = self.discrete_even.get(float(v), 0) + int(k)

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


class NumericPart:
    """What one batch adds to a :class:`NumericFit` (see :meth:`NumericFit.part`)."""

    __slots__ = (
        "bounds",
        "counts",
        "distinct",
        "even",
        "even_nulls",
        "floats",
        "increasing",
        "integral",
        "n",
        "nulls",
        "raw",
        "sample",
        "values",
    )

    def __init__(self, n: int, counts: Counts | None) -> None:
        self.n = n
        self.counts = counts
        """Counts in the fit's known cut points (None: none known)."""
        self.nulls = 0
        self.floats = False
        self.increasing: tuple[bool, int, int] | None = None
        """Integers: strictly increasing within the batch, its first and last value (None: not asked)."""
        self.integral: bool | None = None
        """Floats: every non-NaN value a whole number (None: not asked)."""
        self.values: np.ndarray[Any, Any] = np.zeros(0)
        """The batch's values less NaN."""
        self.bounds: tuple[float, float] | None = None
        """The finite values' min and max (inf and -inf: none); None for an empty batch or NaN only."""
        self.distinct: tuple[list[Any], list[Any]] | None = None
        """While the column may be discrete: its values and their counts (None: too many)."""
        self.even: tuple[list[Any], list[Any]] | None = None
        """The same of the batch's even global rows, less NaN (their count: ``even_nulls``)."""
        self.even_nulls = 0
        self.sample: np.ndarray[Any, Any] | None = None
        """The batch's kept values (its rows of the pass's systematic sample), less NaN."""
        self.raw: np.ndarray[Any, Any] | None = None
        """The batch as read, while the parts that depend on its global rows wait for them."""

    def set_bounds(self, lo: float, hi: float, values: np.ndarray[Any, Any] | None = None) -> None:
        """The batch's least and greatest non-NaN values, made those of its finite values (of ``values``,
        default :attr:`values`, when one is infinite: rare, only then a finite-only copy)."""
        if math.isinf(lo) or math.isinf(hi):
            x = self.values if values is None else values
            finite = x[np.isfinite(x)]
            lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (math.inf, -math.inf)
        self.bounds = (lo + 0.0, hi + 0.0)  # -0.0 reads as 0.0: which zero a min finds depends on the order


def _distinct(
    x: np.ndarray[Any, Any], lo: float | None, hi: float | None, limit: int
) -> tuple[list[Any], list[Any]] | None:
    """``x``'s distinct values and their counts, or ``None`` when there are more than ``limit`` (-1: no limit).

    Integers within a range of 2**16 are counted with one ``bincount`` (no sort)."""
    if x.dtype.kind in "iu" and len(x) and (lo is None or hi is None or hi - lo < 1 << 16):
        base = x.min()  # an exact integer (a float of INT64_MAX would overflow int64)
        if int(x.max()) - int(base) < 1 << 16:
            binc = np.bincount(x - base)
            nz = np.flatnonzero(binc)
            u, c = nz + base, binc[nz]
            return None if 0 <= limit < len(u) else (u.tolist(), c.tolist())
    if 0 <= limit < len(x) and len(x) > 4096 and len(np.unique(x[:4096])) > limit:
        return None  # cheap early exit: a head of the batch already has too many values
    u, c = np.unique(x, return_counts=True)
    return None if 0 <= limit < len(u) else (u.tolist(), c.tolist())
