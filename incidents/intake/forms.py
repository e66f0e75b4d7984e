"""Forms of the alerts and integrations pages."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from incidents.intake.filters import LABEL_KEY_RE, STATUS_TABS, LabelsField
from incidents.intake.models import Integration, IntegrationKind, default_severity_mapping
from incidents.models import service_validator
from tracepoint.severity import Severity

SOURCE_SEVERITY_MAX = 50  # Alert.source_severity
MAX_MAPPING_ROWS = 30
BLANK_ROWS = 2
DEFAULT_KEY = "default"

# What each kind is, in one sentence, next to its radio button.
KIND_HINTS = {
    IntegrationKind.ALERTMANAGER: "Prometheus Alertmanager's webhook receiver (webhook_configs).",
    IntegrationKind.GRAFANA: "A Grafana Alerting contact point of type Webhook.",
    IntegrationKind.EVENTS_V2: "Any tool that can page PagerDuty (Events API v2): only its base URL changes.",
    IntegrationKind.GENERIC: "Your own scripts and tools: a small JSON format posted with curl.",
}


class AlertFilterForm(forms.Form):
    """The alerts list's query string, validated (bad values show as errors, never ignored)."""

    status = forms.ChoiceField(required=False, choices=STATUS_TABS)
    integration = forms.ModelChoiceField(
        queryset=Integration.objects.all(), required=False, empty_label="All integrations"
    )
    service = forms.CharField(required=False, max_length=100)
    severity = forms.ChoiceField(required=False, choices=[("", "Any severity"), *Severity.choices])
    label = LabelsField(required=False, label="Label")
    group = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)


class ServiceFrom:
    LABEL = "label"
    FIXED = "fixed"


class IntegrationForm(forms.Form):
    """New integration (kind first) or edit (the kind stays: senders are set up for it).

    The severity mapping is edited as rows: ``mapping_source`` and ``mapping_severity`` come in pairs,
    blank rows are skipped, and the default row catches every other source severity.
    """

    kind = forms.ChoiceField(
        choices=IntegrationKind.choices,
        widget=forms.RadioSelect,
        initial=IntegrationKind.ALERTMANAGER,
        label="Kind",
        help_text="Which tool sends the alerts: it decides the endpoint and the payload format.",
    )
    name = forms.CharField(
        max_length=100,
        help_text="How people will recognise it, e.g. “Prometheus prod” or “Grafana team dashboards”.",
    )
    service_from = forms.ChoiceField(
        choices=[
            (ServiceFrom.LABEL, "A label of each alert names the service"),
            (ServiceFrom.FIXED, "Every alert is for one service"),
        ],
        initial=ServiceFrom.LABEL,
        widget=forms.RadioSelect,
        label="Service",
    )
    service_label = forms.CharField(
        required=False,
        max_length=100,
        initial="service",
        label="Label that names the service",
        help_text="The label whose value is the service, e.g. service or job (Prometheus' job label).",
    )
    service = forms.CharField(
        required=False,
        max_length=100,
        label="Service name",
        help_text="Lowercase, as your incidents and monitors call it, e.g. checkout or api-gateway.",
    )
    default_severity = forms.ChoiceField(
        choices=Severity.choices,
        initial=Severity.SEV3,
        label="Any other severity",
        help_text="Used for a severity not listed above, and for alerts without one.",
    )
    is_active = forms.BooleanField(
        required=False,
        initial=True,
        label="Active",
        help_text="An inactive integration refuses its senders with 401 until it is activated again.",
    )

    def __init__(self, data=None, *, instance: Integration | None = None, extra_rows: int = 0, **kwargs):
        self.instance = instance
        if instance is not None:
            mapping = instance.severity_mapping or {}
            kwargs.setdefault(
                "initial",
                {
                    "name": instance.name,
                    "service_from": ServiceFrom.FIXED if instance.service else ServiceFrom.LABEL,
                    "service": instance.service,
                    "service_label": instance.service_label or "service",
                    "default_severity": mapping.get(DEFAULT_KEY, Severity.SEV3),
                    "is_active": instance.is_active,
                },
            )
        else:
            mapping = default_severity_mapping()
            kwargs.setdefault("initial", {"default_severity": mapping.get(DEFAULT_KEY, Severity.SEV3)})
        super().__init__(data, **kwargs)
        if instance is not None:
            del self.fields["kind"]  # shown, not edited
        self.mapping_errors: list[str] = []
        if data is not None:
            sources = data.getlist("mapping_source") if hasattr(data, "getlist") else []
            levels = data.getlist("mapping_severity") if hasattr(data, "getlist") else []
            self.mapping_rows = [
                {"source": source, "severity": levels[index] if index < len(levels) else ""}
                for index, source in enumerate(sources[: MAX_MAPPING_ROWS + BLANK_ROWS + 10])
            ]
        else:
            self.mapping_rows = [
                {"source": source, "severity": level}
                for source, level in mapping.items()
                if str(source).lower() != DEFAULT_KEY
            ]
        filled = [row for row in self.mapping_rows if row["source"].strip()]
        self.mapping_rows = filled + [{"source": "", "severity": ""} for _ in range(BLANK_ROWS + extra_rows)]

    @property
    def severity_choices(self):
        return Severity.choices

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def clean_service(self) -> str:
        return self.cleaned_data["service"].strip().lower()

    def clean_service_label(self) -> str:
        return self.cleaned_data["service_label"].strip()

    def _clean_mapping(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for row in self.mapping_rows:
            source, level = row["source"].strip().lower(), row["severity"]
            if not source:
                continue
            if "\x00" in source:
                self.mapping_errors.append("Null characters are not allowed.")
            elif len(source) > SOURCE_SEVERITY_MAX:
                self.mapping_errors.append(f"“{source[:60]}…” is longer than {SOURCE_SEVERITY_MAX} characters.")
            elif source == DEFAULT_KEY:
                self.mapping_errors.append("“default” is the last row: set it there.")
            elif source in mapping:
                self.mapping_errors.append(f"“{source}” is listed twice.")
            elif level not in Severity.values:
                self.mapping_errors.append(f"Pick SEV1 to SEV4 for “{source}”.")
            else:
                mapping[source] = level
        if len(mapping) > MAX_MAPPING_ROWS:
            self.mapping_errors.append(f"At most {MAX_MAPPING_ROWS} severities.")
        return mapping

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("service_from") == ServiceFrom.FIXED:
            service = cleaned.get("service")
            if not service:
                self.add_error("service", "Name the service, or choose “A label of each alert names the service”.")
            else:
                try:
                    service_validator(service)
                except ValidationError as exc:
                    self.add_error("service", exc)
            cleaned["service_label"] = ""
        elif cleaned.get("service_from") == ServiceFrom.LABEL:
            label = cleaned.get("service_label")
            if not label:
                self.add_error("service_label", "Name the label, e.g. service or job.")
            elif not LABEL_KEY_RE.match(label):
                self.add_error(
                    "service_label", "A label name starts with a letter or _, then letters, digits, _ . : / or -."
                )
            cleaned["service"] = ""
        mapping = self._clean_mapping()
        if self.mapping_errors:
            raise ValidationError("Severity mapping: " + " ".join(self.mapping_errors))
        if "default_severity" in cleaned:
            mapping[DEFAULT_KEY] = cleaned["default_severity"]
        cleaned["severity_mapping"] = mapping
        return cleaned


class RotateConfirmForm(forms.Form):
    """Rotation breaks every sender until it gets the new token: the admin says so explicitly."""

    confirm = forms.BooleanField(
        label="I understand that the current token stops working at once",
        error_messages={"required": "Tick the box to confirm: senders using the current token will be refused."},
    )


class ActiveForm(forms.Form):
    active = forms.TypedChoiceField(
        choices=[("true", "Activate"), ("false", "Deactivate")], coerce=lambda v: v == "true"
    )
