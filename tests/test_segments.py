"""Segments: the config, choosing them on the reference, each row's segment, counting per segment in one pass.

Expected counts are hand counts (``np.unique`` / ``collections.Counter`` over the values written) or
kldrift's whole-table counting (``kldrift.histogram.count``), which other tests pin; the property tests
check the merge and sum invariants on drawn tables.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kldrift import binindex, segcount
from kldrift.binindex import bin_categories, bin_edges, bin_values
from kldrift.config import coerce_config, load_config
from kldrift.errors import ConfigError, KLDriftError, ProfileError, SchemaError
from kldrift.histogram import count
from kldrift.kernels import count_categories, count_edges, count_values
from kldrift.pipeline import compare, fit
from kldrift.profile import Profile
from kldrift.segcount import NEW_VALUES, SegmentedHistogram, count_segments
from kldrift.segments import OTHER, Coder, Segment, SegmentSpec, choose_segments, parse_segment
from kldrift.sources import open_source

SEG = {"segments": {"columns": ["region"], "max": 10, "min_rows": 50}}


# --- the config --------------------------------------------------------------------------------------


def test_segments_section_defaults() -> None:
    s = coerce_config({"segments": {"columns": ["origin", "carrier"]}}).segments
    assert s is not None
    assert (s.columns, s.max, s.min_rows) == (("origin", "carrier"), 50, 200)
    assert coerce_config({}).segments is None


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"columns": []}, r"segments\.columns: .*at least 1 item"),
        ({"columns": ["a", "b", "c", "d", "e", "f"]}, r"segments\.columns: .*at most 5 items"),
        ({"columns": ["a", "a"]}, r"segments\.columns: .*each column once, got 'a' more than once"),
        ({"columns": [""]}, r"segments\.columns: .*expected column names, got an empty one"),
        ({"columns": ["a"], "max": 0}, r"segments\.max: .*greater than or equal to 1"),
        ({"columns": ["a"], "max": 1001}, r"segments\.max: .*less than or equal to 1000"),
        ({"columns": ["a"], "min_rows": -1}, r"segments\.min_rows: .*greater than or equal to 0"),
        ({"columns": ["a"], "colums": ["b"]}, r"segments\.colums: unknown key"),
        ({"max": 5}, r"segments\.columns: required key is missing"),
    ],
    ids=["no-columns", "six-columns", "twice", "empty-name", "max-0", "max-too-big", "min-rows", "typo", "missing"],
)
def test_segments_keys_are_validated_one_line(section: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        coerce_config({"segments": section})
    assert "\n" not in str(err.value)


def test_segments_change_the_binning_fingerprint_only_when_set() -> None:
    plain, seg = coerce_config({}), coerce_config({"segments": {"columns": ["a"]}})
    assert plain.binning_fingerprint() == coerce_config({"segments": None}).binning_fingerprint()
    assert seg.binning_fingerprint() != plain.binning_fingerprint()  # a saved profile is refitted
    # min_rows is a scoring setting: changing it keeps the profile
    assert (
        seg.binning_fingerprint()
        == coerce_config({"segments": {"columns": ["a"], "min_rows": 5}}).binning_fingerprint()
    )


def test_a_job_file_with_segments_loads(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("dataset: d\nreference: r.parquet\ncurrent: c/{ds}/\noutput: out\nsegments: {columns: [origin]}\n")
    assert load_config(path).segments is not None


# --- segments, their JSON and labels -----------------------------------------------------------------


def test_segment_json_label_and_match() -> None:
    s = Segment(("origin", "carrier"), ("EWR", None))
    assert s.to_json() == {"origin": "EWR", "carrier": None}
    assert s.label == "origin=EWR, carrier=null"
    assert Segment.from_json(s.to_json()) == s
    other = Segment(("origin",), (None,), other=True)
    assert other.to_json() == {"origin": OTHER}
    assert other.label == OTHER
    assert Segment.from_json({"origin": OTHER}) == other
    assert s.matches({"origin": "EWR"})
    assert not s.matches({"origin": "JFK"})
    assert not s.matches({"dest": "EWR"})


@pytest.mark.parametrize(
    ("data", "match"), [([], "a segment is an object"), ({}, "a segment is an object")], ids=["list", "empty"]
)
def test_segment_from_json_refuses_what_is_not_one(data: Any, match: str) -> None:
    with pytest.raises(KLDriftError, match=match):
        Segment.from_json(data)


def test_parse_segment() -> None:
    assert parse_segment(["origin=EWR", "carrier=null"]) == {"origin": "EWR", "carrier": None}
    assert parse_segment(["other"]) == {"*": OTHER}
    assert parse_segment(["note=a=b"]) == {"note": "a=b"}  # the first '=' splits
    with pytest.raises(ConfigError, match=r"--segment: expected COLUMN=VALUE \(origin=EWR\) or other, got 'EWR'"):
        parse_segment(["EWR"])


def test_spec_json_round_trip_and_checks() -> None:
    spec = SegmentSpec(("a",), (("x",), ("y",)), (("x", "y", "z"),))
    assert SegmentSpec.from_json(spec.to_json()) == spec
    assert spec.n == 3
    assert spec.segments[-1].other
    with pytest.raises(KLDriftError, match="fingerprint does not match"):
        SegmentSpec.from_json({**spec.to_json(), "values": [["x"]]})
    with pytest.raises(KLDriftError, match="one value per column"):
        SegmentSpec(("a",), (("x", "y"),))
    with pytest.raises(KLDriftError, match="listed twice"):
        SegmentSpec(("a",), (("x",), ("x",)))
    with pytest.raises(KLDriftError, match="malformed segments: KeyError"):
        SegmentSpec.from_json({"columns": ["a"]})


# --- choosing segments on the reference --------------------------------------------------------------


def test_the_most_frequent_combinations_are_chosen() -> None:
    region = ["n"] * 5 + ["s"] * 3 + ["e"] * 3 + [None] * 4 + [OTHER] * 6
    spec = choose_segments(open_source(pa.table({"region": region})), ["region"], 3)
    # hand count: (other) 6 is never chosen, null 4, n 5, then e and s tie at 3: by value, e first
    assert spec.values == (("n",), (None,), ("e",))
    assert spec.seen == ((None, OTHER, "e", "n", "s"),)


def test_combinations_of_two_columns_as_text() -> None:
    t = pa.table({"origin": ["EWR", "EWR", "JFK", "JFK", "JFK"], "month": [1, 1, 1, 2, 2]})
    spec = choose_segments(open_source(t), ["origin", "month"], 5)
    assert spec.values == (("EWR", "1"), ("JFK", "2"), ("JFK", "1"))  # ints read as text, like categories


def test_segment_columns_are_checked() -> None:
    scan = open_source(pa.table({"origin": ["a"], "tags": pa.array([[1]], pa.list_(pa.int64()))}))
    with pytest.raises(
        SchemaError, match=r"column 'orign' is not in the reference .*\(segments\.columns\) \(did you mean 'origin'\?\)"
    ):
        choose_segments(scan, ["orign"], 5)
    with pytest.raises(ConfigError, match=r"segments\.columns: column 'tags' is list<item: int64>; segment by strings"):
        choose_segments(scan, ["tags"], 5)


def test_a_reference_without_rows_has_only_other() -> None:
    spec = choose_segments(open_source(pa.table({"a": pa.array([], pa.string())})), ["a"], 5)
    assert spec.values == ()
    assert spec.n == 1


# --- each row's segment ------------------------------------------------------------------------------


def test_codes_of_one_column_plain_dictionary_and_chunked() -> None:
    spec = SegmentSpec(("r",), (("n",), (None,)), ((None, "n", "s"),))
    coder = Coder(spec)
    plain = pa.table({"r": ["n", "s", None, "x", "n"]})
    new: dict[str, dict[str | None, int]] = {}
    assert coder.codes(plain, new).tolist() == [0, 2, 1, 2, 0]
    assert new == {"r": {"x": 1}}  # "s" is pooled but known; "x" is new
    chunked = pa.table(
        {
            "r": pa.chunked_array(
                [pa.array(["n", "s"]).dictionary_encode(), pa.array([None, "x", "n"]).dictionary_encode()]
            )
        }
    )
    assert coder.codes(chunked).tolist() == [0, 2, 1, 2, 0]
    unused: dict[str, dict[str | None, int]] = {}
    dictionary = pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array(["n", "zz"]))
    assert coder.codes(pa.table({"r": dictionary}), unused).tolist() == [0, 0]
    assert unused == {}  # a dictionary's value no row holds is not new data


def test_codes_of_two_columns_dense_and_sparse() -> None:
    spec = SegmentSpec(("a", "b"), (("x", "1"), ("y", "2")))
    t = pa.table({"a": ["x", "x", "y", "y", None], "b": [1, 2, 2, 1, 1]})
    assert Coder(spec).codes(t).tolist() == [0, 2, 1, 2, 2]
    many = SegmentSpec(("a", "b", "c"), tuple((str(i), str(i), str(i)) for i in range(200)))
    coder = Coder(many)
    assert coder.dense is None  # 201**3 keys: a binary search, not a table
    rows = pa.table({"a": ["5", "5", "7"], "b": ["5", "5", "7"], "c": ["5", "6", "7"]})
    assert coder.codes(rows).tolist() == [5, 200, 7]


# --- per-row bins: the kernels' twins ----------------------------------------------------------------

floats = st.lists(
    st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan")), st.sampled_from([0.3, 3 * 0.1, 1.0, 2.5])),
    max_size=200,
)


@given(floats, st.sampled_from([np.float64, np.float32]))
def test_bin_edges_counts_as_count_edges(values: list[float], dtype: Any) -> None:
    x = np.asarray(values, dtype=dtype)
    edges = np.array([-10.0, 0.3, 1.0, 2.5, 1e4])
    assert np.bincount(bin_edges(x, edges), minlength=len(edges) + 2).tolist() == count_edges(x, edges).tolist()


@given(floats, st.sampled_from([np.float64, np.float32, np.int64]))
def test_bin_values_counts_as_count_values(values: list[float], dtype: Any) -> None:
    x = np.asarray(values, dtype=np.float64)
    x = np.round(x[np.isfinite(x)]) if dtype is np.int64 else x
    x = x.astype(dtype)
    v = np.array([-1.0, 0.0, 0.3, 1.0, 2.0, np.inf]) if dtype is not np.int64 else np.arange(-3.0, 40.0)
    assert np.bincount(bin_values(x, v), minlength=len(v) + 2).tolist() == count_values(x, v).tolist()


@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "caf\u00e9", "x" * 300])), max_size=100),
    st.booleans(),
)
def test_bin_categories_counts_as_count_categories(values: list[str | None], encoded: bool) -> None:
    arr = pa.array(values, pa.string())
    arr = arr.dictionary_encode() if encoded else arr
    cats = pa.array(["a", "c", "x" * 300])
    assert np.bincount(bin_categories(arr, cats), minlength=5).tolist() == count_categories(arr, cats).tolist()


# --- counting per segment ------------------------------------------------------------------------------


def _table(rng: np.random.Generator, n: int) -> pa.Table:
    region = rng.choice(np.array(["n", "s", "e", "w"], dtype=object), n)
    region[rng.random(n) < 0.05] = None
    x = rng.normal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    return pa.table(
        {
            "region": pa.array(region.tolist(), pa.string()),
            "x": x,
            "k": rng.integers(0, 5, n),
            "f32": rng.normal(size=n).astype(np.float32),
            "c": pa.array(rng.choice(np.array(list("abcdefgh"), dtype=object), n).tolist()),
        }
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[pa.Table, Profile]:
    t = _table(np.random.default_rng(3), 4_000)
    return t, fit(t, config={"segments": {"columns": ["region"], "max": 3}})


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 600), cuts=st.lists(st.integers(0, 600), max_size=4))
def test_parts_merge_to_the_whole_per_segment_and_segments_sum_to_the_table(
    fitted: tuple[pa.Table, Profile], seed: int, n: int, cuts: list[int]
) -> None:
    _, profile = fitted
    assert profile.segments is not None
    seg = profile.segments.spec
    t = _table(np.random.default_rng(seed), n)
    whole, _ = count_segments(profile.spec, seg, open_source(t))
    bounds = sorted({0, n, *(min(c, n) for c in cuts)})
    parts = [
        count_segments(profile.spec, seg, open_source(t.slice(a, b - a)))[0] for a, b in itertools.pairwise(bounds)
    ]
    merged = SegmentedHistogram.zero(profile.spec, seg)
    for p in parts:
        merged = merged + p
    assert merged == whole  # counts of the parts merged == counts of the whole, per segment
    assert whole.whole() == count(profile.spec, open_source(t))  # sum over segments == the unsegmented counts
    # hand count of rows per segment
    regions = Counter(t.column("region").to_pylist())
    chosen = [v[0] for v in seg.values]
    assert list(whole.rows) == [regions.get(v, 0) for v in chosen] + [n - sum(regions.get(v, 0) for v in chosen)]


def test_a_kernel_that_reads_some_value_otherwise_wins(
    fitted: tuple[pa.Table, Profile], monkeypatch: pytest.MonkeyPatch
) -> None:
    table, profile = fitted
    assert profile.segments is not None
    honest, _ = count_segments(profile.spec, profile.segments.spec, open_source(table))
    monkeypatch.setattr(segcount, "bin_index", lambda f, arr: np.zeros(len(arr), np.intp))  # every row in bin 0
    fallback, _ = count_segments(profile.spec, profile.segments.spec, open_source(table))
    assert fallback == honest  # counted segment by segment with the kernel itself


def test_reference_parity_and_profile_round_trip(fitted: tuple[pa.Table, Profile], tmp_path: Path) -> None:
    table, profile = fitted
    seg = profile.segments
    assert seg is not None
    assert seg.counts.whole() == profile.histogram
    for name, odd in seg.test_counts.items():  # odd rows per segment sum to the profile's odd rows
        assert np.array_equal(odd.sum(axis=0), profile.test_counts[name])
    assert "c" not in seg.test_counts or seg.test_counts["c"].sum() == len(table) // 2
    back = Profile.load(profile.save(tmp_path / "p.json"))
    assert back.segments is not None
    assert back.segments.spec == seg.spec
    assert back.segments.counts == seg.counts
    part = back.segment(0)
    assert part.histogram == seg.counts.part(0)
    assert part.spec == profile.spec


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: s.update(version=9), r"segments: format version 9 is not supported \(expected 1\)"),
        (lambda s: s.update(rows=[1] * len(s["rows"])), "rows per segment do not sum"),
        (
            lambda s: s["counts"]["x"][0].__setitem__(0, s["counts"]["x"][0][0] + 1),
            "feature 'x': counts per segment do not sum",
        ),
        (
            lambda s: s["counts"].update(x=[[1]]),
            r"feature 'x': expected 4 x 11 non-negative counts",
        ),  # 3 segments + (other); 10 bins + null
        (lambda s: s.pop("values"), "segments: malformed segments: KeyError: 'values'"),
    ],
    ids=["version", "rows", "sums", "shape", "missing"],
)
def test_a_corrupt_segments_section_is_refused(
    fitted: tuple[pa.Table, Profile], tmp_path: Path, edit: Any, match: str
) -> None:
    _, profile = fitted
    data = json.loads(json.dumps(profile.to_json()))
    edit(data["segments"])
    with pytest.raises(ProfileError, match=match):
        Profile.from_json(data)


def test_merging_counts_of_other_segments_or_bins_is_refused(fitted: tuple[pa.Table, Profile]) -> None:
    _, profile = fitted
    assert profile.segments is not None
    a = SegmentedHistogram.zero(profile.spec, profile.segments.spec)
    other = SegmentedHistogram.zero(profile.spec, SegmentSpec(("region",), (("n",),)))
    with pytest.raises(KLDriftError, match="cannot merge counts of different bins or segments"):
        a + other
    with pytest.raises(KLDriftError, match="malformed partial segment counts"):
        SegmentedHistogram.from_json({"rows": [1]})
    assert SegmentedHistogram.from_json(a.to_json()) == a


@settings(max_examples=50)
@given(
    st.lists(
        st.dictionaries(st.sampled_from([f"v{i:03d}" for i in range(150)]), st.integers(1, 9), max_size=80),
        min_size=1,
        max_size=4,
    )
)
def test_new_values_merge_associatively_with_whole_counts(shards: list[dict[str, int]]) -> None:
    parts = [
        SegmentedHistogram(
            "f",
            "s",
            (0,),
            {},
            new={"c": {k: v for k, v in sorted(d.items())[:NEW_VALUES]}},
            new_rows={"c": sum(d.values())},
        )
        for d in shards
    ]
    left = parts[0]
    for p in parts[1:]:
        left = left + p
    right = parts[-1]
    for p in reversed(parts[:-1]):
        right = p + right
    assert left == right
    total: Counter[str] = Counter()
    for d in shards:
        total.update(d)
    kept = left.new["c"]
    assert list(kept) == sorted(kept)
    assert all(kept[k] == total[k] for k in kept)
    assert left.new_rows["c"] == sum(total.values())


def test_a_segment_column_missing_from_the_current_data(fitted: tuple[pa.Table, Profile]) -> None:
    table, profile = fitted
    assert profile.segments is not None
    hist, _ = count_segments(profile.spec, profile.segments.spec, open_source(table.drop_columns(["region"])))
    assert hist.problem == "segment column 'region' is missing from the current data"
    assert hist.rows[-1] == len(table)
    assert sum(hist.rows) == len(table)


def test_bin_index_dispatches_on_the_feature(fitted: tuple[pa.Table, Profile]) -> None:
    table, profile = fitted
    for f in profile.spec.features:
        idx = binindex.bin_index(f, table.column(f.name))
        assert np.bincount(idx, minlength=f.n_bins).tolist() == profile.histogram.counts[f.name].tolist()


def test_compare_with_a_profile_without_segments_says_refit(fitted: tuple[pa.Table, Profile]) -> None:
    table, _ = fitted
    plain = fit(table)
    with pytest.raises(ProfileError, match=r"segments: the profile was fitted without segments; refit it"):
        compare(plain, table, config={"segments": {"columns": ["region"]}})
    by_other = fit(table, config={"segments": {"columns": ["c"]}})
    with pytest.raises(ProfileError, match=r"segments: the profile was fitted with segments by c; refit"):
        compare(by_other, table, config={"segments": {"columns": ["region"]}})
    assert compare(by_other, table).segments is None  # no segments asked: the whole table only
