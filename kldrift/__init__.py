"""kldrift: KL-divergence drift monitoring for Parquet data, native to Apache Airflow.

>>> import kldrift
>>> report = kldrift.compare("reference.parquet", "current.parquet")  # doctest: +SKIP
>>> report.to_pandas()  # doctest: +SKIP
"""

from __future__ import annotations

from kldrift.binning import BinSpec, FeatureSpec
from kldrift.config import Interval, JobConfig, Settings, load_config
from kldrift.divergence import g_test_pvalue, js_divergence, kl_divergence, psi
from kldrift.errors import (
    ConfigError,
    KLDriftError,
    OutputError,
    ProfileError,
    SchemaError,
    SourceError,
)
from kldrift.histogram import Histogram
from kldrift.pipeline import RunResult, compare, fit, run
from kldrift.profile import FeatureProfile, Profile
from kldrift.scoring import DriftReport, FeatureDrift

__all__ = [
    "BinSpec",
    "ConfigError",
    "DriftReport",
    "FeatureDrift",
    "FeatureProfile",
    "FeatureSpec",
    "Histogram",
    "Interval",
    "JobConfig",
    "KLDriftError",
    "OutputError",
    "Profile",
    "ProfileError",
    "RunResult",
    "SchemaError",
    "Settings",
    "SourceError",
    "__version__",
    "compare",
    "fit",
    "g_test_pvalue",
    "js_divergence",
    "kl_divergence",
    "load_config",
    "psi",
    "run",
]

__version__ = "0.1.0"
