"""How an Iceberg table's data files are read: columns by field id, delete files applied, a filter's residual.

:class:`IcebergFiles` is the :class:`~kldrift.files.TableFiles` of an Iceberg scan
(:mod:`kldrift.tables.iceberg_table` plans which files and deletes apply). As the
spec says (https://iceberg.apache.org/spec/#scan-planning):

* a column is found in a file by its field id (a renamed column keeps its id), by
  the table's name mapping for files written without ids, else by name;
* a positional delete file lists ``(file_path, pos)`` of deleted rows;
* an equality delete file holds values of some columns (``equality_ids``): a row
  whose values equal all of a delete row's is deleted (null equals null);
* a row filter that a file's partition does not answer (its residual) is
  evaluated on the file's rows.

Delete files are read once, when the first data file they apply to is read.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from kldrift.errors import SourceError
from kldrift.files import Batch, FileInfo, arrow_msg, strip_scheme
from kldrift.redact import redact_url

__all__ = ["DeleteFile", "FilePlan", "IcebergFiles"]

_FIELD_ID = b"PARQUET:field_id"


@dataclass(frozen=True, slots=True)
class DeleteFile:
    """A delete file that applies to a data file: positional (``equality`` empty) or equality (its columns)."""

    path: str
    """Where kldrift reads it (a local path, or ``scheme://bucket/key``)."""
    size: int
    equality: tuple[str, ...] = ()
    """Table names of its equality columns (``equality_ids``); empty for a positional delete file."""


@dataclass(frozen=True, slots=True)
class FilePlan:
    """What applies to one data file: its path as the table's metadata writes it, deletes, residual filter."""

    location: str
    deletes: tuple[DeleteFile, ...] = ()
    residual: Any = None
    """A pyarrow expression on table column names the file's rows must meet, ``None`` when all do."""
    residual_columns: tuple[str, ...] = ()


@dataclass(slots=True)
class IcebergFiles:
    """The reading of an Iceberg table's data files (see the module docstring)."""

    ids: dict[int, str]
    """Field id → the table column's name, in the schema read."""
    plans: dict[str, FilePlan]
    filesystem: pafs.FileSystem
    name_mapping: Any = None
    id_names: dict[str, int] = field(default_factory=dict)
    """Field names of the name mapping → field id (files without field ids)."""
    _names: dict[str, dict[str, str]] = field(default_factory=dict)
    _positions: dict[str, dict[str, np.ndarray[Any, Any]]] = field(default_factory=dict)
    _equality: dict[str, pa.Table] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def names(self, info: FileInfo, file_schema: pa.Schema) -> dict[str, str]:
        known = self._names.get(info.path)
        if known is None:
            known = self._names[info.path] = self._match(file_schema)
        return known

    def _match(self, file_schema: pa.Schema) -> dict[str, str]:
        """Table name → file column name: by field id, else by the name mapping, else by name."""
        out: dict[str, str] = {}
        for f in file_schema:
            raw = (f.metadata or {}).get(_FIELD_ID)
            fid = int(raw) if raw is not None else self.id_names.get(f.name)
            name = self.ids.get(fid) if fid is not None else (f.name if f.name in self.ids.values() else None)
            if name is not None and name not in out:
                out[name] = f.name
        return out

    def needs(self, info: FileInfo) -> list[str]:
        plan = self.plans.get(info.path)
        if plan is None:
            return []
        cols = [c for d in plan.deletes for c in d.equality] + list(plan.residual_columns)
        return list(dict.fromkeys(cols))

    def keep(self, info: FileInfo, batch: Batch, first_row: int) -> Any:
        plan = self.plans.get(info.path)
        if plan is None or (not plan.deletes and plan.residual is None):
            return None
        n = batch.num_rows
        keep = np.ones(n, dtype=bool)
        for d in plan.deletes:
            if not d.equality:
                pos = self._positional(d).get(plan.location)
                if pos is not None:
                    lo, hi = np.searchsorted(pos, [first_row, first_row + n])
                    keep[pos[lo:hi] - first_row] = False
            else:
                keep &= ~_matches(batch, self._equality_rows(d))
        if plan.residual is not None:
            rows = pa.table({"__row": np.arange(n), **{c: batch.column(c) for c in plan.residual_columns}})
            keep &= np.isin(np.arange(n), rows.filter(plan.residual).column("__row").to_numpy())
        return pa.array(keep)

    def live_rows(self, info: FileInfo, rows: int) -> int | None:
        plan = self.plans.get(info.path)
        if plan is None or (not plan.deletes and plan.residual is None):
            return rows
        if plan.residual is not None or info.row_groups or any(d.equality for d in plan.deletes):
            return None
        gone: set[int] = set()
        for d in plan.deletes:
            pos = self._positional(d).get(plan.location)
            if pos is not None:
                gone.update(int(p) for p in pos[(pos >= 0) & (pos < rows)])
        return rows - len(gone)

    def records(self) -> list[dict[str, Any]]:
        seen = {d.path: d for p in self.plans.values() for d in p.deletes}
        return [{"path": d.path, "size": d.size} for _, d in sorted(seen.items())]

    def _read(self, d: DeleteFile, columns: Sequence[str] | None = None) -> pa.Table:
        try:
            if isinstance(self.filesystem, pafs.LocalFileSystem):
                return pq.read_table(d.path, columns=columns)
            with self.filesystem.open_input_file(strip_scheme(d.path)) as fh:
                return pq.read_table(fh, columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"{redact_url(d.path)}: cannot read this Iceberg delete file: {arrow_msg(exc)}") from exc

    def _positional(self, d: DeleteFile) -> dict[str, np.ndarray[Any, Any]]:
        """Deleted row positions of each data file a positional delete file names, sorted."""
        with self._lock:
            known = self._positions.get(d.path)
            if known is None:
                table = self._read(d, ["file_path", "pos"])
                paths = table.column("file_path").to_numpy(zero_copy_only=False)
                pos = table.column("pos").to_numpy()
                known = {str(p): np.sort(pos[paths == p]) for p in np.unique(paths)}
                self._positions[d.path] = known
            return known

    def _equality_rows(self, d: DeleteFile) -> pa.Table:
        """An equality delete file's rows, under the table's names of its columns."""
        with self._lock:
            known = self._equality.get(d.path)
            if known is None:
                table = self._read(d)
                names = self._match(table.schema)
                missing = [c for c in d.equality if c not in names]
                if missing:
                    raise SourceError(f"{redact_url(d.path)}: equality delete file without column(s) {missing}")
                known = pa.table([table.column(names[c]) for c in d.equality], names=list(d.equality))
                self._equality[d.path] = known
            return known


def _codes(column: Any, values: Any) -> np.ndarray[Any, Any]:
    """Each value's index in ``values`` (null matching null), -1 where it is not there."""
    with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = values.cast(column.type)  # else compared as they are: the kind of values is the same
    idx = pc.index_in(column, value_set=values, skip_nulls=False)
    return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _matches(batch: Batch, deletes: pa.Table) -> np.ndarray[Any, Any]:
    """Which rows of ``batch`` equal a row of ``deletes`` on all of its columns (null equals null)."""
    n = batch.num_rows
    if deletes.num_rows == 0 or n == 0:
        return np.zeros(n, dtype=bool)
    data_codes, delete_codes = [], []
    for name in deletes.column_names:
        uniq = pc.unique(deletes.column(name).combine_chunks())
        data_codes.append(_codes(batch.column(name), uniq))
        delete_codes.append(_codes(deletes.column(name), uniq))
    data = np.stack(data_codes, axis=1)
    found = (data >= 0).all(axis=1)
    rows = {tuple(r) for r in np.stack(delete_codes, axis=1).tolist()}
    out = np.zeros(n, dtype=bool)
    if len(deletes.column_names) == 1:
        out[found] = True  # a value of the delete file's one column
        return out
    idx = np.flatnonzero(found)
    out[idx] = [tuple(r) in rows for r in data[idx].tolist()]
    return out
