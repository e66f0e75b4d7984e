"""The /api/v1/incidents contract, error paths included."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from incidents import services
from incidents.models import Incident, TimelineEntry
from tests.factories import make_incident, make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/incidents"


def create(client, **body):
    payload = {"title": "API latency spike", "service": "api-gateway", "severity": "SEV2"} | body
    return client.post(URL, payload, format="json")


# --- create -------------------------------------------------------------------------------


def test_create_returns_the_incident_with_a_location(responder_client, responder):
    response = create(responder_client, summary="p99 above 2 s", owner="rita")
    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == f"{URL}/{body['id']}"
    assert body["status"] == "OPEN"
    assert body["owner"] == "rita"
    assert body["created_by"] == "rita"
    assert body["allowed_transitions"] == ["ACKNOWLEDGED", "MITIGATED", "RESOLVED"]
    incident = Incident.objects.get(pk=body["id"])
    entry = incident.timeline.get()
    assert (entry.kind, entry.actor) == (TimelineEntry.Kind.CREATED, responder)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"service": "Not A Slug!"}, "service"),
        ({"severity": "SEV5"}, "severity"),
        ({"owner": "nobody-by-that-name"}, "owner"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(responder_client, body, field):
    response = create(responder_client, **body)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]
    assert not Incident.objects.exists()


def test_create_requires_title_service_and_severity(responder_client):
    response = responder_client.post(URL, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"title", "service", "severity"}


def test_service_names_are_normalised_to_lowercase(responder_client):
    assert create(responder_client, service="API-Gateway").json()["service"] == "api-gateway"


# --- list ---------------------------------------------------------------------------------


@pytest.fixture
def incidents(responder):
    now = timezone.now()
    made = [
        make_incident(
            by=responder,
            title="Checkout outage",
            service="checkout",
            severity="SEV1",
            status="OPEN",
            summary="payments down",
        ),
        make_incident(by=responder, title="Slow search", service="search", severity="SEV3", status="MITIGATED"),
        make_incident(
            by=responder, title="Login errors", service="auth", severity="SEV2", status="ACKNOWLEDGED", owner=responder
        ),
        make_incident(by=responder, title="Old disk alert", service="infra", severity="SEV4", status="RESOLVED"),
    ]
    for age, incident in enumerate(made):
        Incident.objects.filter(pk=incident.pk).update(created_at=now - timedelta(hours=age))
    return made


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["results"]]


def test_list_is_newest_first_by_default(viewer_client, incidents):
    assert titles(viewer_client.get(URL)) == ["Checkout outage", "Slow search", "Login errors", "Old disk alert"]


def test_filters_take_comma_lists(viewer_client, incidents):
    assert titles(viewer_client.get(f"{URL}?severity=SEV1,SEV2")) == ["Checkout outage", "Login errors"]
    assert titles(viewer_client.get(f"{URL}?status=OPEN,MITIGATED")) == ["Checkout outage", "Slow search"]
    assert titles(viewer_client.get(f"{URL}?service=auth,infra")) == ["Login errors", "Old disk alert"]
    assert titles(viewer_client.get(f"{URL}?owner=rita")) == ["Login errors"]
    assert len(titles(viewer_client.get(f"{URL}?owner=none"))) == 3


def test_created_window_filters(viewer_client, incidents):
    cutoff = (timezone.now() - timedelta(minutes=90)).isoformat()
    assert titles(viewer_client.get(URL, {"created_after": cutoff})) == ["Checkout outage", "Slow search"]
    assert titles(viewer_client.get(URL, {"created_before": cutoff})) == ["Login errors", "Old disk alert"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("severity=SEV9", "severity"),
        ("status=DONE", "status"),
        ("created_after=yesterday", "created_after"),
        ("ordering=owner", "ordering"),
        ("owner=ghost", "owner"),
        ("page=0", "page"),
        ("page_size=1000", "page_size"),
        ("sortBy=colour", "sortBy"),
        ("sortBy=title&sortOrder=up", "sortOrder"),
        ("pagination=sideways", "pagination"),
    ],
)
def test_invalid_query_values_are_400(viewer_client, incidents, query, field):
    response = viewer_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_ordering_by_severity_rank_status_lifecycle_and_title(viewer_client, incidents):
    assert titles(viewer_client.get(f"{URL}?ordering=severity")) == [
        "Checkout outage",
        "Login errors",
        "Slow search",
        "Old disk alert",
    ]
    assert titles(viewer_client.get(f"{URL}?ordering=-severity"))[0] == "Old disk alert"
    assert titles(viewer_client.get(f"{URL}?ordering=status")) == [
        "Checkout outage",
        "Login errors",
        "Slow search",
        "Old disk alert",
    ]
    assert titles(viewer_client.get(f"{URL}?ordering=-status"))[0] == "Old disk alert"
    assert titles(viewer_client.get(f"{URL}?ordering=title")) == [
        "Checkout outage",
        "Login errors",
        "Old disk alert",
        "Slow search",
    ]
    assert titles(viewer_client.get(f"{URL}?ordering=created_at"))[0] == "Old disk alert"


def test_search_matches_title_and_summary_best_first(viewer_client, incidents, responder):
    make_incident(by=responder, title="Payments retry storm", summary="checkout queue")
    found = titles(viewer_client.get(f"{URL}?search=checkout"))
    assert set(found) == {"Checkout outage", "Payments retry storm"}
    assert found[0] == "Checkout outage"  # a title match ranks above a summary match
    assert titles(viewer_client.get(f"{URL}?search=payments")) == ["Payments retry storm", "Checkout outage"]
    assert titles(viewer_client.get(f"{URL}?search=nothing-like-this")) == []


def test_paging_envelope(viewer_client, incidents):
    body = viewer_client.get(f"{URL}?page_size=3&page=2").json()
    assert (body["count"], body["page"], body["page_size"], body["total_pages"]) == (4, 2, 3, 2)
    assert [item["title"] for item in body["results"]] == ["Old disk alert"]
    assert body["next"] is None and "page_size=3" in body["previous"]


def test_cursor_paging_walks_every_incident_once(viewer_client, incidents):
    seen, url = [], f"{URL}?pagination=cursor&page_size=3"
    while url:
        body = viewer_client.get(url).json()
        assert set(body) == {"next", "previous", "page_size", "results"}
        seen += [item["title"] for item in body["results"]]
        url = body["next"]
    assert seen == ["Checkout outage", "Slow search", "Login errors", "Old disk alert"]
    ascending = viewer_client.get(f"{URL}?pagination=cursor&ordering=created_at").json()
    assert ascending["results"][0]["title"] == "Old disk alert"
    assert viewer_client.get(f"{URL}?pagination=cursor&ordering=title").status_code == 400


# --- detail, update -------------------------------------------------------------------------


def test_detail_and_unknown_ids(viewer_client, incidents):
    incident = incidents[0]
    body = viewer_client.get(f"{URL}/{incident.pk}").json()
    assert body["title"] == "Checkout outage"
    assert viewer_client.get(f"{URL}/00000000-0000-0000-0000-000000000000").status_code == 404
    assert viewer_client.get(f"{URL}/not-a-uuid").json()["code"] == "NOT_FOUND"


def test_patch_changes_fields_and_records_each_change(responder_client, responder, admin_user):
    incident = make_incident(by=responder, title="Typo tittle", severity="SEV3")
    response = responder_client.patch(
        f"{URL}/{incident.pk}",
        {"title": "Typo title", "severity": "SEV2", "owner": admin_user.username},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["severity"], response.json()["owner"]) == (
        "Typo title",
        "SEV2",
        "ada",
    )
    changes = set(
        incident.timeline.filter(kind=TimelineEntry.Kind.FIELD_CHANGED).values_list("field", "from_value", "to_value")
    )
    assert changes == {("title", "Typo tittle", "Typo title"), ("severity", "SEV3", "SEV2"), ("owner", None, "ada")}


def test_patch_with_status_goes_through_the_state_machine(responder_client, responder):
    incident = make_incident(by=responder, status="RESOLVED")
    response = responder_client.patch(f"{URL}/{incident.pk}", {"status": "OPEN", "title": "New"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_STATUS_TRANSITION"
    assert body["details"] == {"current": "RESOLVED", "requested": "OPEN", "allowed": []}
    incident.refresh_from_db()
    assert incident.title == "Checkout errors"  # nothing of a refused request is kept


def test_patch_with_the_same_status_is_a_no_op(responder_client, responder):
    incident = make_incident(by=responder, status="ACKNOWLEDGED")
    before = incident.timeline.count()
    response = responder_client.patch(f"{URL}/{incident.pk}/status", {"status": "ACKNOWLEDGED"}, format="json")
    assert response.status_code == 200
    assert incident.timeline.count() == before


def test_status_endpoint_and_reopen(responder_client, responder):
    incident = make_incident(by=responder)
    response = responder_client.patch(f"{URL}/{incident.pk}/status", {"status": "RESOLVED"}, format="json")
    assert response.json()["status"] == "RESOLVED"
    assert response.json()["resolved_at"]
    illegal = responder_client.patch(f"{URL}/{incident.pk}/status", {"status": "MITIGATED"}, format="json")
    assert illegal.status_code == 400
    assert illegal.json()["code"] == "INVALID_STATUS_TRANSITION"
    reopened = responder_client.post(f"{URL}/{incident.pk}/reopen", {"reason": "errors again"}, format="json")
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "OPEN" and reopened.json()["resolved_at"] is None
    again = responder_client.post(f"{URL}/{incident.pk}/reopen", {}, format="json")
    assert again.status_code == 400
    assert again.json()["details"]["allowed"] == ["ACKNOWLEDGED", "MITIGATED", "RESOLVED"]


def test_empty_patch_is_400(responder_client, responder):
    incident = make_incident(by=responder)
    assert responder_client.patch(f"{URL}/{incident.pk}", {}, format="json").status_code == 400


def test_put_is_not_allowed(responder_client, responder):
    incident = make_incident(by=responder)
    response = responder_client.put(f"{URL}/{incident.pk}", {"title": "x"}, format="json")
    assert response.status_code == 405
    assert "PATCH" in response.json()["details"]["allowed"]


# --- comments, timeline ---------------------------------------------------------------------


def test_comments_are_timeline_entries(responder_client, viewer_client, responder):
    incident = make_incident(by=responder)
    posted = responder_client.post(f"{URL}/{incident.pk}/comments", {"body": "Rolling back v42"}, format="json")
    assert posted.status_code == 201
    assert posted.json()["author"] == "rita"
    assert responder_client.post(f"{URL}/{incident.pk}/comments", {"body": "  "}, format="json").status_code == 400
    listed = viewer_client.get(f"{URL}/{incident.pk}/comments").json()
    assert [c["body"] for c in listed["results"]] == ["Rolling back v42"]
    assert viewer_client.post(f"{URL}/{incident.pk}/comments", {"body": "hi"}, format="json").status_code == 403


def test_timeline_is_oldest_first_with_every_change(responder_client, responder):
    incident = make_incident(by=responder)
    responder_client.patch(f"{URL}/{incident.pk}", {"summary": "db failover"}, format="json")
    responder_client.patch(f"{URL}/{incident.pk}/status", {"status": "ACKNOWLEDGED"}, format="json")
    responder_client.post(f"{URL}/{incident.pk}/comments", {"body": "on it"}, format="json")
    body = responder_client.get(f"{URL}/{incident.pk}/timeline").json()
    assert [(e["kind"], e["field"], e["from"], e["to"]) for e in body["results"]] == [
        ("CREATED", "", None, "OPEN"),
        ("FIELD_CHANGED", "summary", "", "db failover"),
        ("STATUS_CHANGED", "status", "OPEN", "ACKNOWLEDGED"),
        ("COMMENT", "", None, None),
    ]
    assert all(e["actor"] == "rita" for e in body["results"])


# --- delete, roles ---------------------------------------------------------------------------


def test_delete_is_admin_only_and_soft(admin_client, responder_client, viewer_client, responder):
    incident = make_incident(by=responder)
    assert viewer_client.delete(f"{URL}/{incident.pk}").status_code == 403
    assert responder_client.delete(f"{URL}/{incident.pk}").status_code == 403
    assert admin_client.delete(f"{URL}/{incident.pk}").status_code == 204
    assert viewer_client.get(f"{URL}/{incident.pk}").status_code == 404
    assert viewer_client.get(URL).json()["count"] == 0
    kept = Incident.objects.get(pk=incident.pk)
    assert kept.deleted_at is not None
    assert kept.timeline.last().kind == TimelineEntry.Kind.DELETED
    assert responder_client.patch(f"{URL}/{incident.pk}", {"title": "x"}, format="json").status_code == 404


@pytest.mark.parametrize(
    ("role", "read", "write", "delete"),
    [("anonymous", 401, 401, 401), ("viewer", 200, 403, 403), ("responder", 200, 201, 403), ("admin", 200, 201, 204)],
)
def test_role_matrix(role_clients, responder, role, read, write, delete):
    client = role_clients[role]
    incident = make_incident(by=responder)
    assert client.get(URL).status_code == read
    assert client.get(f"{URL}/{incident.pk}").status_code == read
    assert create(client).status_code == write
    assert client.delete(f"{URL}/{incident.pk}").status_code == delete


# --- stats -----------------------------------------------------------------------------------


def test_stats_count_and_time_to_acknowledge_and_resolve(viewer_client, responder):
    start = timezone.now() - timedelta(hours=10)
    for minutes_to_ack, minutes_to_resolve in [(5, 60), (10, 120), (30, None)]:
        incident = services.create_incident(title="x", service="api", severity="SEV2", by=responder, now=start)
        services.transition_incident(
            incident.pk, to="ACKNOWLEDGED", by=responder, now=start + timedelta(minutes=minutes_to_ack)
        )
        if minutes_to_resolve:
            services.transition_incident(
                incident.pk, to="RESOLVED", by=responder, now=start + timedelta(minutes=minutes_to_resolve)
            )
    services.create_incident(title="y", service="web", severity="SEV4", by=responder, now=start)
    body = viewer_client.get(f"{URL}/stats").json()
    assert body["total"] == 4 and body["open"] == 2
    assert body["by_status"] == {"OPEN": 1, "ACKNOWLEDGED": 1, "MITIGATED": 0, "RESOLVED": 2}
    assert body["by_severity"] == {"SEV1": 0, "SEV2": 3, "SEV3": 0, "SEV4": 1}
    assert body["mtta"] == {"count": 3, "median_seconds": 600.0, "p90_seconds": 1560.0}
    assert body["mttr"] == {"count": 2, "median_seconds": 5400.0, "p90_seconds": 6840.0}
    assert body["services"]["api"]["mttr"]["median_seconds"] == 5400.0
    assert body["services"]["web"]["mtta"]["count"] == 0
    later = viewer_client.get(f"{URL}/stats", {"since": (timezone.now() - timedelta(hours=1)).isoformat()}).json()
    assert later["total"] == 0
    assert viewer_client.get(f"{URL}/stats?since=last-week").status_code == 400


def test_a_user_without_a_role_cannot_read(db, anonymous_client):
    from tests.factories import make_token

    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(make_user())}")
    assert anonymous_client.get(URL).status_code == 403


def test_broad_searches_list_newest_first_instead_of_ranking(viewer_client, responder, settings):
    old = make_incident(by=responder, title="Database outage", summary="database database")
    new = make_incident(by=responder, title="Slow page", summary="database")
    Incident.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    assert titles(viewer_client.get(f"{URL}?search=database"))[0] == "Database outage"  # ranked
    settings.TRACEPOINT = {**settings.TRACEPOINT, "SEARCH_RANK_LIMIT": 1}
    assert titles(viewer_client.get(f"{URL}?search=database")) == [new.title, old.title]  # newest first


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="capped counts and estimates are PostgreSQL's")
def test_a_broad_search_is_counted_once_per_request(viewer_client, responder, settings):
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        make_incident(by=responder, title="Database outage")
    settings.TRACEPOINT = {**settings.TRACEPOINT, "SEARCH_RANK_LIMIT": 2, "EXACT_COUNT_LIMIT": 2}
    with CaptureQueriesContext(connection) as captured:
        body = viewer_client.get(f"{URL}?search=database").json()
    assert len(body["results"]) == 3
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1, counts


def test_a_crafted_cursor_is_a_400(viewer_client, incidents):
    import base64

    cursor = base64.b64encode(b"o=0&p=notadate").decode()
    response = viewer_client.get(f"{URL}?pagination=cursor&cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()["details"]
