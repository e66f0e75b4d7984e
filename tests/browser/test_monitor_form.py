"""The monitor form in a real browser: the kind first (htmx swaps in that kind's fieldsets), "Test now" with
unsaved values, the saved monitor's page in words; a heartbeat's cron preview updating as one types."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from monitors.models import Monitor
from tests.factories import make_user
from tests.helpers import Target, keep_screenshot, login

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_a_responder_creates_an_http_monitor_by_choosing_its_kind(live_server, page, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    target = Target()
    try:
        make_user("responder", username="rita")
        base = live_server.url
        login(page, base, "rita")
        page.goto(f"{base}/monitors/")
        page.get_by_role("link", name="New monitor").click()
        page.get_by_role("heading", level=1, name="New monitor").wait_for()
        assert page.get_by_role("textbox", name="URL", exact=True).count() == 0  # nothing but the kind, at first
        keep_screenshot(page, "monitor_kind")

        page.evaluate("window.notReloaded = true")
        page.get_by_role("radio", name=re.compile(r"^HTTP\(S\):")).check()
        page.get_by_role("textbox", name="URL", exact=True).wait_for()
        assert page.evaluate("window.notReloaded") is True  # htmx swapped the fieldsets in place
        assert page.url.endswith("/monitors/new/?kind=http")
        legends = page.locator("fieldset.group > legend").all_inner_texts()
        assert legends == ["Request", "Assertions", "Schedule", "Locations", "Alerting"]
        assert page.get_by_label("Down when this many fail").count() == 0  # no probe location exists yet
        for other in ("Host", "Port", "Cron expression", "Grace period (seconds)"):
            assert page.get_by_label(other, exact=True).count() == 0, other
        assert page.get_by_label("Check every (seconds)").input_value() == "60"
        assert page.get_by_label("Expected status codes").input_value() == "200-399"

        page.get_by_role("textbox", name="Name", exact=True).fill("Shop front")
        page.get_by_role("textbox", name="URL", exact=True).fill(f"{target.url}/")
        page.get_by_label("Expected status codes").fill("200-299")
        page.get_by_role("button", name="Test now").click()
        result = page.locator("#test-result")
        result.get_by_text("HTTP 200").wait_for()
        assert "Up" in result.inner_text()
        assert Monitor.objects.count() == 0  # the test saved nothing
        keep_screenshot(page, "monitor_form_http")

        page.get_by_role("button", name="Create monitor").click()
        page.get_by_role("heading", level=1, name="Shop front").wait_for()
        monitor = Monitor.objects.get()
        assert page.url == f"{base}/monitors/{monitor.pk}/"
        summary = page.locator("#monitor-summary").inner_text()
        assert summary == f"GET {target.url}/ every 60 s, timeout 10 s, expects 200\u2013299, alerts after 2 failures"
        assert page.get_by_role("textbox").count() == 0  # a summary, not an open form
        keep_screenshot(page, "monitor_detail_summary")

        page.get_by_role("link", name="Edit").click()
        page.get_by_role("heading", level=1, name="Edit “Shop front”").wait_for()
        assert page.get_by_role("textbox", name="URL", exact=True).input_value() == f"{target.url}/"
        assert page.get_by_label("Host", exact=True).count() == 0
    finally:
        target.close()


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_shows_its_next_cron_runs_as_one_types(live_server, page):
    make_user("responder", username="rita")
    base = live_server.url
    login(page, base, "rita")
    page.goto(f"{base}/monitors/new/")
    page.get_by_role("radio", name=re.compile(r"^Heartbeat")).check()
    page.get_by_role("textbox", name="Cron expression").wait_for()
    assert page.get_by_role("button", name="Test now").count() == 0  # pushed, not run
    assert page.get_by_role("textbox", name="URL", exact=True).count() == 0

    page.get_by_role("textbox", name="Name", exact=True).fill("Nightly backup")
    page.get_by_role("radio", name="On a cron schedule").check()
    preview = page.locator("#cron-preview")
    cron = page.get_by_role("textbox", name="Cron expression")
    cron.fill("")
    cron.press_sequentially("0 3 * * *", delay=20)
    times = preview.locator("time")
    expect(times.last).to_contain_text("03:00 UTC")  # the default "* * * * *" ran every minute
    expect(preview.get_by_text("Next runs (UTC):")).to_be_visible()
    assert times.count() == 3 and all(text.endswith("03:00 UTC") for text in times.all_inner_texts())

    page.get_by_label("Time zone").select_option("Europe/Paris")
    preview.get_by_text("Next runs (Europe/Paris):").wait_for()
    assert all(re.search(r"03:00 CES?T$", text) for text in times.all_inner_texts())

    cron.fill("0 25 * * *")
    preview.get_by_text("Not a cron expression: bad hour").wait_for()
    assert times.count() == 0
    cron.fill("30 6 * * 1-5")
    expect(times.first).to_contain_text("06:30 CE")
    assert times.count() == 3
    keep_screenshot(page, "monitor_form_heartbeat")

    page.get_by_role("button", name="Create monitor").click()
    page.get_by_role("heading", level=1, name="Nightly backup").wait_for()
    monitor = Monitor.objects.get()
    assert (monitor.kind, monitor.schedule_kind, monitor.cron, monitor.tz) == (
        "heartbeat",
        "cron",
        "30 6 * * 1-5",
        "Europe/Paris",
    )
    assert "cron schedule “30 6 * * 1-5” (Europe/Paris)" in page.locator("#monitor-summary").inner_text()


@pytest.mark.django_db(transaction=True)
def test_a_responder_creates_a_dns_monitor_and_its_page_shows_the_answers(live_server, page, settings):
    from monitors import scheduler
    from tests.monitors.test_check_dns import ZONE, DnsServer

    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    server = DnsServer(ZONE)
    try:
        make_user("responder", username="rita")
        base = live_server.url
        login(page, base, "rita")
        page.goto(f"{base}/monitors/new/")
        kinds = page.get_by_role("radio").evaluate_all("radios => radios.map(radio => radio.value)")
        assert {"dns", "ping", "tls", "domain"} <= set(kinds)
        page.get_by_role("radio", name=re.compile(r"^DNS record")).check()
        page.get_by_label("Record type").wait_for()
        for other in ("URL", "Cron expression", "Expected status codes", "Packets per check"):
            assert page.get_by_label(other, exact=True).count() == 0, other
        page.get_by_role("textbox", name="Name", exact=True).fill("Mail exchangers")
        page.get_by_role("textbox", name="Name to look up").fill("example.test")
        page.get_by_label("Record type").select_option("MX")
        page.get_by_role("textbox", name="Resolver").fill(server.address)
        page.get_by_role("textbox", name="Expected values").fill("mail.example.test")
        page.get_by_role("button", name="Test now").click()
        result = page.locator("#test-result")
        expect(result).to_contain_text("Up")
        keep_screenshot(page, "monitor_form_dns")

        page.get_by_role("button", name="Create monitor").click()
        page.get_by_role("heading", level=1, name="Mail exchangers").wait_for()
        monitor = Monitor.objects.get()
        assert (monitor.kind, monitor.host, monitor.dns_record_type, monitor.dns_resolver) == (
            "dns",
            "example.test",
            "MX",
            server.address,
        )
        scheduler.check_now(monitor.pk)
        page.reload()
        page.get_by_text("backup.example.test").first.wait_for()
        assert "10 mail.example.test" in page.content().lower()
        assert "None" not in page.locator("p.badges").inner_text()  # a DNS monitor has no port
        keep_screenshot(page, "monitor_detail_dns")
    finally:
        server.close()
