from __future__ import annotations

import re

from django import forms

from tracepoint.notifications import apprise_channel, topics
from tracepoint.notifications.models import NotificationChannel

_TOPIC_SPLIT_RE = re.compile(r"[\s,]+")

APPRISE_HELP = (
    "An apprise URL names the service and holds its tokens, e.g. "
    "slack://TokenA/TokenB/TokenC/#channel, discord://webhook_id/webhook_token, "
    "workflows://host:port/workflow/signature (Teams), tgram://bot_token/chat_id or ntfys://ntfy.sh/topic. "
    "It is stored as typed and only shown back with its secrets hidden."
)


def _topic_names(text: str) -> list[str]:
    names = [name for name in _TOPIC_SPLIT_RE.split(text.strip().lower()) if name]
    invalid = [name for name in names if not topics.is_valid_pattern(name)]
    if invalid:
        raise forms.ValidationError(
            "Not a topic: %(names)s. Use dotted words such as incident.created or incident.*.",
            params={"names": ", ".join(invalid)},
        )
    return list(dict.fromkeys(names))


class _KeepsAppriseURL:
    """The stored apprise URL is never put in the form: left empty, the old one stays."""

    def _setup_apprise_field(self) -> None:
        field = self.fields.get("apprise_url")
        if field is None:
            return
        self.initial["apprise_url"] = ""
        if self.instance.pk and self.instance.apprise_url:
            field.required = False
            field.widget.attrs["placeholder"] = self.instance.apprise_url_redacted
            field.help_text = "Leave empty to keep the current URL. " + APPRISE_HELP

    def clean_apprise_url(self) -> str:
        typed = (self.cleaned_data.get("apprise_url") or "").strip()
        return typed or (self.instance.apprise_url if self.instance.pk else "")


class NotificationChannelForm(_KeepsAppriseURL, forms.ModelForm):
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
    apprise_url = forms.CharField(
        required=False,
        max_length=2000,
        label="Apprise URL",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=APPRISE_HELP,
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
            "apprise_url",
            "topics",
            "min_severity",
        ]
        widgets = {"email_recipients": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["topics"] = "\n".join(self.instance.topics or [])
        self._setup_apprise_field()

    def clean_topics(self) -> list[str]:
        return _topic_names(self.cleaned_data["topics"])


class ChannelForm(_KeepsAppriseURL, forms.ModelForm):
    """The dashboard's form for one kind of channel: only that kind's fields (the kind is chosen first)."""

    KIND_FIELDS = {
        NotificationChannel.Kind.EMAIL: ["email_recipients"],
        NotificationChannel.Kind.WEBHOOK: ["webhook_url"],
        NotificationChannel.Kind.APPRISE: ["apprise_url"],
    }

    webhook_url = forms.URLField(
        label="Webhook URL",
        max_length=500,
        assume_scheme="https",
        help_text="Receives a JSON POST signed with X-Tracepoint-Signature (HMAC-SHA256 of the body).",
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/tracepoint"}),
    )
    apprise_url = forms.CharField(
        label="Apprise URL",
        max_length=2000,
        help_text=APPRISE_HELP,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "slack://TokenA/TokenB/TokenC"}
        ),
    )
    topic_choices = forms.MultipleChoiceField(
        label="Topics",
        required=False,
        choices=[(name, f"{description} ({name})") for name, description in topics.KNOWN_TOPICS],
        widget=forms.CheckboxSelectMultiple,
        help_text="Nothing checked and no other topic: every topic.",
    )
    other_topics = forms.CharField(
        label="Other topics",
        required=False,
        max_length=1000,
        help_text="Optional, separated by spaces or commas; incident.* matches every incident topic.",
    )

    class Meta:
        model = NotificationChannel
        fields = ["name", "enabled", "email_recipients", "webhook_url", "apprise_url", "min_severity"]
        labels = {"email_recipients": "Recipients", "min_severity": "Minimum severity"}
        widgets = {
            "email_recipients": forms.Textarea(attrs={"rows": 3, "placeholder": "oncall@example.com"}),
            "name": forms.TextInput(attrs={"placeholder": "Slack #ops"}),
        }
        help_texts = {
            "name": "Shown in the channel list and in the timeline (“acknowledged by Ann via Slack #ops link”).",
            "email_recipients": "Addresses separated by commas or new lines.",
            "min_severity": "Only messages at least this severe; messages without a severity always go.",
        }

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.kind = kind
        for other_kind, names in self.KIND_FIELDS.items():
            if other_kind != kind:
                for name in names:
                    del self.fields[name]
        self.fields["min_severity"].choices = [("", "Any severity"), *self.fields["min_severity"].choices[1:]]
        known = {name for name, _ in topics.KNOWN_TOPICS}
        if not self.is_bound:
            chosen = self.instance.topics or []
            self.initial["topic_choices"] = [name for name in chosen if name in known]
            self.initial["other_topics"] = " ".join(name for name in chosen if name not in known)
        self._setup_apprise_field()

    @property
    def kind_fields(self) -> list:
        return [self[name] for name in self.KIND_FIELDS[self.instance.kind]]

    def clean_other_topics(self) -> list[str]:
        return _topic_names(self.cleaned_data["other_topics"])

    def clean(self):
        data = super().clean()
        self.instance.topics = list(dict.fromkeys([*data.get("topic_choices", []), *data.get("other_topics", [])]))
        return data

    @property
    def apprise_examples(self) -> list[tuple[str, str]]:
        return list(apprise_channel.EXAMPLES.items())
