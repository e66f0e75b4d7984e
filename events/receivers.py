"""What the events app does when other apps report a change (connected in EventsConfig.ready())."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from events import alerts
from events.ingest import NewEvent, store_events
from events.models import EventType, Level, Project


def on_incident_resolved(sender, *, incident_id, user, **kwargs) -> None:
    """incidents.signals.incident_resolved (after the commit): resolve the issues linked to resolve with it."""
    alerts.resolve_linked_issues(incident_id, user)


def on_change_event_received(
    sender,
    *,
    integration_id: int,
    service: str,
    change_type: str,
    summary: str,
    source: str,
    timestamp: datetime,
    release: str,
    environment: str,
    custom_details: dict[str, Any],
    links: list[dict[str, str]],
    event_id: uuid.UUID,
    **kwargs,
) -> int:
    """incidents.intake.signals.change_event_received (inside the intake's transaction): the change becomes
    a DEPLOY or CONFIG_CHANGE event of each project that reports for the service, stored as the native API
    stores one, so it is on the service timeline and in deploy correlation. Returns how many projects
    got it; none reports for the service → 0, and the intake refuses the change."""
    event_type = EventType(change_type)
    projects = [project for project in Project.objects.only("pk", "services") if service in (project.services or [])]
    event = NewEvent(
        event_id=event_id,
        event_type=event_type,
        service=service,
        timestamp=timestamp,
        level=Level.INFO,
        message=summary,
        release=release,
        environment=environment,
        platform="events-api-v2",
        data={
            "message": summary,
            "metadata": {
                "source": source,
                "custom_details": custom_details,
                "links": links,
                "intake_integration_id": integration_id,
            },
        },
    )
    for project in projects:
        store_events(project, [event])
    return len(projects)
