"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace``.

A reader (or a crash) never sees a half-written file: it sees the old file or
the new one. Temp names start with ``.`` so dataset scans skip them.

Inside :func:`staged`, writes go to their temp files only and are renamed into
place together when the block ends without error: a run that fails while
writing (disk full, a crash before the renames) leaves the previous set whole.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from kldrift.errors import OutputError

__all__ = ["atomic_path", "output_error", "staged", "staged_path", "write_bytes", "write_text"]

# final path -> temp path, for the writes of the innermost `staged()` block
_STAGE: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("kldrift_stage", default=None)


@contextlib.contextmanager
def staged() -> Iterator[None]:
    """Defer the renames of every atomic write in the block until it ends without error."""
    stage: dict[str, str] = {}
    token = _STAGE.set(stage)
    try:
        yield
    except BaseException:
        for tmp in stage.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    finally:
        _STAGE.reset(token)
    for final, tmp in stage.items():
        try:
            os.replace(tmp, final)
        except OSError as exc:
            raise output_error(final, exc) from exc


def staged_path(path: str) -> str:
    """Where ``path``'s new content is right now: its temp file inside :func:`staged`, else itself."""
    stage = _STAGE.get()
    return stage.get(os.path.abspath(path), path) if stage else path


def output_error(path: str, exc: OSError) -> OutputError:
    """A one-line :class:`OutputError` for a failed write of ``path``: no space, read-only, permission."""
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
        raise output_error(final, exc) from exc
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        stage = _STAGE.get()
        if stage is None:
            os.replace(tmp, final)
        else:
            old = stage.pop(os.path.abspath(final), None)
            if old:  # written twice in one block: the last write wins
                os.unlink(old)
            stage[os.path.abspath(final)] = tmp
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise output_error(final, exc) from exc
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
