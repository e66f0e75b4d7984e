"""Monitor pages: list, detail (bars, chart, periods, incidents, ping snippets), create, edit, actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitors import services
from monitors.models import Monitor, MonitorStatus
from monitors.ping import record_ping
from monitors.probes import CheckResult
from monitors.scheduler import record_result
from tests.helpers import Target


@pytest.fixture
def allow_private(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


def test_the_list_shows_status_uptime_and_latency(client, viewer):
    monitor = services.create_monitor(name="Shop <front>", kind="http", url="https://shop.example/", down_after=1)
    record_result(monitor.pk, CheckResult("up", 42), now=timezone.now() - timedelta(minutes=5))
    client.force_login(viewer)
    page = client.get("/monitors/").content.decode()
    assert "Shop &lt;front&gt;" in page and "<front>" not in page
    assert "status-up" in page and "42 ms" in page and 'class="sparkline"' in page
    assert "New monitor" not in page  # viewers do not create


def test_the_list_costs_the_same_queries_for_3_monitors_as_for_25(client, viewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_list() -> int:
        client.force_login(viewer)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/monitors/").status_code == 200
        return len(queries)

    def add(n: int) -> None:
        for index in range(n):
            monitor = services.create_monitor(name=f"site {index}", kind="tcp", host="db.example", port=5432)
            record_result(monitor.pk, CheckResult("up", 5 + index), now=timezone.now() - timedelta(hours=2))

    add(3)
    few = queries_for_list()
    add(22)
    assert queries_for_list() == few


def test_the_detail_page_draws_90_daily_bars_the_chart_and_the_periods(client, viewer):
    monitor = services.create_monitor(name="API", kind="http", url="https://api.example/", down_after=1)
    now = timezone.now()
    record_result(monitor.pk, CheckResult("up", 30), now=now - timedelta(minutes=20))
    record_result(monitor.pk, CheckResult("down", None, "HTTP 502 (expected 200-399)"), now=now - timedelta(minutes=10))
    client.force_login(viewer)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert page.count('<rect class="bar-') == 90
    assert 'class="bar-down"' in page
    assert "HTTP 502 (expected 200-399)" in page
    assert 'class="latency-chart"' in page and 'class="failure-mark"' in page
    assert "Settings" not in page  # no edit form for viewers


def test_a_heartbeat_page_shows_its_ping_url_with_snippets(client, viewer, settings):
    monitor = services.create_monitor(name="Backup", kind="heartbeat", schedule_kind="cron", cron="0 3 * * *")
    record_ping(monitor.ping_key, body=b"", now=timezone.now())
    client.force_login(viewer)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    url = f"{settings.TRACEPOINT['BASE_URL'].rstrip('/')}/ping/{monitor.ping_key}"
    assert f'<code id="ping-url">{url}</code>' in page
    assert f"{url}/start" in page and "0 3 * * * /usr/local/bin/backup.sh" in page
    assert "Recent pings" in page


def test_responders_create_edit_test_and_pause(client, responder, allow_private):
    target = Target()
    try:
        client.force_login(responder)
        response = client.post(
            "/monitors/new/",
            {
                "name": "Local",
                "kind": "http",
                "url": target.url,
                "method": "GET",
                "expected_statuses": "200-399",
                "interval_seconds": 60,
                "timeout_seconds": 5,
                "down_after": 2,
                "up_after": 1,
                "tls_expiry_days": 14,
                "schedule_kind": "simple",
                "period_seconds": 86400,
                "cron": "* * * * *",
                "tz": "UTC",
                "grace_seconds": 3600,
                "incident_severity": "SEV2",
                "headers": "{}",
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        monitor = Monitor.objects.get(name="Local")
        assert client.post(f"/monitors/{monitor.pk}/test/", follow=True).status_code == 200
        assert Monitor.objects.get(pk=monitor.pk).status == MonitorStatus.UP
        bad = client.post(f"/monitors/{monitor.pk}/edit/", {"name": "Local", "kind": "http", "url": "ftp://x"})
        assert bad.status_code == 400
        client.post(f"/monitors/{monitor.pk}/pause/")
        assert Monitor.objects.get(pk=monitor.pk).status == MonitorStatus.PAUSED
    finally:
        target.close()


def test_viewers_cannot_change_monitors(client, viewer):
    monitor = services.create_monitor(name="API", kind="http", url="https://api.example/")
    client.force_login(viewer)
    assert client.post(f"/monitors/{monitor.pk}/pause/").status_code == 403
    assert client.get("/monitors/new/").status_code == 403
    assert client.get("/monitors/").status_code == 200


def test_each_action_has_its_own_url_name_on_the_old_path():
    assert reverse("monitors:pause", args=[7]) == "/monitors/7/pause/"
    assert reverse("monitors:resume", args=[7]) == "/monitors/7/resume/"
    assert reverse("monitors:check_now", args=[7]) == "/monitors/7/test/"


def test_responders_resume_a_paused_monitor(client, responder):
    monitor = services.create_monitor(name="API", kind="http", url="https://api.example/")
    services.pause(monitor.pk)
    client.force_login(responder)
    response = client.post(f"/monitors/{monitor.pk}/resume/")
    assert response.status_code == 302 and response["Location"] == f"/monitors/{monitor.pk}/"
    assert Monitor.objects.get(pk=monitor.pk).status != MonitorStatus.PAUSED
    assert client.get(f"/monitors/{monitor.pk}/resume/").status_code == 405


def test_a_heartbeat_monitor_is_not_tested_and_the_page_says_why(client, responder):
    monitor = services.create_monitor(name="Backup", kind="heartbeat")
    client.force_login(responder)
    page = client.post(f"/monitors/{monitor.pk}/test/", follow=True).content.decode()
    assert "nothing to test" in page
    assert Monitor.objects.get(pk=monitor.pk).status == MonitorStatus.PENDING


def test_an_unknown_action_is_not_found(client, responder):
    monitor = services.create_monitor(name="API", kind="http", url="https://api.example/")
    client.force_login(responder)
    assert client.post(f"/monitors/{monitor.pk}/explode/").status_code == 404


def test_anonymous_users_are_sent_to_the_login(client, db):
    assert client.get("/monitors/").status_code == 302


def test_the_overview_counts_monitors_and_lists_the_failing_ones(client, viewer):
    ok = services.create_monitor(name="Fine", kind="http", url="https://fine.example/", down_after=1)
    bad = services.create_monitor(name="Broken <api>", kind="http", url="https://broken.example/", down_after=1)
    record_result(ok.pk, CheckResult("up", 10))
    record_result(bad.pk, CheckResult("down", None, "HTTP 500 (expected 200-399)"))
    client.force_login(viewer)
    page = client.get("/").content.decode()
    section = page[page.index('id="ov-monitors"') :]
    assert 'id="monitor-counts"' in section and "Broken &lt;api&gt;" in section
    card = section.split("</section>")[0]
    assert "HTTP 500 (expected 200-399)" in card and "Fine" not in card  # only the failing ones are listed


# --- the list at scale: cached uptime, filters, sort orders, pages -------------------------------


def test_the_list_reads_the_uptime_beat_cached_and_computes_it_only_for_new_monitors(client, viewer):

    old = services.create_monitor(name="old", kind="tcp", host="db.example", port=5432)
    record_result(old.pk, CheckResult("up", 5), now=timezone.now() - timedelta(hours=2))
    from monitors import tasks

    assert tasks.refresh_uptime() == 1  # what beat runs every five minutes
    old.refresh_from_db()
    assert old.uptime_24h == 100.0 and old.uptime_refreshed_at is not None
    Monitor.objects.filter(pk=old.pk).update(uptime_24h=12.5, uptime_30d=50.0)  # what the list shows is the column
    new = services.create_monitor(name="new", kind="tcp", host="db.example", port=5433)
    record_result(new.pk, CheckResult("up", 5), now=timezone.now() - timedelta(hours=1))
    client.force_login(viewer)
    page = client.get("/monitors/").content.decode()
    assert "12.50 %" in page and "50 %" in page
    assert page.count("100 %") == 2  # the new monitor's 24 h and 30 d, computed live


def test_the_list_filters_by_name_status_and_kind_and_sorts_worst_first(client, viewer):
    for name, status in (("alpha", "up"), ("beta", "down"), ("gamma", "degraded"), ("delta", "up")):
        monitor = services.create_monitor(name=name, kind="tcp", host="db.example", port=5432)
        Monitor.objects.filter(pk=monitor.pk).update(status=status)
    services.create_monitor(name="cron", kind="heartbeat")
    client.force_login(viewer)

    def names(query: str) -> list[str]:
        html = client.get(f"/monitors/?{query}").content.decode()
        return [name for name in ("alpha", "beta", "gamma", "delta", "cron") if f">{name}</a>" in html]

    assert names("q=ta") == ["beta", "delta"]
    assert names("status=down&status=degraded") == ["beta", "gamma"]
    assert names("kind=heartbeat") == ["cron"]
    html = client.get("/monitors/?sort=status").content.decode()
    order = sorted(("alpha", "beta", "gamma", "delta"), key=lambda name: html.index(f">{name}</a>"))
    assert order == ["beta", "gamma", "alpha", "delta"]
    counts = client.get("/monitors/").content.decode()
    assert 'value="down"' in counts and 'Down <span class="muted">1</span>' in counts
    bad = client.get("/monitors/?status=exploded&sort=nope")
    assert bad.status_code == 200 and "Some filters are not valid" in bad.content.decode()


def test_the_list_pages_by_25_and_htmx_gets_only_the_table(client, viewer):
    Monitor.objects.bulk_create(
        [Monitor(name=f"site {index:03}", kind="tcp", host="db.example", port=5432) for index in range(30)]
    )
    client.force_login(viewer)
    first = client.get("/monitors/?sort=name").content.decode()
    assert "site 024" in first and "site 025" not in first and "Page 1 of 2" in first
    second = client.get("/monitors/?sort=name&page=2", headers={"HX-Request": "true"})
    html = second.content.decode()
    assert "site 025" in html and "site 029" in html and "site 000" not in html
    assert "<html" not in html and 'id="monitor-table"' in html and "page=1" in html and "sort=name" in html


def test_an_edit_writes_only_the_settings_and_keeps_what_checks_moved_meanwhile(client, responder):
    monitor = services.create_monitor(name="db", kind="tcp", host="db.example", port=5432)
    client.force_login(responder)
    form = client.get(f"/monitors/{monitor.pk}/edit/")
    assert form.status_code == 200
    # Meanwhile a round opens and checks count (as probes and the scheduler do, under the row's lock).
    now = timezone.now()
    Monitor.objects.filter(pk=monitor.pk).update(
        round_at=now, round_answers=2, streak_status="down", streak_count=7, status="down"
    )
    saved = client.post(
        f"/monitors/{monitor.pk}/edit/",
        {"name": "db primary", "host": "db.example", "port": 5433, "interval_seconds": 60, "down_after": 2,
         "up_after": 1, "incident_severity": "SEV3"},
    )  # fmt: skip
    assert saved.status_code == 302
    monitor.refresh_from_db()
    assert (monitor.name, monitor.port) == ("db primary", 5433)
    assert (monitor.round_at, monitor.round_answers, monitor.streak_count, monitor.status) == (now, 2, 7, "down")


def test_an_api_edit_keeps_the_round_and_the_streak(responder_client, db):
    monitor = services.create_monitor(name="db", kind="tcp", host="db.example", port=5432)
    now = timezone.now()
    Monitor.objects.filter(pk=monitor.pk).update(round_at=now, round_answers=1, streak_count=4)
    patched = responder_client.patch(f"/api/v1/monitors/{monitor.pk}", {"port": 6432}, format="json")
    assert patched.status_code == 200 and patched.json()["port"] == 6432
    monitor.refresh_from_db()
    assert (monitor.port, monitor.round_at, monitor.round_answers, monitor.streak_count) == (6432, now, 1, 4)
