"""A monitor's page shows its settings as a sentence, with an Edit button for responders."""

from __future__ import annotations

import pytest

from monitors import services
from monitors.summary import duration, summarize


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10, "10 s"),
        (60, "60 s"),
        (90, "90 s"),
        (300, "5 min"),
        (7200, "2 h"),
        (86400, "1 day"),
        (172800, "2 days"),
        (3601, "3601 s"),
    ],
)
def test_durations_read_in_the_largest_exact_unit(seconds, text):
    assert duration(seconds) == text


def test_an_http_monitor_in_one_sentence(db):
    monitor = services.create_monitor(
        name="Shop", kind="http", url="https://shop.example/health", expected_statuses="200-299", keyword="ok",
        degraded_after_ms=800, headers={"Authorization": "secret"}, open_incident=True, service="shop",
    )  # fmt: skip
    summary = summarize(monitor)
    assert summary.headline == (
        "GET https://shop.example/health every 60 s, timeout 10 s, expects 200\u2013299, alerts after 2 failures"
    )
    assert summary.details == [
        "The response must contain “ok”.",
        "Sends 1 extra header.",
        "Follows redirects.",
        "Degraded when the TLS certificate expires within 14 days.",
        "Degraded when slower than 800 ms.",
        "Up again after 1 good check in a row.",
        "Opens a SEV2 incident of service “shop” when it goes down.",
    ]
    assert "secret" not in " ".join(summary.details)  # header values may be credentials


def test_tcp_and_heartbeat_monitors_in_one_sentence(db):
    tcp = services.create_monitor(
        name="db", kind="tcp", host="db.example", port=5432, interval_seconds=30, down_after=1
    )
    assert (
        summarize(tcp).headline == "TCP connection to db.example:5432 every 30 s, timeout 10 s, alerts after 1 failure"
    )
    cron = services.create_monitor(
        name="b", kind="heartbeat", schedule_kind="cron", cron="0 3 * * *", tz="Europe/Paris"
    )
    assert (
        summarize(cron).headline
        == "Expects a ping on the cron schedule “0 3 * * *” (Europe/Paris), down when one is 1 h late"
    )
    simple = services.create_monitor(
        name="q", kind="heartbeat", period_seconds=300, grace_seconds=120, manual_resume=True
    )
    assert summarize(simple).headline == "Expects a ping every 5 min, down when one is 2 min late"
    assert summarize(simple).details == ["Once paused, it ignores pings until resumed by hand.", "Opens no incident."]


def test_the_page_shows_the_summary_and_responders_get_an_edit_button(client, responder):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/", keyword="<b>ok</b>")
    client.force_login(responder)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert '<p class="summary-headline" id="monitor-summary">GET https://shop.example/ every 60 s' in page
    assert "“&lt;b&gt;ok&lt;/b&gt;”" in page and "<b>ok</b>" not in page
    assert f'<a class="button" href="/monitors/{monitor.pk}/edit/">Edit</a>' in page
    assert f'<form method="post" action="/monitors/{monitor.pk}/edit/"' not in page  # no open form any more


def test_viewers_read_the_summary_without_an_edit_button(client, viewer):
    monitor = services.create_monitor(name="Shop", kind="http", url="https://shop.example/")
    client.force_login(viewer)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert 'id="monitor-summary"' in page and f"/monitors/{monitor.pk}/edit/" not in page
