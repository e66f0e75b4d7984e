"""The ceiling for bench/ingest.py: a WSGI app that does only what no ingest can skip.

It reads the body, inflates it as the SDK compressed it, parses the envelope header
and answers its id, as Tracepoint does: no Django, no database, no broker. Served by
gunicorn with the same sync workers and hit by the same wrk client, it measures what
the machine, the HTTP server and the client allow, so Tracepoint's events/s can be read
as a share of it.

    gunicorn --workers 3 --chdir bench bare_view:application          # plain WSGI
    gunicorn --workers 3 --chdir bench 'bare_view:django_application()' # a bare Django view

The Django variant (no middleware, no apps, no database) is the ceiling issue 19's table
was measured against; the plain one shows what Django's request handling itself costs.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterable


def envelope_id(body: bytes, encoding: str) -> str:
    """The envelope header's event id, after inflating ``body`` as sentry-sdk compresses it."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "br":
        import brotli  # sentry-sdk's default when brotli is installed

        body = brotli.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    return json.loads(body.split(b"\n", 1)[0])["event_id"]


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    try:
        event_id = envelope_id(body, environ.get("HTTP_CONTENT_ENCODING", ""))
    except (ValueError, KeyError, TypeError):
        start_response("400 Bad Request", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]
    answer = json.dumps({"id": event_id}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


def django_application() -> Callable:
    """A Django project of one view and nothing else, as gunicorn's app factory."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpRequest, JsonResponse
    from django.urls import path

    def envelope(request: HttpRequest, project_id: int) -> JsonResponse:
        try:
            event_id = envelope_id(request.body, request.headers.get("Content-Encoding", ""))
        except (ValueError, KeyError, TypeError):
            return JsonResponse({}, status=400)
        return JsonResponse({"id": event_id})

    global urlpatterns
    urlpatterns = [path("api/<int:project_id>/envelope/", envelope)]
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        DATA_UPLOAD_MAX_MEMORY_SIZE=None,
        USE_TZ=True,
    )
    django.setup()
    return get_wsgi_application()
