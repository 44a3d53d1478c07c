"""The only wiring: config → scan → bins (fit on reference) → counts → scores → outputs.

:func:`fit` and :func:`compare` are the library API. :func:`run` is the
scheduled job for one data interval, used as is by ``kldrift run``; the
Airflow DAG calls the same pieces one by one (:func:`load_or_fit_profile`,
:func:`plan_shards`, :func:`count_shard`, :func:`finish`) so that a fan-out
over shards writes byte-identical files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kldrift.baseline import Baseline, choose_baseline
from kldrift.config import JobConfig, Settings, coerce_config
from kldrift.counting import Counts, count_scan, fit_with_segments, merge_counts, zero_counts
from kldrift.divergence import prefetch
from kldrift.errors import OutputError, ProfileError
from kldrift.filestamps import reference_changed, touched_records, with_content_digests
from kldrift.findings import RunCheck, SchemaChange, volume_check
from kldrift.fitting import Progress
from kldrift.interval import Interval
from kldrift.partitions import Shard, current_or_missing, plan_shards, planned_files, planned_scan
from kldrift.profile import Profile
from kldrift.results import DriftReport
from kldrift.scan import Scan, Source
from kldrift.schema import schema_changes
from kldrift.scoring import Findings, TestReference, score
from kldrift.segcount import SegmentedHistogram
from kldrift.severity import Severity
from kldrift.sources import open_source
from kldrift.summary import RunSummary

__all__ = [
    "RunResult",
    "assess",
    "compare",
    "count_current",
    "count_shard",
    "finish",
    "fit",
    "load_or_fit_profile",
    "merge_counts",
    "plan_shards",
    "planned_files",
    "run",
]

log = logging.getLogger(__name__)


def _is_profile_path(source: object) -> bool:
    return isinstance(source, str | os.PathLike) and os.fspath(source).endswith(".json")


def fit(reference: Source, *, config: object = None) -> Profile:
    """Bins fitted on ``reference`` plus the reference's counts in them.

    ``reference`` is a Parquet file, folder, glob, list of paths,
    ``pyarrow.Table`` or ``pandas.DataFrame``; ``config`` a dict, a YAML path or
    a :class:`~kldrift.config.Settings`.
    """
    settings = coerce_config(config)
    return fit_with_segments(open_source(reference), settings)


def _reference_profile(reference: Source | Profile, settings: Settings) -> Profile:
    if isinstance(reference, Profile):
        return reference
    if _is_profile_path(reference):
        return Profile.load(reference)
    return fit(reference, config=settings)


def count_current(profile: Profile, current: Source, *, settings: Settings | None = None) -> Counts:
    """Counts of the current data in the profile's bins (per segment when ``settings`` has segments)."""
    return count_scan(profile, open_source(current), settings)


def assess(
    profile: Profile,
    current: Counts,
    settings: Settings,
    *,
    scan: Scan | None,
    checks: Sequence[RunCheck] = (),
    baseline: Baseline | None = None,
    segment_baselines: Sequence[Baseline] | None = None,
) -> DriftReport:
    """Score the current counts against the profile, with the schema changes ``scan`` shows.

    ``scan`` is the current data the counts came from (``None``: it was not
    there); ``checks`` are the run-level findings (volume) to carry along;
    ``baseline`` the counts to compare with when not the reference's, and the
    calibrated thresholds (see :mod:`kldrift.baseline`); ``segment_baselines``
    each segment's, when counted per segment (see :mod:`kldrift.segscore`).
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
    if baseline is not None and baseline.known_schema:  # against a window: the recent normal is no change
        changes = [_as_in_baseline(c) if (c.column, c.change) in baseline.known_schema else c for c in changes]
    hints = {c.name: c.reason for c in profile.columns if c.scored and c.reason}
    all_checks = list(checks)
    whole = current.whole() if isinstance(current, SegmentedHistogram) else current
    if whole.rows == 0 and not any(c.check == "no_data" for c in all_checks):
        all_checks.insert(0, volume_check(0, None, "", settings, missing="the current data has no rows"))
    if isinstance(current, SegmentedHistogram):
        from kldrift.segscore import score_segmented

        findings = Findings(changes, all_checks, profile.unscored())
        return score_segmented(
            profile,
            current,
            settings,
            findings=findings,
            hints=hints,
            baseline=baseline,
            segment_baselines=segment_baselines,
        )
    windowed = baseline is not None and not baseline.is_reference
    return score(
        profile.spec,
        baseline.counts if baseline is not None else profile.histogram,
        current,
        settings,
        # Categories were chosen on the reference's even rows: its odd rows test them. A window's
        # intervals took no part in choosing the bins, so they are tested as they are.
        test_reference=None if windowed else TestReference(profile.test_counts, profile.test_pool),
        hints=hints,
        calibration=baseline.calibration if baseline is not None else None,
        findings=Findings(changes, all_checks, profile.unscored()),
        baseline=baseline.info if baseline is not None else None,
    )


def _as_in_baseline(change: SchemaChange) -> SchemaChange:
    return dataclasses.replace(
        change, severity=Severity.OK, message=f"{change.message} (as in every interval of the baseline: not new)"
    )


def compare(
    reference: Source | Profile,
    current: Source,
    *,
    config: object = None,
    on_rows: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> DriftReport:
    """Drift of ``current`` against ``reference``, one row per feature.

    ``reference`` is a source (fitted here) or a :class:`~kldrift.profile.Profile`
    (or the path of a saved one, ``*.json``); ``current`` a source. ``on_rows``
    is told the rows of each batch read (a progress bar); ``timings``, when
    given, receives the seconds spent on the reference (``profile_s``), on
    listing the current files and reading their footers (``scan_s``), counting
    them (``count_s``) and scoring (``score_s``).
    """
    settings = coerce_config(config)
    prefetch()  # scipy's import runs while the data is read
    t0 = time.perf_counter()
    profile = _reference_profile(reference, settings)
    t1 = time.perf_counter()
    scan = open_source(current)
    t2 = time.perf_counter()
    counts = count_scan(profile, scan, settings, on_rows)
    t3 = time.perf_counter()
    report = assess(profile, counts, settings, scan=scan)
    if timings is not None:
        timings.update(profile_s=t1 - t0, scan_s=t2 - t1, count_s=t3 - t2, score_s=time.perf_counter() - t3)
    return report


# --- the scheduled job ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one run of the job produced."""

    dataset: str
    report: DriftReport
    interval: Interval
    paths: dict[str, str]
    """Written files by name: ``alerts``, ``metrics``, ``manifest`` (and ``report``, ``index``)."""
    deliveries: tuple[dict[str, Any], ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> RunSummary:
        """A small JSON-able summary (what the Airflow task returns through XCom, as ``to_json()``)."""
        report = self.report
        verdict = report.verdict
        return RunSummary(
            dataset=self.dataset,
            date=self.interval.ds,
            worst=str(report.worst),
            paged=str(verdict.paged),
            page_reason=verdict.page_reason,
            verdict=verdict.headline,
            baseline=report.baseline.description,
            severities=report.counts_by_severity(),
            alerts=tuple(f.feature for f in report.alerts),
            schema=tuple(f"{c.change}: {c.column}" for c in report.schema if c.severity.alerting),
            checks={c.check: str(c.severity) for c in report.checks},
            dataset_drift=bool(report.dataset_drift),
            drift_share=float(report.drift_share),
            n_current=int(report.n_current),
            paths=dict(self.paths),
            deliveries=self.deliveries,
        )


def load_or_fit_profile(
    config: JobConfig,
    *,
    refit: bool = False,
    on_rows: Progress | None = None,
    fitter: Callable[[Scan, JobConfig], Profile] | None = None,
) -> Profile:
    """The job's reference profile: the saved one when it matches the config, else fitted and saved.

    ``reference:`` may itself be a saved profile (``*.json``), used as is. ``fitter`` fits the
    reference's scan instead of :func:`~kldrift.fitting.fit_profile` (``kldrift.spark`` fits on Spark).
    """
    ref = config.reference_source()
    if isinstance(ref, str) and _is_profile_path(ref):
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
            elif (why := reference_changed(profile.files, scan)) is not None:
                log.warning("%s: the reference files changed since this profile was fitted; refitting (%s)", path, why)
            else:
                return _refreshed(profile, scan, path)
    scan = open_source(ref)
    profile = fit_with_segments(scan, config, on_rows) if fitter is None else fitter(scan, config)
    # Saved for later runs to check (reference_changed): with each file's SHA-256, which compare() skips.
    profile = dataclasses.replace(profile, files=with_content_digests(profile.files, scan))
    profile.save(path)
    log.info("saved reference profile %s (%d rows, %d features)", path, profile.rows, len(profile.features))
    return profile


def _refreshed(profile: Profile, scan: Scan, path: str) -> Profile:
    """The profile with its files' new mtimes saved, when some moved over the same content (their digests
    matched): read once, not again at every run. A profile that cannot be written is used as it is."""
    files = touched_records(profile.files, scan)
    if files is None:
        return profile
    profile = dataclasses.replace(profile, files=files)
    try:
        profile.save(path)
    except OutputError as exc:
        log.warning("%s; the reference files' digests will be read again next run", exc)
    return profile


def count_shard(config: JobConfig, interval: Interval, shard: Shard, profile: Profile) -> dict[str, Any]:
    """Partial counts of one planned shard, as small JSON (an Airflow XCom)."""
    scan, _ = planned_scan(config, interval, shard)
    if scan is None:
        return zero_counts(profile, config).to_json()
    return count_scan(profile, scan, config).to_json()


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
    current: Counts,
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

    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    if scan is None and missing is None:
        scan, missing = current_or_missing(config, interval)
    expected = expected_rows(config, interval, profile)
    whole = current.whole() if isinstance(current, SegmentedHistogram) else current
    check = volume_check(
        whole.rows,
        None if expected is None else expected[0],
        "" if expected is None else expected[1],
        config,
        missing=missing,
        absent=scan.absent if scan is not None else (),
    )
    segment_baselines = None
    if isinstance(current, SegmentedHistogram):
        from kldrift.segbaseline import choose_baselines

        baseline, segment_baselines = choose_baselines(config, interval, profile)
    else:
        baseline = choose_baseline(config, interval, profile)
    if baseline.read:
        log.info(
            "baseline: counted the data of %d earlier intervals (%s)", len(baseline.read), ", ".join(baseline.read)
        )
    report = assess(
        profile, current, config, scan=scan, checks=[check], baseline=baseline, segment_baselines=segment_baselines
    )
    t1 = time.perf_counter()
    timings["score_s"] = t1 - t0
    paths, deliveries = write_run(
        config, interval, profile, report, scan=scan, timings=timings, deliver_webhook=deliver
    )
    timings["write_s"] = time.perf_counter() - t1  # every file, the report and the index included
    return RunResult(config.dataset, report, interval, paths, deliveries, timings)


def run(config: JobConfig, interval: Interval, *, on_rows: Progress | None = None, deliver: bool = True) -> RunResult:
    """The scheduled job for one data interval: fit or reuse the profile, count, score, write.

    A partition that is not there (no folder, no Parquet file, a glob that
    matches nothing) is a run with a ``no_data`` alert, not an error.
    """
    prefetch()  # scipy's import runs while the data is read
    t0 = time.perf_counter()
    profile = load_or_fit_profile(config, on_rows=on_rows)
    t1 = time.perf_counter()
    scan, missing = current_or_missing(config, interval)
    t2 = time.perf_counter()
    current = count_scan(profile, scan, config, on_rows) if scan is not None else zero_counts(profile, config)
    timings = {"profile_s": t1 - t0, "scan_s": t2 - t1, "count_s": time.perf_counter() - t2}
    return finish(config, interval, profile, current, scan=scan, missing=missing, timings=timings, deliver=deliver)
