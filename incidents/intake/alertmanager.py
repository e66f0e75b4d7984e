"""Prometheus Alertmanager webhook payloads (version "4", shared/specs/alertmanager-webhook.md), and the
receiver of every sender that speaks its shape (Grafana, ``incidents.intake.grafana``).

Every notification carries the whole current state of its group, so receiving is idempotent:
an alert episode is the row keyed by (integration, fingerprint, startsAt). Concurrent deliveries
of one group (HA pairs) queue on the group's row lock; a unique constraint backs that up for an
alert routed into two groups at once. Nothing here opens incidents: ``receive_notification``
returns what changed and queues correlation for the groups it changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from incidents.intake import sql
from incidents.intake.models import Alert, AlertGroup, AlertStatus, Integration
from incidents.intake.receiving import (
    SUMMARY_MAX,
    InvalidPayload,
    Received,
    create_alert,
    finish,
    group_key_hash,
    locked_group,
    settle_group,
    store_payload,
)

__all__ = ["InvalidPayload", "Received", "group_key_hash", "parse_payload", "receive_alertmanager"]

FIRING, RESOLVED = "firing", "resolved"
ALERT_COLUMNS = [
    "integration", "group", "fingerprint", "starts_at", "ends_at", "status", "service", "labels", "annotations",
    "summary", "source_severity", "severity", "links", "details", "first_seen", "last_seen",
]  # fmt: skip
# The rows a payload's decisions look at: its series' episodes from the oldest start it lists, the open
# ones, and resolutions recorded after that start. And the group's open alerts.
SERIES_QUERY = (
    "SELECT * FROM intake_alert WHERE integration_id = %s AND fingerprint IN ({})"
    " AND (starts_at >= %s OR status <> %s OR ends_at > %s) ORDER BY fingerprint, starts_at, id"
)
OPEN_IN_GROUP_QUERY = (
    "SELECT id, group_id, fingerprint, starts_at, last_seen FROM intake_alert WHERE group_id = %s AND status <> %s"
)


@dataclass(frozen=True)
class AlertIn:
    fingerprint: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    generator_url: str
    links: list[dict[str, str]] = field(default_factory=list)  # a dialect's own links (Grafana's dashboard…)
    details: dict[str, Any] = field(default_factory=dict)  # a dialect's extras (Grafana's values…)


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
    sender: str = "Alertmanager"  # names the externalURL link
    title: str = ""
    message: str = ""


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


def parse_payload(payload: Any, *, version: str = "4", sender: str = "Alertmanager") -> PayloadIn:
    """The fields we use, checked; unknown fields are accepted (new ones came in 0.32 and 0.34).
    ``version`` and ``sender``: a dialect's (Grafana sends the same shape as version "1")."""
    if not isinstance(payload, dict):
        raise InvalidPayload("The body must be a JSON object.")
    found = payload.get("version")
    if found != version:
        raise InvalidPayload(
            f'Unsupported webhook payload version {found!r}; {sender} sends version "{version}".',
            details={"field": "version", "supported": [version]},
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
        sender=sender,
    )


# --- receiving ------------------------------------------------------------------------------------


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
    links.extend(alert.links)
    if data.external_url:
        links.append({"href": data.external_url, "text": data.sender})
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
        "details": alert.details,
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
        record = create_alert(
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
    # A repeat: refresh what may change while an alert fires (Grafana's values too), create nothing.
    result.repeats += 1
    record.last_seen = max(record.last_seen, now)
    record.annotations = alert.annotations
    record.summary = _summary(alert, data)
    record.details = alert.details
    record.links = _links(alert, data)
    record.save(update_fields=["last_seen", "annotations", "summary", "details", "links"])


def _receive_resolved(integration, group, alert: AlertIn, data: PayloadIn, now, result: Received) -> None:
    ends_at = alert.ends_at or now
    record = _episode(integration, alert)
    if record is None:
        # Never seen firing (an Alertmanager restart, or the webhook added late): kept closed.
        fields = _fields(integration, alert, data)
        record = create_alert(
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


def _receive_batch(integration, group, alerts: list[AlertIn], data: PayloadIn, now, result: Received) -> bool:
    """The whole payload in a handful of queries (one read of the series, one insert, one update).

    The same decisions as ``_receive_firing``/``_receive_resolved`` made per alert, taken in memory over
    the series' rows read and locked at once. False (nothing written) when a unique conflict shows a
    concurrent delivery of another group creating the same episode: the per-alert path handles that.
    """
    if not alerts:
        return True
    oldest = alerts[0].starts_at if len(alerts) == 1 else min(a.starts_at for a in alerts)
    # Every row a decision can look at: episodes starting from the oldest listed start, open ones, and
    # resolutions recorded after it.
    fingerprints = sorted({a.fingerprint for a in alerts})
    when = sql.prep(Alert, "starts_at", oldest)
    query = SERIES_QUERY.format(sql.placeholders(len(fingerprints))) + sql.for_update()
    rows = list(Alert.objects.raw(query, [integration.pk, *fingerprints, when, AlertStatus.RESOLVED, when]))
    series: dict[str, list[Alert]] = {}
    for row in rows:
        series.setdefault(row.fingerprint, []).append(row)
    batch = Received(payload=result.payload, group=group)
    created: list[Alert] = []
    changed: dict[int, Alert] = {}  # existing rows whose status, end or last_seen moves
    contents: dict[int, dict[str, Any]] = {}  # existing rows whose content changed: field -> value

    for alert in alerts:
        episodes = series.setdefault(alert.fingerprint, [])
        record = next((row for row in episodes if row.starts_at == alert.starts_at), None)
        if record is None:
            resolved = alert.status == RESOLVED
            if not resolved and any(
                row.starts_at > alert.starts_at
                or (row.status == AlertStatus.RESOLVED and row.ends_at and row.ends_at > alert.starts_at)
                for row in episodes
            ):
                batch.ignored += 1  # a late retry: the series moved on after this episode began
                continue
            record = Alert(
                integration=integration,
                group=group,
                fingerprint=alert.fingerprint,
                starts_at=alert.starts_at,
                first_seen=now,
                last_seen=now,
                **_fields(integration, alert, data),
            )
            if resolved:
                record.status, record.ends_at = AlertStatus.RESOLVED, alert.ends_at or now
            else:
                batch.new_firing.append(record)
            created.append(record)
            for row in episodes:  # a newer episode closes the older open ones of its series
                if row.starts_at < alert.starts_at and row.status != AlertStatus.RESOLVED:
                    row.status, row.ends_at, row.last_seen = (
                        AlertStatus.RESOLVED,
                        alert.starts_at,
                        max(row.last_seen, now),
                    )
                    if row.pk:
                        changed[row.pk] = row
                    batch.resolved.append(row)
            episodes.append(record)
            continue
        if record.status == AlertStatus.RESOLVED:
            if alert.status != RESOLVED:
                batch.ignored += 1  # a firing notification retried after the resolution was recorded
            continue
        record.last_seen = max(record.last_seen, now)
        content = {"annotations": alert.annotations}
        if alert.status == RESOLVED:
            record.status, record.ends_at = AlertStatus.RESOLVED, alert.ends_at or now
            batch.resolved.append(record)
        else:
            batch.repeats += 1  # refresh what may change while an alert fires, create nothing
            content |= {"summary": _summary(alert, data), "details": alert.details, "links": _links(alert, data)}
        if record.pk:
            changed[record.pk] = record
            edited = {name: value for name, value in content.items() if getattr(record, name) != value}
            if edited:
                contents[record.pk] = edited
        for name, value in content.items():
            setattr(record, name, value)

    try:
        with transaction.atomic():
            sql.insert(Alert, created, ALERT_COLUMNS)
    except IntegrityError:
        return False
    # Rows that change the same way share one UPDATE (a storm's repeats and resolutions mostly do); the
    # rare content edits (new annotations, values…) are one UPDATE per row.
    alike: dict[tuple, list[int]] = {}
    for pk, row in changed.items():
        alike.setdefault((row.status, row.ends_at, row.last_seen), []).append(pk)
    for (status, ends_at, last_seen), pks in alike.items():
        sql.update(Alert, pks, {"status": status, "ends_at": ends_at, "last_seen": last_seen})
    for pk, edited in contents.items():
        Alert.objects.filter(pk=pk).update(**edited)
    result.new_firing += batch.new_firing
    result.resolved += batch.resolved
    result.repeats += batch.repeats
    result.ignored += batch.ignored
    return True


def _resolve_missing(group: AlertGroup, data: PayloadIn, now: datetime, result: Received) -> bool | None:
    """Every notification carries the group's whole state, so an open alert of the group that a payload
    leaves out has resolved (this is also how a ``status: resolved`` payload closes what it left out).
    Only from a payload known complete and not older than the alert: a truncated list
    (``truncatedAlerts > 0``: even its status covers only what was sent), or a late retry of an earlier
    notification (its newest startsAt predates the alert), says nothing about the others.

    Returns whether the group still has an open alert afterwards (None: not looked at)."""
    if data.truncated_alerts > 0 or not data.alerts:
        return None
    listed = {(a.fingerprint, a.starts_at) for a in data.alerts}
    newest_start = max(a.starts_at for a in data.alerts)
    query = OPEN_IN_GROUP_QUERY + sql.for_update()
    still_open = list(Alert.objects.raw(query, [group.pk, AlertStatus.RESOLVED]))
    missing = [
        record
        for record in still_open
        if record.starts_at <= newest_start
        and record.last_seen < now
        and (record.fingerprint, record.starts_at) not in listed
    ]
    if missing:
        sql.update(Alert, [record.pk for record in missing], {"status": AlertStatus.RESOLVED, "ends_at": now})
        for record in missing:
            record.status, record.ends_at = AlertStatus.RESOLVED, now
        result.resolved.extend(missing)
    return len(still_open) > len(missing)


def receive_alertmanager(
    integration: Integration, payload: Any, *, raw: bytes, now: datetime | None = None
) -> Received:
    """Store one Alertmanager notification and apply it to the group's alerts; see the module docstring.

    Raises InvalidPayload (400) for a payload no retry can fix, before anything is written.
    """
    return receive_notification(integration, parse_payload(payload), raw=raw, now=now)


def receive_notification(
    integration: Integration, data: PayloadIn, *, raw: bytes, now: datetime | None = None
) -> Received:
    """Apply one parsed notification (Alertmanager's, or a dialect's) and keep it for audit."""
    now = now or timezone.now()
    with transaction.atomic():
        group, created = locked_group(integration, data.group_key, now)
        payload = store_payload(
            integration,
            group,
            raw,
            now,
            status=data.status,
            notification_reason=data.notification_reason,
            truncated_alerts=data.truncated_alerts,
            alert_count=len(data.alerts),
        )
        result = Received(payload=payload, group=group)
        # Oldest episode of a series first; one order for every delivery also keeps row locks deadlock-free.
        alerts = sorted(data.alerts, key=lambda a: (a.fingerprint, a.starts_at))
        if not _receive_batch(integration, group, alerts, data, now, result):
            for alert in alerts:
                if alert.status == RESOLVED:
                    _receive_resolved(integration, group, alert, data, now, result)
                else:
                    _receive_firing(integration, group, alert, data, now, result)
        still_open = _resolve_missing(group, data, now, result)
        _update_group(group, data, now, result, created=created, still_open=still_open)
        finish(result, now=now)
    return result


def _update_group(
    group: AlertGroup, data: PayloadIn, now: datetime, result: Received, *, created: bool, still_open: bool | None
) -> None:
    group.receiver = data.receiver
    group.group_labels = data.group_labels
    group.common_labels = data.common_labels
    group.common_annotations = data.common_annotations
    group.external_url = data.external_url
    title = data.title or data.common_annotations.get("summary") or data.common_labels.get("alertname") or ""
    group.title = str(title)[:SUMMARY_MAX]
    group.message = str(data.message or data.common_annotations.get("description") or "")
    settle_group(group, now, result, created=created, still_open=still_open)
