"""Dashboard forms for status pages: the same rules as the API (statuspages.serializers, services)."""

from __future__ import annotations

from django import forms

from monitors.models import Monitor
from statuspages.models import Component, ComponentGroup, ComponentStatus, Maintenance, PublicStatus, StatusPage


class PageForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="For a private page: visitors with it can read the page. Leave blank to keep the current one.",
    )
    remove_password = forms.BooleanField(required=False, label="Remove the password")
    logo_url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="Logo URL")

    class Meta:
        model = StatusPage
        fields = ["title", "slug", "description", "logo_url", "time_zone", "is_public"]

    def chosen_password(self) -> str | None:
        if self.cleaned_data.get("remove_password"):
            return ""
        return self.cleaned_data.get("password") or None


class GroupForm(forms.ModelForm):
    class Meta:
        model = ComponentGroup
        fields = ["name", "position"]


class ComponentForm(forms.ModelForm):
    def __init__(self, *args, page: StatusPage, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = ComponentGroup.objects.filter(page=page)
        self.fields["monitors"].queryset = Monitor.objects.order_by("name")
        self.fields["monitors"].required = False

    class Meta:
        model = Component
        fields = ["name", "description", "group", "position", "monitors", "showcase", "only_show_if_degraded"]
        widgets = {"monitors": forms.SelectMultiple(attrs={"size": 6})}


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Follow its monitors"), *ComponentStatus.choices], required=False)


class MaintenanceForm(forms.ModelForm):
    def __init__(self, *args, page: StatusPage, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"].queryset = Component.objects.filter(page=page)
        self.fields["components"].required = False

    class Meta:
        model = Maintenance
        fields = ["title", "message", "components", "scheduled_for", "scheduled_until"]
        widgets = {
            "scheduled_for": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "scheduled_until": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "message": forms.Textarea(attrs={"rows": 3}),
        }

    def clean(self):
        data = super().clean()
        start, end = data.get("scheduled_for"), data.get("scheduled_until")
        if start and end and end <= start:
            self.add_error("scheduled_until", "Must be after the start.")
        return data


class PublishForm(forms.Form):
    page = forms.ModelChoiceField(queryset=StatusPage.objects.all())
    components = forms.ModelMultipleChoiceField(queryset=Component.objects.select_related("page"), required=False)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000, label="First public update")

    def clean(self):
        data = super().clean()
        page = data.get("page")
        if page and any(c.page_id != page.pk for c in data.get("components", [])):
            self.add_error("components", "Choose components of that page.")
        return data


class UpdateForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000, label="Public update")
    status = forms.ChoiceField(
        choices=[("", "Keep the current status"), *PublicStatus.choices], required=False, label="Status"
    )
