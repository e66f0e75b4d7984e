"""What the events app does when other apps report a change (connected in EventsConfig.ready())."""

from __future__ import annotations

from events import alerts


def on_incident_resolved(sender, *, incident_id, user, **kwargs) -> None:
    """incidents.signals.incident_resolved (after the commit): resolve the issues linked to resolve with it."""
    alerts.resolve_linked_issues(incident_id, user)
