"""Random Arrow schemas and values through ``compare`` (hypothesis): issue 11's property.

Whatever the types (every integer width with its extremes, float16/32/64 with NaN and ±inf,
decimals, plain / large / view / dictionary strings with bytes that are not UTF-8, booleans,
timestamps of every unit and zone, dates, durations, times of day, the null type, and nested or
binary columns kldrift cannot bin) and whatever the values (nulls anywhere, empty tables):

* ``compare`` raises nothing but a one-line :class:`KLDriftError`;
* data compared with itself scores exactly KL 0, and alerts on nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kldrift
from kldrift.errors import KLDriftError


def _ints(t: pa.DataType) -> st.SearchStrategy[int]:
    info = np.iinfo(t.to_pandas_dtype())
    extremes = st.sampled_from([int(info.min), int(info.max), 0, 2**53 + 1 if info.max > 2**53 else 1])
    return st.one_of(extremes, st.integers(int(info.min), int(info.max)))


def _invalid_utf8(values: list[bytes | None]) -> pa.Array:
    data = b"".join(v or b"" for v in values)
    offsets = np.concatenate([[0], np.cumsum([len(v or b"") for v in values])]).astype(np.int32)
    mask = np.array([v is None for v in values])
    validity = pa.array(~mask).buffers()[1] if mask.any() else None
    return pa.Array.from_buffers(
        pa.string(), len(values), [validity, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)]
    )


@st.composite
def columns(draw: st.DrawFn, n: int) -> pa.Array:
    kind = draw(
        st.sampled_from(
            [
                "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "decimal", "string", "large_string", "string_view",
                "dictionary", "bytes_not_utf8", "bool", "timestamp", "date32", "duration", "time32", "time64",
                "null", "list", "struct", "binary",
            ]
        )
    )  # fmt: skip
    nulls = draw(st.lists(st.booleans(), min_size=n, max_size=n))

    def masked(values: list[Any]) -> list[Any]:
        return [None if z else v for v, z in zip(values, nulls, strict=True)]

    if kind.startswith(("int", "uint")):
        t = getattr(pa, kind)()
        return pa.array(masked(draw(st.lists(_ints(t), min_size=n, max_size=n))), t)
    if kind.startswith("float"):
        width = int(kind[5:])
        values = draw(st.lists(st.floats(width=width, allow_nan=True, allow_infinity=True), min_size=n, max_size=n))
        dtype = {16: np.float16, 32: np.float32, 64: np.float64}[width]
        arr = np.array(values, dtype=dtype)
        return pa.array(arr, mask=np.array(nulls, bool) if n else None)
    if kind == "decimal":
        d = st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
        return pa.array(masked(draw(st.lists(d, min_size=n, max_size=n))), pa.decimal128(9, 2))
    if kind in ("string", "large_string", "string_view", "dictionary"):
        texts = masked(draw(st.lists(st.text(max_size=6), min_size=n, max_size=n)))
        arr = pa.array(texts, pa.string())
        if kind == "dictionary":
            return arr.dictionary_encode()
        return arr.cast(getattr(pa, kind)())
    if kind == "bytes_not_utf8":
        return _invalid_utf8(masked(draw(st.lists(st.binary(max_size=4), min_size=n, max_size=n))))
    if kind == "bool":
        return pa.array(masked(draw(st.lists(st.booleans(), min_size=n, max_size=n))), pa.bool_())
    if kind == "timestamp":
        unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
        tz = draw(st.sampled_from([None, "UTC", "Asia/Tokyo"]))
        values = draw(st.lists(_ints(pa.int64()), min_size=n, max_size=n))
        return pa.array(masked(values), pa.int64()).cast(pa.timestamp(unit, tz=tz))
    if kind == "date32":
        values = draw(st.lists(st.integers(-700_000, 2_900_000), min_size=n, max_size=n))
        return pa.array(masked(values), pa.int32()).cast(pa.date32())
    if kind == "duration":
        unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
        return pa.array(masked(draw(st.lists(_ints(pa.int64()), min_size=n, max_size=n))), pa.duration(unit))
    if kind == "time32":
        return pa.array(masked(draw(st.lists(st.integers(0, 86_399), min_size=n, max_size=n))), pa.time32("s"))
    if kind == "time64":
        values = draw(st.lists(st.integers(0, 86_400 * 10**6 - 1), min_size=n, max_size=n))
        return pa.array(masked(values), pa.time64("us"))
    if kind == "null":
        return pa.nulls(n)
    if kind == "list":
        return pa.array(masked([[i] for i in range(n)]), pa.list_(pa.int64()))
    if kind == "struct":
        return pa.array(masked([{"a": i} for i in range(n)]), pa.struct([("a", pa.int64())]))
    return pa.array(masked([bytes([i % 256]) for i in range(n)]), pa.binary())


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 40))
    width = draw(st.integers(1, 4))
    names = draw(st.lists(st.text(min_size=1, max_size=5), min_size=width, max_size=width, unique=True))
    return pa.table({name: draw(columns(n)) for name in names})


def _one_line(exc: KLDriftError) -> None:
    assert "\n" not in str(exc)
    assert str(exc)


@given(table=tables(), include=st.booleans())
def test_identical_random_data_scores_zero(table: pa.Table, include: bool) -> None:
    config = {"features": {"include": list(table.column_names)}} if include else None
    try:
        report = kldrift.compare(table, table, config=config)
    except KLDriftError as exc:  # an included column kldrift cannot bin: a one-line error, nothing else
        _one_line(exc)
        assert include
        return
    assert report.alerts == ()
    assert report.schema == ()
    for f in report.features:
        assert f.severity in ("ok", "insufficient_data"), f
        if f.n_current:
            assert f.kl == 0.0, f


@given(reference=tables(), current=tables())
def test_any_two_random_tables_compare_or_fail_in_one_line(reference: pa.Table, current: pa.Table) -> None:
    try:
        report = kldrift.compare(reference, current)
    except KLDriftError as exc:
        _one_line(exc)
        return
    assert len(report.features) + len(report.unscored) == reference.num_columns


@pytest.mark.parametrize(
    "column",
    [
        pa.array([-(2**63)], pa.int64()).cast(pa.timestamp("s")),  # found by the property: INT64_MIN seconds
        pa.array([2**63 - 1, None], pa.int64()).cast(pa.duration("s")),
        pa.array([np.iinfo(np.uint64).max, 0], pa.uint64()),
        _invalid_utf8([b"\xe9", None, b"ok"]),
    ],
    ids=["int64-min-seconds", "int64-max-duration-seconds", "uint64-max", "not-utf8"],
)
def test_awkward_values_found_or_feared(column: pa.Array) -> None:
    table = pa.table({"v": column})
    report = kldrift.compare(table, table, config={"features": {"include": ["v"]}})
    assert [(f.kl, f.severity) for f in report.features] in (
        [(0.0, "insufficient_data")],
        [(np.nan, "insufficient_data")],
    ) or all(f.severity == "insufficient_data" for f in report.features)
