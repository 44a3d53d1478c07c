"""The package as a pip user gets it: the built wheel in a fresh venv, outside the repository.

Builds the wheel and the sdist (``uv build``), installs the wheel with its
``airflow`` extra into a new venv (pinned by requirements.lock), then, from a
folder that holds nothing of the repository: ``kldrift airflow init --demo``
writes the two-line DAG file, ``airflow dags test`` runs the DAG, and the run's
files are there. Also checks the wheel's metadata (licence, classifiers,
documentation URL, entry points) and that the sdist carries what its tests import.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from airflow_support import BIN, REPO

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{args[:3]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.timeout(1200)
def test_the_wheel_works_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([str(BIN / "uv"), "build", "--wheel", "--sdist", "--out-dir", str(dist), str(REPO)])
    (wheel,) = dist.glob("kldrift-*.whl")
    (sdist,) = dist.glob("kldrift-*.tar.gz")

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert "Classifier: Framework :: Apache Airflow :: Provider" in meta
    assert "Project-URL: Documentation, https://kldrift.readthedocs.io/" in meta
    assert "kldrift = kldrift.airflow.plugin:KLDriftPlugin" in entry_points
    assert "kldrift/outputs/report/static/uPlot.iife.min.js" in names
    assert "kldrift/templates/report_cell.html.j2" in names  # the notebook cell's templates
    assert any(n.startswith("kldrift/_native.") and n.endswith(".so") for n in names)  # the compiled kernels
    with zipfile.ZipFile(wheel) as zf:  # the reference config (a link in the repository) as a file
        assert zf.read("kldrift/example.yaml") == (REPO / "configs" / "example.yaml").read_bytes()
    with tarfile.open(sdist) as tf:
        members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
    assert {"tests/helpers.py", "tests/airflow_support.py", "tests/conftest.py", "LICENSE"} <= members
    assert {"mkdocs.yml", "docs/index.md", "docs/quickstart.md", "scripts/docs_hooks.py"} <= members  # make docs
    assert {"setup.py", "kldrift/_native.c"} <= members  # the kernels build from the sdist

    venv = tmp_path / "venv"
    _run([str(BIN / "uv"), "venv", "--python", str(BIN / "python"), str(venv)])
    uv_pip = [str(BIN / "uv"), "pip", "install", "--python", str(venv / "bin" / "python")]
    _run([*uv_pip, "-c", str(REPO / "requirements.lock"), f"kldrift[airflow] @ {wheel.as_uri()}"], timeout=900)
    user = tmp_path / "user"  # nothing of the repository here, and not on any path
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KLDRIFT_", "PYTHON"))}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(user / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(user / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    kldrift = str(venv / "bin" / "kldrift")
    code = "import kldrift, kldrift.native as n; print(kldrift.__file__, n.NATIVE is not None)"
    installed = _run([str(venv / "bin" / "python"), "-c", code], env=env, cwd=user)
    assert installed.startswith(str(venv)), installed
    assert installed.split()[-1] == "True", installed  # the compiled kernels came with the wheel
    _run([kldrift, "airflow", "init", "dags", "--demo"], env=env, cwd=user)
    airflow = str(venv / "bin" / "airflow")
    _run([airflow, "db", "migrate"], env=env, cwd=user)
    plugins = json.loads(_run([airflow, "plugins", "--output", "json"], env=env, cwd=user))
    assert "kldrift" in {p["name"] for p in plugins}
    assert (user / "dags" / "kldrift" / "example.yaml.sample").is_file()  # every key, from the package
    # The demo's days end yesterday: a run for today's date scores yesterday, a drifted day.
    today = dt.datetime.now(dt.UTC).date()
    _run([airflow, "dags", "test", "kldrift__demo", today.isoformat()], env=env, cwd=user)
    run = user / "dags" / "kldrift" / "out" / "demo" / f"dt={today - dt.timedelta(days=1)}"
    assert {p.name for p in run.iterdir()} >= {"alerts.jsonl", "metrics.parquet", "manifest.json", "report.html"}
    alerts = [json.loads(line) for line in (run / "alerts.jsonl").read_text().splitlines()]
    assert any(a["check"] == "drift" for a in alerts)  # the demo drifts on its last three days
