"""Benchmark: what showing a report costs in a notebook, against what scoring it costs.

Usage::

    .venv/bin/python benchmarks/bench_notebook.py [--features 50 1000 5000] [--rounds 5]

One real comparison of 20 features (2,000 rows each side), widened to N features by renaming copies
(``dataclasses.replace``; the cell sorts and draws the same whatever the values). Per N, alternated in
each round: ``_repr_html_()`` (the cell), ``to_json()``, ``save_html()`` (the full page), and
``to_pandas()`` as the baseline measured in the same sitting. Prints medians (ms), the cell's and the
page's sizes, and each as a ratio of ``to_pandas()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kldrift


def report_of(n: int) -> Any:
    rng = np.random.default_rng(1)

    def frame(shift: float) -> pd.DataFrame:
        return pd.DataFrame({f"c{i:02d}": rng.normal(shift if i % 4 == 0 else 0.0, 1, 2_000) for i in range(20)})

    base = kldrift.compare(frame(0.0), frame(0.5))
    k = len(base.features)
    return dataclasses.replace(
        base,
        features=tuple(dataclasses.replace(base.features[i % k], feature=f"f{i:05d}") for i in range(n)),
        bins=tuple(dataclasses.replace(base.bins[i % k], feature=f"f{i:05d}") for i in range(n)),
    )


def ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=int, nargs="+", default=[50, 1_000, 5_000])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        print("features | to_pandas ms | cell ms (x) | cell kB | to_json ms (x) | save_html ms (x) | page kB")
        for n in args.features:
            report = report_of(n)
            report._repr_html_()  # templates compiled once per process, as in a notebook's second cell
            steps: dict[str, Callable[[], object]] = {
                "pandas": report.to_pandas,
                "cell": report._repr_html_,
                "json": report.to_json,
                "page": functools.partial(report.save_html, page),
            }
            times: dict[str, list[float]] = {k: [] for k in steps}
            for _ in range(args.rounds):
                for name, fn in steps.items():
                    times[name].append(ms(fn))
            med = {k: statistics.median(v) for k, v in times.items()}
            base = med["pandas"]
            print(
                f"{n:,} | {base:.1f} | {med['cell']:.1f} ({med['cell'] / base:.2f}) | "
                f"{len(report._repr_html_()) / 1000:.0f} | {med['json']:.1f} ({med['json'] / base:.2f}) | "
                f"{med['page']:.0f} ({med['page'] / base:.1f}) | {page.stat().st_size / 1000:.0f}"
            )


if __name__ == "__main__":
    main()
