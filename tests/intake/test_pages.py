"""The alerts pages: the list with its filters and HTMX fragment, one alert with its group and payload history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from incidents.intake import services
from incidents.intake.alertmanager import receive_alertmanager
from incidents.intake.models import Alert, AlertPayload
from incidents.models import IncidentSignal
from tests.factories import make_incident
from tests.intake.conftest import am_alert, am_payload, raw

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
T0 = datetime(2026, 5, 16, 22, 0, tzinfo=UTC)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def receive(integration, payload, now=T0):
    return receive_alertmanager(integration, payload, raw=raw(payload), now=now)


def labelled(fingerprint: str, *, team: str, summary: str, status: str = "firing", **labels) -> dict:
    alert = am_alert(fingerprint, status=status, instance=f"{fingerprint}:9100")
    alert["labels"] = {"alertname": summary.replace(" ", ""), "team": team, "severity": "warning", **labels}
    alert["annotations"] = {"summary": summary}
    if status == "resolved":
        alert["endsAt"] = "2026-05-16T21:58:00Z"
    return alert


@pytest.fixture
def prom(db):
    return services.create_integration(kind="alertmanager", name="Prometheus prod", service_label="team")[0]


@pytest.fixture
def grafana(db):
    return services.create_integration(kind="alertmanager", name="Second Alertmanager", service="search")[0]


@pytest.fixture
def alerts(prom, grafana):
    receive(prom, am_payload(labelled("a1", team="db", summary="Disk almost full", cluster="prod"), group_key="g-db"))
    receive(
        prom, am_payload(labelled("a2", team="web", summary="High latency", cluster="eu.west-1"), group_key="g-web")
    )
    receive(prom, am_payload(labelled("a3", team="db", summary="Replica lag", status="resolved"), group_key="g-db-2"))
    receive(grafana, am_payload(labelled("b1", team="search", summary="Index stale"), group_key="g-search"))
    return {alert.fingerprint: alert for alert in Alert.objects.all()}


# --- the list --------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(alerts):
    client = Client()
    for url in ("/alerts/", f"/alerts/{alerts['a1'].pk}/", f"/alerts/payloads/{AlertPayload.objects.first().pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url


def test_a_viewer_sees_the_open_alerts_with_status_severity_service_and_integration(viewer, alerts):
    response = logged_in(viewer).get("/alerts/")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Disk almost full" in html and "High latency" in html and "Index stale" in html
    assert "Replica lag" not in html  # resolved: the default tab shows open alerts
    assert "Prometheus prod" in html and "Second Alertmanager" in html
    assert 'class="badge status-open">Firing' in html
    assert "sev-sev3" in html  # warning → SEV3 through the default mapping
    assert f'href="/alerts/{alerts["a1"].pk}/"' in html


def test_the_status_tabs_show_counts_and_switch_the_rows(viewer, alerts):
    client = logged_in(viewer)
    html = client.get("/alerts/").content.decode()
    assert 'aria-current="page">Open <span class="count">3</span>' in html
    resolved = client.get("/alerts/?status=resolved").content.decode()
    assert "Replica lag" in resolved and "Disk almost full" not in resolved
    assert 'class="badge status-resolved">Resolved' in resolved
    everything = client.get("/alerts/?status=all").content.decode()
    assert all(name in everything for name in ("Disk almost full", "Replica lag", "Index stale"))


def test_filters_by_integration_service_and_label(viewer, alerts, grafana):
    client = logged_in(viewer)
    html = client.get(f"/alerts/?integration={grafana.pk}").content.decode()
    assert "Index stale" in html and "Disk almost full" not in html
    html = client.get("/alerts/?service=web").content.decode()
    assert "High latency" in html and "Disk almost full" not in html
    html = client.get("/alerts/?status=all&label=team%3Ddb").content.decode()
    assert "Disk almost full" in html and "Replica lag" in html and "High latency" not in html
    # A value holding dots and dashes, and two labels at once (both must match).
    html = client.get("/alerts/?label=cluster%3Deu.west-1&label=team%3Dweb").content.decode()
    assert "High latency" in html and "Disk almost full" not in html
    html = client.get("/alerts/?label=cluster%3Deu.west-1&label=team%3Ddb").content.decode()
    assert "High latency" not in html and "No open alerts match these filters" in html


def test_a_label_value_that_is_a_number_matches_its_text(viewer, prom):
    alert = am_alert("n1")
    alert["labels"]["priority"] = "5"
    receive(prom, am_payload(alert))
    Alert.objects.filter(fingerprint="n1").update(labels={"priority": 5, "team": "db"})  # as a generic sender may
    html = logged_in(viewer).get("/alerts/?label=priority%3D5").content.decode()
    assert "Disk almost full" in html


def test_a_label_key_is_matched_literally_never_as_a_nested_lookup(viewer, prom):
    literal, nested = am_alert("k1", instance="literal:1"), am_alert("k2", instance="nested:1")
    literal["annotations"]["summary"], nested["annotations"]["summary"] = "Literal key", "Nested key"
    receive(prom, am_payload(literal, nested))
    Alert.objects.filter(fingerprint="k1").update(labels={"a__b": "x"})
    Alert.objects.filter(fingerprint="k2").update(labels={"a": {"b": "x"}})
    html = logged_in(viewer).get("/alerts/?label=a__b%3Dx").content.decode()
    assert "Literal key" in html and "Nested key" not in html


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("teamdb", "Use key=value"),
        ("=db", "Use key=value"),
        ("0=db", "is not a label name"),
        ("a')) OR 1=1 --=x", "is not a label name"),
        ("$.team=db", "is not a label name"),
    ],
)
def test_an_invalid_label_filter_is_reported_and_shows_no_alerts(viewer, alerts, label, message):
    response = logged_in(viewer).get("/alerts/", {"label": label})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Some filters are not valid" in html and message in html
    assert "Disk almost full" not in html


def test_other_invalid_filters_are_reported_not_ignored(viewer, alerts):
    client = logged_in(viewer)
    for query in ("status=burning", "integration=999999", "integration=abc", "severity=SEV9", "page=0"):
        html = client.get(f"/alerts/?{query}").content.decode()
        assert "Some filters are not valid" in html, query
        assert "Disk almost full" not in html, query


def test_an_htmx_request_returns_only_the_rows_fragment(viewer, alerts):
    fragment = logged_in(viewer).get("/alerts/?status=resolved", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="alert-rows"')
    assert "<html" not in fragment and 'id="alert-filters"' not in fragment
    assert "Replica lag" in fragment and "Disk almost full" not in fragment


def test_the_list_pages_through_many_alerts(viewer, prom):
    receive(prom, am_payload(*[am_alert(f"fp{i:02d}", instance=f"db-{i}:9100") for i in range(30)]))
    client = logged_in(viewer)
    first = client.get("/alerts/").content.decode()
    assert "30 alerts" in first and "Page 1 of 2" in first and "page=2" in first
    second = client.get("/alerts/?page=2").content.decode()
    assert "Page 2 of 2" in second and second.count('href="/alerts/') - second.count('href="/alerts/?') >= 5


def test_the_list_and_the_detail_only_answer_get(viewer, alerts):
    client = logged_in(viewer)
    assert client.post("/alerts/").status_code == 405
    assert client.post(f"/alerts/{alerts['a1'].pk}/").status_code == 405


def test_without_integrations_the_list_says_how_alerts_arrive(viewer, admin_user):
    assert "Ask an admin to add one" in logged_in(viewer).get("/alerts/").content.decode()
    assert 'href="/integrations/new/"' in logged_in(admin_user).get("/alerts/").content.decode()


def test_the_navigation_links_the_alerts_page(viewer):
    html = logged_in(viewer).get("/alerts/").content.decode()
    assert '<a href="/alerts/" aria-current="page">Alerts</a>' in html


# --- one alert -------------------------------------------------------------------------------------


def test_the_detail_page_shows_labels_annotations_links_group_and_payload_history_newest_first(viewer, prom):
    first = am_payload(am_alert("d1"), am_alert("d2", instance="db-2:9100"))
    receive(prom, first, now=T0)
    repeat = am_payload(am_alert("d1"), am_alert("d2", instance="db-2:9100"), notification_reason="repeat interval")
    receive(prom, repeat, now=T0 + timedelta(hours=4))
    alert = Alert.objects.get(fingerprint="d1")
    html = logged_in(viewer).get(f"/alerts/{alert.pk}/").content.decode()
    assert "<h1" in html and "Disk almost full" in html
    assert "<code>instance</code>" in html and "db-1:9100" in html  # labels
    assert "/var at 97%" in html  # annotations
    assert 'href="http://prometheus.example:9090/graph?g0.expr=..."' in html  # the generator link
    assert "{}/{team=&quot;db&quot;}:{alertname=&quot;DiskFull&quot;, cluster=&quot;prod&quot;}" in html  # group key
    assert f'href="/alerts/{Alert.objects.get(fingerprint="d2").pk}/"' in html  # the other alert of the group
    payloads = list(AlertPayload.objects.filter(group=alert.group).order_by("-received_at"))
    assert len(payloads) == 2
    newest, oldest = (html.index(f"/alerts/payloads/{p.pk}/") for p in payloads)
    assert newest < oldest and "repeat interval" in html
    assert "Not part of an incident" in html


def test_the_detail_links_the_incident_its_group_is_a_signal_of(viewer, responder, prom):
    receive(prom, am_payload(am_alert("i1")))
    alert = Alert.objects.get()
    incident = make_incident(by=responder, title="Database disk full", service="db", severity="SEV2")
    IncidentSignal.objects.create(incident=incident, kind="alert", ref=str(alert.group_id), label="DiskFull")
    html = logged_in(viewer).get(f"/alerts/{alert.pk}/").content.decode()
    assert f'href="/incidents/{incident.pk}/"' in html and "Database disk full" in html


def test_hostile_labels_annotations_and_links_are_escaped_and_only_http_links_are_links(viewer, prom):
    hostile = am_alert("x1")
    hostile["labels"]["team"] = "<script>alert('label')</script>"
    hostile["annotations"] = {
        "summary": "<img src=x onerror=alert(1)>",
        "runbook_url": "javascript:alert('runbook')",
    }
    hostile["generatorURL"] = "javascript:alert(document.cookie)"
    receive(prom, am_payload(hostile))
    alert = Alert.objects.get()
    Alert.objects.filter(pk=alert.pk).update(
        links=[
            *alert.links,
            {"href": "https://runbooks.example.com/disk", "text": "<b>Runbook</b>"},
            {"href": " JaVaScRiPt:alert(2)", "text": "sneaky"},
            {"href": "data:text/html,<script>alert(3)</script>", "text": "data"},
        ]
    )
    client = logged_in(viewer)
    html = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>Runbook</b>" not in html
    assert "&lt;script&gt;alert(&#x27;label&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript' not in html.lower() and 'href=" javascript' not in html.lower()
    assert 'href="data:' not in html
    assert 'href="https://runbooks.example.com/disk"' in html and "&lt;b&gt;Runbook&lt;/b&gt;" in html
    assert "not a web link" in html
    listing = client.get("/alerts/").content.decode()
    assert "<img src=x" not in listing and "&lt;img src=x onerror=alert(1)&gt;" in listing


def test_label_and_annotation_values_that_are_not_text_are_shown_as_json(viewer, prom):
    receive(prom, am_payload(am_alert("j1")))
    alert = Alert.objects.get()
    Alert.objects.filter(pk=alert.pk).update(
        labels={"replicas": 3, "zones": ["a", "b"]}, annotations={"ok": None}, details={"value": {"A": 97.5}}
    )
    html = logged_in(viewer).get(f"/alerts/{alert.pk}/").content.decode()
    assert "<code>replicas</code>" in html and ">3<" in html
    assert "[&quot;a&quot;, &quot;b&quot;]" in html and ">null<" in html
    assert "More from the sender" in html and "{&quot;A&quot;: 97.5}" in html


def test_an_unknown_alert_is_not_found(viewer):
    assert logged_in(viewer).get("/alerts/999999/").status_code == 404


# --- payload bodies --------------------------------------------------------------------------------


def test_a_payload_body_is_pretty_printed_json_and_opened_with_htmx_only_as_a_fragment(viewer, prom):
    payload = am_payload(am_alert("p1"))
    receive(prom, payload)
    stored = AlertPayload.objects.get()
    client = logged_in(viewer)
    page = client.get(f"/alerts/payloads/{stored.pk}/").content.decode()
    assert "<html" in page and "\n  &quot;version&quot;: &quot;4&quot;,\n" in page  # indented, escaped
    fragment = client.get(f"/alerts/payloads/{stored.pk}/", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div class="payload-raw">') and "<html" not in fragment
    assert "&quot;groupKey&quot;" in fragment  # escaped inside <pre>


def test_a_truncated_payload_is_shown_as_received_with_a_note(viewer, prom, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "INTAKE_PAYLOAD_KEPT_BYTES": 120}
    receive(prom, am_payload(am_alert("t1")))
    stored = AlertPayload.objects.get()
    assert stored.body_truncated and len(stored.body) <= 120
    html = logged_in(viewer).get(f"/alerts/payloads/{stored.pk}/").content.decode()
    assert "were kept" in html and "INTAKE_PAYLOAD_KEPT_BYTES" in html
    assert stored.body[:40].replace('"', "&quot;") in html  # as received, not re-indented


def test_a_body_with_markup_is_escaped(viewer, prom):
    receive(prom, am_payload(am_alert("m1")))
    stored = AlertPayload.objects.get()
    AlertPayload.objects.filter(pk=stored.pk).update(body="<script>alert('body')</script> not json")
    html = logged_in(viewer).get(f"/alerts/payloads/{stored.pk}/").content.decode()
    assert "<script>alert('body')" not in html and "&lt;script&gt;" in html and "Not JSON" in html


def test_the_payload_history_pages_with_htmx(viewer, prom):
    for minute in range(25):
        receive(prom, am_payload(am_alert("h1")), now=T0 + timedelta(minutes=minute))
    alert = Alert.objects.get()
    client = logged_in(viewer)
    html = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert html.count('class="payload"') == 20 and "Page 1 of 2" in html
    fragment = client.get(f"/alerts/{alert.pk}/?part=payloads&payloads_page=2", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="payloads">') and fragment.count('class="payload"') == 5
    body = json.loads(AlertPayload.objects.order_by("received_at").first().body)
    assert body["version"] == "4"


def test_an_events_v2_routing_key_is_never_shown_in_a_payload_body(viewer):
    integration, routing_key = services.create_integration(kind="events_v2", name="PD tools", service="db")
    event = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": "Disk almost full on db-1", "source": "db-1", "severity": "critical"},
    }
    response = Client().post("/api/v1/intake/events/v2/enqueue", json.dumps(event), content_type="application/json")
    assert response.status_code == 202, response.content
    stored = AlertPayload.objects.get(integration=integration)
    client = logged_in(viewer)
    html = client.get(f"/alerts/payloads/{stored.pk}/").content.decode()
    assert routing_key not in html and "&quot;routing_key&quot;: &quot;&lt;redacted&gt;&quot;" in html
    # Also when only the start of the body was kept (not JSON any more).
    AlertPayload.objects.filter(pk=stored.pk).update(body=stored.body[:60], body_truncated=True)
    html = client.get(f"/alerts/payloads/{stored.pk}/").content.decode()
    assert routing_key[:20] not in html and "&lt;redacted&gt;" in html
