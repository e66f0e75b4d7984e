"""Sentry protocol ingest: the views of ``POST /api/<project_id>/envelope/`` and the legacy ``/store/``.

Any Sentry SDK pointed at a project's DSN lands here (see shared/specs/sentry-ingest.md).
The view authenticates the key, reads the body with a cap, inflates it with a
second cap, parses the envelope (``events.sentry_protocol``), checks its one ``event``
item (size, a JSON object), counts the quota and stores the event as received
(``ingest.receive``); the digester maps it to an Event (``events.sentry_event``) and
groups it. Other item types are accepted and dropped. Every refusal is the API's
error shape with CORS and ``X-Sentry-Error`` headers.

The checks after the body is read (``accept_envelope``, ``accept_store``) take bytes and headers'
values, not a request: the views call them, and so can an ingest front without Django's request
objects. They return what to store (``Received``) and store nothing themselves.
"""

from __future__ import annotations

import logging
import re
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from events import ingest, keys, quota, sentry_protocol
from events.ingest import Received
from events.models import Project, ReceivedEvent
from events.sentry_protocol import (
    Malformed,
    SentryProtocolError,
    TooLarge,
    decode_store_body,
    json_object,
    key_from_dsn,
    parse_envelope,
    parse_event_id,
    read_body,
    sentry_key_from_request,
)
from tracepoint import metrics
from tracepoint.api.errors import error_response
from tracepoint.errors import DomainError
from tracepoint.middleware import quiet_success, retry_on_lost_database

logger = logging.getLogger("tracepoint.events.sentry")

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


def authenticate(public_key: str | None, project_id: int) -> Project:
    if not public_key:
        raise SentryProtocolError(401, "Missing authentication: send X-Sentry-Auth or sentry_key.")
    try:
        return keys.authenticate_key(public_key, project_id=project_id).project
    except DomainError as exc:
        raise SentryProtocolError(exc.status_code, exc.message) from None


# --- views ----------------------------------------------------------------------------


def with_cors(response: HttpResponse) -> HttpResponse:
    for name, value in CORS_HEADERS.items():
        response[name] = value
    return response


def _error(status: int, message: str) -> HttpResponse:
    # X-Sentry-Error must be one plain header line.
    header = re.sub(r"[^\x20-\x7e]", "?", message)[:200]
    return with_cors(error_response(status, message, headers={"X-Sentry-Error": header}))


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
    return with_cors(response)


class RateLimited(Exception):
    def __init__(self, decision: quota.Decision):
        self.decision = decision


@dataclass
class Attempt:
    """What one request has done so far, kept across its retries after a lost database connection
    (``retry_on_lost_database`` runs the view again with the same request): the quota is counted
    once, and an event that came without an id gets one id, not one per try."""

    admitted: bool = False
    event_id: uuid.UUID | None = None


def _admit(attempt: Attempt, project: Project) -> None:
    if attempt.admitted:
        return  # counted already: this is the retry after a lost database connection
    decision = quota.check(project)
    if not decision.allowed:
        raise RateLimited(decision)
    attempt.admitted = True


def _preflight(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(status=200)
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = request.headers.get("Access-Control-Request-Headers") or (
        CORS_ALLOW_HEADERS
    )
    response["Access-Control-Max-Age"] = "3600"
    return with_cors(response)


def refusal(exc: SentryProtocolError | RateLimited) -> HttpResponse:
    """The answer to a refused request, in the API's error shape with CORS and ``X-Sentry-Error``."""
    if isinstance(exc, RateLimited):
        return rate_limited(exc.decision)
    if exc.status >= 400 and exc.status != 401:
        logger.info("sentry ingest refused: %s %s", exc.status, exc.message)
    return _error(exc.status, exc.message)


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
            return with_cors(handler(request, project_id))
        except (SentryProtocolError, RateLimited) as exc:
            return refusal(exc)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    view.max_request_bytes = max_request_bytes
    view.error_headers = {**CORS_HEADERS, "X-Sentry-Error": "request body too large"}
    # Every POST answered, whatever answered it (a body limit, a lost database too), counts once.
    view.outcome_counter = metrics.INGEST_EVENTS
    # Storing is idempotent on event_id (one id per request, _event_id), so a lost connection is retried.
    # An accepted event is counted (tracepoint_ingest_events) and stored: a log line each would drown the log
    # under an SDK's flood and cost as much as the insert, so 2xx answers are logged at DEBUG, refusals as usual.
    return quiet_success(retry_on_lost_database(csrf_exempt(view)))


def _event_id(attempt: Attempt, event: dict[str, Any], event_id: uuid.UUID | None) -> uuid.UUID:
    event_id = event_id or parse_event_id(event.get("event_id"))
    if event_id is None:
        # Ours, made once per request: a retry of it stores the same event, not a second.
        event_id = attempt.event_id or uuid.uuid4()
        attempt.event_id = event_id
    return event_id


def _receive(received: Received) -> None:
    try:
        ingest.receive(
            received.project,
            received.event_id,
            body=received.body,
            encoding=received.encoding,
            envelope=received.envelope,
        )
    except DomainError as exc:
        raise SentryProtocolError(exc.status_code, exc.message) from None


# What an envelope may carry besides its event item and still be stored whole: its header and the item's.
ENVELOPE_OVERHEAD_BYTES = 4096


_ENCODING_MAX_CHARS = ReceivedEvent._meta.get_field("encoding").max_length


def _compressed(payload: bytes) -> bytes:
    return zlib.compress(payload, 1)


def accept_envelope(
    project_id: int, *, project: Project | None, body: bytes, encoding: str, attempt: Attempt
) -> tuple[uuid.UUID | None, Received | None]:
    """Check an envelope's body as received (at most ``max_request_bytes``) without storing it: the
    event id to answer and the event to store, or (None, None) for an envelope without an event.
    ``project``: already authenticated by a header key; None authenticates by the envelope's DSN.
    Raises ``SentryProtocolError`` (401, 4xx) and ``RateLimited``.

    The event is checked (size, a JSON object) and kept as it came; the digester reads it in full."""
    decoded = sentry_protocol.decode_content(body, encoding, limit=max_decompressed_bytes())
    envelope = parse_envelope(decoded)
    if project is None:
        project = authenticate(key_from_dsn(envelope.headers.get("dsn")), project_id)
    events = envelope.items
    if len(events) > 1:
        raise Malformed("An envelope carries at most one event item.")
    event_id = parse_event_id(envelope.headers.get("event_id"))
    if not events:
        return event_id, None
    _, payload = events[0]
    if len(payload) > max_event_bytes():
        raise TooLarge(f"The event item is over the limit of {max_event_bytes()} bytes.")
    _admit(attempt, project)  # envelopes without an event (sessions, client reports) use no quota
    event_id = _event_id(attempt, json_object(payload, "event item"), event_id)
    codings = sentry_protocol.normal_encoding(encoding)
    small_header = len(decoded) - len(payload) <= ENVELOPE_OVERHEAD_BYTES
    if envelope.item_count == 1 and small_header and len(codings) <= _ENCODING_MAX_CHARS:
        # The common case: the body as the SDK compressed it (its header is not much besides the event).
        return event_id, Received(project, event_id, body, codings, envelope=True)
    # Other items (attachments, sessions…) or a large header ride along: keep the event alone.
    return event_id, Received(project, event_id, _compressed(payload), "deflate", envelope=False)


def accept_store(project: Project, *, body: bytes, encoding: str, attempt: Attempt) -> tuple[uuid.UUID, Received]:
    """Check a legacy ``/store/`` body as received (one event) without storing it: the event id to answer
    and the event to store. Counts the quota (once per ``attempt``) before inflating anything."""
    _admit(attempt, project)
    limit = max_decompressed_bytes()
    event = decode_store_body(sentry_protocol.decode_content(body, encoding, limit=limit), limit=limit)
    if len(event) > max_event_bytes():
        raise TooLarge(f"The event is over the limit of {max_event_bytes()} bytes.")
    event_id = _event_id(attempt, json_object(event, "event"), None)
    return event_id, Received(project, event_id, _compressed(event), "deflate", envelope=False)


def _attempt(request: HttpRequest) -> Attempt:
    attempt = getattr(request, "_ingest_attempt", None)
    if attempt is None:
        attempt = request._ingest_attempt = Attempt()
    return attempt


def check_request(
    request: HttpRequest, project_id: int, *, body: bytes, legacy: bool
) -> tuple[uuid.UUID | None, Received | None]:
    """The checks of a POST to ``/envelope/`` (or ``/store/`` if ``legacy``) whose body was read: the key
    from its headers or query, then ``accept_envelope`` or ``accept_store``. For the ingest service
    (``events.ingest_service``), which reads the body itself; raises as they do."""
    attempt = _attempt(request)
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "")
    header_key = sentry_key_from_request(request)
    if legacy:
        return accept_store(authenticate(header_key, project_id), body=body, encoding=encoding, attempt=attempt)
    project = authenticate(header_key, project_id) if header_key else None
    return accept_envelope(project_id, project=project, body=body, encoding=encoding, attempt=attempt)


def accepted(event_id: uuid.UUID | None) -> dict[str, str]:
    """The body of a 200: the event's id (none for an envelope without an event)."""
    return {"id": event_id.hex} if event_id else {}


@_sentry_endpoint
def envelope_view(request: HttpRequest, project_id: int) -> HttpResponse:
    """``POST /api/<project_id>/envelope/``: store the envelope's event, drop every other item."""
    header_key = sentry_key_from_request(request)
    project = authenticate(header_key, project_id) if header_key else None  # refuse early, before reading
    body = read_body(request, limit=max_request_bytes())
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "")
    event_id, received = accept_envelope(
        project_id, project=project, body=body, encoding=encoding, attempt=_attempt(request)
    )
    if received is not None:
        _receive(received)
    return JsonResponse(accepted(event_id))


@_sentry_endpoint
def store_view(request: HttpRequest, project_id: int) -> HttpResponse:
    """Legacy ``POST /api/<project_id>/store/``: the body is one event (old SDKs: raven, sentry-python 0.x)."""
    project = authenticate(sentry_key_from_request(request), project_id)
    attempt = _attempt(request)
    _admit(attempt, project)  # before reading: a flood over the rate is refused without its bodies
    body = read_body(request, limit=max_request_bytes())
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "")
    event_id, received = accept_store(project, body=body, encoding=encoding, attempt=attempt)
    _receive(received)
    return JsonResponse(accepted(event_id))
