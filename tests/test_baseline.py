"""Baselines from earlier data intervals: rolling, seasonal and range windows, calibrated thresholds.

Expected values are hand computations with numpy from the values written to
each day's file (``np.unique`` counts, the scoring's smoothing written out:
``p = (c + 0.5) / (n + 0.5 k)`` over the values seen on either side, and
``KL = sum p log(p / q)``), never from kldrift's own counts.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_parquet
from hypothesis import given
from hypothesis import strategies as st

from kldrift import cli
from kldrift.baseline import choose_baseline, interval_counts, window_intervals
from kldrift.calibration import leave_one_out
from kldrift.config import load_config
from kldrift.divergence import divergences
from kldrift.errors import ConfigError
from kldrift.interval import Interval
from kldrift.pipeline import fit, load_or_fit_profile

ALPHA = 0.5  # the default pseudocount
DAYS = [(dt.date(2026, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(20)]


def day_values(i: int) -> dict[str, np.ndarray[Any, Any]]:
    """Day ``i``'s values: a weekly rhythm plus a day-to-day wobble, so that windows differ from each other."""
    rng = np.random.default_rng(100 + i)
    weights = np.array([4.0, 3.0, 2.0, 1.0 + (i % 7), 1.0 + (i % 3)])
    passengers = rng.choice(5, size=200 + 10 * i, p=weights / weights.sum())
    colour = rng.choice(
        np.array(["red", "green", "blue"]), size=200 + 10 * i, p=[0.5, 0.3 - 0.02 * (i % 7), 0.2 + 0.02 * (i % 7)]
    )
    return {"passengers": passengers, "colour": colour}


def reference_values() -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(1)
    return {
        "passengers": rng.choice(5, size=3_000),
        "colour": rng.choice(np.array(["red", "green", "blue"]), size=3_000),
    }


def make_job(tmp_path: Path, extra: str, days: tuple[int, ...] = tuple(range(20))) -> Path:
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table(reference_values()))
    for i in days:
        write_parquet(tmp_path / "cur" / f"dt={DAYS[i]}" / "a.parquet", pa.table(day_values(i)))
    path = tmp_path / "job.yaml"
    path.write_text("dataset: d\nreference: ref/\ncurrent: 'cur/dt={ds}/'\noutput: out/\n" + extra)
    return path


def run_day(path: Path, i: int) -> dict[str, dict[str, Any]]:
    assert cli.main(["-q", "run", "--config", str(path), "--date", DAYS[i]]) == 0
    rows = pq.read_table(path.parent / "out" / "d" / f"dt={DAYS[i]}" / "metrics.parquet").to_pylist()
    return {r["feature"]: r for r in rows if r["check"] == "drift"}


def counts(values: np.ndarray[Any, Any], support: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    found, n = np.unique(values, return_counts=True)
    return np.array([dict(zip(found.tolist(), n.tolist(), strict=True)).get(v, 0) for v in support.tolist()])


def kl(current: np.ndarray[Any, Any], reference: np.ndarray[Any, Any]) -> float:
    """KL(current || reference) of two count vectors over the same values, smoothed as scoring does."""
    keep = (current + reference) > 0
    c, r = current[keep], reference[keep]
    p = (c + ALPHA) / (c.sum() + ALPHA * len(c))
    q = (r + ALPHA) / (r.sum() + ALPHA * len(r))
    return float(np.sum(p * np.log(p / q)))


def hand_kl(feature: str, current_day: int, baseline_days: list[int]) -> float:
    cur = day_values(current_day)[feature]
    base = np.concatenate([day_values(d)[feature] for d in baseline_days])
    support = np.unique(np.concatenate([cur, base]))
    return kl(counts(cur, support), counts(base, support))


@pytest.mark.parametrize("feature", ["passengers", "colour"])
def test_rolling_kl_is_against_the_sum_of_the_previous_intervals(tmp_path: Path, feature: str) -> None:
    path = make_job(tmp_path, "baseline: {window: rolling, intervals: 3, min_intervals: 2}\n")
    row = run_day(path, 9)[feature]
    assert row["kl"] == pytest.approx(hand_kl(feature, 9, [6, 7, 8]), rel=1e-12)
    assert row["n_reference"] == sum(200 + 10 * d for d in (6, 7, 8))
    assert row["baseline"] == "rolling: 3 of 3 intervals, 2026-01-07 .. 2026-01-09"
    assert (row["baseline_first"], row["baseline_last"], row["baseline_intervals"]) == ("2026-01-07", "2026-01-09", 3)


@pytest.mark.parametrize("feature", ["passengers", "colour"])
def test_seasonal_kl_is_against_the_same_weekday(tmp_path: Path, feature: str) -> None:
    path = make_job(tmp_path, "baseline: {window: seasonal, intervals: 2, period: 7, min_intervals: 2}\n")
    row = run_day(path, 15)[feature]  # 2026-01-16: the 9th and the 2nd are the same weekday
    assert row["kl"] == pytest.approx(hand_kl(feature, 15, [1, 8]), rel=1e-12)
    assert row["baseline"] == "seasonal: 2 of 2 intervals, 2026-01-02 .. 2026-01-09"


def test_range_window_sums_its_days_and_never_the_current_one(tmp_path: Path) -> None:
    path = make_job(tmp_path, "baseline: {window: range, range: [2026-01-02, 2026-01-05], min_intervals: 2}\n")
    row = run_day(path, 3)["passengers"]  # the 4th lies in the range: left out
    assert row["kl"] == pytest.approx(hand_kl("passengers", 3, [1, 2, 4]), rel=1e-12)
    assert row["baseline"] == "range: 3 of 3 intervals, 2026-01-02 .. 2026-01-05"


def test_a_missing_interval_is_left_out_of_the_window(tmp_path: Path) -> None:
    path = make_job(tmp_path, "baseline: {window: rolling, intervals: 4, min_intervals: 2}\n", days=(5, 7, 8, 9))
    row = run_day(path, 9)["colour"]
    assert row["kl"] == pytest.approx(hand_kl("colour", 9, [5, 7, 8]), rel=1e-12)
    assert row["baseline"] == "rolling: 3 of 4 intervals, 2026-01-06 .. 2026-01-09"


def test_too_few_intervals_fall_back_to_the_reference_and_say_so(tmp_path: Path) -> None:
    path = make_job(tmp_path, "baseline: {window: rolling, intervals: 5, min_intervals: 4}\n", days=(7, 8, 9))
    row = run_day(path, 9)["passengers"]
    ref = reference_values()["passengers"]
    cur = day_values(9)["passengers"]
    support = np.unique(np.concatenate([cur, ref]))
    assert row["kl"] == pytest.approx(kl(counts(cur, support), counts(ref, support)), rel=1e-12)
    assert row["baseline"] == "reference (rolling window: 2 of 5 intervals with data, fewer than min_intervals=4)"
    assert row["baseline_intervals"] == 0
    assert row["n_reference"] == 3_000


def test_calibrated_thresholds_are_the_leave_one_out_spread(tmp_path: Path) -> None:
    window = list(range(2, 9))
    path = make_job(
        tmp_path,
        "baseline: {window: rolling, intervals: 7}\n"
        "thresholds: {warn: 0.001, critical: 0.002, calibrate: {warn_sd: 1, critical_sd: 2}}\n"
        "columns: {colour: {thresholds: {warn: 5, critical: 9, calibrate: {warn_sd: 1, critical_sd: 2}}}}\n",
    )
    rows = run_day(path, 9)
    values = [day_values(d)["passengers"] for d in window]
    support = np.unique(np.concatenate(values))
    per_day = [counts(v, support) for v in values]
    total = np.sum(per_day, axis=0)
    loo = np.array([kl(c, total - c) for c in per_day])  # numpy: each day against the other six
    row = rows["passengers"]
    assert row["calibrated"] is True
    assert row["threshold_warn"] == pytest.approx(loo.mean() + 1 * loo.std(ddof=1), rel=1e-12)
    assert row["threshold_critical"] == pytest.approx(loo.mean() + 2 * loo.std(ddof=1), rel=1e-12)
    # configured thresholds above the spread stay: max(configured, mean + k sd)
    assert (rows["colour"]["threshold_warn"], rows["colour"]["threshold_critical"]) == (5, 9)
    assert rows["colour"]["calibrated"] is False
    # the page says what was compared with and which thresholds were calibrated
    page = (tmp_path / "out" / "d" / f"dt={DAYS[9]}" / "report.html").read_text()
    assert '<dd id="baseline">rolling: 7 of 7 intervals, 2026-01-03 .. 2026-01-09</dd>' in page
    assert "(own thresholds: colour) (calibrated to the baseline's spread: passengers)" in page
    assert '"base":"baseline"' in page
    assert f"calibrated thresholds <b>{row['threshold_warn']:.4g}</b>" in page


def test_a_robust_spread_is_the_median_and_mad(tmp_path: Path) -> None:
    window = list(range(2, 9))
    path = make_job(
        tmp_path,
        "baseline: {window: rolling, intervals: 7}\n"
        "thresholds: {warn: 0.001, critical: 0.002, calibrate: {warn_sd: 1, critical_sd: 2, spread: mad}}\n",
    )
    row = run_day(path, 9)["colour"]
    values = [day_values(d)["colour"] for d in window]
    support = np.unique(np.concatenate(values))
    per_day = [counts(v, support) for v in values]
    loo = np.array([kl(c, np.sum(per_day, axis=0) - c) for c in per_day])  # numpy, as above
    center = np.median(loo)
    scale = 1.4826 * np.median(np.abs(loo - center))  # the MAD scaled to a normal sd
    assert row["threshold_warn"] == pytest.approx(center + scale, rel=1e-12)
    assert row["threshold_critical"] == pytest.approx(center + 2 * scale, rel=1e-12)


def test_calibration_needs_min_intervals(tmp_path: Path) -> None:
    path = make_job(
        tmp_path,
        "baseline: {window: rolling, intervals: 7, min_intervals: 7}\n"
        "thresholds: {warn: 0.001, critical: 0.002, calibrate: {warn_sd: 1, critical_sd: 2}}\n",
        days=(4, 5, 6, 7, 8, 9),
    )
    row = run_day(path, 9)["passengers"]
    assert (row["calibrated"], row["threshold_warn"], row["threshold_critical"]) == (False, 0.001, 0.002)
    why = "5 of 7 intervals with data, fewer than min_intervals=7"
    assert row["baseline"] == f"reference (rolling window: {why}); thresholds not calibrated: {why}"


def test_a_fixed_baseline_says_when_it_could_not_calibrate(tmp_path: Path) -> None:
    path = make_job(
        tmp_path,
        "thresholds: {warn: 0.001, critical: 0.002, calibrate: {warn_sd: 1, critical_sd: 2}}\n",
        days=(7, 8, 9),
    )
    row = run_day(path, 9)["passengers"]
    assert row["calibrated"] is False
    assert (
        row["baseline"]
        == "reference; thresholds not calibrated: 2 of 28 intervals with data, fewer than min_intervals=7"
    )


@given(
    st.lists(st.lists(st.integers(0, 50), min_size=6, max_size=6), min_size=2, max_size=8),
    st.sampled_from(["kl", "kl_reverse", "psi", "jensen_shannon"]),
    st.sampled_from([0.5, 1.0, 0.01]),
)
def test_leave_one_out_is_scorings_arithmetic(rows: list[list[int]], metric: str, alpha: float) -> None:
    parts = np.array(rows, dtype=np.float64)
    parts = parts[parts.sum(axis=1) > 0]
    if len(parts) < 2:
        return
    got = leave_one_out(parts, alpha, metric)
    total = parts.sum(axis=0)
    keep = total > 0
    for i, c in enumerate(parts):  # one interval at a time, through the function scoring calls
        want = getattr(divergences((total - c)[keep], c[keep], pseudocount=alpha), metric)
        assert got[i] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_a_fixed_baseline_calibrates_on_the_rolling_intervals(tmp_path: Path) -> None:
    path = make_job(
        tmp_path,
        "baseline: {intervals: 3, min_intervals: 3}\n"
        "thresholds: {warn: 0.001, critical: 0.002, calibrate: {warn_sd: 3, critical_sd: 5}}\n",
    )
    row = run_day(path, 9)["colour"]
    values = [day_values(d)["colour"] for d in (6, 7, 8)]
    support = np.unique(np.concatenate(values))
    per_day = [counts(v, support) for v in values]
    loo = np.array([kl(c, np.sum(per_day, axis=0) - c) for c in per_day])
    assert row["threshold_warn"] == pytest.approx(loo.mean() + 3 * loo.std(ddof=1), rel=1e-12)
    assert row["baseline"] == "reference"
    assert row["n_reference"] == 3_000  # the comparison itself is against the reference


def test_saved_counts_are_reused_and_the_data_not_read_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_job(tmp_path, "baseline: {window: rolling, intervals: 3, min_intervals: 1}\n")
    for i in (6, 7, 8):
        run_day(path, i)
    for i in (6, 7, 8):  # the data of the scored days is gone: only their saved metrics can give the counts
        shutil.rmtree(tmp_path / "cur" / f"dt={DAYS[i]}")
    capsys.readouterr()
    assert cli.main(["run", "--config", str(path), "--date", DAYS[9]]) == 0  # not quiet: the log shows reads
    row = run_day(path, 9)["passengers"]
    assert row["kl"] == pytest.approx(hand_kl("passengers", 9, [6, 7, 8]), rel=1e-12)
    assert row["baseline"] == "rolling: 3 of 3 intervals, 2026-01-07 .. 2026-01-09"
    assert "counted the data of" not in capsys.readouterr().err
    config = load_config(path)
    profile = load_or_fit_profile(config)
    assert choose_baseline(config, Interval.for_date(DAYS[9]), profile).read == ()


def test_counts_saved_in_other_bins_are_counted_again(tmp_path: Path) -> None:
    path = make_job(tmp_path, "baseline: {window: rolling, intervals: 2, min_intervals: 1}\n")
    run_day(path, 7)
    run_day(path, 8)
    config = load_config(path)
    other = fit(str(tmp_path / "ref"), config={"binning": {"discrete_max_values": 2, "bins": 3}})
    intervals = window_intervals(config, Interval.for_date(DAYS[9]))
    per_key, read = interval_counts(config, other, intervals)
    assert read == ("2026-01-08", "2026-01-09")  # the runs' bins were not these: read again
    assert per_key["2026-01-09"].counts["passengers"].sum() == 200 + 10 * 8
    _, read = interval_counts(config, load_or_fit_profile(config), intervals)
    assert read == ()


def test_a_corrupt_saved_metrics_file_means_reading_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_job(tmp_path, "baseline: {window: rolling, intervals: 1, min_intervals: 1}\n")
    run_day(path, 8)
    metrics = tmp_path / "out" / "d" / f"dt={DAYS[8]}" / "metrics.parquet"
    metrics.write_bytes(b"PAR1 not really")
    row = run_day(path, 9)["colour"]
    assert row["kl"] == pytest.approx(hand_kl("colour", 9, [8]), rel=1e-12)
    assert f"{metrics}: saved counts not read (" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("baseline", "expected"),
    [
        ("{window: seasonal}", "window: seasonal needs period (intervals per period, say 7 for weekdays)"),
        ("{window: rolling, period: 7}", "period applies to window: seasonal, not rolling"),
        ("{window: range}", "window: range needs range: [first day, last day]"),
        ("{range: [2026-01-01, 2026-01-02]}", "range applies to window: range, not fixed"),
        ("{window: range, range: [2026-01-05, 2026-01-01]}", "range: the first day 2026-01-05 is after the last"),
        ("{window: weekly}", "window: expected 'fixed', 'rolling', 'seasonal' or 'range', got 'weekly'"),
        ("{intervals: 0}", "intervals: "),
    ],
)
def test_a_bad_baseline_is_a_config_error(tmp_path: Path, baseline: str, expected: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(f"dataset: a\nreference: r/\ncurrent: 'c/{{ds}}/'\noutput: o/\nbaseline: {baseline}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: baseline" in str(info.value)
    assert expected in str(info.value)
