"""The compiled counting kernels (``kldrift/_native.c``) against the numpy kernels they replace.

The numpy kernels are the oracle: :class:`~kldrift.kernels.EdgeCounter` counts through the compiled
module when it is built, and ``_by_reading(x, lowered, _count)`` is the numpy path it replaced, the
one every earlier test pinned to hand computations. Both must agree to the count on values chosen
to break them: float32 values inside float64 columns, whole numbers, NaN, infinities, -0.0, values
one ulp either side of a cut point, beyond float32's range, and blocks of 512 cut at odd places.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kldrift import floats, native
from kldrift.floats import read_float32_roundings
from kldrift.kernels import EdgeCounter, _by_reading

pytestmark = pytest.mark.skipif(native.NATIVE is None, reason="the compiled kernels are not built here")


def test_the_kernels_are_built_where_a_compiler_is() -> None:
    # Where `make` installs kldrift (CI included), the extension must be there: a silent fallback to
    # the numpy kernels would pass every other test and lose the speed.
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    assert native.NATIVE is not None


def test_kldrift_native_0_turns_them_off() -> None:
    code = "import kldrift.native as n; print(n.NATIVE is None)"
    env = {**os.environ, "KLDRIFT_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def _numpy_counts(counter: EdgeCounter, x: np.ndarray) -> np.ndarray:
    return _by_reading(x, counter._lowered, counter._count) if len(counter.edges) else counter._count(x)


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, np.inf, -np.inf, np.nan, 1e300, -1e300, 3.4028235677973366e38, 2.0**52, 2.0**53]


@st.composite
def columns_and_edges(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """A float64 column and ascending cut points, with values on, beside and between them."""
    edges = np.unique(
        np.array(
            draw(
                st.lists(
                    st.one_of(
                        st.floats(-1e6, 1e6, allow_nan=False),
                        st.floats(width=32, min_value=-1e6, max_value=1e6, allow_nan=False).map(float),
                        st.integers(-1000, 1000).map(float),
                        st.sampled_from([0.1, 0.3, 0.7, 1e-300, 1e30]),
                    ),
                    min_size=1,
                    max_size=20,
                )
            )
        )
    )
    near = np.concatenate([edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)])
    near32 = near.astype(np.float32).astype(np.float64)  # float32 values next to the cut points
    pool = np.concatenate([near, near32, np.array(SPECIAL), np.round(near, 1)])
    n = draw(st.integers(0, 1300))  # more than two blocks of 512
    picks = draw(hnp.arrays(np.int64, n, elements=st.integers(0, len(pool) - 1)))
    x = pool[picks]
    if n and draw(st.booleans()):  # or mostly measured doubles with a few of those
        x = np.where(np.arange(n) % 7 == 0, x, np.random.default_rng(n).normal(0, 1e3, n))
    return x, edges


@given(columns_and_edges())
def test_float64_counts_equal_the_numpy_kernels(case: tuple[np.ndarray, np.ndarray]) -> None:
    x, edges = case
    counter = EdgeCounter(edges)
    assert counter(x).tolist() == _numpy_counts(counter, x).tolist()
    assert int(counter(x).sum()) == len(x)


@given(
    hnp.arrays(np.int64, st.integers(0, 1300), elements=st.integers(-(2**62), 2**62)),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=20),
)
def test_int64_counts_equal_the_numpy_kernels(x: np.ndarray, raw_edges: list[float]) -> None:
    x = x % 2_000_003 - 1_000_001 if len(x) and x[0] % 2 else x  # near the cut points, or anywhere
    counter = EdgeCounter(np.unique(np.array(raw_edges)))
    assert counter(x).tolist() == _numpy_counts(counter, x).tolist()


@given(columns_and_edges())
def test_float32_readings_equal_the_numpy_path(case: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = case
    fast = read_float32_roundings(x)
    slow = _numpy_only(lambda: read_float32_roundings(x))
    np.testing.assert_array_equal(fast, slow)


def _numpy_only(fn):  # type: ignore[no-untyped-def]
    """``fn()`` with the compiled float32 test and index counts off: the numpy paths (a hypothesis test
    cannot take pytest's function-scoped monkeypatch)."""
    import kldrift.kernels as kernels

    saved = floats.float32_fractions, kernels.native_index_counts
    floats.float32_fractions = lambda _x: None  # type: ignore[assignment]
    kernels.native_index_counts = lambda *_a: None  # type: ignore[assignment]
    try:
        return fn()
    finally:
        floats.float32_fractions, kernels.native_index_counts = saved


def test_a_read_only_or_strided_array_is_counted_like_a_fresh_one() -> None:
    # hand: 0.5 and 1.5 below / at / above cut points 1 and 2 (the bins [-inf,1), [1,2), [2,inf), null)
    x = np.array([0.5, 1.0, 1.5, 2.0, 2.5, np.nan, 0.25, 3.0])
    ro = x.copy()
    ro.flags.writeable = False
    counter = EdgeCounter([1.0, 2.0])
    assert counter(ro).tolist() == [2, 2, 3, 1]
    assert counter(x[::2]).tolist() == [2, 1, 1, 0]  # 0.5, 1.5, 2.5, 0.25 (hand)


def test_the_module_refuses_what_it_cannot_count() -> None:
    mod = native.NATIVE
    assert mod is not None
    x = np.zeros(4)
    with pytest.raises(ValueError, match="1 to 64 thresholds"):
        mod.count_f64(x, np.zeros(0), None, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="1 to 64 thresholds"):
        mod.count_f64(x, np.zeros(2), None, np.zeros(3, np.int64))  # out must hold k + 2
    with pytest.raises(ValueError, match="1 to 64 thresholds"):
        mod.count_f64(x, np.zeros(2), np.zeros(1), np.zeros(4, np.int64))  # float32 thresholds: k of them
    with pytest.raises(ValueError, match="1 to 64 thresholds"):
        mod.count_i64(x.astype(np.int64), np.zeros(65, np.int64), np.zeros(67, np.int64))
    with pytest.raises(TypeError, match="8-byte items"):
        mod.count_f64(x.astype(np.float32), np.zeros(2), None, np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="8-byte items"):
        mod.float32_fractions(np.zeros(3, np.float32))
    with pytest.raises((TypeError, BufferError, ValueError)):
        mod.count_f64(x, np.zeros(2), None, np.zeros(4, np.int64)[::2])  # not contiguous
    ro = np.zeros(4, np.int64)
    ro.flags.writeable = False
    with pytest.raises((TypeError, BufferError, ValueError)):
        mod.count_i64(x.astype(np.int64), np.zeros(2, np.int64), ro)  # out must be writable


@st.composite
def dictionary_chunks(draw: st.DrawFn) -> pa.DictionaryArray:
    """Dictionary arrays as Parquet gives them (int32 indices), with null rows, null entries and offsets."""
    nd = draw(st.integers(1, 40))
    entries = draw(st.lists(st.one_of(st.none(), st.text(max_size=3)), min_size=nd, max_size=nd))
    n = draw(st.integers(0, 1300))
    idx = draw(hnp.arrays(np.int32, n, elements=st.integers(0, nd - 1)))
    mask = draw(hnp.arrays(np.bool_, n)) if draw(st.booleans()) else None
    arr = pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32(), mask=mask), pa.array(entries, pa.string()))
    start = draw(st.integers(0, n))
    return arr.slice(start, draw(st.integers(0, n - start)))  # an offset into the bitmap and the indices


@given(dictionary_chunks(), st.sampled_from([None, 0, 1]))
def test_dictionary_counts_equal_numpys(chunk: pa.DictionaryArray, first: int | None) -> None:
    from kldrift.kernels import index_counts

    counted = native.index_counts(chunk, first)
    assert counted is not None
    numpy_counts = _numpy_only(lambda: [index_counts(chunk, 2, s) for s in (0, 1)] + [index_counts(chunk)])
    if first is None:
        assert counted[0].tolist() == numpy_counts[2].tolist()
    else:  # row 0 belongs to half `first`
        assert counted[first].tolist() == numpy_counts[0].tolist()
        assert counted[1 - first].tolist() == numpy_counts[1].tolist()


def test_dictionary_counts_of_other_index_types_go_to_numpy() -> None:
    chunk = pa.DictionaryArray.from_arrays(pa.array([0, 1, 1], pa.int8()), pa.array(["a", "b"]))
    assert native.index_counts(chunk) is None
    from kldrift.kernels import index_counts

    assert index_counts(chunk).tolist() == [1, 2, 0]  # hand: a once, b twice, no null


def test_an_index_outside_the_dictionary_is_an_error() -> None:
    # Arrow accepts it unchecked (safe=False): a corrupt array must not write past the counts
    chunk = pa.DictionaryArray.from_arrays(pa.array([0, 5, 1], pa.int32()), pa.array(["a", "b"]), safe=False)
    with pytest.raises(ValueError, match="index 5 at row 1 is outside the dictionary of 2"):
        native.index_counts(chunk)
    mod = native.NATIVE
    assert mod is not None
    x = np.zeros(3, np.int32)
    with pytest.raises(ValueError, match="count arrays of nd"):
        mod.index_counts(x, None, 0, 0, np.zeros(3, np.int64), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="validity bitmap of every row"):
        mod.index_counts(x, np.zeros(1, np.uint8), 6, 0, np.zeros(3, np.int64), np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="4-byte items"):
        mod.index_counts(x.astype(np.int64), None, 0, 0, np.zeros(3, np.int64), np.zeros(3, np.int64))


@pytest.mark.parametrize("nd", [1, 3, 70_000], ids=["1 entry", "3 entries", "a dictionary past the split counts"])
def test_dictionary_counts_four_rows_at_a_time_match_bincount(nd: int) -> None:
    # Rows go four at a time to four count arrays (whole bytes of valid rows), the rest one by one; a
    # dictionary of more than 65,536 entries counts straight into the two halves. Oracle: np.bincount.
    rng = np.random.default_rng(nd)
    n = 10_007
    idx = (rng.zipf(1.5, n) - 1) % nd  # runs of one entry: what the split is for
    nulls = rng.random(n) < 0.05
    entries = pa.array([str(i) for i in range(nd)])
    arr = pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32), mask=nulls), entries)
    for start, length in [(0, n), (3, n - 3), (8, 4_000), (13, 1), (5, 0), (1, 9_000)]:
        chunk = arr.slice(start, length)
        rows = slice(start, start + length)
        x, null = idx[rows], nulls[rows]
        for first in (0, 1):
            halves = native.index_counts(chunk, first)
            assert halves is not None
            for half in (0, 1):  # row 0 belongs to half `first`
                mine = (np.arange(length) + first) % 2 == half
                want = [*np.bincount(x[mine & ~null], minlength=nd).tolist(), int((mine & null).sum())]
                assert halves[half].tolist() == want, (start, length, first, half)
        whole = native.index_counts(chunk)  # no halves
        no_nulls = native.index_counts(pa.DictionaryArray.from_arrays(pa.array(x.astype(np.int32)), chunk.dictionary))
        assert whole is not None
        assert no_nulls is not None
        assert whole[0].tolist() == [*np.bincount(x[~null], minlength=nd).tolist(), int(null.sum())]
        assert no_nulls[0].tolist() == [*np.bincount(x, minlength=nd).tolist(), 0]


@pytest.mark.parametrize("with_nulls", [False, True])
def test_an_index_outside_the_dictionary_is_found_at_every_place_of_a_group(with_nulls: bool) -> None:
    for at in range(16):  # each lane of the four-row and eight-row groups, and the rows after them
        idx = np.zeros(19, np.int32)
        idx[at] = 7
        mask = (np.arange(19) == 17) if with_nulls else None  # a null in the last byte: rows one by one there
        chunk = pa.DictionaryArray.from_arrays(pa.array(idx, mask=mask), pa.array(["a", "b"]), safe=False)
        with pytest.raises(ValueError, match=f"index 7 at row {at} is outside the dictionary of 2"):
            native.index_counts(chunk)


@pytest.fixture(scope="module")
def portable() -> object:
    """The kernels compiled without the AVX2 paths (KLDRIFT_NO_CLONES): the 2-lane code every CPU runs,
    which the machine here, picking AVX2, never would."""
    import importlib.machinery
    import importlib.util
    import sysconfig
    import tempfile

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    out = Path(tempfile.mkdtemp()) / f"_native{sysconfig.get_config_var('EXT_SUFFIX')}"
    src = Path(native.__file__).with_name("_native.c")
    flags = ["-O3", "-std=c11", "-fno-strict-aliasing", "-shared", "-fPIC", "-DKLDRIFT_NO_CLONES"]
    subprocess.run([cc, *flags, f"-I{sysconfig.get_paths()['include']}", str(src), "-o", str(out)], check=True)
    loader = importlib.machinery.ExtensionFileLoader("kldrift._native", str(out))
    spec = importlib.util.spec_from_file_location("kldrift._native", out, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_vector_width_is_the_cpus(portable: object) -> None:
    # 4-lane kernels where the CPU has AVX2 (a 4-lane compare built for SSE2 was 8x slower than with AVX2
    # and 3x slower than numpy: GCC splits vectors wider than the registers badly), 2 lanes elsewhere.
    assert portable.SIMD == "portable"  # type: ignore[attr-defined]
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    if "avx2" in flags and platform.machine() == "x86_64":
        assert native.NATIVE is not None
        assert native.NATIVE.SIMD == "avx2"


@given(columns_and_edges())
def test_the_portable_build_counts_alike(portable: object, case: tuple[np.ndarray, np.ndarray]) -> None:
    x, edges = case
    counter = EdgeCounter(edges)
    thr = counter.thresholds(x.dtype)
    out = np.empty(len(thr) + 2, np.int64)
    portable.count_f64(x, thr, counter._narrow(), out)  # type: ignore[attr-defined]
    assert out.tolist() == _numpy_counts(counter, x).tolist()
    assert portable.float32_fractions(x) == native.float32_fractions(x)  # type: ignore[attr-defined]


@pytest.mark.parametrize("build", ["native", "portable"])
def test_every_split_of_the_cut_points_into_sweeps_counts_alike(build: str, portable: object) -> None:
    # The kernels compare a value with up to 8 cut points at once, the cut points split evenly into sweeps
    # (9 -> 5 + 4, 64 -> 8 x 8), the last n % 4 values one by one. Every k from 1 to 64 and lengths around
    # a block of 512 and a vector of 4, against an oracle that shares no code with them: searchsorted.
    mod = native.NATIVE if build == "native" else portable
    rng = np.random.default_rng(22)
    for k in range(1, 65):
        t = np.unique(rng.normal(0, 1, k))
        while len(t) < k:  # (ties are not drawn from a normal, but be sure)
            t = np.unique(np.concatenate([t, rng.normal(0, 1, k - len(t))]))
        for n in (0, 1, 3, 4, 5, 511, 512, 513, 1031):
            x = np.concatenate([t, rng.normal(0, 1, n)])[:n]  # values on the cut points too
            x[:: max(1, n // 3)] = np.nan if n > 7 else x[:: max(1, n // 3)]
            valid = x[~np.isnan(x)]
            at_or_above = len(valid) - np.searchsorted(np.sort(valid), t, side="left")
            want = [len(valid) - at_or_above[0], *(at_or_above[:-1] - at_or_above[1:]), at_or_above[-1], n - len(valid)]
            out = np.empty(k + 2, np.int64)
            mod.count_f64(x, t, None, out)  # type: ignore[attr-defined]
            assert out.tolist() == want, (k, n)
            out[:] = -1
            mod.fit_f64(x, t, out, None, 0, 1)  # type: ignore[attr-defined]
            assert out.tolist() == want, (k, n)
            xi = np.round(np.nan_to_num(x) * 1000).astype(np.int64)
            ti = np.unique(np.round(t * 1000).astype(np.int64))
            at_or_above = n - np.searchsorted(np.sort(xi), ti, side="left")
            out = np.empty(len(ti) + 2, np.int64)
            mod.count_i64(xi, ti, out)  # type: ignore[attr-defined]
            assert out.tolist() == [n - at_or_above[0], *(at_or_above[:-1] - at_or_above[1:]), at_or_above[-1], 0]


def _fit_pass_by_numpy(x: np.ndarray, offset: int, stride: int) -> tuple:
    """What ``fit_f64`` must return, from numpy alone (the counts from the numpy kernels)."""
    valid = x[~np.isnan(x)]
    whole = np.isinf(valid) | (valid == np.trunc(np.where(np.isinf(valid), 0, valid)))
    taken = x[offset::stride]
    return (
        _float32_candidates(x),
        len(x) - len(valid),
        float(valid.min()) if len(valid) else np.inf,
        float(valid.max()) if len(valid) else -np.inf,
        taken[~np.isnan(taken)].tolist(),
        int(np.count_nonzero(~whole)),
    )


def _float32_candidates(x: np.ndarray) -> int:
    """Values with a fraction and zero low 29 mantissa bits (hand rule of ``float32_fractions``), in numpy."""
    bits = x.view(np.uint64)
    with np.errstate(invalid="ignore"):
        fraction = ~np.isnan(x) & ~np.isinf(x) & (x != np.trunc(np.where(np.isinf(x), 0, x)))
    return int(np.count_nonzero(fraction & ((bits & np.uint64(0x1FFFFFFF)) == 0)))


@given(columns_and_edges(), st.integers(0, 40), st.integers(1, 30), st.booleans())
def test_one_pass_of_the_fit_equals_numpy(
    case: tuple[np.ndarray, np.ndarray], offset: int, stride: int, count: bool
) -> None:
    x, edges = case
    counter = EdgeCounter(edges)
    thr = counter.thresholds(x.dtype) if count else None
    out = np.empty(len(edges) + 2, np.int64) if count else None
    sample = np.full(max(0, -(-(len(x) - offset) // stride)), -7.0)
    seen = native.fit_f64(x, thr, out, sample, offset, stride)
    candidates, nans, lo, hi, taken, fractions = _fit_pass_by_numpy(x, offset, stride)
    assert seen.candidates == candidates == native.float32_fractions(x)
    assert (seen.nans, seen.fractions) == (nans, fractions)
    assert (seen.lo, seen.hi) == (lo, hi)  # equal as numbers: -0.0 == 0.0 (see NumericPart.set_bounds)
    assert sample[: seen.taken].tolist() == taken
    if out is not None:  # every value compared as the double it is (float32 values: the caller reads otherwise)
        assert out.tolist() == counter._count(x).tolist()


def test_one_pass_of_the_fit_by_hand() -> None:
    # hand: x = [0.5, nan, 2.0, -inf, 1.25, 3.0], cut point 1.0 -> below 1: 0.5, -inf; at or above: 2, 1.25, 3
    x = np.array([0.5, np.nan, 2.0, -np.inf, 1.25, 3.0])
    out = np.empty(3, np.int64)
    sample = np.empty(3)
    seen = native.fit_f64(x, np.array([1.0]), out, sample, 1, 2)  # rows 1, 3, 5: nan, -inf, 3.0
    assert out.tolist() == [2, 3, 1]
    assert seen == native.FitPass(candidates=2, nans=1, lo=-np.inf, hi=3.0, taken=2, fractions=2)  # 0.5, 1.25
    assert sample[:2].tolist() == [-np.inf, 3.0]
    empty = native.fit_f64(np.zeros(0), None, None, None, 0, 1)
    assert empty == native.FitPass(0, 0, np.inf, -np.inf, 0, 0)


def test_the_fit_pass_refuses_what_it_cannot_do() -> None:
    mod = native.NATIVE
    assert mod is not None
    x = np.zeros(10)
    with pytest.raises(ValueError, match="thresholds and out go together"):
        mod.fit_f64(x, np.zeros(2), None, None, 0, 1)
    with pytest.raises(ValueError, match="1 to 64 thresholds"):
        mod.fit_f64(x, np.zeros(2), np.zeros(3, np.int64), None, 0, 1)  # out must hold k + 2
    with pytest.raises(ValueError, match="a stride of 1 or more"):
        mod.fit_f64(x, None, None, None, 0, 0)
    with pytest.raises(ValueError, match="a sample for every position"):
        mod.fit_f64(x, None, None, np.zeros(4), 1, 2)  # rows 1, 3, 5, 7, 9: five
    with pytest.raises(ValueError, match="a stride of 1 or more"):
        mod.fit_f64(x, None, None, None, -1, 1)
    with pytest.raises(TypeError, match="8-byte items"):
        mod.fit_f64(x.astype(np.float32), None, None, None, 0, 1)
    ro = np.zeros(5)
    ro.flags.writeable = False
    with pytest.raises((TypeError, BufferError, ValueError)):
        mod.fit_f64(x, None, None, ro, 0, 2)  # the sample must be writable


@st.composite
def fitted_batches(draw: st.DrawFn) -> tuple[list[np.ndarray], np.ndarray, int, list[bool]]:
    """A float64 column cut into batches, cut points, a sampling stride, and which batches' first row is
    known on the thread that works them out."""
    x, edges = draw(columns_and_edges())
    cuts = sorted(draw(st.lists(st.integers(0, len(x)), max_size=4)))
    parts = [x[a:b] for a, b in zip([0, *cuts], [*cuts, len(x)], strict=True)]
    return parts, edges, draw(st.sampled_from([1, 3, 25])), draw(st.lists(st.booleans(), min_size=5, max_size=5))


@given(fitted_batches(), st.booleans(), st.booleans())
def test_a_fit_through_the_compiled_pass_equals_the_numpy_fit(
    case: tuple[list[np.ndarray], np.ndarray, int, list[bool]], pilot: bool, discrete: bool
) -> None:
    from kldrift.numeric_tally import NumericFit

    parts, edges, stride, known = case
    fits = [NumericFit(stride, 20 if discrete else -1, tuple(edges) if pilot else None) for _ in range(2)]
    row0 = 0
    for i, x in enumerate(parts):
        where = row0 if known[i % len(known)] else None
        fits[0].merge(fits[0].part(x, where, native=True), row0)  # compiled where it applies
        fits[1].add(read_float32_roundings(x), row0)  # numpy alone
        row0 += len(x)
    fast, slow = fits
    for attr in ("n", "nulls", "integral", "increasing", "discrete", "discrete_even", "even_nulls"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    assert (fast.vmin, fast.vmax) == (slow.vmin, slow.vmax)
    assert fast.take_sample().tolist() == slow.take_sample().tolist()
    if pilot:
        assert fast.counts is not None
        assert slow.counts is not None
        assert fast.counts.tolist() == slow.counts.tolist()


@given(columns_and_edges(), st.integers(0, 40), st.integers(1, 30))
def test_the_portable_build_fits_alike(
    portable: object, case: tuple[np.ndarray, np.ndarray], offset: int, stride: int
) -> None:
    x, edges = case
    thr = EdgeCounter(edges).thresholds(x.dtype)
    got = []
    for mod in (portable, native.NATIVE):
        out = np.empty(len(thr) + 2, np.int64)
        sample = np.empty(max(0, -(-(len(x) - offset) // stride)))
        seen = mod.fit_f64(x, thr, out, sample, offset, stride)  # type: ignore[attr-defined]
        got.append((seen, out.tolist(), sample[: seen[4]].tolist()))
    assert got[0] == got[1]
