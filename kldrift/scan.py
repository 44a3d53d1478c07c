"""A scan: the files of a source and batches of the columns asked for, read row group by row group.

:func:`kldrift.sources.open_source` makes one from any source. A scan reads
Parquet with ``pyarrow.parquet``, only the needed columns, decoded on Arrow's
threads and one row group ahead on a reader thread; glues small row groups
into full batches; scans wide row groups one group of columns at a time; and
splits into shards (files, or row-group ranges of big files) for a fan-out.
"""

from __future__ import annotations

import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from kldrift.errors import SourceError
from kldrift.files import Batch, FileInfo, TableFiles, arrow_msg, held_groups, strip_scheme

if TYPE_CHECKING:
    from kldrift.tables import TableVersion

__all__ = ["Scan", "Source"]

Source = Any  # str | os.PathLike | Sequence[str | os.PathLike] | pa.Table | pandas.DataFrame

_TARGET_BATCH_BYTES = 64 << 20
"""Decoded bytes of one batch (rows x columns x 8) kldrift aims for."""
_MAX_ROW_GROUP_BYTES = 32 << 20
"""Decoded bytes of one read: wider row groups are scanned a group of columns at a time
(:meth:`Scan.column_groups`), longer ones streamed in batches instead of read whole. About three
reads are held at once (one counted, one ready, one decoding): ~100 MiB at 32 MiB, where 96 MiB
held ~300 MiB of Arrow memory on a 1,000-column table, for no speed (measured)."""
_PREFETCH = 1
"""Row groups decoded ahead, on a reader thread, while the current one is counted."""


@dataclass(slots=True)
class Scan:
    """A resolved source: its files, its schema, and batches of chosen columns.

    Files are read row group by row group with ``pyarrow.parquet`` (columns
    decoded on Arrow's threads), one row group ahead on a reader thread, so
    decoding overlaps counting and memory stays at about three reads of at most
    ``_MAX_ROW_GROUP_BYTES`` (the one counted, the next, the one decoding).
    """

    description: str
    schema: pa.Schema
    files: tuple[FileInfo, ...] = ()
    partition_columns: tuple[str, ...] = ()
    filesystem: pafs.FileSystem | None = None
    base_dir: str | None = None
    table: pa.Table | None = None
    skipped: tuple[str, ...] = ()
    """Files of a folder left out because their names say they are not data (``README.md``, ``*.crc``)."""
    conflicts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Column → (file, type) of the first file whose values in it are of another kind than the scan's
    (strings where the first file had numbers): those values are read as nulls, and the column's
    feature is reported as a schema change instead of being scored."""
    duplicates: dict[str, str] = field(default_factory=dict)
    """Column names that a file holds more than once → that file. Such columns are never read."""
    absent: tuple[str, ...] = ()
    """Paths of the source that were not there (a weekly job's missing days), found when it was opened."""
    reader: TableFiles | None = None  # a table format's reading of its files; None: the files as they are
    version: TableVersion | None = None  # the table version whose live files these are (Delta, Iceberg)
    _rows: int | None = field(default=None, repr=False)
    _footers: dict[str, Any] = field(default_factory=dict, repr=False)
    """Parquet footers already read, by path: each file's footer is fetched once per scan."""

    def pandas_index(self) -> list[str]:
        """Columns the pandas index was written to (``DataFrame.to_parquet`` keeps it as ``__index_level_0__``)."""
        try:
            meta = self.schema.pandas_metadata or {}
        except (ValueError, TypeError):  # malformed pandas metadata: no index columns known
            return []
        return [c for c in meta.get("index_columns", []) if isinstance(c, str)]

    def column_names(self) -> list[str]:
        """Data columns: the schema less hive partition keys."""
        return [n for n in self.schema.names if n not in self.partition_columns]

    def _open(self, info: FileInfo, buffer_size: int = 0) -> pq.ParquetFile:
        remote = self.filesystem is not None and not isinstance(self.filesystem, pafs.LocalFileSystem)
        footer = self._footers.get(info.path)
        try:
            if remote:
                assert self.filesystem is not None
                # Pre-buffering coalesces a row group's reads: a win on object stores, while on
                # local disks it doubles peak memory for no speed (measured).
                source = self.filesystem.open_input_file(strip_scheme(info.path))
                pf = pq.ParquetFile(source, metadata=footer, pre_buffer=not buffer_size, buffer_size=buffer_size)
            else:
                pf = pq.ParquetFile(info.path, metadata=footer, pre_buffer=False, buffer_size=buffer_size)
            self._footers[info.path] = pf.metadata
            return pf
        except PermissionError as exc:
            raise SourceError(f"{info.path}: permission denied") from exc
        except FileNotFoundError as exc:
            raise SourceError(f"{info.path}: no such file (it was removed while reading)", transient=True) from exc
        except (pa.ArrowException, OSError) as exc:
            raise SourceError.io(f"{info.path}: not a readable Parquet file: {arrow_msg(exc)}", exc) from exc

    def _metadata(self, info: FileInfo) -> Any:
        """The file's Parquet footer: read once per scan, then from memory (no reopening)."""
        footer = self._footers.get(info.path)
        return footer if footer is not None else self._open(info).metadata

    def count_rows(self) -> int:
        """Row count, from Parquet footers (no data is decoded)."""
        if self._rows is None:
            if self.table is not None:
                self._rows = self.table.num_rows
            else:
                total = 0
                for info in self.files:
                    md = self._metadata(info)
                    start, stop = info.row_groups or (0, md.num_row_groups)
                    rows = sum(md.row_group(i).num_rows for i in range(start, stop))
                    live = self.reader.live_rows(info, rows) if self.reader else rows
                    total += live if live is not None else sum(b.num_rows for b in self._like((info,)).batches([]))
                self._rows = total
        return self._rows

    def batch_size(self, n_columns: int) -> int:
        """Rows per batch so that one batch of ``n_columns`` stays near 64 MiB."""
        per_row = max(1, n_columns) * 8
        return int(min(1 << 17, max(4096, _TARGET_BATCH_BYTES // per_row)))

    def batches(self, columns: Sequence[str]) -> Iterator[Batch]:
        """Batches (tables or record batches) of ``columns``, in file and row-group order."""
        cols = list(columns)
        if self.table is not None:
            yield from self.table.select(cols).to_batches(max_chunksize=self.batch_size(len(cols)))
            return
        target = self.batch_size(len(cols)) // 2
        yield from self._glued(self._read(cols, target), target)

    def map_batches(
        self,
        columns: Sequence[str],
        fn: Callable[[Batch, int | None], Any],
        here: Callable[[Batch, int | None], Any] | None = None,
    ) -> Iterator[tuple[int, Any]]:
        """``(rows, fn(batch, row0))`` for the batches of ``columns``, in order: a row group read whole through a
        thread-safe ``fn`` on the reader thread that decoded it (its values still in that core's cache),
        glued or streamed batches through ``here`` (default ``fn``) in the caller's thread. ``row0`` is the
        scan's row the batch starts at; ``None`` on a reader thread where that is not known ahead (a table
        whose deleted rows are left out as its files are read)."""
        cols, here, row0 = list(columns), here or fn, 0
        target = self.batch_size(len(cols)) // 2
        parts = self.batches(cols) if self.table is not None else self._glued(self._read(cols, target, fn), target)
        for item in parts:
            rows = item.rows if isinstance(item, _Mapped) else item.num_rows
            yield rows, item.value if isinstance(item, _Mapped) else here(item, row0)
            row0 += rows

    @staticmethod
    def _glued(parts: Iterator[Batch | _Mapped], target: int) -> Iterator[Batch | _Mapped]:
        # Small row groups (many small files) are glued into batches of about half the
        # target size: per-batch costs (a numpy call per bin and column) dominate otherwise.
        buf: list[Batch] = []
        rows = 0
        for part in parts:
            if isinstance(part, _Mapped) or (not buf and part.num_rows >= target):
                if buf:
                    yield _concat(buf)
                    buf, rows = [], 0
                yield part
                continue
            if buf and part.schema != buf[0].schema:  # files of other physical types are glued apart
                yield _concat(buf)
                buf, rows = [], 0
            buf.append(part)
            rows += part.num_rows
            if rows >= target:
                yield _concat(buf)
                buf, rows = [], 0
        if buf:
            yield _concat(buf)

    def _read(
        self, cols: list[str], target: int, fn: Callable[[Batch, int | None], Any] | None = None
    ) -> Iterator[Any]:
        """Row groups in order, read ahead on two reader threads (one row group, or a target's worth);
        with ``fn``, a whole row group of at least ``target`` rows comes back as ``fn``'s result."""
        with ThreadPoolExecutor(2, thread_name_prefix="kldrift-read") as reader:
            pending: deque[tuple[FileInfo, Future[Any], int, int]] = deque()
            in_flight = 0
            at: int | None = 0 if self.reader is None else None  # the next row group's first row, when known ahead
            for info, task, n, first in self._tasks(cols):
                if fn is not None and n >= target:
                    task = functools.partial(self._read_mapped, task, info, cols, first, fn, at)
                pending.append((info, reader.submit(task), n, first))
                in_flight += n
                at = None if at is None else at + n
                while len(pending) > _PREFETCH and in_flight - pending[0][2] >= target:
                    done, fut, m, row = pending.popleft()
                    in_flight -= m
                    yield from self._drain(done, fut, cols, row)
            while pending:
                done, fut, _, row = pending.popleft()
                yield from self._drain(done, fut, cols, row)

    def _read_mapped(
        self,
        task: Callable[[], Any],
        info: FileInfo,
        cols: list[str],
        first: int,
        fn: Callable[[Batch, int | None], Any],
        row0: int | None,
    ) -> Any:
        """On a reader thread: the row group, conformed, through ``fn`` (errors as the read's: see :meth:`_drain`);
        a streamed one is left to the caller."""
        result = task()
        if not isinstance(result, pa.Table):
            return result
        part = self._conform(result, cols, info, first)
        return _Mapped(part.num_rows, fn(part, row0))

    def _tasks(self, cols: list[str]) -> Iterator[tuple[FileInfo, Callable[[], Any], int, int]]:
        """Each row group to read: its file, the read, its rows and the file's row number it starts at."""
        for info in self.files:
            md = self._metadata(info)
            if self.reader is None:
                names = md.schema.to_arrow_schema().names
                present = [c for c in cols if c in names and c not in self.duplicates]
            else:  # the file's own names of the table's columns, and those that tell its live rows
                mapping = self.reader.names(info, md.schema.to_arrow_schema())
                need = cols + [c for c in self.reader.needs(info) if c not in cols]
                present = [mapping[c] for c in need if c in mapping and c not in self.duplicates]
            start, stop = info.row_groups or (0, md.num_row_groups)
            first = sum(md.row_group(i).num_rows for i in range(start))
            for i in range(start, stop):
                rows = md.row_group(i).num_rows
                yield info, functools.partial(self._read_row_group, info, i, present, rows), rows, first
                first += rows

    def _read_row_group(self, info: FileInfo, i: int, present: list[str], rows: int) -> Any:
        """One row group, on a reader thread, through its own file handle (readers are not shared
        between threads); the footer is not read again."""
        if rows * max(1, len(present)) * 8 > _MAX_ROW_GROUP_BYTES:
            # Wide or long row groups: stream pages through a small buffer, batch by batch.
            pf = self._open(info, buffer_size=1 << 20)
            return pf.iter_batches(self.batch_size(len(present)), [i], present, use_threads=True)  # lazily, by batch
        return self._open(info).read_row_group(i, columns=present, use_threads=True)

    def _drain(self, info: FileInfo, future: Future[Any], cols: list[str], first: int) -> Iterator[Any]:
        try:
            result = future.result()
            if isinstance(result, _Mapped):
                yield result
                return
            parts = [result] if isinstance(result, pa.Table) else result
            for part in parts:
                first += part.num_rows
                yield self._conform(part, cols, info, first - part.num_rows)
        except SourceError:
            raise
        except (pa.ArrowException, OSError) as exc:
            raise SourceError.io(f"{info.path}: cannot read Parquet data: {arrow_msg(exc)}", exc) from exc

    def _conform(self, part: Batch, cols: list[str], info: FileInfo, first: int) -> Batch:
        """The batch with every column of ``cols``: missing ones as nulls, and as nulls the values of a
        column this file holds as another kind of values (see :attr:`conflicts`). Values of the same
        kind stay in their own physical type (int32 beside int64, a dictionary beside strings): the
        counting reads values, not types. A table's file is read by its table names, live rows only."""
        if self.reader is not None:
            part = self._live(self.reader, part, info, first)
            if not cols:
                return part.select([])
        if part.schema.names == cols and not self.conflicts:
            return part
        arrays = []
        for c in cols:
            want = self.schema.field(c).type
            if c not in part.schema.names or self.conflicts.get(c, ("",))[0] == info.path:
                arrays.append(pa.nulls(part.num_rows, want))
                continue
            arrays.append(part.column(c))
        return pa.table(arrays, names=cols) if isinstance(part, pa.Table) else pa.record_batch(arrays, names=cols)

    def _live(self, reader: TableFiles, part: Batch, info: FileInfo, first: int) -> Batch:
        """A table file's batch under the table's column names, its deleted rows left out."""
        table_name = {v: k for k, v in reader.names(info, part.schema).items() if k != v}  # cached per file
        part = part.rename_columns([table_name.get(n, n) for n in part.schema.names]) if table_name else part
        keep = reader.keep(info, part, first)
        return part if keep is None else part.filter(keep)

    def subset(self, units: Sequence[FileInfo]) -> Scan:
        """The same source restricted to some of its shard units (files or row-group ranges, from :meth:`shards`)."""
        known = {f.path for f in self.files}
        for unit in units:
            if unit.path not in known:
                raise SourceError(f"{unit.path}: not a file of {self.description}")
        return self._like(tuple(units))

    def _like(self, files: tuple[FileInfo, ...]) -> Scan:
        """A scan of some of this one's files, with its schema, conflicts and footers."""
        out = Scan(self.description, self.schema, files, self.partition_columns, self.filesystem, self.base_dir)
        out.conflicts, out.duplicates, out._footers = self.conflicts, self.duplicates, self._footers
        out.reader, out.version = self.reader, self.version
        return out

    def column_groups(
        self, columns: Sequence[str], *, held: Mapping[str, int] | None = None, budget: int = 0
    ) -> list[list[str]]:
        """``columns`` split so one row group of a group fits ``_MAX_ROW_GROUP_BYTES`` decoded, and,
        given ``held`` (values the caller keeps of a column over the whole scan), so the values kept
        of a group's columns fit ``budget`` (see :func:`held_groups`).

        Parquet stores each column of a row group on its own, so scanning a wide table one group of columns
        at a time decodes every value once, like a single scan, holding a fraction of a row group.
        """
        cols = list(columns)
        if not cols:
            return [cols]
        per_group = len(cols)
        if self.table is None:
            widest = 0
            for f in self.files:
                md = self._metadata(f)
                start, stop = f.row_groups or (0, md.num_row_groups)
                widest = max([widest, *(md.row_group(i).num_rows for i in range(start, stop))])
            per_group = max(1, _MAX_ROW_GROUP_BYTES // max(1, widest * 8))
        return held_groups(cols, held or {}, budget, per_group)  # both bounds in one greedy pass: fewest groups

    def spread(self, n_units: int) -> Scan:
        """A scan of at most ``n_units`` row groups spread evenly over the source (a pilot sample)."""
        if self.table is not None:
            size = self.batch_size(self.table.num_columns)
            starts = range(0, self.table.num_rows, size)
            picked = [starts[i * len(starts) // n_units] for i in range(min(n_units, len(starts)))]
            table = pa.concat_tables([self.table.slice(s, size) for s in sorted(set(picked))]) if picked else self.table
            return Scan(self.description, self.schema, table=table)
        units: list[tuple[FileInfo, int]] = []
        for f in self.files:
            n = self._metadata(f).num_row_groups
            start, stop = f.row_groups or (0, n)
            units.extend((f, i) for i in range(start, stop))
        chosen = sorted({i * len(units) // n_units for i in range(min(n_units, len(units)))})
        files = tuple(
            FileInfo(units[i][0].path, units[i][0].size, units[i][0].mtime, (units[i][1], units[i][1] + 1))
            for i in chosen
        )
        return self._like(files)

    def shards(self, max_shards: int) -> list[list[FileInfo]]:
        """Shard units (files, or row-group ranges of big files) in at most ``max_shards`` groups.

        Groups are contiguous and of about equal compressed bytes; with fewer
        files than shards, files are split by row groups (a unit's ``row_groups``),
        so one big file still fans out.
        """
        if self.table is not None or not self.files:
            return [[]]
        units: list[tuple[FileInfo, int]] = []
        if len(self.files) >= max_shards:
            units = [(f, max(f.size, 1)) for f in self.files]
        else:
            for f in self.files:
                md = self._metadata(f)
                n = md.num_row_groups
                parts = max(1, min(n, -(-max_shards // len(self.files))))
                bounds = [n * j // parts for j in range(parts + 1)]
                for a, b in itertools.pairwise(bounds):
                    if b > a:
                        unit = f if parts == 1 else FileInfo(f.path, f.size, f.mtime, (a, b))
                        units.append((unit, max(1, f.size * (b - a) // max(n, 1))))
        k = max(1, min(max_shards, len(units)))
        total = sum(w for _, w in units)
        groups: list[list[FileInfo]] = [[] for _ in range(k)]
        acc = 0
        for unit, w in units:
            groups[min(k - 1, (2 * acc + w) * k // (2 * total))].append(unit)  # by midpoint
            acc += w
        return [g for g in groups if g]


@dataclass(frozen=True, slots=True)
class _Mapped:
    """A row group already through :meth:`Scan.map_batches`'s ``fn``: its rows and the result."""

    rows: int
    value: Any


def _concat(parts: list[Batch]) -> Batch:
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables([p if isinstance(p, pa.Table) else pa.Table.from_batches([p]) for p in parts])
