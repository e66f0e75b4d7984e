import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_user_logs_in_and_sees_the_overview(live_server, page):
    make_user("responder", username="rita")
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("The username and password did not match")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Overview").get_attribute("aria-current") == "page"
    assert nav.get_by_role("link", name="Admin").count() == 0
    expect(page.get_by_text("No incidents yet.")).to_be_visible()
    # htmx loaded from our own static files and knows the CSRF header.
    assert page.evaluate("typeof window.htmx") == "object"

    nav.get_by_role("link", name="Monitors").click()
    page.wait_for_url(f"{live_server.url}/monitors/")
    expect(page.get_by_text("No monitors yet.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url


@pytest.mark.django_db(transaction=True)
def test_the_layout_follows_the_dark_colour_scheme(live_server, browser):
    make_user("viewer", username="vera")
    context = browser.new_context(color_scheme="dark")
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    context.close()
    context = browser.new_context(color_scheme="light", viewport={"width": 375, "height": 700})
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
    # Nothing overflows sideways on a phone-sized screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    context.close()
