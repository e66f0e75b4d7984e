"""Shift notices: "your on-call shift starts in N minutes" and, at the handoff, "you are on call now".

A Celery beat task calls ``send_shift_notices`` every minute. It reads every schedule's final
schedule from ten minutes ago to an hour ahead (one snapshot load for all schedules: three queries)
and finds the shifts that start in that span. Shifts are counted per person: a person whose shift
is followed by more of their own (the next turn, their own override) is continuing and hears nothing.

Each notice goes out once: its ``ShiftNotice`` row (unique per schedule, person, shift start and
kind) is inserted first, and the messages are queued in the same transaction only when the insert
happened. Two beats or workers racing on the same notice meet at the unique index: the second waits
for the first to commit and then inserts nothing. A tick that missed the window (the beat was down)
does not send late: "starts in an hour" for a shift that started long ago helps nobody.

Messages go to the person's contact methods used immediately (notification rules with no delay,
or the account email of a person without rules), as direct deliveries with the topic
``oncall.shift``; channels are not told, these are personal.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.oncall import contacts
from incidents.oncall import schedule as engine
from incidents.oncall.feeds import person_stretches, schedule_link
from incidents.oncall.models import Schedule, ShiftNotice
from tracepoint import links
from tracepoint.notifications.apprise_channel import escape_markdown
from tracepoint.notifications.services import DirectMessage, queue_direct

logger = logging.getLogger("tracepoint.oncall")

TOPIC = "oncall.shift"
UPCOMING_WITHIN = timedelta(minutes=60)
STARTED_WITHIN = timedelta(minutes=10)
# How far ahead the end of a starting shift is looked for; a longer one is "until after" that.
END_HORIZON = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class DueNotice:
    """A notice the timeline calls for: ``shift`` (one person's stretch, its end possibly cut at the
    read span) starts, and ``previous_user_id`` was on call right before it (None after a gap)."""

    schedule: Schedule
    kind: str
    shift: engine.Shift
    previous_user_id: int | None

    @property
    def key(self) -> tuple[int, int, datetime, str]:
        return (self.schedule.pk, self.shift.user_id, self.shift.start, self.kind)


def due_notices(schedules: list[Schedule], *, now: datetime) -> list[DueNotice]:
    """The notices due at ``now``, sent or not: shifts starting in (now, now + 60 min] are
    "upcoming", those that started in (now - 10 min, now] "started"."""
    start, end = now - STARTED_WITHIN, now + UPCOMING_WITHIN + timedelta(minutes=1)
    snaps = engine.snapshots(schedules, start, end)
    due = []
    for schedule in schedules:
        timeline = person_stretches(engine.final_schedule(snaps[schedule.pk], start, end))
        for index, shift in enumerate(timeline):
            # A stretch starting at ``start`` itself may have begun earlier (the read cuts it): it is
            # not counted, which is why "started" is an open interval at its lower end.
            if now < shift.start <= now + UPCOMING_WITHIN:
                kind = ShiftNotice.Kind.UPCOMING
            elif start < shift.start <= now:
                kind = ShiftNotice.Kind.STARTED
            else:
                continue
            before = timeline[index - 1] if index else None
            previous = before.user_id if before is not None and before.end == shift.start else None
            due.append(DueNotice(schedule, kind, shift, previous))
    return due


def send_shift_notices(*, now: datetime | None = None) -> int:
    """Send the shift notices due at ``now`` that were not sent yet; returns how many were sent."""
    now = now or timezone.now()
    schedules = list(Schedule.objects.select_related("team"))
    if not schedules:
        return 0
    due = due_notices(schedules, now=now)
    if not due:
        return 0
    # A shift stays due for an hour of ticks: skip the ones on record with one query, instead of
    # failing an insert for each of them every minute.
    starts = [d.shift.start for d in due]
    sent = set(
        ShiftNotice.objects.filter(
            schedule_id__in={d.schedule.pk for d in due}, shift_start__gte=min(starts), shift_start__lte=max(starts)
        ).values_list("schedule_id", "user_id", "shift_start", "kind")
    )
    due = [d for d in due if d.key not in sent]
    wanted = {d.shift.user_id for d in due} | {d.previous_user_id for d in due if d.previous_user_id}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=wanted)}
    count = 0
    for notice in due:
        person = users.get(notice.shift.user_id)
        if person is None or not person.is_active:
            continue  # a deactivated account left in a rotation: nobody to tell
        previous = users.get(notice.previous_user_id) if notice.previous_user_id else None
        if _record_and_send(notice, person, previous, now=now):
            count += 1
    return count


def _record_and_send(due: DueNotice, person, previous, *, now: datetime) -> bool:
    with transaction.atomic():
        try:
            with transaction.atomic():
                notice = ShiftNotice.objects.create(
                    schedule=due.schedule, user=person, shift_start=due.shift.start, kind=due.kind, sent_at=now
                )
        except IntegrityError:
            return False  # another beat or worker recorded it first: it sends it
        end, open_ended = _shift_end(due)
        messages = shift_messages(notice, due, person, previous, end=end, open_ended=open_ended, now=now)
        if messages:
            queue_direct(messages, topic=TOPIC, now=now)
        else:
            logger.info("shift notice %s: %s has no contact method used immediately", notice.pk, person.pk)
    return True


def _shift_end(due: DueNotice) -> tuple[datetime, bool]:
    """The real end of the starting stretch (the notice span cuts it), and whether it runs past the horizon."""
    horizon = due.shift.start + END_HORIZON
    snap = engine.snapshot(due.schedule, due.shift.start, horizon)
    for shift in person_stretches(engine.final_schedule(snap, due.shift.start, horizon)):
        if shift.user_id == due.shift.user_id and shift.start == due.shift.start:
            return shift.end, shift.end >= horizon
    return due.shift.end, False  # changed since the first read: what was read still stands


# --- the messages --------------------------------------------------------------------------------


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def local_text(at: datetime, schedule: Schedule) -> str:
    """``at`` on the schedule's clock, e.g. "Mon 12 Jan 09:00 CET"."""
    local = at.astimezone(schedule.zone)
    return f"{local:%a} {local.day} {local:%b %H:%M} {local:%Z}"


def _minutes(delta: timedelta) -> str:
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def shift_messages(
    notice: ShiftNotice, due: DueNotice, person, previous, *, end: datetime, open_ended: bool, now: datetime
) -> list[DirectMessage]:
    """One message per contact method of ``person`` used immediately."""
    schedule = due.schedule
    starts, ends = local_text(due.shift.start, schedule), local_text(end, schedule)
    until = f"until after {ends}" if open_ended else f"until {ends}"
    previous_name = _name(previous) if previous is not None else None
    if due.kind == ShiftNotice.Kind.UPCOMING:
        subject = f"On call in {_minutes(due.shift.start - now)}: {schedule.name}"
        headline = (
            f"Your on-call shift on {schedule.name} starts in {_minutes(due.shift.start - now)}, at {starts}, {until}."
        )
        handover = f"You take over from {previous_name}." if previous_name else "Nobody is on call right before you."
    else:
        subject = f"You are on call now: {schedule.name}"
        headline = f"You are on call now for {schedule.name} {until}"
        handover = f"{previous_name} handed over." if previous_name else "Nobody was on call before you."
        headline, handover = f"{headline}; {handover}", ""
    schedule_url = schedule_link(schedule.pk)
    context = {
        "subject": subject,
        "headline": headline,
        "handover": handover,
        "schedule": schedule,
        "schedule_url": schedule_url,
        "me_url": links.absolute_url("oncall:me"),
        "contacts_url": links.absolute_url("oncall:contact-methods"),
        "name": _name(person),
        "kind": due.kind,
        "start_utc": due.shift.start,
        "end_utc": end,
        "open_ended": open_ended,
    }
    text = render_to_string("oncall/notice_shift.txt", context)
    html = render_to_string("oncall/notice_shift.html", context)
    markdown = f"**{escape_markdown(subject)}**\n\n{escape_markdown(headline)}"
    if handover:
        markdown += f" {escape_markdown(handover)}"
    markdown += f"\n\n[Open the schedule]({schedule_url})"
    payload: dict[str, Any] = {
        "type": "shift_notice",
        "topic": TOPIC,
        "kind": due.kind,
        "subject": subject,
        "schedule": {
            "id": schedule.pk,
            "name": schedule.name,
            "team": schedule.team.name,
            "time_zone": schedule.time_zone,
            "url": schedule_url,
        },
        "user": {"id": person.pk, "username": person.get_username()},
        "shift": {"start": due.shift.start, "end": end, "ends_after_horizon": open_ended},
        "previous": {"id": previous.pk, "username": previous.get_username()} if previous is not None else None,
        "sent_at": now,
    }
    found: dict[str, DirectMessage] = {}
    for planned in contacts.notification_plan(person):
        if planned.delay_minutes != 0:
            continue
        method = planned.method
        key = f"oncall.shift:{notice.pk}:{method.pk or 'email'}"
        found[key] = DirectMessage(
            kind=contacts.DELIVERY_KINDS[method.kind],
            recipient=method.target,
            dedupe_key=key,
            subject=subject,
            text=text,
            html=html,
            markdown=markdown,
            payload=payload,
            # The account-email fallback is no saved method: its deliveries belong to the user.
            source=contacts.delivery_source(method) if method.pk else f"oncall.user:{person.pk}",
        )
    return list(found.values())
