"""kldrift.spark.run: a job read and counted on Spark writes the bytes ``kldrift run`` writes.

Each case runs one job twice over the same files, once with ``kldrift run`` and once with
``kldrift.spark.run`` (local[2]), into two output folders, and compares ``alerts.jsonl`` and
``metrics.parquet`` byte for byte. The two shapes of the issue at test size: long (50 columns,
sampled cut points with a pilot, as 1M x 50 fits) and wide (1,000 columns at 20k rows: every
value kept, fitted a group of columns a pass); the full sizes are in ``benchmarks/bench_spark.py``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from spark_support import session

import kldrift.spark
import kldrift.spark.fitting
from kldrift import fitting
from kldrift.config import load_config
from kldrift.errors import KLDriftError, SourceError
from kldrift.files import FileInfo
from kldrift.pipeline import run
from kldrift.sources import open_source

pytestmark = pytest.mark.slow

spark = pytest.fixture(scope="module")(session)

DAYS = ["2026-11-20", "2026-11-21"]


def table(rows: int, numeric: int, categorical: int, seed: int, shift: float = 0.0) -> pa.Table:
    """Columns like benchmarks' make_data: normals, skewed, nulls, an integer, a constant; Zipf categories."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(numeric):
        kind = i % 5
        if kind == 0:
            x = rng.normal(shift * (i % 3 == 0), 1, rows)
        elif kind == 1:
            x = rng.lognormal(0, 1, rows)
        elif kind == 2:
            x = rng.normal(0, 1, rows)
            x[rng.random(rows) < 0.05] = np.nan
        elif kind == 3:
            x = rng.poisson(4 + shift, rows)
        else:
            x = np.where(rng.random(rows) < 0.3, 0.0, rng.gamma(2, 2, rows))
        cols[f"num_{i:03d}"] = x
    cols["const"] = np.full(rows, 7.0)
    for j in range(categorical):
        k = 5 + 15 * j
        codes = np.minimum(rng.zipf(1.4, rows) - 1, k - 1)
        values = pa.array([f"c{j}_{c}" for c in range(k)])
        cols[f"cat_{j}"] = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), values)
    day0 = 20_411 * 86_400_000_000  # 2025-11-18 (the reference's month)
    cols["at"] = pa.array(day0 + rng.integers(0, 30 * 86_400_000_000, rows), pa.timestamp("us", "UTC"))
    return pa.table(cols)


def write_files(folder: Path, t: pa.Table, files: int, row_group: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    bounds = [t.num_rows * i // files for i in range(files + 1)]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        pq.write_table(t.slice(a, b - a), folder / f"part-{i:03d}.parquet", row_group_size=row_group)


def write_files_one(path: Path, t: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path, row_group_size=100)


def load_settings() -> Any:
    from kldrift.config import coerce_config

    return coerce_config(None)


def write_config(root: Path, name: str, out: str, extra: str = "") -> Path:
    path = root / f"{name}-{out}.yaml"
    path.write_text(
        f"dataset: {name}\nreference: reference/\ncurrent: current/dt={{ds}}/\noutput: {out}/\n"
        f"schedule: '@daily'\n{extra or 'features: {exclude: [at]}'}\n"
    )
    return path


def both(spark: Any, root: Path, name: str, days: list[str], extra: str = "") -> None:
    """Run the job with kldrift and with kldrift.spark for each day; the two sets of files are equal."""
    plain, on_spark = write_config(root, name, "out_kldrift", extra), write_config(root, name, "out_spark", extra)
    for day in days:
        c1, c2 = load_config(plain), load_config(on_spark)
        r1 = run(c1, c1.schedule_of().for_date(day), deliver=False)
        r2 = kldrift.spark.run(c2, c2.schedule_of().for_date(day), spark=spark, deliver=False)
        for f in ("alerts", "metrics"):
            a, b = Path(r1.paths[f]).read_bytes(), Path(r2.paths[f]).read_bytes()
            assert a == b, f"{name} {day}: {f} differs"
        assert r2.report.worst == r1.report.worst


def test_long_job_with_sampled_cut_points(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1M x 50 fits a sample with a pilot (50M values > KEEP_ALL_VALUES); the same path at 60k x 50.
    monkeypatch.setattr(fitting, "KEEP_ALL_VALUES", 0)
    write_files(tmp_path / "reference", table(60_000, 39, 10, 1), files=3, row_group=4_000)
    write_files(tmp_path / "current/dt=2026-11-20", table(20_000, 39, 10, 2), files=2, row_group=4_000)
    write_files(tmp_path / "current/dt=2026-11-21", table(20_000, 39, 10, 3, shift=0.5), files=1, row_group=4_000)
    both(spark, tmp_path, "long", DAYS, "binning: {sample_size: 5000}\nfeatures: {exclude: [at]}")
    profile = kldrift.Profile.load(tmp_path / "out_spark/long/profile.json")
    assert len(profile.features) == 50  # 39 numeric, a constant, 10 categorical


def test_wide_job_fitted_a_group_of_columns_at_a_time(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20k x 1,000 keeps every value and fits a group of columns a pass; the same at 2k x 200.
    monkeypatch.setattr(fitting, "HOLD_VALUES", 150_000)  # 75 columns of 2,000 values a group: 3 passes
    write_files(tmp_path / "reference", table(2_000, 190, 9, 4), files=2, row_group=500)
    write_files(tmp_path / "current/dt=2026-11-20", table(1_000, 190, 9, 5, shift=1.0), files=1, row_group=500)
    both(spark, tmp_path, "wide", DAYS[:1])


def test_messy_files_and_a_missing_day(spark: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    n = 3_000
    ref = pa.table(
        {
            "x": rng.normal(0, 1, n),
            "f": rng.normal(0, 1, n).astype(np.float32),
            "ns": pa.array(1_763_000_000_000_000_000 + rng.integers(0, 10**15, n), pa.timestamp("ns", "UTC")),
            "big": rng.integers(2**62, 2**63 - 1, n),
            "city": rng.choice(["paris", "rome", "oslo"], n),
        }
    )
    write_files(tmp_path / "reference", ref, files=2, row_group=700)
    day = tmp_path / "current/dt=2026-11-20"
    write_files(day, ref.slice(0, 1_000), files=1, row_group=700)
    # a second file: x as strings (another kind), f as float64, no "city" column at all
    other = pa.table({"x": pa.array(["1.5"] * 500), "f": rng.normal(0, 1, 500), "ns": ref["ns"].slice(0, 500)})
    pq.write_table(other.append_column("big", ref["big"].slice(0, 500)), day / "part-001.parquet")
    both(spark, tmp_path, "messy", ["2026-11-20", "2026-11-22"], "features: {include: [x, f, ns, big, city]}")


def test_a_shard_of_row_groups_is_refused(spark: Any, tmp_path: Path) -> None:
    from kldrift.spark.frames import frames_of_scan

    write_files(tmp_path / "d", table(1_000, 2, 1, 1), files=1, row_group=100)
    scan = open_source(str(tmp_path / "d"))
    whole = scan.files[0]
    part = scan.subset([FileInfo(whole.path, whole.size, whole.mtime, (0, 3))])
    with pytest.raises(KLDriftError, match=r"part-000.parquet: kldrift.spark reads whole files, not row-group ranges"):
        frames_of_scan(spark, part)


def test_a_delta_table_is_refused_for_its_files_miss_its_deletes(spark: Any, tmp_path: Path) -> None:
    from deltalake import write_deltalake

    from kldrift.spark.frames import frames_of_scan

    table = table_of(1_000)
    write_deltalake(tmp_path / "lake", table)
    write_deltalake(tmp_path / "lake", table, mode="overwrite")  # the first file is still on disk, not live
    scan = open_source(str(tmp_path / "lake"))
    with pytest.raises(SourceError, match=r"a Delta or Iceberg table: kldrift.spark reads plain Parquet files"):
        frames_of_scan(spark, scan)


def table_of(rows: int) -> pa.Table:
    return pa.table({"x": np.arange(rows, dtype=np.float64)})


def test_a_file_spark_cannot_read_is_a_source_error(spark: Any, tmp_path: Path) -> None:
    from kldrift.spark.frames import frames_of_scan

    path = tmp_path / "half.parquet"
    pq.write_table(pa.table({"h": np.array([0.5, 1.5], np.float16)}), path)  # kldrift reads float16; Spark not
    with pytest.raises(SourceError, match=r"half.parquet: Spark cannot read it: .*FLOAT16"):
        frames_of_scan(spark, open_source(str(path)))


def test_odd_file_names_are_placed_in_kldrift_order(spark: Any, tmp_path: Path) -> None:
    # Spark names files by escaped URIs (file:/a%20b): every file must still be found and placed.
    from kldrift.spark.frames import frames_of_scan

    folder = tmp_path / "dt=2026-11-20 x"
    t = table(900, 3, 1, 8)
    for i, name in enumerate(["a b.parquet", "c%20d.parquet", "é+x,y.parquet", "q[1]{2}.parquet"]):
        write_files_one(folder / name, t.slice(i * 200, 200 + i * 25))
    scan = open_source(str(folder))
    frames = frames_of_scan(spark, scan)
    assert len(frames.parts) == 1  # one schema: one DataFrame
    # files of 200, 225, 250, 275 rows; in path order "a b", "c%20d", "q[1]{2}", "é+x,y": first rows 0, 200, 425, 700
    assert sorted(frames.parts[0][1].values()) == [0, 200, 425, 700]
    profile = kldrift.fit(scan)
    assert kldrift.spark.fitting.fit_scan(frames, scan, load_settings()).to_json() == profile.to_json()


def test_a_file_spark_names_otherwise_is_an_error(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kldrift.spark import frames

    write_files(tmp_path / "d", table(100, 2, 1, 1), files=1, row_group=100)
    monkeypatch.setattr(frames, "_plain", lambda p: p)  # Spark's URI no longer matches kldrift's path
    with pytest.raises(SourceError, match=r"part-000.parquet: Spark read a file kldrift did not list in"):
        frames.frames_of_scan(spark, open_source(str(tmp_path / "d")))
