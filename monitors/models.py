"""Monitors: HTTP, TCP and heartbeat checks; status periods; latency rollups; heartbeat pings.

Storage grows with changes, not with checks: a monitor's history is a list of
status periods (one row per change) plus latency rollups per minute and per
hour. Heartbeat pings are kept as a short log per monitor.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import service_validator
from tracepoint.severity import Severity


class MonitorKind(models.TextChoices):
    HTTP = "http", "HTTP(S)"
    TCP = "tcp", "TCP port"
    HEARTBEAT = "heartbeat", "Heartbeat (pushed by your job)"
    DNS = "dns", "DNS record"
    PING = "ping", "Ping (ICMP)"
    TLS = "tls", "TLS certificate"
    DOMAIN = "domain", "Domain expiry (RDAP)"


class DnsRecordType(models.TextChoices):
    A = "A", "A (IPv4 address)"
    AAAA = "AAAA", "AAAA (IPv6 address)"
    CNAME = "CNAME", "CNAME (alias)"
    MX = "MX", "MX (mail server)"
    TXT = "TXT", "TXT (text)"
    NS = "NS", "NS (name server)"


class MonitorStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    UP = "up", "Up"
    DOWN = "down", "Down"
    DEGRADED = "degraded", "Degraded"
    PAUSED = "paused", "Paused"
    MAINTENANCE = "maintenance", "Maintenance"


class ScheduleKind(models.TextChoices):
    SIMPLE = "simple", "Every period"
    CRON = "cron", "Cron expression"


class MonitorQuerySet(models.QuerySet):
    def heartbeats_overdue(self, now: datetime) -> MonitorQuerySet:
        return self.filter(kind=MonitorKind.HEARTBEAT, alert_after__lte=now).exclude(
            status__in=[MonitorStatus.DOWN, MonitorStatus.PAUSED, MonitorStatus.MAINTENANCE]
        )


class Monitor(models.Model):
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=MonitorKind.choices)
    status = models.CharField(max_length=16, choices=MonitorStatus.choices, default=MonitorStatus.PENDING)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    # HTTP(S)
    url = models.URLField(max_length=2000, blank=True)
    method = models.CharField(max_length=7, default="GET")
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True)
    expected_statuses = models.CharField(
        max_length=100, default="200-399", help_text="Status codes and ranges, e.g. 200-299,301."
    )
    keyword = models.CharField(max_length=200, blank=True)
    keyword_absent = models.BooleanField(default=False, help_text="The keyword must NOT appear.")
    degraded_after_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Slower than this is DEGRADED.")
    follow_redirects = models.BooleanField(default=True)
    tls_expiry_days = models.PositiveSmallIntegerField(default=14, help_text="Warn (DEGRADED) this many days ahead.")
    # JSON assertions on the response body, one per line: a JSONPath and a comparison (monitors/jsonassert.py).
    json_assertions = models.TextField(blank=True)
    # TCP, TLS, ping, DNS (the name asked for), domain (the registered domain)
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    # DNS
    dns_record_type = models.CharField(max_length=5, choices=DnsRecordType.choices, default=DnsRecordType.A)
    dns_resolver = models.CharField(max_length=100, blank=True)  # "ip" or "ip:port"; blank: the system's
    dns_expected = models.TextField(blank=True)  # one expected value per line; blank: any answer
    # Ping (ICMP)
    ping_count = models.PositiveSmallIntegerField(default=3)
    max_packet_loss_percent = models.PositiveSmallIntegerField(default=0)  # more loss: DEGRADED; all lost: DOWN
    # Domain registration expiry (RDAP)
    domain_expiry_days = models.PositiveSmallIntegerField(default=30)
    # What the last check learnt beyond up/down: DNS answers, packet loss and round trips, expiry dates.
    last_details = models.JSONField(default=dict, blank=True)
    # Schedule of active checks
    interval_seconds = models.PositiveIntegerField(default=60)
    timeout_seconds = models.PositiveIntegerField(default=10)
    next_check_at = models.DateTimeField(null=True, blank=True)
    # Anti-flapping: the status changes after this many agreeing results in a row.
    down_after = models.PositiveSmallIntegerField(default=2)
    up_after = models.PositiveSmallIntegerField(default=1)
    streak_status = models.CharField(max_length=16, choices=MonitorStatus.choices, blank=True)
    streak_count = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    # Heartbeat (shared/specs/heartbeat-pings.md)
    ping_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    schedule_kind = models.CharField(max_length=6, choices=ScheduleKind.choices, default=ScheduleKind.SIMPLE)
    period_seconds = models.PositiveIntegerField(default=86400)
    cron = models.CharField(max_length=100, default="* * * * *")
    tz = models.CharField(max_length=64, default="UTC")
    grace_seconds = models.PositiveIntegerField(default=3600)
    manual_resume = models.BooleanField(default=False, help_text="Paused: ignore pings until resumed by hand.")
    last_ping_at = models.DateTimeField(null=True, blank=True)
    last_start_at = models.DateTimeField(null=True, blank=True)
    last_start_rid = models.UUIDField(null=True, blank=True)
    last_duration_ms = models.PositiveBigIntegerField(null=True, blank=True)
    # Run-time bounds (monitors/heartbeats.py): a run shorter or longer than these between its start and
    # success pings, or a success sooner than this after the previous one, is a failure.
    min_runtime_seconds = models.PositiveIntegerField(null=True, blank=True)
    max_runtime_seconds = models.PositiveIntegerField(null=True, blank=True)
    min_ping_interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    # When to look at a heartbeat again: never later than its deadline, but a quick
    # success ping leaves it behind (ping._QUICK_SUCCESS), so it can be earlier.
    alert_after = models.DateTimeField(null=True, blank=True)

    # On a change: an incident of this severity is opened (or the service's open one joined) on DOWN;
    # on UP the monitor's signal resolves (incidents.correlation).
    open_incident = models.BooleanField(default=False)
    service = models.CharField(
        max_length=100,
        blank=True,
        validators=[service_validator],
        help_text="The service this monitor checks (e.g. api-gateway): its DOWN joins that service's open "
        "incident. Blank: a name made from the monitor's name.",
    )
    incident_severity = models.CharField(max_length=4, choices=Severity.choices, default=Severity.SEV2)
    # Dependencies (monitors/dependencies.py): while a monitor this one depends on (directly or through
    # others) is DOWN, this one's DOWN is recorded but sends no alert and opens no incident of its own.
    depends_on = models.ManyToManyField("self", symmetrical=False, related_name="dependents", blank=True)
    # The monitor whose DOWN this one's DOWN is blamed on (the root of the chain), while it is blamed.
    down_because_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="blamed_for"
    )
    # The current DOWN was not announced (it began while a parent was down): its recovery is quiet, and
    # once no parent is down any more the next ``down_after`` failures announce it.
    down_unannounced = models.BooleanField(default=False)
    # Locations (monitors/locations.py): the check runs from each of these probes' queues; DOWN when at least
    # ``quorum`` of them fail in the same round (blank: a majority). None: the check runs on any worker.
    locations = models.ManyToManyField("ProbeLocation", related_name="monitors", blank=True)
    quorum = models.PositiveSmallIntegerField(null=True, blank=True)
    round_at = models.DateTimeField(null=True, blank=True)  # the due time of the round being answered
    round_answers = models.PositiveSmallIntegerField(default=0)
    round_failures = models.PositiveSmallIntegerField(default=0)
    # Cached for the list (refreshed by beat, monitors/uptime.py), so it never computes uptime per row.
    uptime_24h = models.FloatField(null=True, blank=True)
    uptime_30d = models.FloatField(null=True, blank=True)
    uptime_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MonitorQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(
                fields=["next_check_at"],
                name="monitor_due_idx",
                condition=~Q(kind="heartbeat") & ~Q(status="paused"),
            ),
            models.Index(fields=["alert_after"], name="monitor_alert_after_idx", condition=Q(kind="heartbeat")),
            # The rounds still open (monitors.locations.settle, every tick): few rows among many monitors.
            models.Index(fields=["round_at"], name="monitor_open_round_idx", condition=Q(round_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_heartbeat(self) -> bool:
        return self.kind == MonitorKind.HEARTBEAT

    @property
    def target(self) -> str:
        """What it checks, in a few characters: the URL, host:port, or the host alone (DNS, ping, domain)."""
        if self.url:
            return self.url
        if self.kind == MonitorKind.TLS:
            return f"{self.host}:{self.port or 443}"
        return f"{self.host}:{self.port}" if self.port else self.host


class ProbeLocation(models.Model):
    """A place checks run from: a Celery queue ``checks.<name>`` served by a worker started there with
    ``-Q checks.<name>``. ``last_seen_at`` is when a probe there last answered (a check batch or a probe ping)."""

    name = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=100, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name

    @property
    def queue(self) -> str:
        return f"checks.{self.name}"


class LocationResult(models.Model):
    """The last result of one monitor from one location (one row per pair, overwritten each round)."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="location_results")
    location = models.ForeignKey(ProbeLocation, on_delete=models.CASCADE, related_name="results")
    round_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=MonitorStatus.choices)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["location__name"]
        constraints = [
            models.UniqueConstraint(fields=["monitor", "location"], name="location_result_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id}@{self.location_id} {self.status}"


class StatusPeriod(models.Model):
    """One stretch of one status: written when the status changes, never per check."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="periods")
    status = models.CharField(max_length=16, choices=MonitorStatus.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["monitor", "started_at"], name="period_monitor_start_idx")]
        constraints = [
            # At most one open period per monitor.
            models.UniqueConstraint(fields=["monitor"], condition=Q(ended_at__isnull=True), name="period_one_open")
        ]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.status} from {self.started_at:%Y-%m-%d %H:%M}"


class LatencyRollup(models.Model):
    """Response times of one monitor for one block of ``BLOCK_HOURS`` hours: one row, updated per check.

    ``hours`` maps the hour's index in the block to [count, failures, min, max, sum, histogram]
    (histogram: counts per LATENCY_BUCKETS_MS bound, for the p95); ``minutes`` maps the minute's
    index to [count, failures, latencies] and is emptied after 48 hours; rows go after
    MONITOR_RETENTION_DAYS. One insert per monitor and block keeps the rows written far below
    the checks run (a 60-second monitor: one row per 180 checks).
    """

    BLOCK_HOURS = 3

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="rollups")
    start = models.DateTimeField()
    hours = models.JSONField(default=dict)
    minutes = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["monitor", "start"], name="rollup_monitor_block_unique")]
        indexes = [models.Index(fields=["start"], name="rollup_start_idx")]

    def __str__(self) -> str:
        return f"{self.monitor_id} from {self.start:%Y-%m-%d %H:%M}"


class HeartbeatPing(models.Model):
    """The log of a heartbeat monitor's pings (the newest PING_LOG_KEPT per monitor)."""

    class Kind(models.TextChoices):
        SUCCESS = "success", "Success"
        START = "start", "Start"
        FAIL = "fail", "Fail"
        LOG = "log", "Log"
        IGNORED = "ignored", "Ignored"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="pings")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=7)
    remote_addr = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    rid = models.UUIDField(null=True, blank=True)
    exit_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["monitor", "-created_at"], name="ping_monitor_time_idx")]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M:%S}"


class MonitorIncident(models.Model):
    """An incident a monitor opened on DOWN (and resolves on UP)."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="incident_links")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="monitor_links")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["monitor", "incident"], name="monitor_incident_unique")]

    def __str__(self) -> str:
        return f"{self.monitor_id} ↔ {self.incident_id}"


class PingBufferCursor(models.Model):
    """The id of the last buffered ping applied (monitors.pingbuffer): one row, written with each batch."""

    last_id = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return self.last_id or "(none)"
