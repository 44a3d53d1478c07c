"""``manifest.json``'s record of the software: the versions of kldrift and the stack it ran on."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["versions"]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("kldrift", "numpy", "scipy", "pandas", "pyarrow", "apache-airflow"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out
