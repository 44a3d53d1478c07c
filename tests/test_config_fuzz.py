"""Property: whatever YAML a user writes, load_config gives a JobConfig or one ConfigError line naming the file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from kldrift.config import JobConfig, load_config
from kldrift.errors import ConfigError

# Real key names (so documents get deep into the models) and a few near misses.
KEYS = [
    *("dataset", "reference", "current", "output", "profile", "schedule", "start_date", "catchup", "tags", "doc"),
    *("timezone", "features", "include", "exclude", "binning", "bins", "strategy", "max_categories"),
    *("discrete_max_values", "sample_size", "columns", "fare", "edges", "kind", "thresholds", "warn", "critical"),
    *("smoothing", "pseudocount", "metric", "significance", "alpha", "correction", "min_rows", "dataset_drift"),
    *("share", "alerts", "fail_on", "webhook", "url", "on", "timeout", "retries", "backoff", "airflow"),
    *("max_shards", "pool", "base_dir", "wran", "edgs", "thresold", "<<"),
]
WORDS = [
    *("{ds}", "c/dt={dt}/", "{ds:%Y}", "{", "}", "{start}{end}", "kl", "psi", "quantile", "uniform"),
    *("categorical", "numeric", "http://127.0.0.1:1/x", "ftp://x", "critical", "warn", "never", "2026-01-01"),
    *("fdr_bh", "none", ".inf", "yes", "on", "~", "", " ", "é", "\x00", "a" * 200),
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),  # nan and ±inf included
    st.text(max_size=10),
    st.sampled_from(WORDS),
    st.dates(),
)
keys = st.one_of(st.sampled_from(KEYS), st.integers(-2, 2), st.booleans(), st.text(max_size=6))
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)
REQUIRED = {"dataset": "trips", "reference": "ref/", "current": "cur/dt={ds}/", "output": "out/"}
documents = st.one_of(
    trees,
    # A valid core plus random keys: exercises every validator, not just "required key is missing".
    st.builds(lambda extra: {**REQUIRED, **extra}, st.dictionaries(st.sampled_from(KEYS), trees, max_size=4)),
    st.builds(
        lambda extra: {**REQUIRED, "columns": extra},
        st.dictionaries(st.text(min_size=1, max_size=5), st.dictionaries(st.sampled_from(KEYS), trees, max_size=3)),
    ),
)
raw_text = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(["a:", " b", ": ", "- ", "[", "]", "{", "}", "&x ", "*x", "!!", "\n", "\t", "'", '"', "#"])
    ).map("".join),
)


def _check(path: Path) -> JobConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        msg = str(exc)
        assert "\n" not in msg
        assert "\r" not in msg
        assert msg.startswith(f"{path}: ")
        assert len(msg) < 1_000, msg  # a bad value is quoted, never dumped whole
        return None


@given(doc=documents)
def test_random_nested_documents(tmp_path_factory: Any, doc: Any) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "job.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    cfg = _check(path)
    if cfg is not None:  # what validation let through is what the issue promises
        assert cfg.thresholds.warn <= cfg.thresholds.critical
        assert cfg.metric in ("kl", "kl_reverse", "psi", "jensen_shannon")
        assert math.isfinite(cfg.smoothing.pseudocount)
        for col in cfg.columns.values():
            if col.thresholds is not None:
                assert col.thresholds.warn <= col.thresholds.critical
            if col.edges is not None:
                assert all(a < b for a, b in zip(col.edges, col.edges[1:], strict=False))


@given(text=raw_text)
def test_random_text(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "job.yaml"
    path.write_text(text, encoding="utf-8")
    _check(path)


@given(blob=st.binary(max_size=300))
def test_random_bytes(tmp_path_factory: Any, blob: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "job.yaml"
    path.write_bytes(blob)
    _check(path)
