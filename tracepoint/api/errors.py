"""The one error shape of the API: ``{"code", "message", "request_id", "details"}``.

Used by DRF's exception handler, by Django's error handlers (404, 500, CSRF)
and by ``ApiErrorMiddleware`` for whatever else answers an ``/api/`` path
with a non-JSON error (Django's 405, RequestDataTooBig, database outages).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from tracepoint.errors import DomainError
from tracepoint.logging import request_id_var

logger = logging.getLogger("tracepoint.api")

STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("VALIDATION_ERROR", "The request is not valid."),
    401: ("AUTHENTICATION_REQUIRED", "Authentication credentials were not provided or are invalid."),
    403: ("PERMISSION_DENIED", "You do not have permission to perform this action."),
    404: ("NOT_FOUND", "Not found."),
    405: ("METHOD_NOT_ALLOWED", "This method is not allowed on this resource."),
    406: ("NOT_ACCEPTABLE", "Cannot produce a response in the requested format."),
    409: ("CONFLICT", "The request conflicts with the current state of the resource."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type; send application/json."),
    429: ("RATE_LIMIT_EXCEEDED", "Too many requests, please try again later."),
    500: ("INTERNAL_ERROR", "An unexpected error occurred; it has been logged."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable; please retry."),
}
DATABASE_RETRY_AFTER_SECONDS = 5


def code_for_status(status: int) -> str:
    if status in STATUS_CODES:
        return STATUS_CODES[status][0]
    return "VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": request_id_var.get(), "details": details or {}}


def error_response(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body = error_body(code or code_for_status(status), message or STATUS_CODES.get(status, ("", "Error."))[1], details)
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def is_database_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError))


def database_unavailable_response() -> JsonResponse:
    response = error_response(
        503,
        "The database is unavailable; please retry shortly.",
        details={"dependency": "database"},
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )
    response.database_unavailable = True  # DatabaseRetryMiddleware may try a safe request again
    return response


def _validation_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return detail
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def _first_message(details: dict[str, Any]) -> str:
    for field, messages in details.items():
        first = messages[0] if isinstance(messages, list) and messages else messages
        if isinstance(first, dict):
            return f"Invalid value for '{field}'."
        label = "" if field == "non_field_errors" else f"{field}: "
        return f"{label}{first}"
    return STATUS_CODES[400][1]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error leaves in the one shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(error_body("PAYLOAD_TOO_LARGE", STATUS_CODES[413][1]), status=413)
    elif is_database_unavailable(exc):
        logger.error("database unavailable", exc_info=exc)
        body = error_body("SERVICE_UNAVAILABLE", "The database is unavailable; please retry shortly.")
        body["details"] = {"dependency": "database"}
        response = Response(body, status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})
        response.database_unavailable = True  # DatabaseRetryMiddleware may try a safe request again
        return response
    if not isinstance(exc, drf_exceptions.APIException):
        return None  # unexpected: ApiErrorMiddleware logs it and answers 500

    status = exc.status_code
    if isinstance(exc, drf_exceptions.ValidationError):
        details = _validation_details(exc.detail)
        return Response(error_body("VALIDATION_ERROR", _first_message(details), details), status=400)
    if isinstance(exc, drf_exceptions.ParseError):
        return Response(error_body("VALIDATION_ERROR", f"Malformed request body: {exc.detail}"), status=400)
    details: dict[str, Any] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        view = context.get("view")
        if view is not None:
            details["allowed"] = sorted(m for m in view.allowed_methods if m != "OPTIONS")
            headers["Allow"] = ", ".join(view.allowed_methods)
    if isinstance(exc, drf_exceptions.Throttled):
        retry_after = max(1, int(exc.wait or 1))
        headers["Retry-After"] = str(retry_after)
        details["retry_after_seconds"] = retry_after
        return Response(error_body("RATE_LIMIT_EXCEEDED", STATUS_CODES[429][1], details), status=429, headers=headers)
    message = str(exc.detail) if isinstance(exc.detail, str) else STATUS_CODES.get(status, ("", "Error."))[1]
    if isinstance(exc.detail, dict):
        details.update(exc.detail)
    return Response(error_body(code_for_status(status), message, details), status=status, headers=headers)


def server_error_response(exc: BaseException | None) -> JsonResponse:
    if exc is not None and is_database_unavailable(exc):
        return database_unavailable_response()
    return error_response(500)
