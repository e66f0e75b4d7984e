"""The override form of the schedule page ("Add an override", and "Change the override" filled with one's values).

Times are typed as local wall-clock times of the *schedule's* zone (not the viewer's, nor the
server's UTC): an override is agreed as "Bob covers Saturday 08:00 to Sunday 20:00" in the team's
time. ``datetime-local`` inputs carry no zone, so the form reads them naive and turns them into
instants with ``timemath.local_to_utc``, the rule the rotations use for times the clock skips or
repeats on DST days (a skipped time is the instant the clock jumps; a repeated one is its first
occurrence). The rules (active user, end after start) are the service's; the form checks the shape
and the obvious order so the error sits next to the field.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from incidents.oncall.timemath import local_to_utc, utc_to_local

LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def person_name(user) -> str:
    """How the on-call pages name a person: their full name, else their username."""
    return user.get_full_name() or user.get_username()


class LocalDateTimeField(forms.Field):
    """A ``datetime-local`` input: a naive wall-clock time (the form gives it a zone)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 60}, format=LOCAL_INPUT_FORMAT)
    default_error_messages = {"invalid": "Enter a date and time, e.g. 2026-03-28T08:00."}

    def to_python(self, value) -> datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=None, second=0, microsecond=0)
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if parsed.tzinfo is not None:  # the input type never sends one: refuse rather than guess
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed.replace(second=0, microsecond=0)


class OverrideForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        label="Who covers",
        empty_label="Choose a person…",
        help_text="Any active user may cover, not only the team's members.",
        error_messages={"invalid_choice": "Choose one of the listed people (active users)."},
    )
    start = LocalDateTimeField(label="From")
    end = LocalDateTimeField(label="Until")
    note = forms.CharField(
        max_length=200,
        required=False,
        label="Note",
        help_text="Optional, e.g. “Swap with Ann: her daughter's school play”.",
        widget=forms.TextInput(attrs={"placeholder": "Why, or who it replaces"}),
    )

    def __init__(self, *args, zone: tzinfo, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        zone_name = str(getattr(zone, "key", zone))
        users = self.fields["user"]
        User = get_user_model()
        users.queryset = User.objects.filter(is_active=True).order_by("first_name", "last_name", User.USERNAME_FIELD)
        users.label_from_instance = self._user_label
        for name in ("start", "end"):
            self.fields[name].help_text = f"Local time in {zone_name}, the schedule's time zone."

    @staticmethod
    def _user_label(user) -> str:
        name = person_name(user)
        return name if name == user.get_username() else f"{name} ({user.get_username()})"

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is not None:
            data["start"] = local_to_utc(start, self.zone)
        if end is not None:
            data["end"] = local_to_utc(end, self.zone)
        if start is not None and end is not None and data["end"] <= data["start"]:
            self.add_error("end", "The override must end after it starts.")
        return data

    @classmethod
    def local_initial(cls, instant: datetime, zone: tzinfo) -> str:
        """``instant`` as the value of a ``datetime-local`` input in ``zone``."""
        return utc_to_local(instant, zone).strftime(LOCAL_INPUT_FORMAT)
