"""Everything that grows has a retention, run by beat, and the README names each one's setting."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from events import keys, retention, stream
from events.models import IssueActivity
from tests.factories import make_event
from tests.helpers import ingest

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

# What grows, the setting that bounds it, and the periodic task that applies it ("" where the bound
# is applied as rows are written, or by Redis itself).
RETENTION = {
    "error events": ("EVENTS_RETENTION_DAYS", "events.delete_old_events"),
    "issue activity": ("ISSUE_ACTIVITY_RETENTION_DAYS", "events.delete_old_activity"),
    "monitor periods and rollups": ("MONITOR_RETENTION_DAYS", "monitors.trim_rollups"),
    "heartbeat ping log": ("PING_LOG_KEPT", ""),
    "notification deliveries": ("DELIVERY_RETENTION_DAYS", "notifications.delete_old_deliveries"),
    "idempotency keys": ("IDEMPOTENCY_KEY_TTL_HOURS", "incidents.purge_idempotency_keys"),
    "rate-limit counters": ("RATE_LIMIT_AUTH", "tracepoint.purge_rate_limit_counters"),
    "live stream entries": ("LIVE_STREAM_MAXLEN", ""),
    "login sessions": ("SESSION_COOKIE_AGE", "tracepoint.purge_expired_sessions"),
}


@pytest.mark.parametrize("what", sorted(RETENTION))
def test_each_retention_has_its_setting_its_task_and_its_line_in_the_readme(what):
    setting, task = RETENTION[what]
    known = setting in settings.TRACEPOINT or hasattr(settings, setting)
    if setting == "RATE_LIMIT_AUTH":  # read into TRACEPOINT["RATE_LIMITS"]["auth"]
        known = "auth" in settings.TRACEPOINT["RATE_LIMITS"]
    assert known, setting
    if task:
        assert task in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}, task
    retention = (ROOT / "README.md").read_text().split("### Retention", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"\| {re.escape(what)} \|[^\n]*`{setting}`", retention, re.IGNORECASE), what


def test_old_issue_activity_is_deleted_and_recent_activity_kept(project, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "ISSUE_ACTIVITY_RETENTION_DAYS": 30}
    ingest(
        project,
        make_event(at=NOW - timedelta(days=40), value="old"),
        make_event(at=NOW - timedelta(days=1), value="new"),
        now=NOW,
        each_when_it_happens=True,
    )
    IssueActivity.objects.filter(issue__title__contains="old").update(created_at=NOW - timedelta(days=40))
    IssueActivity.objects.filter(issue__title__contains="new").update(created_at=NOW - timedelta(days=29))
    assert IssueActivity.objects.count() == 2

    assert retention.delete_old_activity(now=NOW, batch_size=1) == 1
    assert [a.issue.title for a in IssueActivity.objects.all()] == ["LookupError: new"]


def test_expired_sessions_are_purged_and_live_ones_kept(db):
    from tracepoint.tasks import purge_expired_sessions

    live = SessionStore()
    live["n"] = 1
    live.create()
    expired = SessionStore()
    expired["n"] = 2
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=datetime(2020, 1, 1, tzinfo=UTC))

    purge_expired_sessions()
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


@pytest.mark.skipif(not settings.REDIS_URL, reason="live streams live in Redis")
def test_a_live_stream_keeps_about_its_maximum_length(settings):
    from tracepoint import redis

    settings.TRACEPOINT = {**settings.TRACEPOINT, "LIVE_STREAM_MAXLEN": 100}
    for n in range(1000):
        stream.publish(424242, "issue", {"n": n})
    # MAXLEN ~ trims whole macro nodes (100 entries each): never far above the bound.
    length = redis.client().xlen(stream.channel(424242))
    assert 100 <= length <= 200, length


def test_gunicorn_removes_the_metrics_folders_of_masters_that_are_gone(tmp_path):
    from tracepoint.gunicorn_conf import _remove_dead_metrics_dirs

    dead = 2**22 + 12345  # above Linux's pid_max default: no such process
    (tmp_path / f"metrics-{dead}").mkdir()
    (tmp_path / f"metrics-{dead}" / "counter_1.db").write_bytes(b"x")
    (tmp_path / f"metrics-{os.getppid()}").mkdir()  # a live master's
    (tmp_path / "metrics-other").mkdir()
    _remove_dead_metrics_dirs(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"metrics-{os.getppid()}", "metrics-other"])


@pytest.fixture
def project(db):
    return keys.create_project(name="Shop", slug="shop", services=["checkout", "api"])
