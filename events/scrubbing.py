"""Secrets out of stored events: request headers, query strings, local variables, contexts and extra data
are kept for debugging, but any value under a sensitive name (cookies, credentials, tokens, passwords,
session ids…) and any value that looks like a credential is replaced by ``FILTERED``.

It runs at ingest (the stored event never holds the secret) and again when an event is shown (events
stored before this module, or sent through the native API's free-form metadata).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

FILTERED = "[Filtered]"

# A name is sensitive when it contains one of these (lowercased, "-" and " " read as "_": X-Api-Key is
# x_api_key) or when one of its parts ("user_pwd" → user, pwd) is one of the short words.
_SENSITIVE_PARTS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "credential", "cookie", "csrf",
    "xsrf", "privatekey", "private_key", "signature", "authorization", "authentication", "sessionid",
    "session_id", "sessid", "hmac", "accesskey", "access_key", "licensekey", "license_key", "subscription_key",
    "functions_key", "x_forwarded_for", "x_real_ip", "remote_addr",
)  # fmt: skip
_SENSITIVE_WORDS = {
    "pwd", "pass", "auth", "session", "jwt", "bearer", "dsn", "otp", "ssn", "cvv", "pin", "key", "sig", "sid",
    "code", "hmac",
}  # fmt: skip
# Values that are credentials whatever their name: a bearer token or an "Authorization: …" anywhere in a
# text, "Basic …"/"Digest …"/"Token …" at its start, a URL with a password.
_SENSITIVE_VALUE = re.compile(
    r"\bbearer\s+[A-Za-z0-9._~+/=-]{6,}|\bauthorization\s*[:=]\s*\S+|^\s*(basic|digest|token)\s+[A-Za-z0-9._~+/=-]{4,}\s*$"
    r"|://[^/\s:@]+:[^/\s@]+@",
    re.IGNORECASE,
)
# A string that is a URL: its query string and fragment are scrubbed like request.url's.
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)
# Deeper than this, a value is not looked into: it is filtered whole rather than kept unread.
_MAX_DEPTH = 8
_SEQUENCES = (list, tuple)  # not ``list | tuple``, which builds a union object on every call
_URL_USER = re.compile(r"://[^/\s@]+@")


def sensitive_name(name: Any) -> bool:
    return _sensitive_names[name] if type(name) is str else _sensitive(str(name))


def _sensitive(name: str) -> bool:
    text = name.lower().replace("-", "_").replace(" ", "_")
    return any(part in text for part in _SENSITIVE_PARTS) or not _SENSITIVE_WORDS.isdisjoint(
        re.split(r"[^a-z0-9]+", text)
    )


class _Names(dict):
    """Whether a name is sensitive, by name: the same few names (headers, variables, context keys) come in
    every event, and a dict lookup is what digestion can afford per key. Short names only, and at most
    8,192 (then it starts again), so that an event full of made-up names cannot grow it."""

    def __missing__(self, name: str) -> bool:
        sensitive = _sensitive(name)
        if len(name) <= 64:
            if len(self) >= 8192:
                self.clear()
            self[name] = sensitive
        return sensitive


_sensitive_names = _Names()


def _credential_like(value: str) -> bool:
    """``_SENSITIVE_VALUE.search(value)``, mostly without it: an ASCII text that contains none of the words
    the expression starts from cannot match it (digestion scrubs every string of every event)."""
    if value.isascii():
        lowered = value.lower()
        if (
            "://" not in value
            and "bearer" not in lowered
            and "authorization" not in lowered
            and not lowered.lstrip().startswith(("basic", "digest", "token"))
        ):
            return False
    return _SENSITIVE_VALUE.search(value) is not None


def scrub_text(value: str) -> str:
    """A string as ``scrub`` leaves it: FILTERED if it looks like a credential, a URL with its secrets
    filtered, else itself."""
    if _credential_like(value):
        return FILTERED
    return scrub_url(value) if "://" in value and _URL.match(value) else value


def scrub(value: Any, depth: int = 0) -> Any:
    """The value with every entry under a sensitive name, and every credential-like string, filtered."""
    if isinstance(value, str):
        return scrub_text(value)
    if depth >= _MAX_DEPTH:
        return FILTERED if isinstance(value, dict | list | tuple) else value
    if isinstance(value, dict):
        return {
            k: FILTERED if sensitive_name(k) and v not in (None, "") else scrub(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, _SEQUENCES):
        # Sentry sends headers and query strings as [[name, value], …] too.
        return [
            [item[0], FILTERED]
            if isinstance(item, _SEQUENCES) and len(item) == 2 and sensitive_name(item[0])
            else scrub(item, depth + 1)
            for item in value
        ]
    return value


def scrub_query_string(value: Any) -> Any:
    """``a=1&token=x`` → ``a=1&token=[Filtered]``; structured query strings go through ``scrub``."""
    if not isinstance(value, str):
        return scrub(value)
    pairs = parse_qsl(value.lstrip("?"), keep_blank_values=True)
    if not any(sensitive_name(name) or _SENSITIVE_VALUE.search(v) for name, v in pairs):
        return value
    filtered = [(name, FILTERED if sensitive_name(name) or _SENSITIVE_VALUE.search(v) else v) for name, v in pairs]
    return urlencode(filtered, safe="[]")


def scrub_url(url: str) -> str:
    """The URL with its user:password part and the sensitive values of its query string and of its
    fragment (``#access_token=…``, as OAuth's implicit flow leaves it) filtered."""
    if not isinstance(url, str) or not url:
        return url
    url, hashsep, fragment = url.partition("#")
    base, sep, query = url.partition("?")
    base = _URL_USER.sub(f"://{FILTERED}@", base)
    if hashsep and "=" in fragment:
        fragment = scrub_query_string(fragment)
    return base + (sep + scrub_query_string(query) if sep else "") + (hashsep + fragment if hashsep else "")
