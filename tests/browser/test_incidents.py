import pytest
from playwright.sync_api import expect

from tests.factories import make_incident, make_user
from tests.helpers import login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_filter_open_acknowledge_comment(live_server, page):
    rita = make_user("responder", username="rita")
    make_incident(by=rita, title="Checkout outage", service="checkout", severity="SEV1")
    make_incident(by=rita, title="Search is slow", service="search", severity="SEV3")
    make_incident(by=rita, title="Old disk alert", service="infra", severity="SEV4", status="RESOLVED")
    base = live_server.url
    login(page, base, "rita")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
    table = page.locator("#incident-table")
    expect(table.get_by_role("link", name="Old disk alert")).to_be_visible()

    # Severity chip: only the table is swapped and the URL keeps the state.
    page.get_by_label("SEV1").check()
    page.wait_for_url("**/incidents/?*severity=SEV1*")
    table.get_by_text("1 incident").wait_for()
    assert table.get_by_role("link", name="Search is slow").count() == 0

    # Debounced search.
    page.get_by_label("SEV1").uncheck()
    page.get_by_role("searchbox").fill("slow")
    page.wait_for_url("**q=slow*")
    table.get_by_role("link", name="Search is slow").wait_for()
    assert table.get_by_role("link", name="Checkout outage").count() == 0

    # Reload keeps the filter.
    page.reload()
    assert page.get_by_role("searchbox").input_value() == "slow"
    assert page.locator("#incident-table").get_by_role("link", name="Checkout outage").count() == 0

    page.get_by_role("searchbox").fill("")
    page.locator("#incident-table").get_by_role("link", name="Checkout outage").click()
    page.get_by_role("heading", level=1, name="Checkout outage").wait_for()
    status = page.locator("#incident-status")
    assert status.inner_text() == "Open"

    page.get_by_role("button", name="Acknowledge").click()
    page.locator("#incident-status", has_text="Acknowledged").wait_for()
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    timeline = page.locator("#timeline")
    assert "changed status from OPEN to ACKNOWLEDGED" in " ".join(timeline.inner_text().split())

    page.get_by_label("Comment").fill("Rolling back release 42")
    page.get_by_role("button", name="Add comment").click()
    page.locator("#timeline", has_text="Rolling back release 42").wait_for()
    assert page.get_by_label("Comment").input_value() == ""
    expect(page.get_by_text("Comment added.")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_create_form_shows_errors_inline(live_server, page):
    make_user("responder", username="rita")
    base = live_server.url
    login(page, base, "rita")
    page.goto(f"{base}/incidents/new/")
    page.get_by_label("Service").fill("Not Valid")
    page.get_by_role("button", name="Open incident").click()
    page.get_by_text("Use lowercase letters").wait_for()
    expect(page.get_by_text("This field is required.")).to_be_visible()
    page.get_by_label("Title").fill("Builds failing")
    page.get_by_label("Service").fill("ci")
    page.get_by_label("Severity").select_option("SEV2")
    page.get_by_role("button", name="Open incident").click()
    page.get_by_role("heading", level=1, name="Builds failing").wait_for()
    assert "/incidents/" in page.url and page.url.rstrip("/").split("/")[-1] != "new"
