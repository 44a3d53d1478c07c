"""A run's summary: what ``kldrift run``'s result, the Airflow tasks and the operator hand each other.

:class:`RunSummary` crosses XCom as :meth:`~RunSummary.to_json` and is read back
with :meth:`~RunSummary.from_json`, here only: the tasks, the operator, its
extra link, the plugin and the OpenLineage facets all read its fields, never
keys of a dict. A plain frozen dataclass: a field added with a default is
written and read by the same two methods, and old summaries (an XCom written
before the field existed) read with the default.

Nothing here imports the data stack or Airflow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kldrift.errors import KLDriftError
from kldrift.severity import Severity

__all__ = ["RunSummary"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A small, JSON-able summary of one run (an Airflow task's return value)."""

    dataset: str
    date: str
    """The run's key: its interval's date, or its start for intervals shorter than a day."""
    worst: str = "ok"
    """The worst severity of the run's rows (drift, schema, volume, no data)."""
    paged: str = "ok"
    """The level the run paged at under ``alerts.page`` (``ok``: not paged): what ``fail_on``, the webhook
    and the Airflow task state follow."""
    page_reason: str = ""
    """Why it paged, or why not when something alerted."""
    verdict: str = ""
    """The verdict's headline: "5 features drifted: 3 critical, 2 warn"."""
    baseline: str = "reference"
    severities: Mapping[str, int] = field(default_factory=dict)
    """Features per severity."""
    alerts: tuple[str, ...] = ()
    """The features that alert (warn or critical)."""
    schema: tuple[str, ...] = ()
    """Schema changes that alert: ``"dropped: fare"``."""
    checks: Mapping[str, str] = field(default_factory=dict)
    """Run-level checks (``volume``, ``no_data``, ``dataset``) and their severities."""
    dataset_drift: bool = False
    drift_share: float = 0.0
    n_current: int = 0
    paths: Mapping[str, str] = field(default_factory=dict)
    """Written files by name: ``alerts``, ``metrics``, ``manifest``, ``report``, ``index``."""
    webhook: Mapping[str, Any] | None = None
    """The webhook's body when a delivery is due (the DAG's delivery task sends it), else ``None``."""
    deliveries: tuple[Mapping[str, Any], ...] = ()
    """Webhook deliveries made by the run (``KLDriftOperator``), as recorded in ``deliveries.jsonl``."""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (lists, dicts), as XCom stores them."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: object) -> RunSummary:
        """The summary of :meth:`to_json`; :class:`KLDriftError` when ``data`` is not one. Keys it does not
        know are left out (a newer writer), fields it lacks take their defaults (an older one)."""
        if not isinstance(data, Mapping) or not {"dataset", "date"} <= data.keys():
            raise KLDriftError(f"not a kldrift run summary: {type(data).__name__} without dataset and date")
        kwargs: dict[str, Any] = {
            f.name: tuple(data[f.name]) if isinstance(data[f.name], list) else data[f.name]
            for f in dataclasses.fields(cls)
            if f.name in data
        }
        return cls(**kwargs)

    @classmethod
    def read(cls, data: object) -> RunSummary | None:
        """The summary in an XCom value, or ``None`` when it holds none (another task's value)."""
        try:
            return cls.from_json(data)
        except KLDriftError:
            return None

    def _paged_note(self) -> str:
        """`` (not paged)`` / `` (paged warn)`` when the page rule decided otherwise than the worst row."""
        rows = Severity(self.worst) if Severity(self.worst).alerting else Severity.OK
        if self.paged == rows:
            return ""
        return " (not paged)" if self.paged == "ok" else f" (paged {self.paged})"

    def line(self) -> str:
        """One log line: the verdict, the alerts and where the page is."""
        shown = ", ".join(self.alerts[:10]) + (f" and {len(self.alerts) - 10} more" if len(self.alerts) > 10 else "")
        return (
            f"kldrift {self.dataset} {self.date}: {self.worst}{self._paged_note()}, {self.verdict}"
            f"{'; drifted: ' + shown if self.alerts else ''}; report: {self.paths.get('report', '-')}"
        )
