"""Building policies and driving escalations in the on-call tests (rows made directly, so these
tests do not depend on the policy services' validation)."""

from __future__ import annotations

import re
from datetime import datetime

from django.core import mail

from incidents.models import TimelineEntry
from incidents.oncall.models import EscalationPolicy, EscalationStep
from tracepoint.notifications.delivery import deliver
from tracepoint.notifications.models import Delivery


def make_policy(team, steps, *, name="Checkout primary", repeat=0, services=(), default=False) -> EscalationPolicy:
    """``steps``: (delay_minutes, users, schedules, channels) tuples, in order."""
    policy = EscalationPolicy.objects.create(team=team, name=name, repeat=repeat, services=list(services))
    for position, (delay, users, schedules, channels) in enumerate(steps):
        step = EscalationStep.objects.create(policy=policy, position=position, delay_minutes=delay)
        step.users.set(users)
        step.schedules.set(schedules)
        step.channels.set(channels)
    if default:
        team.default_policy = policy
        team.save(update_fields=["default_policy"])
    return policy


def deliver_all(now: datetime | None = None) -> int:
    """Attempt every unfinished delivery now, as the worker would (the tests do not run Celery)."""
    count = 0
    for delivery_id in Delivery.objects.unfinished().order_by("pk").values_list("pk", flat=True):
        deliver(delivery_id, now=now)
        count += 1
    return count


def notes(incident) -> list[str]:
    return list(
        TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.ESCALATION)
        .order_by("created_at", "id")
        .values_list("body", flat=True)
    )


def mails_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


def link_in(message, action: str = "acknowledge") -> str:
    """The path of the one-click link for ``action`` in a page email."""
    found = re.search(rf"https?://[^/\s]+(/incidents/act/{action}/[^\s]+/)", message.body)
    assert found, message.body
    return found.group(1)
