"""A monitor's settings in words, for its page: "GET https://… every 60 s, timeout 10 s, expects 200\u2013299,
alerts after 2 failures", then the details that differ from a plain check (one sentence per kind)."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitors.locations import failures_needed
from monitors.models import Monitor, MonitorKind, ScheduleKind


@dataclass(frozen=True)
class Summary:
    headline: str
    details: list[str] = field(default_factory=list)


def duration(seconds: int) -> str:
    """60 → "60 s", 300 → "5 min", 7200 → "2 h", 86400 → "1 day" (exact units only, else seconds)."""
    for size, unit in ((86400, " day"), (3600, " h"), (60, " min")):
        if seconds >= max(size, 120) and seconds % size == 0:
            count = seconds // size
            return f"{count}{unit}{'s' if unit == ' day' and count != 1 else ''}"
    return f"{seconds} s"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summarize(monitor: Monitor) -> Summary:
    if monitor.kind == MonitorKind.HEARTBEAT:
        return _heartbeat(monitor)
    return _active(monitor)


def _active(monitor: Monitor) -> Summary:
    schedule = f"every {duration(monitor.interval_seconds)}, timeout {duration(monitor.timeout_seconds)}"
    alerts = f"alerts after {_plural(monitor.down_after, 'failure')}"
    details: list[str] = []
    if monitor.kind == MonitorKind.HTTP:
        expects = monitor.expected_statuses.replace("-", "\u2013").replace(",", ", ")
        headline = f"{monitor.method} {monitor.url} {schedule}, expects {expects}, {alerts}"
        if monitor.keyword:
            verb = "must not contain" if monitor.keyword_absent else "must contain"
            details.append(f"The response {verb} “{monitor.keyword}”.")
        if count := _assertion_count(monitor.json_assertions):
            details.append(f"The response must be JSON and pass {_plural(count, 'assertion')}.")
        if monitor.headers:
            details.append(f"Sends {_plural(len(monitor.headers), 'extra header')}.")
        if monitor.body:
            details.append(f"Sends a request body of {_plural(len(monitor.body.encode()), 'byte')}.")
        details.append("Follows redirects." if monitor.follow_redirects else "Does not follow redirects.")
        if monitor.url.startswith("https:"):
            details.append(
                f"Degraded when the TLS certificate expires within {_plural(monitor.tls_expiry_days, 'day')}."
            )
    elif monitor.kind == MonitorKind.DNS:
        resolver = monitor.dns_resolver or "the system resolver"
        headline = (
            f"Looks up the {monitor.dns_record_type} records of {monitor.host} at {resolver} {schedule}, {alerts}"
        )
        expected = [line.strip() for line in monitor.dns_expected.splitlines() if line.strip()]
        if expected:
            details.append(f"The answer must include {_listed([f'“{value}”' for value in expected])}.")
        else:
            details.append("Any answer will do; no answer (or no such name) is Down.")
    elif monitor.kind == MonitorKind.PING:
        headline = f"Pings {monitor.host} ({_plural(monitor.ping_count, 'packet')}) {schedule}, {alerts}"
        if monitor.max_packet_loss_percent:
            details.append(f"Degraded when more than {monitor.max_packet_loss_percent} % of the packets are lost.")
        else:
            details.append("Degraded when any packet is lost.")
        details.append("Down when every packet is lost.")
    elif monitor.kind == MonitorKind.TLS:
        headline = f"Checks the TLS certificate of {monitor.target} {schedule}, {alerts}"
        details.append("Down when the certificate chain or name does not verify, or the certificate has expired.")
        details.append(f"Degraded when the certificate expires within {_plural(monitor.tls_expiry_days, 'day')}.")
    elif monitor.kind == MonitorKind.DOMAIN:
        headline = (
            f"Looks up the registration of {monitor.host} (RDAP) once a day, timeout "
            f"{duration(monitor.timeout_seconds)}, {alerts}"
        )
        details.append(
            f"Degraded when it expires within {_plural(monitor.domain_expiry_days, 'day')}; Down once expired."
        )
    else:
        headline = f"TCP connection to {monitor.target} {schedule}, {alerts}"
    if monitor.degraded_after_ms:
        details.append(f"Degraded when slower than {monitor.degraded_after_ms} ms.")
    details.append(f"Up again after {_plural(monitor.up_after, 'good check')} in a row.")
    details.extend(_locations(monitor))
    details.append(_incident(monitor))
    details.extend(_dependencies(monitor))
    return Summary(headline, details)


def _assertion_count(text: str) -> int:
    return sum(1 for line in (text or "").splitlines() if line.strip() and not line.strip().startswith("#"))


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def _locations(monitor: Monitor) -> list[str]:
    if monitor.pk is None:
        return []
    names = [location.label or location.name for location in monitor.locations.order_by("name")]
    if not names:
        return []
    needed = failures_needed(len(names), monitor.quorum)
    rule = "a majority" if monitor.quorum is None else f"{needed} of them"
    return [f"Runs from {_listed(names)}; Down when {rule} ({needed} of {len(names)}) fail in the same round."]


def _heartbeat(monitor: Monitor) -> Summary:
    if monitor.schedule_kind == ScheduleKind.CRON:
        expects = f"Expects a ping on the cron schedule “{monitor.cron}” ({monitor.tz})"
    else:
        expects = f"Expects a ping every {duration(monitor.period_seconds)}"
    headline = f"{expects}, down when one is {duration(monitor.grace_seconds)} late"
    details = []
    shortest, longest = monitor.min_runtime_seconds, monitor.max_runtime_seconds
    if shortest and longest:
        details.append(f"A run shorter than {duration(shortest)} or longer than {duration(longest)} fails.")
    elif shortest:
        details.append(f"A run shorter than {duration(shortest)} fails.")
    elif longest:
        details.append(f"A run longer than {duration(longest)} fails.")
    if monitor.min_ping_interval_seconds:
        details.append(
            f"A success sooner than {duration(monitor.min_ping_interval_seconds)} after the previous one fails."
        )
    if monitor.manual_resume:
        details.append("Once paused, it ignores pings until resumed by hand.")
    details.append(_incident(monitor))
    details.extend(_dependencies(monitor))
    return Summary(headline, details)


def _dependencies(monitor: Monitor) -> list[str]:
    if monitor.pk is None:
        return []
    names = [f"“{name}”" for name in monitor.depends_on.order_by("name", "pk").values_list("name", flat=True)]
    if not names:
        return []
    return [f"Depends on {_listed(names)}: while one of them is down, its Down sends no alert and opens no incident."]


def _incident(monitor: Monitor) -> str:
    if not monitor.open_incident:
        return "Opens no incident."
    service = f" of service “{monitor.service}”" if monitor.service else ""
    return f"Opens a {monitor.incident_severity} incident{service} when it goes down."
