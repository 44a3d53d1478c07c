"""Benchmark (issue 13, "the report at scale"): ``kldrift compare`` and ``kldrift run`` on long and wide data.

Usage::

    .venv/bin/python benchmarks/bench_wide.py [--shapes 1m_x50,20k_x1000] [--repeat 3] [--json OUT]

A hand-run benchmark, not a test. Shapes (rows per file x columns; default all):

* ``1m_x50``, ``10m_x50``  ``../shared/bench/make_data.py`` (40 numeric, 10 categorical columns)
* ``20k_x1000``, ``100k_x1000``, ``1m_x500``  ``../shared/bench/make_wide.py`` (90% float64, 10% dictionary)

Data is made once under ``benchmarks/data/<shape>/`` and reused (``1m_x50`` and ``10m_x50`` reuse
``benchmarks/data/1m`` and ``benchmarks/data/10m`` of ``bench_compare.py`` when those exist). Then, per
shape, ``--repeat`` rounds in one sitting, the sides alternating (the order rotates each round), each
side a child process whose wall time and peak RSS come from ``os.wait4``:

* ``baseline``  ``python ../shared/bench/limit_baseline.py DIR --phase kl`` (pyarrow + numpy floor);
* ``compare``   ``kldrift -q compare DIR/reference.parquet DIR/current.parquet --format json``; the
  ``timings`` of its JSON (when it prints them) are kept;
* ``run``       ``kldrift -q run --config CFG --date 2026-01-01 --no-webhook`` with a saved profile
  (``kldrift -q profile`` beforehand, not timed, so the reference is not re-read); the ``timings`` of
  the run's ``manifest.json`` (``profile_s``, ``count_s``, ``report_s``, ... whatever is there) and
  the size of its ``report.html`` are kept. ``other_s`` is the wall time no timing accounts for
  (start-up, imports, scoring, the other files).

Per shape it prints the median wall seconds of each side, its ratio to ``compare`` and to
``baseline``, its peak RSS (max over rounds), the median of each of run's timings and the report
size, and checks the memory/time budget of issue 13:

* peak RSS of ``compare`` and of ``run`` at most 500 MiB on every shape;
* ``run`` wall time at most 1.1x ``compare`` at 1M x 50, at most 1.3x at 1,000 columns.

The machine is noisy: read ratios, not seconds. ``--json`` writes every round's raw figures.
The children use this interpreter and the ``kldrift`` next to it: to benchmark another checkout (others
edit ``kldrift/`` while this runs), run the script with the python of a venv where that checkout is
installed (e.g. ``pip install -c requirements.lock DIR`` of a ``git archive HEAD``). A change to the
benchmarked package's files during a shape is flagged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_compare import job_config  # the same job: a config and a saved profile

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
PY = sys.executable
KLDRIFT = str(Path(PY).with_name("kldrift"))
SIDES = ("baseline", "compare", "run")
RSS_BUDGET_MIB = 500.0
RUN_DATE = "2026-01-01"


@dataclass(frozen=True)
class Shape:
    rows: int
    cols: int
    maker: str  # script in ../shared/bench
    legacy: str | None = None  # benchmarks/data/<legacy> of bench_compare.py, reused when complete
    run_over_compare: float | None = None  # budget: run wall time at most this x compare


SHAPES: dict[str, Shape] = {
    "1m_x50": Shape(1_000_000, 50, "make_data.py", legacy="1m", run_over_compare=1.1),
    "10m_x50": Shape(10_000_000, 50, "make_data.py", legacy="10m"),
    "20k_x1000": Shape(20_000, 1000, "make_wide.py", run_over_compare=1.3),
    "100k_x1000": Shape(100_000, 1000, "make_wide.py", run_over_compare=1.3),
    "1m_x500": Shape(1_000_000, 500, "make_wide.py"),
}


def complete(d: Path) -> bool:
    """Both generators write drift.json after the two Parquet files."""
    return all((d / f).exists() for f in ("reference.parquet", "current.parquet", "drift.json"))


def ensure_data(name: str, data_dir: Path) -> Path:
    shape = SHAPES[name]
    out = data_dir / name
    if complete(out):
        return out
    if shape.legacy and complete(data_dir / shape.legacy):
        return data_dir / shape.legacy
    cmd = [PY, str(SHARED / shape.maker), "--rows", str(shape.rows), "--out", str(out)]
    if shape.maker == "make_wide.py":
        cmd += ["--cols", str(shape.cols)]
    print(f"making {name} in {out} ...", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"  made in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def code_digest(package: Path) -> str:
    """Digest of the benchmarked package's files: others edit kldrift/, so a change during a shape is flagged."""
    h = hashlib.sha256()
    for p in sorted(package.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(package)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def kldrift_package() -> Path:
    """The package folder the ``kldrift`` script imports (-P: as a script, not from the working directory)."""
    code = "import kldrift; print(kldrift.__file__)"
    out = subprocess.run([PY, "-P", "-c", code], capture_output=True, text=True, check=True).stdout
    return Path(out.strip()).parent


def git_head() -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip()


@dataclass
class Timed:
    wall_s: float
    peak_rss_mib: float
    status: int
    stdout: str
    stderr: str


def timed(cmd: list[str], tmp: Path) -> Timed:
    """Wall seconds and peak RSS (MiB, ``wait4``) of one child process; its output goes to files (no pipe stalls)."""
    out_path, err_path = tmp / "stdout", tmp / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: keep Popen from waiting again
    return Timed(
        wall,
        usage.ru_maxrss / 1024.0,
        proc.returncode,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


def last_json(text: str) -> Any:
    """The JSON document a child printed (the whole output, else its last line), or None."""
    for candidate in (text, text.strip().splitlines()[-1] if text.strip() else ""):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def print_round(name: str, i: int, side: str, rec: dict[str, Any]) -> None:
    """One line per timed process: its wall seconds and peak RSS, or why it failed."""
    flag = f"  FAILED ({rec['status']}): {rec['error'][-300:]}" if "error" in rec else ""
    print(f"  {name} round {i + 1}: {side:14s} {rec['wall_s']:8.2f} s {rec['peak_rss_mib']:7.0f} MiB{flag}", flush=True)


def check_unchanged(package: Path, name: str, digest0: str) -> str:
    """The package's digest after a shape; a warning when its sources changed while it ran."""
    digest1 = code_digest(package)
    if digest1 != digest0:
        print(f"  WARNING: kldrift's sources changed during {name} ({digest0} -> {digest1})", flush=True)
    return digest1


def one_round(side: str, cmd: list[str], tmp: Path, out_dir: Path) -> dict[str, Any]:
    started = time.time()
    t = timed(cmd, tmp)
    rec: dict[str, Any] = {"side": side, "wall_s": t.wall_s, "peak_rss_mib": t.peak_rss_mib, "status": t.status}
    if t.status != 0:
        rec["error"] = t.stderr[-2000:]
        return rec
    doc = last_json(t.stdout)
    if side == "baseline" and isinstance(doc, dict):
        rec["timings"] = {k: v for k, v in doc.items() if k.endswith("_s")}
        rec["self_peak_rss_mib"] = doc.get("peak_rss_mib")
    elif side == "compare":
        rec["stdout_bytes"] = len(t.stdout.encode())
        rec["timings"] = doc.get("timings") if isinstance(doc, dict) else None
    elif side == "run":
        manifests = [p for p in out_dir.rglob("manifest.json") if p.stat().st_mtime >= started - 1]
        if not manifests:
            rec["error"] = "no manifest.json written by this run"
            return rec
        manifest = json.loads(manifests[0].read_text())
        rec["timings"] = manifest.get("timings")
        report = manifests[0].with_name("report.html")
        rec["report_bytes"] = report.stat().st_size if report.exists() else None
        rec["manifest"] = str(manifests[0].relative_to(out_dir))
        if manifest.get("errors"):  # e.g. the report could not be rendered: its timing then means nothing
            rec["manifest_errors"] = manifest["errors"]
    return rec


def bench(name: str, data: Path, repeat: int, package: Path) -> dict[str, Any]:
    t_shape = time.perf_counter()
    digest0 = code_digest(package)
    with tempfile.TemporaryDirectory(prefix="bench_wide_") as tmp_s:
        tmp = Path(tmp_s)
        cfg = job_config(data, tmp)
        ref, cur = str(data / "reference.parquet"), str(data / "current.parquet")
        cmds = {
            "baseline": [PY, str(SHARED / "limit_baseline.py"), str(data), "--phase", "kl"],
            "compare": [KLDRIFT, "-q", "compare", ref, cur, "--format", "json"],
            "run": [KLDRIFT, "-q", "run", "--config", str(cfg), "--date", RUN_DATE, "--no-webhook"],
        }
        rounds: list[dict[str, Any]] = []
        for i in range(repeat):
            order = SIDES[i % len(SIDES) :] + SIDES[: i % len(SIDES)]
            for side in order:
                rec = one_round(side, cmds[side], tmp, tmp / "out")
                rec["round"] = i + 1
                rounds.append(rec)
                print_round(name, i, side, rec)
    digest1 = check_unchanged(package, name, digest0)
    return {
        "shape": name,
        "rows": SHAPES[name].rows,
        "cols": SHAPES[name].cols,
        "data": str(data),
        "repeat": repeat,
        "seconds": time.perf_counter() - t_shape,
        "code_digest": [digest0, digest1],
        "rounds": rounds,
        "summary": summarise(name, rounds),
    }


def summarise(name: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ok = {s: [r for r in rounds if r["side"] == s and "error" not in r] for s in SIDES}
    med = {s: statistics.median(r["wall_s"] for r in v) if v else None for s, v in ok.items()}
    peak = {s: max((r["peak_rss_mib"] for r in rounds if r["side"] == s), default=None) for s in SIDES}
    phases: dict[str, float] = {}
    keys = list(dict.fromkeys(k for r in ok["run"] for k in (r.get("timings") or {})))  # manifest order
    for k in keys:
        phases[k] = statistics.median(float(r["timings"][k]) for r in ok["run"] if k in (r.get("timings") or {}))
    if ok["run"]:
        phases["other_s"] = statistics.median(r["wall_s"] - sum((r.get("timings") or {}).values()) for r in ok["run"])
    cmp_keys = list(dict.fromkeys(k for r in ok["compare"] for k in (r.get("timings") or {})))
    cmp_phases = {
        k: statistics.median(float(r["timings"][k]) for r in ok["compare"] if k in (r.get("timings") or {}))
        for k in cmp_keys
    }
    sizes = [r["report_bytes"] for r in ok["run"] if r.get("report_bytes") is not None]
    budget: dict[str, Any] = {}
    for s in ("compare", "run"):
        p = peak[s]
        budget[f"{s}_rss_ok"] = None if p is None else p <= RSS_BUDGET_MIB
    limit = SHAPES[name].run_over_compare
    if limit is not None and med["run"] and med["compare"]:
        budget["run_over_compare"] = med["run"] / med["compare"]
        budget["run_over_compare_limit"] = limit
        budget["run_over_compare_ok"] = med["run"] / med["compare"] <= limit
    return {
        "median_s": med,
        "peak_rss_mib": peak,
        "failures": {s: sum(1 for r in rounds if r["side"] == s and "error" in r) for s in SIDES},
        "run_timings_median_s": phases,
        "compare_timings_median_s": cmp_phases,
        "report_bytes": max(sizes) if sizes else None,
        "run_manifest_errors": sorted(
            {f"{k}: {v}" for r in ok["run"] for k, v in (r.get("manifest_errors") or {}).items()}
        ),
        "budget": budget,
    }


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def table(res: dict[str, Any]) -> str:
    s = res["summary"]
    med, peak = s["median_s"], s["peak_rss_mib"]
    lines = [
        f"{res['shape']}: {res['rows']:,} rows x {res['cols']} columns per file, {res['repeat']} round(s), "
        f"{res['seconds']:.0f} s in all ({res['data']})",
        f"  {'side':9s} {'median s':>9s} {'x compare':>10s} {'x baseline':>11s} {'peak MiB':>9s}",
    ]
    for side in SIDES:
        m = med[side]
        fails = s["failures"][side]
        lines.append(
            f"  {side:9s} {'-' if m is None else f'{m:.2f}':>9s} {ratio(m, med['compare']):>10s} "
            f"{ratio(m, med['baseline']):>11s} {'-' if peak[side] is None else f'{peak[side]:.0f}':>9s}"
            + (f"  ({fails} failed)" if fails else "")
        )
    if s["run_timings_median_s"]:
        ph = " | ".join(f"{k} {v:.2f}" for k, v in s["run_timings_median_s"].items())
        size = s["report_bytes"]
        size_s = "-" if size is None else f"{size:,} bytes ({size / 2**20:.1f} MiB)"
        lines.append(f"  run phases (median s): {ph}; report.html {size_s}")
    if s["compare_timings_median_s"]:
        ph = " | ".join(f"{k} {v:.2f}" for k, v in s["compare_timings_median_s"].items())
        lines.append(f"  compare timings (median s): {ph}")
    else:
        lines.append("  compare timings: none in its JSON")
    for err in s["run_manifest_errors"]:
        lines.append(f"  WARNING: run's manifest has an error: {err[:200]}")
    b = s["budget"]
    checks = []
    for side in ("compare", "run"):
        ok = b[f"{side}_rss_ok"]
        if ok is not None:
            checks.append(f"{side} RSS <= {RSS_BUDGET_MIB:.0f} MiB {'ok' if ok else 'OVER'}")
    if "run_over_compare" in b:
        verdict = "ok" if b["run_over_compare_ok"] else "OVER"
        checks.append(f"run/compare {b['run_over_compare']:.2f} <= {b['run_over_compare_limit']} {verdict}")
    lines.append("  budget: " + "; ".join(checks))
    if res["code_digest"][0] != res["code_digest"][1]:
        lines.append("  WARNING: kldrift's sources changed while this shape ran")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of {', '.join(SHAPES)}")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per shape (1 is fine for the biggest)")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / "data")
    ap.add_argument("--json", type=Path, help="also write all raw results here")
    a = ap.parse_args()
    names = [n.strip() for n in a.shapes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        ap.error(f"unknown shape(s) {', '.join(unknown)}; known: {', '.join(SHAPES)}")
    results = []
    package = kldrift_package()
    meta = {
        "git_head": git_head(),
        "python": PY,
        "kldrift": str(package),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "argv": sys.argv[1:],
    }
    print(f"kldrift from {package} (git HEAD of {ROOT}: {meta['git_head']})", flush=True)
    for name in names:
        data = ensure_data(name, a.data_dir)
        results.append(bench(name, data, a.repeat, package))
        print(table(results[-1]), flush=True)
        if a.json:  # after every shape: a long sitting keeps what it has
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps({"meta": meta, "shapes": results}, indent=1))
    print()
    for res in results:
        print(table(res))


if __name__ == "__main__":
    main()
