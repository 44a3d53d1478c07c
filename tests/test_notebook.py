"""A real notebook (``tests/notebooks/quickstart.ipynb``) executed by a real Jupyter kernel (nbclient, ipykernel).

The kernel is this venv's python (a kernelspec written for the test, not whatever ``python3`` the
machine's Jupyter knows). Checked on the saved outputs, as GitHub or nbviewer would show them: the
report's and the feature's ``text/html`` hold inline SVG charts and no ``<script>``, a column named
``<img src=x onerror=alert(1)>`` is text, ``text/plain`` is the one-line repr, DataFrames come out
as tables, and ``save_html`` wrote the page.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from bs4 import BeautifulSoup

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parent / "notebooks" / "quickstart.ipynb"


def execute(path: Path, workdir: Path) -> Any:
    """``path`` executed in ``workdir`` by a kernel of this python; the notebook with its outputs."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    spec = workdir / "kernels" / "kldrift-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "kldrift test", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(workdir / "kernels")], ensure_native_kernel=False)
    km = KernelManager(kernel_name="kldrift-test", kernel_spec_manager=specs)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, km=km, timeout=180, resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    workdir = tmp_path_factory.mktemp("nb")
    with pytest.MonkeyPatch.context() as mp:  # the kernel's files stay in the test's folder
        mp.setenv("JUPYTER_RUNTIME_DIR", str(workdir / "runtime"))
        mp.setenv("IPYTHONDIR", str(workdir / "ipython"))
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")
        return execute(NOTEBOOK, workdir), workdir


def outputs(nb: Any, source_start: str) -> dict[str, Any]:
    """The ``execute_result`` data of the code cell whose source starts with ``source_start``."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source_start))
    assert not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
    return next(o.data for o in cell.outputs if o.output_type == "execute_result")


def test_the_kernel_is_this_venvs_python(executed: tuple[Any, Path]) -> None:
    nb, _ = executed
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("import sys"))
    assert cell.outputs[0].text.strip() == sys.executable


def test_the_report_shows_inline_as_svg_without_script(executed: tuple[Any, Path]) -> None:
    nb, _ = executed
    data = outputs(nb, "r = kldrift.compare")
    plain = data["text/plain"]
    assert plain == "<DriftReport 4 features: 1 critical, 1 warn, 2 ok · worst critical · kl vs reference>"
    doc = BeautifulSoup(data["text/html"], "html.parser")
    assert doc.find_all("svg")
    assert not doc.find_all("script")
    assert not doc.find_all("img"), "a column name became markup"
    names = [tr.find("td").get_text(strip=True) for tr in doc.select("table")[0].select("tbody tr")]
    assert "<img src=x onerror=alert(1)>" in names  # shown as the text it is
    assert doc.find("svg").find("title") is not None  # hover notes without a script


def test_one_feature_shows_inline_with_its_bins(executed: tuple[Any, Path]) -> None:
    nb, _ = executed
    data = outputs(nb, 'r["fare"]')
    assert data["text/plain"].startswith("<FeatureDrift 'fare' numeric: ")
    doc = BeautifulSoup(data["text/html"], "html.parser")
    assert len(doc.find_all("svg")) == 1
    assert not doc.find_all("script")
    assert doc.select("details tbody tr"), "no bins table"


def test_frames_and_the_saved_page(executed: tuple[Any, Path]) -> None:
    nb, workdir = executed
    alerts = outputs(nb, "r.alerts_frame()")
    assert "<table" in alerts["text/html"]
    assert "fare" in alerts["text/html"]
    assert "kl_term" in outputs(nb, "r.bins_frame()")["text/html"]
    written = outputs(nb, 'r.save_html("report.html")')["text/plain"]
    assert written == repr(str(workdir / "report.html"))
    page = (workdir / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "uPlot" in page
