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
- the response headers come from the very classes of ``settings.MIDDLEWARE``: the security
  headers and X-Frame-Options that ``FIXED_HEADER_MIDDLEWARE`` adds (their process_response, run
  once per scheme at start-up), Content-Length by CommonMiddleware's rule, the API's error
  reshaping (ApiErrorMiddleware.process_response). ``MIDDLEWARE_ON_FAST_ROUTES`` says what becomes of each
  entry of settings.MIDDLEWARE here; a test fails when settings.MIDDLEWARE gains one it does not list.

Whatever the fast path would have to decide differently goes to Django instead: another method
(CORS preflights), a plain-HTTP request under SECURE_SSL_REDIRECT, a Host outside ALLOWED_HOSTS,
a status page output that is not cached yet.

A database connection that died since the last request is found by the view itself, not by a
``SELECT 1`` per request: ingest is idempotent on ``event_id`` and is retried on a fresh connection
(``retry_on_lost_database``), as safe methods are.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.client import responses

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.db import connections
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
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

# Their response phase adds the same headers to every answer (per scheme): run once, at start-up.
FIXED_HEADER_MIDDLEWARE = (XFrameOptionsMiddleware, SecurityMiddleware)
MIDDLEWARE_ON_FAST_ROUTES = {
    "tracepoint.middleware.RequestIdMiddleware": "its start_request and finish_request run around every answer",
    "tracepoint.middleware.ProbeMiddleware": "/health and /ready are not fast routes",
    "tracepoint.middleware.ApiErrorMiddleware": "its process_response runs on every view's answer; its body limit "
    "and errors run as functions",
    "tracepoint.middleware.DatabaseRetryMiddleware": "call_with_database_retries runs around every view",
    "tracepoint.middleware.PageWriteRateLimitMiddleware": "pings are exempt_from_write_budget; GETs and ingest "
    "(an /api/ path) are never counted",
    "django.middleware.security.SecurityMiddleware": "in FIXED_HEADER_MIDDLEWARE; a request it would redirect to "
    "HTTPS goes to Django",
    "django.middleware.common.CommonMiddleware": "the Host is checked here (a bad one goes to Django), and "
    "Content-Length added by its rule; a path that matched a route never needs a slash appended",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "in FIXED_HEADER_MIDDLEWARE",
    "whitenoise.middleware.WhiteNoiseMiddleware": "static files are not fast routes",
    "django.contrib.sessions.middleware.SessionMiddleware": "the routes are anonymous and never read a session",
    "django.middleware.csrf.CsrfViewMiddleware": "the routes take GET, or POST to csrf_exempt views",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "the routes are anonymous",
    "django.contrib.messages.middleware.MessageMiddleware": "no route shows or adds a message",
    "django_htmx.middleware.HtmxMiddleware": "no route renders an htmx fragment",
}


Answer = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body


@dataclass(frozen=True)
class Route:
    """URLconf patterns the fast path answers for ``methods``.

    The pattern's own view answers, unless:
    - ``answer(request, **kwargs)`` is given: the same answer as the view, as (status, headers,
      body), without a response object (the view wraps it in one);
    - ``from_cache(request, view, kwargs)`` is given: it answers from the cache alone, as (status,
      headers, body), or returns None and Django's full view does."""

    patterns: Sequence[URLPattern]
    methods: frozenset[str]
    namespace: str = ""
    answer: Callable[..., Answer] | None = None
    from_cache: Callable[[HttpRequest, Callable, dict], Answer | None] | None = None


class FastPath:
    """WSGI wrapper: requests matching a ``Route`` are answered here, the rest by ``app``."""

    def __init__(self, app: Callable, routes: Sequence[Route]):
        self.app = app
        # Indexed by the literal first segment of each pattern ("api", "ping", "status"...), so a request
        # tries only the few patterns that could match it; a pattern without one is tried for every path.
        self.table: dict[str, list] = {}
        for route in routes:
            for pattern in route.patterns:
                name = f"{route.namespace}:{pattern.name}" if route.namespace else pattern.name
                entry = (pattern.pattern, pattern.callback, pattern.default_args, name, route)
                self.table.setdefault(_first_segment(str(pattern.pattern)), []).append(entry)
        self.api_errors = ApiErrorMiddleware(_never_called)
        self.fixed_headers = {secure: _fixed_headers(secure) for secure in (False, True)}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        found = self.match(environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", ""))
        if found is None:
            return self.app(environ, start_response)
        return self._serve(environ, start_response, *found)

    def match(self, method: str | None, path: str) -> tuple[Callable, dict, str, Route] | None:
        """(view, keyword arguments, route name, route) of a request this fast path answers."""
        path = path[1:]
        candidates = self.table.get(path.split("/", 1)[0], ())
        for pattern, view, default_args, name, route in (*candidates, *self.table.get("", ())):
            if method in route.methods:
                match = pattern.match(path)
                if match is not None and not match[0]:
                    return view, {**default_args, **match[2]}, name, route
        return None

    def _serve(self, environ, start_response, view, kwargs: dict, name: str, route: Route) -> Iterable[bytes]:
        started = time.perf_counter()
        request = WSGIRequest(environ)
        secure = request.is_secure()  # honours SECURE_PROXY_SSL_HEADER
        if needs_django(request, secure):
            return self.app(environ, start_response)
        start_request(request)
        if route.from_cache is not None:
            try:
                answer = route.from_cache(request, view, kwargs)
            except Exception:  # a cache that is down, anything odd: the full view answers (and logs)
                answer = None
            if answer is None:
                return self.app(environ, start_response)
            status, headers, body = answer
        else:
            refused = refuse_large_body(request, view)
            status, headers, body = self.as_answer(request, refused or self._call(request, view, kwargs, route.answer))
        headers = self.complete_headers(request, headers, body, secure=secure)
        finish_request(request, status, started=started, route=name, view=view)
        start_response(f"{status} {responses.get(status, 'Unknown Status Code')}", headers)
        # The body, not a response object: closing one sends request_finished, whose handlers (connections,
        # caches, the URLconf) cost more than a ping; prepare_connections does their part.
        return [b"" if request.method == "HEAD" else body]

    def as_answer(self, request: HttpRequest, answer: HttpResponse | Answer) -> Answer:
        """A view's answer as (status, headers, body), through the API's error reshaping if it is a response."""
        if isinstance(answer, HttpResponse):
            answer = self.api_errors.process_response(request, answer)
            return answer.status_code, list(answer.items()), answer.content
        return answer

    def complete_headers(
        self, request: HttpRequest, headers: list[tuple[str, str]], body: bytes, *, secure: bool
    ) -> list[tuple[str, str]]:
        """What the response phase of the chain adds, as header tuples: no response object to go through."""
        present = {header.lower() for header, _ in headers}
        headers = headers + [header for header in self.fixed_headers[secure] if header[0].lower() not in present]
        if "content-length" not in present:
            headers.append(("Content-Length", str(len(body))))  # CommonMiddleware's rule
        headers.append(("X-Request-ID", request.request_id))
        return headers

    @staticmethod
    def _call(request: HttpRequest, view: Callable, kwargs: dict, answer: Callable | None) -> HttpResponse | Answer:
        prepare_connections()
        call = answer or view
        try:
            response = call_with_database_retries(request, view, (), kwargs, call=call)
            return response if response is not None else call(request, **kwargs)
        except Exception as exc:
            return response_for_error(request, exc) or response_for_exception(request, exc)


def needs_django(request: HttpRequest, secure: bool) -> bool:
    """What a fast path leaves to Django's full chain: a plain-HTTP request SecurityMiddleware redirects to
    HTTPS, or a Host outside ALLOWED_HOSTS, which Django refuses (and logs) as for any path."""
    if settings.SECURE_SSL_REDIRECT and not secure:
        return True
    return not _host_allowed(request)


# ``request.get_host()``'s verdict by the headers it reads: an SDK sends the same Host on every request, and
# the check (settings, splitting, matching ALLOWED_HOSTS) was a fortieth of an ingest request's CPU. At most
# 256 different ones are remembered; a change of settings forgets them (tests change ALLOWED_HOSTS).
_HOST_VERDICTS: dict[tuple, bool] = {}
_HOST_META = ("HTTP_X_FORWARDED_HOST", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT")


def _host_allowed(request: HttpRequest) -> bool:
    meta = request.META
    key = tuple(meta.get(name) for name in _HOST_META)
    allowed = _HOST_VERDICTS.get(key)
    if allowed is None:
        try:
            request.get_host()
            allowed = True
        except SuspiciousOperation:
            allowed = False
        if len(_HOST_VERDICTS) < 256:
            _HOST_VERDICTS[key] = allowed
    return allowed


@receiver(setting_changed)
def _forget_host_verdicts(**kwargs) -> None:
    _HOST_VERDICTS.clear()


def _first_segment(pattern: str) -> str:
    """The literal first path segment of a URL pattern (route or regex), or "" if it has none."""
    found = re.match(r"\^?([A-Za-z0-9_.-]+)/", pattern)
    return found[1] if found else ""


def _never_called(request):
    raise AssertionError("the fast path runs only the response phase of its middleware")


def _fixed_headers(secure: bool) -> list[tuple[str, str]]:
    """The headers FIXED_HEADER_MIDDLEWARE adds to an answer over HTTPS (``secure``) or plain HTTP:
    their own process_response, run on an empty response. They depend on settings and the scheme only."""
    request = HttpRequest()
    request.is_secure = lambda: secure
    response = HttpResponse()
    before = set(response.headers)
    for middleware in FIXED_HEADER_MIDDLEWARE:
        response = middleware(_never_called).process_response(request, response)
    return [(name, value) for name, value in response.items() if name not in before]


def prepare_connections() -> None:
    """What ``request_started`` does (drop broken or expired connections), minus the per-request ``SELECT 1``."""
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:  # only inside a test's transaction; never between requests
            continue
        connection.close_if_unusable_or_obsolete()
        if connection.connection is not None:
            connection.health_check_done = True
