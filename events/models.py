from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from events.priority import IssueSeverity
from incidents.models import service_validator


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> ProjectQuerySet:
        """Admins see every project; everyone else the projects they are members of."""
        from tracepoint.accounts.roles import ADMIN, has_role

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

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

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

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="activity")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "issue activity"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M}"


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
