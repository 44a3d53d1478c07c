"""Properties that must hold for any input (hypothesis), and the honesty of the alerts.

* divergences: KL ≥ 0, KL(p, p) = 0, scaling counts leaves KL unchanged, JS symmetric and ≤ ln 2;
* counting: counts of a ++ b == counts of a + counts of b, counts sum to rows, for random
  numeric / temporal / categorical data with nulls, NaN, infinities and empty batches;
* batching: counts and fitted profiles do not depend on the row groups, the read size or the
  kept-values budget (the memory bounds of issue 13);
* honesty: on identical distributions, alerts stay at the significance level's rate.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import tempfile
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kldrift
from kldrift import fitting
from kldrift import scan as scan_module
from kldrift.binning import sorted_quantiles
from kldrift.config import coerce_config
from kldrift.divergence import js_divergence, kl_divergence, psi
from kldrift.histogram import Histogram, count
from kldrift.kernels import count_edges, count_sorted
from kldrift.scoring import score
from kldrift.sources import open_source

# --- divergences ---------------------------------------------------------------------------

weight = st.one_of(
    st.just(0.0),
    st.integers(0, 10**6).map(float),
    st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False),
)


@st.composite
def weight_pairs(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    k = draw(st.integers(1, 12))
    p = draw(st.lists(weight, min_size=k, max_size=k).filter(lambda w: any(x > 0 for x in w)))
    q = draw(st.lists(weight, min_size=k, max_size=k).filter(lambda w: any(x > 0 for x in w)))
    return p, q


pseudocounts = st.sampled_from([0.0, 0.5, 1.0])


@given(
    st.lists(st.floats(allow_nan=True, width=32) | st.sampled_from([0.0, 1.0, -1.0]), max_size=300),
    st.lists(st.floats(-5, 5, width=16), min_size=1, max_size=8, unique=True),
)
def test_counting_a_sorted_sample_equals_counting_by_comparisons(values: list[float], cuts: list[float]) -> None:
    # count_sorted (binary search on sorted values) must be count_edges (a compare per cut point).
    x = np.asarray(values, dtype=np.float64)
    edges = np.sort(np.asarray(cuts, dtype=np.float64))
    finite_or_inf = np.sort(x[~np.isnan(x)])
    expected = count_edges(x, edges)
    got = count_sorted(finite_or_inf, edges)
    got[-1] = int(np.isnan(x).sum())
    assert got.tolist() == expected.tolist()


@given(
    st.lists(st.floats(allow_nan=False, width=32) | st.sampled_from([0.0, 1.0, 2.0]), min_size=1, max_size=400),
    st.integers(2, 40),
)
def test_sorted_quantiles_are_numpy_quantile_to_the_last_bit(values: list[float], bins: int) -> None:
    a = np.sort(np.asarray(values, dtype=np.float64))
    qs = np.arange(1, bins) / bins
    with np.errstate(invalid="ignore"):  # inf - inf in both, the same way
        assert np.array_equal(sorted_quantiles(a, qs), np.quantile(a, qs), equal_nan=True)


@given(
    rows=st.integers(1, 3_000) | st.integers(17_000, 40_000),
    numeric=st.integers(1, 5),
    row_group=st.integers(100, 20_000),
    hold=st.integers(1, 200_000),
    read_columns=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_fitting_does_not_depend_on_how_the_pass_is_grouped(
    rows: int, numeric: int, row_group: int, hold: int, read_columns: int, seed: int
) -> None:
    # Whatever the kept-values budget and the read size (so: column groups, each fitted before the
    # next is read), the profile is the one fitted in one group: same bins, same exact counts.
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {f"x{i}": rng.normal(i, 1 + i, rows) for i in range(numeric)}
    data["x0"][rng.random(rows) < 0.05] = np.nan
    data["k"] = rng.integers(0, 4, rows)
    data["c"] = rng.choice(["a", "b", "c", "d"], rows)
    cfg = {"binning": {"sample_size": 1_000, "bins": 7}}
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        path = f"{tmp}/ref.parquet"
        pq.write_table(pa.table(data), path, row_group_size=row_group)
        mp.setattr(fitting, "KEEP_ALL_VALUES", 0 if rows > 16_384 else fitting.KEEP_ALL_VALUES)  # big: sampled
        whole = kldrift.fit(path, config=cfg).to_json()
        mp.setattr(fitting, "HOLD_VALUES", hold)
        mp.setattr(scan_module, "_MAX_ROW_GROUP_BYTES", read_columns * min(rows, row_group) * 8)
        assert kldrift.fit(path, config=cfg).to_json() == whole


@given(
    rows=st.integers(1, 5_000),
    row_group=st.integers(1, 6_000),
    read_columns=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_counts_do_not_depend_on_the_row_groups_or_the_read_size(
    rows: int, row_group: int, read_columns: int, seed: int
) -> None:
    # A Parquet file of any row-group layout, read in column groups of any size (the memory bound
    # of a read), counts exactly what the same rows in memory count: counting has no state across reads.
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {f"x{i}": rng.normal(i, 1, rows) for i in range(4)}
    data["x0"][rng.random(rows) < 0.1] = np.nan
    data["k"] = rng.integers(0, 5, rows)
    data["c"] = pa.array(rng.choice(["a", "b", "c"], rows)).dictionary_encode()
    table = pa.table(data)
    spec = kldrift.fit(table).spec
    in_memory = count(spec, open_source(table))
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        path = f"{tmp}/cur.parquet"
        pq.write_table(table, path, row_group_size=row_group)
        mp.setattr(scan_module, "_MAX_ROW_GROUP_BYTES", read_columns * min(rows, row_group) * 8)
        from_file = count(spec, open_source(path))
    assert from_file.rows == in_memory.rows == rows
    assert from_file.counts.keys() == in_memory.counts.keys() == data.keys()  # every column scored
    for name, c in in_memory.counts.items():
        assert np.array_equal(from_file.counts[name], c), name
        assert int(c.sum()) == rows


@given(weight_pairs(), pseudocounts)
def test_kl_is_non_negative(pq: tuple[list[float], list[float]], alpha: float) -> None:
    p, q = pq
    # Gibbs' inequality; the sum of rel_entr terms may round a hair below 0 when p ≈ q
    assert kl_divergence(p, q, pseudocount=alpha) >= -1e-12
    assert psi(p, q, pseudocount=alpha) >= -1e-12


@given(weight_pairs(), pseudocounts)
def test_kl_of_a_distribution_with_itself_is_zero(pq: tuple[list[float], list[float]], alpha: float) -> None:
    p, _ = pq
    assert kl_divergence(p, p, pseudocount=alpha) == 0.0
    assert js_divergence(p, p, pseudocount=alpha) == 0.0


@given(weight_pairs(), st.sampled_from([2.0, 10.0, 1e3, 0.125]))
def test_scaling_the_counts_leaves_kl_unchanged(pq: tuple[list[float], list[float]], factor: float) -> None:
    p, q = pq
    expected = kl_divergence(p, q)
    got = kl_divergence([x * factor for x in p], [x * factor for x in q])
    if math.isinf(expected):
        assert got == math.inf
    else:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


@given(weight_pairs(), pseudocounts)
def test_js_is_symmetric_and_bounded(pq: tuple[list[float], list[float]], alpha: float) -> None:
    p, q = pq
    js = js_divergence(p, q, pseudocount=alpha)
    assert js == js_divergence(q, p, pseudocount=alpha)
    assert -1e-12 <= js <= math.log(2) + 1e-12
    assert js_divergence(p, q, pseudocount=alpha, base=2) <= 1 + 1e-12


# --- counting ----------------------------------------------------------------------------

T0 = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1e6)
floats = st.one_of(
    st.none(),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0]),
    st.floats(-1e6, 1e6, allow_nan=False),
)
ints = st.one_of(st.none(), st.integers(-5, 5), st.integers(-(2**40), 2**40))
words = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "", "é", "a b"]), st.text(max_size=3))
stamps = st.one_of(st.none(), st.integers(0, 10**11))
bools = st.one_of(st.none(), st.booleans())


@st.composite
def tables(draw: st.DrawFn, min_rows: int = 0) -> pa.Table:
    n = draw(st.integers(min_rows, 60))

    def col(strategy: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(strategy, min_size=n, max_size=n))

    return pa.table(
        {
            "f": pa.array(col(floats), pa.float64()),
            "i": pa.array(col(ints), pa.int64()),
            "s": pa.array(col(words), pa.string()),
            "d": pa.array(col(words), pa.string()).dictionary_encode(),
            "b": pa.array(col(bools), pa.bool_()),
            "t": pa.array([None if v is None else T0 + v for v in col(stamps)], pa.timestamp("us", tz="UTC")),
        }
    )


def split(table: pa.Table, cuts: list[int]) -> list[pa.Table]:
    """Contiguous pieces at the given cut points (repeated cuts give empty pieces)."""
    bounds = [0, *sorted(min(c, table.num_rows) for c in cuts), table.num_rows]
    return [table.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]


@given(
    tables(min_rows=1),
    tables(),
    st.lists(st.integers(0, 60), max_size=4),
    st.sampled_from([{}, {"binning": {"discrete_max_values": 0, "bins": 4}}, {"binning": {"strategy": "uniform"}}]),
)
def test_counts_of_parts_add_up_to_the_whole(
    reference: pa.Table, current: pa.Table, cuts: list[int], config: dict[str, Any]
) -> None:
    profile = kldrift.fit(reference, config=config)
    # fitting counts every reference row in every feature
    assert all(sum(f.counts) == reference.num_rows for f in profile.features.values())
    spec = profile.spec
    whole = count(spec, open_source(current))
    assert whole.errors == {}
    assert whole.rows == current.num_rows
    assert all(int(v.sum()) == current.num_rows for v in whole.counts.values())
    parts = [count(spec, open_source(piece)) for piece in split(current, cuts)]
    assert sum(parts, Histogram.zero(spec)) == whole
    # and as record batches of one source, with an empty batch for every empty piece
    empty = pa.RecordBatch.from_arrays([pa.array([], f.type) for f in current.schema], schema=current.schema)
    batches = [b for piece in split(current, cuts) for b in (piece.to_batches() or [empty])]
    assert count(spec, open_source(pa.Table.from_batches(batches, schema=current.schema))) == whole


@given(tables(min_rows=1), tables())
def test_scoring_random_data_never_raises(reference: pa.Table, current: pa.Table) -> None:
    report = kldrift.compare(reference, current, config={"min_rows": 0})
    for f in report.features:
        assert f.severity in ("ok", "warn", "critical", "insufficient_data")
        assert f.n_current == current.num_rows
        assert f.n_reference == reference.num_rows
        if f.severity != "insufficient_data":
            assert f.kl >= -1e-12
            assert 0.0 <= f.p_value <= 1.0
            assert 0.0 <= f.p_adjusted <= 1.0


# --- honesty: no false alarms from noise ----------------------------------------------------

TRIALS = 400
MASTER_SEED = 20261124


def _draw(rng: np.random.Generator, n: int) -> pa.Table:
    return pa.table(
        {
            "x": rng.normal(size=n),
            "k": rng.poisson(3, n),
            "c": pa.array(rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.25, 0.2, 0.1, 0.05]).tolist()),
            "u": rng.uniform(size=n),
        }
    )


def _tolerance(alpha: float, trials: int) -> float:
    # three binomial standard deviations of an observed rate over `trials` independent runs
    return 3 * math.sqrt(alpha * (1 - alpha) / trials)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "alpha"),
    [
        ({}, 0.01),
        # thresholds 0: only the G-test and Benjamini–Hochberg decide: a test of the p-values themselves
        ({"thresholds": {"warn": 0, "critical": 0}}, 0.01),
        ({"thresholds": {"warn": 0, "critical": 0}, "significance": {"alpha": 0.05}}, 0.05),
    ],
    ids=["defaults", "significance-only", "significance-only-alpha-0.05"],
)
def test_identical_distributions_alert_at_most_at_alpha(config: dict[str, Any], alpha: float) -> None:
    master = np.random.default_rng(MASTER_SEED)
    profile = kldrift.fit(_draw(master, 20_000))
    settings_ = coerce_config(config)
    runs_with_alert = 0
    for seed in master.integers(0, 2**32, TRIALS):
        rng = np.random.default_rng(seed)
        current = _draw(rng, int(rng.integers(100, 501)))  # small samples: n between 100 and 500
        report = score(profile.spec, profile.histogram, count(profile.spec, open_source(current)), settings_)
        assert all(f.severity != "insufficient_data" for f in report.features)
        runs_with_alert += bool(report.alerts)
    # Under the global null, Benjamini–Hochberg bounds P(any alert in a run) by alpha.
    rate = runs_with_alert / TRIALS
    assert rate <= alpha + _tolerance(alpha, TRIALS), f"{runs_with_alert} of {TRIALS} runs alerted"


def _sparse(kind: str, rng: np.random.Generator, n: int) -> pa.Table:
    """High-cardinality categories: Zipf over 2,000 names, or 5,000 uniformly likely zip codes."""
    if kind == "zipf":
        weights = 1.0 / np.arange(1, 2_001) ** 1.1
        idx = rng.choice(2_000, n, p=weights / weights.sum())
    else:
        idx = rng.integers(0, 5_000, n)
    return pa.table({"c": pa.array([f"{kind}-{i:05d}" for i in idx])})


SPARSE_TRIALS = 300


@pytest.mark.slow
@pytest.mark.parametrize("n", [200, 500], ids=["n200", "n500"])
@pytest.mark.parametrize("kind", ["zipf", "uniform-zip"], ids=["zipf-2000", "uniform-zip-5000"])
@pytest.mark.parametrize("thresholds", [None, {"warn": 0, "critical": 0}], ids=["defaults", "significance-only"])
def test_sparse_high_cardinality_categories_alert_at_most_at_alpha(
    kind: str, n: int, thresholds: dict[str, float] | None
) -> None:
    # Both sides are fresh samples of the same distribution, n rows each (the case: 12 of 20 seeds
    # alerted before categories were chosen on other rows than the test's, and sparse tables got a permutation
    # test). The column is nearly unique at these sizes, so it is scored on request.
    config: dict[str, Any] = {"features": {"include": ["c"]}}
    if thresholds:
        config["thresholds"] = thresholds
    master = np.random.default_rng([MASTER_SEED, n, len(kind)])
    alerts = 0
    for seed in master.integers(0, 2**32, SPARSE_TRIALS):
        rng = np.random.default_rng(seed)
        report = kldrift.compare(_sparse(kind, rng, n), _sparse(kind, rng, n), config=config)
        (f,) = report.features
        assert f.severity != "insufficient_data"
        alerts += bool(report.alerts)
    alpha = 0.01
    assert alerts / SPARSE_TRIALS <= alpha + _tolerance(alpha, SPARSE_TRIALS), f"{alerts} of {SPARSE_TRIALS} alerted"
