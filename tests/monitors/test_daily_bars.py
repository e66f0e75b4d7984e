"""The daily uptime bars of the monitor page and of status pages come from one function
(monitors.uptime.daily_bars): the same periods give the same days in the same time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitors.models import MonitorStatus
from monitors.uptime import daily_bars
from statuspages import snapshot as snapshots
from statuspages.models import Component
from tests.factories import make_history, make_monitor, make_page

NOW = datetime(2025, 4, 2, 15, 30, tzinfo=UTC)


def test_the_monitor_page_and_a_utc_status_page_show_the_same_days(client, viewer, time_machine):
    time_machine.move_to(NOW, tick=False)
    monitor = make_monitor()
    make_history(
        monitor,
        [
            (MonitorStatus.UP, NOW - timedelta(days=5), NOW - timedelta(days=2, hours=3)),
            (MonitorStatus.DOWN, NOW - timedelta(days=2, hours=3), NOW - timedelta(days=2, hours=1)),
            (MonitorStatus.DEGRADED, NOW - timedelta(days=2, hours=1), NOW - timedelta(hours=6)),
            (MonitorStatus.UP, NOW - timedelta(hours=6), None),
        ],
    )
    page = make_page(time_zone="Etc/UTC")
    Component.objects.create(page=page, name="API").monitors.add(monitor)
    client.force_login(viewer)
    on_monitor_page = client.get(f"/monitors/{monitor.pk}/").context["bars"]
    on_status_page = snapshots.timeline(page, days=90, now=NOW)["components"][0]["days"]
    assert len(on_monitor_page) == len(on_status_page) == 90
    assert [(b["day"].date().isoformat(), b["state"], b["uptime"]) for b in on_monitor_page] == [
        (d["date"], d["state"], d["uptime"]) for d in on_status_page
    ]
    assert [b["state"] for b in on_monitor_page[-6:]] == ["up", "up", "up", "down", "degraded", "degraded"]
    assert on_monitor_page[-3]["uptime"] == round(100 * 22 / 24, 2)


def test_a_dst_day_in_the_page_zone_has_23_hours(db):
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2025, 3, 31, 12, 0, tzinfo=paris)  # clocks went forward on Sunday 30 March
    monitor = make_monitor()
    make_history(monitor, [(MonitorStatus.UP, now - timedelta(days=10), None)])
    [row] = daily_bars({"api": [monitor.pk]}, days=3, zone=paris, now=now).values()
    assert [bar.day.astimezone(paris).date().isoformat() for bar in row] == ["2025-03-29", "2025-03-30", "2025-03-31"]
    assert [bar.up_seconds / 3600 for bar in row] == [24, 23, 12]
    assert all(bar.day.astimezone(paris).hour == 0 for bar in row)
    page = make_page(time_zone="Europe/Paris")
    Component.objects.create(page=page, name="API").monitors.add(monitor)
    days = snapshots.timeline(page, days=3, now=now)["components"][0]["days"]
    assert [day["date"] for day in days] == ["2025-03-29", "2025-03-30", "2025-03-31"]
    assert [day["uptime"] for day in days] == [100.0, 100.0, 100.0]


def test_the_monitors_of_a_component_add_up(db):
    monitors = [make_monitor("a"), make_monitor("b")]
    day = datetime(2025, 4, 2, tzinfo=UTC)
    make_history(monitors[0], [(MonitorStatus.UP, day - timedelta(days=1), None)])
    make_history(monitors[1], [(MonitorStatus.DOWN, day - timedelta(days=1), None)])
    bars = daily_bars({"both": [m.pk for m in monitors]}, days=1, zone=UTC, now=day + timedelta(hours=12))
    [bar] = bars["both"]
    assert (bar.state, bar.uptime, bar.up_seconds, bar.down_seconds) == ("down", 50.0, 43200, 43200)
