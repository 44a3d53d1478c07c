"""Honest multiple testing: 50 identical segments x 20 features alert in at most alpha of the runs.

Every run draws the reference and the current counts of each segment and feature from the same
distribution (multinomial, 10 equally likely bins: no drift anywhere), and scores them with
thresholds at 0, so that only the corrected p-values decide. With 1,020 tests a run (the whole table's
20 and 50 x 20), uncorrected p-values would alert in nearly every run (1 - 0.99**1020 = 99.996 %);
Benjamini-Hochberg over all of them keeps the share of runs with any alert at alpha (under the complete
null, its false discovery rate is the chance of any alert). The slow test runs 1,000 runs (about 70 s
here: 0.8 % of them alerted); the quick one 12, as a smoke test of the same machinery.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from kldrift.binning import BinSpec, FeatureSpec
from kldrift.config import coerce_config
from kldrift.profile import Profile
from kldrift.scoring import Findings
from kldrift.segcount import SegmentedHistogram
from kldrift.segments import SegmentSpec
from kldrift.segprofile import SegmentProfile

SEGMENTS, FEATURES, BINS = 50, 20, 10
N_REFERENCE, N_CURRENT = 4_000, 800  # per segment


def world(seed: int) -> tuple[Profile, SegmentSpec, BinSpec]:
    rng = np.random.default_rng(seed)
    edges = tuple(float(e) for e in stats.norm.ppf(np.arange(1, BINS) / BINS))
    spec = BinSpec(tuple(FeatureSpec(f"f{i:02d}", "numeric", "number", edges=edges) for i in range(FEATURES)))
    seg = SegmentSpec(("segment",), tuple((f"s{j:02d}",) for j in range(SEGMENTS)))
    counts = draw(rng, spec, seg, N_REFERENCE)
    whole = counts.whole()
    profile = Profile(spec, whole, "", segments=SegmentProfile(seg, counts))
    return profile, seg, spec


def draw(rng: np.random.Generator, spec: BinSpec, seg: SegmentSpec, n: int) -> SegmentedHistogram:
    """``n`` rows per chosen segment (none in ``(other)``), every bin equally likely, no nulls."""
    p = np.full(BINS, 1 / BINS)
    drawn = rng.multinomial(n, p, size=(FEATURES, SEGMENTS))
    counts = {}
    for i, f in enumerate(spec.features):
        m = np.zeros((seg.n, f.n_bins), np.int64)
        m[:SEGMENTS, :BINS] = drawn[i]
        counts[f.name] = m
    return SegmentedHistogram(spec.fingerprint, seg.fingerprint, (n,) * SEGMENTS + (0,), counts)


def alert_rate(runs: int, correction: str, seed: int = 7) -> tuple[int, int]:
    from kldrift.segscore import score_segmented

    settings = coerce_config(
        {
            "segments": {"columns": ["segment"], "max": SEGMENTS, "min_rows": 100},
            "thresholds": {"warn": 0.0, "critical": 0.0},
            "significance": {"alpha": 0.01, "correction": correction},
        }
    )
    rng = np.random.default_rng(seed + 1)
    alerted, tests = 0, 0
    for run in range(runs):
        # A reference of its own each run: the guarantee is over both samples, not given one reference.
        profile, seg, spec = world(seed * 100_003 + run)
        report = score_segmented(profile, draw(rng, spec, seg, N_CURRENT), settings, findings=Findings())
        assert report.segments is not None
        tests = report.segments.tests
        alerted += report.worst.alerting
    return alerted, tests


def _check(alerted: int, runs: int, alpha: float = 0.01) -> None:
    # One-sided exact binomial test of "the rate is at most alpha": a rate above it is rejected at 0.001.
    assert stats.binomtest(alerted, runs, alpha, alternative="greater").pvalue > 0.001, (alerted, runs)


def test_identical_segments_alert_at_most_at_alpha_quick() -> None:
    alerted, tests = alert_rate(12, "fdr_bh")
    assert tests == FEATURES * (SEGMENTS + 1)  # every segment x feature and the whole table's, in one family
    _check(alerted, 12)
    uncorrected, _ = alert_rate(3, "none")
    assert uncorrected == 3  # the same runs without a correction: every one alerts


@pytest.mark.slow
def test_identical_segments_alert_at_most_at_alpha_over_1000_runs(capsys: Any) -> None:
    alerted, tests = alert_rate(1_000, "fdr_bh")
    with capsys.disabled():
        print(f"\n{alerted} of 1,000 runs with {tests} tests each alerted ({alerted / 1000:.1%}; alpha 1%)")
    _check(alerted, 1_000)
