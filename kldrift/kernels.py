"""Counting kernels: one column's values into bins, as int64 count vectors.

Pure numpy / pyarrow.compute on one array; shared by fitting (counting the
reference while its values are in memory) and by :mod:`kldrift.histogram`.

Values, not representations: a bin's bounds are compared with a relative
tolerance of :data:`TOLERANCE` (2**-40), so ``3 * 0.1`` (0.30000000000000004)
and ``0.3`` — one ulp apart, the same value to the writer — land in the same
bin. float32 / float16 arrays are counted in their own type against bounds
chosen so that each value lands where the double of its shortest decimal
(:func:`~kldrift.columns.shortest_floats`) would: ``float32(0.1)`` is the
reference's ``0.1``, at the cost of no per-value conversion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kldrift.columns import shortest_floats, to_text_counts

__all__ = [
    "TOLERANCE",
    "Counts",
    "count_categories",
    "count_edges",
    "count_sorted",
    "count_values",
    "first_at_least",
    "lower_bounds",
    "upper_bounds",
]

Counts = np.ndarray[Any, np.dtype[np.int64]]

TOLERANCE = 2.0**-40
"""Relative tolerance of bin bounds (about 9e-13): far above float64 rounding noise, far below any real difference."""


def lower_bounds(bounds: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``bounds`` lowered by their tolerance: a value within it of a cut point counts as at the cut point."""
    b = np.asarray(bounds, dtype=np.float64)
    return np.where(np.isfinite(b), b - np.abs(b) * TOLERANCE, b)


def _upper(bounds: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    b = np.asarray(bounds, dtype=np.float64)
    return np.where(np.isfinite(b), b + np.abs(b) * TOLERANCE, b)


def _first_at_least(bounds: np.ndarray[Any, Any], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Per bound ``b``: the smallest value ``t`` of ``dtype`` whose value as kldrift reads it is ``>= b``.

    Identity for float64 and integers (compared as doubles); for float32 / float16,
    the reading of ``t`` is the double of its shortest decimal, which is monotone
    in ``t``, so ``x >= t`` exactly when ``shortest(x) >= b``.
    """
    if dtype.kind != "f" or dtype == np.float64:
        return bounds
    with np.errstate(over="ignore"):
        t = bounds.astype(dtype)
    for _ in range(2):  # the nearest float is at most one step off in each direction
        prev = np.nextafter(t, dtype.type(-np.inf))
        t = np.where(shortest_floats(prev) >= bounds, prev, t)
    for _ in range(2):
        t = np.where(shortest_floats(t) < bounds, np.nextafter(t, dtype.type(np.inf)), t)
    return t


def count_edges(x: np.ndarray[Any, Any], edges: np.ndarray[Any, Any]) -> Counts:
    """Counts of ``x`` in ``(-inf, e1), [e1, e2), …, [ek, +inf), null``.

    One vectorised compare and count per cut point (branch free, SIMD), which
    beats ``searchsorted`` + ``bincount`` several times for a few bins. NaN
    fails every comparison, so it falls through to the null bin.
    """
    n = len(x)
    k = len(edges)
    out = np.empty(k + 2, np.int64)
    if k == 0:
        valid = n if x.dtype.kind in "iu" else int(np.count_nonzero(~np.isnan(x)))
        out[0], out[1] = valid, n - valid
        return out
    thr = _first_at_least(lower_bounds(edges), x.dtype)
    below = np.count_nonzero(x < thr[0])
    ge = np.fromiter((np.count_nonzero(x >= e) for e in thr), np.int64, k)
    out[0] = below
    out[1:k] = ge[:-1] - ge[1:]
    out[k] = ge[-1]
    out[k + 1] = n - below - ge[0]
    return out


def count_values(x: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> Counts:
    """Counts of ``x`` equal to each of ``values`` (ascending), then ``other``, then ``null`` (NaN).

    Equal within :data:`TOLERANCE` for floats; integers compare exactly.
    """
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
