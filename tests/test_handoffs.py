"""Issue 20: what the steps hand each other are typed values, written and read in one place each.

The Airflow plan (``Shard``: files as ``FileInfo``, ``missing``, ``absent``) and a run's summary
(``RunSummary``) cross XCom as JSON; their ``to_json`` / ``from_json`` round-trip, and anything
else is a one-line error naming what it is not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_parquet

from kldrift.config import load_config
from kldrift.errors import KLDriftError, SourceError
from kldrift.files import FileInfo
from kldrift.partitions import Shard, plan_shards, planned_files, planned_scan
from kldrift.pipeline import run
from kldrift.summary import RunSummary

DAY = "2026-03-02"


@pytest.fixture
def job(tmp_path: Path) -> Path:
    rng = np.random.default_rng(8)
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": rng.normal(size=2_000)}))
    (tmp_path / "cur" / f"dt={DAY}").mkdir(parents=True)
    cur = tmp_path / "cur" / f"dt={DAY}" / "a.parquet"
    pq.write_table(pa.table({"x": rng.normal(size=4_000)}), cur, row_group_size=1_000)
    config = tmp_path / "job.yaml"
    config.write_text("dataset: h\nreference: ref/\ncurrent: 'cur/dt={ds}/'\noutput: out/\n")
    return config


def test_a_plan_round_trips_through_json_and_counts_what_it_planned(job: Path) -> None:
    config = load_config(job)
    interval = config.schedule_of().for_date(DAY)
    plan = plan_shards(config, interval, max_shards=2)
    assert [[f.row_groups for f in s.files] for s in plan] == [[(0, 2)], [(2, 4)]]  # one file, split by row groups
    sent = json.loads(json.dumps([s.to_json() for s in plan]))  # what XCom stores
    assert [Shard.from_json(s) for s in sent] == plan
    path = str(job.parent / "cur" / f"dt={DAY}" / "a.parquet")
    assert [s.label for s in plan] == ["a.parquet#row_groups=0-2", "a.parquet#row_groups=2-4"]
    assert sent[0]["files"][0] == {"path": path, "size": plan[0].files[0].size, "mtime": plan[0].files[0].mtime,
                                   "row_groups": [0, 2]}  # fmt: skip
    rows = [planned_scan(config, interval, s)[0].count_rows() for s in plan]
    assert rows == [2_000, 2_000]  # hand: 4 row groups of 1,000 rows, two each
    scan, missing = planned_files(config, interval, plan)
    assert (missing, [f.label for f in scan.files]) == (None, [path])  # whole, once


def test_a_file_removed_after_planning_is_a_transient_error_of_the_shard(job: Path) -> None:
    config = load_config(job)
    interval = config.schedule_of().for_date(DAY)
    (shard,) = plan_shards(config, interval, max_shards=1)
    (job.parent / "cur" / f"dt={DAY}" / "a.parquet").unlink()  # gone between plan and count
    with pytest.raises(
        SourceError, match=rf"^current data for {DAY}: .*a\.parquet: no such file \(it was removed while reading\)$"
    ) as info:
        planned_scan(config, interval, shard)
    assert info.value.transient  # I/O: retried (a partition rewritten in place is back a moment later)


def test_a_missing_partition_is_one_shard_that_says_why(job: Path) -> None:
    config = load_config(job)
    interval = config.schedule_of().for_date("2026-03-09")
    (plan,) = plan_shards(config, interval)
    assert plan.files == ()
    assert plan.missing is not None
    assert plan.missing.startswith("current data for 2026-03-09: ")
    assert plan.label == "no files (partition missing)"
    assert planned_scan(config, interval, Shard.from_json(plan.to_json())) == (None, plan.missing)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"files": [{"path": "a.parquet"}]}, r"^malformed shard of a plan: KeyError: 'size'$"),
        ({"files": "a.parquet"}, r"^malformed shard of a plan: AttributeError: "),
        ({"files": [{"path": "a", "size": 1, "row_groups": [3]}]}, r"^malformed shard of a plan: IndexError: "),
    ],
    ids=["no-size", "a-string", "half-a-range"],
)
def test_a_malformed_shard_is_one_line(data: dict[str, object], message: str) -> None:
    with pytest.raises(KLDriftError, match=message):
        Shard.from_json(data)


def test_a_run_summary_round_trips_and_reads_old_and_new_writers(job: Path) -> None:
    config = load_config(job)
    summary = run(config, config.schedule_of().for_date(DAY), deliver=False).summary()
    assert isinstance(summary, RunSummary)
    sent = json.loads(json.dumps(summary.to_json()))
    assert RunSummary.from_json(sent) == summary
    assert (summary.dataset, summary.date, summary.alerts) == ("h", DAY, ())
    assert set(summary.paths) >= {"alerts", "metrics", "manifest", "report"}
    older = {k: v for k, v in sent.items() if k not in ("webhook", "deliveries", "drift_share")}
    assert RunSummary.from_json(older).drift_share == 0.0  # a field it lacks: its default
    newer = {**sent, "page_rule": "a later field"}
    assert RunSummary.from_json(newer) == summary  # a key it does not know: left out
    assert "drifted" not in summary.line()
    assert summary.line().startswith(f"kldrift h {DAY}: ok, ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], r"^not a kldrift run summary: list without dataset and date$"),
        ({"date": DAY}, r"^not a kldrift run summary: dict without dataset and date$"),
        (None, r"^not a kldrift run summary: NoneType without dataset and date$"),
    ],
    ids=["a-list", "no-dataset", "none"],
)
def test_what_is_not_a_summary_is_named(data: object, message: str) -> None:
    with pytest.raises(KLDriftError, match=message):
        RunSummary.from_json(data)
    assert RunSummary.read(data) is None  # another task's XCom value: not a summary, no error


def test_file_info_json_and_label() -> None:
    part = FileInfo("s3://lake/a,b.parquet", 10, 1.5, (2, 4))
    assert FileInfo.from_json(json.loads(json.dumps(part.to_json()))) == part
    assert part.label == "s3://lake/a,b.parquet#row_groups=2-4"  # shown, never parsed back
    assert part.whole() == FileInfo("s3://lake/a,b.parquet", 10, 1.5)
