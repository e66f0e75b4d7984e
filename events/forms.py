from django import forms
from django.core.exceptions import ValidationError

from events.models import MAX_EVENTS_PER_MINUTE, AlertRule, IssueStatus, Project
from incidents.models import service_validator

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
