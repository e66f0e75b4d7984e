"""The issues page updates by itself when the live stream says something changed (Redis + the ASGI service)."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from events import digestion, ingest, keys
from tests.factories import make_cart_error, make_user
from tests.helpers import login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not django_settings.REDIS_URL, reason="the live stream needs Redis; set REDIS_URL"),
]


@pytest.mark.django_db(transaction=True)
def test_a_new_issue_appears_without_reloading(live_server, asgi_server, page, settings):
    # The page is served by web (WSGI); its stream by the ASGI service on another port of
    # the same host (live_server says localhost: a cookie goes to the same site only).
    stream_url = asgi_server.replace("127.0.0.1", "localhost")
    settings.TRACEPOINT = {**settings.TRACEPOINT, "STREAM_BASE_URL": stream_url, "BASE_URL": live_server.url}
    vera = make_user("viewer", username="vera")
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    project.members.add(vera)
    ingest.store_events(project, [make_cart_error("ValueError", "bad quantity", "add_item", minutes_ago=3)])
    digestion.sweep_undigested(older_than_seconds=0)
    login(page, live_server.url, "vera")

    with page.expect_response(lambda response: "/issues/live/" in response.url) as opened:
        page.goto(f"{live_server.url}/issues/")
    assert opened.value.status == 200
    table = page.locator("#issue-table")
    table.get_by_role("link", name="ValueError: bad quantity").wait_for()
    page.wait_for_timeout(500)  # the stream is subscribed

    ingest.store_events(project, [make_cart_error("KeyError", "'shipping_address'", "confirm", minutes_ago=0)])
    digestion.digest_pending()
    table.get_by_role("link", name="KeyError: 'shipping_address'").wait_for(timeout=10_000)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
