from django import forms
from django.core.exceptions import ValidationError

from events.models import MAX_EVENTS_PER_MINUTE, AlertRule, IssueStatus, Project
from incidents.models import service_validator
from tracepoint.severity import Severity

STATUS_TABS = [*IssueStatus.choices, ("all", "All")]
# Sort key in the query string → ordering. Newest/largest first, ties by id for stable pages.
SORTS = {
    "last_seen": ("Last seen", ["-last_seen", "-id"]),
    "events": ("Events", ["-event_count", "-id"]),
    "first_seen": ("First seen", ["-first_seen", "-id"]),
    "priority": ("Priority", ["-priority", "-last_seen", "-id"]),
}


class IssueFilterForm(forms.Form):
    """The issue list's query string, validated (bad values show as errors, never ignored)."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, choices=STATUS_TABS)
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False, empty_label="All projects")
    sort = forms.ChoiceField(required=False, choices=[(key, label) for key, (label, _) in SORTS.items()])
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        if projects is not None:
            self.fields["project"].queryset = projects


class IssueStatusForm(forms.Form):
    status = forms.ChoiceField(choices=IssueStatus.choices)


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=100, help_text="Lowercase letters, digits and dashes, e.g. web-shop.")
    services = forms.CharField(
        required=False, max_length=1000, help_text="Comma-separated service names, e.g. checkout, api."
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].lower()
        if Project.objects.filter(slug=slug).exists():
            raise ValidationError("A project with this slug exists already.")
        return slug

    def clean_services(self) -> list[str]:
        names = [name.strip().lower() for name in self.cleaned_data["services"].split(",") if name.strip()]
        for name in names:
            service_validator(name)
        return list(dict.fromkeys(names))


class ProjectQuotaForm(forms.Form):
    events_per_minute = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_EVENTS_PER_MINUTE,
        label="Events per minute",
        help_text="Empty: the installation's default.",
    )


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = [
            "name",
            "kind",
            "threshold_count",
            "window_minutes",
            "min_priority",
            "cooldown_minutes",
            "channels",
            "open_incident",
            "incident_severity",
            "resolve_issue_with_incident",
        ]
        widgets = {"channels": forms.CheckboxSelectMultiple}


class IssueAssignForm(forms.Form):
    """Assign to a responder or admin of the issue's project; empty: nobody."""

    assignee = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Assignee",
        empty_label="Nobody",
        help_text="A responder or admin who can see this project.",
    )

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = users
        self.fields["assignee"].label_from_instance = lambda user: user.get_full_name() or user.get_username()


class IssueCommentForm(forms.Form):
    body = forms.CharField(
        max_length=10_000,
        label="Comment",
        help_text="Plain text; seen by everyone who can see this issue.",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What did you find?"}),
    )


class IssueIncidentForm(forms.Form):
    """Open an incident for the issue's service (or join the one already open for it)."""

    title = forms.CharField(max_length=200, label="Incident title")
    severity = forms.ChoiceField(
        choices=Severity.choices,
        label="Severity",
        help_text="Proposed from the issue's severity: critical is SEV1, low is SEV4.",
    )
    summary = forms.CharField(
        required=False,
        max_length=5000,
        label="Summary",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What responders should know first.",
    )
    resolve_issue_with_incident = forms.BooleanField(
        required=False,
        initial=True,
        label="Resolve the issue with the incident",
        help_text="Resolving the incident also resolves this issue.",
    )
