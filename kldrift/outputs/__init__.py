"""Writers of a run's files, each atomic: alerts.jsonl, metrics.parquet, manifest.json, webhook.

:func:`write_run` is the one place a run's outputs are produced, for
``kldrift run``, ``kldrift compare --out`` and the Airflow DAG alike.
Runs of the same folder are serialised by a lock file, and every file is
written to a temp name and renamed, so two racing runs end with one complete,
consistent set and a crash leaves the previous set intact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kldrift.atomic import _output_error
from kldrift.config import Interval, JobConfig, Settings
from kldrift.outputs.alerts import alert_rows, write_alerts
from kldrift.outputs.manifest import file_digest, write_manifest
from kldrift.outputs.metrics import metrics_table, write_metrics
from kldrift.outputs.webhook import deliver, payload, should_deliver
from kldrift.scoring import DriftReport

if TYPE_CHECKING:
    from kldrift.pipeline import RunResult
    from kldrift.profile import Profile
    from kldrift.scan import Scan

__all__ = ["run_dir", "write_outputs", "write_run"]


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
        paths = {
            "alerts": write_alerts(os.path.join(folder, "alerts.jsonl"), report, dataset=dataset, date=date),
            "metrics": write_metrics(
                os.path.join(folder, "metrics.parquet"),
                metrics_table(report, dataset=dataset, date=date, start=start, end=end),
            ),
        }
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
                "worst": report.worst,
                "outputs": {k: {"path": os.path.basename(v), "sha256": file_digest(v)} for k, v in paths.items()},
                "deliveries": deliveries,
                "wall_clock": {
                    "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
                    "finished": dt.datetime.fromtimestamp(finished, dt.UTC).isoformat(),
                },
            },
        )
    return paths, tuple(deliveries)


def write_run(
    config: JobConfig,
    interval: Interval,
    profile: Profile,
    report: DriftReport,
    *,
    scan: Scan,
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
                "source": scan.description,
                "files": [{"path": f.path, "size": f.size, "mtime": f.mtime} for f in scan.files],
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
