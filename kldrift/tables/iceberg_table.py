"""An Apache Iceberg table → a :class:`~kldrift.scan.Scan` of its live data at one snapshot, through pyiceberg.

:func:`open_iceberg` loads the catalog the pyiceberg way (properties given inline,
or a catalog named in ``~/.pyiceberg.yaml`` / ``PYICEBERG_CATALOG__<NAME>__*``),
picks the snapshot (the current one, a snapshot id, or the one current at a
time), and plans the scan with pyiceberg's manifest planning: the source's
``where`` is a pyiceberg row filter, projected onto each partition spec so that
manifests and data files of other partitions are never read, and pruned by
column statistics. Delete files are matched to data files as the spec says
(positional: same partition, data sequence number <= the delete's; equality:
strictly <, or global when the delete file is unpartitioned); pyiceberg 0.12's
own planning refuses equality deletes, so kldrift pairs them itself. The data
files are read by kldrift's Parquet reader through :class:`IcebergFiles`.

Catalog properties may hold secrets (a REST token, S3 keys): no message, file or
log line shows them (:func:`kldrift.tables.shown_properties`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from kldrift.errors import NoDataError, SourceError
from kldrift.files import FileInfo, arrow_msg
from kldrift.redact import redact_text, redact_url, secret_key
from kldrift.scan import Scan
from kldrift.tables import IcebergSource, TableVersion
from kldrift.tables.iceberg_files import DeleteFile, FilePlan, IcebergFiles

__all__ = ["open_iceberg"]

log = logging.getLogger(__name__)


def _scrub(text: str, source: IcebergSource) -> str:
    for key, value in source.properties.items():
        if secret_key(key) and value:
            text = text.replace(str(value), "***")
    return redact_text(" ".join(text.split()))


def _fail(source: IcebergSource, what: str, exc: BaseException) -> SourceError:
    return SourceError(f"{source.describe()}: {what}: {_scrub(arrow_msg(exc), source)}")


def _pyiceberg() -> None:
    try:
        import pyiceberg  # noqa: F401
    except ImportError:
        msg = "reading an Iceberg table needs the iceberg extra (pyiceberg): pip install 'kldrift[iceberg]'"
        raise SourceError(msg) from None


def _table(source: IcebergSource) -> Any:
    """The table, loaded from its catalog; one-line errors for a catalog or table that is not there."""
    _pyiceberg()
    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    props = {k: v for k, v in source.properties.items() if k != "name"}
    name = source.catalog_name
    try:
        catalog = load_catalog(name, **props)
    except Exception as exc:  # pyiceberg raises ValueError, OSError, its own errors, driver errors
        failed = _fail(source, f"cannot load Iceberg catalog {name!r}", exc)
        hint = "give its properties (type, uri, warehouse, ...) as `catalog:`, or configure it in ~/.pyiceberg.yaml"
        raise SourceError(f"{failed}; {hint}") from exc
    try:
        return catalog.load_table(source.table)
    except (NoSuchTableError, NoSuchNamespaceError) as exc:
        raise NoDataError(f"{source.describe()}: no such table in the catalog") from exc
    except Exception as exc:
        raise _fail(source, "cannot load the table", exc) from exc


def _snapshot(table: Any, source: IcebergSource) -> Any:
    if source.snapshot_id is not None:
        snap = table.snapshot_by_id(source.snapshot_id)
        if snap is None:
            known = [s.snapshot_id for s in table.metadata.snapshots][-5:]
            raise SourceError(f"{source.describe()}: no snapshot {source.snapshot_id} (its latest snapshots: {known})")
        return snap
    if source.as_of is not None:
        snap = table.snapshot_as_of_timestamp(int(source.as_of.timestamp() * 1000))
        if snap is None:
            raise SourceError(f"{source.describe()}: no snapshot as of {source.as_of.isoformat()} (before the first)")
        return snap
    snap = table.current_snapshot()
    if snap is None:
        raise NoDataError(f"{source.describe()}: the table has no snapshot yet (no data)")
    return snap


def _filesystem(table: Any, location: str) -> pafs.FileSystem:
    from pyiceberg.io.pyarrow import PyArrowFileIO

    scheme, netloc, _ = PyArrowFileIO.parse_location(location)
    if scheme == "file":
        return pafs.LocalFileSystem()
    io = table.io if isinstance(table.io, PyArrowFileIO) else PyArrowFileIO(table.io.properties)
    return io.fs_by_scheme(scheme, netloc)


def _where(path: str) -> str:
    """Where kldrift reads a file of the table: a local path, or ``scheme://bucket/key`` for pyarrow.fs."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    scheme, _, p = PyArrowFileIO.parse_location(path)
    return p if scheme == "file" else f"{scheme}://{p}"


def _bound(table: Any, schema: Any, source: IcebergSource) -> Any:
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.expressions.parser import parse
    from pyiceberg.expressions.visitors import bind

    if not source.where:
        return AlwaysTrue()
    try:
        expr = parse(source.where)
        bind(schema, expr, case_sensitive=True)
    except Exception as exc:  # pyparsing's ParseException, ValueError of an unknown column or a bad literal
        raise _fail(source, f"where {source.where!r}", exc) from exc
    return expr


def _entries(table: Any, snap: Any, row_filter: Any, source: IcebergSource) -> list[Any]:
    from pyiceberg.table import ManifestGroupPlanner

    try:
        planner = ManifestGroupPlanner(table_metadata=table.metadata, io=table.io, row_filter=row_filter)
        return [e for group in planner.plan_manifest_entries(snap.manifests(table.io)) for e in group]
    except Exception as exc:
        raise _fail(source, f"cannot read the manifests of snapshot {snap.snapshot_id}", exc) from exc


def _plans(table: Any, schema: Any, entries: Iterable[Any], row_filter: Any) -> tuple[list[Any], dict[str, FilePlan]]:
    """The data files and, for each, the delete files that apply to it and its residual filter."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.expressions.visitors import bind, extract_field_ids, residual_evaluator_of
    from pyiceberg.io.pyarrow import expression_to_pyarrow
    from pyiceberg.manifest import DataFileContent, FileFormat
    from pyiceberg.table.delete_file_index import DeleteFileIndex

    specs = table.metadata.specs()
    data, equality, positional = [], [], DeleteFileIndex()
    for e in entries:
        content = e.data_file.content
        if e.data_file.file_format != FileFormat.PARQUET:  # ORC, Avro data; Puffin deletion vectors (v3)
            fmt = getattr(e.data_file.file_format, "value", e.data_file.file_format)
            raise SourceError(f"{redact_url(e.data_file.file_path)}: {fmt} file; kldrift reads Parquet files only")
        if content == DataFileContent.DATA:
            data.append(e)
        elif content == DataFileContent.POSITION_DELETES:
            positional.add_delete_file(e, partition_key=e.data_file.partition)
        else:
            equality.append(e)
    ids = {f.field_id: f.name for f in schema.fields}
    plans: dict[str, FilePlan] = {}
    for e in data:
        df, seq = e.data_file, e.sequence_number or 0
        deletes = [
            DeleteFile(_where(d.file_path), d.file_size_in_bytes)
            for d in positional.for_data_file(seq, df, partition_key=df.partition)
        ]
        for d in equality:
            unpartitioned = specs[d.data_file.spec_id].is_unpartitioned()
            same = d.data_file.spec_id == df.spec_id and d.data_file.partition == df.partition
            if (d.sequence_number or 0) > seq and (unpartitioned or same):
                cols = tuple(ids[i] for i in d.data_file.equality_ids or () if i in ids)
                deletes.append(DeleteFile(_where(d.data_file.file_path), d.data_file.file_size_in_bytes, cols))
        residual = residual_evaluator_of(specs[df.spec_id], row_filter, True, schema).residual_for(df.partition)
        expr, cols = None, ()
        if residual != AlwaysTrue():
            bound = bind(schema, residual, case_sensitive=True)
            expr, cols = expression_to_pyarrow(bound, schema), tuple(ids[i] for i in sorted(extract_field_ids(bound)))
        plans[_where(df.file_path)] = FilePlan(df.file_path, tuple(sorted(set(deletes), key=str)), expr, cols)
    return [e.data_file for e in data], plans


def open_iceberg(source: IcebergSource) -> Scan:
    """The scan of the Iceberg table's live rows at the source's snapshot, the files of ``where`` only.

    Raises :class:`~kldrift.errors.NoDataError` when the table, a snapshot, or any file
    of the selection is not there (a run says ``no_data``) and
    :class:`~kldrift.errors.SourceError` for a catalog that cannot be loaded, a missing
    snapshot, a bad ``where``.
    """
    table = _table(source)
    snap = _snapshot(table, source)
    schema = table.metadata.schema_by_id(snap.schema_id) if snap.schema_id is not None else None
    schema = schema or table.schema()
    row_filter = _bound(table, schema, source)
    data, plans = _plans(table, schema, _entries(table, snap, row_filter, source), row_filter)
    stamp = dt.datetime.fromtimestamp(snap.timestamp_ms / 1000, dt.UTC).isoformat()
    ident = ".".join(table.name()) if isinstance(table.name(), tuple) else str(table.name())
    version = TableVersion("iceberg", f"{source.catalog_name}.{ident}", snap.snapshot_id, stamp, source.where)
    described = f"{source.describe()} at {version.label()}"
    if not data:
        raise NoDataError(f"{described}: no data files" + (" in the partitions selected" if source.where else ""))
    from pyiceberg.io.pyarrow import schema_to_pyarrow
    from pyiceberg.transforms import IdentityTransform

    files = sorted((FileInfo(_where(d.file_path), d.file_size_in_bytes, None) for d in data), key=lambda f: f.path)
    fs = _filesystem(table, data[0].file_path)
    arrow = schema_to_pyarrow(schema, include_field_ids=False)
    ids = {f.field_id: f.name for f in schema.fields}
    mapping = table.metadata.name_mapping()
    id_names = {name: f.field_id for f in (mapping or []) for name in f.names if f.field_id is not None}
    partitions = [
        ids[p.source_id]
        for spec in table.metadata.specs().values()
        for p in spec.fields
        if isinstance(p.transform, IdentityTransform) and p.source_id in ids
    ]
    reader = IcebergFiles(ids, plans, fs, mapping, id_names)
    deletes = len(reader.records())
    log.info("%s: %d data files, %d delete files", described, len(files), deletes)
    part = tuple(dict.fromkeys(partitions))  # identity partitions: not scored, as a Delta table's or hive keys
    data_schema = pa.schema([f for f in arrow if f.name not in part], metadata=arrow.metadata)
    return Scan(described, data_schema, tuple(files), part, fs, None, reader=reader, version=version)
