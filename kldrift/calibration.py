"""Thresholds from a baseline's own spread: each interval scored against the others, per feature.

``thresholds.calibrate.method`` turns the leave-one-out values of the window's
intervals into thresholds (see :func:`calibrate`): ``sd`` (mean + k sd), ``mad``
(median + k x 1.4826 MAD, robust to a few disrupted intervals) or ``conformal``
(above every interval of the window: ``p <= 1/(W+1)`` whatever their distribution).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kldrift.config import Settings
from kldrift.histogram import Histogram
from kldrift.profile import Profile

__all__ = ["MAD_TO_SD", "Calibration", "calibrate", "leave_one_out"]

MAD_TO_SD = 1.4826
"""The median absolute deviation times this estimates the standard deviation of normal data."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """Thresholds raised per feature to the baseline's spread, and how (``sd``, ``mad``, ``conformal``)."""

    thresholds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """``(warn, critical)`` per feature, only where calibration raised one."""
    method: str = ""
    """How the window's spread was measured (``sd``, ``mad``, ``conformal``; ``/``-joined when columns
    differ), whenever calibration ran, raised a threshold or not; ``""`` when it did not run."""


def calibrate(histograms: Sequence[Histogram], profile: Profile, config: Settings) -> Calibration:
    """Per feature with ``thresholds.calibrate``: the thresholds raised to the leave-one-out spread.

    For each interval ``i`` counted for the feature, the alert metric of its counts against the sum
    of the others (the same smoothing and bins as scoring); then by ``calibrate.method``:

    * ``sd``: ``max(warn, mean + warn_sd x sd)`` (``ddof=1``), critical likewise;
    * ``mad``: the median and 1.4826 x the median absolute deviation instead;
    * ``conformal``: ``warn = max(warn, max_i LOO_i)``, so a run warns only when it exceeds all W
      intervals (``p <= 1/(W+1)`` whatever their distribution); ``critical`` = ``max(critical,
      warn x critical / warn)`` of the configured pair, the calibrated warn times the configured ratio.

    Needs two such intervals; a feature with fewer keeps its thresholds, and so does one whose spread
    stays below them (not in the result).
    """
    out: dict[str, tuple[float, float]] = {}
    methods: set[str] = set()
    alpha = config.smoothing.pseudocount
    for f in profile.spec.features:
        thr = config.thresholds_for(f.name)
        if thr.calibrate is None:
            continue
        parts = [h.counts[f.name] for h in histograms if f.name not in h.errors and h.counts[f.name].sum()]
        if len(parts) < 2:
            continue
        values = leave_one_out(np.asarray(parts, dtype=np.float64), alpha, config.metric)
        values = values[np.isfinite(values)]
        if len(values) < 2:
            continue
        method = thr.calibrate.method
        if method == "conformal":
            top = float(np.nextafter(values.max(), np.inf))  # exceed every interval, not tie with one
            warn = max(thr.warn, top)
            critical = max(thr.critical, warn * thr.critical / thr.warn if thr.warn > 0 else warn)
        else:
            if method == "mad":  # robust: a disrupted interval in the window barely moves it
                center = float(np.median(values))
                scale = MAD_TO_SD * float(np.median(np.abs(values - center)))
            else:
                center, scale = float(np.mean(values)), float(np.std(values, ddof=1))
            warn = max(thr.warn, center + thr.calibrate.warn_sd * scale)
            critical = max(thr.critical, center + thr.calibrate.critical_sd * scale)
        methods.add(method)  # it ran: the run records how, raised or not
        if (warn, critical) != (thr.warn, thr.critical):  # only where the spread raised one
            out[f.name] = (warn, critical)
    return Calibration(out, "/".join(sorted(methods)))


def leave_one_out(parts: np.ndarray[Any, Any], alpha: float, metric: str) -> np.ndarray[Any, Any]:
    """Per row ``i`` of ``parts`` (intervals x bins), the metric of row ``i`` against the sum of the others.

    Scoring's arithmetic (see :func:`kldrift.divergence.divergences`) for all rows at once: bins
    empty in every interval dropped, ``alpha`` added to both sides, each side normalised.
    """
    from scipy import special

    total = parts.sum(axis=0)
    keep = total > 0
    cur = parts[:, keep] + alpha
    ref = (total[keep] - parts[:, keep]) + alpha
    p = cur / cur.sum(axis=1, keepdims=True)
    q = ref / ref.sum(axis=1, keepdims=True)
    kl = special.rel_entr(p, q).sum(axis=1)
    if metric == "kl":
        return kl
    reverse = special.rel_entr(q, p).sum(axis=1)
    if metric == "kl_reverse":
        return reverse
    if metric == "psi":
        return kl + reverse
    m = (p + q) / 2.0
    return (special.rel_entr(p, m).sum(axis=1) + special.rel_entr(q, m).sum(axis=1)) / 2.0
