"""Read-only serializers of ``/api/v1/alerts``."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from incidents.intake.models import Alert, AlertGroup, Integration


class IntegrationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Integration
        fields = ["id", "name", "kind"]
        read_only_fields = fields


class LinkSerializer(serializers.Serializer):
    href = serializers.CharField()
    text = serializers.CharField(allow_blank=True)


class AlertGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertGroup
        fields = [
            "id",
            "group_key",
            "title",
            "message",
            "status",
            "receiver",
            "group_labels",
            "common_labels",
            "common_annotations",
            "external_url",
            "first_seen",
            "last_seen",
            "resolved_at",
        ]
        read_only_fields = fields


class IncidentRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="incident.id")
    title = serializers.CharField(source="incident.title")
    status = serializers.CharField(source="incident.status")
    severity = serializers.CharField(source="incident.severity")
    joined_at = serializers.DateTimeField()
    opened_incident = serializers.BooleanField()


class AlertSerializer(serializers.ModelSerializer):
    """One shape for the list and the detail (the list fetches every page's incidents in one query)."""

    integration = IntegrationRefSerializer(read_only=True)
    group = AlertGroupSerializer(read_only=True)
    group_key = serializers.CharField(source="group.group_key", read_only=True)
    links = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField(help_text="From start to end; null while not resolved.")
    incidents = serializers.SerializerMethodField(help_text="The incidents this alert's group is a signal of.")

    class Meta:
        model = Alert
        fields = [
            "id",
            "integration",
            "fingerprint",
            "status",
            "severity",
            "source_severity",
            "service",
            "summary",
            "labels",
            "annotations",
            "details",
            "links",
            "starts_at",
            "ends_at",
            "duration_seconds",
            "first_seen",
            "last_seen",
            "group_key",
            "group",
            "incidents",
        ]
        read_only_fields = fields

    @extend_schema_field(LinkSerializer(many=True))
    def get_links(self, alert: Alert) -> list[dict[str, str]]:
        # As received: clients decide what to open (the dashboard links only http and https).
        links = alert.links if isinstance(alert.links, list) else []
        return [
            {"href": str(link.get("href") or ""), "text": str(link.get("text") or "")}
            for link in links
            if isinstance(link, dict)
        ]

    @extend_schema_field(OpenApiTypes.INT)
    def get_duration_seconds(self, alert: Alert) -> int | None:
        if alert.ends_at is None:
            return None
        return max(0, int((alert.ends_at - alert.starts_at).total_seconds()))

    @extend_schema_field(IncidentRefSerializer(many=True))
    def get_incidents(self, alert: Alert) -> list[dict]:
        signals = self.context.get("incident_signals", {}).get(alert.group_id, [])
        return IncidentRefSerializer(signals, many=True).data
