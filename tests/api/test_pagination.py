"""Lists page with page/page_size, order with ordering, and refuse bad values with 400."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection  # noqa: F401 - used by skipif

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls")]


@pytest.fixture
def groups():
    return [Group.objects.create(name=f"team-{i:02d}") for i in range(25)]


def test_lists_use_the_standard_envelope(viewer_client, groups):
    body = viewer_client.get("/api/v1/samples").json()
    assert body["count"] == 25
    assert body["page"] == 1
    assert body["page_size"] == 10
    assert body["total_pages"] == 3
    assert body["previous"] is None
    assert body["next"].endswith("page=2")
    assert len(body["results"]) == 10


def test_page_size_and_last_page(viewer_client, groups):
    body = viewer_client.get("/api/v1/samples?page=3&page_size=10").json()
    assert [g["name"] for g in body["results"]] == [f"team-{i:02d}" for i in range(20, 25)]
    assert body["next"] is None
    body = viewer_client.get("/api/v1/samples?page_size=100").json()
    assert len(body["results"]) == 25 and body["total_pages"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page_size=ten", "page_size"),
    ],
)
def test_bad_paging_values_are_400(viewer_client, groups, query, field):
    response = viewer_client.get(f"/api/v1/samples?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert field in body["details"]


def test_a_page_past_the_end_is_404(viewer_client, groups):
    response = viewer_client.get("/api/v1/samples?page=9")
    assert response.status_code == 404
    assert "3 pages" in response.json()["message"]


def test_ordering_and_its_validation(viewer_client, groups):
    body = viewer_client.get("/api/v1/samples?ordering=-name&page_size=3").json()
    assert [g["name"] for g in body["results"]] == ["team-24", "team-23", "team-22"]
    response = viewer_client.get("/api/v1/samples?ordering=password")
    assert response.status_code == 400
    assert "ordering" in response.json()["details"]


def test_filters_apply(viewer_client, groups):
    body = viewer_client.get("/api/v1/samples?name=team-07").json()
    assert body["count"] == 1


def test_small_results_are_counted_exactly(viewer_client, groups):
    assert viewer_client.get("/api/v1/samples").json()["count_exact"] is True


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row estimates come from PostgreSQL's planner")
def test_large_results_use_the_planner_estimate(viewer_client, groups, settings, django_assert_max_num_queries):
    from django.db import connection as db

    settings.TRACEPOINT = {**settings.TRACEPOINT, "EXACT_COUNT_LIMIT": 10}
    with db.cursor() as cursor:
        cursor.execute("ANALYZE auth_group")
    body = viewer_client.get("/api/v1/samples?page_size=5").json()
    assert body["count_exact"] is False
    assert body["count"] >= 11  # at least what was counted
    assert len(body["results"]) == 5 and body["next"]
    past_end = viewer_client.get("/api/v1/samples?page=1000&page_size=5")
    assert past_end.status_code == 200
    assert past_end.json()["results"] == [] and past_end.json()["next"] is None


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row estimates come from PostgreSQL's planner")
def test_next_links_reach_every_row_even_when_the_count_is_an_estimate(viewer_client, groups, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "EXACT_COUNT_LIMIT": 10}
    names, url = [], "/api/v1/samples?page_size=4"
    while url:
        body = viewer_client.get(url).json()
        assert body["count_exact"] is False
        names += [g["name"] for g in body["results"]]
        url = body["next"]
    assert names == [f"team-{i:02d}" for i in range(25)]


def test_deep_pages_fetch_ids_first_and_keep_the_order(viewer_client, groups, settings):
    expected = viewer_client.get("/api/v1/samples?ordering=-name&page=3&page_size=5").json()["results"]
    settings.TRACEPOINT = {**settings.TRACEPOINT, "DEFERRED_JOIN_OFFSET": 5}
    deferred = viewer_client.get("/api/v1/samples?ordering=-name&page=3&page_size=5").json()["results"]
    assert deferred == expected
    assert [g["name"] for g in deferred] == [f"team-{i:02d}" for i in range(14, 9, -1)]
