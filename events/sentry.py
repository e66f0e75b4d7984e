"""Sentry protocol ingest: ``POST /api/<project_id>/envelope/`` and the legacy ``/store/``.

Any Sentry SDK pointed at a project's DSN lands here (see shared/specs/sentry-ingest.md).
The view authenticates the key, reads the body with a cap, inflates it with a
second cap (a decompression bomb is a 413, never a memory spike), parses the
envelope, maps its one ``event`` item to a NewEvent and stores it through
``services.store_events``. Other item types are accepted and dropped.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from events import quota, services
from events.models import EventType, Level, Project
from tracepoint.api.errors import error_response
from tracepoint.errors import DomainError

try:
    import brotli
except ImportError:  # optional: without it a `br` body is a 415 (SDKs then use gzip)
    brotli = None

logger = logging.getLogger("tracepoint.events.sentry")

READ_CHUNK_BYTES = 64 * 1024

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "x-sentry-error, x-sentry-rate-limits, retry-after",
}
CORS_ALLOW_HEADERS = (
    "x-sentry-auth, authorization, content-type, content-encoding, sentry-trace, baggage, x-requested-with"
)


def max_request_bytes() -> int:
    return settings.TRACEPOINT["INGEST_MAX_BYTES"]


def max_decompressed_bytes() -> int:
    return settings.TRACEPOINT["SENTRY_MAX_DECOMPRESSED_BYTES"]


def max_event_bytes() -> int:
    return settings.TRACEPOINT["SENTRY_MAX_EVENT_BYTES"]


class SentryProtocolError(Exception):
    """Answered with the API error shape plus ``X-Sentry-Error``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Malformed(SentryProtocolError):
    def __init__(self, message: str):
        super().__init__(400, message)


class TooLarge(SentryProtocolError):
    def __init__(self, message: str):
        super().__init__(413, message)


# --- body -----------------------------------------------------------------------------


def read_body(request: HttpRequest, *, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes, without Django's 1 MiB form-data cap.

    A chunked request has no Content-Length: Django then exposes an empty stream, but a
    server that de-chunks (gunicorn) sets ``wsgi.input_terminated`` and its input can be
    read to EOF. The cap is enforced while reading, not trusted from a header. The body
    is kept on the request, so a view retried after a lost database connection
    (``events.fastpath``) reads it again.
    """
    kept = getattr(request, "_ingest_body", None)
    if kept is not None:
        return kept
    meta = request.META
    if meta.get("CONTENT_LENGTH"):
        stream = request  # Django's LimitedStream; ApiErrorMiddleware already refused a length over the limit
    elif meta.get("wsgi.input_terminated"):
        stream = meta["wsgi.input"]
    else:
        return b""
    chunks, total = [], 0
    while True:
        chunk = stream.read(READ_CHUNK_BYTES)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"The request body is over the limit of {limit} bytes.")
        chunks.append(chunk)
    request._ingest_body = b"".join(chunks)
    return request._ingest_body


def _inflate(data: bytes, *, wbits: int, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    out = bytearray()
    try:
        while True:
            chunk = decompressor.decompress(data, limit + 1 - len(out))
            out += chunk
            if len(out) > limit:
                raise TooLarge(f"The decompressed body is over the limit of {limit} bytes.")
            data = decompressor.unconsumed_tail
            if decompressor.eof or (not chunk and not data):
                break
    except zlib.error as exc:
        raise Malformed(f"Cannot decompress the body: {exc}.") from None
    if not decompressor.eof:
        raise Malformed("The compressed body is truncated.")
    return bytes(out)


def _unbrotli(data: bytes, *, limit: int) -> bytes:
    decompressor = brotli.Decompressor()
    out = bytearray()
    try:
        out += decompressor.process(data, output_buffer_limit=limit + 1)
        while len(out) <= limit and not decompressor.can_accept_more_data():
            out += decompressor.process(b"", output_buffer_limit=limit + 1 - len(out))
    except brotli.error as exc:
        raise Malformed(f"Cannot decompress the body: {exc}.") from None
    if len(out) > limit:
        raise TooLarge(f"The decompressed body is over the limit of {limit} bytes.")
    if not decompressor.is_finished():
        raise Malformed("The compressed body is truncated.")
    return bytes(out)


def inflate_deflate(data: bytes, *, limit: int) -> bytes:
    """``deflate`` means zlib-wrapped, but some clients send raw deflate: accept both."""
    try:
        return _inflate(data, wbits=zlib.MAX_WBITS, limit=limit)
    except TooLarge:
        raise
    except Malformed:
        return _inflate(data, wbits=-zlib.MAX_WBITS, limit=limit)


def decode_content(data: bytes, content_encoding: str, *, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (codings are listed in the order applied), capping the output."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, wbits=zlib.MAX_WBITS | 16, limit=limit)
        elif coding == "deflate":
            data = inflate_deflate(data, limit=limit)
        elif coding == "br" and brotli is not None:
            data = _unbrotli(data, limit=limit)
        else:
            raise SentryProtocolError(415, f"Unsupported Content-Encoding {coding!r}.")
    if len(data) > limit:  # identity bodies count too
        raise TooLarge(f"The decompressed body is over the limit of {limit} bytes.")
    return data


# --- envelope -------------------------------------------------------------------------


@dataclass
class Envelope:
    headers: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Malformed(f"The {what} is not valid JSON (or nested too deeply).") from None
    if not isinstance(value, dict):
        raise Malformed(f"The {what} must be a JSON object.")
    return value


def parse_envelope(body: bytes, *, keep: frozenset[str] = frozenset({"event"})) -> Envelope:
    """Split an envelope into its header and items; payloads are kept only for ``keep`` types.

    An item header may carry ``length`` (read exactly that many bytes, then ``\\n`` or EOF)
    or not (the payload runs to the next ``\\n`` or EOF). Both forms occur in the wild.
    """
    if not body.strip():
        raise Malformed("The envelope is empty (no header line).")
    end = body.find(b"\n")
    end = len(body) if end == -1 else end
    envelope = Envelope(headers=_json_object(body[:end], "envelope header"))
    pos, size = end + 1, len(body)
    while pos < size:
        end = body.find(b"\n", pos)
        end = size if end == -1 else end
        line = body[pos:end]
        pos = end + 1
        if not line.strip():
            continue  # a blank line between items or at the end
        header = _json_object(line, "item header")
        item_type = header.get("type")
        if not isinstance(item_type, str) or not item_type:
            raise Malformed("An item header has no type.")
        length = header.get("length")
        if length is not None:
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise Malformed("An item header has an invalid length.")
            if pos + length > size:
                raise Malformed("An item is shorter than its length.")
            payload = body[pos : pos + length]
            pos += length
            if pos < size:
                if body[pos : pos + 1] != b"\n":
                    raise Malformed("An item is longer than its length.")
                pos += 1
        else:
            end = body.find(b"\n", pos)
            end = size if end == -1 else end
            payload = body[pos:end]
            pos = end + 1
        if item_type in keep:
            envelope.items.append((header, payload))
    return envelope


def parse_event_id(value: Any) -> uuid.UUID | None:
    if isinstance(value, str) and value.strip():
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            return None
    return None


# --- authentication -------------------------------------------------------------------


def parse_auth_header(value: str, *, require_prefix: bool) -> dict[str, str]:
    """``Sentry sentry_key=…, sentry_version=7, …`` → a dict (the prefix is case-insensitive)."""
    value = (value or "").strip()
    if value[:7].lower() == "sentry ":
        value = value[7:]
    elif require_prefix:
        return {}
    pairs = {}
    for part in value.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            pairs[name.strip().lower()] = val.strip().strip("'\"")
    return pairs


def sentry_key_from_request(request: HttpRequest) -> str | None:
    """The public key from ``X-Sentry-Auth``, ``Authorization: Sentry …`` or ``?sentry_key=``."""
    found = []
    for meta_name, require_prefix in (("HTTP_X_SENTRY_AUTH", False), ("HTTP_AUTHORIZATION", True)):
        key = parse_auth_header(request.META.get(meta_name, ""), require_prefix=require_prefix).get("sentry_key")
        if key:
            found.append(key)
    if request.GET.get("sentry_key"):
        found.append(request.GET["sentry_key"])
    if len(set(found)) > 1:
        raise SentryProtocolError(400, "The request names several different keys.")
    return found[0] if found else None


def key_from_dsn(dsn: Any) -> str | None:
    if not isinstance(dsn, str) or not dsn:
        return None
    try:
        return urlsplit(dsn.strip()).username or None
    except ValueError:
        return None


def authenticate(public_key: str | None, project_id: int) -> Project:
    if not public_key:
        raise SentryProtocolError(401, "Missing authentication: send X-Sentry-Auth or sentry_key.")
    try:
        return services.authenticate_key(public_key, project_id=project_id).project
    except DomainError as exc:
        raise SentryProtocolError(exc.status_code, exc.message) from None


# --- event mapping --------------------------------------------------------------------

_SERVICE_BAD_CHARS = re.compile(r"[^a-z0-9._-]+")
_LEVEL_ALIASES = {"warn": Level.WARNING, "critical": Level.FATAL, "log": Level.INFO, "err": Level.ERROR}
MAX_STRING = 1000
MAX_FRAMES = 200
MAX_EXCEPTIONS = 10
MAX_BLOB_BYTES = 16 * 1024
_FRAME_KEYS = ("filename", "abs_path", "function", "module", "package", "lineno", "colno", "in_app", "context_line")


def _str(value: Any, limit: int = MAX_STRING) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)[:limit]


def _trim(value: Any, depth: int = 0) -> Any:
    """A JSON value with strings, lists, dicts and nesting capped."""
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= 6:
        return None
    if isinstance(value, dict):
        return {str(k)[:200]: _trim(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list):
        return [_trim(v, depth + 1) for v in value[:50]]
    return str(value)[:MAX_STRING]


def _bounded(value: Any, limit: int = MAX_BLOB_BYTES) -> Any:
    """The trimmed value, or None when it is still too big to keep."""
    value = _trim(value)
    return value if len(json.dumps(value, default=str)) <= limit else None


def normalize_service(value: Any) -> str:
    text = _SERVICE_BAD_CHARS.sub("-", _str(value).strip().lower()).lstrip("._-")
    return text[:100].rstrip("._-") if text else ""


def _tags(event: dict[str, Any]) -> dict[str, str]:
    raw = event.get("tags")
    pairs = raw.items() if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    tags: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, tuple | list) and len(pair) == 2 and pair[0] is not None:
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
            parsed = datetime.fromtimestamp(float(text), tz=UTC)
        except (ValueError, OverflowError, OSError):
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
    if text in Level.values:
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
    for key in _FRAME_KEYS:
        value = raw.get(key)
        if key in ("lineno", "colno"):
            if isinstance(value, int) and not isinstance(value, bool):
                frame[key] = value
        elif key == "in_app":
            if isinstance(value, bool):
                frame[key] = value
        elif _str(value):
            frame[key] = _str(value, 500)
    for key in ("pre_context", "post_context"):
        lines = raw.get(key)
        if isinstance(lines, list):
            frame[key] = [_str(line, 300) for line in lines[-5:] if isinstance(line, str)]
    return frame  # `vars` (locals) are dropped: bulky and often personal data


def _stacktrace(raw: Any) -> dict[str, Any] | None:
    frames = raw.get("frames") if isinstance(raw, dict) else None
    if not isinstance(frames, list):
        return None
    frames = [_frame(f) for f in frames if isinstance(f, dict)]
    if len(frames) > MAX_FRAMES:  # keep the oldest few and the crashing end, as Sentry trims the middle
        frames = frames[:20] + frames[-(MAX_FRAMES - 20) :]
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


def _request(raw: Any) -> tuple[dict[str, Any] | None, str]:
    """The request without headers, cookies, env or body; and the URL path (a route fallback)."""
    if not isinstance(raw, dict):
        return None, ""
    request = {k: _str(raw.get(k), 2000) for k in ("url", "method") if _str(raw.get(k))}
    query = raw.get("query_string")
    if isinstance(query, str) and query:
        request["query_string"] = query[:2000]
    elif isinstance(query, dict | list) and query:
        request["query_string"] = _bounded(query, 2048)
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
) -> services.NewEvent:
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
        value = _bounded(event.get(key)) if isinstance(event.get(key), dict) else None
        if value:
            data[key] = value
    breadcrumbs = event.get("breadcrumbs")
    crumbs = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    if isinstance(crumbs, list) and crumbs:
        kept = _bounded(crumbs[-30:])
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

    return services.NewEvent(
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


# --- views ----------------------------------------------------------------------------


def _with_cors(response: HttpResponse) -> HttpResponse:
    for name, value in CORS_HEADERS.items():
        response[name] = value
    return response


def _error(status: int, message: str) -> HttpResponse:
    # X-Sentry-Error must be one plain header line.
    header = re.sub(r"[^\x20-\x7e]", "?", message)[:200]
    return _with_cors(error_response(status, message, headers={"X-Sentry-Error": header}))


def rate_limited(decision: quota.Decision) -> HttpResponse:
    """429 in the API's error shape, with what SDKs read to back off: ``Retry-After`` (all of
    them) and ``X-Sentry-Rate-Limits`` (newer ones: errors of this key only, other items flow)."""
    what = "rate" if decision.reason == quota.RATE else "spike guard"
    message = (
        f"The project's {what} of {decision.limit} events per {decision.window_seconds} seconds is used up; "
        f"retry in {decision.retry_after} seconds."
    )
    response = error_response(
        429,
        message,
        details={
            "retry_after_seconds": decision.retry_after,
            "reason": decision.reason,
            "limit": decision.limit,
            "window_seconds": decision.window_seconds,
        },
        headers={
            "Retry-After": str(decision.retry_after),
            "X-Sentry-Rate-Limits": decision.sentry_rate_limits(),
            "X-Sentry-Error": f"{decision.reason}: {decision.limit} events per {decision.window_seconds}s",
        },
    )
    return _with_cors(response)


class RateLimited(Exception):
    def __init__(self, decision: quota.Decision):
        self.decision = decision


def _admit(request: HttpRequest, project: Project) -> None:
    if getattr(request, "_ingest_admitted", False):
        return  # counted already: this is the retry after a lost database connection (events.fastpath)
    decision = quota.check(project)
    if not decision.allowed:
        raise RateLimited(decision)
    request._ingest_admitted = True


def _preflight(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(status=200)
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = request.headers.get("Access-Control-Request-Headers") or (
        CORS_ALLOW_HEADERS
    )
    response["Access-Control-Max-Age"] = "3600"
    return _with_cors(response)


def _sentry_endpoint(handler):
    """CORS, method check and the error mapping shared by /envelope/ and /store/."""

    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        if request.method == "OPTIONS":
            return _preflight(request)
        if request.method != "POST":
            response = _error(405, "Use POST.")
            response["Allow"] = "POST, OPTIONS"
            return response
        try:
            return _with_cors(handler(request, project_id))
        except SentryProtocolError as exc:
            if exc.status >= 400 and exc.status != 401:
                logger.info("sentry ingest refused: %s %s", exc.status, exc.message)
            return _error(exc.status, exc.message)
        except RateLimited as exc:
            return rate_limited(exc.decision)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    view.max_request_bytes = max_request_bytes
    view.error_headers = {**CORS_HEADERS, "X-Sentry-Error": "request body too large"}
    return csrf_exempt(view)


def _read_decoded(request: HttpRequest) -> bytes:
    body = read_body(request, limit=max_request_bytes())
    return decode_content(body, request.META.get("HTTP_CONTENT_ENCODING", ""), limit=max_decompressed_bytes())


def _store(request: HttpRequest, project: Project, event: dict[str, Any], event_id: uuid.UUID | None) -> uuid.UUID:
    event_id = event_id or parse_event_id(event.get("event_id"))
    if event_id is None:
        # Ours, made once per request: a retry of it (events.fastpath) stores the same event, not a second.
        event_id = getattr(request, "_ingest_event_id", None) or uuid.uuid4()
        request._ingest_event_id = event_id
    new_event = to_new_event(event, project=project, event_id=event_id)
    try:
        services.store_events(project, [new_event])
    except DomainError as exc:
        raise SentryProtocolError(exc.status_code, exc.message) from None
    return new_event.event_id


@_sentry_endpoint
def envelope_view(request: HttpRequest, project_id: int) -> HttpResponse:
    """``POST /api/<project_id>/envelope/``: store the envelope's event, drop every other item."""
    header_key = sentry_key_from_request(request)
    project = authenticate(header_key, project_id) if header_key else None  # refuse early, before inflating
    envelope = parse_envelope(_read_decoded(request))
    if project is None:
        project = authenticate(key_from_dsn(envelope.headers.get("dsn")), project_id)
    events = envelope.items
    if len(events) > 1:
        raise Malformed("An envelope carries at most one event item.")
    event_id = parse_event_id(envelope.headers.get("event_id"))
    if events:
        _, payload = events[0]
        if len(payload) > max_event_bytes():
            raise TooLarge(f"The event item is over the limit of {max_event_bytes()} bytes.")
        _admit(request, project)  # envelopes without an event (sessions, client reports) use no quota
        event_id = _store(request, project, _json_object(payload, "event item"), event_id)
    return JsonResponse({"id": event_id.hex} if event_id else {})


def decode_store_body(body: bytes, *, limit: int) -> bytes:
    """Relay's legacy decoding, after Content-Encoding: base64 if not JSON, then zlib if still not."""
    if body.lstrip()[:1] != b"{":
        try:
            body = base64.b64decode(b"".join(body.split()), validate=False)
        except (binascii.Error, ValueError):
            raise Malformed("The body is neither JSON nor base64.") from None
        if body.lstrip()[:1] != b"{":
            body = inflate_deflate(body, limit=limit)
    return body


@_sentry_endpoint
def store_view(request: HttpRequest, project_id: int) -> HttpResponse:
    """Legacy ``POST /api/<project_id>/store/``: the body is one event (old SDKs: raven, sentry-python 0.x)."""
    project = authenticate(sentry_key_from_request(request), project_id)
    _admit(request, project)
    limit = max_decompressed_bytes()
    body = decode_store_body(_read_decoded(request), limit=limit)
    if len(body) > max_event_bytes():
        raise TooLarge(f"The event is over the limit of {max_event_bytes()} bytes.")
    event = _json_object(body, "event")
    event_id = _store(request, project, event, parse_event_id(event.get("event_id")))
    return JsonResponse({"id": event_id.hex})
