"""Model validation: time zones, service ownership, restrictions, overrides that end before they start."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from incidents.oncall.models import Layer, Override, Schedule, Team
from tests.factories import make_layer, make_schedule, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC"])
def test_a_schedule_takes_an_iana_time_zone(zone):
    schedule = Schedule(team=make_team(), name="Primary", time_zone=zone)
    schedule.full_clean()
    assert schedule.zone.key == zone


@pytest.mark.parametrize("zone", ["Europe/Pariss", "CEST", "+02:00", ""])
def test_a_schedule_refuses_what_is_not_an_iana_time_zone(zone):
    with pytest.raises(ValidationError) as excinfo:
        Schedule(team=make_team(), name="Primary", time_zone=zone).full_clean()
    assert "time_zone" in excinfo.value.message_dict


def test_a_service_cannot_belong_to_two_teams():
    make_team("Payments", services=["checkout", "billing"])
    other = Team(name="Web", slug="web", services=["www", "checkout"])
    with pytest.raises(ValidationError) as excinfo:
        other.full_clean()
    assert excinfo.value.message_dict["services"] == [
        "A service belongs to at most one team: 'checkout' belongs to team Payments. Remove it there first."
    ]


def test_a_team_keeps_its_own_services_when_it_is_validated_again():
    team = make_team("Payments", services=["checkout"])
    team.services = ["checkout", "billing", "checkout"]
    team.full_clean()
    assert team.services == ["checkout", "billing"]


@pytest.mark.parametrize("services", [["Checkout"], ["api gateway"], "checkout", [1]])
def test_team_services_are_service_names(services):
    with pytest.raises(ValidationError) as excinfo:
        Team(name="Payments", slug="payments", services=services).full_clean()
    assert "services" in excinfo.value.message_dict


def test_a_layer_refuses_restrictions_that_do_not_parse_and_stores_the_others_normalized():
    layer = make_layer(make_schedule(), [make_user()])
    layer.restrictions = [{"days": ["mon"], "start": "9:00", "end": "25:00"}]
    with pytest.raises(ValidationError) as excinfo:
        layer.full_clean()
    assert excinfo.value.message_dict["restrictions"] == [
        "Window 1 end: '25:00' is not a time of day as HH:MM (e.g. '09:00')."
    ]
    layer.restrictions = [{"days": ["Monday"], "start": "9:00", "end": "18:00"}]
    layer.full_clean()
    assert layer.restrictions == [{"days": ["mon"], "start": "09:00", "end": "18:00"}]


def test_two_layers_of_a_schedule_cannot_share_an_order():
    schedule = make_schedule()
    make_layer(schedule, order=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Layer.objects.create(schedule=schedule, name="Again", order=1, start_date=datetime(2026, 1, 5).date())


def test_an_override_must_end_after_it_starts():
    override = Override(
        schedule=make_schedule(),
        user=make_user(),
        start=datetime(2026, 1, 5, 12, tzinfo=UTC),
        end=datetime(2026, 1, 5, 12, tzinfo=UTC),
    )
    with pytest.raises(ValidationError) as excinfo:
        override.full_clean()
    assert excinfo.value.message_dict["end"] == ["The override must end after it starts."]


def test_the_database_refuses_an_override_ending_before_it_starts():
    with pytest.raises(IntegrityError), transaction.atomic():
        Override.objects.create(
            schedule=make_schedule(),
            user=make_user(),
            start=datetime(2026, 1, 5, 12, tzinfo=UTC),
            end=datetime(2026, 1, 5, 11, tzinfo=UTC),
        )


def test_a_handoff_time_is_kept_to_the_minute():
    layer = make_layer(make_schedule(), handoff_time=time(9, 30, 45))
    layer.refresh_from_db()
    assert layer.handoff_time == time(9, 30)
