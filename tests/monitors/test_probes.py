"""Active checks against a real local HTTP server and TCP listener; SSRF refusals (scheduling: test_scheduler.py)."""

from __future__ import annotations

import socket
import time

import pytest

from monitors import probes
from monitors.probes import CheckResult, CheckSpec
from tests.helpers import Target


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


def test_checks_run_from_a_thread_that_already_runs_an_event_loop(target):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def inside_a_loop():
        return probes.check_all([spec(target.url)])

    with ThreadPoolExecutor(max_workers=1) as pool:  # a thread of our own, then a loop in it
        assert pool.submit(asyncio.run, inside_a_loop()).result()[1].status == "up"


def test_one_batch_runs_every_kind_side_by_side_and_an_unknown_kind_fails_alone(target):
    from tests.monitors.test_check_dns import ZONE, DnsServer

    server = DnsServer(ZONE)
    try:
        results = run(
            spec(target.url, id=1, json_assertions="$.x exists"),  # the page is HTML: not JSON
            CheckSpec(id=2, kind="dns", host="example.test", dns_resolver=server.address, timeout_seconds=2),
            CheckSpec(id=3, kind="smtp", host="mail.example", timeout_seconds=2),
        )
    finally:
        server.close()
    assert (results[1].status, results[1].error) == ("down", "the response is not JSON")
    assert results[2].status == "up" and results[2].details["answers"] == ["192.0.2.10", "192.0.2.11"]
    assert (results[3].status, results[3].error) == ("down", "no check for monitors of kind 'smtp'")


def test_a_check_spec_carries_the_settings_of_every_kind(db):
    from tests.factories import make_monitor

    monitor = make_monitor(
        kind="dns", host="example.com", dns_record_type="MX", dns_resolver="9.9.9.9", dns_expected="mx.example.com",
        ping_count=7, max_packet_loss_percent=15, domain_expiry_days=40, json_assertions="$.a exists",
    )  # fmt: skip
    found = CheckSpec.of(monitor)
    assert (found.dns_record_type, found.dns_resolver, found.dns_expected) == ("MX", "9.9.9.9", "mx.example.com")
    assert (found.ping_count, found.max_packet_loss_percent, found.domain_expiry_days) == (7, 15, 40)
    assert found.json_assertions == "$.a exists"


def test_a_nul_in_a_checks_texts_is_dropped_before_anything_is_stored(db):
    from django.utils import timezone

    from monitors.probes import storable
    from monitors.scheduler import record_results
    from tests.factories import make_monitor

    nul = CheckResult("up", 3, "odd\x00error", None, {"answers": ['"v=spf1\x00"'], "nested": {"k\x00": ["a\x00"]}})
    clean = storable(nul)
    assert clean.error == "odderror" and clean.details == {"answers": ['"v=spf1"'], "nested": {"k": ["a"]}}
    first, second = make_monitor("txt"), make_monitor("other")
    record_results({first.pk: clean, second.pk: CheckResult("up", 5)}, now=timezone.now())
    first.refresh_from_db()
    second.refresh_from_db()  # the batch was stored, the other monitor's result with it
    assert first.last_details["answers"] == ['"v=spf1"'] and second.last_latency_ms == 5
