"""How KL and severity move with the bin count, on real data: Seattle's weather (vega_datasets, from PyPI).

Usage::

    .venv/bin/python benchmarks/bins_study.py [--bins 5 10 20 50] [--reference 2012] [--current 2015 2013]

Downloads the ``vega_datasets`` wheel (``pip download``: not installed; ``seattle-weather.csv`` is read out
of the archive), then compares one year's days (the reference) with another's (the current data) with
``kldrift.compare`` at each bin count, default thresholds (warn 0.1, critical 0.25, alpha 0.01). For each
numeric column it prints KL(current ‖ reference), the corrected p-value and the severity, and the *noise
floor*: the median KL of 200 random splits of the two years pooled (the same row counts, no drift by
construction), which grows with the bins as about (bins - 1) / 2 x (1/n_ref + 1/n_cur). Figures, not
assertions: this is run by hand; ``docs/bins-and-thresholds.md`` quotes them.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
FOLDER = ROOT / "data" / "vega"
COLUMNS = ["precipitation", "temp_max", "temp_min", "wind"]


def weather() -> pd.DataFrame:
    """Seattle's daily weather 2012-2015 (1,461 rows) out of the vega_datasets wheel."""
    found = sorted(FOLDER.glob("vega_datasets-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "vega_datasets==0.9.0", "-d"]
        subprocess.run([*cmd, str(FOLDER)], check=True)
        found = sorted(FOLDER.glob("vega_datasets-*.whl"))
    with zipfile.ZipFile(found[-1]) as zf:
        raw = zf.read("vega_datasets/_data/seattle-weather.csv")
    df = pd.read_csv(io.BytesIO(raw), parse_dates=["date"])
    return df


def noise_floor(ref: pd.DataFrame, cur: pd.DataFrame, bins: int, rounds: int, seed: int) -> dict[str, float]:
    """The median KL per column over random splits of the pooled rows into the two sizes (no drift)."""
    import kldrift

    pooled = pd.concat([ref, cur], ignore_index=True)
    rng = np.random.default_rng(seed)
    kls: dict[str, list[float]] = {c: [] for c in COLUMNS}
    for _ in range(rounds):
        order = rng.permutation(len(pooled))
        a, b = pooled.iloc[order[: len(ref)]], pooled.iloc[order[len(ref) :]]
        report = kldrift.compare(a, b, config={"binning": {"bins": bins}})
        for c in COLUMNS:
            kls[c].append(report[c].kl)
    return {c: float(np.median(v)) for c, v in kls.items()}


def main() -> None:
    import kldrift

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bins", type=int, nargs="+", default=[5, 10, 20, 50])
    ap.add_argument("--reference", type=int, default=2012)
    ap.add_argument("--current", type=int, nargs="+", default=[2015, 2013])
    ap.add_argument("--rounds", type=int, default=200, help="random splits for the noise floor")
    args = ap.parse_args()

    df = weather()
    year = df["date"].dt.year
    ref = df.loc[year == args.reference, COLUMNS].reset_index(drop=True)
    for cur_year in args.current:
        cur = df.loc[year == cur_year, COLUMNS].reset_index(drop=True)
        print(f"\n== reference {args.reference} ({len(ref)} days), current {cur_year} ({len(cur)} days)")
        print(f"{'bins':>4} {'column':<14} {'n_bins':>6} {'kl':>7} {'floor':>7} {'p_adjusted':>10}  severity")
        for bins in args.bins:
            report = kldrift.compare(ref, cur, config={"binning": {"bins": bins}})
            floor = noise_floor(ref, cur, bins, args.rounds, seed=bins)
            for c in COLUMNS:
                f = report[c]
                print(
                    f"{bins:>4} {c:<14} {f.n_bins:>6} {f.kl:>7.4f} {floor[c]:>7.4f} {f.p_adjusted:>10.2g}  {f.severity}"
                )


if __name__ == "__main__":
    main()
