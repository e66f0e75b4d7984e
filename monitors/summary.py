"""A monitor's settings in words, for its page: "GET https://… every 60 s, timeout 10 s, expects 200\u2013299,
alerts after 2 failures", then the details that differ from a plain check."""

from __future__ import annotations

from dataclasses import dataclass, field

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
        if monitor.headers:
            details.append(f"Sends {_plural(len(monitor.headers), 'extra header')}.")
        if monitor.body:
            details.append(f"Sends a request body of {_plural(len(monitor.body.encode()), 'byte')}.")
        details.append("Follows redirects." if monitor.follow_redirects else "Does not follow redirects.")
        if monitor.url.startswith("https:"):
            details.append(
                f"Degraded when the TLS certificate expires within {_plural(monitor.tls_expiry_days, 'day')}."
            )
    else:
        headline = f"TCP connection to {monitor.host}:{monitor.port} {schedule}, {alerts}"
    if monitor.degraded_after_ms:
        details.append(f"Degraded when slower than {monitor.degraded_after_ms} ms.")
    details.append(f"Up again after {_plural(monitor.up_after, 'good check')} in a row.")
    details.append(_incident(monitor))
    details.extend(_dependencies(monitor))
    return Summary(headline, details)


def _heartbeat(monitor: Monitor) -> Summary:
    if monitor.schedule_kind == ScheduleKind.CRON:
        expects = f"Expects a ping on the cron schedule “{monitor.cron}” ({monitor.tz})"
    else:
        expects = f"Expects a ping every {duration(monitor.period_seconds)}"
    headline = f"{expects}, down when one is {duration(monitor.grace_seconds)} late"
    details = []
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
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
    return [f"Depends on {listed}: while one of them is down, its Down sends no alert and opens no incident."]


def _incident(monitor: Monitor) -> str:
    if not monitor.open_incident:
        return "Opens no incident."
    service = f" of service “{monitor.service}”" if monitor.service else ""
    return f"Opens a {monitor.incident_severity} incident{service} when it goes down."
