"""A monitor's default timeout follows its interval (the smaller of 10 s and 80 % of it, at least 1 s), through
the API and the form alike; an explicit bad timeout is still refused, clearly."""

from __future__ import annotations

import pytest

from monitors import services
from monitors.models import Monitor

URL = "/api/v1/monitors"


@pytest.mark.parametrize(("interval", "timeout"), [(1, 1), (2, 1), (10, 8), (12, 9), (13, 10), (60, 10), (3600, 10)])
def test_the_default_is_80_percent_of_the_interval_at_most_10_seconds(interval, timeout):
    assert services.default_timeout_seconds(interval) == timeout


def test_the_api_takes_a_10_second_interval_without_a_timeout(responder_client):
    body = {"name": "fast", "kind": "http", "url": "https://example.com/", "interval_seconds": 10}
    response = responder_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["timeout_seconds"] == 8
    assert Monitor.objects.get(pk=response.json()["id"]).timeout_seconds == 8


def test_the_api_default_for_a_slow_interval_stays_10_seconds(responder_client):
    response = responder_client.post(
        URL, {"name": "tcp", "kind": "tcp", "host": "example.com", "port": 443}, format="json"
    )
    assert response.status_code == 201 and response.json()["timeout_seconds"] == 10


def test_an_explicit_timeout_as_long_as_the_interval_is_refused_clearly(responder_client):
    body = {"name": "x", "kind": "http", "url": "https://example.com/", "interval_seconds": 10, "timeout_seconds": 10}
    response = responder_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["details"]["timeout_seconds"] == [
        "Shorter than the interval (10 s); leave it out for the default, 8 s."
    ]


def test_an_explicit_timeout_over_the_maximum_is_refused(responder_client):
    body = {"name": "x", "kind": "http", "url": "https://example.com/", "timeout_seconds": 90}
    response = responder_client.post(URL, body, format="json")
    assert response.json()["details"]["timeout_seconds"] == ["Between 1 and 60 seconds."]


def test_a_default_timeout_follows_a_new_interval_on_patch(responder_client):
    monitor = services.create_monitor(name="x", kind="http", url="https://example.com/")
    response = responder_client.patch(f"{URL}/{monitor.pk}", {"interval_seconds": 10}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["timeout_seconds"] == 8


def test_a_chosen_timeout_that_still_fits_is_kept_on_patch(responder_client):
    monitor = services.create_monitor(name="x", kind="http", url="https://example.com/", timeout_seconds=4)
    response = responder_client.patch(f"{URL}/{monitor.pk}", {"interval_seconds": 30}, format="json")
    assert response.status_code == 200 and response.json()["timeout_seconds"] == 4
    response = responder_client.patch(f"{URL}/{monitor.pk}", {"name": "renamed"}, format="json")
    assert response.json()["timeout_seconds"] == 4


def test_a_chosen_timeout_that_no_longer_fits_falls_back_to_the_default(responder_client):
    monitor = services.create_monitor(
        name="x", kind="http", url="https://example.com/", interval_seconds=120, timeout_seconds=30
    )
    response = responder_client.patch(f"{URL}/{monitor.pk}", {"interval_seconds": 20}, format="json")
    assert response.status_code == 200 and response.json()["timeout_seconds"] == 10


def test_the_form_applies_the_same_rule(client, responder):
    client.force_login(responder)
    body = {"kind": "tcp", "name": "db", "host": "example.com", "port": 5432, "interval_seconds": 10,
            "timeout_seconds": "", "down_after": 2, "up_after": 1, "incident_severity": "SEV2"}  # fmt: skip
    assert client.post("/monitors/new/", body).status_code == 302
    assert Monitor.objects.get(name="db").timeout_seconds == 8
    refused = client.post("/monitors/new/", body | {"name": "db2", "timeout_seconds": 10})
    assert refused.status_code == 400
    assert "Shorter than the interval (10 s); leave it out for the default, 8 s." in refused.content.decode()


def test_the_service_applies_it_to_monitors_made_in_code(db):
    assert services.create_monitor(name="x", kind="tcp", host="h", port=1, interval_seconds=10).timeout_seconds == 8
    assert services.create_monitor(name="y", kind="tcp", host="h", port=1, timeout_seconds=3).timeout_seconds == 3
