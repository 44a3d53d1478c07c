"""The trend: every run's feature rows under ``<output>/<dataset>/``, as one table.

Read through :func:`kldrift.runstore.read_runs`, so one unreadable ``metrics.parquet``
is skipped with a warning instead of hiding every other run.
"""

from __future__ import annotations

import os

import pandas as pd

from kldrift import runstore
from kldrift.config import JobConfig
from kldrift.errors import SchemaError, SourceError

__all__ = ["read_history"]

_OUTPUT = (
    *("feature", "severity", "metric", "value", "kl", "kl_reverse", "psi", "jensen_shannon", "p_adjusted"),
    *("n_current", "threshold_warn", "threshold_critical", "drift_share", "dataset_drift"),
)
"""The columns of the trend, after the run's date."""


def read_history(config: JobConfig, *, feature: str | None = None, before: str | None = None) -> pd.DataFrame:
    """One row per (run, feature), oldest first; only runs before the key ``before`` when given."""
    root = config.dataset_dir()
    if not os.path.isdir(root):
        raise SourceError(f"{root}: no runs yet (run `kldrift run --config ... --date ...` first)")
    runs = [r for r in runstore.read_runs(root, columns=runstore.SUMMARY_COLUMNS, before=before) if r.readable]
    if not runs:
        raise SourceError(f"{root}: no readable metrics.parquet in any dt=<date>/ folder yet")
    rows = [{"date": run.date, **{c: r.get(c) for c in _OUTPUT}} for run in runs for r in run.features]
    df = pd.DataFrame(rows, columns=["date", *_OUTPUT])
    if feature is not None:
        if feature not in set(df["feature"]):
            raise SchemaError.missing_column(feature, sorted(set(df["feature"])), where=f"history of {root}")
        df = df[df["feature"] == feature]
    return df.sort_values(["date", "feature"], kind="stable").reset_index(drop=True)
