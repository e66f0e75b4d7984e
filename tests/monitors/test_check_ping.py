"""Ping monitors: real ICMP echo to 127.0.0.1 through an unprivileged ICMP socket.

The kernel allows those sockets to the groups in ``net.ipv4.ping_group_range``; .ci/run widens it (and sets
TRACEPOINT_REQUIRE_PING=true) so these run in CI instead of skipping. What happens where the kernel refuses,
or where no packet can leave, is shown in a fresh network namespace (``unshare --net``: its range is the
kernel default, which allows nobody, and its loopback is down), in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings as django_settings
from icmplib import SocketPermissionError, async_ping

from monitors import pingcheck, probes
from monitors.probes import CheckSpec
from tests.helpers import run_async


def _kernel_allows_ping() -> bool:
    try:
        run_async(async_ping("127.0.0.1", count=1, timeout=1, privileged=False))
    except SocketPermissionError:
        return False
    return True


@pytest.fixture
def icmp(settings):
    if not _kernel_allows_ping():
        message = 'unprivileged ICMP is off here: sysctl -w net.ipv4.ping_group_range="0 2147483647" (.ci/run does)'
        if os.environ.get("TRACEPOINT_REQUIRE_PING", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


def ping(host: str = "127.0.0.1", **fields) -> probes.CheckResult:
    spec = CheckSpec(id=1, kind="ping", host=host, timeout_seconds=fields.pop("timeout", 3.0), **fields)
    return probes.check_all([spec])[1]


def test_pinging_the_loopback_is_up_with_loss_and_round_trips(icmp):
    result = ping(ping_count=3)
    assert result.status == "up", result.error
    details = result.details
    assert (details["address"], details["packets_sent"], details["packets_received"]) == ("127.0.0.1", 3, 3)
    assert details["packet_loss_percent"] == 0
    assert 0 < details["rtt_min_ms"] <= details["rtt_avg_ms"] <= details["rtt_max_ms"] < 1000
    assert result.latency_ms == round(details["rtt_avg_ms"])


def test_a_host_name_is_resolved_and_the_address_pinged(icmp):
    result = ping("localhost", ping_count=1)
    assert result.status == "up", result.error
    assert result.details["address"] in ("127.0.0.1", "::1")


def test_a_name_that_does_not_resolve_is_down(icmp):
    result = ping("no-such-host.invalid", ping_count=1)
    assert result.status == "down" and result.error.startswith("no-such-host.invalid does not resolve")


def test_private_addresses_are_refused_before_any_packet_is_sent(settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": False}
    result = ping("127.0.0.1")
    assert result.status == "down"
    assert result.error == "refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address"


def test_packet_loss_and_round_trips_decide_up_degraded_and_down():
    spec = CheckSpec(id=1, kind="ping", host="db.example", max_packet_loss_percent=20, degraded_after_ms=50)
    up = pingcheck.judge(spec, address="192.0.2.1", sent=5, received=5, rtts=[10, 12, 11, 10, 12], requested=5)
    assert (up.status, up.latency_ms, up.error) == ("up", 11, "")
    lossy = pingcheck.judge(spec, address="192.0.2.1", sent=5, received=3, rtts=[10, 12, 11], requested=5)
    assert (lossy.status, lossy.error) == ("degraded", "2 of 5 packets lost (40 %, over 20 %)")
    assert lossy.details["packet_loss_percent"] == 40
    slow = pingcheck.judge(spec, address="192.0.2.1", sent=2, received=2, rtts=[80, 90], requested=2)
    assert (slow.status, slow.error) == ("degraded", "slow: round trip 85.0 ms on average (over 50 ms)")
    silent = pingcheck.judge(spec, address="192.0.2.1", sent=5, received=0, rtts=[], requested=5)
    assert (silent.status, silent.latency_ms) == ("down", None)
    assert silent.error == "no reply: 5 of 5 packets to 192.0.2.1 lost"
    assert silent.details["rtt_avg_ms"] is None and silent.details["packet_loss_percent"] == 100


@pytest.mark.parametrize(("count", "timeout"), [(1, 1), (3, 10), (10, 10), (10, 60)])
def test_every_packet_fits_in_the_checks_timeout(count, timeout):
    interval, wait = pingcheck.timing(count, timeout)
    assert 0 < interval <= 1 and wait >= 0.1
    assert count * wait + (count - 1) * interval <= timeout * 0.9 + 1e-9


# --- in a network namespace of its own ----------------------------------------------------------------

CHECK_IN_SUBPROCESS = textwrap.dedent(
    """
    import json, os, django
    django.setup()
    from monitors import probes
    spec = probes.CheckSpec(id=1, kind="ping", host="127.0.0.1", ping_count=2, timeout_seconds=2)
    result = probes.check_all([spec])[1]
    print(json.dumps({"status": result.status, "error": result.error, "details": result.details}))
    """
)


def in_namespace(setup: str) -> dict:
    """Run one ping check in a new network namespace after the shell commands ``setup``."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a network namespace of its own (CI has both)")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings_test",
        "ALLOW_PRIVATE_TARGETS": "true",
        "TRACEPOINT_VAR_DIR": os.environ.get("TRACEPOINT_VAR_DIR", str(django_settings.BASE_DIR / "var")),
    }
    command = f"{setup} exec {sys.executable} -c '{CHECK_IN_SUBPROCESS}'"
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=django_settings.BASE_DIR,
        check=False,
    )
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no network namespace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_where_the_kernel_refuses_unprivileged_icmp_the_error_names_the_sysctl():
    result = in_namespace("")  # a new namespace's ping_group_range is "1 0": nobody may
    assert result["status"] == "down"
    assert result["error"] == f"cannot ping: {pingcheck.PERMISSION_HINT}"
    assert "net.ipv4.ping_group_range" in result["error"]


def test_packets_that_cannot_leave_are_all_lost_and_down():
    result = in_namespace("sysctl -qw net.ipv4.ping_group_range='0 2147483647' &&")  # allowed, but lo is down
    assert result["status"] == "down"
    assert result["error"] == "could not send (no route to it?): 2 of 2 packets to 127.0.0.1 lost"
    assert result["details"]["packets_received"] == 0 and result["details"]["packet_loss_percent"] == 100
