"""``manifest.json``: how a run came to be — config hash, versions, inputs, timings, deliveries.

The one output that may differ between reruns (wall-clock times, mtimes).
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from typing import Any

from kldrift.atomic import write_text

__all__ = ["file_digest", "versions", "write_manifest"]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("kldrift", "numpy", "scipy", "pandas", "pyarrow", "apache-airflow"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(path: str, manifest: dict[str, Any]) -> str:
    return write_text(path, json.dumps({**manifest, "versions": versions()}, indent=1, default=str) + "\n")
