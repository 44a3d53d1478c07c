"""Trust over a year: quarantine, accepting a lasting change, conformal thresholds, the page rule, presets.

Windows are checked against hand-built histories (which interval paged at what, and against which level):
the expected windows are written out by hand from the rules in ``kldrift.baseline``'s docstring. Conformal
thresholds are checked against a direct computation with scipy's ``rel_entr``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_parquet
from scipy import special

from kldrift import cli
from kldrift.baseline import Earlier, select_window
from kldrift.config import coerce_config, load_config
from kldrift.errors import ConfigError
from kldrift.findings import RunCheck, SchemaChange, page
from kldrift.jobsections import Baseline, PageRule
from kldrift.presets import PRESETS, expand, preset_keys
from kldrift.severity import Severity

OK, WARN, CRIT = Severity.OK, Severity.WARN, Severity.CRITICAL


def keys(n: int) -> list[str]:
    """``n`` daily run keys before 2026-03-01, newest first (what a rolling window walks)."""
    last = dt.date(2026, 3, 1)
    return [(last - dt.timedelta(days=k)).isoformat() for k in range(1, n + 1)]


def history(records: dict[str, Earlier]) -> Callable[[str], Earlier]:
    """A history where intervals not listed were scored ok against no accepted level."""
    return lambda key: records.get(key, Earlier(True, OK, None))


def settings(**kw: Any) -> Baseline:
    return Baseline(window="rolling", **{"intervals": 5, "quarantine": "warn", **kw})


# --- quarantine -----------------------------------------------------------------------------------------


def test_a_paged_interval_is_left_out_and_the_window_reaches_further_back() -> None:
    k = keys(10)
    w = select_window(k, history({k[1]: Earlier(True, WARN), k[3]: Earlier(True, CRIT)}), settings())
    # 5 healthy intervals wanted: k0, k2, k4, k5, k6 (k1 and k3 paged); oldest first
    assert w.used == (k[6], k[5], k[4], k[2], k[0])
    assert w.skipped == ((k[1], "paged warn"), (k[3], "paged critical"))
    assert (w.since, w.note) == (None, "")


def test_quarantine_critical_keeps_intervals_that_paged_at_warn() -> None:
    k = keys(10)
    w = select_window(
        k, history({k[1]: Earlier(True, WARN), k[3]: Earlier(True, CRIT)}), settings(quarantine="critical")
    )
    assert w.used == (k[5], k[4], k[2], k[1], k[0])
    assert w.skipped == ((k[3], "paged critical"),)


def test_without_quarantine_every_interval_with_data_is_used() -> None:
    k = keys(5)
    w = select_window(
        k, history({k[1]: Earlier(True, CRIT), k[2]: Earlier(False)}), Baseline(window="rolling", intervals=5)
    )
    assert w.used == (k[4], k[3], k[1], k[0])
    assert w.skipped == ((k[2], "no data"),)


def test_the_window_stops_at_max_lookback() -> None:
    k = keys(7)  # max_lookback 7: the candidates a rolling window is given
    paged = {k[i]: Earlier(True, WARN) for i in (0, 2, 4)}
    w = select_window(k, history(paged), settings(max_lookback=7, min_intervals=3, accept_after=3))
    assert w.used == (k[6], k[5], k[3], k[1])  # 4 healthy within the lookback, fewer than the 5 wanted
    assert w.note == ""


def test_healthy_intervals_running_out_accepts_the_latest_level() -> None:
    k = keys(10)
    # 8 of the 10 paged, but never 7 in a row: not a lasting change, yet fewer than min_intervals=5 healthy
    paged = {k[i]: Earlier(True, WARN) for i in (0, 1, 2, 3, 5, 6, 7, 8)}
    w = select_window(k, history(paged), settings(max_lookback=10, min_intervals=5, accept_after=7))
    assert w.used == tuple(sorted(k[:5]))  # the 5 newest, paged or not
    assert w.note.startswith("only 2 healthy intervals within max_lookback=10: accepted the latest level")
    assert w.since is None  # nothing to hold later windows to: each run decides again
    assert [key for key, _ in w.skipped] == k[5:9]  # the older paged ones stay out


def test_consecutive_paged_intervals_are_a_lasting_change_accepted_as_the_new_level() -> None:
    k = keys(12)
    streak = {k[i]: Earlier(True, CRIT) for i in range(6)}  # the 6 newest paged (accept_after 6)
    w = select_window(k, history(streak), settings(max_lookback=12, min_intervals=5, accept_after=6))
    assert w.used == tuple(sorted(k[:5]))  # the newest 5 (intervals) of the stretch
    assert w.since == k[5]  # the level starts at the stretch's first interval
    assert w.note == f"accepted a lasting change: the 6 latest intervals paged; their level since {k[5]}"


def test_after_acceptance_the_stretch_is_healthy_and_older_intervals_are_out_of_reach() -> None:
    k = keys(12)
    since = k[5]
    records = {k[i]: Earlier(True, CRIT, None) for i in range(1, 6)}  # paged against the old level
    records[k[0]] = Earlier(True, OK, since)  # the newest run compared with the accepted level: ok
    w = select_window(k, history(records), settings(max_lookback=12, min_intervals=3, accept_after=5))
    assert w.used == tuple(sorted(k[:5]))
    assert w.skipped == ()  # found 5 before reaching the boundary
    w = select_window(k, history(records), settings(intervals=8, max_lookback=12, min_intervals=3, accept_after=5))
    assert w.used == tuple(sorted(k[:6]))  # only the level's 6 intervals: nothing before it
    assert w.skipped == ((k[6], f"before the level accepted from {since}"),)


def test_an_interval_paging_against_the_accepted_level_is_quarantined_again() -> None:
    k = keys(12)
    since = k[6]
    records = {k[i]: Earlier(True, CRIT, None) for i in range(2, 7)}  # the accepted stretch
    records[k[1]] = Earlier(True, OK, since)
    records[k[0]] = Earlier(True, WARN, since)  # paged against the new level
    w = select_window(k, history(records), settings(max_lookback=12, min_intervals=3, accept_after=5))
    assert w.used == tuple(sorted(k[1:6]))
    assert w.skipped == ((k[0], "paged warn"),)


def test_intervals_never_scored_count_as_healthy() -> None:
    k = keys(5)
    w = select_window(k, lambda key: Earlier(True), settings())  # counted from their data, never judged
    assert w.used == tuple(sorted(k))


# --- the page rule --------------------------------------------------------------------------------------


def sev(*levels: Severity) -> list[Severity]:
    return list(levels)


@pytest.mark.parametrize(
    ("features", "rule", "level", "reason"),
    [
        (sev(OK, OK), PageRule(), OK, ""),
        (sev(WARN, OK), PageRule(), WARN, "1 feature at warn or above"),
        (sev(WARN, OK), PageRule(warn_features=2), OK, "1 feature at warn or above; alerts.page needs 2"),
        (sev(WARN, WARN, OK), PageRule(warn_features=2), WARN, "2 features at warn or above"),
        (sev(CRIT, OK), PageRule(warn_features=2), CRIT, "1 feature critical"),
        (
            sev(CRIT, OK),
            PageRule(critical_features=2, warn_features=2),
            OK,
            "1 feature critical; alerts.page needs 2; 1 feature at warn or above; alerts.page needs 2",
        ),
        (sev(CRIT, WARN), PageRule(critical_features=2, warn_features=2), WARN, "2 features at warn or above"),
        (sev(CRIT, CRIT, WARN), PageRule(critical_features=2), CRIT, "2 features critical"),
    ],
    ids=["quiet", "one-warn", "one-warn-needs-two", "two-warn", "one-critical", "critical-needs-two",
         "critical-counts-at-warn", "two-critical"],
)  # fmt: skip
def test_the_page_rule_counts_features_per_level(
    features: list[Severity], rule: PageRule, level: Severity, reason: str
) -> None:
    got = page(features, [], [], OK, rule)
    assert (got.level, got.reason) == (level, reason)


def test_run_level_rows_page_at_their_own_severity_when_listed() -> None:
    dropped = SchemaChange("fare", "dropped", "double", None, CRIT, "column 'fare' was dropped")
    empty = RunCheck("no_data", CRIT, "no data: partition missing", 0)
    low = RunCheck("volume", WARN, "volume collapsed: 10 rows", 10)
    rule = PageRule(warn_features=3)
    assert page([OK], [dropped], [], OK, rule).level is CRIT
    assert page([OK], [], [empty], OK, rule).reason == "no data: partition missing"
    assert page([OK], [], [low], OK, rule).level is WARN
    assert page([OK], [], [low], OK, PageRule(checks=("schema", "no_data"))).level is OK
    assert page([OK], [dropped], [], OK, PageRule(checks=())).level is OK
    assert page([WARN, WARN], [], [], WARN, PageRule(warn_features=3)).reason == "dataset drift"


def drift_job(tmp_path: Path, extra: str) -> Path:
    """Two features shifted, one at warn size and one at critical size, in a one-day job."""
    rng = np.random.default_rng(5)
    n = 20_000
    ref = {"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n), "c": rng.normal(0, 1, n)}
    cur = {"a": rng.normal(0.45, 1, n), "b": rng.normal(0.8, 1, n), "c": rng.normal(0, 1, n)}
    write_parquet(tmp_path / "ref" / "r.parquet", pa.table(ref))
    write_parquet(tmp_path / "cur" / "dt=2026-03-01" / "c.parquet", pa.table(cur))
    path = tmp_path / "job.yaml"
    path.write_text("dataset: d\nreference: ref/\ncurrent: 'cur/dt={ds}/'\noutput: out/\n" + extra)
    return path


def test_fail_on_follows_the_page_rule_and_says_why_it_did_not_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = "thresholds: {warn: 0.05, critical: 10}\ndataset_drift: {share: 1}\nalerts: {page: {warn_features: 3}}\n"
    path = drift_job(tmp_path, extra)
    args = ["run", "--config", str(path), "--date", "2026-03-01", "--format", "json"]
    assert cli.main([*args, "--fail-on", "warn"]) == 0  # 2 features at warn: the page needs 3
    doc = json.loads(capsys.readouterr().out)
    assert [f["severity"] for f in doc["features"]] == ["warn", "warn", "ok"]  # rows stay as they are
    assert doc["verdict"]["paged"] == "ok"
    assert doc["verdict"]["details"][0] == "Not paged: 2 features at warn or above; alerts.page needs 3"
    path.write_text(path.read_text().replace("warn_features: 3", "warn_features: 2"))
    assert cli.main([*args, "--fail-on", "warn"]) == 1  # exactly when the rule fires at warn or above
    assert json.loads(capsys.readouterr().out)["verdict"]["paged"] == "warn"
    assert cli.main([*args, "--fail-on", "critical"]) == 0
    rows = pq.read_table(tmp_path / "out" / "d" / "dt=2026-03-01" / "metrics.parquet").to_pylist()
    assert {(r["paged"], r["page_reason"]) for r in rows} == {("warn", "2 features at warn or above")}


# --- presets --------------------------------------------------------------------------------------------


def test_a_preset_expands_key_by_key_under_the_config() -> None:
    job = {"dataset": "d", "reference": "r", "current": "c", "output": "o"}
    cfg: Any = coerce_config({**job, "preset": "pipeline-health", "alerts": {"fail_on": "warn"}})
    assert (cfg.baseline.window, cfg.baseline.quarantine, cfg.thresholds.calibrate.method) == ("rolling", "warn", "mad")
    assert (cfg.alerts.fail_on, cfg.alerts.page.warn_features) == ("warn", 2)  # fail_on kept the page rule
    cfg = coerce_config({**job, "preset": "pipeline-health", "baseline": {"intervals": 14}})
    assert (cfg.baseline.window, cfg.baseline.intervals, cfg.baseline.max_lookback) == ("rolling", 14, 56)
    assert coerce_config({**job}).baseline.window == "fixed"  # model-inputs stays the default
    # an ad-hoc comparison has no baseline: the preset's other keys apply
    assert coerce_config({"preset": "pipeline-health"}).alerts.page.warn_features == 2


def test_presets_are_documented_keys() -> None:
    assert preset_keys("pipeline-health") == {
        "baseline.window": "rolling",
        "baseline.intervals": 28,
        "baseline.quarantine": "warn",
        "baseline.max_lookback": 56,
        "baseline.accept_after": 7,
        "thresholds.calibrate.method": "mad",
        "thresholds.calibrate.warn_sd": 3,
        "thresholds.calibrate.critical_sd": 20,
        "alerts.page.critical_features": 1,
        "alerts.page.warn_features": 2,
    }
    assert expand({"preset": "model-inputs"}) == {"preset": "model-inputs", **PRESETS["model-inputs"]}
    page = (Path(__file__).resolve().parents[1] / "docs" / "presets.md").read_text()
    for name in PRESETS:
        for key, value in preset_keys(name).items():
            assert f"| `{key}` | `{value}` |" in page, (name, key)


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("preset: pipeline", "preset: expected 'model-inputs' or 'pipeline-health', got 'pipeline'"),
        ("baseline: {window: rolling, intervals: 4, min_intervals: 7}",
         r"baseline: min_intervals \(7\) must be <= intervals \(4\)"),
        ("baseline: {window: rolling, quarantine: warm}", "baseline.quarantine: expected 'none', 'warn' or 'critical'"),
        ("baseline: {window: rolling, intervals: 28, quarantine: warn, max_lookback: 10}",
         r"baseline: max_lookback \(10\) must be >= intervals \(28\)"),
        ("baseline: {window: rolling, quarantine: warn, min_intervals: 7, accept_after: 3}",
         r"baseline: accept_after \(3\) must be >= min_intervals \(7\)"),
        ("baseline: {window: rolling, max_lookback: 60}",
         "baseline: max_lookback and accept_after apply with quarantine: warn or critical"),
        ("thresholds: {calibrate: {method: bayes}}", "thresholds.calibrate.method: expected 'sd', 'mad' or 'conf"),
        ("alerts: {page: {warn_features: 0}}", "alerts.page.warn_features: expected greater than or equal to 1, got 0"),
        ("alerts: {page: {checks: [schema, drift]}}", r"alerts.page.checks.1: expected 'schema', 'volume'"),
        ("alerts: {page: {warn: 2}}", "alerts.page.warn: unknown key; expected one of: checks, critical_features"),
    ],
    ids=["preset", "min-intervals", "quarantine", "lookback", "accept-after", "lookback-without-quarantine",
         "method", "warn-features", "checks", "page-key"],
)  # fmt: skip
def test_config_errors_name_the_keys(tmp_path: Path, yaml: str, expected: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(f"dataset: d\nreference: r/\ncurrent: c/\noutput: o/\n{yaml}\n")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_min_intervals_defaults_to_at_most_intervals() -> None:
    b = Baseline(window="rolling", intervals=4)
    assert (b.min_count, b.lookback, b.accept_count) == (4, 8, 4)
    assert Baseline(window="rolling").min_count == 7


def test_calibrate_spread_is_still_read_as_method() -> None:
    cfg = coerce_config({"thresholds": {"calibrate": {"spread": "mad"}}})
    assert cfg.thresholds.calibrate is not None
    assert cfg.thresholds.calibrate.method == "mad"


# --- conformal thresholds -------------------------------------------------------------------------------


def test_conformal_thresholds_exceed_every_leave_one_out_value() -> None:
    from kldrift.calibration import calibrate
    from kldrift.histogram import Histogram
    from kldrift.pipeline import fit

    rng = np.random.default_rng(11)
    profile = fit(pa.table({"x": rng.choice(4, 500)}), config={"binning": {"discrete_max_values": 10}})
    spec = profile.spec
    n_bins = spec.features[0].n_bins
    parts = [np.bincount(rng.choice(4, 300, p=[0.4, 0.3, 0.2, 0.1]), minlength=n_bins) for _ in range(9)]
    hists = [Histogram(spec.fingerprint, int(p.sum()), {"x": np.asarray(p, np.int64)}, {}) for p in parts]
    config = coerce_config({"thresholds": {"warn": 1e-6, "critical": 2.5e-6, "calibrate": {"method": "conformal"}}})
    cal = calibrate(hists, profile, config)
    # direct: each interval's KL against the sum of the other 8, smoothed with 0.5 over the bins seen
    total = np.sum(parts, axis=0)
    keep = total > 0
    loo = []
    for part in parts:
        p = (part[keep] + 0.5) / (part[keep].sum() + 0.5 * keep.sum())
        rest = total[keep] - part[keep]
        q = (rest + 0.5) / (rest.sum() + 0.5 * keep.sum())
        loo.append(float(special.rel_entr(p, q).sum()))
    warn, critical = cal.thresholds["x"]
    assert warn == pytest.approx(max(loo), rel=1e-12)
    assert warn > max(loo)  # exceeding all 9, never tying one: p <= 1/10
    assert critical == pytest.approx(2.5 * warn, rel=1e-12)  # the configured critical/warn ratio
    assert cal.method == "conformal"


# --- a real year's worth of runs, in small ----------------------------------------------------------


def step_job(tmp_path: Path, days: int, step_from: int) -> tuple[Path, list[str]]:
    """``days`` daily partitions of two features; from day ``step_from`` on, ``x`` sits 1.5 sd higher for good."""
    rng = np.random.default_rng(19)
    write_parquet(
        tmp_path / "ref" / "r.parquet",
        pa.table({"x": rng.normal(0, 1, 3_000), "c": rng.choice(np.array(["a", "b", "c"]), 3_000)}),
    )
    dates = [(dt.date(2026, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(days)]
    for i, d in enumerate(dates):
        x = rng.normal(1.5 if i >= step_from else 0.0, 1, 400)
        table = pa.table({"x": x, "c": rng.choice(np.array(["a", "b", "c"]), 400)})
        write_parquet(tmp_path / "cur" / f"dt={d}" / "p.parquet", table)
    path = tmp_path / "job.yaml"
    path.write_text("dataset: d\nreference: ref/\ncurrent: 'cur/dt={ds}/'\noutput: out/\npreset: pipeline-health\n")
    return path, dates


def run_json(path: Path, date: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert cli.main(["-q", "run", "--config", str(path), "--date", date, "--format", "json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


@pytest.mark.slow
def test_a_step_change_lasting_60_days_pages_for_a_week_then_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, dates = step_job(tmp_path, 28 + 60, step_from=28)
    docs = [run_json(path, d, capsys) for d in dates]
    paged = [i for i, d in enumerate(docs) if d["verdict"]["paged"] != "ok"]
    # accept_after 7: the step's first 7 days page (each compared with the 28 days before the step) ...
    assert paged == list(range(28, 35))
    # nothing paged before the step (the days before the first partition have no data)
    assert all("paged" not in s for i in range(7, 29) for s in docs[i]["baseline"]["skipped"])
    assert docs[34]["baseline"]["skipped"][:6] == [f"{dates[i]}: paged critical" for i in range(33, 27, -1)]
    assert docs[34]["baseline"]["used"][-1] == dates[27]  # the window reached back over the paged days
    # ... and on the 8th day the stretch is the new level, said in the run
    accepted = docs[35]["baseline"]
    assert accepted["since"] == dates[28]
    assert accepted["used"] == dates[28:35]
    assert (
        "accepted a lasting change: the 7 latest intervals paged; their level since 2026-01-29"
        in (accepted["description"])
    )
    # later windows hold to the new level: never a day before it, the accepted days healthy
    for i in range(36, 88):
        b = docs[i]["baseline"]
        assert b["since"] == dates[28]
        assert b["used"][0] >= dates[28]
        assert len(b["used"]) == min(28, i - 28)
    # a rerun with the same history writes the same bytes
    run_dir = tmp_path / "out" / "d" / f"dt={dates[40]}"
    before = {n: (run_dir / n).read_bytes() for n in ("alerts.jsonl", "metrics.parquet")}
    run_json(path, dates[40], capsys)
    assert {n: (run_dir / n).read_bytes() for n in before} == before


@pytest.mark.slow
def test_pipeline_health_pages_on_one_broken_column_not_on_a_wobble(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A month of ordinary days, then a day whose ``x`` arrives all null: one feature, and it pages."""
    path, dates = step_job(tmp_path, 31, step_from=10_000)  # no step: 31 ordinary days
    broken = tmp_path / "cur" / f"dt={dates[-1]}" / "p.parquet"
    table = pq.read_table(broken)
    write_parquet(broken, table.set_column(0, "x", pa.nulls(table.num_rows, pa.float64())))
    docs = [run_json(path, d, capsys) for d in dates]
    assert [d["verdict"]["paged"] for d in docs[:-1]] == ["ok"] * 30  # ordinary days: quiet
    last = docs[-1]
    assert last["verdict"]["paged"] == "critical"
    assert last["verdict"]["page_reason"].startswith("1 feature critical")  # (half the features: dataset drift)
    assert next(f["severity"] for f in last["features"] if f["feature"] == "x") == "critical"
    assert last["baseline"]["calibration"] == "mad"  # ran, though the spread raised no threshold here


@pytest.mark.slow
def test_a_schema_change_every_interval_of_the_window_shows_is_no_news(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every day carries a column the reference lacks (a pandas index, say): against a window of such days it is
    the recent normal, not a page; a column dropped today still is."""
    path, dates = step_job(tmp_path, 12, step_from=10_000)
    for i, d in enumerate(dates):
        f = tmp_path / "cur" / f"dt={d}" / "p.parquet"
        table = pq.read_table(f).append_column("__index_level_0__", pa.array(range(400), pa.int64()))
        write_parquet(f, table.drop_columns(["c"]) if i == len(dates) - 1 else table)
    path.write_text(path.read_text() + "baseline: {min_intervals: 3}\n")
    docs = [run_json(path, d, capsys) for d in dates]
    added = [next(s for s in doc["schema"] if s["change"] == "added") for doc in docs]
    assert [a["severity"] for a in added[:3]] == ["warn"] * 3  # the window too short: against the reference
    assert [d["verdict"]["paged"] for d in docs[:3]] == ["warn"] * 3
    assert {a["severity"] for a in added[3:]} == {"ok"}  # every interval of the window showed it
    assert added[5]["message"].endswith("(as in every interval of the baseline: not new)")
    assert [d["verdict"]["paged"] for d in docs[3:-1]] == ["ok"] * 8
    dropped = [s for s in docs[-1]["schema"] if s["change"] == "dropped"]
    assert [(s["column"], s["severity"]) for s in dropped] == [("c", "critical")]
    assert docs[-1]["verdict"]["paged"] == "critical"
