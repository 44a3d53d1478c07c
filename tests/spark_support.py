"""A local Spark for the tests: ``local[2]``, quiet, its Python workers this interpreter.

One session per test module (start-up costs seconds): ``spark = pytest.fixture(scope="module")(session)``.
Imported by the Spark tests only: pyspark is imported inside :func:`session`.
"""

from __future__ import annotations

import itertools
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

PANDAS_WARNING = "PySpark does not yet fully support pandas"


def session() -> Iterator[Any]:
    """A ``local[2]`` SparkSession, stopped after the module."""
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers need this venv's pyarrow and kldrift
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # local mode talks to itself on the loopback only
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[2]")
            .appName("kldrift-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "1g")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate()
        )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def frame(spark: Any, table: pa.Table, partitions: int = 1) -> Any:
    """A cached DataFrame of ``table``'s rows, in their order, cut into ``partitions`` contiguous slices."""
    n = table.num_rows
    bounds = [n * i // partitions for i in range(partitions + 1)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
        parts = [spark.createDataFrame(table.slice(a, b - a)).coalesce(1) for a, b in itertools.pairwise(bounds)]
    df = parts[0]
    for p in parts[1:]:
        df = df.unionAll(p)
    return df.cache()
