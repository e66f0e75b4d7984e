"""Mapping a Sentry event (its JSON, as SDKs send it) to a NewEvent: lenient, bounded, and without secrets.

Kept for the event page: request method, URL, query string and headers, each frame's context lines and
local variables, contexts, breadcrumbs. Every one goes through events.scrubbing (cookies, credentials,
tokens… are "[Filtered]"). Never kept: cookies, request bodies, the WSGI environment."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from events.ingest import NewEvent
from events.models import EventType, Level, Project
from events.scrubbing import FILTERED, scrub, scrub_query_string, scrub_text, scrub_url, sensitive_name
from events.sentry_protocol import parse_event_id

_SERVICE_BAD_CHARS = re.compile(r"[^a-z0-9._-]+")
_LEVELS = frozenset(Level.values)
_LEVEL_ALIASES = {"warn": Level.WARNING, "critical": Level.FATAL, "log": Level.INFO, "err": Level.ERROR}
MAX_STRING = 1000
MAX_FRAMES = 200
MAX_EXCEPTIONS = 10
MAX_BLOB_BYTES = 16 * 1024
MAX_CONTEXT_LINES = 5
MAX_VARS_BYTES = 4 * 1024  # one frame's locals
MAX_EVENT_VARS_BYTES = 48 * 1024  # every frame's locals together: the crash end's frames come first
MAX_HEADERS = 50
_FRAME_TEXT_KEYS = ("filename", "abs_path", "function", "module", "package", "context_line")
# Tuples, not ``dict | list``: the mapping walks every value of every event, and ``X | Y`` in a call builds a
# union object each time.
_CONTAINERS = (dict, list)
_SEQUENCES = (list, tuple)
_SCALARS = (bool, int, float)


def _str(value: Any, limit: int = MAX_STRING) -> str:
    if value is None or isinstance(value, _CONTAINERS):
        return ""
    return str(value)[:limit]


def _trim(value: Any, depth: int = 0) -> Any:
    """A JSON value with strings, lists, dicts and nesting capped.

    Digestion trims every value of every event: the common types are told apart by ``type()`` first."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= MAX_STRING else value[:MAX_STRING]
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, _SCALARS):
        return value
    if depth >= 6:
        return None
    deeper = depth + 1
    if isinstance(value, dict):
        return {
            (k if type(k) is str and len(k) <= 200 else str(k)[:200]): _trim(v, deeper)
            for k, v in itertools.islice(value.items(), 50)
        }
    if isinstance(value, list):
        return [_trim(v, deeper) for v in value[:50]]
    return str(value)[:MAX_STRING]


def _scrubbed(value: Any, depth: int = 0) -> Any:
    """``_trim(scrub(value))`` in one walk: digestion scrubs and trims the contexts, extra data, breadcrumbs
    and local variables of every event, and one walk over them costs about half of two. Strings, most of
    the leaves, are done in the loops rather than by a call each."""
    kind = type(value)
    if kind is str:
        value = scrub_text(value)
        return value if len(value) <= MAX_STRING else value[:MAX_STRING]
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, str):
        return scrub_text(value)[:MAX_STRING]
    if isinstance(value, _SCALARS):
        return value
    if depth >= 6:
        return None
    deeper = depth + 1
    if isinstance(value, dict):
        kept = {}
        for k, v in itertools.islice(value.items(), 50):
            key = k if type(k) is str and len(k) <= 200 else str(k)[:200]
            if sensitive_name(k) and v is not None and v != "":
                kept[key] = FILTERED
            elif type(v) is str:
                text = scrub_text(v)
                kept[key] = text if len(text) <= MAX_STRING else text[:MAX_STRING]
            else:
                kept[key] = _scrubbed(v, deeper)
        return kept
    if isinstance(value, _SEQUENCES):
        # scrub's [name, value] pairs under a sensitive name: the value filtered, the name only trimmed.
        return [
            (None if deeper >= 6 else [_trim(item[0], deeper + 1), FILTERED])
            if isinstance(item, _SEQUENCES) and len(item) == 2 and sensitive_name(item[0])
            else _scrubbed(item, deeper)
            for item in value[:50]
        ]
    return str(value)[:MAX_STRING]


def _json_size(value: Any) -> int:
    """Bytes of the JSON of a trimmed value, in UTF-8."""
    try:
        return len(orjson.dumps(value))
    except TypeError:
        # An integer over 64 bits or a lone surrogate (the stdlib reads "\ud800" as one): measured as the
        # stdlib writes it, the surrogate as its three bytes.
        return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _bounded(value: Any, limit: int = MAX_BLOB_BYTES, *, scrubbed: bool = False) -> Any:
    """The trimmed value (scrubbed too if ``scrubbed``), or None when its JSON is still over ``limit`` bytes."""
    value = _scrubbed(value) if scrubbed else _trim(value)
    return value if _json_size(value) <= limit else None


def normalize_service(value: Any) -> str:
    text = _SERVICE_BAD_CHARS.sub("-", _str(value).strip().lower()).lstrip("._-")
    return text[:100].rstrip("._-") if text else ""


def _tags(event: dict[str, Any]) -> dict[str, str]:
    raw = event.get("tags")
    pairs = raw.items() if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    tags: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, _SEQUENCES) and len(pair) == 2 and pair[0] is not None:
            if len(tags) >= 100:
                break
            tags[str(pair[0])[:200]] = _str(pair[1], 200)
    return tags


def pick_service(project: Project, tags: dict[str, str]) -> str:
    """The ``service`` tag when the project knows it (or lists none), else the project's first service."""
    known = [s for s in project.services or [] if isinstance(s, str) and s]
    tagged = normalize_service(tags.get("service"))
    if tagged and (not known or tagged in known):
        return tagged
    if known:
        return normalize_service(known[0]) or "default"
    return "default"


def parse_timestamp(value: Any, *, now: datetime) -> datetime:
    """RFC 3339 or epoch seconds; missing/invalid is now, and more than a day ahead is clamped to now."""
    parsed = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(float(value), tz=UTC)
        except (ValueError, OverflowError, OSError):
            parsed = None
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            # Epoch seconds as text; an RFC 3339 time (what SDKs send) has a ":", so skips the failing float().
            parsed = None if ":" in text else datetime.fromtimestamp(float(text), tz=UTC)
        except (ValueError, OverflowError, OSError):
            parsed = None
        if parsed is None:
            try:
                parsed = datetime.fromisoformat(text)  # C, and takes "Z" since Python 3.11
            except ValueError:
                try:
                    parsed = parse_datetime(text.replace("z", "Z"))
                except ValueError:
                    parsed = None
            if parsed is not None and timezone.is_naive(parsed):
                parsed = parsed.replace(tzinfo=UTC)
    if parsed is None or parsed > now + timedelta(days=1):
        return now
    return parsed


def normalize_level(value: Any) -> str:
    text = _str(value, 20).strip().lower()
    if text in _LEVELS:
        return text
    return _LEVEL_ALIASES.get(text, Level.ERROR)


def _message_entry(value: Any) -> dict[str, Any] | None:
    """``message``/``logentry`` as ``{message, formatted, params}`` (a bare string is the formatted text)."""
    if isinstance(value, str):
        return {"formatted": value[:10_000]} if value else None
    if not isinstance(value, dict):
        return None
    entry = {k: _str(value.get(k), 10_000) for k in ("message", "formatted") if _str(value.get(k))}
    params = value.get("params")
    if isinstance(params, list | dict) and entry:
        entry["params"] = _bounded(params, 2048)
    return entry or None


def _frame(raw: dict[str, Any]) -> dict[str, Any]:
    frame: dict[str, Any] = {}
    for key in _FRAME_TEXT_KEYS:
        text = _str(raw.get(key), 500)
        if text:
            frame[key] = text
    for key in ("lineno", "colno"):
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            frame[key] = value
    if isinstance(raw.get("in_app"), bool):
        frame["in_app"] = raw["in_app"]
    # The lines just before and just after the crash line.
    pre, post = raw.get("pre_context"), raw.get("post_context")
    if isinstance(pre, list):
        frame["pre_context"] = [_str(line, 300) for line in pre if isinstance(line, str)][-MAX_CONTEXT_LINES:]
    if isinstance(post, list):
        frame["post_context"] = [_str(line, 300) for line in post if isinstance(line, str)][:MAX_CONTEXT_LINES]
    return frame


def _frame_vars(raw: Any) -> dict[str, Any] | None:
    """A frame's local variables, scrubbed, or None when there are none or they are too big to keep."""
    if not isinstance(raw, dict) or not raw:
        return None
    return _bounded(raw, MAX_VARS_BYTES, scrubbed=True)


def _stacktrace(raw: Any) -> dict[str, Any] | None:
    raw_frames = raw.get("frames") if isinstance(raw, dict) else None
    if not isinstance(raw_frames, list):
        return None
    raw_frames = [f for f in raw_frames if isinstance(f, dict)]
    if len(raw_frames) > MAX_FRAMES:  # keep the oldest few and the crashing end, as Sentry trims the middle
        raw_frames = raw_frames[:20] + raw_frames[-(MAX_FRAMES - 20) :]
    frames = [_frame(f) for f in raw_frames]
    budget = MAX_EVENT_VARS_BYTES
    for frame, source in zip(reversed(frames), reversed(raw_frames), strict=True):  # newest frame first
        local_vars = _frame_vars(source.get("vars")) if budget > 0 else None
        if local_vars:
            frame["vars"] = local_vars
            budget -= _json_size(local_vars)
    return {"frames": frames}


def normalize_exceptions(raw: Any) -> list[dict[str, Any]]:
    """``exception.values`` (or a legacy bare list / single object) as a list, cause first."""
    if isinstance(raw, dict):
        values = raw.get("values") if isinstance(raw.get("values"), list) else [raw] if raw.get("type") else []
    elif isinstance(raw, list):
        values = raw
    else:
        values = []
    result = []
    for value in [v for v in values if isinstance(v, dict)][-MAX_EXCEPTIONS:]:
        exc: dict[str, Any] = {
            "type": _str(value.get("type"), 200),
            "value": _str(value.get("value"), 10_000),
        }
        if _str(value.get("module")):
            exc["module"] = _str(value.get("module"), 300)
        mechanism = value.get("mechanism")
        if isinstance(mechanism, dict):
            exc["mechanism"] = {
                k: mechanism[k] for k in ("type", "handled", "synthetic") if isinstance(mechanism.get(k), str | bool)
            }
        stacktrace = _stacktrace(value.get("stacktrace"))
        if stacktrace:
            exc["stacktrace"] = stacktrace
        if exc["type"] or exc["value"] or stacktrace:
            result.append(exc)
    return result


def _headers(raw: Any) -> list[list[str]]:
    """Headers as ``[[name, value], …]`` (Sentry sends an object or pairs), scrubbed, without cookies."""
    pairs = raw.items() if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    headers = []
    for pair in pairs:
        if isinstance(pair, _SEQUENCES) and len(pair) == 2 and _str(pair[0]) and len(headers) < MAX_HEADERS:
            headers.append([_str(pair[0], 200), _str(pair[1], 1000)])
    return scrub(headers)


def _request(raw: Any) -> tuple[dict[str, Any] | None, str]:
    """The request without cookies, env or body (headers scrubbed); and the URL path (a route fallback)."""
    if not isinstance(raw, dict):
        return None, ""
    request = {k: _str(raw.get(k), 2000) for k in ("url", "method") if _str(raw.get(k))}
    if request.get("url"):
        request["url"] = scrub_url(request["url"])
    query = raw.get("query_string")
    if isinstance(query, str) and query:
        request["query_string"] = scrub_query_string(query[:2000])
    elif isinstance(query, dict | list) and query:
        request["query_string"] = _bounded(query, 2048, scrubbed=True)
    headers = _headers(raw.get("headers"))
    if headers:
        request["headers"] = headers
    path = ""
    if request.get("url"):
        try:
            path = urlsplit(request["url"]).path
        except ValueError:
            path = ""
    return request or None, path


def _user(raw: Any) -> tuple[dict[str, Any] | None, str]:
    if not isinstance(raw, dict):
        return None, ""
    user = {k: _str(raw.get(k), 200) for k in ("id", "username", "email", "ip_address") if _str(raw.get(k))}
    if user.get("ip_address") == "{{auto}}":
        del user["ip_address"]  # "the sender's IP": not worth guessing behind proxies
    user_id = user.get("id") or user.get("email") or user.get("username") or user.get("ip_address") or ""
    return user or None, user_id


def to_new_event(
    event: dict[str, Any], *, project: Project, event_id: uuid.UUID | None, now: datetime | None = None
) -> NewEvent:
    """Map a Sentry event to a NewEvent. Lenient: bad types are dropped or coerced, never refused."""
    now = now or timezone.now()
    event_id = event_id or parse_event_id(event.get("event_id")) or uuid.uuid4()
    tags = _tags(event)
    exceptions = normalize_exceptions(event.get("exception"))
    message = _message_entry(event.get("message"))
    logentry = _message_entry(event.get("logentry"))
    request, url_path = _request(event.get("request"))
    user, user_id = _user(event.get("user"))
    transaction = _str(event.get("transaction"), 500)

    data: dict[str, Any] = {}
    if exceptions:
        data["exception"] = exceptions
    if message:
        data["message"] = message
    if logentry:
        data["logentry"] = logentry
    fingerprint = event.get("fingerprint")
    if isinstance(fingerprint, str) and fingerprint:
        fingerprint = [fingerprint]
    if isinstance(fingerprint, list):
        parts = [_str(p, 200) for p in fingerprint[:20] if isinstance(p, str | int | float) and not isinstance(p, bool)]
        if parts:
            data["fingerprint"] = parts
    if tags:
        data["tags"] = tags
    if request:
        data["request"] = request
    if user:
        data["user"] = user
    for key in ("logger", "server_name", "dist", "transaction", "culprit"):
        if _str(event.get(key)):
            data[key] = _str(event.get(key), 500)
    sdk = event.get("sdk")
    if isinstance(sdk, dict):
        data["sdk"] = {k: _str(sdk.get(k), 100) for k in ("name", "version") if _str(sdk.get(k))}
    for key in ("contexts", "extra"):
        value = _bounded(event.get(key), scrubbed=True) if isinstance(event.get(key), dict) else None
        if value:
            data[key] = value
    breadcrumbs = event.get("breadcrumbs")
    crumbs = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    if isinstance(crumbs, list) and crumbs:
        kept = _bounded(crumbs[-30:], scrubbed=True)
        if kept:
            data["breadcrumbs"] = {"values": kept}

    text = ""
    for entry in (logentry, message):
        if entry:
            text = entry.get("formatted") or entry.get("message") or ""
            break
    if not text and exceptions:
        main = exceptions[-1]
        text = f"{main['type']}: {main['value']}" if main["type"] and main["value"] else main["type"] or main["value"]

    return NewEvent(
        event_id=event_id,
        event_type=EventType.ERROR,
        service=pick_service(project, tags),
        timestamp=parse_timestamp(event.get("timestamp"), now=now),
        level=normalize_level(event.get("level")),
        message=text,
        release=_str(event.get("release"), 200),
        environment=_str(event.get("environment"), 64),
        route=transaction or url_path[:500],
        user_id=user_id,
        platform=_str(event.get("platform"), 32),
        data=data,
    )
