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

A significant difference whose metric stays under the warn threshold is ``ok``
and says so in its message: real, but small.

:func:`score_features` makes the feature rows; :func:`build_report` adds the
run's other findings, each with a severity of its own (schema changes, row-count
checks, the columns not scored) into a :class:`~kldrift.results.DriftReport`;
:func:`score` does both.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kldrift.binning import BinSpec, FeatureSpec
from kldrift.calibration import Calibration
from kldrift.config import Settings
from kldrift.divergence import adjust_pvalues, divergences, g_test
from kldrift.findings import RunCheck, SchemaChange
from kldrift.histogram import Histogram
from kldrift.results import BaselineInfo, DriftReport, FeatureBins, FeatureDrift
from kldrift.roles import ColumnInfo
from kldrift.segments import Segment
from kldrift.severity import Severity

__all__ = [
    "Findings",
    "Measured",
    "TestReference",
    "build_report",
    "measure_features",
    "measure_one",
    "rate_features",
    "score",
    "score_features",
]

_NAN = float("nan")
Counts = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class TestReference:
    """Per feature, the reference counts the G-test uses instead of the compared counts, and the bins
    it pools into one (see :attr:`~kldrift.profile.Profile.test_counts`)."""

    __test__ = False  # not a pytest class

    counts: Mapping[str, Counts] = field(default_factory=dict)
    pool: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Findings:
    """A run's rows besides the features, carried into its report."""

    schema: Sequence[SchemaChange] = ()
    checks: Sequence[RunCheck] = ()
    unscored: Sequence[ColumnInfo] = ()


@dataclass(frozen=True, slots=True)
class Measured:
    """One feature's numbers before severities: counts, divergences, the raw p-value."""

    n_reference: int
    n_current: int
    n_bins: int
    kl: float = _NAN
    kl_reverse: float = _NAN
    psi: float = _NAN
    jensen_shannon: float = _NAN
    p_value: float = _NAN
    p_method: str = ""
    message: str = ""
    contributions: tuple[float, ...] = ()
    error: bool = False

    def metric(self, name: str) -> float:
        return float(getattr(self, name))


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


def measure_one(
    spec: FeatureSpec,
    ref: Counts,
    cur: Counts,
    alpha: float,
    test_ref: Counts | None = None,
    pool: Sequence[int] = (),
) -> Measured:
    """One feature's numbers from its two count vectors (``test_ref``: the counts its G-test compares with)."""
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    keep = (ref + cur) > 0
    k = int(keep.sum())
    labels = spec.labels()
    if n_ref == 0 or n_cur == 0:
        side = "current" if n_cur == 0 else "reference"
        return Measured(n_ref, n_cur, k, message=f"no rows in the {side} data", contributions=(_NAN,) * len(labels))
    d = divergences(ref[keep], cur[keep], pseudocount=alpha)
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
    return Measured(
        n_ref,
        n_cur,
        k,
        kl=d.kl,
        kl_reverse=d.kl_reverse,
        psi=d.psi,
        jensen_shannon=d.jensen_shannon,
        p_value=test.p_value,
        p_method=test.method if test.bins >= 2 else "",
        message=message,
        contributions=tuple(float(c) for c in contrib),
    )


def _severity(
    m: Measured, value: float, padj: float, thr: tuple[float, float], settings: Settings, least: int
) -> tuple[Severity, str]:
    """A scored feature's severity, and the message that says why (the measured message otherwise)."""
    warn, critical = thr
    if m.error:
        return Severity.ERROR, m.message
    min_rows = max(least, 1)  # no rows on a side is never scorable, even with min_rows: 0
    if m.n_current < min_rows or m.n_reference < min_rows:
        side, n = ("current", m.n_current) if m.n_current < min_rows else ("reference", m.n_reference)
        return Severity.INSUFFICIENT_DATA, m.message or (f"fewer than min_rows={least} rows in the {side} data ({n})")
    alpha = settings.significance.alpha
    significant = math.isfinite(padj) and padj < alpha
    if significant and value >= critical:
        return Severity.CRITICAL, ""
    if significant and value >= warn:
        return Severity.WARN, ""
    return Severity.OK, m.message


def _describe(
    severity: Severity,
    message: str,
    m: Measured,
    metric: str,
    value: float,
    padj: float,
    thr: tuple[float, float],
    *,
    alpha: float,
    calibrated: bool,
) -> str:
    how = ", permutation test" if m.p_method == "monte-carlo" else ""
    kind = "calibrated " if calibrated else ""
    warn, critical = thr
    if severity.alerting:
        t = warn if severity is Severity.WARN else critical
        return f"{metric} {value:.4g} >= {kind}{severity} threshold {t:.4g} (p_adjusted {padj:.3g} < {alpha:g}{how})"
    if severity is not Severity.OK or message or not math.isfinite(value):
        return message
    if value >= warn:
        return (
            f"{metric} {value:.4g} >= {kind}warn threshold {warn:.4g} but not significant "
            f"(p_adjusted {padj:.3g} >= {alpha:g}{how})"
        )
    if math.isfinite(padj) and padj < alpha:  # real, but small: say so rather than an empty message
        return (
            f"significant but small: {metric} {value:.4g} < {kind}warn threshold {warn:.4g} "
            f"(p_adjusted {padj:.3g} < {alpha:g}{how})"
        )
    return message


def measure_features(
    spec: BinSpec,
    reference: Histogram,
    current: Histogram,
    settings: Settings,
    *,
    test_reference: TestReference | None = None,
    segment: Segment | None = None,
) -> tuple[list[Measured], tuple[FeatureBins, ...]]:
    """Every feature of ``spec`` measured from the two histograms (before any correction), and its per-bin view."""
    alpha = settings.smoothing.pseudocount
    errors = {**reference.errors, **current.errors}
    test = test_reference or TestReference()
    measured: list[Measured] = []
    bins: list[FeatureBins] = []
    for f in spec.features:
        ref, cur = reference.counts[f.name], current.counts[f.name]
        if f.name in errors:
            m = Measured(
                int(ref.sum()), int(cur.sum()), 0, message=errors[f.name], contributions=(_NAN,) * f.n_bins, error=True
            )
        else:
            m = measure_one(f, ref, cur, alpha, test.counts.get(f.name), test.pool.get(f.name, ()))
        measured.append(m)
        counts = tuple(int(v) for v in ref), tuple(int(v) for v in cur)
        bins.append(FeatureBins(f.name, tuple(f.labels()), *counts, m.contributions, segment=segment))
    return measured, tuple(bins)


def rate_features(
    spec: BinSpec,
    measured: Sequence[Measured],
    adjusted: Sequence[float],
    settings: Settings,
    *,
    hints: Mapping[str, str] | None = None,
    calibration: Calibration | None = None,
    min_rows: int | None = None,
    segment: Segment | None = None,
) -> tuple[FeatureDrift, ...]:
    """The rows of measured features given their adjusted p-values: severities, thresholds, messages.

    ``min_rows`` replaces ``settings.min_rows`` (a segment's ``segments.min_rows``); ``segment`` is recorded
    in every row (``None``: the whole table).
    """
    alpha, metric, sig = settings.smoothing.pseudocount, settings.metric, settings.significance.alpha
    cal = calibration or Calibration()
    least = settings.min_rows if min_rows is None else min_rows
    rows = []
    for f, m, padj in zip(spec.features, measured, adjusted, strict=True):
        configured = settings.thresholds_for(f.name)
        warn, critical = cal.thresholds.get(f.name, (configured.warn, configured.critical))
        calibrated = f.name in cal.thresholds
        value = m.metric(metric)
        severity, message = _severity(m, value, padj, (warn, critical), settings, least)
        message = _describe(
            severity, message, m, metric, value, padj, (warn, critical), alpha=sig, calibrated=calibrated
        )
        hint = (hints or {}).get(f.name)
        if hint:
            message = f"{message}; {hint}" if message else hint
        rows.append(
            FeatureDrift(
                feature=f.name,
                kind=f.kind,
                n_reference=m.n_reference,
                n_current=m.n_current,
                n_bins=m.n_bins,
                kl=m.kl,
                kl_reverse=m.kl_reverse,
                psi=m.psi,
                jensen_shannon=m.jensen_shannon,
                p_value=m.p_value,
                p_adjusted=padj,
                severity=severity,
                message=message,
                metric=metric,
                value=value,
                threshold_warn=warn,
                threshold_critical=critical,
                pseudocount=alpha,
                spec_fingerprint=spec.fingerprint,
                p_method=m.p_method,
                calibrated=calibrated,
                calibration=cal.method if calibrated else "",
                segment=segment,
            )
        )
    return tuple(rows)


def score_features(
    spec: BinSpec,
    reference: Histogram,
    current: Histogram,
    settings: Settings,
    *,
    test_reference: TestReference | None = None,
    hints: Mapping[str, str] | None = None,
    calibration: Calibration | None = None,
) -> tuple[tuple[FeatureDrift, ...], tuple[FeatureBins, ...]]:
    """Every feature of ``spec`` scored from the two histograms: its row and its per-bin view.

    ``reference`` is what the current counts are compared with (the profile's counts, or a baseline
    window's); ``test_reference`` the reference counts the G-test uses instead (categories chosen on
    the reference's even rows are tested against its odd rows); ``hints`` a note per feature for its
    message; ``calibration`` thresholds raised per feature. p-values are corrected over these features
    (:func:`measure_features`, then :func:`rate_features`: a run with segments corrects over them all).
    """
    measured, bins = measure_features(spec, reference, current, settings, test_reference=test_reference)
    adjusted = adjust_pvalues([m.p_value for m in measured], settings.significance.correction)
    rows = rate_features(spec, measured, adjusted, settings, hints=hints, calibration=calibration)
    return rows, bins


def build_report(
    features: Sequence[FeatureDrift],
    bins: Sequence[FeatureBins],
    settings: Settings,
    *,
    n_reference: int,
    n_current: int,
    spec_fingerprint: str,
    findings: Findings | None = None,
    baseline: BaselineInfo | None = None,
) -> DriftReport:
    """The report of scored features with the run's other findings, the dataset-share rule and the page rule."""
    found = findings or Findings()
    scored = [f for f in features if f.severity.scored]
    share = sum(f.severity.alerting for f in scored) / len(scored) if scored else 0.0
    checks = list(found.checks)
    if features and not scored and not any(c.check == "no_data" for c in checks) and n_current:
        reason = next((f.message for f in features if f.severity is Severity.INSUFFICIENT_DATA), "")
        if reason:
            checks.append(RunCheck("insufficient_data", Severity.INSUFFICIENT_DATA, reason, n_current))
    return DriftReport(
        features=tuple(features),
        bins=tuple(bins),
        n_reference=n_reference,
        n_current=n_current,
        metric=settings.metric,
        alpha=settings.significance.alpha,
        drift_share=share,
        dataset_drift=bool(scored) and share >= settings.dataset_drift.share,
        share_threshold=settings.dataset_drift.share,
        spec_fingerprint=spec_fingerprint,
        schema=tuple(found.schema),
        checks=tuple(checks),
        unscored=tuple(found.unscored),
        baseline=baseline or BaselineInfo(),
        page_rule=settings.alerts.page,
    )


def score(
    spec: BinSpec,
    reference: Histogram,
    current: Histogram,
    settings: Settings,
    *,
    test_reference: TestReference | None = None,
    hints: Mapping[str, str] | None = None,
    calibration: Calibration | None = None,
    findings: Findings | None = None,
    baseline: BaselineInfo | None = None,
) -> DriftReport:
    """Score every feature of ``spec`` from the two histograms into a report (see :func:`score_features`
    and :func:`build_report`)."""
    features, bins = score_features(
        spec, reference, current, settings, test_reference=test_reference, hints=hints, calibration=calibration
    )
    return build_report(
        features,
        bins,
        settings,
        n_reference=reference.rows,
        n_current=current.rows,
        spec_fingerprint=spec.fingerprint,
        findings=findings,
        baseline=baseline,
    )
