"""The current data of a data interval: its paths, the ones not there, its files, and the Airflow plan of them.

A job's ``current`` template renders one path per interval (or one per day of
it, with ``{day}``). A path that is not there is not an error: the run says
``no_data`` when none is, and names the missing ones in its volume row when
some are. The Airflow fan-out plans the files once (:func:`plan_shards`: a list
of :class:`Shard` values, JSON through XCom); the shards count exactly those,
and the manifest lists them.

A table's current data (``current: {table: ...}``, ``{iceberg: ...}``) is read at
one version: the latest at the interval's first run, and on a rerun the version
that run recorded in its manifest (``rerun: same_version``), so a rerun writes the
same bytes; a plan's units carry the version, so every shard reads the same one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kldrift import runstore
from kldrift.config import JobConfig
from kldrift.errors import KLDriftError, NoDataError, SourceError
from kldrift.files import FileInfo
from kldrift.interval import Interval
from kldrift.jobsections import TableSettings
from kldrift.redact import redact_url
from kldrift.scan import Scan
from kldrift.sources import describe, open_source
from kldrift.tables import DeltaSource, IcebergSource, TableSource, TableVersion

__all__ = [
    "Shard",
    "absent_paths",
    "current_or_missing",
    "current_scan",
    "is_there",
    "plan_shards",
    "planned_files",
    "planned_scan",
    "recorded_version",
]

log = logging.getLogger(__name__)


def is_there(path: str | TableSource) -> bool:
    try:
        open_source(path)
    except NoDataError:
        return False
    return True


def absent_paths(config: JobConfig, interval: Interval) -> list[str]:
    """The interval's current paths that are not there now, when it has several (a weekly job's days).

    A run reports those of its :class:`Scan` (``absent``), found when its data was opened or planned.
    """
    source = config.current_source(interval)
    return [describe(p) for p in source if not is_there(p)] if isinstance(source, list) else []


def recorded_version(config: JobConfig, interval: Interval, source: TableSource) -> int | None:
    """The table version the interval's earlier run read, from its manifest (``None``: no such run)."""
    path = os.path.join(runstore.run_dir(config.dataset_dir(), runstore.run_key(interval)), runstore.MANIFEST)
    try:
        with open(path, encoding="utf-8") as fh:
            recorded = TableVersion.from_json(json.load(fh)["inputs"]["current"]["table"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(source, DeltaSource):
        same = recorded.format == "delta" and recorded.table == redact_url(source.path)
    else:
        same = recorded.format == "iceberg" and f".{recorded.table}".endswith(f".{source.table}")
    return recorded.version if same and recorded.where == source.where else None


def _table_source(config: JobConfig, interval: Interval, version: int | None = None) -> TableSource | None:
    """The interval's current table source, pinned to ``version``, or as a rerun reads it; ``None``: not a table."""
    source = config.current_source(interval)
    if not isinstance(source, DeltaSource | IcebergSource):
        return None
    pin = source.version if isinstance(source, DeltaSource) else source.snapshot_id
    settings = config.current
    same = isinstance(settings, TableSettings) and settings.rerun == "same_version"
    if version is None and pin is None and source.as_of is None and same:
        version = recorded_version(config, interval, source)
        if version is not None:
            log.info(
                "%s: a rerun of %s reads the version its first run read: %d", describe(source), interval.ds, version
            )
    return source if version is None else source.pinned(version)


def current_scan(config: JobConfig, interval: Interval) -> Scan:
    path = config.current_source(interval)
    try:
        if isinstance(path, list):  # several partitions: those that are there (the run says which are not)
            present = [p for p in path if is_there(p)]
            if not present:
                raise NoDataError(f"none of its {len(path)} paths is there: {describe(path)}")
            scan = open_source(present[0] if len(present) == 1 else present)
            scan.absent = tuple(describe(p) for p in path if p not in present)
            return scan
        table = _table_source(config, interval)
        return open_source(table if table is not None else path)
    except SourceError as exc:  # NoDataError too: the same class, whether a retry can help kept
        raise exc.again(f"current data for {interval.ds}") from exc


def current_or_missing(config: JobConfig, interval: Interval) -> tuple[Scan | None, str | None]:
    """The interval's current data, or ``None`` and why, when the partition is not there."""
    try:
        return current_scan(config, interval), None
    except NoDataError as exc:
        return None, str(exc)


@dataclass(frozen=True, slots=True)
class Shard:
    """One planned shard of an interval's current data: what one mapped count task reads.

    ``files`` are whole files or row-group ranges of one (:attr:`FileInfo.row_groups`). The plan's
    facts about the interval as a whole ride on its first shard, so that Airflow can map a task over
    the plan as a plain list: ``missing`` (why there is no data: the plan's only shard, with no
    files) and ``absent`` (the paths of a several-path interval that were not there).
    """

    files: tuple[FileInfo, ...] = ()
    missing: str | None = None
    absent: tuple[str, ...] = ()
    version: int | None = None
    """A table's version (snapshot) the plan listed, read by every shard (``None``: files, not a table)."""

    @property
    def label(self) -> str:
        """A readable name for its count task: the first file (and row groups), and how many follow."""
        if not self.files:
            return "no files (partition missing)" if self.missing is not None else "no files"
        first = self.files[0].label.rstrip("/").rsplit("/", 1)[-1]
        return first if len(self.files) == 1 else f"{first} +{len(self.files) - 1} files"

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files],
            "missing": self.missing,
            "absent": list(self.absent),
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shard:
        """The shard of :meth:`to_json` (an XCom value); :class:`KLDriftError` when it is not one."""
        try:
            missing = data.get("missing")
            return cls(
                tuple(FileInfo.from_json(f) for f in data.get("files") or ()),
                None if missing is None else str(missing),
                tuple(str(p) for p in data.get("absent") or ()),
                None if data.get("version") is None else int(data["version"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise KLDriftError(f"malformed shard of a plan: {type(exc).__name__}: {exc}") from None


def plan_shards(config: JobConfig, interval: Interval, max_shards: int | None = None) -> list[Shard]:
    """The current interval's files, grouped into at most ``airflow.max_shards`` shards.

    The shards' files are what the count tasks read and what the run's manifest
    lists: nothing is listed again after planning. A missing partition is one
    shard without files that says why (zero counts; the run says ``no_data``).
    A table's shards carry the version the plan listed.
    """
    scan, missing = current_or_missing(config, interval)
    if scan is None:
        return [Shard(missing=missing)]
    version = scan.version.version if scan.version is not None else None
    out = [Shard(tuple(group), version=version) for group in scan.shards(max_shards or config.airflow.max_shards)]
    return [dataclasses.replace(out[0], absent=scan.absent), *out[1:]]


def planned_scan(config: JobConfig, interval: Interval, shard: Shard) -> tuple[Scan | None, str | None]:
    """The scan of a shard's files (or row-group ranges), or ``None`` and why when the partition was missing."""
    from kldrift.sources import open_files

    if shard.missing is not None or not shard.files:
        return None, shard.missing
    try:
        table = _table_source(config, interval, shard.version) if shard.version is not None else None
        if table is not None:  # the table at the planned version: its schema, partitions and deletes
            return open_source(table).subset(shard.files), None
        return open_files(list(shard.files), describe(config.current_source(interval))), None
    except SourceError as exc:
        raise exc.again(f"current data for {interval.ds}") from exc


def planned_files(config: JobConfig, interval: Interval, shards: Sequence[Shard]) -> tuple[Scan | None, str | None]:
    """The scan of every file a plan counted (each once, whole): what scoring checks and the manifest lists."""
    files = {f.path: f.whole() for shard in shards for f in shard.files}
    missing = next((s.missing for s in shards if s.missing is not None), None)
    version = next((s.version for s in shards if s.version is not None), None)
    scan, missing = planned_scan(config, interval, Shard(tuple(files.values()), missing, version=version))
    if scan is not None:
        # as planned: a day that came after planning was not counted either
        scan.absent = tuple(p for shard in shards for p in shard.absent)
    return scan, missing
