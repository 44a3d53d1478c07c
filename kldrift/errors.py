"""The one exception hierarchy of kldrift.

Every error a user can cause (a bad file, a bad config key, a column that is
not there) is a :class:`KLDriftError`. Its message is a single line that names
the file, key or column and what was expected, so the CLI can print it as is
and exit 2. Errors derive from :class:`ValueError` so callers that already
catch ``ValueError`` keep working.

Each error says whether a retry can help (:attr:`KLDriftError.transient`),
decided where it is raised, by the code that knows what failed: an object
store that timed out or a file removed while it was read is transient; a bad
config, a corrupt file or a permission is not. The Airflow tasks retry the
first kind and fail at once on the second.
"""

from __future__ import annotations

import difflib
import re
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
    "transient_io",
]


def did_you_mean(name: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """A hint like ``" (did you mean 'fare_amount'?)"``, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


_FINAL_ANSWERS = re.compile(
    r"ACCESS_DENIED|NO_SUCH_|INVALID_ACCESS_KEY|SIGNATURE_DOES_NOT_MATCH|PERMISSION_DENIED|NOT_FOUND"
    r"|HTTP status 4(?!08|29)\d\d"
)
"""An object store's answers that stay the same on a retry: denied, no such bucket or key, a client error."""
_NETWORK = re.compile(r"curlCode|[Tt]ime(d )?out|[Cc]onnection|[Nn]etwork|[Tt]emporar")


def transient_io(exc: BaseException) -> bool:
    """Whether a failed read may succeed on a retry.

    * an ``OSError`` of a system call (it has an ``errno``: a file removed while it was read, EIO,
      a timeout) other than a permission refused: yes;
    * an object store's error (pyarrow's ``AWS Error ...``, ``google::cloud::Status``): yes, unless the
      store said no for good (access denied, no such bucket, a 4xx other than 408 and 429);
    * Arrow's other ``OSError`` values are about the bytes (``Couldn't deserialize thrift``, ``Corrupt snappy
      compressed data``), and ``ArrowInvalid`` is not I/O at all: no, unless they name a network failure.
    """
    if not isinstance(exc, OSError) or isinstance(exc, PermissionError):
        return False
    if exc.errno is not None:
        return True
    text = str(exc)
    if "AWS Error" in text or "google::cloud" in text:
        return _FINAL_ANSWERS.search(text) is None
    return _NETWORK.search(text) is not None


class KLDriftError(ValueError):
    """Base class: a problem with the user's input, reported in one line."""

    transient: bool = False
    """Whether a retry can help, set where the error is raised (``transient=True``); by default the
    input is wrong and stays wrong, so Airflow fails the task without retrying."""

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        # One line, always: the CLI prints it verbatim after "kldrift: error: ".
        super().__init__(" ".join(str(message).split()))
        if transient is not None:
            self.transient = transient


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

    @classmethod
    def io(cls, message: str, exc: BaseException) -> SourceError:
        """``message`` about a failed read: transient when ``exc`` is one a retry may fix (:func:`transient_io`)."""
        return cls(message, transient=transient_io(exc))

    def again(self, context: str) -> SourceError:
        """The same error (same class, same :attr:`transient`) with ``context`` in front of its message."""
        return type(self)(f"{context}: {self}", transient=self.transient)


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
    """Outputs cannot be written (read-only folder, disk full, a webhook down, ...): retried by default,
    as space is freed and endpoints come back."""

    transient = True
