"""Issue 20, finding 4: text from the data reaches a terminal with its control characters escaped.

A column named ``ESC ] 0;title BEL`` would retitle the terminal window, ``ESC [2J`` clear the screen,
a newline split a one-line error, U+202E reverse the rest of a line. Every place where kldrift's
command line shows data-derived text (tables, log lines, errors) shows them as escapes instead,
as Python writes them in a string literal (``\\x1b]0;title\\x07``).
"""

from __future__ import annotations

import io
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from helpers import one_error, write_parquet

from kldrift import cli
from kldrift.terminal import printable, setup_logging

TITLE, CLEAR, SPLIT, BIDI = "\x1b]0;title\x07", "\x1b[2J", "line\nbreak", "rate\u202elive"
RAW = ("\x1b", "\x07", "\u202e", "\x9b")  # ESC, BEL, RLO and the 8-bit CSI: never written as they are
RNG = np.random.default_rng(44)


def _shown(text: str) -> str:
    """How a name appears on the terminal: the escapes, as text (hand: ESC is written \\x1b)."""
    return printable(text)


def _assert_clean(*outputs: str) -> None:
    for out in outputs:
        for char in RAW:
            assert char not in out, (char, out)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    n = 2_000
    names = [TITLE, CLEAR, SPLIT, BIDI, "csi\x9b31m"]
    ref = pa.table({name: RNG.normal(0, 1, n) for name in names})
    cur = pa.table({name: RNG.normal(1, 1, n) for name in names if name != CLEAR})  # one column dropped
    return write_parquet(tmp_path / "ref.parquet", ref), write_parquet(tmp_path / "cur.parquet", cur)


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable(TITLE + CLEAR) == "\\x1b]0;title\\x07\\x1b[2J"  # hand: ESC = 0x1b, BEL = 0x07
    assert printable(SPLIT) == "line\\nbreak"
    assert printable(BIDI) == "rate\\u202elive"
    assert printable("csi\x9b31m\x7f") == "csi\\x9b31m\\x7f"  # C1 controls and DEL
    assert printable("fare_amount, 東京, café, [bold] 100%") == "fare_amount, 東京, café, [bold] 100%"


def test_the_drift_table_shows_column_names_escaped(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur = files
    code = cli.main(["compare", str(ref), str(cur)])
    out, err = capsys.readouterr()
    assert code == 0
    _assert_clean(out, err)
    for name in (TITLE, CLEAR, SPLIT, BIDI):
        assert _shown(name) in out
    assert f"schema: critical column {CLEAR!r} was dropped" in out  # messages quote with repr already


def test_profile_and_history_tables_show_column_names_escaped(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # (the history of a run with a dropped column was an internal error: its all-NaN values column was dropped
    # by pandas' pivot and the severities' was not)
    ref, cur = files
    (tmp_path / "cur" / "dt=2026-03-01").mkdir(parents=True)
    cur.rename(tmp_path / "cur" / "dt=2026-03-01" / "a.parquet")
    config = tmp_path / "job.yaml"
    config.write_text(f"dataset: esc\nreference: {ref}\ncurrent: 'cur/dt={{ds}}/'\noutput: out/\n")
    assert cli.main(["profile", "--config", str(config)]) == 0
    assert cli.main(["-q", "run", "--config", str(config), "--date", "2026-03-01"]) == 0
    assert cli.main(["history", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    _assert_clean(out, err)
    assert _shown(TITLE) in out


def test_one_line_errors_show_paths_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / f"ref{TITLE}\n{BIDI}.parquet"  # no "[": it would be a glob
    assert cli.main(["compare", str(missing), str(missing)]) == 2
    out, err = capsys.readouterr()
    _assert_clean(out, err)
    shown = _shown(" ".join(str(missing).split()))  # an error is one line: its newline is a space already
    assert one_error(err) == f"{shown}: no such file or directory"


def test_internal_errors_are_escaped_too(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args: object) -> int:
        raise RuntimeError(f"bug near {CLEAR}")

    monkeypatch.setitem(cli.COMMANDS, "report", broken)
    assert cli.main(["report", "--config", "x.yaml", "--date", "2026-03-01"]) == cli.EXIT_INTERNAL
    _, err = capsys.readouterr()
    _assert_clean(err)
    assert "RuntimeError: bug near \\x1b[2J (run with -v for the traceback)" in err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [False, True], ids=["plain-lines", "rich-handler"])
def test_log_lines_show_file_names_escaped(
    tty: bool, files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, _ = files
    folder = tmp_path / "refdir"
    folder.mkdir()
    ref.rename(folder / "a.parquet")
    (folder / f"notes{TITLE}.txt").write_text("a note beside the data: skipped, and logged")
    stream = _Tty() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        setup_logging(1, False)  # -v: info lines, where the skipped file is named
        from kldrift.sources import open_source

        open_source(folder)
    finally:
        logging.getLogger("kldrift").handlers[:] = []
    text = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())  # rich's own colours on a terminal; none else
    _assert_clean(text)
    expected = f"skipped 1 file(s) that are not data: {folder / ('notes' + _shown(TITLE) + '.txt')}"
    assert re.sub(r"\s+", "", expected) in re.sub(r"\s+", "", text)  # rich wraps lines at the terminal's width
