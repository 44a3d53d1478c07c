"""Writers of a run's files, each atomic: alerts.jsonl, metrics.parquet, report.html, manifest.json, webhook.

:func:`write_run` is the one place a run's outputs are produced, for
``kldrift run``, ``kldrift compare --out`` and the Airflow DAG alike.
Runs of the same folder are serialised by a lock file, and every file is
written to a temp name and renamed, so two racing runs end with one complete,
consistent set and a crash leaves the previous set intact.

The HTML report (and the dataset's ``index.html``) is derived from the saved
metrics and can be re-rendered at any time with ``kldrift report``; so a
failure to render it is logged and recorded in the manifest's ``errors``
instead of failing the run: the alerts, the metrics and the webhook matter more.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kldrift.atomic import _output_error, staged, staged_path, write_text
from kldrift.config import Interval, JobConfig, Settings
from kldrift.errors import OutputError
from kldrift.outputs.alerts import alert_rows, write_alerts
from kldrift.outputs.manifest import file_digest, write_manifest
from kldrift.outputs.metrics import metrics_table, write_metrics
from kldrift.outputs.webhook import deliver, payload, should_deliver
from kldrift.scoring import DriftReport

if TYPE_CHECKING:
    from kldrift.pipeline import RunResult
    from kldrift.profile import Profile
    from kldrift.scan import Scan

__all__ = ["record_delivery", "run_dir", "write_outputs", "write_run"]

log = logging.getLogger(__name__)


def run_dir(config: JobConfig, interval: Interval) -> str:
    """``<output>/<dataset>/dt=<date>/``."""
    return os.path.join(config.dataset_dir(), f"dt={interval.ds}")


@contextlib.contextmanager
def _locked(folder: str) -> Iterator[None]:
    parent, name = os.path.split(folder.rstrip(os.sep))
    try:
        os.makedirs(folder, exist_ok=True)
        fh = open(os.path.join(parent, f".{name}.lock"), "a")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise _output_error(folder, exc) from exc
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def write_outputs(
    folder: str,
    report: DriftReport,
    *,
    dataset: str,
    interval: Interval | None,
    settings: Settings,
    manifest: dict[str, Any],
    deliver_webhook: bool = True,
) -> tuple[dict[str, str], tuple[dict[str, Any], ...]]:
    """Write alerts, metrics, (webhook) and manifest into ``folder``; returns paths and deliveries."""
    date = interval.ds if interval else None
    start = interval.start.isoformat() if interval else None
    end = interval.end.isoformat() if interval else None
    started = time.time()
    with _locked(folder):
        table = metrics_table(report, dataset=dataset, date=date, start=start, end=end)
        # Alerts, metrics and report land together (renamed at the end of the block) or not at all.
        with staged():
            paths = {
                "alerts": write_alerts(os.path.join(folder, "alerts.jsonl"), report, dataset=dataset, date=date),
                "metrics": write_metrics(os.path.join(folder, "metrics.parquet"), table),
            }
            t_report = time.perf_counter()
            errors = _write_report(folder, table, paths, settings=settings, date=date)
            report_s = time.perf_counter() - t_report
            digests = {
                k: {"path": os.path.basename(v), "sha256": file_digest(staged_path(v))} for k, v in paths.items()
            }
        errors.update(_write_index(folder, paths, dataset=dataset, date=date))
        deliveries: list[dict[str, Any]] = []
        hook = settings.alerts.webhook
        if hook is not None and deliver_webhook and should_deliver(report, hook):
            rows = alert_rows(report, dataset=dataset, date=date)
            deliveries.append(deliver(hook, payload(report, rows, dataset=dataset, date=date)))
        finished = time.time()
        paths["manifest"] = write_manifest(
            os.path.join(folder, "manifest.json"),
            {
                **manifest,
                "dataset": dataset,
                "date": date,
                "interval": {"start": start, "end": end},
                "config_hash": settings.fingerprint(),
                "spec_fingerprint": report.spec_fingerprint,
                "rows": {"reference": report.n_reference, "current": report.n_current},
                "severities": report.counts_by_severity(),
                "worst": str(report.worst),
                "verdict": report.verdict.headline,
                # index.html belongs to the dataset, not to this run: later runs rewrite it.
                "outputs": digests,
                "errors": errors,
                "deliveries": deliveries,
                "timings": {**manifest.get("timings", {}), "report_s": round(report_s, 4)},
                "wall_clock": {
                    "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
                    "finished": dt.datetime.fromtimestamp(finished, dt.UTC).isoformat(),
                },
            },
        )
    return paths, tuple(deliveries)


def record_delivery(folder: str, delivery: dict[str, Any]) -> str:
    """Add a webhook delivery made after the run (the Airflow delivery task) to its manifest."""
    path = os.path.join(folder, "manifest.json")
    with _locked(folder):
        try:
            with open(path, encoding="utf-8") as fh:
                manifest = json.load(fh)
        except (OSError, ValueError) as exc:
            raise OutputError(f"{path}: cannot record the webhook delivery: {exc}") from exc
        manifest["deliveries"] = [*manifest.get("deliveries", []), delivery]
        return write_text(path, json.dumps(manifest, indent=1, default=str) + "\n")


def _in_runs(folder: str, date: str | None) -> tuple[str, bool]:
    """The dataset folder, and whether ``folder`` is one of its ``dt=<date>`` run folders."""
    dataset_dir, name = os.path.split(os.path.abspath(folder))
    return dataset_dir, date is not None and name == f"dt={date}"


def _write_report(
    folder: str, table: Any, paths: dict[str, str], *, settings: Settings, date: str | None
) -> dict[str, str]:
    """Write report.html into ``paths``; returns what failed, by output name.

    A failed report also removes the report of an earlier run of this folder,
    which would no longer match the metrics.
    """
    from kldrift.outputs import report as html

    errors: dict[str, str] = {}
    dataset_dir, in_runs = _in_runs(folder, date)
    try:
        history = html.read_history(dataset_dir, date) if in_runs and date else []
        paths["report"] = html.write_report(
            folder, table, settings=settings, history=history, index_href="../index.html" if in_runs else None
        )
    except Exception as exc:  # a chart bug must not cost the user their alerts
        errors["report"] = f"{type(exc).__name__}: {exc}"
        log.warning("%s: report.html not written (%s); re-render it with `kldrift report`", folder, errors["report"])
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(folder, html.REPORT_NAME))
    return errors


def _write_index(folder: str, paths: dict[str, str], *, dataset: str, date: str | None) -> dict[str, str]:
    """Refresh the dataset's index.html after a run's files are in place; returns what failed."""
    from kldrift.outputs import report as html

    errors: dict[str, str] = {}
    dataset_dir, in_runs = _in_runs(folder, date)
    if in_runs:
        try:
            with _locked(dataset_dir):
                paths["index"] = html.write_index(dataset_dir, dataset=dataset)
        except Exception as exc:
            errors["index"] = f"{type(exc).__name__}: {exc}"
            log.warning("%s: index.html not written (%s)", dataset_dir, errors["index"])
    return errors


def write_run(
    config: JobConfig,
    interval: Interval,
    profile: Profile,
    report: DriftReport,
    *,
    scan: Scan | None,
    timings: dict[str, float],
    deliver: bool = True,
) -> RunResult:
    """Write a scheduled run's files into ``<output>/<dataset>/dt=<date>/``."""
    from kldrift.pipeline import RunResult

    manifest = {
        "inputs": {
            "reference": {
                "source": profile.source,
                "profile": config.profile_path(),
                "files": list(profile.files),
            },
            "current": {
                "source": scan.description if scan is not None else config.current_source(interval),
                "files": [{"path": f.path, "size": f.size, "mtime": f.mtime} for f in scan.files]
                if scan is not None
                else [],
            },
        },
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    paths, deliveries = write_outputs(
        run_dir(config, interval),
        report,
        dataset=config.dataset,
        interval=interval,
        settings=config,
        manifest=manifest,
        deliver_webhook=deliver,
    )
    return RunResult(report, interval, paths, deliveries, timings)
