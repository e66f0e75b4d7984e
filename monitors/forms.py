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
        # The API's writable fields: one list for both doors.
        fields = [name for name in MonitorSerializer.Meta.fields if name not in MonitorSerializer.Meta.read_only_fields]
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
