"""The bin of every value: per-row twins of the counting kernels, for counting per segment.

:mod:`kldrift.kernels` counts a column into bins without saying where each value went, which is
what makes it fast. Counting per segment needs each row's bin, so that one ``bincount`` of
``segment x bins + bin`` counts every segment at once. These functions give it, for the same bins
and the same reading of values (tolerance, float32, nulls, text); a counter checks their counts
against the kernel's on every batch and counts segment by segment with the kernel itself where they
differ (:class:`kldrift.segcount.SegmentCounter`), so a kernel's later refinement never makes the
two disagree silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kldrift.binning import FeatureSpec
from kldrift.columns import to_numbers, to_text_keys
from kldrift.kernels import first_at_least, lower_bounds, upper_bounds

__all__ = ["Index", "bin_categories", "bin_edges", "bin_index", "bin_values"]

Index = np.ndarray[Any, Any]
"""Each row's bin: an integer array (``int8`` for up to 126 bins, else ``intp``)."""
_FEW = 16
"""Bounds or values up to which a compare per bound beats a binary search per row."""


def bin_edges(x: np.ndarray[Any, Any], edges: np.ndarray[Any, Any]) -> Index:
    """Each value's bin among ``(-inf, e1), [e1, e2), …, [ek, +inf), null``: :func:`~kldrift.kernels.count_edges`'s."""
    k = len(edges)
    thr = first_at_least(lower_bounds(edges), x.dtype)
    out: Index
    if k <= _FEW:  # the bounds a value reaches, counted one compare at a time (as the kernel counts)
        out = np.zeros(len(x), np.int8)
        for t in thr:
            out += x >= t
    else:  # NaN sorts last: its bin is set below
        out = np.searchsorted(thr, x, side="right")
    if x.dtype.kind == "f":
        out[np.isnan(x)] = k + 1
    return out


def bin_values(x: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> Index:
    """Each value's bin among ``values`` (ascending), ``other``, ``null``: :func:`~kldrift.kernels.count_values`'s."""
    m = len(values)
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(x), m, np.intp)
    if not m:
        pass
    elif x.dtype.kind in "iu" and _small_integers(values):  # a table from value to bin, the rest "other"
        lo, span = int(values[0]), int(values[-1] - values[0])
        lut = np.full(span + 3, m, np.int8 if m < 126 else np.intp)  # [below, lo .. lo + span, above]
        lut[values.astype(np.int64) - lo + 1] = np.arange(m)
        out = lut[np.clip(x, lo - 1, lo + span + 1) - (lo - 1)]
    elif x.dtype.kind in "iu":
        pos = np.minimum(np.searchsorted(values, x), m - 1)
        hit = values[pos] == x
        out[hit] = pos[hit]
    else:
        finite = np.flatnonzero(np.isfinite(values))
        if len(finite):
            v = values[finite]
            bounds = np.empty(2 * len(v), dtype=x.dtype)
            bounds[0::2] = first_at_least(lower_bounds(v), x.dtype)
            bounds[1::2] = first_at_least(np.nextafter(upper_bounds(v), np.inf), x.dtype)
            pos = np.searchsorted(bounds, x, side="right")
            inside = (pos & 1).astype(bool)
            out[inside] = finite[pos[inside] >> 1]
        for i in np.flatnonzero(~np.isfinite(values)):  # ±inf: only themselves
            out[x == values[i]] = i
    if x.dtype.kind == "f":
        out[np.isnan(x)] = m + 1
    return out


def _small_integers(values: np.ndarray[Any, Any]) -> bool:
    """Whether ``values`` (ascending) are whole numbers within 65,536 of each other (and of int64's range)."""
    return (
        bool(np.all(values == np.round(values)))
        and abs(values[0]) < 2.0**62
        and abs(values[-1]) < 2.0**62
        and values[-1] - values[0] <= 1 << 16
    )


def bin_categories(arr: pa.Array | pa.ChunkedArray, categories: pa.Array) -> Index:
    """Each value's bin among ``categories``, ``other``, ``null``: :func:`~kldrift.kernels.count_categories`'s."""
    m = len(categories)
    parts = []
    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if pa.types.is_null(chunk.type):
            parts.append(np.full(len(chunk), m + 1, np.intp))
            continue
        if pa.types.is_string_view(chunk.type):
            chunk = chunk.cast(pa.string())
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        keys = to_text_keys(chunk.dictionary)
        lut = pc.index_in(keys, value_set=categories).fill_null(m).to_numpy(zero_copy_only=False).astype(np.intp)
        if keys.null_count:  # a null inside the dictionary is a null value
            lut[np.asarray(keys.is_null().to_numpy(zero_copy_only=False), bool)] = m + 1
        lut = np.append(lut, m + 1)  # null rows
        idx = pc.fill_null(chunk.indices.cast(pa.int64()), len(keys)).to_numpy(zero_copy_only=False)
        parts.append(lut[idx])
    if not parts:
        return np.zeros(0, np.intp)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def bin_index(feature: FeatureSpec, arr: pa.Array | pa.ChunkedArray) -> Index:
    """The bin of every value of the column ``arr`` in ``feature``'s bins."""
    if feature.kind == "categorical":
        return bin_categories(arr, pa.array(list(feature.categories), pa.string()))
    x = to_numbers(arr, native=True)
    if feature.values is not None:
        return bin_values(x, np.asarray(feature.values, dtype=np.float64))
    return bin_edges(x, np.asarray(feature.edges, dtype=np.float64))
