"""Reports broken kldrift job configs as this file's Airflow import error; defines no DAG.

``kldrift_dags.py`` makes one DAG per config that loads and skips the others; this file raises their
one-line errors (``<file>: <key>: <problem>``), so they show among the DAG import errors while every
other kldrift DAG keeps running (see :func:`kldrift.airflow.dags.drift_config_errors`).
"""

from kldrift.airflow import drift_config_errors

drift_config_errors("../configs")
