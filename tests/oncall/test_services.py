"""The on-call services: what they create, and the DomainErrors they raise."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from django.db import connection

from incidents.oncall import services
from incidents.oncall.models import Layer, Override
from tests.factories import make_layer, make_schedule, make_team, make_user
from tests.helpers import race
from tracepoint.errors import DomainError

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def test_a_team_is_created_with_its_members_services_and_a_slug():
    alice, bob = make_user(), make_user()
    team = services.create_team(name="Payments Core", members=[alice, bob], services=["checkout", " billing"])
    assert (team.slug, team.services) == ("payments-core", ["checkout", "billing"])
    assert set(team.members.all()) == {alice, bob}


def test_a_service_already_owned_is_refused_with_the_owner_named():
    make_team("Payments", services=["checkout"])
    with pytest.raises(DomainError) as excinfo:
        services.create_team(name="Web", services=["checkout"])
    assert "'checkout' belongs to team Payments" in excinfo.value.message
    assert "services" in excinfo.value.details


@pytest.mark.django_db(transaction=True)
def test_teams_claiming_one_service_at_once_get_it_once():
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite serialises writers anyway")
    results = race(4, lambda index: services.create_team(name=f"Team {index}", services=["checkout"]))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, DomainError) for r in results if isinstance(r, Exception))
    assert services.team_for_service("checkout") is not None


def test_moving_a_service_between_teams_takes_removing_it_first():
    payments = make_team("Payments", services=["checkout", "billing"])
    web = make_team("Web", services=["www"])
    with pytest.raises(DomainError):
        services.update_team(web, services=["www", "checkout"])
    services.update_team(payments, services=["billing"])
    web = services.update_team(web, services=["www", "checkout"])
    assert services.team_for_service("checkout") == web
    assert services.team_for_service("billing") == payments
    assert services.team_for_service("search") is None


def test_update_team_changes_only_what_it_is_given():
    alice = make_user()
    team = make_team("Payments", members=[alice], services=["checkout"])
    team = services.update_team(team, name="Payments EU")
    assert (team.name, team.services, list(team.members.all())) == ("Payments EU", ["checkout"], [alice])


def test_a_duplicate_team_name_is_a_domain_error():
    make_team("Payments")
    with pytest.raises(DomainError) as excinfo:
        services.create_team(name="Payments", slug="payments-2")
    assert "name" in excinfo.value.details


def test_a_schedule_with_an_unknown_time_zone_is_refused():
    with pytest.raises(DomainError) as excinfo:
        services.create_schedule(team=make_team(), name="Primary", time_zone="Mars/Olympus_Mons")
    assert "'Mars/Olympus_Mons' is not an IANA time zone" in excinfo.value.message


def test_update_schedule_validates_the_new_time_zone():
    schedule = make_schedule(time_zone="Europe/Paris")
    assert services.update_schedule(schedule, time_zone=" America/New_York ").time_zone == "America/New_York"
    with pytest.raises(DomainError):
        services.update_schedule(schedule, time_zone="Eastern")


def test_new_layers_go_on_top_and_keep_their_participants_in_order():
    schedule = make_schedule()
    alice, bob, carol = make_user(), make_user(), make_user()
    first = services.create_layer(schedule, name="Base", start_date=date(2026, 1, 5), participants=[bob, alice])
    second = services.create_layer(
        schedule, name="Office", start_date=date(2026, 1, 5), participants=[carol, alice, carol], shift_unit="days"
    )
    assert (first.order, second.order) == (1, 2)
    assert [p.user for p in second.participants.order_by("position")] == [carol, alice, carol]
    services.set_layer_participants(first, [alice, carol])
    assert [p.user for p in first.participants.order_by("position")] == [alice, carol]


def test_a_layer_order_already_taken_is_a_domain_error():
    schedule = make_schedule()
    make_layer(schedule, order=3)
    with pytest.raises(DomainError) as excinfo:
        services.create_layer(schedule, name="Again", start_date=date(2026, 1, 5), order=3)
    assert excinfo.value.details
    assert Layer.objects.filter(schedule=schedule).count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"shift_count": 0}, "shift_count"),
        ({"shift_unit": "months"}, "shift_unit"),
        ({"restrictions": [{"start": "nine", "end": "18:00"}]}, "restrictions"),
        ({"name": "  "}, "name"),
    ],
)
def test_a_layer_that_does_not_validate_is_refused_with_its_field_named(fields, field):
    with pytest.raises(DomainError) as excinfo:
        services.create_layer(make_schedule(), **({"name": "Base", "start_date": date(2026, 1, 5)} | fields))
    assert field in excinfo.value.details
    assert not Layer.objects.exists()


def test_update_layer_changes_the_rotation_and_its_participants():
    schedule = make_schedule()
    alice, bob = make_user(), make_user()
    layer = make_layer(schedule, [alice])
    layer = services.update_layer(layer, shift_count=12, shift_unit="hours", handoff_time=time(8), participants=[bob])
    layer.refresh_from_db()
    assert (layer.shift_count, layer.shift_unit, layer.handoff_time) == (12, "hours", time(8))
    assert [p.user for p in layer.participants.all()] == [bob]
    with pytest.raises(DomainError, match="Unknown layer field"):
        services.update_layer(layer, schedule=make_schedule())


def test_inactive_users_cannot_join_a_rotation_or_cover_an_override():
    gone = make_user(is_active=False)
    schedule = make_schedule()
    with pytest.raises(DomainError, match="Inactive users"):
        services.create_layer(schedule, name="Base", start_date=date(2026, 1, 5), participants=[gone])
    with pytest.raises(DomainError, match="Inactive users"):
        services.create_override(schedule, user=gone, start=at(5), end=at(6))


def test_anyone_active_may_cover_an_override_not_only_team_members():
    schedule = make_schedule(make_team("Payments", members=[make_user()]))
    outsider, by = make_user(), make_user()
    override = services.create_override(schedule, user=outsider, start=at(5, 9), end=at(5, 17), note=" swap ", by=by)
    assert (override.user, override.created_by, override.note) == (outsider, by, "swap")


@pytest.mark.parametrize(("start", "end"), [(at(5, 12), at(5, 12)), (at(5, 12), at(5, 11))])
def test_an_override_must_end_after_it_starts(start, end):
    with pytest.raises(DomainError) as excinfo:
        services.create_override(make_schedule(), user=make_user(), start=start, end=end)
    assert excinfo.value.details["end"] == ["The override must end after it starts."]
    assert not Override.objects.exists()


def test_an_override_needs_aware_datetimes():
    with pytest.raises(DomainError, match="needs a time zone"):
        services.create_override(make_schedule(), user=make_user(), start=datetime(2026, 1, 5, 9), end=at(6))


def test_an_override_can_be_moved_and_deleted():
    override = services.create_override(make_schedule(), user=make_user(), start=at(5), end=at(6))
    override = services.update_override(override, end=at(7))
    assert Override.objects.get().end == at(7)
    with pytest.raises(DomainError):
        services.update_override(override, start=at(8))
    services.delete_override(override)
    assert not Override.objects.exists()
