"""What a report shows and exports in Python: repr, the notebook cell, save_html, JSON, DataFrames.

Reports come from real comparisons of in-memory frames (``kldrift.compare``); the wide and hostile
ones are the same reports with features renamed or repeated (``dataclasses.replace``), so a test of a
1,000-feature cell costs milliseconds. HTML is parsed with BeautifulSoup, never matched as text only.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

import kldrift
from kldrift.display import FORMAT, VERSION
from kldrift.errors import KLDriftError
from kldrift.notebook import TOP_FEATURES
from kldrift.results import COLUMNS, DriftReport
from kldrift.severity import Severity
from kldrift.svg import MAX_BINS, Bars

EVIL = "<img src=x onerror=alert(1)>"
ESC = "\x1b]0;title\x07"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "notebook.md"


def frames(rng: np.random.Generator, n: int = 2_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``fare`` moves by 1 sd, ``x`` and the evil-named column do not; ``c`` holds a hostile category."""

    def one(shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "fare": rng.normal(shift, 1.0, n),
                "x": rng.normal(0.0, 1.0, n),
                EVIL: rng.choice(["a", "b", "c"], n),
                "c": rng.choice(["</svg><script>alert(1)</script>", ESC, "plain"], n),
                "id": np.arange(n),
            }
        )

    return one(0.0), one(1.0)


_SMALL = kldrift.compare(*frames(np.random.default_rng(2), 300))
"""A small real report, made once (hypothesis examples reuse it)."""


@pytest.fixture
def report(rng: np.random.Generator) -> DriftReport:
    ref, cur = frames(rng)
    return kldrift.compare(ref, cur)


def wide(report: DriftReport, n: int) -> DriftReport:
    """``report`` with ``n`` features: its own, repeated under new names."""
    pairs = [(report.features[i % len(report.features)], report.bins[i % len(report.bins)]) for i in range(n)]
    return dataclasses.replace(
        report,
        features=tuple(dataclasses.replace(f, feature=f"f{i:04d}") for i, (f, _) in enumerate(pairs)),
        bins=tuple(dataclasses.replace(b, feature=f"f{i:04d}") for i, (_, b) in enumerate(pairs)),
    )


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


# --- repr ------------------------------------------------------------------------------------------


def test_the_repr_of_a_report_is_one_line_without_data(report: DriftReport) -> None:
    # fare: +1 sd (KL ≈ 0.5 before binning) is critical; the other three are ok (hand count of the frames).
    assert repr(report) == "<DriftReport 4 features: 1 critical, 3 ok · worst critical · kl vs reference>"
    one = dataclasses.replace(report, features=report.features[:1], bins=report.bins[:1])
    assert repr(one) == "<DriftReport 1 feature: 1 critical · worst critical · kl vs reference>"
    none = dataclasses.replace(report, features=(), bins=())
    assert repr(none) == "<DriftReport 0 features · worst ok · kl vs reference>"
    # against earlier intervals (kldrift.baseline's descriptions), or the reference they fell back to
    rolling = {"window": "rolling", "description": "rolling: 3 of 3 intervals, 2026-01-07 .. 2026-01-09"}
    assert repr(dataclasses.replace(none, baseline=rolling)).endswith("· kl vs rolling window>")
    fell_back = {"window": "rolling", "description": "reference (rolling window: 2 of 5 intervals with data)"}
    assert repr(dataclasses.replace(none, baseline=fell_back)).endswith("· kl vs reference>")


def test_the_repr_of_a_feature_says_its_severity_and_what_reached_it(report: DriftReport) -> None:
    f = dataclasses.replace(
        report["fare"], value=0.3123, p_adjusted=1e-12, n_reference=4_000, n_current=1_500, severity="critical"
    )
    assert (
        repr(f)
        == "<FeatureDrift 'fare' numeric: critical · kl 0.3123 >= critical 0.25 · p adj. 1e-12 · rows 4,000 vs 1,500>"
    )
    ok = dataclasses.replace(f, severity="ok", value=0.01)
    assert repr(ok) == "<FeatureDrift 'fare' numeric: ok · kl 0.01 · p adj. 1e-12 · rows 4,000 vs 1,500>"
    assert repr(report[EVIL]).startswith("<FeatureDrift '<img src=x onerror=alert(1)>' categorical: ")


# --- the notebook cell ---------------------------------------------------------------------------------


def test_the_cell_draws_svg_charts_without_script_and_escapes_names(report: DriftReport) -> None:
    html = report._repr_html_()
    doc = soup(html)
    assert not doc.find_all(["script", "img", "iframe", "link", "object", "embed"])
    assert not [a for tag in doc.find_all(True) for a in tag.attrs if a.lower().startswith("on")]
    assert doc.find_all("svg"), "no chart"
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "\x1b" not in html
    assert not re.search(r"(?i)\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html), "a reference to fetch"
    # one row per feature, most urgent first: fare (critical) leads
    rows = doc.select("tbody tr")
    assert next(r.find("td").get_text(strip=True) for r in rows) == "fare"
    assert len(rows) == len(report.features)


def test_a_features_cell_has_its_chart_and_bins_table(report: DriftReport) -> None:
    f = report["c"]
    assert f.bins is report.bins[[g.feature for g in report.features].index("c")]
    doc = soup(f._repr_html_())
    assert len(doc.find_all("svg")) == 1
    labels = [tr.find("td").get_text() for tr in doc.select("details tbody tr")]
    shown = [label.replace(ESC, "\\x1b]0;title\\x07") for label in f.bins.labels]
    assert labels == shown  # every bin: three categories, other, null (the spec's labels)
    assert "</svg><script>" not in f._repr_html_()
    assert "\x1b" not in f._repr_html_()
    assert "\\x1b]0;title\\x07" in f._repr_html_()
    assert not doc.find_all("script")
    # a feature not taken from a report has no bins at hand, and says so
    alone = dataclasses.replace(f)
    assert alone.bins is None
    assert "not at hand" in alone._repr_html_()
    assert alone.bins_frame().empty


def test_a_thousand_features_make_a_small_cell_that_counts_the_rest(report: DriftReport) -> None:
    big = wide(report, 1_000)
    html = big._repr_html_()
    doc = soup(html)
    assert len(doc.select("table")[0].select("tbody tr")) == TOP_FEATURES
    assert f"{1_000 - TOP_FEATURES:,} more" in html
    assert len(html) < 300_000, len(html)  # 250 critical features: the cell stays bounded (a 50 MB cell is the bug)


def test_a_chart_draws_at_most_max_bins_and_says_what_it_left_out(report: DriftReport) -> None:
    f, b = report["fare"], report["fare"].bins
    n = 3 * MAX_BINS
    many = dataclasses.replace(
        b,
        labels=tuple(f"bin {i}" for i in range(n)),
        reference=tuple(range(1, n + 1)),
        current=tuple(range(n, 0, -1)),
        contributions=(0.01,) * n,
    )
    g = dataclasses.replace(report, features=(f,), bins=(many,))["fare"]
    doc = soup(g._repr_html_())
    drawn = doc.find("svg").find_all("g")
    assert len(drawn) == MAX_BINS
    assert f"{n - MAX_BINS} more bins not drawn" in doc.get_text()


# --- save_html -------------------------------------------------------------------------------------------


def test_save_html_writes_the_page_compare_out_writes(rng: np.random.Generator, tmp_path: Path) -> None:
    ref, cur = frames(rng)
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    from kldrift import cli

    assert (
        cli.main(
            [
                "-q",
                "compare",
                str(tmp_path / "ref.parquet"),
                str(tmp_path / "cur.parquet"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    report = kldrift.compare(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    path = report.save_html(tmp_path / "mine" / "report.html", dataset="compare")
    assert Path(path).read_bytes() == (tmp_path / "out" / "report.html").read_bytes()


@pytest.mark.parametrize("correction", ["fdr_bh", "bonferroni", "none"])
def test_save_html_states_the_settings_the_report_was_scored_with(
    rng: np.random.Generator, tmp_path: Path, correction: str
) -> None:
    ref, cur = frames(rng)
    config = {"thresholds": {"warn": 0.05, "critical": 0.2}, "significance": {"alpha": 0.05, "correction": correction}}
    report = kldrift.compare(ref, cur, config={**config, "columns": {"x": {"thresholds": {"warn": 1, "critical": 2}}}})
    page = soup(Path(report.save_html(tmp_path / "r.html")).read_text(encoding="utf-8"))
    assert page.select_one("#thresholds").get_text().startswith("warn 0.05 · critical 0.2 (own thresholds: x)")
    assert f"p (adjusted, {correction}) < 0.05" in page.get_text()
    given = soup(Path(report.save_html(tmp_path / "g.html", config=config)).read_text(encoding="utf-8"))
    assert f"p (adjusted, {correction}) < 0.05" in given.get_text()


def test_save_html_into_a_folder_that_cannot_be_made_is_an_output_error(report: DriftReport, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(kldrift.OutputError, match="file"):
        report.save_html(tmp_path / "file" / "report.html")


# --- JSON ----------------------------------------------------------------------------------------------


def nan_equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def test_to_json_is_strict_json_with_nulls_for_nan_and_infinity(rng: np.random.Generator) -> None:
    ref, cur = frames(rng)
    config = {"thresholds": {"warn": 0.1, "critical": math.inf}}
    empty = kldrift.compare(ref, cur.iloc[:0], config=config)  # no current rows: every metric NaN
    data = json.loads(empty.to_json())  # allow_nan=False inside: no NaN or Infinity tokens
    x = next(f for f in data["features"] if f["feature"] == "x")
    assert x["severity"] == "insufficient_data"
    assert x["kl"] is None
    assert x["threshold_critical"] is None
    assert data["format"] == FORMAT
    assert data["version"] == VERSION
    assert data["counts"] == {"critical": 0, "warn": 0, "error": 0, "insufficient_data": 4, "ok": 0}
    data = json.loads(kldrift.compare(ref, cur, config=config).to_json())
    assert data["counts"] == {"critical": 0, "warn": 1, "error": 0, "insufficient_data": 0, "ok": 3}  # never critical
    assert data["verdict"]["worst"] == "warn"


def test_from_dict_reads_back_what_to_dict_wrote(report: DriftReport) -> None:
    data = report.to_dict()
    back = DriftReport.from_dict(json.loads(json.dumps(data)))
    assert back.to_dict() == data
    for a, b in zip(report.features, back.features, strict=True):
        assert all(nan_equal(getattr(a, c), getattr(b, c)) for c in COLUMNS)
    assert back.bins == report.bins or all(
        a.labels == b.labels and a.reference == b.reference for a, b in zip(report.bins, back.bins, strict=True)
    )
    assert back.unscored == report.unscored
    assert back.schema == report.schema
    assert back.checks == report.checks
    assert isinstance(back.worst, Severity)
    assert back.worst == report.worst
    assert back["fare"].bins is not None
    assert repr(back) == repr(report)
    assert DriftReport.from_json(report.to_json(indent=1)).to_dict() == data


def test_without_bins_the_json_is_smaller_and_reads_back_without_counts(report: DriftReport) -> None:
    data = report.to_dict(bins=False)
    assert "bins" not in data
    back = DriftReport.from_dict(data)
    assert [b.labels for b in back.bins] == [()] * len(report.features)
    assert back.to_dict(bins=False) == data


def test_the_json_layout_is_the_one_documented() -> None:
    # docs/notebook.md lists every top-level key of to_dict() in its table "| `key` | ... |" under "## JSON".
    text = DOCS.read_text(encoding="utf-8").split("\n## JSON", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", text, flags=re.M)
    rng = np.random.default_rng(1)
    ref, cur = frames(rng, 200)
    assert documented == list(kldrift.compare(ref, cur).to_dict())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"format": "evidently", "version": 1}, "not a kldrift report: expected format 'kldrift.report' version 1"),
        ({"format": FORMAT, "version": 2}, r"got \('kldrift.report', 2\)"),
        ([1, 2], "got 'list'"),
        ({"format": FORMAT, "version": VERSION, "features": []}, "KeyError: 'schema'"),
    ],
    ids=["other-format", "newer-version", "not-an-object", "missing-key"],
)
def test_from_dict_refuses_what_is_not_a_report(data: Any, match: str) -> None:
    with pytest.raises(KLDriftError, match=match):
        DriftReport.from_dict(data)


def test_from_json_refuses_text_that_is_not_json() -> None:
    with pytest.raises(KLDriftError, match=r"not a kldrift report: invalid JSON \(Expecting value"):
        DriftReport.from_json("<html>")


# --- DataFrames -----------------------------------------------------------------------------------------


def test_alerts_frame_is_the_alerts_most_urgent_first(report: DriftReport) -> None:
    frame = report.alerts_frame()
    assert list(frame.columns) == COLUMNS
    assert sorted(frame["feature"]) == sorted(f.feature for f in report.alerts)
    big = wide(report, 12)
    ranked = big.alerts_frame()
    assert list(ranked["value"]) == sorted(ranked["value"], reverse=True)  # all critical: largest metric first


def test_bins_frame_has_every_bin_with_counts_shares_and_kl_terms(report: DriftReport) -> None:
    frame = report.bins_frame()
    assert len(frame) == sum(len(b.labels) for b in report.bins)
    for b in report.bins:
        part = frame[frame["feature"] == b.feature]
        assert tuple(part["label"]) == b.labels
        assert tuple(part["current_count"]) == b.current
        assert part["reference_share"].sum() == pytest.approx(1.0)  # shares of each side sum to 1
        assert part["current_share"].sum() == pytest.approx(1.0)
        terms = part["kl_term"].dropna()
        assert terms.sum() == pytest.approx(report[b.feature].kl)  # KL = sum of its terms (rel_entr)
    assert report["fare"].bins_frame().equals(frame[frame["feature"] == "fare"].reset_index(drop=True))


def test_unscored_frame_names_the_columns_and_why(report: DriftReport) -> None:
    frame = report.unscored_frame()
    assert list(frame["column"]) == ["id"]
    assert list(frame.columns) == ["column", "type", "domain", "role", "reason", "null_share", "distinct"]
    assert frame["role"][0] == "identifier"
    assert "increasing integers" in frame["reason"][0]


def test_r_alerts_stays_a_tuple_of_features(report: DriftReport) -> None:
    assert isinstance(report.alerts, tuple)
    assert report.alerts == tuple(f for f in report.features if f.severity in ("warn", "critical"))


def test_a_pickled_report_keeps_its_figures(report: DriftReport) -> None:
    back = pickle.loads(pickle.dumps(report))
    assert back.to_dict() == report.to_dict()
    assert back["fare"].bins.current == report["fare"].bins.current  # rebuilt through __init__: bins are back
    assert copy.deepcopy(report)["c"].bins.labels == report["c"].bins.labels


# --- properties ---------------------------------------------------------------------------------------------

FLOATS = st.floats(allow_nan=True, allow_infinity=True)


@given(kl=FLOATS, p=FLOATS, warn=FLOATS)
@settings(max_examples=60, deadline=None)
def test_any_float_survives_json_finite_as_is_the_rest_as_nan(kl: float, p: float, warn: float) -> None:
    report = _SMALL
    f = dataclasses.replace(report.features[0], kl=kl, p_adjusted=p, threshold_warn=warn)
    back = DriftReport.from_json(dataclasses.replace(report, features=(f, *report.features[1:])).to_json())
    for name, x in (("kl", kl), ("p_adjusted", p), ("threshold_warn", warn)):
        y = getattr(back.features[0], name)
        assert y == x if math.isfinite(x) else math.isnan(y)


@given(
    counts=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), min_size=1, max_size=200),
    limit=st.integers(1, 60),
)
@settings(max_examples=100, deadline=None)
def test_a_chart_keeps_bin_order_and_the_bins_holding_most(counts: list[tuple[int, int]], limit: int) -> None:
    ref, cur = [r for r, _ in counts], [c for _, c in counts]
    bars = Bars.of([str(i) for i in range(len(counts))], ref, cur, [0.0] * len(counts), limit=limit)
    used = [i for i in range(len(counts)) if ref[i] or cur[i]]
    assert list(bars.shown) == sorted(bars.shown)
    assert set(bars.shown) <= set(used)
    assert len(bars.shown) == min(limit, len(used))
    weight = [max(r / (sum(ref) or 1), c / (sum(cur) or 1)) for r, c in counts]
    left_out = [weight[i] for i in used if i not in bars.shown]
    assert not left_out or max(left_out) <= min(weight[i] for i in bars.shown)
    assert bool(bars.note()) == bool(left_out)


def test_the_metrics_file_holds_every_feature_field_in_order() -> None:
    # outputs/metrics.py spells the columns out (so the page sits above the results in the module map):
    # the same names, in the same order, as FeatureDrift's fields.
    from kldrift.outputs.metrics import FEATURE_COLUMNS

    assert list(FEATURE_COLUMNS) == COLUMNS
