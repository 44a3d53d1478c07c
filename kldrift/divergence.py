"""Divergences between two histograms: KL, reverse KL, PSI, Jensen–Shannon, G-test.

Pure maths on arrays of weights; nothing here knows about columns or files.
The element-wise work is delegated to :func:`scipy.special.rel_entr`, which
defines ``rel_entr(x, y) = x log(x / y)`` for ``x > 0, y > 0``, ``0`` for
``x == 0, y >= 0`` and ``inf`` otherwise, so the edge cases follow from it.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Divergences",
    "GTest",
    "adjust_pvalues",
    "divergences",
    "g_test",
    "g_test_pvalue",
    "js_divergence",
    "kl_divergence",
    "prefetch",
    "psi",
]

ArrayLike = npt.ArrayLike | Sequence[float]


def _special() -> Any:
    """``scipy.special``, imported on first use: 0.15 s of imports, which :func:`prefetch` hides."""
    from scipy import special

    return special


def prefetch() -> None:
    """Import ``scipy.special`` on a thread of its own, while the caller reads its data (a job reads for
    seconds before it scores; the import would otherwise come first, or wait for the scoring)."""
    if "scipy.special" not in sys.modules:
        threading.Thread(target=_special, name="kldrift-import", daemon=True).start()


def _check_options(pseudocount: float, base: float | None) -> None:
    if not isinstance(pseudocount, int | float | np.integer | np.floating) or isinstance(pseudocount, bool):
        msg = f"`pseudocount` must be a number >= 0, got {pseudocount!r}"
        raise TypeError(msg)
    if not math.isfinite(pseudocount) or pseudocount < 0:
        msg = f"`pseudocount` must be a finite number >= 0, got {pseudocount!r}"
        raise ValueError(msg)
    if base is not None and (not isinstance(base, int | float | np.integer | np.floating) or isinstance(base, bool)):
        msg = f"`base` must be None or a number, got {base!r}"
        raise TypeError(msg)
    if base is not None and (not math.isfinite(base) or base <= 0 or base == 1):
        msg = f"`base` must be None or a finite number > 0 other than 1, got {base!r}"
        raise ValueError(msg)


def _weights(x: ArrayLike, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"`{name}` must be a sequence of numbers, got {x!r}"
        raise ValueError(msg) from exc
    if arr.ndim != 1:
        msg = f"`{name}` must be one-dimensional, got shape {arr.shape}"
        raise ValueError(msg)
    if arr.size == 0:
        msg = f"`{name}` is empty; need at least one weight"
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        where = np.flatnonzero(~np.isfinite(arr))[:5].tolist()
        msg = f"`{name}` has non-finite weights (nan or inf) at positions {where}"
        raise ValueError(msg)
    if np.any(arr < 0):
        msg = f"`{name}` has negative weights at positions {np.flatnonzero(arr < 0)[:5].tolist()}"
        raise ValueError(msg)
    if not np.any(arr > 0):
        msg = f"`{name}` is all zero; need at least one positive weight"
        raise ValueError(msg)
    return arr


def _distributions(
    p: ArrayLike, q: ArrayLike, pseudocount: float, base: float | None
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """Validate, smooth and normalise the two weight vectors."""
    _check_options(pseudocount, base)
    pa_, qa = _weights(p, "p"), _weights(q, "q")
    if pa_.shape != qa.shape:
        msg = f"`p` and `q` must have the same length, got {pa_.size} and {qa.size}"
        raise ValueError(msg)
    if pseudocount:
        pa_, qa = pa_ + pseudocount, qa + pseudocount
    # Same normalisation as scipy.stats.entropy, so pseudocount=0 matches it bit for bit.
    return pa_ / np.sum(pa_), qa / np.sum(qa)


def _kl(p: np.ndarray[Any, Any], q: np.ndarray[Any, Any], base: float | None) -> float:
    s = float(np.sum(_special().rel_entr(p, q)))
    return s / math.log(base) if base is not None else s


def _js(p: np.ndarray[Any, Any], q: np.ndarray[Any, Any], base: float | None) -> float:
    # Same operation order as scipy.spatial.distance.jensenshannon, before its sqrt.
    m = (p + q) / 2.0
    js = float(np.sum(_special().rel_entr(p, m)) + np.sum(_special().rel_entr(q, m)))
    if base is not None:
        js /= math.log(base)
    return js / 2.0


def kl_divergence(p: ArrayLike, q: ArrayLike, *, pseudocount: float = 0.0, base: float | None = None) -> float:
    r"""Kullback–Leibler divergence KL(P ‖ Q) of two histograms.

    .. math:: D_{KL}(P \| Q) = \sum_i p_i \log \frac{p_i}{q_i}

    The extra surprise paid when data distributed as ``P`` is explained by
    ``Q``. This is the mathematical order, KL(P ‖ Q): kldrift's drift score is
    ``kl_divergence(current, reference)``; every drift function that takes the
    two datasets (:func:`divergences`, :func:`g_test`, :func:`kldrift.compare`)
    takes the reference first.

    Parameters
    ----------
    p, q : array_like
        Non-negative weights of the same length (counts or probabilities).
    pseudocount : float, optional
        Added to every entry of both ``p`` and ``q`` before normalising
        (additive / Laplace smoothing). ``0`` (default) leaves them as they are.
    base : float, optional
        Logarithm base; ``None`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    float
        ``inf`` when ``q`` is zero where ``p`` is not and ``pseudocount`` is 0.

    Raises
    ------
    ValueError
        For empty, negative, non-finite, all-zero or different-length input,
        or an invalid ``pseudocount`` or ``base``.

    References
    ----------
    .. [1] Kullback, S., Leibler, R. A. (1951). On information and sufficiency.
       Annals of Mathematical Statistics 22(1), 79-86.

    Examples
    --------
    >>> round(kl_divergence([0.9, 0.1], [0.6, 0.4]), 4)  # 0.9 ln 1.5 + 0.1 ln 0.25
    0.2263
    >>> kl_divergence([1, 0], [0, 1])
    inf
    """
    pn, qn = _distributions(p, q, pseudocount, base)
    return _kl(pn, qn, base)


def js_divergence(p: ArrayLike, q: ArrayLike, *, pseudocount: float = 0.0, base: float | None = None) -> float:
    r"""Jensen–Shannon divergence of two histograms (the square of the JS distance).

    .. math:: JS(P, Q) = \tfrac12 D_{KL}(P \| M) + \tfrac12 D_{KL}(Q \| M), \quad M = \tfrac12 (P + Q)

    Symmetric and bounded by ``log(2)`` (1 in bits); finite even without
    smoothing. Equals ``scipy.spatial.distance.jensenshannon(p, q, base) ** 2``.

    Examples
    --------
    >>> js_divergence([1, 0], [0, 1], base=2)
    1.0
    """
    pn, qn = _distributions(p, q, pseudocount, base)
    return _js(pn, qn, base)


def psi(p: ArrayLike, q: ArrayLike, *, pseudocount: float = 0.0, base: float | None = None) -> float:
    r"""Population stability index: the symmetrised KL, KL(P ‖ Q) + KL(Q ‖ P).

    .. math:: PSI = \sum_i (p_i - q_i) \log \frac{p_i}{q_i}

    Examples
    --------
    >>> round(psi([0.9, 0.1], [0.6, 0.4]), 4)  # 0.2263 + (0.6 ln(2/3) + 0.4 ln 4 = 0.3112)
    0.5375
    """
    pn, qn = _distributions(p, q, pseudocount, base)
    return _kl(pn, qn, base) + _kl(qn, pn, base)


@dataclass(frozen=True, slots=True)
class Divergences:
    """All divergences of one current-vs-reference pair, in nats, from the same smoothed p and q."""

    kl: float
    kl_reverse: float
    psi: float
    jensen_shannon: float
    contributions: tuple[float, ...]
    """Per-bin terms ``rel_entr(p_i, q_i)`` of ``kl``: which bins drive the divergence."""


def divergences(reference: ArrayLike, current: ArrayLike, *, pseudocount: float) -> Divergences:
    """KL(current ‖ reference), its reverse, PSI and JS from one smoothing of the counts.

    Reference first, current second, as every drift function of kldrift takes them.

    >>> d = divergences([60, 40], [90, 10], pseudocount=0.0)
    >>> round(d.kl, 4), round(d.kl_reverse, 4)  # KL(current ‖ reference) = 0.9 ln 1.5 + 0.1 ln 0.25
    (0.2263, 0.3112)
    """
    p, q = _distributions(current, reference, pseudocount, None)
    terms = _special().rel_entr(p, q)
    kl = float(np.sum(terms))
    kl_rev = _kl(q, p, None)
    return Divergences(
        kl=kl,
        kl_reverse=kl_rev,
        psi=kl + kl_rev,
        jensen_shannon=_js(p, q, None),
        contributions=tuple(float(t) for t in terms),
    )


def g_test_pvalue(reference: ArrayLike, current: ArrayLike) -> float:
    """p-value of the two-sample G-test of homogeneity on raw counts.

    ``scipy.stats.chi2_contingency(np.vstack([reference, current]),
    lambda_="log-likelihood", correction=False).pvalue``. Bins empty on both
    sides must already be dropped. ``1.0`` with fewer than two bins (nothing to
    test); ``nan`` when either side has no rows.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.shape != cur.shape or ref.ndim != 1:
        msg = f"`reference` and `current` must be 1-d of the same length, got {ref.shape} and {cur.shape}"
        raise ValueError(msg)
    if np.any((ref + cur) == 0):
        msg = "bins empty on both sides must be dropped before the G-test"
        raise ValueError(msg)
    if ref.size < 2:
        return 1.0
    if ref.sum() == 0 or cur.sum() == 0:
        return math.nan
    # The operations of scipy.stats.chi2_contingency(..., lambda_="log-likelihood",
    # correction=False) for a 2 x k table, in its order, so the result is the same to
    # the last bit (tested) without importing scipy.stats (~0.5 s per process).
    observed = np.vstack([ref, cur])
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / observed.sum()
    statistic = np.sum(2.0 * _special().xlogy(observed, observed / expected).ravel())
    return float(_special().chdtrc(ref.size - 1, statistic))


@dataclass(frozen=True, slots=True)
class GTest:
    """The G-test of homogeneity of one 2 x k table, and how its p-value was obtained."""

    p_value: float
    statistic: float
    bins: int
    method: str
    """``g-test`` (the chi-square approximation) or ``monte-carlo`` (a permutation test, sparse tables)."""
    permutations: int = 0


MIN_EXPECTED = 5.0
"""The expected count Cochran's rule asks of at least four cells in five for the chi-square approximation."""
PERMUTATIONS = 9_999
_EARLY_STOP = 100
"""Exceedances after which the Monte-Carlo p-value is precise enough (about 10 % relative) to stop."""


def _g_statistic(observed: np.ndarray[Any, Any]) -> Any:
    """G of 2 x k tables (``observed`` of shape (..., 2, k)), as ``chi2_contingency`` computes it."""
    expected = (
        observed.sum(axis=-1, keepdims=True)
        * observed.sum(axis=-2, keepdims=True)
        / observed.sum(axis=(-2, -1), keepdims=True)
    )
    return np.sum(2.0 * _special().xlogy(observed, observed / expected), axis=(-2, -1))


def g_test(reference: ArrayLike, current: ArrayLike, *, seed: int = 0, permutations: int = PERMUTATIONS) -> GTest:
    """The G-test of homogeneity on raw counts; exact in distribution on sparse tables.

    Dense tables (Cochran's rule: no expected count below 1, at most a fifth
    below :data:`MIN_EXPECTED`) get the chi-square approximation, :func:`g_test_pvalue`, bit for bit
    ``scipy.stats.chi2_contingency(..., lambda_="log-likelihood")``. On sparse
    tables that approximation calls noise significant (a high-cardinality
    category at n = 200 does in one run of four), so the p-value is a
    Monte-Carlo permutation test instead: tables with the same margins are
    drawn from the multivariate hypergeometric distribution (rows exchangeable
    under the null), and ``p = (1 + #{G* >= G}) / (1 + draws)``. Draws stop
    early once 100 of them reach G (the p-value is then large and precise to
    about 10 %), else after ``permutations``. ``seed`` makes it deterministic.
    When no draw reaches G, the permutation p-value only says "below
    1 / (1 + draws)"; then the chi-square p-value of the table with its sparse
    bins pooled (every expected count at least 5) is reported if smaller, so a
    strong drift keeps a p-value small enough to survive the correction over
    many features.

    Bins empty on both sides must already be dropped.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    p = g_test_pvalue(ref, cur)
    k = ref.size
    if k < 2 or not math.isfinite(p):
        return GTest(p, math.nan if not math.isfinite(p) else 0.0, k, "g-test")
    observed = np.vstack([ref, cur])
    g = float(_g_statistic(observed))
    rows, cols = observed.sum(axis=1), observed.sum(axis=0)
    expected = rows[:, None] * cols[None, :] / observed.sum()
    if expected.min() >= 1 and np.mean(expected < MIN_EXPECTED) <= 0.2:  # Cochran's rule
        return GTest(p, g, k, "g-test")
    rng = np.random.default_rng(seed)
    colsum = cols.astype(np.int64)
    n_cur = round(rows[1])
    hits = draws = 0
    tol = 1e-9 * max(1.0, abs(g))  # equal statistics, up to rounding, count as reaching G
    for size in (min(999, permutations), permutations - min(999, permutations)):
        if size <= 0:
            break
        sims = rng.multivariate_hypergeometric(colsum, n_cur, size=size).astype(np.float64)
        tables = np.stack([colsum[None, :] - sims, sims], axis=1)
        hits += int(np.count_nonzero(_g_statistic(tables) >= g - tol))
        draws += size
        if hits >= _EARLY_STOP:
            break
    p_mc = (hits + 1) / (draws + 1)
    if hits == 0:
        p_mc = min(p_mc, _pooled_pvalue(ref, cur))
    return GTest(p_mc, g, k, "monte-carlo", draws)


def _pooled_pvalue(ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any]) -> float:
    """Chi-square G-test p-value after pooling the bins of smallest total until every expected count is >= 5."""
    total = ref + cur
    share = min(ref.sum(), cur.sum()) / total.sum()
    order = np.argsort(total, kind="stable")
    expected = total[order] * share
    cut = 0  # bins order[:cut] are pooled: the fewest that leave every other bin and the pool at >= 5
    while cut < len(order) and (expected[cut] < MIN_EXPECTED or 0 < expected[:cut].sum() < MIN_EXPECTED):
        cut += 1
    pooled, rest = order[:cut], order[cut:]
    r = np.append(ref[rest], ref[pooled].sum()) if cut else ref
    c = np.append(cur[rest], cur[pooled].sum()) if cut else cur
    return g_test_pvalue(r, c) if len(r) >= 2 else 1.0


def _benjamini_hochberg(ps: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``scipy.stats.false_discovery_control(ps, method="bh")``, same operations (tested equal)."""
    m = len(ps)
    if m <= 1:
        return ps.copy()
    order = np.argsort(ps)
    adj = ps[order] * (m / np.arange(1, m + 1, dtype=ps.dtype))
    np.minimum.accumulate(adj[::-1], out=adj[::-1])
    out = np.empty_like(adj)
    out[order] = adj
    return np.clip(out, 0.0, 1.0)


def adjust_pvalues(p: Sequence[float], method: str) -> list[float]:
    """Multiple-testing correction of the finite p-values; non-finite ones stay ``nan``."""
    arr = np.asarray(p, dtype=np.float64)
    out = np.full(arr.shape, np.nan)
    ok = np.isfinite(arr)
    if not ok.any():
        return out.tolist()
    vals = arr[ok]
    if method == "fdr_bh":
        adj = _benjamini_hochberg(vals)
    elif method == "bonferroni":
        adj = np.minimum(1.0, vals * len(vals))
    elif method == "none":
        adj = vals
    else:  # validated by the config; kept for direct callers
        msg = f"`method` must be 'fdr_bh', 'bonferroni' or 'none', got {method!r}"
        raise ValueError(msg)
    out[ok] = adj
    return out.tolist()
