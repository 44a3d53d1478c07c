"""Configuration: one entry point, :func:`load_config`, returning frozen, validated objects.

Two levels:

* :class:`Settings` — how to bin and score (``binning``, ``columns``,
  ``smoothing``, ``metric``, ``thresholds``, ``significance``, ``min_rows``,
  ``features``, ``dataset_drift``, ``alerts``). Enough for :func:`kldrift.compare`.
* :class:`JobConfig` — a scheduled job: the settings plus ``dataset``,
  ``reference``, ``current``, ``output`` and the scheduling keys.

Every validation problem becomes one :class:`~kldrift.errors.ConfigError`
line that starts with the key path (``thresholds.warn: ...``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kldrift.configfile import digest, read_yaml, validate
from kldrift.errors import ConfigError
from kldrift.interval import Interval, check_template

__all__ = [
    "METRICS",
    "SEVERITIES",
    "AirflowSettings",
    "AlertSettings",
    "Binning",
    "ColumnSettings",
    "DatasetDrift",
    "Features",
    "JobConfig",
    "SchemaSeverities",
    "Settings",
    "Significance",
    "Smoothing",
    "Thresholds",
    "Volume",
    "Webhook",
    "coerce_config",
    "load_config",
]

METRICS = ("kl", "kl_reverse", "psi", "jensen_shannon")
SEVERITIES = ("ok", "warn", "critical", "insufficient_data", "error")

Metric = Literal["kl", "kl_reverse", "psi", "jensen_shannon"]
Strategy = Literal["quantile", "uniform"]
FailOn = Literal["never", "warn", "critical"]


def _in_order(model: Any, smaller: str, larger: str, why: str = "") -> Any:
    """``model`` when its field ``smaller`` is at most ``larger``; a ValueError saying so otherwise."""
    a, b = getattr(model, smaller), getattr(model, larger)
    if a > b:
        msg = f"{smaller} ({a}) must be <= {larger} ({b}){why}"
        raise ValueError(msg)
    return model


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, populate_by_name=True)


class Binning(_Model):
    """How numeric and categorical columns are binned (fitted on the reference only)."""

    bins: int = Field(10, ge=1, le=10_000)
    strategy: Strategy = "quantile"
    max_categories: int = Field(50, ge=1, le=100_000)
    discrete_max_values: int = Field(20, ge=0, le=10_000)
    sample_size: int = Field(1 << 18, ge=1_000)
    """Reference values per column kept to place quantile cut points; above it, a systematic sample."""
    min_category_count: int = Field(5, ge=1, le=1_000_000)
    """Reference rows a category needs for a bin of its own; rarer ones are "other"."""


class Thresholds(_Model):
    warn: float = Field(0.1, ge=0)
    critical: float = Field(0.25, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        return _in_order(self, "warn", "critical")


class ColumnSettings(_Model):
    """Per-column overrides."""

    kind: Literal["numeric", "categorical"] | None = None
    edges: tuple[float, ...] | None = None
    bins: int | None = Field(None, ge=1, le=10_000)
    strategy: Strategy | None = None
    thresholds: Thresholds | None = None
    score: bool | None = None
    """true: score the column whatever its role (a timestamp, an identifier); false: never score it."""

    @field_validator("edges")
    @classmethod
    def _edges(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is None:
            return v
        if not v:
            msg = "expected at least one cut point"
            raise ValueError(msg)
        if not all(math.isfinite(e) for e in v):
            msg = "cut points must be finite numbers"
            raise ValueError(msg)
        if any(b <= a for a, b in itertools.pairwise(v)):
            msg = f"cut points must be strictly increasing, got {list(v)}"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSettings:
        if self.kind == "categorical" and (self.edges is not None or self.bins is not None):
            msg = "edges/bins apply to numeric columns, not kind: categorical"
            raise ValueError(msg)
        return self


class Smoothing(_Model):
    pseudocount: float = Field(0.5, ge=0, allow_inf_nan=False)


class Significance(_Model):
    alpha: float = Field(0.01, gt=0, lt=1)
    correction: Literal["fdr_bh", "bonferroni", "none"] = "fdr_bh"


class Features(_Model):
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()


class DatasetDrift(_Model):
    share: float = Field(0.5, gt=0, le=1)


Level = Literal["ok", "warn", "critical"]


class SchemaSeverities(_Model):
    """Severity of each kind of schema change (``ok``: reported, not an alert)."""

    dropped: Level = "critical"
    """A reference column missing from the current data."""
    retyped: Level = "critical"
    """A column whose values changed logical type (numbers became strings, say)."""
    added: Level = "warn"
    """A current column the reference does not have."""


class Volume(_Model):
    """Row counts as a signal: a partition that collapses, explodes, is empty or missing."""

    warn: float = Field(0.5, gt=0, lt=1)
    """warn when rows < warn x expected or > expected / warn."""
    critical: float = Field(0.2, gt=0, lt=1)
    """critical when rows < critical x expected or > expected / critical."""
    expected_rows: int | None = Field(None, ge=1)
    """Rows per data interval; default: the median of earlier runs, else the reference's rows per interval."""
    history: int = Field(28, ge=1, le=10_000)
    """Earlier runs whose row counts give the expected rows."""
    min_history: int = Field(3, ge=1, le=10_000)
    """Earlier runs needed before their median is used."""
    no_data: Level = "critical"
    """Severity of a run whose partition is missing or has no rows."""

    @model_validator(mode="after")
    def _ordered(self) -> Volume:
        return _in_order(self, "critical", "warn", ": ratios, the smaller the further off")


class Webhook(_Model):
    """Where to POST a run's alerts. The URL is a secret (for Slack it *is* the credential): give it
    by reference, ``url_env`` (the name of an environment variable holding it), or inline as ``url``.
    kldrift never writes or logs it: files and logs show the scheme and host only."""

    url: str | None = None
    url_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    on: Literal["warn", "critical"] = "critical"
    timeout: float = Field(5.0, gt=0, le=300)
    """Seconds one attempt may take, connecting, sending and reading the answer together."""
    retries: int = Field(3, ge=0, le=10)
    backoff: float = Field(0.5, ge=0, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        return check_webhook_url(v)

    @model_validator(mode="after")
    def _one_source(self) -> Webhook:
        if (self.url is None) == (self.url_env is None):
            msg = "give exactly one of url (inline) or url_env (the environment variable that holds the URL)"
            raise ValueError(msg)
        return self


def check_webhook_url(v: str) -> str:
    """``v`` when it is an http(s) URL with a host; ValueError (without the URL: it may be a secret) otherwise."""
    from kldrift.redact import redact_url

    shown = redact_url(v, webhook=True)
    if not v.startswith(("http://", "https://")):
        msg = f"expected an http:// or https:// URL, got {shown!r}"
        raise ValueError(msg)
    try:
        parts = urllib.parse.urlsplit(v)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", a bad port
        msg = f"not a valid URL ({exc}): {shown!r}"
        raise ValueError(msg) from None
    if not host:
        msg = f"expected a URL with a host name, got {shown!r}"
        raise ValueError(msg)
    return v


class AlertSettings(_Model):
    fail_on: FailOn = "never"
    webhook: Webhook | None = None


class AirflowSettings(_Model):
    max_shards: int = Field(4, ge=1, le=1024)
    retries: int = Field(2, ge=0, le=20)
    pool: str | None = None


class Settings(_Model):
    """How to bin and score: everything :func:`kldrift.compare` needs."""

    features: Features = Features()
    binning: Binning = Binning()
    columns: dict[str, ColumnSettings] = Field(default_factory=dict)
    smoothing: Smoothing = Smoothing()
    metric: Metric = "kl"
    thresholds: Thresholds = Thresholds()
    significance: Significance = Significance()
    min_rows: int = Field(20, ge=0)
    dataset_drift: DatasetDrift = DatasetDrift()
    alerts: AlertSettings = AlertSettings()
    schema_changes: SchemaSeverities = Field(SchemaSeverities(), alias="schema")
    volume: Volume = Volume()

    def column(self, name: str) -> ColumnSettings:
        return self.columns.get(name) or ColumnSettings()

    def thresholds_for(self, name: str) -> Thresholds:
        return self.column(name).thresholds or self.thresholds

    def binning_fingerprint(self) -> str:
        """Hash of every setting that changes the fitted bins (not thresholds or smoothing)."""
        payload = {
            "binning": self.binning.model_dump(mode="json"),
            "columns": {
                k: {f: v for f, v in c.model_dump(mode="json").items() if f != "thresholds"}
                for k, c in sorted(self.columns.items())
            },
            "features": self.features.model_dump(mode="json"),
        }
        return digest(payload)

    def fingerprint(self) -> str:
        return digest(self.model_dump(mode="json"))


class JobConfig(Settings):
    """A scheduled drift job: the :class:`Settings` plus where data comes from and goes to."""

    dataset: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    reference: str
    current: str
    output: str
    profile: str | None = None
    schedule: str = "@daily"
    start_date: dt.date | None = None
    catchup: bool = False
    tags: tuple[str, ...] = ()
    doc: str | None = None
    timezone: str = "UTC"
    airflow: AirflowSettings = AirflowSettings()
    base_dir: str = Field(".", exclude=True)
    """Folder relative paths resolve against (the config file's); not a YAML key."""

    @field_validator("reference", "current")
    @classmethod
    def _template(cls, v: str) -> str:
        check_template(v)
        return v

    @field_validator("output", "profile")
    @classmethod
    def _no_template(cls, v: str | None) -> str | None:
        if v is not None and re.search(r"\{[A-Za-z_]*\}", v):
            msg = (
                f"{v!r} holds a placeholder, which is not rendered here: each run already writes into "
                "<output>/<dataset>/dt=<date>/"
            )
            raise ValueError(msg)
        if v is not None and v.startswith(("s3://", "gs://", "gcs://")):
            msg = f"{v!r}: outputs go to a local or mounted folder (object store outputs are not supported)"
            raise ValueError(msg)
        return v

    def check_paths(self, source: str) -> None:
        """Raise the ConfigError of paths that cannot work together: the outputs inside the reference."""
        ref = self.reference_source()
        if "://" in ref or ref.endswith(".json") or _GLOB.search(ref):
            return
        ref, out = os.path.abspath(ref), os.path.abspath(self.dataset_dir())
        if os.path.commonpath([ref, out]) == ref:
            msg = (
                f"{source}: output: {self.output!r} is inside the reference folder {ref}; "
                "its files would be read as data"
            )
            raise ConfigError(msg)

    def resolve(self, path: str) -> str:
        """A path from the config: ``~`` expanded, relative to the config file's folder; URIs untouched."""
        if "://" in path:
            return path
        path = os.path.expanduser(path)
        if os.path.isabs(path):
            return os.path.normpath(path)
        return os.path.normpath(os.path.join(self.base_dir, path))

    def dataset_dir(self) -> str:
        return os.path.join(self.resolve(self.output), self.dataset)

    def profile_path(self) -> str:
        return self.resolve(self.profile) if self.profile else os.path.join(self.dataset_dir(), "profile.json")

    def current_source(self, interval: Interval) -> str:
        return self.resolve(interval.render(self.current))

    def reference_source(self) -> str:
        return self.resolve(self.reference)


_JOB_KEYS = frozenset({"dataset", "reference", "current", "output"})
_GLOB = re.compile(r"[*?\[]")


def load_config(path: str | os.PathLike[str]) -> JobConfig:
    """The validated, frozen job config in the YAML file at ``path``.

    Relative paths in it resolve against the file's folder. Raises
    :class:`~kldrift.errors.ConfigError` with one line naming the file and the
    key path for every kind of problem.
    """
    p = Path(path)
    return _job_config(p, read_yaml(p))


def _job_config(p: Path, data: Any) -> JobConfig:
    if isinstance(data, Mapping) and "base_dir" in data:
        raise ConfigError.unknown_key("", "base_dir", JobConfig.model_fields.keys() - {"base_dir"}, source=str(p))
    cfg = validate(JobConfig, data, str(p)).model_copy(update={"base_dir": str(p.resolve().parent)})
    cfg.check_paths(str(p))
    return cfg


def coerce_config(config: object, *, source: str = "config") -> Settings:
    """A :class:`Settings` (or :class:`JobConfig`) from a dict, a YAML path, or a config object."""
    if config is None:
        return Settings()
    if isinstance(config, Settings):
        return config
    if isinstance(config, str | os.PathLike):
        # A job file (with dataset, reference, ...) or just the analysis settings.
        p = Path(config)
        data = read_yaml(p)
        if isinstance(data, Mapping) and not _JOB_KEYS & set(data):
            return validate(Settings, data, str(p))
        return _job_config(p, data)
    if isinstance(config, Mapping):
        model: type[_Model] = JobConfig if _JOB_KEYS & set(config) else Settings
        return validate(model, dict(config), source)
    msg = f"{source}: expected a dict, a YAML path or a Settings object, got {type(config).__name__}"
    raise ConfigError(msg)
