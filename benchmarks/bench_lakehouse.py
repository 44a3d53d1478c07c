"""Benchmark: the same Parquet files read as plain Parquet, as a Delta table and as an Iceberg table.

Usage::

    .venv/bin/python benchmarks/bench_lakehouse.py small [--files 500] [--rows 2000] [--columns 10]
    .venv/bin/python benchmarks/bench_lakehouse.py large [--files 4] [--rows 2000000] [--columns 50]

The files are written once; the Delta table is made of the very same files
(``deltalake.convert_to_deltalake``, which only writes a ``_delta_log/``) and so is
the Iceberg table (pyiceberg's ``add_files`` into a SQL catalog on SQLite). Each
measurement is a child process that loads a saved profile and runs
``kldrift.compare(profile, source)`` on one of the three sources (open: list the files
through the log or the manifests, read the footers; count; score), timed inside the
process (the libraries imported before the clock starts, on every side) and as a whole
process; the three sides alternate, ``--rounds`` times, and the
medians are reported with the ratios against plain Parquet. ``small`` gives the
per-file overhead of delta-rs and pyiceberg, ``large`` the read time of a big table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import kldrift
from kldrift.profile import Profile
# Imported before the clock starts, on every side alike: the one-time import of deltalake or
# pyiceberg (0.3-3 s cold on this machine) is not a per-file cost.
import deltalake, pyiceberg.catalog.sql, pyiceberg.io.pyarrow, pyiceberg.table
import kldrift.histogram, kldrift.scoring, kldrift.tables.delta_table, kldrift.tables.iceberg_table
kind, arg, profile = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
t_import = time.perf_counter() - t0
source = {"plain": lambda a: a, "delta": lambda a: kldrift.delta(a),
          "iceberg": lambda a: kldrift.iceberg(a["table"], catalog=a["catalog"])}[kind](arg)
prof = Profile.load(profile)
t1 = time.perf_counter()
timings = {}
report = kldrift.compare(prof, source, timings=timings)
t2 = time.perf_counter()
print(json.dumps({"rows": report.n_current, "compare_s": t2 - t1, "process_s": t2 - t0, "import_s": t_import,
                  **timings}))
"""


def _table(rng: np.random.Generator, rows: int, columns: int) -> pa.Table:
    n_cat = max(1, columns // 10)
    cols: dict[str, pa.Array] = {f"n{i:03d}": pa.array(rng.normal(0.0, 1.0, rows)) for i in range(columns - n_cat)}
    cats = np.array([f"v{j:02d}" for j in range(20)])
    for i in range(n_cat):
        cols[f"c{i:03d}"] = pa.array(cats[rng.integers(0, 20, rows)])
    return pa.table(cols)


def build(folder: Path, files: int, rows: int, columns: int) -> dict[str, object]:
    """The files, the Delta table and the Iceberg table over them, and a saved profile; the sources by kind."""
    import kldrift

    data = folder / "table"
    if folder.exists():
        shutil.rmtree(folder)
    data.mkdir(parents=True)
    rng = np.random.default_rng(20261204)
    paths = []
    for i in range(files):
        path = data / f"part-{i:05d}.parquet"
        pq.write_table(_table(rng, rows, columns), path, row_group_size=1 << 20)
        paths.append(str(path))
    reference = folder / "reference.parquet"
    pq.write_table(_table(rng, min(rows * files, 200_000), columns), reference)
    kldrift.fit(str(reference)).save(str(folder / "profile.json"))

    from deltalake import convert_to_deltalake

    convert_to_deltalake(str(data))  # the same files: only a _delta_log/ is written beside them

    from pyiceberg.catalog import load_catalog

    props = {"type": "sql", "uri": f"sqlite:///{folder}/catalog.db", "warehouse": f"file://{folder}/warehouse"}
    (folder / "warehouse").mkdir()
    catalog = load_catalog("bench", **props)
    catalog.create_namespace("bench")
    table = catalog.create_table("bench.t", schema=pq.read_schema(paths[0]))
    table.add_files([f"file://{p}" for p in paths])  # the same files, registered in a snapshot's manifests
    return {
        "plain": f"{data}/*.parquet",  # a glob: the folder itself would be read as the Delta table it now is
        "delta": str(data),
        "iceberg": {"table": "bench.t", "catalog": {"name": "bench", **props}},
    }


def measure(kind: str, arg: object, profile: Path) -> dict[str, float]:
    cmd = [sys.executable, "-c", CHILD, kind, json.dumps(arg), str(profile)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    out: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shape", choices=["small", "large"])
    parser.add_argument("--files", type=int)
    parser.add_argument("--rows", type=int, help="rows per file")
    parser.add_argument("--columns", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data" / "lakehouse")
    args = parser.parse_args()
    defaults = {"small": (500, 2_000, 10), "large": (4, 2_000_000, 50)}[args.shape]
    files, rows, columns = (args.files or defaults[0], args.rows or defaults[1], args.columns or defaults[2])
    folder = args.data / f"{args.shape}-{files}x{rows}x{columns}"
    t0 = time.perf_counter()
    sources = build(folder, files, rows, columns)
    print(f"built {files} files x {rows:,} rows x {columns} columns in {time.perf_counter() - t0:.1f} s: {folder}")
    results: dict[str, list[dict[str, float]]] = {k: [] for k in sources}
    for r in range(args.rounds):
        order = list(sources) if r % 2 == 0 else list(reversed(sources))
        for kind in order:
            results[kind].append(measure(kind, sources[kind], folder / "profile.json"))
    rows_seen = {k: {int(m["rows"]) for m in v} for k, v in results.items()}
    assert len({n for s in rows_seen.values() for n in s}) == 1, rows_seen
    base = {key: statistics.median(m[key] for m in results["plain"]) for key in ("compare_s", "scan_s", "wall_s")}
    head = ["compare s", "x plain", "open s", "count s", "process s", "x plain"]
    print(f"{'source':8} " + " ".join(f"{h:>{10 if h.endswith(' s') and h[0] in 'cp' else 8}}" for h in head))
    for kind, ms in results.items():
        med = {key: statistics.median(m[key] for m in ms) for key in ("compare_s", "scan_s", "count_s", "wall_s")}
        print(
            f"{kind:8} {med['compare_s']:10.3f} {med['compare_s'] / base['compare_s']:8.2f} {med['scan_s']:8.3f} "
            f"{med['count_s']:8.3f} {med['wall_s']:10.3f} {med['wall_s'] / base['wall_s']:8.2f}"
        )
        if kind != "plain":
            per_file = (med["compare_s"] - base["compare_s"]) / files * 1000
            print(f"         per-file overhead over plain Parquet: {per_file:+.2f} ms ({files} files)")
    print(f"rows per source: {rows_seen['plain'].pop():,}; rounds: {args.rounds}; cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
