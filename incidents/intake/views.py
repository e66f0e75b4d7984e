"""The intake endpoints: plain views (no DRF), like the Sentry ingest, since the senders are machines.

Senders drop a notification for good on any 4xx, so a 4xx is only for what no retry can fix (bad
token, bad JSON, an invalid payload, too large, a flood); a lost database is the 503 they retry.
The view may run twice for one POST (``retry_on_lost_database``): receiving is idempotent, and the
flood counter counts the request once.

Refusals leave in our one error shape, except on the Events API v2 paths, whose clients expect
PagerDuty's ``{"status", "message", "errors"}`` (shared/specs/incoming-alerts.md); there the body
limit is checked by the view itself so that a 413 has that shape too. A token of another kind of
integration is a 401, like any token that does not open this endpoint.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from incidents.intake import alertmanager, events_v2, generic, grafana, limits, services
from incidents.intake.models import Integration, IntegrationKind
from incidents.intake.receiving import Received, clean_json
from tracepoint import ratelimit
from tracepoint.api.errors import error_response
from tracepoint.errors import DomainError
from tracepoint.middleware import exempt_from_write_budget, retry_on_lost_database

logger = logging.getLogger("tracepoint.intake")
READ_CHUNK_BYTES = 64 * 1024


class Refused(Exception):
    """A refusal, worded by the endpoint's renderer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        errors: list[str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.details, self.headers = details or {}, headers or {}
        self.errors = errors or [message]


def render_error(refused: Refused) -> JsonResponse:
    """Our one error shape (tracepoint/errors.py)."""
    return error_response(
        refused.status, refused.message, code=refused.code, details=refused.details, headers=refused.headers
    )


# PagerDuty's words for each refusal; 400's are the spec's own.
EVENTS_V2_WORDS = {
    400: ("invalid event", "Event object is invalid"),
    401: ("unauthorized", "Invalid routing key"),
    405: ("invalid request", "Method not allowed"),
    413: ("invalid event", "Event object is too large"),
    429: ("throttle event", "Requests for this integration are arriving too quickly; retry later"),
}


def render_events_v2_error(refused: Refused) -> JsonResponse:
    status, message = EVENTS_V2_WORDS.get(refused.status, ("error", refused.message))
    response = JsonResponse({"status": status, "message": message, "errors": refused.errors}, status=refused.status)
    for name, value in refused.headers.items():
        response[name] = value
    return response


def presented_token(request: HttpRequest) -> str | None:
    """``Authorization: Bearer <token>`` (or ``Token``), or HTTP basic auth with the token as the
    password (Grafana's and Alertmanager's basic_auth; a username alone is taken too)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if not credentials:
        return None
    if scheme in ("bearer", "token"):
        return credentials
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, ValueError):
            return None
        username, _, password = decoded.partition(":")
        return password or username or None
    return None


def read_body(request: HttpRequest, *, limit: int) -> bytes:
    """The body, at most ``limit`` bytes, counted while reading (a chunked body has no Content-Length to
    trust). Kept on the request, so a retry after a lost database reads it again."""
    kept = getattr(request, "_intake_body", None)
    if kept is not None:
        return kept
    meta = request.META
    too_large = Refused(413, f"The request body is over the limit of {limit} bytes.", details={"limit_bytes": limit})
    if meta.get("CONTENT_LENGTH"):
        try:
            declared = int(meta["CONTENT_LENGTH"])
        except ValueError:
            raise Refused(400, "Invalid Content-Length header.") from None
        if declared > limit:
            raise too_large
        stream = request
    elif meta.get("wsgi.input_terminated"):
        stream = meta["wsgi.input"]
    else:
        return b""
    chunks, total = [], 0
    while chunk := stream.read(READ_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise too_large
        chunks.append(chunk)
    request._intake_body = b"".join(chunks)
    return request._intake_body


def _authenticate(request: HttpRequest, token: str | None, *, kind: str) -> Integration:
    try:
        return services.authenticate(token, kind=kind)
    except services.InvalidIntegrationToken as exc:
        raise Refused(
            401,
            exc.message,
            details=exc.details,
            headers={"WWW-Authenticate": 'Bearer realm="tracepoint-intake"'},
        ) from None


def _authenticate_request(request: HttpRequest, url_token: str | None, *, kind: str) -> Integration:
    if url_token:  # a credential: kept out of the request log line
        request.log_path = request.path.removesuffix(url_token) + "<token>"
    return _authenticate(request, url_token or presented_token(request), kind=kind)


def _admit(request: HttpRequest, integration: Integration) -> None:
    """The flood limit, per integration; counted once per request, retries included."""
    if getattr(request, "_intake_admitted", False):
        return
    decision = ratelimit.hit(limits.RATE_LIMIT_SCOPE, f"integration:{integration.pk}")
    if not decision.allowed:
        raise Refused(
            429,
            f"This integration sent more than {decision.limit} requests in the current window; "
            f"retry in {decision.retry_after} seconds.",
            details={"retry_after_seconds": decision.retry_after, "limit": decision.limit},
            headers={"Retry-After": str(decision.retry_after)},
        )
    request._intake_admitted = True


def _json(body: bytes) -> object:
    try:
        return clean_json(json.loads(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise Refused(400, "The body is not valid JSON: nested too deeply.") from None


def _no_early_refusal() -> int:
    # The middleware refuses a declared body over the view's limit in our error shape; this view
    # refuses it itself, in its own (read_body checks the declared length before reading).
    return sys.maxsize


def intake_endpoint(
    *, render: Callable[[Refused], HttpResponse] = render_error, own_body_limit: bool = False
) -> Callable:
    """POST only, with the error mapping and body limit shared by every intake endpoint."""

    def decorate(view):
        def wrapper(request: HttpRequest, token: str | None = None) -> HttpResponse:
            if request.method != "POST":
                return render(Refused(405, "Use POST.", details={"allowed": ["POST"]}, headers={"Allow": "POST"}))
            try:
                return view(request, token)
            except Refused as exc:
                return render(exc)
            except DomainError as exc:
                logger.info("intake refused a payload: %s", exc.message)
                errors = exc.errors if isinstance(exc, events_v2.InvalidEvent) else None
                return render(Refused(exc.status_code, exc.message, code=exc.code, details=exc.details, errors=errors))

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        wrapper.max_request_bytes = _no_early_refusal if own_body_limit else limits.max_request_bytes
        return retry_on_lost_database(exempt_from_write_budget(csrf_exempt(wrapper)))

    return decorate


def _accepted(received: Received) -> JsonResponse:
    return JsonResponse(
        {
            "status": "accepted",
            "payload_id": received.payload.pk,
            "group_id": received.group.pk if received.group else None,
            "new_alerts": len(received.new_firing),
            "resolved_alerts": len(received.resolved),
        },
        status=202,
    )


def _notification(request: HttpRequest, token: str | None, kind: str, receive: Callable[..., Received]):
    """An Alertmanager-shaped notification (Alertmanager's own, or Grafana's) for an integration of ``kind``."""
    integration = _authenticate_request(request, token, kind=kind)
    _admit(request, integration)
    raw = read_body(request, limit=limits.max_request_bytes())
    return _accepted(receive(integration, _json(raw), raw=raw))


@intake_endpoint()
def alertmanager_webhook(request: HttpRequest, token: str | None) -> HttpResponse:
    """``POST /api/v1/intake/alertmanager[/<token>]``: one Alertmanager notification (payload version 4)."""
    return _notification(request, token, IntegrationKind.ALERTMANAGER, alertmanager.receive_alertmanager)


@intake_endpoint()
def grafana_webhook(request: HttpRequest, token: str | None) -> HttpResponse:
    """``POST /api/v1/intake/grafana[/<token>]``: one notification of a Grafana webhook contact point."""
    return _notification(request, token, IntegrationKind.GRAFANA, grafana.receive_grafana)


@intake_endpoint()
def generic_webhook(request: HttpRequest, token: str | None) -> HttpResponse:
    """``POST /api/v1/intake/generic[/<token>]``: one alert in our generic JSON format (intake.generic)."""
    integration = _authenticate_request(request, token, kind=IntegrationKind.GENERIC)
    _admit(request, integration)
    raw = read_body(request, limit=limits.max_request_bytes())
    received = generic.receive_generic(integration, _json(raw), raw=raw)
    return JsonResponse(
        {
            "status": "accepted",
            "dedup_key": received.dedup_key,
            "payload_id": received.payload.pk,
            "group_id": received.group.pk if received.group else None,
        },
        status=202,
    )


def _routed_event(request: HttpRequest) -> tuple[Integration, bytes, Any]:
    """The body and the integration its ``routing_key`` names (``X-Routing-Key``, which pdpyras sent
    before 4.1.4, when the body has none)."""
    raw = read_body(request, limit=limits.max_request_bytes())
    body = _json(raw)
    routing_key = body.get("routing_key") if isinstance(body, dict) else None
    if routing_key is None or routing_key == "":
        routing_key = request.headers.get("X-Routing-Key", "").strip() or None
    if not isinstance(routing_key, str) or not routing_key.strip():
        raise Refused(400, "'routing_key' is missing or blank", errors=["'routing_key' is missing or blank"])
    integration = _authenticate(request, routing_key, kind=IntegrationKind.EVENTS_V2)
    _admit(request, integration)
    return integration, raw, body


@intake_endpoint(render=render_events_v2_error, own_body_limit=True)
def events_v2_enqueue(request: HttpRequest, token: str | None) -> HttpResponse:
    """``POST /api/v1/intake/events/v2/enqueue``: a PagerDuty Events API v2 alert event."""
    integration, raw, body = _routed_event(request)
    received = events_v2.receive_alert_event(integration, body, raw=raw)
    return JsonResponse(
        {"status": "success", "message": "Event processed", "dedup_key": received.dedup_key}, status=202
    )


@intake_endpoint(render=render_events_v2_error, own_body_limit=True)
def events_v2_change_enqueue(request: HttpRequest, token: str | None) -> HttpResponse:
    """``POST /api/v1/intake/events/v2/change/enqueue``: a change event (a deploy or a config change)."""
    integration, raw, body = _routed_event(request)
    events_v2.receive_change_event(integration, body, raw=raw)
    return JsonResponse({"status": "success", "message": "Change event processed"}, status=202)
