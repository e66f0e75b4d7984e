"""A monitor's status changes: the one writer of ``Monitor.status``, and what a change sets off.

``set_status`` closes the open status period and opens the next (uptime is computed from these,
monitors/uptime.py), alerts through the notification channels, opens an incident on DOWN and
resolves it on recovery (when the monitor asks for that), and tells other apps through
``monitor_status_changed``. Checks (monitors/scheduler.py), pings (monitors/heartbeats.py) and the
lifecycle operations (monitors/services.py) all change a status through here.

Dependencies (monitors/dependencies.py) are a rule of this one place: a DOWN while a monitor it depends
on is DOWN is recorded (period, uptime, status pages) but blamed on that monitor: no alert, no incident,
a note on the parent's open incident instead. Its recovery is quiet. When the parent recovers first, a
child still failing is its own problem: its next ``down_after`` failures announce it as usual.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction
from django.urls import reverse

from incidents import correlation
from incidents import services as incident_services
from incidents.models import Incident, SignalKind, TimelineEntry
from incidents.services import Actor
from monitors import dependencies
from monitors.models import Monitor, MonitorIncident, MonitorStatus, StatusPeriod
from monitors.signals import monitor_opened_incident, monitor_status_changed
from tracepoint.links import absolute_url
from tracepoint.notifications.services import notify


def set_status(monitor: Monitor, status: str, *, reason: str = "", at: datetime) -> bool:
    """Move a (locked) monitor to ``status`` from ``at``: close the open period, open a new one."""
    if monitor.status == status:
        return False
    previous = monitor.status
    cause = dependencies.down_cause(monitor) if status == MonitorStatus.DOWN else None
    recorded = reason
    if cause is not None:
        recorded = f"{reason} (because {cause.name} is down)" if reason else f"because {cause.name} is down"
    StatusPeriod.objects.filter(monitor=monitor, ended_at__isnull=True).update(ended_at=at)
    StatusPeriod.objects.create(monitor=monitor, status=status, started_at=at, reason=recorded[:500])
    monitor.status, monitor.status_changed_at = status, at
    Monitor.objects.filter(pk=monitor.pk).update(status=status, status_changed_at=at)
    if cause is not None:
        _blame(monitor, cause, reason=reason, at=at)
    else:
        _on_change(monitor, previous, status, reason=reason, at=at)
    if previous == MonitorStatus.DOWN:
        _release_dependents(monitor, at=at)
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
    if previous == MonitorStatus.DOWN and status != MonitorStatus.DOWN and monitor.down_unannounced:
        _clear_blame(monitor)
        if status in (MonitorStatus.UP, MonitorStatus.PENDING):
            return  # the end of a DOWN nobody was told about is not news either
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


def announce_held_down(monitor: Monitor, *, reason: str, at: datetime) -> bool:
    """A (locked) DOWN monitor whose DOWN was blamed on a parent failed ``down_after`` times once no parent
    was down: its own problem now, announced like any DOWN (alert, incident). Blamed again instead if a
    monitor it depends on is down meanwhile. True if it was announced."""
    if monitor.status != MonitorStatus.DOWN or not monitor.down_unannounced:
        return False
    cause = dependencies.down_cause(monitor)
    if cause is not None:
        if cause.pk != monitor.down_because_of_id:
            _blame(monitor, cause, reason=reason, at=at)
        return False
    _clear_blame(monitor)
    why = f"still down once the monitors it depends on were up: {reason}" if reason else "still down"
    _on_change(monitor, MonitorStatus.DOWN, MonitorStatus.DOWN, reason=why, at=at)
    return True


def _blame(monitor: Monitor, cause: Monitor, *, reason: str, at: datetime) -> None:
    """Record that this DOWN is ``cause``'s doing and put it on ``cause``'s open incidents' timelines."""
    monitor.down_because_of, monitor.down_unannounced = cause, True
    Monitor.objects.filter(pk=monitor.pk).update(down_because_of=cause, down_unannounced=True)
    body = (
        f"Monitor “{monitor.name}” is down because “{cause.name}” is down"
        + (f": {reason}" if reason else "")
        + ". It sends no alert and opens no incident of its own."
    )
    for incident in Incident.objects.open().filter(monitor_links__monitor=cause).order_by("created_at"):
        incident_services.add_note(
            incident, kind=TimelineEntry.Kind.SIGNAL, body=body[:2000], by=_actor(monitor), now=at
        )
        _link, created = MonitorIncident.objects.get_or_create(monitor=monitor, incident=incident)
        if created:  # its status page components are affected by this incident too
            monitor_opened_incident.send(sender=Monitor, monitor_id=monitor.pk, incident_id=incident.pk)


def _clear_blame(monitor: Monitor) -> None:
    monitor.down_because_of, monitor.down_unannounced = None, False
    Monitor.objects.filter(pk=monitor.pk).update(down_because_of=None, down_unannounced=False)


def _release_dependents(parent: Monitor, *, at: datetime) -> None:
    """``parent`` is no longer DOWN: the DOWN monitors blamed on it are blamed on another DOWN ancestor, or
    are on their own: an active check runs again at once and its next ``down_after`` failures announce it;
    a heartbeat (late, with no check to run) is announced at once."""
    ids = {*dependencies.descendant_ids(parent.pk)}
    ids |= set(Monitor.objects.filter(down_because_of=parent).values_list("pk", flat=True))
    # Locked by id, then judged: a child that went DOWN (blaming this parent) while we waited is seen.
    for child in Monitor.objects.select_for_update().filter(pk__in=ids).order_by("pk"):
        if child.status != MonitorStatus.DOWN or not child.down_unannounced:
            continue
        if child.down_because_of_id not in (parent.pk, None):
            continue  # blamed on another monitor, which is still down (its recovery releases it)
        cause = dependencies.down_cause(child)
        if cause is not None:
            _blame(child, cause, reason=child.last_error, at=at)
        elif child.is_heartbeat:
            announce_held_down(child, reason=f"{parent.name} is {MonitorStatus(parent.status).label.lower()}", at=at)
        else:
            child.down_because_of = None
            Monitor.objects.filter(pk=child.pk).update(
                down_because_of=None, streak_status="", streak_count=0, next_check_at=at
            )


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
    since = monitor.status_changed_at if previous == status and monitor.status_changed_at else at
    subject = f"[{label}] {monitor.name}" + (f": {reason}" if reason and status != MonitorStatus.UP else "")
    text = (
        f"Monitor {monitor.name} ({monitor.get_kind_display()}) is {MonitorStatus(status).label.lower()} "
        f"since {since:%Y-%m-%d %H:%M:%S} UTC"
        + (f" (was {MonitorStatus(previous).label.lower()}).\n" if previous != status else ".\n")
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
                "target": monitor.target,
            },
            "from": previous,
            "to": status,
            "reason": reason,
            "at": at,
        },
        severity=monitor.incident_severity if status == MonitorStatus.DOWN else None,
    )
