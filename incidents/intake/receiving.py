"""What every receiver shares: the group's row lock, the audit copy of a payload, episode rows created
once under concurrency, the group's firing/resolved state, and handing changed groups to correlation.

Two families build on it: Alertmanager-style notifications that carry a group's whole state
(``alertmanager``, ``grafana``) and keyed events that change one alert at a time (``events_v2``,
``generic``).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from incidents.intake import correlate, sql
from incidents.intake.limits import payload_kept_bytes
from incidents.intake.models import Alert, AlertGroup, AlertPayload, GroupStatus, Integration
from tracepoint.errors import DomainError

SUMMARY_MAX = 500
PAYLOAD_COLUMNS = [
    "integration", "group", "received_at", "body", "body_bytes", "body_truncated", "status", "notification_reason",
    "truncated_alerts", "alert_count",
]  # fmt: skip
GROUP_QUERY = "SELECT * FROM intake_alertgroup WHERE integration_id = %s AND key_hash = %s"
# What receiving changes on a group (its key, integration and first_seen never change).
GROUP_STATE = [
    "status", "receiver", "group_labels", "common_labels", "common_annotations", "external_url", "title", "message",
    "last_seen", "resolved_at",
]  # fmt: skip


class InvalidPayload(DomainError):
    """A body no retry can fix: answered 400 (senders drop it)."""


@dataclass
class Received:
    """What one payload changed; the hook for correlation (open or join incidents)."""

    payload: AlertPayload
    group: AlertGroup | None
    dedup_key: str = ""  # keyed events (Events API v2, generic): the key the alert is known by
    new_firing: list[Alert] = field(default_factory=list)  # episodes seen firing for the first time
    resolved: list[Alert] = field(default_factory=list)  # episodes whose resolution this payload recorded
    acknowledged: list[Alert] = field(default_factory=list)  # episodes acknowledged by this payload
    group_resolved: bool = False  # the group went from firing to resolved
    group_reopened: bool = False  # a resolved group fires again
    repeats: int = 0  # alerts already known, refreshed only
    ignored: int = 0  # late firings older than a recorded resolution, or events about unknown alerts


def group_key_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def locked_group(integration: Integration, group_key: str, now: datetime) -> tuple[AlertGroup, bool]:
    """The group's row, created if new, locked until the transaction ends: deliveries of one group queue here."""
    key_hash = group_key_hash(group_key)
    groups = AlertGroup.objects.select_for_update().filter(integration=integration, key_hash=key_hash)
    query = GROUP_QUERY + sql.for_update()
    found = list(AlertGroup.objects.raw(query, [integration.pk, key_hash]))
    if found:
        return found[0], False
    try:
        with transaction.atomic():  # a savepoint: a concurrent delivery may create it first
            group = AlertGroup.objects.create(
                integration=integration, key_hash=key_hash, group_key=group_key, first_seen=now, last_seen=now
            )
    except IntegrityError:
        return groups.get(), False  # waits for the other transaction's lock
    return group, True


def existing_locked_group(integration: Integration, group_key: str) -> AlertGroup | None:
    return (
        AlertGroup.objects.select_for_update()
        .filter(integration=integration, key_hash=group_key_hash(group_key))
        .first()
    )


def create_alert(integration: Integration, group: AlertGroup, **fields: Any) -> Alert | None:
    """The new row, or None when a concurrent delivery created it first (our savepoint rolls back)."""
    try:
        with transaction.atomic():
            return Alert.objects.create(integration=integration, group=group, **fields)
    except IntegrityError:
        return None


_ROUTING_KEY_FIELD = re.compile(rb'"routing_key"\s*:\s*"(?:[^"\\]|\\.)*"')


def store_payload(
    integration: Integration,
    group: AlertGroup | None,
    raw: bytes,
    now: datetime,
    *,
    status: str,
    notification_reason: str = "",
    truncated_alerts: int = 0,
    alert_count: int = 0,
) -> AlertPayload:
    """The delivery as received, up to INTAKE_PAYLOAD_KEPT_BYTES of it, for audit; a routing key in
    it (the Events API v2 credential) is blanked first: whoever reads payloads must not be able to send."""
    size, raw = len(raw), _ROUTING_KEY_FIELD.sub(rb'"routing_key": "<redacted>"', raw)
    kept = raw[: payload_kept_bytes()]
    payload = AlertPayload(
        integration=integration,
        group=group,
        received_at=now,
        body=kept.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        body_bytes=size,
        body_truncated=len(kept) < len(raw),
        status=status[:20],
        notification_reason=notification_reason[:50],
        truncated_alerts=truncated_alerts,
        alert_count=alert_count,
    )
    sql.insert(AlertPayload, [payload], PAYLOAD_COLUMNS)
    return payload


def settle_group(
    group: AlertGroup, now: datetime, result: Received, *, created: bool, still_open: bool | None = None
) -> None:
    """The group is firing while one of its alerts is open (firing or acknowledged), resolved otherwise.
    Saves the group (callers set their own fields on it first). ``still_open``: when the caller knows."""
    group.last_seen = max(group.last_seen, now)
    if still_open is None:
        still_open = group.alerts.open().exists()
    if group.status == GroupStatus.FIRING and not still_open:
        group.status, group.resolved_at = GroupStatus.RESOLVED, now
        # A group first seen already resolved never fired here: nothing for correlation to close.
        result.group_resolved = not created or bool(result.new_firing)
    elif group.status == GroupStatus.RESOLVED and still_open:
        group.status, group.resolved_at = GroupStatus.FIRING, None
        result.group_reopened = True
    sql.update(AlertGroup, [group.pk], {name: getattr(group, name) for name in GROUP_STATE})


def finish(result: Received, *, now: datetime) -> None:
    """Settle every other group whose alerts this payload changed, then hand each changed group to
    correlation (``correlate.queue`` acts after commit). Called last, inside the receiving transaction.

    An alert of another group can change too: a newer episode closes the older ones of its series
    wherever they were grouped, and that group may have nothing open left."""
    changed: dict[int, AlertGroup] = {}
    if result.group is not None and (
        result.new_firing or result.resolved or result.acknowledged or result.group_resolved or result.group_reopened
    ):
        changed[result.group.pk] = result.group
    touched = {alert.group_id for alert in (*result.new_firing, *result.resolved, *result.acknowledged)}
    others = sorted(touched - {result.group.pk if result.group is not None else None})
    # Rare (one series routed into two groups). A delivery of the other group doing the same at the same
    # moment is a deadlock that PostgreSQL breaks by rolling one back: a 503, retried by the view and the sender.
    for group in AlertGroup.objects.select_for_update().filter(pk__in=others).order_by("pk") if others else ():
        settle_group(group, now, Received(payload=result.payload, group=group), created=False)
        changed[group.pk] = group
    for group in changed.values():
        # New, firing again or resolved: the incident changes now; more of the same can wait a little.
        urgent = (
            group is not result.group
            or result.group_resolved
            or result.group_reopened
            or group.first_seen == group.last_seen
        )
        correlate.queue(group, urgent=urgent)


_SURROGATES = re.compile(r"[\ud800-\udfff]")
MAX_JSON_DEPTH = 32


def _clean_text(value: str) -> str:
    return _SURROGATES.sub("\ufffd", value.replace("\x00", "\ufffd"))


def clean_json(value: Any, depth: int = 0) -> Any:
    """Parsed JSON that both databases store: no NUL or lone surrogate in text (PostgreSQL refuses them,
    a 500 that senders would retry forever), no NaN or Infinity, bounded depth."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int) or value is None:
        return value
    if depth >= MAX_JSON_DEPTH:
        return None
    if isinstance(value, dict):
        return {_clean_text(str(key)): clean_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_json(item, depth + 1) for item in value]
    return _clean_text(str(value))
