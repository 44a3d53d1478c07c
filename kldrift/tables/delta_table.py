"""A Delta Lake table → a :class:`~kldrift.scan.Scan` of its live files at one version, through delta-rs.

The transaction log (``_delta_log/``) says which Parquet files make up a version
of the table; files removed by an overwrite or a delete stay on disk until a
vacuum, and a folder listing would read them too. :func:`open_delta` asks
delta-rs (``deltalake``) for the version's files, selects a partition's files by
the source's ``where`` (a SQL predicate on partition columns: the files of other
partitions are never opened), and hands them to kldrift's own Parquet reader, so
a table reads as fast as the same files would, row group by row group. Deletion
vectors and column mapping are honoured through :class:`DeltaFiles`.

The scan lists the files once: a commit made while it reads (an append, an
overwrite) does not change what it reads, since no writer deletes a file a
version still holds (only a vacuum does, and the read then fails, to be retried).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import urllib.parse
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from kldrift.errors import NoDataError, SourceError
from kldrift.files import Batch, FileInfo, arrow_msg
from kldrift.redact import redact_text, redact_url
from kldrift.scan import Scan
from kldrift.tables import DeltaSource, TableVersion

__all__ = ["DeltaFiles", "open_delta"]

_READER_FEATURES = frozenset(
    {"deletionVectors", "columnMapping", "timestampNtz", "typeWidening", "typeWidening-preview", "v2Checkpoint"}
    | {"vacuumProtocolCheck", "checkConstraints", "generatedColumns", "invariants", "appendOnly", "changeDataFeed"}
)
"""Reader features whose tables kldrift reads right: the others change what a file's rows mean."""
_IDENT = re.compile(r"`([^`]*)`|\"([^\"]*)\"|([A-Za-z_][A-Za-z0-9_]*)")
_QUOTED = re.compile(r"'(?:[^']|'')*'")


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError:
        msg = "reading a Delta table needs the delta extra (deltalake): pip install 'kldrift[delta]'"
        raise SourceError(msg) from None
    return deltalake


def _fail(shown: str, what: str, exc: BaseException) -> SourceError:
    # delta-rs may append a Rust backtrace ("0: <unknown> 1: ..."): the cause is what comes before it
    msg = re.split(r"\s0: ", arrow_msg(exc), maxsplit=1)[0]
    return SourceError(f"{shown}: {what}: {redact_text(msg if len(msg) <= 300 else msg[:297] + '...')}")


def _load(source: DeltaSource, root: str, shown: str) -> tuple[Any, str | None]:
    """The delta-rs table at the source's version (its latest, a pinned one, or the one current at ``as_of``),
    and when that version was committed."""
    deltalake = _deltalake()
    options = dict(source.storage_options) or None
    errors = (deltalake.exceptions.DeltaError, OSError, ValueError)
    try:
        latest = deltalake.DeltaTable(root, storage_options=options)
    except deltalake.exceptions.TableNotFoundError as exc:
        raise _fail(shown, "not a readable Delta table (its _delta_log/ has no readable commit)", exc) from exc
    except errors as exc:
        raise _fail(shown, "cannot read the Delta table's log (_delta_log/)", exc) from exc
    table = latest
    if source.version is not None:
        if source.version > latest.version():
            msg = f"{shown}: no version {source.version} of this Delta table (its latest is {latest.version()})"
            raise SourceError(msg)
        try:
            table = deltalake.DeltaTable(root, version=source.version, storage_options=options)
        except errors as exc:
            raise _fail(shown, f"cannot load version {source.version} (vacuumed or its log cleaned up?)", exc) from exc
    elif source.as_of is not None:
        table = deltalake.DeltaTable(root, storage_options=options)
        try:
            table.load_as_version(source.as_of)
        except errors as exc:
            raise _fail(shown, f"no version of this Delta table as of {source.as_of.isoformat()}", exc) from exc
    committed = _commit_time(latest, table.version())
    if source.as_of is not None and committed is not None and committed > source.as_of.astimezone(dt.UTC).isoformat():
        # delta-rs gives the first version for a time before it: a version that did not exist then
        when = source.as_of.isoformat()
        raise SourceError(f"{shown}: no version of this Delta table as of {when}: its first is of {committed}")
    return table, committed


def _root(path: str) -> tuple[str, pafs.FileSystem]:
    if "://" in path and not path.startswith("file://"):
        try:
            fs, _ = pafs.FileSystem.from_uri(path)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _fail(redact_url(path), "cannot open filesystem", exc) from exc
        return path.rstrip("/"), fs
    local = os.path.abspath(urllib.parse.unquote(path.removeprefix("file://")) if "://" in path else path)
    return local, pafs.LocalFileSystem()


def _check_where(where: str, partitions: list[str], columns: list[str], shown: str) -> None:
    """Refuse a ``where`` on data columns: delta-rs prunes by partition values exactly, by statistics only roughly."""
    lower = {c.lower(): c for c in columns if c not in partitions}
    for m in _IDENT.finditer(_QUOTED.sub("''", where)):
        name = next(g for g in m.groups() if g is not None)
        if name.lower() in lower:
            msg = (
                f"{shown}: where {where!r}: {lower[name.lower()]!r} is not a partition column; `where` selects "
                f"files by partition values ({', '.join(partitions) or 'this table has no partition columns'})"
            )
            raise SourceError(msg)


def open_delta(source: DeltaSource) -> Scan:
    """The scan of the Delta table's live files at the source's version, those of ``where``'s partitions only.

    Raises :class:`~kldrift.errors.NoDataError` when the table or the selected
    partitions are not there (a run says ``no_data``), and
    :class:`~kldrift.errors.SourceError` naming the table for a log that cannot
    be read, a version that is not there, or features kldrift cannot honour.
    """
    shown = redact_url(source.path)
    root, fs = _root(source.path)
    if isinstance(fs, pafs.LocalFileSystem):
        if not os.path.exists(root):
            raise NoDataError(f"{shown}: no such Delta table")
        if not os.path.isdir(os.path.join(root, "_delta_log")):
            raise SourceError(f"{shown}: not a Delta table (no _delta_log/ folder)")
    table, committed = _load(source, root, shown)
    protocol = table.protocol()
    unknown = sorted(set(protocol.reader_features or ()) - _READER_FEATURES)
    if unknown:
        raise SourceError(f"{shown}: Delta reader features kldrift cannot honour: {', '.join(unknown)}")
    meta = table.metadata()
    partitions = list(meta.partition_columns)
    logical = pa.schema(table.schema().to_arrow())
    if source.where:
        _check_where(source.where, partitions, logical.names, shown)
    try:
        actions = pa.table(table.get_add_actions(flatten=False))
        selected = None
        if source.where:
            uris = table.file_uris(file_pruning_predicate=source.where)
            base = str(table.table_uri).removeprefix("file://").rstrip("/") + "/"
            selected = {u[len(base) :] if u.startswith(base) else u for u in uris}
    except (_deltalake().exceptions.DeltaError, OSError, ValueError, pa.ArrowException) as exc:
        what = f"where {source.where!r}" if source.where else "cannot list the table's files"
        raise _fail(shown, what, exc) from exc
    files = []
    for rel, size, mtime in zip(
        actions.column("path").to_pylist(),
        actions.column("size_bytes").to_pylist(),
        actions.column("modification_time").to_pylist(),
        strict=True,
    ):
        decoded = urllib.parse.unquote(rel)
        if selected is not None and decoded not in selected:
            continue
        path = decoded if "://" in decoded else f"{root}/{decoded}"
        files.append(FileInfo(path, int(size), mtime / 1000 if mtime is not None else None))
    files.sort(key=lambda f: f.path)
    version = TableVersion("delta", shown, table.version(), committed, source.where)
    described = f"{shown} (Delta {version.label()}{', where ' + source.where if source.where else ''})"
    if not files:
        raise NoDataError(f"{described}: no live files" + (" in the partitions selected" if source.where else ""))
    every = {urllib.parse.unquote(r) for r in actions.column("path").to_pylist()}
    reader = DeltaFiles.of(table, logical, files, {p if "://" in p else f"{root}/{p}" for p in every}, shown)
    data = pa.schema([f for f in logical if f.name not in partitions], metadata=logical.metadata)
    return Scan(described, data, tuple(files), tuple(partitions), fs, None, reader=reader, version=version)


def _commit_time(latest: Any, version: int) -> str | None:
    """When ``version`` was committed (its commitInfo), UTC, from the table loaded at its latest version
    (delta-rs's history of a time-travelled table numbers its entries from the loaded version)."""
    try:
        mine = [h for h in latest.history(latest.version() - version + 1) if h.get("version") == version]
        stamp = mine[0].get("timestamp")
    except (IndexError, AttributeError, OSError, ValueError):
        return None
    return dt.datetime.fromtimestamp(stamp / 1000, dt.UTC).isoformat() if isinstance(stamp, int) else None


class DeltaFiles:
    """The reading of a Delta table's files: logical column names (column mapping) and deletion vectors.

    ``None`` from :meth:`of` when the files are read as they are (no column mapping, no deletion
    vector in the selected files): then nothing is added to plain Parquet reading.
    """

    def __init__(self, physical: dict[str, str], deleted: dict[str, pa.Array]) -> None:
        self._physical = physical
        self._keep = deleted

    @classmethod
    def of(
        cls, table: Any, logical: pa.Schema, files: list[FileInfo], every: set[str], shown: str
    ) -> DeltaFiles | None:
        """The reading of ``files`` (of ``every`` live file of the version), ``None`` when they read as they are.

        A deletion vector that cannot be paired with a live file is an error, never rows counted twice.
        """
        physical = {}
        mode = (table.metadata().configuration or {}).get("delta.columnMapping.mode", "none")
        if mode != "none":
            for f in logical:
                meta = f.metadata or {}
                physical[f.name] = meta.get(b"delta.columnMapping.physicalName", f.name.encode()).decode()
        keep: dict[str, pa.Array] = {}
        if "deletionVectors" in (table.protocol().reader_features or ()):
            wanted = {f.path for f in files}
            try:
                vectors = pa.table(table.deletion_vectors())
            except (OSError, ValueError, pa.ArrowException, RuntimeError) as exc:
                raise _fail(shown, "cannot read the table's deletion vectors", exc) from exc
            for uri, mask in zip(vectors.column(0).to_pylist(), vectors.column(1).combine_chunks(), strict=True):
                path = urllib.parse.unquote(uri.removeprefix("file://"))
                if path not in every:
                    raise SourceError(f"{shown}: a deletion vector of {redact_url(uri)}, not a live file of the table")
                if path in wanted:
                    keep[path] = mask.values
        return cls(physical, keep) if physical or keep else None

    def names(self, info: FileInfo, file_schema: pa.Schema) -> dict[str, str]:
        if not self._physical:
            return {n: n for n in file_schema.names}
        present = set(file_schema.names)
        return {k: v for k, v in self._physical.items() if v in present}

    def needs(self, info: FileInfo) -> list[str]:
        return []

    def keep(self, info: FileInfo, batch: Batch, first_row: int) -> Any:
        mask = self._keep.get(info.path)
        if mask is None:
            return None
        if first_row + batch.num_rows > len(mask):  # rows past the vector's end are live
            tail = pa.array([True] * (first_row + batch.num_rows - len(mask)))
            mask = pa.concat_arrays([mask, tail])
        return mask.slice(first_row, batch.num_rows)

    def live_rows(self, info: FileInfo, rows: int) -> int | None:
        mask = self._keep.get(info.path)
        if mask is None:
            return rows
        if info.row_groups:
            return None
        return rows - (len(mask) - mask.true_count) if len(mask) <= rows else None

    def records(self) -> list[dict[str, Any]]:
        """The deletion vectors as records beside the files (a profile notices a changed one)."""
        return [{"path": p, "deleted": len(m) - m.true_count} for p, m in sorted(self._keep.items())]
