"""Scheduled runs over lakehouse tables: config keys, the manifest's table version, reruns, the fan-out plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("deltalake")
pytest.importorskip("pyiceberg")
from deltalake import write_deltalake
from lakehouse_support import sql_catalog

from kldrift import cli
from kldrift.config import load_config
from kldrift.errors import ConfigError
from kldrift.histogram import Histogram
from kldrift.interval import Interval
from kldrift.pipeline import count_shard, load_or_fit_profile, plan_shards, run

DAYS = ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]


def day_rows(rng: np.random.Generator, day: str, n: int) -> pa.Table:
    return pa.table(
        {
            "dt": pa.array([day] * n),
            "fare": rng.normal(20, 5, n),
            "zone": pa.array(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])),
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A Delta table partitioned by ``dt``, one commit per day, and a plain reference file."""
    rng = np.random.default_rng(7)
    table = tmp_path / "lake" / "trips"
    for day in DAYS:
        write_deltalake(table, day_rows(rng, day, 2_000), partition_by=["dt"], mode="append")
    return table


def write(tmp_path: Path, body: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def job(table: Path, out: Path, **current: str) -> str:
    keys = ", ".join(f"{k}: {v}" for k, v in {"table": str(table), "where": "\"dt = '{ds}'\"", **current}.items())
    return (
        "dataset: trips\n"
        f"reference: {{table: {table}, where: \"dt < '2026-11-22'\"}}\n"
        f"current: {{{keys}}}\n"
        f"output: {out}\n"
    )


def manifest(out: Path, day: str) -> dict[str, Any]:
    return json.loads((out / "trips" / f"dt={day}" / "manifest.json").read_text())


def files(out: Path, day: str) -> dict[str, bytes]:
    return {n: (out / "trips" / f"dt={day}" / n).read_bytes() for n in ("alerts.jsonl", "metrics.parquet")}


def test_run_over_a_delta_table_records_its_version_and_a_rerun_reads_it_again(tmp_path: Path, lake: Path) -> None:
    config = write(tmp_path, job(lake, tmp_path / "out"))
    assert cli.main(["-q", "run", "--config", str(config), "--date", "2026-11-23"]) == 0
    first = manifest(tmp_path / "out", "2026-11-23")
    assert first["inputs"]["current"]["table"]["version"] == 3
    assert first["inputs"]["current"]["table"]["where"] == "dt = '2026-11-23'"
    assert first["rows"]["current"] == 2_000  # hand count: the day's one commit
    assert "(Delta version 3" in first["inputs"]["reference"]["source"]
    assert (tmp_path / "out" / "trips" / "dt=2026-11-23" / "alerts.jsonl").read_text() == ""  # same distribution
    before = files(tmp_path / "out", "2026-11-23")
    # a late commit into the day's partition: a rerun still reads version 3, and writes the same bytes
    write_deltalake(lake, day_rows(np.random.default_rng(1), "2026-11-23", 500), partition_by=["dt"], mode="append")
    assert cli.main(["-q", "run", "--config", str(config), "--date", "2026-11-23"]) == 0
    assert files(tmp_path / "out", "2026-11-23") == before
    assert manifest(tmp_path / "out", "2026-11-23")["inputs"]["current"]["table"]["version"] == 3
    # rerun: latest reads the correction
    latest = write(tmp_path, job(lake, tmp_path / "out", rerun="latest"), "latest.yaml")
    result = run(load_config(latest), Interval.for_date("2026-11-23"))
    assert result.report.n_current == 2_500
    assert manifest(tmp_path / "out", "2026-11-23")["inputs"]["current"]["table"]["version"] == 4


def test_a_partition_not_there_is_a_no_data_run(tmp_path: Path, lake: Path) -> None:
    config = load_config(write(tmp_path, job(lake, tmp_path / "out")))
    result = run(config, Interval.for_date("2026-11-30"))
    assert [c.check for c in result.report.checks] == ["no_data"]


def test_the_fan_out_plans_live_files_at_one_version_and_shards_add_up(tmp_path: Path, lake: Path) -> None:
    rng = np.random.default_rng(3)
    for _ in range(3):  # more files in the day's partition
        write_deltalake(lake, day_rows(rng, "2026-11-23", 300), partition_by=["dt"], mode="append")
    config = load_config(write(tmp_path, job(lake, tmp_path / "out")))
    interval = Interval.for_date("2026-11-23")
    profile = load_or_fit_profile(config)
    shards = plan_shards(config, interval, 3)
    assert 2 <= len(shards) <= 3  # by bytes: the 2,000-row file is a shard of its own
    assert {s.version for s in shards} == {6}
    # a commit after planning: the shards count the planned version's files
    day = day_rows(rng, "2026-11-23", 999)
    write_deltalake(lake, day, partition_by=["dt"], mode="overwrite", predicate="dt = '2026-11-23'")
    merged = Histogram.zero(profile.spec)
    for shard in shards:
        merged = merged + Histogram.from_json(count_shard(config, interval, shard, profile))
    assert merged.rows == 2_900  # hand count: 2,000 + 3 x 300
    solo = tmp_path / "solo"
    pinned = write(tmp_path, job(lake, solo, version="6"), "pinned.yaml")
    assert run(load_config(pinned), interval).report.n_current == 2_900


def test_table_config_keys_and_their_errors(tmp_path: Path, lake: Path) -> None:
    def error(body: str) -> str:
        with pytest.raises(ConfigError) as err:
            load_config(write(tmp_path, body, "bad.yaml"))
        return str(err.value).split(": ", 1)[1]

    base = f"dataset: t\nreference: {tmp_path}/ref.parquet\noutput: {tmp_path}/out\n"
    assert error(base + "current: {tabel: x}").startswith("current.tabel: unknown key (did you mean 'table'?)")
    assert error(base + "current: {table: x, iceberg: db.t}") == (
        "current: give one of table (a Delta table's path) or iceberg (an Iceberg table's name)"
    )
    assert (
        error(base + "current: {iceberg: db.t, version: 3}")
        == "current.version: applies to a Delta table (table:) only"
    )
    assert error(base + "current: {table: x, catalog: prod}") == (
        "current.catalog: applies to an Iceberg table (iceberg:) only"
    )
    assert (
        error(base + "current: {table: x, version: 1, as_of: '2026-01-01'}")
        == "current: give one of version or as_of, not both"
    )
    assert error(base + "current: {table: x, version: -1}").startswith(
        "current.version: expected greater than or equal to 0"
    )
    assert error(base + "current: {table: x, rerun: never}") == (
        "current.rerun: expected 'same_version' or 'latest', got 'never'"
    )
    assert error(base + "current: {table: x, where: '{dt}'}").startswith("current.where: unknown placeholder {dt}")
    assert error(base + "current: {iceberg: events}").startswith(
        "current.iceberg: expected a table identifier namespace.table"
    )
    assert error(
        f"dataset: t\ncurrent: x/\noutput: {tmp_path}/out\nreference: {{table: x, where: \"dt = '{{ds}}'\"}}\n"
    ) == ("reference: a reference table takes no placeholders ({ds}, {start}, ...)")
    bad_as_of = load_config(write(tmp_path, base + "current: {table: x, as_of: 'soon'}", "as_of.yaml"))
    with pytest.raises(ConfigError, match=r"current.as_of: expected an ISO date or timestamp .*got 'soon'"):
        bad_as_of.current_source(Interval.for_date("2026-11-23"))
    secret = load_config(
        write(
            tmp_path, base + "current: {iceberg: db.t, catalog: {type: rest, uri: 'http://h', token: S3CRET}}", "s.yaml"
        )
    )
    assert "S3CRET" not in str(secret.current)
    assert "S3CRET" not in repr(secret)
    typed = load_config(
        write(tmp_path, base + "current: {iceberg: db.t, catalog: {type: sql, s3.path-style-access: true}}", "b.yaml")
    )
    assert typed.current_source(Interval.for_date("2026-11-23")).properties["s3.path-style-access"] == "true"
    end = load_config(write(tmp_path, base + f"current: {{table: {lake}, as_of: '{{end}}'}}", "end.yaml"))
    source = end.current_source(Interval.for_date("2026-11-23"))
    assert source.as_of is not None
    assert source.as_of.isoformat() == "2026-11-24T00:00:00+00:00"


def test_run_over_an_iceberg_table_records_its_snapshot(tmp_path: Path) -> None:
    cat, props = sql_catalog(tmp_path / "ice")
    cat.create_namespace("db")
    rng = np.random.default_rng(5)
    data = pa.concat_tables([day_rows(rng, d, 1_000) for d in DAYS])
    tbl = cat.create_table("db.trips", schema=data.schema)
    with tbl.update_spec() as spec:
        spec.add_identity("dt")
    tbl.append(data)
    catalog = "{" + ", ".join(f"{k}: '{v}'" for k, v in props.items()) + "}"
    body = (
        "dataset: trips\n"
        f"reference: {{iceberg: db.trips, catalog: {catalog}, where: \"dt < '2026-11-22'\"}}\n"
        f"current: {{iceberg: db.trips, catalog: {catalog}, where: \"dt = '{{ds}}'\"}}\n"
        f"output: {tmp_path}/out\n"
    )
    config = write(tmp_path, body)
    assert cli.main(["-q", "run", "--config", str(config), "--date", "2026-11-23"]) == 0
    recorded = manifest(tmp_path / "out", "2026-11-23")
    assert recorded["inputs"]["current"]["table"]["version"] == tbl.current_snapshot().snapshot_id
    assert recorded["inputs"]["current"]["table"]["format"] == "iceberg"
    assert recorded["rows"]["current"] == 1_000


def test_a_rerun_pins_only_the_same_table_and_where(tmp_path: Path, lake: Path) -> None:
    import shutil

    from kldrift.partitions import recorded_version

    interval = Interval.for_date("2026-11-23")
    config = load_config(write(tmp_path, job(lake, tmp_path / "out")))
    run(config, interval)
    assert recorded_version(config, interval, config.current_source(interval)) == 3  # type: ignore[arg-type]
    other = tmp_path / "copy"
    shutil.copytree(lake, other)
    moved = load_config(write(tmp_path, job(other, tmp_path / "out"), "moved.yaml"))
    assert recorded_version(moved, interval, moved.current_source(interval)) is None  # type: ignore[arg-type]
    wider = load_config(write(tmp_path, job(lake, tmp_path / "out", where="\"dt >= '{ds}'\""), "wider.yaml"))
    assert recorded_version(wider, interval, wider.current_source(interval)) is None  # type: ignore[arg-type]
