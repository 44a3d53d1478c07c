"""Writers of a run's files: alerts.jsonl, metrics.parquet, report.html, manifest.json, the webhook.

:func:`write_run` produces a scheduled run's files, for ``kldrift run`` and the
Airflow DAG alike: it renders all four, then commits them as one set
(:func:`kldrift.runstore.commit`): a crash, a full disk or a racing run leaves
the previous set or the new one, and the manifest always describes the files
beside it. The webhook is called after the commit; each delivery is recorded in
the run's ``deliveries.jsonl``, so a delivery killed halfway never leaves the
manifest saying something the files do not.

The HTML report is derived from the saved metrics and can be re-rendered with
``kldrift report``; a bug while rendering it is logged and recorded in the
manifest's ``errors`` instead of failing the run (the alerts, the metrics and
the webhook matter more), while a failed *write* (disk full) fails the run and
leaves the previous set whole.

:func:`write_outputs` writes an ad-hoc comparison's files into a folder of the
user's (``kldrift compare --out``), file by file, each atomically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kldrift import runstore
from kldrift.atomic import staged, write_bytes, write_text
from kldrift.config import JobConfig, Settings
from kldrift.interval import Interval
from kldrift.outputs.alerts import alert_rows, render_alerts
from kldrift.outputs.manifest import source_records, versions
from kldrift.outputs.metrics import metrics_bytes, metrics_table, with_note
from kldrift.outputs.webhook import deliver, payload, should_deliver
from kldrift.redact import redact_url
from kldrift.results import DriftReport
from kldrift.sources import describe

if TYPE_CHECKING:
    from kldrift.profile import Profile
    from kldrift.scan import Scan

__all__ = ["RunContext", "RunFiles", "deliver_run_webhook", "render_run", "write_outputs", "write_run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunContext:
    """Which run the files are of: the dataset, the run's key and interval (``None`` for an ad-hoc
    comparison), and the settings it was scored with."""

    dataset: str
    key: str | None
    interval: Interval | None
    settings: Settings


class RunFiles:
    """A run's rendered files (name → bytes), what failed to render, and how long the report took."""

    def __init__(self, files: dict[str, bytes], errors: dict[str, str], report_s: float) -> None:
        self.files = files
        self.errors = errors
        self.report_s = report_s


def render_run(report: DriftReport, run: RunContext, *, history: Any = (), index_href: str | None = None) -> RunFiles:
    """alerts.jsonl, metrics.parquet and report.html of a run, as bytes (the report omitted when it fails)."""
    from kldrift.outputs import report as html

    start = run.interval.start.isoformat() if run.interval else None
    end = run.interval.end.isoformat() if run.interval else None
    table = with_note(metrics_table(report, dataset=run.dataset, date=run.key, start=start, end=end))
    files = {
        runstore.ALERTS: render_alerts(alert_rows(report, dataset=run.dataset, date=run.key)).encode(),
        runstore.METRICS: metrics_bytes(table),
    }
    errors: dict[str, str] = {}
    t0 = time.perf_counter()
    try:
        page = html.render_report(table, settings=run.settings, history=history, index_href=index_href)
        files[runstore.REPORT] = page.encode()
    except Exception as exc:  # a chart bug must not cost the user their alerts
        errors["report"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        log.warning("report.html not written (%s); re-render it with `kldrift report`", errors["report"])
    return RunFiles(files, errors, time.perf_counter() - t0)


def _manifest(files: RunFiles, report: DriftReport, run: RunContext, *, extra: dict[str, Any], started: float) -> bytes:
    names = {runstore.ALERTS: "alerts", runstore.METRICS: "metrics", runstore.REPORT: "report"}
    manifest = {
        **extra,
        "dataset": run.dataset,
        "date": run.key,
        "interval": {
            "start": run.interval.start.isoformat() if run.interval else None,
            "end": run.interval.end.isoformat() if run.interval else None,
        },
        "config_hash": run.settings.fingerprint(),
        # Presets expanded: what the run was scored with (paths in inputs, no webhook URL).
        "settings": run.settings.effective(),
        "spec_fingerprint": report.spec_fingerprint,
        "rows": {"reference": report.n_reference, "current": report.n_current},
        "severities": report.counts_by_severity(),
        "worst": str(report.worst),
        "verdict": report.verdict.headline,
        # index.html belongs to the dataset, not to this run: later runs rewrite it.
        "outputs": {
            names[name]: {"path": name, "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in files.files.items()
        },
        "errors": files.errors,
        "timings": {"report_s": round(files.report_s, 4), **extra.get("timings", {})},
        "wall_clock": {
            "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
            "finished": dt.datetime.fromtimestamp(time.time(), dt.UTC).isoformat(),
        },
        "versions": versions(),
    }
    return (json.dumps(manifest, indent=1, default=str) + "\n").encode()


def _inputs(config: JobConfig, interval: Interval, profile: Profile, scan: Scan | None) -> dict[str, Any]:
    """The manifest's record of the inputs: sources and files, URLs without their credentials."""

    def files(entries: Any) -> list[dict[str, Any]]:
        return [{**f, "path": redact_url(str(f["path"]))} for f in entries]

    current = scan.files if scan is not None else ()
    return {
        "reference": {
            "source": redact_url(profile.source),
            "sources": source_records(config.reference_source()),
            "profile": redact_url(config.profile_path()),
            "files": files(profile.files),
        },
        "current": {
            "source": scan.description if scan is not None else describe(config.current_source(interval)),
            "sources": source_records(
                config.current_source(interval), leave_out=frozenset(scan.absent if scan is not None else ())
            ),
            "files": files({"path": f.path, "size": f.size, "mtime": f.mtime} for f in current),
            "skipped": [redact_url(p) for p in (scan.skipped if scan is not None else ())],
            # the table version read (a Delta version, an Iceberg snapshot): what a rerun reads again
            **({"table": scan.version.to_json()} if scan is not None and scan.version is not None else {}),
        },
    }


def write_run(
    config: JobConfig,
    interval: Interval,
    profile: Profile,
    report: DriftReport,
    *,
    scan: Scan | None,
    timings: dict[str, float],
    deliver_webhook: bool = True,
) -> tuple[dict[str, str], tuple[dict[str, Any], ...]]:
    """Commit a scheduled run's files into ``<output>/<dataset>/dt=<key>/``, refresh the index, call the webhook.

    Returns the written paths by name (``alerts``, ``metrics``, ``report``,
    ``manifest``, ``index``) and the webhook deliveries.
    """
    started = time.time()
    dataset_dir = config.dataset_dir()
    key = runstore.run_key(interval)
    folder = runstore.run_dir(dataset_dir, key)
    with runstore.locked(folder):
        from kldrift.outputs import report as html

        t0 = time.perf_counter()
        earlier = runstore.read_runs(dataset_dir, columns=html.TREND_COLUMNS, before=key, last=html.TREND_RUNS - 1)
        history = [r for r in earlier if r.readable]
        read_s = time.perf_counter() - t0
        run = RunContext(config.dataset, key, interval, config)
        files = render_run(report, run, history=history, index_href=f"../{runstore.INDEX}")
        timings["report_s"] = read_s + files.report_s  # the trend's runs read, the page rendered
        extra = {
            "inputs": _inputs(config, interval, profile, scan),
            "timings": {k: round(v, 4) for k, v in timings.items()},
        }
        manifest = _manifest(files, report, run, extra=extra, started=started)
        written = runstore.commit(folder, {**files.files, runstore.MANIFEST: manifest})
    paths = {name.split(".")[0]: path for name, path in written.items()}
    index = _write_index(dataset_dir, config.dataset)
    if index:
        paths["index"] = index
    deliveries: tuple[dict[str, Any], ...] = ()
    if deliver_webhook:
        record = deliver_run_webhook(config, report, key=key, folder=folder)
        deliveries = (record,) if record is not None else ()
    return paths, deliveries


def _write_index(dataset_dir: str, dataset: str) -> str | None:
    """Refresh the dataset's index.html after a run's files are in place (logged, not raised, on failure)."""
    from kldrift.outputs import report as html

    try:
        with runstore.locked(dataset_dir):
            return html.write_index(dataset_dir, dataset=dataset)
    except Exception as exc:
        log.warning("%s: index.html not written (%s: %s)", dataset_dir, type(exc).__name__, exc)
        return None


def deliver_run_webhook(
    config: JobConfig, report: DriftReport, *, key: str, folder: str, body: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Call the config's webhook when the run reaches ``alerts.webhook.on`` and record the delivery.

    ``body`` is the payload when it was built elsewhere (the Airflow delivery task). Returns the
    delivery record, or ``None`` when no call was due.
    """
    hook = config.alerts.webhook
    if hook is None or (body is None and not should_deliver(report, hook)):
        return None
    if body is None:
        body = payload(report, alert_rows(report, dataset=config.dataset, date=key), dataset=config.dataset, date=key)
    record = deliver(hook, body)
    with runstore.locked(folder):
        runstore.record_delivery(folder, json.dumps(record, default=str))
    return record


def write_outputs(
    folder: str,
    report: DriftReport,
    *,
    dataset: str,
    settings: Settings,
    manifest: dict[str, Any],
) -> dict[str, str]:
    """Write an ad-hoc comparison's files into ``folder`` (``kldrift compare --out``); returns the paths.

    Each file is written atomically and the renames happen together at the end, but the folder is
    the user's: its other files stay, so the set is not swapped in as one.
    """
    started = time.time()
    run = RunContext(dataset, None, None, settings)
    files = render_run(report, run)
    data = {**files.files, runstore.MANIFEST: _manifest(files, report, run, extra=manifest, started=started)}
    paths = {}
    with runstore.locked(folder), staged():
        for name, blob in data.items():
            target = os.path.join(folder, name)
            paths[name.split(".")[0]] = (
                write_bytes(target, blob) if name.endswith(".parquet") else write_text(target, blob.decode())
            )
    return paths
