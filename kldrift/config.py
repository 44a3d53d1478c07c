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
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from kldrift.configfile import digest, read_yaml, validate
from kldrift.errors import ConfigError
from kldrift.interval import Interval, check_template
from kldrift.jobsections import AirflowSettings, AlertSettings, Baseline, TableSettings
from kldrift.presets import Preset, expand
from kldrift.sections import (
    Binning,
    ColumnSettings,
    DatasetDrift,
    Features,
    Metric,
    Model,
    SchemaSeverities,
    Segments,
    Significance,
    Smoothing,
    Thresholds,
    Volume,
)
from kldrift.tables import TableSource, delta, iceberg

if TYPE_CHECKING:
    from kldrift.schedule import Schedule

__all__ = ["JobConfig", "Settings", "coerce_config", "load_config"]  # the sections: kldrift.sections


class Settings(Model):
    """How to bin and score: everything :func:`kldrift.compare` needs."""

    preset: Preset = "model-inputs"
    """``model-inputs`` (a fixed reference, every alert pages) or ``pipeline-health`` (recent healthy
    intervals as the baseline, calibrated thresholds, a page rule): see :mod:`kldrift.presets`. The
    config's own keys override the preset's, key by key."""
    features: Features = Features()
    """Which columns are scored. Default: every column whose role is ``feature`` or ``constant``
    (``kldrift profile`` lists the roles; timestamps and identifiers are not scored)."""
    binning: Binning = Binning()
    columns: dict[str, ColumnSettings] = Field(default_factory=dict)
    smoothing: Smoothing = Smoothing()
    """Additive smoothing of the counts before the divergences are computed."""
    metric: Metric = "kl"
    """The alert metric compared with the thresholds: KL(current ‖ reference), the reverse KL, PSI
    (their sum) or Jensen–Shannon, all in nats. Every metric is computed and written whatever this says."""
    thresholds: Thresholds = Thresholds()
    """When a feature alerts: its alert metric (``metric``) reaches a threshold and the drift is significant."""
    significance: Significance = Significance()
    """The G-test that a drift must pass, besides its threshold, to alert."""
    min_rows: int = Field(20, ge=0)
    """Fewer rows on either side: the feature is ``insufficient_data``, not scored."""
    dataset_drift: DatasetDrift = DatasetDrift()
    """A dataset-level alert when enough of the features drift at once."""
    alerts: AlertSettings = AlertSettings()
    """What an alert does besides its row in ``alerts.jsonl``: fail the run, call a webhook."""
    schema_changes: SchemaSeverities = Field(SchemaSeverities(), alias="schema")
    volume: Volume = Volume()
    segments: Segments | None = None
    """Drift per slice as well (``{columns: [origin], max: 50, min_rows: 200}``); ``null``: the whole table only."""

    @model_validator(mode="before")
    @classmethod
    def _expand_preset(cls, data: Any) -> Any:
        return expand(data, fields=frozenset(cls.model_fields)) if isinstance(data, Mapping) else data

    def column(self, name: str) -> ColumnSettings:
        return self.columns.get(name) or ColumnSettings()

    def thresholds_for(self, name: str) -> Thresholds:
        return self.column(name).thresholds or self.thresholds

    def effective(self) -> dict[str, Any]:
        """The settings a run used, presets expanded: what the manifest and ``kldrift profile`` show.

        Paths are left out (the manifest records the inputs), and so is the webhook's URL (a secret):
        only how it is given and when it fires. ``preset_keys`` lists the keys the preset set and the
        config left as they were.
        """
        from kldrift.presets import preset_keys

        data = self.model_dump(mode="json", by_alias=True, exclude={"base_dir"})
        for key in ("dataset", "reference", "current", "output", "profile"):
            data.pop(key, None)
        hook = self.alerts.webhook
        if hook is not None:
            via = "url_env" if hook.url_env else "conn_id" if hook.conn_id else "url"
            data["alerts"]["webhook"] = {"via": via, "name": hook.url_env or hook.conn_id, "on": hook.on}

        def get(key: str) -> Any:
            value: Any = data
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return value

        data["preset_keys"] = sorted(k for k, v in preset_keys(self.preset).items() if get(k) == v)
        return data

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
        if self.segments is not None:  # segments are fitted with the bins (only then: older profiles stay valid)
            payload["segments"] = self.segments.model_dump(mode="json", exclude={"min_rows"})
        return digest(payload)

    def fingerprint(self) -> str:
        return digest(self.model_dump(mode="json"))


class JobConfig(Settings):
    """A scheduled drift job: the :class:`Settings` plus where data comes from and goes to."""

    dataset: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """The dataset's name: its output folder ``<output>/<dataset>/`` and its DAG ``kldrift__<file stem>``."""
    reference: str | tuple[str, ...] | TableSettings
    """The reference data: a Parquet file, folder, glob, ``s3://`` / ``gs://`` URI, a list of them, a saved
    profile (``.json``), or a table (below). Its bins are fitted once and saved as the profile."""
    current: str | tuple[str, ...] | TableSettings
    """The current data of each run: a path template, or a list of them, rendered per data interval. ``{ds}``
    (``{ds_nodash}``) is the interval's start date, ``{start}`` and ``{end}`` its bounds (ISO), ``{day}``
    (``{day_nodash}``) one path per day of the interval (a weekly or monthly job over daily partitions).
    Or a table: ``{table: PATH, where: ...}`` (Delta Lake), ``{iceberg: NAME, catalog: ..., where: ...}``
    (Apache Iceberg), see :class:`~kldrift.sections.TableSettings`."""
    output: str
    """A local or mounted folder; each run writes ``<output>/<dataset>/dt=<key>/``. No placeholders."""
    profile: str | None = None
    """Where the fitted reference is saved and reused; default ``<output>/<dataset>/profile.json``."""
    schedule: str = "@daily"
    """A cron expression or preset (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``): one data interval is
    one schedule period, and ``--date`` picks the interval that holds the date."""
    start_date: dt.date | None = None
    """The DAG's first data interval (Airflow)."""
    catchup: bool = False
    """Whether Airflow backfills the intervals since ``start_date`` when the DAG is switched on."""
    tags: tuple[str, ...] = ()
    """The DAG's tags in Airflow."""
    doc: str | None = None
    """The DAG's documentation in the Airflow UI (Markdown)."""
    timezone: str = "UTC"
    """The IANA time zone of the schedule (``Europe/Paris``): a daily interval runs midnight to midnight there."""
    baseline: Baseline = Baseline()
    airflow: AirflowSettings = AirflowSettings()
    base_dir: str = Field(".", exclude=True)
    """Folder relative paths resolve against (the config file's); not a YAML key."""

    @model_validator(mode="before")
    @classmethod
    def _tables(cls, data: Any) -> Any:
        """``reference`` / ``current`` mappings validated as tables, each error under its own key path."""
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for key in ("reference", "current"):
            if isinstance(out.get(key), Mapping):
                try:
                    table = validate(TableSettings, out[key], "")
                except ConfigError as exc:  # "where: ..." → "current.where: ..."; a whole-table problem after ": "
                    msg = str(exc)
                    raise ValueError(f"{key}{'.' if ' ' not in msg.split(':', 1)[0] else ': '}{msg}") from None
                templated = [t for t in (table.table, table.where, table.as_of) if t and re.search(r"\{\w*\}", t)]
                if key == "reference" and templated:
                    raise ValueError("reference: a reference table takes no placeholders ({ds}, {start}, ...)")
                out[key] = table
        return out

    @field_validator("reference", "current")
    @classmethod
    def _template(cls, v: str | tuple[str, ...] | TableSettings) -> str | tuple[str, ...] | TableSettings:
        if isinstance(v, TableSettings):
            return v
        if not isinstance(v, str) and not v:
            msg = "expected a path or a non-empty list of paths"
            raise ValueError(msg)
        for one in [v] if isinstance(v, str) else v:
            check_template(one)
        return v

    @model_validator(mode="after")
    def _schedule(self) -> JobConfig:
        from kldrift.schedule import Schedule

        try:
            Schedule(self.schedule, self.timezone)
        except ConfigError as exc:  # "schedule: ..." / "timezone: ...": pydantic adds the file
            key, _, why = str(exc).partition(": ")
            raise ValueError(f"{key}: {why}") from None
        return self

    def schedule_of(self) -> Schedule:
        """The job's :class:`~kldrift.schedule.Schedule` (its cron expression in its time zone)."""
        from kldrift.schedule import Schedule

        return Schedule(self.schedule, self.timezone)

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
        refs = self.reference_source()
        refs = ([refs.path] if hasattr(refs, "path") else []) if not isinstance(refs, str | list) else refs
        for ref in [refs] if isinstance(refs, str) else refs:
            if "://" in ref or ref.endswith(".json") or _GLOB.search(ref):
                continue
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

    def current_source(self, interval: Interval) -> str | list[str] | TableSource:
        """The interval's current path(s): one per template, and one per day of the interval for a
        template with ``{day}`` or ``{day_nodash}`` (a weekly job over daily partitions); or its table."""
        if isinstance(self.current, TableSettings):
            return self.table_source(self.current, interval, "current")
        out: list[str] = []
        for template in [self.current] if isinstance(self.current, str) else self.current:
            for part in interval.days() if "{day" in template else [interval]:
                path = self.resolve(part.render(template))
                if path not in out:
                    out.append(path)
        return out[0] if len(out) == 1 else out

    def reference_source(self) -> str | list[str] | TableSource:
        if isinstance(self.reference, TableSettings):
            return self.table_source(self.reference, None, "reference")
        if isinstance(self.reference, str):
            return self.resolve(self.reference)
        return [self.resolve(r) for r in self.reference]

    def table_source(self, t: TableSettings, interval: Interval | None, key: str) -> TableSource:
        """The typed source of a ``reference`` / ``current`` table, its placeholders filled for ``interval``."""

        def render(value: str | None) -> str | None:
            return interval.render(value) if interval is not None and value is not None else value

        try:
            if t.table is not None:
                path = self.resolve(render(t.table) or "")
                return delta(
                    path,
                    version=t.version,
                    as_of=render(t.as_of),
                    where=render(t.where),
                    storage_options=t.storage_options,
                )
            return iceberg(
                t.iceberg or "",
                catalog=t.catalog,
                snapshot_id=t.snapshot_id,
                as_of=render(t.as_of),
                where=render(t.where),
            )
        except ConfigError as exc:
            raise ConfigError(f"{key}.{exc}") from None


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
        model: type[Model] = JobConfig if _JOB_KEYS & set(config) else Settings
        return validate(model, dict(config), source)
    msg = f"{source}: expected a dict, a YAML path or a Settings object, got {type(config).__name__}"
    raise ConfigError(msg)
