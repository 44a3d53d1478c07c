"""Counting per segment in one pass: every feature's bins, per segment, as mergeable counts.

A :class:`SegmentedHistogram` holds, per feature, one ``segments x bins`` int64 matrix, the rows of
each segment, and the values of the segment columns the reference never had (they are counted in
``(other)`` and listed). Like :class:`~kldrift.histogram.Histogram` it has a zero and an associative
``+`` that refuses counts of other bins or other segments, so Airflow's shards merge as before; the
sum over segments is the whole table's histogram (:meth:`SegmentedHistogram.whole`).

Memory is ``segments x bins`` per feature (8 bytes a count: 51 segments x 50 features x 12 bins is
240 KiB) plus, while a batch is counted, one bin index per row for each feature being counted
(``8 x batch rows`` bytes per thread): never the rows themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kldrift.binindex import bin_index
from kldrift.binning import BinSpec, FeatureSpec
from kldrift.errors import KLDriftError
from kldrift.histogram import Counter, Histogram, workers
from kldrift.scan import Scan
from kldrift.segments import Coder, SegmentSpec

__all__ = ["NEW_VALUES", "SegmentCounter", "SegmentedHistogram", "count_segments"]

Matrix = np.ndarray[Any, np.dtype[np.int64]]
NewValues = Mapping[str, Mapping[str | None, int]]

NEW_VALUES = 100
"""New values listed per segment column: the first by text (so that merging shards keeps the same ones,
with their whole counts); ``new_rows`` counts the rows of all of them."""


def _order(v: str | None) -> tuple[bool, str]:
    return v is not None, v or ""


def _merge_new(a: NewValues, b: NewValues) -> dict[str, dict[str | None, int]]:
    out: dict[str, dict[str | None, int]] = {}
    for column in sorted({*a, *b}):
        both: dict[str | None, int] = dict(a.get(column, {}))
        for v, n in b.get(column, {}).items():
            both[v] = both.get(v, 0) + n
        # The NEW_VALUES first by text: the same whichever shards merged first, and never a partial count.
        out[column] = {v: both[v] for v in sorted(both, key=_order)[:NEW_VALUES]}
    return out


@dataclass(frozen=True, slots=True, eq=False)
class SegmentedHistogram:
    """Per-feature bin counts of some rows, per segment (rows of the matrices: the spec's segments in order)."""

    fingerprint: str
    """The bin spec's."""
    segments: str
    """The segment spec's fingerprint."""
    rows: tuple[int, ...]
    counts: Mapping[str, Matrix]
    errors: Mapping[str, str] = field(default_factory=dict)
    new: NewValues = field(default_factory=dict)
    """Per segment column, values the reference never had (at most :data:`NEW_VALUES`) and their rows."""
    new_rows: Mapping[str, int] = field(default_factory=dict)
    """Per segment column, the rows of every value the reference never had."""
    problem: str = ""
    """Why rows could not be told apart by segment (a segment column missing): all counted in ``(other)``."""

    @classmethod
    def zero(cls, spec: BinSpec, segments: SegmentSpec) -> SegmentedHistogram:
        """The counts of no rows: the identity of ``+``."""
        counts = {f.name: np.zeros((segments.n, f.n_bins), np.int64) for f in spec.features}
        return cls(spec.fingerprint, segments.fingerprint, (0,) * segments.n, counts)

    @property
    def n(self) -> int:
        return len(self.rows)

    def __add__(self, other: SegmentedHistogram) -> SegmentedHistogram:
        if not isinstance(other, SegmentedHistogram):
            return NotImplemented
        if (other.fingerprint, other.segments) != (self.fingerprint, self.segments):
            msg = (
                f"cannot merge counts of different bins or segments ({self.fingerprint}/{self.segments} and "
                f"{other.fingerprint}/{other.segments}); count both with the same profile"
            )
            raise KLDriftError(msg)
        if self.counts.keys() != other.counts.keys() or any(
            v.shape != other.counts[k].shape for k, v in self.counts.items()
        ):
            raise KLDriftError("cannot merge segment counts: their features or shapes differ (corrupt partial counts?)")
        errors = dict(self.errors)
        for k, v in other.errors.items():
            errors.setdefault(k, v)  # first message wins: keeps + associative
        new_rows = {
            c: self.new_rows.get(c, 0) + other.new_rows.get(c, 0) for c in sorted({*self.new_rows, *other.new_rows})
        }
        return SegmentedHistogram(
            self.fingerprint,
            self.segments,
            tuple(a + b for a, b in zip(self.rows, other.rows, strict=True)),
            {k: v + other.counts[k] for k, v in self.counts.items()},
            errors,
            _merge_new(self.new, other.new),
            new_rows,
            self.problem or other.problem,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SegmentedHistogram):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def whole(self) -> Histogram:
        """The whole table's histogram: the sum over segments."""
        counts = {k: v.sum(axis=0) for k, v in self.counts.items()}
        return Histogram(self.fingerprint, sum(self.rows), counts, dict(self.errors))

    def part(self, i: int) -> Histogram:
        """Segment ``i``'s histogram (its row of every matrix)."""
        return Histogram(
            self.fingerprint, self.rows[i], {k: v[i].copy() for k, v in self.counts.items()}, dict(self.errors)
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (lists of ints): an Airflow XCom of about 6 bytes a count."""
        return {
            "fingerprint": self.fingerprint,
            "segments": self.segments,
            "rows": list(self.rows),
            "counts": {k: v.tolist() for k, v in self.counts.items()},
            "errors": dict(self.errors),
            "new": {c: [[v, n] for v, n in values.items()] for c, values in self.new.items()},
            "new_rows": dict(self.new_rows),
            "problem": self.problem,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentedHistogram:
        try:
            rows = tuple(int(r) for r in data["rows"])
            counts = {str(k): np.asarray(v, dtype=np.int64).reshape(len(rows), -1) for k, v in data["counts"].items()}
            return cls(
                str(data["fingerprint"]),
                str(data["segments"]),
                rows,
                counts,
                {str(k): str(v) for k, v in data.get("errors", {}).items()},
                {
                    str(c): {None if v is None else str(v): int(n) for v, n in pairs}
                    for c, pairs in data.get("new", {}).items()
                },
                {str(c): int(n) for c, n in data.get("new_rows", {}).items()},
                str(data.get("problem", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KLDriftError(f"malformed partial segment counts: {exc}") from None


Plan = tuple[str, Callable[[Any], Any], FeatureSpec]


def _encodable(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t)


class SegmentCounter:
    """Accumulates batches into a :class:`SegmentedHistogram`: every feature per segment, in one pass.

    Each feature's rows get their bins (:func:`~kldrift.binindex.bin_index`) and one ``bincount`` of
    ``segment x bins + bin`` counts all segments; the kernel's own count of the batch checks the sum,
    and where they differ the batch is counted segment by segment with the kernel. With ``parity``,
    even and odd rows (``row0`` is the batch's first row) are counted apart: the reference's odd rows
    are what the G-test compares with where categories were chosen on its even rows.
    """

    def __init__(
        self,
        spec: BinSpec,
        segments: SegmentSpec,
        schema: pa.Schema,
        *,
        where: str = "current data",
        parity: bool = False,
    ) -> None:
        self.spec, self.segments = spec, segments
        self.inner = Counter(spec, schema, where=where)
        self.features = {f.name: f for f in spec.features}
        self.parity = parity
        self.n = segments.n * (2 if parity else 1)
        self.totals = {f.name: np.zeros((self.n, f.n_bins), np.int64) for f in spec.features}
        self.rows = np.zeros(self.n, np.int64)
        self.new: dict[str, dict[str | None, int]] = {}
        missing = [c for c in segments.columns if c not in schema.names]
        self.problem = f"segment column {missing[0]!r} is missing from the {where}" if missing else ""
        self.coder = Coder(segments)

    @property
    def columns(self) -> list[str]:
        return self.inner.columns

    def read(self, group: Collection[str]) -> list[str]:
        """The columns to read for a group of feature columns: the group and the segment columns."""
        extra = [] if self.problem else [c for c in self.segments.columns if c not in group]
        return [*group, *extra]

    def add(
        self,
        batch: pa.RecordBatch,
        pool: ThreadPoolExecutor | None = None,
        *,
        columns: Collection[str] | None = None,
        new_rows: bool = True,
        row0: int = 0,
    ) -> None:
        """Count a batch (``columns``: only those features; ``new_rows=False``: rows already counted)."""
        n = batch.num_rows
        if self.problem:
            codes = np.full(n, self.segments.n - 1, np.intp)
        else:
            codes = self.coder.codes(batch, self.new if new_rows else None)
        if self.parity:
            codes = codes * 2 + ((row0 + np.arange(n)) & 1)
        plans = [(name, fn, self.features[name]) for name, fn in self.inner.plans if columns is None or name in columns]
        bases = {nb: codes * nb for nb in {p[2].n_bins for p in plans}}  # each row's first cell, per bin count

        def one(plan: Plan) -> tuple[str, Matrix]:
            return self._one(plan, batch, bases[plan[2].n_bins])

        done = pool.map(one, plans) if pool else map(one, plans)
        for name, counts in done:
            self.totals[name] += counts
        if new_rows:
            self.rows += np.bincount(codes, minlength=self.n)
            self.inner.rows += n

    def _one(self, plan: Plan, batch: pa.RecordBatch, base: np.ndarray[Any, Any]) -> tuple[str, Matrix]:
        """One feature of a batch per segment; ``base`` is each row's segment times the feature's bin count."""
        name, fn, feature = plan
        column = batch.column(name)
        if feature.kind == "categorical" and _encodable(column.type):
            column = pc.dictionary_encode(column)  # hashed once: the kernel and the bins read its indices
        nb = feature.n_bins
        whole = fn(column)
        counts = np.bincount(base + bin_index(feature, column), minlength=self.n * nb).reshape(self.n, nb)
        if not np.array_equal(counts.sum(axis=0), whole):  # the kernel reads some value otherwise: count as it does
            counts = np.zeros((self.n, nb), np.int64)
            codes = base // nb
            order = np.argsort(codes, kind="stable")
            taken = column.take(pa.array(order))
            bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=self.n))))
            for i in np.flatnonzero(np.diff(bounds)):
                counts[i] = fn(taken.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i])))
        return name, counts

    def histograms(self) -> tuple[SegmentedHistogram, SegmentedHistogram | None]:
        """The counts per segment, and with ``parity`` those of the odd rows alone."""
        new = {c: {v: values[v] for v in sorted(values, key=_order)[:NEW_VALUES]} for c, values in self.new.items()}
        new_rows = {c: sum(values.values()) for c, values in self.new.items()}
        errors = dict(self.inner.errors)
        fp, sfp = self.spec.fingerprint, self.segments.fingerprint
        if not self.parity:
            rows = tuple(int(r) for r in self.rows)
            return SegmentedHistogram(fp, sfp, rows, dict(self.totals), errors, new, new_rows, self.problem), None
        both = SegmentedHistogram(
            fp,
            sfp,
            tuple(int(a + b) for a, b in zip(self.rows[0::2], self.rows[1::2], strict=True)),
            {k: v[0::2] + v[1::2] for k, v in self.totals.items()},
            errors,
            new,
            new_rows,
            self.problem,
        )
        odd = SegmentedHistogram(
            fp, sfp, tuple(int(r) for r in self.rows[1::2]), {k: v[1::2].copy() for k, v in self.totals.items()}, errors
        )
        return both, odd


def count_segments(
    spec: BinSpec,
    segments: SegmentSpec,
    scan: Scan,
    *,
    where: str = "current data",
    parity: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[SegmentedHistogram, SegmentedHistogram | None]:
    """Every row of ``scan`` counted in the bins of ``spec`` per segment of ``segments`` (and with ``parity``,
    its odd rows apart): one read of the features and the segment columns."""
    counter = SegmentCounter(spec, segments, scan.schema, where=where, parity=parity)
    for name, (path, t) in scan.conflicts.items():
        want = scan.schema.field(name).type
        counter.inner.exclude(
            name, f"type changed: column {name!r} is {t} in {path} but {want} in the {where}'s other files"
        )
    for name, path in scan.duplicates.items():
        counter.inner.exclude(name, f"{path} has several columns named {name!r}")
    with ThreadPoolExecutor(workers()) as pool:
        for i, group in enumerate(scan.column_groups(counter.columns)):
            row0 = 0
            for batch in scan.batches(counter.read(group)):
                counter.add(batch, pool, columns=set(group), new_rows=i == 0, row0=row0)
                row0 += batch.num_rows
                if on_batch and i == 0:
                    on_batch(batch.num_rows)
    return counter.histograms()
