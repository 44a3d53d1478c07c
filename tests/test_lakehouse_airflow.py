"""A real ``airflow dags test`` of a kldrift DAG over a Delta table, in a child process (the factory's DAG).

The DAG plans the day's live files at one table version, counts them in mapped shards and
writes the run's files; ``kldrift run`` of the same config writes the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from airflow_support import DAGS, airflow_env, run_cli

from kldrift import cli

pytest.importorskip("deltalake")
from deltalake import DeltaTable, write_deltalake

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_airflow_dags_test_over_a_delta_table_matches_kldrift_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    table = tmp_path / "lake" / "trips table"  # a space in the path, as users have
    for day in ["2026-11-21", "2026-11-22", "2026-11-23"]:
        for _ in range(2):
            rows = pa.table(
                {
                    "dt": [day] * 800,
                    "fare": rng.normal(20 if day != "2026-11-23" else 26, 5, 800),
                    "zone": rng.choice(["a", "b", "c"], 800, p=[0.5, 0.3, 0.2]),
                }
            )
            write_deltalake(table, rows, partition_by=["dt"], mode="append")
    redo = pa.table({"dt": ["2026-11-21"] * 500, "fare": rng.normal(20, 5, 500), "zone": ["a"] * 500})
    write_deltalake(table, redo, partition_by=["dt"], mode="overwrite", predicate="dt = '2026-11-21'")
    version = DeltaTable(table).version()

    def config(folder: Path, out: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "lake.yaml"
        path.write_text(
            "dataset: trips\n"
            f"reference: {{table: '{table}', where: \"dt < '2026-11-23'\"}}\n"
            f"current: {{table: '{table}', where: \"dt = '{{ds}}'\"}}\n"
            f"output: {out}\n"
            "start_date: 2026-11-20\n"
            "airflow: {max_shards: 3, retries: 0}\n"
        )
        return path

    config(tmp_path / "configs", tmp_path / "out_dag")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "kldrift_dags.py").symlink_to(DAGS / "kldrift_dags.py")
    env = airflow_env(tmp_path / "airflow", dags=dags, configs=tmp_path / "configs")
    migrate = run_cli(["airflow", "db", "migrate"], env, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    dag_run = run_cli(["airflow", "dags", "test", "kldrift__lake", "2026-11-24"], env, timeout=480)
    assert dag_run.returncode == 0, (dag_run.stdout + dag_run.stderr)[-6000:]
    run_dir = tmp_path / "out_dag" / "trips" / "dt=2026-11-23"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["inputs"]["current"]["table"]["version"] == version
    assert manifest["rows"]["current"] == 1_600  # hand count: two commits of 800 rows into the day
    assert {f["path"].rsplit("/", 2)[-2] for f in manifest["inputs"]["current"]["files"]} == {"dt=2026-11-23"}
    assert cli.main(
        ["-q", "run", "--config", str(config(tmp_path / "cli", tmp_path / "out_cli")), "--date", "2026-11-23"]
    ) in (0, 1)
    cli_dir = tmp_path / "out_cli" / "trips" / "dt=2026-11-23"
    for name in ("alerts.jsonl", "metrics.parquet"):
        assert (run_dir / name).read_bytes() == (cli_dir / name).read_bytes(), name
    assert "fare" in (run_dir / "alerts.jsonl").read_text()  # the drifted day's fare
