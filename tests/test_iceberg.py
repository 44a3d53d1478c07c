"""Apache Iceberg tables read through pyiceberg: a SQL catalog on SQLite, snapshots, pruning, deletes.

Tables are written by pyiceberg in temp folders; delete files are crafted as the spec lays
them out (tests/lakehouse_support.py). The oracle is pyiceberg's own scan
(``table.scan().to_arrow()``) wherever it can read the table, and a hand count where it
cannot: pyiceberg 0.12 refuses tables with equality deletes.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("pyiceberg")
from lakehouse_support import commit_deletes, equality_deletes, positional_deletes, sql_catalog

import kldrift
from kldrift.errors import NoDataError, SourceError
from kldrift.histogram import count
from kldrift.pipeline import fit
from kldrift.sources import open_source


@pytest.fixture
def catalog(tmp_path: Path) -> tuple[Any, dict[str, str]]:
    cat, props = sql_catalog(tmp_path)
    cat.create_namespace("db")
    return cat, props


def values(source: object, column: str) -> list[Any]:
    """A column's values as a real pass over the source reads them (deletes applied)."""
    scan = open_source(source)
    return [v for b in scan.batches([column]) for v in b.column(column).to_pylist()]


def trips(rng: np.random.Generator, n: int, shift: float = 0.0) -> pa.Table:
    return pa.table(
        {
            "fare": rng.normal(20 + shift, 5, n),
            "zone": pa.array(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])),
        }
    )


def test_overwrite_append_delete_and_an_identical_distribution_scores_ok(
    catalog: tuple[Any, dict[str, str]], rng: np.random.Generator
) -> None:
    cat, props = catalog
    reference = trips(rng, 10_000)
    tbl = cat.create_table("db.trips", schema=reference.schema)
    tbl.append(trips(rng, 10_000, shift=15))
    tbl.overwrite(trips(rng, 10_000))  # the first snapshot's file stays in the warehouse
    source = kldrift.iceberg("db.trips", catalog=props)
    assert len(values(source, "fare")) == 10_000 == tbl.scan().to_arrow().num_rows
    report = kldrift.compare(reference, source)
    assert report.n_current == 10_000
    assert str(report.worst) == "ok", report.to_pandas()[["feature", "kl", "severity"]]
    tbl.append(trips(rng, 500))
    assert len(values(source, "fare")) == 10_500  # hand count: 10,000 + 500
    tbl.delete("fare > 20")  # copy-on-write: rewritten files
    oracle = cat.load_table("db.trips").scan().to_arrow()
    assert sorted(values(source, "fare")) == sorted(oracle.column("fare").to_pylist())


def test_snapshot_id_and_as_of(catalog: tuple[Any, dict[str, str]]) -> None:
    cat, props = catalog
    tbl = cat.create_table("db.t", schema=pa.schema([("x", pa.int64())]))
    tbl.append(pa.table({"x": [1, 2, 3]}))
    first = tbl.current_snapshot()
    time.sleep(0.01)
    tbl.append(pa.table({"x": [4]}))
    assert len(values(kldrift.iceberg("db.t", catalog=props), "x")) == 4
    assert sorted(values(kldrift.iceberg("db.t", catalog=props, snapshot_id=first.snapshot_id), "x")) == [1, 2, 3]
    then = dt.datetime.fromtimestamp(first.timestamp_ms / 1000 + 0.001, dt.UTC)
    assert sorted(values(kldrift.iceberg("db.t", catalog=props, as_of=then), "x")) == [1, 2, 3]
    scan = open_source(kldrift.iceberg("db.t", catalog=props, snapshot_id=first.snapshot_id))
    assert scan.version is not None
    assert (scan.version.format, scan.version.version) == ("iceberg", first.snapshot_id)
    assert scan.version.table == "test.db.t"


def test_partition_pruning_identity_and_hidden_with_a_residual(catalog: tuple[Any, dict[str, str]]) -> None:
    from pyiceberg.transforms import DayTransform

    cat, props = catalog
    days = ["2026-11-22", "2026-11-23", "2026-11-23", "2026-11-24"]
    data = pa.table({"dt": days, "x": [1.0, 2.0, 3.0, 4.0]})
    tbl = cat.create_table("db.events", schema=data.schema)
    with tbl.update_spec() as spec:
        spec.add_identity("dt")
    tbl.append(data)
    source = kldrift.iceberg("db.events", catalog=props, where="dt = '2026-11-23'")
    scan = open_source(source)
    assert [f.path.split("/")[-2] for f in scan.files] == ["dt=2026-11-23"]  # one partition's file
    assert scan.partition_columns == ("dt",)
    assert sorted(values(source, "x")) == [2.0, 3.0]
    with pytest.raises(NoDataError, match=r"db.events .*where dt = '2026-12-01' at snapshot \d+: no data files"):
        open_source(kldrift.iceberg("db.events", catalog=props, where="dt = '2026-12-01'"))
    # hidden partitioning: day(ts); an hourly filter leaves a residual evaluated on the rows
    ts = pa.array([dt.datetime(2026, 11, 23, h, tzinfo=dt.UTC) for h in (1, 5, 9, 13)], pa.timestamp("us", "UTC"))
    hourly = cat.create_table("db.hourly", schema=pa.schema([("ts", ts.type), ("y", pa.int64())]))
    with hourly.update_spec() as spec:
        spec.add_field("ts", DayTransform(), "ts_day")
    hourly.append(pa.table({"ts": ts, "y": [1, 2, 3, 4]}))
    where = "ts >= '2026-11-23T04:00:00+00:00' AND ts < '2026-11-23T10:00:00+00:00'"
    source = kldrift.iceberg("db.hourly", catalog=props, where=where)
    oracle = cat.load_table("db.hourly").scan(row_filter=where).to_arrow()
    assert sorted(values(source, "y")) == sorted(oracle.column("y").to_pylist()) == [2, 3]
    assert open_source(source).count_rows() == 2
    with pytest.raises(SourceError, match=r"db.events .*: where 'nope = 1': .*nope"):
        open_source(kldrift.iceberg("db.events", catalog=props, where="nope = 1"))


def test_positional_deletes_match_pyiceberg(catalog: tuple[Any, dict[str, str]]) -> None:
    cat, props = catalog
    tbl = cat.create_table("db.t", schema=pa.schema([("id", pa.int64()), ("s", pa.string())]))
    tbl.append(pa.table({"id": list(range(10)), "s": list("abcdefghij")}))
    tbl.append(pa.table({"id": [10, 11], "s": ["k", "l"]}))
    first = next(t.file.file_path for t in tbl.scan().plan_files() if t.file.record_count == 10)
    commit_deletes(tbl, [positional_deletes(tbl, first, [0, 3, 9])])
    oracle = cat.load_table("db.t").scan().to_arrow()
    source = kldrift.iceberg("db.t", catalog=props)
    assert sorted(values(source, "id")) == sorted(oracle.column("id").to_pylist())
    assert len(values(source, "id")) == 9  # hand count: 12 rows, 3 deleted
    assert open_source(source).count_rows() == 9


def test_equality_deletes_by_hand_count_and_sequence_numbers(catalog: tuple[Any, dict[str, str]]) -> None:
    cat, props = catalog
    schema = pa.schema([("id", pa.int64()), ("s", pa.string()), ("k", pa.string())])
    tbl = cat.create_table("db.t", schema=schema)
    tbl.append(pa.table({"id": list(range(6)), "s": ["a", "b", "c", "b", None, "e"], "k": list("xyxyxy")}, schema))
    deletes = [
        equality_deletes(tbl, pa.table({"s": pa.array(["b"])})),  # ids 1, 3
        equality_deletes(tbl, pa.table({"s": pa.array([None], pa.string()), "k": pa.array(["x"])})),  # id 4
        equality_deletes(tbl, pa.table({"s": pa.array(["c"]), "k": pa.array(["y"])})),  # no row: c is with x
    ]
    commit_deletes(tbl, deletes)
    source = kldrift.iceberg("db.t", catalog=props)
    assert sorted(values(source, "id")) == [0, 2, 5]  # hand count: 1, 3 (s = b) and 4 (s null, k = x) deleted
    # data appended after the deletes is not deleted by them (its sequence number is not smaller)
    cat.load_table("db.t").append(pa.table({"id": [6], "s": ["b"], "k": ["x"]}, schema))
    assert sorted(values(source, "id")) == [0, 2, 5, 6]
    assert open_source(source).count_rows() == 4
    with pytest.raises(ValueError, match="equality deletes"):  # why the oracle is a hand count here
        cat.load_table("db.t").scan().to_arrow()


def test_a_commit_between_listing_and_reading_gives_the_snapshot_listed(
    catalog: tuple[Any, dict[str, str]], rng: np.random.Generator
) -> None:
    cat, props = catalog
    tbl = cat.create_table("db.t", schema=trips(rng, 1).schema)
    tbl.append(trips(rng, 1_000))
    profile = fit(trips(rng, 1_000))
    scan = open_source(kldrift.iceberg("db.t", catalog=props))
    tbl.overwrite(trips(rng, 3_000))
    assert count(profile.spec, scan).rows == 1_000


def test_schema_evolution_added_and_renamed_columns_by_field_id(catalog: tuple[Any, dict[str, str]]) -> None:
    cat, props = catalog
    tbl = cat.create_table("db.t", schema=pa.schema([("a", pa.int64())]))
    tbl.append(pa.table({"a": [1, 2]}))
    with tbl.update_schema() as update:
        update.add_column("b", pa_type_double())
        update.rename_column("a", "amount")
    tbl.append(pa.table({"amount": [3], "b": [0.5]}))
    source = kldrift.iceberg("db.t", catalog=props)
    assert open_source(source).schema.names == ["amount", "b"]
    assert sorted(values(source, "amount")) == [1, 2, 3]  # the old file's column `a`, by its field id
    assert sorted(values(source, "b"), key=lambda v: (v is not None, v)) == [None, None, 0.5]


def pa_type_double() -> Any:
    from pyiceberg.types import DoubleType

    return DoubleType()


def test_errors_name_the_table_and_never_a_secret(catalog: tuple[Any, dict[str, str]], tmp_path: Path) -> None:
    cat, props = catalog
    cat.create_table("db.t", schema=pa.schema([("x", pa.int64())])).append(pa.table({"x": [1]}))
    with pytest.raises(SourceError, match=r"iceberg table db.t \(catalog test\): no snapshot 42 \(its latest"):
        open_source(kldrift.iceberg("db.t", catalog=props, snapshot_id=42))
    with pytest.raises(SourceError, match=r"no snapshot as of 2000-01-01T00:00:00\+00:00 \(before the first\)"):
        open_source(kldrift.iceberg("db.t", catalog=props, as_of="2000-01-01"))
    with pytest.raises(NoDataError, match=r"iceberg table db.nope \(catalog test\): no such table in the catalog"):
        open_source(kldrift.iceberg("db.nope", catalog=props))
    bad = {"type": "rest", "uri": "http://127.0.0.1:9/", "token": "SECRET-TOKEN-123"}
    with pytest.raises(SourceError, match=r"cannot load Iceberg catalog 'default'") as err:
        open_source(kldrift.iceberg("db.t", catalog=bad))
    assert "SECRET-TOKEN-123" not in str(err.value)
    assert "SECRET-TOKEN-123" not in repr(kldrift.iceberg("db.t", catalog=bad))
    with pytest.raises(SourceError, match=r"catalog 'nowhere': URI missing.*; give its properties .* as `catalog:`"):
        open_source(kldrift.iceberg("db.t", catalog="nowhere"))
    with pytest.raises(kldrift.ConfigError, match=r"iceberg: expected a table identifier namespace.table, got 't'"):
        kldrift.iceberg("t")
    with pytest.raises(kldrift.ConfigError, match="give snapshot_id or as_of, not both"):
        kldrift.iceberg("db.t", snapshot_id=1, as_of="2026-01-01")
    with pytest.raises(kldrift.ConfigError, match=r"snapshot_id: expected an integer snapshot id, got '1'"):
        kldrift.iceberg("db.t", snapshot_id="1")  # type: ignore[arg-type]
    empty = cat.create_table("db.empty", schema=pa.schema([("x", pa.int64())]))
    assert empty.current_snapshot() is None
    with pytest.raises(NoDataError, match=r"db.empty .*: the table has no snapshot yet"):
        open_source(kldrift.iceberg("db.empty", catalog=props))


def test_profile_refits_when_rows_are_deleted_from_the_same_files(catalog: tuple[Any, dict[str, str]]) -> None:
    from kldrift.filestamps import reference_changed

    cat, props = catalog
    tbl = cat.create_table("db.t", schema=pa.schema([("x", pa.float64())]))
    tbl.append(pa.table({"x": [float(i) for i in range(100)]}))
    source = kldrift.iceberg("db.t", catalog=props)
    profile = fit(source)
    assert not reference_changed(profile.files, open_source(source))
    data_file = next(iter(tbl.scan().plan_files())).file.file_path
    commit_deletes(tbl, [positional_deletes(tbl, data_file, [1, 2])])
    assert reference_changed(profile.files, open_source(source))


def test_files_that_are_not_parquet_are_refused(catalog: tuple[Any, dict[str, str]]) -> None:
    from pyiceberg.manifest import FileFormat

    cat, props = catalog
    tbl = cat.create_table("db.t", schema=pa.schema([("x", pa.int64())]))
    tbl.append(pa.table({"x": [1, 2]}))
    data_file = next(iter(tbl.scan().plan_files())).file.file_path
    commit_deletes(tbl, [positional_deletes(tbl, data_file, [0], file_format=FileFormat.ORC)])  # as recorded by ORC
    with pytest.raises(SourceError, match=r"deletes-.*\.parquet: ORC file; kldrift reads Parquet files only"):
        open_source(kldrift.iceberg("db.t", catalog=props))
