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

__all__ = ["FORMAT", "VERSION", "FeatureProfile", "Profile"]

FORMAT = "kldrift-profile"
VERSION = 1


@dataclass(frozen=True, slots=True)
class FeatureProfile:
    """One feature of a profile: its bins and the reference counts in them."""

    spec: FeatureSpec
    counts: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def edges(self) -> tuple[float, ...]:
        return self.spec.edges

    @property
    def values(self) -> tuple[float, ...] | None:
        return self.spec.values

    @property
    def categories(self) -> tuple[str, ...]:
        return self.spec.categories

    @property
    def labels(self) -> list[str]:
        return self.spec.labels()


@dataclass(frozen=True, slots=True, eq=False)
class Profile:
    """Bins fitted on a reference and the reference's counts in them."""

    spec: BinSpec
    histogram: Histogram
    binning_fingerprint: str
    """Fingerprint of the binning settings that produced ``spec``."""
    source: str = ""
    files: tuple[dict[str, Any], ...] = ()
    features: Mapping[str, FeatureProfile] = field(init=False)

    def __post_init__(self) -> None:
        if self.histogram.fingerprint != self.spec.fingerprint:
            raise ProfileError("profile counts do not belong to its bin spec (fingerprints differ)")
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

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "fingerprint": self.spec.fingerprint,
            "binning_fingerprint": self.binning_fingerprint,
            "source": self.source,
            "files": list(self.files),
            "rows": self.histogram.rows,
            "features": {
                f.name: {**f.to_json(), "counts": self.histogram.counts[f.name].tolist()} for f in self.spec.features
            },
        }

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
            for f in spec.features:
                c = np.asarray(feats[f.name]["counts"], dtype=np.int64)
                if c.shape != (f.n_bins,) or (c < 0).any():
                    raise ProfileError(f"feature {f.name!r}: expected {f.n_bins} non-negative counts")
                if int(c.sum()) != int(data["rows"]):
                    raise ProfileError(
                        f"feature {f.name!r}: counts sum to {int(c.sum())}, not the profile's {data['rows']} rows"
                    )
                counts[f.name] = c
            hist = Histogram(spec.fingerprint, int(data["rows"]), counts, {})
            return cls(
                spec,
                hist,
                str(data.get("binning_fingerprint", "")),
                str(data.get("source", "")),
                tuple(data.get("files", ())),
            )
        except ProfileError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"malformed profile: {type(exc).__name__}: {exc}") from None
