"""Request ids and request logging; the API error shape for whatever escapes a view.

The pieces are module functions as well as middleware, because the WSGI fast path
(tracepoint.fastpath) runs them around its own routes: one request id, one log
line, one body limit, one 503 and one error shape, whichever path a request takes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.core.handlers.exception import response_for_exception
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import empty

from tracepoint import metrics, ratelimit, views
from tracepoint.api.errors import (
    database_unavailable_response,
    error_response,
    is_api_request,
    is_database_unavailable,
    server_error_response,
)
from tracepoint.logging import request_id_var
from tracepoint.views import unavailable_page

logger = logging.getLogger("tracepoint.request")
error_logger = logging.getLogger("tracepoint.errors")

# Accept a caller's id only when it is short and made of safe characters, so it
# cannot inject anything into log lines or response headers.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
PROBE_PATHS = frozenset({"/health", "/ready"})


def quiet_success(view: Callable) -> Callable:
    """Marks a high-volume anonymous endpoint (pings, public status outputs): its answers below 400 are
    logged at DEBUG. Each ping is already in its monitor's ping log, and a spike on a status page
    would drown every other line."""
    view.log_success_quietly = True
    return view


def start_request(request: HttpRequest) -> str:
    """Give the request its id: the caller's X-Request-ID when sane, else a new one."""
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    request_id = incoming if SANE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
    request.request_id = request_id
    # Not reset afterwards: Django logs a 5xx after the middleware chain has
    # returned, and that line should still carry the id. The next request
    # in this thread or task sets its own.
    request_id_var.set(request_id)
    return request_id


def finish_request(request: HttpRequest, status: int, *, started: float, route: str, view=None) -> None:
    """The request metrics and the one log line of a request."""
    seconds = time.perf_counter() - started
    metrics.observe_request(route, request.method, status, seconds)
    counter = getattr(view, "outcome_counter", None)  # e.g. ingest's accepted and rejected events
    if counter is not None and request.method == "POST":
        counter.labels("accepted" if status < 300 else "rejected").inc()
    if status >= 500:
        level = logging.ERROR
    elif status < 400 and (request.path in PROBE_PATHS or getattr(view, "log_success_quietly", False)):
        level = logging.DEBUG  # probes every few seconds, pings and status page spikes would drown the log
    else:
        level = logging.INFO
    if logger.isEnabledFor(level):
        path = getattr(request, "log_path", request.path)  # a view may hide a credential in its URL
        logger.log(
            level,
            "%s %s %s",
            request.method,
            path,
            status,
            extra={
                "method": request.method,
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "user": _username(request),
                "request_id": request.request_id,
            },
        )


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
        started = time.perf_counter()
        start_request(request)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        match = getattr(request, "resolver_match", None)
        view = match and match.func
        finish_request(request, response.status_code, started=started, route=metrics.route_of(request), view=view)
        return response


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
            return views.health(request) if request.path == "/health" else views.ready(request)
        return self.get_response(request)


def exempt_from_write_budget(view: Callable) -> Callable:
    """Marks a keyed machine endpoint (heartbeat pings): its POSTs are not a page's form posts, so
    PageWriteRateLimitMiddleware leaves them alone (as the WSGI fast path, which serves them in
    production, always has)."""
    view.write_budget_exempt = True
    return view


class PageWriteRateLimitMiddleware:
    """The write budget of the API, applied to form posts of the HTML pages.

    The API counts writes in DRF's throttle (after token authentication); this
    covers everything else except login, which has its own stricter scope, and
    views marked ``exempt_from_write_budget``.
    """

    UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (
            request.method not in self.UNSAFE
            or is_api_request(request)
            or getattr(view_func, "write_budget_exempt", False)
        ):
            return None
        if request.path == reverse("login"):
            return None
        decision = ratelimit.hit("write", ratelimit.request_ident(request))
        if decision.allowed:
            return None
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


def body_limit(view_func) -> int:
    """The largest request body ``view_func`` takes: its ``max_request_bytes`` (a number or a function
    of nothing), else MAX_REQUEST_BYTES."""
    limit = getattr(view_func, "max_request_bytes", None)
    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    if limit is None and view_class is not None:
        limit = getattr(view_class, "max_request_bytes", None)
    if callable(limit):
        limit = limit()
    return limit or settings.TRACEPOINT["MAX_REQUEST_BYTES"]


def refuse_large_body(request: HttpRequest, view_func) -> HttpResponse | None:
    """The 413 for a declared body over the view's limit, before anything reads it; None if it fits."""
    limit = body_limit(view_func)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return error_response(400, "Invalid Content-Length header.")
    if length <= limit:
        return None
    message = f"The request body is {length} bytes; the limit is {limit} bytes."
    if is_api_request(request):
        response = error_response(413, message, details={"limit_bytes": limit})
    else:
        response = HttpResponse(message, status=413, content_type="text/plain")
    # e.g. CORS headers, so a browser SDK can read the refusal
    for name, value in getattr(view_func, "error_headers", {}).items():
        response[name] = value
    return response


def response_for_error(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    """A lost database becomes a 503 (JSON on the API, a page elsewhere); anything else escaping an API
    view becomes the 500 of the error shape. None: Django's own handling (handler500)."""
    if is_database_unavailable(exception):
        error_logger.error("database unavailable: %s", exception, exc_info=exception)
        if is_api_request(request):
            return database_unavailable_response()
        return unavailable_page()
    if is_api_request(request):
        error_logger.error("unhandled error on %s", request.path, exc_info=exception)
        return server_error_response(exception)
    return None


class ApiErrorMiddleware:
    """Keeps ``/api/`` errors in one JSON shape, refuses bodies over a view's limit, turns a lost
    database into 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.process_response(request, self.get_response(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if is_api_request(request) and response.status_code >= 400 and not _is_json(response):
            response = self._reshape(response)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        return refuse_large_body(request, view_func)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return response_for_error(request, exception)

    @staticmethod
    def _reshape(response: HttpResponse) -> HttpResponse:
        headers = {name: response[name] for name in ("Allow", "Retry-After", "WWW-Authenticate") if name in response}
        details = {}
        if response.status_code == 405 and "Allow" in headers:
            details["allowed"] = [m.strip() for m in headers["Allow"].split(",") if m.strip() != "OPTIONS"]
        return error_response(response.status_code, details=details, headers=headers)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith(("application/json", "application/problem+json"))


DATABASE_RETRY_DELAYS = (0.2, 0.6)


def retry_on_lost_database(view: Callable) -> Callable:
    """Marks a view that may run twice for one POST (its write is idempotent, e.g. ingest on
    ``event_id``): it is retried after a lost database connection like a GET."""
    view.retry_on_lost_database = True
    return view


def never_retry(view: Callable) -> Callable:
    """Marks a view that writes on GET (heartbeat pings): it is never run twice for one request."""
    view.retry_on_lost_database = False
    return view


def call_with_database_retries(
    request: HttpRequest, view_func, view_args, view_kwargs, *, call: Callable | None = None
) -> HttpResponse | None:
    """Runs a safe (or idempotent) request's view again when the database connection was lost (a
    failover, a restart, a cut network): after each of DATABASE_RETRY_DELAYS, on a fresh connection.
    Never inside a transaction, never for streams (async views), never for ``never_retry`` views.
    ``call`` runs in the view's place (the fast path's answer functions), under the view's policy.
    None: the caller runs the view one last time, with its usual error handling (a 503 if the
    database is still away). Any other error is answered here, as Django would answer it, so that
    the view never runs twice for it."""
    policy = getattr(view_func, "retry_on_lost_database", None)
    if policy is False or (policy is None and request.method not in ("GET", "HEAD")):
        return None
    if _is_async(view_func):
        return None
    call = call or view_func
    for delay in DATABASE_RETRY_DELAYS:
        try:
            response = call(request, *view_args, **view_kwargs)
        except Exception as exc:
            if not is_database_unavailable(exc) or _in_transaction():
                return response_for_error(request, exc) or response_for_exception(request, exc)
            reason = exc
        else:
            # DRF views turn a lost database into their 503 themselves (tracepoint.api.errors).
            if not getattr(response, "database_unavailable", False) or _in_transaction():
                return response
            reason = "the view answered 503"
        logger.warning("database connection lost on %s; retrying in %.1f s: %s", request.path, delay, reason)
        for connection in connections.all(initialized_only=True):
            connection.close()
        time.sleep(delay)
    return None


@lru_cache(maxsize=512)
def _is_async(view_func) -> bool:
    return asyncio.iscoroutinefunction(view_func)


def _in_transaction() -> bool:
    return any(connection.in_atomic_block for connection in connections.all(initialized_only=True))


class DatabaseRetryMiddleware:
    """call_with_database_retries around every view: the last middleware, so it calls the view itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        return call_with_database_retries(request, view_func, view_args, view_kwargs)
