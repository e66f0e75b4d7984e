"""Dependencies through the two front doors (``depends_on`` in the API, "Depends on" on the form) and on the
monitor pages (parents, children, "Down because VPN is down")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from monitors.models import Monitor
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from tests.factories import make_monitor

URL = "/api/v1/monitors"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def responder_browser(client, responder):
    client.force_login(responder)
    return client


@pytest.fixture
def chain(db) -> dict[str, Monitor]:
    """Shop depends on Database, Database on VPN."""
    vpn, database, shop = make_monitor("VPN"), make_monitor("Database"), make_monitor("Shop")
    database.depends_on.add(vpn)
    shop.depends_on.add(database)
    return {"vpn": vpn, "database": database, "shop": shop}


# --- API -------------------------------------------------------------------------------------------------


def test_the_api_creates_a_monitor_with_dependencies_and_shows_both_directions(responder_client, chain):
    vpn = chain["vpn"]
    created = responder_client.post(
        URL,
        {"name": "Intranet", "kind": "http", "url": "https://intranet.example/", "depends_on": [vpn.pk]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["depends_on"] == [vpn.pk]
    assert Monitor.objects.get(name="Intranet").depends_on.get() == vpn
    shown = responder_client.get(f"{URL}/{vpn.pk}").json()
    assert shown["depends_on"] == [] and sorted(shown["dependents"]) == sorted(
        [chain["database"].pk, created.json()["id"]]
    )
    assert shown["down_because_of"] is None


def test_the_api_says_which_parent_a_down_is_blamed_on(viewer_client, chain):
    record_result(chain["vpn"].pk, CheckResult("down", None, "timeout"), now=T0)
    record_result(chain["shop"].pk, CheckResult("down", None, "timeout"), now=T0 + timedelta(minutes=1))
    body = viewer_client.get(f"{URL}/{chain['shop'].pk}").json()
    assert body["status"] == "down"
    assert body["down_because_of"] == {"id": chain["vpn"].pk, "name": "VPN"}
    periods = viewer_client.get(f"{URL}/{chain['shop'].pk}/results", {"since": "2026-03-01T11:00:00Z",
                                "until": "2026-03-01T13:00:00Z"}).json()["periods"]  # fmt: skip
    assert periods[-1]["reason"] == "timeout (because VPN is down)"


@pytest.mark.parametrize(
    ("monitor", "parents", "message"),
    [
        ("vpn", ["shop"], "This would make a cycle: VPN → Shop → Database → VPN."),
        ("vpn", ["database"], "This would make a cycle: VPN → Database → VPN."),
        ("vpn", ["vpn"], "A monitor cannot depend on itself (VPN → VPN)."),
    ],
)
def test_the_api_refuses_a_cycle_naming_it(responder_client, chain, monitor, parents, message):
    response = responder_client.patch(
        f"{URL}/{chain[monitor].pk}", {"depends_on": [chain[name].pk for name in parents]}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"]["depends_on"][0].startswith(message)
    assert not chain["vpn"].depends_on.exists()


def test_the_api_refuses_an_unknown_monitor(responder_client, chain):
    response = responder_client.patch(f"{URL}/{chain['shop'].pk}", {"depends_on": [999999]}, format="json")
    assert response.status_code == 400 and "depends_on" in response.json()["details"]


def test_viewers_cannot_set_dependencies_and_anonymous_users_are_asked_to_log_in(
    viewer_client, anonymous_client, chain
):
    body = {"depends_on": [chain["vpn"].pk]}
    assert viewer_client.patch(f"{URL}/{chain['shop'].pk}", body, format="json").status_code == 403
    assert anonymous_client.patch(f"{URL}/{chain['shop'].pk}", body, format="json").status_code == 401
    assert list(chain["shop"].depends_on.all()) == [chain["database"]]


def test_the_api_replaces_the_dependencies_with_the_list_sent(responder_client, chain):
    shop = chain["shop"]
    response = responder_client.patch(f"{URL}/{shop.pk}", {"depends_on": [chain["vpn"].pk]}, format="json")
    assert response.status_code == 200 and response.json()["depends_on"] == [chain["vpn"].pk]
    assert responder_client.patch(f"{URL}/{shop.pk}", {"depends_on": []}, format="json").status_code == 200
    assert not shop.depends_on.exists()


# --- form --------------------------------------------------------------------------------------------------


def edit_data(monitor: Monitor, **overrides) -> dict:
    return {"name": monitor.name, "url": monitor.url, "method": "GET", "expected_statuses": "200-399",
            "interval_seconds": 60, "down_after": 1, "up_after": 1, "tls_expiry_days": 14,
            "incident_severity": "SEV2", "follow_redirects": "on"} | overrides  # fmt: skip


def test_the_form_offers_the_other_monitors_in_the_alerting_group(responder_browser, chain):
    page = responder_browser.get(f"/monitors/{chain['database'].pk}/edit/").content.decode()
    alerting = page.split('data-group="alerting"')[1].split('class="test-now"')[0]
    assert "<legend>Depends on</legend>" in alerting and "While one of them (or one they depend on) is Down" in alerting
    offered = set(re.findall(r'name="depends_on" value="(\d+)"', alerting))
    assert offered == {str(chain["vpn"].pk), str(chain["shop"].pk)}  # every other monitor, not itself
    assert re.search(rf'name="depends_on" value="{chain["vpn"].pk}"[^>]*checked', alerting)
    assert "VPN (HTTP(S), pending)" in alerting


def test_the_new_monitor_form_has_the_dependencies_too(responder_browser, chain):
    page = responder_browser.get("/monitors/new/?kind=heartbeat").content.decode()
    assert 'name="depends_on"' in page


def test_the_form_saves_dependencies(responder_browser, chain):
    shop = chain["shop"]
    data = edit_data(shop, depends_on=[chain["vpn"].pk, chain["database"].pk])
    response = responder_browser.post(f"/monitors/{shop.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(shop.depends_on.all()) == {chain["vpn"], chain["database"]}


def test_the_form_creates_a_monitor_with_dependencies(responder_browser, chain):
    data = edit_data(
        Monitor(name="Intranet", url="https://intranet.example/"), kind="http", depends_on=[chain["vpn"].pk]
    )
    response = responder_browser.post("/monitors/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Monitor.objects.get(name="Intranet").depends_on.get() == chain["vpn"]


def test_the_form_refuses_a_cycle_next_to_the_field(responder_browser, chain):
    vpn = chain["vpn"]
    response = responder_browser.post(f"/monitors/{vpn.pk}/edit/", edit_data(vpn, depends_on=[chain["shop"].pk]))
    page = response.content.decode()
    assert response.status_code == 400
    assert "This would make a cycle: VPN → Shop → Database → VPN." in page
    assert re.search(
        r'<ul class="field-errors" role="alert" id="id_depends_on_error"><li>This would make a cycle', page
    )
    assert not vpn.depends_on.exists()


# --- pages -------------------------------------------------------------------------------------------------


def test_the_monitor_page_shows_parents_children_and_the_blame(client, viewer, chain):
    chain["vpn"].name = "VPN <edge>"
    chain["vpn"].save()
    record_result(chain["vpn"].pk, CheckResult("down", None, "timeout"), now=T0)
    record_result(chain["database"].pk, CheckResult("down", None, "timeout"), now=T0 + timedelta(minutes=1))
    client.force_login(viewer)
    page = client.get(f"/monitors/{chain['database'].pk}/").content.decode()
    because = re.search(r'<span id="down-because">(.*?)</span></span>', page, re.S).group(1)
    assert "because" in because and "VPN &lt;edge&gt;" in because and f"/monitors/{chain['vpn'].pk}/" in because
    assert "<edge>" not in page
    depends_on = re.search(r'<ul class="plain" id="depends-on">(.*?)</ul>', page, re.S).group(1)
    dependents = re.search(r'<ul class="plain" id="dependents">(.*?)</ul>', page, re.S).group(1)
    assert "VPN &lt;edge&gt;" in depends_on and "Shop" not in depends_on
    assert "Shop" in dependents and "VPN" not in dependents
    assert "Depends on “VPN &lt;edge&gt;”: while one of them is down" in page  # the summary says so too
    listing = client.get("/monitors/").content.decode()
    assert "because VPN &lt;edge&gt; is down" in listing
    assert "Pick the monitors it needs" not in client.get(f"/monitors/{chain['vpn'].pk}/").content.decode()


def test_a_monitor_without_dependencies_says_so(client, responder, db):
    monitor = make_monitor("Lonely")
    client.force_login(responder)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert "Nothing: its Down always alerts." in page and "Pick the monitors it needs" in page
    assert "No monitor depends on this one." in page
