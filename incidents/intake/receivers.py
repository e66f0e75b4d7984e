"""What intake does when other parts of Tracepoint change (connected in IntakeConfig.ready)."""

from __future__ import annotations

from incidents.intake import correlate


def on_incident_changed(sender, *, incident_id, created: bool = False, **kwargs) -> None:
    """incidents.signals.incident_changed (after the commit): an acknowledged incident acknowledges its
    Events API v2 alerts (a new one is OPEN: nothing to acknowledge)."""
    if created:
        return
    correlate.acknowledge_alerts(incident_id)
