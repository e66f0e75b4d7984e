from __future__ import annotations

from django.core.validators import MaxLengthValidator
from rest_framework import serializers

from incidents.models import Incident, Severity, Status, TimelineEntry, service_validator


class RejectUnknownFieldsMixin:
    """A typo in a field name is an error, not something silently ignored."""

    def validate(self, attrs):
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().validate(attrs)


class IncidentSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    allowed_transitions = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "service",
            "severity",
            "status",
            "owner",
            "summary",
            "created_by",
            "created_at",
            "updated_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "allowed_transitions",
        ]
        read_only_fields = fields

    def get_allowed_transitions(self, incident: Incident) -> list[str]:
        return list(incident.allowed_transitions())


class ServiceField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=100, validators=[service_validator], **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data).lower()


class OwnerField(serializers.CharField):
    """A username or user id; null or "" for nobody."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, allow_blank=True, max_length=150, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        return super().to_internal_value(data)


class IncidentCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=200)
    service = ServiceField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    summary = serializers.CharField(required=False, allow_blank=True, validators=[MaxLengthValidator(20_000)])
    owner = OwnerField(required=False)


class IncidentUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    service = ServiceField(required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    summary = serializers.CharField(required=False, allow_blank=True, validators=[MaxLengthValidator(20_000)])
    owner = OwnerField(required=False)
    status = serializers.ChoiceField(choices=Status.values, required=False)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send at least one of: title, service, severity, summary, owner, status."]}
            )
        return attrs


class StatusChangeSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.values)


class ReopenSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class CommentCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    body = serializers.CharField(max_length=10_000)


class TimelineEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=TimelineEntry.Kind.values, read_only=True)
    actor = serializers.CharField(source="actor_name", read_only=True)
    field = serializers.CharField(read_only=True)
    # "from" is a keyword, so it joins the declared fields below, before "to".
    to = serializers.CharField(source="to_value", read_only=True, allow_null=True)
    body = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


_timeline_fields = TimelineEntrySerializer._declared_fields
_timeline_fields["from"] = serializers.CharField(source="from_value", read_only=True, allow_null=True)
for _name in ("to", "body", "created_at"):
    _timeline_fields[_name] = _timeline_fields.pop(_name)


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="actor_name", read_only=True)

    class Meta:
        model = TimelineEntry
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = fields


class DurationSummarySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(allow_null=True)


class ServiceStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    mtta = DurationSummarySerializer()
    mttr = DurationSummarySerializer()


class IncidentStatsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = serializers.IntegerField()
    open = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())
    mtta = DurationSummarySerializer()
    mttr = DurationSummarySerializer()
    services = serializers.DictField(child=ServiceStatsSerializer())
