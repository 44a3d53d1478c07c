"""Sources (paths, folders, globs, lists, object-store URIs, tables, DataFrames) resolved into a Scan.

:func:`open_source` finds the files (hidden ones, notes and checksums skipped;
symlinked folders not followed), reads their footers once, and gives the scan
one schema for all of them, recording the columns the files disagree on.
Every problem becomes one :class:`~kldrift.errors.SourceError` line naming the
path, without credentials.
"""

from __future__ import annotations

import collections
import fnmatch
import logging
import os

import pyarrow as pa
import pyarrow.fs as pafs

from kldrift.columns import domain_of
from kldrift.errors import NoDataError, SourceError
from kldrift.files import FileInfo, arrow_msg, strip_scheme
from kldrift.redact import redact_text, redact_url
from kldrift.scan import Scan, Source
from kldrift.tables import DeltaSource, IcebergSource, delta

__all__ = ["describe", "open_files", "open_source"]

log = logging.getLogger(__name__)

_GLOB_CHARS = set("*?[")


def _scheme(fs: pafs.FileSystem) -> str:
    name = fs.type_name
    return {"s3": "s3", "gcs": "gs"}.get(name, name)


def describe(source: Source) -> str:
    """A short human name for a source, for messages and the manifest."""
    if isinstance(source, str | os.PathLike):
        return redact_url(os.fspath(source))  # s3://key:secret@bucket/... must not reach a message or a file
    if isinstance(source, DeltaSource | IcebergSource):
        return source.describe()
    if isinstance(source, pa.Table):
        return f"<pyarrow.Table {source.num_rows} rows>"
    if _is_pandas(source):
        return f"<pandas.DataFrame {len(source)} rows>"
    if isinstance(source, list | tuple):
        return f"[{', '.join(redact_url(os.fspath(s)) for s in source[:3])}{', ...' if len(source) > 3 else ''}]"
    return repr(source)


def _is_pandas(obj: object) -> bool:
    mod = type(obj).__module__
    return mod.startswith("pandas") and type(obj).__name__ == "DataFrame"


def open_source(source: Source) -> Scan:
    """Resolve any supported source into a :class:`Scan`."""
    if isinstance(source, Scan):
        return source
    if isinstance(source, DeltaSource):
        from kldrift.tables.delta_table import open_delta

        return open_delta(source)
    if isinstance(source, IcebergSource):
        from kldrift.tables.iceberg_table import open_iceberg

        return open_iceberg(source)
    if isinstance(source, pa.Table):
        return Scan(describe(source), source.schema, table=source)
    if _is_pandas(source):
        try:
            table = pa.Table.from_pandas(source, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise SourceError(f"{describe(source)}: cannot convert to Arrow: {arrow_msg(exc)}") from exc
        return Scan(describe(source), table.schema, table=table)
    if isinstance(source, pa.RecordBatch):
        return Scan(
            f"<pyarrow.RecordBatch {source.num_rows} rows>", source.schema, table=pa.Table.from_batches([source])
        )
    if isinstance(source, str | os.PathLike):
        return _path_scan(os.fspath(source))
    if isinstance(source, list | tuple):
        if not source:
            raise SourceError("[]: empty list of paths; expected at least one Parquet file or folder")
        return _list_scan([os.fspath(s) for s in source])
    raise SourceError(
        f"{describe(source)}: unsupported source type {type(source).__name__}; expected a path, a glob, "
        "a list of paths, a pyarrow.Table or a pandas.DataFrame, kldrift.delta(...) or kldrift.iceberg(...)"
    )


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:
        try:
            fs, rel = pafs.FileSystem.from_uri(path)
        except (pa.ArrowException, OSError, ValueError) as exc:
            msg = arrow_msg(exc).replace(path, redact_url(path))
            raise SourceError.io(f"{redact_url(path)}: cannot open filesystem: {redact_text(msg)}", exc) from exc
        return fs, rel.rstrip("/") if rel != "/" else rel
    return pafs.LocalFileSystem(), os.path.abspath(path)


def _info(fs: pafs.FileSystem, path: str, shown: str) -> pafs.FileInfo:
    try:
        return fs.get_file_info(path)
    except (pa.ArrowException, OSError) as exc:
        raise SourceError.io(f"{shown}: {arrow_msg(exc)}", exc) from exc


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.replace("\\", "/").split("/") if part)


_EXTENSIONS = (
    ".md .txt .rst .json .jsonl .csv .tsv .crc .log .yaml .yml .html .htm .xml .ini .cfg .toml .py .sh .lock "
    ".tmp .pid .zip .gz .tar .pdf .png .jpg .jpeg .svg .avro .orc"
)
_NOT_DATA = frozenset(_EXTENSIONS.split())
"""Extensions of files that sit beside data in real folders (notes, checksums, markers) and are not Parquet."""


def _not_data(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in _NOT_DATA


def _list_dir(fs: pafs.FileSystem, path: str, shown: str) -> tuple[list[pafs.FileInfo], list[str]]:
    """The data files under ``path`` (sorted) and the ones skipped as not data.

    Hidden files and folders (``.``, ``_``: ``_SUCCESS``, ``_delta_log``) are left out,
    as Spark and pyarrow do; so are files named like notes or checksums. On a local
    disk, symlinked folders are not followed (a link to ``.`` or ``..`` would list
    everything again, or forever), and a file reached twice counts once.
    """
    if isinstance(fs, pafs.LocalFileSystem):
        return _walk_local(path, shown)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except PermissionError as exc:
        raise SourceError(f"{shown}: permission denied") from exc
    except (pa.ArrowException, OSError) as exc:
        raise SourceError.io(f"{shown}: cannot list folder: {arrow_msg(exc)}", exc) from exc
    base = path.rstrip("/") + "/"
    files = [i for i in infos if i.type == pafs.FileType.File and not _hidden(i.path[len(base) :])]
    skipped = sorted(i.path for i in files if _not_data(i.path))
    return sorted((i for i in files if not _not_data(i.path)), key=lambda i: i.path), skipped


def _walk_local(path: str, shown: str) -> tuple[list[pafs.FileInfo], list[str]]:
    fs = pafs.LocalFileSystem()
    found: list[str] = []
    skipped: list[str] = []
    seen: set[str] = set()
    errors: list[OSError] = []
    for root, dirs, names in os.walk(path, onerror=errors.append, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(names):
            if name.startswith((".", "_")):
                continue
            full = os.path.join(root, name)
            real = os.path.realpath(full)
            if real in seen or not os.path.isfile(full):  # a second link to one file; a dangling link
                continue
            seen.add(real)
            (skipped if _not_data(name) else found).append(full)
    for exc in errors:
        if isinstance(exc, PermissionError):
            raise SourceError(f"{exc.filename or shown}: permission denied") from exc
        raise SourceError.io(f"{shown}: cannot list folder: {exc}", exc) from exc
    infos = fs.get_file_info(found) if found else []
    return sorted(infos, key=lambda i: i.path), sorted(skipped)


def _to_fileinfo(fs: pafs.FileSystem, info: pafs.FileInfo, shown: str) -> FileInfo:
    if info.size == 0:
        raise SourceError(f"{shown}: empty file (0 bytes); expected a Parquet file")
    mtime = info.mtime.timestamp() if info.mtime is not None else None
    path = info.path
    if not isinstance(fs, pafs.LocalFileSystem):
        path = f"{_scheme(fs)}://{path}"
    return FileInfo(path=path, size=int(info.size or 0), mtime=mtime)


def _path_scan(path: str) -> Scan:
    shown = redact_url(path)
    fs, local = _filesystem(path)
    if _GLOB_CHARS & set(path.split("?", 1)[0] if "://" in path else path):  # s3://b/p/?region=... is no glob
        return _glob_scan(fs, local, shown)
    info = _info(fs, local, shown)
    if info.type == pafs.FileType.NotFound:
        raise NoDataError(f"{shown}: no such file or directory")
    if info.type == pafs.FileType.Directory:
        if isinstance(fs, pafs.LocalFileSystem) and not os.access(local, os.R_OK | os.X_OK):
            raise SourceError(f"{shown}: permission denied")
        if _info(fs, f"{local.rstrip('/')}/_delta_log", shown).type == pafs.FileType.Directory:
            return open_source(delta(path))  # a Delta table: its live files, never the folder's
        _not_in_a_delta_table(fs, local, shown)
        found, skipped = _list_dir(fs, local, shown)
        if not found:
            extra = f" (skipped as not data: {', '.join(os.path.basename(p) for p in skipped[:5])})" if skipped else ""
            raise NoDataError(f"{shown}: no Parquet files in this folder{extra}")
        files = tuple(_to_fileinfo(fs, i, i.path) for i in found)
        scan = _files_scan(shown, files, fs, local)
        scan.skipped = tuple(skipped)
        if skipped:
            log.info("%s: skipped %d file(s) that are not data: %s", shown, len(skipped), ", ".join(skipped[:5]))
        return scan
    if isinstance(fs, pafs.LocalFileSystem) and not os.access(local, os.R_OK):
        raise SourceError(f"{shown}: permission denied")
    return _files_scan(shown, (_to_fileinfo(fs, info, shown),), fs, None)


def _not_in_a_delta_table(fs: pafs.FileSystem, folder: str, shown: str) -> None:
    """Refuse a local folder inside a Delta table (a partition's): its listing holds removed files too."""
    if not isinstance(fs, pafs.LocalFileSystem):
        return
    parent = os.path.dirname(folder.rstrip("/"))
    while parent and parent != os.path.dirname(parent):
        if os.path.isdir(os.path.join(parent, "_delta_log")):
            keys = [p.split("=", 1) for p in os.path.relpath(folder, parent).split(os.sep) if "=" in p]
            where = " AND ".join(f"{k} = '{v}'" for k, v in keys) or "..."
            msg = (
                f"{shown}: a folder inside the Delta table {parent} (its listing holds files the table removed); "
                f'read the table with a partition filter: {{table: {parent}, where: "{where}"}}'
            )
            raise SourceError(msg)
        parent = os.path.dirname(parent)


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
        matches = [i for i in _list_dir(fs, base, shown)[0] if _glob_match(i.path, pattern)]
    if not matches:
        raise NoDataError(f"{shown}: glob matched no files")
    files = tuple(_to_fileinfo(fs, i, i.path) for i in matches)
    return _files_scan(shown, files, fs, None)


def _glob_match(path: str, pattern: str) -> bool:
    # "**" spans folders; a single "*" stays within one (like glob.glob(recursive=True)).
    # A pattern that matches folders (dt=2026-01-0*/) takes every data file under them.
    pattern = pattern.rstrip("/")
    if "**" in pattern:
        return fnmatch.fnmatchcase(path, pattern.replace("**/", "*").replace("**", "*"))
    parts, depth = path.split("/"), len(pattern.split("/"))
    return len(parts) >= depth and fnmatch.fnmatchcase("/".join(parts[:depth]), pattern)


def _list_scan(paths: list[str]) -> Scan:
    shown = describe(paths)
    scans = [_path_scan(p) for p in paths]
    for s in scans:
        if s.version is not None:
            raise SourceError(f"{shown}: {s.description} is a table: give it alone, with `where` to select partitions")
    fss = {type(s.filesystem).__name__ for s in scans}
    if len(fss) > 1:
        raise SourceError(f"{shown}: all paths of one source must be on the same filesystem")
    files: dict[str, FileInfo] = {}
    for s in scans:
        for f in s.files:
            files.setdefault(f.path, f)
    scan = _files_scan(shown, tuple(files.values()), scans[0].filesystem, None)
    scan.skipped = tuple(p for s in scans for p in s.skipped)
    return scan


def _files_scan(
    shown: str,
    files: tuple[FileInfo, ...],
    fs: pafs.FileSystem | None,
    base_dir: str | None,
) -> Scan:
    """A scan of ``files`` and their unified schema.

    A column's type is the first file's where it is not all-null (Arrow's ``null``
    type fits anything). A later file holding another kind of values in it
    (strings where the first had numbers) is recorded in :attr:`Scan.conflicts`;
    a file with two columns of one name in :attr:`Scan.duplicates`. Neither stops
    the scan: the other columns are read as usual.
    """
    scan = Scan(shown, pa.schema([]), files, (), fs or pafs.LocalFileSystem(), base_dir)
    fields: dict[str, pa.Field] = {}
    metadata = None
    for info in files:
        try:
            schema = scan._metadata(info).schema.to_arrow_schema()
        except (pa.ArrowException, OSError) as exc:
            raise SourceError.io(f"{info.path}: not a readable Parquet file: {arrow_msg(exc)}", exc) from exc
        if metadata is None:
            metadata = schema.metadata  # the first file's (pandas keeps the index's name there)
        counts = collections.Counter(schema.names)
        for f in schema:
            if counts[f.name] > 1:
                scan.duplicates.setdefault(f.name, info.path)
            known = fields.get(f.name)
            if known is None or pa.types.is_null(known.type):
                fields[f.name] = f
            elif not pa.types.is_null(f.type) and domain_of(f.type) != domain_of(known.type) and f.type != known.type:
                scan.conflicts.setdefault(f.name, (info.path, str(f.type)))
    scan.schema = pa.schema(list(fields.values()), metadata=metadata)
    if base_dir:
        keys: dict[str, None] = {}
        base = base_dir.rstrip("/") + "/"
        for f in files:
            for part in strip_scheme(f.path)[len(base) :].split("/")[:-1]:
                if "=" in part:
                    keys.setdefault(part.split("=", 1)[0], None)
        # a key the files also hold as a column is the column: the files' values win
        scan.partition_columns = tuple(k for k in keys if k not in fields)
    return scan


def open_files(files: list[FileInfo], description: str) -> Scan:
    """A scan of files already listed (a plan's shard), without listing anything again.

    ``description`` names the source in messages (the partition they came from).
    """
    if not files:
        raise NoDataError(f"{description}: no files")
    fs, _ = _filesystem(files[0].path)
    return _files_scan(description, tuple(files), fs, None)
