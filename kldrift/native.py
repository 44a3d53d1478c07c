"""The compiled counting kernels (``kldrift/_native.c``), when they were built and are not turned off.

:data:`NATIVE` is the extension module, or ``None``: no C compiler at install time, or
``KLDRIFT_NATIVE=0`` in the environment. Callers then use the numpy kernels, which give the
same counts to the bit (``tests/test_native.py`` runs both on the same data); the compiled
ones do all of a column's cut points, its nulls and its float32 test in one pass.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

__all__ = ["MAX_CUTS", "NATIVE", "FitPass", "count_f64", "count_i64", "fit_f64", "float32_fractions", "index_counts"]

MAX_CUTS = 64
"""Cut points the compiled kernels take at most (more go to the numpy kernels)."""


def _load() -> ModuleType | None:
    if os.environ.get("KLDRIFT_NATIVE", "1").strip() in ("0", "false", "no", "off"):
        return None
    try:
        import kldrift._native as compiled  # a compiled module: no cycle through the package
    except ImportError:
        return None
    return compiled


NATIVE: ModuleType | None = _load()


def count_f64(
    x: np.ndarray[Any, Any], thresholds: np.ndarray[Any, Any], narrow: np.ndarray[Any, Any] | None
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Counts of a float64 ``x`` in ``[below t0, [t0, t1), …, at or above the last, NaN]``; the values that
    are exactly float32 values compared with ``narrow`` (float64 copies of float32 thresholds) when given.
    Only when :data:`NATIVE` is not ``None``."""
    assert NATIVE is not None
    out = np.empty(len(thresholds) + 2, np.int64)
    NATIVE.count_f64(np.ascontiguousarray(x), np.ascontiguousarray(thresholds, np.float64), narrow, out)
    return out


class FitPass(NamedTuple):
    """What :func:`fit_f64` saw of a float64 column."""

    candidates: int
    """Values with a fraction whose low 29 mantissa bits are zero (:func:`float32_fractions`): when some, the
    column reads otherwise (see :func:`kldrift.floats.read_float32_roundings`) and the rest does not apply."""
    nans: int
    lo: float
    """The least non-NaN value (inf included; inf when none)."""
    hi: float
    taken: int
    """Values copied to the sample."""
    fractions: int
    """Non-NaN values that are not whole numbers."""


def fit_f64(
    x: np.ndarray[Any, Any],
    thresholds: np.ndarray[Any, Any] | None,
    out: np.ndarray[Any, Any] | None,
    sample: np.ndarray[Any, Any] | None,
    offset: int = 0,
    stride: int = 1,
) -> FitPass:
    """One compiled pass of the fit over a float64 ``x``: its counts in ``thresholds`` into ``out`` (as
    :func:`count_f64`, ``len(thresholds) + 2`` items), its non-NaN values at ``offset``, ``offset + stride``, …
    copied to ``sample`` (which holds every such position), and what :class:`FitPass` says. Only when
    :data:`NATIVE` is not ``None``."""
    assert NATIVE is not None
    t = None if thresholds is None else np.ascontiguousarray(thresholds, np.float64)
    return FitPass(*NATIVE.fit_f64(np.ascontiguousarray(x), t, out, sample, offset, stride))


def count_i64(x: np.ndarray[Any, Any], thresholds: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """:func:`count_f64` of an int64 ``x`` and int64 thresholds (no nulls: the last count is 0)."""
    assert NATIVE is not None
    out = np.empty(len(thresholds) + 2, np.int64)
    NATIVE.count_i64(np.ascontiguousarray(x), np.ascontiguousarray(thresholds, np.int64), out)
    return out


def float32_fractions(x: np.ndarray[Any, Any]) -> int | None:
    """How many values of a float64 ``x`` with a fraction have zero low 29 mantissa bits (every float32
    value does): none means that each value reads the same as a double and as a float32 (whole numbers
    do). ``None`` without :data:`NATIVE`."""
    if NATIVE is None:
        return None
    return int(NATIVE.float32_fractions(np.ascontiguousarray(x)))


def index_counts(
    chunk: pa.DictionaryArray, first: int | None = None
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]] | None:
    """Rows per dictionary entry of ``chunk``, then its null rows: of its even and odd rows (row 0 is of
    half ``first``: the pair is ``(half 0, half 1)``), or of every row twice when ``first`` is ``None``.
    ``None`` without :data:`NATIVE` or for indices other than int32 (Parquet's)."""
    idx = chunk.indices
    if NATIVE is None or idx.type != pa.int32():
        return None
    validity, values = idx.buffers()[:2]
    x = np.frombuffer(values, np.int32, count=idx.offset + len(idx))[idx.offset :]
    bits = np.frombuffer(validity, np.uint8) if idx.null_count and validity is not None else None
    even = np.zeros(len(chunk.dictionary) + 1, np.int64)
    odd = even if first is None else np.zeros_like(even)
    NATIVE.index_counts(x, bits, idx.offset, first or 0, even, odd)
    return even, odd
