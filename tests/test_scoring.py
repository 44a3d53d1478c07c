"""kldrift.scoring: histograms → per-feature divergences, p-values, corrections, severities.

Unit tests build histograms from counts written by hand; the end-to-end cases at
the bottom go through :func:`kldrift.compare` on real tables. Oracles:
``scipy.stats.entropy``, ``scipy.spatial.distance.jensenshannon``,
``scipy.stats.chi2_contingency(..., lambda_="log-likelihood", correction=False)``
and ``scipy.stats.false_discovery_control``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

import kldrift
from kldrift.binning import BinSpec, FeatureSpec
from kldrift.config import Settings, coerce_config
from kldrift.divergence import adjust_pvalues
from kldrift.histogram import Histogram
from kldrift.results import DriftReport, FeatureDrift
from kldrift.scoring import score

CONTRACT_COLUMNS = [
    "feature",
    "kind",
    "n_reference",
    "n_current",
    "n_bins",
    "kl",
    "kl_reverse",
    "psi",
    "jensen_shannon",
    "p_value",
    "p_adjusted",
    "severity",
    "message",
]


def numeric(name: str, edges: tuple[float, ...] = (0.0, 1.0)) -> FeatureSpec:
    return FeatureSpec(name, "numeric", "number", edges=edges, source_type="double")


def hist(spec: BinSpec, counts: dict[str, list[int]], errors: dict[str, str] | None = None) -> Histogram:
    rows = max((sum(c) for c in counts.values()), default=0)
    full = {f.name: np.asarray(counts.get(f.name, [0] * f.n_bins), dtype=np.int64) for f in spec.features}
    return Histogram(spec.fingerprint, rows, full, errors or {})


def scored(
    ref: dict[str, list[int]],
    cur: dict[str, list[int]],
    config: dict[str, Any] | None = None,
    *,
    spec: BinSpec | None = None,
    errors: dict[str, str] | None = None,
) -> DriftReport:
    spec = spec or BinSpec(tuple(numeric(name) for name in ref))
    return score(spec, hist(spec, ref), hist(spec, cur, errors), coerce_config(config))


# --- the hand-computed example ----------------------------------------------------------

# Bins (-inf, 0), [0, 1), [1, +inf), null. The null bin is empty on both sides and dropped:
# k = 3 bins remain, α = 0.5, n_ref = n_cur = 100.
REF = [60, 40, 0, 0]
CUR = [30, 50, 20, 0]
P = (np.array([30, 50, 20]) + 0.5) / (100 + 3 * 0.5)  # (cur + α) / (n_cur + kα) = [0.3005, 0.4975, 0.2020]
Q = (np.array([60, 40, 0]) + 0.5) / (100 + 3 * 0.5)  # (ref + α) / (n_ref + kα) = [0.5961, 0.3990, 0.0049]


def test_hand_computed_feature() -> None:
    f = scored({"x": REF}, {"x": CUR})["x"]
    assert (f.n_reference, f.n_current, f.n_bins) == (100, 100, 3)
    # oracle: scipy.stats.entropy(P, Q) = 0.654012 nats (current explained by the reference)
    assert f.kl == pytest.approx(stats.entropy(P, Q), rel=1e-13)
    assert round(f.kl, 4) == 0.6540
    # oracle: scipy.stats.entropy(Q, P) = 0.301906
    assert f.kl_reverse == pytest.approx(stats.entropy(Q, P), rel=1e-13)
    assert round(f.kl_reverse, 4) == 0.3019
    assert f.psi == pytest.approx(f.kl + f.kl_reverse, rel=1e-15)
    # oracle: scipy.spatial.distance.jensenshannon(P, Q) ** 2 = 0.087599
    assert f.jensen_shannon == pytest.approx(distance.jensenshannon(P, Q) ** 2, rel=1e-12)
    assert round(f.jensen_shannon, 4) == 0.0876
    # oracle: chi2_contingency on the raw counts of the kept bins: G = 39.033, dof 2, p = 3.342e-09
    expected_p = stats.chi2_contingency(
        np.array([[60, 40, 0], [30, 50, 20]]), lambda_="log-likelihood", correction=False
    ).pvalue
    assert f.p_value == pytest.approx(expected_p, rel=1e-12)
    assert f.p_adjusted == pytest.approx(expected_p, rel=1e-12)  # one feature: nothing to correct
    assert f.severity == "critical"  # 0.654 >= 0.25 and 3e-09 < 0.01
    assert f.metric == "kl"
    assert f.value == f.kl
    assert f.pseudocount == 0.5
    assert f.message == f"kl {f.kl:.4g} >= critical threshold 0.25 (p_adjusted {f.p_adjusted:.3g} < 0.01)"


def test_the_empty_bin_is_dropped_before_smoothing() -> None:
    # Keeping the empty null bin would give it α on both sides and change every p_i, q_i.
    kept = scored({"x": REF}, {"x": CUR})["x"]
    p4 = (np.array(CUR) + 0.5) / (100 + 4 * 0.5)
    q4 = (np.array(REF) + 0.5) / (100 + 4 * 0.5)
    assert kept.kl != pytest.approx(stats.entropy(p4, q4), rel=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 3.0], ids=["none", "half", "one", "three"])
def test_pseudocount_setting(alpha: float) -> None:
    cur, ref = np.array([30, 50, 20]), np.array([60, 40, 1])
    f = scored({"x": [*ref, 0]}, {"x": [*cur, 0]}, {"smoothing": {"pseudocount": alpha}})["x"]
    p = (cur + alpha) / (100 + 3 * alpha)
    q = (ref + alpha) / (101 + 3 * alpha)
    assert f.kl == pytest.approx(stats.entropy(p, q), rel=1e-13)  # oracle: scipy.stats.entropy
    assert f.pseudocount == alpha


def test_unsmoothed_kl_can_be_infinite() -> None:
    f = scored({"x": REF}, {"x": CUR}, {"smoothing": {"pseudocount": 0}})["x"]
    assert f.kl == math.inf  # bin [1, inf) has current rows but no reference rows
    assert f.severity == "critical"


def test_bins_view_labels_counts_contributions() -> None:
    report = scored({"x": REF}, {"x": CUR})
    (b,) = report.bins
    assert b.labels == ("(-inf, 0)", "[0, 1)", "[1, +inf)", "null")
    assert (b.reference, b.current) == (tuple(REF), tuple(CUR))
    assert b.contributions[:3] == pytest.approx(list(P * np.log(P / Q)), rel=1e-12)
    assert math.isnan(b.contributions[3])  # dropped bin


# --- multiple testing ---------------------------------------------------------------------

P_VALUES = [0.001, 0.04, 0.03, 0.2, 0.0005, 0.04, 1.0, 0.011]


def test_fdr_bh_equals_scipy() -> None:
    # oracle: scipy.stats.false_discovery_control(ps, method="bh")
    assert adjust_pvalues(P_VALUES, "fdr_bh") == stats.false_discovery_control(P_VALUES, method="bh").tolist()


def test_fdr_bh_random_equals_scipy(rng: np.random.Generator) -> None:
    ps = rng.uniform(size=200) ** 3
    ps[::17] = ps[3]  # ties
    assert adjust_pvalues(ps.tolist(), "fdr_bh") == stats.false_discovery_control(ps, method="bh").tolist()


def test_bonferroni_and_none() -> None:
    # hand: p · m capped at 1, m = 8
    assert adjust_pvalues(P_VALUES, "bonferroni") == [min(1.0, p * 8) for p in P_VALUES]
    assert adjust_pvalues(P_VALUES, "none") == P_VALUES


def test_nan_p_values_are_left_out_of_the_family() -> None:
    got = adjust_pvalues([0.01, math.nan, 0.02], "bonferroni")
    assert got[0] == 0.02  # m = 2, not 3
    assert math.isnan(got[1])
    assert adjust_pvalues([math.nan], "fdr_bh")[0] != adjust_pvalues([math.nan], "fdr_bh")[0]  # nan


def test_unknown_correction() -> None:
    with pytest.raises(ValueError, match=r"`method` must be 'fdr_bh', 'bonferroni' or 'none', got 'holm'"):
        adjust_pvalues([0.1], "holm")


# Three features with different strengths of drift, n = 1,000 each.
THREE_REF = {"a": [250, 250, 500, 0], "b": [250, 250, 500, 0], "c": [250, 250, 500, 0]}
THREE_CUR = {"a": [330, 250, 420, 0], "b": [280, 240, 480, 0], "c": [252, 249, 499, 0]}


@pytest.mark.parametrize("method", ["fdr_bh", "bonferroni", "none"], ids=["fdr_bh", "bonferroni", "none"])
def test_p_adjusted_over_the_features_of_one_comparison(method: str) -> None:
    report = scored(THREE_REF, THREE_CUR, {"significance": {"correction": method}})
    raw = [
        stats.chi2_contingency(
            np.vstack([THREE_REF[n][:3], THREE_CUR[n][:3]]), lambda_="log-likelihood", correction=False
        ).pvalue
        for n in "abc"
    ]  # oracle: chi2_contingency per feature
    assert [f.p_value for f in report.features] == pytest.approx(raw, rel=1e-12)
    expected = {
        "fdr_bh": stats.false_discovery_control(raw, method="bh"),  # oracle: scipy
        "bonferroni": np.minimum(1.0, np.array(raw) * 3),  # hand
        "none": np.array(raw),
    }[method]
    assert [f.p_adjusted for f in report.features] == pytest.approx(expected.tolist(), rel=1e-12)


# --- severities -----------------------------------------------------------------------------

BIG = 10_000
# KL(p ‖ ½,½) = ln 2 - H(p): p = (0.75, 0.25) → 0.1308 (warn); (0.85, 0.15) → 0.2704 (critical)
WARN_CUR = [7_500, 2_500]
CRIT_CUR = [8_500, 1_500]
HALF = [5_000, 5_000]


def two_bin(name: str) -> FeatureSpec:
    return numeric(name, edges=(0.0,))  # (-inf, 0), [0, inf), null


def severity_report(cur: dict[str, list[int]], config: dict[str, Any] | None = None) -> DriftReport:
    spec = BinSpec(tuple(two_bin(n) for n in cur))
    ref = {n: [*HALF, 0] for n in cur}
    return scored(ref, {n: [*c, 0] for n, c in cur.items()}, config, spec=spec)


def test_warn_and_critical() -> None:
    report = severity_report({"w": WARN_CUR, "c": CRIT_CUR, "o": HALF})
    assert [f.severity for f in report.features] == ["warn", "critical", "ok"]
    # hand: ln 2 - H(0.75) = 0.1308, with α = 0.5 on 10,000 rows the difference is < 1e-4
    assert report["w"].kl == pytest.approx(math.log(2) - stats.entropy([0.75, 0.25]), abs=1e-4)
    assert report["c"].kl == pytest.approx(math.log(2) - stats.entropy([0.85, 0.15]), abs=1e-4)
    assert report["o"].kl == 0.0
    assert [f.feature for f in report.alerts] == ["w", "c"]
    assert report["w"].threshold == 0.1
    assert report["c"].threshold == 0.25
    assert report.worst == "critical"
    assert report.counts_by_severity() == {"ok": 1, "warn": 1, "critical": 1, "insufficient_data": 0, "error": 0}


def test_large_kl_without_significance_is_ok() -> None:
    # 10 rows a side: KL is large but the test cannot tell. Expected counts of 3.5 are below 5, so the
    # p-value is the permutation test's. Exact here: with margins fixed, the current side's left count X is
    # hypergeometric (13 "left" of 20 rows, 10 drawn); tables at least as extreme in G are X >= 8 and, by the
    # symmetry of swapping the rows, X <= 5: P = 0.3437 (scipy.stats.hypergeom), within Monte-Carlo error.
    spec = BinSpec((two_bin("x"),))
    f = scored({"x": [5, 5, 0]}, {"x": [8, 2, 0]}, {"min_rows": 10}, spec=spec)["x"]
    exact = stats.hypergeom(20, 13, 10).sf(7) + stats.hypergeom(20, 13, 10).cdf(5)
    assert f.p_method == "monte-carlo"
    assert f.p_value == pytest.approx(exact, abs=0.03)
    assert f.p_value > 0.01
    assert f.kl >= 0.1
    assert f.severity == "ok"
    assert "but not significant" in f.message


def test_significant_but_small_is_ok() -> None:
    f = severity_report({"x": [5_300, 4_700]})["x"]
    assert f.p_adjusted < 0.01  # 10,000 rows: a 3-point shift is significant …
    assert f.kl < 0.1  # … but tiny (ln 2 - H(0.53) = 0.0018)
    assert f.severity == "ok"
    # … and says so, rather than an empty message (Seattle temp_max 2012 vs 2015: p 1.2e-4, KL 0.092)
    assert f.message.startswith("significant but small: kl 0.001801 < warn threshold 0.1 (p_adjusted ")
    assert f.message.endswith(" < 0.01)")


def test_alpha_setting() -> None:
    spec = BinSpec((two_bin("x"),))
    f = scored({"x": [5, 5, 0]}, {"x": [8, 2, 0]}, {"min_rows": 10, "significance": {"alpha": 0.5}}, spec=spec)["x"]
    # hand: smoothed p = (8.5, 2.5) / 11 → KL = ln 2 - H(0.7727) = 0.158, in [0.1, 0.25); p ≈ 0.19 < 0.5
    assert f.kl == pytest.approx(math.log(2) - stats.entropy([8.5 / 11, 2.5 / 11]), rel=1e-12)
    assert f.severity == "warn"


def test_thresholds_setting() -> None:
    report = severity_report({"w": WARN_CUR, "c": CRIT_CUR}, {"thresholds": {"warn": 0.2, "critical": 0.3}})
    assert [f.severity for f in report.features] == ["ok", "warn"]


def test_per_column_thresholds_override() -> None:
    cfg = {"columns": {"c": {"thresholds": {"warn": 0.5, "critical": 0.9}}}}
    report = severity_report({"w": WARN_CUR, "c": CRIT_CUR}, cfg)
    assert report["c"].severity == "ok"
    assert (report["c"].threshold_warn, report["c"].threshold_critical) == (0.5, 0.9)
    assert report["w"].severity == "warn"  # the global thresholds still apply to w


@pytest.mark.parametrize(
    ("metric", "severity"),
    [("kl", "warn"), ("kl_reverse", "warn"), ("psi", "critical"), ("jensen_shannon", "ok")],
    ids=["kl", "kl_reverse", "psi", "jensen_shannon"],
)
def test_metric_picks_the_alert_metric(metric: str, severity: str) -> None:
    f = severity_report({"w": WARN_CUR}, {"metric": metric})["w"]
    assert f.metric == metric
    assert f.value == getattr(f, metric)
    # hand: kl 0.131, kl_reverse 0.144, psi 0.275 (≥ 0.25), JS 0.032
    assert f.severity == severity


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "side"),
    [(19, 5_000, "reference"), (5_000, 19, "current"), (10, 10, "current")],
    ids=["reference-short", "current-short", "both-short"],
)
def test_insufficient_data(n_ref: int, n_cur: int, side: str) -> None:
    spec = BinSpec((two_bin("x"),))
    ref = [n_ref, 0, 0]
    cur = [0, n_cur, 0]  # total drift: would be critical with enough rows
    f = scored({"x": ref}, {"x": cur}, spec=spec)["x"]
    assert f.severity == "insufficient_data"
    shown = n_ref if side == "reference" else n_cur
    assert f.message == f"fewer than min_rows=20 rows in the {side} data ({shown})"


def test_min_rows_counts_null_rows() -> None:
    spec = BinSpec((two_bin("x"),))
    f = scored({"x": [12, 0, 8]}, {"x": [0, 12, 8]}, spec=spec)["x"]
    assert f.n_reference == 20  # 12 values + 8 nulls reach min_rows=20
    assert f.severity == "critical"


def test_min_rows_setting() -> None:
    spec = BinSpec((two_bin("x"),))
    f = scored({"x": [20, 20, 0]}, {"x": [40, 0, 0]}, {"min_rows": 40}, spec=spec)["x"]
    assert f.severity != "insufficient_data"


@pytest.mark.parametrize("min_rows", [0, 100], ids=["min-rows-0", "min-rows-100"])
def test_zero_rows_in_current_is_insufficient_data(min_rows: int) -> None:
    spec = BinSpec((two_bin("x"), FeatureSpec("c", "categorical", "category", categories=("a",))))
    report = scored({"x": [500, 500, 0], "c": [900, 100, 0]}, {}, {"min_rows": min_rows}, spec=spec)
    assert [f.severity for f in report.features] == ["insufficient_data", "insufficient_data"]
    assert all(f.message == "no rows in the current data" for f in report.features)
    assert all(math.isnan(f.kl) and math.isnan(f.p_value) for f in report.features)
    assert report.alerts == ()


def test_error_features_do_not_stop_the_others() -> None:
    spec = BinSpec((two_bin("gone"), two_bin("x")))
    report = scored(
        {"gone": [500, 500, 0], "x": [500, 500, 0]},
        {"x": [900, 100, 0]},
        spec=spec,
        errors={"gone": "column 'gone' is missing from the current data"},
    )
    gone, x = report.features
    assert (gone.severity, gone.message) == ("error", "column 'gone' is missing from the current data")
    assert math.isnan(gone.kl)
    assert math.isnan(gone.p_value)
    assert math.isnan(gone.p_adjusted)
    assert gone.n_bins == 0
    assert x.severity == "critical"
    # the error feature is not part of the correction family: x's p-value stays unadjusted (m = 1)
    assert x.p_adjusted == x.p_value
    assert report.worst == "critical"


def test_one_remaining_bin_gives_zero_and_a_message() -> None:
    spec = BinSpec((two_bin("x"),))
    f = scored({"x": [0, 500, 0]}, {"x": [0, 300, 0]}, spec=spec)["x"]
    assert (f.kl, f.kl_reverse, f.psi, f.jensen_shannon, f.p_value) == (0.0, 0.0, 0.0, 0.0, 1.0)
    assert f.n_bins == 1
    assert f.severity == "ok"
    assert f.message == "all rows of both sides fall in one bin ([0, +inf)); no drift can be measured within it"


# --- the report ------------------------------------------------------------------------------


def test_to_pandas_has_the_contract_columns() -> None:
    df = severity_report({"w": WARN_CUR, "c": CRIT_CUR}).to_pandas()
    assert set(CONTRACT_COLUMNS) <= set(df.columns)
    assert list(df.columns[: len(CONTRACT_COLUMNS) - 2]) == CONTRACT_COLUMNS[:-2]
    assert list(df["feature"]) == ["w", "c"]
    assert list(df["severity"]) == ["warn", "critical"]
    assert df["n_reference"].tolist() == [BIG, BIG]


def test_features_are_frozen_dataclasses() -> None:
    f = severity_report({"w": WARN_CUR})["w"]
    assert isinstance(f, FeatureDrift)
    with pytest.raises(AttributeError):
        f.kl = 0.0  # type: ignore[misc]


def test_report_lookup_and_what_it_keeps() -> None:
    report = severity_report({"w": WARN_CUR})
    assert not hasattr(report, "settings")  # only what scoring used: metric, alpha, the share rule
    assert (report.metric, report.alpha, report.share_threshold) == ("kl", 0.01, 0.5)
    assert report.n_reference == BIG
    assert report.n_current == BIG
    with pytest.raises(KeyError):
        report["nope"]


def test_empty_report_is_ok() -> None:
    report = score(BinSpec(()), Histogram("", 0, {}), Histogram("", 0, {}), Settings())
    assert report.features == ()
    assert report.worst == "ok"
    assert report.to_pandas().empty


# --- end to end through compare: the Schema and Honesty cases of issue 7 -------------------


def _normal_table(rng: np.random.Generator, n: int = 2_000) -> pa.Table:
    return pa.table({"x": rng.normal(size=n), "c": pa.array(rng.choice(["a", "b", "c"], n))})


@pytest.mark.parametrize(
    "column",
    [pa.array([None] * 2_000, pa.float64()), pa.nulls(2_000), pa.array([math.nan] * 2_000)],
    ids=["float-nulls", "null-type", "nan"],
)
def test_all_null_current_column_alerts(rng: np.random.Generator, column: pa.Array) -> None:
    ref = _normal_table(rng)
    cur = _normal_table(rng).set_column(0, "x", column)
    report = kldrift.compare(ref, cur)
    assert report["x"].severity == "critical"
    assert report["x"].n_current == 2_000
    assert report["c"].severity == "ok"


@pytest.mark.parametrize("value", [math.inf, -math.inf], ids=["+inf", "-inf"])
def test_all_infinite_current_column_alerts(rng: np.random.Generator, value: float) -> None:
    ref = _normal_table(rng)
    cur = _normal_table(rng).set_column(0, "x", pa.array([value] * 2_000))
    f = kldrift.compare(ref, cur)["x"]
    assert f.severity == "critical"
    # hand: everything in one outer bin holding 10% of the reference → KL ≈ ln(1/0.1) = 2.30
    assert f.kl == pytest.approx(math.log(10), rel=0.01)


def test_all_null_current_categorical_alerts(rng: np.random.Generator) -> None:
    ref = _normal_table(rng)
    cur = _normal_table(rng).set_column(1, "c", pa.array([None] * 2_000, pa.string()))
    assert kldrift.compare(ref, cur)["c"].severity == "critical"


def test_constant_reference_reports_zero_with_a_message() -> None:
    table = pa.table({"k": [7.0] * 500, "s": ["same"] * 500})
    report = kldrift.compare(table, table)
    for f in report.features:
        assert (f.kl, f.n_bins, f.severity) == (0.0, 1, "ok")
        assert f.message.startswith("all rows of both sides fall in one bin")


@pytest.mark.parametrize(
    "current",
    [
        pa.array(np.linspace(7.0, 9.0, 500)),  # every value ≥ the constant
        pa.array(np.linspace(0.0, 7.0, 500)),  # every value ≤ the constant
        pa.array([7.0] * 400 + [7.5] * 100),  # a fifth of the rows moved
    ],
    ids=["above", "below", "partly"],
)
@pytest.mark.parametrize(
    "binning",
    [{}, {"discrete_max_values": 0}, {"discrete_max_values": 0, "strategy": "uniform"}],
    ids=["discrete", "quantile", "uniform"],
)
def test_constant_reference_that_becomes_non_constant_alerts(current: pa.Array, binning: dict[str, Any]) -> None:
    ref = pa.table({"k": [7.0] * 500})
    report = kldrift.compare(ref, pa.table({"k": current}), config={"binning": binning})
    assert report["k"].severity in ("warn", "critical")
    assert report["k"].n_bins >= 2
    (b,) = report.bins
    assert sum(r > 0 for r in b.reference) == 1  # the reference still sits in one bin of its own


def test_constant_category_that_changes_alerts() -> None:
    ref = pa.table({"s": ["same"] * 500})
    cur = pa.table({"s": ["same"] * 300 + ["new"] * 200})
    assert kldrift.compare(ref, cur)["s"].severity == "critical"


def test_type_change_is_an_error_and_the_rest_is_scored(rng: np.random.Generator) -> None:
    ref = _normal_table(rng)
    cur = _normal_table(rng).set_column(0, "x", pa.array(["1.5"] * 2_000))
    report = kldrift.compare(ref, cur)
    assert report["x"].severity == "error"
    assert report["x"].message.startswith("type changed: column 'x' is string in the current data")
    assert report["c"].severity == "ok"


def test_missing_column_is_an_error(rng: np.random.Generator) -> None:
    ref = _normal_table(rng)
    report = kldrift.compare(ref, _normal_table(rng).drop_columns(["x"]))
    assert (report["x"].severity, report["x"].message) == ("error", "column 'x' is missing from the current data")
    assert report["c"].severity == "ok"


def test_new_column_in_current_is_ignored(rng: np.random.Generator) -> None:
    ref = _normal_table(rng)
    cur = _normal_table(rng).append_column("extra", pa.array(np.arange(2_000.0)))
    assert [f.feature for f in kldrift.compare(ref, cur).features] == ["x", "c"]


def test_zero_rows_in_current_end_to_end(rng: np.random.Generator) -> None:
    ref = _normal_table(rng)
    report = kldrift.compare(ref, ref.slice(0, 0))
    assert {f.severity for f in report.features} == {"insufficient_data"}
    assert report.n_current == 0
