"""Benchmark: ``kldrift run`` with 50 segments x 50 features against the same run without segments.

Usage::

    .venv/bin/python benchmarks/bench_segments.py [--rows 1000000] [--segments 50] [--repeat 3]

Makes (or reuses) ``benchmarks/data/segments/<rows>/``: a reference and a current file of ``--rows``
rows each, 50 features (30 continuous numbers, 5 small integers, 15 categories of 5 to 40 values)
and a ``region`` column of ``--segments`` values of unequal sizes (Zipf-like, the largest about 10x
the smallest); in the current file three regions drift. Both configs read the same files; the
segmented one adds ``segments: {columns: [region], max: <segments>, min_rows: 200}``. Each profile is
fitted once first (timed once: a one-off); then the two runs alternate, ``--repeat`` times, each a
child process whose wall time and peak RSS (``wait4``) are recorded, and the medians, their ratio, and
the report page's size are printed. Figures are ratios measured in one sitting: the machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent
PY = sys.executable
KLDRIFT = str(Path(PY).with_name("kldrift"))


def make(rows: int, segments: int, folder: Path) -> None:
    if (folder / "current.parquet").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    weights = 1 / np.arange(1, segments + 1) ** 0.6
    weights /= weights.sum()
    names = np.array([f"r{i:02d}" for i in range(segments)], dtype=object)
    for name, seed, drift in (("reference", 1, False), ("current", 2, True)):
        rng = np.random.default_rng(seed)
        region = rng.choice(segments, rows, p=weights)
        cols: dict[str, object] = {"region": pa.array(names[region].tolist(), pa.string())}
        for i in range(30):
            x = rng.lognormal(size=rows) if i % 3 == 0 else rng.normal(loc=i, size=rows)
            if drift and i < 3:  # regions 5, 6, 7 shift: a slice of the table
                x = x + np.where(np.isin(region, [5, 6, 7]), 1.0, 0.0)
            cols[f"num_{i:02d}"] = x
        for i in range(5):
            cols[f"int_{i}"] = rng.integers(0, 4 + i, rows)
        for i in range(15):
            k = 5 + 35 * i // 14
            cats = np.array([f"c{j}" for j in range(k)], dtype=object)
            cols[f"cat_{i:02d}"] = pa.array(cats[rng.integers(0, k, rows)].tolist(), pa.string())
        pq.write_table(pa.table(cols), folder / f"{name}.parquet", row_group_size=128 * 1024)


def config(folder: Path, out: Path, segments: int | None) -> Path:
    path = out / ("seg.yaml" if segments else "plain.yaml")
    out.mkdir(parents=True, exist_ok=True)
    text = (
        f"dataset: {'seg' if segments else 'plain'}\nreference: {folder / 'reference.parquet'}\n"
        f"current: {folder / 'current.parquet'}\noutput: {out}\n"
    )
    if segments:
        text += f"segments: {{columns: [region], max: {segments}, min_rows: 200}}\n"
    path.write_text(text)
    return path


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: steadier than wall on a shared machine) and peak RSS (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--make-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = ROOT / "data" / "segments" / f"{args.rows}x{args.segments}"
    if args.make_only:
        make(args.rows, args.segments, data)
        return
    # In a child: a child's peak RSS (wait4) starts from its parent's, which making the data would raise.
    subprocess.run(
        [PY, __file__, "--rows", str(args.rows), "--segments", str(args.segments), "--make-only"], check=True
    )
    out = data / "out"
    cfgs = {"plain": config(data, out, None), "segments": config(data, out, args.segments)}
    for name, cfg in cfgs.items():
        wall, cpu, rss = timed([KLDRIFT, "-q", "profile", "--config", str(cfg)])
        print(f"profile {name:8s} {wall:7.2f} s  cpu {cpu:6.2f} s  {rss:6.0f} MiB (once)", flush=True)
    runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in cfgs}
    for i in range(args.repeat):
        for name, cfg in cfgs.items():
            cmd = [KLDRIFT, "-q", "run", "--config", str(cfg), "--date", "2026-01-01", "--no-webhook"]
            wall, cpu, rss = timed(cmd)
            runs[name].append((wall, cpu, rss))
            print(f"round {i + 1}: run {name:8s} {wall:7.2f} s  cpu {cpu:6.2f} s  {rss:6.0f} MiB", flush=True)
    wall_med = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu_med = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    peak = {k: max(r[2] for r in v) for k, v in runs.items()}
    ratios = [s[0] / p[0] for p, s in zip(runs["plain"], runs["segments"], strict=True)]
    page = out / "seg" / "dt=2026-01-01" / "report.html"
    print(
        f"\nmedian run: plain {wall_med['plain']:.2f} s, segments {wall_med['segments']:.2f} s: "
        f"{wall_med['segments'] / wall_med['plain']:.2f}x wall (per round: median "
        f"{statistics.median(ratios):.2f}x), {cpu_med['segments'] / cpu_med['plain']:.2f}x cpu "
        f"({cpu_med['plain']:.2f} / {cpu_med['segments']:.2f} s); peak RSS {peak['plain']:.0f} / "
        f"{peak['segments']:.0f} MiB; report.html {page.stat().st_size / 1e6:.2f} MB "
        f"({args.segments} segments x 50 features)"
    )


if __name__ == "__main__":
    main()
