"""Reports broken kldrift job configs as this file's Airflow import error; defines no DAG.

``kldrift_dags.py`` makes one DAG per config that loads and skips the others;
this file raises their one-line ConfigErrors (``<file>: <key>: <problem>``), so
they show up among the DAG import errors while every other kldrift DAG keeps
running. Raising them from ``kldrift_dags.py`` instead would mark all of its
DAGs as having import errors, and Airflow would stop scheduling them.
"""

from __future__ import annotations

import os
from pathlib import Path

from kldrift.airflow.factory import CONFIG_DIR_ENV, load_jobs, raise_config_errors

CONFIG_DIR = Path(os.environ.get(CONFIG_DIR_ENV) or Path(__file__).resolve().parent.parent / "configs")

raise_config_errors(load_jobs(CONFIG_DIR)[1])
