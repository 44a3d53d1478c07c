"""The output layout: a dataset's run folders, their files, committing a run, reading runs back.

``<output>/<dataset>/`` holds ``profile.json``, ``index.html`` and one folder per run,
``dt=<key>/``: ``alerts.jsonl``, ``metrics.parquet``, ``report.html``, ``manifest.json``
and, once a webhook was called, ``deliveries.jsonl``. The key is the interval's date
(``dt=2026-11-23``) when the interval starts at midnight and lasts whole days, else its
start to the minute (``dt=2026-11-23T10:00Z``), so an hourly job's runs never share a
folder.

A run's files are committed as one set: written into a hidden staging folder
beside the run folder, then swapped in with one atomic exchange of the two
folders (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames, which
a crash between them leaves recoverable). A reader, or a run killed at any
point, sees the old set or the new one, never a mix. Runs of one folder are
serialised by a lock file; each commit first sweeps what killed runs left
(temp files, staging folders) and finishes an interrupted swap.

Every reader of past runs goes through :func:`read_runs`, with one failure
policy: a run whose metrics cannot be read is reported as such (and logged),
never a reason to stop reading the others.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kldrift.atomic import output_error
from kldrift.errors import ConfigError
from kldrift.interval import Interval

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ALERTS",
    "DELIVERIES",
    "INDEX",
    "MANIFEST",
    "METRICS",
    "PROFILE",
    "REPORT",
    "RUN_FILES",
    "SUMMARY_COLUMNS",
    "RunSummary",
    "check_key",
    "commit",
    "list_runs",
    "locked",
    "read_deliveries",
    "read_runs",
    "record_delivery",
    "run_dir",
    "run_key",
    "sweep",
]

log = logging.getLogger(__name__)

ALERTS = "alerts.jsonl"
METRICS = "metrics.parquet"
REPORT = "report.html"
MANIFEST = "manifest.json"
DELIVERIES = "deliveries.jsonl"
INDEX = "index.html"
PROFILE = "profile.json"
RUN_FILES = (ALERTS, METRICS, REPORT, MANIFEST, DELIVERIES)
"""The files of a run folder, in the order a page lists them."""
SUMMARY_COLUMNS = (
    *("date", "check", "feature", "kind", "severity", "message", "metric", "value"),
    *("kl", "kl_reverse", "psi", "jensen_shannon", "p_adjusted", "threshold_warn", "threshold_critical"),
    *("n_current", "expected_rows", "reference_type", "current_type", "file"),
    *("drift_share", "dataset_drift", "share_threshold", "rows_reference", "rows_current"),
    *("interval_start", "interval_end", "segment"),
)
"""The metrics columns readers of past runs need (trends, the index, ``kldrift history``): not the bins."""

_PREFIX = "dt="
_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2}))?$")
_STAGE = ".stage-"
_OLD = ".old-"


def run_key(interval: Interval) -> str:
    """The run folder's key of ``interval``: its date, or its start when it is not whole days from midnight."""
    start, end = interval.start, interval.end
    whole_days = (end - start).total_seconds() % 86_400 == 0
    if whole_days and (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0):
        return interval.ds
    spec = "minutes" if start.second == 0 and start.microsecond == 0 else "seconds"
    return start.replace(microsecond=0).isoformat(timespec=spec).replace("+00:00", "Z")


def check_key(text: str) -> str:
    """``text`` when it is a run key (``2026-11-23`` or ``2026-11-23T10:00Z``); :class:`ConfigError` otherwise."""
    if not _KEY.match(text):
        msg = f"--date: expected a run's date (YYYY-MM-DD) or start (YYYY-MM-DDTHH:MMZ), got {text!r}"
        raise ConfigError(msg)
    return text


def run_dir(dataset_dir: str, key: str) -> str:
    """``<dataset_dir>/dt=<key>``."""
    return os.path.join(dataset_dir, f"{_PREFIX}{key}")


def list_runs(dataset_dir: str) -> list[tuple[str, str]]:
    """``(key, folder)`` of every run folder under ``dataset_dir``, oldest first (keys sort by time)."""
    try:
        names = os.listdir(dataset_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in names:
        key = name[len(_PREFIX) :]
        if name.startswith(_PREFIX) and _KEY.match(key) and os.path.isdir(os.path.join(dataset_dir, name)):
            out.append((key, os.path.join(dataset_dir, name)))
    return sorted(out)


# --- locking, sweeping, committing ---------------------------------------------------------------


@contextlib.contextmanager
def locked(folder: str) -> Iterator[None]:
    """Hold the lock of ``folder`` (a file ``.<name>.lock`` beside it) for the block."""
    parent, name = os.path.split(os.path.abspath(folder).rstrip(os.sep))
    try:
        os.makedirs(parent, exist_ok=True)
        fh = open(os.path.join(parent, f".{name}.lock"), "a")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise output_error(folder, exc) from exc
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def sweep(folder: str) -> None:
    """Clean up after runs of ``folder`` that were killed (call with the lock held).

    Finishes a two-rename swap that stopped halfway (the old set is put back
    when the new one never arrived), removes staging folders and the old sets
    of finished swaps, and temp files left inside the folder.
    """
    parent, name = os.path.split(os.path.abspath(folder).rstrip(os.sep))
    try:
        siblings = os.listdir(parent)
    except FileNotFoundError:
        return
    stage, old = f".{name}{_STAGE}", f".{name}{_OLD}"
    olds = sorted(n for n in siblings if n.startswith(old))
    if olds and not os.path.isdir(folder):
        os.rename(os.path.join(parent, olds[-1]), folder)  # the new set never arrived: the old one stays
        siblings = os.listdir(parent)
    for n in siblings:
        if n.startswith((stage, old)):
            shutil.rmtree(os.path.join(parent, n), ignore_errors=True)
    if os.path.isdir(folder):
        for n in os.listdir(folder):
            if n.startswith(".") and n.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, n))


_libc: Any = None


def _exchange(a: str, b: str) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is not available."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.renameat2  # noqa: B018 - probe: glibc >= 2.28
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if _libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # a file system without exchange (some network mounts): fall back
    raise OSError(err, os.strerror(err), b)


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def commit(folder: str, files: Mapping[str, bytes], *, keep: Sequence[str] = ()) -> dict[str, str]:
    """Make ``folder`` hold exactly ``files`` (name → bytes), atomically as a set; call with the lock held.

    Files named in ``keep`` that the folder already has are carried over
    unchanged (the deliveries of a run whose report is re-rendered). Returns
    the path of each file. On any failure (disk full, read-only) the folder
    is left as it was and an :class:`OutputError` names the file.
    """
    folder = os.path.abspath(folder).rstrip(os.sep)
    parent, name = os.path.split(folder)
    sweep(folder)
    try:
        os.makedirs(parent, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=f".{name}{_STAGE}", dir=parent)
    except OSError as exc:
        raise output_error(folder, exc) from exc
    current = ""
    try:
        for fname, data in files.items():
            current = os.path.join(folder, fname)
            path = os.path.join(stage, fname)
            with open(path, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(path, 0o644)
        for fname in keep:
            current = os.path.join(folder, fname)
            if fname not in files and os.path.isfile(current):
                shutil.copy2(current, os.path.join(stage, fname))
        current = folder
        os.chmod(stage, 0o755)
        _fsync_dir(stage)
        if not os.path.isdir(folder):
            os.rename(stage, folder)
        elif _exchange(stage, folder):
            shutil.rmtree(stage, ignore_errors=True)  # now the old set
        else:
            old = tempfile.mkdtemp(prefix=f".{name}{_OLD}", dir=parent)
            os.rmdir(old)
            os.rename(folder, old)  # a crash here leaves no folder: sweep() puts the old set back
            os.rename(stage, folder)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(parent)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise output_error(current, exc) from exc
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return {fname: os.path.join(folder, fname) for fname in files}


def record_delivery(folder: str, line: str) -> str:
    """Append one JSON line to the run's ``deliveries.jsonl`` (atomically replaced); call with the lock held."""
    from kldrift.atomic import write_text

    path = os.path.join(folder, DELIVERIES)
    try:
        with open(path, encoding="utf-8") as fh:
            before = fh.read()
    except FileNotFoundError:
        before = ""
    except OSError as exc:
        raise output_error(path, exc) from exc
    return write_text(path, before + line.rstrip("\n") + "\n")


def read_deliveries(folder: str) -> list[dict[str, Any]]:
    """The webhook deliveries recorded for a run, oldest first."""
    import json

    path = os.path.join(folder, DELIVERIES)
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []


# --- reading runs back ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """One run folder of a dataset: its ``metrics.parquet`` as saved (some columns), or its footer's note."""

    date: str
    """The run's key (``2026-11-23``, or ``2026-11-23T10:00Z`` for runs shorter than a day)."""
    folder: str
    """The folder's name (``dt=<key>``)."""
    table: pa.Table | None = None
    """The columns asked for; ``None`` when unreadable, or when ``note`` answered instead."""
    problem: str | None = None
    """Why the metrics could not be read (missing, unreadable), else ``None``."""
    files: frozenset[str] = field(default_factory=frozenset)
    note: Any = None
    """The JSON a writer left in the file's footer under the key asked for (see :func:`read_runs`)."""

    @functools.cached_property
    def rows(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.table.to_pylist()) if self.table is not None else ()

    @property
    def readable(self) -> bool:
        """Whether the run's metrics were read: rows or a footer note."""
        return self.problem is None and (self.note is not None or (self.table is not None and self.table.num_rows > 0))

    @property
    def features(self) -> list[dict[str, Any]]:
        """The whole table's feature rows (``check = "drift"``; files written before ``check`` existed hold only
        those); a segment's rows have a ``segment`` and are left out."""
        return [r for r in self.rows if r.get("check", "drift") == "drift" and not r.get("segment")]

    def has(self, column: str) -> bool:
        return self.table is not None and column in self.table.column_names

    def column(self, name: str) -> list[Any]:
        """One column's values (``None`` each when the file has no such column): faster than ``rows``."""
        if self.table is None:
            return []
        if name not in self.table.column_names:
            return [None] * self.table.num_rows
        return self.table.column(name).to_pylist()

    def first(self, column: str) -> Any:
        if self.table is None or self.table.num_rows == 0 or column not in self.table.column_names:
            return None
        return self.table.column(column)[0].as_py()


def read_runs(
    dataset_dir: str,
    *,
    columns: Sequence[str] | None = None,
    before: str | None = None,
    last: int | None = None,
    note: str | None = None,
) -> list[RunSummary]:
    """The runs under ``dataset_dir``, oldest first, with ``columns`` of their metrics (all when ``None``).

    Only runs before the key ``before`` when given, and only the ``last`` of
    those. With ``note``, a file whose footer holds that key (JSON a writer put
    there) is answered by the note alone, without reading its columns. Each file
    is read on its own: an unreadable ``metrics.parquet`` marks that run (and is
    logged) instead of hiding every other run.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    runs = list_runs(dataset_dir)
    if before is not None:
        runs = [r for r in runs if r[0] < before]
    if last is not None:
        runs = runs[-last:] if last > 0 else []
    out = []
    for key, folder in runs:
        name = os.path.basename(folder)
        try:
            files = frozenset(os.listdir(folder))
        except OSError:
            files = frozenset()
        path = os.path.join(folder, METRICS)
        if METRICS not in files:
            out.append(RunSummary(key, name, problem=f"no {METRICS}", files=files))
            continue
        try:
            pf = pq.ParquetFile(path)
            meta = pf.schema_arrow.metadata or {}
            if note is not None and note.encode() in meta:
                out.append(RunSummary(key, name, files=files, note=json.loads(meta[note.encode()])))
                continue
            cols = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
            table = pf.read(columns=cols).replace_schema_metadata(None)
        except (pa.ArrowException, OSError, ValueError) as exc:
            log.warning("%s: cannot read metrics, left out: %s", path, " ".join(str(exc).split()))
            out.append(RunSummary(key, name, problem=f"unreadable {METRICS}: {exc}", files=files))
            continue
        out.append(RunSummary(key, name, table, files=files))
    return out
