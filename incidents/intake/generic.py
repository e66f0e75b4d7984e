"""Our own small JSON format, for tools that speak none of the others (a cron job, a script, curl).

```json
{"title": "Checkout error rate above 5%", "status": "firing", "severity": "critical",
 "dedup_key": "checkout-error-rate", "service": "checkout", "description": "5.3% of requests fail",
 "labels": {"region": "eu-1"}, "links": [{"href": "https://grafana.example/d/abc", "text": "Dashboard"}],
 "timestamp": "2026-12-06T10:15:00Z"}
```
Only ``title`` is required. ``status`` is ``firing`` (default), ``acknowledged`` or ``resolved``
(``trigger``, ``acknowledge`` and ``resolve`` are taken as synonyms). ``severity`` goes through the
integration's severity mapping (``SEV1`` to ``SEV4`` are taken as they are). Without ``dedup_key`` the
title, service and labels are the key, so sending the same ones with ``"status": "resolved"``
resolves the alert. Unknown fields are refused, so a typo is an error rather than lost data.
Receiving is the Events API v2's (``events_v2.receive_keyed``): one alert group per key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from django.core.validators import URLValidator
from django.utils import timezone
from rest_framework import serializers

from incidents.intake.events_v2 import ACKNOWLEDGE, RESOLVE, TRIGGER, KeyedEvent, receive_keyed
from incidents.intake.models import Integration
from incidents.intake.receiving import InvalidPayload, Received
from incidents.serializers import RejectUnknownFieldsMixin, ServiceField

STATUSES = {
    "firing": TRIGGER,
    "trigger": TRIGGER,
    "acknowledged": ACKNOWLEDGE,
    "acknowledge": ACKNOWLEDGE,
    "resolved": RESOLVE,
    "resolve": RESOLVE,
}
PAYLOAD_STATUS = {TRIGGER: "firing", ACKNOWLEDGE: "acknowledged", RESOLVE: "resolved"}
MAX_LABELS = 64
MAX_LINKS = 20


class GenericLinkSerializer(serializers.Serializer):
    href = serializers.URLField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])])
    text = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def to_internal_value(self, data):
        # A list's child has no initial_data for RejectUnknownFieldsMixin to look at: checked here.
        if isinstance(data, dict) and (unknown := set(data) - set(self.fields)):
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().to_internal_value(data)


class GenericAlertSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=500)
    status = serializers.ChoiceField(choices=list(STATUSES), required=False, default="firing")
    severity = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    dedup_key = serializers.CharField(max_length=255, required=False)
    service = ServiceField(required=False)
    description = serializers.CharField(max_length=10_000, required=False, allow_blank=True, default="")
    labels = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), required=False, default=dict
    )
    links = serializers.ListField(child=GenericLinkSerializer(), required=False, max_length=MAX_LINKS, default=list)
    timestamp = serializers.DateTimeField(required=False)

    def validate_labels(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_LABELS:
            raise serializers.ValidationError(f"At most {MAX_LABELS} labels.")
        if too_long := [key for key in value if not key or len(key) > 100]:
            raise serializers.ValidationError(f"Label names are 1 to 100 characters: {too_long[0][:40]!r}.")
        return value

    def validate_timestamp(self, value: datetime) -> datetime:
        if value > timezone.now() + timedelta(days=1):
            raise serializers.ValidationError("More than a day in the future.")
        return value


def default_dedup_key(title: str, service: str, labels: dict[str, str]) -> str:
    canonical = json.dumps([title, service, labels], sort_keys=True, ensure_ascii=False)
    return "generic-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _first_message(errors: dict[str, Any]) -> str:
    field, messages = next(iter(errors.items()))
    while isinstance(messages, dict | list) and messages:
        if isinstance(messages, dict):
            inner, messages = next(iter(messages.items()))
            field = f"{field}.{inner}" if not isinstance(inner, int) else f"{field}[{inner}]"
        else:
            messages = messages[0]
    label = "" if field == "non_field_errors" else f"{field}: "
    return f"{label}{messages}"


def parse_generic(body: Any) -> KeyedEvent:
    """The event, or InvalidPayload (400) naming every field that is wrong in ``details``."""
    if not isinstance(body, dict):
        raise InvalidPayload("The body must be a JSON object.", details={"non_field_errors": ["Not an object."]})
    serializer = GenericAlertSerializer(data=body)
    if not serializer.is_valid():
        raise InvalidPayload(_first_message(serializer.errors), details=serializer.errors)
    data = serializer.validated_data
    service = data.get("service", "")
    labels = data["labels"]
    annotations = {"summary": data["title"]}
    if data["description"]:
        annotations["description"] = data["description"]
    return KeyedEvent(
        action=STATUSES[data["status"]],
        dedup_key=data.get("dedup_key") or default_dedup_key(data["title"], service, labels),
        summary=data["title"],
        source_severity=data["severity"],
        service=service,
        service_lookup=labels,
        labels=labels,
        annotations=annotations,
        links=[{"href": link["href"], "text": link["text"] or link["href"]} for link in data["links"]],
        timestamp=data.get("timestamp"),
        message=data["description"],
    )


def receive_generic(integration: Integration, body: Any, *, raw: bytes, now: datetime | None = None) -> Received:
    """Store one generic alert and apply it like an Events API v2 event; InvalidPayload (400) before any write."""
    event = parse_generic(body)
    return receive_keyed(integration, event, raw=raw, now=now, payload_status=PAYLOAD_STATUS[event.action])
