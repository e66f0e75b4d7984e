"""Issue pages (HTMX): list with live filters, detail with stack trace and actions, project settings."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from events import quota, services, timeline
from events.forms import (
    SORTS,
    STATUS_TABS,
    AlertRuleForm,
    IssueFilterForm,
    IssueStatusForm,
    ProjectForm,
    ProjectQuotaForm,
)
from events.models import AlertRule, Event, Issue, IssueStatus, Project, ProjectKey
from incidents.models import service_validator
from tracepoint import stream as live_streams
from tracepoint.accounts.roles import ADMIN, RESPONDER, has_role, role_required
from tracepoint.errors import DomainError
from tracepoint.lib.counting import FastCountPaginator, count_memo
from tracepoint.links import absolute_url, base_url

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
        visible_issues(user).select_related("resolved_by", "resolved_by_deploy", "introduced_by").filter(pk=pk).first()
    )
    if issue is None:
        raise Http404("No such issue.")
    return issue


def get_project_for_user(user, pk) -> Project:
    project = Project.objects.visible_to(user).filter(pk=pk).first()
    if project is None:
        raise Http404("No such project.")
    return project


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


def _frames(exception: dict[str, Any]) -> list[dict[str, Any]]:
    stacktrace = exception.get("stacktrace") or {}
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    # Sentry sends frames oldest first; people read the crash site first.
    return [
        {
            "module": str(frame.get("module") or ""),
            "function": str(frame.get("function") or ""),
            "filename": str(frame.get("filename") or frame.get("abs_path") or ""),
            "lineno": frame.get("lineno"),
            "context_line": str(frame.get("context_line") or "").rstrip(),
            "in_app": frame.get("in_app") is True,
        }
        for frame in reversed(frames or [])
        if isinstance(frame, dict)
    ]


def stack_trace(event: Event | None) -> list[dict[str, Any]]:
    """The event's exceptions, outermost first, each with its frames newest first."""
    if event is None:
        return []
    values = [value for value in (event.data or {}).get("exception") or [] if isinstance(value, dict)]
    return [
        {"type": str(value.get("type") or ""), "value": str(value.get("value") or ""), "frames": _frames(value)}
        for value in reversed(values)
    ]


def _tag_pairs(tags: Any) -> list[tuple[str, str]]:
    """Sentry sends tags as an object or as ``[[key, value], …]``."""
    if isinstance(tags, dict):
        return [(str(k), str(v)) for k, v in tags.items() if v is not None]
    if isinstance(tags, list):
        return [(str(t[0]), str(t[1])) for t in tags if isinstance(t, list | tuple) and len(t) == 2]
    return []


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
        for key, value in _tag_pairs(raw_tags):
            if key not in ("release", "environment"):
                tags.setdefault(key, Counter())[value] += 1
    total = len(rows)
    keys = sorted(tags, key=lambda key: (-sum(tags[key].values()), key))[:MAX_TAG_KEYS]
    groups = [("Release", _top(releases, total)), ("Environment", _top(environments, total))]
    groups += [(key, _top(tags[key], total)) for key in keys]
    return {"total": total, "groups": groups}


def _detail_context(request: HttpRequest, issue: Issue, **extra) -> dict:
    can_write = has_role(request.user, RESPONDER)
    return {
        "issue": issue,
        "actions": [(target.value, ACTION_LABELS[target]) for target in ACTIONS[IssueStatus(issue.status)]]
        if can_write
        else [],
        "can_write": can_write,
        "activity": issue.activity.select_related("actor", "event").order_by("created_at", "id")[:200],
        "linked_incidents": [link.incident for link in issue.incident_links.select_related("incident")],
        **extra,
    }


@role_required("viewer")
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    issue = get_issue_for_user(request.user, pk)
    recent = list(Event.objects.filter(issue=issue).order_by("-timestamp", "-id")[:RECENT_EVENTS])
    latest = recent[0] if recent else None
    context = _detail_context(
        request,
        issue,
        latest=latest,
        exceptions=stack_trace(latest),
        recent_events=recent,
        breakdown=breakdown(issue),
    )
    return render(request, "events/issue_detail.html", context)


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
            issue = services.set_issue_status(issue.pk, status=form.cleaned_data["status"], by=request.user)
        except services.IssueNotFound:
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


# --- projects ---------------------------------------------------------------------------


def _project_list_context(request: HttpRequest, form: ProjectForm | None = None) -> dict:
    projects = Project.objects.visible_to(request.user).annotate(
        open_issues=Count("issues", filter=Q(issues__status=IssueStatus.UNRESOLVED))
    )
    is_admin = has_role(request.user, ADMIN)
    return {"projects": projects, "is_admin": is_admin, "form": form or (ProjectForm() if is_admin else None)}


@role_required("viewer")
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "events/project_list.html", _project_list_context(request))


@role_required("admin")
@require_POST
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        project = services.create_project(name=data["name"], slug=data["slug"], services=data["services"])
        messages.success(request, f"Project {project.name} created. Send its first event with a snippet below.")
        url = reverse("events:project", kwargs={"pk": project.pk})
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if request.htmx:
        # htmx swaps only 2xx answers, so the inline errors come back as 200 there.
        return render(request, "events/project_list.html#create-form", {"form": form})
    return render(request, "events/project_list.html", _project_list_context(request, form), status=400)


def setup_snippets(project: Project, key: ProjectKey | None) -> dict[str, str]:
    if key is None:
        return {}
    dsn = key.dsn(base_url())
    service = (project.services or ["web"])[0]
    return {
        "python": f'import sentry_sdk\n\nsentry_sdk.init(dsn="{dsn}")',
        "javascript": f'import * as Sentry from "@sentry/browser";\n\nSentry.init({{ dsn: "{dsn}" }});',
        "curl": (
            f"curl -X POST {absolute_url('/api/v1/events')} \\\n"
            f"  -H 'X-Project-Key: {key.public_key}' \\\n"
            "  -H 'Content-Type: application/json' \\\n"
            f'  -d \'{{"service":"{service}","message":"ValueError: boom"}}\''
        ),
    }


def _project_context(
    request: HttpRequest,
    project: Project,
    alert_form: AlertRuleForm | None = None,
    quota_form: ProjectQuotaForm | None = None,
) -> dict:
    key = project.active_key()
    return {
        "quota": {
            "rate": project.event_rate(),
            "custom": project.events_per_minute is not None,
            "burst": project.event_burst_limit(),
            "burst_seconds": settings.TRACEPOINT["PROJECT_EVENTS_BURST_SECONDS"],
            "burst_percent": settings.TRACEPOINT["PROJECT_EVENTS_BURST_PERCENT"],
            "dropped": quota.dropped_events(project),
        },
        "quota_form": quota_form or ProjectQuotaForm(initial={"events_per_minute": project.events_per_minute}),
        "project": project,
        "active_key": key,
        "dsn": key.dsn(base_url()) if key else "",
        "keys": project.keys.order_by("-is_active", "-created_at"),
        "snippets": setup_snippets(project, key),
        "is_admin": has_role(request.user, ADMIN),
        "can_write": has_role(request.user, RESPONDER),
        "alert_rules": project.alert_rules.prefetch_related("channels").order_by("name"),
        "alert_form": alert_form or AlertRuleForm(prefix="alert"),
        "members": project.members.order_by("username"),
        "candidates": _member_candidates(project) if has_role(request.user, ADMIN) else [],
    }


def _member_candidates(project: Project) -> list:
    from django.contrib.auth import get_user_model

    return list(get_user_model().objects.filter(is_active=True).exclude(projects=project).order_by("username")[:500])


@role_required("admin")
@require_POST
def members(request: HttpRequest, pk: int) -> HttpResponse:
    """Add or remove one member (admins)."""
    from django.contrib.auth import get_user_model

    project = get_project_for_user(request.user, pk)
    user = get_user_model().objects.filter(pk=request.POST.get("user")).first()
    if user is None:
        messages.error(request, "Choose a user.")
    elif request.POST.get("action") == "remove":
        project.members.remove(user)
        messages.success(request, f"{user.username} is no longer a member.")
    else:
        project.members.add(user)
        messages.success(request, f"{user.username} is now a member.")
    return redirect("events:project", pk=project.pk)


@role_required("admin")
@require_POST
def wipe_events(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete every event of the project, after the admin typed its slug to confirm."""
    project = get_project_for_user(request.user, pk)
    if request.POST.get("confirm", "").strip() != project.slug:
        messages.error(request, f"Type the project's slug ({project.slug}) to confirm.")
        return redirect("events:project", pk=project.pk)
    services.request_wipe(project)
    messages.success(request, "The events are being deleted in the background; the project stays.")
    return redirect("events:project", pk=project.pk)


@role_required("viewer")
@require_GET
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    return render(request, "events/project_detail.html", _project_context(request, project))


def _after_key_action(request: HttpRequest, project: Project, message: str) -> HttpResponse:
    if request.htmx:
        response = render(request, "events/project_detail.html#settings", _project_context(request, project))
        return trigger_client_event(response, "toast", {"message": message, "level": "success"})
    messages.success(request, message)
    return redirect("events:project", pk=project.pk)


@role_required("admin")
@require_POST
def project_quota(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the project's ingest rate (admins); empty goes back to the installation's default."""
    project = get_project_for_user(request.user, pk)
    form = ProjectQuotaForm(request.POST)
    if not form.is_valid():
        context = _project_context(request, project, quota_form=form)
        if request.htmx:  # htmx swaps only 2xx answers
            return render(request, "events/project_detail.html#settings", context)
        return render(request, "events/project_detail.html", context, status=400)
    rate = form.cleaned_data["events_per_minute"]
    quota.set_events_per_minute(project, rate)
    message = f"Ingest rate set to {project.event_rate()} events per minute."
    return _after_key_action(request, project, message)


@role_required("admin")
@require_POST
def key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    services.rotate_key(project)
    return _after_key_action(request, project, "New key created. The old keys keep working until you revoke them.")


@role_required("admin")
@require_POST
def key_revoke(request: HttpRequest, pk: int, key_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    key = project.keys.filter(pk=key_pk).first()
    if key is None:
        raise Http404("No such key.")
    if key.is_active:
        services.revoke_key(key)
    return _after_key_action(request, project, f"Key {key.public_key[:8]}… revoked; events sent with it are refused.")


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


# --- alert rules (on the project page) ------------------------------------------------------


@role_required("responder")
@require_POST
def alert_rule_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    form = AlertRuleForm(request.POST, prefix="alert", instance=AlertRule(project=project))
    if not form.is_valid():
        response = render(request, "events/project_detail.html", _project_context(request, project, form), status=400)
        return response
    rule = form.save()
    message = f"Alert rule “{rule.name}” added."
    if request.htmx:
        return trigger_client_event(
            HttpResponseClientRedirect(reverse("events:project", args=[project.pk])), "toast", {"message": message}
        )
    messages.success(request, message)
    return redirect("events:project", pk=project.pk)


@role_required("responder")
@require_POST
def alert_rule_delete(request: HttpRequest, pk: int, rule_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    rule = project.alert_rules.filter(pk=rule_pk).first()
    if rule is None:
        raise Http404("No such alert rule.")
    rule.delete()
    messages.success(request, f"Alert rule “{rule.name}” deleted.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("events:project", args=[project.pk]))
    return redirect("events:project", pk=project.pk)
