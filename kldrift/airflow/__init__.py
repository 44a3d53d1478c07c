"""Apache Airflow integration: the DAG factory, :class:`KLDriftOperator`, a notifier, the provider and plugin.

A DAG file of two lines makes one DAG per job config of a folder::

    from kldrift.airflow import drift_dags
    drift_dags("kldrift")  # *.yaml configs beside this file

Airflow finds kldrift as a provider through the ``apache_airflow_provider``
entry point (:func:`get_provider_info`), so ``airflow providers list`` shows it.
Importing this package imports neither Airflow nor the data stack:
``KLDriftOperator`` and ``drift_asset`` are loaded on first use.

>>> from kldrift.airflow import KLDriftOperator  # doctest: +SKIP
>>> KLDriftOperator(task_id="drift", config_path="configs/demo.yaml", fail_on="critical")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kldrift.airflow.dags import drift_config_errors, drift_dags
    from kldrift.airflow.factory import drift_asset
    from kldrift.airflow.hooks import KLDriftWebhookHook
    from kldrift.airflow.notifier import KLDriftNotifier
    from kldrift.airflow.operators import KLDriftOperator

__all__ = [
    "KLDriftNotifier",
    "KLDriftOperator",
    "KLDriftWebhookHook",
    "drift_asset",
    "drift_config_errors",
    "drift_dags",
    "get_provider_info",
]

_LAZY = {
    "KLDriftNotifier": "kldrift.airflow.notifier",
    "KLDriftOperator": "kldrift.airflow.operators",
    "KLDriftWebhookHook": "kldrift.airflow.hooks",
    "drift_asset": "kldrift.airflow.factory",
    "drift_config_errors": "kldrift.airflow.dags",
    "drift_dags": "kldrift.airflow.dags",
}


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's providers manager (``airflow providers list``, ``airflow providers hooks``).

    The ``kldrift_webhook`` connection type is declared with its form (``conn-fields``,
    ``ui-field-behaviour``), as Airflow 3.2+ reads it without importing the hook; the hook class
    gives the same form to older Airflow versions.
    """
    from kldrift.connections import CONN_FIELDS, CONN_TYPE, UI_FIELD_BEHAVIOUR

    return {
        "package-name": "kldrift",
        "name": "kldrift",
        "description": "KL-divergence drift monitoring for Parquet data: KLDriftOperator and a DAG factory.",
        "documentation-url": "https://pypi.org/project/kldrift/",
        "integrations": [{"integration-name": "kldrift", "tags": ["software"]}],
        "operators": [{"integration-name": "kldrift", "python-modules": ["kldrift.airflow.operators"]}],
        "hooks": [{"integration-name": "kldrift", "python-modules": ["kldrift.airflow.hooks"]}],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "kldrift.airflow.hooks.KLDriftWebhookHook",
                "hook-name": "kldrift webhook",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "notifications": ["kldrift.airflow.notifier.KLDriftNotifier"],
        "extra-links": ["kldrift.airflow.operators.DriftReportLink"],
        "plugins": [{"name": "kldrift", "plugin-class": "kldrift.airflow.plugin.KLDriftPlugin"}],
    }


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
