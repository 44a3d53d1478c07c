"""Benchmark (issue 14, baselines): ``kldrift run`` with a rolling 28-interval baseline against a fixed reference.

Usage::

    .venv/bin/python benchmarks/bench_baseline.py [--shapes 100k_x50,20k_x1000] [--repeat 5] [--json OUT]

The contract: a run with ``baseline: {window: rolling, intervals: 28}`` costs at most 1.2x a run
compared with the reference, once the earlier days have been scored (their counts then come from
their saved ``metrics.parquet``, not from their data).

Data, made once under ``benchmarks/data/bench_baseline/<shape>/`` and reused: a reference file and 30
daily partitions ``current/dt=2026-01-01/`` .. ``dt=2026-01-30/``, each an independent draw:

* ``100k_x50``   100,000 rows x 50 columns per file, ``make_file`` of ``../shared/bench/make_data.py``
  (40 numeric, 10 dictionary columns; the last day is its drifted ``current`` file);
* ``20k_x1000``  20,000 rows x 1,000 columns, the shape of ``../shared/bench/make_wide.py`` (90 %
  float64 normals, 10 % dictionary strings, a seed per day; the last day has 2 % of columns shifted).

Per shape, one job (dataset, reference, ``current: .../dt={ds}/``, ``alerts: {fail_on: never}``) in
four configs sharing one output folder and profile: ``fixed`` (the default), ``rolling28``,
``rolling28+cal`` (``thresholds.calibrate: {warn_sd: 3, critical_sd: 5}``) and ``pipeline-health``
(the preset: quarantine over a lookback of 56, calibrated thresholds, the page rule; issue 19's 1.2x).
Set-up, not timed: the profile is fitted and days 01 .. 29 are scored with ``fixed`` (in this process),
so the 28 days of the window have saved metrics. A fifth config, ``cold``, is ``rolling28`` writing to an output
folder where only the profile exists: all 28 intervals are read from their data (the first run of a
new window, or a backfill out of order).

Then ``--repeat`` rounds in one sitting, the order rotating each round: ``kldrift -q run --config
CFG --date 2026-01-30 --no-webhook`` as a child process, wall time and peak RSS from ``os.wait4``,
plus the run's ``manifest.json`` timings (``score_s`` holds choosing the baseline and calibrating).
It prints medians, the ratios to ``fixed`` and the verdict of the 1.2x contract for ``rolling28``.
Before timing it checks that the warm configs read no earlier data and the cold one reads all 28
(``kldrift.baseline.choose_baseline(...).read``). The machine is noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_wide import check_unchanged, code_digest, git_head, kldrift_package, one_round, print_round

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
PY = sys.executable
KLDRIFT = str(Path(PY).with_name("kldrift"))
DAYS = [f"2026-01-{d:02d}" for d in range(1, 31)]
TARGET = DAYS[-1]
SIDES = ("fixed", "rolling28", "rolling28+cal", "pipeline-health", "cold")
CONTRACT = 1.2
EXTRA = {
    "fixed": "",
    "rolling28": "baseline: {window: rolling, intervals: 28}\n",
    "rolling28+cal": "baseline: {window: rolling, intervals: 28}\n"
    "thresholds: {warn: 0.1, critical: 0.25, calibrate: {warn_sd: 3, critical_sd: 5}}\n",
    "pipeline-health": "preset: pipeline-health\n",  # quarantine, lookback 56, calibrated, the page rule
    "cold": "baseline: {window: rolling, intervals: 28}\n",
}


def make_narrow(path: Path, rows: int, day: int, drifted: bool) -> None:
    if str(SHARED) not in sys.path:
        sys.path.insert(0, str(SHARED))
    make_data = importlib.import_module("make_data")
    make_data.make_file(str(path), rows, 20240601 + day, drifted, 131_072)


def make_wide(path: Path, rows: int, day: int, drifted: bool, cols: int = 1000) -> None:
    """``make_wide.py``'s columns (it has no function to import and one seed per side), a seed per day."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng([7, day])
    shifted = {f"c{i:04d}" for i in range(0, cols, 50)} if drifted else set()
    out: dict[str, Any] = {}
    for i in range(cols):
        name = f"c{i:04d}"
        if i % 10 == 9:
            k = 5 + i % 40
            p = np.arange(1, k + 1, dtype=float) ** -1.1
            p /= p.sum()
            idx = rng.choice(k, rows, p=p[::-1] if name in shifted else p).astype(np.int32)
            out[name] = pa.DictionaryArray.from_arrays(pa.array(idx), pa.array([f"v{j}" for j in range(k)]))
        else:
            out[name] = pa.array(rng.normal(0.5 if name in shifted else 0.0, 1.0, rows))
    pq.write_table(pa.table(out), path, row_group_size=65536)


@dataclass(frozen=True)
class Shape:
    rows: int
    cols: int
    make: Callable[[Path, int, int, bool], None]


SHAPES = {"100k_x50": Shape(100_000, 50, make_narrow), "20k_x1000": Shape(20_000, 1000, make_wide)}


def ensure_data(name: str, data_dir: Path) -> Path:
    shape = SHAPES[name]
    base = data_dir / name
    if (base / "done").exists():
        return base
    print(f"making {name}: reference + {len(DAYS)} days in {base} ...", flush=True)
    t0 = time.perf_counter()
    base.mkdir(parents=True, exist_ok=True)
    shape.make(base / "reference.parquet", shape.rows, 0, False)
    for i, d in enumerate(DAYS, start=1):
        (base / "current" / f"dt={d}").mkdir(parents=True, exist_ok=True)
        shape.make(base / "current" / f"dt={d}" / "part-000.parquet", shape.rows, i, d == TARGET)
    (base / "done").write_text("")
    print(f"  made in {time.perf_counter() - t0:.0f} s", flush=True)
    return base


def write_configs(data: Path, tmp: Path) -> dict[str, Path]:
    out = {}
    for side in SIDES:
        folder = tmp / ("out-cold" if side == "cold" else "out-warm")
        cfg = tmp / f"{side.replace('+', '-')}.yaml"
        cfg.write_text(
            f"dataset: bench\nreference: {data / 'reference.parquet'}\ncurrent: {data / 'current'}/dt={{ds}}/\n"
            f"output: {folder}/\nalerts: {{fail_on: never}}\n" + EXTRA[side]
        )
        out[side] = cfg
    return out


def set_up(configs: dict[str, Path]) -> dict[str, int]:
    """Fit both profiles, score days 01 .. 29 into the warm folder; how many intervals each side would read."""
    from kldrift.baseline import choose_baseline
    from kldrift.config import load_config
    from kldrift.interval import Interval
    from kldrift.pipeline import load_or_fit_profile, run

    t0 = time.perf_counter()
    fixed = load_config(configs["fixed"])
    for d in DAYS[:-1]:
        run(fixed, Interval.for_date(d), deliver=False)
    load_or_fit_profile(load_config(configs["cold"]))
    print(f"  set-up (profiles, {len(DAYS) - 1} days scored) {time.perf_counter() - t0:.0f} s", flush=True)
    reads = {}
    for side, path in configs.items():
        config = load_config(path)
        b = choose_baseline(config, Interval.for_date(TARGET), load_or_fit_profile(config))
        reads[side] = len(b.read)
        print(f"  {side:14s} baseline {b.info.description}; intervals read from data: {len(b.read)}", flush=True)
    return reads


def bench(name: str, data: Path, repeat: int, package: Path) -> dict[str, Any]:
    t_shape = time.perf_counter()
    digest0 = code_digest(package)
    with tempfile.TemporaryDirectory(prefix="bench_baseline_") as tmp_s:
        tmp = Path(tmp_s)
        configs = write_configs(data, tmp)
        reads = set_up(configs)
        rounds: list[dict[str, Any]] = []
        for i in range(repeat):
            order = SIDES[i % len(SIDES) :] + SIDES[: i % len(SIDES)]
            for side in order:
                cmd = [KLDRIFT, "-q", "run", "--config", str(configs[side]), "--date", TARGET, "--no-webhook"]
                out_dir = tmp / ("out-cold" if side == "cold" else "out-warm")
                rec = one_round("run", cmd, tmp, out_dir)
                rec.update(side=side, round=i + 1)
                rounds.append(rec)
                print_round(name, i, side, rec)
    digest1 = check_unchanged(package, name, digest0)
    return {
        "shape": name,
        "rows": SHAPES[name].rows,
        "cols": SHAPES[name].cols,
        "repeat": repeat,
        "seconds": time.perf_counter() - t_shape,
        "code_digest": [digest0, digest1],
        "intervals_read": reads,
        "rounds": rounds,
    }


def summarise(res: dict[str, Any]) -> list[str]:
    ok = {s: [r for r in res["rounds"] if r["side"] == s and "error" not in r] for s in SIDES}
    med = {s: statistics.median(r["wall_s"] for r in v) if v else None for s, v in ok.items()}
    fixed = med["fixed"]
    lines = [
        f"{res['shape']}: {res['rows']:,} rows x {res['cols']} columns per day, {res['repeat']} rounds, "
        f"{res['seconds']:.0f} s in all",
        f"  {'side':14s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'x fixed':>8s} {'score_s':>8s} "
        f"{'count_s':>8s} {'report_s':>8s} {'peak MiB':>9s} {'read':>5s}",
    ]
    for side in SIDES:
        v = ok[side]
        m = med[side]
        if not v or m is None:
            lines.append(f"  {side:14s} all failed")
            continue
        walls = [r["wall_s"] for r in v]
        phase = {
            k: statistics.median(float((r.get("timings") or {}).get(k, float("nan"))) for r in v)
            for k in ("score_s", "count_s", "report_s")
        }
        lines.append(
            f"  {side:14s} {m:9.2f} {min(walls):7.2f} {max(walls):7.2f} {m / fixed if fixed else float('nan'):8.2f} "
            f"{phase['score_s']:8.2f} {phase['count_s']:8.2f} {phase['report_s']:8.2f} "
            f"{max(r['peak_rss_mib'] for r in v):9.0f} {res['intervals_read'][side]:5d}"
        )
    for side in ("rolling28", "pipeline-health"):
        if fixed and med[side]:
            r = med[side] / fixed
            lines.append(f"  contract: {side} / fixed = {r:.2f} <= {CONTRACT} {'ok' if r <= CONTRACT else 'OVER'}")
    if res["code_digest"][0] != res["code_digest"][1]:
        lines.append("  WARNING: kldrift's sources changed while this shape ran")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of {', '.join(SHAPES)}")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / "data" / "bench_baseline")
    ap.add_argument("--json", type=Path, help="also write all raw results here")
    a = ap.parse_args()
    names = [n.strip() for n in a.shapes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        ap.error(f"unknown shape(s) {', '.join(unknown)}; known: {', '.join(SHAPES)}")
    package = kldrift_package()
    meta = {"git_head": git_head(), "python": PY, "kldrift": str(package), "started": time.strftime("%F %T")}
    print(f"kldrift from {package} (git HEAD of {ROOT}: {meta['git_head']}), {os.cpu_count()} cores", flush=True)
    results = []
    for name in names:
        data = ensure_data(name, a.data_dir)
        results.append(bench(name, data, a.repeat, package))
        print("\n".join(summarise(results[-1])), flush=True)
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps({"meta": meta, "shapes": results}, indent=1))
    print()
    for res in results:
        print("\n".join(summarise(res)))


if __name__ == "__main__":
    main()
