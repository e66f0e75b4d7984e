"""The Sentry ingest endpoints (and heartbeat pings) without Django's middleware chain.

SDKs post one envelope per event, so at a thousand events a second the fixed
cost of a request matters more than anything the view does: sessions, CSRF,
authentication, messages, htmx, the URL resolver and a database health check
per request cost more CPU than storing the event. ``IngestFastPath`` wraps the
WSGI application and sends ``POST /api/<id>/envelope/`` and ``/store/`` straight
to the same views (``events.sentry``), doing itself the little of the chain
that matters there: the request id and its log line, host validation, the body
limit, the 503 for a lost database, and the 500 error shape. Everything else
(OPTIONS preflights, other methods, HTTPS redirects) takes the normal path.
Heartbeat pings (``/ping/<uuid>…``, monitors.ping) take the same short cut:
the key in the URL is their only credential. So do public status page outputs
already in the cache (statuspages.public.from_cache): a page under a traffic
spike is answered from Redis without the middleware chain.

A database connection that died since the last request is found by the
store itself: the insert is idempotent (``ON CONFLICT DO NOTHING`` on
``event_id``), so it is retried once on a fresh connection instead of paying
a ``SELECT 1`` health check on every request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import connections
from django.http import HttpResponse

from tracepoint import metrics
from tracepoint.api.errors import database_unavailable_response, error_response, is_database_unavailable
from tracepoint.logging import request_id_var
from tracepoint.middleware import _SANE_REQUEST_ID

logger = logging.getLogger("tracepoint.request")
error_logger = logging.getLogger("tracepoint.errors")

_PATH = re.compile(r"/api/(\d{1,18})/(envelope|store)/")
_PING = re.compile(r"/ping/([0-9a-fA-F-]{32,36})(?:/([^/]{1,20}))?")
_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


def _views() -> dict[str, Callable]:
    from events import sentry

    return {"envelope": sentry.envelope_view, "store": sentry.store_view}


class IngestFastPath:
    """WSGI wrapper: Sentry ingest POSTs go to their views directly, the rest to ``app``."""

    def __init__(self, app: Callable):
        self.app = app
        self.views: dict[str, Callable] | None = None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        match = _PATH.fullmatch(path)
        if match is not None and method == "POST":
            if self.views is None:
                self.views = _views()
            view, project_id = self.views[match[2]], int(match[1])
            return self._serve(
                environ, start_response, lambda request: self.respond(request, view, project_id), f"sentry-{match[2]}"
            )
        ping = _PING.fullmatch(path)
        if ping is not None and method in ("GET", "HEAD", "POST"):
            return self._serve_ping(environ, start_response, ping)
        if method in ("GET", "HEAD") and path.startswith(("/status/", "/badge/")):
            served = self._serve_public(environ, start_response, path)
            if served is not None:
                return served
        return self.app(environ, start_response)

    def _serve_public(self, environ: dict, start_response: Callable, path: str) -> Iterable[bytes] | None:
        """A public status page output straight from the cache (statuspages.public.from_cache), as a CDN
        would serve it; None sends the request through Django (not cached yet, private, anything odd)."""
        from statuspages.public import from_cache

        started = time.perf_counter()
        request = WSGIRequest(environ)
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return None
        try:
            request.get_host()
            found = from_cache(path, environ.get("HTTP_IF_NONE_MATCH", ""))
        except Exception as exc:  # a bad host, a cache that is down: Django answers (and logs) as usual
            logger.debug("public fast path declined %s: %s", path, exc)
            return None
        if found is None:
            return None
        status, headers, body = found
        metrics.observe_request("statuspage-cached", request.method, status, time.perf_counter() - started)
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        request_id_var.set(request_id)
        headers.update(_SECURITY_HEADERS)
        headers["X-Request-ID"] = request_id
        if settings.SECURE_HSTS_SECONDS and request.is_secure():
            headers["Strict-Transport-Security"] = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if status == 200:
            headers["Content-Length"] = str(len(body))
        _log_request(logging.DEBUG, request, status, started, request_id)
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [b"" if request.method == "HEAD" or status == 304 else body]

    def _serve(self, environ: dict, start_response: Callable, handler: Callable, route: str) -> Iterable[bytes]:
        """What the middleware chain would do around ``handler``: request id, log line, security headers."""
        started = time.perf_counter()
        request = WSGIRequest(environ)
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():  # honours SECURE_PROXY_SSL_HEADER
            return self.app(environ, start_response)  # SecurityMiddleware redirects
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        request.request_id = request_id
        request_id_var.set(request_id)
        response = handler(request)
        metrics.observe_request(route, request.method, response.status_code, time.perf_counter() - started)
        if route.startswith("sentry-"):
            metrics.INGEST_EVENTS.labels("accepted" if response.status_code < 300 else "rejected").inc()
        response["X-Request-ID"] = request_id
        for name, value in _SECURITY_HEADERS.items():  # what SecurityMiddleware and XFrameOptions would add
            response.setdefault(name, value)
        status = response.status_code
        _log_request(logging.ERROR if status >= 500 else logging.INFO, request, status, started, request_id)
        start_response(f"{status} {response.reason_phrase}", list(response.items()))
        return response

    def _serve_ping(self, environ: dict, start_response: Callable, match: re.Match) -> Iterable[bytes]:
        """A heartbeat ping (monitors.ping), answered as plain WSGI: no response object, no signals.

        A successful ping is logged at DEBUG: each one is already in the monitor's
        ping log, and a busy fleet pings thousands of times a second."""
        started = time.perf_counter()
        request = WSGIRequest(environ)
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return self.app(environ, start_response)
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        request.request_id = request_id
        request_id_var.set(request_id)
        status, text = self.respond_ping(request, match)
        metrics.observe_request("ping", request.method, status, time.perf_counter() - started)
        body = b"" if request.method == "HEAD" else text.encode()
        from monitors import ping

        headers = [
            *ping.headers(),
            ("Content-Length", str(len(text.encode()))),
            ("X-Request-ID", request_id),
            *_SECURITY_HEADERS.items(),
        ]
        level = logging.DEBUG if status == 200 else logging.ERROR if status >= 500 else logging.INFO
        _log_request(level, request, status, started, request_id)
        if status == 503:
            headers.append(("Retry-After", "5"))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def respond_ping(self, request: WSGIRequest, match: re.Match) -> tuple[int, str]:
        from monitors import ping

        try:
            request.get_host()
        except DisallowedHost:
            return 400, "invalid host"
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= settings.TRACEPOINT["MAX_REQUEST_BYTES"]:
            return 413, "request body too large"
        try:
            key = uuid.UUID(match[1])
        except ValueError:
            return 404, "not found"
        _prepare_connections()
        try:
            return ping.answer(request, key, match[2])
        except Exception as exc:
            if not is_database_unavailable(exc):
                error_logger.error("unhandled error on %s", request.path, exc_info=exc)
                return 500, "server error"
            error_logger.error("database unavailable: %s", exc, exc_info=exc)
            for connection in connections.all(initialized_only=True):
                if not connection.in_atomic_block:
                    connection.close()
            return 503, "database unavailable"

    def respond(self, request: WSGIRequest, view: Callable, project_id: int) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost:
            return error_response(400, "Invalid Host header.")
        limit = view.max_request_bytes()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "Invalid Content-Length header.")
        if length > limit:
            response = error_response(
                413, f"The request body is {length} bytes; the limit is {limit} bytes.", details={"limit_bytes": limit}
            )
            for name, value in view.error_headers.items():
                response[name] = value
            return response
        _prepare_connections()
        try:
            return view(request, project_id=project_id)
        except Exception as exc:
            if not is_database_unavailable(exc):
                error_logger.error("unhandled error on %s", request.path, exc_info=exc)
                return error_response(500)
            error_logger.warning("database connection lost during ingest, retrying once: %s", exc)
        # The body was read into memory before the database was touched, so the
        # view can run again; storing is idempotent on event_id.
        for connection in connections.all(initialized_only=True):
            if connection.in_atomic_block:
                return database_unavailable_response()
            connection.close()
        try:
            return view(request, project_id=project_id)
        except Exception as exc:
            if is_database_unavailable(exc):
                error_logger.error("database unavailable: %s", exc, exc_info=exc)
                return database_unavailable_response()
            error_logger.error("unhandled error on %s", request.path, exc_info=exc)
            return error_response(500)


def _log_request(level: int, request: WSGIRequest, status: int, started: float, request_id: str) -> None:
    """The request log line the middleware chain would write (one JSON object with the request id)."""
    if not logger.isEnabledFor(level):
        return
    logger.log(
        level,
        "%s %s %s",
        request.method,
        request.path,
        status,
        extra={
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "user": None,
            "request_id": request_id,
        },
    )


def _prepare_connections() -> None:
    """What ``request_started`` does (drop broken or expired connections), minus the per-request ``SELECT 1``."""
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:  # only inside a test's transaction; never between requests
            continue
        connection.close_if_unusable_or_obsolete()
        if connection.connection is not None:
            connection.health_check_done = True
