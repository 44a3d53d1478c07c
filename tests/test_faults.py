"""Faults of issues 7 and 11 with real processes and real file systems, no mocks.

* A run SIGKILLed at random times, and the moment its staging folder appears,
  leaves the date's whole set of files old or new (never a mix: the manifest
  always describes the files beside it), nothing visible half-written, a
  readable dataset, and the next run completes and sweeps the leftovers.
* Two runs of one date at once end with one complete, consistent set.
* A read-only output folder (a read-only bind mount, and permission bits
  enforced on a root process without capabilities) and a full disk (a small
  tmpfs): exit 2 with one clear line, the previous outputs intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from helpers import one_error

from kldrift import cli
from kldrift.config import load_config
from kldrift.history import read_history

pytestmark = pytest.mark.slow  # real processes, servers or kills: `make test` runs it, `make test-fast` not

DATE = "2026-03-01"
OUTPUTS = ("alerts.jsonl", "metrics.parquet", "manifest.json", "report.html")

# A long-lived process that imports kldrift once, then forks one child per trial and
# SIGKILLs it: at a random delay, or as soon as a named temp file shows up in the run folder.
DRIVER = textwrap.dedent(
    """
    import contextlib, ctypes, io, json, os, signal, sys, time
    from kldrift import cli

    def drop_capabilities():
        # capset(2) with empty sets: this process stays uid 0 but loses CAP_DAC_OVERRIDE & co,
        # so the kernel checks permission bits on it as on any user (what `setpriv` does).
        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()) != 0:
            os._exit(99)

    def child(cmd):
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # this pipe is the test's
        os.dup2(os.open(cmd.get("stderr", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        if cmd.get("nocaps"):
            drop_capabilities()
        os._exit(cli.main(["-q", "run", "--config", cmd["config"], "--date", cmd["date"]]))

    # Warm up: the first run in a process imports and compiles what the later ones reuse.
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["-q", "run", "--config", sys.argv[1], "--date", sys.argv[2]]) == 0
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "race":
            pids = []
            for config in cmd["configs"]:
                pid = os.fork()
                if pid == 0:
                    child({**cmd, "config": config})
                pids.append(pid)
            codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
            print(json.dumps({"codes": codes}), flush=True)
            continue
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            child(cmd)
        seen = status = None
        if cmd.get("at"):  # kill as soon as an entry named cmd["at"]... exists in cmd["folder"]
            prefix = cmd["at"]
            while seen is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
                    break
                with os.scandir(cmd["folder"]) as it:
                    for e in it:
                        if e.name.startswith(prefix):
                            seen = e.name
                            break
            if seen is not None:
                time.sleep(cmd.get("extra", 0.0))
                os.kill(pid, signal.SIGKILL)
        elif cmd.get("delay") is not None:
            time.sleep(cmd["delay"])
            os.kill(pid, signal.SIGKILL)  # a zombie that already exited ignores it
        if status is None:
            status = os.waitpid(pid, 0)[1]
        print(json.dumps({"code": os.waitstatus_to_exitcode(status), "seen": seen,
                          "seconds": time.perf_counter() - t0}), flush=True)
    """
)


def _table(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    return pa.table({"x": rng.normal(shift, 1.0, n), "c": pa.array(rng.choice(["a", "b", "c"], n))})


def make_job(root: Path, output: Path | None = None) -> tuple[Path, Path]:
    """Data with ``x`` drifted on DATE, and two configs of one dataset that write different files:
    A (default thresholds: x critical) and B (thresholds nothing reaches: no alerts)."""
    rng = np.random.default_rng(3)
    (root / "ref").mkdir(parents=True)
    pq.write_table(_table(rng, 3_000, 0.0), root / "ref" / "part-0.parquet")
    (root / "cur" / f"dt={DATE}").mkdir(parents=True)
    pq.write_table(_table(rng, 1_000, 1.0), root / "cur" / f"dt={DATE}" / "part-0.parquet")
    out = output or root / "out"
    base = f"dataset: job\nreference: {root / 'ref'}\ncurrent: {root / 'cur'}/dt={{ds}}/\noutput: {out}\n"
    a, b = root / "a.yaml", root / "b.yaml"
    a.write_text(base)
    b.write_text(base + "thresholds: {warn: 50, critical: 99}\n")
    return a, b


def run_folder(config: Path) -> Path:
    return Path(load_config(config).dataset_dir()) / f"dt={DATE}"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in OUTPUTS if (folder / n).exists()}


def check_intact(config: Path, versions: dict[str, dict[str, bytes]]) -> dict[str, str]:
    """Each output is byte for byte one of the known versions, nothing partial is visible, and the
    output folder still reads as a Parquet dataset. Returns which version each file is."""
    folder = run_folder(config)
    visible = {n for n in os.listdir(folder) if not n.startswith(".")}
    assert visible == set(OUTPUTS), visible
    assert not [n for n in os.listdir(folder) if n.startswith(".")]  # staging happens beside, never inside
    which = {}
    for name in OUTPUTS:
        blob = (folder / name).read_bytes()
        match = [v for v, files in versions.items() if files[name] == blob]
        if name == "manifest.json":  # wall-clock times differ between runs: parse it instead
            m = json.loads(blob)
            match = [v for v, files in versions.items() if json.loads(files[name])["config_hash"] == m["config_hash"]]
        assert match, f"{name} is neither version"
        which[name] = match[0]
    dataset_dir = folder.parent
    leftovers = {n for n in os.listdir(dataset_dir) if not n.startswith(".")}
    assert leftovers <= {f"dt={DATE}", "index.html", "profile.json"}
    table = ds.dataset(dataset_dir, format="parquet", partitioning="hive", exclude_invalid_files=True).to_table()
    features = table.filter(pc.field("check") == "drift")
    assert features.num_rows == 2
    assert set(features.column("feature").to_pylist()) == {"x", "c"}
    assert len(read_history(load_config(config))) == 2
    return which


def assert_consistent(config: Path) -> str:
    """The manifest's digests match the files beside it: one complete set. Returns its config hash."""
    folder = run_folder(config)
    m = json.loads((folder / "manifest.json").read_text())
    for out in ("alerts", "metrics", "report"):
        entry = m["outputs"][out]
        assert hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest() == entry["sha256"], out
    return str(m["config_hash"])


class Driver:
    def __init__(self, script: Path, warm_config: Path) -> None:
        script.write_text(DRIVER)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(warm_config), DATE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def send(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "driver died"
        return dict(json.loads(line))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    """One warm process for all the kills and races of this module (~1 s a run instead of ~6)."""
    root = tmp_path_factory.mktemp("warm")
    a, _ = make_job(root)
    d = Driver(root / "driver.py", a)
    yield d
    d.close()


# --- SIGKILL while writing ------------------------------------------------------------------------


def test_sigkill_at_any_point_leaves_old_or_new_files(tmp_path: Path, driver: Driver) -> None:
    a, b = make_job(tmp_path)
    folder = run_folder(a)
    assert driver.send(op="run", config=str(a), date=DATE)["code"] == 0
    old = snapshot(folder)
    full = driver.send(op="run", config=str(b), date=DATE)
    assert full["code"] == 0
    new = snapshot(folder)
    assert old["alerts.jsonl"] != new["alerts.jsonl"] == b""  # A alerts on x, B on nothing
    versions = {"old": old, "new": new}

    rnd = random.Random(20260301)
    outcomes = []

    def kill(**trial: Any) -> dict[str, Any]:
        shutil.rmtree(folder)  # back to the old set before each kill, and no leftovers of an earlier one
        for name in os.listdir(folder.parent):
            if name.startswith(f".{folder.name}."):
                shutil.rmtree(folder.parent / name, ignore_errors=True)
        folder.mkdir()
        for name, blob in old.items():
            (folder / name).write_bytes(blob)
        result = driver.send(op="run", config=str(b), date=DATE, folder=str(folder.parent), **trial)
        outcomes.append(check_intact(a, versions))
        assert_consistent(a)  # the manifest describes exactly the files beside it
        return result

    # Killed while the new set is being written into its staging folder, or swapped in (a write can be
    # over before the poll sees it: try again).
    caught = 0
    for _ in range(24):
        result = kill(at=f".{folder.name}.stage-", extra=rnd.uniform(0, 0.004))
        caught += bool(result["seen"] and result["code"] == -9)
    assert caught >= 6, f"caught the run mid-commit {caught} times in 24"
    # Killed at random times over the whole run: some died before replacing anything, others after.
    for _ in range(8):
        kill(delay=rnd.uniform(0, 1.5 * full["seconds"]))
    states = {tuple(sorted(w.items())) for w in outcomes}
    assert len(states) >= 2, states  # both the old and the new set were seen
    # One set, always: B's alerts never beside A's metrics, report or manifest.
    assert all(len(set(w.values())) == 1 for w in outcomes), outcomes

    # The next run completes, writes the new set consistent with its manifest, and sweeps what kills left.
    assert driver.send(op="run", config=str(b), date=DATE)["code"] == 0
    assert check_intact(a, versions) == dict.fromkeys(OUTPUTS, "new")
    assert assert_consistent(b) == load_config(b).fingerprint()
    assert not [n for n in os.listdir(folder.parent) if n.startswith(f".{folder.name}.") and "lock" not in n]


def test_two_runs_of_one_date_at_once_end_with_one_consistent_set(tmp_path: Path, driver: Driver) -> None:
    a, b = make_job(tmp_path)
    hashes = {load_config(a).fingerprint(), load_config(b).fingerprint()}
    for i in range(3):
        if i == 0:
            shutil.rmtree(tmp_path / "out", ignore_errors=True)  # from nothing: both fit the profile too
        assert driver.send(op="race", configs=[str(a), str(b)], date=DATE)["codes"] == [0, 0]
        assert assert_consistent(a) in hashes
        folder = run_folder(a)
        assert {n for n in os.listdir(folder) if not n.startswith(".")} == set(OUTPUTS)
        assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]  # nobody was killed: no leftovers
        alerts = (folder / "alerts.jsonl").read_text()
        m = json.loads((folder / "manifest.json").read_text())
        assert (alerts == "") == (m["config_hash"] == load_config(b).fingerprint())


# --- read-only folders and full disks ---------------------------------------------------------------


def _sh(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


@contextlib.contextmanager
def mounted(*args: str, target: Path) -> Iterator[None]:
    proc = _sh("mount", *args, str(target))
    if proc.returncode != 0:
        pytest.skip(f"`mount {' '.join(args)}` refused in this sandbox: {proc.stderr.strip()}")
    try:
        yield
    finally:
        if _sh("umount", str(target)).returncode != 0:
            _sh("umount", "-l", str(target))


def test_read_only_file_system_exits_2_and_keeps_the_old_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = make_job(tmp_path)
    assert cli.main(["-q", "run", "--config", str(a), "--date", DATE]) == 0
    out = tmp_path / "out"
    before = snapshot(run_folder(a))
    capsys.readouterr()
    with mounted("--bind", str(out), target=out):
        proc = _sh("mount", "-o", "remount,ro,bind", str(out))
        if proc.returncode != 0:
            pytest.skip(f"read-only remount refused: {proc.stderr.strip()}")
        assert cli.main(["-q", "run", "--config", str(b), "--date", DATE]) == 2
        msg = one_error(capsys.readouterr().err)
        # The lock file beside the run folder is the first thing a run writes there.
        assert msg == f"{run_folder(a)}: cannot write output: read-only file system"
    assert snapshot(run_folder(a)) == before
    assert not [n for n in os.listdir(run_folder(a)) if n.startswith(".")]


def run_without_capabilities(driver: Driver, config: Path, tmp_path: Path) -> tuple[int, str]:
    """``kldrift run`` in a child process of uid 0 with no capabilities; returns (exit code, stderr)."""
    err = tmp_path / "stderr.txt"
    code = driver.send(op="run", config=str(config), date=DATE, nocaps=True, stderr=str(err))["code"]
    if code == 99:
        pytest.skip("capset(2) refused: cannot drop root's capabilities here")
    return code, err.read_text()


def test_dropping_capabilities_really_enforces_permission_bits(driver: Driver, tmp_path: Path) -> None:
    # The control for the two tests below: without capabilities, a mode-000 file of root's is unreadable.
    secret = tmp_path / "a.yaml"
    secret.write_text("dataset: x\n")
    secret.chmod(0o000)
    code, err = run_without_capabilities(driver, secret, tmp_path)
    assert code == 2
    assert one_error(err) == f"{secret}: cannot read config file: [Errno 13] Permission denied: '{secret}'"


def test_permission_denied_output_folder_exits_2_and_keeps_the_old_files(driver: Driver, tmp_path: Path) -> None:
    a, b = make_job(tmp_path)
    assert driver.send(op="run", config=str(a), date=DATE)["code"] == 0
    folder = run_folder(a)
    before = snapshot(folder)
    os.chmod(folder, 0o555)
    os.chmod(folder.parent, 0o555)
    try:
        code, err = run_without_capabilities(driver, b, tmp_path)
    finally:
        os.chmod(folder, 0o755)
        os.chmod(folder.parent, 0o755)
    assert code == 2
    assert one_error(err) == f"{folder}: cannot write output: permission denied"  # the lock file beside it
    assert snapshot(folder) == before
    assert not [n for n in os.listdir(folder) if n.startswith(".")]


def test_permission_denied_for_a_new_output_folder(driver: Driver, tmp_path: Path) -> None:
    out = tmp_path / "locked"
    out.mkdir(mode=0o555)
    a, _ = make_job(tmp_path, output=out)
    code, err = run_without_capabilities(driver, a, tmp_path)
    assert code == 2
    assert one_error(err) == f"{out / 'job' / 'profile.json'}: cannot write output: permission denied"
    assert os.listdir(out) == []


@contextlib.contextmanager
def full_disk(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """A job whose outputs live on a 2 MiB tmpfs: yields its configs and the filler file to delete."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs", target=disk):
        a, b = make_job(tmp_path, output=disk)
        assert cli.main(["-q", "run", "--config", str(a), "--date", DATE]) == 0
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as fh:
            while True:  # take every free block
                fh.write(b"\0" * 4096)
                fh.flush()
        yield a, b, disk / "filler"


def test_full_disk_exits_2_with_no_partial_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with full_disk(tmp_path) as (a, b, filler):
        folder = run_folder(a)
        old = snapshot(folder)
        capsys.readouterr()
        assert cli.main(["-q", "run", "--config", str(b), "--date", DATE]) == 2
        msg = one_error(capsys.readouterr().err)
        # B's alerts.jsonl is empty (it needs no block): the first write that fails is the metrics.
        assert msg == f"{folder / 'metrics.parquet'}: cannot write output: no space left on device"
        assert not [n for n in os.listdir(folder.parent) if ".stage-" in n]  # the staging folder was removed
        now = snapshot(folder)
        # B's files were staged and never swapped in: every file is still A's, whole, page included.
        assert {n: now[n] == old[n] for n in OUTPUTS} == dict.fromkeys(OUTPUTS, True)
        filler.unlink()
        assert cli.main(["-q", "run", "--config", str(b), "--date", DATE]) == 0  # space again: it completes
        assert assert_consistent(b) == load_config(b).fingerprint()


def test_full_disk_leaves_the_previous_set_consistent(tmp_path: Path) -> None:
    with full_disk(tmp_path) as (a, b, _):
        assert cli.main(["-q", "run", "--config", str(b), "--date", DATE]) == 2
        assert assert_consistent(a) == load_config(a).fingerprint()
