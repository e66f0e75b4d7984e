"""The escalation policy services: steps (validated whole, replaced atomically), one policy per
service, the team default, deletion, and the summaries the pages show."""

from __future__ import annotations

import pytest
from django.db import connection

from incidents.models import Incident
from incidents.oncall import policies
from incidents.oncall.models import MAX_POLICY_STEPS, Escalation, EscalationPolicy, EscalationStep, Team
from incidents.oncall.policies import StepSpec
from tests.factories import make_incident, make_schedule, make_team, make_user
from tests.helpers import race
from tests.notifications.factories import make_email_channel
from tracepoint.errors import DomainError

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    return make_team("Payments", services=["checkout", "billing", "refunds"])


@pytest.fixture
def ann():
    return make_user(username="ann", first_name="Ann")


@pytest.fixture
def bob():
    return make_user(username="bob", first_name="Bob")


def three_steps(team, ann, bob) -> list[StepSpec]:
    primary = make_schedule(team, name="Primary")
    ops = make_email_channel(name="#ops")
    return [
        StepSpec(delay_minutes=5, schedules=[primary]),
        StepSpec(delay_minutes=10, users=[ann, bob]),
        StepSpec(delay_minutes=30, channels=[ops]),
    ]


def targets(policy: EscalationPolicy) -> list[tuple]:
    return [
        (
            step.position,
            step.delay_minutes,
            sorted(u.username for u in step.users.all()),
            sorted(s.name for s in step.schedules.all()),
            sorted(c.name for c in step.channels.all()),
        )
        for step in policy.steps.all()
    ]


# --- creating ------------------------------------------------------------------------------------


def test_a_policy_is_created_with_its_steps_in_order(team, ann, bob):
    policy = policies.create_policy(
        team=team, name=" Payments primary ", repeat=2, services=["checkout"], steps=three_steps(team, ann, bob)
    )
    assert (policy.name, policy.repeat, policy.services) == ("Payments primary", 2, ["checkout"])
    assert targets(policy) == [
        (0, 5, [], ["Primary"], []),
        (1, 10, ["ann", "bob"], [], []),
        (2, 30, [], [], ["#ops"]),
    ]
    assert not policies.is_default(policy)


def test_the_summary_reads_like_the_escalation(team, ann, bob):
    policy = policies.create_policy(team=team, name="P", steps=three_steps(team, ann, bob))
    assert policies.steps_summary(policy) == "1. Primary schedule → 5 min → 2. Ann, Bob → 10 min → 3. #ops channel"
    policy = policies.update_policy(policy, repeat=1)
    assert policies.steps_summary(policy).endswith("3. #ops channel → 30 min → repeat 1 more time")


def test_a_schedule_of_another_team_may_be_a_target(team):
    platform = make_schedule(make_team("Platform"), name="Platform primary")
    policy = policies.create_policy(team=team, name="P", steps=[StepSpec(schedules=[platform])])
    assert [s.name for s in policy.steps.get().schedules.all()] == ["Platform primary"]


@pytest.mark.parametrize("count", [0, MAX_POLICY_STEPS + 1])
def test_a_policy_has_one_to_max_steps(team, ann, count):
    with pytest.raises(DomainError) as excinfo:
        policies.create_policy(team=team, name="P", steps=[StepSpec(users=[ann])] * count)
    assert excinfo.value.details == {"steps": [f"Between 1 and {MAX_POLICY_STEPS} steps, got {count}."]}
    assert not EscalationPolicy.objects.exists()


def test_every_bad_step_is_reported_in_its_place(team, ann):
    gone = make_user(username="gone", first_name="Gone", is_active=False)
    steps = [StepSpec(users=[ann]), StepSpec(delay_minutes=0), StepSpec(delay_minutes=1441, users=[gone])]
    with pytest.raises(DomainError) as excinfo:
        policies.create_policy(team=team, name="P", steps=steps)
    problems = excinfo.value.details["steps"]
    assert set(problems) == {"1", "2"}  # by 0-based index, as DRF reports the items of a list
    assert set(problems["1"]) == {"delay_minutes", "targets"}
    assert set(problems["2"]) == {"delay_minutes", "users"}
    assert "Gone" in problems["2"]["users"][0]
    assert excinfo.value.message.startswith("Step 2 is not valid")
    assert not EscalationPolicy.objects.exists()


def test_policy_fields_are_validated_with_their_names(team, ann):
    with pytest.raises(DomainError) as excinfo:
        policies.create_policy(team=team, name="", repeat=10, steps=[StepSpec(users=[ann])])
    assert {"name", "repeat"} <= set(excinfo.value.details)
    policies.create_policy(team=team, name="Primary", steps=[StepSpec(users=[ann])])
    with pytest.raises(DomainError) as excinfo:
        policies.create_policy(team=team, name="Primary", steps=[StepSpec(users=[ann])])
    assert "already has a policy" in excinfo.value.details["name"][0]
    # Another team may use the same name.
    policies.create_policy(team=make_team("Web"), name="Primary", steps=[StepSpec(users=[ann])])


# --- one policy per service ----------------------------------------------------------------------


def test_a_service_maps_to_one_policy(team, ann):
    policies.create_policy(team=team, name="Checkout", services=["checkout"], steps=[StepSpec(users=[ann])])
    with pytest.raises(DomainError) as excinfo:
        policies.create_policy(team=team, name="Other", services=["billing", "checkout"], steps=[StepSpec(users=[ann])])
    assert "'checkout' uses policy Checkout" in excinfo.value.details["services"][0]


def test_a_policy_cannot_take_another_teams_service(team, ann):
    make_team("Web", services=["www"])
    with pytest.raises(DomainError) as excinfo:
        policies.create_policy(team=team, name="P", services=["www"], steps=[StepSpec(users=[ann])])
    assert "belongs to team Web" in excinfo.value.details["services"][0]


@pytest.mark.django_db(transaction=True)
def test_policies_claiming_one_service_at_once_get_it_once():
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite serialises writers anyway")
    team = make_team("Payments", services=["checkout"])
    ann = make_user(username="ann")

    def claim(index: int):
        return policies.create_policy(team=team, name=f"P{index}", services=["checkout"], steps=[StepSpec(users=[ann])])

    results = race(4, claim)
    assert sum(isinstance(r, EscalationPolicy) for r in results) == 1
    assert all(isinstance(r, DomainError) for r in results if not isinstance(r, EscalationPolicy))


# --- updating ------------------------------------------------------------------------------------


def test_update_replaces_the_steps_as_a_whole(team, ann, bob):
    policy = policies.create_policy(team=team, name="P", steps=three_steps(team, ann, bob))
    old_ids = set(policy.steps.values_list("pk", flat=True))
    policy = policies.update_policy(policy, steps=[StepSpec(delay_minutes=7, users=[bob])])
    assert targets(policy) == [(0, 7, ["bob"], [], [])]
    assert not EscalationStep.objects.filter(pk__in=old_ids).exists()


def test_a_refused_update_leaves_every_step_and_field_as_it_was(team, ann, bob):
    policy = policies.create_policy(team=team, name="P", services=["checkout"], steps=three_steps(team, ann, bob))
    before = targets(policy)
    with pytest.raises(DomainError):
        policies.update_policy(policy, name="Renamed", steps=[StepSpec(users=[ann]), StepSpec(delay_minutes=5)])
    make_team("Web", services=["www"])
    with pytest.raises(DomainError):  # the steps are good, the services are not: nothing is written either
        policies.update_policy(policy, services=["www"], steps=[StepSpec(users=[ann])])
    policy = policies.get_policy(policy.pk)
    assert (policy.name, policy.services) == ("P", ["checkout"])
    assert targets(policy) == before


def test_update_changes_only_what_it_is_given(team, ann):
    policy = policies.create_policy(
        team=team, name="P", description="Nights", repeat=3, services=["checkout"], steps=[StepSpec(users=[ann])]
    )
    policy = policies.update_policy(policy, repeat=0)
    assert (policy.name, policy.description, policy.repeat, policy.services) == ("P", "Nights", 0, ["checkout"])
    assert targets(policy) == [(0, 15, ["ann"], [], [])]


# --- the team default ----------------------------------------------------------------------------


def test_a_policy_created_as_default_becomes_the_team_default(team, ann):
    first = policies.create_policy(team=team, name="First", steps=[StepSpec(users=[ann])], default=True)
    assert Team.objects.get(pk=team.pk).default_policy == first
    second = policies.create_policy(team=team, name="Second", steps=[StepSpec(users=[ann])], default=True)
    assert Team.objects.get(pk=team.pk).default_policy == second
    assert not policies.is_default(policies.get_policy(first.pk))


def test_default_false_clears_it_only_for_the_current_default(team, ann):
    first = policies.create_policy(team=team, name="First", steps=[StepSpec(users=[ann])], default=True)
    second = policies.create_policy(team=team, name="Second", steps=[StepSpec(users=[ann])])
    policies.update_policy(second, default=False)
    assert Team.objects.get(pk=team.pk).default_policy == first
    policies.update_policy(first, default=False)
    assert Team.objects.get(pk=team.pk).default_policy is None


def test_set_team_default_takes_only_the_teams_own_policy(team, ann):
    web = make_team("Web")
    theirs = policies.create_policy(team=web, name="Web", steps=[StepSpec(users=[ann])])
    with pytest.raises(DomainError) as excinfo:
        policies.set_team_default(team, theirs)
    assert "default_policy" in excinfo.value.details
    ours = policies.create_policy(team=team, name="Ours", steps=[StepSpec(users=[ann])])
    assert policies.set_team_default(team, ours).default_policy == ours
    assert policies.set_team_default(team, None).default_policy is None


def test_moving_a_policy_to_another_team_clears_it_as_the_old_default(team, ann):
    policy = policies.create_policy(team=team, name="P", steps=[StepSpec(users=[ann])], default=True)
    web = make_team("Web")
    policies.update_policy(policy, team=web)
    assert Team.objects.get(pk=team.pk).default_policy is None
    assert Team.objects.get(pk=web.pk).default_policy is None


def test_the_default_serves_the_team_services_no_policy_names(team, ann):
    fallback = policies.create_policy(team=team, name="Default", steps=[StepSpec(users=[ann])], default=True)
    named = policies.create_policy(team=team, name="Checkout", services=["checkout"], steps=[StepSpec(users=[ann])])
    assert policies.fallback_services(policies.get_policy(fallback.pk)) == ["billing", "refunds"]
    assert policies.fallback_services(named) == []


# --- deleting ------------------------------------------------------------------------------------


def test_deleting_the_default_clears_it_and_keeps_running_escalations(team, ann):
    policy = policies.create_policy(team=team, name="P", steps=[StepSpec(users=[ann])], default=True)
    incident = make_incident(service="search")  # no team's service: the engine starts nothing of its own
    run = Escalation.objects.create(incident=Incident.objects.get(pk=incident.pk), policy=policy, name="P", steps=[{}])
    policies.delete_policy(policy)
    assert not EscalationPolicy.objects.exists() and not EscalationStep.objects.exists()
    assert Team.objects.get(pk=team.pk).default_policy is None
    run.refresh_from_db()
    assert (run.policy, run.state, run.steps) == (None, Escalation.State.ACTIVE, [{}])


def test_field_and_step_problems_are_reported_together(team):
    with pytest.raises(DomainError) as excinfo:
        policies.create_policy(team=team, name="", steps=[StepSpec()])
    assert set(excinfo.value.details) == {"name", "steps"}
    assert excinfo.value.details["steps"] == {"0": {"targets": ["Page at least one user, schedule or channel."]}}
