"""The current data of a data interval: its paths, the ones not there, its files, and the Airflow plan of them.

A job's ``current`` template renders one path per interval (or one per day of
it, with ``{day}``). A path that is not there is not an error: the run says
``no_data`` when none is, and names the missing ones in its volume row when
some are. The Airflow fan-out plans the files once (:func:`plan_shards`); the
shards count exactly those, and the manifest lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kldrift.config import JobConfig
from kldrift.errors import NoDataError, SourceError
from kldrift.interval import Interval
from kldrift.scan import Scan
from kldrift.sources import describe, open_source

__all__ = [
    "Unit",
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


Unit = dict[str, Any]
"""One unit of a planned shard: ``{"path", "size", "mtime", "row_groups"}`` (``[start, stop)`` or ``None``
for the whole file), or ``{"missing": why}`` when the partition is not there."""


def plan_shards(config: JobConfig, interval: Interval, max_shards: int | None = None) -> list[list[Unit]]:
    """The current interval's files, grouped into at most ``airflow.max_shards`` shards of unit records.

    The records are what the shards count and what the run's manifest lists:
    nothing is listed again after planning. A missing partition is one shard
    of one ``{"missing": why}`` unit: zero counts, and the run says ``no_data``;
    each of several paths not there is an ``{"absent": path}`` unit of the first shard.
    """
    scan, missing = current_or_missing(config, interval)
    if scan is None:
        return [[{"missing": missing}]]
    by_path = {f.path: f for f in scan.files}
    out: list[list[Unit]] = []
    for group in scan.shards(max_shards or config.airflow.max_shards):
        units = []
        for label in group:
            path, _, rg = label.partition("#row_groups=")
            info = by_path[path]
            row_groups = [int(x) for x in rg.split("-")] if rg else None
            units.append({"path": path, "size": info.size, "mtime": info.mtime, "row_groups": row_groups})
        out.append(units)
    out[0].extend({"absent": p} for p in scan.absent)
    return out


def planned_scan(config: JobConfig, interval: Interval, units: Sequence[Unit]) -> tuple[Scan | None, str | None]:
    """The scan of planned units (files, row-group ranges), or ``None`` and why when the partition was missing."""
    from kldrift.scan import FileInfo
    from kldrift.sources import open_files

    missing = next((str(u["missing"]) for u in units if "missing" in u), None)
    files = [
        FileInfo(
            str(u["path"]), int(u["size"]), u.get("mtime"), tuple(u["row_groups"]) if u.get("row_groups") else None
        )
        for u in units
        if "path" in u
    ]
    if missing is not None or not files:
        return None, missing
    try:
        return open_files(files, describe(config.current_source(interval))), None
    except SourceError as exc:
        raise exc.again(f"current data for {interval.ds}") from exc


def planned_files(
    config: JobConfig, interval: Interval, shards: Sequence[Sequence[Unit]]
) -> tuple[Scan | None, str | None]:
    """The scan of every file a plan counted (each once, whole): what scoring checks and the manifest lists."""
    seen: dict[str, Unit] = {}
    absent: list[str] = []
    for unit in (u for shard in shards for u in shard):
        if "missing" in unit:
            return None, str(unit["missing"])
        if "absent" in unit:
            absent.append(str(unit["absent"]))
        else:
            seen.setdefault(str(unit["path"]), {**unit, "row_groups": None})
    scan, missing = planned_scan(config, interval, list(seen.values()))
    if scan is not None:
        scan.absent = tuple(absent)  # as planned: a day that came after planning was not counted either
    return scan, missing
