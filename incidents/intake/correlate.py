"""Correlation of alert groups: a firing group opens its service's incident or joins the open one.

Receiving a payload only queues ``correlate_group`` for each group whose state may have changed.
The task looks at the group's state as it is now, not at what one payload said, so it is
idempotent and order-free: deliveries that arrive late, twice or out of order (HA pairs) converge.
A group with open alerts is an active signal of one incident (incidents.correlation); a group whose
alerts have all resolved clears its signal, and an incident whose signals have all cleared moves on.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter

from django.core.cache import cache
from django.db import transaction
from django.urls import NoReverseMatch, reverse

from incidents import correlation
from incidents.intake.models import Alert, AlertGroup, AlertStatus, IntegrationKind
from incidents.models import Incident, IncidentSignal, SignalKind, SignalStatus, Status
from incidents.services import Actor
from tracepoint.severity import Severity

logger = logging.getLogger("tracepoint.intake")

_NOT_SERVICE = re.compile(r"[^a-z0-9._-]+")
SUMMARY_LINES = 5


def queue(group: AlertGroup, *, urgent: bool = True) -> None:
    """Queue correlation of ``group`` after the current transaction commits (state-based, idempotent).

    ``urgent`` (the group is new, fires again or resolved): at once. Otherwise (more alerts in a group
    already firing, an acknowledgement) at most once per debounce window per group, run at the end of
    the window so it sees every change made meanwhile: a storm's thousands of notifications cost a few
    correlations per group. The window is CORRELATE_DEBOUNCE_SECONDS plus up to as much again, at
    random, so groups that started together do not all correlate at the same instant.
    """
    from incidents.intake.tasks import correlate_group  # a service queueing its own task

    if urgent:
        correlate_group.delay_on_commit(group.pk)
        return
    group_id = group.pk
    transaction.on_commit(lambda: _queue_debounced(correlate_group, group_id))


CORRELATE_DEBOUNCE_SECONDS = 5


def _queue_debounced(task, group_id: int) -> None:
    window = CORRELATE_DEBOUNCE_SECONDS + random.randint(0, CORRELATE_DEBOUNCE_SECONDS)  # noqa: S311 (a spread)
    try:
        first = cache.add(f"intake:correlate:{group_id}", 1, timeout=window)
    except Exception:  # the cache is away: correlate now rather than not at all
        logger.warning("cache unavailable: correlating group %s without debounce", group_id, exc_info=True)
        first = True
        countdown = 0
    else:
        countdown = window
    if first:
        task.apply_async((group_id,), countdown=countdown)


def service_name(value: str) -> str:
    """A label value as a service name incidents accept (lowercase, ``[a-z0-9._-]``)."""
    return _NOT_SERVICE.sub("-", value.strip().lower()).strip("-._")[:100]


def _actor(group: AlertGroup) -> Actor:
    return Actor(label=f"{group.integration.get_kind_display()} “{group.integration.name}”"[:150])


def _title(group: AlertGroup, alerts: list[Alert]) -> str:
    name = str(group.common_labels.get("alertname") or alerts[0].labels.get("alertname") or "")
    if len(alerts) == 1:
        return alerts[0].summary or name or alerts[0].fingerprint
    return f"{name or group.integration.name}: {len(alerts)} alerts firing"


def _summary(group: AlertGroup, alerts: list[Alert]) -> str:
    lines = [f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} firing from {group.integration.name}:"]
    lines += [f"- {alert.summary or alert.fingerprint}" for alert in alerts[:SUMMARY_LINES]]
    if len(alerts) > SUMMARY_LINES:
        lines.append(f"- and {len(alerts) - SUMMARY_LINES} more")
    return "\n".join(lines)


def _url(alert: Alert) -> str:
    try:
        return reverse("alerts:detail", args=[alert.pk])
    except NoReverseMatch:
        return ""


def _service(group: AlertGroup, alerts: list[Alert]) -> str:
    counted = Counter(service_name(alert.service) for alert in alerts if alert.service)
    counted.pop("", None)
    if counted:
        return counted.most_common(1)[0][0]
    return service_name(group.integration.service) or "unknown"


def correlate_group(group_id: int) -> Incident | None:
    """Make the incidents agree with the group's state now; returns the group's open incident, if any."""
    group = AlertGroup.objects.select_related("integration").filter(pk=group_id).first()
    if group is None:
        return None
    alerts = list(group.alerts.open().order_by("starts_at", "pk"))
    if not alerts:
        correlation.resolve_signal(
            SignalKind.ALERT, str(group.pk), by=_actor(group), reason="every alert of the group resolved"
        )
        return None
    if not group.integration.is_active:
        return None
    severity = min((alert.severity for alert in alerts), key=Severity.values.index)
    title = _title(group, alerts)
    incident, opened = correlation.open_or_join(
        correlation.Signal(kind=SignalKind.ALERT, ref=str(group.pk), label=title, url=_url(alerts[0])),
        service=_service(group, alerts),
        title=title,
        severity=severity,
        summary=_summary(group, alerts),
        by=_actor(group),
    )
    if opened:
        logger.info("alert group %s opened incident %s", group.pk, incident.pk)
    if incident.status != Status.OPEN:
        acknowledge_alerts(incident.pk)
    return incident


def acknowledge_alerts(incident_id) -> int:
    """The incident was acknowledged: the Events API v2 alerts of its active signals that were firing when
    it was are acknowledged too.

    Only Events API v2 has an acknowledged state at the source; other senders' alerts stay firing. An
    alert that started after the acknowledgement is news nobody has seen: it stays firing.
    """
    incident = (
        Incident.objects.filter(pk=incident_id, status__in=[Status.ACKNOWLEDGED, Status.MITIGATED])
        .exclude(acknowledged_at__isnull=True)
        .first()
    )
    if incident is None:
        return 0
    refs = IncidentSignal.objects.filter(
        incident=incident, kind=SignalKind.ALERT, status=SignalStatus.ACTIVE
    ).values_list("ref", flat=True)
    group_ids = [int(ref) for ref in refs if ref.isdigit()]
    if not group_ids:
        return 0
    return Alert.objects.filter(
        group_id__in=group_ids,
        integration__kind=IntegrationKind.EVENTS_V2,
        status=AlertStatus.FIRING,
        starts_at__lte=incident.acknowledged_at,
    ).update(status=AlertStatus.ACKNOWLEDGED)
