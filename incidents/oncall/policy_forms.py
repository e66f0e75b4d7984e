"""Forms of the escalation policy pages: the policy's own fields, and its steps as a formset (one
row per step, in order). The forms parse input; the rules (a target per step, active users, one
policy per service, the team's own default) are ``policies``', whose ``DomainError`` details the
views put back on the fields and the step rows.

Rows are added, removed and moved with plain submit buttons (``add_step``, ``remove_step``,
``move_up``) that re-render the form from what was posted: no custom JavaScript, and htmx only
swaps the form in place when it is there.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.http import QueryDict

from incidents.oncall import policies
from incidents.oncall.models import (
    MAX_POLICY_REPEAT,
    MAX_POLICY_STEPS,
    MAX_STEP_DELAY_MINUTES,
    EscalationPolicy,
    Schedule,
    Team,
)
from tracepoint.notifications.models import NotificationChannel

STEP_PREFIX = "steps"
DEFAULT_DELAY_MINUTES = 15
STEP_FIELDS = ("users", "schedules", "channels", "delay_minutes")
_SERVICE_SPLIT = re.compile(r"[,\s]+")
_SEVERAL = "Ctrl/⌘-click to pick several."


class PolicyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="e.g. “Payments primary” or “Checkout after hours”; unique within the team.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), empty_label=None, help_text="The team whose services it serves."
    )
    description = forms.CharField(
        required=False,
        help_text="Optional: when it applies, who to ask about it.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    services = forms.CharField(
        required=False,
        max_length=2000,
        label="Services",
        help_text="Service names, separated by commas, as incidents, monitors and events name them: "
        "“checkout, payments-api”. A service maps to one policy; the team's other services use its default policy.",
        widget=forms.TextInput(attrs={"placeholder": "checkout, payments-api", "autocomplete": "off"}),
    )
    is_default = forms.BooleanField(
        required=False,
        label="Default for its team",
        help_text="Pages for the team's services that no policy names.",
    )
    repeat = forms.IntegerField(
        min_value=0,
        max_value=MAX_POLICY_REPEAT,
        initial=0,
        label="Repeat",
        help_text=f"After the last step, start again from step 1 this many more times (0 to {MAX_POLICY_REPEAT}) "
        "while nobody acknowledges.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def clean_services(self) -> list[str]:
        names = [name for name in _SERVICE_SPLIT.split(self.cleaned_data.get("services") or "") if name]
        return list(dict.fromkeys(names))

    @staticmethod
    def initial_for(policy: EscalationPolicy) -> dict[str, Any]:
        return {
            "name": policy.name,
            "team": policy.team_id,
            "description": policy.description,
            "services": ", ".join(policy.services or ()),
            "is_default": policies.is_default(policy),
            "repeat": policy.repeat,
        }


class _UserChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user) -> str:
        name = user.get_full_name()
        return f"{name} ({user.get_username()})" if name else user.get_username()


class _ScheduleChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, schedule: Schedule) -> str:
        return f"{schedule.name} ({schedule.team.name})"


class _ChannelChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, channel: NotificationChannel) -> str:
        disabled = "" if channel.enabled else ", disabled"
        return f"{channel.name} ({channel.get_kind_display()}{disabled})"


class StepForm(forms.Form):
    schedules = _ScheduleChoice(
        queryset=Schedule.objects.none(),
        required=False,
        help_text="Whoever is on call on them when the step runs (any team's schedule). " + _SEVERAL,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    users = _UserChoice(
        queryset=get_user_model().objects.none(),
        required=False,
        label="People",
        help_text="Paged by name, whether on call or not. " + _SEVERAL,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    channels = _ChannelChoice(
        queryset=NotificationChannel.objects.none(),
        required=False,
        help_text="Told about the incident (a team chat, an email list). " + _SEVERAL,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    delay_minutes = forms.IntegerField(
        min_value=1,
        max_value=MAX_STEP_DELAY_MINUTES,
        initial=DEFAULT_DELAY_MINUTES,
        label="Then wait (minutes)",
        help_text="For an acknowledgement before the next step; after the last step, before going round again.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["schedules"].queryset = Schedule.objects.select_related("team").order_by("team__name", "name")
        self.fields["users"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["channels"].queryset = NotificationChannel.objects.order_by("name", "id")

    def spec(self) -> policies.StepSpec:
        data = self.cleaned_data
        return policies.StepSpec(
            delay_minutes=data["delay_minutes"],
            users=list(data.get("users") or ()),
            schedules=list(data.get("schedules") or ()),
            channels=list(data.get("channels") or ()),
        )


class BaseStepFormSet(forms.BaseFormSet):
    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        # An untouched row is a step without targets: say so on it rather than silently drop it.
        form.empty_permitted = False
        return form


StepFormSet = forms.formset_factory(
    StepForm,
    formset=BaseStepFormSet,
    extra=0,
    min_num=1,
    validate_min=True,
    max_num=MAX_POLICY_STEPS,
    validate_max=True,
)


def step_initial(policy: EscalationPolicy) -> list[dict[str, Any]]:
    return [
        {
            "schedules": [s.pk for s in step.schedules.all()],
            "users": [u.pk for u in step.users.all()],
            "channels": [c.pk for c in step.channels.all()],
            "delay_minutes": step.delay_minutes,
        }
        for step in policy.steps.all()
    ]


def blank_step() -> dict[str, Any]:
    return {"schedules": [], "users": [], "channels": [], "delay_minutes": DEFAULT_DELAY_MINUTES}


# --- re-rendering with rows added, removed or moved ---------------------------------------------

RESTRUCTURE_ACTIONS = ("add_step", "remove_step", "move_up")


def restructure_action(data: QueryDict) -> str | None:
    return next((action for action in RESTRUCTURE_ACTIONS if action in data), None)


def posted_steps(data: QueryDict) -> list[dict[str, Any]]:
    """The step rows as posted (raw values), in order; at most ``MAX_POLICY_STEPS``."""
    try:
        total = int(data.get(f"{STEP_PREFIX}-TOTAL_FORMS", "0"))
    except ValueError:
        total = 0
    rows = []
    for index in range(max(0, min(total, MAX_POLICY_STEPS))):
        key = f"{STEP_PREFIX}-{index}-"
        rows.append(
            {
                "schedules": data.getlist(key + "schedules"),
                "users": data.getlist(key + "users"),
                "channels": data.getlist(key + "channels"),
                "delay_minutes": data.get(key + "delay_minutes", ""),
            }
        )
    return rows


def restructured_steps(data: QueryDict, action: str) -> list[dict[str, Any]]:
    """The rows after ``action``: a blank row added at the end, row ``n`` removed, or row ``n`` moved up."""
    rows = posted_steps(data)
    try:
        index = int(data.get(action, ""))
    except ValueError:
        index = -1
    if action == "add_step" and len(rows) < MAX_POLICY_STEPS:
        rows.append(blank_step())
    elif action == "remove_step" and 0 <= index < len(rows) and len(rows) > 1:
        del rows[index]
    elif action == "move_up" and 0 < index < len(rows):
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    return rows or [blank_step()]


def policy_initial_from(data: QueryDict) -> dict[str, Any]:
    """The policy fields as posted, to show them again unchanged (not validated: nothing is saved)."""
    initial: dict[str, Any] = {name: data.get(name, "") for name in ("name", "team", "description", "services")}
    initial["repeat"] = data.get("repeat", "0")
    initial["is_default"] = data.get("is_default") in ("on", "true", "1")
    return initial
