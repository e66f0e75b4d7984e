"""The dashboard's monitor forms: the kind picker, then one kind's settings in fieldsets (monitors.kinds says
which), validated by the API serializer too (one set of rules for both doors)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.timesince import timesince

from monitors import heartbeats, kinds, locations, services
from monitors.models import Monitor, MonitorKind, ProbeLocation, ScheduleKind
from monitors.serializers import MonitorSerializer
from tracepoint.forms import TimeZoneField

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PREVIEW_RUNS = 3


class KindForm(forms.Form):
    """Step one: what to monitor. A GET form (``?kind=http``), so it works without JavaScript."""

    kind = forms.ChoiceField(
        label="What should this monitor watch?",
        widget=forms.RadioSelect,
        choices=[(spec.kind, f"{spec.label}: {spec.description}") for spec in kinds.KINDS.values()],
        error_messages={"invalid_choice": "Pick one of the kinds below.", "required": "Pick a kind."},
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "pick_%s")  # the settings form has its own hidden "kind"
        super().__init__(*args, **kwargs)


class HeadersField(forms.CharField):
    """Request headers as "Name: value" lines (a JSON object is accepted too); a dict once cleaned."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "placeholder": "Authorization: Bearer …"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{name}: {text}" for name, text in value.items())
        return value

    def to_python(self, value) -> dict[str, str]:
        text = (super().to_python(value) or "").strip()
        if not text:
            return {}
        if text.startswith("{"):
            try:
                found = json.loads(text)
            except ValueError:
                raise forms.ValidationError("Not valid JSON; or write one “Name: value” per line.") from None
            if not isinstance(found, dict):
                raise forms.ValidationError("A JSON object, or one “Name: value” per line.")
            return {str(name): str(value) for name, value in found.items()}
        headers = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip() or any(c.isspace() for c in name.strip()):
                raise forms.ValidationError(f"Line {number}: write “Name: value”, e.g. “Accept: text/html”.")
            headers[name.strip()] = value.strip()
        return headers


LABELS = {
    "name": "Name",
    "url": "URL",
    "method": "HTTP method",
    "headers": "Request headers",
    "body": "Request body",
    "follow_redirects": "Follow redirects",
    "expected_statuses": "Expected status codes",
    "keyword": "Keyword",
    "keyword_absent": "Fail when the keyword is found (instead of when it is missing)",
    "degraded_after_ms": "Slow after (ms)",
    "tls_expiry_days": "Certificate expiry warning (days)",
    "host": "Host",
    "port": "Port",
    "interval_seconds": "Check every (seconds)",
    "timeout_seconds": "Timeout (seconds)",
    "down_after": "Down after (failures in a row)",
    "up_after": "Up after (successes in a row)",
    "schedule_kind": "Ping schedule",
    "period_seconds": "Expected every (seconds)",
    "cron": "Cron expression",
    "grace_seconds": "Grace period (seconds)",
    "manual_resume": "Stay paused until resumed by hand",
    "open_incident": "Open an incident when it goes down",
    "incident_severity": "Incident severity",
    "service": "Service",
    "depends_on": "Depends on",
    "json_assertions": "JSON assertions",
    "dns_record_type": "Record type",
    "dns_resolver": "Resolver",
    "dns_expected": "Expected values",
    "ping_count": "Packets per check",
    "max_packet_loss_percent": "Packet loss allowed (%)",
    "domain_expiry_days": "Expiry warning (days)",
    "min_runtime_seconds": "Shortest run (seconds)",
    "max_runtime_seconds": "Longest run (seconds)",
    "min_ping_interval_seconds": "Not more often than every (seconds)",
    "locations": "Probe locations",
    "quorum": "Down when this many fail",
}

# The same setting reads differently for another kind: the host of a DNS monitor is the name looked up.
KIND_LABELS = {
    (MonitorKind.DNS, "host"): "Name to look up",
    (MonitorKind.DOMAIN, "host"): "Domain",
    (MonitorKind.TLS, "degraded_after_ms"): "Slow handshake after (ms)",
    (MonitorKind.PING, "degraded_after_ms"): "Slow round trip after (ms)",
    (MonitorKind.DNS, "degraded_after_ms"): "Slow answer after (ms)",
    (MonitorKind.DOMAIN, "down_after"): "Down after (failed daily checks in a row)",
}

HELP_TEXTS = {
    "name": "Shown on the dashboard, in alerts and on status pages.",
    "url": "The address to request, e.g. https://example.com/health (a bare host name means https).",
    "method": "HEAD is lightest; POST, PUT and PATCH send the request body.",
    "headers": "One “Name: value” per line, e.g. “Authorization: Bearer …”. Leave blank for none.",
    "body": "Sent with the request, e.g. a JSON document. Leave blank for none.",
    "follow_redirects": "Follow up to 5 redirects and judge the final answer; off: a 3xx answer is judged itself.",
    "expected_statuses": "Status codes and ranges that count as up, separated by commas, e.g. 200-299,301.",
    "keyword": "Text the response body must contain (searched in its first megabyte). Leave blank to skip.",
    "keyword_absent": "For error pages: the check fails when the keyword appears.",
    "degraded_after_ms": "A response slower than this marks the monitor Degraded. Leave blank to never.",
    "tls_expiry_days": "HTTPS only: Degraded when the certificate expires within this many days.",
    "host": "A host name or IP address, e.g. db.example.com.",
    "port": "1 to 65535, e.g. 5432 for PostgreSQL, 443 for HTTPS, 22 for SSH.",
    "interval_seconds": "How often the check runs: 60 is a good start.",
    "timeout_seconds": "A check slower than this fails. Leave blank for the default: 80 % of the interval, "
    "at most 10 seconds.",
    "down_after": "Consecutive failed checks before the monitor is Down and alerts go out "
    "(2 avoids alerts for a blip).",
    "up_after": "Consecutive good checks before a Down monitor is Up again.",
    "schedule_kind": "A fixed period suits jobs that run every N minutes; a cron expression suits jobs run by cron.",
    "period_seconds": "With “Every period”: how often your job pings, e.g. 3600 (hourly) or 86400 (daily).",
    "cron": "With “On a cron schedule”: five fields, minute hour day month weekday, e.g. 0 3 * * * (03:00 every day).",
    "grace_seconds": "How late a ping may be before the monitor is Down, e.g. 3600 for an hour.",
    "manual_resume": "Once paused, ignore pings instead of resuming on the next one.",
    "open_incident": "Its Down opens an incident (or joins the service's open one); Up again resolves it.",
    "incident_severity": "The severity of the incident it opens.",
    "service": "The service it checks, e.g. api-gateway: its Down joins that service's open incident. "
    "Leave blank to use a name made from the monitor's name.",
    "depends_on": "The monitors this one needs, e.g. the VPN in front of it. While one of them (or one they "
    "depend on) is Down, this monitor's Down is recorded and shown, but sends no alert and opens no incident: "
    "it is added to that monitor's incident instead. Leave all unticked for none.",
    "json_assertions": 'One per line: a JSONPath, an operator and a JSON value, e.g. $.status == "ok" or '
    "$.queue.depth < 100. Operators: == != < <= > >= contains, not contains, exists, not exists. "
    "The response must then be JSON. Leave blank to skip.",
    "dns_record_type": "A and AAAA: addresses; CNAME: an alias; MX: mail servers; TXT: texts (SPF, DKIM…); "
    "NS: name servers.",
    "dns_resolver": "The DNS server to ask, as an IP address with an optional port, e.g. 9.9.9.9 or "
    "192.0.2.53:5353. Leave blank for the worker's own resolver.",
    "dns_expected": "Values the answer must contain, one per line, e.g. 192.0.2.10 or “10 mail.example.com” "
    "(case, trailing dots and TXT quotes do not matter). Leave blank to accept any answer.",
    "ping_count": "ICMP echo requests sent per check, 1 to 10. More packets measure loss better but take longer.",
    "max_packet_loss_percent": "Losing more than this share of the packets marks the monitor Degraded; losing "
    "every packet is Down. 0: any loss is Degraded.",
    "domain_expiry_days": "Degraded when the registration expires within this many days; Down once it has "
    "expired. The domain is looked up once a day.",
    "min_runtime_seconds": "A run shorter than this between its /start ping and its success ping fails "
    "(e.g. a backup that did nothing). Leave blank for no bound.",
    "max_runtime_seconds": "A run longer than this between its /start ping and its success ping fails. "
    "Leave blank for no bound.",
    "min_ping_interval_seconds": "A success ping sooner than this after the previous one fails (a job started "
    "twice). Leave blank for no bound.",
    "locations": "Run the check from these probe locations; none: any worker runs it.",
    "quorum": "The monitor is Down when at least this many of its locations fail in the same round, so one "
    "probe's own network trouble does not alert. Leave blank for a majority.",
}

KIND_HELP_TEXTS = {
    (MonitorKind.DNS, "host"): "The name whose records are checked, e.g. example.com or _dmarc.example.com.",
    (MonitorKind.PING, "host"): "A host name or IP address to ping, e.g. gateway.example.com.",
    (MonitorKind.TLS, "host"): "The host name the certificate must be valid for, e.g. example.com (sent as SNI).",
    (MonitorKind.TLS, "port"): "443 for HTTPS; also 465 or 993 (mail), 636 (LDAPS), 5671 (AMQPS)…",
    (MonitorKind.TLS, "tls_expiry_days"): "Degraded when the certificate expires within this many days; an "
    "expired, self-signed or wrong-name certificate is Down.",
    (MonitorKind.TLS, "degraded_after_ms"): "A connection and handshake slower than this marks the monitor "
    "Degraded. Leave blank to never.",
    (MonitorKind.PING, "degraded_after_ms"): "An average round trip slower than this marks the monitor Degraded. "
    "Leave blank to never.",
    (MonitorKind.DNS, "degraded_after_ms"): "An answer slower than this marks the monitor Degraded. "
    "Leave blank to never.",
    (MonitorKind.DOMAIN, "host"): "The registered domain, e.g. example.com (not a subdomain: the registry "
    "knows only what was registered).",
    (MonitorKind.DOMAIN, "timeout_seconds"): "How long the registry may take to answer. Leave blank for the "
    "default, 10 seconds.",
    (MonitorKind.DOMAIN, "down_after"): "Failed daily checks in a row before the monitor is Down and alerts go "
    "out (1: at once).",
}

# Defaults of a new monitor that differ by kind (the model's defaults suit HTTP).
KIND_INITIAL = {
    MonitorKind.TLS: {"port": 443},
    MonitorKind.DOMAIN: {"down_after": 1},
}


class DependencyChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, monitor: Monitor) -> str:
        return f"{monitor.name} ({monitor.get_kind_display()}, {monitor.get_status_display().lower()})"


def _help_for_locations() -> str:
    if ProbeLocation.objects.exists():
        return HELP_TEXTS["locations"]
    return (
        "No probe location is set up yet: any worker runs the check. A location appears here once a probe "
        "worker for it has started (README: “Checks from several locations”)."
    )


_locations_help = lazy(_help_for_locations, str)


class LocationChoices(forms.ModelMultipleChoiceField):
    """Probe locations by name (as the API names them), labelled with whether their probe answers."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("to_field_name", "name")
        super().__init__(*args, **kwargs)

    def label_from_instance(self, location: ProbeLocation) -> str:
        name = location.label or location.name
        if location.last_seen_at is None:
            return f"{name} (no probe has answered yet)"
        now = timezone.now()
        age = (now - location.last_seen_at).total_seconds()
        state = "silent" if locations.is_silent(location, now=now) else "answering"
        seen = "just now" if age < 60 else f"{timesince(location.last_seen_at)} ago"
        return f"{name} ({state}, last seen {seen})"


def _formfield(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"  # a bare host name means https (Django 6's default)
    return field.formfield(**kwargs)


class MonitorForm(forms.ModelForm):
    """One kind's settings (``kind`` picks them from monitors.kinds); the API serializer validates them too.

    ``for_test``: the values of "Test now", which may come before the monitor has a name.
    """

    headers = HeadersField(required=False, label=LABELS["headers"], help_text=HELP_TEXTS["headers"])
    method = forms.ChoiceField(
        label=LABELS["method"], choices=[(method, method) for method in HTTP_METHODS], initial="GET"
    )
    tz = TimeZoneField(
        label="Time zone", help_text="The zone the cron expression is read in (daylight saving included)."
    )
    timeout_seconds = forms.IntegerField(required=False, min_value=1)

    class Meta:
        model = Monitor
        # The API's writable fields: one list for both doors.
        fields = [name for name in MonitorSerializer.Meta.fields if name not in MonitorSerializer.Meta.read_only_fields]
        labels = LABELS
        help_texts = HELP_TEXTS
        field_classes = {"depends_on": DependencyChoices, "locations": LocationChoices}
        widgets = {
            "depends_on": forms.CheckboxSelectMultiple,
            "locations": forms.CheckboxSelectMultiple,
            "body": forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
            "json_assertions": forms.Textarea(
                attrs={"rows": 3, "spellcheck": "false", "placeholder": '$.status == "ok"'}
            ),
            "dns_expected": forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "placeholder": "192.0.2.10"}),
            "schedule_kind": forms.RadioSelect,
            "kind": forms.HiddenInput,
        }
        formfield_callback = _formfield

    def __init__(self, *args, kind: str, for_test: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spec = kinds.KINDS[kind]
        self.for_test = for_test
        self._filled: dict = {}
        if self.instance.pk is None:
            self.instance.kind = kind
            self.initial["kind"] = kind
            for name, value in KIND_INITIAL.get(kind, {}).items():
                self.initial.setdefault(name, value)
            keep = {*kinds.COMMON_FIELDS, "kind", *self.spec.fields}
        else:
            keep = {*kinds.COMMON_FIELDS, *self.spec.fields}  # a monitor's kind cannot change
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        self._tune_fields()

    def _tune_fields(self) -> None:
        fields = self.fields
        if "kind" in fields:
            fields["kind"].choices = [(self.spec.kind, self.spec.label)]
        fields["name"].widget.attrs.setdefault("placeholder", "e.g. Shop front page")
        if self.for_test:
            fields["name"].required = False
        if "url" in fields:
            fields["url"].required = True
            fields["url"].widget.attrs["placeholder"] = "https://example.com/health"
        if "host" in fields:
            fields["host"].required = True
        if "port" in fields:
            fields["port"].required = True
            fields["port"].min_value = 1
            fields["port"].max_value = 65535
            fields["port"].widget.attrs.update(min=1, max=65535)
        for name, low, high in (
            ("ping_count", 1, 10),
            ("max_packet_loss_percent", 0, 99),
            ("domain_expiry_days", 1, 365),
            ("tls_expiry_days", 0, 365),
        ):
            if name in fields:
                fields[name].widget.attrs.update(min=low, max=high)
        for name in ("min_runtime_seconds", "max_runtime_seconds", "min_ping_interval_seconds"):
            if name in fields:
                fields[name].widget.attrs.update(min=1, max=365 * 86400, placeholder="no bound")
        if "quorum" in fields and not ProbeLocation.objects.exists():
            del fields["quorum"]  # nothing to count a quorum of until a probe location exists
        if "quorum" in fields:
            fields["quorum"].min_value = 1
            fields["quorum"].widget.attrs.update(min=1, placeholder="majority")
        if "locations" in fields:
            fields["locations"].queryset = ProbeLocation.objects.order_by("name")
            fields["locations"].help_text = _locations_help()  # asked when shown: no query to build the form
        if "dns_resolver" in fields:
            fields["dns_resolver"].widget.attrs.update(placeholder="system resolver", spellcheck="false")
        if self.spec.kind == MonitorKind.DOMAIN and "timeout_seconds" in fields:
            fields["timeout_seconds"].widget.attrs["placeholder"] = "10"
        if "interval_seconds" in fields:
            minimum = settings.TRACEPOINT["MONITOR_MIN_INTERVAL_SECONDS"]
            fields["interval_seconds"].widget.attrs["min"] = minimum
            fields["interval_seconds"].help_text += f" At least {minimum}."
            maximum = settings.TRACEPOINT["MONITOR_MAX_TIMEOUT_SECONDS"]
            fields["timeout_seconds"].widget.attrs.update(min=1, max=maximum, placeholder="auto")
            fields["timeout_seconds"].label = LABELS["timeout_seconds"]
            fields["timeout_seconds"].help_text = HELP_TEXTS["timeout_seconds"]
            saved = self.instance
            if saved.pk and saved.timeout_seconds == services.default_timeout_seconds(saved.interval_seconds):
                self.initial["timeout_seconds"] = None  # the default: blank, so it keeps following the interval
        if "cron" in fields:
            preview = {
                "hx-get": reverse("monitors:cron-preview"),
                "hx-target": "#cron-preview",
                "hx-swap": "outerHTML",
                "hx-include": "[name=cron],[name=tz]",
            }
            fields["cron"].widget.attrs.update(
                preview, **{"hx-trigger": "input changed delay:300ms", "spellcheck": "false"}
            )
            fields["tz"].widget.attrs.update(preview, **{"hx-trigger": "change"})
            fields["schedule_kind"].choices = [
                (ScheduleKind.SIMPLE, "Every period"),
                (ScheduleKind.CRON, "On a cron schedule"),
            ]
        if "depends_on" in fields:
            others = Monitor.objects.order_by("name", "pk")
            fields["depends_on"].queryset = others.exclude(pk=self.instance.pk) if self.instance.pk else others
            fields["depends_on"].help_text = HELP_TEXTS["depends_on"]
        for name in ("method", "schedule_kind", "incident_severity", "dns_record_type"):
            if name in fields:
                fields[name].help_text = HELP_TEXTS.get(name, fields[name].help_text)
        if "interval_seconds" not in fields and "timeout_seconds" in fields:
            fields["timeout_seconds"].label = LABELS["timeout_seconds"]
        for (kind, name), label in KIND_LABELS.items():
            if kind == self.spec.kind and name in fields:
                fields[name].label = label
        for (kind, name), text in KIND_HELP_TEXTS.items():
            if kind == self.spec.kind and name in fields:
                fields[name].help_text = text

    def fieldsets(self) -> list[dict]:
        """The kind's groups of bound fields, in monitors.kinds order."""
        return [
            {
                "name": group.name,
                "legend": group.legend,
                "fields": [self[name] for name in group.fields if name in self.fields],
            }
            for group in self.spec.groups
        ]

    def clean(self):
        cleaned = super().clean()
        data = {name: value for name, value in cleaned.items() if value is not None}
        if "headers" in self.fields:
            data["headers"] = cleaned.get("headers") or {}
        if "depends_on" in cleaned:
            data["depends_on"] = [monitor.pk for monitor in cleaned["depends_on"]]
        if "locations" in cleaned:
            data["locations"] = [location.name for location in cleaned["locations"]]
        for name in ("quorum", "min_runtime_seconds", "max_runtime_seconds", "min_ping_interval_seconds"):
            if name in self.fields and name in cleaned:
                data[name] = cleaned[name]  # blank clears it: the rules must see the None, not the saved value
        if self.instance.pk is None:
            data["kind"] = self.spec.kind
        if self.for_test and not data.get("name"):
            data["name"] = cleaned["name"] = "Test"
        serializer = MonitorSerializer(instance=self.instance if self.instance.pk else None, data=data, partial=True)
        if serializer.is_valid():
            if "timeout_seconds" in self.fields:
                cleaned["timeout_seconds"] = serializer.validated_data["timeout_seconds"]
            # What the rules fill in beyond the form's fields: a domain's daily interval.
            for name in ("interval_seconds", "port", "down_after"):
                if name in serializer.validated_data and name not in self.fields:
                    self._filled[name] = serializer.validated_data[name]
                    setattr(self.instance, name, serializer.validated_data[name])
        else:
            for field, messages in serializer.errors.items():
                self.add_error(field if field in self.fields else None, messages)
            if "timeout_seconds" in self.fields and cleaned.get("timeout_seconds") is None:
                cleaned["timeout_seconds"] = self.instance.timeout_seconds  # not a second error about a blank
        return cleaned

    def creation_fields(self) -> dict:
        """What ``services.create_monitor`` takes: the kind and the settings given."""
        fields = {name: value for name, value in self.cleaned_data.items() if value is not None} | self._filled
        if "locations" in fields and not fields["locations"]:
            del fields["locations"]  # none chosen: nothing to set
        return fields | {"kind": self.spec.kind}


@dataclass(frozen=True)
class CronPreview:
    """The next runs of a cron schedule as the form shows them, or why there are none."""

    zone: str = ""
    runs: tuple[tuple[str, str], ...] = ()  # (ISO 8601, "Mon 2 Mar 2026, 03:00 CET")
    error: str = ""


def cron_preview(cron: str, tz: str, *, now: datetime) -> CronPreview:
    cron, tz = (cron or "").strip(), (tz or "UTC").strip()
    if not cron:
        return CronPreview(error="Enter a cron expression, e.g. 0 3 * * * for 03:00 every day.")
    if problem := heartbeats.cron_problem(cron):
        return CronPreview(
            error=f"Not a cron expression: {problem.rstrip('.').lower()}. Five fields: "
            "minute hour day-of-month month weekday, e.g. 0 3 * * *."
        )
    if not heartbeats.is_time_zone(tz):
        return CronPreview(error=f"Unknown time zone “{tz}”.")
    runs = heartbeats.upcoming_runs(cron, tz, after=now, count=PREVIEW_RUNS)
    return CronPreview(
        zone=tz, runs=tuple((run.isoformat(), f"{run:%a} {run.day} {run:%b %Y, %H:%M %Z}") for run in runs)
    )
