"""Counting kernels: one column's values into bins, as int64 count vectors.

Pure numpy / pyarrow.compute on one array; shared by fitting (counting the
reference while its values are in memory) and by :mod:`kldrift.histogram`.

Values, not representations: a bin's bounds are compared with a relative
tolerance of :data:`TOLERANCE` (2**-40), so ``3 * 0.1`` (0.30000000000000004)
and ``0.3`` — one ulp apart, the same value to the writer — land in the same
bin. float32 / float16 arrays are counted in their own type against bounds
chosen so that each value lands where the double of its shortest decimal
(:func:`~kldrift.floats.shortest_floats`) would: ``float32(0.1)`` is the
reference's ``0.1``, at the cost of no per-value conversion. A float64 array's
values that are exactly float32 values (a float32 column written back as
float64) are counted as that float32 column would be
(:func:`~kldrift.floats.read_float32_roundings`), where a bound could tell the
two readings apart.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kldrift.columns import arrow_mask, dictionary_texts, numpy_values, sum_by_value, to_text_counts
from kldrift.floats import float32_values, shortest_floats
from kldrift.native import MAX_CUTS, NATIVE, count_f64, count_i64
from kldrift.native import index_counts as native_index_counts

__all__ = [
    "TOLERANCE",
    "CategoryCounter",
    "Counts",
    "DictionaryCounts",
    "EdgeCounter",
    "count_categories",
    "count_edges",
    "count_sorted",
    "count_values",
    "first_at_least",
    "index_counts",
    "lower_bounds",
    "upper_bounds",
]

Counts = np.ndarray[Any, np.dtype[np.int64]]

TOLERANCE = 2.0**-40
"""Relative tolerance of bin bounds (about 9e-13): far above float64 rounding noise, far below any real difference."""


def lower_bounds(bounds: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``bounds`` lowered by their tolerance: a value within it of a cut point counts as at the cut point."""
    b = np.asarray(bounds, dtype=np.float64)
    with np.errstate(over="ignore"):  # -1.8e308 lowered is -inf: below every double, as it should be
        return np.where(np.isfinite(b), b - np.abs(b) * TOLERANCE, b)


def _upper(bounds: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    b = np.asarray(bounds, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.where(np.isfinite(b), b + np.abs(b) * TOLERANCE, b)


def _first_at_least(bounds: np.ndarray[Any, Any], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Per bound ``b``: the smallest value ``t`` of ``dtype`` whose value as kldrift reads it is ``>= b``.

    Identity for float64 and integers (compared as doubles); for float32 / float16,
    the reading of ``t`` is the double of its shortest decimal, which is monotone
    in ``t``, so ``x >= t`` exactly when ``shortest(x) >= b``.
    """
    if dtype.kind != "f" or dtype == np.float64:
        return bounds
    # beyond the type's largest value, the first one at least as large is inf
    with np.errstate(over="ignore"):
        t = bounds.astype(dtype)
        for _ in range(2):  # the nearest float is at most one step off in each direction
            prev = np.nextafter(t, dtype.type(-np.inf))
            t = np.where(shortest_floats(prev) >= bounds, prev, t)
        for _ in range(2):
            t = np.where(shortest_floats(t) < bounds, np.nextafter(t, dtype.type(np.inf)), t)
    return t


def _tells_apart(bounds: np.ndarray[Any, Any]) -> bool:
    """Whether some float32 value falls on different sides of one of ``bounds`` (lowered thresholds,
    float64) as a double and as kldrift reads it (its shortest decimal).

    ``t32`` is the first float32 whose reading is ``>= b``: the float32 values read
    below ``b`` but ``>= b`` as doubles lie in ``[b, t32)``, those read ``>= b`` but
    below it as doubles in ``[t32, b)``. Neither holds one at a whole-number bound
    (an integer column's cut points), so those columns pay nothing.
    """
    return _tells_apart_cached(np.asarray(bounds, dtype=np.float64).tobytes())


@functools.lru_cache(maxsize=1024)
def _tells_apart_cached(raw: bytes) -> bool:  # once per spec, not once per batch (~0.2 ms for ten bounds)
    b = np.frombuffer(raw, dtype=np.float64)
    t32 = _first_at_least(b, np.dtype(np.float32))
    with np.errstate(over="ignore", invalid="ignore"):  # below -3.4e38 is -inf
        below = np.nextafter(t32, np.float32(-np.inf)).astype(np.float64)
        return bool(np.any((t32.astype(np.float64) < b) | (below >= b)))


def _by_reading(
    x: np.ndarray[Any, Any], bounds: np.ndarray[Any, Any], kernel: Callable[..., Counts], *args: Any
) -> Counts:
    """``kernel(x, *args)``, with a float64 ``x``'s float32 values counted as float32 where ``bounds`` tell
    the readings apart (see :func:`_tells_apart`): float32 data written back as float64 meets its reference."""
    if x.dtype != np.float64 or not len(x) or not _tells_apart(bounds):
        return kernel(x, *args)
    idx = float32_values(x)
    if idx is None:
        return kernel(x, *args)
    if len(idx) == len(x):
        return kernel(x.astype(np.float32), *args)
    sub = x[idx]
    narrow = kernel(sub.astype(np.float32), *args)
    if len(idx) <= len(x) // 2:  # a few (the round values of measured data): recount just those
        return kernel(x, *args) - kernel(sub, *args) + narrow
    rest = np.ones(len(x), bool)
    rest[idx] = False
    return kernel(x[rest], *args) + narrow


def count_edges(x: np.ndarray[Any, Any], edges: np.ndarray[Any, Any]) -> Counts:
    """Counts of ``x`` in ``(-inf, e1), [e1, e2), …, [ek, +inf), null``.

    One vectorised compare and count per cut point (branch free, SIMD), which
    beats ``searchsorted`` + ``bincount`` several times for a few bins. NaN
    fails every comparison, so it falls through to the null bin.
    """
    return EdgeCounter(edges)(x)


class EdgeCounter:
    """:func:`count_edges` for one set of cut points, their compare thresholds worked out once per dtype.

    Thread-safe: the cache only ever gains entries, each computed the same way.
    """

    __slots__ = ("_lowered", "_narrow_f64", "_thresholds", "edges")

    def __init__(self, edges: np.ndarray[Any, Any] | tuple[float, ...]) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self._lowered = lower_bounds(self.edges)
        self._thresholds: dict[np.dtype[Any], np.ndarray[Any, Any]] = {}
        self._narrow_f64: np.ndarray[Any, Any] | None = None

    def thresholds(self, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
        """Per cut point, the value of ``dtype`` from which on a value is at or above it."""
        thr = self._thresholds.get(dtype)
        if thr is None:
            thr = _first_at_least(self._lowered, dtype)
            if dtype.kind in "iu":
                thr = _integer_thresholds(thr, dtype)
            self._thresholds[dtype] = thr
        return thr

    def __call__(self, x: np.ndarray[Any, Any]) -> Counts:
        k = len(self.edges)
        if NATIVE is not None and 0 < k <= MAX_CUTS and x.dtype in (np.float64, np.int64):
            # one compiled pass: every cut point, the nulls, and the float32 values' own reading
            thr = self.thresholds(x.dtype)
            if x.dtype == np.float64:
                return count_f64(x, thr, self._narrow() if _tells_apart(self._lowered) else None)
            if thr.dtype == np.int64:
                return count_i64(x, thr)
        if k:  # float32 data written back as float64 meets its reference (see _by_reading)
            return _by_reading(x, self._lowered, self._count)
        return self._count(x)

    def _narrow(self) -> np.ndarray[Any, Any]:
        """The float32 thresholds as float64 (exact): where a float64 value that is a float32 value counts."""
        if self._narrow_f64 is None:
            self._narrow_f64 = self.thresholds(np.dtype(np.float32)).astype(np.float64)
        return self._narrow_f64

    def _count(self, x: np.ndarray[Any, Any]) -> Counts:
        n = len(x)
        k = len(self.edges)
        out = np.empty(k + 2, np.int64)
        if k == 0:
            valid = n if x.dtype.kind in "iu" else int(np.count_nonzero(~np.isnan(x)))
            out[0], out[1] = valid, n - valid
            return out
        thr = self.thresholds(x.dtype)
        ge = np.fromiter((np.count_nonzero(x >= e) for e in thr), np.int64, k)
        # integers are never NaN: what is not at or above the first cut point is below it
        below = n - int(ge[0]) if x.dtype.kind in "iu" else np.count_nonzero(x < thr[0])
        out[0] = below
        out[1:k] = ge[:-1] - ge[1:]
        out[k] = ge[-1]
        out[k + 1] = n - below - ge[0]
        return out


def _integer_thresholds(thr: np.ndarray[Any, Any], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Float thresholds as integers of ``dtype`` that select the same integers, so that the compares
    need no conversion of the values to float64; as they are when one is out of the exact range.

    For an integer ``x`` and a float ``t`` with ``|t| < 2**52``, ``float(x) >= t`` exactly when
    ``x >= ceil(t)``: below 2**53 in magnitude ``float(x)`` is ``x``, and beyond it both sides agree.
    """
    info = np.iinfo(dtype)
    if not (np.all(np.abs(thr) < 2.0**52) and np.all(np.ceil(thr) >= info.min) and np.all(np.ceil(thr) <= info.max)):
        return thr
    return np.ceil(thr).astype(dtype)


def count_values(x: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> Counts:
    """Counts of ``x`` equal to each of ``values`` (ascending), then ``other``, then ``null`` (NaN).

    Equal within :data:`TOLERANCE` for floats; integers compare exactly.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if len(finite):
        bounds = np.concatenate([lower_bounds(finite), np.nextafter(_upper(finite), np.inf)])
        return _by_reading(x, bounds, _count_values, values)
    return _count_values(x, values)


def _count_values(x: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> Counts:
    n = len(x)
    m = len(values)
    out = np.zeros(m + 2, np.int64)
    nnan = 0 if x.dtype.kind in "iu" else int(np.count_nonzero(np.isnan(x)))
    values = np.asarray(values, dtype=np.float64)
    if x.dtype.kind in "iu":
        _count_equal(x, values, out)
    else:
        finite = np.flatnonzero(np.isfinite(values))
        for i in np.flatnonzero(~np.isfinite(values)):  # ±inf: only themselves
            out[i] = np.count_nonzero(x == values[i])
        out[finite] = _count_close(x, values[finite])
    out[m] = n - int(out[:m].sum()) - nnan
    out[m + 1] = nnan
    return out


def _count_close(x: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> Counts:
    """Counts of float ``x`` within the tolerance of each of the finite, ascending ``values``."""
    m = len(values)
    # value i owns [lo_i, hi_i): from its lowered bound to just past its raised one
    lo = _first_at_least(lower_bounds(values), x.dtype)
    hi = _first_at_least(np.nextafter(_upper(values), np.inf), x.dtype)
    if m <= 32:
        ge_lo = np.fromiter((np.count_nonzero(x >= b) for b in lo), np.int64, m)
        ge_hi = np.fromiter((np.count_nonzero(x >= b) for b in hi), np.int64, m)
        return ge_lo - ge_hi
    bounds = np.empty(2 * m, dtype=x.dtype)
    bounds[0::2], bounds[1::2] = lo, hi
    pos = np.searchsorted(bounds, x, side="right")
    inside = (pos & 1).astype(bool)
    return np.bincount(pos[inside] >> 1, minlength=m).astype(np.int64)


def _count_equal(x: np.ndarray[Any, Any], values: np.ndarray[Any, Any], out: Counts) -> None:
    m = len(values)
    if m <= 32:
        for i, v in enumerate(values):
            out[i] = np.count_nonzero(x == v)
    else:
        pos = np.searchsorted(values, x)
        np.minimum(pos, m - 1, out=pos)
        hit = values[pos] == x
        out[:m] = np.bincount(pos[hit], minlength=m)


def count_categories(arr: pa.Array | pa.ChunkedArray, categories: pa.Array) -> Counts:
    """Counts of a column per category, then ``other`` (not in ``categories``), then ``null``."""
    m = len(categories)
    out = np.zeros(m + 2, np.int64)
    values, counts, nulls = to_text_counts(arr)
    if len(values):
        idx = pc.index_in(values, value_set=categories).fill_null(m)
        np.add.at(out, idx.to_numpy(zero_copy_only=False).astype(np.intp), counts)
    out[m + 1] = nulls
    return out


class CategoryCounter:
    """:func:`count_categories` for one set of categories, dictionary arrays counted on their indices.

    The bin of each entry of a dictionary is worked out once and kept while the
    next batches bring an equal dictionary (Parquet gives each row group its own),
    so a batch costs one ``bincount`` of its indices, no text per batch.
    """

    __slots__ = ("_last", "categories")

    def __init__(self, categories: pa.Array) -> None:
        self.categories = categories
        self._last: tuple[pa.Array, np.ndarray[Any, Any]] | None = None

    def __call__(self, arr: pa.Array | pa.ChunkedArray) -> Counts:
        m = len(self.categories)
        out = np.zeros(m + 2, np.int64)
        rest = []
        for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
            if not pa.types.is_dictionary(chunk.type):
                rest.append(chunk)
                continue
            bins = self._bins(chunk.dictionary)
            np.add.at(out, bins, index_counts(chunk))
        for chunk in rest:
            out += count_categories(chunk, self.categories)
        return out

    def _bins(self, dictionary: pa.Array) -> np.ndarray[Any, Any]:
        """Each entry's bin, then the null bin (for null indices)."""
        last = self._last  # one read: another thread may replace it
        if last is not None and (last[0] is dictionary or last[0].equals(dictionary)):
            return last[1]
        m = len(self.categories)
        texts, is_null = dictionary_texts(dictionary)
        pos = numpy_values(pc.index_in(texts, value_set=self.categories), fill=m)
        bins = np.append(pos.astype(np.intp), m + 1)
        bins[:-1][is_null] = m + 1
        self._last = (dictionary, bins)
        return bins


class DictionaryCounts:
    """Rows per entry of one dictionary (then null indices), for the even and the odd rows, and the
    entries as texts (:func:`~kldrift.columns.dictionary_texts`)."""

    __slots__ = ("counts", "dictionary", "has_null", "is_null", "repeats", "texts")

    def __init__(self, dictionary: pa.Array) -> None:
        self.dictionary = dictionary
        self.texts, self.is_null = dictionary_texts(dictionary)
        self.has_null = bool(self.is_null.any())
        valid = len(self.texts) - int(self.is_null.sum())
        self.repeats = bool(valid and pc.count_distinct(self.texts).as_py() < valid)
        """Whether entries share a text (a legal, unusual dictionary, or texts that became the same)."""
        self.counts = (np.zeros(len(dictionary) + 1, np.int64), np.zeros(len(dictionary) + 1, np.int64))

    def holds(self, dictionary: pa.Array) -> bool:
        """Whether ``dictionary`` is this one (or equal to it)."""
        return self.dictionary is dictionary or self.dictionary.equals(dictionary)

    def add(self, chunk: pa.DictionaryArray, first: int) -> tuple[int, int]:
        """Count a chunk of this dictionary whose first row is of half ``first`` (0: an even global row);
        the nulls of each half (null indices, and indices of null entries)."""
        nulls = [0, 0]
        halves = native_index_counts(chunk, first)  # both halves in one compiled pass
        for h, start in ((first, 0), (1 - first, 1)):
            binc = halves[h] if halves is not None else index_counts(chunk, 2, start)
            self.counts[h][:] += binc
            nulls[h] = int(binc[-1]) + (int(binc[:-1][self.is_null].sum()) if self.has_null else 0)
        return nulls[0], nulls[1]

    def totals(self, half: int) -> tuple[pa.Array, Counts]:
        """Distinct texts of one half's rows (0 even, 1 odd) and their counts, nulls left out."""
        counts = self.counts[half][:-1]
        keep = (counts > 0) & ~self.is_null
        values, kept = self.texts.filter(arrow_mask(keep)), counts[keep]
        if self.repeats and len(kept):  # entries of the same text: one value
            return sum_by_value([values], [kept])
        return values, kept


def index_counts(chunk: pa.DictionaryArray, step: int = 1, start: int = 0) -> np.ndarray[Any, Any]:
    """Rows per dictionary entry of ``chunk`` (of every ``step``-th row from ``start``), then null indices."""
    if step == 1 and (counted := native_index_counts(chunk)) is not None:
        return counted[0]
    nd = len(chunk.dictionary)
    idx = chunk.indices
    if chunk.null_count:
        idx = pc.fill_null(idx, nd)
    x = idx.to_numpy(zero_copy_only=False)
    return np.bincount(x[start::step] if step > 1 else x, minlength=nd + 1)[: nd + 1]


def count_sorted(x: np.ndarray[Any, Any], edges: np.ndarray[Any, Any]) -> Counts:
    """:func:`count_edges` of an ascending, NaN-free float64 ``x``: one binary search per cut point."""
    n = len(x)
    below = np.searchsorted(x, lower_bounds(edges), side="left")  # values < e_j, so bins stay left-closed
    out = np.zeros(len(edges) + 2, np.int64)
    out[:-1] = np.diff(np.concatenate(([0], below, [n])))
    return out


first_at_least = _first_at_least
"""Public name of :func:`_first_at_least`: :mod:`kldrift.binindex` places each row in the same bins."""
upper_bounds = _upper
"""Public name of :func:`_upper` (``bounds`` raised by their tolerance), for :mod:`kldrift.binindex`."""
