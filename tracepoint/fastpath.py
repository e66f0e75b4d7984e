"""The hot anonymous routes (Sentry ingest, heartbeat pings, cached status page outputs) without
Django's whole middleware chain.

At a thousand requests a second the fixed cost of a request matters more than what the view does:
sessions, CSRF, authentication, messages, htmx, the whole URL resolver and a database health check
per request cost more CPU than storing an event. ``FastPath`` wraps the WSGI application and answers
its routes itself, running only what has work to do there, from the same code as the full chain:

- the routes are the URLconf's own patterns (``Route.patterns``), so both paths agree on what a path
  means;
- the request id and log line (``tracepoint.middleware.start_request`` / ``finish_request``), the
  body limit, the lost-database 503 and the error shape (``refuse_large_body``,
  ``call_with_database_retries``, ``response_for_error``) are the middleware's functions;
- the response headers come from the response phase of the middleware in ``RESPONSE_MIDDLEWARE``,
  instances of the very classes of ``settings.MIDDLEWARE`` (security headers, X-Frame-Options,
  Content-Length, the API's error reshaping). ``MIDDLEWARE_ON_FAST_ROUTES`` says what becomes of each
  entry of settings.MIDDLEWARE here; a test fails when settings.MIDDLEWARE gains one it does not list.

Whatever the fast path would have to decide differently goes to Django instead: another method
(CORS preflights), a plain-HTTP request under SECURE_SSL_REDIRECT, a Host outside ALLOWED_HOSTS,
a status page output that is not cached yet.

A database connection that died since the last request is found by the view itself, not by a
``SELECT 1`` per request: ingest is idempotent on ``event_id`` and is retried on a fresh connection
(``retry_on_lost_database``), as safe methods are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import URLPattern

from tracepoint.middleware import (
    ApiErrorMiddleware,
    call_with_database_retries,
    finish_request,
    refuse_large_body,
    response_for_error,
    start_request,
)

# The response phase of these runs on every fast answer, innermost first, as Django would run it.
RESPONSE_MIDDLEWARE = (XFrameOptionsMiddleware, CommonMiddleware, SecurityMiddleware, ApiErrorMiddleware)
MIDDLEWARE_ON_FAST_ROUTES = {
    "tracepoint.middleware.RequestIdMiddleware": "its start_request and finish_request run around every answer",
    "tracepoint.middleware.ProbeMiddleware": "/health and /ready are not fast routes",
    "tracepoint.middleware.ApiErrorMiddleware": "in RESPONSE_MIDDLEWARE; its body limit and errors run as functions",
    "tracepoint.middleware.DatabaseRetryMiddleware": "call_with_database_retries runs around every view",
    "tracepoint.middleware.PageWriteRateLimitMiddleware": "pings are exempt_from_write_budget; GETs and ingest "
    "(an /api/ path) are never counted",
    "django.middleware.security.SecurityMiddleware": "in RESPONSE_MIDDLEWARE; a request it would redirect to "
    "HTTPS goes to Django",
    "django.middleware.common.CommonMiddleware": "in RESPONSE_MIDDLEWARE; the Host is checked here (a bad one "
    "goes to Django); a path that matched a route never needs a slash appended",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "in RESPONSE_MIDDLEWARE",
    "whitenoise.middleware.WhiteNoiseMiddleware": "static files are not fast routes",
    "django.contrib.sessions.middleware.SessionMiddleware": "the routes are anonymous and never read a session",
    "django.middleware.csrf.CsrfViewMiddleware": "the routes take GET, or POST to csrf_exempt views",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "the routes are anonymous",
    "django.contrib.messages.middleware.MessageMiddleware": "no route shows or adds a message",
    "django_htmx.middleware.HtmxMiddleware": "no route renders an htmx fragment",
}


@dataclass(frozen=True)
class Route:
    """URLconf patterns the fast path answers for ``methods``.

    Without ``from_cache`` the pattern's own view answers. With it, ``from_cache(request, view,
    kwargs)`` answers from the cache alone, or returns None and Django's full view does."""

    patterns: Sequence[URLPattern]
    methods: frozenset[str]
    namespace: str = ""
    from_cache: Callable[[HttpRequest, Callable, dict], HttpResponse | None] | None = None


class FastPath:
    """WSGI wrapper: requests matching a ``Route`` are answered here, the rest by ``app``."""

    def __init__(self, app: Callable, routes: Sequence[Route]):
        self.app = app
        self.table = [
            (
                pattern.pattern,
                pattern.callback,
                pattern.default_args,
                f"{r.namespace}:{pattern.name}" if r.namespace else pattern.name,
                r,
            )
            for r in routes
            for pattern in r.patterns
        ]
        self.response_phase = [cls(_never_called).process_response for cls in RESPONSE_MIDDLEWARE]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        found = self.match(environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", ""))
        if found is None:
            return self.app(environ, start_response)
        return self._serve(environ, start_response, *found)

    def match(self, method: str | None, path: str) -> tuple[Callable, dict, str, Route] | None:
        """(view, keyword arguments, route name, route) of a request this fast path answers."""
        for pattern, view, default_args, name, route in self.table:
            if method in route.methods:
                match = pattern.match(path[1:])
                if match is not None and not match[0]:
                    return view, {**default_args, **match[2]}, name, route
        return None

    def _serve(self, environ, start_response, view, kwargs: dict, name: str, route: Route) -> Iterable[bytes]:
        started = time.perf_counter()
        request = WSGIRequest(environ)
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():  # honours SECURE_PROXY_SSL_HEADER
            return self.app(environ, start_response)  # SecurityMiddleware redirects
        try:
            request.get_host()
        except SuspiciousOperation:
            return self.app(environ, start_response)  # refused (and logged) by Django, as for any path
        start_request(request)
        if route.from_cache is not None:
            try:
                response = route.from_cache(request, view, kwargs)
            except Exception:  # a cache that is down, anything odd: the full view answers (and logs)
                response = None
            if response is None:
                return self.app(environ, start_response)
        else:
            response = refuse_large_body(request, view) or self._call(request, view, kwargs)
        for process_response in self.response_phase:
            response = process_response(request, response)
        finish_request(request, response, started=started, route=name, view=view)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        # The body itself, not the response: closing it would send request_finished, whose handlers
        # (connections, caches, the URLconf) cost more than a ping; _prepare_connections does their part.
        return [b"" if request.method == "HEAD" else response.content]

    @staticmethod
    def _call(request: HttpRequest, view: Callable, kwargs: dict) -> HttpResponse:
        _prepare_connections()
        try:
            response = call_with_database_retries(request, view, (), kwargs)
            return response if response is not None else view(request, **kwargs)
        except Exception as exc:
            return response_for_error(request, exc) or response_for_exception(request, exc)


def _never_called(request):
    raise AssertionError("the fast path runs only the response phase of its middleware")


def _prepare_connections() -> None:
    """What ``request_started`` does (drop broken or expired connections), minus the per-request ``SELECT 1``."""
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:  # only inside a test's transaction; never between requests
            continue
        connection.close_if_unusable_or_obsolete()
        if connection.connection is not None:
            connection.health_check_done = True
