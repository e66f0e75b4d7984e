"""The native ingest protocol (``POST /api/v1/events``): validation and normalisation into NewEvent
(``events.ingest`` stores it, as it stores what the Sentry protocol hands over)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from events.ingest import NewEvent
from events.models import EventType, Level
from events.scrubbing import scrub
from incidents.serializers import ServiceField

_EXCEPTION_PREFIX = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)):\s*(.*)$", re.S)


class FrameSerializer(serializers.Serializer):
    filename = serializers.CharField(required=False, allow_blank=True, max_length=500)
    function = serializers.CharField(required=False, allow_blank=True, max_length=300)
    module = serializers.CharField(required=False, allow_blank=True, max_length=300)
    lineno = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    in_app = serializers.BooleanField(required=False, default=False)


class NativeEventSerializer(serializers.Serializer):
    event_id = serializers.UUIDField(required=False)
    event_type = serializers.ChoiceField(choices=EventType.values, default=EventType.ERROR)
    service = ServiceField()
    timestamp = serializers.DateTimeField(required=False)
    message = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")
    exception_type = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    level = serializers.ChoiceField(choices=Level.values, default=Level.ERROR)
    release = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    environment = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    route = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    user_id = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    stacktrace = FrameSerializer(many=True, required=False, max_length=200)
    fingerprint = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=20, allow_empty=False
    )
    metadata = serializers.JSONField(required=False, default=dict)

    def validate_timestamp(self, value):
        if value > timezone.now() + timedelta(days=1):
            raise serializers.ValidationError("More than a day in the future.")
        return value

    def validate_metadata(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        limit = settings.TRACEPOINT["EVENT_METADATA_MAX_BYTES"]
        if len(json.dumps(value, default=str)) > limit:
            raise serializers.ValidationError(f"At most {limit} bytes of JSON.")
        return value

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        if attrs["event_type"] == EventType.ERROR and not (attrs.get("message") or attrs.get("stacktrace")):
            raise serializers.ValidationError({"message": ["An ERROR needs a message or a stacktrace."]})
        return attrs


def to_new_event(attrs: dict[str, Any]) -> NewEvent:
    message = attrs.get("message", "")
    exc_type = attrs.get("exception_type", "")
    value = message
    if not exc_type and (match := _EXCEPTION_PREFIX.match(message.strip())):
        exc_type, value = match.group(1), match.group(2)
    data: dict[str, Any] = {"metadata": scrub(attrs.get("metadata") or {})}
    frames = [dict(frame) for frame in attrs.get("stacktrace") or []]
    if attrs["event_type"] == EventType.ERROR and (frames or exc_type):
        data["exception"] = [{"type": exc_type, "value": value, "stacktrace": {"frames": frames}}]
    else:
        data["message"] = message
    if attrs.get("fingerprint"):
        data["fingerprint"] = attrs["fingerprint"]
    return NewEvent(
        event_id=attrs.get("event_id") or uuid.uuid4(),
        event_type=attrs["event_type"],
        service=attrs["service"],
        timestamp=attrs.get("timestamp") or timezone.now(),
        level=attrs.get("level", Level.ERROR),
        message=message,
        release=attrs.get("release", ""),
        environment=attrs.get("environment", ""),
        route=attrs.get("route", ""),
        user_id=attrs.get("user_id", ""),
        platform="native",
        data=data,
    )


def parse_native_events(payload: Any) -> list[NewEvent]:
    """One event object or a list of up to INGEST_MAX_EVENTS; errors name the item and field."""
    items = payload if isinstance(payload, list) else [payload]
    limit = settings.TRACEPOINT["INGEST_MAX_EVENTS"]
    if not items:
        raise serializers.ValidationError({"events": ["Send one event or a non-empty list."]})
    if len(items) > limit:
        raise serializers.ValidationError({"events": [f"At most {limit} events per request, got {len(items)}."]})
    events, errors = [], {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors[f"events[{index}]"] = ["Must be a JSON object."]
            continue
        serializer = NativeEventSerializer(data=item)
        if serializer.is_valid():
            events.append(to_new_event(serializer.validated_data))
        else:
            for field, messages in serializer.errors.items():
                errors[f"events[{index}].{field}"] = messages
    if errors:
        raise serializers.ValidationError(errors)
    return events


def project_key_from_headers(request) -> str | None:
    """The native ingest key: ``X-Project-Key: <key>`` or ``Authorization: Bearer <key>``."""
    key = request.headers.get("X-Project-Key")
    if key:
        return key.strip()
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None
