"""Measuring one feature in many segments at once: the divergences and G-tests of a stack of tables.

A run with 50 segments x 50 features measures 2,550 tables. One at a time
(:func:`~kldrift.scoring.measure_one`) that is about a second of numpy calls on a few numbers
each; here the tables of one feature whose rows share the same bins with counts are measured as
one matrix: the same smoothing, ``p = (c + α) / Σ(c + α)`` over the bins holding rows, the same
``rel_entr`` terms and the same G statistic and chi-square p-value as the one-table path. Tables that
need more go one at a time, unchanged: a side without rows, fewer than two bins, a G-test against the
reference's odd rows, a sparse table (Cochran's rule fails: the permutation test), a feature that
could not be counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special

from kldrift.binning import BinSpec, FeatureSpec
from kldrift.divergence import MIN_EXPECTED
from kldrift.histogram import Histogram
from kldrift.results import FeatureBins
from kldrift.scoring import Measured, TestReference, measure_one
from kldrift.segments import Segment

__all__ = ["measure_many", "measure_segments"]

_NAN = float("nan")
Matrix = np.ndarray[Any, Any]


def measure_many(
    spec: FeatureSpec, ref: Matrix, cur: Matrix, alpha: float, *, alone: Sequence[bool] = ()
) -> list[Measured]:
    """The measures of each row pair of ``ref`` and ``cur`` (tables x bins) in ``spec``'s bins; rows marked in
    ``alone`` are left out (``None``) for the caller to measure one at a time."""
    n = len(ref)
    out: list[Measured | None] = [None] * n
    n_ref, n_cur = ref.sum(axis=1), cur.sum(axis=1)
    keep = (ref + cur) > 0
    k = keep.sum(axis=1)
    simple = (n_ref > 0) & (n_cur > 0) & (k >= 2)
    if len(alone):
        simple &= ~np.asarray(alone, bool)
    groups: dict[bytes, list[int]] = {}
    for row in np.flatnonzero(simple).tolist():
        groups.setdefault(keep[row].tobytes(), []).append(row)
    for rows in groups.values():
        mask = keep[rows[0]]
        r = ref[rows][:, mask].astype(np.float64)
        c = cur[rows][:, mask].astype(np.float64)
        for i, m in zip(rows, _group(r, c, alpha, mask), strict=True):
            out[i] = m if m is None else Measured(int(n_ref[i]), int(n_cur[i]), int(k[i]), **m)
    return out  # type: ignore[return-value]


def _group(r: Matrix, c: Matrix, alpha: float, mask: Matrix) -> list[dict[str, Any] | None]:
    """Divergences and chi-square G-tests of tables with the same bins; ``None`` for the sparse ones."""
    p, q = c + alpha, r + alpha
    p /= p.sum(axis=1, keepdims=True)
    q /= q.sum(axis=1, keepdims=True)
    terms = special.rel_entr(p, q)
    kl = terms.sum(axis=1)
    rev = special.rel_entr(q, p).sum(axis=1)
    m = (p + q) / 2.0
    js = (special.rel_entr(p, m).sum(axis=1) + special.rel_entr(q, m).sum(axis=1)) / 2.0
    obs = np.stack([r, c], axis=1)  # tables x 2 x bins, as the one-table path stacks them
    expected = obs.sum(axis=2, keepdims=True) * obs.sum(axis=1, keepdims=True) / obs.sum(axis=(1, 2), keepdims=True)
    g = (2.0 * special.xlogy(obs, obs / expected)).reshape(len(r), -1).sum(axis=1)
    pv = special.chdtrc(mask.sum() - 1, g)
    dense = (expected.min(axis=(1, 2)) >= 1) & ((expected < MIN_EXPECTED).mean(axis=(1, 2)) <= 0.2)  # Cochran's rule
    out: list[dict[str, Any] | None] = []
    for j in range(len(r)):
        if not dense[j]:
            out.append(None)
            continue
        contrib = np.full(len(mask), np.nan)
        contrib[mask] = terms[j]
        out.append(
            {
                "kl": float(kl[j]),
                "kl_reverse": float(rev[j]),
                "psi": float(kl[j]) + float(rev[j]),
                "jensen_shannon": float(js[j]),
                "p_value": float(pv[j]),
                "p_method": "g-test",
                "contributions": tuple(float(x) for x in contrib),
            }
        )
    return out


def measure_segments(
    spec: BinSpec,
    references: Sequence[Histogram],
    currents: Sequence[Histogram],
    alpha: float,
    tests: Sequence[TestReference | None],
    segments: Sequence[Segment],
) -> list[tuple[list[Measured], tuple[FeatureBins, ...]]]:
    """Per segment, what :func:`~kldrift.scoring.measure_features` gives (its measures and bins), every
    feature measured across the segments at once."""
    n = len(segments)
    measured: list[list[Measured]] = [[] for _ in range(n)]
    bins: list[list[FeatureBins]] = [[] for _ in range(n)]
    for f in spec.features:
        ref = np.stack([h.counts[f.name] for h in references]) if n else np.zeros((0, f.n_bins), np.int64)
        cur = np.stack([h.counts[f.name] for h in currents]) if n else np.zeros((0, f.n_bins), np.int64)
        errors = [h.errors.get(f.name) or g.errors.get(f.name) for h, g in zip(references, currents, strict=True)]
        tested = [t is not None and f.name in t.counts for t in tests]
        rows = measure_many(f, ref, cur, alpha, alone=[bool(e) or t for e, t in zip(errors, tested, strict=True)])
        labels = tuple(f.labels())
        for i in range(n):
            m = rows[i]
            if errors[i]:
                nan = (_NAN,) * f.n_bins
                m = Measured(
                    int(ref[i].sum()), int(cur[i].sum()), 0, message=str(errors[i]), contributions=nan, error=True
                )
            elif m is None:
                t = tests[i] or TestReference()
                m = measure_one(f, ref[i], cur[i], alpha, t.counts.get(f.name), t.pool.get(f.name, ()))
            measured[i].append(m)
            counts = tuple(int(v) for v in ref[i]), tuple(int(v) for v in cur[i])
            bins[i].append(FeatureBins(f.name, labels, *counts, m.contributions, segment=segments[i]))
    return [(measured[i], tuple(bins[i])) for i in range(n)]
