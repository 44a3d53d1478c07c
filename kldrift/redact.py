"""Secrets out of everything kldrift writes or logs: URLs lose their credentials and tokens.

Applied to every URL or path that reaches a file (manifest, profile, deliveries),
a log line or an Airflow XCom:

* the password of ``scheme://user:password@host`` (and the user, which is often a key id);
* query values whose names look like secrets (``token``, ``key``, ``signature``,
  ``X-Amz-Credential``, …);
* for webhook URLs, the whole path and query: for Slack, Teams and most chat
  webhooks the path *is* the secret (``/services/T000/B000/XXXX``), so only the
  scheme and host are shown.

>>> redact_url("s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/data/?region=eu-west-1")
's3://***@bucket/data/?region=eu-west-1'
>>> redact_url("https://hooks.slack.com/services/T0/B0/XYZ", webhook=True)
'https://hooks.slack.com/***'
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["redact_text", "redact_url", "secret_key"]

_SECRET_KEY = re.compile(r"(token|key|secret|sig|signature|password|passwd|pwd|auth|credential|session)", re.I)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str, *, webhook: bool = False) -> str:
    """``url`` without credentials; a webhook's without its path and query either."""
    if "://" not in url:
        return url
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # not a URL we can take apart: show the scheme only
        return url.split("://", 1)[0] + "://***"
    if (
        not webhook
        and not parts.netloc
        and not any(secret_key(k) for k, _ in urllib.parse.parse_qsl(parts.query, True))
    ):
        return url  # sqlite:///c.db, file:///data: no host, no credentials (urlunsplit would drop the //)
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc += f":{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"***@{netloc}"
    if webhook:
        rest = "/***" if (parts.path.strip("/") or parts.query) else parts.path
        return f"{parts.scheme}://{netloc}{rest}"
    query = urllib.parse.urlencode(
        [(k, "***" if secret_key(k) else v) for k, v in urllib.parse.parse_qsl(parts.query, True)],
        safe="*",
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def secret_key(name: str) -> bool:
    """Whether a property or query parameter named ``name`` holds a secret (a token, a key, a password).

    >>> secret_key("token"), secret_key("s3.secret-access-key"), secret_key("uri")
    (True, True, False)
    """
    return bool(_SECRET_KEY.search(name))


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (:func:`redact_url`)."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
