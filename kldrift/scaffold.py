"""``kldrift airflow init DAGS_FOLDER``: the two-line DAG file, its config-errors companion, a sample config.

Nothing here imports Airflow: the files are written before Airflow ever reads them. The reference of
every config key (``example.yaml.sample``) comes from the package (``kldrift/example.yaml``, the
repository's ``configs/example.yaml``), so a pip user has it too.
"""

from __future__ import annotations

import os
from pathlib import Path

from kldrift.errors import OutputError

__all__ = ["CONFIG_FOLDER", "init_airflow"]

CONFIG_FOLDER = "kldrift"

DAG_FILE = '''\
"""kldrift drift DAGs: one per job config (*.yaml) in the kldrift/ folder beside this file."""

from kldrift.airflow import drift_dags

drift_dags("kldrift")
'''

ERRORS_FILE = '''\
"""Broken kldrift job configs, as this file's Airflow import error (the other DAGs keep running)."""

from kldrift.airflow import drift_config_errors

drift_config_errors("kldrift")
'''

EXAMPLE_HEADER = """\
# Every key of a kldrift job config, with its default where it has one (written by `kldrift airflow init`).
# A reference to copy from: a copy renamed to <name>.yaml becomes the DAG kldrift__<name>.
# Relative paths resolve against the config file's folder.
"""

SAMPLE_CONFIG = """\
# A kldrift job: rename to <name>.yaml and the DAG kldrift__<name> appears. Relative paths resolve
# against this file's folder. Every key, with its default: example.yaml.sample beside this file.
dataset: trips
reference: /data/trips/reference/          # Parquet file, folder, glob or s3:// URI: what normal looks like
current: /data/trips/current/dt={ds}/      # one partition per data interval ({ds}: the interval's start date)
output: /data/kldrift/                     # runs write <output>/<dataset>/dt=<date>/ (alerts, metrics, report)
schedule: "@daily"
start_date: 2026-01-01
thresholds: {warn: 0.1, critical: 0.25}
alerts:
  fail_on: critical                        # the run fails (Airflow alerting fires) on critical drift
  # webhook: {conn_id: kldrift_webhook}    # an Airflow Connection holding the chat webhook's URL
airflow:
  wait: 3600                               # wait up to an hour after the interval for its partition
"""


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return str(path)


def _example() -> str:
    """The package's reference config with a header for a dags folder (not the repository's)."""
    from importlib import resources

    text = resources.files("kldrift").joinpath("example.yaml").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return EXAMPLE_HEADER + "".join(lines)


def init_airflow(dags_folder: str | os.PathLike[str], *, demo: bool = False, force: bool = False) -> list[str]:
    """Write the DAG files, a sample config (``kldrift/trips.yaml.sample``) and the reference of every key
    (``kldrift/example.yaml.sample``) into ``dags_folder``.

    ``demo`` also writes the demo data set and its config ``kldrift/demo.yaml``, so the
    DAG ``kldrift__demo`` runs as it is. Returns the paths written; an existing file is
    kept (:class:`OutputError`) unless ``force``.
    """
    root = Path(dags_folder).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: not a folder (expected Airflow's dags folder)")
    configs = root / CONFIG_FOLDER
    targets = [
        root / "kldrift_dags.py",
        root / "kldrift_config_errors.py",
        configs / "trips.yaml.sample",
        configs / "example.yaml.sample",
    ]
    if not force:
        for path in targets:  # check all before writing any: never half a set
            if path.exists():
                raise OutputError(f"{path}: already there (give --force to overwrite)")
    texts = (DAG_FILE, ERRORS_FILE, SAMPLE_CONFIG, _example())
    written = [_write(p, t) for p, t in zip(targets, texts, strict=True)]
    if demo:
        from kldrift.demo import make_demo

        written.append(make_demo(str(configs))["config"])
    return written
