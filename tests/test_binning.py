"""kldrift.binning: bins fitted on the reference only (cut points, discrete values, categories).

Expected cut points come from ``numpy.quantile`` / ``numpy.linspace`` on the same
reference values; expected bins and counts are tables written by hand.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kldrift
from kldrift.binning import BinSpec, FeatureSpec, integer_edges
from kldrift.config import Settings
from kldrift.errors import ProfileError, SchemaError
from kldrift.fitting import select_features
from kldrift.pipeline import count_current
from kldrift.profile import Profile
from kldrift.sources import open_source

DECILES = np.arange(1, 10) / 10  # the contract's default: 10 bins → cut points at 0.1 … 0.9


def fitted(table: pa.Table, config: dict[str, Any] | None = None) -> Profile:
    return kldrift.fit(table, config=config)


def counts_of(profile: Profile, current: pa.Table, name: str) -> list[int]:
    return count_current(profile, current).counts[name].tolist()


# --- quantile cut points -------------------------------------------------------------


def test_quantile_edges_equal_numpy_quantile(rng: np.random.Generator) -> None:
    ref = rng.normal(3, 2, 2_000)
    spec = fitted(pa.table({"x": ref})).spec["x"]
    # oracle: numpy.quantile at 0.1 … 0.9 (exact: 2,000 rows ≤ binning.sample_size)
    assert spec.edges == tuple(np.unique(np.quantile(ref, DECILES)).tolist())
    assert spec.kind == "numeric"
    assert spec.values is None
    assert spec.n_bins == 11  # 10 value bins + null


def test_quantile_edges_over_several_batches(rng: np.random.Generator) -> None:
    ref = rng.exponential(1.0, 3_000)
    table = pa.Table.from_batches([pa.record_batch({"x": part}) for part in np.array_split(ref, 7)])
    # oracle: numpy.quantile on the whole column; batching must not change the cut points
    assert fitted(table).spec["x"].edges == tuple(np.unique(np.quantile(ref, DECILES)).tolist())


def test_a_heavy_value_gets_a_bin_of_its_own(rng: np.random.Generator) -> None:
    # 500 of 1,000 values are exactly 0: as quantiles, the 0.1 … 0.4 cut points would all collapse at 0 and the
    # zeros share a bin with the smallest positives. A value holding >= 1/bins of the rows gets its own bin,
    # and the other values share the other 9 bins by their own quantiles.
    uniform = rng.uniform(1, 2, 500)
    ref = np.concatenate([np.zeros(500), uniform])
    f = fitted(pa.table({"x": ref}), {"binning": {"discrete_max_values": 0}}).spec["x"]
    expected = (0.0, 5e-324, *np.unique(np.quantile(uniform, np.arange(1, 9) / 9)).tolist())  # oracle: numpy.quantile
    assert f.edges == expected
    assert f.labels()[:3] == ["(-inf, 0)", "0", f"(0, {np.quantile(uniform, 1 / 9):.6g})"]


def test_rain_on_more_hours_is_seen_in_a_zero_inflated_column(rng: np.random.Generator) -> None:
    # Precipitation: 7 % of January hours wet; 68 % on a stormy day. With the zeros in a bin of their own,
    # the wet hours' share is measured (a silent miss when the zeros' ties swallowed every cut point).
    january = np.where(rng.random(2_000) < 0.07, rng.gamma(1.5, 0.05, 2_000), 0.0)
    storm = np.where(rng.random(72) < 0.68, rng.gamma(1.5, 0.05, 72), 0.0)
    report = kldrift.compare(pa.table({"precip": january}), pa.table({"precip": storm}))
    assert report["precip"].severity == "critical"


@pytest.mark.parametrize("bins", [2, 4, 7], ids=["bins-2", "bins-4", "bins-7"])
def test_quantile_bins_setting(rng: np.random.Generator, bins: int) -> None:
    ref = rng.normal(size=1_500)
    edges = fitted(pa.table({"x": ref}), {"binning": {"bins": bins}}).spec["x"].edges
    # oracle: numpy.quantile at 1/bins … (bins-1)/bins
    assert edges == tuple(np.quantile(ref, np.arange(1, bins) / bins).tolist())


def test_quantile_ignores_nulls_and_nan(rng: np.random.Generator) -> None:
    ref = rng.normal(size=1_000)
    with_missing = pa.array([*ref.tolist(), None, None, math.nan], pa.float64())
    spec = fitted(pa.table({"x": with_missing})).spec["x"]
    assert spec.edges == tuple(np.quantile(ref, DECILES).tolist())  # oracle: numpy.quantile of the non-missing


def test_integer_column_with_many_values_gets_quantiles(rng: np.random.Generator) -> None:
    ref = rng.integers(0, 1_000, 2_000)
    spec = fitted(pa.table({"x": ref})).spec["x"]
    # oracle: numpy.quantile, moved up to whole numbers: [92.9, 191.8) holds the integers [93, 192) does
    assert spec.edges == tuple(np.unique(np.ceil(np.quantile(ref, DECILES))).tolist())
    assert all(label == "null" or re.fullmatch(r"[(\[](-inf|\d+), (\d+|\+inf)\)", label) for label in spec.labels())


@pytest.mark.parametrize("values", [[1.0, 2.0, 7.0], [1, 2, 7]], ids=["float64", "int64"])
def test_whole_number_floats_are_an_integer_column(values: list[float]) -> None:
    # values, not types: an integer column written as float64 (pandas with NaN) gets the same bins
    x = pa.array([v + 10 * k for k in range(100) for v in values] + [None])
    spec = fitted(pa.table({"x": x}), {"binning": {"discrete_max_values": 0}}).spec["x"]
    assert all(e == int(e) for e in spec.edges), spec.edges
    ints = fitted(pa.table({"x": pa.array([int(v) if v is not None else None for v in x.to_pylist()])}))
    assert spec.edges == ints.spec["x"].edges or ints.spec["x"].values is not None


def test_a_fraction_keeps_quantile_cut_points(rng: np.random.Generator) -> None:
    ref = rng.integers(0, 1_000, 2_000).astype(np.float64)
    ref[-1] = 500.5  # one value with a fraction: the column is not an integer column
    assert fitted(pa.table({"x": ref})).spec["x"].edges == tuple(np.unique(np.quantile(ref, DECILES)).tolist())


@given(
    values=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=200),
    edges=st.lists(st.floats(-(2.0**41), 2.0**41, allow_nan=False), min_size=1, max_size=12, unique=True),
)
def test_whole_number_cut_points_count_integers_as_before(values: list[int], edges: list[float]) -> None:
    # property: for integer data, ceil'd cut points give the same counts as the originals (oracle: searchsorted)
    before = np.array(sorted(edges))
    after = np.array(integer_edges(before.tolist()))
    assert all(e == math.ceil(e) or e in before for e in after)
    x = np.array(values, dtype=np.float64)
    pairs = set(zip(np.searchsorted(before, x, side="right"), np.searchsorted(after, x, side="right"), strict=True))
    # the same partition of the integers: each old bin maps to one new bin and no two old bins to the same one
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_quantile_bins_hold_a_tenth_each(rng: np.random.Generator) -> None:
    ref = rng.normal(size=5_000)
    counts = fitted(pa.table({"x": ref})).features["x"].counts
    # continuous data, exact quantiles: each bin holds 500 ± 1 rows, nothing in the null bin
    assert all(abs(c - 500) <= 1 for c in counts[:-1])
    assert counts[-1] == 0
    assert sum(counts) == 5_000


# --- uniform and explicit cut points -------------------------------------------------


def test_uniform_edges(rng: np.random.Generator) -> None:
    ref = rng.normal(size=1_000)
    edges = fitted(pa.table({"x": ref}), {"binning": {"strategy": "uniform", "bins": 5}}).spec["x"].edges
    # oracle: numpy.linspace(min, max, bins + 1) without its two ends
    assert edges == pytest.approx(np.linspace(ref.min(), ref.max(), 6)[1:-1].tolist(), rel=1e-12)


def test_uniform_uses_the_finite_range_only() -> None:
    ref = pa.array([0.0, 10.0, math.inf, -math.inf, math.nan, None, *range(1, 10)], pa.float64())
    edges = fitted(pa.table({"x": ref}), {"binning": {"strategy": "uniform", "discrete_max_values": 0}}).spec["x"].edges
    # hand: finite range [0, 10], 10 bins of width 1 → cut points 1 … 9
    assert edges == pytest.approx([1, 2, 3, 4, 5, 6, 7, 8, 9], rel=1e-12)


def test_per_column_strategy_and_bins(rng: np.random.Generator) -> None:
    ref = rng.normal(size=1_000)
    cfg = {"columns": {"x": {"strategy": "uniform", "bins": 4}}}
    spec = fitted(pa.table({"x": ref, "y": ref}), cfg).spec
    assert spec["x"].edges == pytest.approx(np.linspace(ref.min(), ref.max(), 5)[1:-1].tolist(), rel=1e-12)
    assert spec["y"].edges == tuple(np.quantile(ref, DECILES).tolist())  # the default still applies to y


# Value → bin index with explicit cut points [0, 1, 2]:
# (-inf, 0) = 0, [0, 1) = 1, [1, 2) = 2, [2, +inf) = 3, null = 4.
EXPLICIT_CASES = [
    (-math.inf, 0),
    (-5.0, 0),
    (-1e-12, 0),
    (0.0, 1),
    (0.5, 1),
    (1.0, 2),
    (1.999, 2),
    (2.0, 3),
    (1e300, 3),
    (math.inf, 3),
    (math.nan, 4),
    (None, 4),
]


@pytest.mark.parametrize(
    ("value", "expected_bin"),
    EXPLICIT_CASES,
    ids=["-inf", "-5", "just-below-0", "0", "0.5", "1", "1.999", "2", "1e300", "+inf", "nan", "null"],
)
def test_explicit_edges_are_left_closed_with_open_outer_bins(value: float | None, expected_bin: int) -> None:
    cfg = {"columns": {"x": {"edges": [0, 1, 2]}}}
    profile = fitted(pa.table({"x": pa.array([0.5, 1.5, 3.0], pa.float64())}), cfg)
    assert profile.spec["x"].edges == (0.0, 1.0, 2.0)
    expected = [0] * 5
    expected[expected_bin] = 1
    assert counts_of(profile, pa.table({"x": pa.array([value], pa.float64())}), "x") == expected


def test_explicit_edges_win_over_discrete() -> None:
    # three distinct values would be discrete, but explicit edges say otherwise
    profile = fitted(pa.table({"x": [1, 2, 3] * 10}), {"columns": {"x": {"edges": [2.5]}}})
    f = profile.spec["x"]
    assert (f.edges, f.values, f.labels()) == ((2.5,), None, ["(-inf, 2.5)", "[2.5, +inf)", "null"])
    assert profile.features["x"].counts == (20, 10, 0)  # hand: 1 and 2 below 2.5, 3 above


def test_labels_of_numeric_bins() -> None:
    f = FeatureSpec("x", "numeric", "number", edges=(1.5, 3.2))
    assert f.labels() == ["(-inf, 1.5)", "[1.5, 3.2)", "[3.2, +inf)", "null"]
    assert FeatureSpec("x", "numeric", "number", edges=(1.0, 2.0)).labels()[1] == "[1, 2)"
    assert FeatureSpec("x", "numeric", "number", edges=()).labels() == ["(-inf, +inf)", "null"]


# --- discrete numeric ----------------------------------------------------------------


def test_discrete_numeric_one_bin_per_value() -> None:
    ref = pa.table({"x": pa.array([3, 1, 2, 2, 3, 3, None], pa.int64())})
    profile = fitted(ref)
    f = profile.spec["x"]
    assert f.values == (1.0, 2.0, 3.0)
    assert f.labels() == ["1", "2", "3", "other", "null"]
    assert profile.features["x"].counts == (1, 2, 3, 0, 1)  # hand count of the reference
    current = pa.table({"x": pa.array([1, 4, 5, None, None, 2], pa.int64())})
    assert counts_of(profile, current, "x") == [1, 1, 0, 2, 2]  # 4 and 5 are "other"


def test_discrete_float_values_with_infinities() -> None:
    ref = pa.table({"x": pa.array([0.5, 0.5, math.inf, -math.inf, math.inf, -math.inf, math.nan], pa.float64())})
    profile = fitted(ref)
    assert profile.spec["x"].values == (-math.inf, 0.5, math.inf)
    assert profile.features["x"].counts == (2, 2, 2, 0, 1)  # -inf ×2, 0.5 ×2, +inf ×2, other, NaN
    current = pa.table({"x": pa.array([math.inf, 0.25, None], pa.float64())})
    assert counts_of(profile, current, "x") == [0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    ("distinct", "discrete"),
    [(20, True), (21, False)],
    ids=["at-limit", "over-limit"],
)
def test_discrete_max_values_default_20(distinct: int, discrete: bool) -> None:
    f = fitted(pa.table({"x": list(range(distinct)) * 5})).spec["x"]
    assert (f.values is not None) is discrete
    if discrete:
        assert f.n_bins == distinct + 2  # one per value + other + null


def test_a_small_sample_of_a_continuous_column_is_not_discrete(rng: np.random.Generator) -> None:
    # 60 rows, 70 % zeros and 18 distinct positive values: few distinct values, but most seen once — a sample
    # of a continuous column. A bin per value would put every later positive value in "other".
    ref = np.where(rng.random(60) < 0.7, 0.0, np.round(rng.gamma(2, 1, 60), 3))
    f = fitted(pa.table({"x": ref})).spec["x"]
    assert f.values is None
    assert f.labels()[1] == "0"  # the zeros have their own bin


def test_discrete_max_values_setting() -> None:
    table = pa.table({"x": [1, 2, 3, 4] * 5})
    assert fitted(table, {"binning": {"discrete_max_values": 3}}).spec["x"].values is None
    assert fitted(table, {"binning": {"discrete_max_values": 4}}).spec["x"].values == (1.0, 2.0, 3.0, 4.0)


def test_many_discrete_values_use_the_bincount_path() -> None:
    # more than 32 values switches count_values to searchsorted: same answer as the loop
    values = list(range(0, 200, 5))  # 40 distinct
    profile = fitted(pa.table({"x": values * 3}), {"binning": {"discrete_max_values": 50}})
    assert profile.features["x"].counts == (3,) * 40 + (0, 0)
    current = pa.table({"x": pa.array([0.0, 195.0, 196.0, -1.0, 1e9, math.nan], pa.float64())})
    expected = [0] * 42
    expected[0], expected[39], expected[40], expected[41] = 1, 1, 3, 1  # hand: 0, 195, three others, NaN
    assert counts_of(profile, current, "x") == expected


# --- categorical ---------------------------------------------------------------------

CATEGORY_DATA = ["b", "a", "c", "a", "b", "d", "c", "e", "a", "b", "d", None, "c", "d"]
# hand count: a 3, b 3, c 3, d 3, e 1, null 1


def test_all_categories_get_a_bin_when_they_fit() -> None:
    profile = fitted(pa.table({"c": CATEGORY_DATA}))
    f = profile.spec["c"]
    assert f.kind == "categorical"
    assert f.categories == ("a", "b", "c", "d", "e")  # by count (3 each), then name; e once
    assert f.labels() == ["a", "b", "c", "d", "e", "other", "null"]
    assert profile.features["c"].counts == (3, 3, 3, 3, 1, 0, 1)  # hand count of CATEGORY_DATA
    # Every category has fewer than min_category_count (5) rows, so the G-test compares with the odd rows
    # (1, 3, ..., 13: a a d e b None d), pooling what the even rows (b c b c a d c) never saw: e, and "other".
    assert profile.test_counts["c"].tolist() == [2, 1, 0, 2, 1, 0, 1]
    assert profile.test_pool["c"] == (4, 5)
    common = fitted(pa.table({"c": CATEGORY_DATA * 5}))  # 15 rows a category: no reason to split
    assert common.test_counts == {}


@pytest.mark.parametrize(
    ("max_categories", "categories", "test_counts"),
    [
        # even rows (0, 2, ..., 12): b c b c a None c → c 3, b 2, a 1; the top 3 shown by all-row count, then name
        (3, ("a", "b", "c"), (2, 1, 0, 3, 1)),
        (1, ("c",), (0, 6, 1)),
    ],
    ids=["top-3", "top-1"],
)
def test_more_categories_than_bins_are_chosen_on_the_even_rows(
    max_categories: int, categories: tuple[str, ...], test_counts: tuple[int, ...]
) -> None:
    cfg = {"binning": {"max_categories": max_categories, "min_category_count": 1}}
    profile = fitted(pa.table({"c": CATEGORY_DATA}), cfg)
    f = profile.spec["c"]
    assert f.categories == categories
    kept = sum(CATEGORY_DATA.count(c) for c in categories)
    assert profile.features["c"].counts == (*(CATEGORY_DATA.count(c) for c in categories), 13 - kept, 1)
    # the G-test's reference: the odd rows (1, 3, ..., 13): a a d e b None d, hand-counted into the bins
    assert tuple(profile.test_counts["c"].tolist()) == test_counts


def test_a_category_needs_min_category_count_rows_on_the_even_rows() -> None:
    # 60 categories > max_categories 50: chosen on even rows, each needs 2 x (even-row count) >= 5
    data = [f"k{i:02d}" for i in range(60) for _ in range(i % 7 + 1)]
    profile = fitted(pa.table({"c": data}))
    table = pa.table({"c": data})
    even = pa.table({"c": data[::2]}).column("c").to_pylist()
    chosen = {c for c in set(even) if 2 * even.count(c) >= 5}
    assert set(profile.spec["c"].categories) == chosen  # hand rule applied to the even rows
    assert table.num_rows == sum(profile.features["c"].counts)


def test_categories_ordered_by_frequency_then_name() -> None:
    data = ["z"] * 5 + ["m"] * 2 + ["a"] * 2 + ["q"] * 7
    assert fitted(pa.table({"c": data})).spec["c"].categories == ("q", "z", "a", "m")


def test_unseen_categories_count_as_other() -> None:
    profile = fitted(pa.table({"c": ["a", "b", "a"]}))
    current = pa.table({"c": ["a", "new", "newer", None, "b", "b"]})
    assert counts_of(profile, current, "c") == [1, 2, 2, 1]  # a, b, other, null


@pytest.mark.parametrize(
    "arr",
    [
        pa.array(CATEGORY_DATA, pa.string()),
        pa.array(CATEGORY_DATA, pa.large_string()),
        pa.array(CATEGORY_DATA, pa.string()).dictionary_encode(),
        pa.array(CATEGORY_DATA, pa.large_string()).dictionary_encode(),
        pa.array(CATEGORY_DATA, pa.string_view()),
    ],
    ids=["string", "large_string", "dictionary", "dictionary-large_string", "string_view"],
)
def test_every_string_type_gives_the_same_bins(arr: pa.Array) -> None:
    profile = fitted(pa.table({"c": arr}))
    assert profile.spec["c"].categories == ("a", "b", "c", "d", "e")
    assert profile.features["c"].counts == (3, 3, 3, 3, 1, 0, 1)  # hand count, see CATEGORY_DATA
    # and any string type counts into those bins
    assert counts_of(profile, pa.table({"c": pa.array(CATEGORY_DATA, pa.string())}), "c") == [3, 3, 3, 3, 1, 0, 1]


def test_dictionary_with_a_null_inside_the_dictionary() -> None:
    arr = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 0], pa.int32()), pa.array(["a", None, "b"]))
    profile = fitted(pa.table({"c": arr}))
    assert profile.spec["c"].categories == ("a", "b")
    assert profile.features["c"].counts == (2, 1, 0, 1)  # the null dictionary entry is a null value


def test_booleans_are_categories() -> None:
    profile = fitted(pa.table({"b": pa.array([True, False, True, None, True])}))
    f = profile.spec["b"]
    assert (f.kind, f.categories) == ("categorical", ("true", "false"))
    assert profile.features["b"].counts == (3, 1, 0, 1)


def test_a_dictionary_that_holds_a_value_twice_counts_it_as_one_category() -> None:
    # ('a', 'a', 'b') is a legal dictionary: the same text twice must be one bin, as plain strings give
    dup = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 0, 1, 2], pa.int32()), pa.array(["a", "a", "b"]))
    plain = pa.array(["a", "a", "b", "a", "a", "b"])
    profile = fitted(pa.table({"c": dup}))
    assert profile.spec["c"].categories == ("a", "b")
    assert profile.features["c"].counts == (4, 2, 0, 0)
    assert counts_of(profile, pa.table({"c": plain}), "c") == [4, 2, 0, 0]


def test_kind_categorical_on_integers() -> None:
    profile = fitted(pa.table({"i": [7, 7, 3, 9] * 10}), {"columns": {"i": {"kind": "categorical"}}})
    assert profile.spec["i"].categories == ("7", "3", "9")
    assert profile.features["i"].counts == (20, 10, 10, 0, 0)
    current = pa.table({"i": pa.array([7, 8, None], pa.int64())})
    h = count_current(profile, current)
    assert h.errors == {}
    assert h.counts["i"].tolist() == [1, 0, 0, 1, 1]


# --- other numeric types -------------------------------------------------------------


def test_decimals_are_numbers(rng: np.random.Generator) -> None:
    values = np.round(rng.normal(size=500), 2)
    arr = pa.array([decimal.Decimal(f"{v:.2f}") for v in values], pa.decimal128(10, 2))
    f = fitted(pa.table({"d": arr})).spec["d"]
    assert (f.kind, f.domain) == ("numeric", "number")
    # oracle: numpy.quantile of the same values as float64
    assert f.edges == pytest.approx(np.unique(np.quantile(values, DECILES)).tolist(), rel=1e-15)


def _instants(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
    start = int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp() * 1_000_000)
    return start + rng.integers(0, 60 * 86_400 * 1_000_000, n)


@pytest.mark.parametrize(
    ("unit", "tz"),
    [("ns", "America/New_York"), ("ms", "Asia/Kolkata"), ("us", "UTC"), ("s", "+05:00")],
    ids=["ns-new-york", "ms-kolkata", "us-utc", "s-offset"],
)
def test_timestamps_same_instant_same_bin_across_time_zones(rng: np.random.Generator, unit: str, tz: str) -> None:
    us = _instants(rng, 400) // 1_000_000 * 1_000_000  # whole seconds: exact in every unit
    table = pa.table({"t": pa.array(us, pa.timestamp("us", tz="UTC"))})
    profile = fitted(table, {"features": {"include": ["t"]}})  # timestamps are scored on request only
    f = profile.spec["t"]
    assert (f.kind, f.domain) == ("numeric", "temporal")
    assert f.edges == tuple(np.unique(np.quantile(us.astype(np.float64), DECILES)).tolist())  # oracle: numpy.quantile
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}[unit]
    factor = 1_000 if unit == "ns" else 1
    other = pa.array(us // scale * factor, pa.timestamp(unit, tz=tz))
    # the same instants in another unit and time zone land in exactly the same bins
    assert counts_of(profile, pa.table({"t": other}), "t") == list(profile.features["t"].counts)


def test_timestamp_labels_are_iso_utc() -> None:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    f = FeatureSpec("t", "numeric", "temporal", edges=(t0.timestamp() * 1e6,))
    assert f.labels() == ["(-inf, 2024-01-01T00:00:00Z)", "[2024-01-01T00:00:00Z, +inf)", "null"]


@pytest.mark.parametrize("date_type", [pa.date32(), pa.date64()], ids=["date32", "date64"])
def test_dates(date_type: pa.DataType) -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(40)]
    profile = fitted(pa.table({"d": pa.array([*days, None], date_type)}), {"columns": {"d": {"score": True}}})
    f = profile.spec["d"]
    assert (f.kind, f.domain) == ("numeric", "temporal")
    us = np.array([(d - dt.date(1970, 1, 1)).days * 86_400_000_000 for d in days], dtype=np.float64)
    assert f.edges == tuple(np.quantile(us, DECILES).tolist())  # oracle: numpy.quantile of µs since epoch
    # hand: the 0.1 quantile of days 0 … 39 sits at 0.1 · 39 = 3.9 days = Jan 4, 21:36
    assert f.labels()[1].startswith("[2024-01-04T21:36:00Z, ")
    assert profile.features["d"].counts[-1] == 1  # the null


def test_all_null_reference_column() -> None:
    profile = fitted(pa.table({"x": pa.array([None] * 5, pa.float64()), "n": pa.nulls(5)}))
    for name in ("x", "n"):
        assert profile.features[name].counts[-1] == 5
        assert sum(profile.features[name].counts) == 5


# --- selection of features -----------------------------------------------------------


def test_unsupported_types_are_skipped_by_default() -> None:
    table = pa.table({"x": [1.0, 2.0], "l": pa.array([[1], [2]])})
    assert kldrift.fit(table).spec.names() == ["x"]


def test_include_of_an_unsupported_type_is_an_error() -> None:
    table = pa.table({"x": [1.0, 2.0], "l": pa.array([[1], [2]])})
    with pytest.raises(SchemaError, match=r"column 'l' has type list<item: int64>, which kldrift cannot bin"):
        kldrift.fit(table, config={"features": {"include": ["l"]}})


def test_missing_configured_column_names_the_available_ones() -> None:
    table = pa.table({"fare_amount": [1.0, 2.0]})
    with pytest.raises(SchemaError, match=r"column 'fare_amont' is not in the reference .*did you mean 'fare_amount'"):
        select_features(open_source(table), Settings.model_validate({"features": {"exclude": ["fare_amont"]}}))


def test_kind_numeric_on_strings_is_an_error() -> None:
    with pytest.raises(SchemaError, match=r"columns\.s\.kind: numeric, but column 's' holds string values"):
        kldrift.fit(pa.table({"s": ["a"]}), config={"columns": {"s": {"kind": "numeric"}}})


def test_exclude() -> None:
    assert kldrift.fit(pa.table({"a": [1.0], "b": [2.0]}), config={"features": {"exclude": ["a"]}}).spec.names() == [
        "b"
    ]


# --- fingerprint and JSON ------------------------------------------------------------


def test_fingerprint_is_stable(rng: np.random.Generator) -> None:
    table = pa.table({"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)})
    a, b = kldrift.fit(table).spec, kldrift.fit(table).spec
    assert a.fingerprint == b.fingerprint
    assert len(a.fingerprint) == 16
    assert int(a.fingerprint, 16) >= 0  # hex


def test_fingerprint_changes_with_the_bins(rng: np.random.Generator) -> None:
    table = pa.table({"x": rng.normal(size=500)})
    prints = {
        kldrift.fit(table).spec.fingerprint,
        kldrift.fit(table, config={"binning": {"bins": 5}}).spec.fingerprint,
        kldrift.fit(table, config={"binning": {"strategy": "uniform"}}).spec.fingerprint,
        kldrift.fit(table, config={"columns": {"x": {"edges": [0]}}}).spec.fingerprint,
        kldrift.fit(pa.table({"y": table["x"]})).spec.fingerprint,  # same bins, another name
    }
    assert len(prints) == 5


def test_fingerprint_ignores_scoring_settings(rng: np.random.Generator) -> None:
    table = pa.table({"x": rng.normal(size=500)})
    cfg = {"thresholds": {"warn": 0.3, "critical": 0.5}, "smoothing": {"pseudocount": 1}, "metric": "psi"}
    assert kldrift.fit(table).spec.fingerprint == kldrift.fit(table, config=cfg).spec.fingerprint


def test_json_round_trip(rng: np.random.Generator) -> None:
    n = 300
    table = pa.table(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 4, n),
            "inf": pa.array([math.inf, 1.0, -math.inf] * (n // 3)),
            "c": rng.choice(["a", "b", "c"], n),
            "t": pa.array(_instants(rng, n), pa.timestamp("us", tz="UTC")),
        }
    )
    spec = kldrift.fit(table).spec
    import json

    data = json.loads(json.dumps(spec.to_json()))  # through real JSON text: inf must survive
    back = BinSpec.from_json(data, fingerprint=spec.fingerprint)
    assert back == spec
    assert back.fingerprint == spec.fingerprint
    assert back["inf"].values == (-math.inf, 1.0, math.inf)


def test_json_tampered_bins_are_refused() -> None:
    spec = BinSpec((FeatureSpec("x", "numeric", "number", edges=(1.0, 2.0)),))
    data = spec.to_json()
    data["x"]["edges"] = [1.0, 2.5]
    with pytest.raises(ProfileError, match=r"bin spec fingerprint \w+ does not match the recorded \w+"):
        BinSpec.from_json(data, fingerprint=spec.fingerprint)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"edges": [1]}, r"feature 'x': malformed bin spec: 'kind'"),
        ({"kind": "ordinal"}, r"feature 'x': malformed bin spec: unknown kind 'ordinal'"),
        ({"kind": "numeric", "edges": ["one"]}, r"feature 'x': malformed bin spec: could not convert"),
    ],
    ids=["no-kind", "bad-kind", "bad-edge"],
)
def test_feature_spec_from_malformed_json(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ProfileError, match=match):
        FeatureSpec.from_json("x", data)


def test_missing_feature_in_spec_has_a_hint() -> None:
    spec = BinSpec((FeatureSpec("fare_amount", "numeric", "number"),))
    with pytest.raises(
        SchemaError, match=r"column 'fare_amont' is not in the binning spec .*did you mean 'fare_amount'"
    ):
        spec["fare_amont"]


@pytest.mark.parametrize("strategy", ["quantile", "uniform"], ids=["quantile", "uniform"])
def test_constant_reference_value_gets_a_bin_of_its_own(strategy: str) -> None:
    cfg = {"binning": {"discrete_max_values": 0, "strategy": strategy}}
    profile = fitted(pa.table({"x": [7.0] * 10 + [math.inf]}), cfg)
    f = profile.spec["x"]
    # [7, 7 + 7 * 2**-39): the constant itself (and its rounding twins), so any other value lands elsewhere
    assert f.edges == (7.0, 7.0 + 7.0 * 2.0**-39)
    assert f.labels() == ["(-inf, 7)", "7", "(7, +inf)", "null"]
    assert profile.features["x"].counts == (0, 10, 1, 0)
    current = pa.table({"x": [6.99, 7.0, 7.01, 7.000000000000001, 6.999999999999999]})
    assert counts_of(profile, current, "x") == [1, 3, 1, 0]
