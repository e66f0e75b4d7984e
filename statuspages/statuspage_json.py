"""The Atlassian Statuspage v2 JSON shapes (shared/specs/statuspage-v2.md): every key present, null where
there is no value, enum spellings exactly as the spec writes them, timestamps in UTC with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.urls import reverse

from statuspages import snapshot as snapshots
from statuspages.models import (
    Component,
    Impact,
    Maintenance,
    PageIncident,
    PublicUpdate,
    StatusPage,
)


def stamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, as Statuspage writes them: 2026-05-16T22:43:07.235Z."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def page_json(page: StatusPage, base_url: str) -> dict[str, Any]:
    return {
        "id": page.public_id,
        "name": page.title,
        "url": base_url + reverse("statuspages-public:page", args=[page.slug]),
        "time_zone": page.time_zone,
        "updated_at": stamp(page.updated_at),
    }


def component_json(component: Component, page: StatusPage) -> dict[str, Any]:
    return {
        "id": component.public_id,
        "name": component.name,
        "status": component.status,
        "created_at": stamp(component.created_at),
        "updated_at": stamp(component.updated_at),
        "position": component.position,
        "description": component.description or None,
        "showcase": component.showcase,
        "start_date": component.start_date.isoformat() if component.start_date else None,
        "group_id": component.group.public_id if component.group_id else None,
        "page_id": page.public_id,
        "group": False,
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def group_json(group: snapshots.Group, page: StatusPage) -> dict[str, Any]:
    return {
        "id": group.group.public_id,
        "name": group.group.name,
        "status": group.status,
        "created_at": stamp(group.group.created_at),
        "updated_at": stamp(max([group.group.updated_at, *(c.updated_at for c in group.children)])),
        "position": group.group.position,
        "description": group.group.description or None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": page.public_id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [child.public_id for child in group.children],
    }


def components_json(snap: snapshots.Snapshot) -> list[dict[str, Any]]:
    """A flat list by position; a group (itself a component with ``group: true``) before its children."""
    out = []
    for item in snap.layout:
        if isinstance(item, snapshots.Group):
            out.append(group_json(item, snap.page))
            out.extend(component_json(child, snap.page) for child in item.children)
        else:
            out.append(component_json(item, snap.page))
    return out


def update_json(update: PublicUpdate, parent_id: str) -> dict[str, Any]:
    return {
        "id": update.public_id,
        "status": update.status,
        "body": update.body,
        "incident_id": parent_id,
        "created_at": stamp(update.created_at),
        "updated_at": stamp(update.updated_at),
        "display_at": stamp(update.display_at),
        "affected_components": update.affected_components or None,
        "deliver_notifications": update.deliver_notifications,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident_json(link: PageIncident, page: StatusPage, base_url: str) -> dict[str, Any]:
    incident = link.incident
    updates = list(link.updates.all())
    return {
        "id": link.public_id,
        "name": link.public_name,
        "status": snapshots.incident_status(link),
        "created_at": stamp(incident.created_at),
        "updated_at": stamp(max(link.updated_at, incident.updated_at)),
        "monitoring_at": stamp(incident.mitigated_at),
        "resolved_at": stamp(incident.resolved_at),
        "impact": link.impact,
        "shortlink": base_url + reverse("statuspages-public:incident", args=[page.slug, link.public_id]),
        "started_at": stamp(incident.created_at),
        "page_id": page.public_id,
        "incident_updates": [update_json(update, link.public_id) for update in updates],
        "components": [component_json(component, page) for component in link.components.all()],
        "reminder_intervals": None,
    }


def maintenance_json(window: Maintenance, page: StatusPage, base_url: str) -> dict[str, Any]:
    return {
        "id": window.public_id,
        "name": window.title,
        "status": window.status,
        "created_at": stamp(window.created_at),
        "updated_at": stamp(window.updated_at),
        "monitoring_at": None,
        "resolved_at": stamp(window.completed_at),
        "impact": Impact.MAINTENANCE,
        "shortlink": base_url + reverse("statuspages-public:maintenance", args=[page.slug, window.public_id]),
        "started_at": stamp(window.started_at or window.created_at),
        "page_id": page.public_id,
        "incident_updates": [update_json(update, window.public_id) for update in window.updates.all()],
        "components": [component_json(component, page) for component in window.components.all()],
        "scheduled_for": stamp(window.scheduled_for),
        "scheduled_until": stamp(window.scheduled_until),
        "reminder_intervals": None,
    }


def render(page: StatusPage, resource: str, *, base_url: str) -> dict[str, Any]:
    snap = snapshots.take(page)
    body: dict[str, Any] = {"page": page_json(page, base_url)}
    status = {"indicator": snap.indicator, "description": snap.description}
    if resource == "status.json":
        body["status"] = status
    elif resource == "components.json":
        body["components"] = components_json(snap)
    elif resource == "incidents/unresolved.json":
        body["incidents"] = [incident_json(link, page, base_url) for link in snap.active_incidents]
    elif resource == "incidents.json":
        recent = snapshots.published_incidents(page)[: snapshots.MAX_LISTED]
        body["incidents"] = [incident_json(link, page, base_url) for link in recent]
    elif resource == "scheduled-maintenances/upcoming.json":
        body["scheduled_maintenances"] = [maintenance_json(w, page, base_url) for w in snap.upcoming_maintenances]
    elif resource == "scheduled-maintenances/active.json":
        body["scheduled_maintenances"] = [maintenance_json(w, page, base_url) for w in snap.active_maintenances]
    elif resource == "scheduled-maintenances.json":
        recent = snapshots.maintenances(page).order_by("-scheduled_for", "-id")[: snapshots.MAX_LISTED]
        body["scheduled_maintenances"] = [maintenance_json(w, page, base_url) for w in recent]
    elif resource == "summary.json":
        body["components"] = components_json(snap)
        body["incidents"] = [incident_json(link, page, base_url) for link in snap.active_incidents]
        body["scheduled_maintenances"] = [
            maintenance_json(w, page, base_url) for w in [*snap.active_maintenances, *snap.upcoming_maintenances]
        ]
        body["status"] = status
    return body
