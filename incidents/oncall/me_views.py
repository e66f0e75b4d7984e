"""The "My on-call" page (``/oncall/me/``): one's own shifts, open pages, contact methods and iCal feed.

Like the contact methods pages it is about oneself: every logged-in user has it, whatever their role,
and a page of someone else cannot be acknowledged from here (a 404, as if it did not exist). Being
paged for an incident is what lets a person acknowledge it, so no responder role is needed for that.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import trigger_client_event

from incidents import services as incident_services
from incidents.models import Status
from incidents.oncall import contacts, feeds
from incidents.oncall.models import ContactMethod, Page, Schedule

HORIZON = timedelta(days=14)
TEMPLATE = "oncall/me.html"


@dataclass(frozen=True)
class MyShift:
    """One of my stretches on call on one schedule, as the page shows it."""

    schedule: Schedule
    start: datetime
    end: datetime
    cut: bool  # it runs past the horizon: its end is "after …"


def my_shifts(
    user, *, now: datetime, within: timedelta = HORIZON
) -> tuple[list[MyShift], list[tuple[Schedule, list[MyShift]]]]:
    """``(my shifts under way at now, my next shifts within ``within`` by schedule)``."""
    end = now + within
    found = feeds.stretches(feeds.schedules_of_user(user, now, end), now, end, user_id=user.pk)
    current, upcoming = [], defaultdict(list)
    for stretch in found:
        shift = MyShift(stretch.schedule, stretch.start, stretch.end, cut=stretch.end >= end)
        if stretch.start <= now:
            current.append(shift)
        else:
            upcoming[stretch.schedule].append(shift)
    by_schedule = sorted(upcoming.items(), key=lambda item: (item[1][0].start, item[0].name))
    return current, by_schedule


def open_pages(user) -> list[Page]:
    """My pages nobody has acknowledged or closed, newest first."""
    return list(
        Page.objects.filter(user=user, status__in=Page.OPEN, incident__deleted_at__isnull=True)
        .select_related("incident", "schedule", "escalation")
        .order_by("-created_at", "-id")
    )


def _pages_context(request: HttpRequest) -> dict:
    return {"pages": open_pages(request.user), "refreshed_at": timezone.now()}


@login_required
@require_safe
def me(request: HttpRequest) -> HttpResponse:
    if request.htmx:  # the open pages poll (every 30 s)
        return render(request, f"{TEMPLATE}#me_pages", _pages_context(request))
    user, now = request.user, timezone.now()
    current, upcoming = my_shifts(user, now=now)
    context = {
        "now": now,
        "horizon_days": HORIZON.days,
        "current": current,
        "upcoming": upcoming,
        "plan": contacts.notification_plan(user),
        "method_count": ContactMethod.objects.filter(user=user).count(),
        **_pages_context(request),
        **feeds.user_feed_context(request, user),
    }
    return render(request, TEMPLATE, context)


def _acknowledge(request: HttpRequest, page: Page) -> tuple[str, str]:
    """Acknowledge the page's incident; ``(level, message)`` for the person."""
    incident = page.incident
    if incident.status != Status.OPEN:
        return "info", f"“{incident.title}” is already {incident.get_status_display().lower()}."
    try:
        incident = incident_services.transition_incident(page.incident_id, to=Status.ACKNOWLEDGED, by=request.user)
    except incident_services.InvalidStatusTransition:
        # Someone moved it on (mitigated, resolved) between the page load and the click.
        return "info", f"“{incident.title}” was already moved on by someone else."
    except incident_services.IncidentNotFound:
        raise Http404("No such page.") from None
    return "success", f"You acknowledged “{incident.title}”."


@login_required
@require_POST
def page_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    page = (
        Page.objects.select_related("incident")
        .filter(pk=pk, user=request.user, incident__deleted_at__isnull=True)
        .first()
    )
    if page is None:
        raise Http404("No such page.")
    level, text = _acknowledge(request, page)
    if request.htmx:
        response = render(request, f"{TEMPLATE}#me_pages", _pages_context(request))
        return trigger_client_event(response, "toast", {"message": text, "level": level})
    messages.add_message(request, messages.SUCCESS if level == "success" else messages.INFO, text)
    return redirect("oncall:me")


urlpatterns = [
    path("me/", me, name="me"),
    path("me/pages/<int:pk>/acknowledge/", page_acknowledge, name="page-acknowledge"),
]
