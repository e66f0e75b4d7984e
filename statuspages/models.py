"""Status pages: components (driven by monitors), incidents shown publicly with their updates,
maintenance windows and subscribers. Field names follow shared/specs/statuspage-v2.md where the
public JSON exposes them; every public object has a stable 12-character ``public_id``."""

from __future__ import annotations

import secrets
import string
from zoneinfo import available_timezones

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from statuspages import logos
from tracepoint import outbound
from tracepoint.severity import Severity

_ALPHABET = string.ascii_lowercase + string.digits


def new_public_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Paris' or 'Etc/UTC').")


slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use lowercase letters, digits and '-', starting and ending with a letter or digit.",
)


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED = "degraded_performance", "Degraded performance"
    PARTIAL = "partial_outage", "Partial outage"
    MAJOR = "major_outage", "Major outage"
    MAINTENANCE = "under_maintenance", "Under maintenance"


class PublicStatus(models.TextChoices):
    """A published incident's status (DESIGN.md: it follows the operator status)."""

    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
    POSTMORTEM = "postmortem", "Postmortem"


class Impact(models.TextChoices):
    NONE = "none", "None"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"
    MAINTENANCE = "maintenance", "Maintenance"


# DESIGN.md: impact follows severity.
IMPACT_OF_SEVERITY = {
    Severity.SEV1: Impact.CRITICAL,
    Severity.SEV2: Impact.MAJOR,
    Severity.SEV3: Impact.MINOR,
    Severity.SEV4: Impact.NONE,
}


class MaintenanceStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    VERIFYING = "verifying", "Verifying"
    COMPLETED = "completed", "Completed"


class StatusPage(models.Model):
    public_id = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    # An uploaded image (statuspages.logos), served by statuspages.public.logo with its stored type.
    logo = models.FileField(blank=True, max_length=200, editable=False)
    logo_content_type = models.CharField(max_length=32, blank=True, editable=False)
    # Before uploads: an external image, still shown when the page has no uploaded logo.
    logo_url = models.URLField(
        blank=True, max_length=500, help_text="An external image, shown in the header when no logo is uploaded."
    )
    time_zone = models.CharField(max_length=64, default="Etc/UTC", validators=[validate_time_zone])
    is_public = models.BooleanField(default=True, help_text="Private pages need a login or the page's password.")
    password = models.CharField(max_length=128, blank=True, help_text="A hash (set_password), never the password.")
    # [{"label": "Support", "url": "https://…"}], at most 10.
    footer_links = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Bumped by every change that shows on the page: the cache key and ETag of its outputs.
    version = models.PositiveBigIntegerField(default=1)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def logo_token(self) -> str:
        """The uploaded logo's part of its URL (statuspages-public:logo); '' without one."""
        return logos.token_of(self.logo.name)

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw) if raw else ""

    def check_password(self, raw: str) -> bool:
        return bool(self.password) and check_password(raw, self.password)


class ComponentGroup(models.Model):
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="groups")
    public_id = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Component(models.Model):
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="components")
    group = models.ForeignKey(
        ComponentGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="components"
    )
    public_id = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    position = models.PositiveIntegerField(default=0)
    # The status shown: the override when set, else maintenance, else the worst of the monitors.
    status = models.CharField(max_length=24, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL)
    status_override = models.CharField(max_length=24, choices=ComponentStatus.choices, blank=True)
    monitors = models.ManyToManyField("monitors.Monitor", blank=True, related_name="components")
    showcase = models.BooleanField(default=True, help_text="Show the 90-day uptime bars.")
    only_show_if_degraded = models.BooleanField(default=False)
    start_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class PageIncident(models.Model):
    """An operator incident shown on a page. A monitor that opens an incident links it (unpublished)
    to the pages its components are on; an operator publishes it."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="page_incidents")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="page_links")
    public_id = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200, blank=True, help_text="The public title; the incident's when blank.")
    components = models.ManyToManyField(Component, blank=True, related_name="page_incidents")
    impact_override = models.CharField(max_length=12, choices=Impact.choices, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["page", "incident"], name="page_incident_once")]

    def __str__(self) -> str:
        return self.public_name

    @property
    def public_name(self) -> str:
        return self.name or self.incident.title

    @property
    def impact(self) -> str:
        return self.impact_override or IMPACT_OF_SEVERITY.get(self.incident.severity, Impact.NONE)


class Maintenance(models.Model):
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="maintenances")
    public_id = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True, max_length=10_000, help_text="Markdown.")
    components = models.ManyToManyField(Component, blank=True, related_name="maintenances")
    scheduled_for = models.DateTimeField()
    scheduled_until = models.DateTimeField()
    status = models.CharField(max_length=12, choices=MaintenanceStatus.choices, default=MaintenanceStatus.SCHEDULED)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        indexes = [models.Index(fields=["status", "scheduled_for"], name="maintenance_due_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(scheduled_until__gt=models.F("scheduled_for")), name="maintenance_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)


class PublicUpdate(models.Model):
    """One entry of the public timeline of a published incident or of a maintenance."""

    page_incident = models.ForeignKey(
        PageIncident, null=True, blank=True, on_delete=models.CASCADE, related_name="updates"
    )
    maintenance = models.ForeignKey(
        Maintenance, null=True, blank=True, on_delete=models.CASCADE, related_name="updates"
    )
    public_id = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    status = models.CharField(max_length=16)
    body = models.TextField(max_length=10_000, help_text="Markdown.")
    display_at = models.DateTimeField(default=timezone.now)
    # [{"code": component public id, "name", "old_status", "new_status"}] as the spec has it.
    affected_components = models.JSONField(default=list, blank=True)
    deliver_notifications = models.BooleanField(default=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-display_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(page_incident__isnull=False, maintenance__isnull=True)
                | Q(page_incident__isnull=True, maintenance__isnull=False),
                name="update_of_one_thing",
            )
        ]

    def __str__(self) -> str:
        return f"{self.status}: {self.body[:40]}"


class Subscriber(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="subscribers")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    email = models.EmailField(blank=True)
    url = models.URLField(blank=True, max_length=500)
    # Only these components' news (none: everything on the page).
    components = models.ManyToManyField(Component, blank=True, related_name="subscribers")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "email"], condition=Q(kind="email"), name="subscriber_email_once_per_page"
            ),
            models.UniqueConstraint(fields=["page", "url"], condition=Q(kind="webhook"), name="subscriber_url_once"),
        ]

    def __str__(self) -> str:
        return self.email or self.url

    @staticmethod
    def validate_webhook_url(url: str) -> None:
        """An http(s) URL whose host is not, and does not resolve to, an address webhooks may not reach."""
        URLValidator(schemes=["http", "https"], message="Enter an http or https URL.")(url)
        try:
            outbound.validate_url(url)
        except outbound.TargetRefused as exc:
            raise ValidationError(f"{exc}; webhooks may not reach it (ALLOW_PRIVATE_TARGETS).") from None

    def clean(self) -> None:
        if self.kind == self.Kind.WEBHOOK and self.url:
            try:
                self.validate_webhook_url(self.url)
            except ValidationError as exc:
                raise ValidationError({"url": exc.messages}) from None
