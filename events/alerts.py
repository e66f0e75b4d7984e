"""Alert rules: new issue, regression, event-count thresholds, priority; deduplicated per cool-down.

Digestion queues one ``evaluate_alerts`` task per batch (after commit) with
the batch's issues, which ones are new and which regressed. Each rule that
matches claims its cool-down with one conditional UPDATE on ``AlertState`` —
only one worker can move ``last_fired_at`` past the cool-down, so a burst of
events or several workers still send one alert per rule and issue per
cool-down. A firing rule notifies through the notification channels and may
open an incident linked to the issue; resolving that incident can resolve
the issue (``resolve_linked_issues``, on ``incidents.signals.incident_resolved``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from events import lifecycle
from events.models import AlertRule, AlertState, Issue, IssueBucket, IssueIncident, IssueStatus
from incidents import correlation
from incidents import services as incident_services
from incidents.models import SignalKind
from tracepoint.links import absolute_url
from tracepoint.notifications import topics
from tracepoint.notifications.services import notify
from tracepoint.severity import Severity

logger = logging.getLogger("tracepoint.events.alerts")

MAX_WINDOW_MINUTES = 120  # minute buckets are kept two hours
NOTIFY_SEVERITY = {"critical": Severity.SEV1, "high": Severity.SEV2, "medium": Severity.SEV3, "low": Severity.SEV4}


def queue_evaluation(issue_ids: Iterable[int], *, created: Iterable[int] = (), regressed: Iterable[int] = ()) -> None:
    """After commit: one task for the batch (a rule's evaluation never slows digestion)."""
    from events import tasks  # cycle: the evaluate_alerts task calls evaluate() below

    payload = {
        "issue_ids": sorted(set(issue_ids)),
        "created": sorted(set(created)),
        "regressed": sorted(set(regressed)),
    }
    if not payload["issue_ids"]:
        return

    def send() -> None:
        try:
            tasks.evaluate_alerts.apply_async(kwargs=payload, retry=False)
        except Exception as exc:  # the broker is away: alerts for this batch are skipped, loudly
            logger.warning("could not queue alert evaluation for issues %s: %s", payload["issue_ids"], exc)

    transaction.on_commit(send)


def evaluate(
    issue_ids: Iterable[int],
    *,
    created: Iterable[int] = (),
    regressed: Iterable[int] = (),
    now: datetime | None = None,
) -> int:
    """Fire every enabled rule that matches these issues. Returns how many alerts were sent."""
    now = now or timezone.now()
    issues = {issue.pk: issue for issue in Issue.objects.filter(pk__in=set(issue_ids)).select_related("project")}
    if not issues:
        return 0
    created, regressed = set(created), set(regressed)
    rules = AlertRule.objects.filter(enabled=True, project_id__in={i.project_id for i in issues.values()})
    fired = 0
    for rule in rules.select_related("project").prefetch_related("channels"):
        mine = [issue for issue in issues.values() if issue.project_id == rule.project_id]
        for issue, reason in _matches(rule, mine, created=created, regressed=regressed, now=now):
            fired += fire(rule, issue, reason=reason, now=now)
    return fired


def _matches(rule: AlertRule, issues: list[Issue], *, created: set, regressed: set, now: datetime):
    kind = AlertRule.Kind
    if rule.kind == kind.NEW_ISSUE:
        yield from ((i, "new issue") for i in issues if i.pk in created)
    elif rule.kind == kind.REGRESSION:
        yield from ((i, f"regressed ({i.regression_count} times)") for i in issues if i.pk in regressed)
    elif rule.kind == kind.PRIORITY:
        for issue in issues:
            if issue.status == IssueStatus.UNRESOLVED and issue.priority >= (rule.min_priority or 0):
                yield issue, f"priority {issue.priority} ≥ {rule.min_priority} ({issue.priority_reason})"
    elif rule.kind in (kind.ISSUE_THRESHOLD, kind.PROJECT_THRESHOLD):
        window = timedelta(minutes=min(rule.window_minutes or 1, MAX_WINDOW_MINUTES))
        recent = IssueBucket.objects.filter(size=IssueBucket.Size.MINUTE, start__gt=now - window, start__lte=now)
        if rule.kind == kind.ISSUE_THRESHOLD:
            counts = dict(
                recent.filter(issue__in=issues)
                .values_list("issue_id")
                .annotate(total=Sum("count"))
                .values_list("issue_id", "total")
            )
            for issue in issues:
                if issue.status != IssueStatus.UNRESOLVED:
                    continue  # resolved or ignored: someone decided; a regression has its own rule
                if counts.get(issue.pk, 0) >= (rule.threshold_count or 1):
                    yield issue, f"{counts[issue.pk]} events in {rule.window_minutes} min (≥ {rule.threshold_count})"
        else:
            total = recent.filter(issue__project_id=rule.project_id).aggregate(total=Sum("count"))["total"] or 0
            if total >= (rule.threshold_count or 1):
                # The project's alert names the busiest issue of the batch as an example.
                top = max(issues, key=lambda issue: issue.error_rate)
                yield (
                    None,
                    f"{total} events of {rule.project.name} in {rule.window_minutes} min "
                    f"(≥ {rule.threshold_count}); e.g. {top.title}",
                )


def claim(rule: AlertRule, issue: Issue | None, *, now: datetime) -> bool:
    """Take the rule's cool-down for this issue (or project); True for exactly one caller per cool-down."""
    subject = issue.pk if issue is not None else 0
    try:
        with transaction.atomic():
            AlertState.objects.get_or_create(rule=rule, subject=subject, defaults={"issue": issue})
    except IntegrityError:
        pass  # another worker created it this instant; the UPDATE below decides
    due = Q(last_fired_at__isnull=True) | Q(last_fired_at__lte=now - timedelta(minutes=rule.cooldown_minutes))
    won = AlertState.objects.filter(due, rule=rule, subject=subject).update(last_fired_at=now)
    if won:
        AlertState.objects.filter(rule=rule, subject=subject).update(fire_count=F("fire_count") + 1)
    return bool(won)


def fire(rule: AlertRule, issue: Issue | None, *, reason: str, now: datetime) -> int:
    with transaction.atomic():
        if issue is not None and rule.open_incident:
            # Two rules firing at once for one issue must not open two incidents.
            Issue.objects.select_for_update().filter(pk=issue.pk).first()
        if not claim(rule, issue, now=now):
            return 0
        incident = _open_incident(rule, issue, reason=reason, now=now) if rule.open_incident and issue else None
        subject = f"[{rule.project.name}] {rule.name}: " + (issue.title if issue else reason)
        context = {"rule": rule, "issue": issue, "reason": reason, "incident": incident, "now": now}
        payload = {
            "event": "issue.alert",
            "rule": {"id": rule.pk, "name": rule.name, "kind": rule.kind},
            "project": {"id": rule.project_id, "name": rule.project.name},
            "reason": reason,
            "issue": _issue_payload(issue) if issue else None,
            "incident": str(incident.pk) if incident else None,
        }
        notify(
            topic=topics.ISSUE_ALERT,
            subject=subject,
            text=render_to_string("events/alert_email.txt", context),
            html=render_to_string("events/alert_email.html", context),
            payload=payload,
            severity=NOTIFY_SEVERITY.get(issue.severity) if issue else None,
            channels=list(rule.channels.all()) or None,
        )
    logger.info("alert rule %s fired for %s: %s", rule.pk, issue.pk if issue else "project", reason)
    return 1


def _issue_payload(issue: Issue) -> dict:
    return {
        "id": issue.pk,
        "title": issue.title,
        "culprit": issue.culprit,
        "service": issue.service,
        "status": issue.status,
        "severity": issue.severity,
        "priority": issue.priority,
        "priority_reason": issue.priority_reason,
        "event_count": issue.event_count,
        "url": absolute_url("events:detail", issue.pk),
    }


def _open_incident(rule: AlertRule, issue: Issue, *, reason: str, now: datetime):
    """The issue's incident: opened for it, or the open incident of its service that it joins."""
    incident, _opened = correlation.open_or_join(
        correlation.Signal(
            kind=SignalKind.ISSUE, ref=str(issue.pk), label=issue.title, url=reverse("events:detail", args=[issue.pk])
        ),
        service=issue.service or "unknown",
        title=issue.title,
        severity=rule.incident_severity,
        summary=f"Alert rule “{rule.name}”: {reason}",
        by=incident_services.Actor(label=f"alert rule {rule.name}"[:150]),
        now=now,
    )
    IssueIncident.objects.get_or_create(
        issue=issue,
        incident=incident,
        defaults={"rule": rule, "resolve_issue_with_incident": rule.resolve_issue_with_incident},
    )
    return incident


def resolve_linked_issues(incident_id, user) -> int:
    """An incident was resolved: resolve its linked issues where the link says so."""
    done = 0
    links = IssueIncident.objects.filter(incident_id=incident_id, resolve_issue_with_incident=True)
    for issue_id in links.values_list("issue_id", flat=True):
        issue = lifecycle.set_issue_status(
            issue_id, status=IssueStatus.RESOLVED, by=user, reason=lifecycle.Reason.INCIDENT
        )
        done += issue.status == IssueStatus.RESOLVED
    return done
