"""Issue 20: OpenLineage datasets come from the manifest's source records, not from a display string.

A ``split(",")`` of ``"[data/a,b/, ...]"`` cut a path holding a comma in two and named a dataset
``"<pyarrow.Table 3 rows>"``. Now each path of the sources is one input dataset, whole, and data
handed over in memory is none. The facets are built by the OpenLineage provider's own classes in a
child process (the pytest process never imports Airflow).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from airflow_support import airflow_env, run_scenario
from helpers import write_parquet

from kldrift.config import load_config
from kldrift.outputs.manifest import source_records
from kldrift.pipeline import run

pytestmark = pytest.mark.airflow

DAY = "2026-05-04"


def test_each_source_path_is_one_dataset_commas_and_all(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    write_parquet(tmp_path / "ref,eu" / "a.parquet", pa.table({"x": rng.normal(size=500)}))
    for part in ("cur,eu", "cur,us"):
        write_parquet(tmp_path / part / f"dt={DAY}" / "a.parquet", pa.table({"x": rng.normal(size=200)}))
    config = tmp_path / "job.yaml"
    config.write_text(
        "dataset: commas\nreference: ['ref,eu/']\n"
        "current: ['cur,eu/dt={ds}/', 'cur,us/dt={ds}/', 'cur,fr/dt={ds}/']\noutput: out/\n"
    )
    job = load_config(config)
    summary = run(job, job.schedule_of().for_date(DAY), deliver=False).summary()
    manifest = json.loads(Path(summary.paths["manifest"]).read_text())
    assert manifest["inputs"]["current"]["sources"] == [  # the day not there (cur,fr) is not a source
        {"path": f"{tmp_path}/cur,eu/dt={DAY}"},
        {"path": f"{tmp_path}/cur,us/dt={DAY}"},
    ]
    found = run_scenario("lineage", {"summary": summary.to_json()}, airflow_env(tmp_path / "home"), timeout=180)
    facets = ["dataQualityAssertions", "dataQualityMetrics"]
    assert found["inputs"] == [
        ["file", f"{tmp_path}/cur,eu/dt={DAY}", facets],
        ["file", f"{tmp_path}/cur,us/dt={DAY}", facets],
        ["file", f"{tmp_path}/ref,eu", []],
    ]
    assert found["outputs"] == [["file", f"{tmp_path}/out/commas/dt={DAY}"]]
    # data handed over in memory is no dataset: a manifest naming a table gives none
    manifest["inputs"]["reference"]["sources"] = source_records(pa.table({"x": [1.0]}))
    assert manifest["inputs"]["reference"]["sources"] == [{"table": "<pyarrow.Table 1 rows>"}]
    Path(summary.paths["manifest"]).write_text(json.dumps(manifest))
    found = run_scenario("lineage", {"summary": summary.to_json()}, airflow_env(tmp_path / "home2"), timeout=180)
    assert [name for _, name, _ in found["inputs"]] == [f"{tmp_path}/cur,eu/dt={DAY}", f"{tmp_path}/cur,us/dt={DAY}"]
