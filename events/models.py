from __future__ import annotations

import math
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from events.priority import IssueSeverity
from incidents.models import service_validator
from tracepoint.accounts.roles import ADMIN, has_role
from tracepoint.severity import Severity

MAX_EVENTS_PER_MINUTE = 1_000_000


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> ProjectQuerySet:
        """Admins see every project; everyone else the projects they are members of."""
        if user is None or not user.is_authenticated:
            return self.none()
        if has_role(user, ADMIN):
            return self
        return self.filter(members=user)


class Project(models.Model):
    """Where events come from. The integer id is the DSN's project id."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    services = models.JSONField(default=list, blank=True, help_text="Services this project reports for.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="projects")
    created_at = models.DateTimeField(default=timezone.now)
    # Ingest quota (events.quota): NULL follows TRACEPOINT["PROJECT_EVENTS_PER_MINUTE"].
    events_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_EVENTS_PER_MINUTE)],
        help_text="Events accepted per minute; empty: the installation's default.",
    )
    # Events refused by the quota; with Redis, the last few seconds wait there (events.quota.flush_dropped).
    dropped_event_count = models.PositiveBigIntegerField(default=0, editable=False)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def event_rate(self) -> int:
        """Events per minute this project may send."""
        return self.events_per_minute or settings.TRACEPOINT["PROJECT_EVENTS_PER_MINUTE"]

    def event_burst_limit(self) -> int:
        """The spike guard: events per PROJECT_EVENTS_BURST_SECONDS window of the clock."""
        return max(1, math.ceil(self.event_rate() * settings.TRACEPOINT["PROJECT_EVENTS_BURST_PERCENT"] / 100))

    def active_key(self) -> ProjectKey | None:
        return self.keys.filter(is_active=True).order_by("-created_at").first()


def new_public_key() -> str:
    return secrets.token_hex(16)


class ProjectKey(models.Model):
    """An ingest key (the DSN's public key). Rotate by adding a key and revoking the old one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="keys")
    public_key = models.CharField(max_length=32, unique=True, default=new_public_key, editable=False)
    label = models.CharField(max_length=100, default="Default")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.public_key[:8]}…)"

    def dsn(self, base_url: str) -> str:
        scheme, _, host = base_url.rstrip("/").partition("://")
        return f"{scheme}://{self.public_key}@{host}/{self.project_id}"


class EventType(models.TextChoices):
    ERROR = "ERROR", "Error"
    DEPLOY = "DEPLOY", "Deploy"
    CONFIG_CHANGE = "CONFIG_CHANGE", "Config change"


class Level(models.TextChoices):
    FATAL = "fatal", "Fatal"
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"
    DEBUG = "debug", "Debug"


class Event(models.Model):
    """One received event, stored before it is answered (durable), grouped later by a task."""

    # No index of their own for the two foreign keys: the unique (project, event_id)
    # and (issue, -timestamp) indexes lead with them, and every index costs each insert.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events", db_index=False)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=16, choices=EventType.choices, default=EventType.ERROR)
    service = models.CharField(max_length=100, validators=[service_validator])
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.ERROR)
    message = models.TextField(blank=True)
    release = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=64, blank=True)
    route = models.CharField(max_length=500, blank=True)
    user_id = models.CharField(max_length=200, blank=True)
    platform = models.CharField(max_length=32, blank=True)
    # Normalised payload: exception chain, stacktrace, fingerprint, tags, metadata, request, sdk.
    data = models.JSONField(default=dict)
    issue = models.ForeignKey(
        "Issue", null=True, blank=True, on_delete=models.SET_NULL, related_name="events", db_index=False
    )
    # NULL until a worker has grouped it; the sweeper digests what the queue missed.
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "event_id"], name="event_project_event_id_unique")]
        indexes = [
            models.Index(fields=["project", "-timestamp", "-id"], name="event_project_time_idx"),
            models.Index(fields=["issue", "-timestamp"], name="event_issue_time_idx"),
            models.Index(fields=["service", "-timestamp"], name="event_service_time_idx"),
            models.Index(fields=["timestamp"], name="event_time_idx"),
            models.Index(fields=["received_at"], name="event_undigested_idx", condition=Q(digested_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class ReceivedEvent(models.Model):
    """A Sentry event as it arrived, waiting for digestion (``events.digestion``) to become an ``Event``.

    The ingest request does the least that makes an answer true: authenticate, check the size and the
    shape, count the quota, and store the body as the SDK sent it (still compressed) in this narrow table,
    whose only index besides the key is the unique (project, event_id) that makes a resend a no-op.
    Normalising, scrubbing and grouping happen in the digester, which turns a batch of these into
    ``Event`` rows and deletes them in the same transaction.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    event_id = models.UUIDField()
    received_at = models.DateTimeField(default=timezone.now)
    # The body as received, undone by ``sentry_protocol.decode_content(body, encoding)``; ``envelope``: it is a
    # whole envelope whose one item is the event, else the event's JSON alone (zlib-compressed, "deflate").
    encoding = models.CharField(max_length=32, blank=True)
    envelope = models.BooleanField(default=True)
    body = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "event_id"], name="received_event_project_event_id_unique")
        ]

    def __str__(self) -> str:
        return f"received {self.event_id}"


class IssueStatus(models.TextChoices):
    UNRESOLVED = "unresolved", "Unresolved"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"


class Issue(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="issues")
    service = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=500)
    culprit = models.CharField(max_length=500, blank=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.ERROR)
    status = models.CharField(max_length=12, choices=IssueStatus.choices, default=IssueStatus.UNRESOLVED)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    event_count = models.BigIntegerField(default=0)
    user_count = models.IntegerField(default=0)
    regression_count = models.IntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_by_deploy = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="resolved_issues"
    )
    # The DEPLOY/CONFIG_CHANGE of its service within DEPLOY_CORRELATION_MINUTES before its first event.
    introduced_by = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="introduced_issues"
    )
    first_release = models.CharField(max_length=200, blank=True)
    last_release = models.CharField(max_length=200, blank=True)
    # Impact and priority (events/impact.py, events/priority.py): refreshed when events
    # are digested and every minute by beat, so lists read columns and never count rows.
    route_count = models.IntegerField(default=0)
    error_rate = models.FloatField(default=0.0, help_text="errors per minute over the last 60 minutes")
    hourly_counts = models.JSONField(default=list, blank=True, help_text="events per hour, last 24 hours, oldest first")
    severity = models.CharField(max_length=8, choices=IssueSeverity.choices, default=IssueSeverity.LOW)
    priority = models.PositiveSmallIntegerField(default=0)
    priority_reason = models.CharField(max_length=500, blank=True)
    impact_updated_at = models.DateTimeField(null=True, blank=True)
    # Who works on it (events/workflow.py): a responder or admin who can see the project.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_issues"
    )

    class Meta:
        ordering = ["-last_seen", "-id"]
        indexes = [
            models.Index(fields=["status", "-priority"], name="issue_status_priority_idx"),
            models.Index(fields=["project", "status", "-last_seen"], name="issue_project_status_idx"),
            models.Index(fields=["service", "status"], name="issue_service_status_idx"),
            models.Index(fields=["-event_count"], name="issue_count_idx"),
            models.Index(fields=["-first_seen"], name="issue_first_seen_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class IssueGrouping(models.Model):
    """Fingerprint → issue, per grouping version, so the algorithm can change without re-splitting old issues."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    grouping_version = models.PositiveSmallIntegerField()
    key_hash = models.CharField(max_length=32)
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="groupings")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "grouping_version", "key_hash"], name="grouping_project_version_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.grouping_version}:{self.key_hash}"


class IssueUser(models.Model):
    """Distinct users per issue (for the user count), inserted once each."""

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "user_id"], name="issue_user_unique")]

    def __str__(self) -> str:
        return self.user_id


class IssueActivity(models.Model):
    """The history of an issue: created, resolved (by whom or which deploy), regressed, ignored, unresolved."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        RESOLVED = "resolved", "Resolved"
        RESOLVED_BY_DEPLOY = "resolved_by_deploy", "Resolved by deploy"
        REGRESSED = "regressed", "Regressed"
        IGNORED = "ignored", "Ignored"
        UNRESOLVED = "unresolved", "Unresolved"
        ASSIGNED = "assigned", "Assigned"
        UNASSIGNED = "unassigned", "Unassigned"
        INCIDENT = "incident", "Linked to an incident"

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="activity")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # What the entry is about, as it read then: the assignee's username, the incident's title.
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "issue activity"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class IssueComment(models.Model):
    """A note by a person on an issue (the thread on its page)."""

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=10_000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["issue", "created_at"], name="issue_comment_time_idx")]

    def __str__(self) -> str:
        return f"comment on {self.issue_id} at {self.created_at:%Y-%m-%d %H:%M}"


class IssueRoute(models.Model):
    """Each distinct (normalised) route an issue was seen on, for its route count."""

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="routes")
    route = models.CharField(max_length=500)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "route"], name="issue_route_unique")]

    def __str__(self) -> str:
        return self.route


class IssueBucket(models.Model):
    """Events of an issue per minute (kept 2 hours) and per hour (kept 2 days), added to at digestion."""

    class Size(models.TextChoices):
        MINUTE = "m", "Minute"
        HOUR = "h", "Hour"

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="buckets")
    size = models.CharField(max_length=1, choices=Size.choices)
    start = models.DateTimeField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "size", "start"], name="issue_bucket_unique")]
        indexes = [models.Index(fields=["size", "start"], name="issue_bucket_age_idx")]

    def __str__(self) -> str:
        return f"{self.issue_id} {self.size} {self.start:%Y-%m-%d %H:%M}: {self.count}"


class AlertRule(models.Model):
    """When to tell people about a project's issues, through the notification channels."""

    class Kind(models.TextChoices):
        NEW_ISSUE = "new_issue", "A new issue"
        REGRESSION = "regression", "An issue regresses"
        ISSUE_THRESHOLD = "issue_threshold", "N events of one issue within W minutes"
        PROJECT_THRESHOLD = "project_threshold", "N events of the project within W minutes"
        PRIORITY = "priority", "An unresolved issue's priority reaches P"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    threshold_count = models.PositiveIntegerField(null=True, blank=True, help_text="Threshold rules: N events.")
    window_minutes = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Threshold rules: within W minutes (1-120)."
    )
    min_priority = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Priority rules: 0-100.")
    cooldown_minutes = models.PositiveIntegerField(
        default=60, help_text="At most one alert per rule and issue (or project) in this time."
    )
    channels = models.ManyToManyField(
        "notifications.NotificationChannel",
        blank=True,
        related_name="alert_rules",
        help_text="Empty: every enabled channel that takes the topic issue.alert.",
    )
    open_incident = models.BooleanField(default=False, help_text="Also open an incident linked to the issue.")
    incident_severity = models.CharField(max_length=4, choices=Severity.choices, default=Severity.SEV3)
    resolve_issue_with_incident = models.BooleanField(
        default=True, help_text="Resolving an incident this rule opened resolves its issue."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        """Each kind needs its own numbers, in range; the others must stay empty."""
        errors: dict[str, str] = {}
        thresholds = self.kind in (self.Kind.ISSUE_THRESHOLD, self.Kind.PROJECT_THRESHOLD)
        if thresholds:
            if not self.threshold_count:
                errors["threshold_count"] = "Threshold rules need N (at least 1)."
            if not self.window_minutes or not 1 <= self.window_minutes <= 120:
                errors["window_minutes"] = "Threshold rules need W between 1 and 120 minutes."
        else:
            if self.threshold_count is not None:
                errors["threshold_count"] = "Only threshold rules take N."
            if self.window_minutes is not None:
                errors["window_minutes"] = "Only threshold rules take W."
        if self.kind == self.Kind.PRIORITY:
            if self.min_priority is None or not 0 <= self.min_priority <= 100:
                errors["min_priority"] = "Priority rules need P between 0 and 100."
        elif self.min_priority is not None:
            errors["min_priority"] = "Only priority rules take P."
        if self.open_incident and self.kind == self.Kind.PROJECT_THRESHOLD:
            errors["open_incident"] = "A project-wide rule has no issue to link an incident to."
        if not 1 <= self.cooldown_minutes <= 7 * 24 * 60:
            errors["cooldown_minutes"] = "Between 1 minute and 7 days."
        if errors:
            raise ValidationError(errors)


class AlertState(models.Model):
    """The last time a rule fired for one issue (or for its project): the cool-down, shared by all workers."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    issue = models.ForeignKey(Issue, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # The issue id, or 0 for project-wide rules: a unique key without NULL semantics.
    subject = models.BigIntegerField()
    last_fired_at = models.DateTimeField(null=True, blank=True)
    fire_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "subject"], name="alert_state_unique")]

    def __str__(self) -> str:
        return f"{self.rule} on {self.subject}"


class IssueIncident(models.Model):
    """An incident opened for an issue (by an alert rule or by hand)."""

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="incident_links")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="issue_links")
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolve_issue_with_incident = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "incident"], name="issue_incident_unique")]

    def __str__(self) -> str:
        return f"{self.issue_id} ↔ {self.incident_id}"


class DailySummarySubscription(models.Model):
    """A user's opt-in to the daily summary email (set on the profile page)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="daily_summary_subscription"
    )
    enabled = models.BooleanField(default=False)
    # The UTC day of the last summary sent: a second beat or worker the same day sends nothing.
    last_sent_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"daily summary for {self.user} ({'on' if self.enabled else 'off'})"
