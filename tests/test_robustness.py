"""Issue 11: every real-world file, value and config — no crash, no hang, no secret written, nothing lost.

Each case is one of the issue's examples, run through the CLI and the Python API on real Parquet files.
The rules chosen, in the words a data engineer would use:

* a value kldrift cannot represent exactly is read approximately, never a crash (ids above 2**53, a
  timestamp[s] holding nanoseconds, bytes that are not UTF-8);
* a file that disagrees with the others is a schema row for the columns it disagrees on, never a
  reason to stop scoring the rest; files named like notes beside the data are skipped and listed;
* listing a folder never follows a symlinked folder; a webhook attempt is bounded as a whole;
* a config is bounded in size and expansion; outputs stay outside the data they describe;
* secrets never reach a file or a log line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow_support import airflow_env, run_scenario
from helpers import one_error, write_parquet
from test_webhook import Hook

import kldrift
from kldrift import cli
from kldrift.config import load_config
from kldrift.errors import ConfigError
from kldrift.interval import Interval
from kldrift.pipeline import run

RNG = np.random.default_rng(1111)
N = 1_000
DAY = "2026-04-02"


def _job(tmp_path: Path, extra: str = "", *, current: str = "cur/dt={ds}/", output: str = "out/") -> Path:
    config = tmp_path / "job.yaml"
    config.write_text(f"dataset: job\nreference: ref/\ncurrent: {current}\noutput: {output}\n{extra}")
    return config


def _json_run(capsys: pytest.CaptureFixture[str], config: Path, date: str = DAY, *extra: str) -> dict[str, Any]:
    assert cli.main(["-q", "run", "--config", str(config), "--date", date, "--format", "json", *extra]) == 0
    return dict(json.loads(capsys.readouterr().out))


# --- values that crashed ------------------------------------------------------------------------------------


def test_ids_above_2_53_with_nulls_and_uint64_hashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = (1 << 62) + RNG.integers(0, 1 << 40, N)
    table = pa.table(
        {
            "snowflake_id": pa.array(ids, mask=RNG.random(N) < 0.05),
            "hash": pa.array(RNG.integers(0, 1 << 63, N).astype(np.uint64) * 2, pa.uint64()),
            "max": pa.array(np.full(N, np.iinfo(np.int64).max)),
            "x": RNG.normal(size=N),
        }
    )
    write_parquet(tmp_path / "ref" / "a.parquet", table)
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", table)
    doc = _json_run(capsys, _job(tmp_path, "features: {include: [snowflake_id, hash, max, x]}\n"))
    assert {f["feature"]: (f["kl"], f["severity"]) for f in doc["features"]} == dict.fromkeys(
        ("snowflake_id", "hash", "max", "x"), (0.0, "ok")
    )
    report = kldrift.compare(table, table)  # by default the unique ids are identifiers, not scored
    assert {c.name for c in report.unscored} == {"snowflake_id"}


def test_seconds_holding_nanoseconds(tmp_path: Path) -> None:
    ns = 1_764_000_000_000_000_000 + RNG.integers(0, 10**15, N)
    wrong_unit = pa.table({"t": pa.array(ns, pa.timestamp("s"))})  # "date value out of range" as microseconds
    report = kldrift.compare(wrong_unit, wrong_unit, config={"features": {"include": ["t"]}})
    assert (report["t"].kl, report["t"].severity) == (0.0, "ok")
    assert report.bins[0].labels[1]  # labels of instants beyond year 9999 are numbers, not a crash


def test_bytes_that_are_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latin1 = [s.encode("latin-1") for s in ("café", "naïve", "plain")] * (N // 3)
    data = b"".join(latin1)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in latin1])]).astype(np.int32)
    arr = pa.Array.from_buffers(pa.string(), len(latin1), [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])
    table = pa.table({"name": arr})
    write_parquet(tmp_path / "ref" / "a.parquet", table)
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", table)
    doc = _json_run(capsys, _job(tmp_path))
    (f,) = doc["features"]
    assert (f["feature"], f["kl"], f["severity"]) == ("name", 0.0, "ok")
    assert kldrift.fit(table).spec["name"].categories == ("caf\\xe9", "na\\xefve", "plain")  # shown, escaped


def test_duplicate_column_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = pa.table({"x": RNG.normal(size=N), "y": RNG.normal(size=N)})
    twice = pa.table([RNG.normal(size=N), RNG.normal(size=N), RNG.normal(size=N)], names=["x", "y", "y"])
    write_parquet(tmp_path / "ref" / "a.parquet", good)
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", twice)
    doc = _json_run(capsys, _job(tmp_path))
    features = {f["feature"]: f["severity"] for f in doc["features"]}
    assert features == {"x": "ok", "y": "error"}
    (change,) = doc["schema"]
    assert (change["column"], change["change"], change["severity"]) == ("y", "duplicated", "critical")
    # and in the reference: the column is listed, not scored
    report = kldrift.compare(tmp_path / "cur" / f"dt={DAY}", good)
    assert [(c.name, c.role) for c in report.unscored] == [("y", "unsupported")]
    assert report.unscored[0].reason.endswith("has several columns named 'y'")


def test_a_column_named_like_terminal_markup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = pa.table({"[/bold]": RNG.normal(size=N), "[red]x": RNG.choice(["[b]a", "b"], N)})
    write_parquet(tmp_path / "ref.parquet", table)
    assert cli.main(["compare", str(tmp_path / "ref.parquet"), str(tmp_path / "ref.parquet")]) == 0
    out = capsys.readouterr().out
    assert "[/bold]" in out
    assert "[red]x" in out


def test_infinite_thresholds_mean_never(tmp_path: Path) -> None:
    table = pa.table({"x": RNG.normal(size=N)})
    write_parquet(tmp_path / "ref" / "a.parquet", table)
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", pa.table({"x": RNG.normal(3, 1, N)}))
    result = run(load_config(_job(tmp_path, "thresholds: {warn: .inf, critical: .inf}\n")), Interval.for_date(DAY))
    assert result.report["x"].severity == "ok"
    assert "report" in result.paths  # the page is drawn without the infinite lines


# --- one bad file does not stop everything -------------------------------------------------------------------


def test_a_later_file_with_strings_where_numbers_were(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": RNG.normal(size=N), "y": RNG.normal(size=N)}))
    day = tmp_path / "cur" / f"dt={DAY}"
    write_parquet(day / "part-0.parquet", pa.table({"x": RNG.normal(size=N), "y": RNG.normal(size=N)}))
    write_parquet(day / "part-1.parquet", pa.table({"x": RNG.normal(size=N), "y": [f"{v:.2f}" for v in range(N)]}))
    doc = _json_run(capsys, _job(tmp_path))
    assert {f["feature"]: f["severity"] for f in doc["features"]} == {"x": "ok", "y": "error"}
    x = next(f for f in doc["features"] if f["feature"] == "x")
    assert x["n_current"] == 2 * N  # both files counted for the other column
    (change,) = doc["schema"]
    assert (change["column"], change["change"], change["file"]) == ("y", "retyped", str(day / "part-1.parquet"))
    assert change["message"].endswith(f"string in {day / 'part-1.parquet'}")


def test_a_first_file_whose_column_is_all_null(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    day = tmp_path / "cur" / f"dt={DAY}"
    write_parquet(day / "part-0.parquet", pa.table({"x": pa.nulls(10)}))  # Arrow's null type
    write_parquet(day / "part-1.parquet", pa.table({"x": RNG.normal(size=N)}))
    doc = _json_run(capsys, _job(tmp_path))
    (f,) = doc["features"]
    assert (f["severity"], f["n_current"]) == ("ok", N + 10)
    assert doc["schema"] == []


def test_notes_and_markers_beside_the_parts_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    day = tmp_path / "cur" / f"dt={DAY}"
    write_parquet(day / "part-0.parquet", pa.table({"x": RNG.normal(size=N)}))
    (day / "README.md").write_text("# what this folder is\n")
    (day / "_SUCCESS").write_text("")
    (day / ".part-0.parquet.crc").write_bytes(b"\0" * 8)
    (day / "part-0.parquet.crc").write_bytes(b"\0" * 8)
    config = _job(tmp_path)
    doc = _json_run(capsys, config)
    assert doc["features"][0]["severity"] == "ok"
    manifest = json.loads((tmp_path / "out" / "job" / f"dt={DAY}" / "manifest.json").read_text())
    assert manifest["inputs"]["current"]["skipped"] == [str(day / "README.md"), str(day / "part-0.parquet.crc")]
    assert [f["path"] for f in manifest["inputs"]["current"]["files"]] == [str(day / "part-0.parquet")]


# --- hangs and miscounts -------------------------------------------------------------------------------------


def test_symlinks_to_the_folder_and_its_parent_count_nothing_twice(tmp_path: Path) -> None:
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    day = tmp_path / "cur" / f"dt={DAY}"
    write_parquet(day / "part-0.parquet", pa.table({"x": RNG.normal(size=N)}))
    os.symlink(".", day / "self")
    os.symlink("..", day / "up")
    os.symlink("part-0.parquet", day / "again.parquet")  # a second name for one file
    t0 = time.perf_counter()
    report = run(load_config(_job(tmp_path)), Interval.for_date(DAY)).report
    assert report.n_current == N
    assert time.perf_counter() - t0 < 30


# --- denial of service by config -----------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Unbounded, this document expands to 10^9 values: minutes and gigabytes. 10 s is a wide margin.
    config = _job(tmp_path, BOMB)
    t0 = time.perf_counter()
    assert cli.main(["run", "--config", str(config), "--date", DAY]) == 2
    assert time.perf_counter() - t0 < 10
    assert one_error(capsys.readouterr().err) == (
        f"{config}: invalid YAML at line 10, column 4: the document expands to more than 100,000 values (aliases?)"
    )


@pytest.mark.airflow
def test_an_alias_bomb_in_a_dag_folder_is_that_files_error(tmp_path: Path) -> None:
    # The DAG factory checks configs with Airflow's own classes: in a child process (airflow_support).
    dags = tmp_path / "dags"
    dags.mkdir()
    _job(tmp_path, BOMB).rename(dags / "bomb.yaml")
    (dags / "fine.yaml").write_text("dataset: f\nreference: r/\ncurrent: 'c/{ds}/'\noutput: o/\n")
    env = airflow_env(tmp_path / "home")
    result = run_scenario("load_jobs", {"folder": str(dags)}, env, timeout=120)
    assert result["seconds"] < 10
    assert result["datasets"] == ["f"]
    assert result["error_files"] == [str(dags / "bomb.yaml")]


def test_a_huge_config_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    config = _job(tmp_path, "# padding\n" * 1_000_000)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"config file of 10,000,\d{3} bytes; a config is at most 1,048,576 bytes"):
        load_config(config)
    assert time.perf_counter() - t0 < 1


# --- secrets -------------------------------------------------------------------------------------------------

TOKEN = "xoxb-PLANTED-0123456789-token"


@pytest.mark.slow
def test_no_file_or_log_line_holds_the_webhook_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", pa.table({"x": RNG.normal(2, 1, N)}))
    with Hook(500) as hook:  # failing, so the failure is logged too
        url = f"{hook.url}/{TOKEN}?token={TOKEN}"
        config = _job(tmp_path, f"alerts: {{webhook: {{url: '{url}', retries: 1, backoff: 0}}}}\n")
        proc = subprocess.run(
            [sys.executable, "-m", "kldrift.cli", "-vv", "run", "--config", str(config), "--date", DAY],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert len(hook.requests) == 2
    assert "webhook delivery to http://127.0.0.1:" in proc.stderr
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"alerts.jsonl", "manifest.json", "deliveries.jsonl", "profile.json"}
    for p in written:
        assert TOKEN.encode() not in p.read_bytes(), p
    assert TOKEN not in proc.stdout + proc.stderr


def test_column_names_and_values_cannot_ping_a_slack_channel(tmp_path: Path) -> None:
    ref = pa.table({"<!channel>": RNG.normal(size=N), "link": ["ok"] * N})
    cur = pa.table({"<!channel>": RNG.normal(3, 1, N), "link": ["<https://evil.example|click>"] * N})
    with Hook(200) as hook:
        write_parquet(tmp_path / "ref" / "a.parquet", ref)
        write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", cur)
        run(load_config(_job(tmp_path, f"alerts: {{webhook: {{url: '{hook.url}'}}}}\n")), Interval.for_date(DAY))
    text = hook.requests[0]["body"]["text"]
    assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in text
    assert "<" not in text
    assert ">" not in text


# --- lost or inconsistent results ----------------------------------------------------------------------------


def test_hourly_runs_of_one_day_keep_their_own_folders(tmp_path: Path) -> None:
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    for hour in ("10", "11"):
        write_parquet(tmp_path / "cur" / f"h={hour}" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    config = load_config(_job(tmp_path, current="cur/h={start}/"))
    for hour in ("10", "11"):
        start = dt.datetime(2026, 11, 23, int(hour), tzinfo=dt.UTC)
        (tmp_path / "cur" / f"h={start.isoformat()}").mkdir(exist_ok=True)
        os.replace(
            tmp_path / "cur" / f"h={hour}" / "a.parquet", tmp_path / "cur" / f"h={start.isoformat()}" / "a.parquet"
        )
        run(config, Interval(start, start + dt.timedelta(hours=1)))
    runs = sorted(p.name for p in (tmp_path / "out" / "job").iterdir() if p.name.startswith("dt="))
    assert runs == ["dt=2026-11-23T10:00Z", "dt=2026-11-23T11:00Z"]
    for name in runs:
        m = json.loads((tmp_path / "out" / "job" / name / "manifest.json").read_text())
        assert m["date"] == name[3:]
    assert cli.main(["-q", "report", "--config", str(tmp_path / "job.yaml"), "--date", "2026-11-23T10:00Z"]) == 0


@pytest.mark.slow
def test_a_kill_during_the_webhook_leaves_the_manifest_agreeing_with_the_files(tmp_path: Path) -> None:
    import hashlib

    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", pa.table({"x": RNG.normal(2, 1, N)}))
    with Hook(("slow", 60)) as hook:
        config = _job(tmp_path, f"alerts: {{webhook: {{url: '{hook.url}', timeout: 60, retries: 0}}}}\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "kldrift.cli", "-q", "run", "--config", str(config), "--date", DAY]
        )
        deadline = time.monotonic() + 60
        while not hook.requests and time.monotonic() < deadline:  # the run is now inside the delivery
            time.sleep(0.05)
        assert hook.requests
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    folder = tmp_path / "out" / "job" / f"dt={DAY}"
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["outputs"].values():  # the manifest was committed with the data files
        assert hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    alerts = [json.loads(line) for line in (folder / "alerts.jsonl").read_text().splitlines()]
    assert manifest["worst"] == "critical" == alerts[0]["severity"]
    assert not (folder / "deliveries.jsonl").exists()  # the delivery never finished, so none is recorded


def test_leftovers_of_killed_runs_are_swept(tmp_path: Path) -> None:
    write_parquet(tmp_path / "ref" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    config = load_config(_job(tmp_path))
    run(config, Interval.for_date(DAY))
    folder = tmp_path / "out" / "job" / f"dt={DAY}"
    (folder / ".alerts.jsonl.abc123.tmp").write_text("half")
    (folder.parent / f".dt={DAY}.stage-xyz").mkdir()
    (folder.parent / f".dt={DAY}.stage-xyz" / "alerts.jsonl").write_text("half")
    run(config, Interval.for_date(DAY))
    assert not [n for n in os.listdir(folder) if n.startswith(".")]
    assert not [n for n in os.listdir(folder.parent) if ".stage-" in n]


def test_an_interrupted_swap_is_finished_by_the_next_run(tmp_path: Path) -> None:
    from kldrift import runstore

    folder = tmp_path / "dt=2026-01-01"
    with runstore.locked(str(folder)):
        runstore.commit(str(folder), {"a.txt": b"old"})
    # killed between the two renames of the fallback swap: the folder is gone, its old set aside
    os.rename(folder, tmp_path / ".dt=2026-01-01.old-k1")
    runstore.sweep(str(folder))
    assert (folder / "a.txt").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == [".dt=2026-01-01.lock", "dt=2026-01-01"]


def test_the_two_rename_swap_where_exchange_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kldrift import runstore

    folder = tmp_path / "dt=2026-01-01"
    monkeypatch.setattr(runstore, "_exchange", lambda a, b: False)
    runstore.commit(str(folder), {"a.txt": b"old", "b.txt": b"old"})
    runstore.commit(str(folder), {"a.txt": b"new"})
    assert sorted(os.listdir(folder)) == ["a.txt"]
    assert (folder / "a.txt").read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["dt=2026-01-01"]


# --- config surprises ----------------------------------------------------------------------------------------


def test_a_tilde_in_output_is_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(_job(tmp_path, output="~/drift-out/"))
    assert config.dataset_dir() == str(tmp_path / "home" / "drift-out" / "job")


@pytest.mark.parametrize("key", ["output", "profile"])
def test_placeholders_where_they_are_not_rendered(tmp_path: Path, key: str) -> None:
    config = tmp_path / "job.yaml"
    extra = "profile: 'p/{ds}.json'\n" if key == "profile" else ""
    out = "'out/{ds}/'" if key == "output" else "out/"
    config.write_text(f"dataset: job\nreference: ref/\ncurrent: 'cur/{{ds}}/'\noutput: {out}\n{extra}")
    with pytest.raises(
        ConfigError, match=rf"^{config}: {key}: '.*\{{ds\}}.*' holds a placeholder, which is not rendered"
    ):
        load_config(config)


@pytest.mark.airflow
def test_a_config_file_name_that_makes_no_dag_id(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "my job.yaml").write_text("dataset: a\nreference: r/\ncurrent: 'c/{ds}/'\noutput: o/\n")
    (dags / "fine.yaml").write_text("dataset: b\nreference: r/\ncurrent: 'c/{ds}/'\noutput: o/\n")
    result = run_scenario("load_jobs", {"folder": str(dags)}, airflow_env(tmp_path / "home"), timeout=120)
    assert result["dag_ids"] == ["kldrift__fine"]  # the other DAGs are not broken by it
    (error,) = result["errors"]
    assert error.endswith("'_', '-' and '.' only (say my_job.yaml)")


def test_a_reference_replaced_by_other_data_of_the_same_size_is_refitted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def write(values: np.ndarray[Any, Any]) -> None:
        pq.write_table(
            pa.table({"x": values}), tmp_path / "ref" / "a.parquet", compression="none", use_dictionary=False
        )

    (tmp_path / "ref").mkdir()
    write(RNG.normal(size=N))
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    config = _job(tmp_path)
    assert cli.main(["-q", "run", "--config", str(config), "--date", DAY]) == 0
    size = (tmp_path / "ref" / "a.parquet").stat().st_size
    os.utime(tmp_path / "ref" / "a.parquet", (2_000_000_000, 2_000_000_000))  # touched only: same content
    assert cli.main(["-q", "run", "--config", str(config), "--date", DAY]) == 0
    assert "refitting" not in capsys.readouterr().err
    write(RNG.normal(5, 1, N))  # other data, same size
    assert (tmp_path / "ref" / "a.parquet").stat().st_size == size
    assert cli.main(["-q", "run", "--config", str(config), "--date", DAY]) == 0
    assert "the reference files changed since this profile was fitted; refitting" in capsys.readouterr().err


def test_other_data_behind_a_byte_identical_footer_is_refitted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 20: no statistics, no compression, fixed-width values: the footer (schema, row groups, offsets,
    # sizes) is the same bytes for any data of as many rows. Only the content tells the files apart.
    ref = tmp_path / "ref" / "a.parquet"

    def write(values: np.ndarray[Any, Any]) -> None:
        pq.write_table(pa.table({"x": values}), ref, compression="none", use_dictionary=False, write_statistics=False)

    ref.parent.mkdir()
    write(RNG.normal(size=N))
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", pa.table({"x": RNG.normal(5, 1, N)}))
    config = _job(tmp_path)

    def worst() -> tuple[str, str]:
        assert cli.main(["-q", "run", "--config", str(config), "--date", DAY, "--format", "json"]) == 0
        out, err = capsys.readouterr()
        return json.loads(out)["verdict"]["worst"], err

    assert worst()[0] == "critical"  # hand: a 5 sd shift
    scan = kldrift.sources.open_source(ref)
    from kldrift.filestamps import footer_digest

    footer, size = footer_digest(scan, scan.files[0]), ref.stat().st_size
    os.utime(ref, (2_000_000_000, 2_000_000_000))  # touched only: the digest says it is the same content
    assert worst() == ("critical", "")
    saved = json.loads((tmp_path / "out" / "job" / "profile.json").read_text())["files"]
    assert [f["mtime"] for f in saved] == [2_000_000_000]  # kept: the next run reads no digest again
    write(RNG.normal(5, 1, N))  # now the current data's distribution: a fresh compare says ok
    scan = kldrift.sources.open_source(ref)
    assert (ref.stat().st_size, footer_digest(scan, scan.files[0])) == (size, footer)  # byte-identical footer
    severity, err = worst()
    assert severity == "ok"
    assert err.strip().endswith(f"refitting ({ref}: its content changed (same size and footer, another SHA-256))")


def test_a_profile_without_content_digests_is_refitted_when_a_file_was_modified(tmp_path: Path) -> None:
    # Profiles saved before kldrift kept a digest cannot tell a copy from new data: refit, and say why.
    from kldrift.filestamps import file_records, reference_changed
    from kldrift.sources import open_source

    path = write_parquet(tmp_path / "a.parquet", pa.table({"x": RNG.normal(size=N)}))
    records = [{k: v for k, v in r.items() if k != "sha256"} for r in file_records(open_source(path))]
    assert reference_changed(records, open_source(path)) is None  # untouched: nothing read beyond the listing
    os.utime(path, (2_000_000_000, 2_000_000_000))
    assert reference_changed(records, open_source(path)) == (
        f"{path}: modified, and the profile holds no content digest to tell a copy from new data"
    )
    write_parquet(tmp_path / "b.parquet", pa.table({"x": [1.0]}))
    assert (
        reference_changed(records, open_source(tmp_path)) == f"other files ({tmp_path / 'b.parquet'} added or removed)"
    )


def test_a_reference_file_that_cannot_be_read_for_its_digest_is_a_source_error(tmp_path: Path) -> None:
    from kldrift.errors import SourceError
    from kldrift.filestamps import content_digest
    from kldrift.sources import open_source

    path = write_parquet(tmp_path / "a.parquet", pa.table({"x": [1.0, 2.0]}))
    scan = open_source(path)
    path.unlink()
    with pytest.raises(SourceError, match=rf"^{path}: cannot read the file: .*No such file"):
        content_digest(scan, scan.files[0])


def test_a_hive_key_that_is_also_a_column_is_the_column(tmp_path: Path) -> None:
    write_parquet(tmp_path / "ref" / "region=eu" / "a.parquet", pa.table({"region": ["us", "eu"] * (N // 2)}))
    profile = kldrift.fit(tmp_path / "ref")
    assert profile.spec.names() == ["region"]
    assert profile.features["region"].counts[:2] == (N // 2, N // 2)  # the file's values, not the folder's


def test_a_column_named_like_the_dataset_row(tmp_path: Path) -> None:
    ref = pa.table({"__dataset__": RNG.normal(size=N), "y": RNG.normal(size=N)})
    cur = pa.table({"__dataset__": RNG.normal(3, 1, N), "y": RNG.normal(3, 1, N)})
    write_parquet(tmp_path / "ref" / "a.parquet", ref)
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", cur)
    run(load_config(_job(tmp_path)), Interval.for_date(DAY))
    rows = [json.loads(line) for line in (tmp_path / "out" / "job" / f"dt={DAY}" / "alerts.jsonl").open()]
    assert [(r["check"], r["feature"]) for r in rows] == [("drift", "__dataset__"), ("drift", "y"), ("dataset", None)]


@pytest.mark.slow
def test_megabyte_category_labels_stay_small(tmp_path: Path) -> None:
    big = [f"{i}:" + "x" * 1_000_000 for i in range(30)]
    table = pa.table({"blob": [big[i % 30] for i in range(300)]})
    write_parquet(tmp_path / "ref" / "a.parquet", table)
    write_parquet(tmp_path / "cur" / f"dt={DAY}" / "a.parquet", table)
    result = run(load_config(_job(tmp_path)), Interval.for_date(DAY))
    assert (result.report["blob"].kl, result.report["blob"].severity) == (0.0, "ok")
    assert (tmp_path / "out" / "job" / "profile.json").stat().st_size < 50_000
    assert os.path.getsize(result.paths["report"]) < 2_000_000


def test_outputs_inside_the_reference_folder_are_refused(tmp_path: Path) -> None:
    config = _job(tmp_path, output="ref/out/")
    with pytest.raises(ConfigError, match=r"output: 'ref/out/' is inside the reference folder .*would be read as data"):
        load_config(config)


def test_only_a_saved_job_profile_reads_every_byte_for_its_digest(tmp_path: Path) -> None:
    """An ad-hoc fit records footers only; the profile a job saves adds each file's SHA-256 (= hashlib's)."""
    import hashlib

    import kldrift
    from kldrift.config import load_config
    from kldrift.pipeline import load_or_fit_profile

    ref = write_parquet(tmp_path / "ref" / "r.parquet", pa.table({"x": np.arange(500.0)}))
    assert all("sha256" not in r for r in kldrift.fit(str(ref)).files)
    job = tmp_path / "job.yaml"
    job.write_text("dataset: d\nreference: ref/\ncurrent: 'cur/dt={ds}/'\noutput: out/\n")
    saved = load_or_fit_profile(load_config(job))
    assert [r["sha256"] for r in saved.files] == [hashlib.sha256(ref.read_bytes()).hexdigest()]
