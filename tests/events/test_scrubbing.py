"""Secrets never reach stored events: sensitive names and credential-like values are filtered."""

import pytest

from events import scrubbing
from events.scrubbing import FILTERED, scrub, scrub_query_string, scrub_url, sensitive_name


@pytest.mark.parametrize(
    "name",
    ["Cookie", "Set-Cookie", "Authorization", "X-Api-Key", "X-CSRFToken", "password", "user_pwd", "session",
     "client_secret", "access_token", "X-Forwarded-For", "sig", "key", "X-Functions-Key", "Ocp-Apim-Subscription-Key",
     "X-Access-Key", "accessKey", "license_key", "hmac", "X-Shopify-Hmac-Sha256", "code", "PHPSESSID", "connect.sid",
     "sid", "Authentication", "Proxy-Authorization"],
)  # fmt: skip
def test_sensitive_names(name):
    assert sensitive_name(name)


@pytest.mark.parametrize(
    "name", ["User-Agent", "Host", "author", "footprint", "classname", "qty", "cart", "keyboard", "monkey", "zipcode"]
)
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
    assert scrub_query_string("page=2&api_key=k&sig=1") == f"page=2&api_key={FILTERED}&sig={FILTERED}"
    assert (
        scrub_url("https://u:p@shop.example/a?token=t&x=1#top")
        == f"https://{FILTERED}@shop.example/a?token={FILTERED}&x=1#top"
    )
    assert scrub_url("https://shop.example/a") == "https://shop.example/a"


def test_what_a_first_cut_let_through_is_filtered():
    """Tokens in a URL's fragment (OAuth's implicit flow), URLs and bearer tokens inside any string
    (breadcrumbs), and values nested deeper than the scrubber reads."""
    assert scrub_url("https://app/cb#access_token=abc&state=x") == f"https://app/cb#access_token={FILTERED}&state=x"
    assert scrub_url("https://app/cb?x=1#access_token=abc") == f"https://app/cb?x=1#access_token={FILTERED}"
    assert scrub_url("https://shop.example/docs#install") == "https://shop.example/docs#install"
    crumb = {"data": {"url": "https://api.example/x?access_token=SECRET&a=1"}, "message": "sent Bearer abcdefghijk"}
    assert scrub(crumb) == {"data": {"url": f"https://api.example/x?access_token={FILTERED}&a=1"}, "message": FILTERED}
    assert scrub("GET https://api.example/x failed: authorization: xyz") == FILTERED
    assert scrub("basic setup of the shop finished") == "basic setup of the shop finished"
    deep = {"password": "hunter2"}
    for name in "abcdefghij":
        deep = {name: deep}
    assert "hunter2" not in repr(scrub(deep))


@pytest.mark.parametrize(
    "text",
    [
        "Bearer abc.def-123", "x bearer  tok3n1234 y", "BEARER ABCDEF", "authorization: secret", "AUTHORIZATION=x",
        "  Basic dXNlcjpwYXNz  ", "digest abcd1234", "Token 0123abcd", "tokenizer broke", "basically fine",
        "https://user:pw@db.example.com/x", "postgres://a:b@h/db", "see https://example.com/a?b=1", "plain text",
        "Payment provider timed out after 30 seconds", "", "   ", "ünïcode Bearer abcdefgh", "\u017f is a long s",
        "ba\u017fic dXNlcjpwYXNz", "to\u212aen 0123abcd", "authorizat\u0130on: x", "line\nBearer abcdefgh",
    ],
)  # fmt: skip
def test_the_quick_credential_test_agrees_with_the_expression(text):
    assert scrubbing._credential_like(text) == bool(scrubbing._SENSITIVE_VALUE.search(text))


def test_names_are_remembered_but_a_flood_of_made_up_ones_cannot_grow_the_memory():
    names = scrubbing._sensitive_names
    names.clear()
    assert sensitive_name("X-Api-Key") and not sensitive_name("order_id")
    assert names == {"X-Api-Key": True, "order_id": False}
    assert sensitive_name("password_" + "x" * 100)  # long: answered, not remembered
    assert len(names) == 2
    for index in range(10_000):
        sensitive_name(f"made_up_{index}")
    assert len(names) <= 8192
    assert sensitive_name(7) is False and sensitive_name(("token",)) is True  # not strings: by their text
