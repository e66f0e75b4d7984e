"""The intake endpoints: plain views (no DRF), like the Sentry ingest, since the senders are machines.

Senders drop a notification for good on any 4xx, so a 4xx is only for what no retry can fix (bad
token, bad JSON, wrong version, too large, a flood); a lost database is the 503 they retry. The view
may run twice for one POST (``retry_on_lost_database``): receiving is idempotent, and the flood
counter counts the request once.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from incidents.intake import alertmanager, limits, services
from incidents.intake.models import Integration
from tracepoint import ratelimit
from tracepoint.api.errors import error_response
from tracepoint.errors import DomainError
from tracepoint.middleware import exempt_from_write_budget, retry_on_lost_database

logger = logging.getLogger("tracepoint.intake")
READ_CHUNK_BYTES = 64 * 1024


class Refused(Exception):
    def __init__(self, response: HttpResponse):
        self.response = response


def bearer_token(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "token") and credentials.strip():
        return credentials.strip()
    return None


def read_body(request: HttpRequest, *, limit: int) -> bytes:
    """The body, at most ``limit`` bytes, counted while reading (a chunked body has no Content-Length to
    trust). Kept on the request, so a retry after a lost database reads it again."""
    kept = getattr(request, "_intake_body", None)
    if kept is not None:
        return kept
    meta = request.META
    if meta.get("CONTENT_LENGTH"):
        stream = request  # ApiErrorMiddleware has refused a declared length over the limit already
    elif meta.get("wsgi.input_terminated"):
        stream = meta["wsgi.input"]
    else:
        return b""
    chunks, total = [], 0
    while chunk := stream.read(READ_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise Refused(
                error_response(
                    413, f"The request body is over the limit of {limit} bytes.", details={"limit_bytes": limit}
                )
            )
        chunks.append(chunk)
    request._intake_body = b"".join(chunks)
    return request._intake_body


def _authenticate(request: HttpRequest, url_token: str | None) -> Integration:
    if url_token:  # a credential: kept out of the request log line
        request.log_path = request.path.removesuffix(url_token) + "<token>"
    try:
        integration = services.authenticate(url_token or bearer_token(request))
    except services.InvalidIntegrationToken as exc:
        raise Refused(
            error_response(401, exc.message, headers={"WWW-Authenticate": 'Bearer realm="tracepoint-intake"'})
        ) from None
    return integration


def _admit(request: HttpRequest, integration: Integration) -> None:
    """The flood limit, per integration; counted once per request, retries included."""
    if getattr(request, "_intake_admitted", False):
        return
    decision = ratelimit.hit(limits.RATE_LIMIT_SCOPE, f"integration:{integration.pk}")
    if not decision.allowed:
        raise Refused(
            error_response(
                429,
                f"This integration sent more than {decision.limit} requests in the current window; "
                f"retry in {decision.retry_after} seconds.",
                details={"retry_after_seconds": decision.retry_after, "limit": decision.limit},
                headers={"Retry-After": str(decision.retry_after)},
            )
        )
    request._intake_admitted = True


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(error_response(400, f"The body is not valid JSON: {exc}.")) from None


def intake_endpoint(view):
    """POST only, with the error mapping and body limit shared by every intake endpoint."""

    def wrapper(request: HttpRequest, token: str | None = None) -> HttpResponse:
        if request.method != "POST":
            return error_response(405, "Use POST.", details={"allowed": ["POST"]}, headers={"Allow": "POST"})
        try:
            return view(request, token)
        except Refused as exc:
            return exc.response
        except DomainError as exc:
            logger.info("intake refused a payload: %s", exc.message)
            return error_response(exc.status_code, exc.message, code=exc.code, details=exc.details)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    wrapper.max_request_bytes = limits.max_request_bytes
    return retry_on_lost_database(exempt_from_write_budget(csrf_exempt(wrapper)))


@intake_endpoint
def alertmanager_webhook(request: HttpRequest, token: str | None) -> HttpResponse:
    """``POST /api/v1/intake/alertmanager[/<token>]``: one Alertmanager notification (payload version 4)."""
    integration = _authenticate(request, token)
    _admit(request, integration)
    raw = read_body(request, limit=limits.max_request_bytes())
    received = alertmanager.receive_alertmanager(integration, _json(raw), raw=raw)
    return JsonResponse(
        {
            "status": "accepted",
            "payload_id": received.payload.pk,
            "group_id": received.group.pk,
            "new_alerts": len(received.new_firing),
            "resolved_alerts": len(received.resolved),
        },
        status=202,
    )
