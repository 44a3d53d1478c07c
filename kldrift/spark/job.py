"""kldrift on Spark: drift of Spark DataFrames, and a job run with its reading and counting on Spark.

:func:`fit`, :func:`count` and :func:`compare` take DataFrames and give what :func:`kldrift.fit`,
``kldrift.pipeline.count_current`` and :func:`kldrift.compare` give for the same rows
(``df.toArrow()``). :func:`run` is ``kldrift run`` with the reference and the interval's files read
and counted by Spark: the files it writes are byte for byte those of ``kldrift run``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from kldrift.config import JobConfig, Settings, coerce_config, load_config
from kldrift.fitting import PILOT_ROW_GROUPS
from kldrift.histogram import Histogram
from kldrift.interval import Interval
from kldrift.partitions import current_or_missing
from kldrift.pipeline import RunResult, assess, finish, load_or_fit_profile
from kldrift.profile import Profile
from kldrift.results import DriftReport
from kldrift.scan import Scan
from kldrift.spark.fitting import fit_dataframe, fit_scan
from kldrift.spark.frames import count_frames, counter_for, frames_of_dataframe, frames_of_scan, job_conf, session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["compare", "count", "fit", "run"]


def fit(reference: DataFrame, *, config: object = None) -> Profile:
    """Bins fitted on the rows of ``reference`` plus its counts in them, fitted on Spark.

    The profile :func:`kldrift.fit` fits on ``reference.toArrow()``: the same bins, counts and roles
    (the rows are taken in the DataFrame's order, partition by partition). Only the tallies of each
    partition reach the driver: the kept values of one group of columns at a time (64 MiB), the
    chosen categories and the counts.
    """
    return fit_dataframe(frames_of_dataframe(reference), coerce_config(config))


def count(profile: Profile, df: DataFrame) -> Histogram:
    """Counts of the rows of ``df`` in the profile's bins, counted on Spark's executors.

    Each partition runs kldrift's counting kernels and sends back its counts (a few numbers a
    feature); they are added on the driver. Features whose column is missing or of another kind
    are errors of the histogram, as :func:`kldrift.histogram.count` makes them.
    """
    frames = frames_of_dataframe(df, "current data")
    return count_frames(profile.spec, frames, counter_for(profile.spec, None, frames.schema))


def compare(reference: DataFrame | Profile, current: DataFrame, *, config: object = None) -> DriftReport:
    """Drift of the DataFrame ``current`` against ``reference`` (a DataFrame, fitted here, or a profile).

    The report :func:`kldrift.compare` gives for ``reference.toArrow()`` and ``current.toArrow()``.
    """
    settings = coerce_config(config)
    profile = reference if isinstance(reference, Profile) else fit(reference, config=settings)
    frames = frames_of_dataframe(current, "current data")
    counts = count_frames(profile.spec, frames, counter_for(profile.spec, None, frames.schema))
    return assess(profile, counts, settings, scan=Scan(frames.description, frames.schema))


def run(
    config: JobConfig | str | os.PathLike[str],
    interval: Interval,
    *,
    spark: SparkSession | None = None,
    deliver: bool = True,
) -> RunResult:
    """``kldrift run`` for one data interval, its reference fitted and its current data counted on Spark.

    The files are listed and their footers read on the driver, as ``kldrift run`` does (the manifest
    records them); the rows are read by Spark (``spark``, else the active session), each file in its
    own types. The saved profile is reused when it still matches, as ``kldrift run`` reuses it;
    scoring and writing are ``kldrift run``'s own (:func:`kldrift.pipeline.finish`), so
    ``alerts.jsonl`` and ``metrics.parquet`` are the bytes ``kldrift run`` writes.
    """
    if not isinstance(config, JobConfig):
        config = load_config(config)
    spark = session(spark)
    with job_conf(spark):
        t0 = time.perf_counter()
        profile = load_or_fit_profile(config, fitter=lambda scan, cfg: _fit_files(spark, scan, cfg))
        t1 = time.perf_counter()
        scan, missing = current_or_missing(config, interval)
        t2 = time.perf_counter()
        if scan is None:
            current = Histogram.zero(profile.spec)
        else:
            current = count_frames(
                profile.spec, frames_of_scan(spark, scan), counter_for(profile.spec, scan, scan.schema)
            )
    timings = {"profile_s": t1 - t0, "scan_s": t2 - t1, "count_s": time.perf_counter() - t2}
    return finish(config, interval, profile, current, scan=scan, missing=missing, timings=timings, deliver=deliver)


def _fit_files(spark: SparkSession, scan: Scan, settings: Settings) -> Profile:
    """The reference's profile on Spark; its pilot reads only the files that hold the pilot's row groups."""
    pilot = {f.path for f in scan.spread(PILOT_ROW_GROUPS).files}
    return fit_scan(frames_of_scan(spark, scan), scan, settings, pilot=frames_of_scan(spark, scan, pilot))
