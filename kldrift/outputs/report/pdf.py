"""A page as PDF (``kldrift report --pdf``): headless Chromium prints it, every chart drawn.

The page draws the charts of every feature when it is printed (``beforeprint``
and the ``print`` media query), synchronously, so Chromium's own
``--print-to-pdf`` needs no waiting: the PDF is A4 landscape (the page's
``@page`` rule), one feature a page. The same command by hand::

    chromium --headless --no-pdf-header-footer --print-to-pdf=report.pdf file:///path/to/report.html

(add ``--no-sandbox`` when running as root, where Chromium refuses to start otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from kldrift.errors import OutputError

__all__ = ["BROWSERS", "find_browser", "print_pdf"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
"""The names a headless-capable Chromium goes by on ``PATH``, tried in this order."""


def find_browser(names: Sequence[str] = BROWSERS) -> str:
    """The path of the first of ``names`` on ``PATH``; :class:`OutputError` when there is none."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    msg = (
        f"--pdf needs headless Chromium and none of {', '.join(names)} is on PATH; install it "
        "(Debian/Ubuntu: apt-get install chromium) or open the report.html in a browser and print it"
    )
    raise OutputError(msg)


def print_pdf(
    page: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    browser: str | None = None,
    timeout: float = 600,
) -> str:
    """Print the HTML ``page`` to ``out`` (default: beside it, ``.pdf``) with headless Chromium; returns its path.

    Written through a temp file and ``os.replace``: a failed print leaves no
    half file. :class:`OutputError` when there is no browser, it fails or
    writes nothing.
    """
    src = Path(page).resolve()
    if not src.is_file():
        raise OutputError(f"{src}: no such page to print")
    target = Path(out).resolve() if out is not None else src.with_suffix(".pdf")
    exe = browser or find_browser()
    tmp = target.with_name(f".{target.name}.tmp")
    with tempfile.TemporaryDirectory(prefix="kldrift-chromium-") as profile:
        args = [
            exe,
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",  # its own profile: a browser the user has open is no lock
            f"--print-to-pdf={tmp}",
            src.as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(2, "--no-sandbox")  # Chromium will not start as root with its sandbox
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"{exe}: could not print {src}: {exc}") from None
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise OutputError(f"{exe}: printing {src} failed (exit {proc.returncode}): {last}")
    os.replace(tmp, target)
    return str(target)
