"""A realistic demo data set: taxi trips, a reference month and seven daily partitions.

The days end yesterday (UTC) unless a first day is given, so a daily DAG over
them, switched on today with ``catchup`` off, scores a day that is there.
Drift starts on day 5 (``drift_day``): fares rise, wallets replace cash,
a new pickup zone appears and ratings go missing more often. Days 1–4 are
drawn from the reference distribution, so they must stay quiet. Everything
is a pure function of the seed.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kldrift.atomic import write_text

__all__ = ["DEMO_CONFIG", "DRIFTED", "make_demo"]

ZONES = [f"zone_{i:02d}" for i in range(30)]
PAYMENTS = ["card", "cash", "wallet", "voucher"]
DRIFTED = ("fare", "payment_type", "pickup_zone", "rating")
"""Features changed from the drift day on (what a run should alert on)."""

DEMO_CONFIG = """\
# kldrift demo job: written by `kldrift demo-data`; paths are relative to this file.
dataset: {dataset}
reference: reference/
current: current/dt={{ds}}/
output: {output}
schedule: "@daily"
start_date: {start}
tags: [kldrift, demo]
features: {{exclude: [pickup_at]}}       # event time always "drifts" day to day
doc: |
  Demo drift job over synthetic taxi trips. Drift starts on {drift_date}.
thresholds: {{warn: 0.1, critical: 0.25}}
alerts: {{fail_on: never}}
"""


def _trips(rng: np.random.Generator, n: int, start: dt.datetime, drift: bool, days: float = 1.0) -> pa.Table:
    distance = rng.gamma(2.0, 2.5, n)
    fare: np.ndarray[Any, Any] = 3.0 + 1.8 * distance + rng.normal(0, 1.5, n)
    if drift:
        fare = fare * 1.6 + 2.0
    fare = np.round(np.maximum(fare, 2.5), 2)
    zone_p = 1.0 / np.arange(1, len(ZONES) + 1) ** 0.9
    zones = list(ZONES)
    if drift:
        zones.append("zone_new")
        zone_p = np.append(zone_p / zone_p.sum() * 0.8, 0.2)
    zone_p = zone_p / zone_p.sum()
    pay_p = np.array([0.55, 0.30, 0.10, 0.05]) if not drift else np.array([0.45, 0.05, 0.45, 0.05])
    rating = np.round(np.clip(rng.normal(4.5, 0.4, n), 1.0, 5.0), 1)
    rating_null = rng.random(n) < (0.05 if not drift else 0.45)
    seconds = rng.integers(0, int(86_400 * days), n)
    pickup = np.datetime64(start.replace(tzinfo=None), "s") + seconds.astype("timedelta64[s]")
    return pa.table(
        {
            "pickup_at": pa.array(np.sort(pickup).astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "distance_km": np.round(distance, 3),
            "fare": fare,
            "passengers": rng.choice([1, 2, 3, 4, 5, 6], n, p=[0.62, 0.2, 0.08, 0.05, 0.03, 0.02]),
            "payment_type": pa.array(rng.choice(PAYMENTS, n, p=pay_p)).dictionary_encode(),
            "pickup_zone": pa.array(np.array(zones)[rng.choice(len(zones), n, p=zone_p)]),
            "rating": pa.array(rating, mask=rating_null),
            "tip_pct": np.where(rng.random(n) < 0.4, 0.0, np.round(rng.gamma(2.0, 6.0, n), 1)),
        }
    )


def make_demo(
    out: str,
    *,
    days: int = 7,
    first_day: dt.date | None = None,
    drift_day: int = 5,
    reference_rows: int = 60_000,
    rows_per_day: int = 6_000,
    seed: int = 7,
    dataset: str = "demo",
    output: str = "out/",
) -> dict[str, Any]:
    """Write the demo set under ``out`` and its config ``out/<dataset>.yaml``; returns what was written.

    ``first_day`` is the first daily partition; by default ``days`` before today
    (UTC), so the last one is yesterday's.
    """
    if first_day is None:
        first_day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    ref_dir = os.path.join(out, "reference")
    os.makedirs(ref_dir, exist_ok=True)
    # The reference: the ten days before the first day, as many trips a day as the daily partitions hold,
    # in three files (as real pipelines write), so its rows per day give the expected volume of a day.
    ref_days = max(1, round(reference_rows / rows_per_day))
    ref_start = dt.datetime.combine(first_day - dt.timedelta(days=ref_days), dt.time(), dt.UTC)
    for part in range(3):
        rng = np.random.default_rng([seed, 0, part])
        offset = dt.timedelta(days=ref_days * part / 3)
        table = _trips(rng, reference_rows // 3, ref_start + offset, drift=False, days=ref_days / 3)
        pq.write_table(table, os.path.join(ref_dir, f"part-{part:03d}.parquet"), row_group_size=8192)
    dates = []
    for d in range(days):
        day = first_day + dt.timedelta(days=d)
        folder = os.path.join(out, "current", f"dt={day.isoformat()}")
        os.makedirs(folder, exist_ok=True)
        rng = np.random.default_rng([seed, 1, d])
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        table = _trips(rng, rows_per_day, start, drift=d + 1 >= drift_day)
        pq.write_table(table, os.path.join(folder, "part-000.parquet"), row_group_size=8192)
        dates.append(day.isoformat())
    drift_date = (first_day + dt.timedelta(days=drift_day - 1)).isoformat()
    config = os.path.join(out, f"{dataset}.yaml")
    write_text(
        config,
        DEMO_CONFIG.format(dataset=dataset, output=output, start=first_day.isoformat(), drift_date=drift_date),
    )
    return {"config": config, "dates": dates, "drift_from": drift_date, "drifted": list(DRIFTED)}
