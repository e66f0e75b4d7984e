"""outbound.guard_connections(): every connection a third-party client opens in the block is vetted,
whatever library opens it, and only in the thread (or copied context) that runs the block."""

from __future__ import annotations

import contextvars
import smtplib
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tracepoint import outbound


@pytest.fixture(autouse=True)
def guarded(settings):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": False,
        "OUTBOUND_ALLOWED_NETWORKS": [],
    }


LOOPBACK_REFUSED = "127.0.0.1 resolves to 127.0.0.1, a loopback address"


def test_requests_module_calls_in_the_block_are_refused_before_connecting(receiver):
    with outbound.guard_connections() as guard, pytest.raises(outbound.TargetRefused):
        requests.post(receiver.url, data=b"x", timeout=5)
    assert receiver.requests == []
    assert guard.refused == [LOOPBACK_REFUSED]


def test_a_name_is_looked_up_once_and_refused_when_it_resolves_to_a_private_address(receiver):
    port = receiver.server.server_address[1]
    with outbound.guard_connections() as guard, pytest.raises(outbound.TargetRefused):
        requests.get(f"http://localhost:{port}/", timeout=5)
    assert guard.refused and "localhost resolves to" in guard.refused[0]
    assert receiver.requests == []


def test_clients_that_do_not_use_requests_are_refused_at_the_socket(receiver):
    port = receiver.server.server_address[1]
    with outbound.guard_connections() as guard:
        with pytest.raises(OSError):  # what smtplib's callers expect from a failed connection
            smtplib.SMTP("127.0.0.1", port, timeout=5)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with pytest.raises(outbound.ConnectionRefusedByGuard):
            udp.sendto(b"<14>syslog line", ("10.1.2.3", 514))
        udp.close()
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with pytest.raises(outbound.ConnectionRefusedByGuard, match="unix sockets"):
            unix.connect("/var/run/docker.sock")
        unix.close()
    assert LOOPBACK_REFUSED in guard.refused and any("10.1.2.3" in reason for reason in guard.refused)
    assert receiver.requests == []


def test_outside_the_block_nothing_is_vetted(receiver):
    with outbound.guard_connections():
        pass
    assert requests.post(receiver.url, data=b"x", timeout=5).status_code == 200


def test_another_thread_is_not_guarded_while_the_block_runs(receiver):
    results = []
    inside = threading.Event()
    done = threading.Event()

    def other_thread() -> None:
        inside.wait(timeout=5)
        results.append(requests.post(receiver.url, data=b"other thread", timeout=5).status_code)
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with outbound.guard_connections() as guard:
        inside.set()
        done.wait(timeout=10)
    thread.join(timeout=10)
    assert results == [200] and guard.refused == []


def test_work_handed_to_a_thread_with_a_copied_context_stays_guarded(receiver):
    # apprise runs a service with a deadline on its executor with contextvars.copy_context().
    with outbound.guard_connections() as guard, ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(contextvars.copy_context().run, requests.post, receiver.url, data=b"x", timeout=5)
        with pytest.raises(outbound.TargetRefused):
            future.result(timeout=10)
    assert guard.refused == [LOOPBACK_REFUSED] and receiver.requests == []


def test_private_targets_pass_when_allowed(receiver, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    with outbound.guard_connections() as guard:
        assert requests.post(receiver.url, data=b"x", timeout=5).status_code == 200
    assert guard.refused == []


def test_environment_proxies_are_not_used_in_the_block(receiver, monkeypatch, settings):
    # A proxy would connect for us, past the guard: sessions made in the block ignore the environment.
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("NO_PROXY", "")
    with outbound.guard_connections():
        assert requests.post(receiver.url, data=b"direct", timeout=5).status_code == 200
    assert receiver.requests[0].body == b"direct"
