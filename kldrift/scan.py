"""Sources → record batches of the needed columns.

A *source* is a Parquet file, a directory (a dataset; hive partitions fine),
a glob, a list of those, an ``s3://`` / ``gs://`` URI, a ``pyarrow.Table`` or
a ``pandas.DataFrame``. :func:`open_source` turns any of them into a
:class:`Scan`: the files it found (for the manifest and for sharding) and a
``pyarrow.dataset`` that streams batches of only the requested columns.
Every problem becomes one :class:`~kldrift.errors.SourceError` line naming the
path.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from kldrift.errors import SourceError

__all__ = ["FileInfo", "Scan", "Source", "describe", "open_source"]

Source = Any  # str | os.PathLike | Sequence[str | os.PathLike] | pa.Table | pandas.DataFrame

_GLOB_CHARS = set("*?[")
# Bounded readahead keeps memory to a few batches (Arrow's defaults buffer 16).
_BATCH_READAHEAD = 2
_FRAGMENT_READAHEAD = 2
_TARGET_BATCH_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One input file, as recorded in the manifest."""

    path: str
    size: int
    mtime: float | None


@dataclass(slots=True)
class Scan:
    """A resolved source: its files, its schema, and batches of chosen columns."""

    description: str
    dataset: ds.Dataset
    files: tuple[FileInfo, ...] = ()
    partition_columns: tuple[str, ...] = ()
    filesystem: pafs.FileSystem | None = None
    base_dir: str | None = None
    _rows: int | None = field(default=None, repr=False)

    @property
    def schema(self) -> pa.Schema:
        return self.dataset.schema

    def column_names(self) -> list[str]:
        """Data columns: the schema less hive partition keys."""
        return [n for n in self.schema.names if n not in self.partition_columns]

    def count_rows(self) -> int:
        """Row count, from Parquet footers (no data is decoded)."""
        if self._rows is None:
            self._rows = _wrap(self.description, lambda: int(self.dataset.count_rows()))
        return self._rows

    def batch_size(self, n_columns: int) -> int:
        """Rows per batch so that one batch of ``n_columns`` stays near 64 MiB."""
        per_row = max(1, n_columns) * 8
        return int(min(1 << 17, max(4096, _TARGET_BATCH_BYTES // per_row)))

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """Record batches of ``columns`` (in file order), decoded on Arrow's threads."""
        it = _wrap(
            self.description,
            lambda: self.dataset.to_batches(
                columns=list(columns),
                batch_size=self.batch_size(len(columns)),
                batch_readahead=_BATCH_READAHEAD,
                fragment_readahead=_FRAGMENT_READAHEAD,
                use_threads=True,
            ),
        )
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise SourceError(f"{self.description}: cannot read Parquet data: {_arrow_msg(exc)}") from exc
            yield batch

    def subset(self, paths: Sequence[str]) -> Scan:
        """The same source restricted to some of its files (one shard)."""
        wanted = set(paths)
        files = tuple(f for f in self.files if f.path in wanted)
        missing = wanted - {f.path for f in files}
        if missing:
            raise SourceError(f"{sorted(missing)[0]}: not a file of {self.description}")
        return _files_scan(self.description, files, self.filesystem, self.base_dir, self.schema)

    def shards(self, max_shards: int) -> list[list[str]]:
        """Files split into at most ``max_shards`` groups of about equal bytes, order kept."""
        if not self.files:
            return [[]]
        k = max(1, min(max_shards, len(self.files)))
        total = sum(max(f.size, 1) for f in self.files)
        groups: list[list[str]] = [[] for _ in range(k)]
        acc = 0
        for f in self.files:
            # Contiguous groups by cumulative size: deterministic and balanced enough.
            idx = min(k - 1, acc * k // total)
            groups[idx].append(f.path)
            acc += max(f.size, 1)
        return [g for g in groups if g]


def _arrow_msg(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _wrap(description: str, fn: Any) -> Any:
    try:
        return fn()
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{description}: cannot read Parquet data: {_arrow_msg(exc)}") from exc


def describe(source: Source) -> str:
    """A short human name for a source, for messages and the manifest."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, pa.Table):
        return f"<pyarrow.Table {source.num_rows} rows>"
    if _is_pandas(source):
        return f"<pandas.DataFrame {len(source)} rows>"
    if isinstance(source, list | tuple):
        return f"[{', '.join(os.fspath(s) for s in source[:3])}{', ...' if len(source) > 3 else ''}]"
    return repr(source)


def _is_pandas(obj: object) -> bool:
    mod = type(obj).__module__
    return mod.startswith("pandas") and type(obj).__name__ == "DataFrame"


def open_source(source: Source) -> Scan:
    """Resolve any supported source into a :class:`Scan`."""
    if isinstance(source, Scan):
        return source
    if isinstance(source, pa.Table):
        return Scan(describe(source), ds.dataset(source))
    if _is_pandas(source):
        try:
            table = pa.Table.from_pandas(source, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise SourceError(f"{describe(source)}: cannot convert to Arrow: {_arrow_msg(exc)}") from exc
        return Scan(describe(source), ds.dataset(table))
    if isinstance(source, pa.RecordBatch):
        return Scan(f"<pyarrow.RecordBatch {source.num_rows} rows>", ds.dataset(pa.Table.from_batches([source])))
    if isinstance(source, str | os.PathLike):
        return _path_scan(os.fspath(source))
    if isinstance(source, list | tuple):
        if not source:
            raise SourceError("[]: empty list of paths; expected at least one Parquet file or folder")
        return _list_scan([os.fspath(s) for s in source])
    raise SourceError(
        f"{describe(source)}: unsupported source type {type(source).__name__}; expected a path, a glob, "
        "a list of paths, a pyarrow.Table or a pandas.DataFrame"
    )


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:
        try:
            fs, rel = pafs.FileSystem.from_uri(path)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise SourceError(f"{path}: cannot open filesystem: {_arrow_msg(exc)}") from exc
        return fs, rel.rstrip("/") if rel != "/" else rel
    return pafs.LocalFileSystem(), os.path.abspath(path)


def _info(fs: pafs.FileSystem, path: str, shown: str) -> pafs.FileInfo:
    try:
        return fs.get_file_info(path)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{shown}: {_arrow_msg(exc)}") from exc


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.replace("\\", "/").split("/") if part)


def _list_dir(fs: pafs.FileSystem, path: str, shown: str) -> list[pafs.FileInfo]:
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except PermissionError as exc:
        raise SourceError(f"{shown}: permission denied") from exc
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{shown}: cannot list folder: {_arrow_msg(exc)}") from exc
    base = path.rstrip("/") + "/"
    out = [i for i in infos if i.type == pafs.FileType.File and not _hidden(i.path[len(base) :])]
    return sorted(out, key=lambda i: i.path)


def _to_fileinfo(fs: pafs.FileSystem, info: pafs.FileInfo, shown: str) -> FileInfo:
    if info.size == 0:
        raise SourceError(f"{shown}: empty file (0 bytes); expected a Parquet file")
    mtime = info.mtime.timestamp() if info.mtime is not None else None
    path = info.path
    if not isinstance(fs, pafs.LocalFileSystem):
        path = f"{_scheme(fs)}://{path}"
    return FileInfo(path=path, size=int(info.size or 0), mtime=mtime)


def _scheme(fs: pafs.FileSystem) -> str:
    name = fs.type_name
    return {"s3": "s3", "gcs": "gs"}.get(name, name)


def _strip_scheme(path: str) -> str:
    return path.split("://", 1)[1] if "://" in path else path


def _path_scan(path: str) -> Scan:
    shown = path
    fs, local = _filesystem(path)
    if _GLOB_CHARS & set(path):
        return _glob_scan(fs, local, shown)
    info = _info(fs, local, shown)
    if info.type == pafs.FileType.NotFound:
        raise SourceError(f"{shown}: no such file or directory")
    if info.type == pafs.FileType.Directory:
        if isinstance(fs, pafs.LocalFileSystem) and not os.access(local, os.R_OK | os.X_OK):
            raise SourceError(f"{shown}: permission denied")
        found = _list_dir(fs, local, shown)
        if not found:
            raise SourceError(f"{shown}: no Parquet files in this folder")
        files = tuple(_to_fileinfo(fs, i, i.path) for i in found)
        return _files_scan(shown, files, fs, local)
    if isinstance(fs, pafs.LocalFileSystem) and not os.access(local, os.R_OK):
        raise SourceError(f"{shown}: permission denied")
    return _files_scan(shown, (_to_fileinfo(fs, info, shown),), fs, None)


def _glob_scan(fs: pafs.FileSystem, pattern: str, shown: str) -> Scan:
    parts = pattern.split("/")
    fixed = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    base = "/".join(fixed) or "/"
    info = _info(fs, base, shown)
    matches: list[pafs.FileInfo] = []
    if info.type == pafs.FileType.Directory:
        matches = [i for i in _list_dir(fs, base, shown) if _glob_match(i.path, pattern)]
    if not matches:
        raise SourceError(f"{shown}: glob matched no files")
    files = tuple(_to_fileinfo(fs, i, i.path) for i in matches)
    return _files_scan(shown, files, fs, None)


def _glob_match(path: str, pattern: str) -> bool:
    # "**" spans folders; a single "*" stays within one (like glob.glob(recursive=True)).
    if "**" in pattern:
        return fnmatch.fnmatchcase(path, pattern.replace("**/", "*").replace("**", "*"))
    return len(path.split("/")) == len(pattern.split("/")) and fnmatch.fnmatchcase(path, pattern)


def _list_scan(paths: list[str]) -> Scan:
    shown = describe(paths)
    scans = [_path_scan(p) for p in paths]
    fss = {type(s.filesystem).__name__ for s in scans}
    if len(fss) > 1:
        raise SourceError(f"{shown}: all paths of one source must be on the same filesystem")
    files: dict[str, FileInfo] = {}
    for s in scans:
        for f in s.files:
            files.setdefault(f.path, f)
    return _files_scan(shown, tuple(files.values()), scans[0].filesystem, None)


def _files_scan(
    shown: str,
    files: tuple[FileInfo, ...],
    fs: pafs.FileSystem | None,
    base_dir: str | None,
    schema: pa.Schema | None = None,
) -> Scan:
    fs = fs or pafs.LocalFileSystem()
    paths = [_strip_scheme(f.path) for f in files]
    partitioning = ds.HivePartitioning.discover(infer_dictionary=False) if base_dir else None
    kwargs: dict[str, Any] = {}
    if base_dir:
        kwargs["partition_base_dir"] = base_dir
    try:
        dataset = ds.dataset(paths, schema=schema, format="parquet", filesystem=fs, partitioning=partitioning, **kwargs)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError(f"{shown}: cannot read Parquet data: {_arrow_msg(exc)}") from exc
    part_cols: tuple[str, ...] = ()
    if base_dir:
        keys: dict[str, None] = {}
        base = base_dir.rstrip("/") + "/"
        for p in paths:
            for part in p[len(base) :].split("/")[:-1]:
                if "=" in part:
                    keys.setdefault(part.split("=", 1)[0], None)
        part_cols = tuple(k for k in keys if k in dataset.schema.names)
    return Scan(shown, dataset, files, part_cols, fs, base_dir)
