"""Delta Lake tables read through delta-rs: live files only, at one version, partitions pruned.

Every table here is written by ``deltalake`` itself into a temp folder; every expected row
count is a hand count of the rows the table's commits leave live.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("deltalake")
from deltalake import DeltaTable, write_deltalake

import kldrift
from kldrift.errors import NoDataError, SourceError
from kldrift.filestamps import file_records, reference_changed
from kldrift.histogram import count
from kldrift.pipeline import fit
from kldrift.sources import open_source


def trips(rng: np.random.Generator, n: int, shift: float = 0.0, day: str | None = None) -> pa.Table:
    cols = {
        "fare": rng.normal(20 + shift, 5, n),
        "zone": pa.array(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])),
    }
    if day is not None:
        cols = {"dt": pa.array([day] * n), **cols}
    return pa.table(cols)


def rows_of(source: object) -> int:
    """Rows counted by a real pass over the source (not footers): what a run scores."""
    scan = open_source(source)
    return sum(b.num_rows for b in scan.batches(scan.column_names()))


def test_overwritten_table_reads_its_live_rows_and_an_identical_distribution_scores_ok(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """The issue's case: 10,000 live rows and 10,000 rows of a removed file still on disk."""
    reference = trips(rng, 10_000)
    table = tmp_path / "trips"
    write_deltalake(table, trips(rng, 10_000, shift=15))  # version 0: another distribution
    write_deltalake(table, trips(rng, 10_000), mode="overwrite")  # version 1: the reference's
    on_disk = sum(pq.read_metadata(p).num_rows for p in table.glob("*.parquet"))
    assert on_disk == 20_000  # the removed file is still there
    assert rows_of(str(table)) == 10_000  # hand count: version 1 alone
    report = kldrift.compare(reference, str(table))
    assert report.n_current == 10_000
    assert str(report.worst) == "ok", report.to_pandas()[["feature", "kl", "severity"]]
    assert open_source(str(table)).version.version == 1  # type: ignore[union-attr]


def test_append_and_delete_and_time_travel(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"x": [1, 2, 3], "s": ["a", "b", "c"]}))  # v0: 3 rows
    time.sleep(0.01)
    write_deltalake(table, pa.table({"x": [4, 5], "s": ["d", "e"]}), mode="append")  # v1: 5 rows
    time.sleep(0.01)
    DeltaTable(table).delete("x = 2 OR x = 5")  # v2: 3 rows (1, 3, 4)
    assert rows_of(str(table)) == 3  # hand count
    assert rows_of(kldrift.delta(table, version=0)) == 3
    assert rows_of(kldrift.delta(table, version=1)) == 5
    values = open_source(str(table))
    got = sorted(v for b in values.batches(["x"]) for v in b.column("x").to_pylist())
    assert got == [1, 3, 4]
    stamps = {h["version"]: h["timestamp"] for h in DeltaTable(table).history()}
    between = dt.datetime.fromtimestamp((stamps[0] + stamps[1]) / 2000, dt.UTC)
    assert rows_of(kldrift.delta(table, as_of=between)) == 3  # version 0 was current then
    assert rows_of(kldrift.delta(table, as_of=between.isoformat())) == 3


def test_partition_pruning_selects_files_by_partition_values_and_never_opens_the_others(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    table = tmp_path / "events"
    for day, n in [("2026-11-22", 700), ("2026-11-23", 500), ("2026-11-24", 300)]:
        write_deltalake(table, trips(rng, n, day=day), partition_by=["dt"], mode="append")
    write_deltalake(table, trips(rng, 200, day="2026-11-23"), partition_by=["dt"], mode="append")
    # the other days' files are garbage: a scan that opened them would fail
    for f in table.glob("dt=2026-11-2[24]/*.parquet"):
        f.write_bytes(b"not parquet")
    scan = open_source(kldrift.delta(table, where="dt = '2026-11-23'"))
    assert all("dt=2026-11-23" in f.path for f in scan.files)
    assert scan.partition_columns == ("dt",)
    assert "dt" not in scan.schema.names
    assert rows_of(scan) == 700  # hand count: 500 + 200
    assert rows_of(kldrift.delta(table, where="dt IN ('2026-11-23')")) == 700
    with pytest.raises(NoDataError, match=r"events \(Delta version 3, where dt = '2026-11-30'\): no live files"):
        open_source(kldrift.delta(table, where="dt = '2026-11-30'"))
    with pytest.raises(SourceError, match=r"'fare' is not a partition column; `where` selects files by partition"):
        open_source(kldrift.delta(table, where="fare > 10"))
    with pytest.raises(SourceError, match=r"events: where 'dt = ': .*sql parser error"):
        open_source(kldrift.delta(table, where="dt = "))


def test_a_commit_between_listing_and_reading_gives_the_version_listed(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    table = tmp_path / "t"
    write_deltalake(table, trips(rng, 1_000))
    profile = fit(trips(rng, 1_000))
    scan = open_source(str(table))  # lists version 0
    write_deltalake(table, trips(rng, 3_000), mode="overwrite")  # version 1, committed before reading
    write_deltalake(table, trips(rng, 50), mode="append")  # version 2
    assert count(profile.spec, scan).rows == 1_000  # version 0's rows, read after two commits
    assert scan.version is not None
    assert scan.version.version == 0
    assert rows_of(str(table)) == 3_050


def test_unreadable_log_is_an_error_naming_the_table_never_a_folder_read(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"x": [1, 2]}))
    (table / "_delta_log" / "00000000000000000000.json").write_text("{not json")
    with pytest.raises(SourceError, match=r"^.*/t: cannot read the Delta table's log \(_delta_log/\): "):
        open_source(str(table))
    with pytest.raises(SourceError, match=r"/t: cannot read the Delta table's log"):
        kldrift.compare(pa.table({"x": [1, 2]}), str(table))
    empty = tmp_path / "empty"
    (empty / "_delta_log").mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), empty / "part-0.parquet")  # a stray file: not read as the table
    with pytest.raises(SourceError, match=r"/empty: not a readable Delta table"):
        open_source(str(empty))


def test_version_and_as_of_that_are_not_there(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"x": [1, 2]}))
    with pytest.raises(SourceError, match=r"/t: no version 7 of this Delta table \(its latest is 0\)"):
        open_source(kldrift.delta(table, version=7))
    with pytest.raises(SourceError, match=r"/t: no version of this Delta table as of 2000-01-01T00:00:00\+00:00"):
        open_source(kldrift.delta(table, as_of="2000-01-01"))
    with pytest.raises(NoDataError, match=r"/nope: no such Delta table"):
        open_source(kldrift.delta(tmp_path / "nope"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match=r"/plain: not a Delta table \(no _delta_log/ folder\)"):
        open_source(kldrift.delta(tmp_path / "plain"))


def test_typed_source_arguments_are_checked() -> None:
    with pytest.raises(kldrift.ConfigError, match="give version or as_of, not both"):
        kldrift.delta("t", version=1, as_of="2026-01-01")
    with pytest.raises(kldrift.ConfigError, match=r"version: expected a table version \(an integer >= 0\), got -1"):
        kldrift.delta("t", version=-1)
    with pytest.raises(kldrift.ConfigError, match=r"as_of: expected an ISO date or timestamp .*got 'yesterday'"):
        kldrift.delta("t", as_of="yesterday")
    secret = kldrift.delta("s3://bucket/t", storage_options={"AWS_SECRET_ACCESS_KEY": "wJalr"})
    assert "wJalr" not in repr(secret)


def test_schema_evolution_added_and_retyped_columns(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"x": [1.0, 2.0], "n": pa.array([1, 2], pa.int32())}))
    write_deltalake(
        table,
        pa.table({"x": [3.0], "n": pa.array([3], pa.int32()), "tip": [0.5]}),
        mode="append",
        schema_mode="merge",
    )  # a column added in a later commit: null in the older file
    scan = open_source(str(table))
    assert scan.schema.names == ["x", "n", "tip"]
    got = pa.concat_tables(
        pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in scan.batches(["x", "tip"])
    )
    assert sorted(got.column("tip").to_pylist(), key=lambda v: (v is not None, v)) == [None, None, 0.5]
    retyped = tmp_path / "r"
    write_deltalake(retyped, pa.table({"code": [1, 2, 3]}))
    write_deltalake(retyped, pa.table({"code": ["a", "b"]}), mode="overwrite", schema_mode="overwrite")
    scan = open_source(str(retyped))
    assert str(scan.schema.field("code").type) in {"string", "large_string", "string_view"}
    assert rows_of(scan) == 2
    assert not scan.conflicts


def test_vacuumed_table_reads_its_latest_version_and_says_when_an_old_one_is_gone(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"x": [1, 2, 3]}))
    write_deltalake(table, pa.table({"x": [4]}), mode="overwrite")
    DeltaTable(table).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert rows_of(str(table)) == 1
    old = open_source(kldrift.delta(table, version=0))  # the log still lists version 0's file
    with pytest.raises(SourceError, match=r"part-.*\.parquet: no such file \(it was removed while reading\)"):
        rows_of(old)


def test_path_with_spaces_and_commas_and_partition_values_that_need_escaping(tmp_path: Path) -> None:
    table = tmp_path / "my table, v2"
    write_deltalake(table, pa.table({"p": ["a b", "c,d", "e%f", "a b"], "x": [1, 2, 3, 4]}), partition_by=["p"])
    assert rows_of(str(table)) == 4
    assert rows_of(kldrift.delta(table, where="p = 'a b'")) == 2
    assert rows_of(kldrift.delta(table, where="p = 'e%f'")) == 1


def test_column_mapping_reads_columns_by_their_logical_names(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(
        table, pa.table({"fare amount": [1.0, 2.0], "x": [3, 4]}), configuration={"delta.columnMapping.mode": "name"}
    )
    physical = pq.ParquetFile(next(table.rglob("*.parquet"))).schema_arrow.names
    assert "fare amount" not in physical  # the files hold physical names (col-<uuid>)
    scan = open_source(str(table))
    assert scan.schema.names == ["fare amount", "x"]
    got = next(iter(scan.batches(["fare amount", "x"])))
    assert got.column("fare amount").to_pylist() == [1.0, 2.0], physical


def test_profile_of_a_table_refits_when_its_live_files_change(tmp_path: Path, rng: np.random.Generator) -> None:
    table = tmp_path / "t"
    write_deltalake(table, trips(rng, 500))
    profile = fit(str(table))
    assert "(Delta version 0)" in profile.source
    assert not reference_changed(profile.files, open_source(str(table)))
    write_deltalake(table, trips(rng, 10), mode="append")
    assert reference_changed(profile.files, open_source(str(table)))
    assert not reference_changed(
        file_records(open_source(kldrift.delta(table, version=0))), open_source(kldrift.delta(table, version=0))
    )


def test_a_delta_table_cannot_be_one_path_of_a_list(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"x": [1]}))
    pq.write_table(pa.table({"x": [2]}), tmp_path / "other.parquet")
    with pytest.raises(SourceError, match=r"/t \(Delta version 0\) is a table: give it alone"):
        open_source([str(table), str(tmp_path / "other.parquet")])


def test_manifest_of_a_scan_records_nothing_secret(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"x": [1]}))
    version = open_source(kldrift.delta(table, storage_options={"token": "abc"})).version
    assert version is not None
    assert json.dumps(version.to_json()).count("abc") == 0
    assert os.path.basename(version.table) == "t"


def test_deletion_vectors_are_honoured(tmp_path: Path) -> None:
    from lakehouse_support import delete_rows_with_a_deletion_vector

    table = tmp_path / "t"
    write_deltalake(table, pa.table({"value": pa.array(range(10), pa.int32())}))
    delete_rows_with_a_deletion_vector(table, [2, 5, 9])
    with pytest.raises(Exception, match="deletionVectors"):  # delta-rs's own reader refuses such a table
        DeltaTable(table).to_pyarrow_table()
    scan = open_source(str(table))
    got = [v for b in scan.batches(["value"]) for v in b.column("value").to_pylist()]
    assert got == [0, 1, 3, 4, 6, 7, 8]  # hand count: rows 2, 5 and 9 deleted
    assert scan.count_rows() == 7
    assert rows_of(kldrift.delta(table, version=0)) == 10
    profile = fit(kldrift.delta(table, version=0))
    assert reference_changed(profile.files, scan)  # the same file, fewer rows: a refit


def test_a_partition_folder_of_a_delta_table_is_refused_with_the_way_to_read_it(tmp_path: Path) -> None:
    table = tmp_path / "lake"
    write_deltalake(table, pa.table({"dt": ["d1", "d2"], "x": [1, 2]}), partition_by=["dt"])
    write_deltalake(table, pa.table({"dt": ["d1"], "x": [3]}), partition_by=["dt"], mode="overwrite")
    with pytest.raises(SourceError, match=r"dt=d1: a folder inside the Delta table .*/lake .*where: \"dt = 'd1'\""):
        open_source(str(table / "dt=d1"))


def test_reader_features_kldrift_cannot_honour_are_refused(tmp_path: Path) -> None:
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"v": [1, 2]}))
    protocol = {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["variantType"]}
    commit = [
        {"commitInfo": {"timestamp": 1, "operation": "SET TBLPROPERTIES"}},
        {"protocol": {**protocol, "writerFeatures": ["variantType"]}},
    ]
    (table / "_delta_log" / f"{1:020d}.json").write_text("\n".join(json.dumps(c) for c in commit) + "\n")
    with pytest.raises(SourceError, match=r"/t: Delta reader features kldrift cannot honour: variantType"):
        open_source(str(table))


def test_without_the_extra_or_with_a_bad_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceError, match=r"^foo://b/t: cannot open filesystem: "):
        open_source(kldrift.delta("foo://b/t"))
    table = tmp_path / "t"
    write_deltalake(table, pa.table({"v": [1]}))
    monkeypatch.setitem(sys.modules, "deltalake", None)  # as if the extra were not installed
    with pytest.raises(SourceError, match=r"needs the delta extra \(deltalake\): pip install 'kldrift\[delta\]'"):
        open_source(str(table))
    monkeypatch.setitem(sys.modules, "pyiceberg", None)
    with pytest.raises(SourceError, match=r"needs the iceberg extra \(pyiceberg\): pip install 'kldrift\[iceberg\]'"):
        open_source(kldrift.iceberg("db.t"))


def test_a_big_table_fits_through_its_log_as_its_live_files_read_alone(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A table's rows may be left out as its files are read, so a row group worked out on a reader thread
    # does not know its place in the pass (map_batches gives row0 None): the pilot's and the pass's
    # samples are taken where the row groups come back in order. The same live rows read as plain
    # Parquet know their places ahead: both must give the same profile, bins and counts.
    from kldrift import fitting

    monkeypatch.setattr(fitting, "KEEP_ALL_VALUES", 0)  # the pilot and the sampled pass, as on a big table
    table = tmp_path / "t"
    data = trips(rng, 200_000)
    fare = data.column("fare").to_numpy().copy()
    fare[rng.random(len(fare)) < 0.02] = np.nan  # nulls: the sample leaves them out
    data = data.set_column(0, "fare", pa.array(fare, mask=np.isnan(fare)))
    write_deltalake(table, data, mode="overwrite")
    DeltaTable(table).delete("zone = 'c'")  # the live rows: a file of their own
    live = DeltaTable(table).file_uris()
    assert max(pq.ParquetFile(p).metadata.row_group(0).num_rows for p in live) >= 65_536  # read on the readers
    config = {"binning": {"sample_size": 5_000}}
    through_log, alone = fit(str(table), config=config), fit(live, config=config)
    bins = [[(f.name, f.edges, f.values, f.categories) for f in p.spec.features] for p in (through_log, alone)]
    assert bins[0] == bins[1]  # (the source types differ: the table's string, the file's string_view)
    assert through_log.histogram.counts["fare"].tolist() == alone.histogram.counts["fare"].tolist()
    assert int(through_log.histogram.counts["fare"].sum()) == rows_of(str(table))  # every live row, once
