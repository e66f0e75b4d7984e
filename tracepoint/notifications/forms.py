from __future__ import annotations

import re

from django import forms

from tracepoint.notifications import topics
from tracepoint.notifications.models import NotificationChannel

_TOPIC_SPLIT_RE = re.compile(r"[\s,]+")


class NotificationChannelForm(forms.ModelForm):
    """Admin form: topics typed one per line (or comma separated) instead of as JSON."""

    topics = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            f"One per line, such as {topics.INCIDENT_CREATED}, {topics.INCIDENT_STATUS_CHANGED} "
            "or incident.* for every incident topic. Empty means all topics."
        ),
    )

    # Django 6 makes https the default scheme for typed URLs without one; choose it now.
    webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=NotificationChannel._meta.get_field("webhook_url").help_text,
    )

    class Meta:
        model = NotificationChannel
        fields = [
            "name",
            "kind",
            "enabled",
            "email_recipients",
            "webhook_url",
            "webhook_secret",
            "topics",
            "min_severity",
        ]
        widgets = {"email_recipients": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["topics"] = "\n".join(self.instance.topics or [])

    def clean_topics(self) -> list[str]:
        names = [name for name in _TOPIC_SPLIT_RE.split(self.cleaned_data["topics"].strip().lower()) if name]
        invalid = [name for name in names if not topics.is_valid_pattern(name)]
        if invalid:
            raise forms.ValidationError(
                "Not a topic: %(names)s. Use dotted words such as incident.created or incident.*.",
                params={"names": ", ".join(invalid)},
            )
        return list(dict.fromkeys(names))
