"""The one exception hierarchy of kldrift.

Every error a user can cause (a bad file, a bad config key, a column that is
not there) is a :class:`KLDriftError`. Its message is a single line that names
the file, key or column and what was expected, so the CLI can print it as is
and exit 2. Errors derive from :class:`ValueError` so callers that already
catch ``ValueError`` keep working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "KLDriftError",
    "NoDataError",
    "OutputError",
    "ProfileError",
    "SchemaError",
    "SourceError",
    "did_you_mean",
]


def did_you_mean(name: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """A hint like ``" (did you mean 'fare_amount'?)"``, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


class KLDriftError(ValueError):
    """Base class: a problem with the user's input, reported in one line."""

    def __init__(self, message: str) -> None:
        # One line, always: the CLI prints it verbatim after "kldrift: error: ".
        super().__init__(" ".join(str(message).split()))


class ConfigError(KLDriftError):
    """The config file or dict is invalid; the message starts with the key path."""

    @classmethod
    def unknown_key(cls, path: str, key: str, allowed: Iterable[str], *, source: str = "") -> ConfigError:
        allowed = sorted(allowed)
        where = f"{source}: " if source else ""
        full = f"{path}.{key}" if path else key
        return cls(f"{where}{full}: unknown key{did_you_mean(key, allowed)}; expected one of: {', '.join(allowed)}")


class SourceError(KLDriftError):
    """A data source cannot be read: missing, empty, not Parquet, unreadable."""

    @classmethod
    def for_path(cls, path: object, problem: str) -> SourceError:
        return cls(f"{path}: {problem}")


class NoDataError(SourceError):
    """A source that is not there: no such path, a folder without Parquet files, a glob matching nothing.

    A scheduled run turns it into a ``no_data`` alert (a partition that did not
    arrive); an ad-hoc comparison reports it as the bad input it is.
    """


class SchemaError(KLDriftError):
    """A requested column is absent or has a type kldrift cannot bin."""

    @classmethod
    def missing_column(cls, column: str, available: Iterable[str], *, where: str) -> SchemaError:
        available = list(available)
        shown = ", ".join(available[:20]) + (", ..." if len(available) > 20 else "")
        return cls(f"column {column!r} is not in the {where}{did_you_mean(column, available)}; available: {shown}")


class ProfileError(KLDriftError):
    """A saved profile cannot be loaded or does not match the config."""


class OutputError(KLDriftError):
    """Outputs cannot be written (read-only folder, disk full, ...)."""
