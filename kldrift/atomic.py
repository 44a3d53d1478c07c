"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace``.

A reader (or a crash) never sees a half-written file: it sees the old file or
the new one. Temp names start with ``.`` so dataset scans skip them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from kldrift.errors import OutputError

__all__ = ["atomic_path", "write_bytes", "write_text"]


def _output_error(path: str, exc: OSError) -> OutputError:
    if exc.errno == errno.ENOSPC:
        why = "no space left on device"
    elif exc.errno in (errno.EROFS,):
        why = "read-only file system"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    else:
        why = exc.strerror or str(exc)
    return OutputError(f"{path}: cannot write output: {why}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temp path beside ``path``; on success it replaces ``path``, on error it is removed."""
    final = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(final))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(final)}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise _output_error(final, exc) from exc
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _output_error(final, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write(path: str | os.PathLike[str], mode: str, writer: Callable[[IO[Any]], object], **kw: Any) -> str:
    with atomic_path(path) as tmp, open(tmp, mode, **kw) as fh:
        writer(fh)
    return os.fspath(path)


def write_text(path: str | os.PathLike[str], text: str) -> str:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically; returns the path."""
    return _write(path, "w", lambda fh: fh.write(text), encoding="utf-8", newline="\n")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to ``path`` atomically; returns the path."""
    return _write(path, "wb", lambda fh: fh.write(data))
