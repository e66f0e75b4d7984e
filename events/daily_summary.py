"""The daily summary email: what happened in the last 24 hours, for each user who opted in.

Beat runs ``send_daily_summaries`` at ``DAILY_SUMMARY_HOUR`` (UTC). Each user's summary
is claimed first with one conditional UPDATE on ``last_sent_on`` (so two beats
or workers never send it twice the same day), built from the projects the
user may see, and sent outside any transaction. A failed send gives the day
back, so the next run tries again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from events.models import DailySummarySubscription, Issue, IssueActivity, IssueStatus, Project
from incidents.models import Incident
from monitors import uptime
from tracepoint.accounts.roles import VIEWER, has_role
from tracepoint.links import base_url

logger = logging.getLogger("tracepoint.events.daily_summary")

TOP_ISSUES = 5
LIST_LIMIT = 10
MONITOR_LIMIT = 25


def build(user, *, now: datetime, monitors: list[uptime.MonitorUptime] | None = None) -> dict[str, Any]:
    """The summary's content for ``user``: only the projects they may see.

    Monitors belong to no project, so every recipient (all have a role) sees all of
    them, as on the monitor list: ``send_daily_summaries`` passes them in, computed once.
    """
    since = now - timedelta(hours=24)
    issues = Issue.objects.filter(project__in=Project.objects.visible_to(user)).select_related("project")
    new = issues.filter(first_seen__gte=since).order_by("-priority", "-event_count")
    regressed_ids = IssueActivity.objects.filter(
        kind=IssueActivity.Kind.REGRESSED, created_at__gte=since, issue__in=issues
    ).values("issue_id")
    regressed = issues.filter(pk__in=regressed_ids).order_by("-priority")
    top = issues.filter(status=IssueStatus.UNRESOLVED).order_by("-priority", "-last_seen")[:TOP_ISSUES]
    incidents = Incident.objects.alive()
    opened = incidents.filter(created_at__gte=since).order_by("-created_at")
    resolved = incidents.filter(resolved_at__gte=since).order_by("-resolved_at")
    if monitors is None:
        monitors = uptime.uptime_summary(window="24h", now=now)
    return {
        "user": user,
        "since": since,
        "now": now,
        "base_url": base_url(),
        "new_issues": list(new[:LIST_LIMIT]),
        "new_count": new.count(),
        "regressed": list(regressed[:LIST_LIMIT]),
        "regressed_count": regressed.count(),
        "top_issues": list(top),
        "incidents_opened": list(opened[:LIST_LIMIT]),
        "opened_count": opened.count(),
        "incidents_resolved": list(resolved[:LIST_LIMIT]),
        "resolved_count": resolved.count(),
        # Worst first, so a cut list keeps the monitors that had trouble.
        "monitors": monitors[:MONITOR_LIMIT],
        "monitor_count": len(monitors),
    }


def render(context: dict[str, Any]) -> tuple[str, str, str]:
    day = context["now"].strftime("%Y-%m-%d")
    subject = (
        f"Tracepoint daily summary {day}: {context['new_count']} new issue{'s' if context['new_count'] != 1 else ''}, "
        f"{context['regressed_count']} regressed, {context['opened_count']} incident"
        f"{'s' if context['opened_count'] != 1 else ''} opened"
    )
    text = render_to_string("events/daily_summary_email.txt", context)
    html = render_to_string("events/daily_summary_email.html", context)
    return subject, text, html


def _claim(subscription: DailySummarySubscription, today: date) -> bool:
    won = (
        DailySummarySubscription.objects.filter(pk=subscription.pk, enabled=True)
        .filter(Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=today))
        .update(last_sent_on=today)
    )
    return bool(won)


def send_daily_summaries(*, now: datetime | None = None) -> int:
    """Send today's summary to every opted-in active user with an email address. Returns how many."""
    now = now or timezone.now()
    today = now.date()
    sent = 0
    monitors = None  # the same for every recipient: computed once, for the first one
    subscriptions = (
        DailySummarySubscription.objects.filter(enabled=True, user__is_active=True)
        .exclude(user__email="")
        .filter(Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=today))
        .select_related("user")
    )
    for subscription in subscriptions:
        if not has_role(subscription.user, VIEWER):
            continue  # a role taken away stops the summary too
        previous = subscription.last_sent_on
        if not _claim(subscription, today):
            continue  # another worker has it
        try:
            if monitors is None:
                monitors = uptime.uptime_summary(window="24h", now=now)
            subject, text, html = render(build(subscription.user, now=now, monitors=monitors))
            message = EmailMultiAlternatives(subject, text, to=[subscription.user.email])
            message.attach_alternative(html, "text/html")
            message.send()
            sent += 1
        except Exception:
            logger.exception("daily summary for %s failed; it will be retried", subscription.user)
            DailySummarySubscription.objects.filter(pk=subscription.pk).update(last_sent_on=previous)
    return sent


def set_subscription(user, *, enabled: bool) -> DailySummarySubscription:
    subscription, _ = DailySummarySubscription.objects.get_or_create(user=user)
    if subscription.enabled != enabled:
        subscription.enabled = enabled
        subscription.save(update_fields=["enabled"])
    return subscription
