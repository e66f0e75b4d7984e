"""``GET /api/v1/issues/needs-attention`` and priority in the issue list, pages and Overview."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone

from events import keys, lifecycle
from events.models import Issue, IssueStatus
from tests.factories import in_app_frame, make_event
from tests.helpers import ingest

error = partial(make_event, kind="ValueError", route="/checkout", frames=[in_app_frame()])

URL = "/api/v1/issues/needs-attention"


@pytest.fixture
def ranked(project, viewer, responder, admin_user):
    """A burst of timeouts (high), an old single error (low), a resolved burst, and another project's fatal one."""
    now = timezone.now()
    project.members.add(viewer, responder)
    ingest(project, *[error("Gateway timed out", at=now - timedelta(seconds=i)) for i in range(90)], now=now)
    ingest(project, error("Cart is empty", at=now - timedelta(days=3)), now=now)
    ingest(project, *[error("Coupon 5 expired", at=now - timedelta(seconds=i)) for i in range(90)], now=now)
    coupon = Issue.objects.get(title__contains="Coupon")
    lifecycle.set_issue_status(coupon.pk, status=IssueStatus.RESOLVED, by=admin_user, now=now)
    other = keys.create_project(name="Internal", slug="internal", services=["hr"])
    ingest(other, error("fatal: out of memory", service="hr", at=now), now=now)
    return {issue.title: issue for issue in Issue.objects.all()}


def test_unresolved_issues_come_highest_priority_first_with_their_reasons(viewer_client, ranked):
    response = viewer_client.get(URL)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["title"] for row in rows] == ["ValueError: Gateway timed out", "ValueError: Cart is empty"]
    top = rows[0]
    assert top["severity"] == "high"
    assert top["priority"] == 40 + 3 + 10  # high, 1.5 errors/min, seen in the last hour
    assert top["priority_reason"].startswith("high severity (message mentions 'timed out'; 1.5 errors/min (≥ 1))")
    assert len(top["hourly_counts"]) == 24 and sum(top["hourly_counts"][-2:]) == 90  # this hour and maybe the last
    assert rows[1]["priority"] == 5


def test_admins_see_every_project(admin_client, ranked):
    titles = [row["title"] for row in admin_client.get(URL).json()["results"]]
    assert titles[0] == "ValueError: fatal: out of memory"
    assert len(titles) == 3


def test_severity_and_project_filters(admin_client, ranked, project):
    response = admin_client.get(URL, {"severity": "critical,high", "project": project.pk})
    assert [row["title"] for row in response.json()["results"]] == ["ValueError: Gateway timed out"]
    bad = admin_client.get(URL, {"severity": "urgent"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "VALIDATION_ERROR"


def test_anonymous_is_401_a_viewer_writing_403_and_other_methods_405(
    anonymous_client, viewer_client, admin_client, ranked
):
    assert anonymous_client.get(URL).status_code == 401
    assert viewer_client.post(URL, {}).status_code == 403
    assert admin_client.post(URL, {}).status_code == 405


def test_the_issue_list_sorts_by_priority(admin_client, ranked):
    response = admin_client.get("/api/v1/issues", {"ordering": "-priority"})
    assert [row["priority"] for row in response.json()["results"]] == sorted(
        (issue.priority for issue in Issue.objects.all()), reverse=True
    )


def test_the_issues_page_shows_priority_reasons_and_sparklines(viewer, client, ranked):
    client.force_login(viewer)
    page = client.get("/issues/", {"sort": "priority"}).content.decode()
    assert page.index("Gateway timed out") < page.index("Cart is empty")
    assert 'class="sparkline"' in page
    assert re.search(r'aria-label="events per hour, last 24 hours: 90 in all', page)
    assert "message mentions &#x27;timed out&#x27;" in page  # escaped in the title attribute


def test_the_overview_lists_the_top_issues_by_priority(viewer, client, ranked):
    client.force_login(viewer)
    page = client.get("/").content.decode()
    section = page[page.index('id="ov-issues"') :]
    assert section.index("Gateway timed out") < section.index("Cart is empty")
    assert "Secret" not in section and "out of memory" not in section  # not the viewer's project
    assert "seen in the last hour +10" in section
