from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import service_validator
from tracepoint.severity import Severity


class IntegrationKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana"
    EVENTS_V2 = "events_v2", "Events API v2"
    GENERIC = "generic", "Generic JSON"


def default_severity_mapping() -> dict[str, str]:
    """Source severity (lowercased) → SEV; ``default`` is used for anything else."""
    return {
        "critical": Severity.SEV2,
        "error": Severity.SEV2,
        "warning": Severity.SEV3,
        "info": Severity.SEV4,
        "default": Severity.SEV3,
    }


class Integration(models.Model):
    kind = models.CharField(max_length=20, choices=IntegrationKind.choices)
    name = models.CharField(max_length=100)
    # The service it reports for; when blank, the alert's ``service_label`` names it.
    service = models.CharField(max_length=100, blank=True, validators=[service_validator])
    service_label = models.CharField(max_length=100, blank=True, default="service")
    severity_mapping = models.JSONField(default=default_severity_mapping)
    # The token is shown once; only its public prefix (to find the row) and its sha256 are kept.
    token_prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    token_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=IntegrationKind.values), name="intake_integration_kind_valid"),
            models.CheckConstraint(condition=~Q(service="", service_label=""), name="intake_integration_names_service"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def severity_for(self, source_severity: str | None) -> str:
        """The mapping's SEV for ``source_severity``; a sender that already speaks SEV1 to SEV4 is taken at its
        word unless the mapping says otherwise; anything else takes the mapping's ``default``."""
        mapping = {str(k).lower(): v for k, v in (self.severity_mapping or {}).items()}
        given = (source_severity or "").strip()
        found = mapping.get(given.lower())
        if found is None and given.upper() in Severity.values:
            found = given.upper()
        found = found or mapping.get("default")
        return found if found in Severity.values else Severity.SEV3

    def service_for(self, labels: dict) -> str:
        if self.service:
            return self.service
        value = labels.get(self.service_label) if self.service_label else None
        return str(value)[:100] if value else ""


class GroupStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class AlertGroup(models.Model):
    """Alerts a sender batches together: Alertmanager's ``groupKey``, or a dedup key."""

    # db_index=False where a composite index or unique constraint leads with the column already.
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="groups", db_index=False)
    key_hash = models.CharField(max_length=64)  # sha256 of group_key: the key itself can be long
    group_key = models.TextField()
    status = models.CharField(max_length=10, choices=GroupStatus.choices, default=GroupStatus.FIRING)
    # The sender's words for the whole group, latest delivery: Grafana's rendered title and message,
    # Alertmanager's common summary and description, an Events API v2 or generic alert's summary.
    title = models.CharField(max_length=500, blank=True)
    message = models.TextField(blank=True)
    receiver = models.CharField(max_length=200, blank=True)
    group_labels = models.JSONField(default=dict, blank=True)
    common_labels = models.JSONField(default=dict, blank=True)
    common_annotations = models.JSONField(default=dict, blank=True)
    external_url = models.URLField(max_length=2000, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "key_hash"], name="intake_group_key_unique"),
            models.CheckConstraint(condition=Q(status__in=GroupStatus.values), name="intake_group_status_valid"),
            models.CheckConstraint(
                condition=Q(status=GroupStatus.RESOLVED, resolved_at__isnull=False)
                | (~Q(status=GroupStatus.RESOLVED) & Q(resolved_at__isnull=True)),
                name="intake_group_resolved_at_iff_resolved",
            ),
        ]
        indexes = [
            models.Index(fields=["integration", "status", "-last_seen"], name="intake_group_integ_status_idx"),
            models.Index(fields=["-last_seen"], name="intake_group_last_seen_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.group_key[:80]} ({self.status})"


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class AlertQuerySet(models.QuerySet):
    def open(self) -> AlertQuerySet:
        return self.exclude(status=AlertStatus.RESOLVED)


class Alert(models.Model):
    """One episode of one alert series: (fingerprint or dedup key, starts_at) within an integration."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="alerts", db_index=False)
    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(max_length=255)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    service = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    source_severity = models.CharField(max_length=50, blank=True)
    severity = models.CharField(max_length=4, choices=Severity.choices, default=Severity.SEV3)
    links = models.JSONField(default=list, blank=True)  # [{"href", "text"}]
    # What a sender adds beyond labels and annotations: Grafana's values/valueString, an Events API v2
    # event's custom_details, images, client and timestamp.
    details = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    objects = AlertQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "fingerprint", "starts_at"], name="intake_alert_episode_unique"
            ),
            models.CheckConstraint(condition=Q(status__in=AlertStatus.values), name="intake_alert_status_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="intake_alert_severity_valid"),
            models.CheckConstraint(
                condition=Q(status=AlertStatus.RESOLVED, ends_at__isnull=False)
                | (~Q(status=AlertStatus.RESOLVED) & Q(ends_at__isnull=True)),
                name="intake_alert_ends_at_iff_resolved",
            ),
        ]
        indexes = [
            # "Does this group still have an open alert?" after every payload.
            models.Index(fields=["group"], condition=~Q(status="resolved"), name="intake_alert_open_group_idx"),
            models.Index(fields=["integration", "status", "-last_seen"], name="intake_alert_integ_status_idx"),
            models.Index(fields=["service", "status", "-last_seen"], name="intake_alert_svc_status_idx"),
            models.Index(fields=["status", "-last_seen"], name="intake_alert_status_seen_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.summary or self.fingerprint} [{self.status}] since {self.starts_at:%Y-%m-%d %H:%M:%S}"


class AlertPayload(models.Model):
    """One delivery as received, for audit: the raw body up to INTAKE_PAYLOAD_KEPT_BYTES."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="payloads", db_index=False)
    group = models.ForeignKey(
        AlertGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="payloads", db_index=False
    )
    received_at = models.DateTimeField(default=timezone.now)
    body = models.TextField(blank=True)
    body_bytes = models.PositiveIntegerField(default=0)  # the size received, before truncation
    body_truncated = models.BooleanField(default=False)
    # The payload's own status (firing/resolved), an Events API v2 event_action (trigger, acknowledge,
    # resolve) or "change" for a change event.
    status = models.CharField(max_length=20, blank=True)
    notification_reason = models.CharField(max_length=50, blank=True)
    truncated_alerts = models.PositiveIntegerField(default=0)
    alert_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["integration", "-received_at"], name="intake_payload_integ_recv_idx"),
            models.Index(fields=["group", "-received_at"], name="intake_payload_group_recv_idx"),
            models.Index(fields=["received_at"], name="intake_payload_received_idx"),  # retention
        ]

    def __str__(self) -> str:
        return f"payload {self.pk} of {self.integration_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"
