"""Iceberg tables for the tests: a SQL catalog on SQLite, and delete files committed as the spec lays them out.

pyiceberg 0.12 writes data files and copy-on-write deletes, but no delete files (its
``delete`` rewrites data files). Merge-on-read deletes are what Spark, Flink and Trino
write, so the tests craft them as the Iceberg spec says
(https://iceberg.apache.org/spec/#delete-formats): a positional delete file is Parquet
with ``file_path`` (field id 2147483546) and ``pos`` (2147483545); an equality delete
file holds the equality columns under their field ids, listed as ``equality_ids``. They
are committed with pyiceberg's own snapshot producer, in a manifest whose content is
``deletes`` (pyiceberg's internals: ``_FastAppendFiles`` and ``ManifestWriterV2``).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "commit_deletes",
    "delete_rows_with_a_deletion_vector",
    "equality_deletes",
    "positional_deletes",
    "sql_catalog",
]


def sql_catalog(root: Path, name: str = "test") -> tuple[Any, dict[str, str]]:
    """A pyiceberg SQL catalog on SQLite under ``root``, and its properties as a kldrift config gives them."""
    from pyiceberg.catalog import load_catalog

    props = {"type": "sql", "uri": f"sqlite:///{root}/catalog.db", "warehouse": f"file://{root}/warehouse"}
    (root / "warehouse").mkdir(parents=True, exist_ok=True)
    catalog = load_catalog(name, **props)
    return catalog, {"name": name, **props}


def _write(table: Any, arrow: pa.Table, field_ids: list[int]) -> tuple[str, int]:
    fields = [
        f.with_metadata({b"PARQUET:field_id": str(i).encode()}) for f, i in zip(arrow.schema, field_ids, strict=True)
    ]
    arrow = arrow.cast(pa.schema(fields))
    path = f"{table.location().removeprefix('file://')}/data/deletes-{uuid.uuid4()}.parquet"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow, path)
    return f"file://{path}", Path(path).stat().st_size


def positional_deletes(
    table: Any, data_file: str, positions: list[int], partition: Any = None, spec_id: int = 0, file_format: Any = None
) -> Any:
    """A positional delete file deleting rows ``positions`` (0-based) of ``data_file`` (recorded as
    ``file_format``, Parquet by default)."""
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    arrow = pa.table(
        {"file_path": pa.array([data_file] * len(positions)), "pos": pa.array(sorted(positions), pa.int64())}
    )
    path, size = _write(table, arrow, [2147483546, 2147483545])
    f = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=path,
        file_format=file_format or FileFormat.PARQUET,
        partition=partition if partition is not None else Record(),
        record_count=len(positions),
        file_size_in_bytes=size,
    )
    f.spec_id = spec_id
    return f


def equality_deletes(table: Any, rows: pa.Table, partition: Any = None, spec_id: int = 0) -> Any:
    """An equality delete file: a data row equal to one of ``rows`` on all of ``rows``' columns is deleted."""
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    schema = table.schema()
    ids = [schema.find_field(n).field_id for n in rows.column_names]
    path, size = _write(table, rows, ids)
    f = DataFile.from_args(
        content=DataFileContent.EQUALITY_DELETES,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=partition if partition is not None else Record(),
        record_count=rows.num_rows,
        file_size_in_bytes=size,
        equality_ids=ids,
    )
    f.spec_id = spec_id
    return f


def commit_deletes(table: Any, files: list[Any]) -> None:
    """Commit delete files as a new snapshot (operation ``delete``), the data manifests kept as they are."""
    from pyiceberg.manifest import ManifestContent, ManifestEntry, ManifestEntryStatus, ManifestWriterV2
    from pyiceberg.table.snapshots import Operation
    from pyiceberg.table.update.snapshot import _FastAppendFiles

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    class AddDeletes(_FastAppendFiles):
        def _manifests(self) -> list[Any]:
            out = list(self._existing_manifests())
            for spec_id in sorted({f.spec_id for f in files}):
                writer = DeleteManifestWriter(
                    self.spec(spec_id), self.schema(), self.new_manifest_output(), self._snapshot_id, self._compression
                )
                with writer:
                    for f in files:
                        if f.spec_id == spec_id:
                            writer.add(
                                ManifestEntry.from_args(
                                    status=ManifestEntryStatus.ADDED,
                                    snapshot_id=self._snapshot_id,
                                    sequence_number=None,
                                    file_sequence_number=None,
                                    data_file=f,
                                )
                            )
                out.append(writer.to_manifest_file())
            return out

    with table.transaction() as tx:
        AddDeletes(operation=Operation.DELETE, transaction=tx, io=table.io).commit()


_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def _z85(data: bytes) -> str:
    """ZeroMQ's Z85, as Delta encodes inline deletion vectors (zero-padded to a multiple of 4 bytes)."""
    data += b"\0" * (-len(data) % 4)
    out = []
    for i in range(0, len(data), 4):
        v = int.from_bytes(data[i : i + 4], "big")
        out.append("".join(_Z85[v // 85**k % 85] for k in range(4, -1, -1)))
    return "".join(out)


def delete_rows_with_a_deletion_vector(table: Path, rows: list[int]) -> None:
    """Commit a deletion vector deleting ``rows`` of the table's one data file, as the Delta protocol lays it out.

    delta-rs reads deletion vectors but does not write them (its deletes rewrite files): the commit is
    written by hand, an inline vector (storage type ``i``): Z85 of a ``RoaringBitmapArray`` (magic
    1681511377, then the 64-bit roaring portable format: one 32-bit bitmap, key 0), with the protocol
    raised to reader 3 / writer 7 and the ``deletionVectors`` feature.
    """
    import json
    import struct
    import time

    from pyroaring import BitMap

    log = table / "_delta_log"
    last = max(int(p.stem) for p in log.glob("*.json"))
    actions = [json.loads(line) for p in sorted(log.glob("*.json")) for line in p.read_text().splitlines()]
    adds = {a["add"]["path"]: a["add"] for a in actions if "add" in a}
    for a in actions:
        if "remove" in a:
            adds.pop(a["remove"]["path"], None)
    (add,) = adds.values()
    meta = next(a["metaData"] for a in reversed(actions) if "metaData" in a)
    meta["configuration"] = {**(meta.get("configuration") or {}), "delta.enableDeletionVectors": "true"}
    blob = struct.pack("<iqI", 1681511377, 1, 0) + BitMap(rows).serialize()
    vector = {"storageType": "i", "pathOrInlineDv": _z85(blob), "sizeInBytes": len(blob), "cardinality": len(rows)}
    now = int(time.time() * 1000)
    commit = [
        {"commitInfo": {"timestamp": now, "operation": "DELETE"}},
        {
            "protocol": {
                "minReaderVersion": 3,
                "minWriterVersion": 7,
                "readerFeatures": ["deletionVectors"],
                "writerFeatures": ["deletionVectors"],
            }
        },
        {"metaData": meta},
        {"remove": {"path": add["path"], "deletionTimestamp": now, "dataChange": True, "size": add["size"]}},
        {"add": {**add, "deletionVector": vector, "dataChange": True}},
    ]
    (log / f"{last + 1:020d}.json").write_text("\n".join(json.dumps(c) for c in commit) + "\n")
