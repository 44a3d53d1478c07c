"""The current data of a data interval: its paths, the ones not there, its files, and the Airflow plan of them.

A job's ``current`` template renders one path per interval (or one per day of
it, with ``{day}``). A path that is not there is not an error: the run says
``no_data`` when none is, and names the missing ones in its volume row when
some are. The Airflow fan-out plans the files once (:func:`plan_shards`: a list
of :class:`Shard` values, JSON through XCom); the shards count exactly those,
and the manifest lists them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kldrift.config import JobConfig
from kldrift.errors import KLDriftError, NoDataError, SourceError
from kldrift.interval import Interval
from kldrift.scan import FileInfo, Scan
from kldrift.sources import describe, open_source

__all__ = [
    "Shard",
    "absent_paths",
    "current_or_missing",
    "current_scan",
    "is_there",
    "plan_shards",
    "planned_files",
    "planned_scan",
]


def is_there(path: str) -> bool:
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
    return [] if isinstance(source, str) else [describe(p) for p in source if not is_there(p)]


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
        return open_source(path)
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

    @property
    def label(self) -> str:
        """A readable name for its count task: the first file (and row groups), and how many follow."""
        if not self.files:
            return "no files (partition missing)" if self.missing is not None else "no files"
        first = self.files[0].label.rstrip("/").rsplit("/", 1)[-1]
        return first if len(self.files) == 1 else f"{first} +{len(self.files) - 1} files"

    def to_json(self) -> dict[str, Any]:
        return {"files": [f.to_json() for f in self.files], "missing": self.missing, "absent": list(self.absent)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shard:
        """The shard of :meth:`to_json` (an XCom value); :class:`KLDriftError` when it is not one."""
        try:
            missing = data.get("missing")
            return cls(
                tuple(FileInfo.from_json(f) for f in data.get("files") or ()),
                None if missing is None else str(missing),
                tuple(str(p) for p in data.get("absent") or ()),
            )
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise KLDriftError(f"malformed shard of a plan: {type(exc).__name__}: {exc}") from None


def plan_shards(config: JobConfig, interval: Interval, max_shards: int | None = None) -> list[Shard]:
    """The current interval's files, grouped into at most ``airflow.max_shards`` shards.

    The shards' files are what the count tasks read and what the run's manifest
    lists: nothing is listed again after planning. A missing partition is one
    shard without files that says why (zero counts; the run says ``no_data``).
    """
    scan, missing = current_or_missing(config, interval)
    if scan is None:
        return [Shard(missing=missing)]
    out = [Shard(tuple(group)) for group in scan.shards(max_shards or config.airflow.max_shards)]
    return [dataclasses.replace(out[0], absent=scan.absent), *out[1:]]


def planned_scan(config: JobConfig, interval: Interval, shard: Shard) -> tuple[Scan | None, str | None]:
    """The scan of a shard's files (or row-group ranges), or ``None`` and why when the partition was missing."""
    from kldrift.sources import open_files

    if shard.missing is not None or not shard.files:
        return None, shard.missing
    try:
        return open_files(list(shard.files), describe(config.current_source(interval))), None
    except SourceError as exc:
        raise exc.again(f"current data for {interval.ds}") from exc


def planned_files(config: JobConfig, interval: Interval, shards: Sequence[Shard]) -> tuple[Scan | None, str | None]:
    """The scan of every file a plan counted (each once, whole): what scoring checks and the manifest lists."""
    files = {f.path: f.whole() for shard in shards for f in shard.files}
    missing = next((s.missing for s in shards if s.missing is not None), None)
    scan, missing = planned_scan(config, interval, Shard(tuple(files.values()), missing))
    if scan is not None:
        # as planned: a day that came after planning was not counted either
        scan.absent = tuple(p for shard in shards for p in shard.absent)
    return scan, missing
