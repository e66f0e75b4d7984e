"""Project-wide views: health, readiness, the Overview, and error pages."""

from __future__ import annotations

import logging
import sys
import uuid
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

from tracepoint.accounts.roles import role_required
from tracepoint.api.errors import error_response, is_api_request, server_error_response
from tracepoint.tasks import HEARTBEAT_CACHE_KEY

logger = logging.getLogger("tracepoint.ready")


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No database, cache or broker I/O."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = f"ready:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("value written was not read back")
    cache.delete(key)


def _check_broker() -> None:
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if url.startswith("filesystem://"):
        folder = Path(options["data_folder_in"])
        probe = folder / f".ready-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
        return
    timeout = settings.TRACEPOINT["READY_CHECK_TIMEOUT_SECONDS"]
    with Connection(url, transport_options=options, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


def _check_worker() -> None:
    """Beat queues a heartbeat task every HEARTBEAT_INTERVAL_SECONDS and a worker records it: a fresh
    stamp proves the whole scheduler → broker → worker path, a missing or old one that it is broken."""
    stamp = cache.get(HEARTBEAT_CACHE_KEY)
    if stamp is None:
        raise RuntimeError("no worker heartbeat recorded yet")
    age = (timezone.now() - datetime.fromisoformat(stamp)).total_seconds()
    limit = settings.TRACEPOINT["WORKER_HEARTBEAT_MAX_AGE_SECONDS"]
    if age > limit:
        raise RuntimeError(f"last worker heartbeat {age:.0f} s ago (limit {limit} s)")


READY_CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
    "worker": _check_worker,
}


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: database, cache, broker and a recent worker heartbeat; 503 names what failed.

    ``?checks=database,cache,broker`` runs only those: load balancer probes of web use it, so that a
    dead worker does not also take the web pages (and the public status pages) out of service.
    """
    wanted = list(READY_CHECKS)
    if "checks" in request.GET:
        wanted = [name.strip() for name in request.GET["checks"].split(",") if name.strip()]
        unknown = [name for name in wanted if name not in READY_CHECKS]
        if unknown or not wanted:
            return error_response(
                400,
                "Unknown readiness check." if unknown else "Name at least one readiness check.",
                details={"checks": unknown, "allowed": list(READY_CHECKS)},
            )
    checks: dict[str, str] = {}
    for name in wanted:
        try:
            READY_CHECKS[name]()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which and why
            checks[name] = f"error: {exc}" if name == "worker" else f"error: {type(exc).__name__}"
            logger.warning("readiness check %s failed: %s", name, exc)
    try:
        heartbeat = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:  # the cache check has already said so
        heartbeat = None
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return error_response(
            503,
            f"Not ready: {', '.join(failed)} unavailable.",
            details={"checks": checks, "failed": failed, "worker_heartbeat": heartbeat},
            headers={"Retry-After": "5"},
        )
    return JsonResponse({"status": "ready", "checks": checks, "worker_heartbeat": heartbeat})


@role_required("viewer")
@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    from datetime import timedelta

    from django.utils import timezone

    from incidents.models import Incident, Severity
    from incidents.services import incident_stats

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
    return render(request, "tracepoint/overview.html", context)


def _monitor_overview() -> dict:
    from monitors.models import Monitor, MonitorStatus

    counts = dict(Monitor.objects.order_by().values_list("status").annotate(count=Count("pk")))
    return {
        "monitor_counts": [(status, label, counts.get(status, 0)) for status, label in MonitorStatus.choices],
        "has_monitors": bool(counts),
        "failing_monitors": Monitor.objects.filter(status__in=[MonitorStatus.DOWN, MonitorStatus.DEGRADED]).order_by(
            "-status_changed_at"
        )[:5],
    }


def _issue_overview(user, *, now) -> dict:
    """Unresolved issues of the projects this user may see, the highest priority first."""
    from datetime import timedelta

    from events.models import Event, Issue, IssueStatus, Project

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


# --- error handlers: JSON under /api/, pages elsewhere ----------------------


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    from django.core.exceptions import RequestDataTooBig

    status = 413 if isinstance(exception, RequestDataTooBig) else 400
    if is_api_request(request):
        return error_response(status)
    return render(request, "error.html", {"status": status, "title": "Bad request"}, status=status)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return error_response(403)
    return render(request, "error.html", {"status": 403, "title": "Permission denied"}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return error_response(404, details={"path": request.path})
    return render(request, "error.html", {"status": 404, "title": "Page not found"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    from tracepoint.api.errors import is_database_unavailable

    if is_api_request(request):
        return server_error_response(exc)
    if exc is not None and is_database_unavailable(exc):
        from tracepoint.middleware import unavailable_page

        return unavailable_page()
    # No context processors: the database may be the reason we are here.
    from django.template import loader

    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_request(request):
        return error_response(
            403,
            "CSRF verification failed; send the X-CSRFToken header or use token authentication.",
            details={"reason": reason},
        )
    return render(
        request,
        "error.html",
        {
            "status": 403,
            "title": "Form expired",
            "message": "The form was open too long or cookies are blocked. Go back, reload and try again.",
        },
        status=403,
    )
