"""Lakehouse tables as sources: a Delta Lake table, or an Apache Iceberg table in a catalog.

:func:`delta` and :func:`iceberg` make the typed sources that :func:`kldrift.compare`
and :func:`kldrift.fit` take (a path holding ``_delta_log/`` is a Delta table too); a
job's ``reference:`` / ``current:`` mappings make them from config keys
(:class:`kldrift.sections.TableSettings`). :mod:`kldrift.tables.delta_table` and
:mod:`kldrift.tables.iceberg_table` open them into a :class:`~kldrift.scan.Scan` of the
table's live data files at one version; the scan's :class:`TableVersion` says which,
and the run's manifest records it.

Nothing here imports pyarrow, deltalake or pyiceberg.

>>> delta("data/events", version=3)
delta('data/events', version=3)
>>> iceberg("analytics.events", catalog={"type": "sql", "uri": "sqlite:///c.db", "token": "s3cr3t"})
iceberg('analytics.events', catalog={'type': 'sql', 'uri': 'sqlite:///c.db', 'token': '***'})
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kldrift.errors import ConfigError
from kldrift.redact import redact_text, redact_url, secret_key

__all__ = [
    "DeltaSource",
    "IcebergSource",
    "TableSource",
    "TableVersion",
    "delta",
    "iceberg",
    "is_delta_table",
    "parse_as_of",
    "properties",
    "shown_properties",
]


def properties(props: Mapping[str, Any] | None) -> dict[str, str]:
    """Properties as the libraries take them: strings, booleans as ``true`` / ``false`` (YAML's ``true``)."""
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (props or {}).items()}


def shown_properties(props: Mapping[str, Any]) -> dict[str, str]:
    """Catalog or storage properties as they may be shown: secret-looking values (tokens, keys,
    credentials, passwords) as ``***``, URLs without their credentials."""
    return {k: "***" if secret_key(k) else redact_url(str(v)) for k, v in props.items()}


@dataclass(frozen=True, slots=True)
class DeltaSource:
    """A Delta Lake table: a folder or object-store URI holding ``_delta_log/``, read through delta-rs.

    ``version`` or ``as_of`` pins the version read (default: the latest); ``where`` is a SQL
    predicate on partition columns that selects the table's files (``dt = '2026-11-23'``).
    ``storage_options`` are delta-rs's (credentials of an object store: never shown).
    """

    path: str
    version: int | None = None
    as_of: dt.datetime | None = None
    where: str | None = None
    storage_options: Mapping[str, str] = field(default_factory=dict, repr=False)

    def pinned(self, version: int) -> DeltaSource:
        """The same selection at ``version``."""
        return dataclasses.replace(self, version=version, as_of=None)

    def describe(self) -> str:
        return redact_url(self.path) + (f" where {self.where}" if self.where else "")

    def __repr__(self) -> str:
        args = [repr(redact_url(self.path))]
        args += [f"{k}={getattr(self, k)!r}" for k in ("version", "as_of", "where") if getattr(self, k) is not None]
        if self.storage_options:
            args.append(f"storage_options={shown_properties(self.storage_options)!r}")
        return f"delta({', '.join(args)})"


@dataclass(frozen=True, slots=True)
class IcebergSource:
    """An Apache Iceberg table, ``namespace.table``, in a catalog loaded the pyiceberg way.

    ``catalog`` is a catalog name (its properties from ``~/.pyiceberg.yaml`` or
    ``PYICEBERG_CATALOG__<NAME>__*`` environment variables, as pyiceberg reads them; ``None``:
    pyiceberg's default catalog) and ``properties`` the catalog's properties given inline
    (``type``, ``uri``, ``warehouse``, credentials: never shown). ``snapshot_id`` or ``as_of``
    pins the snapshot read (default: the current one); ``where`` is a pyiceberg row filter
    (``event_ts >= '2026-11-23T00:00:00+00:00'``) that prunes partitions and files, the rows of
    files it selects only partly being filtered as they are read.
    """

    table: str
    catalog: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict, repr=False)
    snapshot_id: int | None = None
    as_of: dt.datetime | None = None
    where: str | None = None

    def pinned(self, snapshot_id: int) -> IcebergSource:
        """The same selection at snapshot ``snapshot_id``."""
        return dataclasses.replace(self, snapshot_id=snapshot_id, as_of=None)

    @property
    def catalog_name(self) -> str:
        return self.catalog or str(self.properties.get("name", "default"))

    def describe(self) -> str:
        where = f" where {self.where}" if self.where else ""
        return f"iceberg table {self.table} (catalog {redact_text(self.catalog_name)}){where}"

    def __repr__(self) -> str:
        args = [repr(self.table)]
        if self.catalog is not None or self.properties:
            shown: Any = shown_properties(self.properties) if self.properties else self.catalog
            args.append(f"catalog={shown!r}")
        args += [f"{k}={getattr(self, k)!r}" for k in ("snapshot_id", "as_of", "where") if getattr(self, k) is not None]
        return f"iceberg({', '.join(args)})"


TableSource = DeltaSource | IcebergSource


@dataclass(frozen=True, slots=True)
class TableVersion:
    """The version of a table a scan read: what the run's manifest records, and a rerun reads again."""

    format: Literal["delta", "iceberg"]
    table: str
    """The table: a Delta table's path or URI (without credentials), an Iceberg table's ``catalog.namespace.table``."""
    version: int
    """A Delta table's version, an Iceberg table's snapshot id."""
    timestamp: str | None = None
    """When that version was committed (ISO 8601, UTC)."""
    where: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "table": self.table,
            "version": self.version,
            "timestamp": self.timestamp,
            "where": self.where,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableVersion:
        fmt = data.get("format")
        if fmt not in ("delta", "iceberg") or not isinstance(data.get("version"), int):
            raise ValueError(f"not a table version record: {dict(data)!r}")
        return cls(fmt, str(data["table"]), int(data["version"]), data.get("timestamp"), data.get("where"))

    def label(self) -> str:
        """``version 7`` (Delta) or ``snapshot 5120...`` (Iceberg), for messages."""
        return f"version {self.version}" if self.format == "delta" else f"snapshot {self.version}"


def parse_as_of(value: str | dt.datetime | dt.date, key: str = "as_of") -> dt.datetime:
    """A timestamp to pin a table's version by: ISO date or date-time; a naive one is UTC."""
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            msg = f"{key}: expected an ISO date or timestamp (2026-11-24 or 2026-11-24T00:00:00+00:00), got {value!r}"
            raise ConfigError(msg) from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


def is_delta_table(path: str) -> bool:
    """Whether the local folder ``path`` holds a ``_delta_log/`` (is a Delta table's root)."""
    return "://" not in path and os.path.isdir(os.path.join(path, "_delta_log"))


def delta(
    path: str | os.PathLike[str],
    *,
    version: int | None = None,
    as_of: str | dt.datetime | dt.date | None = None,
    where: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> DeltaSource:
    """A Delta Lake table as a source, at its latest version or the one ``version`` / ``as_of`` pins.

    ``where`` selects files by partition values, a SQL predicate on partition columns
    (``"dt = '2026-11-23'"``): only the files of the matching partitions are read.
    """
    if version is not None and as_of is not None:
        raise ConfigError("give version or as_of, not both")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise ConfigError(f"version: expected a table version (an integer >= 0), got {version!r}")
    stamp = parse_as_of(as_of) if as_of is not None else None
    return DeltaSource(os.fspath(path), version, stamp, where or None, properties(storage_options))


def iceberg(
    table: str,
    *,
    catalog: str | Mapping[str, Any] | None = None,
    snapshot_id: int | None = None,
    as_of: str | dt.datetime | dt.date | None = None,
    where: str | None = None,
) -> IcebergSource:
    """An Apache Iceberg table (``namespace.table``) as a source, through a pyiceberg catalog.

    ``catalog`` is a catalog's name (configured the pyiceberg way: ``~/.pyiceberg.yaml`` or
    ``PYICEBERG_CATALOG__<NAME>__<PROPERTY>`` environment variables) or a mapping of its
    properties (``{"type": "sql", "uri": "sqlite:///catalog.db", "warehouse": "file:///wh"}``);
    ``snapshot_id`` / ``as_of`` pin the snapshot; ``where`` is a row filter in pyiceberg's syntax.
    """
    if not isinstance(table, str) or "." not in table.strip(".") or not table.strip():
        raise ConfigError(f"iceberg: expected a table identifier namespace.table, got {table!r}")
    if snapshot_id is not None and as_of is not None:
        raise ConfigError("give snapshot_id or as_of, not both")
    if snapshot_id is not None and (not isinstance(snapshot_id, int) or isinstance(snapshot_id, bool)):
        raise ConfigError(f"snapshot_id: expected an integer snapshot id, got {snapshot_id!r}")
    stamp = parse_as_of(as_of) if as_of is not None else None
    if isinstance(catalog, Mapping):
        return IcebergSource(table, None, properties(catalog), snapshot_id, stamp, where or None)
    return IcebergSource(table, catalog, {}, snapshot_id, stamp, where or None)
