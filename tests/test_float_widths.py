"""Issue 20, finding 1: float32 values written back as float64 (pandas ``astype(float)``) meet their reference.

A float32 column holds ``float32(0.1)`` = 0.100000001490116…; kldrift reads it as its shortest decimal,
``0.1``. Its float64 copy holds the same double, 0.100000001490116…, and must read the same, whichever
side (reference or current) holds the wider type, for discrete bins and for cut points alike. Identical
values give identical counts, so KL is exactly 0 (hand: p == q makes every ``rel_entr`` term 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import write_parquet
from hypothesis import given
from hypothesis import strategies as st

import kldrift
from kldrift import cli
from kldrift.floats import float32_values, read_float32_roundings, shortest_floats
from kldrift.kernels import count_edges, count_values

RNG = np.random.default_rng(2020)
N = 1_001  # (N - 1) * k / 10 is a whole index: every decile cut point is a value of the data


def _frames(values: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    narrow = pd.DataFrame({"v": values.astype(np.float32)})
    return narrow, narrow.astype(float)  # what pandas users do: float32 written back as float64


CASES = {
    # the issue's case: three values, a bin each
    "discrete": RNG.choice(np.array([0.1, 0.2, 0.3]), N),
    # cents: 31 values, quantile cut points on the values themselves (0.7 is below its decimal as float32)
    "quantile-on-values": RNG.integers(0, 31, N) / 100,
    # a continuous column: cut points at data values (N - 1 divisible by 10)
    "quantile-continuous": RNG.normal(0, 1, N).round(4),
    # whole numbers beyond 2**24, where a float32 holds only whole numbers
    "large-whole-numbers": RNG.choice(np.array([123456792.0, 3.3e9, 16777218.0, 1e10]), N),
}


@pytest.mark.parametrize("direction", ["float32-reference", "float64-reference"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_float32_data_written_back_as_float64_scores_zero(case: str, direction: str) -> None:
    narrow, wide = _frames(CASES[case])
    ref, cur = (narrow, wide) if direction == "float32-reference" else (wide, narrow)
    report = kldrift.compare(ref, cur)
    (f,) = report.features
    assert (f.kl, f.severity) == (0.0, "ok"), f.message  # hand: identical values, identical counts
    assert report.bins[0].reference == report.bins[0].current


def test_the_issue_case_through_parquet_files_and_the_cli(tmp_path: Path) -> None:
    # float32 {0.1, 0.2, 0.3} against the same values cast to float64: KL was 10.6, critical
    narrow, wide = _frames(CASES["discrete"])
    write_parquet(tmp_path / "ref.parquet", pa.Table.from_pandas(narrow))
    write_parquet(tmp_path / "cur.parquet", pa.Table.from_pandas(wide))
    for a, b in (("ref", "cur"), ("cur", "ref")):
        args = ["-q", "compare", str(tmp_path / f"{a}.parquet"), str(tmp_path / f"{b}.parquet"), "--fail-on", "warn"]
        assert cli.main(args) == 0
    profile = kldrift.fit(tmp_path / "cur.parquet")  # a float64 reference of float32 values: bins of the decimals
    assert profile.spec["v"].values == (0.1, 0.2, 0.3)


def test_a_float64_of_a_float32_value_reads_as_the_float32_does() -> None:
    f32 = np.array([0.1, 0.7, 1 / 3, 123456.7, -2.5e-7], np.float32)
    wide = f32.astype(np.float64)
    assert (
        read_float32_roundings(wide).tolist()
        == shortest_floats(f32).tolist()
        == [
            0.1,
            0.7,
            0.33333334,  # = repr(numpy.float32(1 / 3))
            123456.7,
            -2.5e-07,
        ]
    )
    # measured doubles are not float32 values and stay as they are (0.1 as a double is not float32(0.1))
    measured = np.array([0.1, 0.30000000000000004, np.pi, np.nan, np.inf, 1e300])
    assert float32_values(measured[[0, 1, 2, 3]]) is None
    assert np.array_equal(read_float32_roundings(measured), measured, equal_nan=True)
    # whole numbers read as themselves, float32 or float64, as an integer column does
    whole = np.array([123456792, 2**24 + 2, 3_300_000_000], np.float32)
    assert shortest_floats(whole).tolist() == [123456792.0, 16777218.0, 3.3e9]
    assert read_float32_roundings(whole.astype(np.float64)).tolist() == [123456792.0, 16777218.0, 3.3e9]


def test_counting_kernels_give_a_float32_array_and_its_float64_copy_the_same_counts() -> None:
    x32 = (RNG.integers(0, 31, 5_000) / 100).astype(np.float32)
    x32[::97] = np.nan
    x64 = x32.astype(np.float64)
    mixed = np.concatenate([x64, RNG.integers(0, 31, 500) / 100])  # plus measured doubles of the same decimals
    edges = np.array([0.07, 0.1, 0.15, 0.3])  # hand: float32(0.07) and float32(0.3) are below their decimals
    values = np.unique(x64[~np.isnan(x64)].round(2))
    assert count_edges(x64, edges).tolist() == count_edges(x32, edges).tolist()
    assert count_values(x64, values).tolist() == count_values(x32, values).tolist()
    halves = np.split(mixed, [len(x64)])
    assert count_edges(mixed, edges).tolist() == (count_edges(x32, edges) + count_edges(halves[1], edges)).tolist()


float32s = st.floats(width=32, allow_nan=True, allow_infinity=True)


@st.composite
def float32_columns(draw: st.DrawFn) -> np.ndarray:
    """Random float32 values: any of them (quantile bins), or a few repeated (discrete bins)."""
    n = draw(st.integers(1, 80))
    if draw(st.booleans()):
        pool = draw(st.lists(float32s, min_size=1, max_size=6))
        values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    else:
        values = draw(st.lists(float32s, min_size=n, max_size=n))
    return np.array(values, np.float32)


@given(values=float32_columns(), wide_reference=st.booleans())
def test_random_float32_values_either_side_widened_score_exactly_zero(values: np.ndarray, wide_reference: bool) -> None:
    narrow = pa.table({"v": pa.array(values)})
    wide = pa.table({"v": pa.array(values.astype(np.float64))})
    ref, cur = (wide, narrow) if wide_reference else (narrow, wide)
    report = kldrift.compare(ref, cur, config={"features": {"include": ["v"]}})
    for f, b in zip(report.features, report.bins, strict=True):
        assert b.reference == b.current, f
        if f.n_current:
            assert f.kl == 0.0, f


def test_a_sampled_fit_cuts_a_float32_column_and_its_float64_copy_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A big reference's cut points come from a pilot of a few row groups, taken every stride-th row and read
    # as kldrift reads floats: the float64 copy of a float32 column must get the float32 column's cut points.
    from kldrift import fitting

    monkeypatch.setattr(fitting, "KEEP_ALL_VALUES", 0)  # the pilot and sampled path at this small size
    # decimals (a float32 value is not its double), drawn so that the pass confirms the pilot's cut points
    values = np.random.default_rng(1).normal(0, 1, 200_000).round(3)
    tables = {
        "narrow": pa.table({"v": values.astype(np.float32)}),
        "wide": pa.table({"v": values.astype(np.float32).astype(np.float64)}),
        "decimals": pa.table({"v": values}),  # what both stand for: each float32 value's shortest decimal
    }
    cfg = {"binning": {"sample_size": 16_384}}
    edges = {
        name: kldrift.fit(write_parquet(tmp_path / f"{name}.parquet", t, row_group_size=5_000), config=cfg)
        .features["v"]
        .edges
        for name, t in tables.items()
    }
    assert edges["narrow"] == edges["wide"] == edges["decimals"]
