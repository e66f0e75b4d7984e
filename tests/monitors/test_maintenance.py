"""Maintenance: monitors keep checking but change nothing and alert nobody; the time is left out of uptime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incidents.models import Incident
from monitors import rollups, services
from monitors.models import MonitorStatus, StatusPeriod
from monitors.ping import record_ping
from monitors.probes import CheckResult
from monitors.scheduler import mark_late_heartbeats, record_result
from monitors.uptime import uptime
from tests.factories import make_heartbeat, make_monitor
from tests.notifications.factories import make_email_channel
from tracepoint.notifications.models import Delivery

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
DOWN = CheckResult("down", None, "connection refused")
UP = CheckResult("up", 20)


def test_failures_during_maintenance_change_nothing_and_alert_nobody(db):
    make_email_channel(topics=["monitor.*"])
    api = make_monitor("Checkout API", open_incident=True)
    record_result(api.pk, UP, now=T0)
    assert services.begin_maintenance([api.pk], now=T0 + timedelta(hours=1), reason="database upgrade") == 1
    for minute in range(1, 4):
        assert not record_result(api.pk, DOWN, now=T0 + timedelta(hours=1, minutes=minute))
    api.refresh_from_db()
    assert api.status == MonitorStatus.MAINTENANCE and api.last_error == "connection refused"
    assert not Delivery.objects.exists() and not Incident.objects.exists()
    # The checks still count in the latency history.
    points = rollups.series(api, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2), resolution="minute")
    assert sum(point["failures"] for point in points) == 3
    period = StatusPeriod.objects.get(monitor=api, status=MonitorStatus.MAINTENANCE)
    assert period.reason == "database upgrade"


def test_after_maintenance_the_next_results_decide_and_alert(db):
    make_email_channel(topics=["monitor.*"])
    api = make_monitor("Checkout API", open_incident=True)
    record_result(api.pk, UP, now=T0)
    services.begin_maintenance([api.pk], now=T0 + timedelta(hours=1))
    assert services.end_maintenance([api.pk], now=T0 + timedelta(hours=2)) == 1
    api.refresh_from_db()
    assert api.status == MonitorStatus.PENDING and api.next_check_at == T0 + timedelta(hours=2)
    assert not Delivery.objects.exists()  # entering and leaving maintenance is not news
    record_result(api.pk, DOWN, now=T0 + timedelta(hours=2, minutes=1))  # still broken afterwards
    assert [d.topic for d in Delivery.objects.all()] == ["monitor.down"]
    assert Incident.objects.count() == 1


def test_uptime_leaves_maintenance_out_like_paused_time(db):
    api = make_monitor("Checkout API")
    record_result(api.pk, UP, now=T0)
    services.begin_maintenance([api.pk], now=T0 + timedelta(hours=10))
    record_result(api.pk, DOWN, now=T0 + timedelta(hours=11))  # ignored
    services.end_maintenance([api.pk], now=T0 + timedelta(hours=12))
    record_result(api.pk, UP, now=T0 + timedelta(hours=12))
    record_result(api.pk, DOWN, now=T0 + timedelta(hours=23))
    day = uptime(api, window="24h", now=T0 + timedelta(hours=24))
    assert day.excluded_seconds == pytest.approx(2 * 3600)
    assert day.down_seconds == pytest.approx(3600) and day.up_seconds == pytest.approx(21 * 3600)
    assert day.percent == pytest.approx(100 * 21 / 22, abs=1e-3)


def test_a_heartbeat_in_maintenance_is_never_late_and_its_pings_are_only_logged(db):
    make_email_channel(topics=["monitor.*"])
    job = make_heartbeat("nightly backup", grace_seconds=60)
    record_ping(job.ping_key, now=T0)
    services.begin_maintenance([job.pk], now=T0 + timedelta(minutes=30))
    assert mark_late_heartbeats(now=T0 + timedelta(hours=5)) == 0
    failed = record_ping(job.ping_key, action="fail", now=T0 + timedelta(hours=5, minutes=1))
    assert failed.kind == "fail"
    job.refresh_from_db()
    assert job.status == MonitorStatus.MAINTENANCE and not Delivery.objects.exists()


def test_paused_monitors_stay_paused_through_maintenance(db):
    api = make_monitor("Checkout API")
    services.pause(api.pk, now=T0)
    assert services.begin_maintenance([api.pk], now=T0 + timedelta(hours=1)) == 0
    assert services.end_maintenance([api.pk], now=T0 + timedelta(hours=2)) == 0
    api.refresh_from_db()
    assert api.status == MonitorStatus.PAUSED
