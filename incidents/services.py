"""The incidents domain layer: every entry point (API, pages, admin, monitors) goes through here."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import cache as incident_cache
from incidents import live
from incidents.models import ALLOWED_TRANSITIONS, IdempotencyKey, Incident, Severity, Status, TimelineEntry
from incidents.notifications import incident_message
from incidents.signals import incident_changed, incident_opened, incident_resolved
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.notifications.services import notify

logger = logging.getLogger("tracepoint.incidents")

EDITABLE_FIELDS = ("title", "service", "severity", "owner", "summary")
NOTIFY_ON_CREATE = {Severity.SEV1, Severity.SEV2}


class InvalidStatusTransition(DomainError):
    code = "INVALID_STATUS_TRANSITION"

    def __init__(self, current: str, target: str, allowed: tuple[str, ...] | list[str]):
        allowed = list(allowed)
        if allowed:
            hint = f"allowed from {current}: {', '.join(allowed)}"
        else:
            hint = f"{current} is final; use the reopen action"
        super().__init__(
            f"Cannot move an incident from {current} to {target} ({hint}).",
            details={"current": current, "requested": target, "allowed": allowed},
        )


class IdempotencyKeyConflict(DomainError):
    code = "IDEMPOTENCY_KEY_CONFLICT"
    status_code = 409


class IncidentNotFound(NotFoundError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who did something: a user, or a labelled system actor (``user=None``)."""

    user: Any = None
    label: str = ""


def _actor(by) -> Actor:
    return by if isinstance(by, Actor) else Actor(user=by)


def _entry(incident: Incident, kind: str, actor: Actor, now: datetime, **fields) -> TimelineEntry:
    return TimelineEntry.objects.create(
        incident=incident, kind=kind, actor=actor.user, actor_label=actor.label, created_at=now, **fields
    )


def _display(value) -> str | None:
    if value is None:
        return None
    if hasattr(value, "get_username"):
        return value.get_username()
    return str(value)


def _after_commit(
    incident: Incident,
    *,
    topic: str | None = None,
    tell_apps: bool = True,
    created: bool = False,
    **notification,
) -> None:
    """Invalidate the cached detail, refresh the live pages, tell other apps and notify once committed.
    ``tell_apps=False``: only the incident's pages change (a note on its timeline), nothing other apps
    react to (status pages, alerts, on-call), so ``incident_changed`` is not sent. ``created``: it is
    new, which lets receivers skip what only a change of an existing incident needs."""
    incident_id = incident.pk
    transaction.on_commit(lambda: incident_cache.invalidate(incident_id))
    # The row is locked by this transaction until the commit, so the object holds what was committed:
    # the live message is built from it instead of reading the row back.
    transaction.on_commit(lambda: live.incident_changed(incident), robust=True)
    if tell_apps:
        transaction.on_commit(
            lambda: incident_changed.send_robust(sender=Incident, incident_id=incident_id, created=created)
        )
    if topic:
        _notify(incident, topic=topic, **notification)


def _notify(incident: Incident, *, topic: str, subject: str, change: dict[str, Any]) -> None:
    # Rendered per channel: each gets Acknowledge/Resolve links signed for it (incidents.notifications).
    render = incident_message(incident, subject=subject, change=change)
    notify(topic=topic, subject=subject, render=render, severity=incident.severity)


# --- create -----------------------------------------------------------------------------


def request_fingerprint(body: Any) -> str:
    """SHA-256 of the canonical JSON of a request body (key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_incident(
    *,
    title: str,
    service: str,
    severity: str,
    by,
    summary: str = "",
    owner=None,
    now: datetime | None = None,
) -> Incident:
    now = now or timezone.now()
    actor = _actor(by)
    with transaction.atomic():
        incident = Incident.objects.create(
            title=title,
            service=service,
            severity=severity,
            summary=summary,
            owner=owner,
            created_by=actor.user,
            created_at=now,
            updated_at=now,
        )
        _entry(incident, TimelineEntry.Kind.CREATED, actor, now, to_value=Status.OPEN)
        incident_opened.send(sender=Incident, incident=incident, reopened=False, now=now)
        if severity in NOTIFY_ON_CREATE:
            _after_commit(
                incident,
                created=True,
                topic="incident.created",
                subject=f"[{severity}] New incident: {title}",
                change={"event": "created"},
            )
        else:
            _after_commit(incident, created=True)
    return incident


def create_incident_idempotent(
    *, key: str, body: Any, by, now: datetime | None = None, **fields
) -> tuple[Incident, bool]:
    """Create once per (user, key). Returns ``(incident, created)``.

    The same key with the same body returns the first incident; with another
    body it is a conflict. Concurrent requests with one key serialise on the
    unique (user, key) row, so exactly one incident is created.
    """
    now = now or timezone.now()
    user = _actor(by).user
    fingerprint = request_fingerprint(body)
    ttl = timedelta(hours=settings.TRACEPOINT["IDEMPOTENCY_KEY_TTL_HOURS"])
    for _ in range(3):
        existing = IdempotencyKey.objects.filter(user=user, key=key).select_related("incident").first()
        if existing is not None and existing.expires_at > now:
            return _replay(existing, fingerprint), False
        try:
            with transaction.atomic():
                if existing is not None:  # expired but not yet purged
                    IdempotencyKey.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
                record = IdempotencyKey.objects.create(
                    user=user, key=key, request_hash=fingerprint, created_at=now, expires_at=now + ttl
                )
                incident = create_incident(by=by, now=now, **fields)
                record.incident = incident
                record.save(update_fields=["incident"])
                return incident, True
        except IntegrityError:
            continue  # another request holds the key: read its outcome
    raise DomainError("Could not settle the idempotency key; retry the request.", code="CONFLICT")


def _replay(record: IdempotencyKey, fingerprint: str) -> Incident:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyConflict(
            "This Idempotency-Key was already used with a different request body.",
            details={"idempotency_key": record.key},
        )
    if record.incident is None or record.incident.is_deleted:
        raise IncidentNotFound("The incident created with this Idempotency-Key no longer exists.")
    return record.incident


def purge_expired_idempotency_keys(*, now: datetime | None = None) -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


# --- change -----------------------------------------------------------------------------


def _locked(incident_id) -> Incident:
    try:
        return Incident.objects.alive().select_for_update().get(pk=incident_id)
    except Incident.DoesNotExist:
        raise IncidentNotFound("No incident with this id.") from None


def _apply_transition(incident: Incident, target: str, actor: Actor, now: datetime) -> bool:
    """Move ``incident`` (already locked) to ``target``; False when it is already there."""
    if target not in Status.values:
        raise DomainError(f"Unknown status {target!r}.", details={"status": [f"Must be one of {Status.values}."]})
    current = incident.status
    if target == current:
        return False
    allowed = ALLOWED_TRANSITIONS[current]
    if target not in allowed:
        raise InvalidStatusTransition(current, target, allowed)
    incident.status = target
    if incident.acknowledged_at is None:
        # The first move out of OPEN is the acknowledgement (MTTA counts from it).
        incident.acknowledged_at, incident.acknowledged_by = now, actor.user
    if target == Status.MITIGATED:
        incident.mitigated_at, incident.mitigated_by = now, actor.user
    if target == Status.RESOLVED:
        incident.resolved_at, incident.resolved_by = now, actor.user
    _entry(incident, TimelineEntry.Kind.STATUS_CHANGED, actor, now, field="status", from_value=current, to_value=target)
    return True


def _after_resolve(incident: Incident, actor: Actor) -> None:
    incident_id, user = incident.pk, actor.user
    transaction.on_commit(lambda: incident_resolved.send_robust(sender=Incident, incident_id=incident_id, user=user))


def apply_transition(incident: Incident, to: str, by, now: datetime) -> bool:
    """Move an incident locked by the caller's transaction, save it and notify; False if already there."""
    actor = _actor(by)
    previous = incident.status
    if not _apply_transition(incident, to, actor, now):
        return False
    incident.updated_at = now
    incident.save()
    if to == Status.RESOLVED:
        _after_resolve(incident, actor)
    _after_commit(
        incident,
        topic="incident.status_changed",
        subject=f"[{incident.severity}] {incident.title}: {previous} → {to}",
        change={"event": "status_changed", "from": previous, "to": to},
    )
    return True


def transition_incident(incident_id, *, to: str, by, now: datetime | None = None) -> Incident:
    now = now or timezone.now()
    with transaction.atomic():
        incident = _locked(incident_id)
        apply_transition(incident, to, by, now)
    return incident


def update_incident(incident_id, *, changes: dict[str, Any], by, now: datetime | None = None) -> Incident:
    """Partial update; a ``status`` in ``changes`` goes through the state machine."""
    now = now or timezone.now()
    actor = _actor(by)
    unknown = set(changes) - set(EDITABLE_FIELDS) - {"status"}
    if unknown:
        raise DomainError(
            f"Cannot change {', '.join(sorted(unknown))}.", details={f: ["Not editable."] for f in unknown}
        )
    with transaction.atomic():
        incident = _locked(incident_id)
        changed = False
        for field in EDITABLE_FIELDS:
            if field not in changes:
                continue
            old, new = getattr(incident, field), changes[field]
            if old == new:
                continue
            setattr(incident, field, new)
            _entry(
                incident,
                TimelineEntry.Kind.FIELD_CHANGED,
                actor,
                now,
                field=field,
                from_value=_display(old),
                to_value=_display(new),
            )
            changed = True
        previous = incident.status
        transitioned = "status" in changes and _apply_transition(incident, changes["status"], actor, now)
        if changed or transitioned:
            incident.updated_at = now
            incident.save()
        if transitioned:
            _after_commit(
                incident,
                topic="incident.status_changed",
                subject=f"[{incident.severity}] {incident.title}: {previous} → {incident.status}",
                change={"event": "status_changed", "from": previous, "to": incident.status},
            )
            if incident.status == Status.RESOLVED:
                _after_resolve(incident, actor)
        elif changed:
            _after_commit(incident)
    return incident


def reopen_incident(incident_id, *, by, reason: str = "", now: datetime | None = None) -> Incident:
    now = now or timezone.now()
    actor = _actor(by)
    with transaction.atomic():
        incident = _locked(incident_id)
        if incident.status != Status.RESOLVED:
            raise InvalidStatusTransition(incident.status, "reopen", ALLOWED_TRANSITIONS[incident.status])
        incident.status = Status.OPEN
        incident.resolved_at = incident.resolved_by = None
        incident.mitigated_at = incident.mitigated_by = None
        incident.updated_at = now
        incident.save()
        _entry(
            incident,
            TimelineEntry.Kind.REOPENED,
            actor,
            now,
            field="status",
            from_value=Status.RESOLVED,
            to_value=Status.OPEN,
            body=reason,
        )
        incident_opened.send(sender=Incident, incident=incident, reopened=True, now=now)
        _after_commit(
            incident,
            topic="incident.status_changed",
            subject=f"[{incident.severity}] Reopened: {incident.title}",
            change={"event": "reopened", "from": Status.RESOLVED, "to": Status.OPEN},
        )
    return incident


def add_note(
    incident: Incident, *, kind: str, body: str, by, now: datetime | None = None, refresh: bool = True
) -> TimelineEntry:
    """A timeline entry written by another part of the product (on-call: a step paged, a page
    failed), inside the caller's transaction; the incident's pages refresh once it commits
    (``refresh=False``: the caller's own change of the incident refreshes them already)."""
    entry = _entry(incident, kind, _actor(by), now or timezone.now(), body=body)
    if refresh:
        _after_commit(incident, tell_apps=False)
    return entry


def add_notes(notes: list[tuple[Incident, str]], *, kind: str, by, now: datetime | None = None) -> None:
    """``add_note`` for many incidents at once (one insert), e.g. an escalation tick's steps."""
    if not notes:
        return
    actor, now = _actor(by), now or timezone.now()
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=i, kind=kind, actor=actor.user, actor_label=actor.label, body=b, created_at=now)
        for i, b in notes
    )
    for incident in {i.pk: i for i, _ in notes}.values():
        _after_commit(incident, tell_apps=False)


def add_comment(incident_id, *, body: str, by, now: datetime | None = None) -> TimelineEntry:
    body = body.strip()
    if not body:
        raise DomainError("A comment needs some text.", details={"body": ["This field may not be blank."]})
    now = now or timezone.now()
    with transaction.atomic():
        incident = _locked(incident_id)
        entry = _entry(incident, TimelineEntry.Kind.COMMENT, _actor(by), now, body=body)
        Incident.objects.filter(pk=incident.pk).update(updated_at=now)
        _after_commit(incident)
    return entry


def delete_incident(incident_id, *, by, now: datetime | None = None) -> None:
    """Soft delete: hidden from the API and pages, kept in the database and in admin."""
    now = now or timezone.now()
    actor = _actor(by)
    with transaction.atomic():
        incident = _locked(incident_id)
        incident.deleted_at, incident.deleted_by, incident.updated_at = now, actor.user, now
        incident.save()
        _entry(incident, TimelineEntry.Kind.DELETED, actor, now)
        _after_commit(incident)


def resolve_incidents(incident_ids, *, by, now: datetime | None = None) -> tuple[int, list[str]]:
    """Bulk resolve (admin action): each goes through the state machine. Returns (resolved, skipped)."""
    resolved, skipped = 0, []
    for incident_id in incident_ids:
        try:
            with transaction.atomic():
                before = _locked(incident_id).status
                if before == Status.RESOLVED:
                    skipped.append(f"{incident_id}: already resolved.")
                    continue
                transition_incident(incident_id, to=Status.RESOLVED, by=by, now=now)
        except DomainError as exc:
            skipped.append(f"{incident_id}: {exc.message}")
            continue
        resolved += 1
    return resolved, skipped


def resolve_owner(value) -> Any:
    """An owner given by username or id → the user, or a DomainError."""
    if value in (None, ""):
        return None
    User = get_user_model()
    lookup = {"pk": int(value)} if str(value).isdigit() else {"username": value}
    try:
        return User.objects.get(is_active=True, **lookup)
    except User.DoesNotExist:
        raise DomainError(f"No active user {value!r}.", details={"owner": [f"No active user {value!r}."]}) from None


# --- stats ------------------------------------------------------------------------------


def _percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (like PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _durations(rows: list[tuple], index: int) -> list[float]:
    return [(row[index] - row[0]).total_seconds() for row in rows if row[index] is not None]


def _summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "median_seconds": round(median(values), 1) if values else None,
        "p90_seconds": round(_percentile(values, 0.9), 1) if values else None,
    }


def incident_stats(*, since: datetime, until: datetime | None = None) -> dict[str, Any]:
    """Counts by status and severity and MTTA/MTTR (median, p90) of incidents created in the window."""
    until = until or timezone.now()
    incidents = Incident.objects.alive().filter(created_at__gte=since, created_at__lt=until)
    by_status = {status: 0 for status in Status.values}
    by_severity = {severity: 0 for severity in Severity.values}
    rows = list(incidents.values_list("created_at", "acknowledged_at", "resolved_at", "service", "status", "severity"))
    per_service: dict[str, list[tuple]] = {}
    for row in rows:
        by_status[row[4]] += 1
        by_severity[row[5]] += 1
        per_service.setdefault(row[3], []).append(row)
    return {
        "since": since,
        "until": until,
        "total": len(rows),
        "open": sum(count for status, count in by_status.items() if status != Status.RESOLVED),
        "by_status": by_status,
        "by_severity": by_severity,
        "mtta": _summary(_durations(rows, 1)),
        "mttr": _summary(_durations(rows, 2)),
        "services": {
            service: {
                "total": len(items),
                "mtta": _summary(_durations(items, 1)),
                "mttr": _summary(_durations(items, 2)),
            }
            for service, items in sorted(per_service.items())
        },
    }
