"""Active checks against a real local HTTP server and TCP listener; SSRF refusals; anti-flapping; claiming."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from monitors import probes, services
from monitors.models import Monitor, MonitorKind, MonitorStatus, StatusPeriod
from monitors.probes import CheckResult, CheckSpec
from tests.helpers import Target

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def target(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    server = Target()
    yield server
    server.close()


def spec(url: str, **fields) -> CheckSpec:
    return CheckSpec(id=fields.pop("id", 1), kind="http", url=url, timeout_seconds=fields.pop("timeout", 2.0), **fields)


def run(*specs: CheckSpec) -> dict[int, CheckResult]:
    return probes.check_all(list(specs))


def test_healthy_failing_slow_and_wrong_page(target):
    assert run(spec(target.url, keyword="all good"))[1].status == "up"
    target.mode = "failing"
    result = run(spec(target.url))[1]
    assert (result.status, result.status_code, result.error) == ("down", 503, "HTTP 503 (expected 200-399)")
    target.mode = "slow"
    result = run(spec(target.url, degraded_after_ms=100))[1]
    assert result.status == "degraded" and result.latency_ms >= 300 and "slow" in result.error
    target.mode = "wrong-page"
    assert run(spec(target.url, keyword="all good"))[1].error == "keyword 'all good' not found"
    assert run(spec(target.url, keyword="maintenance", keyword_absent=True))[1].status == "down"


def test_expected_status_lists_and_redirects(target):
    target.mode = "failing"
    assert run(spec(target.url, expected_statuses="200-299,503"))[1].status == "up"
    target.mode = "healthy"
    assert run(spec(f"{target.url}/moved"))[1].status_code == 200  # followed
    not_followed = run(spec(f"{target.url}/moved", follow_redirects=False, expected_statuses="200"))[1]
    assert (not_followed.status, not_followed.status_code) == ("down", 302)


def test_a_hanging_target_costs_only_its_own_timeout(target):
    healthy = Target()
    try:
        target.mode = "hanging"
        started = time.monotonic()
        results = run(spec(target.url, id=1, timeout=0.5), spec(healthy.url, id=2, timeout=2.0))
        assert time.monotonic() - started < 2.5
        assert results[1].status == "down" and results[1].error == "timed out after 0.5 s"
        assert results[2].status == "up"
    finally:
        healthy.close()


def test_tcp_checks_against_a_real_listener(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        up = run(CheckSpec(id=1, kind="tcp", host="127.0.0.1", port=port, timeout_seconds=2))[1]
        assert up.status == "up" and up.latency_ms is not None
    finally:
        listener.close()
    down = run(CheckSpec(id=1, kind="tcp", host="127.0.0.1", port=port, timeout_seconds=2))[1]
    assert down.status == "down" and "cannot connect" in down.error


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("100.100.100.200", "private"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("93.184.215.14", None),
    ],
)
def test_refused_addresses(address, reason):
    assert probes.refused_reason(address) == reason


def test_private_targets_are_refused_when_saving_and_when_connecting(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    with pytest.raises(probes.TargetRefused, match="loopback"):
        probes.validate_target("localhost", 80)
    # At connect time too: a name that resolves to a private address now (DNS rebinding) is refused.
    result = run(spec("http://localhost:9/"))[1]
    assert result.status == "down" and result.error.startswith("refused: localhost resolves to")
    tcp = run(CheckSpec(id=1, kind="tcp", host="127.0.0.1", port=22, timeout_seconds=1))[1]
    assert tcp.error.startswith("refused:")


# --- recording and scheduling -------------------------------------------------------------------


def http_monitor(url: str, **fields) -> Monitor:
    defaults = {"name": "site", "kind": MonitorKind.HTTP, "url": url, "interval_seconds": 60, "next_check_at": T0}
    return Monitor.objects.create(**(defaults | fields))


def test_down_needs_two_agreeing_results_and_up_one(db):
    monitor = http_monitor("http://127.0.0.1:1/")
    down = CheckResult("down", None, "HTTP 503")
    up = CheckResult("up", 12)
    assert services.record_result(monitor.pk, up, now=T0) is True  # pending → up at once
    assert services.record_result(monitor.pk, down, now=T0 + timedelta(minutes=1)) is False  # one failure: a blip
    assert services.record_result(monitor.pk, up, now=T0 + timedelta(minutes=2)) is False
    assert services.record_result(monitor.pk, down, now=T0 + timedelta(minutes=3)) is False
    assert services.record_result(monitor.pk, down, now=T0 + timedelta(minutes=4)) is True
    monitor.refresh_from_db()
    assert (monitor.status, monitor.last_error) == ("down", "HTTP 503")
    assert [p.status for p in StatusPeriod.objects.filter(monitor=monitor)] == ["up", "down"]


def test_a_tick_checks_due_monitors_and_records_their_results(target, db):
    monitor = http_monitor(target.url, up_after=1)
    later = http_monitor(target.url, name="later", next_check_at=T0 + timedelta(hours=1))
    assert services.run_due_checks(now=T0) == 1
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP and monitor.last_latency_ms is not None
    assert monitor.next_check_at == T0 + timedelta(seconds=60)
    assert Monitor.objects.get(pk=later.pk).status == MonitorStatus.PENDING


def test_paused_monitors_and_heartbeats_are_not_claimed(db):
    http_monitor("http://127.0.0.1:1/", status=MonitorStatus.PAUSED)
    Monitor.objects.create(name="job", kind=MonitorKind.HEARTBEAT, next_check_at=T0)
    assert services.claim_due(now=T0) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a race needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_claim_one_monitor_twice():
    for n in range(40):
        http_monitor("http://127.0.0.1:1/", name=f"m{n}")
    claimed: list[list[int]] = []
    start = threading.Barrier(2)

    def worker():
        try:
            start.wait()
            claimed.append([m.pk for m in services.claim_due(now=T0, limit=30)])
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


def test_checks_run_from_a_thread_that_already_runs_an_event_loop(target):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def inside_a_loop():
        return probes.check_all([spec(target.url)])

    with ThreadPoolExecutor(max_workers=1) as pool:  # a thread of our own, then a loop in it
        assert pool.submit(asyncio.run, inside_a_loop()).result()[1].status == "up"


def test_a_tick_logs_its_schedule_lag(target, db, caplog):
    caplog.set_level("INFO", logger="tracepoint.monitors")
    http_monitor(target.url)
    http_monitor(target.url, name="late", next_check_at=T0 - timedelta(seconds=4))
    services.run_due_checks(now=T0 + timedelta(seconds=1))
    [record] = [r for r in caplog.records if r.name == "tracepoint.monitors"]
    assert record.checks == 2
    assert sum(record.lag_histogram.values()) == 2
    assert services.lag_histogram([0.2, 4.0, 45.0, 100.0]) == {
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
