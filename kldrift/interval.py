"""A data interval: the period one run of a job scores, ``[start, end)``.

Its ``{ds}``, ``{ds_nodash}``, ``{start}`` and ``{end}`` render a job's
``current`` path (``{day}`` and ``{day_nodash}``: each day it covers, one path
per day); :func:`kldrift.runstore.run_key` names its run folder. The
messages name the values as ``date``, ``start`` and ``end``; the command line
calls them ``--date``, ``--start`` and ``--end``.
"""

from __future__ import annotations

import datetime as dt
import string

from kldrift.errors import ConfigError, did_you_mean

__all__ = ["TEMPLATE_FIELDS", "Interval", "check_template", "parse_date"]

TEMPLATE_FIELDS = ("ds", "ds_nodash", "start", "end", "day", "day_nodash")
"""The placeholders a path template may hold: the interval's date, without dashes, its start and end, and
each day it covers (rendered once per day)."""


class Interval:
    """A data interval [start, end); ``{ds}`` is the start's date."""

    __slots__ = ("end", "start")

    def __init__(self, start: dt.datetime, end: dt.datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=dt.UTC)
        if end <= start:
            msg = f"interval end {end.isoformat()} must be after its start {start.isoformat()}"
            raise ConfigError(msg)
        self.start = start
        self.end = end

    @classmethod
    def for_date(cls, date: str | dt.date) -> Interval:
        day = parse_date(date) if isinstance(date, str) else date
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        return cls(start, start + dt.timedelta(days=1))

    @classmethod
    def parse(cls, start: str, end: str) -> Interval:
        return cls(_parse_ts(start, "start"), _parse_ts(end, "end"))

    @property
    def ds(self) -> str:
        return self.start.date().isoformat()

    def days(self) -> list[Interval]:
        """The calendar days the interval covers, each as an interval (in the interval's time zone)."""
        out: list[Interval] = []
        day = self.start.date()
        while True:
            start = dt.datetime(day.year, day.month, day.day, tzinfo=self.start.tzinfo)
            if start >= self.end:
                return out
            day += dt.timedelta(days=1)
            end = dt.datetime(day.year, day.month, day.day, tzinfo=self.start.tzinfo)
            out.append(Interval(max(start, self.start), min(end, self.end)))

    def fields(self) -> dict[str, str]:
        return {
            "ds": self.ds,
            "ds_nodash": self.ds.replace("-", ""),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "day": self.ds,
            "day_nodash": self.ds.replace("-", ""),
        }

    def render(self, template: str) -> str:
        return template.format(**self.fields())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Interval) and (self.start, self.end) == (other.start, other.end)

    def __hash__(self) -> int:
        return hash((self.start, self.end))

    def __repr__(self) -> str:
        return f"Interval({self.start.isoformat()}, {self.end.isoformat()})"


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        msg = f"date: expected a date as YYYY-MM-DD, got {value!r}"
        raise ConfigError(msg) from None


def _parse_ts(value: str, name: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        msg = f"{name}: expected an ISO date or timestamp (2026-11-23 or 2026-11-23T06:00:00+00:00), got {value!r}"
        raise ConfigError(msg) from None


def check_template(value: str) -> None:
    """Raise ValueError naming the bad placeholder of a ``{ds}``-style path template."""
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:
        msg = f"bad template {value!r}: {exc}; use {{ds}}, {{ds_nodash}}, {{start}}, {{end}}, {{day}} or {{day_nodash}}"
        raise ValueError(msg) from None
    for _, field, spec, conv in parts:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            msg = (
                # cutoff 0.5: {dt} (the hive partition's name) is the usual slip for {ds}
                f"unknown placeholder {{{field}}} in {value!r}{did_you_mean(field, TEMPLATE_FIELDS, cutoff=0.5)}; "
                f"use one of {{ds}}, {{ds_nodash}}, {{start}}, {{end}}, {{day}}, {{day_nodash}}"
            )
            raise ValueError(msg)
        if spec or conv:
            msg = f"placeholder {{{field}}} in {value!r} takes no format spec or conversion"
            raise ValueError(msg)
