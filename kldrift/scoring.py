"""Histograms → per-feature drift results, multiple-testing correction, severities, the verdict.

For every feature, bins empty on both sides are dropped; the remaining ``k``
bins are smoothed with the pseudocount ``α`` on both sides,
``p = (cur + α) / (n_cur + kα)`` and ``q = (ref + α) / (n_ref + kα)``, and

* ``kl`` = KL(p ‖ q) (current explained by the reference), ``kl_reverse`` = KL(q ‖ p),
  ``psi`` = their sum, ``jensen_shannon`` from the same p, q (nats);
* ``p_value`` = the G-test of homogeneity on the raw counts of those bins
  (:func:`~kldrift.divergence.g_test`: chi-square on dense tables, a seeded
  Monte-Carlo permutation test on sparse ones; ``p_method`` says which),
  against the reference rows that took no part in choosing the bins where
  categories were chosen (see :class:`~kldrift.binning.Fitter`);
* ``p_adjusted`` = corrected over the features of one comparison
  (Benjamini–Hochberg by default).

Severity: ``insufficient_data`` below ``min_rows`` on either side; else
``critical`` / ``warn`` when the alert metric reaches its threshold *and*
the drift is significant (``p_adjusted < alpha``); else ``ok``.

Besides the features, a report carries the run's other findings, each with a
severity of its own: schema changes (:class:`SchemaChange`), row-count checks
(:class:`RunCheck`: volume, no data, nothing scored), and the columns that
were not scored with their reasons. :attr:`DriftReport.verdict` sums them up.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from kldrift.binning import BinSpec, FeatureSpec
from kldrift.config import Settings
from kldrift.display import FeatureDisplay, ReportDisplay
from kldrift.divergence import adjust_pvalues, divergences, g_test
from kldrift.findings import RunCheck, SchemaChange, Verdict, summarize
from kldrift.histogram import Histogram
from kldrift.roles import ColumnInfo
from kldrift.sections import SEVERITIES
from kldrift.severity import Severity, worst

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SEVERITY_RANK", "DriftReport", "FeatureBins", "FeatureDrift", "score"]

SEVERITY_RANK = {s.value: s.rank for s in Severity}
"""Most urgent first: how reports and tables sort features."""

_NAN = float("nan")


@dataclass(frozen=True, slots=True, repr=False)  # repr, _repr_html_, to_dict: FeatureDisplay's
class FeatureDrift(FeatureDisplay):
    """Drift of one feature between the reference and the current data."""

    feature: str
    kind: str
    n_reference: int
    n_current: int
    n_bins: int
    kl: float
    kl_reverse: float
    psi: float
    jensen_shannon: float
    p_value: float
    p_adjusted: float
    severity: str
    message: str
    metric: str
    value: float
    """The alert metric's value (``kl`` unless ``metric:`` says otherwise)."""
    threshold_warn: float
    threshold_critical: float
    pseudocount: float
    spec_fingerprint: str
    p_method: str = ""
    """How ``p_value`` was obtained: ``g-test``, ``monte-carlo`` (sparse table), ``""`` when not tested."""
    calibrated: bool = False
    """Whether the thresholds were raised to the baseline's spread (``thresholds.calibrate``)."""

    @property
    def threshold(self) -> float:
        """The threshold that this severity reached (critical's for ok/insufficient rows)."""
        return self.threshold_warn if self.severity == "warn" else self.threshold_critical


@dataclass(frozen=True, slots=True)
class FeatureBins:
    """The per-bin view of one feature: what a histogram chart needs."""

    feature: str
    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    contributions: tuple[float, ...]
    """``rel_entr(p_i, q_i)``, the bin's share of ``kl`` (``nan`` for dropped bins)."""


COLUMNS = [f.name for f in fields(FeatureDrift)]


@dataclass(frozen=True, slots=True, repr=False)  # repr, _repr_html_, save_html, to_dict, frames: ReportDisplay's
class DriftReport(ReportDisplay):
    """The result of one comparison: one :class:`FeatureDrift` per feature, in column order."""

    features: tuple[FeatureDrift, ...]
    bins: tuple[FeatureBins, ...]
    n_reference: int
    n_current: int
    metric: str
    alpha: float
    drift_share: float
    """Share of scored features (ok/warn/critical) at warn or above."""
    dataset_drift: bool
    """Whether ``drift_share`` reached ``dataset_drift.share``."""
    share_threshold: float
    spec_fingerprint: str
    schema: tuple[SchemaChange, ...] = ()
    checks: tuple[RunCheck, ...] = ()
    unscored: tuple[ColumnInfo, ...] = ()
    """Reference columns not scored, each with its reason."""
    baseline: Mapping[str, Any] = field(default_factory=dict)
    """The compared counts: ``window``, ``description``, ``first``, ``last``, ``intervals`` (empty: reference)."""

    @property
    def alerts(self) -> tuple[FeatureDrift, ...]:
        """The warn and critical features."""
        return tuple(f for f in self.features if Severity(f.severity).alerting)

    @property
    def scored(self) -> tuple[FeatureDrift, ...]:
        """The features that were scored (ok, warn or critical)."""
        return tuple(f for f in self.features if f.severity in ("ok", "warn", "critical"))

    @property
    def dataset_severity(self) -> Severity:
        """The dataset-level row's severity: the worst drifted feature's when the share rule fires."""
        if not self.dataset_drift:
            return Severity.OK
        return worst(f.severity for f in self.alerts)

    @property
    def worst(self) -> Severity:
        """The most urgent severity of the run: features, schema changes, run checks (``ok`` when none)."""
        return worst(
            [
                *(f.severity for f in self.features),
                *(s.severity for s in self.schema),
                *(c.severity for c in self.checks),
            ]
        )

    def reaches(self, level: str) -> bool:
        """Whether the run has an alert at ``level`` (``warn`` / ``critical``) or above; ``never``: False."""
        return self.worst.reaches(level)

    def counts_by_severity(self) -> dict[str, int]:
        out = dict.fromkeys(SEVERITIES, 0)
        for f in self.features:
            out[f.severity] += 1
        return out

    @property
    def verdict(self) -> Verdict:
        """The run's verdict: worst severity first, then what it consists of."""
        return summarize(
            [f.severity for f in self.features],
            self.schema,
            self.checks,
            drift_share=self.drift_share,
            dataset_drift=self.dataset_drift,
            share_threshold=self.share_threshold,
        )

    def __getitem__(self, feature: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == feature:
                return f
        raise KeyError(feature)

    def to_pandas(self) -> pd.DataFrame:
        """One row per feature with the :class:`FeatureDrift` fields as columns."""
        import pandas as pd

        rows = [{c: getattr(f, c) for c in COLUMNS} for f in self.features]
        return pd.DataFrame(rows, columns=COLUMNS)


def _seed(name: str, ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any]) -> int:
    """A permutation test's seed: a pure function of the feature and its counts (reruns are identical)."""
    h = hashlib.sha256(name.encode("utf-8", "surrogatepass"))
    h.update(np.ascontiguousarray(ref, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(cur, dtype=np.int64).tobytes())
    return int.from_bytes(h.digest()[:8], "little")


def _pooled(counts: np.ndarray[Any, Any], pool: Sequence[int]) -> np.ndarray[Any, Any]:
    """``counts`` with the bins of ``pool`` summed into one (placed last)."""
    keep = np.ones(len(counts), bool)
    keep[list(pool)] = False
    return np.append(counts[keep], counts[list(pool)].sum())


def _raw(
    spec: FeatureSpec,
    ref: np.ndarray[Any, Any],
    cur: np.ndarray[Any, Any],
    alpha: float,
    test_ref: np.ndarray[Any, Any] | None = None,
    pool: Sequence[int] = (),
) -> dict[str, Any]:
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    keep = (ref + cur) > 0
    k = int(keep.sum())
    base: dict[str, Any] = {"n_reference": n_ref, "n_current": n_cur, "n_bins": k, "p_method": ""}
    labels = spec.labels()
    if n_ref == 0 or n_cur == 0:
        side = "current" if n_cur == 0 else "reference"
        return {
            **base,
            "kl": _NAN,
            "kl_reverse": _NAN,
            "psi": _NAN,
            "jensen_shannon": _NAN,
            "p_value": _NAN,
            "message": f"no rows in the {side} data",
            "contributions": (_NAN,) * len(labels),
        }
    d = divergences(cur[keep], ref[keep], pseudocount=alpha)
    contrib = np.full(len(labels), np.nan)
    contrib[keep] = d.contributions
    message = ""
    if k < 2:
        only = labels[int(np.flatnonzero(keep)[0])]
        message = f"all rows of both sides fall in one bin ({only}); no drift can be measured within it"
    if test_ref is None or not test_ref.sum():  # no odd rows (a one-row reference): all there is
        t_ref, t_cur = ref, cur
    else:  # against the odd reference rows, in the bins the even rows saw (see Profile.test_counts)
        t_ref, t_cur = _pooled(test_ref, pool), _pooled(cur, pool)
    tkeep = (t_ref + t_cur) > 0
    test = g_test(t_ref[tkeep], t_cur[tkeep], seed=_seed(spec.name, t_ref, t_cur))
    return {
        **base,
        "kl": d.kl,
        "kl_reverse": d.kl_reverse,
        "psi": d.psi,
        "jensen_shannon": d.jensen_shannon,
        "p_value": test.p_value,
        "p_method": test.method if test.bins >= 2 else "",
        "message": message,
        "contributions": tuple(float(c) for c in contrib),
    }


def _describe(row: dict[str, Any], alpha: float) -> str:
    sev, metric, value = row["severity"], row["metric"], row["value"]
    how = ", permutation test" if row["p_method"] == "monte-carlo" else ""
    kind, padj = "calibrated " if row.get("calibrated") else "", row["p_adjusted"]
    if sev in ("warn", "critical"):
        thr = row["threshold_warn"] if sev == "warn" else row["threshold_critical"]
        return f"{metric} {value:.4g} >= {kind}{sev} threshold {thr:.4g} (p_adjusted {padj:.3g} < {alpha:g}{how})"
    if sev == "ok" and not row["message"] and math.isfinite(value) and value >= row["threshold_warn"]:
        return (
            f"{metric} {value:.4g} >= {kind}warn threshold {row['threshold_warn']:.4g} but not significant "
            f"(p_adjusted {row['p_adjusted']:.3g} >= {alpha:g}{how})"
        )
    return str(row["message"])


def score(
    spec: BinSpec,
    reference: Histogram,
    current: Histogram,
    settings: Settings,
    *,
    test_reference: tuple[Mapping[str, np.ndarray[Any, Any]], Mapping[str, tuple[int, ...]]] | None = None,
    extra_errors: dict[str, str] | None = None,
    hints: dict[str, str] | None = None,
    schema: Sequence[SchemaChange] = (),
    checks: Sequence[RunCheck] = (),
    unscored: Sequence[ColumnInfo] = (),
    thresholds: Mapping[str, tuple[float, float]] | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> DriftReport:
    """Score every feature of ``spec`` from the two histograms.

    ``test_reference`` holds, per feature, the reference counts the G-test
    uses instead of ``reference``'s and the bins it pools into one (see
    :attr:`~kldrift.profile.Profile.test_counts`); ``hints`` a note per feature for its message;
    ``thresholds`` calibrated ``(warn, critical)`` per feature; the rest is carried into the report.
    """
    alpha = settings.smoothing.pseudocount
    metric = settings.metric
    sig = settings.significance
    errors = {**reference.errors, **current.errors, **(extra_errors or {})}
    test_counts, test_pool = test_reference or ({}, {})
    rows: list[dict[str, Any]] = []
    bins: list[FeatureBins] = []
    for f in spec.features:
        ref = reference.counts[f.name]
        cur = current.counts[f.name]
        thr = settings.thresholds_for(f.name)
        warn, critical = (thresholds or {}).get(f.name, (thr.warn, thr.critical))
        row: dict[str, Any] = {
            "feature": f.name,
            "kind": f.kind,
            "metric": metric,
            "threshold_warn": warn,
            "threshold_critical": critical,
            "calibrated": f.name in (thresholds or {}),
            "pseudocount": alpha,
            "spec_fingerprint": spec.fingerprint,
        }
        if f.name in errors:
            row.update(
                n_reference=int(ref.sum()),
                n_current=int(cur.sum()),
                n_bins=0,
                kl=_NAN,
                kl_reverse=_NAN,
                psi=_NAN,
                jensen_shannon=_NAN,
                p_value=_NAN,
                p_method="",
                message=errors[f.name],
                severity="error",
                contributions=(_NAN,) * f.n_bins,
            )
        else:
            row.update(_raw(f, ref, cur, alpha, test_counts.get(f.name), test_pool.get(f.name, ())))
        rows.append(row)
        bins.append(
            FeatureBins(
                f.name,
                tuple(f.labels()),
                tuple(int(v) for v in ref),
                tuple(int(v) for v in cur),
                row.pop("contributions"),
            )
        )
    adjusted = adjust_pvalues([r["p_value"] for r in rows], sig.correction)
    min_rows = max(settings.min_rows, 1)  # no rows on a side is never scorable, even with min_rows: 0
    for r, padj in zip(rows, adjusted, strict=True):
        r["p_adjusted"] = padj
        r["value"] = r[metric]
        if r.get("severity") == "error":
            pass
        elif r["n_current"] < min_rows or r["n_reference"] < min_rows:
            r["severity"] = "insufficient_data"
            need = f"fewer than min_rows={settings.min_rows} rows"
            side = "current" if r["n_current"] < min_rows else "reference"
            r["message"] = r["message"] or f"{need} in the {side} data ({r[f'n_{side}']})"
        else:
            significant = math.isfinite(padj) and padj < sig.alpha
            if significant and r["value"] >= r["threshold_critical"]:
                r["severity"] = "critical"
            elif significant and r["value"] >= r["threshold_warn"]:
                r["severity"] = "warn"
            else:
                r["severity"] = "ok"
        r["message"] = _describe(r, sig.alpha)
        hint = (hints or {}).get(r["feature"])
        if hint:
            r["message"] = f"{r['message']}; {hint}" if r["message"] else hint
    features = tuple(FeatureDrift(**{c: r[c] for c in COLUMNS}) for r in rows)
    scored = [f for f in features if f.severity in ("ok", "warn", "critical")]
    drifted = sum(f.severity in ("warn", "critical") for f in scored)
    share = drifted / len(scored) if scored else 0.0
    all_checks = list(checks)
    if features and not scored and not any(c.check == "no_data" for c in all_checks) and current.rows:
        reason = next((f.message for f in features if f.severity == "insufficient_data"), "")
        if reason:
            all_checks.append(RunCheck("insufficient_data", "insufficient_data", reason, current.rows))
    return DriftReport(
        features=features,
        bins=tuple(bins),
        n_reference=reference.rows,
        n_current=current.rows,
        metric=metric,
        alpha=sig.alpha,
        drift_share=share,
        dataset_drift=bool(scored) and share >= settings.dataset_drift.share,
        share_threshold=settings.dataset_drift.share,
        spec_fingerprint=spec.fingerprint,
        schema=tuple(schema),
        checks=tuple(all_checks),
        unscored=tuple(unscored),
        baseline=dict(baseline or {}),
    )
