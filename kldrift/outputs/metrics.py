"""``metrics.parquet``: every feature's row plus its per-bin counts, for trends and re-rendering."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kldrift.atomic import write_bytes
from kldrift.scoring import COLUMNS, DriftReport

__all__ = ["SCHEMA", "metrics_table", "read_metrics", "write_metrics"]

_FIELD_TYPES: dict[str, pa.DataType] = {
    "feature": pa.string(),
    "kind": pa.string(),
    "n_reference": pa.int64(),
    "n_current": pa.int64(),
    "n_bins": pa.int64(),
    "severity": pa.string(),
    "message": pa.string(),
    "metric": pa.string(),
    "spec_fingerprint": pa.string(),
}

SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string()),
        pa.field("date", pa.string()),
        *(pa.field(c, _FIELD_TYPES.get(c, pa.float64())) for c in COLUMNS),
        pa.field("bin_labels", pa.list_(pa.string())),
        pa.field("reference_counts", pa.list_(pa.int64())),
        pa.field("current_counts", pa.list_(pa.int64())),
        pa.field("contributions", pa.list_(pa.float64())),
        pa.field("rows_reference", pa.int64()),
        pa.field("rows_current", pa.int64()),
        pa.field("drift_share", pa.float64()),
        pa.field("dataset_drift", pa.bool_()),
        pa.field("interval_start", pa.string()),
        pa.field("interval_end", pa.string()),
    ]
)


def metrics_table(
    report: DriftReport, *, dataset: str, date: str | None, start: str | None = None, end: str | None = None
) -> pa.Table:
    """One row per feature: the report's columns, the bins, and run-level context."""
    cols: dict[str, list[Any]] = {f.name: [] for f in SCHEMA}
    for f, b in zip(report.features, report.bins, strict=True):
        cols["dataset"].append(dataset)
        cols["date"].append(date)
        for c in COLUMNS:
            cols[c].append(getattr(f, c))
        cols["bin_labels"].append(list(b.labels))
        cols["reference_counts"].append(list(b.reference))
        cols["current_counts"].append(list(b.current))
        cols["contributions"].append(list(b.contributions))
        cols["rows_reference"].append(report.n_reference)
        cols["rows_current"].append(report.n_current)
        cols["drift_share"].append(report.drift_share)
        cols["dataset_drift"].append(report.dataset_drift)
        cols["interval_start"].append(start)
        cols["interval_end"].append(end)
    return pa.table(cols, schema=SCHEMA)


def write_metrics(path: str, table: pa.Table) -> str:
    """Write ``metrics.parquet`` atomically; same table, same bytes."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True)
    return write_bytes(path, buf.getvalue())


def read_metrics(path: str) -> pa.Table:
    return pq.read_table(path)
