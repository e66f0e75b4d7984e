"""The Overview (``/``): one card per job — open incidents, unresolved issues, monitors, status pages —
each a summary read from that app's public models and functions, linking to its own pages."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from events.models import Event, Issue, IssueStatus, Project
from incidents.models import Incident, Severity
from incidents.services import incident_stats
from monitors import locations
from monitors.models import Monitor, MonitorStatus
from statuspages import snapshot as status_snapshots
from tracepoint.accounts.roles import role_required

STATUS_PAGES_SHOWN = 8


@role_required("viewer")
@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    open_incidents = Incident.objects.open()
    # One query for the four counts.
    open_counts = dict(open_incidents.order_by().values_list("severity").annotate(count=Count("pk")))
    context = {
        "has_incidents": Incident.objects.alive().exists(),
        "open_by_severity": [(severity, open_counts.get(severity, 0)) for severity in Severity.values],
        "stats": incident_stats(since=now - timedelta(days=30), until=now),
        "recent_open": open_incidents.select_related("owner").order_by("severity", "-created_at")[:5],
    }
    context.update(_issue_overview(request.user, now=now))
    context.update(_monitor_overview())
    context.update(_status_page_overview())
    return render(request, "tracepoint/overview.html", context)


def _monitor_overview() -> dict:
    counts = dict(Monitor.objects.order_by().values_list("status").annotate(count=Count("pk")))
    return {
        "monitor_counts": [(status, label, counts.get(status, 0)) for status, label in MonitorStatus.choices],
        "has_monitors": bool(counts),
        "failing_monitors": Monitor.objects.filter(status__in=[MonitorStatus.DOWN, MonitorStatus.DEGRADED]).order_by(
            "-status_changed_at"
        )[:5],
        # Probe locations that stopped answering: their checks are not running there (not a target failing).
        "probe_problems": locations.problems(),
    }


def _issue_overview(user, *, now) -> dict:
    """Unresolved issues of the projects this user may see, the highest priority first."""
    projects = Project.objects.visible_to(user)
    unresolved = Issue.objects.filter(project__in=projects, status=IssueStatus.UNRESOLVED)
    counts = unresolved.aggregate(
        unresolved_count=Count("pk"),
        regressed_count=Count("pk", filter=Q(regression_count__gt=0)),
        new_today=Count("pk", filter=Q(first_seen__gte=now - timedelta(days=1))),
    )
    return {
        "has_events": Event.objects.filter(project__in=projects).exists(),
        **counts,
        "recent_issues": unresolved.order_by("-priority", "-last_seen", "-id")[:5],
    }


def _status_page_overview() -> dict:
    """Each page and what its visitors see now (the worst first), in a few queries."""
    order = status_snapshots.INDICATOR_ORDER
    summaries = sorted(status_snapshots.summaries(), key=lambda row: order.get(row["indicator"], len(order)))
    return {
        "status_pages": summaries[:STATUS_PAGES_SHOWN],
        "status_pages_more": max(0, len(summaries) - STATUS_PAGES_SHOWN),
    }
