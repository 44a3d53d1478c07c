"""Column kinds and the conversions every step shares: values, not physical types.

* *number*: integers of any width, floats (16/32/64), decimals → float64 /
  int64 numpy values. A float32 or float16 value becomes the float64 of its
  shortest decimal (``numpy.float32(0.1)`` → ``0.1``; a whole number stays
  itself), and so does a float64 that is exactly a float32 value (a float32
  column written back as float64: ``float(numpy.float32(0.1))``); a decimal
  becomes its exact quotient. So the same values written with another physical
  type land in the same bins, whichever side holds the wider type.
* *temporal*: timestamps (any unit, any time zone), dates → int64 microseconds
  since the Unix epoch, UTC: instants, so mixed units and time zones compare.
* *duration*: durations (any unit) → microseconds; *time*: times of day → microseconds after midnight.
* *category*: strings (plain, large, views, dictionaries, duplicate dictionary
  entries included), booleans → their text.

Nulls and NaN are the same thing to kldrift: both land in the null bin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kldrift.floats import POW10, read_float32_roundings

__all__ = [
    "Domain",
    "arrow_mask",
    "arrow_texts",
    "dictionary_texts",
    "domain_of",
    "numpy_values",
    "sum_by_value",
    "text_forms",
    "to_numbers",
    "to_text_counts",
    "to_text_keys",
]

Domain = Literal["number", "temporal", "duration", "time", "category", "null"]

_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}
_FIXED_WIDTH = {
    t: np.dtype(t.to_pandas_dtype())
    for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64())
} | {pa.float16(): np.dtype(np.float16), pa.float32(): np.dtype(np.float32), pa.float64(): np.dtype(np.float64)}


def domain_of(t: pa.DataType) -> Domain | None:
    """The kind of values a column holds, or ``None`` when kldrift cannot bin it."""
    if pa.types.is_dictionary(t):
        return domain_of(t.value_type)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "temporal"
    if pa.types.is_duration(t):
        return "duration"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_boolean(t):
        return "category"
    if pa.types.is_null(t):
        return "null"  # an all-null column: fits numbers
    return None


def _decoded(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        return arr.dictionary_decode()
    return arr


def _decimal_values(arr: pa.Array) -> pa.Array | np.ndarray[Any, Any]:
    """Decimal values as exact quotients ``unscaled / 10**scale`` where Arrow's cast is off by an ulp."""
    t = arr.type
    if not (pa.types.is_decimal128(t) and t.precision <= 15 and 0 <= t.scale <= 15):
        return pc.cast(arr, pa.float64(), safe=False)
    # decimal128 stores 16-byte little-endian integers; values of <= 15 digits fit the low 8 bytes
    # (sign-extended), and are exact as doubles, so one division is correctly rounded.
    raw = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=2 * (arr.offset + len(arr)))
    unscaled = raw[2 * arr.offset :: 2].astype(np.float64)
    values = unscaled / POW10[t.scale]
    mask = _null_mask(arr)
    if mask is not None:
        values[mask] = np.nan
    return values


def _to_micros(arr: pa.Array, unit: str) -> pa.Array:
    """Microseconds (int64; float64 where that would overflow) of a timestamp / duration / time array."""
    raw = arr.view(pa.int64()) if arr.type.bit_width == 64 else pc.cast(arr.view(pa.int32()), pa.int64())
    if unit == "ns":
        # floor, not Arrow's truncation toward zero: an instant before 1970 stays in its microsecond
        x = pc.fill_null(raw, 0).to_numpy(zero_copy_only=False) // 1000
        return pa.array(x, mask=_null_mask(raw))
    scale = _MICROS[unit]
    if scale == 1:
        return raw
    try:
        return pc.multiply_checked(raw, scale)
    except pa.ArrowInvalid:  # seconds holding nanosecond epochs, say: compare as (inexact) doubles
        return pc.multiply(pc.cast(raw, pa.float64(), safe=False), float(scale))


def _null_mask(arr: pa.Array) -> np.ndarray[Any, Any] | None:
    """Which rows of ``arr`` are null (``None``: none), from its validity bitmap (least significant bit first)."""
    if not arr.null_count:
        return None
    bits = np.frombuffer(arr.buffers()[0], np.uint8)
    return ~np.unpackbits(bits, count=arr.offset + len(arr), bitorder="little")[arr.offset :].view(bool)


def to_numbers(arr: pa.Array | pa.ChunkedArray, *, native: bool = False) -> np.ndarray[Any, Any]:
    """Numeric view of a column: float64 (NaN for null) or int64 when there are no nulls.

    Temporal values become int64 microseconds since the epoch (UTC); durations
    and times of day, microseconds. float32 / float16 values become the doubles
    of their shortest decimals, and so do float64 values that are exactly
    float32 values (:func:`read_float32_roundings`); with ``native``, both stay
    as they are (the counting kernels compare them in their own type, to the
    same effect).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    arr = _decoded(arr)
    t = arr.type
    if pa.types.is_null(t):
        return np.full(len(arr), np.nan)
    if pa.types.is_decimal(t):
        dec = _decimal_values(arr)
        if isinstance(dec, np.ndarray):
            return dec
        arr = dec
    elif pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_time(t):
        arr = _to_micros(arr, t.unit)
    elif pa.types.is_date32(t):
        arr = pc.multiply(pc.cast(arr.view(pa.int32()), pa.int64()), 86_400_000_000)
    elif pa.types.is_date64(t):
        arr = pc.multiply(arr.view(pa.int64()), 1000)
    elif pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        arr = pc.cast(arr, pa.float64(), safe=False)  # hashes above 2**63: doubles, approximately
    values = numpy_values(arr)  # nulls as NaN; ids above 2**53 with nulls: the nearest doubles
    if values.dtype.kind in "iu" and values.dtype != np.int64:
        values = values.astype(np.int64)
    elif values.dtype.kind == "f" and not native:
        values = read_float32_roundings(values)
    return values


def numpy_values(arr: pa.Array, fill: int | None = None) -> np.ndarray[Any, Any]:
    """``arr.to_numpy(zero_copy_only=False)``, numbers read from their buffers: without nulls a view, with
    nulls a float copy holding NaN for them (or a copy of their own type holding ``fill``). pyarrow's
    conversion (and ``fill_null``, whose scalar argument goes through ``pyarrow.scalar``) imports pandas
    on its first call: 0.15 s in every process."""
    dtype = _FIXED_WIDTH.get(arr.type)
    if dtype is None:
        return arr.to_numpy(zero_copy_only=False)
    data = arr.buffers()[1]
    values = np.frombuffer(data, dtype, count=arr.offset + len(arr))[arr.offset :] if data else np.zeros(0, dtype)
    if not arr.null_count:
        return values
    out = values.astype(np.float64 if dtype.kind in "iu" and fill is None else dtype)  # a copy: Arrow's are read-only
    out[_null_mask(arr)] = np.nan if fill is None else fill
    return out


def arrow_mask(mask: np.ndarray[Any, Any]) -> pa.BooleanArray:
    """A numpy bool array as an Arrow one, built from its bits: ``pyarrow.array`` imports pandas (0.15 s)."""
    bits = np.packbits(np.asarray(mask, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])


def arrow_texts(texts: Sequence[str]) -> pa.StringArray:
    """Python strings as an Arrow string array, built from their UTF-8 bytes (see :func:`arrow_mask`)."""
    data = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(data) + 1, np.int64)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    large = pa.Array.from_buffers(
        pa.large_string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    )
    return large.cast(pa.string())


def to_text_counts(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray[Any, Any], int]:
    """Distinct non-null values of a column as text, their counts, and the null count.

    Dictionary arrays are counted on their indices (no string is decoded per
    row); a dictionary that holds a value twice counts it once. Booleans become
    ``"true"`` / ``"false"``.
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
            text = _as_text(dictionary.filter(pa.array(keep_nz)))
            values.append(text)
            counts.append(binc[keep_nz].astype(np.int64))
            if pc.count_distinct(text).as_py() < len(text):  # ('a', 'a', 'b'): a legal, unusual dictionary
                values[-1], counts[-1] = sum_by_value([values[-1]], [counts[-1]])
        else:
            if pa.types.is_null(chunk.type):
                continue
            vc = pc.value_counts(chunk.drop_null()) if chunk.null_count else pc.value_counts(chunk)
            values.append(_as_text(vc.field("values")))
            counts.append(vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64))
    if not values:
        return pa.array([], pa.string()), np.zeros(0, np.int64), nulls
    if len(values) == 1:
        v, c = values[0], counts[0]
    else:
        v, c = sum_by_value(values, counts)
    return (*_text_keys(v, c), nulls)


LONG_TEXT = 256
"""Texts longer than this (characters) are compared by a digest: a 1 MB value must not become a 1 MB bin label."""


def _text_keys(values: pa.Array, counts: np.ndarray[Any, Any]) -> tuple[pa.Array, np.ndarray[Any, Any]]:
    """Distinct texts as kldrift compares them (see :func:`text_forms`), counts of texts that became
    the same summed."""
    values, changed = text_forms(values)
    if changed and pc.count_distinct(values).as_py() < len(values):
        values, counts = sum_by_value([values], [counts])
    return values, counts


def text_forms(values: pa.Array) -> tuple[pa.Array, bool]:
    """Each text as kldrift compares it, and whether any changed: bytes that are not UTF-8 shown as
    escapes (``caf\\xe9``), a text over :data:`LONG_TEXT` characters as its head and a digest. Element
    by element (nulls stay null), so two texts may become the same."""
    changed = False
    try:
        values.validate(full=True)
    except pa.ArrowInvalid:  # a writer put Latin-1 (or any bytes) in a string column
        raw = values.cast(pa.binary()).to_pylist()
        values = pa.array([None if b is None else b.decode("utf-8", "backslashreplace") for b in raw], pa.string())
        changed = True
    if len(values) and (pc.max(pc.utf8_length(values)).as_py() or 0) > LONG_TEXT:
        texts = values.to_pylist()
        values = pa.array([_key(t) if t is not None and len(t) > LONG_TEXT else t for t in texts], pa.string())
        changed = True
    return values, changed


def dictionary_texts(dictionary: pa.Array) -> tuple[pa.Array, np.ndarray[Any, Any]]:
    """A dictionary's entries as the texts kldrift compares (:func:`text_forms`), and which entries are null.

    Entry by entry, so a dictionary array is counted on its indices alone: entry ``i``'s rows are
    the rows of ``texts[i]`` (null where ``is_null[i]``).
    """
    if pa.types.is_string_view(dictionary.type):
        dictionary = dictionary.cast(pa.string())
    is_null = np.zeros(len(dictionary), bool)
    if dictionary.null_count:
        is_null = np.asarray(dictionary.is_null().to_numpy(zero_copy_only=False), bool)
    return text_forms(_as_text(dictionary))[0], is_null


def _key(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{text[:64]}… ({len(text):,} characters, sha256 {digest})"


def sum_by_value(values: list[pa.Array], counts: list[np.ndarray[Any, Any]]) -> tuple[pa.Array, np.ndarray[Any, Any]]:
    """Distinct values of the concatenated ``values`` and their summed ``counts``."""
    encoded = pa.concat_arrays(values).dictionary_encode()  # distinct values in order of first appearance
    if encoded.null_count:
        raise ValueError("sum_by_value: values without nulls expected")
    total = np.zeros(len(encoded.dictionary), np.int64)
    np.add.at(total, numpy_values(encoded.indices), np.concatenate(counts).astype(np.int64))
    return encoded.dictionary, total


def _as_text(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_floating(t):
        # repr-like text of the value as kldrift reads it, so 1.0 stays "1.0", and float32(0.1) and
        # its float64 copy are both "0.1"
        read = to_numbers(arr).tolist()
        valid = arr.is_valid().to_pylist()
        return pa.array([repr(float(r)) if ok else None for ok, r in zip(valid, read, strict=True)], pa.string())
    return pc.cast(arr, pa.string())


def to_text_keys(arr: pa.Array) -> pa.Array:
    """Each value of ``arr`` (not a dictionary array) as the text :func:`to_text_counts` counts it under,
    value by value and in place (nulls stay null): what a row's category or segment value is.

    >>> to_text_keys(pa.array([True, None, False])).to_pylist()
    ['true', None, 'false']
    """
    if pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    text = _as_text(arr)
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:  # bytes that are not UTF-8, shown as escapes (as to_text_counts does)
        raw = text.cast(pa.binary()).to_pylist()
        text = pa.array([None if b is None else b.decode("utf-8", "backslashreplace") for b in raw], pa.string())
    if len(text) and (pc.max(pc.utf8_length(text)).as_py() or 0) > LONG_TEXT:
        text = pa.array([t if t is None or len(t) <= LONG_TEXT else _key(t) for t in text.to_pylist()], pa.string())
    return text
