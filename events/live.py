"""The two doors to a project's live stream (events/stream.py): the API for one project, the issues page
for all the user may see. The SSE and HTTP machinery is the project's (tracepoint/stream.py, tracepoint/live.py)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from events import stream as project_streams
from events.models import Project
from tracepoint import live, stream
from tracepoint.accounts.roles import VIEWER, has_role
from tracepoint.api.errors import error_response


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
    return await live.sse_response(stream.events(project_ids, last_ids=last, channel_of=project_streams.channel))


@csrf_exempt  # read-only; a token client's POST gets its 405, not a CSRF failure
async def project_stream(request: HttpRequest, pk: int) -> HttpResponse:
    """``GET /api/v1/projects/{id}/stream``: Server-Sent Events of the project's new events and issue changes."""
    return live.with_cors(request, await _project_stream(request, pk))


async def _project_stream(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method != "GET":
        response = error_response(405, details={"allowed": ["GET"]})
        response["Allow"] = "GET"
        return response
    user = await request.auser()
    if not user.is_authenticated:
        user = await sync_to_async(live.token_user)(request)
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
        return live.unavailable()
    if not isinstance(request, ASGIRequest):
        return live.needs_asgi()
    return await _sse(ids, request)


async def issues_stream(request: HttpRequest) -> HttpResponse:
    """The issues page's stream: every project the logged-in user may see, in one connection."""
    return live.with_cors(request, await _issues_stream(request))


async def _issues_stream(request: HttpRequest) -> HttpResponse:
    refusal = await live.page_stream_refusal(request)
    if refusal is not None:
        return refusal
    user = await request.auser()
    ids = await sync_to_async(_visible_project_ids)(user)
    return await _sse(ids, request)
