"""Status pages follow the monitors and incidents that feed them (connected in StatuspagesConfig.ready())."""

from __future__ import annotations

from statuspages import services


def on_monitor_status_changed(sender, *, monitor_id: int, **kwargs) -> None:
    """monitors.signals.monitor_status_changed (after the commit)."""
    services.monitor_status_changed(monitor_id)


def on_monitor_opened_incident(sender, *, monitor_id: int, incident_id, **kwargs) -> None:
    """monitors.signals.monitor_opened_incident (in the monitor's transaction)."""
    services.monitor_opened_incident(monitor_id, incident_id)


def on_monitor_deleting(sender, *, monitor_id: int, **kwargs) -> None:
    """monitors.signals.monitor_deleting (in the transaction, before the delete)."""
    services.monitor_deleting(monitor_id)


def on_incident_changed(sender, *, incident_id, created: bool = False, **kwargs) -> None:
    """incidents.signals.incident_changed (after the commit). A new incident is on no page yet: only a
    person publishes one, and a monitor links it unpublished."""
    if created:
        return
    services.incident_changed(incident_id)
