"""The form components in a real browser: the submit button waits while its form posts (plain and
htmx forms), errors appear next to their field, the required mark is seen but is not part of the
label, and keyboard focus is visible in both themes."""

import re

import pytest

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def _held(page, pattern: str) -> list:
    """Requests to ``pattern`` wait until the test lets them go (``route.continue_()``)."""
    held: list = []
    page.route(pattern, lambda route: held.append(route) if route.request.method == "POST" else route.continue_())
    return held


@pytest.mark.django_db(transaction=True)
def test_submit_buttons_wait_while_their_form_posts(live_server, page):
    make_user("responder", username="rita")
    _log_in(page, live_server, "rita")

    # An htmx form: the incident form.
    page.goto(f"{live_server.url}/incidents/new/")
    held = _held(page, "**/incidents/new/")
    page.get_by_label("Title").fill("Checkout is slow")
    page.get_by_label("Service").fill("checkout")
    button = page.get_by_role("button", name="Open incident")
    button.click(no_wait_after=True)
    page.wait_for_function("document.querySelector('#incident-form button[type=submit]').disabled")
    assert button.get_attribute("aria-busy") == "true"
    held[0].continue_()
    page.wait_for_url(re.compile(r"/incidents/[0-9a-f-]{36}/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Checkout is slow"

    # A plain form (a new API token on the account page) navigates away: what the button was just
    # after the submit is kept in sessionStorage, which survives the navigation.
    page.goto(f"{live_server.url}/account/")
    page.evaluate(
        """document.addEventListener("submit", (event) => setTimeout(() => {
             const button = event.target.querySelector("button[type=submit]");
             sessionStorage.setItem("busy", String(button.disabled && button.getAttribute("aria-busy") === "true"));
           }, 20))"""
    )
    page.get_by_role("button", name="Generate token").click()
    page.wait_for_load_state()
    assert page.evaluate("sessionStorage.getItem('busy')") == "true"
    # The new page's button is usable again.
    assert page.get_by_role("button", name="Generate token").is_enabled()


@pytest.mark.django_db(transaction=True)
def test_errors_sit_next_to_their_field_and_focus_is_visible(live_server, browser):
    make_user("responder", username="rita")
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        page.set_default_timeout(10_000)
        _log_in(page, live_server, "rita")
        page.goto(f"{live_server.url}/incidents/new/")
        # The label reads "Title" (the required mark is drawn by CSS, not part of the label).
        title = page.get_by_label("Title", exact=True)
        assert title.get_attribute("required") is not None
        mark = page.evaluate(
            "getComputedStyle(document.querySelector('label[for=id_title]'), '::after').getPropertyValue('content')"
        )
        assert "*" in mark
        page.get_by_role("button", name="Open incident").click()
        error = page.locator("#id_title_error")
        error.wait_for()
        assert "required" in error.inner_text().lower()
        assert title.get_attribute("aria-invalid") == "true"
        assert "id_title_error" in title.get_attribute("aria-describedby")
        # Keyboard focus: a visible outline on the field.
        title.focus()
        page.keyboard.press("Tab")
        page.keyboard.press("Shift+Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid", scheme
        context.close()
