"""kldrift.fit / kldrift.compare end to end: every source type, profiles, configs, the sampled path.

Oracle for "the same result": the report of the same rows given as one Parquet file.
Oracle for bin masses and counts: ``numpy.searchsorted`` on the whole reference.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import write_parquet

import kldrift
from kldrift import fitting
from kldrift.config import Settings
from kldrift.histogram import count
from kldrift.profile import Profile
from kldrift.results import DriftReport
from kldrift.sources import open_source

N = 3_000


def make_table(rng: np.random.Generator, shift: float = 0.0) -> pa.Table:
    x = rng.normal(shift, 1, N)
    x[rng.random(N) < 0.02] = np.nan
    k = pa.array(rng.integers(0, 6, N), mask=rng.random(N) < 0.05)
    c = pa.array(rng.choice(["a", "b", "c", "d"], N, p=[0.4, 0.3, 0.2, 0.1]).tolist())
    t0 = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp() * 1e6)
    t = pa.array(t0 + rng.integers(0, 10**12, N), pa.timestamp("us", tz="UTC"))
    return pa.table({"x": x, "k": k, "c": c, "t": t})


@pytest.fixture
def tables(rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    return make_table(rng), make_table(rng, shift=1.0)  # +1 sd: KL ≈ ½ nat (Δμ²/2σ²) before binning


def as_file(table: pa.Table, root: Path) -> object:
    return write_parquet(root / "one.parquet", table)


def as_folder(table: pa.Table, root: Path) -> object:
    for i, (lo, hi) in enumerate([(0, 1_000), (1_000, 1_001), (1_001, N)]):
        write_parquet(root / "dir" / f"part-{i}.parquet", table.slice(lo, hi - lo), row_group_size=333)
    return root / "dir"


def as_hive(table: pa.Table, root: Path) -> object:
    write_parquet(root / "hive" / "region=eu" / "p.parquet", table.slice(0, 1_200))
    write_parquet(root / "hive" / "region=us" / "p.parquet", table.slice(1_200))
    return root / "hive"


def as_glob(table: pa.Table, root: Path) -> object:
    as_folder(table, root)
    return f"{root}/dir/part-*.parquet"


def as_list(table: pa.Table, root: Path) -> object:
    write_parquet(root / "l" / "a.parquet", table.slice(0, 2_000))
    write_parquet(root / "l" / "b.parquet", table.slice(2_000))
    return [root / "l" / "a.parquet", str(root / "l" / "b.parquet")]


def as_table(table: pa.Table, root: Path) -> object:
    return table


def as_dataframe(table: pa.Table, root: Path) -> object:
    return table.to_pandas()


SOURCES: list[Callable[[pa.Table, Path], object]] = [
    as_file,
    as_folder,
    as_hive,
    as_glob,
    as_list,
    as_table,
    as_dataframe,
]
SOURCE_IDS = ["file", "folder", "hive", "glob", "list", "table", "dataframe"]


def frame(report: DriftReport) -> pd.DataFrame:
    # spec_fingerprint hashes the source's Arrow types too (a DataFrame turns nullable ints into doubles)
    return report.to_pandas().drop(columns=["spec_fingerprint"])


@pytest.mark.parametrize("make", SOURCES, ids=SOURCE_IDS)
def test_every_source_type_gives_the_same_report(
    tmp_path: Path, tables: tuple[pa.Table, pa.Table], make: Callable[[pa.Table, Path], object]
) -> None:
    ref, cur = tables
    expected = kldrift.compare(as_file(ref, tmp_path / "r0"), as_file(cur, tmp_path / "c0"))
    got = kldrift.compare(make(ref, tmp_path / "r"), make(cur, tmp_path / "c"))
    pd.testing.assert_frame_equal(frame(got), frame(expected))
    assert [f.feature for f in got.features] == ["x", "k", "c"]
    # the event time and the hive key `region` are listed, with their reasons, not scored
    roles = {c.name: c.role for c in got.unscored}
    assert roles == ({"t": "timestamp", "region": "partition"} if make is as_hive else {"t": "timestamp"})
    assert got.n_reference == N
    assert got.n_current == N
    if make is not as_dataframe:
        assert got.spec_fingerprint == expected.spec_fingerprint


def test_the_shifted_column_alerts(tables: tuple[pa.Table, pa.Table]) -> None:
    report = kldrift.compare(*tables)
    assert [f.feature for f in report.alerts] == ["x"]
    assert {f.severity for f in report.features if f.feature != "x"} == {"ok"}
    assert all(f.n_current == N and f.n_reference == N for f in report.features)


def test_compare_with_a_profile_equals_compare_with_the_reference(
    tmp_path: Path, tables: tuple[pa.Table, pa.Table]
) -> None:
    ref, cur = tables
    ref_path = as_file(ref, tmp_path)
    expected = kldrift.compare(ref_path, cur)
    profile = kldrift.fit(ref_path)
    pd.testing.assert_frame_equal(kldrift.compare(profile, cur).to_pandas(), expected.to_pandas())
    saved = tmp_path / "profile.json"
    profile.save(saved)
    pd.testing.assert_frame_equal(kldrift.compare(saved, cur).to_pandas(), expected.to_pandas())
    pd.testing.assert_frame_equal(kldrift.compare(str(saved), cur).to_pandas(), expected.to_pandas())
    pd.testing.assert_frame_equal(kldrift.compare(Profile.load(saved), cur).to_pandas(), expected.to_pandas())


def test_fit_counts_equal_counting_the_reference(tables: tuple[pa.Table, pa.Table]) -> None:
    ref, _ = tables
    profile = kldrift.fit(ref)
    assert profile.histogram == count(profile.spec, open_source(ref), where="reference")


def test_comparing_a_reference_with_itself_is_all_zero(tables: tuple[pa.Table, pa.Table]) -> None:
    report = kldrift.compare(tables[0], tables[0])
    assert all(f.kl == 0.0 and f.severity == "ok" for f in report.features)
    assert all(f.p_value == pytest.approx(1.0) for f in report.features)


def test_config_as_dict_and_settings_object_agree(tables: tuple[pa.Table, pa.Table]) -> None:
    cfg = {"binning": {"bins": 5}, "metric": "psi", "thresholds": {"warn": 0.05, "critical": 0.5}}
    a = kldrift.compare(*tables, config=cfg)
    b = kldrift.compare(*tables, config=Settings.model_validate(cfg))
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas())
    assert a["x"].n_bins == 6  # 5 value bins + the null bin (the reference has NaN)
    assert a["x"].metric == "psi"


def test_config_as_settings_only_yaml_path(tmp_path: Path, tables: tuple[pa.Table, pa.Table]) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("binning:\n  bins: 5\nmetric: psi\n")
    report = kldrift.compare(*tables, config=path)
    assert report["x"].n_bins == 6


def test_reference_columns_missing_from_current_are_errors(tmp_path: Path, tables: tuple[pa.Table, pa.Table]) -> None:
    ref, cur = tables
    report = kldrift.compare(ref, as_folder(cur.drop_columns(["k"]), tmp_path))
    assert report["k"].severity == "error"
    assert report["k"].message.startswith("column 'k' is missing from the current data")
    assert report["x"].severity == "critical"


# --- the sampled path: more reference rows than are kept for cut points -------------------


def test_sampled_cut_points_exact_counts_and_target_mass(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force sampling at this small size: by default every value is kept up to 40M values.
    monkeypatch.setattr(fitting, "KEEP_ALL_VALUES", 0)
    n = 100_000
    x = rng.lognormal(0, 1, n)
    x[rng.random(n) < 0.02] = np.nan
    cat = rng.choice(["a", "b", "c"], n)
    ref = write_parquet(tmp_path / "ref.parquet", pa.table({"x": x, "c": cat}), row_group_size=7_001)
    stride = fitting.sampling_stride(n, 1, 1_000)
    assert stride > 1  # the sample really is a sample (at least 16,384 of 100,000 values)

    profile = kldrift.fit(ref, config={"binning": {"sample_size": 1_000}})
    edges = np.asarray(profile.features["x"].edges)
    finite = x[~np.isnan(x)]
    assert len(edges) == 9
    assert not np.array_equal(edges, np.quantile(finite, np.arange(1, 10) / 10))  # not the exact quantiles

    # exact counts in those bins — oracle: numpy.searchsorted over every reference value
    expected = [*np.bincount(np.searchsorted(edges, finite, side="right"), minlength=10), int(np.isnan(x).sum())]
    assert list(profile.features["x"].counts) == expected
    assert sum(profile.features["x"].counts) == n
    # each bin holds its target mass (a tenth of the non-null rows) within 1 percentage point
    mass = np.asarray(expected[:-1]) / len(finite)
    assert np.all(np.abs(mass - 0.1) <= 0.01), mass
    # categorical counts are exact whatever the sampling
    assert dict(zip(profile.features["c"].categories, profile.features["c"].counts, strict=False)) == {
        v: int((cat == v).sum()) for v in ("a", "b", "c")
    }


def test_sampled_integer_column_gets_whole_number_cut_points_and_exact_counts(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fitting, "KEEP_ALL_VALUES", 0)  # the pilot and sampled path at this small size
    n = 100_000
    as_int = rng.integers(0, 10_000, n)
    as_float = as_int.astype(np.float64)  # the same integers, written as float64 with a few NaN
    as_float[rng.random(n) < 0.01] = np.nan
    ref = write_parquet(tmp_path / "r.parquet", pa.table({"i": as_int, "f": as_float}), row_group_size=7_001)
    profile = kldrift.fit(ref, config={"binning": {"sample_size": 1_000}})
    for name, x in (("i", as_int.astype(np.float64)), ("f", as_float)):
        edges = np.asarray(profile.features[name].edges)
        assert len(edges) == 9
        assert np.array_equal(edges, np.floor(edges)), edges
        finite = x[~np.isnan(x)]
        # exact counts — oracle: numpy.searchsorted over every reference value
        expected = [*np.bincount(np.searchsorted(edges, finite, side="right"), minlength=10), int(np.isnan(x).sum())]
        assert list(profile.features[name].counts) == expected


def _held_values(fitter: fitting.Fitter) -> int:
    """Values the fitter's numeric columns keep right now (a column's are released once it is fitted)."""
    return sum(
        (f.filled if f.buffer is not None else 0) + sum(len(p) for p in f.sample) for f in fitter.numeric.values()
    )


@pytest.mark.parametrize("sampled", [False, True], ids=["every value kept", "sampled, pilot"])
def test_the_pass_holds_at_most_hold_values_and_fits_the_same(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, sampled: bool
) -> None:
    n = 40_000 if sampled else 6_000
    data = {f"x{i}": rng.lognormal(i % 3, 1, n) for i in range(6)}
    data["x1"][rng.random(n) < 0.1] = np.nan
    data["k"] = rng.poisson(3, n)  # discrete: counted in pass one
    data["c"] = rng.choice(["a", "b", "c"], n)
    path = write_parquet(tmp_path / "ref.parquet", pa.table(data), row_group_size=1_000)
    cfg = {"binning": {"sample_size": 1_000}}
    if sampled:
        monkeypatch.setattr(fitting, "KEEP_ALL_VALUES", 0)
    whole = kldrift.fit(path, config=cfg).to_json()

    kept = -(-n // fitting.sampling_stride(n, 7, 1_000))
    assert (kept < n) is sampled
    monkeypatch.setattr(fitting, "HOLD_VALUES", 2 * kept)  # two numeric columns' kept values
    held: list[int] = []
    add_column = fitting.Fitter.add_column

    def add_and_measure(self: fitting.Fitter, name: str, arr: pa.Array, row0: int, ready: object = None) -> None:
        add_column(self, name, arr, row0, ready)
        held.append(_held_values(self))

    monkeypatch.setattr(fitting.Fitter, "add_column", add_and_measure)
    grouped = kldrift.fit(path, config=cfg).to_json()
    assert grouped == whole  # the same bins and exact counts, byte for byte
    assert 0 < max(held) <= 2 * kept < 7 * kept  # never all seven columns' values at once


def test_sampling_stride() -> None:
    # hand: everything kept up to sample_size rows or KEEP_ALL_VALUES values
    assert fitting.sampling_stride(1_000, 3, 1_000) == 1
    assert fitting.sampling_stride(10_000_000, 4, 262_144) == 1  # 40M values
    # 100M rows × 50 columns: min(262,144, 16M / 50 = 320,000) kept per column → stride ⌈1e8 / 262,144⌉
    assert fitting.sampling_stride(100_000_000, 50, 262_144) == math.ceil(1e8 / 262_144)
