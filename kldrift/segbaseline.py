"""Baseline windows per segment: each segment compared with its own earlier intervals.

With ``segments:`` and a baseline window (``rolling``, ``seasonal``, ``range``, or calibrated
thresholds), every segment gets what the whole table gets (see :mod:`kldrift.baseline`), on its own
rows: the window's intervals summed, thresholds calibrated on their spread, and quarantine of the
intervals where *that segment* paged (a disruption at one airport leaves the other airports' windows
alone); a lasting change is accepted per segment too. An earlier interval is read once for all of
them: its saved ``metrics.parquet`` (the whole table's rows and each segment's, with what each paged
at), or, when it was never scored with these bins and segments, its data, counted per segment.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from kldrift import runstore
from kldrift.baseline import Baseline, Earlier, candidates, choose_baseline
from kldrift.config import JobConfig
from kldrift.histogram import Histogram
from kldrift.interval import Interval
from kldrift.partitions import current_or_missing
from kldrift.profile import Profile
from kldrift.segcount import count_segments
from kldrift.severity import Severity, worst

__all__ = ["SegmentHistory", "choose_baselines"]

log = logging.getLogger(__name__)

_COLUMNS = (
    *("check", "feature", "severity", "current_counts", "spec_fingerprint", "rows_current", "n_current"),
    *("paged", "baseline_since", "segment", "segment_paged"),
)


def _key(segment: Any) -> str:
    """A saved segment (a map's pairs) or a segment's JSON as one comparable string."""
    return json.dumps(dict(segment) if not isinstance(segment, dict) else segment, sort_keys=True)


class _Saved:
    """One interval's saved run, per slice (``None``: the whole table; ``i``: segment ``i``)."""

    def __init__(self) -> None:
        self.earlier: dict[int | None, Earlier] = {}
        self.counts: dict[int | None, Histogram | None] = {}


class SegmentHistory:
    """Earlier intervals of one run, read once each for the whole table and every segment."""

    def __init__(self, config: JobConfig, profile: Profile) -> None:
        assert profile.segments is not None
        self.config, self.profile = config, profile
        self.index = {_key(s.to_json()): i for i, s in enumerate(profile.segments.spec.segments)}
        self.runs: dict[str, _Saved] = {}
        self.read: list[str] = []

    def view(self, slice_: int | None) -> _View:
        """The :class:`~kldrift.baseline.History` of the whole table (``None``) or of segment ``slice_``."""
        return _View(self, slice_)

    def load(self, interval: Interval) -> _Saved:
        key = runstore.run_key(interval)
        if key in self.runs:
            return self.runs[key]
        saved = self._saved(key)
        out = saved if saved is not None else _Saved()
        slices: list[int | None] = [None, *range(len(self.index))]
        if any(out.counts.get(i) is None for i in slices):  # never scored with these bins and segments
            scan, _ = current_or_missing(self.config, interval)
            if scan is not None:
                assert self.profile.segments is not None
                hist, _ = count_segments(self.profile.spec, self.profile.segments.spec, scan)
                self.read.append(key)
                out.counts = {None: hist.whole(), **{i: hist.part(i) for i in range(len(self.index))}}
        for i in slices:
            h = out.counts.get(i)
            known = out.earlier.get(i, Earlier(True))
            out.counts[i] = h if h is not None and h.rows else None
            out.earlier[i] = Earlier(out.counts[i] is not None, known.paged, known.since)
        self.runs[key] = out
        return out

    def _saved(self, key: str) -> _Saved | None:
        """The slices of an interval's saved metrics; counts only where counted in these bins and segments."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = os.path.join(runstore.run_dir(self.config.dataset_dir(), key), runstore.METRICS)
        if not os.path.isfile(path):
            return None
        try:
            names = set(pq.read_schema(path).names)
            rows = pq.read_table(path, columns=[c for c in _COLUMNS if c in names]).to_pylist()
        except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
            log.warning("%s: saved counts not read (%s); reading the interval's data", path, exc)
            return None
        if not rows:
            return None
        out = _Saved()
        first = rows[0]
        whole_paged = first.get("segment_paged") or first.get("paged")
        paged = Severity(whole_paged) if whole_paged else worst(r["severity"] for r in rows if r["severity"])
        level = paged if paged.alerting else Severity.OK
        out.earlier[None] = Earlier(bool(first["rows_current"]), level, first.get("baseline_since"))
        groups: dict[int | None, list[dict[str, Any]]] = {None: []}
        sizes: dict[int, int] = {}
        for r in rows:
            seg = r.get("segment")
            if not seg:
                if (r["check"] or "drift") == "drift":
                    groups[None].append(r)
                continue
            i = self.index.get(_key(seg))
            if i is None:
                continue  # a new value's row, or a segment of another profile
            if r["check"] == "segment":
                level = Severity(r.get("segment_paged") or "ok")
                since = r.get("baseline_since")
                out.earlier[i] = Earlier(bool(r.get("n_current")), level if level.alerting else Severity.OK, since)
                groups[i], sizes[i] = [], int(r.get("n_current") or 0)
            elif r["check"] == "drift" and i in groups:
                groups[i].append(r)
        out.counts[None] = self._histogram(groups[None], int(first["rows_current"] or 0), key)
        if len(groups) == len(self.index) + 1:  # every segment of this profile was scored then
            for i in range(len(self.index)):
                out.counts[i] = self._histogram(groups[i], sizes[i], key, segment=True)
        return out

    def _histogram(
        self, rows: list[dict[str, Any]], n_rows: int, key: str, *, segment: bool = False
    ) -> Histogram | None:
        spec = self.profile.spec
        if not n_rows:
            return Histogram.zero(spec)
        if not rows or any(r["spec_fingerprint"] != spec.fingerprint for r in rows):
            return None  # counted in other bins (a refitted profile): read the data again
        by_name = {r["feature"]: r for r in rows}
        skip = set(self.profile.segments.spec.columns) if segment and self.profile.segments else set()
        counts, errors = {}, {}
        for f in spec.features:
            r = by_name.get(f.name)
            values = r["current_counts"] if r is not None else None
            if r is None or r["severity"] == Severity.ERROR or values is None or len(values) != f.n_bins:
                counts[f.name] = np.zeros(f.n_bins, np.int64)
                if f.name not in skip:
                    errors[f.name] = f"not counted in run {key}"
            else:
                counts[f.name] = np.asarray(values, dtype=np.int64)
        return Histogram(spec.fingerprint, n_rows, counts, errors)


class _View:
    """One slice's :class:`~kldrift.baseline.History` over a shared :class:`SegmentHistory`."""

    def __init__(self, history: SegmentHistory, slice_: int | None) -> None:
        self.history, self.slice = history, slice_
        self.read = history.read
        self.keys: dict[str, Interval] = {}

    def earlier(self, interval: Interval) -> Earlier:
        self.keys[runstore.run_key(interval)] = interval
        return self.history.load(interval).earlier[self.slice]

    def histograms(self, keys: Sequence[str]) -> list[Histogram]:
        out = []
        for k in keys:
            saved = self.history.runs.get(k)
            h = saved.counts.get(self.slice) if saved is not None else None
            if h is not None:
                out.append(h)
        return out


def choose_baselines(config: JobConfig, interval: Interval, profile: Profile) -> tuple[Baseline, list[Baseline] | None]:
    """The whole table's baseline and each segment's (windows, calibration and quarantine on its own rows);
    ``None`` for the segments when there is no window (each segment is compared with its reference counts)."""
    assert profile.segments is not None
    history = SegmentHistory(config, profile)
    whole = choose_baseline(config, interval, profile, history=history.view(None))
    if not candidates(config, interval):  # the reference for every segment: nothing to read or calibrate
        return whole, None
    parts = [
        choose_baseline(config, interval, profile.segment(i), history=history.view(i))
        for i in range(profile.segments.spec.n)
    ]
    return whole, parts
