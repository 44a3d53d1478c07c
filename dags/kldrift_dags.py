"""kldrift DAGs: one per job config (``*.yaml``) in ``$KLDRIFT_CONFIG_DIR``, else the repo's ``configs/``.

A pip user's DAG file is the same two lines (``kldrift airflow init DAGS_FOLDER`` writes it);
see :mod:`kldrift.airflow.dags` for the tasks and the options.
"""

from kldrift.airflow import drift_dags

drift_dags("../configs")
