"""Prometheus Alertmanager webhook payloads (version "4", shared/specs/alertmanager-webhook.md).

Every notification carries the whole current state of its group, so receiving is idempotent:
an alert episode is the row keyed by (integration, fingerprint, startsAt). Concurrent deliveries
of one group (HA pairs) queue on the group's row lock; a unique constraint backs that up for an
alert routed into two groups at once. Nothing here opens incidents: ``receive_alertmanager``
returns what changed, and correlation acts on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from incidents.intake.limits import payload_kept_bytes
from incidents.intake.models import Alert, AlertGroup, AlertPayload, AlertStatus, GroupStatus, Integration
from tracepoint.errors import DomainError

FIRING, RESOLVED = "firing", "resolved"
SUMMARY_MAX = 500


class InvalidPayload(DomainError):
    """A body no retry can fix: answered 400 (Alertmanager drops it)."""


@dataclass(frozen=True)
class AlertIn:
    fingerprint: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    generator_url: str


@dataclass(frozen=True)
class PayloadIn:
    group_key: str
    status: str
    receiver: str
    truncated_alerts: int
    group_labels: dict[str, Any]
    common_labels: dict[str, Any]
    common_annotations: dict[str, Any]
    external_url: str
    notification_reason: str
    alerts: list[AlertIn]


@dataclass
class Received:
    """What one payload changed; the hook for correlation (open or join incidents)."""

    payload: AlertPayload
    group: AlertGroup
    new_firing: list[Alert] = field(default_factory=list)  # episodes seen firing for the first time
    resolved: list[Alert] = field(default_factory=list)  # episodes whose resolution this payload recorded
    group_resolved: bool = False  # the group went from firing to resolved
    group_reopened: bool = False  # a resolved group fires again
    repeats: int = 0  # alerts already known, refreshed only
    ignored: int = 0  # late firings older than a recorded resolution


# --- parsing --------------------------------------------------------------------------------------


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidPayload(f"'{name}' must be an object.", details={"field": name})
    return value


def _string(value: Any, name: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidPayload(f"'{name}' must be a non-empty string.", details={"field": name})
    return value


def parse_time(value: Any, name: str) -> datetime | None:
    """RFC 3339; None for a missing value or Go's zero time (``0001-01-01T00:00:00Z``: still firing)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"'{name}' must be an RFC 3339 time.", details={"field": name})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidPayload(f"'{name}' is not an RFC 3339 time: {value[:40]!r}.", details={"field": name}) from None
    if parsed.year <= 1:
        return None
    if parsed.tzinfo is None:
        raise InvalidPayload(f"'{name}' has no time zone.", details={"field": name})
    return parsed


def _fingerprint(labels: dict[str, Any]) -> str:
    # Alertmanager always sends one; a hand-made payload may not. The same labels, the same series.
    canonical = "\x1f".join(f"{k}\x1e{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _alert(raw: Any, index: int) -> AlertIn:
    if not isinstance(raw, dict):
        raise InvalidPayload(f"alerts[{index}] must be an object.", details={"field": f"alerts[{index}]"})
    where = f"alerts[{index}]"
    status = raw.get("status")
    if status not in (FIRING, RESOLVED):
        raise InvalidPayload(f"{where}.status must be 'firing' or 'resolved'.", details={"field": f"{where}.status"})
    labels = _object(raw.get("labels"), f"{where}.labels")
    starts_at = parse_time(raw.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise InvalidPayload(f"{where}.startsAt is required.", details={"field": f"{where}.startsAt"})
    fingerprint = _string(raw.get("fingerprint"), f"{where}.fingerprint") or _fingerprint(labels)
    return AlertIn(
        fingerprint=fingerprint[:255],
        status=status,
        starts_at=starts_at,
        ends_at=parse_time(raw.get("endsAt"), f"{where}.endsAt"),
        labels=labels,
        annotations=_object(raw.get("annotations"), f"{where}.annotations"),
        generator_url=_string(raw.get("generatorURL"), f"{where}.generatorURL"),
    )


def parse_payload(payload: Any) -> PayloadIn:
    """The fields we use, checked; unknown fields are accepted (new ones came in 0.32 and 0.34)."""
    if not isinstance(payload, dict):
        raise InvalidPayload("The body must be a JSON object.")
    version = payload.get("version")
    if version != "4":
        raise InvalidPayload(
            f'Unsupported webhook payload version {version!r}; Alertmanager sends version "4".',
            details={"field": "version", "supported": ["4"]},
        )
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidPayload("'alerts' must be a list.", details={"field": "alerts"})
    truncated = payload.get("truncatedAlerts") or 0
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise InvalidPayload("'truncatedAlerts' must be a non-negative integer.", details={"field": "truncatedAlerts"})
    status = payload.get("status")
    if status not in (FIRING, RESOLVED):
        raise InvalidPayload("'status' must be 'firing' or 'resolved'.", details={"field": "status"})
    return PayloadIn(
        group_key=_string(payload.get("groupKey"), "groupKey", required=True),
        status=status,
        receiver=_string(payload.get("receiver"), "receiver")[:200],
        truncated_alerts=truncated,
        group_labels=_object(payload.get("groupLabels"), "groupLabels"),
        common_labels=_object(payload.get("commonLabels"), "commonLabels"),
        common_annotations=_object(payload.get("commonAnnotations"), "commonAnnotations"),
        external_url=_string(payload.get("externalURL"), "externalURL")[:2000],
        notification_reason=_string(payload.get("notification_reason"), "notification_reason")[:50],
        alerts=[_alert(raw, i) for i, raw in enumerate(alerts)],
    )


# --- receiving ------------------------------------------------------------------------------------


def group_key_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def _locked_group(integration: Integration, data: PayloadIn, now: datetime) -> tuple[AlertGroup, bool]:
    """The group's row, created if new, locked until the transaction ends: deliveries of one group queue here."""
    key_hash = group_key_hash(data.group_key)
    groups = AlertGroup.objects.select_for_update().filter(integration=integration, key_hash=key_hash)
    group = groups.first()
    if group is not None:
        return group, False
    try:
        with transaction.atomic():  # a savepoint: a concurrent delivery may create it first
            group = AlertGroup.objects.create(
                integration=integration, key_hash=key_hash, group_key=data.group_key, first_seen=now, last_seen=now
            )
    except IntegrityError:
        return groups.get(), False  # waits for the other transaction's lock
    return group, True


def _summary(alert: AlertIn, data: PayloadIn) -> str:
    summary = (
        alert.annotations.get("summary")
        or data.common_annotations.get("summary")
        or alert.labels.get("alertname")
        or alert.fingerprint
    )
    return str(summary)[:SUMMARY_MAX]


def _links(alert: AlertIn, data: PayloadIn) -> list[dict[str, str]]:
    links = []
    if alert.generator_url:
        links.append({"href": alert.generator_url, "text": "Source"})
    if runbook := alert.annotations.get("runbook_url"):
        links.append({"href": str(runbook), "text": "Runbook"})
    if data.external_url:
        links.append({"href": data.external_url, "text": "Alertmanager"})
    return links


def _fields(integration: Integration, alert: AlertIn, data: PayloadIn) -> dict[str, Any]:
    source_severity = str(alert.labels.get("severity") or data.common_labels.get("severity") or "")[:50]
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "summary": _summary(alert, data),
        "source_severity": source_severity,
        "severity": integration.severity_for(source_severity),
        "service": integration.service_for(alert.labels),
        "links": _links(alert, data),
    }


def _close_earlier_episodes(integration: Integration, alert: AlertIn, now: datetime, result: Received) -> None:
    """A newer episode of a series means the older ones ended, even if their resolution was never sent."""
    earlier = Alert.objects.select_for_update().filter(
        integration=integration, fingerprint=alert.fingerprint, starts_at__lt=alert.starts_at
    )
    for record in earlier.open():
        record.status = AlertStatus.RESOLVED
        record.ends_at = alert.starts_at
        record.last_seen = max(record.last_seen, now)
        record.save(update_fields=["status", "ends_at", "last_seen"])
        result.resolved.append(record)


def _superseded(integration: Integration, alert: AlertIn) -> bool:
    """A later episode of the series, or a resolution recorded after this one began, is known."""
    series = Alert.objects.filter(integration=integration, fingerprint=alert.fingerprint)
    return series.filter(
        Q(starts_at__gt=alert.starts_at) | Q(status=AlertStatus.RESOLVED, ends_at__gt=alert.starts_at)
    ).exists()


def _create(integration: Integration, group: AlertGroup, **fields: Any) -> Alert | None:
    """The new row, or None when a concurrent delivery created it first (our savepoint rolls back)."""
    try:
        with transaction.atomic():
            return Alert.objects.create(integration=integration, group=group, **fields)
    except IntegrityError:
        return None


def _episode(integration: Integration, alert: AlertIn) -> Alert | None:
    return (
        Alert.objects.select_for_update()
        .filter(integration=integration, fingerprint=alert.fingerprint, starts_at=alert.starts_at)
        .first()
    )


def _receive_firing(integration, group, alert: AlertIn, data: PayloadIn, now, result: Received) -> None:
    record = _episode(integration, alert)
    if record is None:
        if _superseded(integration, alert):
            result.ignored += 1  # a late retry: the series moved on after this episode began
            return
        fields = _fields(integration, alert, data)
        record = _create(
            integration,
            group,
            fingerprint=alert.fingerprint,
            starts_at=alert.starts_at,
            first_seen=now,
            last_seen=now,
            **fields,
        )
        if record is not None:
            result.new_firing.append(record)
            _close_earlier_episodes(integration, alert, now, result)
            return
        record = _episode(integration, alert)
    if record.status == AlertStatus.RESOLVED:
        result.ignored += 1  # a firing notification retried after the resolution was recorded
        return
    # A repeat: refresh what may change while an alert fires, create nothing.
    result.repeats += 1
    record.last_seen = max(record.last_seen, now)
    record.annotations = alert.annotations
    record.summary = _summary(alert, data)
    record.save(update_fields=["last_seen", "annotations", "summary"])


def _receive_resolved(integration, group, alert: AlertIn, data: PayloadIn, now, result: Received) -> None:
    ends_at = alert.ends_at or now
    record = _episode(integration, alert)
    if record is None:
        # Never seen firing (an Alertmanager restart, or the webhook added late): kept closed.
        fields = _fields(integration, alert, data)
        record = _create(
            integration,
            group,
            fingerprint=alert.fingerprint,
            starts_at=alert.starts_at,
            ends_at=ends_at,
            status=AlertStatus.RESOLVED,
            first_seen=now,
            last_seen=now,
            **fields,
        )
        if record is not None:
            _close_earlier_episodes(integration, alert, now, result)
            return
        record = _episode(integration, alert)
    if record.status == AlertStatus.RESOLVED:
        return  # repeating a resolution changes nothing
    record.status = AlertStatus.RESOLVED
    record.ends_at = ends_at
    record.last_seen = max(record.last_seen, now)
    record.annotations = alert.annotations
    record.save(update_fields=["status", "ends_at", "last_seen", "annotations"])
    result.resolved.append(record)


def _resolve_missing(group: AlertGroup, data: PayloadIn, now: datetime, result: Received) -> None:
    """Every notification carries the group's whole state, so an open alert of the group that a payload
    leaves out has resolved (this is also how a ``status: resolved`` payload closes what it left out).
    Only from a payload known complete and not older than the alert: a truncated list
    (``truncatedAlerts > 0``: even its status covers only what was sent), or a late retry of an earlier
    notification (its newest startsAt predates the alert), says nothing about the others."""
    if data.truncated_alerts > 0 or not data.alerts:
        return
    listed = {(a.fingerprint, a.starts_at) for a in data.alerts}
    newest_start = max(a.starts_at for a in data.alerts)
    for record in group.alerts.select_for_update().open().filter(starts_at__lte=newest_start, last_seen__lt=now):
        if (record.fingerprint, record.starts_at) in listed:
            continue
        record.status = AlertStatus.RESOLVED
        record.ends_at = now
        record.save(update_fields=["status", "ends_at"])
        result.resolved.append(record)


def _store_payload(integration: Integration, group: AlertGroup, data: PayloadIn, raw: bytes, now) -> AlertPayload:
    kept = raw[: payload_kept_bytes()]
    return AlertPayload.objects.create(
        integration=integration,
        group=group,
        received_at=now,
        body=kept.decode("utf-8", errors="replace"),
        body_bytes=len(raw),
        body_truncated=len(kept) < len(raw),
        status=data.status,
        notification_reason=data.notification_reason,
        truncated_alerts=data.truncated_alerts,
        alert_count=len(data.alerts),
    )


def receive_alertmanager(
    integration: Integration, payload: Any, *, raw: bytes, now: datetime | None = None
) -> Received:
    """Store one Alertmanager notification and apply it to the group's alerts; see the module docstring.

    Raises InvalidPayload (400) for a payload no retry can fix, before anything is written.
    """
    data = parse_payload(payload)
    now = now or timezone.now()
    with transaction.atomic():
        group, created = _locked_group(integration, data, now)
        result = Received(payload=_store_payload(integration, group, data, raw, now), group=group)
        # Oldest episode of a series first; one order for every delivery also keeps row locks deadlock-free.
        for alert in sorted(data.alerts, key=lambda a: (a.fingerprint, a.starts_at)):
            if alert.status == RESOLVED:
                _receive_resolved(integration, group, alert, data, now, result)
            else:
                _receive_firing(integration, group, alert, data, now, result)
        _resolve_missing(group, data, now, result)
        _update_group(group, data, now, result, created=created)
    return result


def _update_group(group: AlertGroup, data: PayloadIn, now: datetime, result: Received, *, created: bool) -> None:
    group.last_seen = max(group.last_seen, now)
    group.receiver = data.receiver
    group.group_labels = data.group_labels
    group.common_labels = data.common_labels
    group.common_annotations = data.common_annotations
    group.external_url = data.external_url
    still_open = group.alerts.open().exists()
    if group.status == GroupStatus.FIRING and not still_open:
        group.status, group.resolved_at = GroupStatus.RESOLVED, now
        # A group first seen already resolved never fired here: nothing for correlation to close.
        result.group_resolved = not created or bool(result.new_firing)
    elif group.status == GroupStatus.RESOLVED and still_open:
        group.status, group.resolved_at = GroupStatus.FIRING, None
        result.group_reopened = True
    group.save()
