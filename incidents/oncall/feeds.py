"""iCal feeds of on-call shifts, at secret addresses calendar apps subscribe to.

Calendar apps (Google Calendar, Outlook, Apple Calendar) fetch a subscribed address on their own,
without a login or any header of ours, so the address itself is the credential: a schedule's
``ical_token``, or a user's ``UserFeed.token`` (created on first use). Rotating a token is how a
leaked address is revoked: the old one answers 404 from then on.

A feed lists the final schedule (layers, then overrides) from a week ago to two months ahead, one
event per stretch of one person on call. Back-to-back shifts of one person from different sources
(their layer shift, then their own override) are one event: a calendar reader cares who is on call,
not why. The window is aligned on UTC days, so the feed is the same all day long unless the
schedule changes, and event UIDs stay stable between fetches.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import icalendar
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import trigger_client_event

from incidents.oncall import schedule as engine
from incidents.oncall.models import Schedule, UserFeed, generate_feed_token
from tracepoint import links
from tracepoint.accounts.roles import ADMIN, role_required

logger = logging.getLogger("tracepoint.oncall")

PAST = timedelta(days=7)
AHEAD = timedelta(days=60)
# A stretch that began before the window is shown from its real start when that is at most this much
# earlier (a weekly rotation, a long override); only a longer one is cut at the lookback.
LOOKBACK = timedelta(days=28)
CACHE_SECONDS = 300
PRODID = "-//Tracepoint//On-call feed//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"


# --- the shifts of a feed ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stretch:
    """One person on call on one schedule from ``start`` to ``end`` (UTC), without a break."""

    schedule: Schedule
    user_id: int
    start: datetime
    end: datetime


def feed_window(now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a feed fetched at ``now``: 7 days back and 60 ahead, widened to whole UTC days."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - PAST, today + AHEAD + timedelta(days=1)


def person_stretches(shifts: Sequence[engine.Shift]) -> list[engine.Shift]:
    """Sorted ``shifts`` with back-to-back shifts of one person joined, whatever their sources
    (``final_schedule`` joins only those of one source)."""
    merged: list[engine.Shift] = []
    for shift in shifts:
        if merged and merged[-1].user_id == shift.user_id and merged[-1].end == shift.start:
            merged[-1] = replace(merged[-1], end=shift.end)
        else:
            merged.append(shift)
    return merged


def stretches(
    schedules: Iterable[Schedule],
    start: datetime,
    end: datetime,
    *,
    user_id: int | None = None,
    lookback: timedelta = timedelta(0),
) -> list[Stretch]:
    """The stretches overlapping [start, end) on ``schedules`` (of ``user_id`` only, when given), by start.

    A stretch under way at ``start`` keeps its real start when that is within ``lookback``; ends are
    cut at ``end``. Three queries for all the schedules together, whatever their number."""
    schedules = list(schedules)
    loaded_from = start - lookback
    snaps = engine.snapshots(schedules, loaded_from, end)
    found = []
    for schedule in schedules:
        for shift in person_stretches(engine.final_schedule(snaps[schedule.pk], loaded_from, end)):
            if shift.end <= start or (user_id is not None and shift.user_id != user_id):
                continue
            found.append(Stretch(schedule, shift.user_id, shift.start, shift.end))
    found.sort(key=lambda s: (s.start, s.schedule.team.name, s.schedule.name, s.schedule.pk))
    return found


def schedules_of_user(user, start: datetime, end: datetime):
    """The schedules ``user`` may be on call for over [start, end): a layer's participant, or an override."""
    return (
        Schedule.objects.filter(
            Q(layers__participants__user_id=user.pk)
            | Q(overrides__user_id=user.pk, overrides__start__lt=end, overrides__end__gt=start)
        )
        .distinct()
        .select_related("team")
    )


def schedule_feed_shifts(schedule: Schedule, *, now: datetime) -> list[Stretch]:
    start, end = feed_window(now)
    return stretches([schedule], start, end, lookback=LOOKBACK)


def user_feed_shifts(user, *, now: datetime) -> list[Stretch]:
    """``user``'s stretches on every schedule, over the feed's window."""
    start, end = feed_window(now)
    schedules = schedules_of_user(user, start - LOOKBACK, end)
    return stretches(schedules, start, end, user_id=user.pk, lookback=LOOKBACK)


# --- iCal ------------------------------------------------------------------------------------------


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def schedule_link(schedule_id: int) -> str:
    """The schedule's page, absolute (for calendar apps and emails)."""
    return links.absolute_url("oncall:schedule-detail", schedule_id)


def _event_uid(shift: Stretch) -> str:
    # Stable across fetches and installations' feeds: the same stretch keeps its UID, so calendar
    # apps update an event in place (a new end) instead of showing a second one.
    return f"oncall-{shift.schedule.pk}-{shift.user_id}-{shift.start:%Y%m%dT%H%M%SZ}@tracepoint"


def build_calendar(name: str, uid: str, shifts: Sequence[Stretch], *, now: datetime) -> bytes:
    """An iCalendar document of ``shifts`` (UTC times, one VEVENT each)."""
    people = {u.pk: u for u in get_user_model().objects.filter(pk__in={s.user_id for s in shifts})}
    calendar = icalendar.Calendar.new(name=name, prodid=PRODID, uid=uid, method="PUBLISH", calscale="GREGORIAN")
    # How often subscribers should fetch again (RFC 7986, and Outlook's own property).
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    # The day the document was made, not the second: the body (and its ETag) stays the same all day
    # unless the schedule changes, so calendar apps asking again get a 304.
    stamp = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for shift in shifts:
        schedule = shift.schedule
        person = people.get(shift.user_id)
        who = _name(person) if person is not None else f"user #{shift.user_id}"
        link = schedule_link(schedule.pk)
        description = [f"{who} is on call for the schedule {schedule.name} of the team {schedule.team.name}."]
        description.append(f"The schedule's time zone is {schedule.time_zone}.")
        description.append(f"Schedule: {link}")
        event = icalendar.Event.new(
            uid=_event_uid(shift),
            stamp=stamp,
            start=shift.start.astimezone(UTC),
            end=shift.end.astimezone(UTC),
            summary=f"On call: {who} ({schedule.name})",
            description="\n".join(description),
            url=link,
            # Being on call for a week does not make the subscriber busy for a week.
            transparency="TRANSPARENT",
        )
        calendar.add_component(event)
    return calendar.to_ical()


def schedule_calendar(schedule: Schedule, *, now: datetime | None = None) -> bytes:
    now = now or timezone.now()
    name = f"On call: {schedule.name} ({schedule.team.name})"
    return build_calendar(
        name, f"oncall-schedule-{schedule.pk}@tracepoint", schedule_feed_shifts(schedule, now=now), now=now
    )


def user_calendar(user, *, now: datetime | None = None) -> bytes:
    now = now or timezone.now()
    name = f"On call: {_name(user)}"
    return build_calendar(name, f"oncall-user-{user.pk}@tracepoint", user_feed_shifts(user, now=now), now=now)


# --- tokens ----------------------------------------------------------------------------------------


def user_feed(user) -> UserFeed:
    """The user's feed secret, created on first use (two first uses at once still make one row)."""
    feed, _ = UserFeed.objects.get_or_create(user=user)
    return feed


def rotate_schedule_feed(schedule: Schedule) -> Schedule:
    """A new secret for the schedule's feed: the old address answers 404 from now on."""
    schedule.ical_token = generate_feed_token()
    Schedule.objects.filter(pk=schedule.pk).update(ical_token=schedule.ical_token)
    return schedule


def rotate_user_feed(user) -> UserFeed:
    feed = user_feed(user)
    feed.token = generate_feed_token()
    UserFeed.objects.filter(pk=feed.pk).update(token=feed.token)
    return feed


def feed_url(request: HttpRequest | None, *, schedule: Schedule | None = None, user=None) -> str:
    """The absolute address of a schedule's feed, or of a user's (created on first use).

    With a request, the address the browser used (what the person sees works from where they are);
    without one (emails, the API), ``BASE_URL``."""
    if (schedule is None) == (user is None):
        raise TypeError("feed_url() takes a schedule or a user")
    if schedule is not None:
        name, token = "oncall:schedule-feed", schedule.ical_token
    else:
        name, token = "oncall:user-feed", user_feed(user).token
    if request is not None:
        return request.build_absolute_uri(reverse(name, args=[token]))
    return links.absolute_url(name, token)


def user_feed_context(request: HttpRequest, user) -> dict[str, str]:
    """What the "My on-call" page shows of the user's feed (its ``me_feed`` fragment)."""
    address = feed_url(request, user=user)
    return {"feed_address": address, "feed_webcal": webcal_url(address)}


def webcal_url(url: str) -> str:
    """The same address with the ``webcal:`` scheme, which opens the subscribe dialog of calendar apps."""
    return "webcal:" + url.split(":", 1)[1] if url.startswith(("http:", "https:")) else url


# --- views -------------------------------------------------------------------------------------------


def _calendar_response(request: HttpRequest, body: bytes, filename: str) -> HttpResponse:
    # The body is the same all day unless the schedule changes: calendar apps that send
    # If-None-Match get a 304 without the body.
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response = get_conditional_response(request, etag=etag) or HttpResponse(body, content_type=CONTENT_TYPE)
    response["ETag"] = etag
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"  # the address is the secret
    return response


def _hide_token(request: HttpRequest, token: str) -> None:
    request.log_path = request.path.replace(token, "<token>")  # the address is a credential: not in the logs


@require_safe
@cache_control(private=True, max_age=CACHE_SECONDS)
def schedule_feed(request: HttpRequest, token: str) -> HttpResponse:
    _hide_token(request, token)
    schedule = Schedule.objects.select_related("team").filter(ical_token=token).first()
    if schedule is None:
        raise Http404("No such feed.")
    return _calendar_response(request, schedule_calendar(schedule), f"oncall-schedule-{schedule.pk}.ics")


@require_safe
@cache_control(private=True, max_age=CACHE_SECONDS)
def user_feed_view(request: HttpRequest, token: str) -> HttpResponse:
    _hide_token(request, token)
    feed = UserFeed.objects.select_related("user").filter(token=token, user__is_active=True).first()
    if feed is None:
        raise Http404("No such feed.")
    return _calendar_response(request, user_calendar(feed.user), f"oncall-user-{feed.user_id}.ics")


@role_required(ADMIN)
@require_POST
def schedule_feed_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(Schedule, pk=pk)
    rotate_schedule_feed(schedule)
    messages.success(
        request, f"The iCal address of “{schedule.name}” changed; calendars subscribed to the old one stop updating."
    )
    return redirect("oncall:schedule-detail", pk=schedule.pk)


@login_required
@require_POST
def user_feed_rotate(request: HttpRequest) -> HttpResponse:
    rotate_user_feed(request.user)
    text = "Your iCal address changed: subscribe again with the new one; the old one no longer works."
    if request.htmx:
        context = user_feed_context(request, request.user) | {"rotated": True}
        response = render(request, "oncall/me.html#me_feed", context)
        return trigger_client_event(response, "toast", {"message": text, "level": "success"})
    messages.success(request, text)
    return redirect("oncall:me")


urlpatterns = [
    path("feeds/schedules/<str:token>.ics", schedule_feed, name="schedule-feed"),
    path("feeds/users/<str:token>.ics", user_feed_view, name="user-feed"),
    path("schedules/<int:pk>/feed/rotate/", schedule_feed_rotate, name="schedule-feed-rotate"),
    path("me/feed/rotate/", user_feed_rotate, name="user-feed-rotate"),
]
