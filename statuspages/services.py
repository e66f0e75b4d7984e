"""The status pages domain layer: component status, page rollup, publishing incidents, public updates,
maintenance windows. Every change that shows on a page bumps its ``version`` (``touch``), which is
the cache key and ETag of the public outputs (statuspages.public_cache)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Incident, Status
from monitors import services as monitor_services
from monitors.models import Monitor, MonitorStatus
from statuspages import public_cache, subscribers
from statuspages.models import (
    Component,
    ComponentStatus,
    Impact,
    Maintenance,
    MaintenanceStatus,
    PageIncident,
    PublicStatus,
    PublicUpdate,
    StatusPage,
)
from tracepoint.errors import DomainError

logger = logging.getLogger("tracepoint.statuspages")

# Worse is higher; the page banner and a group show their worst.
RANK = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.MAINTENANCE: 1,
    ComponentStatus.DEGRADED: 2,
    ComponentStatus.PARTIAL: 3,
    ComponentStatus.MAJOR: 4,
}
IMPACT_RANK = {Impact.NONE: 0, Impact.MAINTENANCE: 1, Impact.MINOR: 2, Impact.MAJOR: 3, Impact.CRITICAL: 4}
# DESIGN.md: the public status follows the operator status.
PUBLIC_STATUS = {
    Status.OPEN: PublicStatus.INVESTIGATING,
    Status.ACKNOWLEDGED: PublicStatus.IDENTIFIED,
    Status.MITIGATED: PublicStatus.MONITORING,
    Status.RESOLVED: PublicStatus.RESOLVED,
}
OPERATOR_STATUS = {public: operator for operator, public in PUBLIC_STATUS.items()}
UNRESOLVED = (PublicStatus.INVESTIGATING, PublicStatus.IDENTIFIED, PublicStatus.MONITORING)
# The rollup's words, as Statuspage writes them.
INDICATOR_TEXT = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}


class StatusPageError(DomainError):
    pass


def public_status(incident: Incident) -> str:
    return PUBLIC_STATUS.get(incident.status, PublicStatus.INVESTIGATING)


# --- versions -----------------------------------------------------------------------------


def touch(page_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Something on these pages changed: new version (new ETag, cache entries unused)."""
    ids = sorted(set(page_ids))
    if not ids:
        return
    StatusPage.objects.filter(pk__in=ids).update(version=F("version") + 1, updated_at=now or timezone.now())
    transaction.on_commit(lambda: public_cache.forget_pages(ids), robust=True)


# --- component status -------------------------------------------------------------------


def status_from_monitors(statuses: Iterable[str]) -> str:
    """All counted monitors down: major outage; some: partial; any degraded: degraded; all in maintenance:
    under maintenance. Pending and paused monitors do not count."""
    counted = [s for s in statuses if s not in (MonitorStatus.PENDING, MonitorStatus.PAUSED)]
    if not counted:
        return ComponentStatus.OPERATIONAL
    down = sum(s == MonitorStatus.DOWN for s in counted)
    if down and down == len(counted):
        return ComponentStatus.MAJOR
    if down:
        return ComponentStatus.PARTIAL
    if MonitorStatus.DEGRADED in counted:
        return ComponentStatus.DEGRADED
    if all(s == MonitorStatus.MAINTENANCE for s in counted):
        return ComponentStatus.MAINTENANCE
    return ComponentStatus.OPERATIONAL


def effective_status(component: Component, monitor_statuses: list[str], in_maintenance: bool) -> str:
    if component.status_override:
        return component.status_override
    from_monitors = status_from_monitors(monitor_statuses)
    if in_maintenance and RANK[from_monitors] <= RANK[ComponentStatus.MAINTENANCE]:
        return ComponentStatus.MAINTENANCE
    return from_monitors


def refresh_components(component_ids: Iterable[int], *, now: datetime | None = None) -> list[tuple[Component, str]]:
    """Recompute the shown status of these components; returns [(component, old status)] that changed."""
    now = now or timezone.now()
    ids = sorted(set(component_ids))
    if not ids:
        return []
    changed = []
    with transaction.atomic():
        components = list(Component.objects.select_for_update().filter(pk__in=ids).prefetch_related("monitors"))
        maintained = set(
            Maintenance.objects.filter(
                components__in=ids, status__in=[MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING]
            ).values_list("components", flat=True)
        )
        for component in components:
            new = effective_status(component, [m.status for m in component.monitors.all()], component.pk in maintained)
            if new != component.status:
                changed.append((component, component.status))
                component.status, component.updated_at = new, now
                component.save(update_fields=["status", "updated_at"])
        touch({component.page_id for component, _ in changed}, now=now)
    return changed


def set_override(component: Component, status: str, *, now: datetime | None = None) -> Component:
    """A manual status ('' hands the component back to its monitors)."""
    if status and status not in ComponentStatus.values:
        raise StatusPageError(f"Unknown component status {status!r}.", details={"status": list(ComponentStatus.values)})
    Component.objects.filter(pk=component.pk).update(status_override=status)
    refresh_components([component.pk], now=now)
    touch([component.page_id], now=now)
    component.refresh_from_db()
    return component


def monitor_status_changed(monitor_id: int) -> None:
    """On monitors.signals.monitor_status_changed: the components the monitor drives follow it."""
    ids = list(Component.objects.filter(monitors=monitor_id).values_list("pk", flat=True))
    if ids:
        refresh_components(ids)


def monitor_deleting(monitor_id: int) -> None:
    """On monitors.signals.monitor_deleting: after the commit, its components follow the monitors they have left."""
    ids = list(Component.objects.filter(monitors=monitor_id).values_list("pk", flat=True))
    if ids:
        transaction.on_commit(lambda: refresh_components(ids), robust=True)


def monitor_opened_incident(monitor_id: int, incident_id) -> None:
    """On monitors.signals.monitor_opened_incident: link the incident (unpublished) to its components' pages."""
    components = list(Component.objects.filter(monitors=monitor_id))
    for page_id in {component.page_id for component in components}:
        link, _ = PageIncident.objects.get_or_create(page_id=page_id, incident_id=incident_id)
        link.components.add(*[c for c in components if c.page_id == page_id])


def incident_changed(incident_id) -> None:
    """On incidents.signals.incident_changed: the pages showing the incident get a new version."""
    touch(
        PageIncident.objects.filter(incident_id=incident_id, published_at__isnull=False).values_list(
            "page_id", flat=True
        )
    )


# --- the page rollup ------------------------------------------------------------------------


def rollup(components: Iterable[Component], incidents: Iterable[PageIncident]) -> tuple[str, str]:
    """(indicator, description) from the worst component and the impacts of unresolved incidents."""
    statuses = [c.status for c in components]
    worst = max(statuses, key=RANK.get, default=ComponentStatus.OPERATIONAL)
    indicator = {
        ComponentStatus.OPERATIONAL: "none",
        ComponentStatus.MAINTENANCE: "maintenance",
        ComponentStatus.DEGRADED: "minor",
        ComponentStatus.PARTIAL: "major",
        ComponentStatus.MAJOR: "critical",
    }[worst]
    for incident in incidents:
        impact = incident.impact
        if impact in (Impact.MINOR, Impact.MAJOR, Impact.CRITICAL) and (
            indicator in ("none", "maintenance") or IMPACT_RANK[impact] > IMPACT_RANK[indicator]
        ):
            indicator = impact
    return indicator, INDICATOR_TEXT[indicator]


# --- publishing incidents and updates --------------------------------------------------------


def publish_incident(
    page: StatusPage,
    incident: Incident,
    *,
    components: Iterable[Component] = (),
    body: str = "",
    name: str = "",
    impact: str = "",
    by=None,
    now: datetime | None = None,
) -> PageIncident:
    """Show an operator incident on a page (again idempotent), with a first public update when ``body``."""
    now = now or timezone.now()
    if impact and impact not in Impact.values:
        raise StatusPageError(f"Unknown impact {impact!r}.", details={"impact": list(Impact.values)})
    components = list(components)
    if any(component.page_id != page.pk for component in components):
        raise StatusPageError("Components must belong to the page.", details={"components": ["Not on this page."]})
    with transaction.atomic():
        link, _ = PageIncident.objects.select_for_update().get_or_create(page=page, incident=incident)
        if name:
            link.name = name
        if impact:
            link.impact_override = impact
        link.published_at = link.published_at or now
        link.updated_at = now
        link.save()
        if components:
            link.components.set(components)
        if body:
            _add_update(link, status=public_status(incident), body=body, by=by, now=now)
            subscribers.queue(page.pk, incident_id=link.pk, event="published")
        touch([page.pk], now=now)
    return link


def post_update(
    link: PageIncident,
    *,
    body: str,
    status: str = "",
    by=None,
    display_at: datetime | None = None,
    now: datetime | None = None,
) -> PublicUpdate:
    """A public update; a ``status`` moves the operator incident forward to match (identified →
    ACKNOWLEDGED, monitoring → MITIGATED, resolved → RESOLVED)."""
    now = now or timezone.now()
    if not body.strip():
        raise StatusPageError("An update needs a message.", details={"body": ["This field may not be blank."]})
    if status and status not in OPERATOR_STATUS and status != PublicStatus.POSTMORTEM:
        raise StatusPageError(f"Unknown status {status!r}.", details={"status": [*OPERATOR_STATUS, "postmortem"]})
    if status == PublicStatus.POSTMORTEM and link.incident.status != Status.RESOLVED:
        raise StatusPageError("A postmortem follows a resolved incident.", details={"status": ["Resolve it first."]})
    with transaction.atomic():
        if status in OPERATOR_STATUS and OPERATOR_STATUS[status] != link.incident.status:
            incident_services.transition_incident(link.incident_id, to=OPERATOR_STATUS[status], by=by, now=now)
            link.incident.refresh_from_db()
        shown = status if status == PublicStatus.POSTMORTEM else public_status(link.incident)
        update = _add_update(link, status=shown, body=body, by=by, now=now, display_at=display_at)
        subscribers.queue(link.page_id, incident_id=link.pk, event=shown)
        link.published_at = link.published_at or now
        link.updated_at = now
        link.save(update_fields=["published_at", "updated_at"])
        touch([link.page_id], now=now)
    return update


def _add_update(link: PageIncident, *, status: str, body: str, by, now: datetime, display_at=None) -> PublicUpdate:
    user = by if getattr(by, "is_authenticated", False) else None
    return PublicUpdate.objects.create(
        page_incident=link,
        status=status,
        body=body,
        author=user,
        display_at=display_at or now,
        created_at=now,
        updated_at=now,
        affected_components=[
            {"code": c.public_id, "name": c.name, "old_status": c.status, "new_status": c.status}
            for c in link.components.all()
        ],
    )


# --- maintenance ----------------------------------------------------------------------------


ACTIVE = (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)


def sync_maintenance(*, now: datetime | None = None) -> None:
    """Monitors of the components of active windows are in maintenance, and no others; components show
    it. Derived from the windows each time, so an edited window, a removed component or a deleted
    page can never leave a monitor silenced."""
    now = now or timezone.now()
    wanted = set(
        Component.objects.filter(maintenances__status__in=ACTIVE)
        .exclude(monitors=None)
        .values_list("monitors", flat=True)
    )
    silenced = set(Monitor.objects.filter(status=MonitorStatus.MAINTENANCE).values_list("pk", flat=True))
    monitor_services.begin_maintenance(wanted - silenced, now=now, reason="maintenance window")
    monitor_services.end_maintenance(silenced - wanted, now=now)
    stale = Component.objects.filter(maintenances__status__in=ACTIVE) | Component.objects.filter(
        status=ComponentStatus.MAINTENANCE
    )
    refresh_components(stale.values_list("pk", flat=True), now=now)


def advance_maintenances(*, now: datetime | None = None) -> int:
    """Beat: scheduled → in progress at the start, in progress/verifying → completed at the end; the
    components go under maintenance (and their monitors stop alerting) in between. Returns moves made."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Maintenance.objects.select_for_update(skip_locked=True).filter(
                Q(status=MaintenanceStatus.SCHEDULED, scheduled_for__lte=now)
                | Q(status__in=ACTIVE, scheduled_until__lte=now)
            )
        )
        for maintenance in due:
            if maintenance.scheduled_until <= now:
                maintenance.status, maintenance.completed_at = MaintenanceStatus.COMPLETED, now
            else:
                maintenance.status = MaintenanceStatus.IN_PROGRESS
            maintenance.started_at = maintenance.started_at or now
            maintenance.updated_at = now
            maintenance.save(update_fields=["status", "started_at", "completed_at", "updated_at"])
            subscribers.queue(maintenance.page_id, maintenance_id=maintenance.pk, event=maintenance.status)
        sync_maintenance(now=now)
        touch({m.page_id for m in due}, now=now)
    return len(due)


def finish_maintenance(maintenance: Maintenance, *, by=None, now: datetime | None = None) -> Maintenance:
    """Complete a window early (or mark a scheduled one completed: cancelled)."""
    now = now or timezone.now()
    with transaction.atomic():
        maintenance = Maintenance.objects.select_for_update().get(pk=maintenance.pk)
        if maintenance.status == MaintenanceStatus.COMPLETED:
            return maintenance
        was_active = maintenance.is_active
        maintenance.status, maintenance.completed_at, maintenance.updated_at = MaintenanceStatus.COMPLETED, now, now
        maintenance.save(update_fields=["status", "completed_at", "updated_at"])
        if was_active:
            subscribers.queue(maintenance.page_id, maintenance_id=maintenance.pk, event=maintenance.status)
        sync_maintenance(now=now)
        touch([maintenance.page_id], now=now)
    return maintenance
