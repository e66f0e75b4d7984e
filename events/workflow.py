"""Working on an issue: its assignee, its comment thread, and an incident opened for it by hand.

The status (resolve, ignore, unresolve) is events/lifecycle.py's. Every change here writes an activity
row and reaches the project's live stream after commit, as status changes do.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from events import stream
from events.models import Issue, IssueActivity, IssueComment, IssueIncident, Project
from events.priority import IssueSeverity
from incidents import correlation
from incidents.models import Incident, SignalKind
from tracepoint.accounts.roles import ADMIN, RESPONDER, has_role
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.severity import Severity

MAX_COMMENT_CHARS = 10_000
# The incident's severity for the issue's: a critical issue is a SEV1 incident… a low one a SEV4.
INCIDENT_SEVERITY = {
    IssueSeverity.CRITICAL: Severity.SEV1,
    IssueSeverity.HIGH: Severity.SEV2,
    IssueSeverity.MEDIUM: Severity.SEV3,
    IssueSeverity.LOW: Severity.SEV4,
}


class IssueNotFound(NotFoundError):
    pass


def _locked(issue_id) -> Issue:
    try:
        return Issue.objects.select_for_update().get(pk=issue_id)
    except Issue.DoesNotExist:
        raise IssueNotFound("No issue with this id.") from None


def _publish(issue: Issue, *, by, reason: str) -> None:
    data = stream.issue_data(issue)
    data["assignee"] = issue.assignee.get_username() if issue.assignee_id else None
    stream.publish_on_commit(issue.project_id, "issue", {"issue": data, "by": by.get_username(), "reason": reason})


def assignable_users(project: Project) -> QuerySet:
    """Who may take an issue of ``project``: active responders and admins who can see the project."""
    roles = Q(groups__name__in=[RESPONDER, ADMIN]) | Q(is_superuser=True)
    can_see = Q(groups__name=ADMIN) | Q(is_superuser=True) | Q(projects=project)
    users = get_user_model().objects.filter(roles, can_see, is_active=True)
    return get_user_model().objects.filter(pk__in=users.values("pk")).order_by("username")


def assign_issue(issue_id, *, assignee, by, now: datetime | None = None) -> Issue:
    """Give the issue to ``assignee`` (None: unassign). The same assignee is a no-op."""
    now = now or timezone.now()
    with transaction.atomic():
        issue = _locked(issue_id)
        if assignee is not None and not (
            has_role(assignee, RESPONDER) and assignable_users(issue.project).filter(pk=assignee.pk).exists()
        ):
            raise DomainError(
                f"{assignee.get_username()} cannot take this issue: assign a responder or admin of its project.",
                details={"assignee": ["Must be a responder or admin who can see the issue's project."]},
            )
        if issue.assignee_id == (assignee.pk if assignee else None):
            return issue
        previous = issue.assignee
        issue.assignee = assignee
        issue.save(update_fields=["assignee"])
        if assignee is not None:
            kind, note = IssueActivity.Kind.ASSIGNED, assignee.get_username()
        else:
            kind, note = IssueActivity.Kind.UNASSIGNED, previous.get_username() if previous else ""
        IssueActivity.objects.create(issue=issue, kind=kind, actor=by, note=note[:300], created_at=now)
        _publish(issue, by=by, reason="assigned" if assignee else "unassigned")
    return issue


def add_issue_comment(issue_id, *, body: str, by, now: datetime | None = None) -> IssueComment:
    body = (body or "").strip()
    if not body:
        raise DomainError("Write something first.", details={"body": ["This field may not be blank."]})
    if len(body) > MAX_COMMENT_CHARS:
        raise DomainError(
            f"A comment is at most {MAX_COMMENT_CHARS} characters.",
            details={"body": [f"Ensure this field has no more than {MAX_COMMENT_CHARS} characters."]},
        )
    now = now or timezone.now()
    with transaction.atomic():
        issue = _locked(issue_id)
        comment = IssueComment.objects.create(issue=issue, author=by, body=body, created_at=now)
        stream.publish_on_commit(
            issue.project_id, "issue_comment", {"issue": issue.pk, "comment": comment.pk, "by": by.get_username()}
        )
    return comment


def incident_defaults(issue: Issue) -> dict[str, str]:
    """What the "Open incident" form proposes for ``issue``."""
    where = f" in {issue.service}" if issue.service else ""
    return {
        "title": f"Errors{where}: {issue.title}"[:200],
        "severity": INCIDENT_SEVERITY.get(issue.severity, Severity.SEV3),
        "summary": (
            f"{issue.event_count} event{'s' if issue.event_count != 1 else ''} from {issue.user_count} "
            f"user{'s' if issue.user_count != 1 else ''} since {issue.first_seen:%Y-%m-%d %H:%M} UTC; "
            f"{issue.error_rate:g} errors/min over the last hour. Culprit: {issue.culprit or 'unknown'}."
        ),
    }


def open_issue_incident(
    issue_id,
    *,
    by,
    title: str,
    severity: str,
    summary: str = "",
    resolve_issue_with_incident: bool = True,
    now: datetime | None = None,
) -> tuple[Incident, bool]:
    """An incident for the issue's service, linked to the issue: opened for it, or the open incident of its
    service that it joins (one problem, one incident: incidents.correlation). Returns (incident, opened)."""
    if severity not in Severity.values:
        raise DomainError(f"Unknown severity {severity!r}.", details={"severity": [f"One of {Severity.values}."]})
    now = now or timezone.now()
    with transaction.atomic():
        issue = _locked(issue_id)
        incident, opened = correlation.open_or_join(
            correlation.Signal(
                kind=SignalKind.ISSUE,
                ref=str(issue.pk),
                label=issue.title,
                url=reverse("events:detail", args=[issue.pk]),
            ),
            service=issue.service or "unknown",
            title=title.strip() or issue.title,
            severity=severity,
            summary=summary.strip(),
            by=by,
            now=now,
        )
        _link, created = IssueIncident.objects.get_or_create(
            issue=issue, incident=incident, defaults={"resolve_issue_with_incident": resolve_issue_with_incident}
        )
        if created:
            IssueActivity.objects.create(
                issue=issue,
                kind=IssueActivity.Kind.INCIDENT,
                actor=by,
                note=incident.title[:300],
                created_at=now,
            )
            _publish(issue, by=by, reason="incident")
    return incident, opened
