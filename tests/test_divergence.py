"""kldrift.divergence: KL, JS, PSI and the G-test against hand computations and scipy.

Every expected number says where it came from: a hand computation (shown), or an
independent oracle (``scipy.stats.entropy``, ``scipy.spatial.distance.jensenshannon``,
``scipy.stats.chi2_contingency``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

import kldrift
from kldrift.divergence import divergences, g_test, g_test_pvalue, js_divergence, kl_divergence, psi

# Pairs of weight vectors shared by the oracle tests: probabilities, raw counts, zeros in p.
PAIRS = [
    ([0.9, 0.1], [0.6, 0.4]),
    ([10, 20, 30, 40], [25, 25, 25, 25]),
    ([0, 3, 7, 1, 0], [2, 2, 2, 2, 2]),
    ([1e-300, 1.0], [0.5, 0.5]),
    ([5, 1, 0, 0, 9, 12, 3], [1, 1, 1, 1, 1, 1, 1]),
]
PAIR_IDS = ["two-bins", "counts", "zeros-in-p", "tiny-weight", "seven-bins"]


def test_public_names_are_re_exported() -> None:
    assert kldrift.kl_divergence is kl_divergence
    assert kldrift.js_divergence is js_divergence
    assert kldrift.psi is psi
    assert kldrift.g_test_pvalue is g_test_pvalue


# --- KL ------------------------------------------------------------------------------


def test_kl_hand_computed() -> None:
    # hand: 0.9·ln(0.9/0.6) + 0.1·ln(0.1/0.4) = 0.9·ln 1.5 + 0.1·ln 0.25 = 0.226289161185...
    assert kl_divergence([0.9, 0.1], [0.6, 0.4]) == pytest.approx(0.9 * math.log(1.5) + 0.1 * math.log(0.25), rel=1e-15)
    assert round(kl_divergence([0.9, 0.1], [0.6, 0.4]), 4) == 0.2263


def test_kl_hand_computed_bits() -> None:
    # hand: the same sum divided by ln 2 = 0.226289 / 0.693147 = 0.326463...
    expected = (0.9 * math.log(1.5) + 0.1 * math.log(0.25)) / math.log(2)
    assert kl_divergence([0.9, 0.1], [0.6, 0.4], base=2) == pytest.approx(expected, rel=1e-15)
    assert round(expected, 4) == 0.3265


def test_kl_counts_are_normalised() -> None:
    # hand: [9, 1] / 10 and [3, 2] / 5 are the probabilities of the test above
    assert kl_divergence([9, 1], [3, 2]) == pytest.approx(kl_divergence([0.9, 0.1], [0.6, 0.4]), rel=1e-15)


@pytest.mark.parametrize("base", [None, 2, math.e, 10], ids=["nats", "bits", "base-e", "base-10"])
@pytest.mark.parametrize(("p", "q"), PAIRS, ids=PAIR_IDS)
def test_kl_equals_scipy_entropy(p: list[float], q: list[float], base: float | None) -> None:
    # oracle: scipy.stats.entropy(p, q, base) (same normalisation, same rel_entr)
    expected = stats.entropy(p, q, base=base)
    got = kl_divergence(p, q, base=base)
    assert got == pytest.approx(expected, rel=1e-15, abs=0)


@pytest.mark.parametrize(
    ("p", "q"),
    [([1, 0], [0, 1]), ([0.5, 0.5], [1.0, 0.0]), ([1, 1, 1], [1, 1, 0])],
    ids=["disjoint", "q-zero-second", "q-zero-last"],
)
def test_kl_is_inf_when_q_is_zero_where_p_has_mass(p: list[float], q: list[float]) -> None:
    # rel_entr(x > 0, 0) = inf; scipy.stats.entropy agrees
    assert kl_divergence(p, q) == math.inf
    assert stats.entropy(p, q) == math.inf


def test_kl_is_finite_when_p_is_zero_where_q_has_mass() -> None:
    # hand: rel_entr(0, y) = 0, so only the first term counts: 1·ln(1/0.5) = ln 2
    assert kl_divergence([1, 0], [1, 1]) == pytest.approx(math.log(2), rel=1e-15)


def test_kl_of_identical_is_zero() -> None:
    # hand: every term is p·ln 1 = 0
    assert kl_divergence([3, 1, 4, 1, 5], [3, 1, 4, 1, 5]) == 0.0


def test_pseudocount_smoothing_formula() -> None:
    # hand: α = 1, k = 2: p = (3+1, 0+1)/(3+2) = (0.8, 0.2), q = (1+1, 1+1)/(2+2) = (0.5, 0.5)
    # KL = 0.8·ln 1.6 + 0.2·ln 0.4 = 0.192745...
    expected = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)
    assert kl_divergence([3, 0], [1, 1], pseudocount=1) == pytest.approx(expected, rel=1e-14)
    assert round(expected, 4) == 0.1927


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.5], ids=["half", "one", "two-and-a-half"])
def test_pseudocount_is_added_to_every_entry_then_normalised(alpha: float) -> None:
    cur = np.array([0, 7, 2, 0, 11])
    ref = np.array([4, 0, 3, 9, 1])
    k = len(cur)
    p = (cur + alpha) / (cur.sum() + k * alpha)  # (c + α) / (n + kα), from the contract
    q = (ref + alpha) / (ref.sum() + k * alpha)
    # oracle: scipy.stats.entropy on the smoothed probabilities
    assert kl_divergence(cur, ref, pseudocount=alpha) == pytest.approx(stats.entropy(p, q), rel=1e-13)
    assert math.isfinite(kl_divergence(cur, ref, pseudocount=alpha))  # smoothing removes the inf


def test_pseudocount_zero_keeps_inf() -> None:
    assert kl_divergence([0, 7], [4, 0], pseudocount=0.0) == math.inf


# --- JS and PSI ----------------------------------------------------------------------


@pytest.mark.parametrize("base", [None, 2], ids=["nats", "bits"])
@pytest.mark.parametrize(("p", "q"), [*PAIRS, ([1, 0], [0, 1])], ids=[*PAIR_IDS, "disjoint"])
def test_js_equals_scipy_jensenshannon_squared(p: list[float], q: list[float], base: float | None) -> None:
    # oracle: scipy.spatial.distance.jensenshannon(p, q, base) ** 2
    expected = distance.jensenshannon(p, q, base=base) ** 2
    assert js_divergence(p, q, base=base) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_js_of_disjoint_is_log_2() -> None:
    # hand: M = (½, ½); JS = ½·ln 2 + ½·ln 2 = ln 2 nats = 1 bit
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2), rel=1e-15)
    assert js_divergence([1, 0], [0, 1], base=2) == pytest.approx(1.0, rel=1e-15)


def test_psi_hand_computed() -> None:
    # hand: Σ (p - q)·ln(p/q) = 0.3·ln 1.5 + (-0.3)·ln 0.25 = 0.537528...
    expected = 0.3 * math.log(1.5) - 0.3 * math.log(0.25)
    assert psi([0.9, 0.1], [0.6, 0.4]) == pytest.approx(expected, rel=1e-14)
    assert round(expected, 4) == 0.5375


@pytest.mark.parametrize("alpha", [0.0, 0.5], ids=["raw", "smoothed"])
@pytest.mark.parametrize(("p", "q"), PAIRS[:3], ids=PAIR_IDS[:3])
def test_psi_is_kl_plus_reverse(p: list[float], q: list[float], alpha: float) -> None:
    # definition: PSI = KL(P‖Q) + KL(Q‖P); oracle scipy.stats.entropy for the raw case
    expected = kl_divergence(p, q, pseudocount=alpha) + kl_divergence(q, p, pseudocount=alpha)
    assert psi(p, q, pseudocount=alpha) == pytest.approx(expected, rel=1e-15)
    if alpha == 0 and all(x > 0 for x in p):
        assert psi(p, q) == pytest.approx(stats.entropy(p, q) + stats.entropy(q, p), rel=1e-14)


def test_divergences_share_one_smoothing() -> None:
    cur, ref = [0, 7, 2, 0, 11], [4, 0, 3, 9, 1]
    d = divergences(ref, cur, pseudocount=0.5)
    p = (np.array(cur) + 0.5) / (20 + 5 * 0.5)  # (c + α) / (n + kα)
    q = (np.array(ref) + 0.5) / (17 + 5 * 0.5)
    # oracles: scipy.stats.entropy and jensenshannon on the same smoothed p and q
    assert d.kl == pytest.approx(stats.entropy(p, q), rel=1e-13)
    assert d.kl_reverse == pytest.approx(stats.entropy(q, p), rel=1e-13)
    assert d.psi == pytest.approx(d.kl + d.kl_reverse, rel=1e-15)
    assert d.jensen_shannon == pytest.approx(distance.jensenshannon(p, q) ** 2, rel=1e-12)
    # the per-bin terms are rel_entr(p_i, q_i), and they add up to kl
    assert d.contributions == pytest.approx(list(p * np.log(p / q)), rel=1e-12)
    assert sum(d.contributions) == pytest.approx(d.kl, rel=1e-12)


# --- validation ----------------------------------------------------------------------

FUNCS = [kl_divergence, js_divergence, psi]
FUNC_IDS = ["kl", "js", "psi"]


@pytest.mark.parametrize("fn", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize(
    ("p", "q", "match"),
    [
        ([1, -1], [1, 1], r"`p` has negative weights at positions \[1\]"),
        ([1, 1], [-0.5, 1], r"`q` has negative weights at positions \[0\]"),
        ([1, math.nan], [1, 1], r"`p` has non-finite weights \(nan or inf\) at positions \[1\]"),
        ([1, 1], [math.inf, 1], r"`q` has non-finite weights \(nan or inf\) at positions \[0\]"),
        ([], [], r"`p` is empty; need at least one weight"),
        ([1], [], r"`q` is empty; need at least one weight"),
        ([0, 0], [1, 1], r"`p` is all zero; need at least one positive weight"),
        ([1, 1], [0, 0], r"`q` is all zero; need at least one positive weight"),
        ([1, 2, 3], [1, 2], r"`p` and `q` must have the same length, got 3 and 2"),
        ([[1, 2], [3, 4]], [[1, 2], [3, 4]], r"`p` must be one-dimensional, got shape \(2, 2\)"),
        ([1, 2], [[1, 2]], r"`q` must be one-dimensional, got shape \(1, 2\)"),
        (["a", "b"], [1, 2], r"`p` must be a sequence of numbers"),
    ],
    ids=[
        "negative-p",
        "negative-q",
        "nan-p",
        "inf-q",
        "empty",
        "empty-q",
        "all-zero-p",
        "all-zero-q",
        "lengths",
        "2d-p",
        "2d-q",
        "not-numbers",
    ],
)
def test_bad_weights_raise_value_error(fn: object, p: object, q: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fn(p, q)  # type: ignore[operator]


@pytest.mark.parametrize("fn", FUNCS, ids=FUNC_IDS)
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"pseudocount": -1}, ValueError, r"`pseudocount` must be a finite number >= 0, got -1"),
        ({"pseudocount": math.nan}, ValueError, r"`pseudocount` must be a finite number >= 0, got nan"),
        ({"pseudocount": math.inf}, ValueError, r"`pseudocount` must be a finite number >= 0, got inf"),
        ({"pseudocount": "0.5"}, TypeError, r"`pseudocount` must be a number >= 0, got '0.5'"),
        ({"pseudocount": True}, TypeError, r"`pseudocount` must be a number >= 0, got True"),
        ({"pseudocount": None}, TypeError, r"`pseudocount` must be a number >= 0, got None"),
        ({"base": 1}, ValueError, r"`base` must be None or a finite number > 0 other than 1, got 1"),
        ({"base": 0}, ValueError, r"`base` must be None or a finite number > 0 other than 1, got 0"),
        ({"base": -2}, ValueError, r"`base` must be None or a finite number > 0 other than 1, got -2"),
        ({"base": math.inf}, ValueError, r"`base` must be None or a finite number > 0 other than 1, got inf"),
        ({"base": "2"}, TypeError, r"`base` must be None or a number, got '2'"),
    ],
    ids=[
        "pc-negative",
        "pc-nan",
        "pc-inf",
        "pc-string",
        "pc-bool",
        "pc-none",
        "base-one",
        "base-zero",
        "base-negative",
        "base-inf",
        "base-string",
    ],
)
def test_bad_options_raise(fn: object, kwargs: dict[str, object], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        fn([1, 2], [2, 1], **kwargs)  # type: ignore[operator]


def test_options_are_validated_before_the_data() -> None:
    # scipy.stats habit: a bad option is reported even when the data is bad too
    with pytest.raises(ValueError, match="`pseudocount`"):
        kl_divergence([], [], pseudocount=-1)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        kl_divergence([1, 2], [2, 1], 0.5)  # type: ignore[misc]


# --- G-test ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([50, 30, 20], [40, 35, 25]),
        ([500, 300, 200], [100, 350, 250]),
        ([1, 0, 5, 9], [0, 2, 5, 1]),
        ([1000, 1], [999, 2]),
    ],
    ids=["mild", "strong", "zeros-one-side", "rare-bin"],
)
def test_g_test_equals_chi2_contingency(ref: list[int], cur: list[int]) -> None:
    # oracle: scipy.stats.chi2_contingency(..., lambda_="log-likelihood", correction=False)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), lambda_="log-likelihood", correction=False).pvalue
    assert g_test_pvalue(ref, cur) == pytest.approx(expected, rel=1e-12)


def test_g_test_hand_computed_two_by_two() -> None:
    # hand: table [[10, 20], [20, 10]], every expected count 15;
    # G = 2·Σ O·ln(O/E) = 2·(2·10·ln(10/15) + 2·20·ln(20/15)) = 6.7960; df = 1
    g = 2 * (2 * 10 * math.log(10 / 15) + 2 * 20 * math.log(20 / 15))
    expected = stats.chi2.sf(g, 1)  # oracle for the tail only: chi-square survival function
    assert g_test_pvalue([10, 20], [20, 10]) == pytest.approx(expected, rel=1e-12)
    assert round(g, 3) == 6.796


def test_g_test_one_bin_is_one() -> None:
    assert g_test_pvalue([100], [3]) == 1.0


@pytest.mark.parametrize(("ref", "cur"), [([0, 0], [3, 4]), ([3, 4], [0, 0])], ids=["empty-ref", "empty-cur"])
def test_g_test_empty_side_is_nan(ref: list[int], cur: list[int]) -> None:
    assert math.isnan(g_test_pvalue(ref, cur))


@pytest.mark.parametrize(
    ("ref", "cur", "match"),
    [
        ([1, 2, 3], [1, 2], r"`reference` and `current` must be 1-d of the same length, got \(3,\) and \(2,\)"),
        ([[1, 2]], [[1, 2]], r"`reference` and `current` must be 1-d of the same length, got \(1, 2\) and \(1, 2\)"),
        ([1, 0, 3], [1, 0, 2], r"bins empty on both sides must be dropped before the G-test"),
    ],
    ids=["lengths", "2d", "empty-bin"],
)
def test_g_test_errors(ref: object, cur: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        g_test_pvalue(ref, cur)  # type: ignore[arg-type]


# --- g_test: the chi-square approximation where it holds, a permutation test where it does not -------------


def test_g_test_on_a_dense_table_is_chi2_contingency() -> None:
    ref, cur = [120, 80, 60, 40], [90, 95, 70, 45]
    got = g_test(ref, cur)
    # oracle: scipy.stats.chi2_contingency with the log-likelihood statistic, to the last bit
    expected = stats.chi2_contingency(np.array([ref, cur]), lambda_="log-likelihood", correction=False)
    assert (got.method, got.permutations, got.bins) == ("g-test", 0, 4)
    assert got.p_value == expected.pvalue
    assert got.statistic == pytest.approx(expected.statistic, rel=1e-12)


def test_g_test_on_a_sparse_table_is_a_permutation_test() -> None:
    # Expected counts 3.5 < 5. Exact: with margins fixed, the current side's first-bin count is hypergeometric
    # (13 of 20 rows, 10 drawn); tables at least as extreme in G are X >= 8 and, by symmetry, X <= 5.
    got = g_test([5, 5], [8, 2], seed=1)
    exact = stats.hypergeom(20, 13, 10).sf(7) + stats.hypergeom(20, 13, 10).cdf(5)  # 0.3498
    assert got.method == "monte-carlo"
    assert got.permutations == 999  # 100 draws reached G: large p, stopped early
    assert got.p_value == pytest.approx(exact, abs=0.05)  # Monte-Carlo error of 999 draws, ~3 sd
    assert g_test([5, 5], [8, 2], seed=1) == got  # deterministic for a seed


def test_g_test_of_a_strong_drift_on_a_sparse_table_stays_tiny() -> None:
    # 50 sparse bins alike, and 200 current rows in a bin the reference never filled: no permutation reaches
    # G, so the p-value is the chi-square one of the table with its sparse bins pooled (not the floor 1e-4).
    ref, cur = [4] * 50 + [0], [4] * 50 + [200]
    got = g_test(ref, cur, seed=3)
    pooled = g_test_pvalue([200, 0], [200, 200])  # hand: the 50 sparse bins pooled, then the new bin
    assert (got.method, got.permutations) == ("monte-carlo", 9_999)
    assert got.p_value == pooled < 1e-40
