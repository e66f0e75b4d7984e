"""The OpenAPI document says what the responses are: nullable fields, page envelopes of the right kind."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def _ok_schema(schema: dict, path: str, method: str = "get") -> dict:
    found = schema["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    if "$ref" in found:
        return _component(schema, found["$ref"].rsplit("/", 1)[-1])
    return found


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Incident", "owner"),
        ("Incident", "created_by"),
        ("Issue", "resolved_by"),
        ("IssueActivity", "actor"),
        ("Monitor", "ping_url"),
        ("ProjectKey", "revoked"),
        ("User", "last_login"),
        ("PublicUpdate", "author"),
    ],
)
def test_fields_that_can_be_null_are_documented_nullable(schema, component, field):
    assert _component(schema, component)["properties"][field].get("nullable") is True


def test_the_user_list_is_documented_as_the_page_envelope_it_is(schema):
    users = _ok_schema(schema, "/api/v1/users/")
    assert users.get("type") == "object"
    assert {"count", "page", "page_size", "total_pages", "next", "previous", "results"} <= set(users["properties"])
    assert users["properties"]["results"]["items"]["$ref"].endswith("/User")


@pytest.mark.parametrize("path", ["/api/v1/events/", "/api/v1/issues/{id}/events/"])
def test_cursor_pages_are_documented_without_page_counts(schema, path):
    page = _ok_schema(schema, path)
    assert set(page["properties"]) == {"next", "previous", "page_size", "results"}
    assert "count" not in page.get("required", [])


def test_the_incident_list_is_documented_as_a_page_or_a_cursor_page(schema):
    envelopes = _ok_schema(schema, "/api/v1/incidents/")["anyOf"]
    page, cursor = envelopes
    assert "count" in page["required"] and "total_pages" in page["properties"]
    assert "count" not in cursor["properties"] and cursor["required"] == ["results"]


def test_page_number_lists_keep_their_counts(schema):
    monitors = _ok_schema(schema, "/api/v1/monitors/")
    assert {"count", "page", "total_pages"} <= set(monitors["required"])
