"""The kldrift Airflow plugin: each DAG run's drift report inside the Airflow UI.

Registered by the package (entry point ``airflow.plugins``), so ``pip install
'kldrift[airflow]'`` is all it takes; the api-server loads it at start. It adds

* a "Drift report" tab on every DAG run (an external view): the run's page,
  or a short note when the run wrote none (not a kldrift DAG, not scored yet);
* the routes under ``/kldrift`` that serve it, for users allowed to read the DAG:
  ``/kldrift/runs/<dag_id>/<run_id>`` redirects to the run's page under
  ``/kldrift/s/<grant>/`` (a signed, expiring grant to read that DAG's reports,
  see :func:`_grants`), which serves the dataset's ``index.html`` and each run
  folder's files, so the page's links (the index, the other runs) work;
  ``/kldrift/dags/<dag_id>/`` serves the same to a session or token.

Where a run's files are comes from its summary in XCom (the return value of the
task that wrote them: ``score_and_write``, or a ``KLDriftOperator``), so the
api-server needs neither the configs nor the data stack: only read access to the
output folder. Only the files kldrift writes are served, from inside that folder.

A browser without a session (no ``_token`` cookie, an expired one) is sent to
Airflow's login page, which brings it back; an API client (a bearer token, or
no ``text/html`` in its ``Accept``) gets the 401 as JSON. Every file is served
with ``Content-Security-Policy: sandbox allow-scripts allow-downloads``: the page
runs its inline script (the charts) in an opaque origin, so neither the tab's
iframe (which Airflow's UI gives ``allow-same-origin``) nor a report opened on
its own can reach the Airflow UI, its cookies or its API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin

from kldrift.airflow.operators import PLUGIN_PREFIX
from kldrift.summary import RunSummary

__all__ = ["SANDBOX", "KLDriftPlugin", "app"]

SERVED = {"report.html", "alerts.jsonl", "metrics.parquet", "manifest.json", "deliveries.jsonl"}
"""The files of a run folder the plugin serves (besides the dataset's index.html)."""

SANDBOX = (
    "sandbox allow-scripts allow-downloads; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
"""The ``Content-Security-Policy`` of every response: scripts (inline only) in an opaque origin, nothing fetched."""
GRANT_SECONDS = 12 * 3600
"""How long the links of a page opened from the tab work (see :func:`_grants`)."""
HEADERS = {"Content-Security-Policy": SANDBOX, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


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
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def _browser(request: Any) -> bool:
    """Whether ``request`` is a browser's page load without credentials of its own (not an API client)."""
    if request.headers.get("authorization"):
        return False
    accept = request.headers.get("accept", "")
    return request.headers.get("sec-fetch-mode") == "navigate" or accept.split(",")[0].strip() == "text/html"


def _login(request: Any) -> Any:
    """A redirect to Airflow's login page (``/api/v2/auth/login``, any auth manager), back to ``request`` after."""
    from urllib.parse import urlencode, urlsplit

    from airflow.configuration import conf
    from fastapi.responses import RedirectResponse

    root = urlsplit(conf.get("api", "base_url", fallback="") or "/").path.rstrip("/")
    raw = request.scope.get("raw_path")  # as the browser sent it (run ids hold ':' and '+')
    path = raw.decode("latin-1") if raw else request.url.path
    back = path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{root}/api/v2/auth/login?{urlencode({'next': back})}", status_code=302)


def _app() -> Any:
    from fastapi import Depends, FastAPI, Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import RedirectResponse
    from starlette.exceptions import HTTPException

    api = FastAPI(title="kldrift reports", docs_url=None, redoc_url=None, openapi_url=None)

    @api.exception_handler(HTTPException)
    async def not_signed_in(request: Request, exc: HTTPException) -> Any:
        """401 for a browser: the login page; 403: a page that says so; otherwise Airflow's JSON."""
        if _browser(request):
            if exc.status_code == 401:
                return _login(request)
            if exc.status_code == 403:
                return _note("Not allowed", "Your Airflow user may not read this DAG's runs.", 403)
        return await http_exception_handler(request, exc)

    def dag_read() -> Any:
        # Imported when the app is built by the api-server (the plugin module is imported elsewhere too).
        from airflow.api_fastapi.core_api.security import requires_access_dag

        return Depends(requires_access_dag("GET"))

    @api.get("/runs/{dag_id}/{run_id}", dependencies=[dag_read()])
    def run_report(dag_id: str, run_id: str) -> Any:
        """The run's page: a redirect into the dataset's folder under a grant, so relative links work."""
        found = _summaries(dag_id, run_id)
        if not found:
            return _note(
                "No drift report for this run",
                f"{dag_id} / {run_id}: no kldrift task of this run has written a report (yet).",
                404,
            )
        folder = _run_folder(found[0])
        target = f"{PLUGIN_PREFIX}/s/{_grants().dumps(dag_id)}/{quote(folder.name, safe='=:')}/report.html"
        return RedirectResponse(target, status_code=307)

    @api.get("/dags/{dag_id}/{path:path}", dependencies=[dag_read()])
    def dataset_file(dag_id: str, path: str) -> Any:
        """``index.html`` of the DAG's dataset, or one of the files of a run folder (``dt=<key>/<file>``)."""
        return _serve(dag_id, path)

    @api.get("/s/{grant}/{path:path}")
    def granted_file(grant: str, path: str) -> Any:
        """What ``/dags/<dag_id>/`` serves, for the holder of a grant of that DAG (see :func:`_grants`)."""
        from itsdangerous import BadSignature, SignatureExpired

        try:
            dag_id = _grants().loads(grant, max_age=GRANT_SECONDS)
        except SignatureExpired:
            return _note("This link has expired", "Open the run's Drift report tab (or link) again.", 403)
        except BadSignature:
            return _note("Not found", "This link is not one kldrift made.", 404)
        return _serve(str(dag_id), path)

    return api


def _grants() -> Any:
    """Signed, expiring grants to read one DAG's drift reports: what a sandboxed page's links carry.

    A page served with ``sandbox`` runs in an opaque origin, so the browser sends
    no ``SameSite=Lax`` session cookie with the navigations it starts (its links
    to the index and the other runs). ``/runs/<dag_id>/<run_id>``, asked for with
    the session, checks the user may read the DAG and redirects under
    ``/s/<grant>/``, where those relative links resolve and work without a
    cookie, for :data:`GRANT_SECONDS`. Signed with Airflow's ``[api] secret_key``.
    """
    from airflow.configuration import conf
    from itsdangerous import URLSafeTimedSerializer

    key = conf.get("api", "secret_key", fallback="")
    if not key:
        raise RuntimeError("kldrift: [api] secret_key is not set; Airflow needs it to sign its own tokens as well")
    return URLSafeTimedSerializer(key, salt="kldrift.report")


def _serve(dag_id: str, path: str) -> Any:
    """A file of the DAG's dataset folder that kldrift wrote (the index, or ``dt=<key>/<file>``), or a 404 page."""
    from fastapi.responses import FileResponse

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
    return FileResponse(target, media_type=media, headers=HEADERS)


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
