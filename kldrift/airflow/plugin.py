"""The kldrift Airflow plugin: each DAG run's drift report inside the Airflow UI.

Registered by the package (entry point ``airflow.plugins``), so ``pip install
'kldrift[airflow]'`` is all it takes; the api-server loads it at start. It adds

* a "Drift report" tab on every DAG run (an external view): the run's page,
  or a short note when the run wrote none (not a kldrift DAG, not scored yet);
* the routes under ``/kldrift`` that serve it, for users allowed to read the DAG:
  ``/kldrift/runs/<dag_id>/<run_id>`` redirects to the run's page under
  ``/kldrift/dags/<dag_id>/``, which serves the dataset's ``index.html`` and each
  run folder's files, so the page's links (the index, the other runs) work.

Where a run's files are comes from its summary in XCom (the return value of the
task that wrote them: ``score_and_write``, or a ``KLDriftOperator``), so the
api-server needs neither the configs nor the data stack: only read access to the
output folder. Only the files kldrift writes are served, from inside that folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin

from kldrift.airflow.operators import PLUGIN_PREFIX
from kldrift.summary import RunSummary

__all__ = ["KLDriftPlugin", "app"]

SERVED = {"report.html", "alerts.jsonl", "metrics.parquet", "manifest.json", "deliveries.jsonl"}
"""The files of a run folder the plugin serves (besides the dataset's index.html)."""


def _summaries(dag_id: str, run_id: str | None = None) -> list[RunSummary]:
    """The kldrift run summaries in XCom for a DAG (one run, or its latest first) that name a page."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(XComModel).where(
        XComModel.dag_id == dag_id, XComModel.key == "return_value", XComModel.map_index == -1
    )
    if run_id is not None:
        query = query.where(XComModel.run_id == run_id)
    out = []
    with create_session() as session:
        for row in session.scalars(query.order_by(XComModel.timestamp.desc()).limit(500)):
            summary = RunSummary.read(XComModel.deserialize_value(row))
            if summary is not None and summary.paths.get("report"):
                out.append(summary)
    return out


def _run_folder(summary: RunSummary) -> Path:
    return Path(str(summary.paths["report"])).parent


def _note(title: str, text: str, status: int) -> Any:
    from fastapi.responses import HTMLResponse
    from markupsafe import escape

    page = (
        "<!DOCTYPE html><html lang=en><meta charset=utf-8><title>kldrift</title>"
        "<body style='font:15px system-ui,sans-serif;margin:2rem;color:#222'>"
        f"<h2>{escape(title)}</h2><p>{escape(text)}</p></body></html>"
    )
    return HTMLResponse(page, status_code=status)


def _app() -> Any:
    from fastapi import Depends, FastAPI
    from fastapi.responses import FileResponse, RedirectResponse

    api = FastAPI(title="kldrift reports", docs_url=None, redoc_url=None, openapi_url=None)

    def dag_read() -> Any:
        # Imported when the app is built by the api-server (the plugin module is imported elsewhere too).
        from airflow.api_fastapi.core_api.security import requires_access_dag

        return Depends(requires_access_dag("GET"))

    @api.get("/runs/{dag_id}/{run_id}", dependencies=[dag_read()])
    def run_report(dag_id: str, run_id: str) -> Any:
        """The run's page: a redirect into the dataset's folder, so relative links work."""
        found = _summaries(dag_id, run_id)
        if not found:
            return _note(
                "No drift report for this run",
                f"{dag_id} / {run_id}: no kldrift task of this run has written a report (yet).",
                404,
            )
        folder = _run_folder(found[0])
        target = f"{PLUGIN_PREFIX}/dags/{quote(dag_id, safe='')}/{quote(folder.name, safe='=:')}/report.html"
        return RedirectResponse(target, status_code=307)

    @api.get("/dags/{dag_id}/{path:path}", dependencies=[dag_read()])
    def dataset_file(dag_id: str, path: str) -> Any:
        """``index.html`` of the DAG's dataset, or one of the files of a run folder (``dt=<key>/<file>``)."""
        found = _summaries(dag_id)
        if not found:
            return _note("No drift reports", f"{dag_id}: no run of this DAG has written a report (yet).", 404)
        dataset = _run_folder(found[0]).parent.resolve()
        parts = path.split("/")
        ok = parts == ["index.html"] or (len(parts) == 2 and parts[0].startswith("dt=") and parts[1] in SERVED)
        target = (dataset / path).resolve()
        if not ok or not target.is_relative_to(dataset) or not target.is_file():
            return _note("Not found", f"{dag_id}: {path} is not a file kldrift wrote.", 404)
        media = "text/html" if target.suffix == ".html" else None
        return FileResponse(target, media_type=media, headers={"Cache-Control": "no-store"})

    return api


app = _app()


class KLDriftPlugin(AirflowPlugin):  # type: ignore[misc]  # Airflow is untyped for mypy here
    """Drift reports in the Airflow UI: a tab per DAG run and the routes under ``/kldrift``."""

    name = "kldrift"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": app, "url_prefix": PLUGIN_PREFIX, "name": "kldrift drift reports"}
    ]
    external_views: ClassVar[list[dict[str, str]]] = [
        {
            "name": "Drift report",
            "href": PLUGIN_PREFIX + "/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "kldrift-report",
        }
    ]
