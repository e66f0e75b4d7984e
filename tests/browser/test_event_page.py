"""Errors sent by the real sentry-sdk, opened from their issue: the event page shows the stack with the crash
line highlighted, locals folded away until asked for, the request without secrets, and walks to the
issue's other events."""

from __future__ import annotations

import pytest
import sentry_sdk
from playwright.sync_api import expect

from events import digestion, keys
from events.models import Event, Issue
from tests.events.conftest import sentry_client  # noqa: F401  (the fixture)
from tests.factories import make_user
from tests.helpers import login

pytestmark = pytest.mark.browser


def _add_to_cart(raw: str, basket: list) -> None:
    basket_size = len(basket)  # noqa: F841 (a local the event page shows)
    qty = int(raw)
    basket.append(qty)


def _with_request(event, hint):
    # What the SDK's Django integration adds; set here because the test sends from outside a request.
    event["request"] = {
        "method": "POST",
        "url": "https://shop.example.com/cart/add",
        "query_string": "ref=mail",
        "headers": {"User-Agent": "Mozilla/5.0 Firefox/133.0", "Cookie": "sessionid=s3cr3t-cookie"},
    }
    return event


def _send(raw: str) -> str:
    with sentry_sdk.new_scope() as scope:
        scope.add_event_processor(_with_request)
        scope.set_user({"id": "u-42", "email": "ann@example.com"})
        scope.set_context("browser", {"name": "Firefox", "version": "133.0"})
        scope.set_tag("region", "eu-west")
        sentry_sdk.add_breadcrumb(category="ui.click", message=f"clicked add with {raw!r}")
        try:
            _add_to_cart(raw, ["book"])
        except ValueError:
            return sentry_sdk.capture_exception()
    raise AssertionError("no error raised")


@pytest.mark.django_db(transaction=True)
def test_open_an_sdk_event_from_its_issue(live_server, page, sentry_client):  # noqa: F811
    make_user("viewer", username="vera").projects.add(
        project := keys.create_project(name="Shop", slug="shop", services=["checkout"])
    )
    sentry_client(project.active_key().dsn(live_server.url), release="shop@2.0")
    first, second = _send("seven"), _send("eight")
    sentry_sdk.flush(timeout=10)
    assert digestion.sweep_undigested(older_than_seconds=0) == 2
    issue = Issue.objects.get(project=project)
    older, newer = (Event.objects.get(event_id=event_id) for event_id in (first, second))

    login(page, live_server.url, "vera")
    page.goto(f"{live_server.url}/issues/{issue.pk}/")
    page.get_by_role("link", name="Open the latest event").click()
    page.wait_for_url(f"**/issues/{issue.pk}/events/{newer.pk}/")
    assert page.locator("#event-id").inner_text() == newer.event_id.hex

    # The crash site first, its line highlighted among its neighbours.
    frame = page.locator(".frame.in-app").first
    assert "_add_to_cart" in frame.inner_text()
    crash = frame.locator("mark.crash-line")
    assert "qty = int(raw)" in crash.inner_text()
    assert "basket_size = len(basket)" in frame.locator("pre.context-line").inner_text()
    # Locals are folded until asked for.
    local_vars = frame.locator("details.frame-vars")
    expect(local_vars.locator("table.vars")).to_be_hidden()
    local_vars.locator("summary").click()
    table = local_vars.locator("table.vars")
    table.wait_for()
    assert "'eight'" in table.inner_text() and "basket_size" in table.inner_text()

    # The request without its cookie; breadcrumbs, user, contexts and tags.
    assert "POST https://shop.example.com/cart/add" in page.locator("#request-line").inner_text()
    headers = page.locator("#request-headers").inner_text()
    assert "Mozilla/5.0 Firefox/133.0" in headers and "[Filtered]" in headers
    assert "s3cr3t-cookie" not in page.content()
    assert "clicked add with 'eight'" in page.locator("#breadcrumbs").inner_text()
    assert "u-42" in page.locator("#event-user").inner_text()
    assert "Firefox" in page.locator(".context-browser").inner_text()
    assert "eu-west" in page.locator("#event-tags").inner_text()

    # Walk to the issue's other event and back.
    page.get_by_role("link", name="← Older event").click()
    page.wait_for_url(f"**/events/{older.pk}/")
    assert page.locator("#event-id").inner_text() == older.event_id.hex
    expect(page.get_by_text("Oldest stored event")).to_be_visible()
    page.get_by_role("link", name="Newer event →").click()
    page.wait_for_url(f"**/events/{newer.pk}/")
    page.get_by_role("link", name="All events of the issue").click()
    page.get_by_role("heading", level=1, name="ValueError: invalid literal for int() with base 10: 'seven'").wait_for()
