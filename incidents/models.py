from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import connection, models
from django.db.models import Case, IntegerField, Q, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from tracepoint.lib.counting import capped_count
from tracepoint.severity import Severity

service_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]{0,99}$",
    "Use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. 'api-gateway').",
)


class Status(models.TextChoices):
    OPEN = "OPEN", "Open"
    ACKNOWLEDGED = "ACKNOWLEDGED", "Acknowledged"
    MITIGATED = "MITIGATED", "Mitigated"
    RESOLVED = "RESOLVED", "Resolved"


# Lifecycle order, used for sorting by status and for the state machine.
STATUS_ORDER = {Status.OPEN: 1, Status.ACKNOWLEDGED: 2, Status.MITIGATED: 3, Status.RESOLVED: 4}
# Forward moves only; RESOLVED leaves only through the explicit reopen action.
ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.OPEN: (Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED),
    Status.ACKNOWLEDGED: (Status.MITIGATED, Status.RESOLVED),
    Status.MITIGATED: (Status.RESOLVED,),
    Status.RESOLVED: (),
}


def status_rank_expression() -> Case:
    return Case(*(When(status=s, then=Value(rank)) for s, rank in STATUS_ORDER.items()), output_field=IntegerField())


class IncidentQuerySet(models.QuerySet):
    def alive(self) -> IncidentQuerySet:
        return self.filter(deleted_at__isnull=True)

    def open(self) -> IncidentQuerySet:
        return self.alive().exclude(status=Status.RESOLVED)

    def search(self, query: str, *, ranked: bool = True, rank_limit: int | None = None) -> IncidentQuerySet:
        """Full-text search on title + summary.

        PostgreSQL: the ``search_vector`` column (generated, GIN-indexed; see
        migration 0002) with ``websearch_to_tsquery`` and ``ts_rank``.
        Elsewhere: every word must appear in the title or the summary.

        Ranking reads every match, so with ``rank_limit`` a search matching
        more rows than that is not ranked (callers then order newest first):
        ranking 25,000 matches of a common word costs ~170 ms on PostgreSQL.
        """
        query = query.strip()
        if not query:
            return self
        if ranked and rank_limit is not None:
            ranked = capped_count(self.search(query, ranked=False), rank_limit) <= rank_limit
        if connection.vendor == "postgresql":
            tsquery = "websearch_to_tsquery('english', %s)"
            # The user's text is a bound parameter; only constant SQL is interpolated.
            matched = self.extra(where=[f"incidents_incident.search_vector @@ {tsquery}"], params=[query])  # noqa: S610
            if ranked:
                matched = matched.annotate(
                    search_rank=RawSQL(f"ts_rank(incidents_incident.search_vector, {tsquery})", [query])  # noqa: S611
                )
            return matched
        matched = self
        for word in query.split():
            word = word.strip("\"'")
            if word.startswith("-") and len(word) > 1:
                matched = matched.exclude(Q(title__icontains=word[1:]) | Q(summary__icontains=word[1:]))
            elif word and word.lower() != "or":
                matched = matched.filter(Q(title__icontains=word) | Q(summary__icontains=word))
        if ranked:
            # Title matches first, a crude stand-in for ts_rank.
            first = query.split()[0].strip("\"'")
            matched = matched.annotate(
                search_rank=Case(When(title__icontains=first, then=Value(1.0)), default=Value(0.5))
            )
        return matched


class Incident(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    service = models.CharField(max_length=100, validators=[service_validator])
    severity = models.CharField(max_length=4, choices=Severity.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_incidents"
    )
    summary = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mitigated_at = models.DateTimeField(null=True, blank=True)
    mitigated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Soft delete: hidden from the API and pages.")
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["-created_at", "-id"], name="incident_alive_created_idx", condition=Q(deleted_at__isnull=True)
            ),
            models.Index(
                fields=["status", "severity", "-created_at"],
                name="incident_status_sev_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(fields=["service", "-created_at"], name="incident_service_idx"),
            models.Index(fields=["owner", "-created_at"], name="incident_owner_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incident_severity_valid"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="incident_status_valid"),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def allowed_transitions(self) -> tuple[str, ...]:
        return ALLOWED_TRANSITIONS[self.status]

    def time_to_acknowledge(self):
        return self.acknowledged_at - self.created_at if self.acknowledged_at else None

    def time_to_resolve(self):
        return self.resolved_at - self.created_at if self.resolved_at else None


class TimelineEntry(models.Model):
    """The audit log of an incident: creation, field changes, transitions, comments, reopen, delete."""

    class Kind(models.TextChoices):
        CREATED = "CREATED", "Created"
        FIELD_CHANGED = "FIELD_CHANGED", "Field changed"
        STATUS_CHANGED = "STATUS_CHANGED", "Status changed"
        COMMENT = "COMMENT", "Comment"
        REOPENED = "REOPENED", "Reopened"
        DELETED = "DELETED", "Deleted"
        SIGNAL = "SIGNAL", "Signal"  # a monitor, issue or external alert joined, fired again or resolved
        ESCALATION = "ESCALATION", "Escalation"  # on-call: a policy started, a step paged, a page failed, a gap

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who acted when no user did (e.g. "monitor api-health"); shown instead of the user.
    actor_label = models.CharField(max_length=150, blank=True)
    field = models.CharField(max_length=50, blank=True)
    # NULL is "no value" (e.g. no owner), distinct from an empty text.
    from_value = models.TextField(blank=True, null=True)  # noqa: DJ001
    to_value = models.TextField(blank=True, null=True)  # noqa: DJ001
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["incident", "created_at", "id"], name="timeline_incident_idx")]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor_name}"

    @property
    def actor_name(self) -> str:
        if self.actor_label:
            return self.actor_label
        return self.actor.get_username() if self.actor else "system"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for creating an incident, kept for a while (setting)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    incident = models.ForeignKey(Incident, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires_idx")]

    def __str__(self) -> str:
        return self.key


class SignalKind(models.TextChoices):
    MONITOR = "monitor", "Monitor"
    ISSUE = "issue", "Error issue"
    ALERT = "alert", "External alert"


class SignalStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RESOLVED = "resolved", "Resolved"


class IncidentSignal(models.Model):
    """Something that reported the incident's problem: a monitor, an error issue or an external alert group.

    ``ref`` is the source's own id (a monitor's pk, an issue's pk, an alert group's pk) kept as text,
    so the incidents app needs no foreign key into the apps that feed it.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="signals", db_index=False)
    kind = models.CharField(max_length=10, choices=SignalKind.choices)
    ref = models.CharField(max_length=64)
    label = models.CharField(max_length=200)
    url = models.CharField(max_length=500, blank=True)  # a path in the dashboard
    status = models.CharField(max_length=10, choices=SignalStatus.choices, default=SignalStatus.ACTIVE)
    # True for the signal that opened the incident: an incident opened by a signal is "automatic".
    opened_incident = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)  # the last time it fired or resolved
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "kind", "ref"], name="incident_signal_unique"),
            models.CheckConstraint(condition=Q(kind__in=SignalKind.values), name="incident_signal_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=SignalStatus.values), name="incident_signal_status_valid"),
        ]
        indexes = [models.Index(fields=["kind", "ref"], name="incident_signal_source_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label} [{self.status}]"
