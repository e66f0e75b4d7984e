"""One incident per problem: signals about a service open its incident or join the one already open.

A signal is a monitor going DOWN, an alert rule firing on an error issue, or an external alert group
firing. ``open_or_join`` gives it an incident: the open incident of the same service when that
incident is recent (opened or last joined within ``CORRELATION_WINDOW_MINUTES``) or still has an
active signal, otherwise a new one. ``resolve_signal`` records that the signal cleared; when every
signal of an incident opened by a signal has cleared, the incident moves to
``CORRELATION_ALL_CLEAR_STATUS`` (MITIGATED by default: a person confirms the fix by resolving it).

Two signals of one service arriving at once must not open two incidents: on PostgreSQL the
decision runs under a transaction-scoped advisory lock on the service's name; SQLite serialises
writers anyway (``transaction_mode: IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from incidents import services
from incidents.models import Incident, IncidentQuerySet, IncidentSignal, SignalKind, SignalStatus, Status, TimelineEntry
from tracepoint.severity import Severity

logger = logging.getLogger("tracepoint.incidents")


@dataclass(frozen=True)
class Signal:
    kind: str  # SignalKind
    ref: str  # the source's id, as text
    label: str  # e.g. the monitor's name, the title, the alert group's summary
    url: str = ""  # its page in the dashboard


def window() -> timedelta:
    return timedelta(minutes=settings.TRACEPOINT["CORRELATION_WINDOW_MINUTES"])


def _lock_service(service: str) -> None:
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"incident-service:{service}".encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _describe(signal: Signal) -> str:
    return f"{SignalKind(signal.kind).label} “{signal.label}”"


def joinable() -> IncidentQuerySet:
    """Incidents a signal may join: open and not MITIGATED. A mitigated incident is one people (or the
    all-clear) consider fixed: a signal firing then is a recurrence, and a new incident says so loudly."""
    return Incident.objects.open().exclude(status=Status.MITIGATED)


def open_incident_for(service: str, *, now: datetime) -> Incident | None:
    """The open incident a new signal of ``service`` joins, if any."""
    recent = now - window()
    return (
        joinable()
        .filter(service=service)
        .annotate(last_joined=Max("signals__joined_at"))
        .filter(Q(created_at__gte=recent) | Q(last_joined__gte=recent) | Q(signals__status=SignalStatus.ACTIVE))
        .order_by("-created_at")
        .first()
    )


def open_or_join(
    signal: Signal, *, service: str, title: str, severity: str, summary: str, by, now: datetime | None = None
) -> tuple[Incident, bool]:
    """The incident this signal belongs to, and whether it was opened for it (True) or joined (False).

    A signal already part of a joinable incident stays there (a repeat is a no-op; a signal that had
    resolved and fires again is marked active, with a timeline entry).

    Locks, in this order everywhere: the service (PostgreSQL advisory lock), the incident, the signal.
    """
    now = now or timezone.now()
    actor = services._actor(by)
    with transaction.atomic():
        _lock_service(service)
        current = (
            IncidentSignal.objects.filter(kind=signal.kind, ref=signal.ref, incident__in=joinable())
            .order_by("-joined_at")
            .values_list("pk", "incident_id")
            .first()
        )
        if current is not None:
            incident = services._locked(current[1])
            record = IncidentSignal.objects.select_for_update().get(pk=current[0])
            if record.status == SignalStatus.RESOLVED:
                record.status, record.resolved_at, record.changed_at = SignalStatus.ACTIVE, None, now
                record.save(update_fields=["status", "resolved_at", "changed_at"])
                _signal_entry(incident, actor, now, f"{_describe(signal)} fired again.")
            _raise_severity(incident, severity, actor, now)
            return incident, False
        incident = open_incident_for(service, now=now)
        if incident is not None:
            incident = services._locked(incident.pk)
            IncidentSignal.objects.create(
                incident=incident, kind=signal.kind, ref=signal.ref, label=signal.label[:200], url=signal.url,
                joined_at=now, changed_at=now,
            )  # fmt: skip
            _signal_entry(incident, actor, now, f"{_describe(signal)} joined: {summary}"[:2000])
            _raise_severity(incident, severity, actor, now)
            logger.info("%s %s joined incident %s of %s", signal.kind, signal.ref, incident.pk, service)
            return incident, False
        incident = services.create_incident(
            title=title[:200], service=service, severity=severity, summary=summary, by=actor, now=now
        )
        IncidentSignal.objects.create(
            incident=incident, kind=signal.kind, ref=signal.ref, label=signal.label[:200], url=signal.url,
            opened_incident=True, joined_at=now, changed_at=now,
        )  # fmt: skip
        return incident, True


def resolve_signal(kind: str, ref: str, *, by, reason: str = "", now: datetime | None = None) -> list[Incident]:
    """The signal cleared: mark it resolved on its open incidents; all clear moves an automatic incident on.

    Returns the incidents that moved. Locks in ``open_or_join``'s order: the service, the incident, the
    signal (so a signal joining at this moment is seen before "every signal has resolved" is decided).
    """
    now = now or timezone.now()
    actor = services._actor(by)
    moved = []
    found = IncidentSignal.objects.filter(
        kind=kind, ref=ref, status=SignalStatus.ACTIVE, incident__in=Incident.objects.open()
    ).values_list("incident_id", "incident__service")
    for incident_id, service in list(found):
        with transaction.atomic():
            _lock_service(service)
            try:
                incident = services._locked(incident_id)
            except services.IncidentNotFound:
                continue
            signal = IncidentSignal.objects.filter(incident=incident, kind=kind, ref=ref, status=SignalStatus.ACTIVE)
            signal = signal.select_for_update().first()
            if signal is None or incident.status == Status.RESOLVED:
                continue
            signal.status, signal.resolved_at, signal.changed_at = SignalStatus.RESOLVED, now, now
            signal.save(update_fields=["status", "resolved_at", "changed_at"])
            text = f"{SignalKind(kind).label} “{signal.label}” resolved" + (f": {reason}" if reason else ".")
            _signal_entry(incident, actor, now, text)
            if _all_clear(incident) and _move_on_all_clear(incident, actor, now):
                moved.append(incident)
    return moved


def _all_clear(incident: Incident) -> bool:
    signals = incident.signals.all()
    return signals.filter(opened_incident=True).exists() and not signals.filter(status=SignalStatus.ACTIVE).exists()


def _move_on_all_clear(incident: Incident, actor: services.Actor, now: datetime) -> bool:
    target = settings.TRACEPOINT["CORRELATION_ALL_CLEAR_STATUS"]
    if incident.status == target or target not in incident.allowed_transitions():
        return False
    _signal_entry(incident, actor, now, f"Every signal has resolved: the incident moves to {Status(target).label}.")
    return services.apply_transition(incident, target, actor, now)


def _raise_severity(incident: Incident, severity: str, actor: services.Actor, now: datetime) -> None:
    """A more severe signal raises the incident's severity (never lowers it: people may have raised it)."""
    if severity not in Severity.values or Severity.values.index(severity) >= Severity.values.index(incident.severity):
        return
    previous, incident.severity = incident.severity, severity
    incident.save(update_fields=["severity", "updated_at"])
    services._entry(
        incident, TimelineEntry.Kind.FIELD_CHANGED, actor, now, field="severity", from_value=previous, to_value=severity
    )
    services._after_commit(incident)


def _signal_entry(incident: Incident, actor: services.Actor, now: datetime, text: str) -> None:
    services._entry(incident, TimelineEntry.Kind.SIGNAL, actor, now, body=text)
    incident.updated_at = now
    incident.save(update_fields=["updated_at"])
    services._after_commit(incident)
