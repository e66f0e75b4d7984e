"""Heartbeat ping endpoints, Healthchecks-compatible: ``/ping/<uuid>[/start|/fail|/log|/<exit status>]``.

HEAD, GET and POST are equivalent; the key in the URL is the only credential;
a POSTed body (its first PING_BODY_MAX_BYTES bytes) is kept with the ping. In
production the WSGI fast path (tracepoint.fastpath) calls the same view without
the rest of Django's middleware chain.

Below the endpoint: accepting a ping. ``accept_ping`` validates it and hands it to the Redis buffer
(monitors.pingbuffer) when there is one, else ``record_ping`` applies it at once through the
heartbeat rules (monitors.heartbeats); the common ping takes ``_quick_success``, one statement.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from monitors import pingbuffer
from monitors.heartbeats import PingInput, apply_ping, trim_pings
from monitors.models import HeartbeatPing, Monitor, MonitorKind
from tracepoint import metrics
from tracepoint.api.errors import is_database_unavailable
from tracepoint.errors import DomainError, NotFoundError
from tracepoint.middleware import exempt_from_write_budget, never_retry, quiet_success
from tracepoint.ratelimit import client_ip

error_logger = logging.getLogger("tracepoint.errors")

ALLOWED_METHODS = ("GET", "HEAD", "POST")
# What never_cache would add; written out once because this is the hottest path there is.
NO_CACHE_HEADERS = {
    "Cache-Control": "max-age=0, no-cache, no-store, must-revalidate, private",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}


@quiet_success
@exempt_from_write_budget
@never_retry
@csrf_exempt
def ping(request: HttpRequest, key, action: str | None = None) -> HttpResponse:
    """Record one ping; a plain-text answer, as Healthchecks gives."""
    status, headers, body = answer(request, key, action)
    response = HttpResponse(body, status=status)
    for name, value in headers:
        response[name] = value
    return response


def answer(request: HttpRequest, key, action: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of one ping: what ``ping`` answers, and what the WSGI fast path sends
    without building a response object (tracepoint.urls.FAST_ROUTES)."""
    retry_after = []
    try:
        status, text = _record(request, key, action)
    except Exception as exc:  # answered here, in the ping's plain text, on every path
        if not is_database_unavailable(exc):
            error_logger.error("unhandled error on %s", request.path, exc_info=exc)
            status, text = 500, "server error"
        else:
            error_logger.error("database unavailable: %s", exc, exc_info=exc)
            status, text, retry_after = 503, "database unavailable", [("Retry-After", "5")]
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Access-Control-Allow-Origin", "*"),
        ("Ping-Body-Limit", str(ping_body_limit())),
        *NO_CACHE_HEADERS.items(),
    ]
    if status == 405:
        headers.append(("Allow", ", ".join(ALLOWED_METHODS)))
    return status, headers + retry_after, text.encode()


class PingKeyConverter:
    """A ping key in the URL: a UUID in any case, with or without hyphens, as clients send them."""

    regex = "[0-9a-fA-F-]{32,36}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)  # a ValueError: no match, a 404

    def to_url(self, value) -> str:
        return str(value)


def _record(request: HttpRequest, key, action: str | None) -> tuple[int, str]:
    if request.method not in ALLOWED_METHODS:
        return 405, "method not allowed"
    try:
        accept_ping(
            key,
            action=action,
            method=request.method,
            body=request.body if request.method == "POST" else b"",
            rid=request.GET.get("rid"),
            remote_addr=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except InvalidPing as exc:
        metrics.PINGS.labels("invalid").inc()
        return 400, exc.message
    except NotFoundError:
        metrics.PINGS.labels("unknown").inc()
        return 404, "not found"
    metrics.PINGS.labels("accepted").inc()
    return 200, "OK"


# --- accepting a ping ---------------------------------------------------------------------------


class InvalidPing(DomainError):
    pass


def ping_body_limit() -> int:
    return settings.TRACEPOINT["PING_BODY_MAX_BYTES"]


def parse_action(action: str | None) -> tuple[str, int | None]:
    """URL suffix → (kind, exit status): '' success, start, fail, log, or 0-255."""
    if not action:
        return HeartbeatPing.Kind.SUCCESS, None
    if action in ("start", "fail", "log"):
        return action, None
    if action.isdigit():
        code = int(action)
        if code > 255:
            raise InvalidPing("invalid url format")
        return (HeartbeatPing.Kind.SUCCESS if code == 0 else HeartbeatPing.Kind.FAIL), code
    raise InvalidPing("invalid url format")


def parse_ping(
    action: str | None,
    *,
    method: str = "GET",
    body: bytes = b"",
    rid: str | None = None,
    remote_addr: str = "",
    user_agent: str = "",
) -> PingInput:
    """Validate a ping's URL suffix and run id (raises InvalidPing) and cut its fields to size."""
    kind, exit_status = parse_action(action)
    run_id = None
    if rid:
        try:
            run_id = uuid.UUID(rid)
        except ValueError:
            raise InvalidPing("invalid uuid format") from None
    return PingInput(
        kind=kind,
        exit_status=exit_status,
        run_id=run_id,
        method=method[:7],
        remote_addr=remote_addr[:45],
        user_agent=user_agent[:200],
        # PostgreSQL text cannot hold NUL: drop it rather than fail the ping (or a whole buffered batch).
        body=body[: ping_body_limit()].decode("utf-8", errors="replace").replace("\x00", ""),
    )


def accept_ping(ping_key, *, action: str | None = None, now: datetime | None = None, **received) -> None:
    """The endpoints' entry: validate, then hand the ping to the buffer (monitors.pingbuffer) when
    Redis is there, else apply it at once. Raises InvalidPing / NotFoundError."""
    ping = parse_ping(action, **received)
    now = now or timezone.now()
    if not pingbuffer.push(ping_key, ping, now=now):
        record_ping(ping_key, ping, now=now)


def record_ping(
    ping_key,
    ping: PingInput | None = None,
    *,
    action: str | None = None,
    now: datetime | None = None,
    **received,
) -> HeartbeatPing:
    """Apply one ping to its heartbeat monitor (row-locked) and log it. Raises NotFoundError / InvalidPing."""
    ping = ping or parse_ping(action, **received)
    now = now or timezone.now()
    if ping.is_plain_success:
        logged = _quick_success(ping_key, ping, now=now)
        if logged is not None:
            return logged
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().filter(ping_key=ping_key, kind=MonitorKind.HEARTBEAT).first()
        if monitor is None:
            raise NotFoundError("not found")
        logged = apply_ping(monitor, ping, now=now)
        logged.save()
        if logged.pk % 20 == 0:  # keep the newest PING_LOG_KEPT, trimming now and then
            trim_pings([monitor.pk])
    return logged


# The common ping (a plain success on an UP monitor with no run outstanding) is one
# statement without a row lock, and it writes only last_ping_at, which no index
# covers, so PostgreSQL updates the row in place (HOT). alert_after is left as it
# was: it is the moment to look again, never later than the real deadline, and
# mark_late_heartbeats recomputes it from last_ping_at when it comes round.
_QUICK_SUCCESS = """
WITH m AS (
    UPDATE monitors_monitor SET last_ping_at = %(now)s
    WHERE ping_key = %(key)s AND kind = 'heartbeat' AND status = 'up' AND last_start_at IS NULL
        AND min_ping_interval_seconds IS NULL
    RETURNING id
)
INSERT INTO monitors_heartbeatping
    (monitor_id, kind, created_at, method, remote_addr, user_agent, body, rid, exit_status, duration_ms)
SELECT id, 'success', %(now)s, %(method)s, %(remote_addr)s, %(user_agent)s, %(body)s, NULL, NULL, NULL FROM m
RETURNING id, monitor_id
"""


def _quick_success(ping_key, ping: PingInput, *, now: datetime) -> HeartbeatPing | None:
    if connection.vendor != "postgresql":
        return None
    params = {
        "now": now,
        "key": ping_key,
        "method": ping.method,
        "remote_addr": ping.remote_addr,
        "user_agent": ping.user_agent,
        "body": ping.body,
    }
    # A server-side prepared statement: PostgreSQL parses and plans it once per connection.
    with connection.wrap_database_errors:
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(_QUICK_SUCCESS, params, prepare=True)
            row = cursor.fetchone()
    if row is None:
        return None  # unknown key, or not in the simple state: the locked path decides
    ping_id, monitor_id = row
    if ping_id % 20 == 0:  # keep the newest PING_LOG_KEPT, trimming now and then
        trim_pings([monitor_id])
    return HeartbeatPing(
        pk=ping_id,
        monitor_id=monitor_id,
        kind=HeartbeatPing.Kind.SUCCESS,
        created_at=now,
        method=ping.method,
        remote_addr=ping.remote_addr,
        user_agent=ping.user_agent,
        body=ping.body,
    )
