"""Bins fitted on the reference only: cut points, discrete values or categories.

A :class:`FeatureSpec` fixes, for one column, the bins every later period is
counted into; a :class:`BinSpec` is the set of them with a fingerprint.

Layout of a feature's count vector (always ends with the null bin):

* continuous numeric, cut points ``e1 < … < ek``:
  ``(-inf, e1), [e1, e2), …, [ek, +inf), null`` — left-closed, outer bins
  open, so every value (±inf included) lands somewhere;
* discrete numeric (at most ``binning.discrete_max_values`` distinct
  reference values): one bin per value, ``other``, ``null``;
* categorical: the ``binning.max_categories`` most frequent reference
  categories, ``other``, ``null``.

Fitting streams the reference once, keeping per column a bounded systematic
sample (for quantile cut points), exact min/max, exact value counts while a
column has few distinct values, and exact category counts. When the sample is
the whole column (up to ``binning.sample_size`` rows), cut points are the
exact ``numpy.quantile`` values.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from kldrift.columns import Domain, domain_of, to_numbers, to_text_counts
from kldrift.config import Settings
from kldrift.errors import ProfileError, SchemaError
from kldrift.kernels import TOLERANCE, count_edges, count_sorted, count_values
from kldrift.roles import ColumnInfo, ColumnPlan, ColumnStats, classify, is_calendar_name, plan_columns
from kldrift.scan import Scan

__all__ = [
    "BinSpec",
    "ColumnPlan",
    "FeatureSpec",
    "Fitter",
    "point_bin",
    "quantile_edges",
    "sample_per_column",
    "select_features",
]

log = logging.getLogger(__name__)

Kind = Literal["numeric", "categorical"]
NULL_LABEL = "null"
OTHER_LABEL = "other"


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return f"{x:.6g}"


def _num_to_json(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else ("-inf" if x < 0 else "nan"))


def _num_from_json(x: float | str) -> float:
    return float(x)


def point_bin(lo: float, hi: float) -> bool:
    """Whether ``[lo, hi)`` is the bin of one value (see :func:`_point_edges`)."""
    return math.isfinite(lo) and math.isfinite(hi) and hi <= _point_edges(lo)[1]


def _point_edges(v: float) -> tuple[float, float]:
    """Cut points of a bin that holds ``v`` and values within the counting tolerance of it."""
    width = abs(v) * TOLERANCE * 2 if v else 0.0
    upper = v + width
    return v, float(upper) if upper > v and math.isfinite(upper) else float(np.nextafter(v, math.inf))


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """The bins of one feature, fitted on the reference."""

    name: str
    kind: Kind
    domain: str
    """``number``, ``temporal`` or ``category``: what current data must hold to be counted."""
    edges: tuple[float, ...] = ()
    """Cut points of a continuous numeric feature."""
    values: tuple[float, ...] | None = None
    """The distinct values of a discrete numeric feature (sorted); ``None`` when continuous."""
    categories: tuple[str, ...] = ()
    source_type: str = ""

    @property
    def discrete(self) -> bool:
        return self.kind == "numeric" and self.values is not None

    @property
    def n_bins(self) -> int:
        """Length of the count vector, null bin included."""
        if self.kind == "categorical":
            return len(self.categories) + 2
        if self.values is not None:
            return len(self.values) + 2
        return len(self.edges) + 2

    def labels(self) -> list[str]:
        """Readable bin names: ``"[1.5, 3.2)"``, ``"null"``, ``"other"``, category names."""
        if self.kind == "categorical":
            return [*self.categories, OTHER_LABEL, NULL_LABEL]
        if self.values is not None:
            return [*(self._value_label(v) for v in self.values), OTHER_LABEL, NULL_LABEL]
        bounds = [-math.inf, *self.edges, math.inf]
        out = []
        point: float | None = None  # the value of the point bin just before, if any
        for lo, hi in itertools.pairwise(bounds):
            if point_bin(lo, hi):  # a bin of one value (a constant, a heavy value)
                out.append(self._value_label(lo))
                point = lo
                continue
            left = "(" if math.isinf(lo) or point is not None else "["
            a, b = self._value_label(lo if point is None else point), self._value_label(hi)
            point = None
            if a == b:  # a bin narrower than 6 digits show: full precision
                a, b = repr(float(lo)), repr(float(hi))
            out.append(f"{left}{a}, {b})")
        return [*out, NULL_LABEL]

    def _value_label(self, v: float) -> str:
        if self.domain in ("temporal", "duration", "time") and math.isfinite(v):
            import datetime as dt

            try:
                delta = dt.timedelta(microseconds=v)
                if self.domain == "temporal":
                    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + delta).isoformat().replace("+00:00", "Z")
            except OverflowError:  # beyond year 9999: say the number
                return _fmt(v)
            return str(delta)  # a duration or a time of day: 1:30:00
        if float(v).is_integer() and abs(v) < 1e15:
            return str(int(v))
        return _fmt(v)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "domain": self.domain, "source_type": self.source_type}
        if self.kind == "categorical":
            out["categories"] = list(self.categories)
        elif self.values is not None:
            out["values"] = [_num_to_json(v) for v in self.values]
        else:
            out["edges"] = [_num_to_json(v) for v in self.edges]
        return out

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> FeatureSpec:
        try:
            kind = data["kind"]
            if kind not in ("numeric", "categorical"):
                raise ValueError(f"unknown kind {kind!r}")
            values = data.get("values")
            return cls(
                name=name,
                kind=kind,
                domain=str(data.get("domain", "category" if kind == "categorical" else "number")),
                edges=tuple(_num_from_json(v) for v in data.get("edges", ())),
                values=None if values is None else tuple(_num_from_json(v) for v in values),
                categories=tuple(str(c) for c in data.get("categories", ())),
                source_type=str(data.get("source_type", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"feature {name!r}: malformed bin spec: {exc}") from None


@dataclass(frozen=True, slots=True)
class BinSpec:
    """The fitted bins of every feature, in column order, with a fingerprint."""

    features: tuple[FeatureSpec, ...]
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", self.compute_fingerprint())

    def compute_fingerprint(self) -> str:
        # The bins only: the same data read as pandas (large_string, nullable ints) fits the same spec.
        payload = [[f.name, {k: v for k, v in f.to_json().items() if k != "source_type"}] for f in self.features]
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def __getitem__(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise SchemaError.missing_column(name, self.names(), where="binning spec")

    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_json(self) -> dict[str, Any]:
        return {f.name: f.to_json() for f in self.features}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], fingerprint: str = "") -> BinSpec:
        spec = cls(tuple(FeatureSpec.from_json(n, d) for n, d in data.items()))
        if fingerprint and spec.fingerprint != fingerprint:
            raise ProfileError(
                f"bin spec fingerprint {spec.fingerprint} does not match the recorded {fingerprint}; "
                "the profile was edited or is corrupt"
            )
        return spec


def select_features(scan: Scan, settings: Settings) -> ColumnPlan:
    """The reference columns of ``scan`` sorted by what fitting does with them (see :func:`plan_columns`)."""
    problems = {n: f"mixed types in the reference: {t} in {path}" for n, (path, t) in scan.conflicts.items()}
    problems.update({n: f"{path} has several columns named {n!r}" for n, path in scan.duplicates.items()})
    return plan_columns(
        scan.schema,
        settings,
        partition_columns=scan.partition_columns,
        problems=problems,
        where=f"reference {scan.description}",
    )


_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_MAX_PERIODS = 1 << 20
"""Distinct days / hours a temporal column's coverage keeps count of before it stops."""


class _TimeFit:
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


class _NumericFit:
    """Pass-one state of one numeric column."""

    __slots__ = (
        "buffer",
        "counts",
        "discrete",
        "discrete_even",
        "edges",
        "even_nulls",
        "filled",
        "increasing",
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
        self.last: int | None = None

    def add(self, x: np.ndarray[Any, Any], row0: int) -> None:
        n = len(x)
        self.n += n
        if self.counts is not None:
            self.counts += count_edges(x, self.edges)  # type: ignore[arg-type]
        if self.increasing:
            self._track_increasing(x)
        # Systematic sample: global rows 0, stride, 2*stride, ... (every row when stride is 1).
        take = x[(-row0) % self.stride :: self.stride] if self.stride > 1 else x
        even = x[row0 % 2 :: 2] if self.discrete is not None else None
        if x.dtype.kind == "f":
            nan = np.isnan(x)
            nnan = int(np.count_nonzero(nan))
            if nnan:
                self.nulls += nnan
                x = x[~nan]
                take = x if self.stride == 1 else take[~np.isnan(take)]
        if self.buffer is not None and self.filled + len(take) <= len(self.buffer):
            self.buffer[self.filled : self.filled + len(take)] = take
            self.filled += len(take)
        else:
            self.sample.append(np.array(take, dtype=np.float64, copy=True))
        if len(x) == 0:
            return
        lo, hi = float(x.min()), float(x.max())
        if math.isinf(lo) or math.isinf(hi):  # rare: only then pay for a finite-only copy
            finite = x[np.isfinite(x)]
            lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (math.inf, -math.inf)
        self.vmin, self.vmax = min(self.vmin, lo), max(self.vmax, hi)
        if self.discrete is not None and even is not None:
            self._track_discrete(x, lo, hi)
            if self.discrete is not None:
                if even.dtype.kind == "f":
                    nan = np.isnan(even)
                    self.even_nulls += int(np.count_nonzero(nan))
                    even = even[~nan]
                u, c = np.unique(even, return_counts=True)
                for v, k in zip(u.tolist(), c.tolist(), strict=True):
                    self.discrete_even[float(v)] = self.discrete_even.get(float(v), 0) + int(k)

    def _track_increasing(self, x: np.ndarray[Any, Any]) -> None:
        if x.dtype.kind not in "iu":  # floats (and integers with nulls, read as floats) are never keys by order
            self.increasing = False
            return
        if not len(x):
            return
        head = x[:65]  # cheap early exit for the usual unordered column
        if (self.last is not None and int(x[0]) <= self.last) or not bool(np.all(head[1:] > head[:-1])):
            self.increasing = False
            return
        self.increasing = bool(np.all(x[1:] > x[:-1]))
        self.last = int(x[-1])

    def _track_discrete(self, x: np.ndarray[Any, Any], lo: float, hi: float) -> None:
        limit = self.max_discrete
        if x.dtype.kind in "iu" and hi - lo < 1 << 16:
            base = x.min()  # an exact integer (a float of INT64_MAX would overflow int64)
            binc = np.bincount(x - base)
            nz = np.flatnonzero(binc)
            u, c = nz + base, binc[nz]
        else:
            # Cheap early exit: a head of the batch already has too many values.
            if len(x) > 4096 and len(np.unique(x[:4096])) > limit:
                self.discrete = None
                return
            u, c = np.unique(x, return_counts=True)
        if len(u) > limit:
            self.discrete = None
            return
        d = self.discrete
        assert d is not None
        for v, k in zip(u.tolist(), c.tolist(), strict=True):
            d[float(v)] = d.get(float(v), 0) + int(k)
        if len(d) > limit:
            self.discrete = None

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

        Distinct values are counted only for a column that could be a key (``keys``: integers), and
        integrality checked only for a calendar field's name: both cost a pass over the values.
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
            if calendar:
                finite = ordered[np.isfinite(ordered)]
                integral = bool(len(finite)) and bool(np.all(finite == np.floor(finite)))
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


class _CategoryFit:
    """Pass-one state of one categorical column: exact counts per category, for even and odd rows.

    Categories are chosen on the even rows; when that leaves some in "other",
    the G-test compares the current data with the odd rows only, which took no
    part in the choice: a category picked *because* it was frequent in the
    very rows it is then compared with looks, in every later period, rarer
    (regression to the mean), and the test would call that drift.
    """

    __slots__ = ("halves", "n", "nulls")

    def __init__(self) -> None:
        self.halves = (_Totals(), _Totals())
        self.nulls = 0
        self.n = 0

    def add(self, arr: pa.Array | pa.ChunkedArray, row0: int) -> None:
        self.n += len(arr)
        if pa.types.is_string_view(arr.type):  # Arrow cannot take from views
            arr = arr.cast(pa.string())
        first = row0 % 2  # the batch's first row is global row row0: even rows go to half 0
        for half, start in ((self.halves[first], 0), (self.halves[1 - first], 1)):
            part = arr[start::2] if len(arr) > start else arr[0:0]
            self.nulls += half.add(part)

    def totals(self, half: int | None = None) -> tuple[pa.Array, np.ndarray[Any, Any]]:
        """Distinct values and their counts: of one half (0 even rows, 1 odd rows) or of all rows."""
        if half is not None:
            return self.halves[half].totals()
        merged = _Totals()
        for h in self.halves:
            merged.parts.extend(h.parts)
        return merged.totals()


class _Totals:
    """Counts per distinct text value, merged lazily."""

    __slots__ = ("nulls", "parts", "pending")

    def __init__(self) -> None:
        self.parts: list[tuple[pa.Array, np.ndarray[Any, Any]]] = []
        self.pending = 0
        self.nulls = 0

    def add(self, arr: pa.Array | pa.ChunkedArray) -> int:
        values, counts, nulls = to_text_counts(arr)
        self.nulls += nulls
        if len(values):
            self.parts.append((values, counts))
            self.pending += len(values)
        if len(self.parts) > 64 or self.pending > 1 << 20:
            self.parts = [self.totals()]
            self.pending = len(self.parts[0][0])
        return nulls

    def totals(self) -> tuple[pa.Array, np.ndarray[Any, Any]]:
        if not self.parts:
            return pa.array([], pa.string()), np.zeros(0, np.int64)
        if len(self.parts) == 1:
            return self.parts[0]
        table = pa.table(
            {
                "v": pa.concat_arrays([p[0] for p in self.parts]),
                "c": np.concatenate([p[1] for p in self.parts]),
            }
        )
        agg = table.group_by("v").aggregate([("c", "sum")])
        return agg.column("v").combine_chunks(), agg.column("c_sum").to_numpy().astype(np.int64)


@dataclass(frozen=True, slots=True)
class FitResult:
    """What :meth:`Fitter.finish` produces."""

    spec: BinSpec
    counts: dict[str, np.ndarray[Any, Any]]
    """Reference counts known without another pass, by feature."""
    test_counts: dict[str, np.ndarray[Any, Any]]
    """Odd-row reference counts, per bin, of the features whose G-test compares against the odd rows."""
    test_pool: dict[str, tuple[int, ...]]
    """Per such feature, the bins the G-test pools into one: "other" and values the even rows never saw."""
    columns: tuple[ColumnInfo, ...]
    """Every reference column with its role, scored or not, in the reference's order."""
    coverage: dict[str, tuple[int | None, int | None]]
    """Distinct (days, hours) each timestamp column covers."""


class Fitter:
    """Streams reference batches once and produces the :class:`BinSpec`.

    Call :meth:`add_column` for every column of every batch (columns may go to
    threads), then :meth:`finish`. Counts of categorical, discrete and
    explicit-edge features come out of the same pass, and of continuous ones
    when every value was kept or the pilot's cut points held; the rest need a
    counting pass.
    """

    def __init__(
        self,
        plan: ColumnPlan,
        settings: Settings,
        total_rows: int,
        pilot: Mapping[str, tuple[float, ...]] | None = None,
        *,
        pandas_index: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.columns = list(plan.fit)
        self.pandas_index = set(pandas_index)
        b = settings.binning
        self.numeric: dict[str, _NumericFit] = {}
        self.categorical: dict[str, _CategoryFit] = {}
        self.times: dict[str, _TimeFit] = {name: _TimeFit() for name, _ in plan.observe}
        self.domains: dict[str, str] = {}
        numeric_names = []
        for name, t in self.columns:
            dom: Domain | None = domain_of(t)
            forced = settings.column(name).kind
            self.domains[name] = "number" if dom in ("number", "null") else str(dom)
            if forced == "categorical" or dom == "category" or (dom is None and forced is None):
                self.categorical[name] = _CategoryFit()
            else:
                numeric_names.append(name)
        self.stride = sampling_stride(total_rows, len(numeric_names), b.sample_size)
        self.pilot = dict(pilot or {})
        for name in numeric_names:
            explicit = settings.column(name).edges
            if explicit is not None:
                self.numeric[name] = _NumericFit(self.stride, -1, tuple(explicit), capacity=total_rows)
            else:
                self.numeric[name] = _NumericFit(
                    self.stride, b.discrete_max_values, self.pilot.get(name), capacity=total_rows
                )

    @property
    def names(self) -> list[str]:
        """Every column a pass reads: the ones fitted and the timestamps observed."""
        return [n for n, _ in self.columns] + list(self.times)

    def numeric_quantile_columns(self) -> list[str]:
        """Numeric columns whose cut points are reference quantiles (candidates for a pilot)."""
        return [
            n
            for n in self.numeric
            if self.settings.column(n).edges is None
            and (self.settings.column(n).strategy or self.settings.binning.strategy) == "quantile"
        ]

    def add_column(self, name: str, arr: pa.Array | pa.ChunkedArray, row0: int) -> None:
        """Thread-safe per column: callers may fan columns of one batch out to threads."""
        if name in self.numeric:
            self.numeric[name].add(to_numbers(arr), row0)
        elif name in self.categorical:
            self.categorical[name].add(arr, row0)
        else:
            self.times[name].add(to_numbers(arr))

    def sample_is_complete(self) -> bool:
        return self.stride == 1

    def finish(self, pool: Executor | None = None) -> FitResult:
        """The fitted spec of the scored features, the reference counts known without another pass,
        and every column's role.

        Categorical and discrete features are always counted in pass one; the
        continuous ones too when every value was kept (stride 1). Each
        column's kept values are released as soon as it is done. Columns are
        finished on ``pool`` when given (numpy's sort releases the GIL).
        """
        done = list((pool.map if pool else map)(self._finish_column, self.columns))
        info = {i.name: i for _, _, _, i in done}
        for name, t in self.plan.observe:
            stats = self.times[name].stats()
            info[name] = classify(name, t, stats, self.settings, observed=True)
        info.update(self.plan.settled)
        scored = [(f, c, tc) for f, c, tc, i in done if i.scored]
        features = [f for f, _, _ in scored]
        counts = {f.name: c for f, c, _ in scored if c is not None}
        test_counts = {f.name: tc[0] for f, _, tc in scored if tc is not None}
        test_pool = {f.name: tc[1] for f, _, tc in scored if tc is not None}
        coverage = {n: (s.days, s.hours) for n, s in ((n, self.times[n].stats()) for n in self.times)}
        columns = tuple(info[n] for n in self.plan.order if n in info)
        return FitResult(BinSpec(tuple(features)), counts, test_counts, test_pool, columns, coverage)

    def _finish_column(self, column: tuple[str, pa.DataType]) -> tuple[FeatureSpec, Counts | None, _Test, ColumnInfo]:
        name, t = column
        pandas_index = name in self.pandas_index
        if name in self.categorical:
            f, counts, test_counts, stats = self._categorical(name, t)
            return f, counts, test_counts, classify(name, t, stats, self.settings, pandas_index=pandas_index)
        fit = self.numeric[name]
        values = fit.take_sample()
        # Sorted once (SIMD sort: ~4x faster than np.quantile's partition here), the quantiles
        # and the counts in any cut points come out of binary searches.
        values.sort()
        stats = fit.stats(values, keys=pa.types.is_integer(t), calendar=is_calendar_name(name))
        info = classify(name, t, stats, self.settings, pandas_index=pandas_index)
        f = self._numeric(name, t, values)
        if f.values is not None and fit.discrete is not None:
            merged, rep = _merge_close(fit.discrete)
            full = {v: merged.get(v, 0) for v in f.values}
            even: dict[float, int] = {}
            for v, k in fit.discrete_even.items():
                even[rep[v]] = even.get(rep[v], 0) + k
            c = np.array([*full.values(), 0, fit.nulls], np.int64)
            test = _split_test(list(full), full, even, fit.nulls - fit.even_nulls, self.settings, chosen=False)
            return f, c, test, info
        if fit.counts is not None and fit.edges is not None and f.edges == tuple(fit.edges.tolist()):
            return f, fit.counts, None, info  # counted exactly during the pass
        if self.stride == 1:
            c = (
                count_values(values, np.asarray(f.values))
                if f.values is not None
                else count_sorted(values, np.asarray(f.edges, dtype=np.float64))
            )
            c[-1] = fit.nulls
            return f, c, None, info
        return f, None, None, info

    def _categorical(self, name: str, t: pa.DataType) -> tuple[FeatureSpec, Counts, _Test, ColumnStats]:
        fit = self.categorical[name]
        b = self.settings.binning
        values, counts = fit.totals()
        full = dict(zip(values.to_pylist(), counts.tolist(), strict=True))
        even_values, even_counts = fit.totals(0)
        even = dict(zip(even_values.to_pylist(), even_counts.tolist(), strict=True))
        if len(full) <= b.max_categories:
            chosen = list(full)  # every category has a bin of its own
        else:
            # Chosen on the even rows: the most frequent, with enough support (doubled: half the rows).
            eligible = [v for v, k in even.items() if 2 * k >= b.min_category_count]
            eligible.sort(key=lambda v: (-even[v], v))
            chosen = eligible[: b.max_categories]
        chosen.sort(key=lambda v: (-full[v], v))  # shown most frequent first over all rows
        f = FeatureSpec(name, "categorical", self.domains[name], categories=tuple(chosen), source_type=str(t))
        c = self._category_counts(f, full, fit.nulls)
        test = _split_test(chosen, full, even, fit.halves[1].nulls, self.settings, chosen=len(chosen) < len(full))
        stats = ColumnStats(fit.n, fit.nulls, len(full), fit.n - fit.nulls)
        return f, c, test, stats

    @staticmethod
    def _category_counts(f: FeatureSpec, totals: Mapping[str, int], nulls: int) -> np.ndarray[Any, Any]:
        c = np.zeros(f.n_bins, np.int64)
        index = {v: i for i, v in enumerate(f.categories)}
        for v, k in totals.items():
            c[index.get(v, len(f.categories))] += k
        c[-1] = nulls
        return c

    def _numeric(self, name: str, t: pa.DataType, sample: np.ndarray[Any, Any]) -> FeatureSpec:
        fit = self.numeric[name]
        col = self.settings.column(name)
        dom = self.domains[name]
        if col.edges is not None:
            return FeatureSpec(name, "numeric", dom, edges=tuple(float(e) for e in col.edges), source_type=str(t))
        merged = _merge_close(fit.discrete)[0] if fit.discrete is not None else {}
        if merged and 2 * sum(k == 1 for k in merged.values()) <= len(merged):
            return FeatureSpec(name, "numeric", dom, values=tuple(sorted(merged)), source_type=str(t))
        bins = col.bins or self.settings.binning.bins
        strategy = col.strategy or self.settings.binning.strategy
        if strategy == "uniform":
            edges = _uniform_edges(fit.vmin, fit.vmax, bins)
        else:
            edges = quantile_edges(sample, bins, is_sorted=True)
            if fit.edges is not None and fit.counts is not None and _pilot_holds(fit.counts, fit.edges, sample, edges):
                edges = tuple(float(e) for e in fit.edges)
        if fit.vmin == fit.vmax and bins >= 2:
            # A constant reference: give its value a bin of its own, so that a column that
            # becomes non-constant (above or below) moves rows to another bin and can alert.
            edges = _point_edges(fit.vmin)
        return FeatureSpec(name, "numeric", dom, edges=edges, source_type=str(t))


Counts = np.ndarray[Any, np.dtype[np.int64]]
_Test = tuple[Counts, tuple[int, ...]] | None


def _split_test(
    values: Sequence[Any],
    full: Mapping[Any, int],
    even: Mapping[Any, int],
    odd_nulls: int,
    settings: Settings,
    *,
    chosen: bool,
) -> _Test:
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


def _merge_close(counts: Mapping[float, int]) -> tuple[dict[float, int], dict[float, float]]:
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


KEEP_ALL_VALUES = 40_000_000
"""Reference values (all numeric columns together, ~320 MiB) kept in memory to fit and
count in one pass; above it, fitting samples and counting reads the reference again."""
SAMPLE_VALUES = 16_000_000
"""Sampled values for all numeric columns together (~128 MiB) when not keeping all."""


def sampling_stride(total_rows: int, n_numeric: int, sample_size: int) -> int:
    """Keep every ``stride``-th reference row for cut points (1: keep every value).

    Every value is kept when the rows fit ``sample_size`` or all numeric
    values fit :data:`KEEP_ALL_VALUES`; else each column keeps about
    ``min(sample_size, SAMPLE_VALUES / n_numeric)`` values (at least 16384).
    """
    if total_rows <= sample_size or total_rows * max(1, n_numeric) <= KEEP_ALL_VALUES:
        return 1
    return max(1, -(-total_rows // sample_per_column(n_numeric, sample_size)))


def sample_per_column(n_numeric: int, sample_size: int) -> int:
    """Values each numeric column keeps when sampling: ``sample_size``, less for wide tables."""
    return max(16_384, min(sample_size, SAMPLE_VALUES // max(1, n_numeric)))


PILOT_TOLERANCE = 0.005
"""Largest gap (in reference mass) between a pilot's bins, counted exactly, and the sample's quantile bins."""


def _pilot_holds(
    counts: np.ndarray[Any, Any],
    pilot_edges: np.ndarray[Any, Any],
    sample: np.ndarray[Any, Any],
    edges: tuple[float, ...],
) -> bool:
    """Whether cut points from a pilot (a few row groups) bin the reference as its quantiles would.

    ``counts`` are the exact reference counts in the pilot's bins. They must
    match, bin for bin within :data:`PILOT_TOLERANCE`, the masses that the
    systematic sample's own quantile cut points ``edges`` give the sample. A
    pilot taken from row groups can miss on sorted or clustered data; then the
    caller counts the sample's cut points in a second pass instead.
    """
    valid = int(counts[:-1].sum())
    if len(pilot_edges) != len(edges) or valid == 0 or len(sample) == 0:
        return False
    exact = counts[:-1] / valid
    target = count_sorted(sample, np.asarray(edges, dtype=np.float64))[:-1] / len(sample)
    return bool(np.max(np.abs(exact - target)) <= PILOT_TOLERANCE)


def quantile_edges(sample: np.ndarray[Any, Any], bins: int, *, is_sorted: bool = False) -> tuple[float, ...]:
    """Interior cut points at the 1/bins … (bins-1)/bins quantiles, ties deduplicated, heavy values apart.

    The quantiles are ``numpy.quantile(sample, q)`` (its default, linear method),
    to the last bit (tested). A value that holds at least ``1/bins`` of the
    sample (the zeros of a zero-inflated column, a default value) gets a bin of
    its own, and the other values share the remaining bins by their own
    quantiles: otherwise its ties collapse cut points and a change among the
    other values (rain on 68 % of hours instead of 7 %) hides in a bin shared
    with it.
    """
    if len(sample) == 0 or bins < 2:
        return ()
    ordered = sample if is_sorted else np.sort(sample)
    edges = _plain_quantile_edges(ordered, bins)
    n = len(ordered)
    heavy = [v for v in edges if np.searchsorted(ordered, v, "right") - np.searchsorted(ordered, v, "left") >= n / bins]
    if not heavy:
        return edges
    rest = ordered[~np.isin(ordered, heavy)]
    points = [e for v in heavy for e in _point_edges(v)]
    inner = _plain_quantile_edges(rest, max(2, bins - len(heavy))) if len(rest) else ()
    return _dedupe(np.array(sorted({*points, *inner})))


def _plain_quantile_edges(ordered: np.ndarray[Any, Any], bins: int) -> tuple[float, ...]:
    qs = np.arange(1, bins) / bins
    with np.errstate(invalid="ignore"):
        edges = sorted_quantiles(ordered, qs)
    return _dedupe(np.unique(edges[np.isfinite(edges)]))


def _dedupe(edges: np.ndarray[Any, Any]) -> tuple[float, ...]:
    """Sorted cut points, less those within the counting tolerance of the previous one (an empty sliver
    of a bin); a point bin's upper cut point is kept."""
    if len(edges) > 1:
        with np.errstate(over="ignore"):  # the gap between -1e308 and 1e308 is inf, and far from close
            close = np.diff(edges) <= np.abs(edges[:-1]) * (2 * TOLERANCE)
        close &= np.array([not point_bin(a, b) for a, b in itertools.pairwise(edges.tolist())])
        edges = edges[np.concatenate(([True], ~close))]
    return tuple(float(e) for e in edges)


def sorted_quantiles(a: np.ndarray[Any, Any], qs: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``numpy.quantile(a, qs)`` (linear method) of an ascending, NaN-free ``a``, without its partition.

    The same operations as numpy's ``_quantile`` / ``_get_indexes`` / ``_lerp``
    in the same order, so the result is identical; on sorted data numpy's
    partition is pure overhead (as long as the sort itself).
    """
    n = len(a)
    virtual = (n - 1) * qs
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above] = -1
    following[above] = -1
    previous_i, following_i = previous.astype(np.intp), following.astype(np.intp)
    lo, hi = a[previous_i], a[following_i]
    gamma = np.asanyarray(virtual - previous_i, dtype=virtual.dtype)
    diff = hi - lo
    out = np.add(lo, diff * gamma)
    np.subtract(hi, diff * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe", dtype=out.dtype.type)
    return out


def _uniform_edges(vmin: float, vmax: float, bins: int) -> tuple[float, ...]:
    """Equal-width interior cut points over the reference's finite range."""
    if not (math.isfinite(vmin) and math.isfinite(vmax)) or vmax <= vmin or bins < 2:
        return ()
    width = (vmax - vmin) / bins
    edges = [vmin + width * j for j in range(1, bins)]
    return tuple(float(e) for e in np.unique(np.asarray(edges)))
