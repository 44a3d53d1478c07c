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
import hashlib
import itertools
import json
import math
import os
import re
import string
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kldrift.errors import ConfigError, did_you_mean

__all__ = [
    "METRICS",
    "SEVERITIES",
    "TEMPLATE_FIELDS",
    "AirflowSettings",
    "AlertSettings",
    "Binning",
    "ColumnSettings",
    "DatasetDrift",
    "Features",
    "Interval",
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
TEMPLATE_FIELDS = ("ds", "ds_nodash", "start", "end")

Metric = Literal["kl", "kl_reverse", "psi", "jensen_shannon"]
Strategy = Literal["quantile", "uniform"]
FailOn = Literal["never", "warn", "critical"]


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
        if self.warn > self.critical:
            msg = f"warn ({self.warn}) must be <= critical ({self.critical})"
            raise ValueError(msg)
        return self


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
        if self.critical > self.warn:
            msg = f"critical ({self.critical}) must be <= warn ({self.warn}): ratios, the smaller the further off"
            raise ValueError(msg)
        return self


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

    def resolve(self) -> str:
        """The URL to POST to; :class:`ConfigError` when ``url_env`` names an unset or invalid variable."""
        if self.url is not None:
            return self.url
        assert self.url_env is not None
        value = os.environ.get(self.url_env)
        if not value:
            raise ConfigError(f"alerts.webhook.url_env: environment variable {self.url_env} is not set")
        try:
            return check_webhook_url(value)
        except ValueError as exc:
            raise ConfigError(f"alerts.webhook.url_env: {self.url_env} does not hold a usable URL: {exc}") from None


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
        return _sha(payload)

    def fingerprint(self) -> str:
        return _sha(self.model_dump(mode="json"))


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


def check_template(value: str) -> None:
    """Raise ValueError naming the bad placeholder of a ``{ds}``-style path template."""
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:
        msg = f"bad template {value!r}: {exc}; use {{ds}}, {{ds_nodash}}, {{start}} or {{end}}"
        raise ValueError(msg) from None
    for _, field, spec, conv in parts:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            msg = (
                # cutoff 0.5: {dt} (the hive partition's name) is the usual slip for {ds}
                f"unknown placeholder {{{field}}} in {value!r}{did_you_mean(field, TEMPLATE_FIELDS, cutoff=0.5)}; "
                f"use one of {{ds}}, {{ds_nodash}}, {{start}}, {{end}}"
            )
            raise ValueError(msg)
        if spec or conv:
            msg = f"placeholder {{{field}}} in {value!r} takes no format spec or conversion"
            raise ValueError(msg)


class Interval:
    """A data interval [start, end); ``{ds}`` is the start's date."""

    __slots__ = ("end", "start")

    def __init__(self, start: dt.datetime, end: dt.datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=dt.UTC)
        if end <= start:
            msg = f"interval end {end.isoformat()} must be after its start {start.isoformat()}"
            raise ConfigError(msg)
        self.start = start
        self.end = end

    @classmethod
    def for_date(cls, date: str | dt.date) -> Interval:
        day = parse_date(date) if isinstance(date, str) else date
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        return cls(start, start + dt.timedelta(days=1))

    @classmethod
    def parse(cls, start: str, end: str) -> Interval:
        return cls(_parse_ts(start, "--start"), _parse_ts(end, "--end"))

    @property
    def ds(self) -> str:
        return self.start.date().isoformat()

    def fields(self) -> dict[str, str]:
        return {
            "ds": self.ds,
            "ds_nodash": self.ds.replace("-", ""),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    def render(self, template: str) -> str:
        return template.format(**self.fields())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Interval) and (self.start, self.end) == (other.start, other.end)

    def __hash__(self) -> int:
        return hash((self.start, self.end))

    def __repr__(self) -> str:
        return f"Interval({self.start.isoformat()}, {self.end.isoformat()})"


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        msg = f"--date: expected a date as YYYY-MM-DD, got {value!r}"
        raise ConfigError(msg) from None


def _parse_ts(value: str, name: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        msg = f"{name}: expected an ISO date or timestamp (2026-11-23 or 2026-11-23T06:00:00+00:00), got {value!r}"
        raise ConfigError(msg) from None


MAX_CONFIG_BYTES = 1 << 20
"""A config file above 1 MiB is refused before it is parsed (PyYAML's parser takes ~3 s a MiB)."""
MAX_CONFIG_VALUES = 100_000
"""Values a config may expand to, aliases counted as often as they are used (a billion laughs is 10**9)."""


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false, so ``on: critical`` is a key, not ``True``.

    A key given twice in one mapping is an error, not a silent override: of two
    ``thresholds:`` blocks the second would win unseen. A document that expands to
    more than :data:`MAX_CONFIG_VALUES` values (anchors and aliases nested into a
    "billion laughs") is refused before anything is built from it.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in seen:
                msg = f"duplicate key {key_node.value!r}"
                raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _check_expansion(root: yaml.Node) -> None:
    """Raise when ``root`` expands to more than :data:`MAX_CONFIG_VALUES` values (aliases share nodes)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack = [root]
    while stack:  # post-order without recursion: a deep document must not exhaust the stack here
        node = stack.pop()
        if id(node) in sizes:
            continue
        sizes[id(node)] = -1
        order.append(node)
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    for node in reversed(order):
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(sizes[id(n)] for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        sizes[id(node)] = size
        if size > MAX_CONFIG_VALUES:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the document expands to more than {MAX_CONFIG_VALUES:,} values (aliases?)",
                node.start_mark,
            )


def _sha(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at ``loc`` in ``model`` (for did-you-mean hints)."""
    current: Any = model
    parts = list(loc[:-1])
    i = 0
    while i < len(parts):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        field = fields.get(str(parts[i]))
        if field is None:
            return []
        ann = field.annotation
        if get_origin(ann) is dict:  # dict[str, Model]: the next part is a free name
            current = _unwrap_model(get_args(ann)[1])
            i += 2
        else:
            current = _unwrap_model(ann)
            i += 1
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items() if not f.exclude]
    return []


def _unwrap_model(ann: Any) -> Any:
    args = getattr(ann, "__args__", ())
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in args:
        m = _unwrap_model(a)
        if m is not None:
            return m
    return None


class _Short:
    """A value whose repr is cut to 80 characters, so one huge value cannot flood the error line."""

    __slots__ = ("text",)

    def __init__(self, value: Any) -> None:
        text = repr(value)
        self.text = text if len(text) <= 80 else text[:76] + " ..."

    def __repr__(self) -> str:
        return self.text


def _format_error(err: Mapping[str, Any], model: type[BaseModel]) -> str:
    loc = tuple(err.get("loc", ()))
    path = ".".join(str(p) for p in loc)
    kind = err.get("type", "")
    value = _Short(err.get("input"))
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
        key = str(loc[-1]) if loc else "?"
        parent = ".".join(str(p) for p in loc[:-1])
        return str(ConfigError.unknown_key(parent, key, allowed))
    if kind == "missing":
        return f"{path}: required key is missing"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if kind in {"literal_error", "enum"}:
        return f"{path}: expected {msg.removeprefix('Input should be ')}, got {value!r}"
    if kind.endswith(("_type", "_parsing")) or kind in {"model_type", "dict_type"}:
        # Say it in YAML's words: a list, a mapping (not a tuple, a dictionary or instance of Binning).
        msg = re.sub(r"a valid (tuple|list)", "a list", msg)
        msg = re.sub(r"a valid dictionary( or instance of \w+)?", "a mapping", msg)
        return f"{path}: {msg.replace('Input should be', 'expected')}, got {value!r}"
    if path:
        return f"{path}: {msg.replace('Input should be', 'expected')}" + (
            f", got {value!r}" if kind.startswith(("greater", "less", "string_pattern")) else ""
        )
    return msg


def _validate(model: type[_Model], data: Any, source: str) -> Any:
    if not isinstance(data, Mapping):
        msg = f"{source}: expected a mapping of keys (YAML dict) at the top level, got {type(data).__name__}"
        raise ConfigError(msg)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = _format_error(errors[0], model)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        prefix = f"{source}: " if source and not first.startswith(source) else ""
        raise ConfigError(f"{prefix}{first}{more}") from None


_JOB_KEYS = frozenset({"dataset", "reference", "current", "output"})
_GLOB = re.compile(r"[*?\[]")


def _read_yaml(p: Path) -> Any:
    try:
        if p.is_file() and p.stat().st_size > MAX_CONFIG_BYTES:
            size = p.stat().st_size
            raise ConfigError(f"{p}: config file of {size:,} bytes; a config is at most {MAX_CONFIG_BYTES:,} bytes")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, expected a YAML config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{p}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{p}: invalid YAML: nested too deeply") from None
    if data is None:
        raise ConfigError(f"{p}: config file is empty; expected at least dataset, reference, current, output")
    return data


def load_config(path: str | os.PathLike[str]) -> JobConfig:
    """The validated, frozen job config in the YAML file at ``path``.

    Relative paths in it resolve against the file's folder. Raises
    :class:`~kldrift.errors.ConfigError` with one line naming the file and the
    key path for every kind of problem.
    """
    p = Path(path)
    return _job_config(p, _read_yaml(p))


def _job_config(p: Path, data: Any) -> JobConfig:
    if isinstance(data, Mapping) and "base_dir" in data:
        raise ConfigError.unknown_key("", "base_dir", JobConfig.model_fields.keys() - {"base_dir"}, source=str(p))
    cfg = _validate(JobConfig, data, str(p)).model_copy(update={"base_dir": str(p.resolve().parent)})
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
        data = _read_yaml(p)
        if isinstance(data, Mapping) and not _JOB_KEYS & set(data):
            return _validate(Settings, data, str(p))
        return _job_config(p, data)
    if isinstance(config, Mapping):
        model: type[_Model] = JobConfig if _JOB_KEYS & set(config) else Settings
        return _validate(model, dict(config), source)
    msg = f"{source}: expected a dict, a YAML path or a Settings object, got {type(config).__name__}"
    raise ConfigError(msg)
