"""A monitor's status changes: the one writer of ``Monitor.status``, and what a change sets off.

``set_status`` closes the open status period and opens the next (uptime is computed from these,
monitors/uptime.py), alerts through the notification channels, opens an incident on DOWN and
resolves it on recovery (when the monitor asks for that), and tells other apps through
``monitor_status_changed``. Checks (monitors/scheduler.py), pings (monitors/heartbeats.py) and the
lifecycle operations (monitors/services.py) all change a status through here.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction
from django.urls import reverse

from incidents import correlation
from incidents.models import SignalKind
from incidents.services import Actor
from monitors.models import Monitor, MonitorIncident, MonitorStatus, StatusPeriod
from monitors.signals import monitor_opened_incident, monitor_status_changed
from tracepoint.links import absolute_url
from tracepoint.notifications.services import notify


def set_status(monitor: Monitor, status: str, *, reason: str = "", at: datetime) -> bool:
    """Move a (locked) monitor to ``status`` from ``at``: close the open period, open a new one."""
    if monitor.status == status:
        return False
    previous = monitor.status
    StatusPeriod.objects.filter(monitor=monitor, ended_at__isnull=True).update(ended_at=at)
    StatusPeriod.objects.create(monitor=monitor, status=status, started_at=at, reason=reason[:500])
    monitor.status, monitor.status_changed_at = status, at
    Monitor.objects.filter(pk=monitor.pk).update(status=status, status_changed_at=at)
    _on_change(monitor, previous, status, reason=reason, at=at)
    monitor_id = monitor.pk
    transaction.on_commit(lambda: monitor_status_changed.send_robust(sender=Monitor, monitor_id=monitor_id))
    return True


# A first result, a pause and a resume are not news; everything else is.
QUIET_CHANGES = {
    (MonitorStatus.PENDING, MonitorStatus.UP),
    (MonitorStatus.PAUSED, MonitorStatus.UP),
    (MonitorStatus.PAUSED, MonitorStatus.PENDING),
}


def _on_change(monitor: Monitor, previous: str, status: str, *, reason: str, at: datetime) -> None:
    """Alerts through the notification channels; an incident opened on DOWN and resolved on recovery."""
    if status in (MonitorStatus.PAUSED, MonitorStatus.MAINTENANCE) or (
        previous in (MonitorStatus.PAUSED, MonitorStatus.MAINTENANCE) and status == MonitorStatus.PENDING
    ):
        return  # planned: neither alerts nor incidents
    if (previous, status) not in QUIET_CHANGES:
        _notify(monitor, previous, status, reason=reason, at=at)
    if not monitor.open_incident:
        return
    if status == MonitorStatus.DOWN:
        _open_incident(monitor, reason=reason, at=at)
    elif status == MonitorStatus.UP:
        _resolve_incidents(monitor, at=at)


def _actor(monitor: Monitor) -> Actor:
    return Actor(label=f"monitor {monitor.name}"[:150])


def _open_incident(monitor: Monitor, *, reason: str, at: datetime) -> None:
    incident, _opened = correlation.open_or_join(
        correlation.Signal(
            kind=SignalKind.MONITOR,
            ref=str(monitor.pk),
            label=monitor.name,
            url=reverse("monitors:detail", args=[monitor.pk]),
        ),
        service=service_name(monitor),
        title=f"{monitor.name} is down",
        severity=monitor.incident_severity,
        summary=f"Monitor “{monitor.name}” is down: {reason}",
        by=_actor(monitor),
        now=at,
    )
    _link, created = MonitorIncident.objects.get_or_create(monitor=monitor, incident=incident)
    if created:
        monitor_opened_incident.send(sender=Monitor, monitor_id=monitor.pk, incident_id=incident.pk)


def _resolve_incidents(monitor: Monitor, *, at: datetime) -> None:
    correlation.resolve_signal(
        SignalKind.MONITOR, str(monitor.pk), by=_actor(monitor), reason=f"monitor “{monitor.name}” is up again", now=at
    )


def service_name(monitor: Monitor) -> str:
    """The service a monitor reports for: its own setting, or a name made from the monitor's name."""
    if monitor.service:
        return monitor.service
    name = re.sub(r"[^a-z0-9._-]+", "-", monitor.name.lower()).strip("-._")[:100]
    return name or "monitor"


def _notify(monitor: Monitor, previous: str, status: str, *, reason: str, at: datetime) -> None:
    label = MonitorStatus(status).label.upper()
    subject = f"[{label}] {monitor.name}" + (f": {reason}" if reason and status != MonitorStatus.UP else "")
    text = (
        f"Monitor {monitor.name} ({monitor.get_kind_display()}) is {MonitorStatus(status).label.lower()} "
        f"since {at:%Y-%m-%d %H:%M:%S} UTC (was {MonitorStatus(previous).label.lower()}).\n"
        + (f"Why: {reason}\n" if reason else "")
        + absolute_url("monitors:detail", monitor.pk)
        + "\n"
    )
    notify(
        topic=f"monitor.{status}",
        subject=subject,
        text=text,
        payload={
            "event": f"monitor.{status}",
            "monitor": {
                "id": monitor.pk,
                "name": monitor.name,
                "kind": monitor.kind,
                "target": monitor.url or f"{monitor.host}:{monitor.port}",
            },
            "from": previous,
            "to": status,
            "reason": reason,
            "at": at,
        },
        severity=monitor.incident_severity if status == MonitorStatus.DOWN else None,
    )
