"""The trend: every run's ``metrics.parquet`` under ``<output>/<dataset>/``, read as one dataset."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from kldrift.config import JobConfig
from kldrift.errors import SchemaError, SourceError

__all__ = ["read_history"]

_COLUMNS = [
    "date",
    "check",
    "feature",
    "severity",
    "metric",
    "value",
    "kl",
    "kl_reverse",
    "psi",
    "jensen_shannon",
    "p_adjusted",
    "n_current",
    "threshold_warn",
    "threshold_critical",
    "drift_share",
    "dataset_drift",
]


def read_history(config: JobConfig, *, feature: str | None = None, before: str | None = None) -> pd.DataFrame:
    """One row per (run date, feature), oldest first; only dates before ``before`` when given."""
    root = config.dataset_dir()
    if not os.path.isdir(root):
        raise SourceError(f"{root}: no runs yet (run `kldrift run --config ... --date ...` first)")
    files = sorted(
        os.path.join(root, d, "metrics.parquet")
        for d in os.listdir(root)
        if d.startswith("dt=") and os.path.isfile(os.path.join(root, d, "metrics.parquet"))
    )
    if not files:
        raise SourceError(f"{root}: no metrics.parquet in any dt=<date>/ folder yet")
    try:
        dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=root)
        table = dataset.to_table(columns=[c for c in _COLUMNS if c in dataset.schema.names])
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{root}: cannot read run history: {exc}") from exc
    df = table.to_pandas()
    if "check" in df.columns:  # the feature rows only: runs also save schema, volume and unscored rows
        df = df[df["check"].isna() | (df["check"] == "drift")].drop(columns=["check"])
    if feature is not None:
        if feature not in set(df["feature"]):
            raise SchemaError.missing_column(feature, sorted(set(df["feature"])), where=f"history of {root}")
        df = df[df["feature"] == feature]
    if before is not None:
        df = df[df["date"] < before]
    return df.sort_values(["date", "feature"], kind="stable").reset_index(drop=True)
