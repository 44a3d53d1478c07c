"""kldrift on Apache Spark: fit, count and compare Spark DataFrames, run a job with its counting on Spark.

>>> import kldrift.spark  # doctest: +SKIP
>>> report = kldrift.spark.compare(spark.read.parquet("ref/"), spark.read.parquet("cur/"))  # doctest: +SKIP

The counting runs where the data is: each partition runs kldrift's own counting kernels
(``mapInArrow``) and sends back its counts; only those reach the driver. Importing this package
imports neither pyspark nor the executors' code: the names below are loaded on first use.
See ``docs/spark.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kldrift.spark.job import compare, count, fit, run

__all__ = ["compare", "count", "fit", "run"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'kldrift.spark' has no attribute {name!r}")
    value = getattr(importlib.import_module("kldrift.spark.job"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
