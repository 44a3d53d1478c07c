"""Segments: slices of the rows by the values of a few columns, chosen once on the reference.

A :class:`SegmentSpec` is what ``segments:`` fits, with the bins: the most frequent value
combinations of its ``columns`` in the reference (up to ``max``), each a :class:`Segment` of its
own, and one more, ``(other)``, that pools the rest (rare combinations, and values the reference
never had). :class:`Coder` gives every row of a batch its segment's index, so one pass over the
data counts every feature per segment (:mod:`kldrift.segcount`).

Values are compared as text, as categories are (:func:`~kldrift.columns.to_text_keys`): an integer
``3`` is the value ``"3"``, ``true`` is ``"true"``, and a null is a value of its own (``null`` in JSON).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kldrift.columns import domain_of, to_text_keys
from kldrift.errors import ConfigError, KLDriftError, SchemaError
from kldrift.scan import Scan

__all__ = ["OTHER", "SEEN_VALUES", "Coder", "Segment", "SegmentSpec", "choose_segments", "parse_segment"]

OTHER = "(other)"
"""The value every column shows for the pooled segment; a real value spelled so is pooled too."""
SEEN_VALUES = 2_000
"""Distinct values of a segment column the profile keeps, to tell a new value from a pooled one."""
_DENSE = 1 << 22
"""Largest key space of a multi-column segment mapped through a dense table (else a binary search)."""

Key = tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    """One slice of the rows: a value per segment column (``None``: null), or the pool of the rest."""

    columns: tuple[str, ...]
    values: Key
    other: bool = False
    """The pooled segment: value combinations without a segment of their own."""

    def to_json(self) -> dict[str, str | None]:
        """``{"origin": "EWR"}``; the pooled segment has ``"(other)"`` for every column."""
        return {c: OTHER if self.other else v for c, v in zip(self.columns, self.values, strict=True)}

    @classmethod
    def from_json(cls, data: Any) -> Segment:
        if not isinstance(data, Mapping) or not data:
            raise KLDriftError(f"a segment is an object of column: value, got {data!r}")
        columns = tuple(str(k) for k in data)
        values = tuple(None if v is None else str(v) for v in data.values())
        if all(v == OTHER for v in values):
            return cls(columns, (None,) * len(columns), other=True)
        return cls(columns, values)

    @property
    def label(self) -> str:
        """``origin=EWR``, ``origin=EWR, carrier=UA``, ``(other)``; a null value is ``null``."""
        if self.other:
            return OTHER
        return ", ".join(f"{c}={'null' if v is None else v}" for c, v in zip(self.columns, self.values, strict=True))

    def matches(self, want: Mapping[str, str | None]) -> bool:
        """Whether the segment has these values (``{"origin": "EWR"}`` matches every EWR combination)."""
        mine = self.to_json()
        return all(c in mine and mine[c] == v for c, v in want.items())


def parse_segment(texts: Sequence[str]) -> dict[str, str | None]:
    """``["origin=EWR", "carrier=UA"]`` (``kldrift history --segment``) as ``{"origin": "EWR", ...}``;
    ``other`` (or ``COLUMN=(other)``) is the pooled segment, ``COLUMN=null`` a null value."""
    out: dict[str, str | None] = {}
    for text in texts:
        if text in ("other", OTHER):
            out["*"] = OTHER
            continue
        column, eq, value = text.partition("=")
        if not eq or not column:
            raise ConfigError(f"--segment: expected COLUMN=VALUE (origin=EWR) or other, got {text!r}")
        out[column] = None if value == "null" else value
    return out


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """The segments of a profile: the value combinations with a segment of their own, most frequent first,
    then ``(other)``; and per column the reference's values (to tell a new value from a pooled one)."""

    columns: tuple[str, ...]
    values: tuple[Key, ...]
    seen: tuple[Key | None, ...] = ()
    """Per column, every value the reference holds (``None``: more than :data:`SEEN_VALUES`)."""
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        if not self.columns or any(len(v) != len(self.columns) for v in self.values):
            raise KLDriftError("malformed segments: each segment needs one value per column")
        if len(set(self.values)) != len(self.values):
            raise KLDriftError("malformed segments: a value combination is listed twice")
        if not self.seen:
            object.__setattr__(self, "seen", (None,) * len(self.columns))
        object.__setattr__(self, "fingerprint", _digest([list(self.columns), [list(v) for v in self.values]]))

    @property
    def n(self) -> int:
        """Segments, ``(other)`` included."""
        return len(self.values) + 1

    @property
    def segments(self) -> tuple[Segment, ...]:
        """Every segment, in order: the chosen combinations, then ``(other)`` (index ``n - 1``)."""
        other = Segment(self.columns, (None,) * len(self.columns), other=True)
        return (*(Segment(self.columns, v) for v in self.values), other)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "values": [list(v) for v in self.values],
            "seen": [None if s is None else list(s) for s in self.seen],
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentSpec:
        try:
            spec = cls(
                tuple(str(c) for c in data["columns"]),
                tuple(tuple(None if x is None else str(x) for x in v) for v in data["values"]),
                tuple(None if s is None else tuple(None if x is None else str(x) for x in s) for s in data["seen"]),
            )
        except (KeyError, TypeError) as exc:
            raise KLDriftError(f"malformed segments: {type(exc).__name__}: {exc}") from None
        if data.get("fingerprint") not in (None, spec.fingerprint):
            raise KLDriftError("malformed segments: their fingerprint does not match their values")
        return spec


# --- each row's segment -----------------------------------------------------------------------------


def _encoded(arr: pa.Array) -> tuple[pa.Array, np.ndarray[Any, Any]]:
    """A chunk as (its distinct values, each row's position among them; nulls at ``len(values)``)."""
    if pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    dictionary = arr.dictionary
    idx = pc.fill_null(arr.indices.cast(pa.int64()), len(dictionary))
    return dictionary, idx.to_numpy(zero_copy_only=False)


def _row_keys(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Every row's value of a segment column as text (nulls stay null)."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = []
    for chunk in chunks:
        dictionary, idx = _encoded(chunk)
        keys = to_text_keys(dictionary)
        out.append(pa.concat_arrays([keys, pa.nulls(1, pa.string())]).take(pa.array(idx)))
    return pa.concat_arrays(out) if out else pa.array([], pa.string())


class Coder:
    """Each row's segment index (``spec.n - 1`` for ``(other)``), batch by batch, and the rows of values
    the reference never had (per column, value → rows)."""

    def __init__(self, spec: SegmentSpec) -> None:
        self.spec = spec
        self.other = spec.n - 1
        k = len(spec.columns)
        # Per column, the values of the chosen combinations, each a code; "none of them" is the last code.
        self.known: list[dict[str | None, int]] = [{} for _ in range(k)]
        for combo in spec.values:
            for i, v in enumerate(combo):
                self.known[i].setdefault(v, len(self.known[i]))
        self.seen = [None if s is None else set(s) for s in spec.seen]
        self.radix = [1] * k
        for i in range(1, k):
            self.radix[i] = self.radix[i - 1] * (len(self.known[i - 1]) + 1)
        space = self.radix[-1] * (len(self.known[-1]) + 1)
        keys = [sum(self.known[i][v] * self.radix[i] for i, v in enumerate(combo)) for combo in spec.values]
        self.dense: np.ndarray[Any, Any] | None = None
        if k == 1 or space <= _DENSE:
            self.dense = np.full(space, self.other, np.intp)
            self.dense[keys] = np.arange(len(keys))
        order = np.argsort(np.asarray(keys, np.int64), kind="stable")
        self.sorted_keys = np.asarray(keys, np.int64)[order]
        self.sorted_index = order.astype(np.intp)

    def codes(self, batch: Any, new: dict[str, dict[str | None, int]] | None = None) -> np.ndarray[Any, Any]:
        """The segment index of every row of ``batch``; rows of values the reference never had are added
        to ``new`` (column → value → rows) when given."""
        key: np.ndarray[Any, Any] | None = None
        for i, column in enumerate(self.spec.columns):
            code = self._column(i, batch.column(column), new)
            key = code * self.radix[i] if key is None else key + code * self.radix[i]
        assert key is not None
        if self.dense is not None:
            return self.dense[key]
        pos = np.minimum(np.searchsorted(self.sorted_keys, key), max(len(self.sorted_keys) - 1, 0))
        if not len(self.sorted_keys):
            return np.full(len(key), self.other, np.intp)
        hit = self.sorted_keys[pos] == key
        return np.where(hit, self.sorted_index[pos], self.other)

    def _column(
        self, i: int, arr: pa.Array | pa.ChunkedArray, new: dict[str, dict[str | None, int]] | None
    ) -> np.ndarray[Any, Any]:
        known, none = self.known[i], len(self.known[i])
        seen = self.seen[i]
        parts = []
        for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
            dictionary, idx = _encoded(chunk)
            keys = [*to_text_keys(dictionary).to_pylist(), None]  # the last: null rows
            lut = np.fromiter((known.get(k, none) for k in keys), np.intp, len(keys))
            parts.append(lut[idx])
            if new is not None and seen is not None:
                fresh = [j for j, k in enumerate(keys) if k not in seen]
                rows = np.bincount(idx, minlength=len(keys)) if fresh else np.zeros(0, np.int64)
                for j in (j for j in fresh if rows[j]):  # a dictionary may hold values no row has
                    mine = new.setdefault(self.spec.columns[i], {})
                    mine[keys[j]] = mine.get(keys[j], 0) + int(rows[j])
        if not parts:
            return np.zeros(0, np.intp)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


# --- choosing the segments on the reference -----------------------------------------------------------

_COUNT = "__rows"


def _check_columns(scan: Scan, columns: Sequence[str]) -> None:
    for c in columns:
        if c not in scan.schema.names:
            where = f"reference {scan.description} (segments.columns)"
            raise SchemaError.missing_column(c, scan.schema.names, where=where)
        t = scan.schema.field(c).type
        if domain_of(t) not in ("category", "number", "temporal", "null"):
            msg = f"segments.columns: column {c!r} is {t}; segment by strings, integers, booleans or dates"
            raise ConfigError(msg)


def choose_segments(scan: Scan, columns: Sequence[str], maximum: int) -> SegmentSpec:
    """The ``maximum`` most frequent value combinations of ``columns`` in ``scan`` (ties: by value),
    read in one pass over those columns only."""
    _check_columns(scan, columns)
    names = [f"c{i}" for i in range(len(columns))]
    parts: list[pa.Table] = []
    pending = 0

    def merged() -> pa.Table:
        table = pa.concat_tables(parts)
        return table.group_by(names, use_threads=False).aggregate([(_COUNT, "sum")]).rename_columns([*names, _COUNT])

    for batch in scan.batches(list(columns)):
        table = pa.table({n: _row_keys(batch.column(c)) for n, c in zip(names, columns, strict=True)})
        agg = table.group_by(names, use_threads=False).aggregate([([], "count_all")])
        parts.append(agg.rename_columns([*names, _COUNT]))
        pending += agg.num_rows
        if len(parts) > 64 or pending > 1 << 20:
            parts, pending = [merged()], 0
    if not parts:
        return SegmentSpec(tuple(columns), ())
    total = merged()
    counts = total.column(_COUNT).to_numpy()
    combos = list(zip(*(total.column(n).to_pylist() for n in names), strict=True))
    order = sorted(range(len(combos)), key=lambda j: (-int(counts[j]), [(v is not None, v or "") for v in combos[j]]))
    chosen = [combos[j] for j in order if OTHER not in combos[j]][:maximum]
    seen: list[Key | None] = []
    for n in names:
        values = pc.unique(total.column(n)).to_pylist()
        seen.append(
            tuple(sorted(values, key=lambda v: (v is not None, v or ""))) if len(values) <= SEEN_VALUES else None
        )
    return SegmentSpec(tuple(columns), tuple(tuple(c) for c in chosen), tuple(seen))
