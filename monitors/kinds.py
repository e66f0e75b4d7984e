"""Which settings belong to which kind of monitor, and how the form groups them: the one place to
change when a kind is added (the form, the "Test now" button and the kind picker all read it)."""

from __future__ import annotations

from dataclasses import dataclass

from monitors.models import MonitorKind


@dataclass(frozen=True)
class Group:
    """One fieldset of the monitor form: ``name`` is stable (tests, CSS), ``legend`` is shown."""

    name: str
    legend: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    description: str
    groups: tuple[Group, ...]
    probed: bool  # Tracepoint runs the check (monitors.probes); False: the monitored job pushes pings

    @property
    def label(self) -> str:
        return MonitorKind(self.kind).label

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for group in self.groups for name in group.fields)


COMMON_FIELDS = ("name",)
_ALERTING = Group("alerting", "Alerting", ("open_incident", "incident_severity", "service", "depends_on"))
_ACTIVE_SCHEDULE = Group("schedule", "Schedule", ("interval_seconds", "timeout_seconds", "down_after", "up_after"))
_LOCATIONS = Group("locations", "Locations", ("locations", "quorum"))

KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            MonitorKind.HTTP,
            "Requests a URL and checks the status code, the response time, a keyword, JSON fields and the TLS "
            "certificate.",
            (
                Group("request", "Request", ("url", "method", "headers", "body", "follow_redirects")),
                Group(
                    "assertions",
                    "Assertions",
                    (
                        "expected_statuses",
                        "keyword",
                        "keyword_absent",
                        "json_assertions",
                        "degraded_after_ms",
                        "tls_expiry_days",
                    ),
                ),
                _ACTIVE_SCHEDULE,
                _LOCATIONS,
                _ALERTING,
            ),
            probed=True,
        ),
        KindSpec(
            MonitorKind.TCP,
            "Opens a TCP connection to a host and port (a database, a mail server, an SSH daemon…).",
            (
                Group("request", "Target", ("host", "port")),
                Group("assertions", "Assertions", ("degraded_after_ms",)),
                _ACTIVE_SCHEDULE,
                _LOCATIONS,
                _ALERTING,
            ),
            probed=True,
        ),
        KindSpec(
            MonitorKind.DNS,
            "Looks a name up (A, AAAA, CNAME, MX, TXT or NS) at a resolver and checks the answer holds the "
            "values you expect.",
            (
                Group("request", "Query", ("host", "dns_record_type", "dns_resolver")),
                Group("assertions", "Assertions", ("dns_expected", "degraded_after_ms")),
                _ACTIVE_SCHEDULE,
                _LOCATIONS,
                _ALERTING,
            ),
            probed=True,
        ),
        KindSpec(
            MonitorKind.PING,
            "Sends ICMP echo requests (ping) to a host and watches packet loss and round-trip time.",
            (
                Group("request", "Target", ("host",)),
                Group("assertions", "Assertions", ("ping_count", "max_packet_loss_percent", "degraded_after_ms")),
                _ACTIVE_SCHEDULE,
                _LOCATIONS,
                _ALERTING,
            ),
            probed=True,
        ),
        KindSpec(
            MonitorKind.TLS,
            "Connects to a host and port over TLS: the certificate chain and name must verify; warns before the "
            "certificate expires.",
            (
                Group("request", "Target", ("host", "port")),
                Group("assertions", "Assertions", ("tls_expiry_days", "degraded_after_ms")),
                _ACTIVE_SCHEDULE,
                _LOCATIONS,
                _ALERTING,
            ),
            probed=True,
        ),
        KindSpec(
            MonitorKind.DOMAIN,
            "Reads a domain's registration from its registry (RDAP) once a day and warns before it expires.",
            (
                Group("request", "Domain", ("host",)),
                Group("assertions", "Assertions", ("domain_expiry_days",)),
                # Checked once a day (no interval to set): registries limit how often they may be asked. No
                # locations either: the registry's answer is the same from anywhere, they would only multiply it.
                Group("schedule", "Schedule: once a day", ("timeout_seconds", "down_after", "up_after")),
                _ALERTING,
            ),
            probed=True,
        ),
        KindSpec(
            MonitorKind.HEARTBEAT,
            "Your cron job or worker pings a URL when it runs; the monitor goes down when a ping is late.",
            (
                Group("schedule", "Schedule", ("schedule_kind", "period_seconds", "cron", "tz", "grace_seconds")),
                Group(
                    "runtime", "Run time", ("min_runtime_seconds", "max_runtime_seconds", "min_ping_interval_seconds")
                ),
                Group("alerting", "Alerting", ("manual_resume", *_ALERTING.fields)),
            ),
            probed=False,
        ),
    )
}

# Domain monitors are checked once a day, whatever is sent: registries rate-limit RDAP, and expiry moves slowly.
DOMAIN_INTERVAL_SECONDS = 86400


def spec_for(kind: str | None) -> KindSpec | None:
    return KINDS.get(kind or "")


def all_kind_fields() -> set[str]:
    return {name for spec in KINDS.values() for name in spec.fields}
