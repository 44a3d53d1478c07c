"""The reference per segment: the segments chosen on it and its counts in each, saved in the profile.

:func:`fit_segments` chooses the segments (one read of the segment columns) and counts the reference
per segment in the profile's bins (one read of the features), even and odd rows apart: where a
feature's categories were chosen on the reference's even rows, its G-test compares with the odd rows
(see :class:`~kldrift.profile.Profile`), per segment as over the whole table. The profile's JSON holds
it under ``"segments"``, with a version of its own (:data:`VERSION`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kldrift.binning import BinSpec
from kldrift.config import Settings
from kldrift.errors import KLDriftError, ProfileError
from kldrift.histogram import Histogram
from kldrift.scan import Scan
from kldrift.segcount import SegmentedHistogram, count_segments
from kldrift.segments import SegmentSpec, choose_segments

__all__ = ["VERSION", "SegmentProfile", "fit_segments"]

VERSION = 1
"""Version of a profile's ``"segments"`` section."""


@dataclass(frozen=True, slots=True, eq=False)
class SegmentProfile:
    """The segments of a profile and the reference's counts in each."""

    spec: SegmentSpec
    counts: SegmentedHistogram
    test_counts: Mapping[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    """Per feature whose G-test uses the reference's odd rows: those rows' counts, ``segments x bins``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            **self.spec.to_json(),
            "rows": list(self.counts.rows),
            "counts": {k: v.tolist() for k, v in self.counts.counts.items()},
            "test_counts": {k: v.tolist() for k, v in self.test_counts.items()},
        }

    @classmethod
    def from_json(cls, data: Any, bins: BinSpec, whole: Histogram) -> SegmentProfile:
        """Read the section back, checked against the profile's bins and whole counts."""
        if not isinstance(data, Mapping) or data.get("version") != VERSION:
            got = data.get("version") if isinstance(data, Mapping) else type(data).__name__
            raise ProfileError(
                f"segments: format version {got!r} is not supported (expected {VERSION}); refit with `kldrift profile`"
            )
        try:
            spec = SegmentSpec.from_json(data)
            rows = tuple(int(r) for r in data["rows"])
            counts = {f.name: _matrix(data["counts"][f.name], spec.n, f.n_bins, f.name) for f in bins.features}
            test = {str(k): _matrix(v, spec.n, len(counts[k][0]), k) for k, v in data.get("test_counts", {}).items()}
        except KLDriftError as exc:
            raise ProfileError(f"segments: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ProfileError(f"segments: malformed: {type(exc).__name__}: {exc}") from None
        if len(rows) != spec.n or sum(rows) != whole.rows:
            raise ProfileError(f"segments: rows per segment do not sum to the profile's {whole.rows} rows")
        for name, c in counts.items():
            if not np.array_equal(c.sum(axis=0), whole.counts[name]):
                raise ProfileError(f"segments: feature {name!r}: counts per segment do not sum to its counts")
            if name in test and (test[name] > c).any():
                raise ProfileError(f"segments: feature {name!r}: test counts exceed the counts")
        hist = SegmentedHistogram(bins.fingerprint, spec.fingerprint, rows, counts)
        return cls(spec, hist, test)


def _matrix(raw: Any, n: int, n_bins: int, name: str) -> np.ndarray[Any, Any]:
    m = np.asarray(raw, dtype=np.int64)
    if m.shape != (n, n_bins) or (m < 0).any():
        raise KLDriftError(f"feature {name!r}: expected {n} x {n_bins} non-negative counts")
    return m


def fit_segments(scan: Scan, bins: BinSpec, settings: Settings, tested: Collection[str]) -> SegmentProfile:
    """The segments of ``settings.segments`` chosen on the reference ``scan``, and its counts per segment
    in ``bins``; ``tested`` are the features whose G-test uses the odd rows (their odd counts are kept)."""
    s = settings.segments
    if s is None:
        raise KLDriftError("segments: not configured")
    spec = choose_segments(scan, s.columns, s.max)
    counts, odd = count_segments(bins, spec, scan, where=f"reference {scan.description}", parity=True)
    assert odd is not None
    test = {name: odd.counts[name] for name in tested if name in odd.counts}
    # The reference's own values: none is new, none needs listing.
    plain = SegmentedHistogram(counts.fingerprint, counts.segments, counts.rows, counts.counts, counts.errors)
    return SegmentProfile(spec, plain, test)
