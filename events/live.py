"""The two doors to the live stream (events/stream.py): the API for one project, the issues page for all."""

from __future__ import annotations

from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from events import stream
from events.models import Project
from tracepoint.accounts.roles import VIEWER, has_role
from tracepoint.api.errors import error_response


def _token_user(request: HttpRequest):
    from tracepoint.accounts.authentication import KEYWORDS, TokenAuthentication

    parts = request.headers.get("Authorization", "").split()
    if len(parts) != 2 or parts[0].lower().encode() not in KEYWORDS:
        return None
    try:
        user, _ = TokenAuthentication().authenticate_key(parts[1])
    except AuthenticationFailed:
        return None
    return user


def _visible_project_ids(user, only: int | None = None) -> list[int]:
    if not has_role(user, VIEWER):
        return []
    projects = Project.objects.visible_to(user)
    if only is not None:
        projects = projects.filter(pk=only)
    return list(projects.order_by("pk").values_list("pk", flat=True))


async def _sse(project_ids: list[int], request: HttpRequest) -> StreamingHttpResponse:
    last = stream.parse_last_event_id(
        request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"), project_ids
    )
    return await sse_response(stream.events(project_ids, last_ids=last))


async def sse_response(events) -> StreamingHttpResponse:
    """An SSE answer streaming ``events`` (events/stream.py)."""
    # A stream may stay open for minutes: it must not keep this request's database connection.
    await sync_to_async(connections.close_all)()
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx and friends: do not buffer a stream
    return response


def _allowed_origin(request: HttpRequest) -> str | None:
    """The page's origin when it may read this stream with its cookies (the stream service on another port)."""
    origin = request.headers.get("Origin")
    if not origin:
        return None
    # Exact origins only (scheme, host and port): never a pattern from ALLOWED_HOSTS.
    trusted = {_origin(settings.TRACEPOINT["BASE_URL"]), *map(_origin, settings.CSRF_TRUSTED_ORIGINS)}
    return origin if origin in trusted else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def with_cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    origin = _allowed_origin(request)
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Credentials"] = "true"
    response["Vary"] = "Origin, Cookie, Authorization"
    return response


def _needs_asgi() -> HttpResponse:
    # Under a WSGI server a stream would hold a worker for minutes: a handful of
    # clients could starve every other request. The ASGI stream service serves them.
    return error_response(
        503,
        "Live streams are served by the ASGI stream service (see README: live stream), not by this server.",
        details={"dependency": "stream service"},
        headers={"Retry-After": "60"},
    )


def _unavailable() -> HttpResponse:
    return error_response(
        503,
        "The live stream needs Redis (REDIS_URL); poll the API instead.",
        details={"dependency": "redis"},
        headers={"Retry-After": "60"},
    )


@csrf_exempt  # read-only; a token client's POST gets its 405, not a CSRF failure
async def project_stream(request: HttpRequest, pk: int) -> HttpResponse:
    """``GET /api/v1/projects/{id}/stream``: Server-Sent Events of the project's new events and issue changes."""
    return with_cors(request, await _project_stream(request, pk))


async def _project_stream(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method != "GET":
        response = error_response(405, details={"allowed": ["GET"]})
        response["Allow"] = "GET"
        return response
    user = await request.auser()
    if not user.is_authenticated:
        user = await sync_to_async(_token_user)(request)
    if user is None or not user.is_authenticated:
        response = error_response(401)
        response["WWW-Authenticate"] = 'Token realm="api"'
        return response
    if not await sync_to_async(has_role)(user, VIEWER):
        return error_response(403, "Your account has no role yet.")
    ids = await sync_to_async(_visible_project_ids)(user, pk)
    if not ids:
        return error_response(404, "No such project.")
    if not stream.available():
        return _unavailable()
    if not isinstance(request, ASGIRequest):
        return _needs_asgi()
    return await _sse(ids, request)


async def issues_stream(request: HttpRequest) -> HttpResponse:
    """The issues page's stream: every project the logged-in user may see, in one connection."""
    return with_cors(request, await _issues_stream(request))


async def page_stream_refusal(request: HttpRequest) -> HttpResponse | None:
    """Why a dashboard page's stream (session login) cannot be opened, or None when it can."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    if not await sync_to_async(has_role)(user, VIEWER):
        return HttpResponse(status=403)
    if not stream.available():
        return _unavailable()
    if not isinstance(request, ASGIRequest):
        return _needs_asgi()
    return None


async def _issues_stream(request: HttpRequest) -> HttpResponse:
    refusal = await page_stream_refusal(request)
    if refusal is not None:
        return refusal
    user = await request.auser()
    ids = await sync_to_async(_visible_project_ids)(user)
    return await _sse(ids, request)
