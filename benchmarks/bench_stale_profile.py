"""Benchmark: what telling a changed reference from a touched one costs (issue 20, stale profile).

Usage::

    .venv/bin/python benchmarks/bench_stale_profile.py [--gb 1.0] [--rounds 3]

A reference of about ``--gb`` GB (float64 columns, snappy, row groups of 1 M rows) in
``benchmarks/data/stale/``. Alternated in each round, in this process, from the page cache:

* ``fit``: fitting the profile (``kldrift.fit``), which now includes the SHA-256 of every file;
* ``digest``: that SHA-256 alone (:func:`kldrift.sources.content_digest`);
* ``check untouched``: :func:`~kldrift.sources.reference_changed` when no mtime moved (listing only);
* ``check touched``: the same after ``os.utime`` moved the file's mtime (footer read, then the digest).

Prints medians (min, max) and the digest's share of a fit.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import kldrift
from kldrift.filestamps import content_digest, reference_changed
from kldrift.sources import open_source

ROOT = Path(__file__).resolve().parent.parent


def make_reference(folder: Path, gb: float) -> Path:
    path = folder / "reference.parquet"
    columns, step = 8, 1_000_000
    rows = int(gb * 1e9 / (8 * columns))
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20)
    schema = pa.schema([(f"x{i}", pa.float64()) for i in range(columns)])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            w.write_table(pa.table({f"x{i}": rng.normal(i, 1.0, n) for i in range(columns)}, schema=schema))
    return path


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _check(files: Sequence[Any], path: Path) -> str | None:
    return reference_changed(files, open_source(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    path = make_reference(ROOT / "benchmarks" / "data" / "stale", args.gb)
    size = path.stat().st_size
    print(f"reference: {path} ({size / 1e9:.2f} GB, {pq.ParquetFile(path).metadata.num_rows:,} rows)")
    scan = open_source(path)
    profile = kldrift.fit(path)
    results: dict[str, list[float]] = {"fit": [], "digest": [], "check untouched": [], "check touched": []}
    for r in range(args.rounds):
        results["fit"].append(timed(lambda: kldrift.fit(path)))
        results["digest"].append(timed(lambda: content_digest(scan, scan.files[0])))
        files = profile.files
        results["check untouched"].append(timed(functools.partial(_check, files, path)))
        os.utime(path, (2_000_000_000 + r, 2_000_000_000 + r))
        results["check touched"].append(timed(functools.partial(_check, files, path)))
        assert reference_changed(files, open_source(path)) is None  # same content: reused
        profile = kldrift.fit(path)  # the mtime it saw, for the next round's untouched check
    for name, values in results.items():
        print(f"{name:16s} median {statistics.median(values):7.3f} s  (min {min(values):.3f}, max {max(values):.3f})")
    share = statistics.median(results["digest"]) / statistics.median(results["fit"])
    print(f"digest: {size / 1e9 / statistics.median(results['digest']):.2f} GB/s; {share:.1%} of a fit")


if __name__ == "__main__":
    main()
