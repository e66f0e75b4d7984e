from django import forms
from django.contrib.auth import get_user_model

from incidents.models import Severity, Status, service_validator


class IncidentForm(forms.Form):
    title = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "e.g. Checkout returns 502"}),
        help_text="What is wrong, in the words people will look for.",
    )
    service = forms.CharField(
        max_length=100,
        validators=[service_validator],
        help_text="The service it hits, lowercase, e.g. api-gateway: alerts and monitors of that service join "
        "this incident instead of opening another.",
    )
    severity = forms.ChoiceField(
        choices=Severity.choices,
        initial=Severity.SEV3,
        help_text="SEV1 and SEV2 notify the incident channels at once. The service's escalation policy, if it has "
        "one, pages the on-call whatever the severity.",
    )
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="Unassigned",
        to_field_name="username",
        help_text="Who leads the response; you can set it later.",
    )
    summary = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you know so far. Optional.",
    )

    def clean_service(self) -> str:
        return self.cleaned_data["service"].lower()


class CommentForm(forms.Form):
    body = forms.CharField(
        max_length=10_000,
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Add a comment…"}),
    )


class TransitionForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)


class ListFilterForm(forms.Form):
    """The incident list's query string, validated (bad values show as errors, never ignored)."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    severity = forms.MultipleChoiceField(choices=Severity.choices, required=False)
    status = forms.MultipleChoiceField(choices=Status.choices, required=False)
    service = forms.CharField(required=False, max_length=100)
    ordering = forms.ChoiceField(
        required=False,
        choices=[("", "Newest first")]
        + [
            (f"{sign}{name}", f"{sign}{name}")
            for name in ("created_at", "updated_at", "severity", "status", "title")
            for sign in ("", "-")
        ],
    )
    page = forms.IntegerField(required=False, min_value=1)
