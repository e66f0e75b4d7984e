import io
from datetime import timedelta

from django.utils import timezone

from monitors import demo, rollups
from monitors.models import LatencyRollup, Monitor, MonitorStatus
from monitors.scheduler import mark_late_heartbeats
from monitors.uptime import uptime


def test_seed_creates_monitors_with_90_days_of_history_and_outages(db):
    assert demo.is_empty()
    now = timezone.now()
    out = io.StringIO()
    demo.seed(now=now, stdout=out)
    assert not demo.is_empty()
    assert Monitor.objects.count() == 4 and "90 days of history" in out.getvalue()
    web = Monitor.objects.get(name="Tracepoint web")
    assert web.status == MonitorStatus.UP
    quarter = uptime(web, window="90d", now=now)
    assert 99.0 < quarter.percent < 100.0  # a few short outages
    assert web.periods.filter(status="down").count() >= 2 and web.periods.filter(status="degraded").count() == 1
    assert LatencyRollup.objects.filter(monitor=web).count() >= 90 * 8
    recent = rollups.series(web, since=now - timedelta(hours=6), until=now, resolution="minute")
    assert len(recent) >= 300
    backup = Monitor.objects.get(name="Nightly backup")
    assert backup.alert_after is not None and backup.status == MonitorStatus.UP


def test_the_demo_heartbeat_is_on_time_whatever_the_hour(db):
    from datetime import UTC, datetime

    for hour in (1, 3, 12, 23):
        Monitor.objects.all().delete()
        now = datetime(2026, 3, 10, hour, 30, tzinfo=UTC)
        demo.seed(now=now, stdout=io.StringIO())
        assert mark_late_heartbeats(now=now) == 0, hour
        assert Monitor.objects.get(name="Nightly backup").status == MonitorStatus.UP
