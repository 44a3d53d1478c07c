"""The command line as a person meets it: the terminal's width, help for every option, -q, the reason for exit 1.

Widths are tried the three ways a table reaches a person: ``COLUMNS`` set (a subprocess with
``COLUMNS=100``), a real terminal of 100 columns (a pseudo-terminal, no ``COLUMNS``), and a pipe without
``COLUMNS`` (as wide as the table, so each row stays one line in a log).
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from helpers import one_error, write_parquet

from kldrift import cli, cliparser

KLDRIFT = str(Path(sys.executable).with_name("kldrift"))
DAYS = ("2026-03-01", "2026-03-02")
LONG = "a_column_with_a_rather_long_name_from_some_warehouse"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def job(tmp_path: Path) -> Path:
    """A reference, a quiet day and a day where ``x`` moves by 1 sd, and their job config (fail_on: warn)."""
    rng = np.random.default_rng(3)

    def table(n: int, shift: float) -> pa.Table:
        return pa.table(
            {
                "x": rng.normal(shift, 1.0, n),
                LONG: rng.normal(0.0, 1.0, n),
                "c": pa.array(rng.choice(["a", "b", "c"], n)),
            }
        )

    write_parquet(tmp_path / "ref" / "part.parquet", table(4_000, 0.0))
    for day, shift in zip(DAYS, (0.0, 1.0), strict=True):
        write_parquet(tmp_path / "cur" / f"dt={day}" / "part.parquet", table(1_500, shift))
    config = tmp_path / "job.yaml"
    config.write_text(
        "dataset: small\nreference: ref/\ncurrent: cur/dt={ds}/\noutput: out/\nalerts:\n  fail_on: warn\n",
        encoding="utf-8",
    )
    return config


def kldrift(*argv: str, columns: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([KLDRIFT, *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def in_terminal(argv: list[str], *, columns: int) -> str:
    """What ``kldrift argv`` shows in a terminal ``columns`` wide (a pseudo-terminal; no ``COLUMNS`` set)."""
    import fcntl
    import struct
    import termios

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal's size is set by the parent before it writes
        os.execve(KLDRIFT, [KLDRIFT, *argv], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n")


# --- the terminal's width ---------------------------------------------------------------------------


def test_the_drift_table_fits_100_columns(job: Path) -> None:
    ref, cur = job.parent / "ref", job.parent / "cur" / f"dt={DAYS[1]}"
    done = kldrift("compare", str(ref), str(cur), columns=100)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    header = next(line for line in lines if "feature" in line)
    assert all(name in header for name in ("kl", "p_adj", "severity", "message"))
    assert "psi" not in header  # in 100 columns: the alert metric only (--format json has them all)
    wide = kldrift("compare", str(ref), str(cur), columns=160)
    assert max(len(line) for line in wide.stdout.splitlines()) <= 160
    assert "psi" in next(line for line in wide.stdout.splitlines() if "feature" in line)


def test_in_a_real_terminal_100_columns_wide_nothing_wraps(job: Path) -> None:
    ref, cur = job.parent / "ref", job.parent / "cur" / f"dt={DAYS[1]}"
    shown = in_terminal(["compare", str(ref), str(cur)], columns=100)
    assert "critical" in shown
    assert max(len(line) for line in shown.splitlines()) <= 100


def test_into_a_pipe_each_row_stays_one_line(job: Path) -> None:
    ref, cur = job.parent / "ref", job.parent / "cur" / f"dt={DAYS[1]}"
    out = kldrift("compare", str(ref), str(cur)).stdout  # no COLUMNS, not a terminal: no wrapping
    (row,) = [line for line in out.splitlines() if line.startswith("│ x ")]
    assert "critical" in row
    assert "(p_adjusted" in row  # the message whole, on the same line


# --- help --------------------------------------------------------------------------------------------


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cliparser.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"kldrift": parser, **sub.choices}


@pytest.mark.parametrize("name", sorted(subparsers()))
def test_every_option_has_help(name: str) -> None:
    parser = subparsers()[name]
    missing = [
        a.dest
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction) and (not a.help or a.help == argparse.SUPPRESS)
    ]
    assert missing == []


def test_help_text_is_shown_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["airflow", "init", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Airflow's dags folder (dags_folder in the [core] section of airflow.cfg)" in out
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "alerts.jsonl, metrics.parquet, report.html (the page) and manifest.json into FOLDER" in out


def test_version() -> None:
    done = kldrift("--version")
    assert done.returncode == 0
    assert done.stdout == f"kldrift {version('kldrift')}\n"


# --- the reason for exit 1 -----------------------------------------------------------------------------


def test_exit_1_says_why_on_stderr(job: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = job.parent / "ref", job.parent / "cur" / f"dt={DAYS[1]}"
    assert cli.main(["-q", "compare", str(ref), str(cur), "--fail-on", "critical"]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", "kldrift: --fail-on critical reached: 1 feature drifted: 1 critical\n")
    assert cli.main(["-q", "run", "--config", str(job), "--date", DAYS[1]]) == 1
    assert capsys.readouterr().err == "kldrift: alerts.fail_on warn reached: 1 feature drifted: 1 critical\n"
    assert cli.main(["-q", "run", "--config", str(job), "--date", DAYS[0]]) == 0
    assert capsys.readouterr() == ("", "")  # nothing reached: nothing said


# --- -q for every command --------------------------------------------------------------------------------


def test_quiet_prints_nothing_for_every_command(job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = job.parent / "ref", job.parent / "cur" / f"dt={DAYS[0]}"
    commands = [
        ["compare", str(ref), str(cur), "--out", str(tmp_path / "cmp")],
        ["profile", "--config", str(job)],
        ["run", "--config", str(job), "--date", DAYS[0]],
        ["history", "--config", str(job)],
        ["report", "--config", str(job), "--date", DAYS[0]],
        ["demo-data", "--out", str(tmp_path / "demo"), "--days", "2"],
        ["airflow", "init", str(tmp_path / "dags")],
    ]
    for argv in commands:
        for i, quiet in enumerate((["-q", *argv], [argv[0], "-q", *argv[1:]])):  # before or after the command
            again = ["--force"] if argv[0] == "airflow" and i else []  # the second time, its files are there
            assert cli.main([*quiet, *again]) == 0, quiet
            assert capsys.readouterr() == ("", ""), quiet
    assert (tmp_path / "cmp" / "report.html").is_file()


def test_quiet_still_prints_json_asked_for(job: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-q", "profile", "--config", str(job), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("[")
    assert err == ""


# --- history's marks -------------------------------------------------------------------------------------


def test_history_explains_its_marks_and_counts_what_does_not_fit(
    job: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in DAYS:
        cli.main(["-q", "run", "--config", str(job), "--date", day])
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "100")
    assert cli.main(["history", "--config", str(job)]) == 0
    out = capsys.readouterr().out
    assert "!! critical · ! warn · E error · ? insufficient data · no mark: ok" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 100
    monkeypatch.setenv("COLUMNS", "40")
    assert cli.main(["history", "--config", str(job)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 more features not shown: --feature NAME, --format json" in out
    assert "x" in out  # the drifted feature is the one kept


def test_a_bad_config_is_still_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-q", "history", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in one_error(capsys.readouterr().err)
