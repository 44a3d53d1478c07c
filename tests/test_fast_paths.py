"""The fast paths of counting and fitting give what the plain ones give, value for value.

* dictionary columns counted on their indices (one bin per dictionary entry, kept while the
  dictionary stays the same) == the same column decoded to plain strings;
* integer columns compared with integer thresholds == compared as doubles;
* quantile cut points of an unsorted sample (``numpy.partition``) == those of the sorted sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kldrift.binning import quantile_edges
from kldrift.kernels import CategoryCounter, EdgeCounter, count_categories, count_edges
from kldrift.tally import CategoryFit

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- dictionary columns --------------------------------------------------------------------

entry = st.sampled_from(["a", "b", "c", "dd", "", "é", "x" * 300, "x" * 299 + "y"]) | st.none()


@st.composite
def dictionary_chunks(draw: st.DrawFn) -> list[pa.Array]:
    """Chunks of a dictionary column: dictionaries with repeated and null entries, null indices,
    the same dictionary over several chunks or a new one."""
    chunks = []
    dictionary = draw(st.lists(entry, min_size=1, max_size=6))
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            dictionary = draw(st.lists(entry, min_size=1, max_size=6))
        n = draw(st.integers(0, 40))
        idx = draw(st.lists(st.integers(0, len(dictionary) - 1) | st.none(), min_size=n, max_size=n))
        chunks.append(pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), pa.array(dictionary, pa.string())))
    return chunks


@SETTINGS
@given(dictionary_chunks(), st.lists(st.sampled_from(["a", "b", "dd", "é", "x" * 300, "zz"]), unique=True))
def test_dictionary_counted_on_indices_equals_plain_strings(chunks: list[pa.Array], cats: list[str]) -> None:
    categories = pa.array(cats, pa.string())
    counter = CategoryCounter(categories)
    got = sum((counter(c) for c in chunks), np.zeros(len(cats) + 2, np.int64))
    plain = [c.dictionary_decode() for c in chunks]
    expected = sum((count_categories(c, categories) for c in plain), np.zeros(len(cats) + 2, np.int64))
    assert got.tolist() == expected.tolist()
    # a chunked array of them, in one call: the same
    assert counter(pa.chunked_array(chunks, chunks[0].type)).tolist() == expected.tolist()


def test_dictionary_of_bytes_that_are_not_utf8_and_of_string_views() -> None:
    # = the plain path: Latin-1 bytes read as escapes (caf\xe9), a view dictionary as strings
    latin = pa.array([b"caf\xe9", b"tea"], pa.binary()).cast(pa.string(), safe=False)
    arr = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, None], pa.int8()), latin)
    cats = pa.array(["caf\\xe9", "tea"], pa.string())
    assert CategoryCounter(cats)(arr).tolist() == [2, 1, 0, 1]  # hand count
    views = pa.DictionaryArray.from_arrays(pa.array([1, 1, 0], pa.int8()), pa.array(["a", "b"], pa.string_view()))
    assert CategoryCounter(pa.array(["b"], pa.string()))(views).tolist() == [2, 1, 0]  # hand count


def _fit_totals(fit: CategoryFit) -> tuple[dict[Any, int], ...]:
    # each half read straight from fit.halves, as kldrift.spark's partials read them: the counts of
    # the dictionary in hand are in them
    even, odd = (dict(zip(v.to_pylist(), c.tolist(), strict=True)) for v, c in (h.totals() for h in fit.halves))
    full = dict(zip(fit.totals()[0].to_pylist(), fit.totals()[1].tolist(), strict=True))
    return full, even, odd, {"nulls": fit.nulls, "odd nulls": fit.halves[1].nulls}


@SETTINGS
@given(dictionary_chunks(), st.integers(0, 3))
def test_fitting_a_dictionary_column_on_indices_equals_plain_strings(chunks: list[pa.Array], row0: int) -> None:
    by_index, plain = CategoryFit(), CategoryFit()
    rows = row0
    for c in chunks:  # one batch per chunk, then all of them as one chunked batch
        by_index.add(c, rows)
        plain.add(c.dictionary_decode(), rows)
        rows += len(c)
    by_index.add(pa.chunked_array(chunks, chunks[0].type), rows)
    plain.add(pa.chunked_array([c.dictionary_decode() for c in chunks], pa.string()), rows)
    assert _fit_totals(by_index) == _fit_totals(plain)


# --- integer columns ------------------------------------------------------------------------

big = 2**53


@SETTINGS
@given(
    st.lists(st.integers(-(2**62), 2**62) | st.integers(-20, 20) | st.integers(big - 3, big + 3), max_size=200),
    st.lists(
        st.floats(-30, 30, allow_nan=False) | st.sampled_from([float(big - 2), float(big), 2.0**60, -(2.0**60)]),
        min_size=1,
        max_size=8,
        unique=True,
    ),
)
def test_integer_thresholds_select_what_double_compares_select(values: list[int], cuts: list[float]) -> None:
    x = np.asarray(values, dtype=np.int64)
    edges = np.sort(np.asarray(cuts, dtype=np.float64))
    # = the same cut points compared against the values as doubles, as before integer thresholds
    expected = count_edges(x.astype(np.float64), edges)
    assert EdgeCounter(edges)(x).tolist() == expected.tolist()


def test_integer_thresholds_are_integers_only_in_the_exact_range() -> None:
    assert EdgeCounter([2.5, 7.0]).thresholds(np.dtype(np.int64)).tolist() == [3, 7]  # ceil(2.5 - tiny), ceil(7 - tiny)
    assert EdgeCounter([2.0**60]).thresholds(np.dtype(np.int64)).dtype == np.float64


# --- quantiles of an unsorted sample ----------------------------------------------------------


@SETTINGS
@given(
    st.lists(
        st.floats(allow_nan=False, width=32) | st.sampled_from([0.0, 1.0, 2.0]) | st.just(float("inf")),
        min_size=1,
        max_size=400,
    ),
    st.integers(2, 40),
)
def test_quantile_edges_of_an_unsorted_sample_equal_those_of_the_sorted(values: list[float], bins: int) -> None:
    a = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        expected = quantile_edges(np.sort(a), bins, is_sorted=True)
        assert quantile_edges(a, bins) == expected
        assert a.tolist() == values  # not overwritten unless asked
        assert quantile_edges(a.copy(), bins, overwrite_input=True) == expected


@pytest.mark.parametrize("heavy", [0.0, 5.0], ids=["zeros", "fives"])
def test_quantile_edges_of_an_unsorted_zero_inflated_sample(heavy: float) -> None:
    rng = np.random.default_rng(7)
    a = np.where(rng.random(50_000) < 0.4, heavy, rng.gamma(2.0, size=50_000))
    # = the sorted sample's cut points (its heavy value apart: a point bin)
    assert quantile_edges(a, 10) == quantile_edges(np.sort(a), 10, is_sorted=True)


# --- numbers from their buffers ------------------------------------------------------------


@given(
    st.sampled_from(
        [
            pa.int8(),
            pa.int16(),
            pa.int32(),
            pa.int64(),
            pa.uint8(),
            pa.uint32(),
            pa.float16(),
            pa.float32(),
            pa.float64(),
        ]
    ),
    st.lists(st.integers(-100, 100) | st.none(), max_size=70),
    st.integers(0, 9),
)
@SETTINGS
def test_numbers_read_from_their_buffers_equal_pyarrows_conversion(
    t: pa.DataType, raw: list[int | None], cut: int
) -> None:
    from kldrift.columns import numpy_values

    values = [None if v is None else (abs(v) if pa.types.is_unsigned_integer(t) else v) for v in raw]
    arr = pa.array(values, pa.int64()).cast(t).slice(min(cut, len(values)))  # an offset into both buffers
    want = arr.to_numpy(zero_copy_only=False)  # pyarrow's conversion: nulls as NaN, floats for ints with nulls
    got = numpy_values(arr)
    assert got.dtype == (np.float64 if arr.null_count and want.dtype.kind in "iu" else want.dtype)
    np.testing.assert_array_equal(got, want.astype(got.dtype))


def test_a_compare_never_imports_pandas(tmp_path: Any) -> None:
    # pyarrow's to_numpy, pyarrow.scalar and pyarrow.array import pandas on their first call (0.15 s a
    # process): a compare of numbers with nulls, integers and categories must not need it.
    import subprocess
    import sys

    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    n = 5_000
    x = rng.normal(0, 1, n)
    table = pa.table(
        {
            "x": pa.array(x, mask=rng.random(n) < 0.1),
            "k": pa.array(rng.integers(0, 9, n), mask=rng.random(n) < 0.1),
            "c": pa.array(rng.choice(["a", "b", "c"], n)).dictionary_encode(),
        }
    )
    for name in ("ref", "cur"):
        pq.write_table(table, tmp_path / f"{name}.parquet")
    code = (
        "import sys, kldrift; kldrift.compare(sys.argv[1], sys.argv[2]).to_dict(); "
        "print(sorted(m for m in sys.modules if m == 'pandas' or m.startswith('pandas.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout[:200]


def test_arrow_arrays_built_from_buffers_equal_pyarrows() -> None:
    from kldrift.columns import arrow_mask, arrow_texts, numpy_values, sum_by_value

    texts = ["a", "é", "", "x" * 300, "日本"]
    assert arrow_texts(texts).equals(pa.array(texts, pa.string()))
    assert arrow_texts([]).equals(pa.array([], pa.string()))
    mask = np.array([True, False, True, True, False, False, False, False, True])
    assert arrow_mask(mask).equals(pa.array(mask))
    idx = pa.array([2, None, 0], pa.int32())
    assert numpy_values(idx, fill=9).tolist() == [2, 9, 0]  # nulls as the fill, in the array's own type
    assert numpy_values(idx, fill=9).dtype == np.int32
    # hand: b appears twice (3 + 4), a once (1), in order of first appearance
    values, counts = sum_by_value([pa.array(["b", "a"]), pa.array(["b"])], [np.array([3, 1]), np.array([4])])
    assert (values.to_pylist(), counts.tolist()) == (["b", "a"], [7, 1])
    with pytest.raises(ValueError, match="values without nulls expected"):
        sum_by_value([pa.array(["b", None])], [np.array([1, 2])])
