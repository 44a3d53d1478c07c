"""End to end on real Parquet files: the drifted column alerts, the others do not."""

from __future__ import annotations

from pathlib import Path

import kldrift


def test_compare_flags_the_shifted_column(small_pair: tuple[Path, Path]) -> None:
    ref, cur = small_pair
    report = kldrift.compare(ref, cur)
    df = report.to_pandas().set_index("feature")
    assert df.loc["x", "severity"] == "critical"  # +1 sd mean shift: KL ≈ 0.5 nats (normal: Δμ²/2σ²)
    assert set(df.loc[["y", "c"], "severity"]) == {"ok"}
    assert [f.feature for f in report.alerts] == ["x"]
