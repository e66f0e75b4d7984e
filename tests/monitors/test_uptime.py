"""Uptime from status periods: exact at the window edges, paused and pending time left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitors.models import Monitor, MonitorStatus, StatusPeriod
from monitors.status import set_status
from monitors.uptime import uptime, uptime_summary
from tests.factories import make_history, make_monitor
from tracepoint.errors import DomainError

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def monitor_with(*periods: tuple[str, timedelta, timedelta | None], name: str = "api") -> Monitor:
    """Periods as (status, started before NOW, ended before NOW or None for open)."""
    monitor = make_monitor(name, url="http://127.0.0.1:1/")
    make_history(
        monitor, [(status, NOW - started, (NOW - ended) if ended else None) for status, started, ended in periods]
    )
    return monitor


def test_a_short_outage_inside_the_last_day(db):
    monitor = monitor_with(
        ("up", timedelta(days=40), timedelta(hours=5)),
        ("down", timedelta(hours=5), timedelta(hours=5) - timedelta(minutes=36)),
        ("up", timedelta(hours=5) - timedelta(minutes=36), None),
    )
    day = uptime(monitor, window="24h", now=NOW)
    assert day.down_seconds == 36 * 60 and day.up_seconds == 24 * 3600 - 36 * 60
    assert day.percent == pytest.approx(97.5)
    assert uptime(monitor, window="30d", now=NOW).percent == pytest.approx(100 - 36 / (30 * 24 * 60) * 100)


def test_periods_are_clipped_at_both_window_edges(db):
    # Down from 25 h ago to 23 h ago: only the last hour of it is in the 24 h window.
    monitor = monitor_with(
        ("up", timedelta(days=3), timedelta(hours=25)),
        ("down", timedelta(hours=25), timedelta(hours=23)),
        ("up", timedelta(hours=23), None),
    )
    day = uptime(monitor, window="24h", now=NOW)
    assert (day.down_seconds, day.up_seconds) == (3600, 23 * 3600)


def test_paused_and_pending_time_count_neither_way(db):
    monitor = monitor_with(
        ("pending", timedelta(hours=24), timedelta(hours=20)),
        ("up", timedelta(hours=20), timedelta(hours=10)),
        ("paused", timedelta(hours=10), timedelta(hours=4)),
        ("down", timedelta(hours=4), timedelta(hours=2)),
        ("degraded", timedelta(hours=2), None),
    )
    day = uptime(monitor, window="24h", now=NOW)
    assert day.excluded_seconds == 10 * 3600
    assert day.percent == pytest.approx(100 * 12 / 14)


def test_no_counted_time_is_no_percentage_and_unknown_windows_are_refused(db):
    monitor = monitor_with(("pending", timedelta(hours=3), None))
    assert uptime(monitor, window="7d", now=NOW).percent is None
    with pytest.raises(DomainError):
        uptime(monitor, window="1y", now=NOW)


def test_one_open_period_per_monitor_and_a_change_closes_the_last(db):
    monitor = monitor_with(("up", timedelta(hours=2), None))
    set_status(monitor, MonitorStatus.DOWN, reason="timeout", at=NOW - timedelta(hours=1))
    assert set_status(monitor, MonitorStatus.DOWN, reason="again", at=NOW) is False  # no new row
    periods = list(StatusPeriod.objects.filter(monitor=monitor))
    assert [(p.status, p.ended_at) for p in periods] == [("up", NOW - timedelta(hours=1)), ("down", None)]


def test_the_summary_lists_every_monitor_worst_first_and_no_data_last(db):
    monitor_with(("up", timedelta(days=2), None), name="b-steady")
    monitor_with(("pending", timedelta(hours=3), None), name="a-new")
    monitor_with(
        ("up", timedelta(days=2), timedelta(hours=3)),
        ("down", timedelta(hours=3), timedelta(hours=2)),
        ("up", timedelta(hours=2), None),
        name="c-flaky",
    )
    monitor_with(("up", timedelta(days=2), None), name="a-steady")

    for chunk in (500, 1):  # one uptimes() call, or one per monitor: the same answer
        rows = uptime_summary(window="24h", now=NOW, chunk=chunk)
        assert [(row.name, row.percent) for row in rows] == [
            ("c-flaky", pytest.approx(100 * 23 / 24)),
            ("a-steady", 100.0),
            ("b-steady", 100.0),
            ("a-new", None),
        ]
    # It existed for two days of the week: the time before counts neither way.
    assert uptime_summary(window="7d", now=NOW)[0].percent == pytest.approx(100 * 47 / 48)
    with pytest.raises(DomainError):
        uptime_summary(window="1y", now=NOW)
