"""Data as Spark DataFrames in kldrift's row order, the ``mapInArrow`` passes over them, counting.

A :class:`Frames` is what the passes of :mod:`kldrift.spark.partials` run over: a user's DataFrame (its
rows in the DataFrame's own order: partition by partition, as ``toArrow()`` collects them) or the files
of a kldrift :class:`~kldrift.scan.Scan` (one DataFrame a file, each row placed by its file's first row
and Parquet's row index, so the order is kldrift's whatever Spark's partitions are). Only the small
results of the passes come back to the driver.

pyspark is imported inside the functions: importing this module does not need it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from kldrift.binning import BinSpec
from kldrift.errors import KLDriftError, SourceError
from kldrift.histogram import Counter, Histogram
from kldrift.scan import Scan
from kldrift.spark.partials import (
    COUNT_SCHEMA,
    ROW,
    ROWS_SCHEMA,
    Layout,
    count_partition,
    rows_partition,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["Frames", "arrow_schema", "count_frames", "counter_for", "frames_of_dataframe", "frames_of_scan", "session"]

_JOB_CONF = {
    # Parquet timestamps in nanoseconds (pyarrow's default) are unreadable to Spark otherwise; read as
    # int64 they are put back into their type on the executors (partials.conform).
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    # Columns "A" and "a" are two columns to kldrift, as to Parquet.
    "spark.sql.caseSensitive": "true",
}


def _pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError:
        msg = "kldrift.spark needs pyspark (and Java 17+): pip install 'kldrift[spark]'"
        raise KLDriftError(msg) from None
    return pyspark.sql


def session(spark: SparkSession | None) -> SparkSession:
    """``spark``, else the active SparkSession, else a new one (``SparkSession.builder.getOrCreate()``)."""
    sql = _pyspark()
    if spark is not None:
        return spark
    return sql.SparkSession.getActiveSession() or sql.SparkSession.builder.getOrCreate()


@contextlib.contextmanager
def job_conf(spark: SparkSession) -> Iterator[None]:
    """The SQL settings kldrift reads files with (:data:`_JOB_CONF`), restored after."""
    before = {k: spark.conf.get(k, None) for k in _JOB_CONF}
    for k, v in _JOB_CONF.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for key, old in before.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def arrow_schema(df: DataFrame) -> pa.Schema:
    """The Arrow schema of a DataFrame's rows, as ``df.toArrow()`` gives them (no rows are read)."""
    return df.limit(0).toArrow().schema


def _col(name: str) -> Any:
    return _pyspark().functions.col("`" + name.replace("`", "``") + "`")


@dataclass(frozen=True)
class Frames:
    """A source's rows as Spark DataFrames, with the column types kldrift reads and how rows are ordered.

    ``parts`` are ``(DataFrame, first rows, columns it has)``: the first row in kldrift's order of each
    of its files, by the file's URI as Spark names it (``None`` for a user's DataFrame, whose rows are
    placed by their partition: :attr:`partition_rows` counts the partitions' rows once).
    """

    parts: tuple[tuple[Any, Mapping[str, int] | None, frozenset[str]], ...]
    schema: pa.Schema
    description: str
    rows: int | None = None
    """Rows when known without a pass (from the files' footers)."""

    @property
    def is_files(self) -> bool:
        return bool(self.parts) and self.parts[0][1] is not None

    def select(self, columns: Sequence[str], *, with_rows: bool = False) -> list[DataFrame]:
        """One DataFrame a part with those of ``columns`` it holds (and :data:`ROW` when asked)."""
        f = _pyspark().functions
        out = []
        for df, first, names in self.parts:
            cols = [_col(c).alias(c) for c in columns if c in names]
            if with_rows:
                if first is None:
                    cols.append(f.monotonically_increasing_id().alias(ROW))
                else:
                    cols.append((_first_row(first) + f.col("_metadata.row_index")).alias(ROW))
            out.append(df.select(*cols))
        return out

    @functools.cached_property
    def partition_rows(self) -> dict[int, int]:
        """Rows of each Spark partition of a user's DataFrame (one pass that reads no column)."""
        if self.is_files or not self.parts:
            return {}
        f = _pyspark().functions
        ((df, _, _),) = self.parts
        ids = df.select(f.monotonically_increasing_id().alias(ROW))
        return dict(sorted((int(r.part), int(r.rows)) for r in _map(ids, rows_partition, ROWS_SCHEMA).collect()))

    @property
    def layout(self) -> Layout:
        """Where each partition's rows start in kldrift's order (files: their rows say it)."""
        if self.is_files or not self.parts:
            return Layout(self.schema)
        offsets, start = {}, 0
        for part, n in self.partition_rows.items():
            offsets[part] = start
            start += n
        return Layout(self.schema, offsets)

    def total_rows(self) -> int:
        return self.rows if self.rows is not None else sum(self.partition_rows.values())

    def run(
        self, columns: Sequence[str], fn: Callable[..., Iterator[pa.RecordBatch]], ddl: str, *, with_rows: bool = False
    ) -> DataFrame:
        """The union of ``fn``'s results over every part (``mapInArrow``), not yet computed."""
        frames = self.select(columns, with_rows=with_rows)
        assert frames, "a Frames has a part: a DataFrame, or a scan's files (a scan has at least one)"
        out = _map(frames[0], fn, ddl)
        for df in frames[1:]:
            out = out.unionAll(_map(df, fn, ddl))
        return out


def _map(df: DataFrame, fn: Callable[..., Iterator[pa.RecordBatch]], ddl: str) -> DataFrame:
    with warnings.catch_warnings():
        # pyspark checks its pandas version when a mapInArrow is made, and warns about pandas 3; the
        # functions here see Arrow batches only.
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        return df.mapInArrow(fn, ddl)


def frames_of_dataframe(df: DataFrame, description: str = "Spark DataFrame") -> Frames:
    """A user's DataFrame: its rows in its own order, with the Arrow types ``toArrow()`` gives."""
    sql = _pyspark()
    if not isinstance(df, sql.DataFrame):
        raise KLDriftError(f"expected a pyspark.sql.DataFrame, got {type(df).__name__}")
    return Frames(((df, None, frozenset(df.columns)),), arrow_schema(df), description)


def spark_path(path: str) -> str:
    """A kldrift path as Spark reads it: ``s3://`` through Hadoop's ``s3a``, glob characters escaped
    (Spark reads a path as a glob; kldrift's paths are files)."""
    if path.startswith("s3://"):
        path = "s3a://" + path[len("s3://") :]
    for ch in "\\[]{}*?":
        path = path.replace(ch, "\\" + ch)
    return path


def frames_of_scan(spark: SparkSession, scan: Scan, only: Collection[str] | None = None) -> Frames:
    """The files of a kldrift scan (or those of them in ``only``) as Spark DataFrames, one a schema.

    Files of the same schema are read by one DataFrame; files of another (a float32 file beside
    float64 ones) by their own, so each is read in its own types, as kldrift reads it. Each row is
    placed by its file's first row in the scan plus Parquet's row index, whatever partitions Spark
    makes. A scan of whole files only (not a plan's row-group ranges).
    """
    if scan.reader is not None or scan.version is not None:  # its files alone are not its rows
        raise SourceError(
            f"{scan.description}: a Delta or Iceberg table: kldrift.spark reads plain Parquet files, and a table's "
            "files miss its deletes and log-only partition values; read the table with Spark's own reader "
            "(spark.read.format('delta'), or Iceberg's) and give the DataFrame to kldrift.spark.count or compare, "
            "or run the job with kldrift run"
        )
    first: dict[str, int] = {}
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    names: dict[str, frozenset[str]] = {}
    row = 0
    for info in scan.files:
        if info.row_groups is not None:
            raise KLDriftError(f"{info.path}: kldrift.spark reads whole files, not row-group ranges")
        md = scan._metadata(info)
        schema = md.schema.to_arrow_schema()
        first[info.path] = row
        row += md.num_rows
        if only is None or info.path in only:
            key = tuple((f.name, str(f.type)) for f in schema)
            groups.setdefault(key, []).append(info.path)
            names[info.path] = frozenset(schema.names) - frozenset(scan.duplicates)
    parts = []
    for paths in groups.values():
        try:
            df = spark.read.parquet(*(spark_path(p) for p in paths))
            uris = df.inputFiles()
        except Exception as exc:  # Spark raises its own classes (AnalysisException, Py4JJavaError)
            raise SourceError(f"{paths[0]}: Spark cannot read it: {_spark_msg(exc)}") from exc
        by_name = {_plain(p): p for p in paths}
        starts = {}
        for uri in uris:
            path = by_name.get(_plain(uri))
            if path is None:
                raise SourceError(f"{uri}: Spark read a file kldrift did not list in {scan.description}")
            starts[_uri_key(uri)] = first[path]
        parts.append((df, starts, names[paths[0]]))
    return Frames(tuple(parts), scan.schema, scan.description, rows=row)


def _uri_key(uri: str) -> str:
    # Spark names a local file file:/x in _metadata.file_path and file:///x in inputFiles()
    return re.sub(r"^file:/+", "file:/", uri)


def _plain(path: str) -> str:
    """A path or URI without its scheme and escapes: what a kldrift path and Spark's URI of it share."""
    parts = urlsplit(path)
    if parts.scheme in ("", "file"):
        return os.path.abspath(unquote(parts.path)) if parts.scheme else os.path.abspath(path)
    return parts.netloc + unquote(parts.path)


def _first_row(starts: Mapping[str, int]) -> Any:
    f = _pyspark().functions
    if len(starts) == 1:
        return f.lit(next(iter(starts.values())))
    pairs = [f.lit(x) for kv in starts.items() for x in kv]
    return f.element_at(f.create_map(*pairs), f.regexp_replace(f.col("_metadata.file_path"), "^file:/+", "file:/"))


def _spark_msg(exc: BaseException) -> str:
    return " ".join(str(exc).split("\n", 1)[0].split())[:300]


def counter_for(spec: BinSpec, scan: Scan | None, schema: pa.Schema, where: str = "current data") -> Counter:
    """What kldrift's :func:`~kldrift.histogram.count` would count: the features the schema allows, less
    the columns the files disagree on (``scan``'s conflicts and duplicates), with the same messages."""
    counter = Counter(spec, schema, where=where)
    if scan is not None:
        for name, (path, t) in scan.conflicts.items():
            want = schema.field(name).type
            counter.exclude(
                name, f"type changed: column {name!r} is {t} in {path} but {want} in the {where}'s other files"
            )
        for name, path in scan.duplicates.items():
            counter.exclude(name, f"{path} has several columns named {name!r}")
    return counter


def count_frames(spec: BinSpec, frames: Frames, counter: Counter) -> Histogram:
    """Histogram of every row of ``frames`` in the bins of ``spec``, counted on Spark's executors.

    ``counter`` (see :func:`counter_for`) says which features are counted and why the others are not;
    each partition's counts come back as JSON and merge with ``+``.
    """
    columns = list(counter.columns)
    total = Histogram.zero(spec)
    if not frames.parts:
        return total
    schema = frames.schema
    fn = functools.partial(count_partition, spec=spec, schema=schema, columns=columns)
    if columns:
        for row in frames.run(columns, fn, COUNT_SCHEMA).collect():
            total = total + Histogram.from_json(json.loads(row.histogram))
    rows = total.rows if columns else _count_rows(frames)
    return Histogram(spec.fingerprint, rows, dict(total.counts), dict(counter.errors))


def _count_rows(frames: Frames) -> int:
    if frames.rows is not None:
        return frames.rows
    return sum(int(df.count()) for df, _, _ in frames.parts)
