"""The issue lifecycle: the one writer of an issue's status (unresolved / resolved / ignored), of the
fields that go with it (``resolved_at``, ``resolved_by``, ``resolved_by_deploy``, ``regression_count``)
and of the activity rows that record each change.

Every change reaches the project's live stream after commit, whoever made it: a person (API, HTML,
admin), an incident resolved with its linked issues, or a deploy whose quiet window passed are one
``issue`` message per changed issue. A regression is found by digestion inside its batch, and the
batch's own ``events`` message carries it (``regressed: true``), so the page gets one message, not two.
tests/events/test_lifecycle.py checks that no other module writes these fields.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events import impact, stream
from events.models import Event, EventType, Issue, IssueActivity, IssueStatus
from incidents import correlation
from incidents.models import SignalKind
from incidents.services import Actor
from tracepoint.errors import DomainError, NotFoundError


class IssueNotFound(NotFoundError):
    pass


class Reason:
    """Why a status changed, as the live-stream message says it."""

    USER = "user"
    INCIDENT = "incident"
    DEPLOY = "deploy"


_ACTIVITY_OF = {
    IssueStatus.RESOLVED: IssueActivity.Kind.RESOLVED,
    IssueStatus.IGNORED: IssueActivity.Kind.IGNORED,
    IssueStatus.UNRESOLVED: IssueActivity.Kind.UNRESOLVED,
}


def _locked_issue(issue_id) -> Issue:
    try:
        return Issue.objects.select_for_update().get(pk=issue_id)
    except Issue.DoesNotExist:
        raise IssueNotFound("No issue with this id.") from None


def _publish(issue: Issue, *, by, reason: str, extra: dict[str, Any] | None = None) -> None:
    data = {"issue": stream.issue_data(issue), "by": by.get_username() if by else None, "reason": reason}
    stream.publish_on_commit(issue.project_id, "issue", {**data, **(extra or {})})
    if issue.status in (IssueStatus.RESOLVED, IssueStatus.IGNORED):
        # The issue no longer speaks for a problem: its signal on open incidents clears.
        why = f"the issue was {issue.get_status_display().lower()}" + {
            Reason.DEPLOY: " after a quiet deploy",
            Reason.INCIDENT: " with an incident",
        }.get(reason, "")
        issue_id, actor = issue.pk, by or Actor(label="error tracking")
        transaction.on_commit(lambda: correlation.resolve_signal(SignalKind.ISSUE, str(issue_id), by=actor, reason=why))


def set_issue_status(issue_id, *, status: str, by, now: datetime | None = None, reason: str = Reason.USER) -> Issue:
    """Resolve, ignore or unresolve. The same status is a no-op."""
    if status not in IssueStatus.values:
        raise DomainError(f"Unknown status {status!r}.", details={"status": [f"Must be one of {IssueStatus.values}."]})
    now = now or timezone.now()
    with transaction.atomic():
        issue = _locked_issue(issue_id)
        if issue.status == status:
            return issue
        issue.status = status
        if status == IssueStatus.RESOLVED:
            issue.resolved_at, issue.resolved_by, issue.resolved_by_deploy = now, by, None
        else:
            issue.resolved_at = issue.resolved_by = issue.resolved_by_deploy = None
        issue.save()
        IssueActivity.objects.create(issue=issue, kind=_ACTIVITY_OF[status], actor=by, created_at=now)
        impact.refresh([issue.pk], now=now)  # resolved and ignored issues weigh less
        issue.refresh_from_db()
        _publish(issue, by=by, reason=reason)
    return issue


def regress(issue: Issue, event: Event, *, now: datetime) -> None:
    """A resolved issue saw an error from after its resolution. Runs inside digestion's transaction,
    with the issue already locked; the batch's ``events`` message publishes it."""
    issue.status = IssueStatus.UNRESOLVED
    issue.regression_count += 1
    issue.resolved_at = issue.resolved_by = issue.resolved_by_deploy = None
    issue.save(update_fields=["status", "regression_count", "resolved_at", "resolved_by", "resolved_by_deploy"])
    IssueActivity.objects.create(issue=issue, kind=IssueActivity.Kind.REGRESSED, event=event, created_at=now)


def resolve_quiet_issues_after_deploys(*, now: datetime | None = None) -> int:
    """A DEPLOY/CONFIG_CHANGE resolves its service's unresolved issues that stay quiet for the window after it."""
    now = now or timezone.now()
    window = timedelta(minutes=settings.TRACEPOINT["DEPLOY_QUIET_MINUTES"])
    # Markers whose window has passed, newest marker per service first; look back one day.
    markers = Event.objects.filter(
        event_type__in=[EventType.DEPLOY, EventType.CONFIG_CHANGE],
        timestamp__lte=now - window,
        timestamp__gte=now - window - timedelta(days=1),
    ).order_by("-timestamp")
    resolved = 0
    for marker in markers:
        candidates = Issue.objects.filter(
            project_id=marker.project_id,
            service=marker.service,
            status=IssueStatus.UNRESOLVED,
            first_seen__lt=marker.timestamp,
        ).exclude(last_seen__gte=marker.timestamp)
        # Someone reopened it by hand after this deploy: the deploy no longer speaks for it.
        candidates = candidates.exclude(
            activity__kind=IssueActivity.Kind.UNRESOLVED, activity__created_at__gte=marker.timestamp
        )
        for issue_id in candidates.values_list("pk", flat=True):
            with transaction.atomic():
                issue = _locked_issue(issue_id)
                quiet = not Event.objects.filter(
                    issue=issue, timestamp__gte=marker.timestamp, timestamp__lt=marker.timestamp + window
                ).exists()
                if issue.status != IssueStatus.UNRESOLVED or issue.last_seen >= marker.timestamp or not quiet:
                    continue
                issue.status = IssueStatus.RESOLVED
                issue.resolved_at, issue.resolved_by, issue.resolved_by_deploy = now, None, marker
                issue.save()
                IssueActivity.objects.create(
                    issue=issue, kind=IssueActivity.Kind.RESOLVED_BY_DEPLOY, event=marker, created_at=now
                )
                impact.refresh([issue.pk], now=now)
                issue.refresh_from_db()
                _publish(issue, by=None, reason=Reason.DEPLOY, extra={"deploy": marker.pk})
                resolved += 1
    return resolved
