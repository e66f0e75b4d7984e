"""The incidents pages' live stream: every change of an incident (new, transition, edit, comment) is one
message on a Redis stream shared by all web processes (tracepoint/stream.py does the SSE work), so the list
and the incident pages of other users refresh themselves. Everyone with a role sees every incident."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from incidents.models import Incident
from tracepoint import live, stream


def channel(_: int = 0) -> str:
    return f"{settings.CACHE_KEY_PREFIX}:stream:incidents"


def incident_changed(incident: Incident) -> None:
    """Called by incidents.services after the commit of every change, with the row as committed."""
    message = {"type": "incident", "id": str(incident.pk)}
    if incident.deleted_at is not None:
        message["deleted"] = True
    else:
        message.update(
            title=incident.title, status=incident.status, severity=incident.severity, updated_at=incident.updated_at
        )
    stream.publish_to(channel(), message)


@csrf_exempt  # read-only: any other method gets its 405, not a CSRF failure
async def incidents_stream(request: HttpRequest) -> HttpResponse:
    return live.with_cors(request, await _incidents_stream(request))


async def _incidents_stream(request: HttpRequest) -> HttpResponse:
    refusal = await live.page_stream_refusal(request)
    if refusal is not None:
        return refusal
    last = stream.parse_last_event_id(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"), [0])
    return await live.sse_response(stream.events([0], last_ids=last, channel_of=channel))
