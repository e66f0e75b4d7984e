"""The password form of a private status page, and its limit on guesses."""

import pytest
from django.test import Client

from tests.factories import make_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_page(settings, mid_window):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "RATE_LIMITS": {**settings.TRACEPOINT["RATE_LIMITS"], "auth": "2/day"},
    }
    return make_page(slug="inside", is_public=False, raw_password="open sesame")


def test_too_many_guesses_are_429_with_retry_after(private_page):
    client = Client()
    statuses = [client.post("/status/inside/access/", {"password": "nope"}).status_code for _ in range(2)]
    assert statuses == [400, 400]
    refused = client.post("/status/inside/access/", {"password": "open sesame"})
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 86400
    html = refused.content.decode()
    assert f"Too many attempts. Try again in {retry_after} seconds." in html
    assert 'name="password"' in html  # the form is still there
    assert client.get("/status/inside/").status_code == 302  # the right password was not accepted


def test_the_limit_is_per_address(private_page):
    for _ in range(3):
        Client(REMOTE_ADDR="198.51.100.1").post("/status/inside/access/", {"password": "nope"})
    other = Client(REMOTE_ADDR="198.51.100.2")
    assert other.post("/status/inside/access/", {"password": "open sesame"}).status_code == 302
