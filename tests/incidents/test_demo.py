import io

import pytest
from django.core.management import call_command

from incidents.models import Incident, TimelineEntry

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_about_two_hundred_realistic_incidents():
    out = io.StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    # The status page demo adds one of its own, and the on-call demo one that pages.
    incidents = Incident.objects.exclude(page_links__isnull=False).exclude(escalations__isnull=False)
    assert incidents.count() == 200
    assert set(incidents.values_list("status", flat=True)) == {"OPEN", "ACKNOWLEDGED", "MITIGATED", "RESOLVED"}
    assert set(incidents.values_list("severity", flat=True)) == {"SEV1", "SEV2", "SEV3", "SEV4"}
    assert incidents.values("service").distinct().count() >= 5
    assert TimelineEntry.objects.filter(kind="COMMENT").exists()
    resolved = incidents.filter(status="RESOLVED").first()
    assert resolved.resolved_at >= resolved.acknowledged_at >= resolved.created_at
    _check_the_oncall_demo()
    # A second --if-empty run leaves a non-empty database alone.
    call_command("seed_demo", "--if-empty", stdout=out)
    assert Incident.objects.count() == 202
    assert "already holds data" in out.getvalue()


def _check_the_oncall_demo() -> None:
    """The on-call demo (same seed, to load the demo once): a team with a weekly rotation, an
    override and a three-step policy, and an incident paging through it."""
    from incidents.oncall import escalation
    from incidents.oncall.models import Escalation, EscalationPolicy, Layer, Override, Page, Team

    team = Team.objects.get(name="Payments")
    assert team.services == ["checkout", "payments"] and team.members.count() == 3
    layer = Layer.objects.get(schedule__team=team)
    assert (layer.shift_unit, layer.shift_count, layer.participants.count()) == ("weeks", 1, 3)
    assert Override.objects.filter(schedule__team=team).count() == 1
    policy = EscalationPolicy.objects.get(team=team)
    assert team.default_policy == policy and policy.steps.count() == 3 and policy.repeat == 1
    run = Escalation.objects.get(state="active")
    assert run.incident.service == "checkout" and run.name == "Payments primary"
    escalation.run_due()
    assert Page.objects.filter(escalation=run, step_index=0).count() == 1
