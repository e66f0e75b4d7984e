"""Monitor pages: the list, one monitor (charts, periods, incidents, edit, test now), a new one."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from monitors import rollups, scheduler, services, uptime
from monitors.forms import MonitorForm
from monitors.heartbeats import is_late
from monitors.models import Monitor, MonitorKind
from tracepoint.accounts.roles import RESPONDER, has_role, role_required
from tracepoint.links import absolute_url

CHART_WIDTH, CHART_HEIGHT = 720, 120


@role_required("viewer")
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    page = Paginator(Monitor.objects.order_by("name", "id"), 25).get_page(request.GET.get("page"))
    ids = [monitor.pk for monitor in page.object_list]
    uptimes = uptime.uptimes(ids, ("24h", "30d"), now=now)
    hourly = rollups.series_many(ids, since=now - timedelta(hours=24), until=now, resolution="hour")
    rows = [
        {
            "monitor": monitor,
            "uptime_24h": uptimes[monitor.pk]["24h"].percent,
            "uptime_30d": uptimes[monitor.pk]["30d"].percent,
            "latency": [point["avg_ms"] or 0 for point in hourly[monitor.pk]],
        }
        for monitor in page.object_list
    ]
    return render(
        request,
        "monitors/index.html",
        {"page": page, "rows": rows, "can_write": has_role(request.user, RESPONDER)},
    )


def _daily_bars(monitor: Monitor, now, days: int = 90) -> list[dict]:
    """One bar per UTC day (status pages draw the same bars in their own zone)."""
    row = uptime.daily_bars({monitor.pk: [monitor.pk]}, days=days, zone=UTC, now=now)[monitor.pk]
    return [{"day": bar.day, "state": bar.state, "uptime": bar.uptime, "x": index * 8} for index, bar in enumerate(row)]


def _latency_chart(points: list[dict]) -> dict:
    values = [point["avg_ms"] for point in points if point["avg_ms"] is not None]
    top = max(values, default=0) or 1
    step = CHART_WIDTH / max(1, len(points) - 1)
    coordinates = [
        f"{index * step:.1f},{CHART_HEIGHT - 4 - (point['avg_ms'] / top) * (CHART_HEIGHT - 12):.1f}"
        for index, point in enumerate(points)
        if point["avg_ms"] is not None
    ]
    failures = [{"x": round(index * step, 1)} for index, point in enumerate(points) if point["failures"]]
    return {"points": " ".join(coordinates), "top": top, "failures": failures}


def _detail_context(request: HttpRequest, monitor: Monitor, form: MonitorForm | None = None) -> dict:
    now = timezone.now()
    points = rollups.series(monitor, since=now - timedelta(hours=6), until=now, resolution="minute")
    ping_url = absolute_url("ping", monitor.ping_key) if monitor.kind == MonitorKind.HEARTBEAT else ""
    return {
        "monitor": monitor,
        "uptimes": [
            (window, found.percent)
            for window, found in uptime.uptimes([monitor.pk], tuple(uptime.WINDOWS), now=now)[monitor.pk].items()
        ],
        "bars": _daily_bars(monitor, now),
        "chart": _latency_chart(points),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "periods": monitor.periods.order_by("-started_at")[:50],
        "incidents": [
            link.incident for link in monitor.incident_links.select_related("incident").order_by("-created_at")[:20]
        ],
        "pings": monitor.pings.all()[:20] if ping_url else [],
        "ping_url": ping_url,
        "is_late": is_late(monitor, now) if ping_url else False,
        "form": form or MonitorForm(instance=monitor),
        "can_write": has_role(request.user, RESPONDER),
    }


@role_required("viewer")
@require_safe
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk)
    return render(request, "monitors/monitor_detail.html", _detail_context(request, monitor))


@role_required("responder")
@require_POST
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk)
    form = MonitorForm(request.POST, instance=monitor)
    if not form.is_valid():
        return render(request, "monitors/monitor_detail.html", _detail_context(request, monitor, form), status=400)
    form.save()
    scheduler.reschedule(monitor.pk)
    messages.success(request, "Monitor saved.")
    return redirect("monitors:detail", pk=monitor.pk)


@role_required("responder")
def create(request: HttpRequest) -> HttpResponse:
    form = MonitorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {name: value for name, value in form.cleaned_data.items() if value is not None}
        monitor = services.create_monitor(**data)
        messages.success(request, f"Monitor “{monitor.name}” created.")
        return redirect("monitors:detail", pk=monitor.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "monitors/monitor_form.html", {"form": form}, status=status)


@role_required("responder")
@require_POST
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk)
    services.pause(monitor.pk)
    messages.success(request, "Paused.")
    return redirect("monitors:detail", pk=monitor.pk)


@role_required("responder")
@require_POST
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk)
    services.resume(monitor.pk)
    messages.success(request, "Resumed.")
    return redirect("monitors:detail", pk=monitor.pk)


@role_required("responder")
@require_POST
def check_now(request: HttpRequest, pk: int) -> HttpResponse:
    """The "Test now" button: one check at once, its result as a message."""
    monitor = get_object_or_404(Monitor, pk=pk)
    if monitor.kind == MonitorKind.HEARTBEAT:
        messages.error(request, "A heartbeat monitor has nothing to test: it waits for pings.")
        return redirect("monitors:detail", pk=monitor.pk)
    result = scheduler.check_now(monitor.pk)
    text = f"Test: {result.status}" + (f" in {result.latency_ms} ms" if result.latency_ms is not None else "")
    (messages.success if result.status == "up" else messages.error)(
        request, text + (f" — {result.error}" if result.error else "")
    )
    return redirect("monitors:detail", pk=monitor.pk)
