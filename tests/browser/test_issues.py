import pytest
from playwright.sync_api import expect

from events import digestion, ingest, keys
from tests.factories import make_cart_error, make_user
from tests.helpers import login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_search_open_issue_and_resolve_it(live_server, page):
    rita = make_user("responder", username="rita")
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    project.members.add(rita)
    ingest.store_events(
        project,
        [
            make_cart_error("ValueError", "bad quantity", "add_item", minutes_ago=3),
            make_cart_error("KeyError", "'shipping_address'", "confirm", minutes_ago=5),
        ],
    )
    digestion.sweep_undigested(older_than_seconds=0)
    base = live_server.url
    login(page, base, "rita")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Issues").click()
    page.wait_for_url("**/issues/")  # and its load: htmx binds its triggers then; typing earlier is lost
    table = page.locator("#issue-table")
    table.get_by_role("link", name="KeyError: 'shipping_address'").wait_for()
    expect(table.get_by_role("link", name="ValueError: bad quantity")).to_be_visible()

    # Debounced search swaps only the table and keeps the state in the URL.
    page.get_by_role("searchbox").fill("quantity")
    page.wait_for_url("**q=quantity*")
    table.get_by_text("1 issue").wait_for()
    assert table.get_by_role("link", name="KeyError: 'shipping_address'").count() == 0

    table.get_by_role("link", name="ValueError: bad quantity").click()
    page.get_by_role("heading", level=1, name="ValueError: bad quantity").wait_for()
    in_app = page.locator(".frame.in-app")
    assert in_app.count() == 1
    assert "add_item" in in_app.inner_text() and "qty = int(raw)" in in_app.inner_text()
    # The in-app frame is highlighted (its own background and border), and listed first (newest first).
    assert page.locator(".frame").first.get_attribute("class") == "frame in-app"
    border = in_app.evaluate("el => getComputedStyle(el).borderLeftWidth")
    assert border == "3px"

    status = page.locator("#issue-status")
    assert status.inner_text() == "Unresolved"
    page.get_by_role("button", name="Resolve").click()
    page.get_by_role("button", name="Unresolve").wait_for()
    assert page.locator("#issue-status").inner_text() == "Resolved"
    assert page.get_by_role("button", name="Resolve", exact=True).count() == 0
    assert "rita resolved the issue" in " ".join(page.locator("#activity").inner_text().split())
    expect(page.get_by_text("Issue resolved.")).to_be_visible()

    # Back in the list, the resolved issue left the Unresolved tab and sits in Resolved.
    page.get_by_role("link", name="← Issues").click()
    table = page.locator("#issue-table")
    table.get_by_role("link", name="KeyError: 'shipping_address'").wait_for()
    assert table.get_by_role("link", name="ValueError: bad quantity").count() == 0
    table.get_by_role("link", name="Resolved 1", exact=True).click()
    page.wait_for_url("**status=resolved*")
    table.get_by_role("link", name="ValueError: bad quantity").wait_for()

    # A search from the Resolved tab stays in that tab (the tab's value is part of the filter form).
    page.get_by_role("searchbox").fill("quantity")
    page.wait_for_url(lambda url: "q=quantity" in url and "status=resolved" in url)
    table.get_by_role("link", name="ValueError: bad quantity").wait_for()
    assert table.get_by_role("link", name="Resolved 1", exact=True).get_attribute("aria-current") == "page"
