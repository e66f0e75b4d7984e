from django import forms
from django.db import models

from monitors.models import Monitor
from monitors.serializers import MonitorSerializer


def _formfield(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"  # a bare host name means https (Django 6's default)
    return field.formfield(**kwargs)


class MonitorForm(forms.ModelForm):
    """The dashboard's form; the API serializer's validation runs on it too (one set of rules)."""

    headers = forms.JSONField(required=False, initial=dict, help_text='JSON object, e.g. {"Authorization": "…"}')

    class Meta:
        model = Monitor
        fields = [
            "name",
            "kind",
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
            "open_incident",
            "incident_severity",
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 3})}
        formfield_callback = _formfield

    def clean(self):
        cleaned = super().clean()
        data = {k: v for k, v in cleaned.items() if v is not None}
        data["headers"] = cleaned.get("headers") or {}
        serializer = MonitorSerializer(instance=self.instance if self.instance.pk else None, data=data, partial=True)
        if not serializer.is_valid():
            for field, messages in serializer.errors.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned
