"""Escalation policies in a real browser: an admin creates a policy with two steps (the second row
added with "Add a step", swapped in place by htmx, its missing target shown inline) and reads it back."""

from datetime import date

import pytest
from playwright.sync_api import expect

from incidents.oncall.models import EscalationPolicy
from tests.factories import make_layer, make_schedule, make_team, make_user
from tests.helpers import login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_an_admin_creates_a_policy_with_two_steps(live_server, page):
    make_user("admin", username="ada")
    ann = make_user(username="ann", first_name="Ann")
    make_user(username="bob", first_name="Bob")
    team = make_team("Payments", services=["checkout", "billing"])
    make_layer(make_schedule(team, name="Primary"), [ann], start_date=date(2020, 1, 6))
    base = live_server.url
    login(page, base, "ada")

    page.goto(f"{base}/oncall/policies/")
    page.get_by_text("No policy yet: incidents of Payments").wait_for()
    page.get_by_role("link", name="Add a policy").click()
    page.get_by_role("heading", level=1, name="New escalation policy").wait_for()
    page.get_by_label("Name").fill("Payments primary")
    page.get_by_label("Services").fill("checkout")
    page.get_by_label("Default for its team").check()

    first = page.locator("fieldset", has=page.get_by_text("Step 1", exact=True))
    first.get_by_label("Schedules").select_option(label="Primary (Payments)")
    first.get_by_label("Then wait (minutes)").fill("5")
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Add a step").click()
    second = page.locator("fieldset", has=page.get_by_text("Step 2", exact=True))
    second.wait_for()
    assert page.evaluate("window.notReloaded") is True  # the form was swapped in place
    assert first.get_by_label("Schedules").evaluate("select => [...select.selectedOptions].map(o => o.text)") == [
        "Primary (Payments)"
    ]  # what was picked before adding the row is still picked
    page.get_by_role("button", name="Create policy").click()  # step 2 has no target yet
    second.get_by_text("Page at least one user, schedule or channel.").wait_for()  # inline, on its row
    assert EscalationPolicy.objects.count() == 0
    second.get_by_label("People").select_option(label="Bob (bob)")
    second.get_by_label("Then wait (minutes)").fill("10")
    page.get_by_role("button", name="Create policy").click()

    page.get_by_role("heading", level=1, name="Payments primary").wait_for()
    policy = EscalationPolicy.objects.get()
    assert page.url == f"{base}/oncall/policies/{policy.pk}/"
    expect(page.get_by_text("Escalation policy “Payments primary” created.")).to_be_visible()
    summary = page.locator(".policy-steps-summary").inner_text()
    assert summary == "1. Primary schedule → 5 min → 2. Bob"
    expect(page.get_by_text("now Ann")).to_be_visible()  # who the schedule would page right now
    assert "billing" in page.locator("dd", has_text="the team's services that no policy names").inner_text()
    assert [step.delay_minutes for step in policy.steps.all()] == [5, 10]
