"""OpenLineage for a kldrift run: its inputs and outputs, and each feature's result as a data-quality assertion.

With the OpenLineage provider installed (``pip install 'kldrift[openlineage]'``)
and a transport configured, the task that writes a run (``score_and_write``, or a
``KLDriftOperator``) emits on completion:

* inputs: the current data, with ``dataQualityMetrics`` (its rows; per scored column
  the rows counted) and ``dataQualityAssertions`` (per feature: the alert metric below
  its warn threshold, or not: ``success``, ``expected``, ``actual``, ``severity``), and
  the reference; one dataset per path of either, from the manifest's source records
  (``inputs.*.sources``: paths with commas are whole; tables and frames handed over in
  memory are no dataset, and are left out);
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
from typing import TYPE_CHECKING, Any

from kldrift.severity import Severity

if TYPE_CHECKING:
    from kldrift.summary import RunSummary

__all__ = ["dataset_id", "lineage"]


def dataset_id(path: str) -> tuple[str, str]:
    """OpenLineage's (namespace, name) of a path: ``file`` and the absolute path, or a URI's scheme and host."""
    if "://" in path:
        scheme, _, rest = path.partition("://")
        host, _, key = rest.partition("/")
        return f"{scheme}://{host}", key.rstrip("/")
    return "file", os.path.abspath(path).rstrip("/")


def _datasets(records: Any) -> list[tuple[str, str]]:
    """(namespace, name) of each path a manifest's source records name; data handed over in memory
    (a ``pyarrow.Table``, a ``DataFrame``: ``{"table": ...}``) is no dataset lineage can name."""
    return [dataset_id(str(r["path"])) for r in records or () if isinstance(r, Mapping) and r.get("path")]


def lineage(summary: RunSummary | None) -> Any:
    """The ``OperatorLineage`` of a run from its summary (``None`` when it wrote no files)."""
    if summary is None or not summary.paths.get("manifest") or not summary.paths.get("metrics"):
        return None
    import pyarrow.parquet as pq
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
    from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dqm

    with open(summary.paths["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    rows = [r for r in pq.read_table(summary.paths["metrics"]).to_pylist() if (r["check"] or "drift") == "drift"]
    assertions = []
    columns = {}
    for r in rows:
        value = r["value"]
        scored = Severity(r["severity"]).scored
        assertions.append(
            dqa.Assertion(
                assertion=f"{r['metric']}_below_warn_threshold",
                success=Severity(r["severity"]) is Severity.OK,
                column=r["feature"],
                severity=r["severity"],
                expected=f"< {r['threshold_warn']:g}",
                actual=f"{value:.6g}" if scored and math.isfinite(value) else str(r["message"] or r["severity"]),
            )
        )
        columns[r["feature"]] = dqm.ColumnMetrics(count=float(r["n_current"] or 0))
    inputs_record = manifest["inputs"]
    metrics = dqm.DataQualityMetricsInputDatasetFacet(
        rowCount=summary.n_current,
        fileCount=len(inputs_record["current"].get("files") or []),
        columnMetrics=columns,
    )
    facets = {
        "dataQualityMetrics": metrics,
        "dataQualityAssertions": dqa.DataQualityAssertionsDatasetFacet(assertions=assertions),
    }
    # Every path of the current data carries the run's facets (a weekly job reads seven days' folders).
    inputs = [
        InputDataset(namespace=ns, name=name, inputFacets=facets)
        for ns, name in _datasets(inputs_record["current"].get("sources"))
    ]
    inputs += [
        InputDataset(namespace=ns, name=name) for ns, name in _datasets(inputs_record["reference"].get("sources"))
    ]
    out_ns, out_name = dataset_id(os.path.dirname(summary.paths["metrics"]))
    return OperatorLineage(inputs=inputs, outputs=[OutputDataset(namespace=out_ns, name=out_name)])
