"""Monitor pages: the list, one monitor (charts, periods, incidents, its settings in words, test now), the
form (kind first, then that kind's fieldsets; a cron preview and "Test now" with unsaved values)."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import push_url

from monitors import kinds, listing, locations, rollups, scheduler, services, uptime
from monitors.forms import KindForm, MonitorForm, cron_preview
from monitors.heartbeats import is_late
from monitors.models import Monitor, MonitorKind
from monitors.summary import summarize
from tracepoint.accounts.roles import RESPONDER, has_role, role_required
from tracepoint.links import absolute_url

CHART_WIDTH, CHART_HEIGHT = 720, 120


@role_required("viewer")
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    filters = listing.ListFilters(request.GET or None)
    page, rows = listing.page_rows(listing.filtered(filters), request.GET.get("page"), now=timezone.now())
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": rows,
        "filters": filters,
        "sorts": listing.SORTS,
        "status_counts": listing.status_counts(),
        "base_query": query.urlencode(),
        "can_write": has_role(request.user, RESPONDER),
    }
    template = "monitors/index.html#table" if request.htmx else "monitors/index.html"
    return render(request, template, context)


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


def _detail_context(request: HttpRequest, monitor: Monitor) -> dict:
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
        "summary": summarize(monitor),
        "parents": monitor.depends_on.order_by("name", "pk"),
        "children": monitor.dependents.order_by("name", "pk"),
        "location_results": locations.results_for(monitor, now=now),
        "can_write": has_role(request.user, RESPONDER),
    }


@role_required("viewer")
@require_safe
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor.objects.select_related("down_because_of"), pk=pk)
    return render(request, "monitors/monitor_detail.html", _detail_context(request, monitor))


def _form_context(form: MonitorForm | None, *, monitor: Monitor | None = None, result=None) -> dict:
    spec = form.spec if form is not None else None
    if monitor is not None:
        ping_url = absolute_url("ping", monitor.ping_key)
        test_url = f"{reverse('monitors:test-draft')}?monitor={monitor.pk}"
    else:
        ping_url = absolute_url("/ping/") + "<ping key>"
        test_url = reverse("monitors:test-draft")
    context = {"form": form, "spec": spec, "monitor": monitor, "test_url": test_url, "result": result}
    context["ping_url"] = ping_url if spec is not None and not spec.probed else ""
    if form is not None and "cron" in form.fields:
        cron, tz = form["cron"].value(), form["tz"].value()
        context["preview"] = cron_preview(cron, tz, now=timezone.now())
    return context


@role_required("responder")
@require_http_methods(["GET", "HEAD", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    """Step one picks the kind (``?kind=http``; htmx swaps the form in place), step two its settings."""
    source = request.POST if request.method == "POST" else request.GET
    picker = KindForm(source if "kind" in source else None)
    spec = kinds.spec_for(source.get("kind")) if picker.is_bound and picker.is_valid() else None
    if spec is None:
        context = {"picker": picker, **_form_context(None)}
        return render(request, "monitors/monitor_form.html", context, status=400 if picker.is_bound else 200)
    if request.method == "POST":
        form = MonitorForm(request.POST, kind=spec.kind)
        if form.is_valid():
            monitor = services.create_monitor(**form.creation_fields())
            messages.success(request, f"Monitor “{monitor.name}” created.")
            return redirect("monitors:detail", pk=monitor.pk)
        context = {"picker": picker, **_form_context(form)}
        return render(request, "monitors/monitor_form.html", context, status=400)
    form = MonitorForm(kind=spec.kind, initial={"name": request.GET.get("name", "")})
    context = {"picker": picker, **_form_context(form)}
    if request.htmx:  # the kind changed: only the form, and the address says which kind
        response = render(request, "monitors/monitor_form.html#monitor_form", context)
        return push_url(response, f"{reverse('monitors:create')}?kind={spec.kind}")
    return render(request, "monitors/monitor_form.html", context)


@role_required("responder")
@require_http_methods(["GET", "HEAD", "POST"])
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk)
    form = MonitorForm(request.POST or None, instance=monitor, kind=monitor.kind)
    if request.method == "POST":
        if form.is_valid():
            settings_shown = {name: value for name, value in form.cleaned_data.items() if name in form.fields}
            services.update_monitor(monitor.pk, settings_shown)
            scheduler.reschedule(monitor.pk)
            messages.success(request, "Monitor saved.")
            return redirect("monitors:detail", pk=monitor.pk)
        monitor.refresh_from_db()  # the page names the saved monitor, not the refused values
        return render(request, "monitors/monitor_form.html", _form_context(form, monitor=monitor), status=400)
    return render(request, "monitors/monitor_form.html", _form_context(form, monitor=monitor))


@role_required("responder")
@require_POST
def test_draft(request: HttpRequest) -> HttpResponse:
    """ "Test now" on the form: one check with the form's unsaved values, its result shown inline.

    Not in a transaction (the check is network I/O, bounded by the monitor's timeout); the write budget
    of PageWriteRateLimitMiddleware counts each test like any other form post."""
    monitor = (
        get_object_or_404(Monitor, pk=request.GET["monitor"]) if request.GET.get("monitor", "").isdigit() else None
    )
    spec = kinds.spec_for(monitor.kind if monitor else request.POST.get("kind"))
    if spec is None:
        # htmx swaps only 2xx answers: the problem is shown in place, as a 200, to htmx (400 to a form post).
        status = 200 if request.htmx else 400
        return render(
            request, "monitors/monitor_form.html#test_result", {"problem": "Pick a kind first."}, status=status
        )
    form = MonitorForm(request.POST, instance=monitor, kind=spec.kind, for_test=True)
    result = services.run_draft_check(form.instance) if spec.probed and form.is_valid() else None
    if monitor is not None:
        monitor = Monitor.objects.get(pk=monitor.pk)  # the form changed the instance in memory only
    context = _form_context(form, monitor=monitor, result=result)
    if not spec.probed:
        context["problem"] = "A heartbeat is pushed by your job: there is nothing to run. Save it to get its ping URL."
    elif result is None:
        context["problem"] = "Fix these first: " + " ".join(
            f"{form.fields[name].label if name in form.fields else 'Form'}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        )
    if request.htmx:  # 200 either way: htmx does not swap a 4xx answer in, and the problem must show
        return render(request, "monitors/monitor_form.html#test_result", context)
    status = 200 if result is not None else 400
    if monitor is None:
        context["picker"] = KindForm(initial={"kind": spec.kind})
    return render(request, "monitors/monitor_form.html", context, status=status)


@role_required("responder")
@require_safe
def cron_preview_fragment(request: HttpRequest) -> HttpResponse:
    """The next runs of the cron expression being typed (htmx, on the heartbeat form)."""
    preview = cron_preview(request.GET.get("cron", ""), request.GET.get("tz", "UTC"), now=timezone.now())
    return render(request, "monitors/monitor_form.html#cron_preview", {"preview": preview})


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
    result, recorded = scheduler.check_now(monitor.pk)
    text = f"Test: {result.status}" + (f" in {result.latency_ms} ms" if result.latency_ms is not None else "")
    text += f" — {result.error}" if result.error else ""
    if not recorded:
        text += " (checked from this server and not recorded: the status comes from the monitor's locations)"
    (messages.success if result.status == "up" else messages.error)(request, text)
    return redirect("monitors:detail", pk=monitor.pk)
