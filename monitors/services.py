"""The monitors domain layer: a monitor's lifecycle (created, paused and resumed, in and out of
maintenance, deleted). Each operation owns its transaction and changes the status through
``status.set_status``.

The rest of the domain lives next to it, by job: status changes and what they set off (status.py),
uptime maths (uptime.py), heartbeat deadlines and ping rules (heartbeats.py), accepting a ping
(ping.py, pingbuffer.py), and the timed work of checks and overdue heartbeats (scheduler.py).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from monitors import probes
from monitors.heartbeats import compute_alert_after
from monitors.models import Monitor, MonitorKind, MonitorStatus, StatusPeriod
from monitors.signals import monitor_deleting
from monitors.status import service_name as service_name  # other apps ask the services for it
from monitors.status import set_status

DEFAULT_TIMEOUT_SECONDS = 10


def default_timeout_seconds(interval_seconds: int) -> int:
    """The timeout of a monitor that does not set one: 80 % of its interval, at most 10 s, at least 1 s
    (a 10-second interval gets 8 s, so the default always fits the interval)."""
    return max(1, min(DEFAULT_TIMEOUT_SECONDS, int(interval_seconds * 0.8)))


def timeout_when_unset(interval_seconds: int, *, previous: Monitor | None = None) -> int:
    """The timeout when a create or an update does not send one. A new monitor gets the default of its
    interval; a saved one keeps its own timeout, unless it was the default of its old interval (then it
    follows the interval) or no longer fits the new interval."""
    default = default_timeout_seconds(interval_seconds)
    if previous is None or previous.pk is None:
        return default
    kept = previous.timeout_seconds
    if kept == default_timeout_seconds(previous.interval_seconds) or kept >= interval_seconds:
        return default
    return kept


def create_monitor(**fields) -> Monitor:
    """A new monitor: active ones are due at once; heartbeats wait for their first ping."""
    now = timezone.now()
    parents = fields.pop("depends_on", None) or []
    locations = fields.pop("locations", None) or []
    if fields.get("timeout_seconds") is None:
        fields["timeout_seconds"] = default_timeout_seconds(fields.get("interval_seconds") or 60)
    with transaction.atomic():
        monitor = Monitor.objects.create(
            next_check_at=None if fields.get("kind") == MonitorKind.HEARTBEAT else now, **fields
        )
        StatusPeriod.objects.create(monitor=monitor, status=MonitorStatus.PENDING, started_at=now, reason="created")
        if parents:  # a new monitor has no dependents: it cannot close a cycle
            monitor.depends_on.set(parents)
        if locations:
            monitor.locations.set(locations)
    return monitor


MANY_TO_MANY = ("depends_on", "locations")


def update_monitor(monitor_id: int, fields: dict) -> Monitor:
    """Save an edit: only the settings given, under the row's lock. Writing the whole row as the form or the
    API loaded it would put back the status, streaks and round counters that checks moved meanwhile."""
    fields = {name: value for name, value in fields.items() if name != "kind"}  # a kind never changes
    related = {name: fields.pop(name) for name in MANY_TO_MANY if name in fields}
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor_id)
        if fields:
            Monitor.objects.filter(pk=monitor.pk).update(**fields)
        for name, value in related.items():
            getattr(monitor, name).set(value)
    return Monitor.objects.get(pk=monitor_id)


def delete_monitor(monitor_id: int) -> None:
    with transaction.atomic():
        monitor_deleting.send(sender=Monitor, monitor_id=monitor_id)
        Monitor.objects.filter(pk=monitor_id).delete()


def pause(monitor_id, *, now: datetime | None = None) -> Monitor:
    now = now or timezone.now()
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor_id)
        set_status(monitor, MonitorStatus.PAUSED, reason="paused", at=now)
        if monitor.is_heartbeat and monitor.last_start_at is None:
            Monitor.objects.filter(pk=monitor.pk).update(alert_after=None)
    return Monitor.objects.get(pk=monitor_id)


def resume(monitor_id, *, now: datetime | None = None) -> Monitor:
    """Back to PENDING until the next result (heartbeats: until the next ping)."""
    now = now or timezone.now()
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor_id)
        if monitor.status == MonitorStatus.PAUSED:
            set_status(monitor, MonitorStatus.PENDING, reason="resumed", at=now)
            Monitor.objects.filter(pk=monitor.pk).update(
                streak_status="", streak_count=0, next_check_at=now, alert_after=compute_alert_after(monitor)
            )
    return Monitor.objects.get(pk=monitor_id)


def begin_maintenance(monitor_ids, *, now: datetime | None = None, reason: str = "maintenance") -> int:
    """Planned work: the monitors still check and take pings, but change no status and send no alert;
    the time counts neither up nor down. Paused monitors stay paused. Returns how many went in."""
    now = now or timezone.now()
    started = 0
    with transaction.atomic():
        for monitor in Monitor.objects.select_for_update().filter(pk__in=list(monitor_ids)).order_by("pk"):
            if monitor.status in (MonitorStatus.PAUSED, MonitorStatus.MAINTENANCE):
                continue
            started += set_status(monitor, MonitorStatus.MAINTENANCE, reason=reason, at=now)
            Monitor.objects.filter(pk=monitor.pk).update(streak_status="", streak_count=0)
    return started


def end_maintenance(monitor_ids, *, now: datetime | None = None) -> int:
    """Back to PENDING, checked at once; as after a resume, the next results decide (and alert)."""
    now = now or timezone.now()
    ended = 0
    with transaction.atomic():
        for monitor in Monitor.objects.select_for_update().filter(pk__in=list(monitor_ids)).order_by("pk"):
            if monitor.status != MonitorStatus.MAINTENANCE:
                continue
            ended += set_status(monitor, MonitorStatus.PENDING, reason="maintenance ended", at=now)
            Monitor.objects.filter(pk=monitor.pk).update(
                streak_status="", streak_count=0, next_check_at=now, alert_after=compute_alert_after(monitor)
            )
    return ended


def run_draft_check(monitor: Monitor) -> probes.CheckResult:
    """Run the check of an unsaved monitor once ("Test now" on the form): the probes and address guard
    of the real checks, bounded by its timeout, recorded nowhere. Network I/O: never call it inside a
    transaction."""
    if monitor.kind == MonitorKind.HEARTBEAT:
        raise ValueError("a heartbeat monitor is pinged by its job; there is nothing to run")
    spec = dataclasses.replace(probes.CheckSpec.of(monitor), id=0)
    return probes.check_all([spec])[0]
