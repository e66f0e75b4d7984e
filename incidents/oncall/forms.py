"""Forms of the "Contact methods" page: one kind of method at a time, and a rule (method + delay).

The forms parse input; the rules (valid address, apprise scheme, address guard, limits) are the
services' (``contacts``), whose ``DomainError`` details the views put back on the fields.
"""

from __future__ import annotations

from django import forms

from incidents.oncall.models import MAX_RULE_DELAY_MINUTES, MAX_TARGET_LENGTH, ContactKind, ContactMethod

KIND_DESCRIPTIONS = {
    ContactKind.EMAIL: "A message with the whole page and its links, to any address you read.",
    ContactKind.APPRISE: "A push notification (ntfy, Pushover, Gotify), a chat message (Telegram, Slack, Matrix, "
    "Discord) or an SMS through a provider (Twilio, Vonage…): one apprise URL.",
    ContactKind.WEBHOOK: "A JSON POST to your own endpoint, e.g. a phone automation or a home server.",
}

# Personal ones first: a contact method reaches one person.
APPRISE_EXAMPLES = [
    ("ntfy (push to your phone)", "ntfys://ntfy.sh/your-private-topic"),
    ("Pushover", "pover://user_key@app_token"),
    ("Telegram (a bot to your chat)", "tgram://123456789:bot_token/your_chat_id"),
    ("Gotify", "gotifys://gotify.example.com/app_token"),
    ("SMS through Twilio", "twilio://AC0123456789abcdef0123456789abcdef:AuthToken@15551234567/15557654321"),
    ("Slack (direct message)", "slack://TokenA/TokenB/TokenC/@your.name"),
    ("Matrix", "matrixs://user:password@matrix.example.com/@you:example.com"),
    ("Discord", "discord://webhook_id/webhook_token"),
]

TARGET_FIELDS = {
    ContactKind.EMAIL: {
        "label": "Email address",
        "help_text": "Where pages go, e.g. ann@example.com. Use an address you read on your phone.",
        "widget": forms.EmailInput(attrs={"placeholder": "ann@example.com", "autocomplete": "email"}),
    },
    ContactKind.APPRISE: {
        "label": "Apprise URL",
        "help_text": "The service's apprise URL, e.g. ntfys://ntfy.sh/your-private-topic, "
        "pover://user_key@app_token or tgram://123456789:bot_token/your_chat_id. "
        "It is stored as typed and only shown back with its secrets hidden.",
        "widget": forms.TextInput(
            attrs={"placeholder": "ntfys://ntfy.sh/your-private-topic", "autocomplete": "off", "spellcheck": "false"}
        ),
    },
    ContactKind.WEBHOOK: {
        "label": "Webhook URL",
        "help_text": "An http(s) URL that receives a JSON POST per page, e.g. https://hooks.example.com/page-me/token. "
        "Put a secret in the URL if your endpoint needs one: it is only shown back as its host.",
        "widget": forms.URLInput(
            attrs={"placeholder": "https://hooks.example.com/page-me", "autocomplete": "off", "spellcheck": "false"}
        ),
    },
}

LABEL_PLACEHOLDERS = {
    ContactKind.EMAIL: "Work email",
    ContactKind.APPRISE: "Phone (ntfy)",
    ContactKind.WEBHOOK: "Home automation",
}


class ContactMethodForm(forms.Form):
    """Add or edit one method of a given kind: a label and that kind's target (plus "enabled" when editing).

    Editing an apprise or webhook method never puts the stored target in the page: left empty, it stays.
    """

    label = forms.CharField(
        max_length=100,
        help_text="Your name for it, shown in your rules and on the pages you get, e.g. “Phone (ntfy)”.",
    )
    target = forms.CharField(max_length=MAX_TARGET_LENGTH)
    enabled = forms.BooleanField(required=False, initial=True, help_text="Disabled methods are skipped when paged.")

    def __init__(self, *args, kind: str, instance: ContactMethod | None = None, **kwargs):
        self.kind = kind
        self.instance = instance
        if instance is not None:
            kwargs.setdefault("initial", {"label": instance.label, "enabled": instance.enabled})
        super().__init__(*args, **kwargs)
        spec = TARGET_FIELDS[kind]
        target = self.fields["target"]
        target.label, target.help_text, target.widget = spec["label"], spec["help_text"], spec["widget"]
        self.fields["label"].widget.attrs["placeholder"] = LABEL_PLACEHOLDERS[kind]
        if instance is None:
            del self.fields["enabled"]
        elif kind == ContactKind.EMAIL:
            self.initial["target"] = instance.target
        else:
            target.required = False
            target.widget.attrs["placeholder"] = instance.target_redacted
            target.help_text = "Leave empty to keep the current one. " + spec["help_text"]

    def clean_target(self) -> str:
        return (self.cleaned_data.get("target") or "").strip()

    @property
    def kind_label(self) -> str:
        return ContactKind(self.kind).label

    @property
    def apprise_examples(self) -> list[tuple[str, str]]:
        return APPRISE_EXAMPLES


DELAY_CHOICES = [(0, "Immediately"), (1, "After 1 minute"), (2, "After 2 minutes"), (5, "After 5 minutes")] + [
    (m, f"After {m} minutes") for m in (10, 15, 20, 30, 45)
]


class NotificationRuleForm(forms.Form):
    contact_method = forms.ModelChoiceField(
        queryset=ContactMethod.objects.none(),
        label="Contact method",
        empty_label=None,
        help_text="One of your contact methods.",
    )
    delay_minutes = forms.IntegerField(
        label="Minutes after the page starts",
        min_value=0,
        max_value=MAX_RULE_DELAY_MINUTES,
        initial=0,
        help_text="0 is immediately; e.g. 5 is “after 5 minutes without acknowledgement”.",
        widget=forms.NumberInput(attrs={"list": "delay-suggestions", "step": 1, "inputmode": "numeric"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["contact_method"]
        field.queryset = ContactMethod.objects.filter(user=user).order_by("created_at", "id")
        field.label_from_instance = lambda method: method.title

    @property
    def delay_suggestions(self) -> list[tuple[int, str]]:
        return DELAY_CHOICES
