"""Serializers of the monitors API: shape and limits here, rules in the domain layer (monitors/services.py and
the modules it names)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from monitors import dependencies, dnscheck, heartbeats, jsonassert, kinds, probes, rdap, services
from monitors.models import LocationResult, Monitor, MonitorKind, ProbeLocation, ScheduleKind, StatusPeriod
from tracepoint.links import absolute_url

HEARTBEAT_RANGE = (60, 365 * 86400)
RUNTIME_RANGE = (1, 365 * 86400)  # heartbeat run-time bounds: a second to a year
PING_COUNT_RANGE = (1, 10)
EXPIRY_DAYS_RANGE = (1, 365)
DEFAULT_TLS_PORT = 443
PRIVATE_SETTINGS = "ALLOW_PRIVATE_TARGETS, OUTBOUND_ALLOWED_NETWORKS"
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def _name_problem(host: str) -> str:
    """Why ``host`` is not a DNS name ("" when it is one)."""
    name = rdap.normalise_domain(host)
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return "A DNS name such as example.com (letters, digits, hyphens and dots)."
    return ""


class LocationResultSerializer(serializers.ModelSerializer):
    location = serializers.CharField(source="location.name", help_text="The probe location's name.")

    class Meta:
        model = LocationResult
        fields = ["location", "status", "latency_ms", "error", "checked_at"]
        read_only_fields = fields


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
    locations = serializers.SlugRelatedField(
        many=True,
        slug_field="name",
        queryset=ProbeLocation.objects.all(),
        required=False,
        help_text="Names of the probe locations the check runs from; none: any worker runs it.",
    )
    quorum = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="DOWN when at least this many of the locations fail in the same round; null: a majority.",
    )
    location_results = serializers.SerializerMethodField()

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
            "json_assertions",
            "host",
            "port",
            "dns_record_type",
            "dns_resolver",
            "dns_expected",
            "ping_count",
            "max_packet_loss_percent",
            "domain_expiry_days",
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
            "min_runtime_seconds",
            "max_runtime_seconds",
            "min_ping_interval_seconds",
            "ping_url",
            "last_ping_at",
            "last_duration_ms",
            "last_checked_at",
            "last_latency_ms",
            "last_error",
            "last_details",
            "open_incident",
            "service",
            "incident_severity",
            "depends_on",
            "dependents",
            "down_because_of",
            "locations",
            "quorum",
            "location_results",
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
            "last_details",
            "dependents",
            "down_because_of",
            "location_results",
            "created_at",
        ]
        extra_kwargs = {
            "json_assertions": {
                "help_text": 'HTTP: one assertion per line, "<JSONPath> <operator> <value>", e.g. $.status == "ok". '
                "Operators: ==, !=, <, <=, >, >=, contains, not contains, exists, not exists."
            },
            "host": {
                "help_text": "TCP, TLS, ping: the host to reach; DNS: the name to look up; domain: the registered "
                "domain (e.g. example.com)."
            },
            "dns_resolver": {"help_text": 'DNS: the resolver to ask, "ip" or "ip:port"; blank: the system\'s.'},
            "dns_expected": {"help_text": "DNS: values the answer must hold, one per line; blank: any answer."},
            "ping_count": {"help_text": "Ping: packets sent per check (1 to 10)."},
            "max_packet_loss_percent": {"help_text": "Ping: more packets lost than this (percent) is DEGRADED."},
            "domain_expiry_days": {
                "help_text": "Domain: DEGRADED when the registration expires within this many days."
            },
            "tls_expiry_days": {
                "help_text": "HTTPS and TLS: DEGRADED when the certificate expires within this many days."
            },
            "last_details": {
                "help_text": "What the last check learnt beyond up/down: DNS answers, packets lost and round trips, "
                "certificate and registration dates, JSON assertion outcomes."
            },
            "min_runtime_seconds": {
                "help_text": "Heartbeat: a run shorter than this between its /start and success pings fails."
            },
            "max_runtime_seconds": {
                "help_text": "Heartbeat: a run longer than this between its /start and success pings fails."
            },
            "min_ping_interval_seconds": {
                "help_text": "Heartbeat: a success sooner than this after the previous one fails."
            },
        }

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

    @extend_schema_field(LocationResultSerializer(many=True))
    def get_location_results(self, monitor: Monitor) -> list[dict]:
        """The last result from each of its locations."""
        if "location_results" in getattr(monitor, "_prefetched_objects_cache", {}):
            rows = monitor.location_results.all()
        else:
            rows = monitor.location_results.select_related("location")
        return LocationResultSerializer(rows, many=True).data

    def validate_depends_on(self, value: list[Monitor]) -> list[Monitor]:
        try:
            dependencies.check_no_cycle(self.instance, value)
        except dependencies.DependencyCycle as exc:
            raise serializers.ValidationError(exc.message) from None
        return list(dict.fromkeys(value))

    def validate_locations(self, value: list[ProbeLocation]) -> list[ProbeLocation]:
        return list(dict.fromkeys(value))

    def validate(self, attrs):
        merged = {**self._current(), **attrs}
        kind = merged.get("kind")
        errors: dict[str, list[str]] = {}
        if self.instance is not None and "kind" in attrs and attrs["kind"] != self.instance.kind:
            errors["kind"] = ["A monitor's kind cannot change; create another monitor."]
        if kind == MonitorKind.DOMAIN:
            self._domain_schedule(attrs, errors)
            merged = {**merged, **attrs}
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
        if kind == MonitorKind.TLS and not merged.get("port"):
            attrs["port"] = merged["port"] = DEFAULT_TLS_PORT
        validator = {
            MonitorKind.HTTP: self._http,
            MonitorKind.TCP: self._target,
            MonitorKind.TLS: self._target,
            MonitorKind.DNS: self._dns,
            MonitorKind.PING: self._ping,
            MonitorKind.DOMAIN: self._domain,
            MonitorKind.HEARTBEAT: self._heartbeat,
        }.get(kind)
        if validator is not None:
            validator(merged, errors)
        if (merged.get("json_assertions") or "").strip() and (found := jsonassert.problems(merged["json_assertions"])):
            errors["json_assertions"] = found
        elif (merged.get("json_assertions") or "").strip() and str(merged.get("method", "GET")).upper() == "HEAD":
            errors["json_assertions"] = ["A HEAD request gets no body to assert on: use GET, or remove them."]
        self._locations(attrs, merged, kind, errors)
        if kind == MonitorKind.DOMAIN:
            self._domain_in_one_place(attrs, errors)
        if errors:
            raise serializers.ValidationError(errors)
        if "method" in attrs:
            attrs["method"] = attrs["method"].upper()
        if "host" in attrs:
            attrs["host"] = attrs["host"].strip()
        if self.instance is None and not attrs.get("locations"):
            attrs.pop("locations", None)  # a new monitor has none: nothing to set
        return attrs

    def _domain_schedule(self, attrs: dict, errors: dict) -> None:
        daily = kinds.DOMAIN_INTERVAL_SECONDS
        if attrs.get("interval_seconds") not in (None, daily):
            errors["interval_seconds"] = [f"A domain monitor is checked once a day: leave it out (or send {daily})."]
        attrs["interval_seconds"] = daily
        if self.instance is None and "down_after" not in attrs:
            attrs["down_after"] = 1  # checked daily: an expired domain should not wait a second day to alert

    @staticmethod
    def _domain_in_one_place(attrs: dict, errors: dict) -> None:
        """No locations nor quorum: the registry answers the same wherever it is asked from, and more places
        would only multiply the queries it rate-limits. Clearing them (``[]``, null) is fine."""
        if attrs.get("locations"):
            errors["locations"] = [
                "A domain monitor asks its registry from one place: it runs from no location (send [] or leave it out)."
            ]
        if attrs.get("quorum") is not None:
            errors["quorum"] = [
                "A domain monitor runs from no location, so it has no quorum (send null or leave it out)."
            ]

    def _http(self, merged: dict, errors: dict) -> None:
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
        self._tls_days(merged, errors)

    def _target(self, merged: dict, errors: dict) -> None:
        """TCP and TLS: a host and a port, reachable by monitors."""
        port = merged.get("port")
        if not (merged.get("host") or "").strip():
            errors["host"] = ["A host name or address."]
        if not port or not 1 <= port <= 65535:
            errors["port"] = ["A port between 1 and 65535."]
        if "host" not in errors and "port" not in errors:
            self._vet(merged["host"].strip(), port, "host", errors)
        if merged.get("kind") == MonitorKind.TLS:
            self._tls_days(merged, errors)

    @staticmethod
    def _tls_days(merged: dict, errors: dict) -> None:
        if not 0 <= merged.get("tls_expiry_days", 14) <= EXPIRY_DAYS_RANGE[1]:
            errors["tls_expiry_days"] = [f"Between 0 and {EXPIRY_DAYS_RANGE[1]} days."]

    def _dns(self, merged: dict, errors: dict) -> None:
        host = (merged.get("host") or "").strip()
        if not host:
            errors["host"] = ["The name to look up, e.g. example.com."]
        elif problem := _name_problem(host):
            errors["host"] = [problem]
        try:
            resolver = dnscheck.parse_resolver(merged.get("dns_resolver", ""))
        except ValueError as exc:
            errors["dns_resolver"] = [f"{str(exc)[:1].upper()}{str(exc)[1:]}."]
        else:
            if resolver is not None:
                try:
                    probes.vet_addresses(resolver[0], [resolver[0]])
                except probes.TargetRefused as exc:
                    errors["dns_resolver"] = [f"{exc}; monitors may not reach it ({PRIVATE_SETTINGS})."]
        try:
            dnscheck.expected_values(merged.get("dns_record_type", "A"), merged.get("dns_expected", ""))
        except ValueError as exc:
            errors["dns_expected"] = [str(exc)]

    def _ping(self, merged: dict, errors: dict) -> None:
        host = (merged.get("host") or "").strip()
        if not host:
            errors["host"] = ["A host name or address."]
        else:
            self._vet(host, 0, "host", errors)
        low, high = PING_COUNT_RANGE
        if not low <= merged.get("ping_count", 3) <= high:
            errors["ping_count"] = [f"Between {low} and {high} packets."]
        if not 0 <= merged.get("max_packet_loss_percent", 0) <= 99:
            errors["max_packet_loss_percent"] = ["Between 0 and 99 (every packet lost is Down anyway)."]

    def _domain(self, merged: dict, errors: dict) -> None:
        host = (merged.get("host") or "").strip()
        if not host:
            errors["host"] = ["The registered domain, e.g. example.com."]
        elif "/" in host or "." not in host.strip(".") or _name_problem(host):
            errors["host"] = ["A domain name such as example.com (no https://, no path)."]
        low, high = EXPIRY_DAYS_RANGE
        if not low <= merged.get("domain_expiry_days", 30) <= high:
            errors["domain_expiry_days"] = [f"Between {low} and {high} days."]

    def _heartbeat(self, merged: dict, errors: dict) -> None:
        low, high = HEARTBEAT_RANGE
        for name in ("period_seconds", "grace_seconds"):
            if not low <= merged.get(name, 3600) <= high:
                errors[name] = [f"Between {low} seconds and 365 days."]
        if merged.get("schedule_kind") == ScheduleKind.CRON and heartbeats.cron_problem(merged.get("cron", "")):
            errors["cron"] = ["A 5-field crontab expression, e.g. '10 * * * *'."]
        if not heartbeats.is_time_zone(merged.get("tz", "UTC")):
            errors["tz"] = ["An IANA time zone such as Europe/Paris."]
        low, high = RUNTIME_RANGE
        for name in ("min_runtime_seconds", "max_runtime_seconds", "min_ping_interval_seconds"):
            value = merged.get(name)
            if value is not None and not low <= value <= high:
                errors[name] = ["Between 1 second and 365 days; leave it blank for no bound."]
        often, period = merged.get("min_ping_interval_seconds"), merged.get("period_seconds", 86400)
        if (
            often is not None
            and merged.get("schedule_kind", ScheduleKind.SIMPLE) == ScheduleKind.SIMPLE
            and often >= period
            and "min_ping_interval_seconds" not in errors
        ):
            errors["min_ping_interval_seconds"] = [
                f"Shorter than the expected period ({period} s): otherwise every on-time success would be too soon."
            ]
        shortest, longest = merged.get("min_runtime_seconds"), merged.get("max_runtime_seconds")
        if shortest is not None and longest is not None and shortest >= longest and "max_runtime_seconds" not in errors:
            errors["max_runtime_seconds"] = [f"Longer than the shortest run ({shortest} s)."]

    def _locations(self, attrs: dict, merged: dict, kind: str | None, errors: dict) -> None:
        if "locations" in attrs:
            chosen = attrs["locations"]
        else:
            chosen = list(self.instance.locations.all()) if self.instance is not None and self.instance.pk else []
        spec = kinds.spec_for(kind)
        if chosen and spec is not None and not spec.probed:
            errors["locations"] = ["A heartbeat is pinged by its job: it runs from no location."]
            return
        quorum = merged.get("quorum")
        if quorum is None:
            return
        if not chosen:
            errors["quorum"] = ["Choose locations first: without them the check runs on one worker."]
        elif not 1 <= quorum <= len(chosen):
            errors["quorum"] = [
                f"Between 1 and {len(chosen)} (the number of locations chosen); leave it blank for a majority."
            ]

    @staticmethod
    def _vet(host: str, port: int, field: str, errors: dict) -> None:
        try:
            probes.validate_target(host, port)
        except probes.TargetRefused as exc:
            errors[field] = [f"{exc}; monitors may not reach it ({PRIVATE_SETTINGS})."]

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        related = {"depends_on", "dependents", "down_because_of", "locations", "location_results"}
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
