"""POST /api/v1/intake/grafana: Grafana Alerting's webhook contact point, received like Alertmanager's."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from incidents.intake import correlate, services
from incidents.intake.grafana import receive_grafana
from incidents.intake.models import Alert, AlertGroup, AlertPayload, AlertStatus, GroupStatus

pytestmark = pytest.mark.django_db
URL = "/api/v1/intake/grafana"
T0 = datetime(2026, 5, 16, 22, 0, tzinfo=UTC)

# The example body of Grafana's webhook notifier documentation (Grafana 9 to 11; values in newer
# versions, valueString in older ones: one alert of each here).
GRAFANA_EXAMPLE = {
    "receiver": "My Super Webhook",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
        },
        {
            "status": "firing",
            "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
            "annotations": {
                "description": "The system has high CPU usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone eu-1",
            },
            "startsAt": "2021-10-12T09:56:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit",
            "fingerprint": "bc97ff14869b13e3",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
            "dashboardURL": "",
            "panelURL": "",
            "valueString": "[ metric='' labels={} value=47043.702386305304 ]",
        },
    ],
    "groupLabels": {},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://play.grafana.org/",
    "version": "1",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
    "title": "[FIRING:2]  (blue)",
    "state": "alerting",
    "message": "**Firing**\n\nLabels:\n - alertname = T2\n - team = blue\n - zone = us-1\n",
}


def example(**changes) -> dict:
    body = copy.deepcopy(GRAFANA_EXAMPLE)
    body.update(changes)
    return body


def resolved_example() -> dict:
    body = example(status="resolved", state="ok", title="[RESOLVED]  (blue)")
    for alert in body["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2021-10-12T10:30:00+02:00"
    return body


def post(body, *, path: str = URL, **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return Client().post(path, data, content_type="application/json", **headers)


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def grafana_and_token(db):
    return services.create_integration(kind="grafana", name="Grafana prod", service_label="team")


@pytest.fixture
def grafana(grafana_and_token):
    return grafana_and_token[0]


@pytest.fixture
def token(grafana_and_token):
    return grafana_and_token[1]


@pytest.fixture
def queued(monkeypatch) -> list:
    """The groups handed to correlation."""
    calls = []
    monkeypatch.setattr(correlate, "queue", lambda group, **options: calls.append(group))
    return calls


def test_grafanas_documented_example_is_stored_and_answered_202(token, queued):
    response = post(GRAFANA_EXAMPLE, **bearer(token))
    assert response.status_code == 202, response.content
    assert response.json()["new_alerts"] == 2
    alerts = {alert.fingerprint: alert for alert in Alert.objects.all()}
    assert set(alerts) == {"c6eadffa33fcdf37", "bc97ff14869b13e3"}
    memory = alerts["c6eadffa33fcdf37"]
    assert memory.status == AlertStatus.FIRING and memory.service == "blue"
    assert memory.summary == "This alert was triggered for zone us-1"
    assert memory.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert memory.details == {"values": {"B": 44.23943737541908, "C": 1}}
    assert alerts["bc97ff14869b13e3"].details == {"value_string": "[ metric='' labels={} value=47043.702386305304 ]"}
    group = AlertGroup.objects.get()
    assert group.title == "[FIRING:2]  (blue)" and group.message.startswith("**Firing**")
    assert group.status == GroupStatus.FIRING
    assert [g.pk for g in queued] == [group.pk]


def test_grafanas_links_become_alert_links_and_empty_ones_are_skipped(token):
    body = example()
    body["alerts"][0]["dashboardURL"] = "https://grafana.example/d/mem"
    body["alerts"][0]["imageURL"] = "https://grafana.example/render/mem.png"
    assert post(body, **bearer(token)).status_code == 202
    links = Alert.objects.get(fingerprint="c6eadffa33fcdf37").links
    assert [link["text"] for link in links] == ["Source", "Runbook", "Dashboard", "Silence", "Image", "Grafana"]
    assert {"href": "https://grafana.example/render/mem.png", "text": "Image"} in links
    assert all(link["href"] for link in links)  # the empty panelURL left no link


def test_the_same_notification_twice_makes_no_second_alert(grafana, queued):
    raw = json.dumps(GRAFANA_EXAMPLE).encode()
    first = receive_grafana(grafana, GRAFANA_EXAMPLE, raw=raw, now=T0)
    again = receive_grafana(grafana, GRAFANA_EXAMPLE, raw=raw, now=T0 + timedelta(minutes=5))
    assert len(first.new_firing) == 2 and again.new_firing == [] and again.repeats == 2
    assert Alert.objects.count() == 2 and AlertPayload.objects.count() == 2
    assert len(queued) == 1  # a repeat changes nothing that correlation acts on


def test_a_repeat_refreshes_grafanas_values(grafana):
    receive_grafana(grafana, GRAFANA_EXAMPLE, raw=b"{}", now=T0)
    later = example()
    later["alerts"][0]["values"] = {"B": 97.5, "C": 1}
    receive_grafana(grafana, later, raw=b"{}", now=T0 + timedelta(minutes=5))
    assert Alert.objects.get(fingerprint="c6eadffa33fcdf37").details == {"values": {"B": 97.5, "C": 1}}


def test_the_resolved_notification_resolves_the_alerts_and_the_group(grafana, queued):
    receive_grafana(grafana, GRAFANA_EXAMPLE, raw=b"{}", now=T0)
    result = receive_grafana(grafana, resolved_example(), raw=b"{}", now=T0 + timedelta(minutes=40))
    assert len(result.resolved) == 2 and result.group_resolved
    assert set(Alert.objects.values_list("status", flat=True)) == {AlertStatus.RESOLVED}
    assert Alert.objects.get(fingerprint="c6eadffa33fcdf37").ends_at == datetime(2021, 10, 12, 8, 30, tzinfo=UTC)
    group = AlertGroup.objects.get()
    assert group.status == GroupStatus.RESOLVED and group.title == "[RESOLVED]  (blue)"
    assert len(queued) == 2


def test_basic_auth_with_the_token_as_password_is_accepted(token):
    credentials = base64.b64encode(f"grafana:{token}".encode()).decode()
    assert post(GRAFANA_EXAMPLE, HTTP_AUTHORIZATION=f"Basic {credentials}").status_code == 202
    assert Alert.objects.count() == 2


def test_the_token_may_be_in_the_url(token):
    assert post(GRAFANA_EXAMPLE, path=f"{URL}/{token}").status_code == 202
    assert Alert.objects.count() == 2


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Basic " + base64.b64encode(b"grafana:wrong").decode(), "Basic !!not-base64!!"],
)
def test_a_bad_token_is_a_401(grafana, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = post(GRAFANA_EXAMPLE, **headers)
    assert response.status_code == 401 and response.json()["code"] == "AUTHENTICATION_REQUIRED"
    assert AlertPayload.objects.count() == 0


def test_an_alertmanager_token_is_refused_here_with_a_401_naming_the_kinds(db):
    _, am_token = services.create_integration(kind="alertmanager", name="AM", service="db")
    response = post(GRAFANA_EXAMPLE, **bearer(am_token))
    assert response.status_code == 401
    body = response.json()
    assert body["details"] == {"integration_kind": "alertmanager", "endpoint_kind": "grafana"}
    assert "Prometheus Alertmanager" in body["message"] and AlertPayload.objects.count() == 0


def test_a_grafana_token_is_refused_by_the_alertmanager_endpoint(token):
    am_body = {**example(), "version": "4"}
    assert post(am_body, path="/api/v1/intake/alertmanager", **bearer(token)).status_code == 401


def test_an_alertmanager_version_is_a_400_naming_grafanas(token):
    response = post(example(version="4"), **bearer(token))
    assert response.status_code == 400
    assert response.json()["details"] == {"field": "version", "supported": ["1"]}


def test_grafanas_legacy_alerting_body_is_a_400_that_says_so(token):
    legacy = {"title": "[Alerting] CPU", "ruleId": 1, "ruleName": "CPU", "state": "alerting", "evalMatches": []}
    response = post(legacy, **bearer(token))
    assert response.status_code == 400 and "legacy alerting format" in response.json()["message"]


@pytest.mark.parametrize(
    ("field", "value"), [("values", [1, 2]), ("valueString", 3), ("dashboardURL", {"x": 1}), ("imageURL", 7)]
)
def test_a_grafana_field_of_the_wrong_type_is_a_400_naming_it(token, field, value):
    body = example()
    body["alerts"][1][field] = value
    response = post(body, **bearer(token))
    assert response.status_code == 400
    assert response.json()["details"]["field"] == f"alerts[1].{field}"
    assert Alert.objects.count() == 0


def test_a_body_over_the_limit_is_a_413(token, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_MAX_BYTES": 2048}
    body = example(message="x" * 4096)
    response = post(body, **bearer(token))
    assert response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert AlertPayload.objects.count() == 0


def test_a_flood_is_a_429_with_retry_after(token, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "intake": "2/min"},
    }
    assert [post(GRAFANA_EXAMPLE, **bearer(token)).status_code for _ in range(2)] == [202, 202]
    response = post(GRAFANA_EXAMPLE, **bearer(token))
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert AlertPayload.objects.count() == 2


def test_the_raw_payload_is_kept_size_limited(token, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_PAYLOAD_KEPT_BYTES": 100}
    assert post(GRAFANA_EXAMPLE, **bearer(token)).status_code == 202
    payload = AlertPayload.objects.get()
    assert payload.body_truncated and len(payload.body) == 100 and payload.body_bytes > 100
    assert payload.status == "firing" and payload.alert_count == 2


def test_only_post_is_allowed(token):
    response = Client().get(URL, **bearer(token))
    assert response.status_code == 405 and response["Allow"] == "POST"
