"""kldrift.scan: every kind of source resolves to the same rows; every bad source is one SourceError line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_parquet

import kldrift
from kldrift.errors import KLDriftError, SourceError
from kldrift.files import FileInfo
from kldrift.scan import Scan
from kldrift.sources import describe, open_source

TABLE = pa.table({"x": np.arange(12, dtype=np.float64), "s": pa.array(list("abcabcabcabc"))})


def rows(scan: Scan, columns: list[str] | None = None) -> pa.Table:
    cols = columns or scan.column_names()
    parts = [b if isinstance(b, pa.Table) else pa.Table.from_batches([b]) for b in scan.batches(cols)]
    return pa.concat_tables(parts).combine_chunks().sort_by("x")


def read_all(source: object) -> int:
    scan = open_source(source)
    return sum(b.num_rows for b in scan.batches(scan.column_names()))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """TABLE split over three files, one in a subfolder, plus files readers must skip."""
    root = tmp_path / "data"
    write_parquet(root / "a.parquet", TABLE.slice(0, 5))
    write_parquet(root / "b.parquet", TABLE.slice(5, 4))
    write_parquet(root / "sub" / "c.parquet", TABLE.slice(9))
    (root / "_SUCCESS").write_text("")
    (root / ".a.parquet.crc").write_text("checksum")
    return root


@pytest.fixture
def hive(tmp_path: Path) -> Path:
    root = tmp_path / "hive"
    write_parquet(root / "day=2024-01-01" / "part-0.parquet", TABLE.slice(0, 6))
    write_parquet(root / "day=2024-01-02" / "part-0.parquet", TABLE.slice(6))
    return root


def test_single_file(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "t.parquet", TABLE)
    scan = open_source(path)
    assert scan.description == str(path)
    assert [f.path for f in scan.files] == [str(path)]
    assert scan.files[0].size == path.stat().st_size
    assert scan.count_rows() == 12
    assert rows(scan).equals(TABLE)


def test_folder_skips_hidden_and_underscore_files(folder: Path) -> None:
    scan = open_source(folder)
    assert [os.path.relpath(f.path, folder) for f in scan.files] == ["a.parquet", "b.parquet", "sub/c.parquet"]
    assert rows(scan).equals(TABLE)


def test_hive_partition_keys_are_not_data_columns(hive: Path) -> None:
    scan = open_source(hive)
    assert scan.partition_columns == ("day",)
    assert scan.column_names() == ["x", "s"]
    assert rows(scan).equals(TABLE)


@pytest.mark.parametrize(
    ("pattern", "files"),
    [("*.parquet", ["a.parquet", "b.parquet"]), ("**/*.parquet", ["a.parquet", "b.parquet", "sub/c.parquet"])],
    ids=["one-level", "recursive"],
)
def test_glob(folder: Path, pattern: str, files: list[str]) -> None:
    scan = open_source(f"{folder}/{pattern}")
    assert [os.path.relpath(f.path, folder) for f in scan.files] == files
    assert scan.count_rows() == (12 if len(files) == 3 else 9)


def test_relative_glob(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder.parent)
    assert open_source("data/*.parquet").count_rows() == 9


def test_list_of_paths(folder: Path) -> None:
    scan = open_source([folder / "a.parquet", str(folder / "sub")])
    assert [os.path.relpath(f.path, folder) for f in scan.files] == ["a.parquet", "sub/c.parquet"]
    assert scan.count_rows() == 8
    assert describe([folder / "a.parquet", folder / "b.parquet"]).startswith("[")


def test_list_with_duplicates_reads_each_file_once(folder: Path) -> None:
    scan = open_source([folder / "a.parquet", folder / "a.parquet", folder])
    assert scan.count_rows() == 12


def test_table_dataframe_and_batch() -> None:
    assert rows(open_source(TABLE)).equals(TABLE)
    assert open_source(TABLE).description == "<pyarrow.Table 12 rows>"
    df_scan = open_source(TABLE.to_pandas())
    assert df_scan.description == "<pandas.DataFrame 12 rows>"
    assert df_scan.count_rows() == 12
    assert rows(df_scan)["x"].equals(TABLE["x"])
    batch_scan = open_source(TABLE.to_batches()[0])
    assert batch_scan.count_rows() == 12


def test_open_source_of_a_scan_is_itself() -> None:
    scan = open_source(TABLE)
    assert open_source(scan) is scan


def test_only_the_requested_columns_are_read(tmp_path: Path) -> None:
    scan = open_source(write_parquet(tmp_path / "t.parquet", TABLE))
    (batch,) = list(scan.batches(["s"]))
    assert batch.schema.names == ["s"]


def test_subset_and_shards(folder: Path) -> None:
    scan = open_source(folder)
    shards = scan.shards(2)
    assert sum(len(s) for s in shards) == 3
    assert [u for s in shards for u in s] == list(scan.files)  # order kept, nothing lost: whole files
    total = sum(scan.subset(s).count_rows() for s in shards)
    assert total == 12
    assert scan.shards(10) == [[f] for f in scan.files]  # at most one shard per file
    assert open_source(TABLE).shards(4) == [[]]


def test_subset_of_an_unknown_file(folder: Path) -> None:
    with pytest.raises(SourceError, match=r"/elsewhere\.parquet: not a file of .*data"):
        open_source(folder).subset([FileInfo("/elsewhere.parquet", 10, None)])


# --- errors -----------------------------------------------------------------------------------


def test_source_errors_are_kldrift_value_errors() -> None:
    assert issubclass(SourceError, KLDriftError)
    assert issubclass(SourceError, ValueError)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: d / "missing.parquet", r"missing\.parquet: no such file or directory$"),
        (lambda d: _touch(d / "empty.parquet"), r"empty\.parquet: empty file \(0 bytes\); expected a Parquet file$"),
        (lambda d: _mkdir(d / "nothing"), r"nothing: no Parquet files in this folder$"),
        (lambda d: _mkdir(d / "hidden-only", "_SUCCESS"), r"hidden-only: no Parquet files in this folder$"),
        (lambda d: f"{d}/nowhere/*.parquet", r"nowhere/\*\.parquet: glob matched no files$"),
        (lambda d: f"{_mkdir(d / 'g')}/*.parquet", r"g/\*\.parquet: glob matched no files$"),
        (lambda d: _text(d / "notes.parquet"), r"notes\.parquet: not a readable Parquet file: "),
        (lambda d: _text(d / "mixed" / "readme.txt"), r"mixed/readme\.txt: not a readable Parquet file: "),
        (lambda d: [d / "missing.parquet"], r"missing\.parquet: no such file or directory$"),
        (lambda d: [], r"^\[\]: empty list of paths; expected at least one Parquet file or folder$"),
        (lambda d: 42, r"^42: unsupported source type int; expected a path, a glob, a list of paths"),
        (lambda d: {"x": [1]}, r"unsupported source type dict"),
    ],
    ids=[
        "missing",
        "empty-file",
        "empty-dir",
        "dir-of-hidden-files",
        "glob-no-base",
        "glob-no-match",
        "not-parquet",
        "dir-with-not-parquet",
        "list-with-missing",
        "empty-list",
        "int",
        "dict",
    ],
)
def test_source_errors(tmp_path: Path, make: object, match: str) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(SourceError, match=match) as info:
        read_all(source)  # some problems only show when reading
    assert "\n" not in str(info.value)  # one line, for the CLI


def test_dataframe_that_arrow_cannot_convert() -> None:
    import pandas as pd

    df = pd.DataFrame({"x": [1, "a", 2.5]})
    with pytest.raises(SourceError, match=r"<pandas\.DataFrame 3 rows>: cannot convert to Arrow: "):
        open_source(df)


def test_corrupt_file_fails_when_read(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "t.parquet", TABLE)
    data = path.read_bytes()
    # keep the magic and the footer (schema, row groups) intact, scribble over the column data
    footer = int.from_bytes(data[-8:-4], "little") + 8
    path.write_bytes(data[:4] + b"\xff" * (len(data) - 4 - footer) + data[-footer:])
    assert open_source(path).count_rows() == 12  # the footer still reads
    with pytest.raises(SourceError, match=r"t\.parquet: cannot read Parquet data: "):
        read_all(path)


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _mkdir(path: Path, *files: str) -> Path:
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_text("")
    return path


def _text(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not parquet at all\n")
    return path


def test_wide_row_groups_are_scanned_in_column_groups_with_the_same_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kldrift.scan as scan_module

    rng = np.random.default_rng(3)
    ref = pa.table({f"x{i}": rng.normal(0, 1, 9000) for i in range(5)} | {"c": pa.array(rng.choice(["a", "b"], 9000))})
    shifted = {f"x{i}": rng.normal(0.3 * i, 1, 7000) for i in range(5)}
    cur = pa.table(shifted | {"c": pa.array(rng.choice(["a", "b"], 7000))})
    pq.write_table(ref, tmp_path / "ref.parquet", row_group_size=3000)
    pq.write_table(cur, tmp_path / "cur.parquet", row_group_size=3000)
    whole = kldrift.compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet").to_pandas()
    # Room for two columns of one 3000-row row group: the scan goes column group by column group.
    monkeypatch.setattr(scan_module, "_MAX_ROW_GROUP_BYTES", 2 * 3000 * 8)
    assert open_source(tmp_path / "cur.parquet").column_groups(cur.column_names) == [
        ["x0", "x1"],
        ["x2", "x3"],
        ["x4", "c"],
    ]
    grouped = kldrift.compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet").to_pandas()
    assert grouped.equals(whole)
    assert set(grouped["n_current"]) == {7000}


def test_column_groups_also_keep_the_values_held_within_a_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kldrift.scan as scan_module

    table = pa.table({f"x{i}": np.arange(3000.0) for i in range(5)} | {"c": pa.array(["a"] * 3000)})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=1000)
    scan = open_source(tmp_path / "t.parquet")
    names = table.column_names
    # Held values (say 3000 of each x, none of c) within 6000: at most two x columns a group; c costs nothing.
    held = dict.fromkeys(names[:5], 3000)
    assert scan.column_groups(names, held=held, budget=6000) == [["x0", "x1"], ["x2", "x3"], ["x4", "c"]]
    # A column over the budget alone is a group of its own; no budget given: the read size alone decides.
    assert scan.column_groups(names, held=held, budget=100) == [["x0"], ["x1"], ["x2"], ["x3"], ["x4"], ["c"]]
    assert scan.column_groups(names) == [names]
    # Both bounds at once, in one greedy pass: a group closes at the read size (room for four columns of a
    # 1000-row row group) or before the held column that would pass the budget. Read size first, then the
    # budget, gave three passes: [x0, x1, x2], [x3] (split off the first four), [x4, c].
    monkeypatch.setattr(scan_module, "_MAX_ROW_GROUP_BYTES", 4 * 1000 * 8)
    assert scan.column_groups(names, held=held, budget=9000) == [["x0", "x1", "x2"], ["x3", "x4", "c"]]
    assert scan.column_groups(names, held=held, budget=6000) == [["x0", "x1"], ["x2", "x3"], ["x4", "c"]]
    # An in-memory table has no row groups to bound, only the budget.
    assert open_source(table).column_groups(names, held=held, budget=9000) == [["x0", "x1", "x2"], ["x3", "x4", "c"]]


def test_one_file_of_unequal_row_group_halves_still_gives_two_shards(tmp_path: Path) -> None:
    # 7 row groups split 3 + 4: the smaller first half must not swallow the second (shards by midpoint).
    pq.write_table(pa.table({"x": np.arange(7000.0)}), tmp_path / "one.parquet", row_group_size=1000)
    path = str(tmp_path / "one.parquet")
    shards = open_source(tmp_path / "one.parquet").shards(2)
    assert [[u.label for u in s] for s in shards] == [[f"{path}#row_groups=0-3"], [f"{path}#row_groups=3-7"]]
    assert [u.row_groups for s in shards for u in s] == [(0, 3), (3, 7)]


def _mixed_source(tmp_path: Path) -> Path:
    """Rows 0..N-1 in order: three small files (glued), then one of big row groups (whole reads)."""
    root = tmp_path / "mixed"
    n_small, n_big = 300, 3 * 131_072 + 17
    for i in range(3):
        x = np.arange(i * n_small, (i + 1) * n_small, dtype=np.float64)
        write_parquet(root / f"a{i}.parquet", pa.table({"x": x}))
    x = np.arange(3 * n_small, 3 * n_small + n_big, dtype=np.float64)
    pq.write_table(pa.table({"x": x}), root / "b.parquet", row_group_size=131_072)
    return root


def test_map_batches_runs_whole_row_groups_on_the_reader_threads_in_order(tmp_path: Path) -> None:
    import threading

    scan = open_source(_mixed_source(tmp_path))

    def where(batch: pa.Table, row0: int | None) -> tuple[str, float, float, int | None]:
        x = batch.column("x").to_numpy()
        return threading.current_thread().name, float(x[0]), float(x[-1]), row0

    out = list(scan.map_batches(["x"], where))
    firsts = [first for _, (_, first, _, _) in out]
    assert firsts == sorted(firsts)  # in row order, whichever thread counted
    assert sum(rows for rows, _ in out) == scan.count_rows()
    expected = 0.0
    for rows, (_, first, last, row0) in out:  # no row twice, none left out; x is the row's number
        assert (first, last, row0) == (expected, expected + rows - 1, expected)
        expected += rows
    on_reader = [t for _, (t, _, _, _) in out if t.startswith("kldrift-read")]
    here = [t for _, (t, _, _, _) in out if not t.startswith("kldrift-read")]
    assert len(on_reader) == 3  # the big file's three whole row groups (its 17-row tail is glued)
    assert here == [threading.current_thread().name] * 2  # the glued small files and the tail


def test_counting_on_the_reader_threads_gives_the_counts_of_counting_batches(tmp_path: Path) -> None:
    from kldrift.histogram import Counter, count

    scan = open_source(_mixed_source(tmp_path))
    spec = kldrift.fit(pa.table({"x": np.linspace(0, 400_000, 1001)})).spec
    by_batch = Counter(spec, scan.schema)
    for batch in scan.batches(["x"]):
        by_batch.add(batch)
    assert count(spec, scan) == by_batch.histogram()


def test_an_arrow_error_of_the_mapped_function_names_the_file(tmp_path: Path) -> None:
    scan = open_source(_mixed_source(tmp_path))

    def broken(batch: pa.Table, row0: int | None) -> None:
        raise pa.ArrowInvalid("no such kernel")

    with pytest.raises(SourceError, match=r"b\.parquet: cannot read Parquet data: no such kernel"):
        list(scan.map_batches(["x"], broken, here=lambda b, row0: None))

    def refuses(batch: pa.Table, row0: int | None) -> None:
        raise KLDriftError("its own words")

    with pytest.raises(KLDriftError, match=r"^its own words$"):  # kldrift's own errors pass unchanged
        list(scan.map_batches(["x"], refuses, here=lambda b, row0: None))
