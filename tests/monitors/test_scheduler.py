"""The scheduler's active checks (monitors.scheduler): anti-flapping, claiming due monitors, a tick and its lag."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from monitors.locations import decide
from monitors.models import (
    LatencyRollup,
    LocationResult,
    Monitor,
    MonitorKind,
    MonitorStatus,
    ProbeLocation,
    StatusPeriod,
)
from monitors.probes import CheckResult
from monitors.scheduler import claim_due, lag_histogram, record_result, run_due_checks
from tests.factories import make_heartbeat, make_monitor

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_down_needs_two_agreeing_results_and_up_one(db):
    monitor = make_monitor("site", url="http://127.0.0.1:1/", next_check_at=T0, down_after=2)
    down = CheckResult("down", None, "HTTP 503")
    up = CheckResult("up", 12)
    assert record_result(monitor.pk, up, now=T0) is True  # pending → up at once
    assert record_result(monitor.pk, down, now=T0 + timedelta(minutes=1)) is False  # one failure: a blip
    assert record_result(monitor.pk, up, now=T0 + timedelta(minutes=2)) is False
    assert record_result(monitor.pk, down, now=T0 + timedelta(minutes=3)) is False
    assert record_result(monitor.pk, down, now=T0 + timedelta(minutes=4)) is True
    monitor.refresh_from_db()
    assert (monitor.status, monitor.last_error) == ("down", "HTTP 503")
    assert [p.status for p in StatusPeriod.objects.filter(monitor=monitor)] == ["up", "down"]


def test_a_tick_checks_due_monitors_and_records_their_results(target, db):
    monitor = make_monitor("site", url=target.url, next_check_at=T0, up_after=1)
    later = make_monitor("later", url=target.url, next_check_at=T0 + timedelta(hours=1))
    assert run_due_checks(now=T0) == 1
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP and monitor.last_latency_ms is not None
    assert monitor.next_check_at == T0 + timedelta(seconds=60)
    assert Monitor.objects.get(pk=later.pk).status == MonitorStatus.PENDING


def test_paused_monitors_and_heartbeats_are_not_claimed(db):
    make_monitor("site", url="http://127.0.0.1:1/", next_check_at=T0, status=MonitorStatus.PAUSED)
    make_heartbeat("job", next_check_at=T0)
    assert claim_due(now=T0) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a race needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_claim_one_monitor_twice():
    for n in range(40):
        make_monitor(f"m{n}", url="http://127.0.0.1:1/", next_check_at=T0)
    claimed: list[list[int]] = []
    start = threading.Barrier(2)

    def worker():
        try:
            start.wait()
            claimed.append([m.pk for m in claim_due(now=T0, limit=30)])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = claimed
    assert not set(first) & set(second)
    assert len(first) + len(second) == 40


def test_a_tick_logs_its_schedule_lag(target, db, caplog):
    caplog.set_level("INFO", logger="tracepoint.monitors")
    make_monitor("site", url=target.url, next_check_at=T0)
    make_monitor("late", url=target.url, next_check_at=T0 - timedelta(seconds=4))
    run_due_checks(now=T0 + timedelta(seconds=1))
    [record] = [r for r in caplog.records if r.name == "tracepoint.monitors"]
    assert record.checks == 2
    assert sum(record.lag_histogram.values()) == 2
    assert lag_histogram([0.2, 4.0, 45.0, 100.0]) == {
        "le_0.5": 1,
        "le_1": 0,
        "le_2": 0,
        "le_3": 0,
        "le_5": 1,
        "le_10": 0,
        "le_30": 0,
        "le_60": 1,
        "inf": 1,
    }


def test_a_batch_recorded_twice_with_the_same_time_counts_once(db):
    from monitors.scheduler import record_results

    monitor = make_monitor("twice", down_after=3)
    at = T0
    failed = {monitor.pk: CheckResult("down", None, "refused")}
    record_results(failed, now=at)
    record_results(failed, now=at)  # a retried task: the same decisions, the same time
    monitor.refresh_from_db()
    assert monitor.streak_status == "down" and monitor.streak_count == 1
    record_results(failed, now=at + timedelta(seconds=60))
    monitor.refresh_from_db()
    assert monitor.streak_count == 2


# --- inconclusive results (PENDING: the check could not tell, e.g. a failed domain lookup) ----------


def _checks_counted(monitor: Monitor) -> int:
    return sum(hour[0] for rollup in LatencyRollup.objects.filter(monitor=monitor) for hour in rollup.hours.values())


def test_an_inconclusive_result_is_the_last_check_but_changes_no_status_no_streak_and_no_uptime(db):
    monitor = make_monitor("domain", kind=MonitorKind.DOMAIN, url="", host="shop.test", down_after=2)
    up = CheckResult("up", 30, "", None, {"domain": "shop.test", "expires_at": "2027-06-01T00:00:00+00:00"})
    down = CheckResult("down", None, "shop.test expired on 2026-03-01", None, {"domain": "shop.test"})
    failed = CheckResult("pending", None, "rdap.example answered HTTP 429", None, {"domain": "shop.test"})
    assert record_result(monitor.pk, up, now=T0) is True
    assert record_result(monitor.pk, down, now=T0 + timedelta(days=1)) is False
    assert record_result(monitor.pk, failed, now=T0 + timedelta(days=1, hours=1)) is False
    monitor.refresh_from_db()
    assert (monitor.status, monitor.streak_status, monitor.streak_count) == ("up", "down", 1)
    assert monitor.last_checked_at == T0 + timedelta(days=1, hours=1)
    assert monitor.last_error == "RDAP lookup failed (status kept, asked again soon): rdap.example answered HTTP 429"
    assert _checks_counted(monitor) == 2
    # The failure did not break the streak either: the next DOWN is the second in a row.
    assert record_result(monitor.pk, down, now=T0 + timedelta(days=1, hours=2)) is True
    assert [p.status for p in StatusPeriod.objects.filter(monitor=monitor)] == ["up", "down"]


def test_a_domain_monitor_is_down_once_its_lookups_have_failed_for_over_a_day(db):
    monitor = make_monitor("domain", kind=MonitorKind.DOMAIN, url="", host="shop.test", interval_seconds=86400)
    known = {"domain": "shop.test", "registrar": "Example Registrar", "expires_at": "2027-06-01T00:00:00+00:00"}
    up = CheckResult("up", 30, "", None, known)
    failed = CheckResult("pending", None, "rdap.example answered HTTP 429", None, {"domain": "shop.test"})
    assert record_result(monitor.pk, up, now=T0) is True
    for hours in (24, 25, 47):
        assert record_result(monitor.pk, failed, now=T0 + timedelta(hours=hours)) is False
    monitor.refresh_from_db()
    assert monitor.status == "up"
    assert monitor.last_details == known | {
        "looked_up_at": T0.isoformat(),
        "lookup_failing_since": (T0 + timedelta(hours=24)).isoformat(),
        "lookup_error": "rdap.example answered HTTP 429",
    }
    assert record_result(monitor.pk, failed, now=T0 + timedelta(hours=48)) is True
    monitor.refresh_from_db()
    assert (monitor.status, monitor.last_error) == (
        "down", "RDAP lookups have failed for over a day: rdap.example answered HTTP 429"
    )  # fmt: skip
    assert record_result(monitor.pk, up, now=T0 + timedelta(hours=49)) is True
    monitor.refresh_from_db()
    assert monitor.status == "up" and "lookup_failing_since" not in monitor.last_details


def test_a_batch_records_an_inconclusive_result_beside_the_others(db):
    from monitors.scheduler import record_results

    domain = make_monitor("domain", kind=MonitorKind.DOMAIN, url="", host="shop.test", status=MonitorStatus.UP)
    site = make_monitor("site", down_after=2)
    failed = CheckResult("pending", None, "timed out", None, {"domain": "shop.test"})
    assert record_results({domain.pk: failed, site.pk: CheckResult("down", None, "HTTP 503")}, now=T0) == set()
    domain.refresh_from_db()
    site.refresh_from_db()
    assert (domain.status, domain.streak_count, domain.last_checked_at) == ("up", 0, T0)
    assert domain.last_details == {
        "domain": "shop.test",
        "lookup_failing_since": T0.isoformat(),
        "lookup_error": "timed out",
    }
    assert (site.streak_status, site.streak_count) == ("down", 1)
    assert (_checks_counted(domain), _checks_counted(site)) == (0, 1)


def test_a_quorum_counts_an_inconclusive_answer_as_no_answer():
    eu, us, asia = ProbeLocation(name="eu"), ProbeLocation(name="us"), ProbeLocation(name="asia")
    answers = [
        LocationResult(location=eu, status="pending", error="rdap.example answered HTTP 429"),
        LocationResult(location=us, status="pending", error="timed out"),
        LocationResult(location=asia, status="down", error="expired"),
    ]
    assert decide(answers, n=3, quorum=None) is None  # one failure of the two needed, and nothing passed
    answers[1] = LocationResult(location=us, status="up", latency_ms=40)
    assert decide(answers, n=3, quorum=None) == CheckResult("up", 40)


def test_only_domain_checks_can_be_inconclusive():
    import inspect

    from monitors import dnscheck, pingcheck, probes, tlscheck

    for module in (probes, dnscheck, pingcheck, tlscheck):
        assert "PENDING" not in inspect.getsource(module), module.__name__
