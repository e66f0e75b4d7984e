"""Escalation policies: who is paged, in which order, for which services (the domain layer the API,
the dashboard pages and the admin's rules share).

A policy is an ordered list of steps; each step pages some users, whoever is on call on some
schedules, and notifies some channels, then waits ``delay_minutes`` for an acknowledgement before
the next step. The steps are always written whole: ``update_policy(steps=…)`` replaces the ordered
list in one transaction, so a reader (or an escalation starting) never sees half an edit. Runs
(``Escalation``) snapshot their steps when they start, so editing or deleting a policy never
changes a run under way.

Who may be a target: any *active* user, and any team's schedule (a payments policy may page the
platform team's schedule as its last resort); the policy's team is about which services it serves.
Each function validates with ``full_clean()`` and raises ``DomainError`` with the problems in
``details``: field errors by field name, and step errors as ``{"steps": {"1": {"targets": […]}}}``,
by the 0-based index of each bad step, the shape DRF gives errors of the items of a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet

from incidents.oncall import routing
from incidents.oncall.models import (
    MAX_POLICY_STEPS,
    MAX_STEP_DELAY_MINUTES,
    EscalationPolicy,
    EscalationStep,
    Schedule,
    Team,
)
from incidents.oncall.services import _lock_teams, _validate
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.notifications.models import NotificationChannel

_UNSET: Any = object()
POLICY_FIELDS = ("team", "name", "description", "repeat", "services")


@dataclass(frozen=True)
class StepSpec:
    """One step as written: its targets (model instances) and the wait before the next step."""

    delay_minutes: int = 15
    users: Sequence = field(default_factory=tuple)
    schedules: Sequence = field(default_factory=tuple)
    channels: Sequence = field(default_factory=tuple)


# --- reading -----------------------------------------------------------------------------------


def policies_with_steps() -> QuerySet[EscalationPolicy]:
    """Policies with their team and their steps' targets, in a fixed number of queries."""
    steps = EscalationStep.objects.order_by("position").prefetch_related(
        Prefetch("users", queryset=get_user_model().objects.order_by("username")),
        Prefetch("schedules", queryset=Schedule.objects.select_related("team").order_by("name")),
        Prefetch("channels", queryset=NotificationChannel.objects.order_by("name")),
    )
    return EscalationPolicy.objects.select_related("team").prefetch_related(Prefetch("steps", queryset=steps))


def get_policy(pk: int) -> EscalationPolicy:
    found = policies_with_steps().filter(pk=pk).first()
    if found is None:
        raise NotFoundError("No such escalation policy.")
    return found


def is_default(policy: EscalationPolicy) -> bool:
    # The team row is usually loaded with the policy (select_related), so this costs no query.
    return policy.team.default_policy_id == policy.pk


def fallback_services(policy: EscalationPolicy) -> list[str]:
    """The team's services that use ``policy`` because it is the team default and no policy names them."""
    team = policy.team
    if team.default_policy_id != policy.pk:
        return []
    named = {s for services in EscalationPolicy.objects.values_list("services", flat=True) for s in services or ()}
    return [s for s in team.services or () if s not in named]


def person_name(user) -> str:
    return user.get_full_name() or user.get_username()


def step_targets(step: EscalationStep) -> list[str]:
    """The step's targets in words: schedules first (the usual first step), then people, then channels."""
    parts = [f"{schedule.name} schedule" for schedule in step.schedules.all()]
    users = [person_name(user) for user in step.users.all()]
    if users:
        parts.append(", ".join(users))
    parts += [f"{channel.name} channel" for channel in step.channels.all()]
    return parts


def steps_summary(policy: EscalationPolicy) -> str:
    """ "1. Primary schedule → 5 min → 2. Ann, Bob → 10 min → 3. ops channel": the waits between steps.

    The last step's wait only matters when the policy repeats (it is the pause before going round
    again), so it is shown then, with the number of repeats."""
    steps = list(policy.steps.all())
    parts: list[str] = []
    for number, step in enumerate(steps, start=1):
        parts.append(f"{number}. {', '.join(step_targets(step)) or 'nobody'}")
        if number < len(steps) or policy.repeat:
            parts.append(f"{step.delay_minutes} min")
    if policy.repeat and steps:
        parts.append(f"repeat {policy.repeat} more time{'s' if policy.repeat != 1 else ''}")
    return " → ".join(parts)


# --- writing -----------------------------------------------------------------------------------


def create_policy(
    *,
    team: Team,
    name: str,
    description: str = "",
    repeat: int = 0,
    services: Iterable[str] = (),
    steps: Sequence[StepSpec] = (),
    default: bool = False,
) -> EscalationPolicy:
    policy = EscalationPolicy(
        team=team, name=(name or "").strip(), description=description or "", repeat=repeat, services=list(services)
    )
    with transaction.atomic():
        _lock_teams()  # "one policy per service" and "not another team's service" read every row
        checked = _validate_all(policy, steps)
        _save(policy)
        _write_steps(policy, checked)
        if default:
            _make_default(policy)
    return get_policy(policy.pk)


def update_policy(
    policy: EscalationPolicy,
    *,
    team=_UNSET,
    name=_UNSET,
    description=_UNSET,
    repeat=_UNSET,
    services=_UNSET,
    steps=_UNSET,
    default=_UNSET,
) -> EscalationPolicy:
    """Change what is given; ``steps`` replaces the whole ordered list, ``default`` sets or clears
    the policy as its team's default. Moving a policy to another team clears it as the old team's default."""
    with transaction.atomic():
        _lock_teams()
        policy = EscalationPolicy.objects.select_for_update().select_related("team").get(pk=policy.pk)
        old_team_id = policy.team_id
        values = {"team": team, "name": name, "description": description, "repeat": repeat, "services": services}
        for attr, value in values.items():
            if value is _UNSET:
                continue
            if attr == "name":
                value = (value or "").strip()
            elif attr == "services":
                value = list(value)
            elif attr == "description":
                value = value or ""
            setattr(policy, attr, value)
        checked = _validate_all(policy, None if steps is _UNSET else steps)
        _save(policy)
        if policy.team_id != old_team_id:
            Team.objects.filter(pk=old_team_id, default_policy=policy).update(default_policy=None)
            routing.invalidate()  # update() sends no signal
        if checked is not None:
            EscalationStep.objects.filter(policy=policy).delete()
            _write_steps(policy, checked)
        if default is True:
            _make_default(policy)
        elif default is False:
            Team.objects.filter(pk=policy.team_id, default_policy=policy).update(default_policy=None)
            routing.invalidate()  # update() sends no signal
    return get_policy(policy.pk)


def delete_policy(policy: EscalationPolicy) -> None:
    """Delete a policy and its steps. Escalations under way keep running on their snapshot (their
    ``policy`` becomes empty); a team whose default it was has no default any more."""
    with transaction.atomic():
        Team.objects.filter(default_policy=policy).update(default_policy=None)
        routing.invalidate()  # update() sends no signal
        EscalationPolicy.objects.filter(pk=policy.pk).delete()


def set_team_default(team: Team, policy: EscalationPolicy | None) -> Team:
    """``policy`` becomes the policy of the team's services that no policy names (None: no default)."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if policy is not None and policy.team_id != team.pk:
            raise DomainError(
                f"Policy {policy.name} belongs to another team; a team's default must be one of its own policies.",
                details={"default_policy": ["must be one of the team's own policies"]},
            )
        team.default_policy = policy
        team.save(update_fields=["default_policy"])
    return team


# --- rules -------------------------------------------------------------------------------------


def _validate_all(policy: EscalationPolicy, steps: Sequence[StepSpec] | None) -> list[StepSpec] | None:
    """The policy's fields and its steps (None: unchanged) checked together, so one error lists
    every problem of both (a form shows them all at once)."""
    step_error = None
    checked = None
    if steps is not None:
        try:
            checked = _check_steps(steps)
        except DomainError as error:
            step_error = error
    try:
        _validate_policy(policy)
    except DomainError as error:
        if step_error is not None:
            error.details = {**error.details, **step_error.details}
        raise
    if step_error is not None:
        raise step_error
    return checked


def _validate_policy(policy: EscalationPolicy) -> None:
    # Said here rather than left to the unique constraint, whose message names no field.
    if policy.team_id and policy.name:
        taken = EscalationPolicy.objects.filter(team_id=policy.team_id, name=policy.name).exclude(pk=policy.pk)
        if taken.exists():
            raise DomainError(
                f"Team {policy.team.name} already has a policy named {policy.name}.",
                details={"name": [f"Team {policy.team.name} already has a policy with this name."]},
            )
    _validate(policy, "escalation policy")


def _save(policy: EscalationPolicy) -> None:
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:  # the same name, created since the check
        raise DomainError(
            f"This team already has a policy named {policy.name}.",
            details={"name": ["This team already has a policy with this name."]},
        ) from None


def _check_steps(steps: Sequence[StepSpec]) -> list[StepSpec]:
    """The steps, or a ``DomainError`` naming every problem of every step (all at once: a form
    shows them next to their rows)."""
    steps = list(steps)
    if not 1 <= len(steps) <= MAX_POLICY_STEPS:
        raise DomainError(
            f"A policy has 1 to {MAX_POLICY_STEPS} steps; got {len(steps)}.",
            details={"steps": [f"Between 1 and {MAX_POLICY_STEPS} steps, got {len(steps)}."]},
        )
    problems: list[dict[str, list[str]]] = []
    for step in steps:
        errors: dict[str, list[str]] = {}
        delay = step.delay_minutes
        if isinstance(delay, bool) or not isinstance(delay, int) or not 1 <= delay <= MAX_STEP_DELAY_MINUTES:
            errors["delay_minutes"] = [f"Between 1 and {MAX_STEP_DELAY_MINUTES} minutes (a day)."]
        inactive = [person_name(u) for u in step.users if not u.is_active]
        if inactive:
            errors["users"] = [f"Inactive users cannot be paged: {', '.join(inactive)}."]
        if not (step.users or step.schedules or step.channels):
            errors["targets"] = ["Page at least one user, schedule or channel."]
        problems.append(errors)
    bad = {str(index): errors for index, errors in enumerate(problems) if errors}
    if bad:
        index, first = next(iter(bad.items()))
        message = next(iter(first.values()))[0]
        raise DomainError(f"Step {int(index) + 1} is not valid: {message}", details={"steps": bad})
    return steps


def _write_steps(policy: EscalationPolicy, steps: list[StepSpec]) -> None:
    for position, spec in enumerate(steps):
        step = EscalationStep(policy=policy, position=position, delay_minutes=spec.delay_minutes)
        try:
            step.full_clean()
        except ValidationError as exc:  # checked above; kept so a new model rule cannot be skipped
            raise DomainError(
                f"Step {position + 1} is not valid.", details={"steps": {str(position): exc.message_dict}}
            ) from None
        step.save()
        step.users.set(_unique(spec.users))
        step.schedules.set(_unique(spec.schedules))
        step.channels.set(_unique(spec.channels))


def _make_default(policy: EscalationPolicy) -> None:
    Team.objects.filter(pk=policy.team_id).update(default_policy=policy)
    routing.invalidate()  # update() sends no signal
    policy.team.default_policy = policy


def _unique(items: Iterable) -> list:
    return list({item.pk: item for item in items}.values())
