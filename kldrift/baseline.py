"""What a run's counts are compared with: the reference, or earlier data intervals counted in its bins.

``baseline.window`` picks the intervals (see :func:`window_intervals`):

* ``fixed`` — none: the reference's counts (the profile), as without a window;
* ``rolling`` — the ``intervals`` data intervals just before the current one;
* ``seasonal`` — the same slot in each of the ``intervals`` periods before it
  (``period`` intervals each: 7 for the same weekday of a daily job);
* ``range`` — every interval between two days.

The bins never change: each interval is counted in the profile's bins, and the
counts of an interval already scored come from its saved ``metrics.parquet``
(its ``current_counts``) instead of its data. Counts are mergeable, so the
baseline is their sum. With fewer than ``min_intervals`` intervals holding data,
the run compares with the reference and says so.

``thresholds.calibrate`` raises each feature's thresholds to the spread of the
alert metric over the intervals: for each interval, the metric of its counts
against the other intervals' (leave one out), then
``warn = max(warn, mean + warn_sd * sd)`` and the same for ``critical``
(``sd`` with ``ddof=1``; with ``spread: mad``, the median and 1.4826 x the median
absolute deviation instead). A fixed baseline calibrates on the rolling intervals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kldrift import runstore
from kldrift.config import JobConfig
from kldrift.histogram import Histogram, count
from kldrift.interval import Interval
from kldrift.partitions import current_or_missing
from kldrift.profile import Profile

__all__ = ["Baseline", "calibrate", "choose_baseline", "interval_counts", "window_intervals"]

log = logging.getLogger(__name__)

Counts = np.ndarray[Any, Any]

MAD_TO_SD = 1.4826
"""The median absolute deviation times this estimates the standard deviation of normal data."""


@dataclass(frozen=True)
class Baseline:
    """The counts a run is compared with, where they came from, and the thresholds they imply."""

    window: str
    """``fixed``, ``rolling``, ``seasonal`` or ``range``: what was configured."""
    counts: Histogram
    """The reference's counts, or the window's intervals summed."""
    keys: tuple[str, ...] = ()
    """Run keys of the intervals summed, oldest first (none for the reference)."""
    wanted: int = 0
    """Intervals the window asked for."""
    fallback: str = ""
    """Why the reference was used instead of the window (too few intervals with data)."""
    thresholds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Calibrated ``(warn, critical)`` per feature (only where calibration raised one)."""
    read: tuple[str, ...] = ()
    """Keys of the intervals whose data was read (the rest came from saved metrics)."""
    uncalibrated: str = ""
    """Why ``thresholds.calibrate`` was not applied (too few intervals with data), when configured."""

    @property
    def is_reference(self) -> bool:
        return not self.keys

    def describe(self) -> str:
        """``rolling: 26 of 28 intervals, 2026-06-03 .. 2026-06-30``; ``reference (...)`` otherwise;
        and why the thresholds were not calibrated, when they should have been."""
        if self.fallback:
            text = f"reference ({self.window} window: {self.fallback})"
        elif self.is_reference:
            text = "reference"
        else:
            text = f"{self.window}: {len(self.keys)} of {self.wanted} intervals, {self.keys[0]} .. {self.keys[-1]}"
        return f"{text}; thresholds not calibrated: {self.uncalibrated}" if self.uncalibrated else text


def window_intervals(config: JobConfig, interval: Interval) -> list[Interval]:
    """The data intervals of the baseline window for ``interval``, oldest first (none for ``fixed``).

    With ``fixed`` and ``thresholds.calibrate``, see :func:`calibration_intervals`.
    """
    b = config.baseline
    if b.window == "rolling":
        return _back(config, interval, 1)
    if b.window == "seasonal":
        assert b.period is not None
        return _back(config, interval, b.period)
    if b.window == "range":
        assert b.range is not None
        first, last = b.range
        schedule = config.schedule_of()
        out: list[Interval] = []
        step = schedule.for_date(first)
        while step.start.date() <= last and len(out) < 10_000:
            if step != interval:  # never the run's own data
                out.append(step)
            step = schedule.following(step)
        return out
    return []


def calibration_intervals(config: JobConfig, interval: Interval) -> list[Interval]:
    """The intervals thresholds are calibrated on: the window's, or the rolling ones for ``fixed``."""
    return window_intervals(config, interval) if config.baseline.window != "fixed" else _back(config, interval, 1)


def _back(config: JobConfig, interval: Interval, step: int) -> list[Interval]:
    """``baseline.intervals`` intervals before ``interval``, ``step`` apart, oldest first."""
    schedule = config.schedule_of()
    return [schedule.previous(interval, k * step) for k in range(config.baseline.intervals, 0, -1)]


def _saved_counts(config: JobConfig, key: str, profile: Profile) -> Histogram | None:
    """An interval's counts from its run's saved metrics, when that run used these bins."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = os.path.join(runstore.run_dir(config.dataset_dir(), key), runstore.METRICS)
    if not os.path.isfile(path):
        return None
    try:
        table = pq.read_table(
            path, columns=["check", "feature", "severity", "current_counts", "spec_fingerprint", "rows_current"]
        )
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        log.warning("%s: saved counts not read (%s); reading the interval's data", path, exc)
        return None
    rows = [r for r in table.to_pylist() if (r["check"] or "drift") == "drift"]
    spec = profile.spec
    if not rows or any(r["spec_fingerprint"] != spec.fingerprint for r in rows):
        return None  # counted in other bins (a refitted profile): read the data again
    by_name = {r["feature"]: r for r in rows}
    counts: dict[str, Counts] = {}
    errors: dict[str, str] = {}
    for f in spec.features:
        r = by_name.get(f.name)
        values = r["current_counts"] if r is not None else None
        if r is None or r["severity"] == "error" or values is None or len(values) != f.n_bins:
            counts[f.name] = np.zeros(f.n_bins, np.int64)
            errors[f.name] = f"not counted in run {key}"
        else:
            counts[f.name] = np.asarray(values, dtype=np.int64)
    return Histogram(spec.fingerprint, int(rows[0]["rows_current"] or 0), counts, errors)


def interval_counts(
    config: JobConfig, profile: Profile, intervals: Sequence[Interval]
) -> tuple[dict[str, Histogram], tuple[str, ...]]:
    """Each interval's counts in the profile's bins, by run key (intervals without data left out).

    Saved metrics first; an interval never scored with these bins is read and
    counted. Also returns the keys that were read.
    """
    out: dict[str, Histogram] = {}
    read: list[str] = []
    for interval in intervals:
        key = runstore.run_key(interval)
        hist = _saved_counts(config, key, profile)
        if hist is None:
            scan, _ = current_or_missing(config, interval)
            if scan is None:
                continue
            hist = count(profile.spec, scan)
            read.append(key)
        if hist.rows:
            out[key] = hist
    return out, tuple(read)


def _total(histograms: Sequence[Histogram], profile: Profile) -> Histogram:
    """Per feature, the sum over the intervals where it was counted (an error in one interval drops only it)."""
    spec = profile.spec
    counts = {f.name: np.zeros(f.n_bins, np.int64) for f in spec.features}
    seen = dict.fromkeys(counts, False)
    for h in histograms:
        for name, c in h.counts.items():
            if name not in h.errors:
                counts[name] += c
                seen[name] = True
    errors = {n: "no interval of the baseline counted it" for n, ok in seen.items() if not ok}
    return Histogram(spec.fingerprint, sum(h.rows for h in histograms), counts, errors)


def calibrate(histograms: Sequence[Histogram], profile: Profile, config: JobConfig) -> dict[str, tuple[float, float]]:
    """Per feature with ``thresholds.calibrate``: the thresholds raised to the leave-one-out spread.

    For each interval ``i`` counted for the feature, the alert metric of its
    counts against the sum of the others (the same smoothing and bins as
    scoring). Needs two such intervals; a feature with fewer keeps its thresholds, and
    so does one whose spread stays below them (not in the result).
    """
    out: dict[str, tuple[float, float]] = {}
    alpha = config.smoothing.pseudocount
    for f in profile.spec.features:
        thr = config.thresholds_for(f.name)
        if thr.calibrate is None:
            continue
        parts = [h.counts[f.name] for h in histograms if f.name not in h.errors and h.counts[f.name].sum()]
        if len(parts) < 2:
            continue
        values = _leave_one_out(np.asarray(parts, dtype=np.float64), alpha, config.metric)
        values = values[np.isfinite(values)]
        if len(values) < 2:
            continue
        if thr.calibrate.spread == "mad":  # robust: a disrupted interval in the window barely moves it
            center = float(np.median(values))
            scale = MAD_TO_SD * float(np.median(np.abs(values - center)))
        else:
            center, scale = float(np.mean(values)), float(np.std(values, ddof=1))
        warn = max(thr.warn, center + thr.calibrate.warn_sd * scale)
        critical = max(thr.critical, center + thr.calibrate.critical_sd * scale)
        if (warn, critical) != (thr.warn, thr.critical):  # only where the spread raised one
            out[f.name] = (warn, critical)
    return out


def _leave_one_out(parts: np.ndarray[Any, Any], alpha: float, metric: str) -> np.ndarray[Any, Any]:
    """Per row ``i`` of ``parts`` (intervals x bins), the metric of row ``i`` against the sum of the others.

    Scoring's arithmetic (see :func:`kldrift.divergence.divergences`) for all rows at once: bins
    empty in every interval dropped, ``alpha`` added to both sides, each side normalised.
    """
    from scipy import special

    total = parts.sum(axis=0)
    keep = total > 0
    cur = parts[:, keep] + alpha
    ref = (total[keep] - parts[:, keep]) + alpha
    p = cur / cur.sum(axis=1, keepdims=True)
    q = ref / ref.sum(axis=1, keepdims=True)
    kl = special.rel_entr(p, q).sum(axis=1)
    if metric == "kl":
        return kl
    reverse = special.rel_entr(q, p).sum(axis=1)
    if metric == "kl_reverse":
        return reverse
    if metric == "psi":
        return kl + reverse
    m = (p + q) / 2.0
    return (special.rel_entr(p, m).sum(axis=1) + special.rel_entr(q, m).sum(axis=1)) / 2.0


def choose_baseline(config: JobConfig, interval: Interval, profile: Profile) -> Baseline:
    """The baseline of a run of ``interval``: the window's counts, or the reference's (and why)."""
    b = config.baseline
    calibrating = any(config.thresholds_for(f.name).calibrate is not None for f in profile.spec.features)
    wanted = window_intervals(config, interval)
    per_key, read = interval_counts(config, profile, wanted)
    thresholds: dict[str, tuple[float, float]] = {}
    uncalibrated = ""
    if calibrating:
        on, asked = per_key, len(wanted)
        if b.window == "fixed":
            more = calibration_intervals(config, interval)
            on, more_read = interval_counts(config, profile, more)
            read, asked = (*read, *more_read), len(more)
        if len(on) >= b.min_intervals:  # a spread from a handful of intervals is not worth trusting
            thresholds = calibrate(list(on.values()), profile, config)
        else:
            uncalibrated = f"{len(on)} of {asked} intervals with data, fewer than min_intervals={b.min_intervals}"
    if b.window == "fixed":
        return Baseline("fixed", profile.histogram, thresholds=thresholds, read=read, uncalibrated=uncalibrated)
    if len(per_key) < b.min_intervals:
        why = f"{len(per_key)} of {len(wanted)} intervals with data, fewer than min_intervals={b.min_intervals}"
        return Baseline(
            b.window, profile.histogram, wanted=len(wanted), fallback=why, read=read, uncalibrated=uncalibrated
        )
    keys = tuple(sorted(per_key))
    total = _total([per_key[k] for k in keys], profile)
    return Baseline(b.window, total, keys, len(wanted), thresholds=thresholds, read=read, uncalibrated=uncalibrated)
