"""What a scan reads: its files (and a shard's part of one), how a table format reads them, Arrow's messages.

Plain values shared by :mod:`kldrift.scan` and the table readers of :mod:`kldrift.tables`, and how a pass
groups columns under a budget of values it holds (:func:`held_groups`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

__all__ = ["Batch", "FileInfo", "TableFiles", "arrow_msg", "held_groups", "strip_scheme"]

Batch = Any  # pa.Table | pa.RecordBatch (pyarrow ships no type hints)


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One input file, as recorded in the manifest; with ``row_groups``, a shard's part of it."""

    path: str
    size: int
    mtime: float | None
    row_groups: tuple[int, int] | None = None
    """``[start, stop)`` of the file's row groups this scan reads (``None``: all)."""

    @property
    def label(self) -> str:
        """A name to show (never parsed back): the path, and ``#row_groups=a-b`` for a part of the file."""
        return (
            self.path
            if self.row_groups is None
            else f"{self.path}#row_groups={self.row_groups[0]}-{self.row_groups[1]}"
        )

    def whole(self) -> FileInfo:
        return FileInfo(self.path, self.size, self.mtime)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "mtime": self.mtime, "row_groups": self.row_groups}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileInfo:
        rg = data.get("row_groups")
        mtime = data.get("mtime")
        return cls(
            str(data["path"]),
            int(data["size"]),
            None if mtime is None else float(mtime),
            None if rg is None else (int(rg[0]), int(rg[1])),
        )


class TableFiles(Protocol):
    """How a table format reads its data files (:mod:`kldrift.tables`): the table's names of a file's
    columns, and which of its rows are live (deletion vectors, delete files, a partly matching filter)."""

    def names(self, info: FileInfo, file_schema: pa.Schema) -> dict[str, str]:
        """Table column name → the file's name of it, for the columns the file holds."""

    def needs(self, info: FileInfo) -> list[str]:
        """Table columns to read beside the ones asked for, to tell the file's live rows."""

    def keep(self, info: FileInfo, batch: Batch, first_row: int) -> Any:
        """A boolean mask of the live rows of ``batch`` (rows ``first_row``... of the file), or ``None``."""

    def live_rows(self, info: FileInfo, rows: int) -> int | None:
        """The file's live rows of its ``rows``, or ``None`` when only reading it tells."""

    def records(self) -> list[dict[str, Any]]:
        """Files beside the data files that change what is read (delete files, deletion vectors)."""


def arrow_msg(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def strip_scheme(path: str) -> str:
    return path.split("://", 1)[1] if "://" in path else path


def held_groups(names: Sequence[str], held: Mapping[str, int], budget: int, most: int = 0) -> list[list[str]]:
    """``names`` in order, in groups whose ``held`` values fit ``budget`` (a column over it alone is one) of at
    most ``most`` names (0: any number); no names: ``[[]]``."""
    out: list[list[str]] = []
    part: list[str] = []
    kept = 0
    for c in names:
        if part and (kept + held.get(c, 0) > budget or len(part) == most):
            out.append(part)
            part, kept = [], 0
        part.append(c)
        kept += held.get(c, 0)
    return [*out, part] if part or not out else out
