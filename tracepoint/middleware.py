"""Request ids and request logging; the API error shape for whatever escapes a view."""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.functional import empty

from tracepoint import metrics
from tracepoint.api.errors import (
    database_unavailable_response,
    error_response,
    is_api_request,
    is_database_unavailable,
    server_error_response,
)
from tracepoint.logging import request_id_var

logger = logging.getLogger("tracepoint.request")
error_logger = logging.getLogger("tracepoint.errors")

# Accept a caller's id only when it is short and made of safe characters, so it
# cannot inject anything into log lines or response headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def _username(request: HttpRequest) -> str | None:
    """The user if something already loaded it; never query the database for a log line."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is empty or not getattr(wrapped, "is_authenticated", False):
        return None
    return wrapped.get_username()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        request.request_id = request_id
        # Not reset afterwards: Django logs a 5xx after the middleware chain has
        # returned, and that line should still carry the id. The next request
        # in this thread or task sets its own.
        request_id_var.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        seconds = time.perf_counter() - started
        metrics.observe_request(metrics.route_of(request), request.method, response.status_code, seconds)
        duration_ms = round(seconds * 1000, 2)
        level = logging.ERROR if response.status_code >= 500 else logging.INFO
        if request.path in PROBE_PATHS and response.status_code < 400:
            level = logging.DEBUG  # probes every few seconds would drown the log
        logger.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user": _username(request),
                "request_id": request_id,
            },
        )
        return response


PROBE_PATHS = frozenset({"/health", "/ready"})


class ProbeMiddleware:
    """Answers /health and /ready before host validation and the HTTPS redirect.

    Orchestrators probe a container by its IP address over plain HTTP; those
    requests must reach the probes whatever ALLOWED_HOSTS and SECURE_SSL say.
    The probes reveal nothing but up/down, so answering any Host is safe.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in PROBE_PATHS:
            from tracepoint import views

            return views.health(request) if request.path == "/health" else views.ready(request)
        return self.get_response(request)


class PageWriteRateLimitMiddleware:
    """The write budget of the API, applied to form posts of the HTML pages.

    The API counts writes in DRF's throttle (after token authentication); this
    covers everything else except login, which has its own stricter scope.
    """

    UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.urls import reverse

        from tracepoint import ratelimit

        if request.method in self.UNSAFE and not is_api_request(request) and request.path != reverse("login"):
            decision = ratelimit.hit("write", ratelimit.request_ident(request))
            if not decision.allowed:
                from django.shortcuts import render

                response = render(
                    request,
                    "error.html",
                    {
                        "status": 429,
                        "title": "Too many requests",
                        "message": f"You are going too fast. Try again in {decision.retry_after} seconds.",
                    },
                    status=429,
                )
                response["Retry-After"] = str(decision.retry_after)
                return response
        return self.get_response(request)


class ApiErrorMiddleware:
    """Keeps ``/api/`` errors in one JSON shape and turns a lost database into 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_api_request(request) and response.status_code >= 400 and not _is_json(response):
            response = self._reshape(response)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        from django.conf import settings

        limit = getattr(view_func, "max_request_bytes", None)
        view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
        if limit is None and view_class is not None:
            limit = getattr(view_class, "max_request_bytes", None)
        if callable(limit):
            limit = limit()
        limit = limit or settings.TRACEPOINT["MAX_REQUEST_BYTES"]
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "Invalid Content-Length header.")
        if length > limit:
            message = f"The request body is {length} bytes; the limit is {limit} bytes."
            if is_api_request(request):
                response = error_response(413, message, details={"limit_bytes": limit})
            else:
                response = HttpResponse(message, status=413, content_type="text/plain")
            # e.g. CORS headers, so a browser SDK can read the refusal
            for name, value in getattr(view_func, "error_headers", {}).items():
                response[name] = value
            return response
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_unavailable(exception):
            error_logger.error("database unavailable: %s", exception, exc_info=exception)
            if is_api_request(request):
                return database_unavailable_response()
            return unavailable_page()
        if is_api_request(request):
            error_logger.error("unhandled error on %s", request.path, exc_info=exception)
            return server_error_response(exception)
        return None

    @staticmethod
    def _reshape(response: HttpResponse) -> HttpResponse:
        headers = {name: response[name] for name in ("Allow", "Retry-After", "WWW-Authenticate") if name in response}
        details = {}
        if response.status_code == 405 and "Allow" in headers:
            details["allowed"] = [m.strip() for m in headers["Allow"].split(",") if m.strip() != "OPTIONS"]
        return error_response(response.status_code, details=details, headers=headers)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith(("application/json", "application/problem+json"))


def unavailable_page() -> HttpResponse:
    # Rendered without the request: context processors would query the database.
    response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = "5"
    return response


class DatabaseRetryMiddleware:
    """Runs a safe request's view again when the database connection was lost (a failover, a restart,
    a cut network): after each of DATABASE_RETRY_DELAYS, on a fresh connection. Only GET and HEAD
    (nothing to do twice), only outside a transaction, never for streams (async views). What still fails
    becomes the 503 SERVICE_UNAVAILABLE of ApiErrorMiddleware."""

    DATABASE_RETRY_DELAYS = (0.2, 0.6)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        import asyncio

        from django.db import connections

        if request.method not in ("GET", "HEAD") or asyncio.iscoroutinefunction(view_func):
            return None
        for delay in self.DATABASE_RETRY_DELAYS:
            try:
                response = view_func(request, *view_args, **view_kwargs)
            except Exception as exc:
                if not is_database_unavailable(exc) or self._in_transaction(connections):
                    return None  # Django runs the (safe) view once more, with its usual error handling
                reason = exc
            else:
                # DRF views turn a lost database into their 503 themselves (tracepoint.api.errors).
                if not getattr(response, "database_unavailable", False) or self._in_transaction(connections):
                    return response
                reason = "the view answered 503"
            logger.warning("database connection lost on %s; retrying in %.1f s: %s", request.path, delay, reason)
            for connection in connections.all(initialized_only=True):
                connection.close()
            time.sleep(delay)
        return None  # the last attempt is Django's own: a 503 if the database is still away

    @staticmethod
    def _in_transaction(connections) -> bool:
        return any(connection.in_atomic_block for connection in connections.all(initialized_only=True))
