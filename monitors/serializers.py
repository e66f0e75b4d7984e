"""Serializers of the monitors API: shape and limits here, rules in the domain layer (monitors/services.py and
the modules it names)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from monitors import dependencies, heartbeats, probes, services
from monitors.models import Monitor, MonitorKind, ScheduleKind, StatusPeriod
from tracepoint.links import absolute_url

HEARTBEAT_RANGE = (60, 365 * 86400)


class MonitorSerializer(serializers.ModelSerializer):
    ping_url = serializers.SerializerMethodField()
    headers = serializers.DictField(child=serializers.CharField(max_length=2000), required=False)
    depends_on = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=Monitor.objects.all(),
        required=False,
        help_text="Ids of the monitors this one depends on: while one of them (or one they depend on) is down, "
        "this monitor's DOWN is recorded but sends no alert and opens no incident.",
    )
    dependents = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    down_because_of = serializers.SerializerMethodField()

    class Meta:
        model = Monitor
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "status_changed_at",
            "url",
            "method",
            "headers",
            "body",
            "expected_statuses",
            "keyword",
            "keyword_absent",
            "degraded_after_ms",
            "follow_redirects",
            "tls_expiry_days",
            "host",
            "port",
            "interval_seconds",
            "timeout_seconds",
            "down_after",
            "up_after",
            "schedule_kind",
            "period_seconds",
            "cron",
            "tz",
            "grace_seconds",
            "manual_resume",
            "ping_url",
            "last_ping_at",
            "last_duration_ms",
            "last_checked_at",
            "last_latency_ms",
            "last_error",
            "open_incident",
            "service",
            "incident_severity",
            "depends_on",
            "dependents",
            "down_because_of",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "status_changed_at",
            "ping_url",
            "last_ping_at",
            "last_duration_ms",
            "last_checked_at",
            "last_latency_ms",
            "last_error",
            "dependents",
            "down_because_of",
            "created_at",
        ]

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_ping_url(self, monitor: Monitor) -> str | None:
        if monitor.kind != MonitorKind.HEARTBEAT:
            return None
        return absolute_url("ping", monitor.ping_key)

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            "description": "While DOWN: the monitor it depends on whose DOWN this one is blamed on (no alert sent).",
        }
    )
    def get_down_because_of(self, monitor: Monitor) -> dict | None:
        cause = monitor.down_because_of
        return {"id": cause.pk, "name": cause.name} if cause is not None else None

    def validate_depends_on(self, value: list[Monitor]) -> list[Monitor]:
        try:
            dependencies.check_no_cycle(self.instance, value)
        except dependencies.DependencyCycle as exc:
            raise serializers.ValidationError(exc.message) from None
        return list(dict.fromkeys(value))

    def validate(self, attrs):
        merged = {**self._current(), **attrs}
        kind = merged.get("kind")
        errors: dict[str, list[str]] = {}
        if self.instance is not None and "kind" in attrs and attrs["kind"] != self.instance.kind:
            errors["kind"] = ["A monitor's kind cannot change; create another monitor."]
        interval = merged.get("interval_seconds", 60)
        if attrs.get("timeout_seconds") is None:
            # Not sent: the default follows the interval (one rule for the API and the form).
            attrs["timeout_seconds"] = services.timeout_when_unset(interval, previous=self.instance)
            sent_timeout = False
        else:
            sent_timeout = True
        timeout = attrs["timeout_seconds"]
        min_interval = settings.TRACEPOINT["MONITOR_MIN_INTERVAL_SECONDS"]
        max_timeout = settings.TRACEPOINT["MONITOR_MAX_TIMEOUT_SECONDS"]
        if interval < min_interval:
            errors["interval_seconds"] = [f"At least {min_interval} seconds."]
        elif not 1 <= timeout <= max_timeout:
            errors["timeout_seconds"] = [f"Between 1 and {max_timeout} seconds."]
        elif timeout >= max(interval, 2):
            errors["timeout_seconds"] = [
                f"Shorter than the interval ({interval} s); leave it out for the default, "
                f"{services.default_timeout_seconds(interval)} s."
                if sent_timeout
                else f"Shorter than the interval ({interval} s)."
            ]
        if merged.get("down_after", 2) < 1 or merged.get("up_after", 1) < 1:
            errors["down_after"] = ["At least 1."]
        if kind == MonitorKind.HTTP:
            url = merged.get("url") or ""
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                errors["url"] = ["An http:// or https:// URL."]
            else:
                self._vet(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), "url", errors)
            if merged.get("method", "GET").upper() not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
                errors["method"] = ["An HTTP method such as GET or POST."]
            try:
                probes.parse_statuses(merged.get("expected_statuses", "200-399"))
            except ValueError as exc:
                errors["expected_statuses"] = [str(exc)]
        elif kind == MonitorKind.TCP:
            port = merged.get("port")
            if not merged.get("host"):
                errors["host"] = ["A host name or address."]
            if not port or not 1 <= port <= 65535:
                errors["port"] = ["A port between 1 and 65535."]
            if "host" not in errors and "port" not in errors:
                self._vet(merged["host"], port, "host", errors)
        elif kind == MonitorKind.HEARTBEAT:
            low, high = HEARTBEAT_RANGE
            for name in ("period_seconds", "grace_seconds"):
                if not low <= merged.get(name, 3600) <= high:
                    errors[name] = [f"Between {low} seconds and 365 days."]
            if merged.get("schedule_kind") == ScheduleKind.CRON and heartbeats.cron_problem(merged.get("cron", "")):
                errors["cron"] = ["A 5-field crontab expression, e.g. '10 * * * *'."]
            if not heartbeats.is_time_zone(merged.get("tz", "UTC")):
                errors["tz"] = ["An IANA time zone such as Europe/Paris."]
        if errors:
            raise serializers.ValidationError(errors)
        if "method" in attrs:
            attrs["method"] = attrs["method"].upper()
        return attrs

    @staticmethod
    def _vet(host: str, port: int, field: str, errors: dict) -> None:
        try:
            probes.validate_target(host, port)
        except probes.TargetRefused as exc:
            errors[field] = [f"{exc}; monitors may not reach it (ALLOW_PRIVATE_TARGETS, OUTBOUND_ALLOWED_NETWORKS)."]

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        related = {"depends_on", "dependents", "down_because_of"}
        return {
            name: getattr(self.instance, name)
            for name in self.Meta.fields
            if name not in related and hasattr(self.instance, name)
        }


class StatusPeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatusPeriod
        fields = ["status", "started_at", "ended_at", "reason"]
        read_only_fields = fields


class ResultsQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    resolution = serializers.ChoiceField(choices=["minute", "hour"], required=False)


class UptimeQuerySerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=["24h", "7d", "30d", "90d"], required=False, default="24h")
