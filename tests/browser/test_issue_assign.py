"""A responder takes an issue ("Assign to me"), sees themselves as its assignee, hands it on and unassigns."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from events import digestion, ingest, keys
from events.models import Issue
from tests.factories import make_cart_error, make_user
from tests.helpers import login

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_assign_to_me_then_to_a_colleague_then_nobody(live_server, page):
    rita = make_user("responder", username="rita")
    sam = make_user("responder", username="sam")
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    project.members.add(rita, sam)
    ingest.store_events(project, [make_cart_error("ValueError", "bad quantity", "add_item", minutes_ago=3)])
    digestion.sweep_undigested(older_than_seconds=0)
    issue = Issue.objects.get(project=project)

    login(page, live_server.url, "rita")
    page.goto(f"{live_server.url}/issues/{issue.pk}/")
    assignee = page.locator("#issue-assignee")
    assert assignee.inner_text() == "Nobody"

    page.get_by_role("button", name="Assign to me").click()
    page.get_by_text("Issue assigned to you.").wait_for()
    assert page.locator("#issue-assignee").inner_text() == "rita"
    assert page.get_by_role("button", name="Assign to me").count() == 0
    assert "rita assigned the issue to rita" in " ".join(page.locator("#activity").inner_text().split())

    # Hand it to a colleague with the picker (the same form components as every form).
    page.get_by_label("Assignee").select_option(label="sam")
    page.get_by_role("button", name="Assign issue").click()
    page.get_by_text("Issue assigned to sam.").wait_for()
    assert page.locator("#issue-assignee").inner_text() == "sam"
    expect(page.get_by_role("button", name="Assign to me")).to_be_visible()

    page.get_by_role("button", name="Unassign").click()
    page.get_by_text("Issue unassigned.").wait_for()
    assert page.locator("#issue-assignee").inner_text() == "Nobody"
    assert Issue.objects.get(pk=issue.pk).assignee is None

    # A comment on the thread, escaped, with its author.
    page.get_by_role("textbox", name="Comment").fill("Only on <Safari>")
    page.get_by_role("button", name="Add comment").click()
    page.locator("#comment-thread").get_by_text("Only on <Safari>").wait_for()
    assert "rita" in page.locator("#comment-thread").inner_text()
