"""kldrift.spark on DataFrames: fit, count and compare equal kldrift's own on the same rows, in local[2].

The oracle everywhere is kldrift itself on ``df.toArrow()`` (the same rows, in the same order): the
profile's JSON, the histogram, the report's repr (NaN-safe) must be equal, not close.
"""

from __future__ import annotations

import decimal
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spark_support import frame, session

import kldrift
import kldrift.spark
from kldrift import fitting
from kldrift.errors import KLDriftError
from kldrift.pipeline import count_current

pytestmark = pytest.mark.slow

spark = pytest.fixture(scope="module")(session)


def _profiles_equal(a: kldrift.Profile, b: kldrift.Profile) -> None:
    ja, jb = a.to_json(), b.to_json()
    ja.pop("source"), jb.pop("source")  # "<pyarrow.Table N rows>" and "Spark DataFrame"
    assert ja == jb


def mixed(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    """Every kind of column kldrift fits: continuous, heavy value, discrete, nulls and NaN, keys,
    categories (many, few, with nulls), booleans, a constant, decimals, dates, timestamps observed."""
    rng = np.random.default_rng(seed)
    z = rng.normal(shift, 1, n)
    z[rng.random(n) < 0.05] = np.nan
    zero_heavy = np.where(rng.random(n) < 0.4, 0.0, rng.gamma(2, 3, n))
    many = pa.array([f"v{int(k)}" for k in rng.zipf(1.3, n) % 500])
    few = pa.array(np.where(rng.random(n) < 0.03, None, rng.choice(["a", "b", "c"], n)).tolist(), pa.string())
    return pa.table(
        {
            "x": rng.normal(shift, 1, n),
            "z": z,
            "zero_heavy": zero_heavy,
            "small_int": rng.integers(0, 6, n),
            "count": rng.poisson(30, n).astype(np.int32),
            "f32": rng.normal(0, 1, n).astype(np.float32),
            "row_id": np.arange(n) * 3 + 7,
            "const": np.full(n, 2.5),
            "many": many,
            "few": few,
            "flag": rng.random(n) < 0.3,
            "at": pa.array(20_717 * 86_400_000_000 + rng.integers(0, 9 * 86_400_000_000, n), pa.timestamp("us", "UTC")),
            "price": pa.array([decimal.Decimal(int(k)) / 100 for k in rng.integers(0, 10**6, n)], pa.decimal128(9, 2)),
            "day": pa.array(rng.integers(19_000, 19_400, n).astype(np.int32), pa.date32()),
        }
    )


CONFIG = {"binning": {"max_categories": 20}}


@pytest.mark.parametrize("partitions", [1, 3, 7], ids=["1 partition", "3 partitions", "7 partitions"])
def test_fit_equals_kldrift_fit_of_the_same_rows(spark: Any, partitions: int) -> None:
    df = frame(spark, mixed(6_000, 1), partitions)
    expected = kldrift.fit(df.toArrow(), config=CONFIG)
    got = kldrift.spark.fit(df, config=CONFIG)
    _profiles_equal(got, expected)
    # what the mix exercises, so the equality above is not vacuous
    assert len(got.features["many"].categories) == 20
    assert "many" in got.test_counts  # categories were chosen: the G-test's odd-row counts
    roles = {c.name: c.role for c in got.columns}
    assert (roles["row_id"], roles["at"]) == ("identifier", "timestamp")
    assert got.coverage["at"][0] == 9  # = 9 days drawn


def test_sampled_fit_with_a_pilot_equals_kldrift_fit(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The big-reference path at a small size: a sample for the cut points, a pilot of the same rows,
    # and the columns split into groups (each group one pass).
    monkeypatch.setattr(fitting, "KEEP_ALL_VALUES", 0)
    monkeypatch.setattr(fitting, "HOLD_VALUES", 40_000)
    config = {"binning": {"sample_size": 1_000, "max_categories": 20}}
    table = mixed(40_000, 2)
    df = frame(spark, table, 4)
    expected = kldrift.fit(df.toArrow(), config=config)
    assert fitting.sampling_stride(table.num_rows, 7, 1_000) > 1  # really sampled
    _profiles_equal(kldrift.spark.fit(df, config=config), expected)


def test_count_equals_kldrift_count(spark: Any) -> None:
    ref, cur = mixed(5_000, 3), mixed(7_000, 4, shift=0.5)
    profile = kldrift.fit(ref, config=CONFIG)
    got = kldrift.spark.count(profile, frame(spark, cur, 3))
    assert got == count_current(profile, cur)
    assert (got.rows, dict(got.errors)) == (7_000, {})


def test_compare_equals_kldrift_compare(spark: Any) -> None:
    ref, cur = frame(spark, mixed(5_000, 5), 2), frame(spark, mixed(5_000, 6, shift=1.0), 3)
    got = kldrift.spark.compare(ref, cur, config=CONFIG)
    expected = kldrift.compare(ref.toArrow(), cur.toArrow(), config=CONFIG)
    assert repr(got) == repr(expected)  # repr: the reports hold NaN, which == would call different
    assert (
        got["x"].severity == "critical"
    )  # KL of a 1 sd shift: about 0.5 (= 1/2 for normals), over the 0.25 of critical
    # a profile as the reference gives the same report
    assert repr(kldrift.spark.compare(kldrift.spark.fit(ref, config=CONFIG), cur, config=CONFIG)) == repr(expected)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.none()), min_size=0, max_size=300
    ),
    texts=st.lists(st.one_of(st.sampled_from(["a", "b", "c", "é", ""]), st.none()), min_size=300, max_size=300),
    partitions=st.integers(1, 6),
)
def test_counts_with_any_partitioning_equal_kldrift_counts(
    spark: Any, values: list[float | None], texts: list[str | None], partitions: int
) -> None:
    n = len(values)
    ref = pa.table({"x": np.linspace(-5, 5, 200), "t": ["a", "b"] * 100})
    profile = kldrift.fit(ref)
    cur = pa.table({"x": pa.array(values, pa.float64()), "t": pa.array(texts[:n], pa.string())})
    got = kldrift.spark.count(profile, frame(spark, cur, min(partitions, max(1, n))))
    assert got == count_current(profile, cur)
    assert got.rows == n


# --- as a user would: messy current data ----------------------------------------------------------


def test_messy_current_data_counts_as_kldrift_counts_it(spark: Any) -> None:
    ref = pa.table({"amount": np.linspace(0, 100, 1_000), "city": ["paris", "rome"] * 500, "id": np.arange(1_000)})
    profile = kldrift.fit(ref, config={"features": {"include": ["amount", "city", "id"]}})
    bad_utf8 = pa.Array.from_buffers(
        pa.string(),
        3,
        [None, pa.py_buffer(np.array([0, 4, 8, 13], np.int32).tobytes()), pa.py_buffer(b"rome\xe9\xe9\xe9\xe9paris")],
    )
    cur = pa.table(
        {
            "amount": pa.array(["12", "x", None]),  # strings where the reference had numbers
            "city": bad_utf8,  # bytes that are not UTF-8 in a string column
            "id": pa.array([2**63 - 1, -(2**63), 5], pa.int64()),  # huge ids
        }
    )
    got = kldrift.spark.count(profile, frame(spark, cur, 2))
    assert got == count_current(profile, cur)
    assert got.errors["amount"].startswith("type changed: column 'amount' is string in the current data")


def test_an_empty_current_dataframe_is_no_data(spark: Any) -> None:
    ref = frame(spark, mixed(2_000, 7), 2)
    empty = ref.limit(0)
    got = kldrift.spark.compare(ref, empty, config=CONFIG)
    assert repr(got) == repr(kldrift.compare(ref.toArrow(), empty.toArrow(), config=CONFIG))
    assert (got.n_current, got.checks[0].check) == (0, "no_data")


# --- errors ----------------------------------------------------------------------------------------


def test_not_a_dataframe_is_a_clear_error(spark: Any) -> None:
    with pytest.raises(KLDriftError, match=r"expected a pyspark.sql.DataFrame, got Table"):
        kldrift.spark.fit(pa.table({"x": [1.0]}))  # type: ignore[arg-type]


def test_without_pyspark_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from kldrift.spark import frames

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # import pyspark.sql raises ImportError
    with pytest.raises(
        KLDriftError, match=r"kldrift.spark needs pyspark \(and Java 17\+\): pip install 'kldrift\[spark\]'"
    ):
        frames.session(None)


def test_a_dataframe_whose_partitions_change_between_passes_is_refused(spark: Any) -> None:
    import random

    from pyspark.sql import functions as F

    coin = F.udf(lambda: random.random() < 0.5, "boolean").asNondeterministic()
    df = spark.range(0, 4_000, numPartitions=2).withColumn("x", F.rand(1)).where(coin())
    with pytest.raises(KLDriftError, match=r"its partitions held other rows on a second pass; .* must be cached"):
        kldrift.spark.fit(df)


def test_import_kldrift_does_not_import_pyspark() -> None:
    import subprocess

    code = "import kldrift, kldrift.spark, sys; kldrift.Profile; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
