"""The form's live helpers: the cron preview (next runs as you type) and "Test now" with unsaved values."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import connection

from monitors import probes, services
from monitors.forms import cron_preview
from monitors.models import Monitor, MonitorStatus

PREVIEW = "/monitors/form/cron-preview/"
TEST = "/monitors/form/test/"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def responder_browser(client, responder):
    client.force_login(responder)
    return client


def draft(url: str, **overrides) -> dict:
    return {"kind": "http", "name": "", "url": url, "method": "GET", "expected_statuses": "200-299",
            "interval_seconds": 60, "timeout_seconds": 2, "down_after": 2, "up_after": 1, "tls_expiry_days": 14,
            "incident_severity": "SEV2"} | overrides  # fmt: skip


# --- cron preview --------------------------------------------------------------------------------


def test_the_preview_lists_the_next_three_runs_in_the_zone_across_a_dst_change():
    preview = cron_preview("30 2 * * *", "Europe/Paris", now=datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert not preview.error and preview.zone == "Europe/Paris"
    assert [text for _, text in preview.runs] == [
        "Sun 29 Mar 2026, 03:00 CEST",  # 02:30 does not exist that night: the next minute that does
        "Mon 30 Mar 2026, 02:30 CEST",
        "Tue 31 Mar 2026, 02:30 CEST",
    ]
    assert preview.runs[1][0] == "2026-03-30T02:30:00+02:00"


@pytest.mark.parametrize(
    ("cron", "tz", "message"),
    [
        ("", "UTC", "Enter a cron expression"),
        ("0 3 * *", "UTC", "Not a cron expression: wrong number of fields"),
        ("61 * * * *", "UTC", "Not a cron expression: bad minute"),
        ("0 3 * * *", "Mars/Olympus", "Unknown time zone “Mars/Olympus”"),
    ],
)
def test_the_preview_says_what_is_wrong(cron, tz, message):
    preview = cron_preview(cron, tz, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert message in preview.error and preview.runs == ()


def test_the_preview_endpoint_returns_only_the_fragment(responder_browser, time_machine):
    time_machine.move_to(datetime(2026, 7, 1, 12, tzinfo=UTC), tick=False)
    response = responder_browser.get(PREVIEW, {"cron": "0 9 * * 1-5", "tz": "America/New_York"}, headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="cron-preview"') and "<html" not in page
    assert "Next runs (America/New_York)" in page
    assert page.count("<time ") == 3 and "Wed 1 Jul 2026, 09:00 EDT" in page and "Fri 3 Jul 2026, 09:00 EDT" in page


def test_the_preview_endpoint_explains_a_bad_expression_and_escapes_it(responder_browser):
    page = responder_browser.get(PREVIEW, {"cron": "<script>", "tz": "<b>"}).content.decode()
    assert 'role="alert"' in page and "Not a cron expression" in page and "<script>" not in page


def test_the_preview_is_for_responders_and_read_only(client, viewer, responder):
    anonymous = client.get(PREVIEW, {"cron": "* * * * *"})
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(viewer)
    assert client.get(PREVIEW, {"cron": "* * * * *"}).status_code == 403
    client.force_login(responder)
    assert client.post(PREVIEW, {"cron": "* * * * *"}).status_code == 405


def test_the_heartbeat_form_shows_the_preview_of_its_saved_schedule(responder_browser):
    monitor = services.create_monitor(
        name="Backup", kind="heartbeat", schedule_kind="cron", cron="0 3 * * *", tz="Asia/Tokyo"
    )
    page = responder_browser.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert "Next runs (Asia/Tokyo)" in page and "03:00 JST" in page


# --- "Test now" with unsaved values ---------------------------------------------------------------


def test_test_now_runs_the_draft_and_saves_nothing(responder_browser, target):
    response = responder_browser.post(TEST, draft(f"{target.url}/"), headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200, page
    assert page.lstrip().startswith('<div id="test-result"') and "<html" not in page
    assert 'class="badge status-up">Up</span>' in page and "HTTP 200" in page and re.search(r"in \d+ ms", page)
    assert not Monitor.objects.exists()


def test_test_now_shows_a_failure_with_its_error(responder_browser, target):
    target.mode = "failing"
    page = responder_browser.post(TEST, draft(f"{target.url}/"), headers=HTMX).content.decode()
    assert "status-down" in page and "HTTP 503 (expected 200-299)" in page


def test_test_now_checks_a_tcp_port(responder_browser, target):
    port = target.url.rsplit(":", 1)[1]
    body = {"kind": "tcp", "host": "127.0.0.1", "port": port, "interval_seconds": 60, "down_after": 2, "up_after": 1,
            "incident_severity": "SEV2"}  # fmt: skip
    page = responder_browser.post(TEST, body, headers=HTMX).content.decode()
    assert "status-up" in page and "HTTP" not in page


def test_test_now_goes_through_the_address_guard(responder_browser, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    response = responder_browser.post(TEST, draft("http://169.254.169.254/latest/meta-data/"), headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200  # htmx swaps only 2xx answers: the refusal must show in place
    assert "Fix these first: URL:" in page and "monitors may not reach it" in page


def test_test_now_uses_the_edited_values_not_the_saved_ones(responder_browser, target):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.invalid/")
    response = responder_browser.post(
        f"{TEST}?monitor={monitor.pk}", draft(f"{target.url}/", name="Shop"), headers=HTMX
    )
    assert "status-up" in response.content.decode()
    saved = Monitor.objects.get(pk=monitor.pk)
    assert (saved.url, saved.status, saved.last_checked_at) == ("https://shop.invalid/", MonitorStatus.PENDING, None)


def test_test_now_without_javascript_shows_the_whole_form_with_the_result(responder_browser, target):
    response = responder_browser.post(TEST, draft(f"{target.url}/", name="Shop front"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" in page and 'value="Shop front"' in page and "status-up" in page
    assert 'name="kind" value="http"' in page  # the picker is there too


def test_test_now_explains_invalid_values(responder_browser):
    response = responder_browser.post(TEST, draft("ftp://x", expected_statuses="2xx"), headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    # Without htmx, the same is the whole form again, as a 400.
    assert responder_browser.post(TEST, draft("ftp://x", expected_statuses="2xx")).status_code == 400
    assert "Fix these first:" in page and "URL: Enter a valid URL." in page
    assert "Expected status codes: &#x27;2xx&#x27; is not a status code or range, e.g. 200 or 200-299" in page


def test_test_now_has_nothing_to_run_for_a_heartbeat(responder_browser):
    response = responder_browser.post(TEST, {"kind": "heartbeat", "name": "x"}, headers=HTMX)
    assert response.status_code == 200
    assert "pushed by your job" in response.content.decode()


def test_test_now_needs_a_kind(responder_browser):
    response = responder_browser.post(TEST, {}, headers=HTMX)
    assert response.status_code == 200 and "Pick a kind first." in response.content.decode()
    assert responder_browser.post(TEST, {}).status_code == 400


def test_test_now_is_for_responders_and_posts_only(client, viewer, responder, target):
    anonymous = client.post(TEST, draft(f"{target.url}/"))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(viewer)
    assert client.post(TEST, draft(f"{target.url}/")).status_code == 403
    client.force_login(responder)
    assert client.get(TEST).status_code == 405


def test_test_now_needs_the_csrf_token(responder, target):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(responder)
    assert strict.post(TEST, draft(f"{target.url}/"), headers=HTMX).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_test_now_runs_outside_any_transaction(client, responder, target, monkeypatch):
    seen = []
    real = probes.check_all

    def spy(specs, **kwargs):
        seen.append((connection.in_atomic_block, [spec.timeout_seconds for spec in specs]))
        return real(specs, **kwargs)

    monkeypatch.setattr(probes, "check_all", spy)
    client.force_login(responder)
    assert client.post(TEST, draft(f"{target.url}/", timeout_seconds=""), headers=HTMX).status_code == 200
    assert seen == [(False, [10.0])]  # no open transaction; the normal (default) timeout
