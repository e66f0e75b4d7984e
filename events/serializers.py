"""Serializers of the events API: projects and keys, events, issues and their activity."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as ModelValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from events import quota
from events.models import (
    MAX_EVENTS_PER_MINUTE,
    AlertRule,
    Event,
    Issue,
    IssueActivity,
    IssueComment,
    IssueStatus,
    Project,
    ProjectKey,
)
from events.scrubbing import scrub
from events.timeline import DEFAULT_RANGE, MAX_RANGE
from incidents.serializers import ServiceField
from tracepoint.links import ingest_base_url
from tracepoint.notifications.models import NotificationChannel
from tracepoint.severity import Severity


class ProjectKeySerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)
    created = serializers.DateTimeField(source="created_at", read_only=True)
    revoked = serializers.DateTimeField(source="revoked_at", read_only=True, allow_null=True)

    class Meta:
        model = ProjectKey
        fields = ["id", "public_key", "label", "active", "created", "revoked"]
        read_only_fields = fields


class KeyRotateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False, default="Rotated")


class ProjectSerializer(serializers.ModelSerializer):
    services = serializers.ListField(child=ServiceField(), required=False, max_length=100)
    members = serializers.SlugRelatedField(
        many=True,
        slug_field="username",
        queryset=get_user_model().objects.all(),
        required=False,
        help_text="Usernames of the members (they see this project's events and issues).",
    )
    dsn = serializers.SerializerMethodField()
    keys = ProjectKeySerializer(many=True, read_only=True)
    events_per_minute = serializers.IntegerField(
        min_value=1,
        max_value=MAX_EVENTS_PER_MINUTE,
        allow_null=True,
        required=False,
        help_text="The project's ingest rate (events per minute); null: the installation's default.",
    )
    effective_events_per_minute = serializers.IntegerField(source="event_rate", read_only=True)
    events_burst_limit = serializers.IntegerField(
        source="event_burst_limit",
        read_only=True,
        help_text="The spike guard: events accepted per PROJECT_EVENTS_BURST_SECONDS (10 s) window.",
    )
    dropped_events = serializers.SerializerMethodField(help_text="Events refused by the quota so far.")

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "services",
            "members",
            "dsn",
            "keys",
            "created_at",
            "events_per_minute",
            "effective_events_per_minute",
            "events_burst_limit",
            "dropped_events",
        ]
        read_only_fields = ["id", "dsn", "keys", "created_at"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_dsn(self, project: Project) -> str | None:
        # Keys are prefetched newest first: pick in Python rather than query per row.
        active = [key for key in project.keys.all() if key.is_active]
        if not active:
            return None
        newest = max(active, key=lambda key: (key.created_at, key.pk))
        return newest.dsn(ingest_base_url())

    def validate_services(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @extend_schema_field(OpenApiTypes.INT)
    def get_dropped_events(self, project: Project) -> int:
        # One read of the Redis counters per response, shared by every row of a list.
        if "_pending_dropped" not in self.context:
            self.context["_pending_dropped"] = quota.pending_dropped()
        return quota.dropped_events(project, self.context["_pending_dropped"])


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "event_id",
            "project",
            "event_type",
            "service",
            "timestamp",
            "received_at",
            "level",
            "message",
            "release",
            "environment",
            "route",
            "user_id",
            "platform",
            "issue",
            "digested_at",
            "data",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        # As on the event page: secrets are filtered again on the way out (events stored before the
        # scrubber existed, and anything it learned to filter since).
        representation = super().to_representation(instance)
        representation["data"] = scrub(representation.get("data"))
        return representation


class DeployRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "event_id", "release", "service", "timestamp"]
        read_only_fields = fields


class IssueSerializer(serializers.ModelSerializer):
    count = serializers.IntegerField(source="event_count", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    resolved_by_deploy = DeployRefSerializer(read_only=True, allow_null=True)
    assignee = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username of who works on it."
    )

    class Meta:
        model = Issue
        fields = [
            "id",
            "project",
            "service",
            "title",
            "culprit",
            "level",
            "status",
            "first_seen",
            "last_seen",
            "event_count",
            "count",
            "user_count",
            "regression_count",
            "resolved_at",
            "resolved_by",
            "resolved_by_deploy",
            "first_release",
            "last_release",
            "route_count",
            "error_rate",
            "hourly_counts",
            "severity",
            "priority",
            "priority_reason",
            "impact_updated_at",
            "assignee",
        ]
        read_only_fields = fields


class IssueUpdateSerializer(serializers.Serializer):
    # Plain values (not the labelled choices of Issue.status): a choice set of its own gives the
    # OpenAPI enum a stable name without a settings override.
    status = serializers.ChoiceField(choices=IssueStatus.values, required=False)
    assignee = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Username of a responder or admin of the issue's project; null unassigns.",
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError({"status": ["Send `status`, `assignee` or both."]})
        return attrs


class IssueCommentSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    body = serializers.CharField(max_length=10_000, trim_whitespace=True)

    class Meta:
        model = IssueComment
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class IssueIncidentSerializer(serializers.Serializer):
    """``POST /issues/{id}/incident``: every field optional, proposed from the issue when left out."""

    title = serializers.CharField(max_length=200, required=False)
    severity = serializers.ChoiceField(choices=Severity.values, required=False)
    summary = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    resolve_issue_with_incident = serializers.BooleanField(required=False, default=True)


class IssueIncidentResultSerializer(serializers.Serializer):
    incident = serializers.UUIDField(help_text="The incident's id.")
    opened = serializers.BooleanField(help_text="False: the issue joined its service's open incident.")
    title = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField()


class IssueActivitySerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = IssueActivity
        fields = ["id", "kind", "actor", "event", "created_at"]
        read_only_fields = fields


class TimelineQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Default: 24 hours before `until`.")
    until = serializers.DateTimeField(required=False, help_text="Default: now.")

    def validate(self, attrs):
        until = attrs.get("until") or timezone.now()
        since = attrs.get("since") or until - DEFAULT_RANGE
        if since >= until:
            raise serializers.ValidationError({"since": ["Must be before `until`."]})
        if until - since > MAX_RANGE:
            raise serializers.ValidationError({"since": [f"The range is at most {MAX_RANGE.days} days."]})
        return {"since": since, "until": until}


class MarkerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "event_id", "event_type", "project", "service", "release", "message", "timestamp"]
        read_only_fields = fields


class TimelineEventSerializer(serializers.ModelSerializer):
    kind = serializers.SerializerMethodField()
    suspected_cause = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = [
            "kind",
            "id",
            "event_id",
            "event_type",
            "project",
            "timestamp",
            "level",
            "message",
            "release",
            "environment",
            "route",
            "issue",
            "suspected_cause",
        ]
        read_only_fields = fields

    def get_kind(self, event) -> str:
        return "event"

    def get_suspected_cause(self, event) -> dict | None:
        cause = self.context["causes"].get(event.pk)
        return MarkerSerializer(cause).data if cause else None


class IntroducedIssueSerializer(serializers.ModelSerializer):
    introduced_by = MarkerSerializer(read_only=True)

    class Meta:
        model = Issue
        fields = ["id", "title", "status", "first_seen", "event_count", "introduced_by"]
        read_only_fields = fields


class AlertRuleSerializer(serializers.ModelSerializer):
    channels = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=NotificationChannel.objects.all(),
        help_text="Channel ids; empty: every enabled channel taking the topic issue.alert.",
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "project",
            "name",
            "kind",
            "enabled",
            "threshold_count",
            "window_minutes",
            "min_priority",
            "cooldown_minutes",
            "channels",
            "open_incident",
            "incident_severity",
            "resolve_issue_with_incident",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate_project(self, project: Project) -> Project:
        user = self.context["request"].user
        if not Project.objects.visible_to(user).filter(pk=project.pk).exists():
            raise serializers.ValidationError("No such project.")
        return project

    def validate(self, attrs):
        fields = {k: v for k, v in attrs.items() if k != "channels"}
        rule = AlertRule(**{**self._current(), **fields})
        try:
            rule.clean()
        except ModelValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        names = [f for f in self.Meta.fields if f not in ("id", "created_at", "channels", "project")]
        return {"project": self.instance.project, **{name: getattr(self.instance, name) for name in names}}
