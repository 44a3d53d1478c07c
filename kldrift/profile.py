"""A fitted reference: the bins plus the reference's counts, saved as versioned JSON.

A :class:`Profile` is what ``kldrift profile`` writes once and every later
run reuses, so the reference need not be read again. Its JSON carries a
format version, the fingerprint of the bins (checked on load) and the
fingerprint of the binning settings that produced them (checked against the
config before reuse).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kldrift.atomic import write_text
from kldrift.binning import BinSpec, FeatureSpec
from kldrift.errors import ProfileError
from kldrift.histogram import Histogram
from kldrift.roles import ColumnInfo
from kldrift.segprofile import SegmentProfile

__all__ = ["FORMAT", "VERSION", "FeatureProfile", "Profile"]

FORMAT = "kldrift-profile"
VERSION = 2
"""2: every reference column with its role, odd-row test counts of categorical features, timestamp coverage."""


@dataclass(frozen=True, slots=True)
class FeatureProfile:
    """One feature of a profile: its bins (``spec``) and the reference counts in them.

    The spec's fields read through: ``name``, ``kind``, ``domain``, ``edges``, ``values``, ``categories``.
    """

    spec: FeatureSpec
    counts: tuple[int, ...]

    @property
    def labels(self) -> list[str]:
        return self.spec.labels()

    def __getattr__(self, name: str) -> Any:
        if name in _SPEC_FIELDS:
            return getattr(self.spec, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


_SPEC_FIELDS = frozenset(("name", "kind", "domain", "edges", "values", "categories"))


@dataclass(frozen=True, slots=True, eq=False)
class Profile:
    """Bins fitted on a reference and the reference's counts in them."""

    spec: BinSpec
    histogram: Histogram
    binning_fingerprint: str
    """Fingerprint of the binning settings that produced ``spec``."""
    source: str = ""
    files: tuple[dict[str, Any], ...] = ()
    columns: tuple[ColumnInfo, ...] = ()
    """Every reference column with its role, scored or not."""
    test_counts: Mapping[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    """Odd-row reference counts the G-test uses instead of ``histogram``'s, per feature where the bins'
    values came from the reference (see :func:`~kldrift.binning._split_test`)."""
    test_pool: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Per such feature, the bins its G-test pools into one ("other" and values the even rows never saw)."""
    coverage: Mapping[str, tuple[int | None, int | None]] = field(default_factory=dict)
    """Distinct (days, hours) each timestamp column of the reference covers."""
    segments: SegmentProfile | None = None
    """The segments chosen on the reference and its counts in each (``segments:`` in the config)."""
    features: Mapping[str, FeatureProfile] = field(init=False)

    def __post_init__(self) -> None:
        if self.histogram.fingerprint != self.spec.fingerprint:
            raise ProfileError("profile counts do not belong to its bin spec (fingerprints differ)")
        if self.segments is not None and self.segments.counts.fingerprint != self.spec.fingerprint:
            raise ProfileError("profile segment counts do not belong to its bin spec (fingerprints differ)")
        if not self.columns:  # a profile built by hand: its features are its columns
            cols = tuple(ColumnInfo(f.name, f.source_type, "feature", True) for f in self.spec.features)
            object.__setattr__(self, "columns", cols)
        feats = {
            f.name: FeatureProfile(f, tuple(int(c) for c in self.histogram.counts[f.name])) for f in self.spec.features
        }
        object.__setattr__(self, "features", feats)

    @property
    def fingerprint(self) -> str:
        return self.spec.fingerprint

    @property
    def rows(self) -> int:
        return self.histogram.rows

    def segment(self, i: int) -> Profile:
        """The profile of segment ``i`` alone: the same bins, the segment's reference counts (and odd-row
        test counts); what its drift and its baseline window are measured against."""
        if self.segments is None:
            raise ProfileError("this profile has no segments")
        seg = self.segments
        tests = {k: v[i].copy() for k, v in seg.test_counts.items() if k in self.test_counts}
        return Profile(
            self.spec,
            seg.counts.part(i),
            self.binning_fingerprint,
            self.source,
            self.files,
            self.columns,
            tests,
            {k: self.test_pool[k] for k in tests},
            self.coverage,
        )

    def unscored(self) -> tuple[ColumnInfo, ...]:
        return tuple(c for c in self.columns if not c.scored)

    def rows_per_period(self, hours: float) -> tuple[float, str] | None:
        """The reference's rows per data interval of ``hours`` hours, from its timestamp columns.

        Counts the distinct days (or hours, for intervals under a day) a
        timestamp column covers; the column covering the most wins. ``None``
        when the reference has no timestamp column.
        """
        unit = "day" if hours >= 24 else "hour"
        covered = [(d if unit == "day" else h, name) for name, (d, h) in sorted(self.coverage.items())]
        periods, name = max(((p, n) for p, n in covered if p), default=(0, ""))
        if not periods:
            return None
        per = self.rows / periods * (hours / 24 if unit == "day" else hours)
        return per, f"{self.rows:,} reference rows over {periods:,} {unit}s of {name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "fingerprint": self.spec.fingerprint,
            "binning_fingerprint": self.binning_fingerprint,
            "source": self.source,
            "files": list(self.files),
            "rows": self.histogram.rows,
            "features": {f.name: self._feature_json(f) for f in self.spec.features},
            "columns": {c.name: c.to_json() for c in self.columns},
            "coverage": {n: {"days": d, "hours": h} for n, (d, h) in self.coverage.items()},
            **({"segments": self.segments.to_json()} if self.segments is not None else {}),
        }

    def _feature_json(self, f: Any) -> dict[str, Any]:
        out = {**f.to_json(), "counts": self.histogram.counts[f.name].tolist()}
        if f.name in self.test_counts:
            out["test_counts"] = self.test_counts[f.name].tolist()
            out["test_pool"] = list(self.test_pool[f.name])
        return out

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the profile as JSON, atomically; returns the path."""
        text = json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n"
        return write_text(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read a profile written by :meth:`save`; :class:`ProfileError` naming the file otherwise."""
        p = os.fspath(path)
        try:
            with open(p, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise ProfileError(f"{p}: profile not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{p}: cannot read profile: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ProfileError(f"{p}: not a kldrift profile (invalid JSON at line {exc.lineno}: {exc.msg})") from None
        try:
            return cls.from_json(data)
        except ProfileError as exc:
            raise ProfileError(f"{p}: {exc}") from None

    @classmethod
    def from_json(cls, data: Any) -> Profile:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ProfileError(f'not a kldrift profile (expected "format": "{FORMAT}")')
        if data.get("version") != VERSION:
            raise ProfileError(
                f"profile format version {data.get('version')!r} is not supported (expected {VERSION}); "
                "refit it with `kldrift profile`"
            )
        try:
            feats = data["features"]
            spec = BinSpec.from_json(feats, fingerprint=str(data["fingerprint"]))
            counts = {}
            test_counts = {}
            test_pool = {}
            for f in spec.features:
                c = _counts(feats[f.name]["counts"], f)
                if int(c.sum()) != int(data["rows"]):
                    raise ProfileError(
                        f"feature {f.name!r}: counts sum to {int(c.sum())}, not the profile's {data['rows']} rows"
                    )
                counts[f.name] = c
                if "test_counts" in feats[f.name]:
                    tc = _counts(feats[f.name]["test_counts"], f)
                    if (tc > c).any():
                        raise ProfileError(f"feature {f.name!r}: test counts exceed the counts")
                    pool = tuple(int(i) for i in feats[f.name]["test_pool"])
                    if not all(0 <= i < f.n_bins - 1 for i in pool):
                        raise ProfileError(f"feature {f.name!r}: test_pool names a bin it does not have")
                    test_counts[f.name] = tc
                    test_pool[f.name] = pool
            hist = Histogram(spec.fingerprint, int(data["rows"]), counts, {})
            columns = tuple(ColumnInfo.from_json(n, c) for n, c in data["columns"].items())
            coverage = {
                str(n): (_opt_int(c.get("days")), _opt_int(c.get("hours"))) for n, c in data["coverage"].items()
            }
            segments = SegmentProfile.from_json(data["segments"], spec, hist) if "segments" in data else None
            return cls(
                spec,
                hist,
                str(data.get("binning_fingerprint", "")),
                str(data.get("source", "")),
                tuple(data.get("files", ())),
                columns,
                test_counts,
                test_pool,
                coverage,
                segments,
            )
        except ProfileError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"malformed profile: {type(exc).__name__}: {exc}") from None


def _counts(raw: Any, f: Any) -> np.ndarray[Any, Any]:
    c = np.asarray(raw, dtype=np.int64)
    if c.shape != (f.n_bins,) or (c < 0).any():
        raise ProfileError(f"feature {f.name!r}: expected {f.n_bins} non-negative counts")
    return c


def _opt_int(x: Any) -> int | None:
    return None if x is None else int(x)
