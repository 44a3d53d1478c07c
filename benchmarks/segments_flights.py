"""Segments on real data: nycflights13 by origin (3 airports) and by carrier (16), a day at a time, for a year.

Usage::

    .venv/bin/python benchmarks/segments_flights.py [--first 2013-02-01] [--last 2013-12-31]

Reuses ``benchmarks/real_data.py`` (imported, not copied): the ``nycflights13`` package, January 2013
as the reference, one ``dt=YYYY-MM-DD/`` partition per later day (under
``benchmarks/data/segments_flights/``), and its labels, computed from the flights themselves before any
run: a day (or an airport's day) is *disrupted* when at least 5 % of its flights were cancelled (no
departure time) or its mean departure delay reached 45 minutes, *calm* below 1 % and 15 minutes,
*normal* between. Three configs, each ``real_data.py``'s six lines plus:

* ``whole``    nothing (the whole table, as today);
* ``origin``   ``segments: {columns: [origin], max: 50, min_rows: 200}``;
* ``carrier``  ``segments: {columns: [carrier], max: 50, min_rows: 50}`` (a carrier flies 20 to 170
  flights a day from New York: 200 rows would leave most of them untested);
* ``whole+window``, ``origin+window``, ``carrier+window``: the first three with the 28 days before
  each day as the baseline and thresholds calibrated on their spread (per segment with segments), the
  config that kept calm days quiet in ``baseline_study.py``.

Per config it prints the share of days whose drift rows alert (whole table; any segment), per day label,
and the airport-days that were disrupted on a day the whole table was not: whether the airport's segment
alerted, and whether the whole table did. Per-day records go to
``benchmarks/data/segments_flights/out/<config>/days.jsonl``. Figures, not assertions: run by hand.
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

DATA = real_data.ROOT / "data" / "segments_flights"
ORIGIN = "segments: {columns: [origin], max: 50, min_rows: 200}\n"
WINDOW = (
    "baseline: {window: rolling, intervals: 28}\n"
    "thresholds: {warn: 0.1, critical: 0.25, calibrate: {warn_sd: 3, critical_sd: 5}}\n"
)
CONFIGS = {
    "whole": "",
    "origin": ORIGIN,
    "carrier": "segments: {columns: [carrier], max: 50, min_rows: 50}\n",
    "whole+window": WINDOW,
    "origin+window": ORIGIN + WINDOW,
    "carrier+window": "segments: {columns: [carrier], max: 50, min_rows: 50}\n" + WINDOW,
}


def label(cancelled: float, delay: float) -> str:
    if cancelled >= 0.05 or delay >= 45:
        return "disrupted"
    return "calm" if cancelled < 0.01 and delay < 15 else "normal"


def airport_labels(days: list[str]) -> dict[tuple[str, str], tuple[str, float, float]]:
    """(day, airport) → label, cancelled share, mean delay: from the day's flights of that airport."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = {}
    for d in days:
        t = pq.read_table(DATA / "flights" / "current" / f"dt={d}", columns=["origin", "dep_time", "dep_delay"])
        for airport in ("EWR", "JFK", "LGA"):
            part = t.filter(pc.equal(t.column("origin"), airport))
            cancelled = part.column("dep_time").null_count / max(1, part.num_rows)
            delay = pc.mean(part.column("dep_delay")).as_py() or 0.0
            out[d, airport] = (label(cancelled, delay), cancelled, delay)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", default="2013-02-01")
    parser.add_argument("--last", default="2013-12-31")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    first, last = dt.date.fromisoformat(args.first), dt.date.fromisoformat(args.last)
    n_days = (last - first).days + 1
    real_data.DATA = DATA  # the package is shared; the days are this study's
    (DATA / "package").mkdir(parents=True, exist_ok=True)
    for f in (real_data.ROOT / "data" / "real" / "package").glob("nycflights13-*"):
        if not (DATA / "package" / f.name).exists():
            shutil.copy(f, DATA / "package" / f.name)
    if not (DATA / "flights" / "current" / f"dt={last}").exists():  # written for other days: write these
        shutil.rmtree(DATA / "flights", ignore_errors=True)
    real_data.write("flights", first, n_days)
    day_labels = real_data.labels(first, n_days)
    days = list(day_labels)
    airports = airport_labels(days)

    from kldrift.config import load_config
    from kldrift.interval import Interval
    from kldrift.pipeline import run

    for name in args.configs.split(","):
        out = DATA / "out" / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        path = DATA / f"{name}.yaml"
        base = real_data.CONFIG.format(table="flights").replace("output: out/", f"output: out/{name}/")
        if "thresholds:" in CONFIGS[name]:  # the config's own thresholds replace the plain ones
            base = "".join(line + "\n" for line in base.splitlines() if not line.startswith("thresholds:"))
        path.write_text(base + CONFIGS[name])
        config = load_config(path)
        records: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        for d in days:
            report = run(config, Interval.for_date(d), deliver=False).report
            seg = report.segments
            by_segment: dict[str, list[str]] = {}
            volume: list[str] = []
            if seg is not None:
                for row in seg.alerts:
                    assert row.segment is not None
                    mark = "!" if row.severity == "critical" else "~"
                    by_segment.setdefault(row.segment.label, []).append(f"{row.feature}{mark}")
                volume = [c.segment.label for c in seg.checks if c.severity.alerting and c.segment is not None]
            records.append(
                {
                    "day": d,
                    "label": day_labels[d][0],
                    "whole": [f"{f.feature}{'!' if f.severity == 'critical' else '~'}" for f in report.alerts],
                    "segments": by_segment,
                    "segment_volume": volume,
                    "insufficient": [s.segment.label for s in seg.summaries if s.worst == "insufficient_data"]
                    if seg
                    else [],
                }
            )
        seconds = time.perf_counter() - t0
        with open(out / "days.jsonl", "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in records)
        summarize(name, records, airports, seconds)


def summarize(name: str, records: list[dict[str, Any]], airports: dict[tuple[str, str], Any], seconds: float) -> None:
    print(f"\n== {name}: {len(records)} days, {seconds:.0f} s")
    totals: Counter[str] = Counter()
    whole: Counter[str] = Counter()
    segs: Counter[str] = Counter()
    for r in records:
        totals[r["label"]] += 1
        whole[r["label"]] += bool(r["whole"])
        segs[r["label"]] += bool(r["segments"])
    for lab in ("calm", "normal", "disrupted"):
        n = totals[lab]
        if n:
            print(
                f"  {lab:9s} {n:3d} days: whole table drifts on {whole[lab]} ({whole[lab] / n:.0%}), "
                f"a segment drifts on {segs[lab]} ({segs[lab] / n:.0%})"
            )
    often = Counter(s for r in records for s in r["segments"])
    print(f"  segments drifting most often: {', '.join(f'{s} {n}' for s, n in often.most_common(6)) or '-'}")
    if name == "carrier":
        small = Counter(s for r in records for s in r["insufficient"])
        print(f"  segments under min_rows most often: {', '.join(f'{s} {n}' for s, n in small.most_common(6)) or '-'}")
    local = [
        (r, a)
        for r in records
        for a in ("EWR", "JFK", "LGA")
        if airports[r["day"], a][0] == "disrupted" and r["label"] != "disrupted"
    ]
    if local:
        print(f"  airport-days disrupted on a day the whole table was not: {len(local)}")
        for r, a in local:
            lab, cancelled, delay = airports[r["day"], a]
            mine = r["segments"].get(f"origin={a}", [])
            vol = f"origin={a}" in r["segment_volume"]
            print(
                f"    {r['day']} {a}: cancelled {cancelled:5.1%} delay {delay:5.1f}; whole table: "
                f"{' '.join(r['whole']) or 'quiet'}; {a}'s segment: {' '.join(mine) or ('volume' if vol else '-')}"
            )


if __name__ == "__main__":
    main()
