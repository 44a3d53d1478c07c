"""The trend: every run's feature rows under ``<output>/<dataset>/``, as one table.

Read through :func:`kldrift.runstore.read_runs`, so one unreadable ``metrics.parquet``
is skipped with a warning instead of hiding every other run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from kldrift import runstore
from kldrift.config import JobConfig
from kldrift.errors import ConfigError, SchemaError, SourceError
from kldrift.segments import OTHER, Segment, parse_segment

__all__ = ["history_table", "read_history"]

_OUTPUT = (
    *("feature", "severity", "metric", "value", "kl", "kl_reverse", "psi", "jensen_shannon", "p_adjusted"),
    *("n_current", "threshold_warn", "threshold_critical", "drift_share", "dataset_drift"),
)
"""The columns of the trend, after the run's date."""


def read_history(
    config: JobConfig,
    *,
    feature: str | None = None,
    before: str | None = None,
    segment: Mapping[str, str | None] | None = None,
) -> pd.DataFrame:
    """One row per (run, feature), oldest first; only runs before the key ``before`` when given.

    With ``segment`` (``{"origin": "EWR"}``, as ``kldrift history --segment origin=EWR``), the rows of the
    segments that have those values instead of the whole table's, with a ``segment`` column (its label).
    """
    root = config.dataset_dir()
    if not os.path.isdir(root):
        raise SourceError(f"{root}: no runs yet (run `kldrift run --config ... --date ...` first)")
    runs = [r for r in runstore.read_runs(root, columns=runstore.SUMMARY_COLUMNS, before=before) if r.readable]
    if not runs:
        raise SourceError(f"{root}: no readable metrics.parquet in any dt=<date>/ folder yet")
    if segment is not None:
        return _segment_history(root, runs, segment, feature)
    rows = [{"date": run.date, **{c: r.get(c) for c in _OUTPUT}} for run in runs for r in run.features]
    df = pd.DataFrame(rows, columns=["date", *_OUTPUT])
    if feature is not None:
        if feature not in set(df["feature"]):
            raise SchemaError.missing_column(feature, sorted(set(df["feature"])), where=f"history of {root}")
        df = df[df["feature"] == feature]
    return df.sort_values(["date", "feature"], kind="stable").reset_index(drop=True)


def _segment_history(
    root: str, runs: list[runstore.RunSummary], want: Mapping[str, str | None], feature: str | None
) -> pd.DataFrame:
    rows, seen = [], set()
    for run in runs:
        for r in run.rows:
            seg = Segment.from_json(dict(r["segment"])) if r.get("segment") and r.get("check") == "drift" else None
            if seg is None:
                continue
            seen.add(seg.label)
            if seg.matches(want) or (want.get("*") == OTHER and seg.other):
                rows.append({"date": run.date, "segment": seg.label, **{c: r.get(c) for c in _OUTPUT}})
    asked = ", ".join(f"{k}={v}" if k != "*" else OTHER for k, v in want.items())
    if not seen:
        raise ConfigError(
            f"--segment {asked}: the runs under {root} were not scored per segment (segments: in the config)"
        )
    if not rows:
        shown = ", ".join(sorted(seen)[:20]) + (", ..." if len(seen) > 20 else "")
        raise ConfigError(f"--segment {asked}: no such segment in the runs under {root}; segments: {shown}")
    df = pd.DataFrame(rows, columns=["date", "segment", *_OUTPUT])
    if feature is not None:
        if feature not in set(df["feature"]):
            raise SchemaError.missing_column(feature, sorted(set(df["feature"])), where=f"history of {asked}")
        df = df[df["feature"] == feature]
    return df.sort_values(["date", "segment", "feature"], kind="stable").reset_index(drop=True)


def history_table(
    config: JobConfig, *, feature: str | None = None, segment: Sequence[str] | None = None
) -> tuple[pd.DataFrame, str]:
    """``kldrift history``'s table and title; ``segment`` as typed (``["origin=EWR"]``). When several segments
    match (``origin=EWR`` of segments by origin and carrier), each feature is named with its segment."""
    want = parse_segment(segment) if segment else None
    df = read_history(config, feature=feature, segment=want)
    title = f"{config.dataset}: {config.metric} per run"
    if want is not None and df["segment"].nunique() > 1:
        df = df.assign(feature=df["feature"] + " [" + df["segment"] + "]")
    elif want is not None:
        title += f" in {df['segment'].iloc[0]}"
    return df, title
