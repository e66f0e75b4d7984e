"""Ping (ICMP echo) monitors: packet loss and round-trip times, through unprivileged ICMP sockets.

Linux lets a process open an ICMP ("ping") socket without root when its group is inside the sysctl
``net.ipv4.ping_group_range``; most distributions and Docker set it, some (and CI images) do not. We never
ask for raw sockets (root or CAP_NET_RAW): where the kernel refuses, the check says which sysctl to set.
The host is resolved here and its address vetted by the outbound guard before a packet is sent.
"""

from __future__ import annotations

import asyncio
import socket

from icmplib import ICMPLibError, SocketPermissionError, async_ping

from monitors.models import MonitorStatus
from monitors.probes import CheckResult, CheckSpec
from tracepoint.outbound import vet_addresses

PERMISSION_HINT = (
    "the kernel refuses unprivileged ICMP sockets to this process: allow its group with "
    '`sysctl -w net.ipv4.ping_group_range="0 2147483647"` (or run the worker with CAP_NET_RAW)'
)
MAX_INTERVAL_SECONDS = 1.0


def timing(count: int, timeout_seconds: float) -> tuple[float, float]:
    """(interval between packets, time to wait for each reply) so that ``count`` packets fit the timeout.

    icmplib sends one packet, waits for its reply, then sleeps the interval: the worst case is
    count * wait + (count - 1) * interval, kept within 90 % of the check's timeout."""
    budget = timeout_seconds * 0.9
    interval = min(MAX_INTERVAL_SECONDS, budget / (2 * count))
    wait = max(0.1, (budget - (count - 1) * interval) / count)
    return interval, wait


async def resolve(host: str) -> str:
    """The address to ping: ``host`` resolved once (IPv4 first, as ping does) and vetted."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host.strip("[]"), None, type=socket.SOCK_DGRAM)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    vet_addresses(host, addresses)
    addresses.sort(key=lambda address: ":" in address)
    return addresses[0]


async def check_ping(spec: CheckSpec) -> CheckResult:
    count = max(1, min(10, spec.ping_count))
    try:
        address = await resolve(spec.host)
    except socket.gaierror as exc:
        return CheckResult(MonitorStatus.DOWN, None, f"{spec.host} does not resolve: {exc.strerror or exc}")
    interval, wait = timing(count, spec.timeout_seconds)
    try:
        host = await async_ping(address, count=count, interval=interval, timeout=wait, privileged=False)
    except SocketPermissionError:
        return CheckResult(MonitorStatus.DOWN, None, f"cannot ping: {PERMISSION_HINT}")
    except ICMPLibError as exc:
        return CheckResult(MonitorStatus.DOWN, None, f"cannot ping {address}: {exc}"[:500])
    return judge(
        spec,
        address=address,
        sent=host.packets_sent,
        received=host.packets_received,
        rtts=list(host.rtts),
        requested=count,
    )


def judge(spec: CheckSpec, *, address: str, sent: int, received: int, rtts: list[float], requested: int) -> CheckResult:
    """The verdict on one round of pings: DOWN when no reply came, DEGRADED when more packets were lost
    than allowed or the average round trip is over ``degraded_after_ms``."""
    # icmplib counts a packet the kernel would not send (no route) as never sent: it is lost all the same.
    lost = requested - received
    loss_percent = round(100 * lost / requested, 1)
    details = {
        "address": address,
        "packets_sent": requested,
        "packets_received": received,
        "packet_loss_percent": loss_percent,
        "rtt_min_ms": round(min(rtts), 3) if rtts else None,
        "rtt_avg_ms": round(sum(rtts) / len(rtts), 3) if rtts else None,
        "rtt_max_ms": round(max(rtts), 3) if rtts else None,
    }
    if not received:
        why = "no reply" if sent else "could not send (no route to it?)"
        return CheckResult(
            MonitorStatus.DOWN, None, f"{why}: {requested} of {requested} packets to {address} lost", None, details
        )
    average = sum(rtts) / len(rtts)
    latency = round(average)
    if loss_percent > spec.max_packet_loss_percent:
        error = f"{lost} of {requested} packets lost ({loss_percent:g} %, over {spec.max_packet_loss_percent} %)"
        return CheckResult(MonitorStatus.DEGRADED, latency, error, None, details)
    if spec.degraded_after_ms and average > spec.degraded_after_ms:
        error = f"slow: round trip {average:.1f} ms on average (over {spec.degraded_after_ms} ms)"
        return CheckResult(MonitorStatus.DEGRADED, latency, error, None, details)
    return CheckResult(MonitorStatus.UP, latency, "", None, details)
