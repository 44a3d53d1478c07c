"""Bins fitted on the reference: what a feature's bins are, their labels, their JSON, their cut points.

A :class:`FeatureSpec` fixes, for one column, the bins every later period is
counted into; a :class:`BinSpec` is the set of them with a fingerprint.

Layout of a feature's count vector (always ends with the null bin):

* continuous numeric, cut points ``e1 < … < ek``:
  ``(-inf, e1), [e1, e2), …, [ek, +inf), null`` — left-closed, outer bins
  open, so every value (±inf included) lands somewhere; a value that holds a
  large share of the reference gets a bin of its own (:func:`point_bin`);
* discrete numeric (at most ``binning.discrete_max_values`` distinct
  reference values): one bin per value, ``other``, ``null``;
* categorical: the reference's categories (or the most frequent ones),
  ``other``, ``null``.

Fitting itself — the pass over the reference — is :mod:`kldrift.fitting`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from kldrift.errors import ProfileError, SchemaError
from kldrift.kernels import TOLERANCE, count_edges

__all__ = [
    "NULL_LABEL",
    "OTHER_LABEL",
    "BinSpec",
    "FeatureSpec",
    "point_bin",
    "point_edges",
    "quantile_edges",
    "sorted_quantiles",
    "uniform_edges",
]

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
    return math.isfinite(lo) and math.isfinite(hi) and hi <= point_edges(lo)[1]


def point_edges(v: float) -> tuple[float, float]:
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
        return list(_labels(self))  # cached: a run with segments asks once per segment

    def _labels(self) -> list[str]:
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


@functools.lru_cache(maxsize=4096)
def _labels(feature: FeatureSpec) -> tuple[str, ...]:
    return tuple(feature._labels())


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


def quantile_edges(
    sample: np.ndarray[Any, Any], bins: int, *, is_sorted: bool = False, overwrite_input: bool = False
) -> tuple[float, ...]:
    """Interior cut points at the 1/bins … (bins-1)/bins quantiles, ties deduplicated, heavy values apart.

    The quantiles are ``numpy.quantile(sample, q)`` (its default, linear method),
    to the last bit (tested). A value that holds at least ``1/bins`` of the
    sample (the zeros of a zero-inflated column, a default value) gets a bin of
    its own, and the other values share the remaining bins by their own
    quantiles: otherwise its ties collapse cut points and a change among the
    other values (rain on 68 % of hours instead of 7 %) hides in a bin shared
    with it.

    An unsorted ``sample`` is sorted first, in place with ``overwrite_input``: numpy's vectorised sort
    takes less time than ``numpy.partition`` at the 2 (bins - 1) order statistics the quantiles read
    (400,000 doubles, 10 bins: 4.4 ms against 10.8; an integer column's values, 1.4 against 9.6), and
    leaves the ties to binary searches.
    """
    if len(sample) == 0 or bins < 2:
        return ()
    if not is_sorted and overwrite_input:
        sample.sort()
    elif not is_sorted:
        sample = np.sort(sample)
    edges = _plain_quantile_edges(sample, bins)
    n = len(sample)

    def ties(v: float) -> int:
        return int(np.searchsorted(sample, v, "right") - np.searchsorted(sample, v, "left"))

    heavy = [v for v in edges if ties(v) >= n / bins]
    if not heavy:
        return edges
    rest = sample[~np.isin(sample, heavy)]
    points = [e for v in heavy for e in point_edges(v)]
    inner = _plain_quantile_edges(rest, max(2, bins - len(heavy))) if len(rest) else ()
    return _dedupe(np.array(sorted({*points, *inner})))


def integer_edges(edges: Sequence[float]) -> tuple[float, ...]:
    """Cut points of an integer column moved up to whole numbers; a point bin's cut points are kept.

    ``[2.5, 7.25)`` and ``[3, 8)`` hold the same integers, so an integer column's
    counts are the same either way, but its labels now say what the bin holds
    for any value, integer or not. Cut points that meet are merged.

    >>> integer_edges([2.5, 7.25, 7.5])
    (3.0, 8.0)
    """
    out: list[float] = []
    for i, e in enumerate(edges):
        keep = i > 0 and point_bin(edges[i - 1], e)  # the upper cut point of a point bin
        v = float(e) if keep or not math.isfinite(e) else float(math.ceil(e))
        if not out or v > out[-1]:
            out.append(v)
    return tuple(out)


def _plain_quantile_edges(a: np.ndarray[Any, Any], bins: int) -> tuple[float, ...]:
    """The 1/bins … (bins-1)/bins quantiles of the ascending ``a``, finite and deduplicated."""
    qs = np.arange(1, bins) / bins
    with np.errstate(invalid="ignore"):
        edges = sorted_quantiles(a, qs)
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


def uniform_edges(vmin: float, vmax: float, bins: int) -> tuple[float, ...]:
    """Equal-width interior cut points over the reference's finite range."""
    if not (math.isfinite(vmin) and math.isfinite(vmax)) or vmax <= vmin or bins < 2:
        return ()
    width = (vmax - vmin) / bins
    edges = [vmin + width * j for j in range(1, bins)]
    return tuple(float(e) for e in np.unique(np.asarray(edges)))


PILOT_TOLERANCE = 0.005
"""Largest gap (in reference mass) between a pilot's bins, counted exactly, and the sample's quantile bins."""


def pilot_holds(
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
    target = count_edges(sample, np.asarray(edges, dtype=np.float64))[:-1] / len(sample)  # sorted or not
    return bool(np.max(np.abs(exact - target)) <= PILOT_TOLERANCE)
