"""The on-call demo data: a team with a weekly rotation, an override and a three-step policy."""

import io

import pytest
from django.core.management import call_command

from incidents.oncall import escalation
from incidents.oncall.models import Escalation, EscalationPolicy, Layer, Override, Page, Team

pytestmark = pytest.mark.django_db


def test_seed_demo_sets_up_a_team_a_weekly_rotation_an_override_and_a_three_step_policy():
    call_command("seed_demo", "--if-empty", stdout=io.StringIO())
    team = Team.objects.get(name="Payments")
    assert team.services == ["checkout", "payments"] and team.members.count() == 3
    layer = Layer.objects.get(schedule__team=team)
    assert (layer.shift_unit, layer.shift_count, layer.participants.count()) == ("weeks", 1, 3)
    assert Override.objects.filter(schedule__team=team).count() == 1
    policy = EscalationPolicy.objects.get(team=team)
    assert team.default_policy == policy and policy.steps.count() == 3 and policy.repeat == 1
    # The demo incident on checkout started the policy; its first step pages whoever is on call.
    run = Escalation.objects.get(state="active")
    assert run.incident.service == "checkout" and run.name == "Payments primary"
    escalation.run_due()
    assert Page.objects.filter(escalation=run, step_index=0).count() == 1
