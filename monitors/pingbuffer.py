"""Heartbeat pings through Redis: the request appends, one applier writes them in order, in bulk.

A ping applied by its own request costs a database round trip and a commit;
at thousands of pings a second that is most of the machine. With Redis
configured, the endpoint only checks the key (remembered per process for
KEY_CACHE_SECONDS; pings of a monitor deleted meanwhile are dropped when
applied), appends the validated ping to a Redis stream and answers;
``apply_pending`` (a Celery task woken by the first ping after a quiet
moment, and swept by beat) takes the stream in arrival order in batches: one
row lock per monitor, the full rules (``heartbeats.apply_ping``) where a ping
changes something, and for the common ping (a plain success on an UP
monitor) only its timestamp, written for the whole batch in one statement.

- Order: one applier at a time (a Redis lock), entries in stream order, so a
  start, its success and a failure keep their sequence.
- Nothing applied twice: the last applied entry id is stored in the same
  transaction as the batch (``PingBufferCursor``); the entries are trimmed
  from the stream only after the commit.
- Nothing dropped: when Redis is away or the stream is over MAX_BUFFERED
  (no applier running), the ping is applied at once, as without Redis. What
  sits in the stream is lost only if Redis itself loses its memory; run Redis
  with persistence where that matters.
- Deadlines: ``scheduler.mark_late_heartbeats`` applies what is waiting before it
  decides that a monitor missed its deadline.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

from monitors.heartbeats import PingInput, apply_ping, trim_pings
from monitors.models import HeartbeatPing, Monitor, MonitorKind, MonitorStatus, PingBufferCursor
from tracepoint import redis
from tracepoint.errors import NotFoundError
from tracepoint.rows import update_columns

logger = logging.getLogger("tracepoint.monitors")

APPLY_DELAY_SECONDS = 0.5
# The wake-up key lives while a queued applier has not started (it deletes the
# key first); if that task is lost, the key expires and the next ping queues one.
WAKE_MILLISECONDS = 2000
BATCH_SIZE = 2000
MAX_BUFFERED = 500_000
KEY_CACHE_SECONDS = 60.0
LOCK_SECONDS = 60
RUN_BUDGET_SECONDS = 4.0
# After a Redis failure this process applies pings directly for a while.
PAUSE_SECONDS = 5.0

_known: dict[str, float] = {}
_paused_until = 0.0
_scripts: dict[tuple[int, str], object] = {}

# Append unless the stream is over its cap (returns -1 then), and claim the
# wake-up: 1 when this ping must queue the applier, 0 when one is queued.
_PUSH = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
redis.call('XADD', KEYS[1], '*', 'p', ARGV[1])
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[3]) then return 1 end
return 0
"""
# Release the lock only if it is still ours; extend it likewise.
_UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"


def _key(name: str) -> str:
    return f"{settings.CACHE_KEY_PREFIX}:monitors:pings:{name}"


def depth() -> int | None:
    """Pings waiting in the buffer (None without Redis); raises if Redis does not answer."""
    client = redis.client()
    return None if client is None else int(client.xlen(_key("stream")))


def _script(client, source: str):
    script = _scripts.get((id(client), source))  # a script is bound to its client
    if script is None:
        script = _scripts[(id(client), source)] = client.register_script(source)
    return script


def enabled() -> bool:
    return bool(settings.REDIS_URL) and time.monotonic() >= _paused_until


def forget_keys() -> None:
    _known.clear()


def reset() -> None:
    """Forget remembered keys, registered scripts and any pause after a Redis failure (process-wide state)."""
    global _paused_until
    _known.clear()
    _scripts.clear()
    _paused_until = 0.0


def _check_key(ping_key) -> None:
    """NotFoundError unless the key is a heartbeat monitor's (remembered for a few seconds)."""
    text = str(ping_key)
    if _known.get(text, 0.0) > time.monotonic():
        return
    if not Monitor.objects.filter(ping_key=ping_key, kind=MonitorKind.HEARTBEAT).exists():
        raise NotFoundError("not found")
    if len(_known) > 100_000:
        _known.clear()
    _known[text] = time.monotonic() + KEY_CACHE_SECONDS


def push(ping_key, ping: PingInput, *, now: datetime) -> bool:
    """Append a validated ping to the stream; False when it must be applied directly instead."""
    global _paused_until
    if not enabled():
        return False
    _check_key(ping_key)
    payload = json.dumps(
        [
            str(ping_key),
            now.timestamp(),
            ping.kind,
            ping.exit_status,
            str(ping.run_id) if ping.run_id else None,
            ping.method,
            ping.remote_addr,
            ping.user_agent,
            ping.body,
        ],
        separators=(",", ":"),
    )
    try:
        client = redis.client()
        claimed = _script(client, _PUSH)(
            keys=[_key("stream"), _key("wake")],
            args=[payload, MAX_BUFFERED, WAKE_MILLISECONDS],
        )
    except Exception as exc:
        _paused_until = time.monotonic() + PAUSE_SECONDS
        logger.warning("ping buffer unavailable, applying pings directly for a while: %s", exc)
        return False
    if claimed == -1:
        logger.warning("ping buffer full (is the Celery worker running?); applying this ping directly")
        return False
    if claimed == 1:
        _queue_apply()
    return True


def _queue_apply() -> None:
    # Lazy: monitors.tasks imports this module (its task runs apply_pending), so a top import is a cycle.
    from monitors.tasks import apply_pending_pings

    try:
        apply_pending_pings.apply_async(countdown=APPLY_DELAY_SECONDS, retry=False)
    except Exception as exc:  # the beat sweep applies them within seconds
        logger.warning("could not queue the ping applier: %s", exc)


def _parse_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def apply_pending(*, wait_seconds: float = 0.0) -> int:
    """Apply everything in the stream, batch after batch (one applier at a time). Returns pings applied.

    With ``wait_seconds``, wait that long for a running applier to finish first
    (mark_late_heartbeats must see every ping that arrived before its deadline)."""
    if not settings.REDIS_URL:
        return 0
    client = redis.client()
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    while not client.set(_key("lock"), token, nx=True, ex=LOCK_SECONDS):
        if time.monotonic() >= deadline:
            return 0
        time.sleep(0.05)
    applied, started = 0, time.monotonic()
    try:
        client.delete(_key("wake"))  # pings from now on queue another run
        while True:
            done = _apply_batch(client)
            applied += done
            if done < BATCH_SIZE or time.monotonic() - started > RUN_BUDGET_SECONDS:
                break
            _script(client, _EXTEND)(keys=[_key("lock")], args=[token, LOCK_SECONDS * 1000])
    finally:
        _script(client, _UNLOCK)(keys=[_key("lock")], args=[token])
    if client.xlen(_key("stream")) and client.set(_key("wake"), 1, nx=True, px=WAKE_MILLISECONDS):
        _queue_apply()  # arrived after the last batch, or the budget ran out
    return applied


def _apply_batch(client) -> int:
    stream = _key("stream")
    with transaction.atomic():
        cursor, _ = PingBufferCursor.objects.select_for_update().get_or_create(pk=1)
        start = f"({cursor.last_id}" if cursor.last_id else "-"
        entries = client.xrange(stream, min=start, count=BATCH_SIZE)
        if entries:
            _apply_safely([fields[b"p"] for _, fields in entries])
            cursor.last_id = entries[-1][0].decode()
            cursor.save(update_fields=["last_id"])
    if cursor.last_id:  # after the commit: a failure here leaves entries the cursor already skips
        ms, seq = _parse_id(cursor.last_id)
        client.xtrim(stream, minid=f"{ms}-{seq + 1}", approximate=False)
    return len(entries)


def _apply_safely(payloads: list[bytes]) -> None:
    """The batch in one go; if that fails, entry by entry, so one bad entry cannot block the stream.
    A lost database is not a bad entry: that error goes up and the batch stays in the stream."""
    try:
        with transaction.atomic():
            _apply_entries([json.loads(payload) for payload in payloads])
        return
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        logger.warning("a batch of %d buffered pings failed (%s); applying them one by one", len(payloads), exc)
    for payload in payloads:
        try:
            with transaction.atomic():
                _apply_entries([json.loads(payload)])
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            logger.error("dropped a buffered ping that cannot be applied: %s (%r)", exc, payload[:200])


_PING_COLUMNS = (
    "monitor_id",
    "kind",
    "created_at",
    "method",
    "remote_addr",
    "user_agent",
    "body",
    "rid",
    "exit_status",
    "duration_ms",
)


def _apply_entries(entries: list[list]) -> None:
    # Lock every monitor of the batch, reading only what the common case needs;
    # a monitor is loaded in full when one of its pings takes the full rules.
    state = {
        str(key): [pk, status, last_start_at, last_ping_at, None, bounded]
        for pk, key, status, last_start_at, last_ping_at, bounded in Monitor.objects.select_for_update()
        .filter(ping_key__in={entry[0] for entry in entries}, kind=MonitorKind.HEARTBEAT)
        .order_by("pk")
        .values_list("pk", "ping_key", "status", "last_start_at", "last_ping_at", "min_ping_interval_seconds")
    }
    rows: list[tuple] = []  # the ping log, in _PING_COLUMNS order
    touched: dict[int, list] = {}  # only last_ping_at changed: written for all at the end
    for key, timestamp, kind, exit_status, run_id, method, remote_addr, user_agent, body in entries:
        monitor = state.get(key)
        if monitor is None:
            continue  # deleted since the ping was accepted
        pk, status, last_start_at, last_ping_at, full, bounded = monitor
        now = datetime.fromtimestamp(timestamp, UTC)
        if (
            kind == HeartbeatPing.Kind.SUCCESS
            and run_id is None
            and exit_status is None
            and status == MonitorStatus.UP
            and last_start_at is None
            and not bounded  # "not more often than" needs the previous success: the full rules
        ):
            rows.append((pk, kind, now, method, remote_addr, user_agent, body, None, None, None))
            if last_ping_at is None or now > last_ping_at:
                monitor[3] = now
            touched[pk] = monitor
            continue
        if full is None:
            full = monitor[4] = Monitor.objects.get(pk=pk)  # locked above
        full.last_ping_at = monitor[3]
        ping = PingInput(
            kind=kind,
            exit_status=exit_status,
            run_id=uuid.UUID(run_id) if run_id else None,
            method=method,
            remote_addr=remote_addr,
            user_agent=user_agent,
            body=body,
        )
        logged = apply_ping(full, ping, now=now)  # writes the monitor itself
        rows.append(tuple(getattr(logged, column) for column in _PING_COLUMNS))
        monitor[1:4] = [full.status, full.last_start_at, full.last_ping_at]
        touched.pop(pk, None)
    _write(rows, [(monitor[0], monitor[3]) for monitor in touched.values()])
    # Keep the newest PING_LOG_KEPT of each: trimming a pinged monitor now and then is enough.
    trim = sorted({row[0] for row in rows if random.random() < TRIM_CHANCE})  # noqa: S311 (not a secret)
    if trim:
        trim_pings(trim)


TRIM_CHANCE = 0.05


def _write(rows: list[tuple], touched: list[tuple[int, datetime]]) -> None:
    update_columns(Monitor, [Monitor(pk=pk, last_ping_at=at) for pk, at in touched], ["last_ping_at"])
    if connection.vendor != "postgresql":
        HeartbeatPing.objects.bulk_create(
            [HeartbeatPing(**dict(zip(_PING_COLUMNS, row, strict=True))) for row in rows], batch_size=500
        )
        return
    # COPY: the per-row cost stays in PostgreSQL, not in the ORM.
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY monitors_heartbeatping ({', '.join(_PING_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
