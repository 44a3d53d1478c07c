"""A run's counts: the whole table's, or per segment, and the profile that says which.

With ``segments:`` in the config, the profile is fitted with its segments (:func:`fit_with_segments`)
and every count of current data is per segment (:func:`count_scan`): one pass, a
:class:`~kldrift.segcount.SegmentedHistogram` whose sum over segments is the whole table's
:class:`~kldrift.histogram.Histogram`. Without, nothing changes. :mod:`kldrift.pipeline` and the
baseline windows decide through here, so a run, a shard and an earlier interval are counted alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from kldrift.config import Settings
from kldrift.errors import ProfileError
from kldrift.fitting import Progress, fit_profile
from kldrift.histogram import Histogram, count
from kldrift.profile import Profile
from kldrift.scan import Scan
from kldrift.segcount import SegmentedHistogram, count_segments
from kldrift.segprofile import fit_segments

__all__ = ["Counts", "count_scan", "fit_with_segments", "merge_counts", "segmented", "zero_counts"]

Counts = Histogram | SegmentedHistogram
"""A run's current counts: the whole table's, or per segment (``segments:`` in the config)."""


def fit_with_segments(scan: Scan, settings: Settings, on_rows: Progress | None = None) -> Profile:
    """The profile of ``scan``, with its segments (``segments:``) chosen and counted on it.

    The segments cost two more reads of the reference, once: its segment columns (to choose them),
    then its features per segment (the bins are known only once the first pass is done).
    """
    profile = fit_profile(scan, settings, on_rows)
    if settings.segments is None:
        return profile
    return dataclasses.replace(profile, segments=fit_segments(scan, profile.spec, settings, profile.test_counts))


def segmented(profile: Profile, settings: Settings) -> bool:
    """Whether a run counts and scores per segment: ``segments:`` configured, and fitted in the profile.

    A profile fitted without them, or with other columns, is a :class:`ProfileError` (refit it); a profile
    with segments scored under a config without ``segments:`` is scored over the whole table only.
    """
    want = settings.segments
    if want is None:
        return False
    have = profile.segments
    if have is None or have.spec.columns != tuple(want.columns) or len(have.spec.values) > want.max:
        fitted = "without segments" if have is None else f"with segments by {', '.join(have.spec.columns)}"
        msg = f"segments: the profile was fitted {fitted}; refit it with the config's segments (`kldrift profile`)"
        raise ProfileError(msg)
    return True


def count_scan(profile: Profile, scan: Scan, settings: Settings | None, on_batch: Progress | None = None) -> Counts:
    """Every row of ``scan`` in the profile's bins: per segment when ``settings`` has segments."""
    if settings is not None and segmented(profile, settings):
        assert profile.segments is not None
        return count_segments(profile.spec, profile.segments.spec, scan, on_batch=on_batch)[0]
    return count(profile.spec, scan, on_batch=on_batch)


def zero_counts(profile: Profile, settings: Settings) -> Counts:
    """The counts of no rows, per segment when ``settings`` has segments."""
    if segmented(profile, settings):
        assert profile.segments is not None
        return SegmentedHistogram.zero(profile.spec, profile.segments.spec)
    return Histogram.zero(profile.spec)


def merge_counts(profile: Profile, settings: Settings, partials: Iterable[Mapping[str, Any]]) -> Counts:
    """The sum of partial counts (``to_json`` of each shard's counts, an Airflow XCom each)."""
    total = zero_counts(profile, settings)
    for part in partials:
        if isinstance(total, SegmentedHistogram):
            total = total + SegmentedHistogram.from_json(part)
        else:
            total = total + Histogram.from_json(part)
    return total
