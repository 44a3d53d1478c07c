"""``report.html`` (one run) and ``index.html`` (every run of a dataset), from saved metrics only.

A run's page is a pure function of its ``metrics.parquet``, the earlier runs'
``metrics.parquet`` (for the trend) and the settings (thresholds, alpha, the
dataset-drift share): the raw data is never read. So :func:`write_outputs`
renders the live page and :func:`rerender` (``kldrift report``) re-renders it
later, byte for byte the same as long as the config and library versions are.

:mod:`.page` renders (templates, numbers, the inline script), :mod:`.data`
packs the charts' data; this module reads and writes the files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from kldrift import runstore
from kldrift.atomic import write_text
from kldrift.config import JobConfig, Settings
from kldrift.errors import SourceError
from kldrift.outputs.metrics import RUN_NOTE, verdict_of
from kldrift.outputs.report.data import TREND_RUNS
from kldrift.outputs.report.page import render_index, render_report
from kldrift.runstore import RunSummary

__all__ = [
    "REPORT_NAME",
    "RUN_COLUMNS",
    "TREND_COLUMNS",
    "TREND_RUNS",
    "render_index",
    "render_report",
    "rerender",
    "verdict_of",
    "write_index",
    "write_report",
]

REPORT_NAME = runstore.REPORT
INDEX_NAME = runstore.INDEX
RUN_COLUMNS = runstore.SUMMARY_COLUMNS
TREND_COLUMNS = ("check", "feature", "severity", "value", "kl", "kl_reverse", "psi", "jensen_shannon", "segment")
"""What a trend reads of each earlier run."""


def write_report(
    folder: str,
    metrics: pa.Table,
    *,
    settings: Settings,
    history: Sequence[RunSummary] = (),
    index_href: str | None = None,
) -> str:
    """Render and atomically write ``<folder>/report.html``; returns its path."""
    html = render_report(metrics, settings=settings, history=history, index_href=index_href)
    return write_text(os.path.join(folder, REPORT_NAME), html)


def write_index(dataset_dir: str, *, dataset: str) -> str:
    """Re-read every run under ``dataset_dir`` and atomically write its ``index.html``."""
    runs = runstore.read_runs(dataset_dir, columns=RUN_COLUMNS, note=RUN_NOTE)
    return write_text(os.path.join(dataset_dir, INDEX_NAME), render_index(dataset, runs))


# --- kldrift report ------------------------------------------------------------------


def rerender(config: JobConfig, key: str) -> dict[str, str]:
    """Re-render ``report.html`` of the run ``key`` (see :func:`~kldrift.runstore.run_key`) and the index.

    Reads only saved ``metrics.parquet`` files and commits the page with the
    run's other files as one set (the manifest's digest of the page updated);
    raises :class:`~kldrift.errors.SourceError` when that run has none.
    """
    import hashlib
    import json

    dataset_dir = config.dataset_dir()
    folder = runstore.run_dir(dataset_dir, key)
    path = os.path.join(folder, runstore.METRICS)
    if not os.path.isfile(path):
        raise SourceError(f"{path}: no saved metrics for {key}; {_runs_hint(dataset_dir)}")
    with runstore.locked(folder):
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise SourceError.for_path(path, f"cannot read saved metrics: {exc}") from None
        earlier = runstore.read_runs(dataset_dir, columns=TREND_COLUMNS, before=key, last=TREND_RUNS - 1)
        history = [r for r in earlier if r.readable]
        page = render_report(table, settings=config, history=history, index_href=f"../{INDEX_NAME}").encode()
        files = {runstore.REPORT: page}
        for name in (runstore.ALERTS, runstore.METRICS, runstore.MANIFEST):
            with contextlib.suppress(FileNotFoundError), open(os.path.join(folder, name), "rb") as fh:
                files[name] = fh.read()
        if runstore.MANIFEST in files:
            manifest = json.loads(files[runstore.MANIFEST])
            manifest.setdefault("outputs", {})["report"] = {
                "path": runstore.REPORT,
                "sha256": hashlib.sha256(page).hexdigest(),
            }
            manifest.get("errors", {}).pop("report", None)
            files[runstore.MANIFEST] = (json.dumps(manifest, indent=1, default=str) + "\n").encode()
        written = runstore.commit(folder, files, keep=(runstore.DELIVERIES,))
    with runstore.locked(dataset_dir):
        index = write_index(dataset_dir, dataset=config.dataset)
    return {"report": written[runstore.REPORT], "index": index}


def _runs_hint(dataset_dir: str) -> str:
    dates = [r.date for r in runstore.read_runs(dataset_dir, columns=["feature"]) if r.problem is None]
    if not dates:
        return f"no runs with metrics under {dataset_dir} (run `kldrift run --config ... --date ...` first)"
    shown = ", ".join(dates[-5:])
    return f"runs with metrics: {'..., ' if len(dates) > 5 else ''}{shown}"
