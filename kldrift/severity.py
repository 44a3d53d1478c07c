"""Severities: what each row of a run says, how urgent it is, and whether it reaches a level.

One :class:`Severity` type for every place that orders or compares them (the
report's sort, the run's worst, ``fail_on``, the webhook's ``on``), so that
"the run reached critical" means the same thing in the CLI, Airflow and the
webhook.

>>> Severity("warn").reaches("critical")
False
>>> worst(["ok", "warn", "insufficient_data"])
<Severity.WARN: 'warn'>
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["ALERTING", "FAIL_ON", "Severity", "worst"]


class Severity(enum.StrEnum):
    """The severity of a row; a ``str``, so it compares, prints and serialises as its name."""

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
        return self in ALERTING

    def reaches(self, level: str) -> bool:
        """Whether this severity is an alert at least as urgent as ``level`` (``warn`` or ``critical``).

        ``never`` is reached by nothing; ``error`` and ``insufficient_data`` reach no alert level.
        """
        if level == "never":
            return False
        target = Severity(level)
        if target not in ALERTING:
            msg = f"`level` must be 'never', 'warn' or 'critical', got {level!r}"
            raise ValueError(msg)
        return self.alerting and self.rank <= target.rank


_RANK = {s: i for i, s in enumerate(Severity)}
ALERTING = frozenset({Severity.WARN, Severity.CRITICAL})
FAIL_ON = ("never", "warn", "critical")
"""The levels ``fail_on`` and the webhook's ``on`` accept."""


def worst(severities: Iterable[str]) -> Severity:
    """The most urgent of ``severities`` (``ok`` for none)."""
    return min((Severity(s) for s in severities), key=lambda s: s.rank, default=Severity.OK)
