"""``/api/v1/escalation-policies``: viewers read, admins write policies with their steps (written whole)."""

from __future__ import annotations

import pytest

from incidents.oncall import policies
from incidents.oncall.models import EscalationPolicy, Team
from incidents.oncall.policies import StepSpec
from tests.factories import make_schedule, make_team, make_user
from tests.notifications.factories import make_email_channel
from tests.oncall.test_api import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/escalation-policies"


@pytest.fixture
def setup():
    team = make_team("Payments", services=["checkout", "billing"])
    ann = make_user(username="ann", first_name="Ann")
    bob = make_user(username="bob")
    return {
        "team": team,
        "ann": ann,
        "bob": bob,
        "schedule": make_schedule(team, name="Primary"),
        "channel": make_email_channel(name="ops"),
    }


def body(setup, **overrides) -> dict:
    return {
        "team": setup["team"].pk,
        "name": "Payments primary",
        "repeat": 1,
        "services": ["checkout"],
        "is_default": True,
        "steps": [
            {"delay_minutes": 5, "schedules": [setup["schedule"].pk]},
            {"delay_minutes": 10, "users": [setup["ann"].pk, "bob"]},
            {"delay_minutes": 30, "channels": [setup["channel"].pk]},
        ],
    } | overrides


def make_policy(team, name: str = "Existing", services=(), users=(), **fields):
    users = users or [make_user()]
    return policies.create_policy(team=team, name=name, services=services, steps=[StepSpec(users=users)], **fields)


def test_an_admin_creates_a_three_step_policy_as_the_team_default(admin_client, setup):
    response = admin_client.post(URL, body(setup), format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert response["Location"] == f"{URL}/{created['id']}"
    assert created["team"] == {"id": setup["team"].pk, "name": "Payments", "slug": "payments"}
    assert (created["name"], created["repeat"], created["services"], created["is_default"]) == (
        "Payments primary",
        1,
        ["checkout"],
        True,
    )
    steps = created["steps"]
    assert [s["delay_minutes"] for s in steps] == [5, 10, 30]
    assert steps[0]["schedules"] == [{"id": setup["schedule"].pk, "name": "Primary"}]
    assert [(u["username"], u["name"]) for u in steps[1]["users"]] == [("ann", "Ann"), ("bob", "bob")]
    assert steps[2]["channels"] == [{"id": setup["channel"].pk, "name": "ops"}]
    assert Team.objects.get(pk=setup["team"].pk).default_policy_id == created["id"]


def test_a_viewer_lists_and_reads_policies_in_the_page_envelope(viewer_client, setup):
    policy = make_policy(setup["team"], services=["checkout"])
    listing = viewer_client.get(URL)
    assert listing.status_code == 200
    page = listing.json()
    assert (page["count"], page["page"], page["page_size"], page["total_pages"]) == (1, 1, 10, 1)
    assert page["results"][0]["id"] == policy.pk and page["results"][0]["is_default"] is False
    detail = viewer_client.get(f"{URL}/{policy.pk}")
    assert detail.status_code == 200 and detail.json()["steps"][0]["delay_minutes"] == 15


def test_policies_filter_by_team_and_service_and_order_by_name(viewer_client, setup):
    make_policy(setup["team"], name="B checkout", services=["checkout"])
    make_policy(setup["team"], name="A billing", services=["billing"])
    web = make_team("Web", services=["www"])
    make_policy(web, name="Web", services=["www"])

    def names(query: str) -> list[str]:
        response = viewer_client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return [p["name"] for p in response.json()["results"]]

    assert names(f"team={setup['team'].pk}") == ["A billing", "B checkout"]
    assert names("service=www") == ["Web"]
    assert names("service=nothing") == []
    assert names("ordering=-name") == ["Web", "B checkout", "A billing"]
    assert_error(viewer_client.get(f"{URL}?ordering=steps"), 400, "VALIDATION_ERROR", "ordering")
    assert_error(viewer_client.get(f"{URL}?team=999999"), 400, "VALIDATION_ERROR", "team")


def test_patch_changes_only_what_is_sent_and_steps_are_replaced_whole(admin_client, setup):
    created = admin_client.post(URL, body(setup), format="json").json()
    response = admin_client.patch(f"{URL}/{created['id']}", {"repeat": 0}, format="json")
    assert response.status_code == 200, response.content
    patched = response.json()
    assert (patched["repeat"], patched["is_default"], len(patched["steps"])) == (0, True, 3)

    response = admin_client.patch(
        f"{URL}/{created['id']}", {"steps": [{"users": ["ann"]}], "is_default": False}, format="json"
    )
    replaced = response.json()
    assert [(s["delay_minutes"], [u["username"] for u in s["users"]]) for s in replaced["steps"]] == [(15, ["ann"])]
    assert replaced["is_default"] is False
    assert Team.objects.get(pk=setup["team"].pk).default_policy is None


def test_put_replaces_the_whole_policy(admin_client, setup):
    created = admin_client.post(URL, body(setup), format="json").json()
    response = admin_client.put(
        f"{URL}/{created['id']}",
        {"team": setup["team"].pk, "name": "Renamed", "steps": [{"users": ["bob"], "delay_minutes": 3}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    replaced = response.json()
    # Fields not sent take their defaults on PUT.
    assert (replaced["name"], replaced["repeat"], replaced["services"], replaced["is_default"]) == (
        "Renamed",
        0,
        [],
        False,
    )
    assert_error(admin_client.put(f"{URL}/{created['id']}", {"name": "X"}, format="json"), 400, "VALIDATION_ERROR")


def test_admins_delete_a_policy(admin_client, setup):
    policy = make_policy(setup["team"], default=True)
    assert admin_client.delete(f"{URL}/{policy.pk}").status_code == 204
    assert not EscalationPolicy.objects.exists()
    assert Team.objects.get(pk=setup["team"].pk).default_policy is None
    assert_error(admin_client.delete(f"{URL}/{policy.pk}"), 404, "NOT_FOUND")


# --- errors --------------------------------------------------------------------------------------


def test_anonymous_is_401_and_viewers_and_responders_cannot_write(
    anonymous_client, viewer_client, responder_client, setup
):
    policy = make_policy(setup["team"])
    assert_error(anonymous_client.get(URL), 401, "AUTHENTICATION_REQUIRED")
    for client in (viewer_client, responder_client):
        assert_error(client.post(URL, body(setup), format="json"), 403, "PERMISSION_DENIED")
        assert_error(client.patch(f"{URL}/{policy.pk}", {"repeat": 2}, format="json"), 403, "PERMISSION_DENIED")
        assert_error(client.delete(f"{URL}/{policy.pk}"), 403, "PERMISSION_DENIED")
    assert EscalationPolicy.objects.get().repeat == 0


def test_a_method_the_resource_lacks_is_405(admin_client, setup):
    body_ = assert_error(admin_client.post(f"{URL}/999"), 405, "METHOD_NOT_ALLOWED")
    assert "POST" not in body_["details"]["allowed"]


def test_shape_errors_name_the_step_and_field(admin_client, setup):
    response = admin_client.post(
        URL,
        body(setup, steps=[{"users": ["ann"]}, {"delay_minutes": 0, "users": ["nobody"], "schedules": [999999]}]),
        format="json",
    )
    details = assert_error(response, 400, "VALIDATION_ERROR", "steps")["details"]
    assert set(details["steps"]) == {"1"}
    assert set(details["steps"]["1"]) == {"delay_minutes", "users", "schedules"}
    assert_error(admin_client.post(URL, body(setup, steps=[]), format="json"), 400, "VALIDATION_ERROR", "steps")
    assert_error(admin_client.post(URL, body(setup, repeat=10), format="json"), 400, "VALIDATION_ERROR", "repeat")
    assert not EscalationPolicy.objects.exists()


def test_rule_errors_come_from_the_service_in_the_same_shape(admin_client, setup):
    setup["bob"].is_active = False
    setup["bob"].save()
    response = admin_client.post(URL, body(setup, steps=[{"users": ["bob"]}, {"delay_minutes": 5}]), format="json")
    details = assert_error(response, 400, "VALIDATION_ERROR", "steps")["details"]
    assert set(details["steps"]["0"]) == {"users"} and set(details["steps"]["1"]) == {"targets"}

    make_policy(setup["team"], name="Checkout", services=["checkout"])
    response = admin_client.post(URL, body(setup, steps=[{"users": ["ann"]}]), format="json")
    assert "uses policy Checkout" in assert_error(response, 400, "VALIDATION_ERROR", "services")["message"]
    response = admin_client.post(
        URL, body(setup, name="Checkout", services=[], steps=[{"users": ["ann"]}]), format="json"
    )
    assert_error(response, 400, "VALIDATION_ERROR", "name")
    assert EscalationPolicy.objects.count() == 1
