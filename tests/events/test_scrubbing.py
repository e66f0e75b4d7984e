"""Secrets never reach stored events: sensitive names and credential-like values are filtered."""

import pytest

from events.scrubbing import FILTERED, scrub, scrub_query_string, scrub_url, sensitive_name


@pytest.mark.parametrize(
    "name",
    ["Cookie", "Set-Cookie", "Authorization", "X-Api-Key", "X-CSRFToken", "password", "user_pwd", "session",
     "client_secret", "access_token", "X-Forwarded-For"],
)  # fmt: skip
def test_sensitive_names(name):
    assert sensitive_name(name)


@pytest.mark.parametrize("name", ["User-Agent", "Host", "author", "footprint", "classname", "qty", "cart"])
def test_ordinary_names_are_kept(name):
    assert not sensitive_name(name)


def test_scrub_nested_values_pairs_and_credentials():
    value = {
        "headers": [["Cookie", "a=b"], ["Accept", "text/html"]],
        "db": "postgres://app:pw@db/shop",
        "auth_header": "x",
        "note": "Bearer abc.def",
        "nested": {"items": [{"password": "p", "sku": "A-1"}]},
        "empty_token": "",
    }
    assert scrub(value) == {
        "headers": [["Cookie", FILTERED], ["Accept", "text/html"]],
        "db": FILTERED,
        "auth_header": FILTERED,
        "note": FILTERED,
        "nested": {"items": [{"password": FILTERED, "sku": "A-1"}]},
        "empty_token": "",
    }


def test_query_strings_and_urls():
    assert scrub_query_string("page=2&q=shoes") == "page=2&q=shoes"
    assert scrub_query_string("page=2&api_key=k&sig=1") == f"page=2&api_key={FILTERED}&sig=1"
    assert (
        scrub_url("https://u:p@shop.example/a?token=t&x=1#top")
        == f"https://{FILTERED}@shop.example/a?token={FILTERED}&x=1#top"
    )
    assert scrub_url("https://shop.example/a") == "https://shop.example/a"
