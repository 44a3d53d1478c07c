"""The scheduled job with segments: files, reruns byte for byte, the fan-out, history, and baselines per segment.

Ten days of three regions (2,000 rows each); on day 8 the east region's ``x`` shifts by one standard
deviation. Expected severities follow from that construction (see test_segments_scoring.py for the
numbers); window contents are checked against counts of each day's file made here with
``count_segments`` (pinned by test_segments.py) and the quarantine rule of docs/baselines.md.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_parquet

from kldrift import cli
from kldrift.airflow import tasks
from kldrift.calibration import calibrate
from kldrift.config import load_config
from kldrift.interval import Interval
from kldrift.pipeline import count_shard, load_or_fit_profile, plan_shards, run
from kldrift.segbaseline import SegmentHistory, choose_baselines
from kldrift.segcount import count_segments
from kldrift.sources import open_source

DAYS = [(dt.date(2026, 3, 1) + dt.timedelta(days=i)).isoformat() for i in range(10)]
SHIFT_DAY = 7  # 2026-03-08


def day_table(seed: int, *, shift: float = 0.0, n: int = 2_000) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {"region": [], "x": [], "c": []}
    for r in ("north", "south", "east"):
        x = rng.normal(size=n) + (shift if r == "east" else 0.0)
        cols["region"] += [r] * n
        cols["x"] += x.tolist()
        cols["c"] += rng.choice(list("abcd"), n).tolist()
    return pa.table(cols)


def make_job(root: Path, extra: str = "") -> Path:
    write_parquet(root / "ref" / "a.parquet", day_table(0, n=6_000))
    for i, day in enumerate(DAYS):
        t = day_table(100 + i, shift=1.0 if i == SHIFT_DAY else 0.0)
        half = t.num_rows // 2  # two files a day, so the fan-out has shards
        write_parquet(root / "cur" / f"dt={day}" / "a.parquet", t.slice(0, half), row_group_size=1000)
        write_parquet(root / "cur" / f"dt={day}" / "b.parquet", t.slice(half), row_group_size=1000)
    path = root / "job.yaml"
    path.write_text(
        "dataset: seg\nreference: ref/\ncurrent: cur/dt={ds}/\noutput: out/\n"
        "segments: {columns: [region], max: 10, min_rows: 200}\n" + extra
    )
    return path


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_job(tmp_path_factory.mktemp("segjob"))
    for day in DAYS:
        assert cli.main(["-q", "run", "--config", str(path), "--date", day]) == 0
    return path


def folder(job: Path, day: str) -> Path:
    return job.parent / "out" / "seg" / f"dt={day}"


def test_the_shift_day_alerts_in_its_segment_only(job: Path) -> None:
    alerts = [json.loads(line) for line in (folder(job, DAYS[SHIFT_DAY]) / "alerts.jsonl").read_text().splitlines()]
    assert [(a["check"], a["feature"], a["segment"], a["severity"]) for a in alerts] == [
        ("drift", "x", {"region": "east"}, "critical")
    ]
    for day in DAYS[:SHIFT_DAY]:
        assert (folder(job, day) / "alerts.jsonl").read_text() == ""
    page = (folder(job, DAYS[SHIFT_DAY]) / "report.html").read_text()
    assert '<table class="heat" id="heatmap">' in page
    assert 'href="#s-0" title="x · region=east: kl' in page  # the worst segment comes first
    index = (job.parent / "out" / "seg" / "index.html").read_text()
    assert "worst segment" in index
    assert "region=east" in index


def test_a_rerun_writes_the_same_bytes(job: Path) -> None:
    day = DAYS[SHIFT_DAY]
    before = {n: (folder(job, day) / n).read_bytes() for n in ("alerts.jsonl", "metrics.parquet", "report.html")}
    assert cli.main(["-q", "run", "--config", str(job), "--date", day]) == 0
    after = {n: (folder(job, day) / n).read_bytes() for n in before}
    assert before == after


def test_the_fan_out_merges_to_the_same_files(job: Path, tmp_path: Path) -> None:
    config = load_config(job)
    day = DAYS[SHIFT_DAY]
    interval = Interval.for_date(day)
    profile = load_or_fit_profile(config)
    shards = plan_shards(config, interval, 3)
    assert len(shards) >= 2
    partials = [count_shard(config, interval, s, profile) for s in shards]
    assert all(set(p) >= {"segments", "rows", "counts", "new"} for p in partials)
    info = {"path": config.profile_path(), "fingerprint": profile.fingerprint}
    before = {n: (folder(job, day) / n).read_bytes() for n in ("alerts.jsonl", "metrics.parquet")}
    plan = [s.to_json() for s in shards]  # what XCom carries
    summary = tasks.score_and_write(str(job), interval, info, json.loads(json.dumps(partials)), plan)
    assert summary["worst"] == "critical"
    assert {n: (folder(job, day) / n).read_bytes() for n in before} == before


def test_history_of_a_segment(job: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["history", "--config", str(job), "--segment", "region=east", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["segment"] for r in rows} == {"region=east"}
    shifted = {r["feature"]: r["severity"] for r in rows if r["date"] == DAYS[SHIFT_DAY]}
    assert shifted == {"x": "critical", "c": "ok"}
    assert cli.main(["history", "--config", str(job), "--segment", "region=west"]) == 2
    err = capsys.readouterr().err
    assert "--segment region=west: no such segment in the runs under" in err
    assert err.strip().endswith("segments: region=east, region=north, region=south")


def test_history_of_runs_without_segments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_job(tmp_path)
    path.write_text(path.read_text().replace("segments: {columns: [region], max: 10, min_rows: 200}\n", ""))
    assert cli.main(["-q", "run", "--config", str(path), "--date", DAYS[0]]) == 0
    assert cli.main(["history", "--config", str(path), "--segment", "region=east"]) == 2
    assert "were not scored per segment (segments: in the config)" in capsys.readouterr().err


# --- baselines per segment ---------------------------------------------------------------------------------

WINDOW = "baseline: {window: rolling, intervals: 4, min_intervals: 3, quarantine: critical}\n"


@pytest.fixture(scope="module")
def windowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_job(tmp_path_factory.mktemp("segwin"), WINDOW)
    for day in DAYS:
        assert cli.main(["-q", "run", "--config", str(path), "--date", day]) == 0
    return path


def _segment_rows(path: Path) -> dict[str, dict[str, Any]]:
    rows = pq.read_table(path).to_pylist()
    return {dict(r["segment"])["region"]: r for r in rows if r["segment"] and r["check"] == "segment"}


def test_quarantine_leaves_out_the_day_a_segment_paged_from_that_segment_only(windowed: Path) -> None:
    day9 = _segment_rows(folder(windowed, DAYS[SHIFT_DAY + 1]) / "metrics.parquet")
    assert day9["east"]["segment_paged"] == "ok"
    assert day9["east"]["baseline_skipped"] == [f"{DAYS[SHIFT_DAY]}: paged critical"]
    assert day9["east"]["baseline_used"] == DAYS[SHIFT_DAY - 4 : SHIFT_DAY]  # reached one day further back
    assert day9["north"]["baseline_skipped"] == []
    assert day9["north"]["baseline_used"] == DAYS[SHIFT_DAY - 3 : SHIFT_DAY + 1]
    whole = pq.read_table(folder(windowed, DAYS[SHIFT_DAY + 1]) / "metrics.parquet").to_pylist()[0]
    assert whole["baseline_used"] == DAYS[SHIFT_DAY - 3 : SHIFT_DAY + 1]  # the whole table did not page that day
    shift = _segment_rows(folder(windowed, DAYS[SHIFT_DAY]) / "metrics.parquet")
    assert (shift["east"]["segment_paged"], shift["north"]["segment_paged"]) == ("critical", "ok")


def test_windows_come_from_saved_metrics_and_match_the_days_counts(windowed: Path) -> None:
    config = load_config(windowed)
    profile = load_or_fit_profile(config)
    assert profile.segments is not None
    interval = Interval.for_date(DAYS[SHIFT_DAY + 1])
    history = SegmentHistory(config, profile)
    whole, parts = choose_baselines(config, interval, profile)
    east = [s.values for s in profile.segments.spec.segments].index(("east",))
    expected = None
    for day in parts[east].info.used:  # each used day's file counted per segment, here
        h, _ = count_segments(
            profile.spec, profile.segments.spec, open_source(str(windowed.parent / "cur" / f"dt={day}"))
        )
        expected = h.part(east) if expected is None else expected + h.part(east)
    assert expected is not None
    for name, c in parts[east].counts.counts.items():
        if name != "region":
            assert c.tolist() == expected.counts[name].tolist(), name
    assert whole.read == ()
    assert history.read == []


LOW = "thresholds: {warn: 0.0001, critical: 0.0002, calibrate: {warn_sd: 3, critical_sd: 5}}\n"
"""Thresholds under the day-to-day noise of the KL (~0.001 at 2,000 rows): calibration raises them."""


def test_segments_calibrate_on_their_own_intervals(tmp_path: Path) -> None:
    path = make_job(tmp_path, WINDOW.replace("quarantine: critical", "quarantine: none") + LOW)
    for day in DAYS[:6]:
        assert cli.main(["-q", "run", "--config", str(path), "--date", day]) == 0
    config = load_config(path)
    profile = load_or_fit_profile(config)
    assert profile.segments is not None
    interval = Interval.for_date(DAYS[6])
    _, parts = choose_baselines(config, interval, profile)
    for i, base in enumerate(parts[:3]):
        days = [open_source(str(tmp_path / "cur" / f"dt={d}")) for d in base.info.used]
        hists = [count_segments(profile.spec, profile.segments.spec, s)[0].part(i) for s in days]
        assert base.calibration == calibrate(hists, profile.segment(i), config)
    rows = pq.read_table(run(config, interval, deliver=False).paths["metrics"]).to_pylist()
    seg_rows = [r for r in rows if r["segment"] and r["check"] == "drift"]
    assert seg_rows
    assert all(r["calibrated"] for r in seg_rows)
    assert len({r["threshold_warn"] for r in seg_rows}) == len(seg_rows)  # each segment x feature its own


def test_the_page_stays_small_at_50_segments_x_50_features() -> None:
    """The issue's bound: under 5 MB at 50 segments x 50 features, every segment drifting in every feature
    (the most rows, cells and charts a page can hold: the charts stop at MAX_CHARTS)."""
    from kldrift.binning import BinSpec, FeatureSpec
    from kldrift.config import coerce_config
    from kldrift.outputs.metrics import metrics_table
    from kldrift.outputs.report.heatmap import MAX_CHARTS
    from kldrift.outputs.report.page import render_report
    from kldrift.profile import Profile
    from kldrift.scoring import Findings
    from kldrift.segcount import SegmentedHistogram
    from kldrift.segments import SegmentSpec
    from kldrift.segprofile import SegmentProfile
    from kldrift.segscore import score_segmented

    rng = np.random.default_rng(5)
    edges = tuple(float(e) for e in np.linspace(-2, 2, 9))
    spec = BinSpec(tuple(FeatureSpec(f"feature_{i:02d}", "numeric", "number", edges=edges) for i in range(50)))
    seg = SegmentSpec(("region",), tuple((f"region_{j:02d}",) for j in range(50)))

    def counts(p: np.ndarray[Any, Any]) -> SegmentedHistogram:
        m = {f.name: np.zeros((seg.n, f.n_bins), np.int64) for f in spec.features}
        for f in spec.features:
            m[f.name][:50, :10] = rng.multinomial(1_000, p, size=50)
        return SegmentedHistogram(spec.fingerprint, seg.fingerprint, (1_000,) * 50 + (0,), m)

    ref = counts(np.full(10, 0.1))
    profile = Profile(spec, ref.whole(), "", segments=SegmentProfile(seg, ref))
    shifted = np.array([0.02] * 5 + [0.18] * 5)  # every feature in every segment: KL ~0.4, critical
    settings = coerce_config({"segments": {"columns": ["region"], "max": 50}})
    report = score_segmented(profile, counts(shifted), settings, findings=Findings())
    assert report.segments is not None
    assert len(report.segments.alerts) == 2_500
    page = render_report(metrics_table(report, dataset="d", date="2026-03-01"), settings=settings)
    assert len(page.encode()) < 5_000_000
    assert page.count('class="feature seg-feature"') == MAX_CHARTS
    assert page.count('<td class="h4 m-critical">') == 2_500
