"""An event's own page: stack with context lines and locals, breadcrumbs, request (secrets filtered), user,
contexts, tags, older/newer links; the issue page links to it; membership decides who sees it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from events import sentry_event
from events.models import Event, Issue
from tests import helpers
from tests.factories import make_cart_error, make_user

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sentry_payload(*, seconds_ago: int, qty: str = "'seven'") -> dict:
    """A Sentry event as the Python SDK sends it from a Django view, with locals, request and contexts."""
    return {
        "platform": "python",
        "level": "error",
        "timestamp": (timezone.now() - timedelta(seconds=seconds_ago)).isoformat(),
        "release": "shop@2.0",
        "environment": "production",
        "server_name": "web-3",
        "transaction": "/cart/{id}/add",
        "tags": {"service": "checkout", "region": "eu-west"},
        "user": {"id": "u-42", "email": "ann@example.com"},
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "invalid literal for int() with base 10: 'seven'",
                    "mechanism": {"type": "django", "handled": False},
                    "stacktrace": {
                        "frames": [
                            {
                                "module": "django.core.handlers.base",
                                "function": "_get_response",
                                "filename": "django/core/handlers/base.py",
                                "lineno": 197,
                                "in_app": False,
                            },
                            {
                                "module": "shop.cart",
                                "function": "add_item",
                                "filename": "shop/cart.py",
                                "lineno": 42,
                                "in_app": True,
                                "pre_context": ["def add_item(request, raw):", "    cart = request.cart"],
                                "context_line": "    qty = int(raw)",
                                "post_context": ["    cart.add(qty)", "    return cart"],
                                "vars": {
                                    "raw": qty,
                                    "cart": "<Cart 17>",
                                    "password": "'hunter2'",
                                    "note": "'<script>alert(1)</script>'",
                                },
                            },
                        ]
                    },
                }
            ]
        },
        "request": {
            "method": "POST",
            "url": "https://shop.example.com/cart/17/add",
            "query_string": "ref=mail&token=abc123",
            "headers": {
                "Cookie": "sessionid=s3cr3t",
                "Authorization": "Bearer tok-999",
                "User-Agent": "Mozilla/5.0 Firefox/133.0",
                "Accept-Language": "fr",
            },
            "cookies": {"sessionid": "s3cr3t"},
        },
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.11.9", "type": "runtime"},
            "os": {"name": "Linux", "version": "6.1", "type": "os"},
            "browser": {"name": "Firefox", "version": "133.0", "type": "browser"},
        },
        "breadcrumbs": {
            "values": [
                {"timestamp": timezone.now().timestamp() - 90, "category": "http", "message": "GET /cart/17"},
                {
                    "timestamp": timezone.now().timestamp() - 80,
                    "category": "query",
                    "level": "warning",
                    "message": "SELECT * FROM cart WHERE id = 17",
                    "data": {"duration_ms": 512, "api_key": "k-1"},
                },
            ]
        },
        "extra": {"basket_size": 3},
    }


def ingest_sentry(project, *payloads: dict) -> list[Event]:
    events = [sentry_event.to_new_event(p, project=project, event_id=None) for p in payloads]
    helpers.ingest(project, *events, now=timezone.now())
    return list(Event.objects.filter(project=project).order_by("timestamp", "id"))


@pytest.fixture
def events(project, viewer, responder):
    project.members.add(viewer, responder)
    stored = ingest_sentry(
        project,
        sentry_payload(seconds_ago=300, qty="'one'"),
        sentry_payload(seconds_ago=200),
        sentry_payload(seconds_ago=100),
    )
    assert len({event.issue_id for event in stored}) == 1
    return stored


def page_of(event: Event) -> str:
    return f"/issues/{event.issue_id}/events/{event.pk}/"


def test_the_event_page_shows_everything_sentry_shows(viewer, events):
    event = events[1]
    response = logged_in(viewer).get(page_of(event))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert event.event_id.hex in html
    # The full stack, newest frame first, with the crash line highlighted between its context lines.
    assert html.index("add_item") < html.index("_get_response")
    assert 'class="frame in-app"' in html
    assert "def add_item(request, raw):" in html and "    cart.add(qty)" in html
    crash = '<mark class="crash-line" aria-label="The line that raised"><span class="lineno">42</span>'
    assert crash + "    qty = int(raw)</mark>" in html
    assert '<span class="lineno">41</span>    cart = request.cart' in html
    assert '<span class="lineno">43</span>    cart.add(qty)' in html
    assert "unhandled" in html
    # Locals, collapsible, secrets filtered, user text escaped.
    assert '<details class="frame-vars">' in html and "Local variables (4)" in html
    assert "&lt;Cart 17&gt;" in html and "&#x27;seven&#x27;" in html
    assert "hunter2" not in html and "[Filtered]" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Breadcrumbs, oldest first, their data scrubbed.
    assert html.index("GET /cart/17") < html.index("SELECT * FROM cart WHERE id = 17")
    assert "duration_ms" in html and "k-1" not in html
    # The request: method, URL, query and headers, without cookies or credentials.
    assert "POST https://shop.example.com/cart/17/add" in html
    assert "ref=mail&amp;token=[Filtered]" in html and "abc123" not in html
    assert "Mozilla/5.0 Firefox/133.0" in html and "Accept-Language" in html
    assert "s3cr3t" not in html and "tok-999" not in html
    # User, contexts, tags and the rest.
    assert "u-42" in html and "ann@example.com" in html
    assert "Runtime" in html and "CPython" in html and "Operating system" in html and "Browser" in html
    assert "region" in html and "eu-west" in html
    assert "basket_size" in html and "web-3" in html and "shop@2.0" in html


def test_older_and_newer_links_walk_the_issues_events(viewer, events):
    client = logged_in(viewer)
    oldest, middle, newest = events
    html = client.get(page_of(middle)).content.decode()
    assert f'rel="prev" href="{page_of(oldest)}"' in html and f'rel="next" href="{page_of(newest)}"' in html
    html = client.get(page_of(oldest)).content.decode()
    assert "Oldest stored event" in html and 'rel="prev"' not in html and f'href="{page_of(middle)}"' in html
    html = client.get(page_of(newest)).content.decode()
    assert "Newest event" in html and 'rel="next"' not in html


def test_events_with_the_same_timestamp_still_have_neighbours(viewer, project):
    project.members.add(viewer)
    at = timezone.now() - timedelta(minutes=1)
    same = [make_cart_error("ValueError", "bad quantity", minutes_ago=1, timestamp=at) for _ in range(3)]
    helpers.ingest(project, *same, now=timezone.now())
    first, second, third = Event.objects.filter(project=project).order_by("pk")
    html = logged_in(viewer).get(page_of(second)).content.decode()
    assert f'href="{page_of(first)}"' in html and f'href="{page_of(third)}"' in html


def test_the_issue_page_links_its_recent_events_and_its_latest(viewer, events):
    html = logged_in(viewer).get(f"/issues/{events[0].issue_id}/").content.decode()
    for event in events:
        assert f'href="{page_of(event)}"' in html
    assert f'<a href="{page_of(events[-1])}" id="latest-event-link">' in html
    # The issue page shows the latest event's stack with the same markup (context lines, locals).
    assert '<mark class="crash-line"' in html and "Local variables (4)" in html and "hunter2" not in html


def test_an_event_without_stack_or_request_says_so(viewer, project):
    project.members.add(viewer)
    helpers.ingest(
        project,
        sentry_event.to_new_event({"message": "Disk almost full"}, project=project, event_id=None),
        now=timezone.now(),
    )
    event = Event.objects.get(project=project)
    html = logged_in(viewer).get(page_of(event)).content.decode()
    assert "This event has no stack trace" in html and "Disk almost full" in html
    assert "No breadcrumbs were sent" in html and "The event carries no request" in html
    assert "The event names no user" in html


def test_events_stored_before_scrubbing_are_scrubbed_when_shown(viewer, project):
    project.members.add(viewer)
    helpers.ingest(project, make_cart_error("ValueError", "bad", minutes_ago=1), now=timezone.now())
    event = Event.objects.get(project=project)
    # Secrets no random token of the page (CSRF) can contain by chance.
    event.data["request"] = {
        "url": "https://u:pw@x.example/a?api_key=key-value-9",
        "headers": {"Cookie": "old-secret"},
    }
    event.data["exception"][0]["stacktrace"]["frames"][-1]["vars"] = {"secret_token": "'old'"}
    event.save(update_fields=["data"])
    html = logged_in(viewer).get(page_of(event)).content.decode()
    assert "old-secret" not in html and "pw@" not in html and "key-value-9" not in html
    assert "&#x27;old&#x27;" not in html
    assert html.count("[Filtered]") >= 4
    # The API shows the event through the same filter, and tags too (a url tag carries its query string).
    event.data["tags"] = [["url", "https://x.example/a?token=tag-secret"]]
    event.save(update_fields=["data"])
    body = logged_in(viewer).get(f"/api/v1/events/{event.pk}").content.decode()
    assert "old-secret" not in body and "key-value-9" not in body and "tag-secret" not in body and "[Filtered]" in body
    assert "tag-secret" not in logged_in(viewer).get(page_of(event)).content.decode()


def test_anonymous_users_are_sent_to_login(events):
    response = Client().get(page_of(events[0]))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_members_only_other_viewers_get_404(events):
    outsider = make_user("viewer", username="otto")
    assert logged_in(outsider).get(page_of(events[0])).status_code == 404
    admin = make_user("admin", username="root")  # admins see every project
    assert logged_in(admin).get(page_of(events[0])).status_code == 200


def test_an_event_of_another_issue_or_project_is_404(viewer, events, project):
    from events import keys

    other = keys.create_project(name="Blog", slug="blog", services=["web"])
    other.members.add(viewer)
    helpers.ingest(other, make_cart_error("KeyError", "slug", minutes_ago=1, service="web"), now=timezone.now())
    foreign = Event.objects.get(project=other)
    client = logged_in(viewer)
    # The foreign event under this project's issue, and a missing event: both 404.
    assert client.get(f"/issues/{events[0].issue_id}/events/{foreign.pk}/").status_code == 404
    assert client.get(f"/issues/{events[0].issue_id}/events/99999999/").status_code == 404
    assert client.get(page_of(foreign)).status_code == 200
    assert Issue.objects.filter(project=project).count() == 1


def test_wrong_method_is_405(viewer, events):
    assert logged_in(viewer).post(page_of(events[0])).status_code == 405
