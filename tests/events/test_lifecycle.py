"""The issue lifecycle (events/lifecycle.py) is the one writer of an issue's status, and every change it
makes reaches the project's live stream: a deploy's quiet window and a resolved incident included."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from events import lifecycle, stream
from events.models import Issue, IssueActivity, IssueIncident, IssueStatus
from incidents import services as incident_services
from tests.factories import make_event
from tests.helpers import ingest
from tracepoint import redis

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUIET = timedelta(minutes=settings.TRACEPOINT["DEPLOY_QUIET_MINUTES"])
# Each event stored when it happened, then one digestion pass at T0.
AS_SENT = {"now": T0, "each_when_it_happens": True, "until_done": False}
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the live stream needs Redis; set REDIS_URL")


def issue_messages(project) -> list[dict]:
    """The ``issue`` messages on the project's Redis stream, oldest first."""
    entries = redis.client().xrange(stream.channel(project.pk))
    messages = [json.loads(fields[b"data"]) for _, fields in entries]
    return [message for message in messages if message["type"] == "issue"]


@needs_redis
def test_a_deploys_quiet_window_resolution_reaches_the_live_stream(project, django_capture_on_commit_callbacks):
    ingest(project, make_event(at=T0 - timedelta(hours=1)), make_event(at=T0, event_type="DEPLOY"), **AS_SENT)
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.resolve_quiet_issues_after_deploys(now=T0 + QUIET + timedelta(minutes=1)) == 1
    issue = Issue.objects.get()
    [message] = issue_messages(project)
    assert message["project"] == project.pk
    assert (message["issue"]["id"], message["issue"]["status"]) == (issue.pk, IssueStatus.RESOLVED)
    assert (message["by"], message["reason"], message["deploy"]) == (None, "deploy", issue.resolved_by_deploy_id)


@needs_redis
def test_resolving_an_incident_resolves_its_linked_issue_on_the_live_stream(
    project, responder, django_capture_on_commit_callbacks
):
    ingest(project, make_event(at=T0), **AS_SENT)
    issue = Issue.objects.get()
    incident = incident_services.create_incident(title=issue.title, service="checkout", severity="SEV3", by=responder)
    IssueIncident.objects.create(issue=issue, incident=incident, resolve_issue_with_incident=True)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.transition_incident(incident.pk, to="RESOLVED", by=responder)
    issue.refresh_from_db()
    assert (issue.status, issue.resolved_by) == (IssueStatus.RESOLVED, responder)
    assert issue.activity.last().kind == IssueActivity.Kind.RESOLVED
    [message] = issue_messages(project)
    assert (message["issue"]["id"], message["issue"]["status"]) == (issue.pk, IssueStatus.RESOLVED)
    assert (message["by"], message["reason"]) == (responder.get_username(), "incident")


@needs_redis
def test_a_rolled_back_status_change_publishes_nothing(project, admin_user, django_capture_on_commit_callbacks):
    from django.db import transaction

    ingest(project, make_event(at=T0), **AS_SENT)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        lifecycle.set_issue_status(Issue.objects.get().pk, status=IssueStatus.IGNORED, by=admin_user)
        raise RuntimeError("the caller failed after the change")
    assert Issue.objects.get().status == IssueStatus.UNRESOLVED
    assert issue_messages(project) == []


# --- one writer ---------------------------------------------------------------------------------

# The fields the lifecycle owns. ``status`` is also an incident's, a monitor's…: only writes of an
# issue's status (an IssueStatus value, or any status in a module that works on issues) count.
LIFECYCLE_FIELDS = {"resolved_by_deploy", "regression_count"}
ISSUE_STATUS_FIELDS = {"status", "resolved_at", "resolved_by"}
WRITES = {"update", "create", "bulk_create", "update_or_create", "get_or_create", "Issue"}
ACTIVITY_KINDS = {"RESOLVED", "IGNORED", "UNRESOLVED", "RESOLVED_BY_DEPLOY", "REGRESSED"}


def _modules():
    for app in ("events", "incidents", "monitors", "statuspages", "tracepoint"):
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts and path != ROOT / "events" / "lifecycle.py":
                yield path


def _touches_issues(tree: ast.AST) -> bool:
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    return bool(names & {"Issue", "IssueStatus", "IssueActivity"})


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def _status_writes(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in (t for top in targets for t in ast.walk(top)):
                if not isinstance(target, ast.Attribute) or _names(target.value) == {"self"}:
                    continue
                if target.attr in LIFECYCLE_FIELDS or target.attr in ISSUE_STATUS_FIELDS:
                    found.append((node.lineno, f"assigns .{target.attr}"))
        elif isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for keyword in node.keywords:
                owned = keyword.arg in LIFECYCLE_FIELDS or (
                    keyword.arg in ISSUE_STATUS_FIELDS and ("IssueStatus" in _names(keyword.value) or func == "Issue")
                )
                if func in WRITES and owned:
                    found.append((node.lineno, f"{func}({keyword.arg}=…)"))
                if func == "create" and keyword.arg == "kind" and _names(keyword.value) & ACTIVITY_KINDS:
                    found.append((node.lineno, "writes a status activity row"))
                if keyword.arg == "update_fields" and {"status", "resolved_by_deploy"} & {
                    c.value for c in ast.walk(keyword.value) if isinstance(c, ast.Constant)
                }:
                    found.append((node.lineno, "saves the status fields"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            sql = " ".join(node.value.lower().split())
            if "update events_issue" in sql and ("status =" in sql or "resolved_" in sql):
                found.append((node.lineno, "raw SQL writes the status"))
    return found


def test_only_the_lifecycle_module_writes_an_issues_status():
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        if _touches_issues(tree):
            offenders += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in _status_writes(tree)]
    assert offenders == [], "issue status written outside events/lifecycle.py:\n" + "\n".join(offenders)


def test_the_check_would_see_a_writer():
    """The check above is only worth something if it finds the shapes a writer takes."""
    source = """
from events.models import Issue, IssueActivity, IssueStatus
issue.status = IssueStatus.RESOLVED
issue.resolved_at, issue.resolved_by = now, user
Issue.objects.filter(pk=1).update(status=IssueStatus.IGNORED)
IssueActivity.objects.create(issue=issue, kind=IssueActivity.Kind.RESOLVED)
issue.save(update_fields=["status"])
Issue.objects.filter(status=IssueStatus.UNRESOLVED, resolved_at__lt=now)
"""
    tree = ast.parse(source)
    assert _touches_issues(tree)
    assert [line for line, _ in _status_writes(tree)] == [3, 4, 4, 5, 6, 7]
