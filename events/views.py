"""Issue pages (HTMX): list with live filters, detail with stack trace and actions (status, assignee,
comments, an incident), each event's page, a service's timeline, and the daily summary switch of the
profile page. Project settings pages are events/project_views.py."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from events import daily_summary, event_details, lifecycle, timeline, workflow
from events.forms import (
    SORTS,
    STATUS_TABS,
    IssueAssignForm,
    IssueCommentForm,
    IssueFilterForm,
    IssueIncidentForm,
    IssueStatusForm,
)
from events.models import Event, Issue, IssueStatus, Project
from incidents.models import service_validator
from tracepoint import stream as live_streams
from tracepoint.accounts.roles import RESPONDER, has_role, role_required
from tracepoint.errors import DomainError
from tracepoint.lib.counting import FastCountPaginator, count_memo

PAGE_SIZE = 25
BREAKDOWN_EVENTS = 500
RECENT_EVENTS = 20
TOP_VALUES = 5
MAX_TAG_KEYS = 4
# What each status button says, and which buttons an issue in a status offers.
ACTION_LABELS = {IssueStatus.RESOLVED: "Resolve", IssueStatus.IGNORED: "Ignore", IssueStatus.UNRESOLVED: "Unresolve"}
ACTIONS = {
    IssueStatus.UNRESOLVED: [IssueStatus.RESOLVED, IssueStatus.IGNORED],
    IssueStatus.RESOLVED: [IssueStatus.UNRESOLVED],
    IssueStatus.IGNORED: [IssueStatus.UNRESOLVED, IssueStatus.RESOLVED],
}


def visible_issues(user) -> QuerySet[Issue]:
    return Issue.objects.filter(project__in=Project.objects.visible_to(user)).select_related("project")


def get_issue_for_user(user, pk) -> Issue:
    issue = (
        visible_issues(user)
        .select_related("resolved_by", "resolved_by_deploy", "introduced_by", "assignee")
        .filter(pk=pk)
        .first()
    )
    if issue is None:
        raise Http404("No such issue.")
    return issue


# --- issue list -------------------------------------------------------------------------


@role_required("viewer")
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    with count_memo():
        return _index(request)


def _index(request: HttpRequest) -> HttpResponse:
    projects = Project.objects.visible_to(request.user)
    form = IssueFilterForm(request.GET or None, projects=projects)
    issues = visible_issues(request.user)
    valid = not form.is_bound or form.is_valid()
    data = form.cleaned_data if form.is_bound and valid else {}
    status = data.get("status") or IssueStatus.UNRESOLVED
    sort = data.get("sort") or "last_seen"
    if not valid:
        issues = issues.none()
    if data.get("q", "").strip():
        q = data["q"].strip()
        issues = issues.filter(Q(title__icontains=q) | Q(culprit__icontains=q))
    if data.get("project"):
        issues = issues.filter(project=data["project"])
    # One query for every tab's count, over the same search and project.
    counts = issues.aggregate(
        all=Count("pk"), **{value: Count("pk", filter=Q(status=value)) for value in IssueStatus.values}
    )
    if status != "all":
        issues = issues.filter(status=status)
    issues = issues.order_by(*SORTS[sort][1])
    paginator = FastCountPaginator(issues, PAGE_SIZE)
    page = paginator.get_page(data.get("page") or 1)

    params = request.GET.copy()
    params.pop("page", None)

    def query(**changes: str) -> str:
        result = params.copy()
        for key, value in changes.items():
            result[key] = value
        return result.urlencode()

    context = {
        "form": form,
        "page": page,
        "status": status,
        "sort": sort,
        "tabs": [
            {
                "value": value,
                "label": label,
                "count": counts[value],
                "query": query(status=value),
                "active": value == status,
            }
            for value, label in STATUS_TABS
        ],
        "sorts": [
            {"value": key, "label": label, "query": query(sort=key), "active": key == sort}
            for key, (label, _) in SORTS.items()
        ],
        "base_query": params.urlencode(),
        "projects": projects,
        "has_projects": projects.exists(),
        "live_url": live_streams.page_url(reverse("events:live")),
    }
    template = "events/issue_list.html#table" if request.htmx else "events/issue_list.html"
    return render(request, template, context)


# --- issue detail -----------------------------------------------------------------------


def _top(counter: Counter, total: int) -> list[dict[str, Any]]:
    return [
        {"value": value, "count": count, "percent": round(100 * count / total) if total else 0}
        for value, count in counter.most_common(TOP_VALUES)
    ]


def breakdown(issue: Issue) -> dict[str, Any]:
    """Counts by release, environment and the most common tags over the issue's recent events."""
    rows = list(
        Event.objects.filter(issue=issue)
        .order_by("-timestamp", "-id")
        .values_list("release", "environment", "data__tags")[:BREAKDOWN_EVENTS]
    )
    releases, environments, tags = Counter(), Counter(), {}
    for release, environment, raw_tags in rows:
        releases[release or "(none)"] += 1
        environments[environment or "(none)"] += 1
        for key, value in event_details.tag_pairs(raw_tags):
            if key not in ("release", "environment"):
                tags.setdefault(key, Counter())[value] += 1
    total = len(rows)
    tag_keys = sorted(tags, key=lambda key: (-sum(tags[key].values()), key))[:MAX_TAG_KEYS]
    groups = [("Release", _top(releases, total)), ("Environment", _top(environments, total))]
    groups += [(key, _top(tags[key], total)) for key in tag_keys]
    return {"total": total, "groups": groups}


def _detail_context(request: HttpRequest, issue: Issue, **extra) -> dict:
    can_write = has_role(request.user, RESPONDER)
    users = workflow.assignable_users(issue.project)
    context = {
        "issue": issue,
        "actions": [(target.value, ACTION_LABELS[target]) for target in ACTIONS[IssueStatus(issue.status)]]
        if can_write
        else [],
        "can_write": can_write,
        "activity": issue.activity.select_related("actor", "event").order_by("created_at", "id")[:200],
        "linked_incidents": [link.incident for link in issue.incident_links.select_related("incident")],
        "can_take": can_write and issue.assignee_id != request.user.pk and users.filter(pk=request.user.pk).exists(),
    }
    if can_write:
        context["assign_form"] = IssueAssignForm(initial={"assignee": issue.assignee_id}, users=users)
        context["incident_form"] = IssueIncidentForm(initial=workflow.incident_defaults(issue))
    return {**context, **extra}


def _comments_context(request: HttpRequest, issue: Issue, **extra) -> dict:
    can_write = has_role(request.user, RESPONDER)
    return {
        "issue": issue,
        "comments": issue.comments.select_related("author").order_by("created_at", "id"),
        "can_write": can_write,
        "comment_form": IssueCommentForm() if can_write else None,
        **extra,
    }


def _page_context(request: HttpRequest, issue: Issue, **extra) -> dict:
    recent = list(Event.objects.filter(issue=issue).order_by("-timestamp", "-id")[:RECENT_EVENTS])
    latest = recent[0] if recent else None
    return {
        **_comments_context(request, issue),
        **_detail_context(
            request,
            issue,
            latest=latest,
            exceptions=event_details.stack_trace(latest),
            recent_events=recent,
            breakdown=breakdown(issue),
            **extra,
        ),
    }


@role_required("viewer")
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    issue = get_issue_for_user(request.user, pk)
    return render(request, "events/issue_detail.html", _page_context(request, issue))


def _summary_response(request: HttpRequest, pk: int, message: str, *, error: str | None = None, **extra):
    """After an action on the issue: the summary fragment and a toast (HTMX), or back to the page."""
    if request.htmx:
        issue = get_issue_for_user(request.user, pk)
        context = _detail_context(request, issue, error=error, **extra)
        response = render(request, "events/issue_detail.html#summary", context)
        return trigger_client_event(response, "toast", {"message": message, "level": "error" if error else "success"})
    (messages.error if error else messages.success)(request, message)
    return redirect("events:detail", pk=pk)


@role_required("responder")
@require_POST
def set_status(request: HttpRequest, pk: int) -> HttpResponse:
    issue = get_issue_for_user(request.user, pk)
    form = IssueStatusForm(request.POST)
    error = None
    if not form.is_valid():
        error = "Unknown status."
    else:
        try:
            issue = lifecycle.set_issue_status(issue.pk, status=form.cleaned_data["status"], by=request.user)
        except lifecycle.IssueNotFound:
            raise Http404 from None
        except DomainError as exc:
            error = exc.message
    message = error or f"Issue {IssueStatus(issue.status).label.lower()}."
    if request.htmx:
        issue = get_issue_for_user(request.user, pk)
        response = render(request, "events/issue_detail.html#summary", _detail_context(request, issue, error=error))
        return trigger_client_event(response, "toast", {"message": message, "level": "error" if error else "success"})
    (messages.error if error else messages.success)(request, message)
    return redirect("events:detail", pk=pk)


@role_required("responder")
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    issue = get_issue_for_user(request.user, pk)
    form = IssueAssignForm(request.POST, users=workflow.assignable_users(issue.project))
    if not form.is_valid():
        message = "Choose a responder or admin of this project."
        return _summary_response(request, pk, message, error=message)
    assignee = form.cleaned_data["assignee"]
    try:
        workflow.assign_issue(issue.pk, assignee=assignee, by=request.user)
    except workflow.IssueNotFound:
        raise Http404 from None
    except DomainError as exc:
        return _summary_response(request, pk, exc.message, error=exc.message)
    if assignee is None:
        return _summary_response(request, pk, "Issue unassigned.")
    name = "you" if assignee == request.user else assignee.get_username()
    return _summary_response(request, pk, f"Issue assigned to {name}.")


@role_required("responder")
@require_POST
def open_incident(request: HttpRequest, pk: int) -> HttpResponse:
    issue = get_issue_for_user(request.user, pk)
    form = IssueIncidentForm(request.POST)
    if not form.is_valid():
        message = "Check the incident's fields."
        if request.htmx:
            return _summary_response(request, pk, message, error=message, incident_form=form)
        context = _page_context(request, issue, incident_form=form, error=message)
        return render(request, "events/issue_detail.html", context, status=400)
    try:
        incident, opened = workflow.open_issue_incident(issue.pk, by=request.user, **form.cleaned_data)
    except workflow.IssueNotFound:
        raise Http404 from None
    except DomainError as exc:
        return _summary_response(request, pk, exc.message, error=exc.message, incident_form=form)
    verb = "Opened incident" if opened else "Linked the issue to the open incident"
    return _summary_response(request, pk, f"{verb} “{incident.title}”.")


@role_required("responder")
@require_POST
def comment(request: HttpRequest, pk: int) -> HttpResponse:
    issue = get_issue_for_user(request.user, pk)
    form = IssueCommentForm(request.POST)
    error = None
    if form.is_valid():
        try:
            workflow.add_issue_comment(issue.pk, body=form.cleaned_data["body"], by=request.user)
        except workflow.IssueNotFound:
            raise Http404 from None
        except DomainError as exc:
            error = exc.message
    else:
        error = "Write something first."
    message = error or "Comment added."
    if request.htmx:
        context = _comments_context(request, issue, comment_error=error)
        if error:
            context["comment_form"] = form
        response = render(request, "events/issue_detail.html#comments", context)
        return trigger_client_event(response, "toast", {"message": message, "level": "error" if error else "success"})
    (messages.error if error else messages.success)(request, message)
    return redirect(reverse("events:detail", args=[pk]) + "#comments")


# --- an event's page -----------------------------------------------------------------------


@role_required("viewer")
@require_GET
def event_detail(request: HttpRequest, pk: int, event_pk: int) -> HttpResponse:
    """One event of an issue in full: stack with context and locals, breadcrumbs, request, user, contexts."""
    issue = get_issue_for_user(request.user, pk)
    event = Event.objects.filter(issue=issue, pk=event_pk).first()
    if event is None:
        raise Http404("No such event in this issue.")
    data = event.data if isinstance(event.data, dict) else {}
    older, newer = event_details.neighbours(event)
    context = {
        "issue": issue,
        "event": event,
        "exceptions": event_details.stack_trace(event),
        "breadcrumbs": event_details.breadcrumbs(data),
        "request_info": event_details.request_info(data),
        "user_info": event_details.user_info(data),
        "contexts": event_details.contexts(data),
        "tags": event_details.tag_pairs(data.get("tags")),
        "extra": event_details.extra_data(data),
        "facts": event_details.facts(event),
        "older": older,
        "newer": newer,
    }
    return render(request, "events/event_detail.html", context)


# --- service timeline --------------------------------------------------------------------

TIMELINE_RANGES = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
CHART_WIDTH, CHART_HEIGHT = 720, 120


@role_required("viewer")
@require_GET
def service_timeline(request: HttpRequest, service: str) -> HttpResponse:
    """One service's errors per interval, deploy markers and incident spans (inline SVG), then the list."""
    try:
        service_validator(service)
    except ValidationError:
        raise Http404("No such service.") from None
    range_key = request.GET.get("range") or "24h"
    if range_key not in TIMELINE_RANGES:
        range_key = "24h"
    until = timezone.now()
    since = until - TIMELINE_RANGES[range_key]
    result = timeline.service_timeline(request.user, service, since=since, until=until)
    span = (until - since).total_seconds()

    def x(moment) -> float:
        return round(max(0.0, min(1.0, (moment - since).total_seconds() / span)) * CHART_WIDTH, 1)

    top = max((count for _, count in result.buckets), default=0) or 1
    bar_width = CHART_WIDTH / max(1, len(result.buckets))
    bars = [
        {
            "x": round(i * bar_width, 1),
            "width": max(1.0, round(bar_width - 1, 1)),
            "height": round(count / top * (CHART_HEIGHT - 10), 1),
            "y": round(CHART_HEIGHT - count / top * (CHART_HEIGHT - 10), 1),
            "start": start,
            "count": count,
        }
        for i, (start, count) in enumerate(result.buckets)
        if count
    ]
    markers = [{"x": x(event.timestamp), "event": event} for event in result.markers]
    spans = []
    for incident in result.incidents:
        start, end = x(incident.created_at), x(incident.resolved_at or until)
        spans.append({"x": start, "width": max(2.0, end - start), "incident": incident})
    return render(
        request,
        "events/service_timeline.html",
        {
            "service": service,
            "result": result,
            "items": [
                {**item, "cause": result.causes.get(item["event"].pk)} if item["kind"] == "event" else item
                for item in result.items()[-500:]
            ],
            "bars": bars,
            "markers": markers,
            "spans": spans,
            "top": top,
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "ranges": list(TIMELINE_RANGES),
            "range_key": range_key,
            "bucket_minutes": int(result.bucket_size.total_seconds() // 60),
        },
    )


# --- the daily summary switch (on the profile page) --------------------------------------------------


@role_required("viewer")
@require_POST
def daily_summary_switch(request: HttpRequest) -> HttpResponse:
    """Opt in or out of the daily summary email (events/daily_summary.py)."""
    enabled = request.POST.get("enabled") == "on"
    if enabled and not request.user.email:
        messages.error(request, "Add an email address to your account first (ask an admin).")
        return redirect("accounts:profile")
    daily_summary.set_subscription(request.user, enabled=enabled)
    messages.success(request, "Daily summary on." if enabled else "Daily summary off.")
    return redirect("accounts:profile")
