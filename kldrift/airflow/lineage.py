"""OpenLineage for a kldrift run: its inputs and outputs, and each feature's result as a data-quality assertion.

With the OpenLineage provider installed (``pip install 'kldrift[openlineage]'``)
and a transport configured, the task that writes a run (``score_and_write``, or a
``KLDriftOperator``) emits on completion:

* inputs: the current data, with ``dataQualityMetrics`` (its rows; per scored column
  the rows counted) and ``dataQualityAssertions`` (per feature: the alert metric below
  its warn threshold, or not: ``success``, ``expected``, ``actual``, ``severity``), and
  the reference;
* output: the run's folder (alerts.jsonl, metrics.parquet, the page).

The same facets the common.sql check operators emit, so lineage tools show drift
next to the other checks. Everything is read from the run's own manifest and
metrics, on the worker, after the files were written.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["dataset_id", "lineage"]


def dataset_id(path: str) -> tuple[str, str]:
    """OpenLineage's (namespace, name) of a path: ``file`` and the absolute path, or a URI's scheme and host."""
    if "://" in path:
        scheme, _, rest = path.partition("://")
        host, _, key = rest.partition("/")
        return f"{scheme}://{host}", key.rstrip("/")
    return "file", os.path.abspath(path).rstrip("/")


def lineage(summary: Mapping[str, Any]) -> Any:
    """The ``OperatorLineage`` of a run from its summary (``None`` when it wrote no files)."""
    paths = summary.get("paths") or {}
    if not paths.get("manifest") or not paths.get("metrics"):
        return None
    import pyarrow.parquet as pq
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
    from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dqm

    with open(paths["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    rows = [r for r in pq.read_table(paths["metrics"]).to_pylist() if (r["check"] or "drift") == "drift"]
    assertions = []
    columns = {}
    for r in rows:
        value = r["value"]
        scored = r["severity"] in ("ok", "warn", "critical")
        assertions.append(
            dqa.Assertion(
                assertion=f"{r['metric']}_below_warn_threshold",
                success=r["severity"] == "ok",
                column=r["feature"],
                severity=r["severity"],
                expected=f"< {r['threshold_warn']:g}",
                actual=f"{value:.6g}" if scored and math.isfinite(value) else str(r["message"] or r["severity"]),
            )
        )
        columns[r["feature"]] = dqm.ColumnMetrics(count=float(r["n_current"] or 0))
    table = manifest["inputs"]["current"].get("table") or {}  # a Delta or Iceberg table: its path or name
    current = str(table.get("table") or manifest["inputs"]["current"]["source"])
    reference = str(manifest["inputs"]["reference"]["source"])
    cur_ns, cur_name = dataset_id(current.split(",")[0].strip("[]' "))
    ref_ns, ref_name = dataset_id(reference.split(",")[0].strip("[]' "))
    out_ns, out_name = dataset_id(os.path.dirname(paths["metrics"]))
    metrics = dqm.DataQualityMetricsInputDatasetFacet(
        rowCount=int(summary.get("n_current") or 0),
        fileCount=len(manifest["inputs"]["current"].get("files") or []),
        columnMetrics=columns,
    )
    inputs = [
        InputDataset(
            namespace=cur_ns,
            name=cur_name,
            inputFacets={
                "dataQualityMetrics": metrics,
                "dataQualityAssertions": dqa.DataQualityAssertionsDatasetFacet(assertions=assertions),
            },
        ),
        InputDataset(namespace=ref_ns, name=ref_name),
    ]
    return OperatorLineage(inputs=inputs, outputs=[OutputDataset(namespace=out_ns, name=out_name)])
