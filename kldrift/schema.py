"""Schema changes between the reference's columns and the current data's: dropped, retyped, added.

A column *retyped* changed its logical kind of values (numbers became
strings, timestamps became numbers), not its physical type: ``int64`` →
``float64``, ``float32`` → ``float64``, ``string`` → ``dictionary<string>``
or timestamp units are the same values, aligned by value when counting
(see :mod:`kldrift.columns`), and are no change at all. A column that holds
only nulls (Arrow's ``null`` type) fits any kind. Columns kldrift cannot bin
(nested, binary) are compared by their exact type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from kldrift.columns import domain_of
from kldrift.config import Settings
from kldrift.findings import SchemaChange
from kldrift.roles import ColumnInfo
from kldrift.severity import Severity

__all__ = ["schema_changes"]


def _kind(domain: str) -> str:
    return domain or "values kldrift cannot bin"


def schema_changes(
    columns: Sequence[ColumnInfo],
    current: pa.Schema,
    settings: Settings,
    *,
    file: str | None = None,
    partition_columns: Sequence[str] = (),
    conflicts: Mapping[str, tuple[str, str]] | None = None,
    duplicates: Mapping[str, str] | None = None,
) -> list[SchemaChange]:
    """The schema changes from the reference ``columns`` to the ``current`` data, in column order.

    ``current`` is the current data's schema as its first files give it, ``file``
    the first file (for the messages); ``conflicts`` the columns a later file
    holds as another kind of values (column → (file, type)), ``duplicates`` the
    columns a file holds twice (column → file).
    """
    levels = settings.schema_changes
    where = f" ({file})" if file else ""
    out: list[SchemaChange] = []
    known = set()
    for col in columns:
        if col.role == "partition":
            known.add(col.name)
            continue
        known.add(col.name)
        if col.name not in current.names:
            out.append(
                SchemaChange(
                    col.name,
                    "dropped",
                    col.type,
                    None,
                    Severity(levels.dropped),
                    f"column {col.name!r} was dropped: {col.type} in the reference, missing from the current data",
                    None,
                )
            )
            continue
        if duplicates and col.name in duplicates:
            out.append(
                SchemaChange(
                    col.name,
                    "duplicated",
                    col.type,
                    None,
                    Severity(levels.retyped),
                    f"column {col.name!r} appears more than once in {duplicates[col.name]}",
                    duplicates[col.name],
                )
            )
            continue
        t = current.field(col.name).type
        dom = domain_of(t)
        if conflicts and col.name in conflicts and not (col.domain == "" and str(t) != col.type):
            path, other = conflicts[col.name]
            out.append(
                SchemaChange(
                    col.name,
                    "retyped",
                    col.type,
                    other,
                    Severity(levels.retyped),
                    f"column {col.name!r} changed type: {col.type} ({_kind(col.domain)}) in the reference, "
                    f"{other} in {path}",
                    path,
                )
            )
            continue
        if col.domain == "":
            changed = str(t) != col.type
        else:
            changed = dom is None or (dom != col.domain and "null" not in (dom, col.domain))
        if changed:
            out.append(
                SchemaChange(
                    col.name,
                    "retyped",
                    col.type,
                    str(t),
                    Severity(levels.retyped),
                    f"column {col.name!r} changed type: {col.type} ({_kind(col.domain)}) in the reference, "
                    f"{t} ({_kind(dom or '')}) in the current data{where}",
                    file,
                )
            )
    for name in current.names:
        if name in known or name in partition_columns:
            continue
        t = current.field(name).type
        out.append(
            SchemaChange(
                name,
                "added",
                None,
                str(t),
                Severity(levels.added),
                f"column {name!r} is new: {t} in the current data{where}, not in the reference",
                file,
            )
        )
    return out
