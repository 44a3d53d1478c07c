"""``manifest.json``'s records of what a run read and ran on: its sources, and the versions of the stack."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from kldrift.redact import redact_url
from kldrift.sources import describe

__all__ = ["source_records", "versions"]


def source_records(source: object, *, leave_out: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """A source as the manifest lists it: ``{"path": ...}`` for each path, folder, glob or URI (credentials
    removed; a list stays a list, so a path holding a comma is one path), or ``{"table": ...}`` naming data
    handed over in memory (a ``pyarrow.Table``, a ``DataFrame``). Paths in ``leave_out`` (days that were
    not there) are left out.

    >>> source_records(["data/a,b/", "s3://key:secret@lake/c/"])
    [{'path': 'data/a,b/'}, {'path': 's3://***@lake/c/'}]
    """
    paths = [source] if isinstance(source, str | os.PathLike) else source
    if isinstance(paths, list | tuple) and all(isinstance(p, str | os.PathLike) for p in paths):
        shown = [redact_url(os.fspath(p)) for p in paths]
        return [{"path": p} for p in shown if p not in leave_out]
    return [{"table": describe(source)}]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("kldrift", "numpy", "scipy", "pandas", "pyarrow", "apache-airflow"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out
