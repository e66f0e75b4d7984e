"""On-call in Django admin: who is on call now per schedule, layers inline, and the models' rules."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client

from incidents.oncall.models import Layer, Override, Schedule, Team
from tests.factories import make_layer, make_schedule, make_team, make_user


@pytest.fixture
def admin_browser(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_schedule_list_says_who_is_on_call_now(admin_browser, db):
    alice = make_user(username="alice")
    covered = make_schedule(make_team("Payments"), name="Payments primary")
    make_layer(covered, [alice], start_date=date(2020, 1, 6))
    make_schedule(make_team("Web"), name="Web primary")  # no layers: a gap
    page = admin_browser.get("/admin/oncall/schedule/")
    assert page.status_code == 200
    rows = {
        name: row
        for row in page.content.decode().split("<tr")
        for name in ("Payments primary", "Web primary")
        if name in row
    }
    assert "alice" in rows["Payments primary"]
    assert "nobody (gap)" in rows["Web primary"]


def test_a_schedule_and_its_first_layer_are_added_on_one_page(admin_browser, db):
    team = make_team("Payments")
    response = admin_browser.post(
        "/admin/oncall/schedule/add/",
        {
            "team": team.pk,
            "name": "Primary",
            "time_zone": "Australia/Lord_Howe",
            "description": "",
            "layers-TOTAL_FORMS": "1",
            "layers-INITIAL_FORMS": "0",
            "layers-MIN_NUM_FORMS": "0",
            "layers-MAX_NUM_FORMS": "1000",
            "layers-0-order": "1",
            "layers-0-name": "Nights",
            "layers-0-shift_count": "1",
            "layers-0-shift_unit": "weeks",
            "layers-0-handoff_time": "09:00",
            "layers-0-start_date": "2026-01-05",
            "layers-0-restrictions": '[{"start": "22:00", "end": "06:00"}]',
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    layer = Layer.objects.get(schedule__name="Primary")
    assert layer.restrictions == [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "22:00", "end": "06:00"}
    ]


def test_the_admin_refuses_a_schedule_in_an_unknown_time_zone(admin_browser, db):
    response = admin_browser.post(
        "/admin/oncall/schedule/add/",
        {
            "team": make_team().pk,
            "name": "Primary",
            "time_zone": "Europe/Atlantis",
            "layers-TOTAL_FORMS": "0",
            "layers-INITIAL_FORMS": "0",
            "layers-MIN_NUM_FORMS": "0",
            "layers-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    assert "is not an IANA time zone" in response.content.decode()
    assert not Schedule.objects.exists()


def test_the_admin_refuses_a_service_another_team_owns(admin_browser, db):
    make_team("Payments", services=["checkout"])
    response = admin_browser.post(
        "/admin/oncall/team/add/", {"name": "Web", "slug": "web", "services": '["www", "checkout"]'}
    )
    assert response.status_code == 200
    assert "&#x27;checkout&#x27; belongs to team Payments" in response.content.decode()
    assert not Team.objects.filter(name="Web").exists()


def test_an_override_added_in_the_admin_records_who_added_it(admin_browser, admin_user, db):
    schedule, bob = make_schedule(), make_user(username="bob")
    fields = {
        "schedule": schedule.pk,
        "user": bob.pk,
        "start_0": "2026-01-05",
        "start_1": "09:00:00",
        "end_0": "2026-01-05",
        "end_1": "08:00:00",
        "note": "dentist",
    }
    refused = admin_browser.post("/admin/oncall/override/add/", fields)
    assert "The override must end after it starts." in refused.content.decode()
    response = admin_browser.post("/admin/oncall/override/add/", fields | {"end_1": "17:00:00"})
    assert response.status_code == 302
    override = Override.objects.get()
    assert (override.created_by, override.user, override.end - override.start) == (
        admin_user,
        bob,
        timedelta(hours=8),
    )


def test_a_layers_page_edits_its_rotation_order(admin_browser, db):
    alice, bob = make_user(username="alice"), make_user(username="bob")
    layer = make_layer(make_schedule(), [alice, bob])
    page = admin_browser.get(f"/admin/oncall/layer/{layer.pk}/change/")
    assert page.status_code == 200
    assert 'name="participants-0-position"' in page.content.decode()
