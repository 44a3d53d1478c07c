"""Scoring per segment: a drift one segment holds and the whole table hides, one correction over every test,
too few rows, segments absent or new, the page rule per segment, and every output carrying the segment.

The data is built by hand: three regions of 6,000 rows each, the same distributions, except where a test
shifts one. Expected p-values are ``scipy.stats.false_discovery_control`` over the run's raw p-values.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from kldrift.outputs.alerts import alert_rows
from kldrift.outputs.metrics import metrics_table, run_note, verdict_of
from kldrift.outputs.webhook import payload
from kldrift.pipeline import compare, fit
from kldrift.results import DriftReport
from kldrift.segments import Segment
from kldrift.severity import Severity

REGIONS = ("north", "south", "east")
N = 6_000


def regions(seed: int, *, shift: float = 0.0, share: float = 1.0, sizes: dict[str, int] | None = None) -> pa.Table:
    """``N`` rows per region (or ``sizes``): ``x ~ N(0, 1)``, ``k`` in 0..4, ``c`` in a..e; in ``east``, ``share``
    of the rows have ``x`` shifted by ``shift`` standard deviations."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {"region": [], "x": [], "k": [], "c": []}
    for r in REGIONS:
        n = (sizes or {}).get(r, N)
        x = rng.normal(size=n)
        if r == "east":
            x[: int(share * n)] += shift
        cols["region"] += [r] * n
        cols["x"] += x.tolist()
        cols["k"] += rng.integers(0, 5, n).tolist()
        cols["c"] += rng.choice(list("abcde"), n).tolist()
    return pa.table(cols)


def segmented(*, min_rows: int = 200, **extra: Any) -> dict[str, Any]:
    return {"segments": {"columns": ["region"], "max": 10, "min_rows": min_rows}, **extra}


@pytest.fixture(scope="module")
def east_shifts() -> DriftReport:
    # east (a third of the rows) shifts by one standard deviation
    return compare(regions(1), regions(2, shift=1.0), config=segmented())


def by(report: DriftReport, label: str) -> dict[str, Any]:
    assert report.segments is not None
    return {f.feature: f for f in report.segments.features if f.segment is not None and f.segment.label == label}


def test_the_segment_alerts_the_aggregate_does_not_the_others_stay_quiet(east_shifts: DriftReport) -> None:
    r = east_shifts
    assert r["x"].severity is Severity.OK  # the whole table: a mixture, KL ~0.05 under warn 0.1
    assert r["x"].value < 0.1
    east = by(r, "region=east")
    assert east["x"].severity is Severity.CRITICAL
    assert east["x"].value > 0.25  # one sd on 10 quantile bins: KL ~0.44
    assert set(east) == {"x", "k", "c"}  # the segment column is constant in a segment: not scored there
    assert all(f.severity is Severity.OK for f in (east["k"], east["c"]))
    for quiet in ("region=north", "region=south"):
        assert all(f.severity is Severity.OK for f in by(r, quiet).values())
    assert r.worst is Severity.CRITICAL
    assert r.page.level is Severity.CRITICAL
    assert r.page.reason == "region=east: 1 feature critical"
    assert r.verdict.headline == "1 segment alerting: region=east (1 critical)"
    assert r.reaches("critical")


def test_a_third_of_a_segment_shifting_by_three_sd_alerts_there_only() -> None:
    r = compare(regions(1), regions(2, shift=3.0, share=1 / 3), config=segmented())
    assert r["x"].severity is Severity.OK
    assert by(r, "region=east")["x"].severity.alerting


def test_one_correction_over_every_test_of_the_run(east_shifts: DriftReport) -> None:
    r = east_shifts
    assert r.segments is not None
    rows = [*r.features, *r.segments.features]
    raw = np.array([f.p_value for f in rows])
    expected = stats.false_discovery_control(raw, method="bh")  # = BH over all 4 + 3 x 3 (+ (other): empty) tests
    assert r.segments.tests == len(rows) == 13
    np.testing.assert_allclose([f.p_adjusted for f in rows], expected, rtol=1e-12)


def test_bonferroni_and_none_follow_the_config() -> None:
    r = compare(regions(1), regions(2, shift=1.0), config=segmented(significance={"correction": "bonferroni"}))
    assert r.segments is not None
    for f in r.segments.features:
        assert f.p_adjusted == pytest.approx(min(1.0, f.p_value * 13), rel=1e-12)


def test_a_small_segment_is_insufficient_and_left_out_of_the_correction() -> None:
    r = compare(regions(1), regions(2, sizes={"south": 150}), config=segmented(min_rows=200))
    assert r.segments is not None
    south = by(r, "region=south")
    assert {f.severity for f in south.values()} == {Severity.INSUFFICIENT_DATA}
    assert all(np.isnan(f.p_adjusted) for f in south.values())
    assert r.segments.tests == 4 + 3 + 3  # whole + north + east
    (check,) = [c for c in r.segments.checks if c.check == "insufficient_data"]
    assert check.segment == Segment(("region",), ("south",))
    assert (
        check.message
        == "region=south: fewer than segments.min_rows=200 rows (150 current, 6,000 reference); not tested"
    )
    (vol,) = [c for c in r.segments.checks if c.check == "volume" and c.segment == check.segment]
    assert vol.severity is Severity.CRITICAL  # 150 of the expected 12,150 / 3 = 4,050 rows
    assert r["region"].severity is Severity.CRITICAL  # the whole table sees the mix change


def test_a_segment_absent_today_is_no_data_for_it() -> None:
    r = compare(regions(1), regions(2, sizes={"south": 0}), config=segmented())
    assert r.segments is not None
    (gone,) = [c for c in r.segments.checks if c.check == "no_data"]
    assert gone.segment == Segment(("region",), ("south",))
    assert gone.severity is Severity.CRITICAL  # volume.no_data
    assert gone.expected == pytest.approx(12_000 * 6_000 / 18_000)  # its share of the reference times today's rows
    assert r.page.level is Severity.CRITICAL
    assert "region=south: no data: no rows of region=south" in r.page.reason


def test_a_segment_whose_volume_collapses() -> None:
    r = compare(regions(1), regions(2, sizes={"east": 600}), config=segmented())
    assert r.segments is not None
    (vol,) = [c for c in r.segments.checks if c.check == "volume" and c.severity.alerting]
    assert vol.segment is not None
    assert vol.segment.label == "region=east"
    expected = 12_600 * 6_000 / 18_000  # its share of the reference times today's rows
    assert vol.ratio == pytest.approx(600 / expected)
    assert vol.severity is Severity.CRITICAL  # 0.14x < volume.critical 0.2


def test_a_new_value_is_listed_and_pooled() -> None:
    cur = pa.concat_tables(
        [regions(2), pa.table({"region": ["west"] * 300, "x": [0.0] * 300, "k": [1] * 300, "c": ["a"] * 300})]
    )
    r = compare(regions(1), cur, config=segmented())
    assert r.segments is not None
    (new,) = [c for c in r.segments.checks if c.check == "new_value"]
    assert (new.segment, new.rows, new.severity) == (Segment(("region",), ("west",)), 300, Severity.OK)
    assert new.message == "new value region=west: 300 rows, a value the reference never had (counted in (other))"
    other = r.segments.summaries[-1]
    assert (other.segment.other, other.n_reference, other.n_current) == (True, 0, 300)
    assert {f.severity for f in by(r, "(other)").values()} == {Severity.INSUFFICIENT_DATA}  # no reference rows


def test_a_segment_column_missing_today() -> None:
    r = compare(regions(1), regions(2).drop_columns(["region"]), config=segmented())
    assert r.segments is not None
    assert r.segments.features == ()
    (problem,) = r.segments.checks
    assert problem.check == "segments"
    assert problem.severity is Severity.ERROR
    assert problem.message == "not counted per segment: segment column 'region' is missing from the current data"
    assert [s.change for s in r.schema] == ["dropped"]  # the whole table says so, and is scored


def test_the_page_rule_applies_to_each_segment_on_its_own() -> None:
    # one feature at warn or above in each of two segments: warn_features 2 is reached by neither segment
    ref = regions(1)
    cur = regions(2, shift=1.0)
    north = np.asarray(cur.column("region").to_pylist()) == "north"
    x = cur.column("x").to_numpy().copy()
    x[north] += 1.0
    cur = cur.set_column(1, "x", pa.array(x))
    rule = {"alerts": {"page": {"warn_features": 2, "critical_features": 2}}}
    r = compare(ref, cur, config=segmented(**rule))
    assert by(r, "region=east")["x"].severity.alerting
    assert by(r, "region=north")["x"].severity.alerting
    assert r.page.level is Severity.OK
    assert r.page.reason == (
        "1 feature at warn or above; alerts.page needs 2; "  # the whole table's x: 2/3 of its rows shifted
        "region=east: 1 feature critical; alerts.page needs 2; 1 feature at warn or above; alerts.page needs 2; "
        "region=north: 1 feature critical; alerts.page needs 2; 1 feature at warn or above; alerts.page needs 2"
    )
    assert r.verdict.details[0].startswith("Not paged: ")
    strict = compare(ref, cur, config=segmented())
    assert strict.page.level is Severity.CRITICAL  # the default rule: any critical row pages


def test_outputs_carry_the_segment(east_shifts: DriftReport) -> None:
    r = east_shifts
    rows = alert_rows(r, dataset="d", date="2026-01-02")
    (alert,) = rows
    assert (alert["check"], alert["feature"], alert["segment"], alert["severity"]) == (
        "drift",
        "x",
        {"region": "east"},
        "critical",
    )
    text = payload(r, rows, dataset="d", date="2026-01-02")["text"]
    assert text == "kldrift: d 2026-01-02: CRITICAL: 1 segment alerting: region=east (1 critical) (x [region=east])"
    table = metrics_table(r, dataset="d", date="2026-01-02")
    got = table.to_pylist()
    segment_rows = [row for row in got if row["segment"]]
    assert {row["check"] for row in segment_rows} == {"segment", "drift", "volume"}
    assert next(row for row in got if not row["segment"])["feature"] == "region"  # the whole table's rows first
    assert verdict_of(got) == r.verdict
    note = run_note(got)
    assert note["segments"] == {
        "total": 4,
        "alerting": 1,
        "worst": {"label": "region=east", "severity": "critical", "alerts": ["x"]},
    }
    summary = next(
        row for row in segment_rows if row["check"] == "segment" and dict(row["segment"]) == {"region": "east"}
    )
    assert (summary["segment_paged"], summary["message"]) == ("critical", "1 feature critical")


def test_to_dict_round_trip_and_frames(east_shifts: DriftReport) -> None:
    r = east_shifts
    data = json.loads(r.to_json())
    assert data["segments"]["tests"] == 13
    assert data["segments"]["features"][0]["segment"] == {"region": "east"}  # equal sizes: segments by value
    back = DriftReport.from_dict(data)
    assert back.segments is not None
    assert r.segments is not None
    assert back.segments.to_json() == r.segments.to_json()  # (NaN terms of empty bins: compared as null)
    assert back.segments.features == r.segments.features
    assert back.verdict == r.verdict
    assert r.to_pandas()["segment"].isna().all()  # the whole table's rows
    small = r.to_dict(bins=False)
    assert "bins" not in small["segments"]  # `kldrift compare --format json`: no per-bin counts
    lean = DriftReport.from_dict(small)
    assert lean.segments is not None
    assert lean.segments.bins[0].labels == ()
    assert lean.verdict == r.verdict


def test_scored_without_segments_is_unchanged(east_shifts: DriftReport) -> None:
    plain = compare(regions(1), regions(2, shift=1.0))
    assert plain.segments is None
    assert [f.value for f in plain.features] == pytest.approx([f.value for f in east_shifts.features])
    # the whole table's p-values are corrected over more tests with segments, never fewer
    assert all(s.p_adjusted >= p.p_adjusted for s, p in zip(east_shifts.features, plain.features, strict=True))


def test_a_profile_fitted_with_segments_saves_and_scores_the_same(tmp_path: Any) -> None:
    profile = fit(regions(1), config=segmented())
    path = profile.save(tmp_path / "profile.json")
    a = compare(path, regions(2, shift=1.0), config=segmented())
    b = compare(profile, regions(2, shift=1.0), config=segmented())
    assert a.to_dict() == b.to_dict()
