"""Benchmark: many small files, and wide tables, in bounded memory.

Usage::

    .venv/bin/python benchmarks/bench_scale.py files [--files 500] [--rows 1000000]
    .venv/bin/python benchmarks/bench_scale.py wide  [--columns 500] [--rows 1000000]

``files``: the same rows as one file and as a folder of N files (hive
partitioned ``part=<k>/``), ``kldrift compare`` on each, alternately; the
difference is the per-file overhead (footer reads, one reader task per row
group). ``wide``: a reference and a current file of N columns (90% numeric,
10% categorical), ``kldrift compare`` wall time and peak RSS.
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

ROOT = Path(__file__).resolve().parent.parent
KLDRIFT = str(Path(sys.executable).with_name("kldrift"))


def timed(cmd: list[str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024.0


def _table(rng: np.random.Generator, rows: int, columns: int, shift: float) -> pa.Table:
    n_cat = max(1, columns // 10)
    cols: dict[str, pa.Array] = {}
    for i in range(columns - n_cat):
        cols[f"n{i:03d}"] = pa.array(rng.normal(shift if i % 50 == 0 else 0.0, 1.0, rows))
    cats = np.array([f"v{j:02d}" for j in range(20)])
    for i in range(n_cat):
        cols[f"c{i:03d}"] = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 20, rows, dtype=np.int32)), cats)
    return pa.table(cols)


def make_wide(out: Path, rows: int, columns: int) -> Path:
    if (out / "current.parquet").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name, shift in (("reference", 0.0), ("current", 0.5)):
        rng = np.random.default_rng([7, int(shift * 10)])
        with pq.ParquetWriter(out / f"{name}.parquet", _table(rng, 1, columns, 0).schema) as w:
            step = 65_536
            for start in range(0, rows, step):
                w.write_table(_table(rng, min(step, rows - start), columns, shift))
    return out


def make_files(out: Path, rows: int, files: int) -> Path:
    if (out / "many" / "part=0").exists():
        return out
    rng = np.random.default_rng(5)
    table = _table(rng, rows, 50, 0.0)
    (out / "one").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "one" / "data.parquet")
    per = -(-rows // files)
    for k in range(files):
        d = out / "many" / f"part={k}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(k * per, per), d / "data.parquet")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("files", "wide"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--columns", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / "data")
    a = ap.parse_args()
    if a.what == "files":
        d = make_files(a.data_dir / f"files{a.files}", a.rows, a.files)
        cmds = {
            "one file": [KLDRIFT, "-q", "compare", str(d / "one"), str(d / "one"), "--format", "json"],
            f"{a.files} files": [KLDRIFT, "-q", "compare", str(d / "many"), str(d / "many"), "--format", "json"],
        }
    else:
        d = make_wide(a.data_dir / f"wide{a.columns}", a.rows, a.columns)
        cmds = {
            f"{a.columns} columns": [
                KLDRIFT,
                "-q",
                "compare",
                str(d / "reference.parquet"),
                str(d / "current.parquet"),
                "--format",
                "json",
            ]
        }
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    for i in range(a.repeat):
        for k, cmd in cmds.items():
            res[k].append(timed(cmd))
            print(f"  round {i + 1}: {k:12s} {res[k][-1][0]:7.2f} s {res[k][-1][1]:7.0f} MiB", flush=True)
    for k, v in res.items():
        print(f"{k:12s} median {statistics.median(w for w, _ in v):7.2f} s  peak RSS {max(r for _, r in v):6.0f} MiB")
    if a.what == "files":
        one, many = (statistics.median(w for w, _ in v) for v in res.values())
        print(f"per-file overhead: {(many - one) / a.files * 1000:.1f} ms per file ({many / one:.2f}x one file)")


if __name__ == "__main__":
    main()
