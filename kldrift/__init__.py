"""kldrift: KL-divergence drift monitoring for Parquet data, native to Apache Airflow.

>>> import kldrift
>>> round(kldrift.kl_divergence([90, 10], [60, 40]), 4)  # counts: 0.9 ln(0.9/0.6) + 0.1 ln(0.1/0.4)
0.2263
>>> report = kldrift.compare("reference.parquet", "current.parquet")  # doctest: +SKIP
>>> report.to_pandas()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Public names and the module that defines each. Imported on first use (PEP 562), so that
# `import kldrift.config` (what an Airflow DAG file needs at parse time) pulls in neither
# pyarrow, scipy nor pandas.
_EXPORTS = {
    "BinSpec": "kldrift.binning",
    "FeatureSpec": "kldrift.binning",
    "Interval": "kldrift.interval",
    "JobConfig": "kldrift.config",
    "Settings": "kldrift.config",
    "load_config": "kldrift.config",
    "g_test_pvalue": "kldrift.divergence",
    "js_divergence": "kldrift.divergence",
    "kl_divergence": "kldrift.divergence",
    "psi": "kldrift.divergence",
    "ConfigError": "kldrift.errors",
    "KLDriftError": "kldrift.errors",
    "OutputError": "kldrift.errors",
    "ProfileError": "kldrift.errors",
    "SchemaError": "kldrift.errors",
    "SourceError": "kldrift.errors",
    "Histogram": "kldrift.histogram",
    "RunResult": "kldrift.pipeline",
    "compare": "kldrift.pipeline",
    "fit": "kldrift.pipeline",
    "run": "kldrift.pipeline",
    "FeatureProfile": "kldrift.profile",
    "Profile": "kldrift.profile",
    "DriftReport": "kldrift.results",
    "FeatureDrift": "kldrift.results",
    "delta": "kldrift.tables",
    "iceberg": "kldrift.tables",
}

if TYPE_CHECKING:
    from kldrift.binning import BinSpec, FeatureSpec
    from kldrift.config import JobConfig, Settings, load_config
    from kldrift.divergence import g_test_pvalue, js_divergence, kl_divergence, psi
    from kldrift.errors import ConfigError, KLDriftError, OutputError, ProfileError, SchemaError, SourceError
    from kldrift.histogram import Histogram
    from kldrift.interval import Interval
    from kldrift.pipeline import RunResult, compare, fit, run
    from kldrift.profile import FeatureProfile, Profile
    from kldrift.results import DriftReport, FeatureDrift
    from kldrift.tables import delta, iceberg


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'kldrift' has no attribute {name!r}"
        raise AttributeError(msg)
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
    "delta",
    "fit",
    "g_test_pvalue",
    "iceberg",
    "js_divergence",
    "kl_divergence",
    "load_config",
    "psi",
    "run",
]

__version__ = "0.1.0"
