from __future__ import annotations

import re
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tracepoint import outbound
from tracepoint.notifications import apprise_channel
from tracepoint.notifications import topics as topic_names
from tracepoint.severity import Severity

_RECIPIENT_SPLIT_RE = re.compile(r"[,\n\r]+")


def severity_rank(severity: str) -> int:
    """1 for SEV1 (most severe) … 4 for SEV4; ValueError for anything else."""
    if severity not in Severity.values:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(Severity.values)}")
    return Severity.values.index(severity) + 1


def split_recipients(text: str) -> list[str]:
    return [part.strip() for part in _RECIPIENT_SPLIT_RE.split(text or "") if part.strip()]


def generate_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class NotificationChannel(models.Model):
    """Where notifications go: an email list, a signed webhook, or an apprise URL (Slack, Teams, ntfy…)."""

    class Kind(models.TextChoices):
        EMAIL = "EMAIL", "Email"
        WEBHOOK = "WEBHOOK", "Webhook"
        APPRISE = "APPRISE", "Chat or push (apprise)"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    email_recipients = models.TextField(
        blank=True, help_text="Email channels: addresses separated by commas or new lines."
    )
    webhook_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Webhook channels: an http(s) URL that receives a signed JSON POST.",
    )
    webhook_secret = models.CharField(
        max_length=128,
        blank=True,
        help_text="Key of the X-Tracepoint-Signature HMAC-SHA256. Leave blank to generate one.",
    )
    # A secret (it holds the service's tokens): shown back only as apprise_url_redacted.
    apprise_url = models.TextField(
        blank=True,
        help_text="Apprise channels: the service's apprise URL, such as slack://TokenA/TokenB/TokenC "
        "or ntfys://ntfy.sh/topic.",
    )
    apprise_url_redacted = models.CharField(max_length=1000, blank=True, editable=False)
    apprise_service = models.CharField(max_length=100, blank=True, editable=False)
    topics = models.JSONField(
        default=list,
        blank=True,
        help_text="Topics to send, such as incident.created or incident.*; empty means all topics.",
    )
    min_severity = models.CharField(
        max_length=8,
        choices=Severity.choices,
        blank=True,
        help_text="Only notifications at least this severe (SEV1 is the most severe); "
        "notifications without a severity always go.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def save(self, *args, **kwargs) -> None:
        derived = set()
        if self.kind == self.Kind.WEBHOOK and not self.webhook_secret:
            self.webhook_secret = generate_webhook_secret()
            derived.add("webhook_secret")
        if self.kind == self.Kind.APPRISE and self.apprise_url:
            self.apprise_url_redacted, self.apprise_service = apprise_channel.describe(self.apprise_url)
            derived |= {"apprise_url_redacted", "apprise_service"}
        elif self.kind != self.Kind.APPRISE and self.apprise_url:
            # A channel that stopped being an apprise channel keeps no secret it no longer needs.
            self.apprise_url = self.apprise_url_redacted = self.apprise_service = ""
            derived |= {"apprise_url", "apprise_url_redacted", "apprise_service"}
        if derived and kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], *derived}
        super().save(*args, **kwargs)

    @property
    def recipients(self) -> list[str]:
        return split_recipients(self.email_recipients)

    @property
    def target(self) -> str:
        """Where it sends, for admins: an apprise URL only in its redacted form."""
        if self.kind == self.Kind.EMAIL:
            return ", ".join(self.recipients)
        if self.kind == self.Kind.APPRISE:
            return self.apprise_url_redacted
        return self.webhook_url

    @property
    def public_target(self) -> str:
        """Where it sends, for every reader: no part of a URL that could be a secret."""
        if self.kind == self.Kind.EMAIL:
            return ", ".join(self.recipients)
        if self.kind == self.Kind.APPRISE:
            return self.apprise_service or "apprise"
        try:
            parts = urlsplit(self.webhook_url)
            return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else ""
        except ValueError:
            return ""

    def accepts(self, topic: str, severity: str | None) -> bool:
        """Whether a notification with this topic and severity is for this channel."""
        if not topic_names.topic_matches(self.topics or [], topic):
            return False
        if severity and self.min_severity:
            return severity_rank(severity) <= severity_rank(self.min_severity)
        return True

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == self.Kind.EMAIL:
            recipients = self.recipients
            if not recipients:
                errors["email_recipients"] = "An email channel needs at least one recipient."
            for address in recipients:
                try:
                    validate_email(address)
                except ValidationError:
                    errors["email_recipients"] = f"{address!r} is not a valid email address."
                    break
            else:
                # Store one normalised form: one address per line.
                self.email_recipients = "\n".join(recipients)
        elif self.kind == self.Kind.WEBHOOK and not self.webhook_url:
            errors["webhook_url"] = "A webhook channel needs a URL."
        elif self.kind == self.Kind.WEBHOOK:
            try:
                outbound.validate_url(self.webhook_url)
            except outbound.TargetRefused as exc:
                errors["webhook_url"] = f"{exc}; webhooks may not reach it (ALLOW_PRIVATE_TARGETS)."
        elif self.kind == self.Kind.APPRISE and not self.apprise_url.strip():
            errors["apprise_url"] = "An apprise channel needs its service's URL."
        elif self.kind == self.Kind.APPRISE:
            self.apprise_url = self.apprise_url.strip()
            try:
                apprise_channel.check_target(self.apprise_url)
            except apprise_channel.InvalidAppriseURL as exc:
                errors["apprise_url"] = str(exc)
            except outbound.TargetRefused as exc:
                errors["apprise_url"] = f"{exc}; channels may not reach it (ALLOW_PRIVATE_TARGETS)."
        if not isinstance(self.topics, list) or not all(topic_names.is_valid_pattern(t) for t in self.topics):
            errors["topics"] = "Topics are a list of names such as incident.created or incident.*."
        if errors:
            raise ValidationError(errors)


class DeliveryQuerySet(models.QuerySet):
    def unfinished(self):
        return self.filter(status__in=Delivery.UNFINISHED)

    def failed(self):
        return self.filter(status=Delivery.Status.FAILED)


class Delivery(models.Model):
    """One notification for one channel, and the record of its delivery attempts."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RETRYING = "RETRYING", "Retrying"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"

    UNFINISHED = (Status.PENDING, Status.RETRYING)

    # A channel's delivery goes to the channel's recipients or URL. A direct delivery (no channel: one
    # status page subscriber, say) goes to ``recipient`` as ``kind``; a direct webhook POSTs ``payload``
    # as it is, unsigned, with ``headers``; a direct email carries ``headers`` as mail headers.
    channel = models.ForeignKey(
        NotificationChannel, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    kind = models.CharField(max_length=16, choices=NotificationChannel.Kind.choices, blank=True)
    recipient = models.CharField(max_length=500, blank=True, help_text="Direct deliveries: an address or a URL.")
    headers = models.JSONField(default=dict, blank=True)
    # Who asked for a direct delivery (e.g. "statuspages.page:3:subscriber:42"), so they can withdraw it.
    source = models.CharField(max_length=100, blank=True)
    # Creating deliveries with a key is idempotent: a fan-out that runs twice creates each one once.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)
    topic = models.CharField(max_length=topic_names.MAX_TOPIC_LENGTH)
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True)
    subject = models.CharField(max_length=255)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    # The short message of chat and push channels (apprise), in Markdown; empty: body_text is sent.
    body_markdown = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next attempt may start; empty once finished."
    )
    # A worker sets this when it claims an attempt; until then no other worker
    # may start one. It expires so a worker that died mid-attempt is recovered.
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    objects = DeliveryQuerySet.as_manager()
    # Not a column: delivery.deliver() sets it on the row it returns when that call made an attempt.
    attempted = False

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["status", "created_at"], name="notif_delivery_status_created"),
            models.Index(fields=["source"], name="notif_delivery_source", condition=~Q(source="")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__isnull=False) | (~Q(kind="") & ~Q(recipient="")),
                name="notif_delivery_has_a_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} → {self.target_name} ({self.get_status_display()})"

    @property
    def delivery_kind(self) -> str:
        return self.channel.kind if self.channel_id else self.kind

    @property
    def target_name(self) -> str:
        return self.channel.name if self.channel_id else self.recipient

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    def is_due(self, now: datetime) -> bool:
        return self.next_attempt_at is None or self.next_attempt_at <= now

    def is_claimed(self, now: datetime) -> bool:
        return self.claimed_until is not None and self.claimed_until > now

    @staticmethod
    def claimable(now: datetime, *, due_by: datetime) -> Q:
        """Rows no worker holds and whose next attempt is due by ``due_by``."""
        not_claimed = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
        due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=due_by)
        return Q(status__in=Delivery.UNFINISHED) & not_claimed & due


class UsedActionLink(models.Model):
    """A one-click action link that was used (``action_links``): the unique nonce makes each work once."""

    nonce = models.CharField(max_length=64, unique=True)
    subject = models.CharField(max_length=100, help_text="What the link acts on, e.g. incident:<id>.")
    action = models.CharField(max_length=32)
    used_by = models.CharField(max_length=150)
    used_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-used_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.subject} by {self.used_by}"
