"""What a run's counts are compared with: the reference, or earlier data intervals counted in its bins.

``baseline.window`` picks the candidate intervals (see :func:`candidates`):

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

**Quarantine** (``baseline.quarantine: warn | critical``): an interval whose run
paged at that level or above is left out of later windows and of calibration, and
the window reaches further back for healthy intervals, at most ``max_lookback``.
What a run paged at is read from its saved metrics (never its data), so a rerun
with the same history writes the same bytes, and rescoring an earlier interval
changes the windows of the later ones, deterministically. A lasting change must
not page forever: after ``accept_after`` consecutive paged intervals their level
becomes the baseline (the run records where that level starts, ``since``, and later
windows never reach before it; intervals of the accepted stretch count as healthy),
and when fewer than ``min_intervals`` healthy intervals are left within
``max_lookback``, the window takes the latest intervals, paged or not. Every run
records the intervals it used and those it skipped, and why.

``thresholds.calibrate`` raises each feature's thresholds to the spread of the
alert metric over the window's intervals (see :func:`kldrift.calibration.calibrate`).
A fixed baseline calibrates on the rolling intervals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kldrift import runstore
from kldrift.calibration import Calibration, calibrate
from kldrift.config import JobConfig
from kldrift.histogram import Histogram, count
from kldrift.interval import Interval
from kldrift.jobsections import Baseline as BaselineSettings
from kldrift.partitions import current_or_missing
from kldrift.profile import Profile
from kldrift.results import BaselineInfo
from kldrift.severity import Severity, worst

__all__ = [
    "Baseline",
    "Earlier",
    "History",
    "SavedHistory",
    "Window",
    "candidates",
    "choose_baseline",
    "interval_counts",
    "select_window",
    "window_intervals",
]

log = logging.getLogger(__name__)

Counts = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Baseline:
    """The counts a run is compared with, where they came from, and the thresholds they imply."""

    counts: Histogram
    """The reference's counts, or the window's intervals summed."""
    info: BaselineInfo
    """What is recorded: the window, the intervals used and skipped, the level's start, the method."""
    calibration: Calibration = field(default_factory=Calibration)
    read: tuple[str, ...] = ()
    """Keys of the intervals whose data was read (the rest came from saved metrics)."""
    known_schema: frozenset[tuple[str, str]] = frozenset()
    """Schema changes against the reference, ``(column, change)``, that every scored interval of the window
    showed too: the recent normal, not a change (see :func:`kldrift.pipeline.assess`)."""

    @property
    def is_reference(self) -> bool:
        return not self.info.used


PAGED = "paged"
"""How a quarantined interval's reason starts (``paged warn``, ``paged critical``)."""


@dataclass(frozen=True, slots=True)
class Earlier:
    """What a run knows of an earlier interval: whether it held data, what its run paged at, its level."""

    has_data: bool
    paged: Severity | None = None
    """What its run paged at; ``None``: never scored (counted from its data now)."""
    since: str | None = None
    """The level its run was compared with (``baseline_since``)."""
    schema: frozenset[tuple[str, str]] | None = None
    """Its run's schema changes against the reference, ``(column, change)``; ``None``: never scored."""


@dataclass(frozen=True, slots=True)
class Window:
    """The intervals a window settled on, newest first as walked, and what it says about them."""

    used: tuple[str, ...]
    """Run keys summed, oldest first."""
    skipped: tuple[tuple[str, str], ...]
    """``(key, why)`` of the intervals left out, newest first: ``paged warn``, ``no data``, ..."""
    since: str | None
    """The first interval of the level this run is compared with (recorded for later runs)."""
    note: str = ""
    """A lasting change accepted, or healthy intervals run out."""


def select_window(
    keys: Sequence[str], earlier: Callable[[str], Earlier], settings: BaselineSettings, *, quarantine: bool = True
) -> Window:
    """The intervals of a window among ``keys`` (candidates, newest first), with quarantine applied.

    ``earlier(key)`` tells what is known of an interval; it is asked newest first and only as far
    as needed. Without quarantine (or ``quarantine=False``), every interval with data is used.
    """
    level = settings.quarantine if quarantine else "none"
    want, minimum = len(keys), settings.min_count
    if level != "none":
        want = settings.intervals if settings.window != "range" else len(keys)
    since: str | None = None
    seen_saved = False
    taken: list[str] = []
    paged: list[str] = []  # with data, left out for having paged (newest first)
    streak: list[str] = []  # the newest consecutive paged intervals
    skipped: list[tuple[str, str]] = []
    for key in keys:
        if since is not None and key < since:
            skipped.append((key, f"before the level accepted from {since}"))
            break
        e = earlier(key)
        if not seen_saved and e.paged is not None:
            seen_saved, since = True, e.since  # the newest scored interval says which level holds now
        if not e.has_data:
            skipped.append((key, "no data"))
            continue
        # An interval paged against an earlier level is part of the accepted one: healthy now.
        if level != "none" and e.paged is not None and e.paged.reaches(level) and e.since == since:
            skipped.append((key, f"{PAGED} {e.paged}"))
            paged.append(key)
            if len(streak) == len(paged) - 1 and not taken:
                streak.append(key)
            continue
        taken.append(key)
        if len(taken) == want:
            break
    if level != "none" and len(streak) >= settings.accept_count:
        # A lasting change: its first interval starts the level every later window is held to.
        used = streak[: settings.intervals]
        note = f"accepted a lasting change: the {len(streak)} latest intervals paged; their level since {streak[-1]}"
        return Window(tuple(reversed(used)), (), streak[-1], note)
    if level != "none" and len(taken) < minimum <= len(taken) + len(paged):
        newest = sorted([*taken, *paged], reverse=True)[: settings.intervals]
        note = (
            f"only {len(taken)} healthy intervals within max_lookback={settings.lookback}: "
            "accepted the latest level, paged intervals included"
        )
        return Window(tuple(sorted(newest)), tuple(s for s in skipped if s[0] not in newest), since, note)
    return Window(tuple(reversed(taken)), tuple(skipped), since)


def candidates(config: JobConfig, interval: Interval) -> list[Interval]:
    """The intervals a window may use for ``interval``, newest first (none for ``fixed`` uncalibrated).

    ``rolling`` / ``seasonal``: ``intervals`` of them, or ``max_lookback`` with quarantine; ``range``: its
    days; ``fixed`` with ``thresholds.calibrate``: the rolling ones its thresholds are calibrated on.
    """
    b = config.baseline
    n = b.lookback if b.quarantine != "none" else b.intervals
    schedule = config.schedule_of()
    if b.window == "range":
        assert b.range is not None
        first, last = b.range
        out: list[Interval] = []
        day = schedule.for_date(first)
        while day.start.date() <= last and len(out) < 10_000:
            if day != interval:  # never the run's own data
                out.append(day)
            day = schedule.following(day)
        return out[::-1]
    if b.window == "fixed" and not _calibrating(config):
        return []
    return schedule.before(interval, n, step=b.period if b.window == "seasonal" and b.period is not None else 1)


def window_intervals(config: JobConfig, interval: Interval) -> list[Interval]:
    """The data intervals of the baseline window for ``interval`` without quarantine, oldest first."""
    if config.baseline.window == "fixed":
        return []
    found = candidates(config, interval)
    return (found if config.baseline.window == "range" else found[: config.baseline.intervals])[::-1]


def _calibrating(config: JobConfig) -> bool:
    return config.thresholds.calibrate is not None or any(
        c.thresholds is not None and c.thresholds.calibrate is not None for c in config.columns.values()
    )


def _saved(config: JobConfig, key: str, profile: Profile) -> tuple[Earlier, Histogram | None] | None:
    """An interval's saved run: what it paged at, its level, and its counts when counted in these bins."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = os.path.join(runstore.run_dir(config.dataset_dir(), key), runstore.METRICS)
    if not os.path.isfile(path):
        return None
    want = ["check", "feature", "kind", "severity", "current_counts", "spec_fingerprint", "rows_current"]
    try:
        names = set(pq.read_schema(path).names)
        table = pq.read_table(path, columns=[c for c in [*want, "paged", "baseline_since", "segment"] if c in names])
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        log.warning("%s: saved counts not read (%s); reading the interval's data", path, exc)
        return None
    rows = table.to_pylist()
    if not rows:
        return None
    first = rows[0]
    # Files written before the page rule: the run's worst row is what it paged at.
    paged = Severity(first["paged"]) if first.get("paged") else worst(r["severity"] for r in rows if r["severity"])
    schema = frozenset((r["feature"], r["kind"]) for r in rows if r["check"] == "schema" and not r.get("segment"))
    seen = Earlier(
        bool(first["rows_current"]), paged if paged.alerting else Severity.OK, first.get("baseline_since"), schema
    )
    drift = [r for r in rows if (r["check"] or "drift") == "drift" and not r.get("segment")]  # the whole table's
    spec = profile.spec
    if not drift or any(r["spec_fingerprint"] != spec.fingerprint for r in drift):
        return seen, None  # counted in other bins (a refitted profile): read the data again
    by_name = {r["feature"]: r for r in drift}
    counts: dict[str, Counts] = {}
    errors: dict[str, str] = {}
    for f in spec.features:
        r = by_name.get(f.name)
        values = r["current_counts"] if r is not None else None
        if r is None or r["severity"] == Severity.ERROR or values is None or len(values) != f.n_bins:
            counts[f.name] = np.zeros(f.n_bins, np.int64)
            errors[f.name] = f"not counted in run {key}"
        else:
            counts[f.name] = np.asarray(values, dtype=np.int64)
    return seen, Histogram(spec.fingerprint, int(first["rows_current"] or 0), counts, errors)


class History(Protocol):
    """What a window knows of earlier intervals: :class:`SavedHistory` reads their saved runs (or data)."""

    read: list[str]
    """Keys whose data was read and counted (not their saved metrics)."""

    def earlier(self, interval: Interval) -> Earlier: ...

    def histograms(self, keys: Sequence[str]) -> list[Histogram]: ...


class SavedHistory:
    """Earlier intervals of one run's window, read once each: saved metrics first, else the data."""

    def __init__(self, config: JobConfig, profile: Profile) -> None:
        self.config, self.profile = config, profile
        self.counts: dict[str, Histogram | None] = {}
        self.seen: dict[str, Earlier] = {}
        self.read: list[str] = []

    def earlier(self, interval: Interval) -> Earlier:
        key = runstore.run_key(interval)
        if key not in self.seen:
            saved = _saved(self.config, key, self.profile)
            hist = saved[1] if saved is not None else None
            if hist is None:
                scan, _ = current_or_missing(self.config, interval)
                if scan is not None:
                    hist = count(self.profile.spec, scan)
                    self.read.append(key)
            self.counts[key] = hist if hist is not None and hist.rows else None
            known = saved[0] if saved is not None else Earlier(True)
            self.seen[key] = Earlier(self.counts[key] is not None, known.paged, known.since, known.schema)
        return self.seen[key]

    def histograms(self, keys: Sequence[str]) -> list[Histogram]:
        return [h for k in keys if (h := self.counts.get(k)) is not None]


def interval_counts(
    config: JobConfig, profile: Profile, intervals: Sequence[Interval]
) -> tuple[dict[str, Histogram], tuple[str, ...]]:
    """Each interval's counts in the profile's bins, by run key (intervals without data left out).

    Saved metrics first; an interval never scored with these bins is read and
    counted. Also returns the keys that were read.
    """
    history = SavedHistory(config, profile)
    for interval in intervals:
        history.earlier(interval)
    return {k: h for k, h in history.counts.items() if h is not None}, tuple(history.read)


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


def _describe(b: BaselineSettings, window: Window, asked: int, fallback: str, uncalibrated: str) -> str:
    """``rolling: 26 of 28 intervals, 2026-06-03 .. 2026-06-30; 2 skipped (paged)``, or the reference and why."""
    if fallback:
        text = f"reference ({b.window} window: {fallback})"
    elif b.window == "fixed" or not window.used:
        text = "reference"
    else:
        text = f"{b.window}: {len(window.used)} of {asked} intervals, {window.used[0]} .. {window.used[-1]}"
        paged = sum(why.startswith(PAGED) for _, why in window.skipped)
        if paged:
            text += f"; {paged} paged interval{'s' if paged > 1 else ''} left out"
    if window.note:
        text += f"; {window.note}"
    return f"{text}; thresholds not calibrated: {uncalibrated}" if uncalibrated else text


def choose_baseline(
    config: JobConfig, interval: Interval, profile: Profile, *, history: History | None = None
) -> Baseline:
    """The baseline of a run of ``interval``: the window's counts, or the reference's (and why).

    ``history`` tells what earlier intervals held and paged at (default: their saved runs, else their data).
    """
    b = config.baseline
    history = history if history is not None else SavedHistory(config, profile)
    found = candidates(config, interval)
    keys = [runstore.run_key(i) for i in found]
    by_key = dict(zip(keys, found, strict=True))
    window = select_window(keys, lambda k: history.earlier(by_key[k]), b)
    asked = b.intervals if b.window != "range" else len(keys)
    used = history.histograms(window.used)
    calibration, uncalibrated = Calibration(), ""
    if _calibrating(config):
        if len(used) >= b.min_count:  # a spread from a handful of intervals is not worth trusting
            calibration = calibrate(used, profile, config)
        else:
            uncalibrated = f"{len(used)} of {asked} intervals with data, fewer than min_intervals={b.min_count}"
    fallback = ""
    if b.window != "fixed" and len(used) < b.min_count:
        fallback = f"{len(used)} of {asked} intervals with data, fewer than min_intervals={b.min_count}"
    counts = profile.histogram if b.window == "fixed" or fallback else _total(used, profile)
    info = BaselineInfo(
        window=b.window,
        description=_describe(b, window, asked, fallback, uncalibrated),
        used=() if b.window == "fixed" or fallback else window.used,
        skipped=tuple(f"{key}: {why}" for key, why in window.skipped) if b.quarantine != "none" else (),
        since=window.since,
        method=calibration.method,
    )
    schemas = [e.schema for k in info.used if (e := history.earlier(by_key[k])).schema is not None]
    known = frozenset.intersection(*schemas) if schemas else frozenset()
    return Baseline(counts, info, calibration, tuple(history.read), known)
