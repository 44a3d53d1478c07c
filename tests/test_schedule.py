"""A job's schedule decides its data intervals; ``{day}`` and lists make one run read several partitions.

Expected intervals are hand-made from the calendar (July has 31 days; clocks in
Paris move forward on 2026-03-29), checked against what Airflow's
``CronDataIntervalTimetable`` would give for the same cron expression.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import one_error, write_parquet

from kldrift import cli
from kldrift.config import load_config
from kldrift.errors import ConfigError
from kldrift.interval import Interval
from kldrift.schedule import Schedule

UTC = dt.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def at(*args: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


@pytest.mark.parametrize(
    ("expression", "timezone", "date", "start", "end"),
    [
        ("@daily", "UTC", "2026-07-15", at(2026, 7, 15), at(2026, 7, 16)),
        ("@monthly", "UTC", "2026-07-01", at(2026, 7, 1), at(2026, 8, 1)),
        ("@monthly", "UTC", "2026-07-15", at(2026, 7, 1), at(2026, 8, 1)),  # the month that holds the date
        ("@weekly", "UTC", "2026-07-15", at(2026, 7, 12), at(2026, 7, 19)),  # Sunday to Sunday
        ("0 6 * * *", "UTC", "2026-07-15", at(2026, 7, 15, 6), at(2026, 7, 16, 6)),
        ("@hourly", "UTC", "2026-07-15", at(2026, 7, 15), at(2026, 7, 16)),  # an hourly job: the whole day
        # Paris, the night clocks move forward: a day of 23 hours
        ("@daily", "Europe/Paris", "2026-03-29", at(2026, 3, 29, tz=PARIS), at(2026, 3, 30, tz=PARIS)),
    ],
)
def test_a_date_means_the_schedules_interval(
    expression: str, timezone: str, date: str, start: dt.datetime, end: dt.datetime
) -> None:
    interval = Schedule(expression, timezone).for_date(date)
    assert (interval.start, interval.end) == (start, end)


def test_previous_intervals_step_by_the_schedule() -> None:
    monthly = Schedule("@monthly")
    july = monthly.for_date("2026-07-01")
    assert monthly.previous(july) == Interval(at(2026, 6, 1), at(2026, 7, 1))
    assert monthly.previous(july, 5) == Interval(at(2026, 2, 1), at(2026, 3, 1))  # February: 28 days
    daily = Schedule("@daily", "Europe/Paris")
    day = daily.for_date("2026-03-30")
    back = daily.previous(day)
    assert (back.start, back.end) == (at(2026, 3, 29, tz=PARIS), at(2026, 3, 30, tz=PARIS))
    assert back.end.astimezone(UTC) - back.start.astimezone(UTC) == dt.timedelta(hours=23)
    # an interval that is not the schedule's (a day of an hourly job) steps back by its own length
    hourly = Schedule("@hourly")
    assert hourly.previous(hourly.for_date("2026-07-15"), 2) == Interval.for_date("2026-07-13")
    with pytest.raises(ValueError, match="steps must be at least 1"):
        daily.previous(day, 0)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("schedule", "'every day'", "schedule: 'every day' is not a cron expression (say @daily, @monthly"),
        ("timezone", "Mars/Olympus", "timezone: unknown time zone 'Mars/Olympus'; use an IANA name"),
    ],
)
def test_a_bad_schedule_is_a_config_error(tmp_path: Path, key: str, value: str, expected: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(f"dataset: a\nreference: r/\ncurrent: 'c/{{ds}}/'\noutput: o/\n{key}: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_day_renders_one_path_per_day_and_ds_the_start(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("dataset: a\nreference: r/\ncurrent: ['c/dt={day}/', 'extra/{ds_nodash}.parquet']\noutput: o/\n")
    config = load_config(path)
    week = Schedule("@weekly").for_date("2026-07-15")
    paths = config.current_source(week)
    assert isinstance(paths, list)
    days = [f"2026-07-{d}" for d in range(12, 19)]
    assert paths == [str(tmp_path / "c" / f"dt={d}") for d in days] + [str(tmp_path / "extra" / "20260712.parquet")]
    # a one-day interval: one path per template, as before
    assert config.current_source(Interval.for_date("2026-07-15"))[0] == str(tmp_path / "c" / "dt=2026-07-15")


def _monthly_job(tmp_path: Path, days: list[str]) -> Path:
    rng = np.random.default_rng(7)
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": rng.normal(size=3_000)}))
    for i, d in enumerate(days):
        write_parquet(tmp_path / "cur" / f"dt={d}" / "a.parquet", pa.table({"x": rng.normal(size=100 + i)}))
    path = tmp_path / "job.yaml"
    path.write_text("dataset: m\nreference: ref/\ncurrent: 'cur/dt={day}/'\noutput: out/\nschedule: '@monthly'\n")
    return path


def test_a_monthly_run_reads_every_day_of_its_month(tmp_path: Path) -> None:
    july = [f"2026-07-{d:02d}" for d in range(1, 32)]
    path = _monthly_job(tmp_path, [*july, "2026-08-01"])  # August's first day is not July's
    assert cli.main(["-q", "run", "--config", str(path), "--date", "2026-07-01"]) == 0
    folder = tmp_path / "out" / "m" / "dt=2026-07-01"
    rows = pq.read_table(folder / "metrics.parquet").to_pylist()
    x = next(r for r in rows if r["feature"] == "x")
    assert x["n_current"] == sum(100 + i for i in range(31))  # hand: 31 files of 100, 101, ... rows
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["interval"] == {"start": "2026-07-01T00:00:00+00:00", "end": "2026-08-01T00:00:00+00:00"}
    assert len(manifest["inputs"]["current"]["files"]) == 31
    volume = next(r for r in rows if r["check"] == "volume")
    assert "not there" not in volume["message"]


def test_missing_days_are_named_and_warned(tmp_path: Path) -> None:
    july = [f"2026-07-{d:02d}" for d in range(1, 32) if d not in (4, 5)]
    path = _monthly_job(tmp_path, july)
    assert cli.main(["-q", "run", "--config", str(path), "--date", "2026-07-01"]) == 0
    rows = pq.read_table(tmp_path / "out" / "m" / "dt=2026-07-01" / "metrics.parquet").to_pylist()
    volume = next(r for r in rows if r["check"] == "volume")
    assert volume["severity"] == "warn"
    assert volume["message"].endswith(
        f"; 2 of the interval's paths not there: {tmp_path}/cur/dt=2026-07-04, {tmp_path}/cur/dt=2026-07-05"
    )


def test_a_plan_names_the_days_not_there_as_planned(tmp_path: Path) -> None:
    from kldrift.pipeline import plan_shards, planned_files

    july = [f"2026-07-{d:02d}" for d in range(1, 32) if d not in (4, 5)]
    config = load_config(_monthly_job(tmp_path, july))
    interval = config.schedule_of().for_date("2026-07-01")
    plan = plan_shards(config, interval)
    gone = [f"{tmp_path}/cur/dt=2026-07-04", f"{tmp_path}/cur/dt=2026-07-05"]
    assert [p for shard in plan for p in shard.absent] == gone
    # the 4th arrives after planning: its files were not counted, so scoring still names it
    write_parquet(tmp_path / "cur" / "dt=2026-07-04" / "a.parquet", pa.table({"x": [0.0]}))
    scan, missing = planned_files(config, interval, plan)
    assert scan is not None
    assert (missing, scan.absent, len(scan.files)) == (None, tuple(gone), 29)


def test_no_day_there_is_no_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _monthly_job(tmp_path, ["2026-06-30"])
    assert cli.main(["-q", "run", "--config", str(path), "--date", "2026-07-01"]) == 0
    rows = pq.read_table(tmp_path / "out" / "m" / "dt=2026-07-01" / "metrics.parquet").to_pylist()
    (no_data,) = [r for r in rows if r["check"] == "no_data"]
    assert no_data["message"].startswith("no data: current data for 2026-07-01: none of its 31 paths is there: [")


def test_reference_and_current_as_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    for name in ("jan", "feb"):
        write_parquet(tmp_path / name / "a.parquet", pa.table({"x": rng.normal(size=1_000)}))
    write_parquet(tmp_path / "cur" / "dt=2026-03-01" / "a.parquet", pa.table({"x": rng.normal(size=500)}))
    path = tmp_path / "job.yaml"
    path.write_text("dataset: l\nreference: [jan/, feb/]\ncurrent: ['cur/dt={ds}/']\noutput: out/\n")
    assert cli.main(["-q", "run", "--config", str(path), "--date", "2026-03-01", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["n_reference"] for f in doc["features"]] == [2_000]
    path.write_text("dataset: l\nreference: []\ncurrent: c/\noutput: out/\n")
    assert cli.main(["run", "--config", str(path), "--date", "2026-03-01"]) == 2
    assert one_error(capsys.readouterr().err) == (f"{path}: reference: expected a path or a non-empty list of paths")


def test_a_glob_over_partition_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(5)
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": rng.normal(size=1_000)}))
    for day, n in ((1, 100), (2, 110), (3, 120), (10, 999)):  # the 10th is not dt=2026-01-0*
        write_parquet(
            tmp_path / "cur" / f"dt=2026-01-{day:02d}" / "part-0.parquet", pa.table({"x": rng.normal(size=n)})
        )
    (tmp_path / "cur" / "dt=2026-01-02" / "_SUCCESS").write_text("")  # a marker: not data
    path = tmp_path / "job.yaml"
    path.write_text("dataset: g\nreference: ref/\ncurrent: 'cur/dt=2026-01-0*/'\noutput: out/\n")
    assert cli.main(["-q", "run", "--config", str(path), "--date", "2026-01-05", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["n_current"] for f in doc["features"]] == [100 + 110 + 120]  # hand: the three folders' rows
    path.write_text("dataset: g\nreference: ref/\ncurrent: 'cur/dt=2026-02-*/'\noutput: out/\n")
    assert cli.main(["-q", "run", "--config", str(path), "--date", "2026-02-05", "--format", "json"]) == 0
    (no_data,) = [c for c in json.loads(capsys.readouterr().out)["checks"] if c["check"] == "no_data"]
    assert (
        no_data["message"]
        == f"no data: current data for 2026-02-05: {tmp_path}/cur/dt=2026-02-*: glob matched no files"
    )


@pytest.mark.parametrize(
    ("expression", "timezone", "day"),
    [
        ("@daily", "UTC", "2026-03-15"),
        ("@daily", "Europe/Paris", "2026-03-29"),  # clocks change in the walk back
        ("@monthly", "UTC", "2026-07-15"),
        ("0 6 * * 1", "America/New_York", "2026-11-02"),
        ("0 */6 * * *", "Europe/London", "2026-10-26"),
    ],
    ids=["daily", "daily-dst", "monthly", "weekly", "six-hourly"],
)
@pytest.mark.parametrize("step", [1, 7])
def test_before_walks_back_as_previous_does(expression: str, timezone: str, day: str, step: int) -> None:
    s = Schedule(expression, timezone)
    interval = s.for_date(day)
    if not s.is_tick_interval(interval):  # a day of a sub-daily job: take one of its ticks
        interval = s.previous(s.following(interval))
    # the oracle: previous() steps back tick by tick, once per interval asked for
    assert s.before(interval, 30, step=step) == [s.previous(interval, k * step) for k in range(1, 31)]


def test_before_needs_a_count_and_a_step() -> None:
    with pytest.raises(ValueError, match="count and step must be at least 1, got 0 and 1"):
        Schedule().before(Schedule().for_date("2026-01-02"), 0)
