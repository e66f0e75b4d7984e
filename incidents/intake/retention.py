"""Retention of what intake keeps: raw payloads after INTAKE_PAYLOAD_RETENTION_DAYS; resolved alerts, and
resolved groups left empty, after ALERT_RETENTION_DAYS. Deleted in short batches."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from incidents.intake.models import Alert, AlertGroup, AlertPayload, AlertStatus, GroupStatus


def _delete_in_batches(queryset, *, batch_size: int, max_batches: int) -> int:
    deleted = 0
    for _ in range(max_batches):
        batch = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        count, _ = queryset.model.objects.filter(pk__in=batch).delete()
        deleted += count
    return deleted


def delete_old_alert_data(*, now: datetime | None = None, batch_size: int = 1000, max_batches: int = 1000) -> int:
    now = now or timezone.now()
    payload_cutoff = now - timedelta(days=settings.TRACEPOINT["INTAKE_PAYLOAD_RETENTION_DAYS"])
    alert_cutoff = now - timedelta(days=settings.TRACEPOINT["ALERT_RETENTION_DAYS"])
    deleted = _delete_in_batches(
        AlertPayload.objects.filter(received_at__lt=payload_cutoff).order_by("received_at"),
        batch_size=batch_size,
        max_batches=max_batches,
    )
    deleted += _delete_in_batches(
        Alert.objects.filter(status=AlertStatus.RESOLVED, ends_at__lt=alert_cutoff).order_by("ends_at"),
        batch_size=batch_size,
        max_batches=max_batches,
    )
    deleted += _delete_in_batches(
        AlertGroup.objects.filter(status=GroupStatus.RESOLVED, last_seen__lt=alert_cutoff, alerts__isnull=True)
        .exclude(payloads__isnull=False)
        .order_by("last_seen"),
        batch_size=batch_size,
        max_batches=max_batches,
    )
    return deleted
