"""A job's schedule: which data interval a date means, and the intervals before one.

The schedule is the config's cron expression (``@daily``, ``@monthly``,
``0 6 * * *``) in its ``timezone``, read as Airflow's
``CronDataIntervalTimetable`` reads it: one data interval from each tick to
the next. So ``kldrift run --date 2026-07-01`` of a monthly job scores July, and
a baseline's rolling window steps back one scheduled interval at a time.

>>> s = Schedule("@monthly")
>>> s.for_date("2026-07-15")
Interval(2026-07-01T00:00:00+00:00, 2026-08-01T00:00:00+00:00)
>>> s.previous(s.for_date("2026-07-15"), 2)
Interval(2026-05-01T00:00:00+00:00, 2026-06-01T00:00:00+00:00)
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

from kldrift.errors import ConfigError
from kldrift.interval import Interval, parse_date

__all__ = ["Schedule"]

_DAY = dt.timedelta(days=1)


def _midnight_after(midnight: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The next day's midnight in ``tz`` (23 or 25 hours later on the days clocks change)."""
    nxt = midnight.date() + _DAY
    return dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)


class Schedule:
    """Data intervals of a cron schedule in a time zone (their start and end in that zone)."""

    def __init__(self, expression: str = "@daily", timezone: str = "UTC") -> None:
        from croniter import croniter

        if not croniter.is_valid(expression):
            msg = f"schedule: {expression!r} is not a cron expression (say @daily, @monthly or '0 6 * * *')"
            raise ConfigError(msg)
        try:
            self.tz = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            msg = f"timezone: unknown time zone {timezone!r}; use an IANA name such as UTC or Europe/Paris"
            raise ConfigError(msg) from None
        self.expression = expression

    def _next(self, after: dt.datetime) -> dt.datetime:
        from croniter import croniter

        return croniter(self.expression, after.astimezone(self.tz)).get_next(dt.datetime)

    def _prev(self, before: dt.datetime) -> dt.datetime:
        from croniter import croniter

        return croniter(self.expression, before.astimezone(self.tz)).get_prev(dt.datetime)

    @functools.cached_property
    def sub_daily(self) -> bool:
        """Whether ticks come more often than once a day (an hourly job, say)."""
        first = self._next(dt.datetime(2026, 1, 5, tzinfo=self.tz))
        return self._next(first) - first < _DAY

    def for_date(self, date: str | dt.date) -> Interval:
        """The data interval a date means: the one starting that day, else the one holding it.

        A job that runs more often than daily scores the whole day (midnight to
        midnight in its time zone) for a date; ``--start``/``--end`` give one of its intervals.
        """
        day = parse_date(date) if isinstance(date, str) else date
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=self.tz)
        if self.sub_daily:
            return Interval(midnight, _midnight_after(midnight, self.tz))
        tick = self._next(midnight - dt.timedelta(microseconds=1))  # the first tick at or after midnight
        start = tick if tick < _midnight_after(midnight, self.tz) else self._prev(midnight)
        return Interval(start, self._next(start))

    def is_tick_interval(self, interval: Interval) -> bool:
        """Whether ``interval`` runs from one tick of the schedule to the next."""
        start = self._next(interval.start - dt.timedelta(microseconds=1))
        return start == interval.start and self._next(start) == interval.end

    def previous(self, interval: Interval, steps: int = 1) -> Interval:
        """The data interval ``steps`` intervals before ``interval``.

        Scheduled intervals step back tick by tick (a month is a month, whatever
        its length); any other interval (a day of an hourly job, ``--start``/``--end``)
        steps back by its own length.
        """
        if steps < 1:
            msg = f"steps must be at least 1, got {steps}"
            raise ValueError(msg)
        if not self.is_tick_interval(interval):
            length = interval.end - interval.start
            return Interval(interval.start - steps * length, interval.end - steps * length)
        start = interval.start
        for _ in range(steps):
            start = self._prev(start)
        return Interval(start, self._next(start))

    def before(self, interval: Interval, count: int, *, step: int = 1) -> list[Interval]:
        """The ``count`` data intervals ``step``, ``2 * step``, ... intervals before ``interval``, newest
        first: ``[previous(interval, step), previous(interval, 2 * step), ...]`` in one walk back.

        >>> s = Schedule("@monthly")
        >>> [i.ds for i in s.before(s.for_date("2026-07-15"), 3)]
        ['2026-06-01', '2026-05-01', '2026-04-01']
        """
        from croniter import croniter

        if count < 1 or step < 1:
            msg = f"count and step must be at least 1, got {count} and {step}"
            raise ValueError(msg)
        if not self.is_tick_interval(interval):
            return [self.previous(interval, k * step) for k in range(1, count + 1)]
        walk = croniter(self.expression, interval.start.astimezone(self.tz))
        ticks = [interval.start, *(walk.get_prev(dt.datetime) for _ in range(count * step))]
        return [Interval(ticks[k * step], ticks[k * step - 1]) for k in range(1, count + 1)]

    def following(self, interval: Interval) -> Interval:
        """The data interval right after ``interval`` (by the schedule, or by its own length)."""
        if not self.is_tick_interval(interval):
            length = interval.end - interval.start
            return Interval(interval.start + length, interval.end + length)
        return Interval(interval.end, self._next(interval.end))
