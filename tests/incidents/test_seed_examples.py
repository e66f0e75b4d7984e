"""The curl examples of the seed README work against our API (with a token)."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_seed_curl_examples(responder_client):
    created = responder_client.post(
        "/api/v1/incidents",
        '{"title": "API latency spike", "service": "api-gateway", "severity": "SEV2"}',
        content_type="application/json",
    )
    assert created.status_code == 201
    incident_id = created.json()["id"]

    listed = responder_client.get("/api/v1/incidents")
    assert listed.status_code == 200 and listed.json()["count"] == 1

    filtered = responder_client.get("/api/v1/incidents?severity=SEV1,SEV2&status=OPEN")
    assert [i["id"] for i in filtered.json()["results"]] == [incident_id]

    searched = responder_client.get("/api/v1/incidents?search=outage&sortBy=severity&sortOrder=asc")
    assert searched.status_code == 200 and searched.json()["results"] == []
    assert responder_client.get("/api/v1/incidents?search=latency&pageSize=5").json()["page_size"] == 5

    updated = responder_client.patch(
        f"/api/v1/incidents/{incident_id}", '{"status": "RESOLVED"}', content_type="application/json"
    )
    assert updated.status_code == 200 and updated.json()["status"] == "RESOLVED"


def test_seed_sort_keys_map_to_our_ordering(responder_client):
    for title, severity in (("b", "SEV3"), ("a", "SEV1"), ("c", "SEV2")):
        responder_client.post(
            "/api/v1/incidents", {"title": title, "service": "s", "severity": severity}, format="json"
        )
    by = lambda query: [i["title"] for i in responder_client.get(f"/api/v1/incidents?{query}").json()["results"]]  # noqa: E731
    assert by("sortBy=severity&sortOrder=asc") == ["a", "c", "b"]
    assert by("sortBy=title&sortOrder=desc") == ["c", "b", "a"]
    assert by("sortBy=createdAt&sortOrder=asc") == ["b", "a", "c"]
    assert by("sortBy=createdAt") == ["c", "a", "b"]  # sortOrder defaults to desc
    conflict = responder_client.get("/api/v1/incidents?sortBy=title&ordering=title")
    assert conflict.status_code == 400
