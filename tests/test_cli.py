"""The ``kldrift`` command line on real files: exit codes, formats, profile reuse, history."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import one_error

import kldrift
from kldrift import cli
from kldrift.profile import Profile
from kldrift.results import COLUMNS

KLDRIFT = str(Path(sys.executable).with_name("kldrift"))
QUIET, DRIFT = "2026-01-01", "2026-01-02"


def _table(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    return pa.table(
        {
            "x": rng.normal(shift, 1.0, n),
            "c": pa.array(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])),
            "k": rng.integers(0, 4, n),
        }
    )


def make_job(root: Path, extra: str = "") -> Path:
    """A reference folder, a quiet day and a day where only ``x`` drifts (+1 sd), and their config."""
    rng = np.random.default_rng(11)
    (root / "data" / "ref").mkdir(parents=True)
    pq.write_table(_table(rng, 4_000, 0.0), root / "data" / "ref" / "part-0.parquet")
    for date, shift in ((QUIET, 0.0), (DRIFT, 1.0)):
        (root / "data" / "cur" / f"dt={date}").mkdir(parents=True)
        pq.write_table(_table(rng, 1_500, shift), root / "data" / "cur" / f"dt={date}" / "part-0.parquet")
    config = root / "job.yaml"
    config.write_text(
        "dataset: small\nreference: data/ref/\ncurrent: data/cur/dt={ds}/\noutput: out/\n" + extra, encoding="utf-8"
    )
    return config


@pytest.fixture
def job(tmp_path: Path) -> Path:
    return make_job(tmp_path)


def kl(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``kldrift argv`` in this process; returns (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- help and usage ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "codes"),
    [
        (["--help"], ["0", "1", "2", "3", "130"]),
        (["compare", "--help"], ["0", "1", "2", "3", "130"]),
        (["run", "--help"], ["0", "1", "2", "3", "130"]),
        (["profile", "--help"], ["0", "2", "3", "130"]),
        (["history", "--help"], ["0", "2", "3", "130"]),
        (["demo-data", "--help"], ["0", "2", "3", "130"]),
        (["airflow", "--help"], ["0", "2", "3", "130"]),
        (["report", "--help"], ["0", "2", "3", "130"]),
    ],
    ids=["top", "compare", "run", "profile", "history", "demo-data", "airflow", "report"],
)
def test_help_lists_the_exit_codes_each_command_can_return(
    capsys: pytest.CaptureFixture[str], argv: list[str], codes: list[str]
) -> None:
    # Only compare and run have a verdict: 1 (fail_on reached) is theirs alone.
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    listed = out.split("exit codes:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed if line.strip()] == codes
    if "1" in codes:
        assert "  1   the --fail-on (or alerts.fail_on) severity was reached (the reason on stderr)" in listed


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
        (["run", "--date", QUIET], "the following arguments are required: --config"),
        (["compare", "a.parquet"], "the following arguments are required: current"),
        (
            ["run", "--config", "x.yaml", "--fail-on", "sometimes"],
            "argument --fail-on: expected never, warn or critical, got 'sometimes'",
        ),
    ],
    ids=["unknown-command", "run-no-config", "compare-one-path", "bad-choice"],
)
def test_usage_errors_exit_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("kldrift: error:")]
    assert len(errors) == 1, err
    assert expected in errors[0]
    assert "Traceback" not in err


# --- run: exit codes 0 / 1 / 2 -------------------------------------------------------------


def test_run_exit_codes_follow_fail_on(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    code, out, err = kl(capsys, "run", "--config", str(job), "--date", QUIET)
    assert code == 0
    assert err == ""  # no progress bar when stderr is not a terminal, and nothing to warn about
    assert f"alerts: {job.parent / 'out' / 'small' / f'dt={QUIET}' / 'alerts.jsonl'}" in out
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", DRIFT)[0] == 0  # alerts, but fail_on: never
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", DRIFT, "--fail-on", "critical")[0] == 1
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", DRIFT, "--fail-on", "warn")[0] == 1
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", QUIET, "--fail-on", "warn")[0] == 0
    # alerts.fail_on in the config does the same; --fail-on overrides it.
    job.write_text(job.read_text() + "alerts: {fail_on: warn}\n")
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", DRIFT)[0] == 1
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", DRIFT, "--fail-on", "never")[0] == 0
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", QUIET)[0] == 0


def test_run_json_format_and_start_end(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    code, out, err = kl(
        capsys, "-q", "run", "--config", str(job), "--start", f"{DRIFT}T00:00:00", "--end", f"{DRIFT}T12:00:00",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    rows = json.loads(out)["features"]  # stdout is pure JSON; the written paths go to stderr
    assert {r["feature"]: r["severity"] for r in rows} == {"x": "critical", "c": "ok", "k": "ok"}
    assert err == ""  # -q: warnings only, so not even the written paths
    # half a day: the run folder is keyed by the interval's start, so another half-day run has its own
    manifest = json.loads((job.parent / "out" / "small" / f"dt={DRIFT}T00:00Z" / "manifest.json").read_text())
    assert manifest["interval"] == {"start": f"{DRIFT}T00:00:00+00:00", "end": f"{DRIFT}T12:00:00+00:00"}
    assert manifest["date"] == f"{DRIFT}T00:00Z"
    code, out, err = kl(capsys, "run", "--config", str(job), "--date", DRIFT, "--format", "json")
    assert json.loads(out)["verdict"]["worst"] == "critical"
    assert "alerts: " in err  # without -q the paths go to stderr, keeping stdout pure JSON


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--date", "2026-02-30"], "--date: expected a date as YYYY-MM-DD, got '2026-02-30'"),
        (["--date", "yesterday"], "--date: expected a date as YYYY-MM-DD, got 'yesterday'"),
        ([], "missing data interval: give --date YYYY-MM-DD, or --start and --end"),
        (["--start", QUIET], "missing data interval: give --date YYYY-MM-DD, or --start and --end"),
        (["--date", QUIET, "--start", QUIET], "give either --date or --start/--end, not both"),
        (["--start", "noon", "--end", DRIFT], "--start: expected an ISO date or timestamp"),
        (["--start", DRIFT, "--end", QUIET], "interval end 2026-01-01T00:00:00+00:00 must be after its start"),
    ],
    ids=["feb-30", "word", "none", "start-only", "both", "bad-start", "reversed"],
)
def test_run_bad_interval_exits_2(
    capsys: pytest.CaptureFixture[str], job: Path, args: list[str], expected: str
) -> None:
    code, _, err = kl(capsys, "run", "--config", str(job), *args)
    assert code == 2
    assert one_error(err).startswith(expected.format(cur=job.parent / "data" / "cur"))
    assert not (job.parent / "out" / "small" / "dt=2026-01-09").exists()


def test_bad_config_exits_2_naming_file_and_key(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    job.write_text(job.read_text() + "thresholds: {wran: 0.2}\n")
    for command in (["run", "--date", QUIET], ["profile"], ["history"], ["report", "--date", QUIET]):
        code, _, err = kl(capsys, command[0], "--config", str(job), *command[1:])
        assert code == 2
        assert one_error(err) == (
            f"{job}: thresholds.wran: unknown key (did you mean 'warn'?); expected one of: calibrate, critical, warn"
        )


def test_errors_are_one_line_in_a_real_process_and_v_shows_the_traceback(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    proc = subprocess.run([KLDRIFT, "run", "--config", missing, "--date", QUIET], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == f"kldrift: error: {missing}: config file not found\n"
    assert proc.stdout == ""
    proc = subprocess.run(
        [KLDRIFT, "-v", "run", "--config", missing, "--date", QUIET], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("Traceback (most recent call last):")
    assert "kldrift.errors.ConfigError" in proc.stderr
    assert proc.stderr.endswith(f"kldrift: error: {missing}: config file not found\n")


def test_internal_error_exits_3_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug (not a user error) is told apart from bad input: exit 3, one line, -v for the traceback.
    def broken(args: object) -> int:
        raise RuntimeError("something\nbroke")

    monkeypatch.setitem(cli.COMMANDS, "demo-data", broken)
    code, _, err = kl(capsys, "demo-data", "--out", "x")
    assert code == 3
    assert err == "kldrift: internal error: RuntimeError: something broke (run with -v for the traceback)\n"
    code, _, err = kl(capsys, "-v", "demo-data", "--out", "x")
    assert code == 3
    assert "Traceback (most recent call last)" in err


# --- compare ----------------------------------------------------------------------------------


def test_compare_json_rows_have_the_contract_fields(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    data = job.parent / "data"
    code, out, _ = kl(capsys, "compare", str(data / "ref"), str(data / "cur" / f"dt={DRIFT}"), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == [*kldrift.DriftReport.from_dict(doc).to_dict(bins=False), "timings"]  # docs/notebook.md
    assert doc["baseline"] == {
        "window": "fixed",
        "description": "reference",
        "first": None,
        "last": None,
        "intervals": 0,
        "used": [],
        "skipped": [],
        "since": None,
        "calibration": "",
    }
    # seconds per step, for benchmarks and logs
    assert list(doc["timings"]) == ["profile_s", "scan_s", "count_s", "score_s"]
    assert all(v >= 0 for v in doc["timings"].values())
    assert doc["verdict"] == {
        "worst": "critical",
        "paged": "critical",
        "page_reason": "1 feature critical",
        "headline": "1 feature drifted: 1 critical",
        # never "no dataset drift" beside an alert
        "details": [
            "Dataset-share rule not reached: 1 of 3 scored features (33%) at warn or critical (dataset_drift.share 50%)"
        ],
        "tone": "critical",
    }
    assert (doc["schema"], doc["checks"], doc["unscored"]) == ([], [], [])
    rows = doc["features"]
    assert [list(r) for r in rows] == [COLUMNS] * 3
    by = {r["feature"]: r for r in rows}
    assert by["x"]["severity"] == "critical"
    assert by["x"]["n_current"] == 1_500
    assert by["x"]["n_reference"] == 4_000
    assert by["c"]["severity"] == "ok"
    assert all(r["metric"] == "kl" and r["value"] == r["kl"] for r in rows)


def test_compare_table_fail_on_config_and_out(capsys: pytest.CaptureFixture[str], job: Path, tmp_path: Path) -> None:
    data = job.parent / "data"
    ref, cur = str(data / "ref"), str(data / "cur" / f"dt={DRIFT}")
    code, out, _ = kl(capsys, "compare", ref, cur)
    assert code == 0
    assert "critical" in out
    assert "drift: 1,500 current rows vs 4,000 reference rows" in out
    assert kl(capsys, "-q", "compare", ref, cur, "--fail-on", "critical")[0] == 1
    # A settings-only YAML is enough for compare.
    settings = tmp_path / "settings.yaml"
    settings.write_text("metric: psi\nthresholds: {warn: 10, critical: 20}\n")
    code, out, _ = kl(
        capsys, "-q", "compare", ref, cur, "--config", str(settings), "--format", "json", "--fail-on", "warn"
    )
    assert code == 0
    assert {r["metric"] for r in json.loads(out)["features"]} == {"psi"}
    out_dir = tmp_path / "cmp"
    code, _, _ = kl(capsys, "-q", "compare", ref, cur, "--out", str(out_dir))
    assert code == 0
    assert {"alerts.jsonl", "metrics.parquet", "manifest.json"} <= set(os.listdir(out_dir))
    alerts = [json.loads(line) for line in (out_dir / "alerts.jsonl").read_text().splitlines()]
    assert [(a["dataset"], a["date"], a["check"], a["feature"]) for a in alerts] == [("compare", None, "drift", "x")]
    assert pq.read_table(out_dir / "metrics.parquet").column("feature").to_pylist() == ["x", "c", "k"]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["inputs"] == {"reference": ref, "current": cur}
    assert "deliveries.jsonl" not in os.listdir(out_dir)  # no webhook for an ad-hoc comparison


def test_compare_bad_path_exits_2(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    code, _, err = kl(capsys, "compare", str(job.parent / "nope"), str(job.parent / "data" / "ref"))
    assert code == 2
    assert one_error(err) == f"{job.parent / 'nope'}: no such file or directory"


# --- profile, then run reuses it; a changed binning refits ------------------------------------------


def test_profile_then_run_reuses_it_and_a_binning_change_refits(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    code, out, _ = kl(capsys, "profile", "--config", str(job))
    path = job.parent / "out" / "small" / "profile.json"
    assert code == 0
    last = out.splitlines()[-1]
    assert last.startswith(f"profile: {path} (4,000 rows, 3 features scored of 3 columns, fingerprint ")
    before = path.read_bytes()
    os.utime(path, (1_000_000_000, 1_000_000_000))  # a refit would rewrite it and move the mtime
    code, _, err = kl(capsys, "-q", "run", "--config", str(job), "--date", QUIET)
    assert code == 0
    assert "refitting" not in err
    assert path.stat().st_mtime == 1_000_000_000
    assert path.read_bytes() == before
    manifest = json.loads((job.parent / "out" / "small" / f"dt={QUIET}" / "manifest.json").read_text())
    assert manifest["inputs"]["reference"]["profile"] == str(path)

    job.write_text(job.read_text() + "binning: {bins: 4}\n")
    code, _, err = kl(capsys, "-q", "run", "--config", str(job), "--date", QUIET)
    assert code == 0
    (warning,) = err.splitlines()  # one plain line, not wrapped to a terminal's width
    assert warning.startswith(f"kldrift: WARNING: {path}: the config's binning changed since this profile was fitted")
    assert warning.endswith("; refitting")
    refit = Profile.load(path)
    assert refit.features["x"].spec.n_bins != Profile.from_json(json.loads(before)).features["x"].spec.n_bins
    # Fitted again and saved: the next run reuses it silently.
    code, _, err = kl(capsys, "-q", "run", "--config", str(job), "--date", QUIET)
    assert code == 0
    assert "refitting" not in err


def test_a_saved_profile_as_reference(capsys: pytest.CaptureFixture[str], job: Path, tmp_path: Path) -> None:
    assert kl(capsys, "-q", "profile", "--config", str(job))[0] == 0
    saved = job.parent / "out" / "small" / "profile.json"
    data = job.parent / "data"
    code, out, _ = kl(capsys, "compare", str(saved), str(data / "cur" / f"dt={DRIFT}"), "--format", "json")
    assert code == 0
    assert {r["feature"]: r["severity"] for r in json.loads(out)["features"]}["x"] == "critical"
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    code, _, err = kl(capsys, "compare", str(bad), str(data / "cur" / f"dt={DRIFT}"))
    assert code == 2
    assert one_error(err) == f'{bad}: not a kldrift profile (expected "format": "kldrift-profile")'


# --- history and report -----------------------------------------------------------------------------


def test_history_prints_the_trend(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    code, _, err = kl(capsys, "history", "--config", str(job))
    assert code == 2
    assert one_error(err) == (
        f"{job.parent / 'out' / 'small'}: no runs yet (run `kldrift run --config ... --date ...` first)"
    )
    for date in (QUIET, DRIFT):
        assert kl(capsys, "-q", "run", "--config", str(job), "--date", date)[0] == 0
    code, out, _ = kl(capsys, "history", "--config", str(job))
    assert code == 0
    assert "small: kl per run" in out
    lines = [line for line in out.splitlines() if QUIET in line or DRIFT in line]
    assert len(lines) == 2
    assert "!!" not in lines[0]
    assert "!!" in lines[1]
    code, out, _ = kl(capsys, "history", "--config", str(job), "--feature", "x", "--format", "json")
    rows = json.loads(out)
    assert code == 0
    assert [(r["date"], r["feature"], r["severity"]) for r in rows] == [
        (QUIET, "x", "ok"),
        (DRIFT, "x", "critical"),
    ]
    assert rows[1]["value"] > rows[0]["value"]
    code, _, err = kl(capsys, "history", "--config", str(job), "--feature", "xx")
    assert code == 2
    assert one_error(err).startswith(
        f"column 'xx' is not in the history of {job.parent / 'out' / 'small'} (did you mean 'x'?)"
    )


def test_history_skips_an_unreadable_metrics_file_with_a_warning(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    root = job.parent / "out" / "small"
    (root / f"dt={QUIET}").mkdir(parents=True)
    code, _, err = kl(capsys, "history", "--config", str(job))
    assert code == 2
    assert one_error(err) == f"{root}: no readable metrics.parquet in any dt=<date>/ folder yet"
    corrupt = root / f"dt={QUIET}" / "metrics.parquet"
    corrupt.write_bytes(b"PAR1 not really PAR1")
    code, _, err = kl(capsys, "history", "--config", str(job))
    assert code == 2
    assert err.splitlines()[-1] == f"kldrift: error: {root}: no readable metrics.parquet in any dt=<date>/ folder yet"
    # one good run beside the corrupt one: the trend is printed, the bad file named in a warning
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", DRIFT)[0] == 0
    code, out, err = kl(capsys, "history", "--config", str(job))
    assert code == 0
    assert DRIFT in out
    assert QUIET not in out
    (warning,) = err.splitlines()
    assert warning.startswith(f"kldrift: WARNING: {corrupt}: cannot read metrics, left out: ")


def test_report_rerenders_a_run(capsys: pytest.CaptureFixture[str], job: Path) -> None:
    run_folder = job.parent / "out" / "small" / f"dt={QUIET}"
    code, _, err = kl(capsys, "report", "--config", str(job), "--date", QUIET)
    assert code == 2
    assert one_error(err).startswith(f"{run_folder / 'metrics.parquet'}: no saved metrics for {QUIET}; ")
    assert kl(capsys, "-q", "run", "--config", str(job), "--date", QUIET)[0] == 0
    (run_folder / "report.html").unlink()
    code, out, _ = kl(capsys, "report", "--config", str(job), "--date", QUIET)
    assert code == 0
    assert f"report: {run_folder / 'report.html'}" in out
    assert (run_folder / "report.html").stat().st_size > 0
    (run_folder / "metrics.parquet").write_bytes(b"garbage")
    code, _, err = kl(capsys, "report", "--config", str(job), "--date", QUIET)
    assert code == 2
    assert one_error(err).startswith(f"{run_folder / 'metrics.parquet'}: cannot read saved metrics: ")


def test_the_console_script_leaves_at_once_with_its_output_and_exit_code(job: Path) -> None:
    # entry() ends with os._exit: every byte written must still reach the pipe, and the code the caller.
    ref, cur = job.parent / "data" / "ref", job.parent / "data" / "cur" / f"dt={DRIFT}"
    proc = subprocess.run([KLDRIFT, "compare", str(ref), str(cur), "--format", "json"], capture_output=True, text=True)
    assert proc.returncode == 0
    report = json.loads(proc.stdout)  # the whole document, not a truncated buffer
    assert {f["feature"] for f in report["features"]} == {"x", "c", "k"}
    proc = subprocess.run([KLDRIFT, "compare", str(ref), str(job.parent / "nowhere")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("kldrift: error: ")


def test_the_console_script_exits_normally_while_a_thread_works_or_airflow_is_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import types

    exits: list[int] = []
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(cli.os, "_exit", exits.append)  # the quick way out, recorded instead of taken
    release = threading.Event()
    worker = threading.Thread(target=release.wait)  # not a daemon: its work must finish
    worker.start()
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.entry()
    finally:
        release.set()
        worker.join()
    assert stopped.value.code == 3
    monkeypatch.setitem(sys.modules, "airflow", types.ModuleType("airflow"))  # its exit handlers close sessions
    with pytest.raises(SystemExit):
        cli.entry()
    for module in ("airflow", "pyspark"):  # (other tests of this process may have loaded them)
        monkeypatch.delitem(sys.modules, module, raising=False)
    cli.entry()
    assert exits == [3]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_the_console_script_starts_no_idle_blas_threads() -> None:
    # numpy's and scipy's OpenBLAS start a thread per core when loaded, spinning idle for a while.
    threads = (
        "import os, numpy, scipy.special; "
        "print(len(os.listdir('/proc/self/task')), os.environ.get('OPENBLAS_NUM_THREADS'))"
    )
    code = f"import kldrift.cli as c\ndef main():\n    {threads}\n    return 0\nc.main = main\nc.entry()"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    run = functools.partial(subprocess.run, capture_output=True, text=True, check=True)
    assert run([sys.executable, "-c", code], env=env).stdout.split() == ["1", "1"]  # the main thread alone
    if (os.cpu_count() or 1) > 1:  # what it saves: the same imports without entry() start more
        assert int(run([sys.executable, "-c", threads], env=env).stdout.split()[0]) > 1
    assert run([sys.executable, "-c", code], env={**env, "OPENBLAS_NUM_THREADS": "2"}).stdout.split()[1] == "2"
