"""Apache Airflow integration: :class:`KLDriftOperator`, the DAG factory's pieces, the provider entry point.

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
    from kldrift.airflow.factory import drift_asset
    from kldrift.airflow.operators import KLDriftOperator

__all__ = ["KLDriftOperator", "drift_asset", "get_provider_info"]

_LAZY = {
    "KLDriftOperator": "kldrift.airflow.operators",
    "drift_asset": "kldrift.airflow.factory",
}


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's providers manager (``airflow providers list``)."""
    return {
        "package-name": "kldrift",
        "name": "kldrift",
        "description": "KL-divergence drift monitoring for Parquet data: KLDriftOperator and a DAG factory.",
        "integrations": [{"integration-name": "kldrift", "tags": ["software"]}],
        "operators": [{"integration-name": "kldrift", "python-modules": ["kldrift.airflow.operators"]}],
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
