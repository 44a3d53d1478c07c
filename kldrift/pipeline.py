"""The only wiring: config → scan → bins (fit on reference) → counts → scores → outputs.

:func:`fit` and :func:`compare` are the library API. :func:`run` is the
scheduled job for one data interval, used as is by ``kldrift run``; the
Airflow DAG calls the same pieces one by one (:func:`load_or_fit_profile`,
:func:`plan_shards`, :func:`count_shard`, :func:`finish`) so that a fan-out
over shards writes byte-identical files.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kldrift.binning import BinSpec, Fitter, quantile_edges, sample_per_column, select_features
from kldrift.columns import to_numbers
from kldrift.config import Interval, JobConfig, Settings, coerce_config
from kldrift.errors import ProfileError, SourceError
from kldrift.histogram import Histogram, count, workers
from kldrift.profile import Profile
from kldrift.scan import Scan, Source, open_source
from kldrift.scoring import DriftReport, score

__all__ = [
    "RunResult",
    "compare",
    "count_current",
    "count_shard",
    "finish",
    "fit",
    "load_or_fit_profile",
    "plan_shards",
    "run",
]

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


def _is_profile_path(source: object) -> bool:
    return isinstance(source, str | os.PathLike) and os.fspath(source).endswith(".json")


def _fit_scan(scan: Scan, settings: Settings, on_rows: Progress | None = None) -> Profile:
    columns = select_features(scan, settings)
    names = [n for n, _ in columns]
    total = scan.count_rows()
    fitter = Fitter(columns, settings, total)
    if not fitter.sample_is_complete():
        # Big reference: place provisional cut points from a pilot of a few row groups, so the
        # one full pass both samples and counts exactly; columns where the pilot misses the
        # quantiles (checked against the pass's systematic sample) get a second pass.
        fitter = Fitter(columns, settings, total, _pilot_edges(scan, settings, fitter.numeric_quantile_columns()))
    row0 = 0
    with ThreadPoolExecutor(workers()) as pool:
        for i, group in enumerate(scan.column_groups(names)):
            row0 = 0
            for batch in scan.batches(group):
                list(pool.map(fitter.add_column, group, [batch.column(n) for n in group], [row0] * len(group)))
                row0 += batch.num_rows
                if on_rows and i == 0:
                    on_rows(batch.num_rows)
        fitter.rows = row0
        spec, counts = fitter.finish(pool)
    rest = [f for f in spec.features if f.name not in counts]
    if rest:
        # Cut points came from a sample: count the reference exactly in a second pass.
        sub = BinSpec(tuple(rest))
        partial = count(sub, scan, where=f"reference {scan.description}", on_batch=on_rows)
        counts.update(partial.counts)
    hist = Histogram(spec.fingerprint, row0, {f.name: counts[f.name] for f in spec.features}, {})
    files = tuple({"path": f.path, "size": f.size, "mtime": f.mtime} for f in scan.files)
    return Profile(spec, hist, settings.binning_fingerprint(), scan.description, files)


PILOT_ROW_GROUPS = 8


def _pilot_edges(scan: Scan, settings: Settings, names: list[str]) -> dict[str, tuple[float, ...]]:
    """Quantile cut points of each column from a few row groups spread over the reference."""
    if not names:
        return {}
    pilot = scan.spread(PILOT_ROW_GROUPS)
    per_column = sample_per_column(len(names), settings.binning.sample_size)
    stride = max(1, -(-pilot.count_rows() // per_column))
    samples: dict[str, list[np.ndarray[Any, Any]]] = {n: [] for n in names}
    for group in pilot.column_groups(names):
        row0 = 0
        for batch in pilot.batches(group):
            for n in group:
                x = to_numbers(batch.column(n))[(-row0) % stride :: stride]
                samples[n].append(x[~np.isnan(x)] if x.dtype.kind == "f" else x.astype(np.float64))
            row0 += batch.num_rows
    out = {}
    for n in names:
        col = settings.column(n)
        values = np.concatenate(samples[n]) if samples[n] else np.zeros(0)
        edges = quantile_edges(values, col.bins or settings.binning.bins)
        if edges:
            out[n] = edges
    return out


def fit(reference: Source, *, config: object = None) -> Profile:
    """Bins fitted on ``reference`` plus the reference's counts in them.

    ``reference`` is a Parquet file, folder, glob, list of paths,
    ``pyarrow.Table`` or ``pandas.DataFrame``; ``config`` a dict, a YAML path or
    a :class:`~kldrift.config.Settings`.
    """
    settings = coerce_config(config)
    return _fit_scan(open_source(reference), settings)


def _reference_profile(reference: Source | Profile, settings: Settings) -> Profile:
    if isinstance(reference, Profile):
        return reference
    if _is_profile_path(reference):
        return Profile.load(reference)
    return fit(reference, config=settings)


def count_current(profile: Profile, current: Source, *, on_rows: Progress | None = None) -> Histogram:
    """Counts of the current data in the profile's bins."""
    return count(profile.spec, open_source(current), on_batch=on_rows)


def compare(reference: Source | Profile, current: Source, *, config: object = None) -> DriftReport:
    """Drift of ``current`` against ``reference``, one row per feature.

    ``reference`` is a source (fitted here) or a :class:`~kldrift.profile.Profile`
    (or the path of a saved one, ``*.json``); ``current`` a source.
    """
    settings = coerce_config(config)
    profile = _reference_profile(reference, settings)
    return score(profile.spec, profile.histogram, count_current(profile, current), settings)


# --- the scheduled job ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one run of the job produced."""

    report: DriftReport
    interval: Interval
    paths: dict[str, str]
    """Written files by name: ``alerts``, ``metrics``, ``manifest`` (and ``report``, ``index``)."""
    deliveries: tuple[dict[str, Any], ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A small JSON-able summary (what the Airflow task returns through XCom)."""
        return {
            "dataset": self.report.settings.dataset if isinstance(self.report.settings, JobConfig) else "",
            "date": self.interval.ds,
            "worst": self.report.worst,
            "severities": self.report.counts_by_severity(),
            "alerts": [f.feature for f in self.report.alerts],
            "dataset_drift": self.report.dataset_drift,
            "drift_share": self.report.drift_share,
            "n_current": self.report.n_current,
            "paths": dict(self.paths),
        }


def load_or_fit_profile(config: JobConfig, *, refit: bool = False, on_rows: Progress | None = None) -> Profile:
    """The job's reference profile: the saved one when it matches the config, else fitted and saved.

    ``reference:`` may itself be a saved profile (``*.json``), used as is.
    """
    ref = config.reference_source()
    if _is_profile_path(ref):
        return Profile.load(ref)
    path = config.profile_path()
    want = config.binning_fingerprint()
    if not refit and os.path.exists(path):
        try:
            profile = Profile.load(path)
        except ProfileError as exc:
            log.warning("%s; refitting the profile", exc)
        else:
            scan = open_source(ref)
            if profile.binning_fingerprint != want:
                log.warning(
                    "%s: the config's binning changed since this profile was fitted "
                    "(fingerprint %s, now %s); refitting",
                    path,
                    profile.binning_fingerprint,
                    want,
                )
            elif _file_keys(profile.files) != _file_keys(scan.files):
                log.warning("%s: the reference files changed since this profile was fitted; refitting", path)
            else:
                return profile
    profile = _fit_scan(open_source(ref), config, on_rows)
    profile.save(path)
    log.info("saved reference profile %s (%d rows, %d features)", path, profile.rows, len(profile.features))
    return profile


def _file_keys(files: Sequence[Any]) -> set[tuple[str, int]]:
    """(path, size) of each file: what must match for a saved profile to still describe the reference."""
    return {(str(f["path"]), int(f["size"])) if isinstance(f, dict) else (f.path, f.size) for f in files}


def _current_scan(config: JobConfig, interval: Interval) -> Scan:
    path = config.current_source(interval)
    try:
        return open_source(path)
    except SourceError as exc:
        raise SourceError(f"current data for {interval.ds}: {exc}") from None


def plan_shards(config: JobConfig, interval: Interval, max_shards: int | None = None) -> list[list[str]]:
    """The current interval's files, grouped into at most ``airflow.max_shards`` shards."""
    return _current_scan(config, interval).shards(max_shards or config.airflow.max_shards)


def count_shard(config: JobConfig, interval: Interval, files: Sequence[str], profile: Profile) -> dict[str, Any]:
    """Partial counts of some of the interval's files, as small JSON (an Airflow XCom)."""
    scan = _current_scan(config, interval)
    return count(profile.spec, scan.subset(files)).to_json()


def finish(
    config: JobConfig,
    interval: Interval,
    profile: Profile,
    current: Histogram,
    *,
    scan: Scan | None = None,
    timings: dict[str, float] | None = None,
    deliver: bool = True,
) -> RunResult:
    """Score merged counts and write the run's files (and deliver the webhook)."""
    from kldrift.outputs import write_run

    report = score(profile.spec, profile.histogram, current, config)
    scan = scan or _current_scan(config, interval)
    return write_run(config, interval, profile, report, scan=scan, timings=timings or {}, deliver=deliver)


def run(config: JobConfig, interval: Interval, *, on_rows: Progress | None = None, deliver: bool = True) -> RunResult:
    """The scheduled job for one data interval: fit or reuse the profile, count, score, write."""
    t0 = time.perf_counter()
    profile = load_or_fit_profile(config, on_rows=on_rows)
    t1 = time.perf_counter()
    scan = _current_scan(config, interval)
    current = count(profile.spec, scan, on_batch=on_rows)
    t2 = time.perf_counter()
    timings = {"profile_s": t1 - t0, "count_s": t2 - t1}
    return finish(config, interval, profile, current, scan=scan, timings=timings, deliver=deliver)
