"""Grouping errors into issues: deterministic, explainable fingerprints.

Version 1 (DESIGN.md): exception type + message with variable parts stripped +
the top in-app frame (module/function, no line number) + route. A fingerprint
sent by the client wins; ``{{ default }}`` in it expands to ours. The hash and
this version are stored per issue (IssueGrouping), so changing the rules later
does not re-split old issues.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

GROUPING_VERSION = 1
DEFAULT_MARKERS = {"{{ default }}", "{{default}}"}

# Order matters: specific shapes before the generic numbers they contain. Each pattern comes with text it
# cannot match without (None: any), so a message is not searched for shapes it cannot hold.
_DIGITS = tuple("0123456789")
_VARIABLE_PARTS: list[tuple[re.Pattern[str], str, tuple[str, ...] | None]] = [
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>", ("@",)),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "<url>", ("://",)),
    (re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", re.I), "<uuid>", None),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
        "<date>",
        ("-",),
    ),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<time>", (":",)),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>", (".",)),
    (re.compile(r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", re.I), "<ip>", (":",)),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>", ("0x", "0X")),
    (re.compile(r"\b[0-9a-f]{32,64}\b", re.I), "<hash>", None),
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`"), "<str>", ("'", '"', "`")),
    # Numbers not inside identifiers ("utf8", "v2" stay); units may follow ("3.5s", "200ms").
    (re.compile(r"(?<![A-Za-z_\d.])[-+]?\d+\.\d+(?:e[-+]?\d+)?", re.I), "<float>", (".",)),
    (re.compile(r"(?<![A-Za-z_\d.<])[-+]?\d+"), "<int>", _DIGITS),
]
_VARIABLE_PATH_SEGMENT = re.compile(
    r"(?<=/)(?:\d+|[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|[0-9a-f]{16,})(?=/|$|\?)", re.I
)
_VERSIONED_SEGMENT = re.compile(r"(?:[-.@][0-9a-f]{7,}|[-.]\d+(?:\.\d+)+)(?=[./]|$)", re.I)


def normalize_message(text: str) -> str:
    """The first two non-empty lines with variable parts replaced by placeholders."""
    # Cut first: the patterns are not linear on pathological input.
    lines = [line.strip()[:1000] for line in (text or "")[:20_000].splitlines() if line.strip()][:2]
    result = " ".join(lines)
    unicode = not result.isascii()  # \d also matches other scripts' digits
    for pattern, placeholder, needs in _VARIABLE_PARTS:
        if needs is None or any(part in result for part in needs) or (unicode and needs is _DIGITS):
            result = pattern.sub(placeholder, result)
    return result[:1000]


def _frames(exception: dict[str, Any]) -> list[dict[str, Any]]:
    stacktrace = exception.get("stacktrace") or {}
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    return [frame for frame in frames or [] if isinstance(frame, dict)]


def top_in_app_frame(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The crashing frame: the last in-app one (frames are oldest first), else the last one."""
    in_app = [frame for frame in frames if frame.get("in_app") is True]
    candidates = in_app or frames
    return candidates[-1] if candidates else None


def frame_key(frame: dict[str, Any] | None) -> str:
    """``module.function`` (or the filename without version/hash segments); never the line number."""
    if not frame:
        return ""
    where = frame.get("module") or _VERSIONED_SEGMENT.sub("", str(frame.get("filename") or ""))
    function = frame.get("function") or ""
    return f"{where}:{function}" if where or function else ""


def main_exception(data: dict[str, Any]) -> dict[str, Any] | None:
    """The outermost exception (Sentry lists causes first, outermost last)."""
    values = data.get("exception") or []
    values = [value for value in values if isinstance(value, dict)]
    return values[-1] if values else None


def message_template(data: dict[str, Any]) -> str:
    """The message's template (``logentry.message`` before the formatted text)."""
    for key in ("logentry", "message"):
        value = data.get(key)
        if isinstance(value, dict):
            text = value.get("message") or value.get("formatted")
            if text:
                return str(text)
        elif isinstance(value, str) and value:
            return value
    return ""


def normalize_route(route: str) -> str:
    """``/orders/123/pay?x=1`` → ``/orders/<id>/pay``: a route, not one request's URL."""
    path = (route or "").split("?", 1)[0]
    return _VARIABLE_PATH_SEGMENT.sub("<id>", path)[:500]


def default_components(data: dict[str, Any], *, route: str = "") -> list[str]:
    route = normalize_route(route)
    exception = main_exception(data)
    if exception is not None:
        synthetic = (exception.get("mechanism") or {}).get("synthetic") is True
        exc_type = "" if synthetic else str(exception.get("type") or "")
        value = str(exception.get("value") or "") or message_template(data)
        return [exc_type, normalize_message(value), frame_key(top_in_app_frame(_frames(exception))), route]
    return ["", normalize_message(message_template(data)), "", route]


def fingerprint_components(data: dict[str, Any], *, route: str = "") -> list[str]:
    """The parts hashed into the group key; a client fingerprint wins, ``{{ default }}`` expands."""
    client = data.get("fingerprint")
    if isinstance(client, list) and client and all(isinstance(part, str | int | float) for part in client):
        parts: list[str] = []
        for part in client:
            if str(part).strip() in DEFAULT_MARKERS:
                parts.extend(default_components(data, route=route))
            else:
                parts.append(f"custom:{part}")
        return parts
    return default_components(data, route=route)


def key_hash(components: list[str]) -> str:
    return hashlib.md5("\x1f".join(components).encode(), usedforsecurity=False).hexdigest()


def title_and_culprit(data: dict[str, Any], *, route: str = "") -> tuple[str, str]:
    exception = main_exception(data)
    if exception is not None:
        synthetic = (exception.get("mechanism") or {}).get("synthetic") is True
        exc_type = "" if synthetic else str(exception.get("type") or "")
        value = str(exception.get("value") or "") or message_template(data)
        first_line = value.strip().splitlines()[0] if value.strip() else ""
        title = f"{exc_type}: {first_line}" if exc_type and first_line else exc_type or first_line or "Error"
        frame = top_in_app_frame(_frames(exception))
        culprit = ""
        if frame:
            where = frame.get("module") or frame.get("filename") or ""
            culprit = f"{where} in {frame.get('function')}" if frame.get("function") else str(where)
        return title[:500], (culprit or route)[:500]
    text = message_template(data).strip()
    title = text.splitlines()[0] if text else "Message"
    return title[:500], route[:500]
