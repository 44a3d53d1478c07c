"""What a result shows and exports: a one-line ``repr``, a notebook cell, the page, JSON, DataFrames.

Two mixins the result dataclasses inherit (``class DriftReport(ReportDisplay)``,
``class FeatureDrift(FeatureDisplay)``, each ``@dataclass(..., repr=False)`` so
that the ``repr`` here is theirs): everything they show is a pure function of
their fields, drawn by :mod:`kldrift.notebook` (the cell) and by the page of
:mod:`kldrift.outputs.report.page` (``save_html``, the same ``report.html`` a
run writes, without a run folder).

``to_dict()`` is JSON-safe (non-finite numbers become ``null``, severities
their names) and versioned (``"format": "kldrift.report"``, ``"version": 1``);
:meth:`ReportDisplay.from_dict` reads it back. The layout is documented in
``docs/notebook.md``; ``kldrift compare --format json`` prints the same, without
the bins.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import os
import types
import typing
from collections import Counter
from typing import TYPE_CHECKING, Any

from kldrift.errors import KLDriftError
from kldrift.notebook import feature_html, report_html, urgency
from kldrift.severity import Severity

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Self

    import pandas as pd

    from kldrift.config import Settings

__all__ = ["FORMAT", "VERSION", "FeatureDisplay", "ReportDisplay"]

FORMAT, VERSION = "kldrift.report", 1
"""``to_dict()``'s ``format`` and ``version``: a reader refuses another."""

BIN_COLUMNS = [
    "feature",
    "bin",
    "label",
    "reference_count",
    "current_count",
    "reference_share",
    "current_share",
    "kl_term",
]
UNSCORED_COLUMNS = ["column", "type", "domain", "role", "reason", "null_share", "distinct"]


def _clean(value: Any) -> Any:
    """A JSON-safe value: ``None`` for NaN and infinities, a severity's name, tuples as lists, a value with
    ``to_json()`` (or a pydantic model) as what that gives."""
    if hasattr(value, "to_json") and not isinstance(value, type):
        return _clean(value.to_json())
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return value.model_dump(mode="json")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return value


def _counts(features: Any) -> dict[str, int]:
    """Features per severity, every severity, most urgent first."""
    counts = Counter(str(f.severity) for f in features)
    return {s.value: counts[s] for s in Severity}


def _fields(obj: Any, rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {(rename or {}).get(f.name, f.name): _clean(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


_UNSCORED = {"name": "column"}  # ColumnInfo.name is ``column`` in JSON, as a schema change's is


def _bins_rows(b: Any) -> list[dict[str, Any]]:
    n_ref, n_cur = sum(b.reference), sum(b.current)
    return [
        {
            "feature": b.feature,
            "bin": i,
            "label": label,
            "reference_count": ref,
            "current_count": cur,
            "reference_share": ref / n_ref if n_ref else math.nan,
            "current_share": cur / n_cur if n_cur else math.nan,
            "kl_term": term,
        }
        for i, (label, ref, cur, term) in enumerate(zip(b.labels, b.reference, b.current, b.contributions, strict=True))
    ]


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


class FeatureDisplay:
    """The display of one feature's drift: ``repr``, ``_repr_html_``, its bins, ``to_dict``."""

    __slots__ = ("_bins",)
    # The feature's bins, set by the report that holds it (``ReportDisplay.__post_init__``): a slot, not a
    # field, so that equality, ``to_pandas`` and the files stay the feature's figures alone.

    if TYPE_CHECKING:
        feature: str
        kind: str
        severity: str
        metric: str
        value: float
        threshold_warn: float
        threshold_critical: float
        p_adjusted: float
        n_reference: int
        n_current: int

    @property
    def bins(self) -> Any:
        """The feature's :class:`~kldrift.scoring.FeatureBins` (``None`` when not taken from a report)."""
        return getattr(self, "_bins", None)

    def __repr__(self) -> str:
        level = {"warn": self.threshold_warn, "critical": self.threshold_critical}.get(str(self.severity))
        against = f" >= {self.severity} {level:.4g}" if level is not None else ""
        return (
            f"<{type(self).__name__} {self.feature!r} {self.kind}: {self.severity} · "
            f"{self.metric} {self.value:.4g}{against} · p adj. {self.p_adjusted:.3g} · "
            f"rows {self.n_reference:,} vs {self.n_current:,}>"
        )

    def _repr_html_(self) -> str:
        return feature_html(self, self.bins)

    def to_dict(self) -> dict[str, Any]:
        """The feature's fields, JSON-safe (``None`` for NaN and infinities)."""
        return _fields(self)

    def bins_frame(self) -> pd.DataFrame:
        """One row per bin: label, counts and shares of both sides, KL term (``rel_entr`` of the smoothed shares)."""
        return _frame(_bins_rows(self.bins) if self.bins is not None else [], BIN_COLUMNS)


class ReportDisplay:
    """The display of a report: ``repr``, ``_repr_html_``, ``save_html``, ``to_dict``/``to_json``, DataFrames."""

    __slots__ = ()

    if TYPE_CHECKING:
        features: tuple[Any, ...]
        bins: tuple[Any, ...]
        schema: tuple[Any, ...]
        checks: tuple[Any, ...]
        unscored: tuple[Any, ...]
        baseline: Any  # a BaselineInfo: to_json(), from_json()
        n_reference: int
        n_current: int
        metric: str
        alpha: float

        @property
        def worst(self) -> Severity: ...
        @property
        def verdict(self) -> Any: ...
        @property
        def alerts(self) -> tuple[Any, ...]: ...
        def to_pandas(self) -> pd.DataFrame: ...

    def __post_init__(self) -> None:
        for f, b in zip(self.features, self.bins, strict=False):
            if isinstance(f, FeatureDisplay) and b.feature == f.feature:
                object.__setattr__(f, "_bins", b)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through __init__ (pickle, copy, multiprocessing), so its features get their bins again.
        own: Any = self
        return type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(own))

    def __repr__(self) -> str:
        counts = Counter(str(f.severity) for f in self.features)
        by = ", ".join(f"{counts[s]:,} {s}" for s in Severity if counts[s])
        info = _clean(self.baseline) or {}  # a mapping, or a value with to_json()
        described = str(info.get("description") or "reference")
        baseline = "reference" if described.startswith("reference") else f"{info.get('window')} window"
        n = len(self.features)
        seg = getattr(self, "segments", None)
        hot = sum(Severity(s.worst).alerting for s in seg.summaries) if seg is not None else 0
        segs = f" · {hot} of {len(seg.summaries)} segments alerting" if seg is not None else ""
        return (
            f"<{type(self).__name__} {n:,} feature{'' if n == 1 else 's'}{': ' + by if by else ''} · "
            f"worst {self.worst}{segs} · {self.metric} vs {baseline}>"
        )

    def _repr_html_(self) -> str:
        return report_html(self)

    # --- the page --------------------------------------------------------------------------------------

    def save_html(self, path: str | os.PathLike[str], *, dataset: str = "", config: object = None) -> str:
        """Write the report's page (``report.html`` of a run: self-contained, charts included); its absolute path.

        ``dataset`` names it in the title. The page states the settings the report was scored with: its
        alert metric and alpha, the thresholds most features have and the correction its p-values show; pass
        the ``config`` given to :func:`~kldrift.compare` to state that one instead.
        """
        from kldrift.atomic import write_text
        from kldrift.config import coerce_config
        from kldrift.outputs.metrics import metrics_table
        from kldrift.outputs.report.page import render_report

        settings = coerce_config(config) if config is not None else _page_settings(self)
        html = render_report(metrics_table(self, dataset=dataset, date=None), settings=settings)
        return os.path.abspath(write_text(os.fspath(path), html))

    # --- JSON ------------------------------------------------------------------------------------------

    def to_dict(self, *, bins: bool = True) -> dict[str, Any]:
        """The report as JSON-safe data (see ``docs/notebook.md``); ``bins=False`` leaves out the per-bin counts."""
        verdict = self.verdict
        out: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "verdict": {
                "worst": str(verdict.worst),
                "paged": str(verdict.paged),
                "page_reason": verdict.page_reason,
                "headline": verdict.headline,
                "details": list(verdict.details),
                "tone": verdict.tone,
            },
            "counts": _counts(self.features),
        }
        own: Any = self  # a dataclass: the class that inherits this mixin
        out.update({f.name: _clean(getattr(self, f.name)) for f in dataclasses.fields(own) if f.name not in _NESTED})
        out["baseline"] = out["baseline"] or {"window": "fixed", "description": "reference"}
        if not bins and out.get("segments"):
            out["segments"].pop("bins", None)
        out["features"] = [_fields(f) for f in self.features]
        if bins:
            out["bins"] = [_fields(b) for b in self.bins]
        out["schema"] = [_fields(s) for s in self.schema]
        out["checks"] = [_fields(c) for c in self.checks]
        out["unscored"] = [_fields(c, _UNSCORED) for c in self.unscored]
        return out

    def to_json(self, *, bins: bool = True, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON document (strict JSON: no ``NaN``)."""
        return json.dumps(self.to_dict(bins=bins), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The report of :meth:`to_dict` (``null`` numbers come back as NaN; without bins, empty ones)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            got = (data.get("format"), data.get("version")) if isinstance(data, dict) else type(data).__name__
            raise KLDriftError(f"not a kldrift report: expected format {FORMAT!r} version {VERSION}, got {got!r}")
        try:
            return _build(cls, data)
        except (KeyError, TypeError, ValueError) as exc:
            raise KLDriftError(f"kldrift report {FORMAT!r} version {VERSION}: {type(exc).__name__}: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """The report of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KLDriftError(f"not a kldrift report: invalid JSON ({exc})") from None
        return cls.from_dict(data)

    # --- DataFrames ------------------------------------------------------------------------------------

    def alerts_frame(self) -> pd.DataFrame:
        """The warn and critical features (:attr:`alerts`), most urgent first, as :meth:`to_pandas` rows."""
        frame = self.to_pandas()
        keep = [Severity(s).alerting for s in frame["severity"]]
        order = sorted(range(len(self.features)), key=lambda i: urgency(self.features[i]))
        return frame.iloc[[i for i in order if keep[i]]].reset_index(drop=True)

    def bins_frame(self) -> pd.DataFrame:
        """One row per feature and bin: label, counts and shares of both sides, KL term."""
        return _frame([row for b in self.bins for row in _bins_rows(b)], BIN_COLUMNS)

    def unscored_frame(self) -> pd.DataFrame:
        """The reference columns that were not scored: type, role and why."""
        return _frame([_fields(c, _UNSCORED) for c in self.unscored], UNSCORED_COLUMNS)


_NESTED = {"features", "bins", "schema", "checks", "unscored"}


def _page_settings(report: Any) -> Settings:
    """The settings a page states for a report scored elsewhere: its own metric and alpha, the thresholds of
    most features (their own are listed as such) and the correction its p-values show."""
    from kldrift.config import Settings

    pairs = Counter(
        (f.threshold_warn, f.threshold_critical)
        for f in report.features
        if not f.calibrated and math.isfinite(f.threshold_warn) and f.threshold_warn <= f.threshold_critical
    )
    data: dict[str, Any] = {
        "metric": report.metric,
        "significance": {"alpha": report.alpha, "correction": _correction(report.features)},
    }
    if pairs:
        warn, critical = pairs.most_common(1)[0][0]
        data["thresholds"] = {"warn": warn, "critical": critical}
    return Settings.model_validate(data)


def _correction(features: Any) -> str:
    """``none`` when every adjusted p-value is the p-value, ``bonferroni`` when each is ``min(1, m p)``, else BH."""
    pairs = [(f.p_value, f.p_adjusted) for f in features if math.isfinite(f.p_value)]
    if all(math.isclose(p, q, rel_tol=1e-12) for p, q in pairs):
        return "none"
    m = len(pairs)
    if all(math.isclose(min(1.0, p * m), q, rel_tol=1e-9) for p, q in pairs):
        return "bonferroni"
    return "fdr_bh"


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _item_type(cls: type, name: str) -> type:
    """``FeatureDrift`` of a field annotated ``tuple[FeatureDrift, ...]``."""
    return typing.get_args(_hints(cls)[name])[0]


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return math.nan if hint is float else None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: read as X
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if isinstance(hint, type) and hasattr(hint, "from_json"):  # a value that reads its own JSON back
        return hint.from_json(value)
    if isinstance(hint, type) and hasattr(hint, "model_validate"):  # a pydantic model
        return hint.model_validate(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if typing.get_origin(hint) is tuple:
        return tuple(value)
    return value


def _make(cls: type, row: Mapping[str, Any], rename: Mapping[str, str] | None = None) -> Any:
    hints = _hints(cls)
    names = {(rename or {}).get(f.name, f.name): f.name for f in dataclasses.fields(cls)}
    return cls(**{names[k]: _value(hints[names[k]], v) for k, v in row.items() if k in names})


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    kinds = {name: _item_type(cls, name) for name in _NESTED}
    features = [_make(kinds["features"], r) for r in data["features"]]
    if "bins" in data:
        bins = [_make(kinds["bins"], r) for r in data["bins"]]
    else:  # written with bins=False: the features' bins are unknown, not empty of rows
        bins = [kinds["bins"](f.feature, (), (), (), ()) for f in features]
    top = {
        f.name: _value(_hints(cls)[f.name], data[f.name])
        for f in dataclasses.fields(cls)
        if f.name not in _NESTED and f.name in data
    }
    return cls(
        **top,
        features=tuple(features),
        bins=tuple(bins),
        schema=tuple(_make(kinds["schema"], r) for r in data["schema"]),
        checks=tuple(_make(kinds["checks"], r) for r in data["checks"]),
        unscored=tuple(_make(kinds["unscored"], r, _UNSCORED) for r in data["unscored"]),
    )
