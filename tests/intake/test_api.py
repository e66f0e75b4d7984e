"""``/api/v1/alerts``: read-only, viewers and up, the project's filters, ordering, pages and error shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from drf_spectacular.generators import SchemaGenerator

from incidents.intake import services
from incidents.intake.alertmanager import receive_alertmanager
from incidents.intake.models import Alert
from incidents.models import IncidentSignal
from tests.factories import make_incident
from tests.intake.conftest import am_alert, am_payload, raw

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 5, 16, 22, 0, tzinfo=UTC)


def receive(integration, payload, now=T0):
    return receive_alertmanager(integration, payload, raw=raw(payload), now=now)


def alert(fingerprint: str, *, summary: str, severity: str = "warning", status: str = "firing", **labels) -> dict:
    data = am_alert(fingerprint, status=status)
    data["labels"] = {"alertname": summary.replace(" ", ""), "severity": severity, **labels}
    data["annotations"] = {"summary": summary}
    if status == "resolved":
        data["endsAt"] = "2026-05-16T21:59:09.665Z"
    return data


@pytest.fixture
def prom(db):
    return services.create_integration(kind="alertmanager", name="Prometheus", service_label="team")[0]


@pytest.fixture
def other(db):
    return services.create_integration(kind="alertmanager", name="Other", service="search")[0]


@pytest.fixture
def alerts(prom, other):
    receive(prom, am_payload(alert("a1", summary="Disk full", severity="critical", team="db"), group_key="g1"))
    receive(prom, am_payload(alert("a2", summary="Slow", team="web"), group_key="g2"), now=T0 + timedelta(minutes=1))
    receive(prom, am_payload(alert("a3", summary="Lag", team="db", status="resolved"), group_key="g3"))
    receive(other, am_payload(alert("b1", summary="Stale", severity="info"), group_key="g4"))
    return {a.fingerprint: a for a in Alert.objects.all()}


def summaries(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["summary"] for item in response.json()["results"]]


def test_anonymous_callers_get_a_401_in_the_error_shape(anonymous_client, alerts):
    for url in ("/api/v1/alerts", f"/api/v1/alerts/{alerts['a1'].pk}"):
        response = anonymous_client.get(url)
        assert response.status_code == 401
        body = response.json()
        assert body["code"] == "AUTHENTICATION_REQUIRED" and body["request_id"] and "message" in body


def test_a_viewer_lists_alerts_in_the_page_envelope_newest_activity_first(viewer_client, alerts):
    response = viewer_client.get("/api/v1/alerts")
    body = response.json()
    assert response.status_code == 200
    assert {"count", "page", "page_size", "total_pages", "next", "previous", "results"} <= set(body)
    assert body["count"] == 4 and body["page"] == 1 and body["page_size"] == 10
    assert body["results"][0]["summary"] == "Slow"  # received last
    first = next(item for item in body["results"] if item["summary"] == "Disk full")
    assert first["status"] == "firing" and first["severity"] == "SEV2" and first["source_severity"] == "critical"
    expected = {"id": alerts["a1"].integration_id, "name": "Prometheus", "kind": "alertmanager"}
    assert first["service"] == "db" and first["integration"] == expected
    assert first["group_key"] == "g1" and first["group"]["group_key"] == "g1"
    assert first["labels"]["team"] == "db" and first["annotations"]["summary"] == "Disk full"
    assert first["links"][0]["href"].startswith("http://prometheus.example")
    assert first["ends_at"] is None and first["duration_seconds"] is None and first["incidents"] == []


def test_filters_by_status_integration_service_severity_and_label(viewer_client, alerts, other):
    assert sorted(summaries(viewer_client.get("/api/v1/alerts?status=resolved"))) == ["Lag"]
    assert sorted(summaries(viewer_client.get("/api/v1/alerts?status=firing,acknowledged"))) == [
        "Disk full", "Slow", "Stale",
    ]  # fmt: skip
    assert summaries(viewer_client.get(f"/api/v1/alerts?integration={other.pk}")) == ["Stale"]
    assert summaries(viewer_client.get("/api/v1/alerts?service=web")) == ["Slow"]
    assert summaries(viewer_client.get("/api/v1/alerts?severity=SEV2")) == ["Disk full"]
    assert sorted(summaries(viewer_client.get("/api/v1/alerts?label=team=db"))) == ["Disk full", "Lag"]
    both = viewer_client.get("/api/v1/alerts", {"label": ["team=db", "alertname=Lag"]})
    assert summaries(both) == ["Lag"]
    assert summaries(viewer_client.get("/api/v1/alerts?search=slo")) == ["Slow"]
    group = alerts["a1"].group_id
    assert summaries(viewer_client.get(f"/api/v1/alerts?group={group}")) == ["Disk full"]


def test_ordering_by_an_allowed_field(viewer_client, alerts):
    assert summaries(viewer_client.get("/api/v1/alerts?ordering=severity"))[0] == "Disk full"
    assert summaries(viewer_client.get("/api/v1/alerts?ordering=-severity"))[0] == "Stale"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=burning", "status"),
        ("integration=abc", "integration"),
        ("integration=999999", "integration"),
        ("severity=SEV9", "severity"),
        ("label=teamdb", "label"),
        ("label=0%3Ddb", "label"),
        ("label=a%27)%20OR%201%3D1%20--%3Dx", "label"),
        ("ordering=fingerprint", "ordering"),
        ("page=0", "page"),
        ("page_size=101", "page_size"),
        ("group=-1", "group"),
    ],
)
def test_invalid_query_values_are_a_400_naming_the_parameter(viewer_client, alerts, query, field):
    response = viewer_client.get(f"/api/v1/alerts?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and field in body["details"]


def test_a_nul_in_a_label_filter_is_a_400(viewer_client, alerts):
    response = viewer_client.get("/api/v1/alerts?label=team%3Dd%00b")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


def test_pages_of_alerts(viewer_client, prom):
    receive(prom, am_payload(*[am_alert(f"fp{i:02d}", instance=f"db-{i}") for i in range(12)]))
    first = viewer_client.get("/api/v1/alerts?page_size=5").json()
    assert first["count"] == 12 and first["total_pages"] == 3 and len(first["results"]) == 5
    last = viewer_client.get("/api/v1/alerts?page_size=5&page=3").json()
    assert len(last["results"]) == 2 and last["next"] is None
    assert viewer_client.get("/api/v1/alerts?page=9").status_code == 404


def test_the_detail_has_the_group_key_links_and_incidents(viewer_client, responder, alerts):
    record = alerts["a1"]
    incident = make_incident(by=responder, title="DB disk", service="db", severity="SEV2")
    IncidentSignal.objects.create(
        incident=incident, kind="alert", ref=str(record.group_id), label="Disk full", opened_incident=True
    )
    response = viewer_client.get(f"/api/v1/alerts/{record.pk}")
    body = response.json()
    assert response.status_code == 200
    assert body["id"] == record.pk and body["group_key"] == "g1"
    assert body["group"]["id"] == record.group_id and body["group"]["status"] == "firing"
    assert body["links"] == [{"href": "http://prometheus.example:9090/graph?g0.expr=...", "text": "Source"},
                             {"href": "http://alertmanager.example:9093", "text": "Alertmanager"}]  # fmt: skip
    assert body["incidents"] == [
        {
            "id": str(incident.pk),
            "title": "DB disk",
            "status": "OPEN",
            "severity": "SEV2",
            "joined_at": body["incidents"][0]["joined_at"],
            "opened_incident": True,
        }
    ]
    resolved = viewer_client.get(f"/api/v1/alerts/{alerts['a3'].pk}/").json()
    assert resolved["status"] == "resolved" and resolved["duration_seconds"] == 300


def test_an_unknown_alert_is_a_404_in_the_error_shape(viewer_client):
    for url in ("/api/v1/alerts/999999", "/api/v1/alerts/abc"):
        response = viewer_client.get(url)
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND", url


def test_the_api_is_read_only(role_clients, alerts):
    url, detail = "/api/v1/alerts", f"/api/v1/alerts/{alerts['a1'].pk}"
    assert role_clients["viewer"].post(url, {}, format="json").status_code == 403
    assert role_clients["viewer"].patch(detail, {}, format="json").status_code == 403
    for role in ("responder", "admin"):
        client = role_clients[role]
        assert client.post(url, {}, format="json").status_code == 405
        assert client.patch(detail, {"status": "resolved"}, format="json").status_code == 405
        assert client.delete(detail).status_code == 405
    assert Alert.objects.get(pk=alerts["a1"].pk).status == "firing"


def test_the_openapi_schema_documents_the_alerts_api():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    listing = schema["paths"]["/api/v1/alerts/"]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}
    assert {"status", "integration", "service", "severity", "label", "ordering", "page", "page_size"} <= names
    assert set(schema["paths"]["/api/v1/alerts/{id}/"]) == {"get"}
    properties = schema["components"]["schemas"]["Alert"]["properties"]
    assert {"group_key", "links", "labels", "incidents", "group"} <= set(properties)
    assert schema["components"]["schemas"]["AlertStatusEnum"]["enum"] == ["firing", "acknowledged", "resolved"]
