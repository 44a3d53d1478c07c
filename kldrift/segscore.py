"""Scoring per segment: every feature in every segment, one correction over all the run's tests.

:func:`score_segmented` measures the whole table's features and each segment's (against the
segment's reference counts, or its own baseline window), corrects all those p-values together
(``significance.correction``, Benjamini–Hochberg by default: 50 segments x 20 features are 1,020
tests, and a run with no drift anywhere alerts at most at ``alpha``), then rates each row. A segment
with fewer than ``segments.min_rows`` rows on either side is ``insufficient_data`` and takes no part
in the correction. Each segment also gets a ``volume`` row (its rows against its share of the
baseline's), or ``no_data`` when a segment of the reference has no rows at all; values of the
segment columns the reference never had are listed (``new_value``).

Each segment is paged on its own rows under ``alerts.page`` (as if it were a run of its own); the
run pages at the most urgent of the whole table and its segments (:attr:`DriftReport.page`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from kldrift.baseline import Baseline
from kldrift.batchscore import measure_segments
from kldrift.binning import BinSpec
from kldrift.config import Settings
from kldrift.divergence import adjust_pvalues
from kldrift.findings import RunCheck, page
from kldrift.histogram import Histogram
from kldrift.profile import Profile
from kldrift.results import DriftReport, FeatureBins, FeatureDrift, SegmentResults, SegmentSummary
from kldrift.scoring import Findings, Measured, TestReference, build_report, measure_features, rate_features
from kldrift.segcount import SegmentedHistogram
from kldrift.segments import OTHER, Segment
from kldrift.severity import Severity, worst

__all__ = ["score_segmented", "segment_checks"]


def _volume(seg: Segment, rows: int, expected: float, source: str, settings: Settings) -> list[RunCheck]:
    """A segment's rows against what it was expected to hold: ``volume``, ``no_data``, or nothing to say."""
    assert settings.segments is not None
    least = max(settings.segments.min_rows, 1)
    if not rows and not expected:
        return []
    if not rows:
        if expected < least:
            return []
        level = Severity(settings.volume.no_data)
        message = f"no data: no rows of {seg.label} (expected about {expected:,.0f}, {source})"
        return [RunCheck("no_data", level, message, 0, expected, 0.0, seg)]
    if not expected:
        return [
            RunCheck(
                "volume", Severity.OK, f"volume: {rows:,} rows of {seg.label}, none expected", rows, None, None, seg
            )
        ]
    ratio = rows / expected
    v = settings.volume
    severity = Severity.OK
    if expected >= least:  # a handful of expected rows says nothing about a ratio
        if ratio < v.critical or ratio > 1 / v.critical:
            severity = Severity.CRITICAL
        elif ratio < v.warn or ratio > 1 / v.warn:
            severity = Severity.WARN
    word = "volume" if severity is Severity.OK else ("volume collapsed" if ratio < 1 else "volume exploded")
    message = f"{word}: {rows:,} rows of {seg.label}, {ratio:.3g}x the expected {expected:,.0f} ({source})"
    return [RunCheck("volume", severity, message, rows, expected, ratio, seg)]


def _expected(base: Baseline | None, own: Histogram, total: int, whole: int) -> tuple[float, str]:
    """Rows a segment is expected to hold: its mean over its baseline window, else its share of the reference."""
    if base is not None and not base.is_reference and base.info.used:
        n = len(base.info.used)
        return base.counts.rows / n, f"its mean over the baseline's {n} intervals"
    return (own.rows / whole * total if whole else 0.0), "its share of the reference"


def _test_reference(profile: Profile, i: int) -> TestReference:
    """Segment ``i``'s odd reference rows, for the features whose G-test compares with them."""
    seg = profile.segments
    assert seg is not None
    counts = {k: v[i] for k, v in seg.test_counts.items() if k in profile.test_pool}
    return TestReference(counts, {k: profile.test_pool[k] for k in counts})


def segment_checks(current: SegmentedHistogram) -> list[RunCheck]:
    """The run's rows about segments as a whole: values never seen in the reference, a segment column missing."""
    out = []
    if current.problem:
        out.append(
            RunCheck("segments", Severity.ERROR, f"not counted per segment: {current.problem}", sum(current.rows))
        )
    for column, values in sorted(current.new.items()):
        for value, rows in values.items():
            seg = Segment((column,), (value,))
            message = f"new value {seg.label}: {rows:,} rows, a value the reference never had (counted in {OTHER})"
            out.append(RunCheck("new_value", Severity.OK, message, rows, None, None, seg))
        rest = current.new_rows.get(column, 0) - sum(values.values())
        if rest > 0:
            seg = Segment((column,), (OTHER,))
            message = f"and {rest:,} rows of more new values of {column} (the first {len(values)} are listed)"
            out.append(RunCheck("new_value", Severity.OK, message, rest, None, None, seg))
    return out


def score_segmented(
    profile: Profile,
    current: SegmentedHistogram,
    settings: Settings,
    *,
    findings: Findings,
    hints: Mapping[str, str] | None = None,
    baseline: Baseline | None = None,
    segment_baselines: Sequence[Baseline] | None = None,
) -> DriftReport:
    """The report of the whole table and of every segment, p-values corrected over all of them.

    ``baseline`` is the whole table's (``None``: the reference), ``segment_baselines`` one per segment of
    the profile (``None``: each segment's reference counts).
    """
    seg_profile, seg_settings = profile.segments, settings.segments
    if seg_profile is None or seg_settings is None:
        raise ValueError("score_segmented needs a profile with segments and segments: in the settings")
    spec = profile.spec
    whole_ref = baseline.counts if baseline is not None else profile.histogram
    whole_cur = current.whole()
    windowed = baseline is not None and not baseline.is_reference
    test = None if windowed else TestReference(profile.test_counts, profile.test_pool)
    measured, whole_bins = measure_features(spec, whole_ref, whole_cur, settings, test_reference=test)
    # A segment's features leave out the segment columns: constant within a segment, nothing to measure.
    sub = BinSpec(tuple(f for f in spec.features if f.name not in seg_profile.spec.columns), spec.fingerprint)
    least = max(settings.min_rows, seg_settings.min_rows)
    segments = seg_profile.spec.segments
    parts: list[tuple[Segment, list[Measured], Baseline | None, Histogram, bool]] = []
    todo: list[tuple[int, Histogram, Histogram, TestReference | None]] = []
    for i, seg in enumerate(segments):
        own = seg_profile.counts.part(i)
        base = segment_baselines[i] if segment_baselines is not None else None
        ref = base.counts if base is not None else own
        cur = current.part(i)
        parts.append((seg, [], base, own, ref.rows >= max(least, 1) and cur.rows >= max(least, 1)))
        if not current.problem and (cur.rows or ref.rows):
            windowed_i = base is not None and not base.is_reference
            todo.append((i, ref, cur, None if windowed_i else _test_reference(profile, i)))
    alpha = settings.smoothing.pseudocount
    done = measure_segments(
        sub, [t[1] for t in todo], [t[2] for t in todo], alpha, [t[3] for t in todo], [segments[t[0]] for t in todo]
    )
    bins: list[FeatureBins] = []
    for (i, *_), (m, b) in zip(todo, done, strict=True):
        parts[i] = (parts[i][0], m, parts[i][2], parts[i][3], parts[i][4])
        bins.extend(b)
    # One correction over every test that can alert: the whole table's and the scorable segments'.
    family = [m.p_value for m in measured]
    for _, m, _, _, ok in parts:
        family += [x.p_value if ok else float("nan") for x in m]
    adjusted = adjust_pvalues(family, settings.significance.correction)
    tests = sum(p == p for p in family)
    cal = baseline.calibration if baseline is not None else None
    rows = rate_features(spec, measured, adjusted[: len(measured)], settings, hints=hints, calibration=cal)
    report = build_report(
        rows,
        whole_bins,
        settings,
        n_reference=whole_ref.rows,
        n_current=whole_cur.rows,
        spec_fingerprint=spec.fingerprint,
        findings=findings,
        baseline=baseline.info if baseline is not None else None,
    )
    at = len(measured)
    seg_rows: list[FeatureDrift] = []
    checks, summaries = segment_checks(current), []
    for i, (seg, m, base, own, ok) in enumerate(parts):
        adj = adjusted[at : at + len(m)]
        at += len(m)
        seg_cal = base.calibration if base is not None else None
        mine = rate_features(sub, m, adj, settings, calibration=seg_cal, min_rows=least, segment=seg) if m else ()
        ref_rows = base.counts.rows if base is not None else own.rows
        own_checks = []
        if not current.problem and whole_cur.rows:
            expected, source = _expected(base, own, whole_cur.rows, profile.rows)
            own_checks = _volume(seg, current.rows[i], expected, source, settings)
        if m and not ok:
            n_cur = current.rows[i]
            side = "baseline" if base is not None and not base.is_reference else "reference"
            message = (
                f"{seg.label}: fewer than segments.min_rows={seg_settings.min_rows} rows "
                f"({n_cur:,} current, {ref_rows:,} {side}); not tested"
            )
            own_checks.append(
                RunCheck("insufficient_data", Severity.INSUFFICIENT_DATA, message, n_cur, None, None, seg)
            )
        seg_page = page([f.severity for f in mine], (), own_checks, Severity.OK, settings.alerts.page)
        top = worst([*(f.severity for f in mine), *(c.severity for c in own_checks)])
        info = base.info if base is not None else report.baseline
        summaries.append(SegmentSummary(seg, ref_rows, current.rows[i], top, seg_page.level, seg_page.reason, info))
        seg_rows.extend(mine)
        checks.extend(own_checks)
    results = SegmentResults(
        seg_profile.spec.columns,
        tuple(summaries),
        tuple(seg_rows),
        tuple(bins),
        tuple(checks),
        tests,
        seg_settings.min_rows,
    )
    return dataclasses.replace(report, segments=results)
