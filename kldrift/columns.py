"""Column kinds and the conversions every step shares.

* *number*: integers, floats, decimals → float64 / int64 numpy values.
* *temporal*: timestamps (any unit, any time zone), dates → int64 microseconds
  since the Unix epoch, UTC. Mixed time zones therefore compare correctly.
* *category*: strings, dictionaries of strings, booleans → their text.

Nulls and NaN are the same thing to kldrift: both land in the null bin.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "Domain",
    "domain_of",
    "to_numbers",
    "to_text_counts",
]

Domain = Literal["number", "temporal", "category", "null"]


def domain_of(t: pa.DataType) -> Domain | None:
    """The kind of values a column holds, or ``None`` when kldrift cannot bin it."""
    if pa.types.is_dictionary(t):
        return domain_of(t.value_type)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "temporal"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_boolean(t):
        return "category"
    if pa.types.is_null(t):
        return "null"  # an all-null column: fits numbers
    return None


def _decoded(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        return arr.dictionary_decode()
    return arr


def to_numbers(arr: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """Numeric view of a column: float64 (NaN for null) or int64 when there are no nulls.

    Temporal values become int64 microseconds since the epoch (UTC).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    arr = _decoded(arr)
    t = arr.type
    if pa.types.is_null(t):
        return np.full(len(arr), np.nan)
    if pa.types.is_decimal(t) or pa.types.is_float16(t):
        arr = pc.cast(arr, pa.float64())
    elif pa.types.is_timestamp(t):
        arr = pc.cast(arr, pa.timestamp("us", tz=t.tz), safe=False).view(pa.int64())
    elif pa.types.is_date32(t):
        arr = pc.multiply(pc.cast(arr.view(pa.int32()), pa.int64()), 86_400_000_000)
    elif pa.types.is_date64(t):
        arr = pc.multiply(arr.view(pa.int64()), 1000)
    elif pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        arr = pc.cast(arr, pa.float64())
    if arr.null_count:
        # Nulls become NaN in Arrow's own kernels: Array.to_numpy with nulls goes through
        # pyarrow's pandas conversion, which imports pandas (seconds) in every process.
        if not pa.types.is_floating(arr.type):
            arr = pc.cast(arr, pa.float64())
        arr = pc.fill_null(arr, float("nan"))
    values = arr.to_numpy(zero_copy_only=False)
    if values.dtype.kind in "iu" and values.dtype != np.int64:
        values = values.astype(np.int64)
    elif values.dtype.kind == "f" and values.dtype != np.float64:
        values = values.astype(np.float64)
    return values


def to_text_counts(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray[Any, Any], int]:
    """Distinct non-null values of a column as text, their counts, and the null count.

    Dictionary arrays are counted on their indices (no string is decoded per
    row); booleans become ``"true"`` / ``"false"``.
    """
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    values: list[pa.Array] = []
    counts: list[np.ndarray[Any, Any]] = []
    nulls = 0
    for chunk in chunks:
        nulls += chunk.null_count
        if pa.types.is_string_view(chunk.type):  # Arrow has no filter/value_counts kernel for views
            chunk = chunk.cast(pa.string())
        if pa.types.is_dictionary(chunk.type):
            nd = len(chunk.dictionary)
            idx = chunk.indices
            if chunk.null_count:
                idx = pc.fill_null(idx, nd)
            binc = np.bincount(idx.to_numpy(zero_copy_only=False), minlength=nd + 1)[:nd]
            dictionary = chunk.dictionary
            if pa.types.is_string_view(dictionary.type):
                dictionary = dictionary.cast(pa.string())
            if dictionary.null_count:  # a null inside the dictionary is a null value
                is_null = np.asarray(dictionary.is_null().to_numpy(zero_copy_only=False), bool)
                nulls += int(binc[is_null].sum())
                keep = ~is_null
                binc, dictionary = binc[keep], dictionary.filter(pa.array(keep))
            keep_nz = binc > 0
            values.append(_as_text(dictionary.filter(pa.array(keep_nz))))
            counts.append(binc[keep_nz].astype(np.int64))
        else:
            if pa.types.is_null(chunk.type):
                continue
            vc = pc.value_counts(chunk.drop_null()) if chunk.null_count else pc.value_counts(chunk)
            values.append(_as_text(vc.field("values")))
            counts.append(vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64))
    if not values:
        return pa.array([], pa.string()), np.zeros(0, np.int64), nulls
    if len(values) == 1:
        return values[0], counts[0], nulls
    table = pa.table({"v": pa.concat_arrays(values), "c": np.concatenate(counts)})
    agg = table.group_by("v").aggregate([("c", "sum")])
    return agg.column("v").combine_chunks(), agg.column("c_sum").to_numpy().astype(np.int64), nulls


def _as_text(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_floating(t):
        # repr-like text, so 1.0 stays "1.0" and the same value always gives the same text
        return pa.array([None if v is None else repr(float(v)) for v in arr.to_pylist()], pa.string())
    return pc.cast(arr, pa.string())
