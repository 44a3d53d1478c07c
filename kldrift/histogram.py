"""Counting batches into a spec's bins, as mergeable histograms.

A :class:`Histogram` holds, for every feature of a :class:`~kldrift.binning.BinSpec`,
one int64 count vector (layout in :mod:`kldrift.binning`), the number of rows
counted, and the features that could not be counted (with why). It has a zero,
``Histogram.zero(spec)``, and an associative ``+`` that refuses histograms of
different specs, so counting the parts of a dataset (files, shards, Airflow
map tasks) and adding them gives exactly the counts of the whole.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from kldrift.binning import BinSpec, FeatureSpec
from kldrift.columns import arrow_texts, domain_of, to_numbers
from kldrift.errors import KLDriftError
from kldrift.files import Batch
from kldrift.kernels import CategoryCounter, EdgeCounter, count_categories, count_edges, count_values
from kldrift.scan import Scan

__all__ = ["Counter", "Histogram", "count", "count_categories", "count_edges", "count_values"]

Counts = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True, eq=False)
class Histogram:
    """Per-feature bin counts of some rows, for one bin spec."""

    fingerprint: str
    rows: int
    counts: Mapping[str, Counts]
    errors: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def zero(cls, spec: BinSpec) -> Histogram:
        """The histogram of no rows: the identity of ``+``."""
        return cls(spec.fingerprint, 0, {f.name: np.zeros(f.n_bins, np.int64) for f in spec.features}, {})

    def __add__(self, other: Histogram) -> Histogram:
        if not isinstance(other, Histogram):
            return NotImplemented
        if other.fingerprint != self.fingerprint:
            msg = (
                f"cannot merge histograms of different bin specs ({self.fingerprint} and "
                f"{other.fingerprint}); count both with the same profile"
            )
            raise KLDriftError(msg)
        if self.counts.keys() != other.counts.keys() or any(
            len(v) != len(other.counts[k]) for k, v in self.counts.items()
        ):
            raise KLDriftError("cannot merge histograms: their features or bin counts differ (corrupt partial counts?)")
        counts = {k: v + other.counts[k] for k, v in self.counts.items()}
        errors = dict(self.errors)
        for k, v in other.errors.items():
            errors.setdefault(k, v)  # first message wins: keeps + associative
        return Histogram(self.fingerprint, self.rows + other.rows, counts, errors)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (
            self.fingerprint == other.fingerprint
            and self.rows == other.rows
            and dict(self.errors) == dict(other.errors)
            and self.counts.keys() == other.counts.keys()
            and all(np.array_equal(v, other.counts[k]) for k, v in self.counts.items())
        )

    __hash__ = None  # type: ignore[assignment]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (lists of ints): small enough for an Airflow XCom."""
        return {
            "fingerprint": self.fingerprint,
            "rows": self.rows,
            "counts": {k: v.tolist() for k, v in self.counts.items()},
            "errors": dict(self.errors),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Histogram:
        try:
            return cls(
                str(data["fingerprint"]),
                int(data["rows"]),
                {str(k): np.asarray(v, dtype=np.int64) for k, v in data["counts"].items()},
                {str(k): str(v) for k, v in data.get("errors", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KLDriftError(f"malformed partial counts: {exc}") from None


def _compatible(feature: FeatureSpec, t: pa.DataType) -> str | None:
    """Why current data of type ``t`` cannot be counted into ``feature``, or ``None``."""
    dom = domain_of(t)
    if dom == "null" or feature.domain == "null":
        return None if dom in ("null", "number") or feature.domain == dom else _type_changed(feature, t)
    if dom is None or dom != feature.domain:
        return _type_changed(feature, t)
    return None


def _type_changed(feature: FeatureSpec, t: pa.DataType) -> str:
    return (
        f"type changed: column {feature.name!r} is {t} in the current data but was "
        f"{feature.source_type} ({feature.domain}) in the reference"
    )


def _counter_for(feature: FeatureSpec) -> Callable[[pa.ChunkedArray | pa.Array], Counts]:
    if feature.kind == "categorical":
        return CategoryCounter(arrow_texts(feature.categories))
    if feature.values is not None:
        values = np.asarray(feature.values, dtype=np.float64)
        return lambda arr: count_values(to_numbers(arr, native=True), values)
    counter = EdgeCounter(feature.edges)
    return lambda arr: counter(to_numbers(arr, native=True))


class Counter:
    """Accumulates batches of one source into a :class:`Histogram` of ``spec``.

    Columns missing from the source or of an incompatible type are recorded as
    errors for their feature (the others are still counted).
    """

    def __init__(self, spec: BinSpec, schema: pa.Schema, *, where: str = "current data") -> None:
        self.spec = spec
        self.rows = 0
        self.errors: dict[str, str] = {}
        self.totals = {f.name: np.zeros(f.n_bins, np.int64) for f in spec.features}
        self.plans: list[tuple[str, Callable[[Any], Counts]]] = []
        for f in spec.features:
            if f.name not in schema.names:
                self.errors[f.name] = f"column {f.name!r} is missing from the {where}"
                continue
            why = _compatible(f, schema.field(f.name).type)
            if why:
                self.errors[f.name] = why
                continue
            self.plans.append((f.name, _counter_for(f)))

    @property
    def columns(self) -> list[str]:
        return [name for name, _ in self.plans]

    def exclude(self, name: str, why: str) -> None:
        """Do not count feature ``name``: it is an error, with ``why`` as its message."""
        if name in self.totals and name not in self.errors:
            self.plans = [p for p in self.plans if p[0] != name]
            self.errors[name] = why

    def add(
        self,
        batch: pa.RecordBatch,
        pool: ThreadPoolExecutor | None = None,
        *,
        columns: Collection[str] | None = None,
        new_rows: bool = True,
    ) -> None:
        """Count a batch; with ``columns``, only those features (a column group of a wide
        scan), and ``new_rows=False`` when these rows were already counted for other columns."""
        self.add_counts(self.counts_of(batch, pool, columns=columns), batch.num_rows if new_rows else 0)

    def counts_of(
        self, batch: Batch, pool: ThreadPoolExecutor | None = None, *, columns: Collection[str] | None = None
    ) -> list[tuple[str, Counts]]:
        """The counts of one batch, per feature (of ``columns``), not added: thread-safe."""

        def one(plan: tuple[str, Callable[[Any], Counts]]) -> tuple[str, Counts]:
            name, fn = plan
            return name, fn(batch.column(name))

        plans = self.plans if columns is None else [p for p in self.plans if p[0] in columns]
        return list(pool.map(one, plans) if pool else map(one, plans))

    def add_counts(self, counts: Iterable[tuple[str, Counts]], rows: int) -> None:
        """Add :meth:`counts_of`'s result for ``rows`` new rows (0: rows already counted for other columns)."""
        for name, c in counts:
            self.totals[name] += c
        self.rows += rows

    def histogram(self) -> Histogram:
        return Histogram(self.spec.fingerprint, self.rows, dict(self.totals), dict(self.errors))


def workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def count(
    spec: BinSpec, scan: Scan, *, where: str = "current data", on_batch: Callable[[int], None] | None = None
) -> Histogram:
    """Histogram of every row of ``scan`` in the bins of ``spec``."""
    counter = Counter(spec, scan.schema, where=where)
    for name, (path, t) in scan.conflicts.items():
        want = scan.schema.field(name).type
        counter.exclude(name, f"type changed: column {name!r} is {t} in {path} but {want} in the {where}'s other files")
    for name, path in scan.duplicates.items():
        counter.exclude(name, f"{path} has several columns named {name!r}")
    with ThreadPoolExecutor(workers()) as pool:
        for i, group in enumerate(scan.column_groups(counter.columns)):
            # a whole row group is counted on the reader thread that decoded it; glued ones on the pool
            on_reader = functools.partial(_counts_of, counter, set(group), None)
            here = functools.partial(_counts_of, counter, set(group), pool)
            for rows, counts in scan.map_batches(group, on_reader, here):
                counter.add_counts(counts, rows if i == 0 else 0)
                if on_batch and i == 0:
                    on_batch(rows)
    if not counter.columns:
        counter.rows = scan.count_rows()
    return counter.histogram()


def _counts_of(
    counter: Counter, columns: Collection[str], pool: ThreadPoolExecutor | None, batch: Batch, _row0: int | None
) -> list[tuple[str, Counts]]:
    """:meth:`Counter.counts_of` as :meth:`Scan.map_batches` calls it (counts do not depend on the rows' place)."""
    return counter.counts_of(batch, pool, columns=columns)
