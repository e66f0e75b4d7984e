"""Dashboard forms for status pages: the same rules as the API (statuspages.serializers, services)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.urls import reverse
from django.utils.safestring import mark_safe

from monitors.models import Monitor
from statuspages import logos, setup
from statuspages.models import (
    Component,
    ComponentGroup,
    ComponentStatus,
    Maintenance,
    PublicStatus,
    StatusPage,
    slug_validator,
)
from tracepoint.forms import TimeZoneField

ZONE_ERROR = "Choose a time zone from the list (“%(value)s” is not one)."


class PageForm(forms.ModelForm):
    """A page's settings: step 1 of the set-up flow, for a new page and again later."""

    slug = forms.CharField(
        label="Address",
        max_length=50,
        validators=[slug_validator],
        help_text=mark_safe("The page is at /status/<em>address</em>/: lowercase letters, digits and dashes."),
    )
    time_zone = TimeZoneField(
        label="Time zone",
        help_text="Times on the public page (incidents, maintenance, uptime days) use this zone.",
        error_messages={"invalid_choice": ZONE_ERROR},
    )
    logo = forms.FileField(
        required=False,
        label="Logo",
        widget=forms.FileInput(attrs={"accept": logos.ACCEPTED}),
        help_text=f"A PNG, JPEG, WebP or GIF image up to {logos.LOGO_MAX_BYTES // 1024} KB, shown 40 pixels high "
        "in the page header.",
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the logo")
    password = forms.CharField(
        required=False,
        label="Password",
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional, for a private page: visitors who know it can read the page without a login.",
    )
    remove_password = forms.BooleanField(required=False, label="Remove the password")

    class Meta:
        model = StatusPage
        fields = ["title", "slug", "description", "time_zone", "is_public"]
        labels = {"title": "Title", "description": "Description", "is_public": "Public page"}
        help_texts = {
            "title": "Your product or company name, shown at the top of the page.",
            "description": "Optional: a sentence under the title, e.g. what the page covers.",
            "is_public": "Anyone can read a public page. A private one needs a login or its password.",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        page = self.instance
        if page.pk is None:
            self.fields["title"].widget.attrs.update(
                {  # the address field comes back with a suggestion made from the title
                    "hx-get": reverse("statuspages:new"),
                    "hx-trigger": "change",
                    "hx-target": "#slug-field",
                    "hx-swap": "outerHTML",
                    "hx-include": "#id_slug",
                }
            )
            self.fields["slug"].required = False
            self.fields["slug"].help_text += " Leave it blank to use one made from the title."
            self.fields["time_zone"].initial = "UTC"
        if not page.password:
            del self.fields["remove_password"]
        else:
            self.fields[
                "password"
            ].help_text = "This page has a password. Type a new one to change it, or leave it blank."
        if not (page.logo or page.logo_url):
            del self.fields["remove_logo"]
        else:
            self.fields["logo"].help_text += " A new image replaces the current one."

    FIELDSETS = (
        ("The page", ("title", "slug", "description")),
        ("Look and time", ("logo", "remove_logo", "time_zone")),
        ("Who can read it", ("is_public", "password", "remove_password")),
    )

    def fieldsets(self) -> list[tuple[str, list]]:
        """(legend, bound fields) for the template's ``<fieldset class="group">``s."""
        return [(legend, [self[name] for name in names if name in self.fields]) for legend, names in self.FIELDSETS]

    def clean_slug(self) -> str:
        slug = self.cleaned_data.get("slug", "")
        if slug in setup.RESERVED_SLUGS:
            raise forms.ValidationError("This address is taken by the dashboard; choose another.")
        return slug

    def clean_logo(self) -> logos.Logo | None:
        upload = self.cleaned_data.get("logo")
        return logos.read_logo(upload) if upload else None

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and not data.get("slug") and data.get("title"):
            data["slug"] = self.instance.slug = setup.suggest_slug(data["title"])
        if data.get("logo") and data.get("remove_logo"):
            self.add_error("remove_logo", "Either upload a new logo or remove it, not both.")
        return data

    def chosen_password(self) -> str | None:
        """For setup.save_page: None keeps the password, '' removes it."""
        if self.cleaned_data.get("remove_password"):
            return ""
        return self.cleaned_data.get("password") or None


class MonitorChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, monitor: Monitor) -> str:
        return f"{monitor.name} ({monitor.get_kind_display()}, {monitor.get_status_display().lower()})"


class ComponentsFromMonitorsForm(forms.Form):
    """Step 2 of the set-up flow: tick monitors, each becomes a component that follows it."""

    monitors = MonitorChoices(
        queryset=Monitor.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label="Monitors",
        help_text="Each monitor you tick becomes a component named after it, whose status follows that monitor. "
        "Monitors already on this page are not listed.",
    )
    group = forms.ModelChoiceField(
        queryset=ComponentGroup.objects.none(),
        required=False,
        label="Group",
        empty_label="No group",
        help_text="Optional: put the new components in one of the page's groups…",
    )
    new_group = forms.CharField(
        required=False,
        max_length=100,
        label="Or a new group",
        help_text="…or in a new group with this name (e.g. “API” or “Europe”).",
    )

    def __init__(self, *args, page: StatusPage, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["monitors"].queryset = Monitor.objects.exclude(components__page=page).order_by("name", "pk")
        self.fields["group"].queryset = ComponentGroup.objects.filter(page=page)
        if not self.fields["group"].queryset.exists():
            del self.fields["group"]
            self.fields["new_group"].label = "Group"
            self.fields["new_group"].help_text = "Optional: put the new components in a new group with this name."

    def clean(self):
        data = super().clean()
        if data.get("group") and data.get("new_group"):
            self.add_error("new_group", "Choose a group or name a new one, not both.")
        return data


class GroupForm(forms.ModelForm):
    class Meta:
        model = ComponentGroup
        fields = ["name", "description", "position"]
        labels = {"name": "Name", "description": "Description", "position": "Order"}
        help_texts = {
            "name": "Shown as a heading above its components, e.g. “API” or “Europe”.",
            "description": "Optional: what the group covers.",
            "position": "Groups and components with lower numbers come first.",
        }


class ComponentForm(forms.ModelForm):
    def __init__(self, *args, page: StatusPage, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = ComponentGroup.objects.filter(page=page)
        self.fields["group"].empty_label = "No group"
        self.fields["monitors"].queryset = Monitor.objects.order_by("name", "pk")
        self.fields["monitors"].required = False

    class Meta:
        model = Component
        fields = ["name", "description", "group", "position", "monitors", "showcase", "only_show_if_degraded"]
        labels = {
            "name": "Name",
            "description": "Description",
            "group": "Group",
            "position": "Order",
            "monitors": "Monitors",
            "showcase": "Show 90-day uptime bars",
            "only_show_if_degraded": "Hide while operational",
        }
        help_texts = {
            "name": "What visitors know it as, e.g. “Checkout” or “Public API”.",
            "description": "Optional: shown next to the name on the public page.",
            "group": "Optional: the group it is listed under.",
            "position": "Components with lower numbers come first.",
            "monitors": "Its status follows the worst of these monitors. None: you set its status by hand.",
            "showcase": "The bars of the last 90 days under the component, with its uptime.",
            "only_show_if_degraded": "Listed on the public page only while it has a problem.",
        }
        widgets = {"monitors": forms.CheckboxSelectMultiple}


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Follow its monitors"), *ComponentStatus.choices], required=False)


def in_zone(value: datetime, zone: str) -> datetime:
    """The wall-clock time of ``value`` (read as UTC by the form) in ``zone``; ValueError for a time the
    zone skips or repeats on a clock change."""
    wall = value.astimezone(UTC).replace(tzinfo=None)
    earlier, later = wall.replace(tzinfo=ZoneInfo(zone), fold=0), wall.replace(tzinfo=ZoneInfo(zone), fold=1)
    if earlier.utcoffset() != later.utcoffset():  # PEP 495: only in a gap or an overlap do the two differ
        raise ValueError(f"{wall:%Y-%m-%d %H:%M} does not exist or happens twice in {zone} (a clock change).")
    return earlier.astimezone(UTC)


class MaintenanceForm(forms.ModelForm):
    """Times are entered in the chosen zone (the page's by default) and stored in UTC."""

    time_zone = TimeZoneField(
        label="Time zone",
        help_text="The zone of the start and end times above (the page's zone by default).",
        error_messages={"invalid_choice": ZONE_ERROR},
    )

    def __init__(self, *args, page: StatusPage, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"].queryset = Component.objects.filter(page=page)
        self.fields["components"].required = False
        self.fields["time_zone"].initial = self.page_time_zone = page.time_zone
        self.fields["time_zone"].required = False

    class Meta:
        model = Maintenance
        fields = ["title", "message", "components", "scheduled_for", "scheduled_until"]
        labels = {
            "title": "Title",
            "message": "Message",
            "components": "Affected components",
            "scheduled_for": "Starts",
            "scheduled_until": "Ends",
        }
        help_texts = {
            "title": "What is being done, e.g. “Database upgrade”.",
            "message": "Optional, Markdown: what visitors should expect.",
            "components": "Shown as under maintenance while the window is in progress; their monitors do not alert.",
            "scheduled_for": "A window starting now or earlier begins at once.",
        }
        widgets = {
            "scheduled_for": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "scheduled_until": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "message": forms.Textarea(attrs={"rows": 3}),
            "components": forms.CheckboxSelectMultiple,
        }

    def clean(self):
        data = super().clean()
        zone = data.get("time_zone") or self.page_time_zone
        for name in ("scheduled_for", "scheduled_until"):
            if data.get(name) and zone:
                try:
                    data[name] = in_zone(data[name], zone)
                except ValueError as exc:
                    self.add_error(name, str(exc))  # and out of cleaned_data
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
