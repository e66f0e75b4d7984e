"""``/api/v1/teams`` and ``/api/v1/schedules``: reads for viewers, set-up for admins, overrides for
responders, who is on call at an instant (DST included) and the final schedule for a range."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote

import pytest

from incidents.oncall import services
from incidents.oncall.models import Layer, Override, Schedule, Team
from tests.factories import make_layer, make_override, make_schedule, make_team, make_user
from tests.oncall.conftest import PARIS, wall
from tests.oncall.test_rotation_maths import DAILY_ACROSS_DST
from tracepoint.errors import DomainError

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture
def people():
    return [make_user(username=name, first_name=name.title()) for name in ("alice", "bob", "carol", "dan")]


@pytest.fixture
def paris(people):
    """Weekly Alice/Bob from Monday 29 December 2025 09:00, and Carol on weekdays 09:00-18:00 on top."""
    alice, bob, carol, _ = people
    schedule = make_schedule(make_team("Payments", members=people, services=["checkout"]), name="Primary")
    make_layer(schedule, [alice, bob], name="Weekly", start_date=date(2025, 12, 29), order=1)
    make_layer(
        schedule,
        [carol],
        name="Office",
        start_date=date(2026, 1, 5),
        shift_unit="days",
        order=2,
        restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}],
    )
    return schedule


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "request_id", "details"}
    assert body["code"] == code
    assert body["request_id"] == response["X-Request-ID"]
    if field is not None:
        assert field in body["details"], body
    return body


def oncall(client, schedule, at: str | None = None):
    query = "" if at is None else f"?at={quote(at)}"
    return client.get(f"/api/v1/schedules/{schedule.pk}/oncall{query}")


# --- teams ----------------------------------------------------------------------------------------


def test_a_viewer_lists_teams_with_members_services_and_schedules(viewer_client, paris, people):
    make_team("Web")
    body = viewer_client.get("/api/v1/teams").json()
    assert (body["count"], body["page"], body["page_size"]) == (2, 1, 10)
    payments = body["results"][0]
    assert payments["name"] == "Payments" and payments["services"] == ["checkout"]
    assert [m["username"] for m in payments["members"]] == ["alice", "bob", "carol", "dan"]
    assert payments["members"][0]["name"] == "Alice"
    assert payments["schedules"] == [{"id": paris.pk, "name": "Primary"}]


def test_teams_filter_by_service_and_refuse_an_unknown_ordering(viewer_client, paris):
    make_team("Web", services=["www"])
    assert [t["name"] for t in viewer_client.get("/api/v1/teams?service=www").json()["results"]] == ["Web"]
    assert [t["name"] for t in viewer_client.get("/api/v1/teams?ordering=-name").json()["results"]] == [
        "Web",
        "Payments",
    ]
    assert_error(viewer_client.get("/api/v1/teams?ordering=nope"), 400, "VALIDATION_ERROR", "ordering")


def test_an_admin_creates_updates_and_deletes_a_team(admin_client, people):
    alice, bob = people[:2]
    response = admin_client.post(
        "/api/v1/teams", {"name": "Site Reliability", "services": ["api"], "members": ["alice", bob.pk]}, format="json"
    )
    assert response.status_code == 201, response.content
    team = Team.objects.get(pk=response.json()["id"])
    assert (team.slug, team.services, set(team.members.all())) == ("site-reliability", ["api"], {alice, bob})
    response = admin_client.patch(f"/api/v1/teams/{team.pk}", {"members": ["bob"]}, format="json")
    assert response.status_code == 200
    assert [m["username"] for m in response.json()["members"]] == ["bob"]
    assert response.json()["services"] == ["api"]  # what the PATCH did not name stays
    assert admin_client.delete(f"/api/v1/teams/{team.pk}").status_code == 204
    assert not Team.objects.filter(pk=team.pk).exists()


def test_a_service_owned_by_another_team_is_a_400_naming_the_owner(admin_client, paris):
    response = admin_client.post("/api/v1/teams", {"name": "Web", "services": ["checkout"]}, format="json")
    body = assert_error(response, 400, "VALIDATION_ERROR", "services")
    assert "belongs to team Payments" in body["message"]


def test_an_unknown_member_is_a_400(admin_client):
    response = admin_client.post("/api/v1/teams", {"name": "Web", "members": ["nobody"]}, format="json")
    assert_error(response, 400, "VALIDATION_ERROR", "members")


def test_a_team_with_schedules_cannot_be_deleted(admin_client, paris):
    body = assert_error(admin_client.delete(f"/api/v1/teams/{paris.team_id}"), 409, "CONFLICT", "schedules")
    assert body["details"]["schedules"] == ["Primary"]
    assert Team.objects.filter(pk=paris.team_id).exists()


def test_a_viewer_and_a_responder_cannot_change_teams(viewer_client, responder_client, paris):
    for client in (viewer_client, responder_client):
        assert_error(client.post("/api/v1/teams", {"name": "X"}, format="json"), 403, "PERMISSION_DENIED")
        assert_error(client.delete(f"/api/v1/teams/{paris.team_id}"), 403, "PERMISSION_DENIED")


def test_anonymous_callers_get_a_401(anonymous_client, paris):
    for url in ("/api/v1/teams", "/api/v1/schedules", f"/api/v1/schedules/{paris.pk}/oncall"):
        assert_error(anonymous_client.get(url), 401, "AUTHENTICATION_REQUIRED")
    response = anonymous_client.post(f"/api/v1/schedules/{paris.pk}/overrides", {}, format="json")
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")


def test_a_method_a_resource_does_not_have_is_a_405(admin_client, paris):
    body = assert_error(
        admin_client.put(f"/api/v1/teams/{paris.team_id}", {}, format="json"), 405, "METHOD_NOT_ALLOWED"
    )
    assert "PUT" not in body["details"]["allowed"]
    assert_error(
        admin_client.post(f"/api/v1/schedules/{paris.pk}/oncall", {}, format="json"), 405, "METHOD_NOT_ALLOWED"
    )
    assert_error(admin_client.delete("/api/v1/schedules"), 405, "METHOD_NOT_ALLOWED")


# --- schedules and layers -------------------------------------------------------------------------


def test_schedules_are_listed_and_filtered_by_team(viewer_client, paris):
    other = make_schedule(make_team("Web"), name="Web primary", time_zone="America/New_York")
    body = viewer_client.get("/api/v1/schedules").json()
    assert [(s["name"], s["team"]["name"]) for s in body["results"]] == [
        ("Primary", "Payments"),
        ("Web primary", "Web"),
    ]
    body = viewer_client.get("/api/v1/schedules?ordering=-team").json()
    assert [s["name"] for s in body["results"]] == ["Web primary", "Primary"]
    body = viewer_client.get(f"/api/v1/schedules?team={other.team_id}").json()
    assert [s["id"] for s in body["results"]] == [other.pk]
    assert_error(viewer_client.get("/api/v1/schedules?team=999999"), 400, "VALIDATION_ERROR", "team")


def test_a_schedule_shows_its_layers_with_participants_in_order_and_restrictions(viewer_client, paris):
    body = viewer_client.get(f"/api/v1/schedules/{paris.pk}").json()
    assert (body["name"], body["time_zone"], body["team"]["slug"]) == ("Primary", "Europe/Paris", "payments")
    weekly, office = body["layers"]
    assert (weekly["name"], weekly["order"], weekly["shift_unit"], weekly["handoff_time"]) == (
        "Weekly",
        1,
        "weeks",
        "09:00:00",
    )
    assert [p["username"] for p in weekly["participants"]] == ["alice", "bob"]
    assert office["restrictions"] == [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}]


def test_an_unknown_schedule_is_a_404(viewer_client):
    assert_error(viewer_client.get("/api/v1/schedules/999999"), 404, "NOT_FOUND")
    assert_error(viewer_client.get("/api/v1/schedules/999999/oncall"), 404, "NOT_FOUND")
    assert_error(viewer_client.get("/api/v1/schedules/999999/overrides"), 404, "NOT_FOUND")


def test_an_admin_builds_a_schedule_and_its_layers(admin_client, people):
    team = make_team("Web")
    response = admin_client.post(
        "/api/v1/schedules", {"team": team.pk, "name": "Nights", "time_zone": "America/New_York"}, format="json"
    )
    assert response.status_code == 201, response.content
    schedule_id = response.json()["id"]
    response = admin_client.post(
        f"/api/v1/schedules/{schedule_id}/layers",
        {
            "name": "Nightly",
            "start_date": "2026-01-05",
            "shift_unit": "days",
            "handoff_time": "20:00",
            "participants": ["carol", "dan", "carol"],
            "restrictions": [{"start": "20:00", "end": "08:00"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    layer = response.json()
    assert (layer["order"], layer["handoff_time"]) == (1, "20:00:00")
    assert [p["username"] for p in layer["participants"]] == ["carol", "dan", "carol"]
    response = admin_client.patch(
        f"/api/v1/schedules/{schedule_id}/layers/{layer['id']}",
        {"participants": ["dan"], "shift_count": 2},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert ([p["username"] for p in response.json()["participants"]], response.json()["shift_count"]) == (["dan"], 2)
    response = admin_client.patch(f"/api/v1/schedules/{schedule_id}", {"description": "After hours"}, format="json")
    assert (response.json()["description"], response.json()["time_zone"]) == ("After hours", "America/New_York")
    assert admin_client.delete(f"/api/v1/schedules/{schedule_id}/layers/{layer['id']}").status_code == 204
    assert admin_client.delete(f"/api/v1/schedules/{schedule_id}").status_code == 204
    assert not Schedule.objects.filter(pk=schedule_id).exists()


def test_bad_schedule_and_layer_values_are_400s_naming_the_field(admin_client, paris, people):
    team = paris.team
    response = admin_client.post(
        "/api/v1/schedules", {"team": team.pk, "name": "X", "time_zone": "Mars/Olympus"}, format="json"
    )
    assert_error(response, 400, "VALIDATION_ERROR", "time_zone")
    url = f"/api/v1/schedules/{paris.pk}/layers"
    bad_window = {"name": "L", "start_date": "2026-01-05", "restrictions": [{"start": "25:00", "end": "08:00"}]}
    assert_error(admin_client.post(url, bad_window, format="json"), 400, "VALIDATION_ERROR", "restrictions")
    taken = {"name": "L", "start_date": "2026-01-05", "order": 1}
    body = assert_error(admin_client.post(url, taken, format="json"), 400, "VALIDATION_ERROR")
    assert "Order already exists" in body["message"]
    people[3].is_active = False
    people[3].save()
    inactive = {"name": "L", "start_date": "2026-01-05", "participants": ["dan"]}
    assert_error(admin_client.post(url, inactive, format="json"), 400, "VALIDATION_ERROR", "participants")


def test_a_responder_cannot_change_schedules_or_layers(responder_client, paris):
    url = f"/api/v1/schedules/{paris.pk}/layers"
    assert_error(
        responder_client.post(url, {"name": "L", "start_date": "2026-01-05"}, format="json"), 403, "PERMISSION_DENIED"
    )
    assert_error(
        responder_client.patch(f"/api/v1/schedules/{paris.pk}", {"name": "Y"}, format="json"), 403, "PERMISSION_DENIED"
    )
    assert Layer.objects.filter(schedule=paris).count() == 2


# --- who is on call -------------------------------------------------------------------------------


def test_oncall_names_the_person_and_the_shift_they_are_in(viewer_client, paris, people):
    body = oncall(viewer_client, paris, "2026-01-07T12:00:00+01:00").json()  # a Wednesday at noon in Paris
    assert (body["schedule"], body["time_zone"], body["at"]) == (paris.pk, "Europe/Paris", "2026-01-07T11:00:00Z")
    [entry] = body["on_call"]
    assert entry["user"]["username"] == "carol"
    assert (entry["start"], entry["end"]) == ("2026-01-07T08:00:00Z", "2026-01-07T17:00:00Z")
    assert (entry["source"], entry["source_name"]) == ("layer", "Office")
    assert entry["source_id"] == paris.layers.get(name="Office").pk


def test_oncall_costs_the_same_queries_whatever_the_layers_and_overrides(viewer_client, paris, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert oncall(viewer_client, paris, "2026-01-07T12:00:00+01:00").status_code == 200
        return len(captured)

    oncall(viewer_client, paris, "2026-01-07T12:00:00+01:00")  # the token and role are cached from here on
    before = queries()
    make_layer(paris, people[:3], name="Third", start_date=date(2026, 1, 1), shift_unit="hours", order=3)
    for day in range(1, 20):
        make_override(paris, people[day % 4], wall(PARIS, 2026, 1, day, 1, 0), wall(PARIS, 2026, 1, day, 2, 0))
    assert queries() == before <= 8, before


def test_oncall_gives_a_weekly_shift_its_whole_week(viewer_client, paris):
    body = oncall(viewer_client, paris, "2026-01-10T03:00:00Z").json()  # Saturday: the weekly layer shows
    [entry] = body["on_call"]
    assert entry["user"]["username"] == "bob"
    # Bob's week runs Monday 09:00 to Monday 09:00; Carol's office hours cut it, so his stretch starts Friday 18:00.
    assert (entry["start"], entry["end"]) == ("2026-01-09T17:00:00Z", "2026-01-12T08:00:00Z")


def test_an_override_wins_and_is_named_as_the_source(viewer_client, paris, people):
    dan = people[3]
    override = make_override(
        paris, dan, wall(PARIS, 2026, 1, 7, 11, 0), wall(PARIS, 2026, 1, 7, 14, 0), note="dentist swap"
    )
    [entry] = oncall(viewer_client, paris, "2026-01-07T12:00:00+01:00").json()["on_call"]
    assert (entry["user"]["username"], entry["source"], entry["source_id"]) == ("dan", "override", override.pk)
    assert (entry["start"], entry["end"]) == ("2026-01-07T10:00:00Z", "2026-01-07T13:00:00Z")


def test_oncall_in_a_gap_is_an_empty_list(viewer_client, people):
    schedule = make_schedule(make_team("Web"), name="Office only")
    make_layer(
        schedule,
        [people[0]],
        start_date=date(2026, 1, 5),
        shift_unit="days",
        restrictions=[{"start": "09:00", "end": "18:00"}],
    )
    assert oncall(viewer_client, schedule, "2026-01-07T22:00:00+01:00").json()["on_call"] == []


def test_oncall_defaults_to_now(viewer_client, paris, time_machine):
    time_machine.move_to(datetime(2026, 1, 10, 3, 0, tzinfo=UTC), tick=False)
    body = oncall(viewer_client, paris).json()
    assert body["at"] == "2026-01-10T03:00:00Z"
    assert body["on_call"][0]["user"]["username"] == "bob"


def test_a_naive_at_is_utc_and_an_unencoded_plus_offset_still_reads_as_plus(viewer_client, paris):
    assert oncall(viewer_client, paris, "2026-01-07T11:00:00").json()["at"] == "2026-01-07T11:00:00Z"
    response = viewer_client.get(f"/api/v1/schedules/{paris.pk}/oncall?at=2026-01-07T12:00:00+01:00")  # '+' → ' '
    assert response.json()["at"] == "2026-01-07T11:00:00Z"


@pytest.mark.parametrize(
    "at",
    ["yesterday", "2026-13-01T00:00:00Z", "2026-01-07T25:00:00Z", "2026-01-07T12:00:00+20:00", "0001-01-01T00:00:00Z"],
)
def test_a_bad_at_is_a_400_in_the_error_shape(viewer_client, paris, at):
    body = assert_error(oncall(viewer_client, paris, at), 400, "VALIDATION_ERROR", "at")
    assert body["message"].startswith("at: ")


@pytest.mark.parametrize(("zone", "day", "length"), DAILY_ACROSS_DST)
def test_oncall_answers_are_right_across_dst(viewer_client, people, zone, day, length):
    """The engine's DST table, asked through the API: a daily 09:00 handoff on the days clocks change."""
    alice, bob, carol, _ = people
    schedule = make_schedule(make_team(f"Team {zone.key}"), name="Daily", time_zone=zone.key)
    make_layer(schedule, [alice, bob, carol], start_date=date(2026, 1, 1), shift_unit="days", handoff_time=time(9, 0))
    begins = wall(zone, day.year, day.month, day.day, 9, 0)
    [entry] = oncall(viewer_client, schedule, (begins + H).isoformat()).json()["on_call"]
    start = datetime.fromisoformat(entry["start"])
    end = datetime.fromisoformat(entry["end"])
    assert start == begins
    assert end - start == length
    assert end.astimezone(zone).time() == time(9, 0)
    assert entry["user"]["id"] == [alice, bob, carol][(day - date(2026, 1, 1)).days % 3].pk


def test_the_lord_howe_half_hour_shows_in_an_hourly_rotation(viewer_client, people):
    """Lord Howe's clocks go back 30 minutes on 5 April 2026 at 02:00: the 01:00 clock hour lasts 90 minutes."""
    from tests.oncall.conftest import LORD_HOWE

    alice, bob = people[:2]
    schedule = make_schedule(make_team("Islands"), name="Hourly", time_zone="Australia/Lord_Howe")
    make_layer(schedule, [alice, bob], start_date=date(2026, 4, 5), shift_unit="hours", handoff_time=time(0, 0))
    begins = wall(LORD_HOWE, 2026, 4, 5, 1, 0)
    [entry] = oncall(viewer_client, schedule, (begins + timedelta(minutes=80)).isoformat()).json()["on_call"]
    assert entry["user"]["username"] == "bob"
    assert datetime.fromisoformat(entry["end"]) - datetime.fromisoformat(entry["start"]) == timedelta(minutes=90)


# --- the final schedule for a range ---------------------------------------------------------------


def test_shifts_lists_the_final_schedule_and_its_gaps(viewer_client, people):
    alice = people[0]
    schedule = make_schedule(make_team("Web"), name="Office only")
    make_layer(
        schedule,
        [alice],
        start_date=date(2026, 1, 5),
        shift_unit="days",
        restrictions=[{"start": "09:00", "end": "18:00"}],
    )
    query = f"start={quote('2026-01-06T00:00:00+01:00')}&end={quote('2026-01-07T00:00:00+01:00')}"
    body = viewer_client.get(f"/api/v1/schedules/{schedule.pk}/shifts?{query}").json()
    assert [(s["user"]["username"], s["start"], s["end"]) for s in body["shifts"]] == [
        ("alice", "2026-01-06T08:00:00Z", "2026-01-06T17:00:00Z")
    ]
    assert body["gaps"] == [
        {"start": "2026-01-05T23:00:00Z", "end": "2026-01-06T08:00:00Z"},
        {"start": "2026-01-06T17:00:00Z", "end": "2026-01-06T23:00:00Z"},
    ]


def test_shifts_defaults_to_the_next_seven_days(viewer_client, paris, time_machine):
    time_machine.move_to(datetime(2026, 1, 5, 0, 0, tzinfo=UTC), tick=False)
    body = viewer_client.get(f"/api/v1/schedules/{paris.pk}/shifts").json()
    assert (body["start"], body["end"]) == ("2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z")
    assert {s["user"]["username"] for s in body["shifts"]} == {"alice", "bob", "carol"}
    assert body["gaps"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2026-01-01T00:00:00Z&end=2026-03-02T00:00:01Z", "end"),  # 60 days and a second
        ("start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", "end"),
        ("start=soon", "start"),
    ],
)
def test_a_bad_or_too_long_range_is_a_400(viewer_client, paris, query, field):
    assert_error(viewer_client.get(f"/api/v1/schedules/{paris.pk}/shifts?{query}"), 400, "VALIDATION_ERROR", field)


def test_sixty_days_is_allowed(viewer_client, paris):
    response = viewer_client.get(
        f"/api/v1/schedules/{paris.pk}/shifts?start=2026-01-01T00:00:00Z&end=2026-03-02T00:00:00Z"
    )
    assert response.status_code == 200
    assert len(response.json()["shifts"]) > 40


# --- overrides ------------------------------------------------------------------------------------


def test_a_responder_creates_and_deletes_an_override_and_the_answer_changes(responder_client, responder, paris):
    url = f"/api/v1/schedules/{paris.pk}/overrides"
    body = {"user": "dan", "start": "2026-01-07T11:00:00+01:00", "end": "2026-01-07T14:00:00+01:00", "note": "swap"}
    response = responder_client.post(url, body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["user"]["username"], created["created_by"]["username"], created["note"]) == ("dan", "rita", "swap")
    assert (created["start"], created["end"]) == ("2026-01-07T10:00:00Z", "2026-01-07T13:00:00Z")
    assert oncall(responder_client, paris, "2026-01-07T11:00:00Z").json()["on_call"][0]["user"]["username"] == "dan"
    listed = responder_client.get(url).json()
    assert [o["id"] for o in listed["results"]] == [created["id"]]
    assert responder_client.delete(f"{url}/{created['id']}").status_code == 204
    assert oncall(responder_client, paris, "2026-01-07T11:00:00Z").json()["on_call"][0]["user"]["username"] == "carol"


def test_changing_an_override_is_for_responders(viewer_client, responder_client, paris, people):
    override = make_override(paris, people[3], wall(PARIS, 2026, 1, 7, 11, 0), wall(PARIS, 2026, 1, 7, 14, 0))
    url = f"/api/v1/schedules/{paris.pk}/overrides/{override.pk}"
    assert_error(viewer_client.patch(url, {"user": "alice"}, format="json"), 403, "PERMISSION_DENIED")
    response = responder_client.patch(url, {"end": "2026-01-07T16:00:00+01:00"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["user"]["username"], response.json()["end"]) == ("dan", "2026-01-07T15:00:00Z")


def test_a_viewer_cannot_create_or_delete_overrides(viewer_client, paris, people):
    override = make_override(paris, people[3], wall(PARIS, 2026, 1, 7, 11, 0), wall(PARIS, 2026, 1, 7, 14, 0))
    url = f"/api/v1/schedules/{paris.pk}/overrides"
    body = {"user": "dan", "start": "2026-01-08T10:00:00Z", "end": "2026-01-08T11:00:00Z"}
    assert_error(viewer_client.post(url, body, format="json"), 403, "PERMISSION_DENIED")
    assert_error(viewer_client.delete(f"{url}/{override.pk}"), 403, "PERMISSION_DENIED")
    assert Override.objects.filter(schedule=paris).count() == 1


def test_an_override_that_ends_before_it_starts_is_a_400(responder_client, paris):
    body = {"user": "dan", "start": "2026-01-08T10:00:00Z", "end": "2026-01-08T09:00:00Z"}
    response = responder_client.post(f"/api/v1/schedules/{paris.pk}/overrides", body, format="json")
    assert_error(response, 400, "VALIDATION_ERROR", "end")


def test_overrides_of_another_schedule_are_not_reachable_through_this_one(admin_client, paris, people):
    other = make_schedule(make_team("Web"), name="Web primary")
    override = make_override(other, people[0], wall(PARIS, 2026, 1, 7, 11, 0), wall(PARIS, 2026, 1, 7, 14, 0))
    assert_error(admin_client.delete(f"/api/v1/schedules/{paris.pk}/overrides/{override.pk}"), 404, "NOT_FOUND")
    assert Override.objects.filter(pk=override.pk).exists()


def test_overrides_filter_by_time(viewer_client, paris, people):
    early = make_override(paris, people[3], wall(PARIS, 2026, 1, 7, 11, 0), wall(PARIS, 2026, 1, 7, 14, 0))
    late = make_override(paris, people[3], wall(PARIS, 2026, 2, 7, 11, 0), wall(PARIS, 2026, 2, 7, 14, 0))
    url = f"/api/v1/schedules/{paris.pk}/overrides"
    assert [o["id"] for o in viewer_client.get(f"{url}?after=2026-01-08T00:00:00Z").json()["results"]] == [late.pk]
    assert [o["id"] for o in viewer_client.get(f"{url}?before=2026-01-08T00:00:00Z").json()["results"]] == [early.pk]
    assert_error(viewer_client.get(f"{url}?after=tomorrow"), 400, "VALIDATION_ERROR", "after")


# --- the services behind the API ------------------------------------------------------------------


def test_delete_team_refuses_a_team_with_schedules_and_deletes_one_without(paris):
    with pytest.raises(DomainError) as excinfo:
        services.delete_team(paris.team)
    assert (excinfo.value.status_code, excinfo.value.details) == (409, {"schedules": ["Primary"]})
    empty = make_team("Web")
    services.delete_team(empty)
    assert not Team.objects.filter(pk=empty.pk).exists()


def test_delete_schedule_takes_its_layers_and_overrides_along(paris, people):
    make_override(paris, people[3], wall(PARIS, 2026, 1, 7, 11, 0), wall(PARIS, 2026, 1, 7, 14, 0))
    services.delete_schedule(paris)
    assert not Layer.objects.filter(schedule_id=paris.pk).exists()
    assert not Override.objects.filter(schedule_id=paris.pk).exists()


def test_on_call_shifts_at_widens_until_it_sees_both_edges_of_a_long_shift(people):
    alice, bob = people[:2]
    schedule = make_schedule(make_team("Web"), name="Fortnights")
    make_layer(schedule, [alice, bob], start_date=date(2026, 1, 5), shift_count=4, shift_unit="weeks")
    at = wall(PARIS, 2026, 1, 20, 12, 0)
    [shift] = services.on_call_shifts_at(schedule, at)
    assert (shift.user_id, shift.start, shift.end) == (
        alice.pk,
        wall(PARIS, 2026, 1, 5, 9, 0),
        wall(PARIS, 2026, 2, 2, 9, 0),
    )
    make_layer(schedule, [bob], name="Forever", start_date=date(2025, 1, 1), shift_count=52, order=2)
    [shift] = services.on_call_shifts_at(schedule, at)  # a year-long shift: clipped to the widest reach
    assert shift.user_id == bob.pk
    assert (shift.start, shift.end) == (at - services.SHIFT_REACH[-1], at + services.SHIFT_REACH[-1])
