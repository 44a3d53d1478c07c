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
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kldrift.binning import BinSpec, Fitter, quantile_edges, sample_per_column, select_features
from kldrift.columns import to_numbers
from kldrift.config import Interval, JobConfig, Settings, coerce_config
from kldrift.errors import NoDataError, ProfileError, SourceError
from kldrift.histogram import Histogram, count, workers
from kldrift.profile import Profile
from kldrift.redact import redact_url
from kldrift.scan import Scan, Source, open_source
from kldrift.schema import schema_changes
from kldrift.scoring import DriftReport, RunCheck, score, volume_check

__all__ = [
    "RunResult",
    "assess",
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


def _pandas_index(scan: Scan) -> list[str]:
    """Columns the pandas index was written to (``DataFrame.to_parquet`` keeps it as ``__index_level_0__``)."""
    try:
        meta = scan.schema.pandas_metadata or {}
    except (ValueError, TypeError):  # malformed pandas metadata: no index columns known
        return []
    return [c for c in meta.get("index_columns", []) if isinstance(c, str)]


def _fit_scan(scan: Scan, settings: Settings, on_rows: Progress | None = None) -> Profile:
    plan = select_features(scan, settings)
    total = scan.count_rows()
    index = _pandas_index(scan)
    fitter = Fitter(plan, settings, total, pandas_index=index)
    if not fitter.sample_is_complete():
        # Big reference: place provisional cut points from a pilot of a few row groups, so the
        # one full pass both samples and counts exactly; columns where the pilot misses the
        # quantiles (checked against the pass's systematic sample) get a second pass.
        pilot = _pilot_edges(scan, settings, fitter.numeric_quantile_columns())
        fitter = Fitter(plan, settings, total, pilot, pandas_index=index)
    names = fitter.names
    row0 = 0
    with ThreadPoolExecutor(workers()) as pool:
        for i, group in enumerate(scan.column_groups(names)):
            row0 = 0
            for batch in scan.batches(group):
                list(pool.map(fitter.add_column, group, [batch.column(n) for n in group], [row0] * len(group)))
                row0 += batch.num_rows
                if on_rows and i == 0:
                    on_rows(batch.num_rows)
        if not names:
            row0 = total
        fit = fitter.finish(pool)
    spec, counts = fit.spec, fit.counts
    rest = [f for f in spec.features if f.name not in counts]
    if rest:
        # Cut points came from a sample: count the reference exactly in a second pass.
        sub = BinSpec(tuple(rest))
        partial = count(sub, scan, where=f"reference {scan.description}", on_batch=on_rows)
        counts.update(partial.counts)
    hist = Histogram(spec.fingerprint, row0, {f.name: counts[f.name] for f in spec.features}, {})
    files = _file_records(scan)
    return Profile(
        spec,
        hist,
        settings.binning_fingerprint(),
        redact_url(scan.description),
        files,
        fit.columns,
        fit.test_counts,
        fit.test_pool,
        fit.coverage,
    )


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


def assess(
    profile: Profile,
    current: Histogram,
    settings: Settings,
    *,
    scan: Scan | None,
    checks: Sequence[RunCheck] = (),
) -> DriftReport:
    """Score the current counts against the profile, with the schema changes ``scan`` shows.

    ``scan`` is the current data the counts came from (``None``: it was not
    there); ``checks`` are the run-level findings (volume) to carry along.
    """
    changes = []
    if scan is not None:
        first = scan.files[0].path if scan.files else None
        changes = schema_changes(
            profile.columns,
            scan.schema,
            settings,
            file=first,
            partition_columns=scan.partition_columns,
            conflicts=scan.conflicts,
            duplicates=scan.duplicates,
        )
    hints = {c.name: c.reason for c in profile.columns if c.scored and c.reason}
    all_checks = list(checks)
    if current.rows == 0 and not any(c.check == "no_data" for c in all_checks):
        all_checks.insert(0, volume_check(0, None, "", settings, missing="the current data has no rows"))
    return score(
        profile.spec,
        profile.histogram,
        current,
        settings,
        test_reference=(profile.test_counts, profile.test_pool),
        hints=hints,
        schema=changes,
        checks=all_checks,
        unscored=profile.unscored(),
    )


def compare(reference: Source | Profile, current: Source, *, config: object = None) -> DriftReport:
    """Drift of ``current`` against ``reference``, one row per feature.

    ``reference`` is a source (fitted here) or a :class:`~kldrift.profile.Profile`
    (or the path of a saved one, ``*.json``); ``current`` a source.
    """
    settings = coerce_config(config)
    profile = _reference_profile(reference, settings)
    scan = open_source(current)
    return assess(profile, count(profile.spec, scan), settings, scan=scan)


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
        verdict = self.report.verdict
        return {
            "dataset": self.report.settings.dataset if isinstance(self.report.settings, JobConfig) else "",
            "date": self.interval.ds,
            "worst": str(self.report.worst),
            "verdict": verdict.headline,
            "severities": self.report.counts_by_severity(),
            "alerts": [f.feature for f in self.report.alerts],
            "schema": [f"{c.change}: {c.column}" for c in self.report.schema if c.severity != "ok"],
            "checks": {c.check: str(c.severity) for c in self.report.checks},
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
            elif _reference_changed(profile.files, scan):
                log.warning("%s: the reference files changed since this profile was fitted; refitting", path)
            else:
                return profile
    profile = _fit_scan(open_source(ref), config, on_rows)
    profile.save(path)
    log.info("saved reference profile %s (%d rows, %d features)", path, profile.rows, len(profile.features))
    return profile


def _file_records(scan: Scan) -> tuple[dict[str, Any], ...]:
    """The reference's files as a profile records them: path (without credentials), size, mtime, footer digest."""
    return tuple(
        {"path": redact_url(f.path), "size": f.size, "mtime": f.mtime, "footer": scan.footer_digest(f)}
        for f in scan.files
    )


def _reference_changed(saved: Sequence[Any], scan: Scan) -> bool:
    """Whether the reference's files differ from the ones a profile was fitted on.

    The same paths and sizes, and for a file whose mtime moved, the same Parquet footer
    (a file replaced by other data of the same size has another one; a copy that only
    touched it has the same).
    """
    before = {str(f["path"]): f for f in saved}
    now = {redact_url(f.path): f for f in scan.files}
    if before.keys() != now.keys():
        return True
    for path, info in now.items():
        old = before[path]
        if int(old["size"]) != info.size:
            return True
        if old.get("mtime") != info.mtime and old.get("footer") != scan.footer_digest(info):
            return True
    return False


def _current_scan(config: JobConfig, interval: Interval) -> Scan:
    path = config.current_source(interval)
    try:
        return open_source(path)
    except NoDataError as exc:
        raise NoDataError(f"current data for {interval.ds}: {exc}") from None
    except SourceError as exc:
        raise SourceError(f"current data for {interval.ds}: {exc}") from None


def _current_or_missing(config: JobConfig, interval: Interval) -> tuple[Scan | None, str | None]:
    """The interval's current data, or ``None`` and why, when the partition is not there."""
    try:
        return _current_scan(config, interval), None
    except NoDataError as exc:
        return None, str(exc)


def plan_shards(config: JobConfig, interval: Interval, max_shards: int | None = None) -> list[list[str]]:
    """The current interval's files, grouped into at most ``airflow.max_shards`` shards.

    A missing partition is one empty shard: its counts are zero and the run says ``no_data``.
    """
    scan, _ = _current_or_missing(config, interval)
    if scan is None:
        return [[]]
    return scan.shards(max_shards or config.airflow.max_shards)


def count_shard(config: JobConfig, interval: Interval, files: Sequence[str], profile: Profile) -> dict[str, Any]:
    """Partial counts of some of the interval's files, as small JSON (an Airflow XCom)."""
    if not files:
        return Histogram.zero(profile.spec).to_json()
    scan = _current_scan(config, interval)
    return count(profile.spec, scan.subset(files)).to_json()


def expected_rows(config: JobConfig, interval: Interval, profile: Profile) -> tuple[float, str] | None:
    """Rows the interval is expected to hold, and where that figure comes from.

    ``volume.expected_rows`` when set; else the median row count of the last
    ``volume.history`` earlier runs (at least ``volume.min_history`` of them,
    runs without rows left out); else the reference's rows per interval, from
    the days (or hours) its timestamp column covers; else ``None``.
    """
    from kldrift import runstore

    v = config.volume
    if v.expected_rows is not None:
        return float(v.expected_rows), "volume.expected_rows"
    earlier = []
    key = runstore.run_key(interval)
    for r in runstore.read_runs(config.dataset_dir(), columns=["rows_current"], before=key, last=v.history):
        rows = r.first("rows_current")
        if isinstance(rows, int) and rows > 0:
            earlier.append(rows)
    if len(earlier) >= v.min_history:
        return float(statistics.median(earlier)), f"median of {len(earlier)} earlier runs"
    hours = (interval.end - interval.start).total_seconds() / 3600
    return profile.rows_per_period(hours)


def finish(
    config: JobConfig,
    interval: Interval,
    profile: Profile,
    current: Histogram,
    *,
    scan: Scan | None = None,
    missing: str | None = None,
    timings: dict[str, float] | None = None,
    deliver: bool = True,
) -> RunResult:
    """Score merged counts and write the run's files (and deliver the webhook).

    ``scan`` is the current data that was counted; without it (the Airflow
    fan-out), the interval's data is listed again, and ``missing`` says why
    there is none when the partition is not there.
    """
    from kldrift.outputs import write_run

    if scan is None and missing is None:
        scan, missing = _current_or_missing(config, interval)
    expected = expected_rows(config, interval, profile)
    check = volume_check(
        current.rows,
        None if expected is None else expected[0],
        "" if expected is None else expected[1],
        config,
        missing=missing,
    )
    report = assess(profile, current, config, scan=scan, checks=[check])
    paths, deliveries = write_run(
        config, interval, profile, report, scan=scan, timings=timings or {}, deliver_webhook=deliver
    )
    return RunResult(report, interval, paths, deliveries, timings or {})


def run(config: JobConfig, interval: Interval, *, on_rows: Progress | None = None, deliver: bool = True) -> RunResult:
    """The scheduled job for one data interval: fit or reuse the profile, count, score, write.

    A partition that is not there (no folder, no Parquet file, a glob that
    matches nothing) is a run with a ``no_data`` alert, not an error.
    """
    t0 = time.perf_counter()
    profile = load_or_fit_profile(config, on_rows=on_rows)
    t1 = time.perf_counter()
    scan, missing = _current_or_missing(config, interval)
    current = count(profile.spec, scan, on_batch=on_rows) if scan is not None else Histogram.zero(profile.spec)
    t2 = time.perf_counter()
    timings = {"profile_s": t1 - t0, "count_s": t2 - t1}
    return finish(config, interval, profile, current, scan=scan, missing=missing, timings=timings, deliver=deliver)
