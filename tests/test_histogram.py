"""kldrift.histogram: counting into bins, the zero, the merge, and schema problems.

In the style of narwhals' ``hist_test.py``: tables of inputs with their expected
bins and counts (written by hand), then named properties (zero is the identity,
parts add up to the whole, counts sum to rows).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from helpers import write_parquet

import kldrift
from kldrift.binning import BinSpec, FeatureSpec
from kldrift.errors import KLDriftError
from kldrift.histogram import Counter, Histogram, count, count_categories, count_edges, count_values
from kldrift.sources import open_source

INF, NAN = math.inf, math.nan

# --- the kernels, as tables ------------------------------------------------------------

# (values, cut points, expected counts in (-inf, e1), [e1, e2), …, [ek, +inf), null)
EDGES_CASES = [
    ([0.0, 1.0, 2.0, 3.0], [1.0, 2.0], [1, 1, 2, 0]),
    ([1.0, 1.0, 1.0], [1.0], [0, 3, 0]),
    ([-INF, INF, NAN, 0.5], [0.0, 1.0], [1, 1, 1, 1]),
    ([], [0.0], [0, 0, 0]),
    ([NAN, NAN], [0.0], [0, 0, 2]),
    ([5.0, NAN, -5.0], [], [2, 1]),
    ([2, 7, 7, 11], [7.0, 10.0], [1, 2, 1, 0]),
    ([0.1, 0.2, 0.30000000000000004], [0.3], [2, 1, 0]),
]
EDGES_IDS = [
    "plain",
    "left-closed",
    "infinities-and-nan",
    "empty",
    "all-nan",
    "no-cut-points",
    "ints",
    "float-rounding",
]


@pytest.mark.parametrize(("values", "edges", "expected"), EDGES_CASES, ids=EDGES_IDS)
def test_count_edges(values: list[float], edges: list[float], expected: list[int]) -> None:
    x = np.asarray(values, dtype=np.int64 if values and isinstance(values[0], int) else np.float64)
    got = count_edges(x, np.asarray(edges, dtype=np.float64))
    assert got.tolist() == expected
    assert got.dtype == np.int64


def test_count_edges_matches_searchsorted(rng: np.random.Generator) -> None:
    x = rng.normal(size=10_000)
    x[::97] = np.nan
    edges = np.sort(rng.normal(size=9))
    # oracle: numpy.searchsorted(side="right") gives the left-closed bin index
    idx = np.searchsorted(edges, x[~np.isnan(x)], side="right")
    expected = [*np.bincount(idx, minlength=10).tolist(), int(np.isnan(x).sum())]
    assert count_edges(x, edges).tolist() == expected


# (values, discrete values, expected counts per value, other, null)
VALUES_CASES = [
    ([1.0, 2.0, 2.0, 5.0], [1.0, 2.0], [1, 2, 1, 0]),
    ([1, 1, 3], [1.0, 2.0, 3.0], [2, 0, 1, 0, 0]),
    ([NAN, INF, -INF, 0.0], [-INF, 0.0], [1, 1, 1, 1]),
    ([], [1.0], [0, 0, 0]),
    ([7.0, NAN], [], [1, 1]),
]


@pytest.mark.parametrize(
    ("values", "discrete", "expected"),
    VALUES_CASES,
    ids=["plain", "ints", "infinities", "empty", "no-values"],
)
def test_count_values(values: list[float], discrete: list[float], expected: list[int]) -> None:
    x = np.asarray(values, dtype=np.int64 if values and isinstance(values[0], int) else np.float64)
    assert count_values(x, np.asarray(discrete, dtype=np.float64)).tolist() == expected


# (values, categories, expected counts per category, other, null)
CATEGORY_CASES = [
    (pa.array(["a", "b", "a", "z", None]), ["a", "b"], [2, 1, 1, 1]),
    (pa.array(["a", "b", "a", "z", None]).dictionary_encode(), ["a", "b"], [2, 1, 1, 1]),
    (pa.array(["x", "y"], pa.large_string()), ["y"], [1, 1, 0]),
    (pa.array([True, None, False, True]), ["true", "false"], [2, 1, 0, 1]),
    (pa.array([], pa.string()), ["a"], [0, 0, 0]),
    (pa.nulls(3), ["a"], [0, 0, 3]),
    (pa.array(["a", "b"]), [], [2, 0]),
    (pa.chunked_array([["a", "b"], ["b", None], []]), ["b"], [2, 1, 1]),
]


@pytest.mark.parametrize(
    ("arr", "categories", "expected"),
    CATEGORY_CASES,
    ids=["strings", "dictionary", "large-string", "booleans", "empty", "null-type", "no-categories", "chunked"],
)
def test_count_categories(arr: pa.Array, categories: list[str], expected: list[int]) -> None:
    assert count_categories(arr, pa.array(categories, pa.string())).tolist() == expected


# --- a spec and its histograms ---------------------------------------------------------

SPEC = BinSpec(
    (
        FeatureSpec("x", "numeric", "number", edges=(0.0, 1.0), source_type="double"),
        FeatureSpec("k", "numeric", "number", values=(1.0, 2.0), source_type="int64"),
        FeatureSpec("c", "categorical", "category", categories=("a", "b"), source_type="string"),
    )
)

TABLE = pa.table(
    {
        "x": pa.array([-1.0, 0.0, 0.5, 1.0, INF, NAN, None, -INF], pa.float64()),
        "k": pa.array([1, 2, 2, 3, None, 1, 1, 9], pa.int64()),
        "c": pa.array(["a", "b", "q", None, "a", "a", "b", None]),
    }
)
# hand counts of TABLE in SPEC
TABLE_COUNTS = {
    "x": [2, 2, 2, 2],  # (-inf, 0): -1, -inf; [0, 1): 0, 0.5; [1, inf): 1, inf; null: NaN, None
    "k": [3, 2, 2, 1],  # 1 ×3, 2 ×2, other: 3, 9; null
    "c": [3, 2, 1, 2],  # a ×3, b ×2, other: q; null ×2
}


def counted(table: pa.Table, spec: BinSpec = SPEC) -> Histogram:
    return count(spec, open_source(table))


def test_count_table() -> None:
    h = counted(TABLE)
    assert h.fingerprint == SPEC.fingerprint
    assert h.rows == 8
    assert {k: v.tolist() for k, v in h.counts.items()} == TABLE_COUNTS
    assert h.errors == {}


def test_counts_sum_to_rows() -> None:
    h = counted(TABLE)
    assert all(int(v.sum()) == h.rows for v in h.counts.values())


def test_zero_is_the_identity() -> None:
    h = counted(TABLE)
    zero = Histogram.zero(SPEC)
    assert zero.rows == 0
    assert all(v.tolist() == [0] * f.n_bins for f, v in zip(SPEC.features, zero.counts.values(), strict=True))
    assert zero + h == h
    assert h + zero == h


def test_merge_is_associative_and_counts_add() -> None:
    a, b, c = counted(TABLE.slice(0, 3)), counted(TABLE.slice(3, 2)), counted(TABLE.slice(5))
    assert (a + b) + c == a + (b + c)
    assert a + b + c == counted(TABLE)


def test_equality_compares_counts() -> None:
    h = counted(TABLE)
    other = counted(TABLE.slice(1))
    assert h != other
    assert h == Histogram.from_json(h.to_json())
    assert h.__eq__("not a histogram") is NotImplemented


@pytest.mark.parametrize("parts", [1, 2, 3, 8], ids=["whole", "halves", "thirds", "one-row-each"])
def test_parts_of_a_table_add_up_to_the_whole(parts: int) -> None:
    bounds = np.linspace(0, TABLE.num_rows, parts + 1).astype(int)
    total = Histogram.zero(SPEC)
    for lo, hi in itertools.pairwise(bounds):
        total = total + counted(TABLE.slice(lo, hi - lo))
    assert total == counted(TABLE)


def test_parts_in_files_add_up_to_the_whole(tmp_path: Path, rng: np.random.Generator) -> None:
    n = 3_000
    table = pa.table(
        {
            "x": np.where(rng.random(n) < 0.05, np.nan, rng.normal(size=n)),
            "k": rng.integers(0, 4, n),
            "c": pa.array(rng.choice(["a", "b", "c", "d"], n)),
        }
    )
    spec = kldrift.fit(table).spec
    cuts = [0, 500, 501, 1_800, n]
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        write_parquet(tmp_path / "data" / f"part-{i}.parquet", table.slice(lo, hi - lo), row_group_size=256)
    files = sorted((tmp_path / "data").iterdir())
    parts = [count(spec, open_source(f)) for f in files]
    merged = sum(parts, Histogram.zero(spec))
    assert merged == count(spec, open_source(tmp_path / "data"))  # the folder as one dataset
    assert merged == count(spec, open_source(table))  # the in-memory table
    assert merged.rows == n
    assert all(int(v.sum()) == n for v in merged.counts.values())


def test_merge_refuses_different_specs() -> None:
    other = BinSpec((FeatureSpec("x", "numeric", "number", edges=(0.5,)),))
    with pytest.raises(KLDriftError, match=r"cannot merge histograms of different bin specs \(\w+ and \w+\)"):
        Histogram.zero(SPEC) + Histogram.zero(other)


def test_merge_refuses_corrupt_partial_counts() -> None:
    good = Histogram.zero(SPEC)
    data = good.to_json()
    name = next(iter(data["counts"]))
    data["counts"][name] = data["counts"][name][:-1]  # one bin short, e.g. an edited XCom
    with pytest.raises(KLDriftError, match=r"cannot merge histograms: their features or bin counts differ"):
        good + Histogram.from_json(data)


def test_merge_with_another_type_is_not_implemented() -> None:
    with pytest.raises(TypeError):
        Histogram.zero(SPEC) + 1  # type: ignore[operator]


def test_histograms_are_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(Histogram.zero(SPEC))


# --- JSON --------------------------------------------------------------------------------


def test_json_round_trip() -> None:
    h = counted(TABLE.drop_columns(["c"]))  # with an error for the missing column
    data = json.loads(json.dumps(h.to_json()))
    assert data["counts"]["x"] == TABLE_COUNTS["x"]
    back = Histogram.from_json(data)
    assert back == h
    assert back.errors == {"c": "column 'c' is missing from the current data"}
    assert all(v.dtype == np.int64 for v in back.counts.values())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({}, r"malformed partial counts: 'fingerprint'"),
        ({"fingerprint": "f", "rows": "many", "counts": {}}, r"malformed partial counts: invalid literal"),
        ({"fingerprint": "f", "rows": 1, "counts": []}, r"malformed partial counts: "),
        ({"fingerprint": "f", "rows": 1, "counts": {"x": ["a"]}}, r"malformed partial counts: "),
    ],
    ids=["empty", "bad-rows", "counts-not-a-dict", "bad-count"],
)
def test_json_errors(data: dict[str, Any], match: str) -> None:
    with pytest.raises(KLDriftError, match=match):
        Histogram.from_json(data)


# --- schema problems are per feature ---------------------------------------------------


def test_missing_column_is_an_error_for_that_feature_only() -> None:
    h = counted(TABLE.drop_columns(["k"]))
    assert h.errors == {"k": "column 'k' is missing from the current data"}
    assert h.counts["k"].tolist() == [0, 0, 0, 0]
    assert h.counts["x"].tolist() == TABLE_COUNTS["x"]
    assert h.counts["c"].tolist() == TABLE_COUNTS["c"]
    assert h.rows == 8


def test_number_becoming_string_is_an_error_for_that_feature_only() -> None:
    table = TABLE.set_column(0, "x", pa.array([str(i) for i in range(8)]))
    h = counted(table)
    assert list(h.errors) == ["x"]
    assert h.errors["x"] == (
        "type changed: column 'x' is string in the current data but was double (number) in the reference"
    )
    assert h.counts["c"].tolist() == TABLE_COUNTS["c"]


def test_string_becoming_number_is_an_error() -> None:
    table = TABLE.set_column(2, "c", pa.array(np.arange(8.0)))
    assert counted(table).errors == {
        "c": "type changed: column 'c' is double in the current data but was string (category) in the reference"
    }


def test_number_becoming_timestamp_is_an_error() -> None:
    table = TABLE.set_column(0, "x", pa.array(np.arange(8), pa.timestamp("s")))
    assert "type changed: column 'x' is timestamp[s]" in counted(table).errors["x"]


@pytest.mark.parametrize(
    "column",
    [pa.nulls(8), pa.array([None] * 8, pa.float64()), pa.array([None] * 8, pa.string())],
    ids=["null-type", "float-nulls", "string-nulls-into-numeric-is-error"],
)
def test_all_null_current_column(column: pa.Array) -> None:
    h = counted(TABLE.set_column(0, "x", column))
    if pa.types.is_string(column.type):
        assert "x" in h.errors  # a string column is a type change, even when empty
    else:
        assert h.errors == {}
        assert h.counts["x"].tolist() == [0, 0, 0, 8]  # every row in the null bin


def test_other_numeric_widths_are_compatible() -> None:
    table = TABLE.set_column(1, "k", pa.array([1, 2, 2, 3, None, 1, 1, 9], pa.int8()))
    table = table.set_column(0, "x", pa.array([-1.0, 0.0, 0.5, 1.0, INF, NAN, None, -INF], pa.float32()))
    h = counted(table)
    assert h.errors == {}
    assert {k: v.tolist() for k, v in h.counts.items()} == TABLE_COUNTS


def test_zero_rows() -> None:
    h = counted(TABLE.slice(0, 0))
    assert h == Histogram.zero(SPEC)


def test_no_countable_column_still_counts_rows() -> None:
    h = counted(pa.table({"other": [1, 2, 3]}))
    assert h.rows == 3
    assert set(h.errors) == {"x", "k", "c"}


def test_counter_without_a_pool_equals_count() -> None:
    counter = Counter(SPEC, TABLE.schema)
    for batch in TABLE.to_batches(max_chunksize=3):
        counter.add(batch)
    assert counter.histogram() == counted(TABLE)
    assert counter.columns == ["x", "k", "c"]
