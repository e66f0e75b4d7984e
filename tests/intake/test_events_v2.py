"""The PagerDuty-compatible Events API v2 under /api/v1/intake/events: alert events (trigger, acknowledge,
resolve) and change events, answered in the spec's exact shapes (shared/specs/incoming-alerts.md §2)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone

from events import digestion
from events.ingest import store_events
from events.keys import create_project
from events.models import Event, EventType, Issue
from incidents.intake import correlate, services, views
from incidents.intake.events_v2 import change_type_of, receive_alert_event
from incidents.intake.models import Alert, AlertGroup, AlertPayload, AlertStatus, GroupStatus, Integration
from tests.factories import make_event
from tests.helpers import race

pytestmark = pytest.mark.django_db
BASE = "/api/v1/intake/events"
ENQUEUE = f"{BASE}/v2/enqueue"
CHANGE = f"{BASE}/v2/change/enqueue"
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
INVALID = {"status": "invalid event", "message": "Event object is invalid"}
ROUTING = "0" * 32  # the services below take the integration itself; the key in the body is not read


def trigger(routing_key: str, dedup_key: str | None = "disk-full/db-1", **payload) -> dict:
    """The spec's example alert event."""
    body = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {
            "summary": "Disk 95% full on db-1",
            "source": "db-1.prod",
            "severity": "critical",
            "timestamp": "2026-12-06T10:15:00.000+0000",
            "component": "postgres",
            "group": "db",
            "class": "disk",
            "custom_details": {"free_gb": 3},
            **payload,
        },
        "client": "Prometheus",
        "client_url": "https://prometheus.example.com",
        "links": [{"href": "https://grafana.example.com/d/abc", "text": "Dashboard"}],
        "images": [{"src": "https://example.com/graph.png", "href": "https://example.com", "alt": "graph"}],
    }
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return body


def action(routing_key: str, event_action: str, dedup_key: str = "disk-full/db-1") -> dict:
    return {"routing_key": routing_key, "dedup_key": dedup_key, "event_action": event_action}


def post(body, path: str = ENQUEUE, **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return Client().post(path, data, content_type="application/json", **headers)


@pytest.fixture
def integration_and_key(db):
    return services.create_integration(kind="events_v2", name="Prometheus via PagerDuty", service="db")


@pytest.fixture
def integration(integration_and_key) -> Integration:
    return integration_and_key[0]


@pytest.fixture
def key(integration_and_key) -> str:
    return integration_and_key[1]


@pytest.fixture
def queued(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(correlate, "queue", lambda group, **options: calls.append(group))
    return calls


@pytest.fixture
def shop(db):
    return create_project(name="Shop", slug="shop", services=["checkout", "db"])


# --- routing keys ----------------------------------------------------------------------------------


def test_an_events_v2_routing_key_is_32_lowercase_hex_characters_and_stays_so_when_rotated(integration, key):
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    stored = Integration.objects.get(pk=integration.pk)
    assert stored.token_prefix == key[:8] and key not in stored.token_hash
    rotated = services.rotate_token(integration)
    assert re.fullmatch(r"[0-9a-f]{32}", rotated) and rotated != key
    assert services.authenticate(rotated) == integration
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(key)


def test_other_kinds_keep_their_tpi_tokens(db):
    _, token = services.create_integration(kind="generic", name="Cron", service="batch")
    assert token.startswith("tpi_") and len(token) > 40


def test_a_routing_key_with_one_wrong_character_is_refused(integration, key):
    with pytest.raises(services.InvalidIntegrationToken):
        services.authenticate(key[:-1] + ("0" if key[-1] != "0" else "1"))


# --- alert events ----------------------------------------------------------------------------------


def test_a_trigger_is_answered_202_in_the_spec_shape_and_stored(key, queued):
    response = post(trigger(key))
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "disk-full/db-1"}
    alert = Alert.objects.get()
    assert alert.fingerprint == "disk-full/db-1" and alert.status == AlertStatus.FIRING
    assert alert.summary == "Disk 95% full on db-1" and alert.service == "db"
    assert (alert.source_severity, alert.severity) == ("critical", "SEV2")
    assert alert.labels == {"source": "db-1.prod", "component": "postgres", "group": "db", "class": "disk"}
    assert alert.details["custom_details"] == {"free_gb": 3}
    assert alert.details["images"][0]["src"] == "https://example.com/graph.png"
    assert alert.details["client"] == "Prometheus"
    assert alert.links == [
        {"href": "https://grafana.example.com/d/abc", "text": "Dashboard"},
        {"href": "https://example.com", "text": "graph"},
        {"href": "https://prometheus.example.com", "text": "Prometheus"},
    ]
    assert alert.starts_at == datetime(2026, 12, 6, 10, 15, tzinfo=UTC)  # the event's timestamp, in the past
    group = AlertGroup.objects.get()
    assert group.group_key == "disk-full/db-1" and group.title == "Disk 95% full on db-1"
    payload = AlertPayload.objects.get()
    assert payload.status == "trigger" and payload.group == group and json.loads(payload.body)["dedup_key"]
    assert [g.pk for g in queued] == [group.pk]


def test_the_routing_key_is_blanked_in_the_kept_payload(key):
    body = json.dumps(trigger(key)).replace('"routing_key": ', '"routing_key" :  ')
    assert post(body).status_code == 202
    payload = AlertPayload.objects.get()
    assert key not in payload.body and json.loads(payload.body)["routing_key"] == "<redacted>"
    assert payload.body_bytes == len(body.encode())


def test_a_trigger_without_a_dedup_key_gets_one_and_each_such_trigger_is_a_new_alert(key):
    first = post(trigger(key, dedup_key=None)).json()["dedup_key"]
    second = post(trigger(key, dedup_key=None)).json()["dedup_key"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second
    assert sorted(Alert.objects.values_list("fingerprint", flat=True)) == sorted([first, second])
    # The returned key names the alert from then on.
    assert post(action(key, "resolve", first)).status_code == 202
    assert Alert.objects.get(fingerprint=first).status == AlertStatus.RESOLVED


def test_triggers_with_the_same_open_dedup_key_update_one_alert(integration, queued):
    receive_alert_event(integration, trigger(ROUTING, "k"), raw=b"{}", now=T0)
    again = receive_alert_event(
        integration,
        trigger(ROUTING, "k", summary="Disk 99% full on db-1", severity="warning"),
        raw=b"{}",
        now=T0 + timedelta(1),
    )
    assert again.new_firing == [] and again.repeats == 1
    alert = Alert.objects.get()
    assert alert.summary == "Disk 99% full on db-1" and alert.severity == "SEV3"
    assert AlertPayload.objects.count() == 2 and len(queued) == 1


def test_acknowledge_then_resolve(integration, queued):
    receive_alert_event(integration, trigger(ROUTING, "k"), raw=b"{}", now=T0)
    acked = receive_alert_event(integration, action(ROUTING, "acknowledge", "k"), raw=b"{}", now=T0)
    assert len(acked.acknowledged) == 1
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.ends_at is None
    assert AlertGroup.objects.get().status == GroupStatus.FIRING  # acknowledged is still open
    resolved = receive_alert_event(
        integration, action(ROUTING, "resolve", "k"), raw=b"{}", now=T0 + timedelta(minutes=10)
    )
    assert resolved.group_resolved
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.ends_at == T0 + timedelta(minutes=10)
    assert AlertGroup.objects.get().status == GroupStatus.RESOLVED
    assert len(queued) == 3  # triggered, acknowledged, resolved


def test_a_trigger_on_an_acknowledged_alert_keeps_it_acknowledged(integration):
    receive_alert_event(integration, trigger(ROUTING, "k"), raw=b"{}", now=T0)
    receive_alert_event(integration, action(ROUTING, "acknowledge", "k"), raw=b"{}", now=T0)
    receive_alert_event(
        integration, trigger(ROUTING, "k", summary="still full"), raw=b"{}", now=T0 + timedelta(minutes=1)
    )
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.summary == "still full"


def test_a_trigger_after_the_resolve_opens_a_new_alert_and_reopens_the_group(integration):
    receive_alert_event(integration, trigger(ROUTING, "k"), raw=b"{}", now=T0 + timedelta(minutes=20))
    receive_alert_event(integration, action(ROUTING, "resolve", "k"), raw=b"{}", now=T0 + timedelta(minutes=30))
    # The same timestamp as the first trigger: before the resolution, so not when this one started.
    again = receive_alert_event(integration, trigger(ROUTING, "k"), raw=b"{}", now=T0 + timedelta(minutes=40))
    assert len(again.new_firing) == 1 and again.group_reopened
    episodes = list(Alert.objects.order_by("starts_at").values_list("status", "starts_at"))
    assert episodes == [
        (AlertStatus.RESOLVED, datetime(2026, 12, 6, 10, 15, tzinfo=UTC)),
        (AlertStatus.FIRING, T0 + timedelta(minutes=40)),
    ]


def test_a_timestamp_ahead_of_the_receipt_does_not_start_the_alert(integration):
    receive_alert_event(integration, trigger(ROUTING, "k", timestamp="2030-01-01T00:00:00Z"), raw=b"{}", now=T0)
    assert Alert.objects.get().starts_at == T0


def test_acknowledge_and_resolve_of_an_unknown_or_resolved_key_are_accepted_and_do_nothing(key, queued):
    for event_action in ("acknowledge", "resolve"):
        response = post(action(key, event_action, "never-seen"))
        assert response.status_code == 202
        assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "never-seen"}
    assert Alert.objects.count() == 0 and AlertGroup.objects.count() == 0
    assert list(AlertPayload.objects.values_list("status", "group")) == [("acknowledge", None), ("resolve", None)]
    post(trigger(key))
    post(action(key, "resolve"))
    assert post(action(key, "resolve")).status_code == 202
    assert post(action(key, "acknowledge")).status_code == 202
    assert Alert.objects.get().status == AlertStatus.RESOLVED
    assert len(queued) == 2  # the trigger and the first resolve only


def test_severity_goes_through_the_integrations_mapping(db):
    _, key = services.create_integration(
        kind="events_v2", name="Paging", service="db", severity_mapping={"critical": "SEV1", "default": "SEV4"}
    )
    post(trigger(key, "a"))
    post(trigger(key, "b", severity="warning"))
    assert dict(Alert.objects.values_list("fingerprint", "severity")) == {"a": "SEV1", "b": "SEV4"}


def test_the_service_label_is_looked_up_in_custom_details_and_the_payloads_fields(db):
    _, by_service = services.create_integration(kind="events_v2", name="Shared", service="", service_label="service")
    _, by_component = services.create_integration(kind="events_v2", name="Pg", service="", service_label="component")
    post(trigger(by_service, "a", custom_details={"service": "checkout"}))
    post(trigger(by_service, "b"))
    post(trigger(by_component, "c"))
    assert dict(Alert.objects.values_list("fingerprint", "service")) == {"a": "checkout", "b": "", "c": "postgres"}


def test_a_summary_over_1024_characters_is_cut_not_refused(key):
    response = post(trigger(key, summary="x" * 3000))
    assert response.status_code == 202
    alert = Alert.objects.get()
    assert len(alert.annotations["summary"]) == 1024 and len(alert.summary) == 500


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="races need PostgreSQL; set DATABASE_URL")
def test_simultaneous_triggers_of_one_new_key_make_one_alert(key):
    assert connection.vendor == "postgresql"
    assert race(6, lambda _: post(trigger(key, "same-key")).status_code) == [202] * 6
    assert Alert.objects.count() == 1 and AlertGroup.objects.count() == 1
    assert AlertPayload.objects.count() == 6


# --- invalid events --------------------------------------------------------------------------------


def test_a_trigger_without_a_summary_is_a_400_in_the_spec_shape(key):
    body = trigger(key)
    del body["payload"]["summary"]
    response = post(body)
    assert response.status_code == 400
    assert response.json() == {**INVALID, "errors": ["'payload.summary' is missing or blank"]}
    assert AlertPayload.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"event_action": "explode"}, ["'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"]),
        ({"event_action": None}, ["'event_action' is missing or blank"]),
        ({"dedup_key": "x" * 256}, ["'dedup_key' is too long (at most 255 characters)"]),
        ({"payload": "disk full"}, ["'payload' is missing or not an object"]),
        ({"links": [{"text": "no href"}]}, ["'links[0].href' is missing or blank"]),
        ({"images": "graph.png"}, ["'images' must be a list of objects"]),
        ({"client_url": 42}, ["'client_url' must be a string"]),
    ],
)
def test_each_invalid_field_is_named_in_errors(key, change, errors):
    response = post({**trigger(key), **change})
    assert response.status_code == 400
    assert response.json() == {**INVALID, "errors": errors}


def test_every_problem_is_listed_at_once(key):
    body = trigger(key, source="", severity="fatal", timestamp="yesterday")
    response = post(body)
    assert response.json()["errors"] == [
        "'payload.source' is missing or blank",
        "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
        "'payload.timestamp' is not a valid ISO 8601 timestamp",
    ]


@pytest.mark.parametrize("event_action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_need_a_dedup_key(key, event_action):
    response = post({"routing_key": key, "event_action": event_action})
    assert response.status_code == 400
    assert response.json() == {**INVALID, "errors": ["'dedup_key' is missing or blank"]}


def test_malformed_json_is_a_400_in_the_spec_shape(key):
    response = post(b'{"routing_key": ')
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert body["errors"][0].startswith("The body is not valid JSON")


def test_a_missing_routing_key_is_a_400(integration):
    body = trigger("")
    response = post(body)
    assert response.status_code == 400
    assert response.json() == {**INVALID, "errors": ["'routing_key' is missing or blank"]}


def test_the_routing_key_may_come_in_the_x_routing_key_header_as_old_pdpyras_sent_it(key):
    body = trigger(key)
    del body["routing_key"]
    assert post(body, HTTP_X_ROUTING_KEY=key).status_code == 202
    assert Alert.objects.count() == 1


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("routing_key", ["0123456789abcdef0123456789abcdef", "short", "tpi_000000000000_secret"])
def test_a_bad_routing_key_is_a_401(integration, routing_key):
    response = post(trigger(routing_key))
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "unauthorized" and body["message"] == "Invalid routing key" and body["errors"]
    assert AlertPayload.objects.count() == 0


def test_a_token_of_another_kind_of_integration_is_a_401(db):
    _, am_token = services.create_integration(kind="alertmanager", name="AM", service="db")
    response = post(trigger(am_token))
    assert response.status_code == 401
    assert "Prometheus Alertmanager" in response.json()["errors"][0]


def test_a_disabled_integration_is_a_401(integration, key):
    Integration.objects.filter(pk=integration.pk).update(is_active=False)
    assert post(trigger(key)).status_code == 401


def test_a_flood_is_a_429_with_retry_after_per_integration(key, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "intake": "3/min"},
    }
    assert [post(trigger(key, f"k{i}")).status_code for i in range(3)] == [202, 202, 202]
    response = post(trigger(key, "k3"))
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["status"] == "throttle event" and "retry in" in body["errors"][0]
    assert AlertPayload.objects.count() == 3
    _, other = services.create_integration(kind="events_v2", name="Other", service="db")
    assert post(trigger(other)).status_code == 202


def test_a_change_event_flood_counts_against_the_same_integration(key, shop, settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "intake": "1/min"},
    }
    assert post(trigger(key)).status_code == 202
    assert post({"routing_key": key, "payload": {"summary": "Deployed"}}, CHANGE).status_code == 429


def test_a_body_over_the_limit_is_a_413_in_the_spec_shape(key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_MAX_BYTES": 2048}
    response = post(trigger(key, custom_details={"log": "x" * 4096}))
    assert response.status_code == 413
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is too large"
    assert "2048 bytes" in body["errors"][0]
    assert AlertPayload.objects.count() == 0


def test_a_chunked_body_over_the_limit_is_a_413_while_reading(key, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_MAX_BYTES": 2048}
    body = json.dumps(trigger(key, custom_details={"log": "x" * 4096})).encode()
    request = RequestFactory().generic("POST", ENQUEUE, b"")
    request.META.pop("CONTENT_LENGTH", None)
    request.META["wsgi.input"] = io.BytesIO(body)
    request.META["wsgi.input_terminated"] = True
    response = views.events_v2_enqueue(request)
    assert response.status_code == 413 and json.loads(response.content)["status"] == "invalid event"


def test_only_post_is_allowed(key):
    response = Client().get(ENQUEUE)
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["status"] == "invalid request"


# --- change events ---------------------------------------------------------------------------------


def recent() -> datetime:
    """An hour ago: change events are stored as events, which retention keeps only so long."""
    return timezone.now().replace(microsecond=0) - timedelta(hours=1)


def change(routing_key: str, **payload) -> dict:
    """The spec's example change event (an hour ago)."""
    return {
        "routing_key": routing_key,
        "payload": {
            "summary": "Deployed api v2.3.1",
            "timestamp": recent().isoformat(),
            "source": "ci",
            "custom_details": {"commit": "abc123"},
            **payload,
        },
        "links": [{"href": "https://ci.example.com/run/42", "text": "CI run"}],
    }


def test_a_change_event_is_answered_in_the_spec_shape_and_becomes_a_deploy_of_the_service(key, shop):
    at = recent()
    response = post(change(key, timestamp=at.isoformat().replace("+00:00", "Z")), CHANGE)
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Change event processed"}
    event = Event.objects.get()
    assert (event.project, event.service, event.event_type) == (shop, "db", EventType.DEPLOY)
    assert event.timestamp == at and event.message == "Deployed api v2.3.1" and event.release == "abc123"
    assert event.data["metadata"]["links"] == [{"href": "https://ci.example.com/run/42", "text": "CI run"}]
    payload = AlertPayload.objects.get()
    assert payload.status == "change" and payload.group is None and json.loads(payload.body)["payload"]


def test_a_change_event_shows_on_the_service_timeline(client, viewer, key, shop):
    shop.members.add(viewer)
    now = timezone.now()
    post(change(key, timestamp=(now - timedelta(minutes=10)).isoformat()), CHANGE)
    client.force_login(viewer)
    page = client.get("/issues/services/db/", {"range": "1h"}).content.decode()
    assert page.count('class="deploy-marker"') == 1
    assert "Deployed api v2.3.1" in page


def test_a_change_event_takes_part_in_deploy_correlation(viewer_client, viewer, key, shop):
    shop.members.add(viewer)
    at = recent()
    post(change(key, summary="Deployed db-proxy 4.2", timestamp=at.isoformat()), CHANGE)
    store_events(shop, [make_event("Pool exhausted", at=at + timedelta(minutes=2), service="db")], now=at)
    while digestion.digest_pending(now=at + timedelta(minutes=3)):
        pass
    deploy = Event.objects.get(event_type=EventType.DEPLOY)
    assert Issue.objects.get().introduced_by == deploy
    timeline = viewer_client.get(
        "/api/v1/services/db/timeline",
        {"since": (at - timedelta(minutes=30)).isoformat(), "until": (at + timedelta(minutes=30)).isoformat()},
    ).json()
    assert "Deployed db-proxy 4.2" in json.dumps(timeline)


@pytest.mark.parametrize(
    ("summary", "source", "details", "expected"),
    [
        ("Deployed api v2.3.1", "ci", {}, "DEPLOY"),
        ("Feature flag checkout_v2 enabled", "launchdarkly", {}, "CONFIG_CHANGE"),
        ("Terraform apply: 3 changed", "atlantis", {}, "CONFIG_CHANGE"),
        ("Rolled out the config service 1.4", "argo", {}, "DEPLOY"),  # deploy words win
        ("Build 42 passed", "ci", {"change_type": "config"}, "CONFIG_CHANGE"),  # stated outright
        ("Secret rotated", "vault", {"type": "deploy"}, "DEPLOY"),
        ("Something changed", "cron", {}, "DEPLOY"),  # the default
        ("Nightly job", "configuration-manager", {}, "CONFIG_CHANGE"),  # the source's words
    ],
)
def test_deploy_or_config_change_is_decided_by_custom_details_then_words(summary, source, details, expected):
    assert change_type_of(summary, source, details) == expected


def test_a_config_change_is_stored_as_one(key, shop):
    post(change(key, summary="Feature flag new_checkout enabled for 10%"), CHANGE)
    assert Event.objects.get().event_type == EventType.CONFIG_CHANGE


def test_a_retried_change_event_is_stored_once_but_two_untimed_changes_are_two(key, shop):
    for _ in range(2):
        assert post(change(key), CHANGE).status_code == 202
    assert Event.objects.count() == 1 and AlertPayload.objects.count() == 2
    untimed = change(key, summary="Restarted workers")
    del untimed["payload"]["timestamp"]
    for _ in range(2):
        post(untimed, CHANGE)
    assert Event.objects.filter(message="Restarted workers").count() == 2


def test_a_change_event_goes_to_every_project_that_reports_for_the_service(key, shop):
    ops = create_project(name="Ops", slug="ops", services=["db"])
    create_project(name="Web", slug="web", services=["web"])
    post(change(key), CHANGE)
    assert set(Event.objects.values_list("project__slug", flat=True)) == {shop.slug, ops.slug}


def test_a_change_event_no_project_reports_for_is_a_400_and_nothing_is_kept(key):
    create_project(name="Web", slug="web", services=["web"])
    response = post(change(key), CHANGE)
    assert response.status_code == 400
    body = response.json()
    assert (
        body == {**INVALID, "errors": [body["errors"][0]]}
        and "No project reports for service 'db'" in body["errors"][0]
    )
    assert Event.objects.count() == 0 and AlertPayload.objects.count() == 0


def test_a_change_event_names_its_service_by_label_when_the_integration_has_none(shop):
    _, key = services.create_integration(kind="events_v2", name="CI", service="", service_label="service")
    assert post(change(key, custom_details={"service": "checkout", "version": "7.1"}), CHANGE).status_code == 202
    event = Event.objects.get()
    assert (event.service, event.release) == ("checkout", "7.1")
    response = post(change(key, custom_details={"service": "Not A Service"}), CHANGE)
    assert response.status_code == 400 and "No valid service" in response.json()["errors"][0]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"summary": ""}, "'payload.summary' is missing or blank"),
        ({"timestamp": "soon"}, "'payload.timestamp' is not a valid ISO 8601 timestamp"),
        ({"custom_details": [1]}, "'payload.custom_details' must be an object"),
        ({"timestamp": "2099-01-01T00:00:00Z"}, "'payload.timestamp' is more than a day in the future"),
    ],
)
def test_an_invalid_change_event_is_a_400_in_the_spec_shape(key, shop, payload, error):
    response = post(change(key, **payload), CHANGE)
    assert response.status_code == 400
    assert response.json() == {**INVALID, "errors": [error]}
    assert Event.objects.count() == 0


def test_a_change_event_with_an_alert_routing_key_of_another_kind_is_a_401(shop):
    _, token = services.create_integration(kind="generic", name="Cron", service="db")
    assert post(change(token), CHANGE).status_code == 401
