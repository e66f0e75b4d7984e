"""Demo on-call for `manage.py seed_demo`: the Payments team with a weekly rotation, a swap (an
override) and a three-step escalation policy, and one fresh incident that pages through it."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model

from incidents import services as incident_services
from incidents.demo import TEAM
from incidents.models import Severity
from incidents.oncall import policies, schedule, services
from incidents.oncall.models import Team


def is_empty() -> bool:
    return not Team.objects.exists()


def seed(*, now: datetime, stdout) -> None:
    User = get_user_model()
    olivia, noah, mia = (User.objects.get(username=name) for name, _ in TEAM[:3])  # the incidents demo made them
    team = services.create_team(name="Payments", services=["checkout", "payments"], members=[olivia, noah, mia])
    primary = services.create_schedule(
        team=team, name="Payments primary", time_zone="Europe/Paris", description="Weekly, Mondays 09:00 Paris."
    )
    monday = (now - timedelta(days=now.weekday() + 14)).date()  # two Mondays ago: the rotation is under way
    services.create_layer(
        primary,
        name="Weekly",
        participants=[olivia, noah, mia],
        shift_count=1,
        shift_unit="weeks",
        handoff_time=time(9),
        start_date=monday,
    )
    evening = (now + timedelta(days=1)).astimezone(primary.zone).replace(hour=18, minute=0, second=0, microsecond=0)
    on_call = schedule.on_call_at(primary, evening)
    cover = next(person for person in (mia, noah, olivia) if person.pk not in on_call)
    services.create_override(
        primary, user=cover, start=evening, end=evening + timedelta(hours=5), note="Swap: covering an evening", by=noah
    )
    policy = policies.create_policy(
        team=team,
        name="Payments primary",
        description="The person on call, then the team lead, then everyone.",
        repeat=1,
        services=["checkout"],
        default=True,
        steps=[
            policies.StepSpec(delay_minutes=5, schedules=[primary]),
            policies.StepSpec(delay_minutes=10, users=[mia]),
            policies.StepSpec(delay_minutes=15, users=[olivia, noah, mia]),
        ],
    )
    incident_services.create_incident(
        title="Checkout: card payments failing",
        service="checkout",
        severity=Severity.SEV2,
        summary="The payment provider answers 502 to a third of the authorisations.",
        by=olivia,
        now=now,
    )
    stdout.write(f"On-call: team {team.name}, schedule {primary.name}, policy {policy.name} (3 steps).")
