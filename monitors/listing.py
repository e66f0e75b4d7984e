"""The monitor list at scale: filters, sort orders and one page of rows. Uptime comes from the columns beat
keeps (``uptime.refresh_cached``), so a page costs the same few queries with 10 monitors or 10,000."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, F, IntegerField, QuerySet, Value, When

from monitors import rollups, uptime
from monitors.models import Monitor, MonitorKind, MonitorStatus

PAGE_SIZE = 25
# Worst first: what needs a look comes to the top.
STATUS_RANK = {
    MonitorStatus.DOWN: 0,
    MonitorStatus.DEGRADED: 1,
    MonitorStatus.PENDING: 2,
    MonitorStatus.MAINTENANCE: 3,
    MonitorStatus.PAUSED: 4,
    MonitorStatus.UP: 5,
}
SORTS = {
    "name": "Name",
    "status": "Status, worst first",
    "uptime": "Uptime 24 h, lowest first",
    "latency": "Last latency, slowest first",
}


class ListFilters(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    status = forms.MultipleChoiceField(required=False, choices=MonitorStatus.choices, label="Status")
    kind = forms.ChoiceField(required=False, choices=[("", "All kinds"), *MonitorKind.choices], label="Kind")
    sort = forms.ChoiceField(required=False, choices=list(SORTS.items()), label="Sort by")


def filtered(filters: ListFilters) -> QuerySet[Monitor]:
    """The monitors the filters ask for, in the chosen order (invalid filters are ignored, and reported)."""
    data = filters.cleaned_data if filters.is_valid() else {}
    monitors = Monitor.objects.select_related("down_because_of")
    if data.get("q"):
        monitors = monitors.filter(name__icontains=data["q"])
    if data.get("status"):
        monitors = monitors.filter(status__in=data["status"])
    if data.get("kind"):
        monitors = monitors.filter(kind=data["kind"])
    sort = data.get("sort") or "name"
    if sort == "status":
        rank = Case(
            *(When(status=status, then=Value(rank)) for status, rank in STATUS_RANK.items()),
            default=Value(9),
            output_field=IntegerField(),
        )
        return monitors.order_by(rank, "name", "pk")
    if sort == "uptime":
        return monitors.order_by(F("uptime_24h").asc(nulls_last=True), "name", "pk")
    if sort == "latency":
        return monitors.order_by(F("last_latency_ms").desc(nulls_last=True), "name", "pk")
    return monitors.order_by("name", "pk")


def status_counts() -> list[tuple[str, str, int]]:
    """(status, label, count) of every status with monitors, worst first: one GROUP BY."""
    counts = dict(Monitor.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return [
        (status, MonitorStatus(status).label, counts[status])
        for status in sorted(counts, key=lambda status: STATUS_RANK.get(status, 9))
    ]


@dataclass(frozen=True)
class Row:
    monitor: Monitor
    uptime_24h: float | None
    uptime_30d: float | None
    latency: list[int]


def page_rows(monitors: QuerySet[Monitor], number, *, now: datetime) -> tuple[Page, list[Row]]:
    page = Paginator(monitors, PAGE_SIZE).get_page(number)
    shown = list(page.object_list)
    ids = [monitor.pk for monitor in shown]
    # A monitor added since beat last refreshed the columns: its uptime is computed here (rarely more than a few).
    fresh = [monitor.pk for monitor in shown if monitor.uptime_refreshed_at is None]
    live = uptime.uptimes(fresh, uptime.CACHED_WINDOWS, now=now) if fresh else {}
    hourly = rollups.series_many(ids, since=now - timedelta(hours=24), until=now, resolution="hour")
    rows = []
    for monitor in shown:
        if monitor.pk in live:
            day, month = live[monitor.pk]["24h"].percent, live[monitor.pk]["30d"].percent
        else:
            day, month = monitor.uptime_24h, monitor.uptime_30d
        rows.append(Row(monitor, day, month, [point["avg_ms"] or 0 for point in hourly[monitor.pk]]))
    return page, rows
