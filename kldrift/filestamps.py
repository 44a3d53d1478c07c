"""What a profile records of the reference's files, and whether they changed since: a refit or not.

:func:`file_records` is what a profile saves: path (without credentials), size, mtime, a digest of
the Parquet footer, and where a job saves it, the SHA-256 of the whole file; for a table, also its
delete files.
:func:`reference_changed` says why a saved profile no longer describes the reference (or ``None``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from kldrift.errors import SourceError
from kldrift.files import FileInfo, arrow_msg, strip_scheme
from kldrift.redact import redact_url
from kldrift.scan import Scan

__all__ = [
    "content_digest",
    "file_records",
    "footer_digest",
    "reference_changed",
    "touched_records",
    "with_content_digests",
]


def footer_digest(scan: Scan, info: FileInfo) -> str:
    """A digest of the file's raw Parquet footer: schema, row groups, offsets and statistics.

    Different data of the same size and name has another footer; reading it
    costs one small read at the end of the file.
    """
    try:
        if scan.filesystem is not None and not isinstance(scan.filesystem, pafs.LocalFileSystem):
            fh: Any = scan.filesystem.open_input_file(strip_scheme(info.path))
        else:
            fh = open(info.path, "rb")  # noqa: SIM115 - closed below
        with fh:
            fh.seek(-8, os.SEEK_END)
            tail = fh.read(8)
            length = int.from_bytes(tail[:4], "little")
            fh.seek(-(8 + length), os.SEEK_END)
            footer = fh.read(length)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise SourceError.io(f"{info.path}: cannot read the Parquet footer: {arrow_msg(exc)}", exc) from exc
    return hashlib.sha256(footer + tail).hexdigest()[:16]


def file_records(scan: Scan) -> tuple[dict[str, Any], ...]:
    """The reference's files as a profile records them: path (without credentials), size, mtime, footer digest;
    for a table, then its delete files and deletion vectors (``{"path", "deletes": ...}``). The SHA-256 of each
    file is added by :func:`with_content_digests` where a profile is saved for later runs to check."""
    records = [
        {"path": redact_url(f.path), "size": f.size, "mtime": f.mtime, "footer": footer_digest(scan, f)}
        for f in scan.files
    ]
    return tuple(records + _delete_records(scan))


def with_content_digests(records: Sequence[Any], scan: Scan) -> tuple[dict[str, Any], ...]:
    """``records`` with the SHA-256 of each data file (see :func:`reference_changed`): what a job's saved
    profile carries. Only there: reading every byte again costs about 0.85 s a GB (a download, on an object
    store), which an ad-hoc ``compare``, whose profile no later run checks, does not pay."""
    by_path = {redact_url(f.path): f for f in scan.files}
    return tuple(
        r
        if r.get("deletes") or r.get("sha256") or str(r["path"]) not in by_path
        else {**r, "sha256": content_digest(scan, by_path[str(r["path"])])}
        for r in records
    )


def _delete_records(scan: Scan) -> list[dict[str, Any]]:
    extra = scan.reader.records() if scan.reader is not None else []
    return [{**r, "path": redact_url(str(r["path"])), "deletes": True} for r in extra]


_CHUNK = 8 << 20


def content_digest(scan: Scan, info: FileInfo) -> str:
    """SHA-256 of a whole file, read in 8 MiB chunks (about 0.85 s a GB from the page cache here;
    on an object store, the file is downloaded)."""
    h = hashlib.sha256()
    try:
        if scan.filesystem is not None and not isinstance(scan.filesystem, pafs.LocalFileSystem):
            with scan.filesystem.open_input_stream(strip_scheme(info.path)) as stream:
                while chunk := stream.read(_CHUNK):
                    h.update(chunk)
        else:
            with open(info.path, "rb") as fh:
                h = hashlib.file_digest(fh, "sha256")
    except (OSError, pa.ArrowException) as exc:
        raise SourceError.io(f"{redact_url(info.path)}: cannot read the file: {arrow_msg(exc)}", exc) from exc
    return h.hexdigest()


def reference_changed(saved: Sequence[Any], scan: Scan) -> str | None:
    """Why the reference's files differ from the ones a profile was fitted on, or ``None`` when they do not.

    The same paths and sizes (and for a table, the same delete files); and for a file whose mtime
    moved, the same Parquet footer (a cheap read at its end) and then the same SHA-256 of its whole
    content: a file replaced by other data of the same size can have a byte-identical footer (no
    statistics written, fixed-width values), and a copy that only touched it has the same content. A
    profile that recorded no digest (written before kldrift kept one) cannot tell the two apart: it is
    refitted.
    """
    if sorted(repr(sorted(f.items())) for f in saved if f.get("deletes")) != sorted(
        repr(sorted(f.items())) for f in _delete_records(scan)
    ):
        return "rows were deleted from (or brought back in) the table's files"
    before = {str(f["path"]): f for f in saved if not f.get("deletes")}
    now = {redact_url(f.path): f for f in scan.files}
    if before.keys() != now.keys():
        diff = sorted(before.keys() ^ now.keys())
        return f"other files ({', '.join(diff[:3])}{', ...' if len(diff) > 3 else ''} added or removed)"
    for path, info in now.items():
        old = before[path]
        if int(old["size"]) != info.size:
            return f"{path}: size {old['size']} is now {info.size}"
        if old.get("mtime") == info.mtime:
            continue
        if old.get("footer") != footer_digest(scan, info):
            return f"{path}: its Parquet footer changed"
        if not old.get("sha256"):
            return f"{path}: modified, and the profile holds no content digest to tell a copy from new data"
        if old["sha256"] != content_digest(scan, info):
            return f"{path}: its content changed (same size and footer, another SHA-256)"
    return None


def touched_records(saved: Sequence[Any], scan: Scan) -> tuple[dict[str, Any], ...] | None:
    """``saved`` with the files' mtimes of now, when some moved but :func:`reference_changed` found the same
    content; ``None`` when none moved. Saved back, the next run does not read the files for their digests again."""
    now = {redact_url(f.path): f.mtime for f in scan.files}
    if all(now.get(str(r["path"])) == r.get("mtime") for r in saved if not r.get("deletes")):
        return None
    return tuple(r if r.get("deletes") else {**r, "mtime": now.get(str(r["path"]), r.get("mtime"))} for r in saved)
