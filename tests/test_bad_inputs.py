"""The bad-input matrix of issue 7, through the CLI and the Python API, on real files.

Every bad file exits 2 with one line that names the path and what is wrong
(never a traceback), and raises :class:`~kldrift.errors.SourceError` from the API.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import one_error

import kldrift
from kldrift import cli
from kldrift.config import load_config
from kldrift.errors import ConfigError, KLDriftError, ProfileError, SourceError
from kldrift.interval import Interval
from kldrift.pipeline import run

DATE = "2026-05-01"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid reference folder and a valid current partition."""
    root = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(1)
    table = pa.table({"x": rng.normal(0, 1, 2_000), "c": pa.array(rng.choice(["a", "b"], 2_000))})
    (root / "ref").mkdir()
    pq.write_table(table, root / "ref" / "part-0.parquet")
    (root / "cur" / f"dt={DATE}").mkdir(parents=True)
    pq.write_table(table, root / "cur" / f"dt={DATE}" / "part-0.parquet")
    return root


def _valid_bytes(good: Path) -> bytes:
    return (good / "ref" / "part-0.parquet").read_bytes()


def _file(name: str, data: Callable[[Path], bytes]) -> Callable[[Path, Path], str]:
    def make(tmp: Path, good: Path) -> str:
        path = tmp / name
        path.write_bytes(data(good))
        return str(path)

    return make


def _random_with_magic(good: Path) -> bytes:
    # PAR1 at both ends and a footer length that fits the file: the reader gets as far as the footer.
    body = np.random.default_rng(7).bytes(600)
    return b"PAR1" + body + struct.pack("<i", 100) + b"PAR1"


def _empty_dir(tmp: Path, good: Path) -> str:
    (tmp / "empty_dir").mkdir()
    return str(tmp / "empty_dir")


def _dir_of_text(tmp: Path, good: Path) -> str:
    (tmp / "notes").mkdir()
    (tmp / "notes" / "README.txt").write_text("no data here\n")
    return str(tmp / "notes")


def _dir_with_empty_file(tmp: Path, good: Path) -> str:
    (tmp / "part").mkdir()
    (tmp / "part" / "part-0.parquet").write_bytes(b"")
    return str(tmp / "part")


# id → (make the bad path, the expected message with {path}; "{file}" is the file inside a folder)
MATRIX: dict[str, tuple[Callable[[Path, Path], str], str]] = {
    "missing-path": (lambda tmp, good: str(tmp / "nope.parquet"), r"{path}: no such file or directory"),
    "empty-file": (_file("empty.parquet", lambda g: b""), r"{path}: empty file \(0 bytes\); expected a Parquet file"),
    "truncated": (
        _file("trunc.parquet", lambda g: _valid_bytes(g)[: len(_valid_bytes(g)) // 2]),
        r"{path}: not a readable Parquet file: Parquet magic bytes not found in footer\. .*",
    ),
    "footer-cut": (
        _file("cut.parquet", lambda g: _valid_bytes(g)[:-9] + b"PAR1"),
        r"{path}: not a readable Parquet file: .*",
    ),
    "random-with-magic": (_file("magic.parquet", _random_with_magic), r"{path}: not a readable Parquet file: .*"),
    "csv-named-parquet": (
        _file("data.parquet", lambda g: b"x,c\n1.0,a\n2.0,b\n"),
        r"{path}: not a readable Parquet file: Parquet magic bytes not found in footer\. .*",
    ),
    "empty-folder": (_empty_dir, r"{path}: no Parquet files in this folder"),
    "folder-of-text": (_dir_of_text, r"{path}: no Parquet files in this folder \(skipped as not data: README\.txt\)"),
    "folder-with-empty-file": (_dir_with_empty_file, r"{path}/part-0\.parquet: empty file \(0 bytes\); .*"),
    "glob-matching-nothing": (lambda tmp, good: str(tmp / "*.parquet"), r"{path}: glob matched no files"),
    "glob-in-missing-folder": (lambda tmp, good: str(tmp / "nowhere" / "*.parquet"), r"{path}: glob matched no files"),
}


def expected(pattern: str, path: str) -> str:
    return "^" + pattern.replace("{path}", re.escape(path)) + "$"


@pytest.fixture(params=list(MATRIX), ids=list(MATRIX))
def bad(request: pytest.FixtureRequest, tmp_path: Path, good: Path) -> tuple[str, str]:
    make, pattern = MATRIX[request.param]
    path = make(tmp_path, good)
    return path, pattern


def test_cli_compare_current(capsys: pytest.CaptureFixture[str], good: Path, bad: tuple[str, str]) -> None:
    path, pattern = bad
    assert cli.main(["compare", str(good / "ref"), path]) == 2
    assert re.match(expected(pattern, path), one_error(capsys.readouterr().err))


def test_cli_compare_reference(capsys: pytest.CaptureFixture[str], good: Path, bad: tuple[str, str]) -> None:
    path, pattern = bad
    assert cli.main(["compare", path, str(good / "cur" / f"dt={DATE}")]) == 2
    assert re.match(expected(pattern, path), one_error(capsys.readouterr().err))


NO_DATA = {"missing-path", "empty-folder", "folder-of-text", "glob-matching-nothing", "glob-in-missing-folder"}
"""A partition that is not there: a scheduled run says ``no_data`` (an alert), an ad-hoc comparison exits 2."""


def test_cli_run(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, tmp_path: Path, good: Path, bad: tuple[str, str]
) -> None:
    path, pattern = bad
    config = tmp_path / "job.yaml"
    config.write_text(f"dataset: bad\nreference: {good / 'ref'}\ncurrent: '{path}'\noutput: out/\n")
    folder = tmp_path / "out" / "bad" / f"dt={DATE}"
    if request.node.callspec.params["bad"] in NO_DATA:
        # the files are written, with a no_data alert naming the path; fail_on turns it into exit 1
        assert cli.main(["-q", "run", "--config", str(config), "--date", DATE]) == 0
        rows = [json.loads(line) for line in (folder / "alerts.jsonl").read_text().splitlines()]
        assert [(r["check"], r["severity"]) for r in rows] == [("no_data", "critical")]
        assert re.search(expected(f"current data for {DATE}: " + pattern, path)[1:], rows[0]["message"])
        assert cli.main(["-q", "run", "--config", str(config), "--date", DATE, "--fail-on", "critical"]) == 1
        return
    assert cli.main(["-q", "run", "--config", str(config), "--date", DATE]) == 2
    assert re.match(expected(f"current data for {DATE}: " + pattern, path), one_error(capsys.readouterr().err))
    assert not folder.exists()  # nothing written for that date


def test_api(good: Path, bad: tuple[str, str]) -> None:
    path, pattern = bad
    with pytest.raises(SourceError, match=expected(pattern, path)):
        kldrift.compare(good / "ref", path)
    with pytest.raises(SourceError, match=expected(pattern, path)):
        kldrift.fit(path)
    with pytest.raises(SourceError, match=expected(pattern, path)):
        kldrift.compare(path, good / "cur" / f"dt={DATE}")


def test_many_random_blobs_with_magic_are_all_source_errors(tmp_path: Path, good: Path) -> None:
    # Not one lucky blob: whatever garbage sits between the magic bytes, a one-line SourceError.
    rng = np.random.default_rng(2026)
    path = tmp_path / "blob.parquet"
    for _ in range(60):
        n = int(rng.integers(0, 3_000))
        footer = int(rng.integers(0, n + 1))
        path.write_bytes(b"PAR1" + rng.bytes(n) + struct.pack("<i", footer) + b"PAR1")
        with pytest.raises(SourceError, match=f"^{re.escape(str(path))}: not a readable Parquet file: ") as info:
            kldrift.compare(good / "ref", path)
        assert "\n" not in str(info.value)


# --- the date's partition, the date itself, templates, profiles -----------------------------------------


def job(tmp_path: Path, good: Path, **keys: str) -> Path:
    values = {"reference": str(good / "ref"), "current": f"{good / 'cur'}/dt={{ds}}/", "output": "out/", **keys}
    config = tmp_path / "job.yaml"
    config.write_text("dataset: bad\n" + "".join(f"{k}: '{v}'\n" for k, v in values.items()))
    return config


def test_partition_of_the_date_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path, good: Path) -> None:
    config = job(tmp_path, good)
    missing = f"{good / 'cur'}/dt=2026-05-02"  # as the template renders it, normalised
    assert cli.main(["-q", "run", "--config", str(config), "--date", "2026-05-02", "--fail-on", "critical"]) == 1
    assert "NO DATA" not in capsys.readouterr().err
    result = run(load_config(config), Interval.for_date("2026-05-02"))
    (check,) = result.report.checks
    assert (check.check, check.severity) == ("no_data", "critical")
    assert check.message == f"no data: current data for 2026-05-02: {missing}: no such file or directory"
    assert (
        result.report.verdict.headline == f"No data: current data for 2026-05-02: {missing}: no such file or directory"
    )
    assert all(f.severity == "insufficient_data" for f in result.report.features)
    assert result.summary().worst == "critical"


def test_date_that_is_not_a_date(capsys: pytest.CaptureFixture[str], tmp_path: Path, good: Path) -> None:
    config = job(tmp_path, good)
    assert cli.main(["run", "--config", str(config), "--date", "05/01/2026"]) == 2
    assert one_error(capsys.readouterr().err) == "--date: expected a date as YYYY-MM-DD, got '05/01/2026'"
    with pytest.raises(ConfigError, match=r"^date: expected a date as YYYY-MM-DD, got '2026-5-1'$"):
        Interval.for_date("2026-5-1")


def test_template_placeholder_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good: Path
) -> None:
    config = job(tmp_path, good, current=f"{good / 'cur'}/dt={{date}}/")
    assert cli.main(["run", "--config", str(config), "--date", DATE]) == 2
    msg = one_error(capsys.readouterr().err)
    assert msg.startswith(f"{config}: current: unknown placeholder {{date}} in ")
    with pytest.raises(ConfigError, match=r": current: unknown placeholder \{date\} in "):
        load_config(config)


def _tampered_profile(tmp_path: Path, good: Path) -> Path:
    profile = kldrift.fit(good / "ref")
    path = tmp_path / "profile.json"
    profile.save(path)
    data = json.loads(path.read_text())
    edges = data["features"]["x"]["edges"]
    edges[0] -= 0.5  # a hand edit: the bins no longer match the recorded fingerprint
    path.write_text(json.dumps(data))
    return path


def test_profile_whose_fingerprint_does_not_match(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good: Path
) -> None:
    path = _tampered_profile(tmp_path, good)
    pattern = (
        rf"^{re.escape(str(path))}: bin spec fingerprint \w+ does not match the recorded \w+; the profile was edited"
    )
    # As the reference of compare, and as `reference:` of a job: exit 2, the file named.
    assert cli.main(["compare", str(path), str(good / "cur" / f"dt={DATE}")]) == 2
    assert re.match(pattern, one_error(capsys.readouterr().err))
    config = job(tmp_path, good, reference=str(path))
    assert cli.main(["-q", "run", "--config", str(config), "--date", DATE]) == 2
    assert re.match(pattern, one_error(capsys.readouterr().err))
    with pytest.raises(ProfileError, match=pattern):
        kldrift.compare(path, good / "cur" / f"dt={DATE}")


def test_a_tampered_saved_profile_of_a_job_is_refitted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good: Path
) -> None:
    # The job's own profile (`profile:`) is a cache of the reference: a bad one is refitted, loudly.
    path = _tampered_profile(tmp_path, good)
    config = job(tmp_path, good, profile=str(path))
    assert cli.main(["-q", "run", "--config", str(config), "--date", DATE]) == 0
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith(f"kldrift: WARNING: {path}: bin spec fingerprint ")
    assert warning.endswith("the profile was edited or is corrupt; refitting the profile")
    kldrift.profile.Profile.load(path)  # rewritten: loads cleanly now


# --- unreadable files: permission bits, enforced on a process without capabilities -----------------------


def _without_capabilities(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a forked child of this process that has dropped every capability; returns its result.

    Root ignores permission bits through CAP_DAC_OVERRIDE; without it the kernel enforces them as for any user.
    """

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()) != 0:
                out = {"skip": f"capset failed: errno {ctypes.get_errno()}"}
            else:
                try:
                    out = {"result": fn()}
                except Exception as exc:
                    out = {"error": type(exc).__name__, "message": str(exc)}
            os.write(write, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        blob = fh.read()
    os.waitpid(pid, 0)
    out = json.loads(blob)
    if "skip" in out:
        pytest.skip(out["skip"])
    return out


def _compare_and_cli(ref: Path, cur: str) -> dict[str, Any]:
    import contextlib
    import io

    try:
        kldrift.compare(ref, cur)
        api = "no error"
    except KLDriftError as exc:
        api = f"{type(exc).__name__}: {exc}"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["compare", str(ref), cur])
    return {"api": api, "code": code, "stderr": err.getvalue()}


@pytest.mark.parametrize("what", ["file", "folder"])
def test_unreadable_permissions(tmp_path: Path, good: Path, what: str) -> None:
    src = good / "cur" / f"dt={DATE}" / "part-0.parquet"
    if what == "file":
        bad = tmp_path / "locked.parquet"
        bad.write_bytes(src.read_bytes())
    else:
        bad = tmp_path / "locked"
        bad.mkdir()
        (bad / "part-0.parquet").write_bytes(src.read_bytes())
    control = _without_capabilities(lambda: _compare_and_cli(good / "ref", str(bad)))
    assert control["result"]["code"] == 0, control  # readable: the same child compares fine
    bad.chmod(0o000)
    try:
        out = _without_capabilities(lambda: _compare_and_cli(good / "ref", str(bad)))["result"]
    finally:
        bad.chmod(0o755)
    assert out["api"] == f"SourceError: {bad}: permission denied"
    assert out["code"] == 2
    assert one_error(out["stderr"]) == f"{bad}: permission denied"
