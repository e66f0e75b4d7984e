"""Escalation policy pages (``/oncall/policies/``): everyone with a role reads the policies, by team,
with their steps in words; admins create, edit and delete them. Every write is one call into
``incidents.oncall.policies``."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_safe
from django_htmx.http import HttpResponseClientRedirect

from incidents.oncall import policies
from incidents.oncall import schedule as engine
from incidents.oncall.models import EscalationPolicy, Team
from incidents.oncall.policy_forms import (
    STEP_PREFIX,
    PolicyForm,
    StepFormSet,
    blank_step,
    policy_initial_from,
    restructure_action,
    restructured_steps,
    step_initial,
)
from tracepoint.accounts.roles import ADMIN, VIEWER, role_required
from tracepoint.errors import DomainError, NotFoundError

LIST_URL = "oncall:policies"
POLICY_FIELDS = {"name", "team", "description", "repeat", "services"}


def _policy(pk: int) -> EscalationPolicy:
    try:
        return policies.get_policy(pk)
    except NotFoundError:
        raise Http404("No such escalation policy.") from None


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- reading -----------------------------------------------------------------------------------


@role_required(VIEWER)
@require_safe
def policy_list(request: HttpRequest) -> HttpResponse:
    teams = list(Team.objects.order_by("name"))
    chosen = request.GET.get("team", "")
    shown = [team for team in teams if str(team.pk) == chosen] if chosen else teams
    by_team: dict[int, list[EscalationPolicy]] = defaultdict(list)
    for policy in policies.policies_with_steps().filter(team__in=shown).order_by("name", "id"):
        policy.summary = policies.steps_summary(policy)
        by_team[policy.team_id].append(policy)
    groups = [{"team": team, "policies": by_team.get(team.pk, [])} for team in shown]
    context = {"teams": teams, "chosen": chosen, "groups": groups}
    template = "oncall/policy_list.html#policies" if request.htmx else "oncall/policy_list.html"
    return render(request, template, context)


@role_required(VIEWER)
@require_safe
def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _policy(pk)
    steps = list(policy.steps.all())
    # Who each schedule would page right now: one batch of queries for every schedule of the policy.
    schedules = {schedule.pk: schedule for step in steps for schedule in step.schedules.all()}
    now = timezone.now()
    snaps = engine.snapshots(schedules.values(), now, now + engine.TICK)
    on_call = {pk: engine.on_call_at(snap, now) for pk, snap in snaps.items()}
    people = get_user_model().objects.in_bulk({uid for ids in on_call.values() for uid in ids})
    for step in steps:
        step.on_call = [
            (schedule, [policies.person_name(people[uid]) for uid in on_call.get(schedule.pk, ()) if uid in people])
            for schedule in step.schedules.all()
        ]
        step.people = [policies.person_name(user) for user in step.users.all()]
    context = {
        "policy": policy,
        "steps": steps,
        "is_default": policies.is_default(policy),
        "fallback_services": policies.fallback_services(policy),
        "summary": policies.steps_summary(policy),
    }
    return render(request, "oncall/policy_detail.html", context)


# --- writing -----------------------------------------------------------------------------------


def _put_errors(form: PolicyForm, formset, error: DomainError) -> list[str]:
    """A service's ``DomainError`` on the forms: field errors on their fields, step errors on their
    rows; returns what belongs to the list of steps as a whole (e.g. too many steps)."""
    general: list[str] = []
    placed = False
    for key, problems in (error.details or {}).items():
        if key == "steps":
            if isinstance(problems, dict):  # {"<index>": {field: [messages]}}
                for index, problem in problems.items():
                    if str(index).isdigit() and int(index) < len(formset.forms) and isinstance(problem, dict):
                        _put_step_errors(formset.forms[int(index)], problem)
                    else:
                        general.append(str(problem))
            else:  # about the list as a whole
                general += [str(problem) for problem in (problems if isinstance(problems, list) else [problems])]
            placed = True
            continue
        field = "is_default" if key == "default_policy" else key if key in POLICY_FIELDS else None
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(field, str(problem))
            placed = True
    if not placed:
        form.add_error(None, error.message)
    return general


def _put_step_errors(step_form, problems: dict) -> None:
    for key, messages_ in problems.items():
        field = key if key in step_form.fields else None
        for message in messages_ if isinstance(messages_, list) else [messages_]:
            step_form.add_error(field, str(message))


def _form_page(request: HttpRequest, policy: EscalationPolicy | None) -> HttpResponse:
    """Create (``policy`` None) or edit: show, restructure the step rows, or save."""
    steps_errors: list[str] = []
    status = 200
    action = restructure_action(request.POST) if request.method == "POST" else None
    if request.method != "POST" or action:
        if action:
            initial, rows = policy_initial_from(request.POST), restructured_steps(request.POST, action)
        elif policy is not None:
            initial, rows = PolicyForm.initial_for(policy), step_initial(policy)
        else:
            team = request.GET.get("team")
            initial, rows = ({"team": team} if team else {}), [blank_step()]
        form = PolicyForm(initial=initial)
        formset = StepFormSet(initial=rows, prefix=STEP_PREFIX)
    else:
        form = PolicyForm(request.POST)
        formset = StepFormSet(request.POST, prefix=STEP_PREFIX)
        form_ok, steps_ok = form.is_valid(), formset.is_valid()  # both: every error shows at once
        if form_ok and steps_ok:
            fields = {
                "team": form.cleaned_data["team"],
                "name": form.cleaned_data["name"],
                "description": form.cleaned_data["description"],
                "repeat": form.cleaned_data["repeat"],
                "services": form.cleaned_data["services"],
                "steps": [step.spec() for step in formset.forms],
                "default": form.cleaned_data["is_default"],
            }
            try:
                saved = policies.update_policy(policy, **fields) if policy else policies.create_policy(**fields)
            except DomainError as error:
                steps_errors = _put_errors(form, formset, error)
            else:
                verb = "created" if policy is None else "saved"
                messages.success(request, f"Escalation policy “{saved.name}” {verb}.")
                return _redirect(request, reverse("oncall:policy-detail", args=[saved.pk]))
        steps_errors += [str(e) for e in formset.non_form_errors()]
        # htmx swaps only 2xx answers (as incidents' form does), so the inline errors come back as 200 there.
        status = 200 if request.htmx else 400
    context = {"form": form, "formset": formset, "policy": policy, "steps_errors": steps_errors}
    template = "oncall/policy_form.html#form" if request.htmx else "oncall/policy_form.html"
    return render(request, template, context, status=status)


@role_required(ADMIN)
def policy_create(request: HttpRequest) -> HttpResponse:
    return _form_page(request, None)


@role_required(ADMIN)
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_page(request, _policy(pk))


@role_required(ADMIN)
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _policy(pk)
    if request.method != "POST":
        context = {"policy": policy, "is_default": policies.is_default(policy)}
        return render(request, "oncall/policy_confirm_delete.html", context)
    policies.delete_policy(policy)
    messages.success(request, f"Escalation policy “{policy.name}” deleted.")
    return _redirect(request, reverse(LIST_URL))


urlpatterns = [
    path("policies/", policy_list, name="policies"),
    path("policies/new/", policy_create, name="policy-create"),
    path("policies/<int:pk>/", policy_detail, name="policy-detail"),
    path("policies/<int:pk>/edit/", policy_edit, name="policy-edit"),
    path("policies/<int:pk>/delete/", policy_delete, name="policy-delete"),
]
