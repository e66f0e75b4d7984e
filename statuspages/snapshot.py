"""What a status page shows, read in a handful of queries: the HTML page, the Statuspage JSON, the
feeds and the badges are all drawn from these objects (statuspages.public caches the results)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q
from django.utils import timezone

from monitors import uptime as monitor_uptime
from statuspages import services
from statuspages.models import (
    Component,
    ComponentGroup,
    ComponentStatus,
    Maintenance,
    MaintenanceStatus,
    PageIncident,
    PublicStatus,
    PublicUpdate,
    StatusPage,
)

BAR_DAYS = 90
RECENT_DAYS = 14
MAX_LISTED = 50  # incidents.json and scheduled-maintenances.json: the 50 most recent


@dataclass
class Group:
    group: ComponentGroup
    children: list[Component] = field(default_factory=list)
    is_group = True

    @property
    def status(self) -> str:
        return max((c.status for c in self.children), key=services.RANK.get, default=ComponentStatus.OPERATIONAL)


def published_incidents(page: StatusPage):
    updates = PublicUpdate.objects.order_by("-display_at", "-id")
    return (
        PageIncident.objects.filter(page=page, published_at__isnull=False, incident__deleted_at__isnull=True)
        .select_related("incident")
        .prefetch_related(Prefetch("updates", queryset=updates), "components")
        .order_by("-incident__created_at", "-id")
    )


def maintenances(page: StatusPage):
    updates = PublicUpdate.objects.order_by("-display_at", "-id")
    return Maintenance.objects.filter(page=page).prefetch_related(Prefetch("updates", queryset=updates), "components")


def incident_status(link: PageIncident) -> str:
    updates = list(link.updates.all())
    if updates and updates[0].status == PublicStatus.POSTMORTEM:
        return PublicStatus.POSTMORTEM
    return services.public_status(link.incident)


def is_unresolved(link: PageIncident) -> bool:
    return incident_status(link) in services.UNRESOLVED


@dataclass
class Snapshot:
    page: StatusPage
    components: list[Component]
    layout: list[Component | Group]  # top level, by position: components and groups with their children
    active_incidents: list[PageIncident]
    recent_incidents: list[PageIncident]
    active_maintenances: list[Maintenance]
    upcoming_maintenances: list[Maintenance]
    indicator: str
    description: str
    now: datetime

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.page.time_zone)


def take(page: StatusPage, *, now: datetime | None = None) -> Snapshot:
    now = now or timezone.now()
    components = list(Component.objects.filter(page=page).order_by("position", "id"))
    groups = {g.pk: Group(g) for g in ComponentGroup.objects.filter(page=page).order_by("position", "id")}
    top: list[tuple[int, int, Component | Group]] = []
    for component in components:
        if component.group_id in groups:
            groups[component.group_id].children.append(component)
        else:
            top.append((component.position, 0, component))
    top.extend((g.group.position, 1, g) for g in groups.values())
    layout = [item for _, _, item in sorted(top, key=lambda t: (t[0], t[1], getattr(t[2], "pk", 0)))]
    since = now - timedelta(days=RECENT_DAYS)
    incidents = list(
        published_incidents(page).filter(Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gte=since))
    )
    active = [link for link in incidents if is_unresolved(link)]
    recent = [link for link in incidents if not is_unresolved(link)]
    windows = list(
        maintenances(page)
        .filter(status__in=[MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING])
        .order_by("scheduled_for", "id")
    )
    indicator, description = services.rollup(components, active)
    return Snapshot(
        page=page,
        components=components,
        layout=layout,
        active_incidents=active,
        recent_incidents=recent,
        active_maintenances=[m for m in windows if m.is_active],
        upcoming_maintenances=[m for m in windows if m.status == MaintenanceStatus.SCHEDULED],
        indicator=indicator,
        description=description,
        now=now,
    )


def rollups(pages: list[StatusPage]) -> dict[int, tuple[str, str]]:
    """``take(page)``'s (indicator, description) for several pages in two queries (the dashboard list)."""
    ids = [page.pk for page in pages]
    components: dict[int, list[Component]] = {pk: [] for pk in ids}
    for component in Component.objects.filter(page_id__in=ids):
        components[component.page_id].append(component)
    incidents: dict[int, list[PageIncident]] = {pk: [] for pk in ids}
    updates = PublicUpdate.objects.order_by("-display_at", "-id")
    for link in (
        PageIncident.objects.filter(page_id__in=ids, published_at__isnull=False, incident__deleted_at__isnull=True)
        .filter(incident__resolved_at__isnull=True)
        .select_related("incident")
        .prefetch_related(Prefetch("updates", queryset=updates))
    ):
        if is_unresolved(link):
            incidents[link.page_id].append(link)
    return {pk: services.rollup(components[pk], incidents[pk]) for pk in ids}


INDICATOR_ORDER = {"critical": 0, "major": 1, "minor": 2, "maintenance": 3, "none": 4}


def summaries() -> list[dict]:
    """Every page, by title, with what its visitors see now: ``{"page", "indicator", "description"}``
    (the dashboard list and the Overview)."""
    pages = list(StatusPage.objects.order_by("title"))
    rolled = rollups(pages)
    return [{"page": page, "indicator": rolled[page.pk][0], "description": rolled[page.pk][1]} for page in pages]


# --- 90 days of bars ---------------------------------------------------------------------------


@dataclass
class Bar:
    day: datetime  # local midnight
    state: str  # up, degraded, down, maintenance, nodata
    uptime: float | None
    incidents: list[str]
    x: int
    up_seconds: float = 0.0
    down_seconds: float = 0.0


def bars(snapshot: Snapshot, *, days: int = BAR_DAYS, showcase_only: bool = True) -> dict[int, list[Bar]]:
    """Per component: one bar per day (page time zone), coloured by the day's worst monitor state,
    with that day's uptime (monitors.uptime.daily_bars, as on the monitor page) and the names of the
    incidents that touched it. Three queries in all."""
    now = snapshot.now
    shown = [c for c in snapshot.components if c.showcase or not showcase_only]
    monitor_ids: dict[int, list[int]] = {c.pk: [] for c in shown}
    for component_id, monitor_id in Component.monitors.through.objects.filter(component_id__in=monitor_ids).values_list(
        "component_id", "monitor_id"
    ):
        monitor_ids[component_id].append(monitor_id)
    daily = monitor_uptime.daily_bars(monitor_ids, days=days, zone=snapshot.zone, now=now)
    first = daily[shown[0].pk][0].day if shown else now
    touching: dict[int, list[tuple[datetime, datetime, str]]] = {c.pk: [] for c in shown}
    for link in (
        PageIncident.objects.filter(page=snapshot.page, published_at__isnull=False, incident__deleted_at__isnull=True)
        .filter(Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gte=first))
        .select_related("incident")
        .prefetch_related("components")
    ):
        for component in link.components.all():
            if component.pk in touching:
                end = link.incident.resolved_at or now
                touching[component.pk].append((link.incident.created_at, end, link.public_name))
    result: dict[int, list[Bar]] = {}
    for component in shown:
        row = daily[component.pk]
        result[component.pk] = [
            Bar(
                day=day.day,
                state=day.state,
                uptime=day.uptime,
                incidents=[
                    name
                    for began, ended, name in touching[component.pk]
                    if began < (row[index + 1].day if index + 1 < len(row) else now) and ended > day.day
                ],
                x=index * 5,
                up_seconds=day.up_seconds,
                down_seconds=day.down_seconds,
            )
            for index, day in enumerate(row)
        ]
    return result


def window_uptime(row: list[Bar]) -> float | None:
    """Uptime over the whole row, from the seconds up and down (not an average of the days' percentages)."""
    up, down = sum(bar.up_seconds for bar in row), sum(bar.down_seconds for bar in row)
    return None if up + down == 0 else round(100 * up / (up + down), 2)


def timeline(page: StatusPage, *, days: int, now: datetime | None = None) -> dict:
    """The seed's timeline route: per component, one entry per day (page time zone), oldest first."""
    snap = take(page, now=now)
    rows = bars(snap, days=days, showcase_only=False)
    return {
        "page": page.slug,
        "time_zone": page.time_zone,
        "days": days,
        "components": [
            {
                "id": component.public_id,
                "name": component.name,
                "status": component.status,
                "days": [
                    {
                        "date": bar.day.astimezone(ZoneInfo(page.time_zone)).date().isoformat(),
                        "state": bar.state,
                        "uptime": bar.uptime,
                        "incidents": bar.incidents,
                    }
                    for bar in rows.get(component.pk, [])
                ],
            }
            for component in snap.components
        ],
    }
