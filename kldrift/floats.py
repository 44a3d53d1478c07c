"""How kldrift reads floats: float32 and float16 values as the doubles of their shortest decimals.

A float32 column and its float64 copy (``float(numpy.float32(0.1))``) must land in the same bins as the
float64 data they stand for, whichever side holds which type: :func:`shortest_floats` reads a float32 /
float16 value as its shortest round-trip decimal, and :func:`read_float32_roundings` does the same for the
float64 values of a column that are exactly float32 values. :mod:`kldrift.columns` applies them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kldrift.native import float32_fractions

__all__ = ["POW10", "float32_values", "read_float32_roundings", "shortest_floats"]

POW10 = np.array([10.0**i for i in range(23)])
"""Powers of ten that are exact doubles (up to 10**22)."""
_DIGITS = {np.dtype(np.float32): (6, 7, 8, 9), np.dtype(np.float16): (3, 4, 5)}
"""Significant digits tried, shortest first: every decimal of the first length round-trips the type."""


def shortest_floats(x: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """float64 values of float32 / float16 ``x``, each the double of its shortest round-trip decimal.

    ``numpy.float32(0.1)`` is 0.10000000149…; its shortest decimal, ``0.1``,
    is what the writer meant and what a float64 column holds. A whole number
    stays itself: above 2**24 a float32 holds only whole numbers, and reads as
    the one it holds, as an integer column or a float64 copy of it would
    (``float32(123456792)`` is not read as its shortest decimal 123456790).
    Vectorised: each value is rounded to 6, 7, 8 then 9 significant digits
    (3, 4, 5 for float16) until the rounded decimal converts back to the same
    value. Monotone: ``a <= b`` gives ``read(a) <= read(b)`` (each reading
    stays inside its value's rounding interval), which the counting kernels rely on.

    >>> shortest_floats(np.array([0.1, 0.7, 123456.7, 123456792], np.float32)).tolist()
    [0.1, 0.7, 123456.7, 123456792.0]
    """
    y = x.astype(np.float64)
    digits = _DIGITS.get(x.dtype)
    if digits is None:
        return y
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.abs(y)))
        whole = y == np.trunc(y)
    todo = np.flatnonzero(np.isfinite(exponent) & ~whole)
    for p in digits:
        if not len(todo):
            break
        places = p - 1 - exponent[todo]  # decimal places that keep p significant digits
        ok_range = np.abs(places) <= 22  # 10**k is an exact double only up to k = 22
        idx, k = todo[ok_range], places[ok_range].astype(np.int64)
        v = y[idx]
        pos = k >= 0
        cand = np.empty_like(v)
        # round(v * 10**k) / 10**k: both steps exact or correctly rounded, so the result is
        # the double nearest the decimal, the same double float("0.1") gives.
        cand[pos] = np.round(v[pos] * POW10[k[pos]]) / POW10[k[pos]]
        cand[~pos] = np.round(v[~pos] / POW10[-k[~pos]]) * POW10[-k[~pos]]
        back = cand.astype(x.dtype) == x[idx]
        y[idx[back]] = cand[back]
        todo = idx[~back]
    return y


_FLOAT32_LOW_BITS = np.uint64((1 << 29) - 1)
"""The 29 low mantissa bits of a double that a float32 does not have: zero in every float32 value."""


def float32_values(x: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.intp]] | None:
    """Positions of the values of a float64 ``x`` that are exactly float32 values (``None`` when none is).

    A float32 column written back as float64 (pandas ``astype(float)``) holds
    only such values; a float64 column of measured values almost never does,
    except for whole numbers and short binary fractions (``0.5``), which read
    as themselves either way. NaN is not one (it is null whatever its type).
    A cheap bit test first, so a column of measured doubles costs one pass.
    """
    maybe = (x.view(np.uint64) & _FLOAT32_LOW_BITS) == 0
    found = int(np.count_nonzero(maybe))
    if not found:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        if found == len(x):  # all of them, likely: test in place rather than gather
            exact = x.astype(np.float32) == x  # beyond float32's range: inf != x; NaN != NaN
            idx = np.arange(len(x)) if exact.all() else np.flatnonzero(exact)
        else:
            idx = np.flatnonzero(maybe)
            v = x[idx]
            idx = idx[v.astype(np.float32) == v]
    return idx if len(idx) else None


def read_float32_roundings(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """float64 ``x`` with each value that is exactly a float32 value read as that float32 is
    (:func:`shortest_floats`): ``float(numpy.float32(0.1))`` → ``0.1``.

    So a float32 column and its float64 copy read the same, whichever of them is the
    reference. Other values are left as they are.

    >>> read_float32_roundings(np.array([float(np.float32(0.1)), 0.1, 2.5, 1e300])).tolist()
    [0.1, 0.1, 2.5, 1e+300]

    float32 / float16 values are read alike (:func:`shortest_floats`); integers are left as they are.
    """
    if x.dtype != np.float64:
        return shortest_floats(x) if x.dtype.kind == "f" else x
    if float32_fractions(x) == 0:  # the compiled test, one pass: no float32 value with a fraction
        return x
    idx = float32_values(x)
    if idx is None:
        return x
    v = x[idx]
    fraction = v != np.trunc(v)  # whole numbers read as themselves
    if not fraction.any():
        return x
    out = x.copy()
    out[idx[fraction]] = shortest_floats(v[fraction].astype(np.float32))
    return out
