"""Severities: what each row of a run says, how urgent it is, and whether it reaches a level.

One :class:`Severity` type for every place that orders or compares them (the
report's sort, the run's worst, the page rule, ``fail_on``, the webhook's
``on``), so that "the run reached critical" means the same thing in the CLI,
Airflow and the webhook. The order is defined once, by the enum's members.

>>> Severity("warn").reaches("critical")
False
>>> worst(["ok", "warn", "insufficient_data"])
<Severity.WARN: 'warn'>
>>> fail_on_level("warning", key="alerts.fail_on")
Traceback (most recent call last):
...
kldrift.errors.ConfigError: alerts.fail_on: expected never, warn or critical, got 'warning'
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Literal, get_args

from kldrift.errors import ConfigError

__all__ = ["FAIL_ON", "FailOn", "RowLevel", "Severity", "fail_on_level", "worst"]

FailOn = Literal["never", "warn", "critical"]
"""The levels ``fail_on``, the webhook's ``on`` and a quarantine accept: ``never`` is reached by nothing."""

RowLevel = Literal["ok", "warn", "critical"]
"""The severities a config may give a kind of row (a schema change, a missing partition)."""

FAIL_ON: tuple[FailOn, ...] = get_args(FailOn)


class Severity(enum.StrEnum):
    """The severity of a row; a ``str``, so it compares, prints and serialises as its name.

    Members are listed most urgent first: that order is the one every table sorts by.
    """

    CRITICAL = "critical"
    WARN = "warn"
    ERROR = "error"
    INSUFFICIENT_DATA = "insufficient_data"
    OK = "ok"

    @property
    def rank(self) -> int:
        """0 for the most urgent (``critical``) to 4 (``ok``): how tables sort rows."""
        return _RANK[self]

    @property
    def alerting(self) -> bool:
        """Whether a row of this severity is an alert (``warn`` or ``critical``)."""
        return self is Severity.WARN or self is Severity.CRITICAL

    @property
    def scored(self) -> bool:
        """Whether a feature of this severity was scored (``ok``, ``warn`` or ``critical``)."""
        return self.alerting or self is Severity.OK

    def reaches(self, level: str) -> bool:
        """Whether this severity is an alert at least as urgent as ``level`` (``warn`` or ``critical``).

        ``never`` is reached by nothing; ``error`` and ``insufficient_data`` reach no alert level.
        """
        target = fail_on_level(level, key="level")
        if target == "never":
            return False
        return self.alerting and self.rank <= Severity(target).rank


_RANK = {s: i for i, s in enumerate(Severity)}


def fail_on_level(value: object, *, key: str) -> FailOn:
    """``value`` as a ``fail_on`` level; the one check and wording for every place that takes one.

    Raises :class:`~kldrift.errors.ConfigError` naming ``key`` (``alerts.fail_on``, ``--fail-on``, ...).
    """
    if isinstance(value, str) and value in FAIL_ON:
        return value  # narrowed to FailOn by the membership test
    msg = f"{key}: expected {', '.join(FAIL_ON[:-1])} or {FAIL_ON[-1]}, got {value!r}"
    raise ConfigError(msg)


def worst(severities: Iterable[str]) -> Severity:
    """The most urgent of ``severities`` (``ok`` for none)."""
    return min((Severity(s) for s in severities), key=lambda s: s.rank, default=Severity.OK)
