"""Ingest quotas per project: the events-per-minute rate and the spike guard.

Two fixed windows of the clock, both counted for every batch of events offered
(one Sentry envelope carrying an event, one native request):
- the **rate**: at most ``Project.event_rate()`` events per minute;
- the **spike guard**: at most ``Project.event_burst_limit()`` events (the rate
  times ``PROJECT_EVENTS_BURST_PERCENT``) per ``PROJECT_EVENTS_BURST_SECONDS``
  (10 s), so a flood cannot spend the minute's budget in its first second.
A batch is admitted only if it fits in both; a refused batch uses no budget.
``Retry-After`` is the time left in the window that refused it.

With Redis, one Lua script checks both windows, counts the admitted batch, and
adds a refused one to the project's dropped counter: one round trip per
lease (``LEASE_MAX_EVENTS``: a busy project's process asks once every
200 events, a quiet project's once per event), no database query (the project comes with the key from
``keys.authenticate_key``'s cache). The dropped counters wait in a Redis
hash until ``flush_dropped`` (a beat task) adds them to
``Project.dropped_event_count``. Without Redis (the embedded run), the windows
are rows of the rate-limit counter table, each counted by one conditional
upsert, and a refused batch is added to the project's column at once.

If the store fails, events are admitted and a warning is logged (at most one
every few seconds): quotas protect the service, they must not stop ingest.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.db.models import F

from events.keys import forget_keys
from events.models import Project
from tracepoint import metrics, redis
from tracepoint.lib.blocking import may_block

logger = logging.getLogger("tracepoint.events.quota")

MINUTE = 60
RATE, SPIKE = "rate_limit", "spike_guard"  # the reasons, as labelled in /metrics
STORE_PAUSE_SECONDS = 5.0
_paused_until = 0.0

_CHECK = """
local back = tonumber(ARGV[8])
-- A minute's key lost meanwhile (evicted, a restart) is not made again, without an expiry, by a give-back.
if back > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECRBY', KEYS[1], back) end
local n = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') + n > tonumber(ARGV[2]) then
  if ARGV[7] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[6], n) end
  return 1
end
if tonumber(redis.call('GET', KEYS[2]) or '0') + n > tonumber(ARGV[3]) then
  if ARGV[7] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[6], n) end
  return 2
end
if redis.call('INCRBY', KEYS[1], n) == n then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
if redis.call('INCRBY', KEYS[2], n) == n then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
return 0
"""
_TAKE_ALL = """
local found = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return found
"""
# Counts only while the batch fits: no row comes back when it does not.
_UPSERT = (
    "INSERT INTO tracepoint_ratelimitcounter (key, count, expires_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (key) DO UPDATE SET count = tracepoint_ratelimitcounter.count + excluded.count "
    "WHERE tracepoint_ratelimitcounter.count + excluded.count <= %s RETURNING count"
)
_GIVE_BACK = "UPDATE tracepoint_ratelimitcounter SET count = count - %s WHERE key = %s"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    limit: int = 0
    window_seconds: int = 0
    retry_after: int = 0

    def sentry_rate_limits(self) -> str:
        """``X-Sentry-Rate-Limits``: errors (category ``error``) of this DSN key (scope ``key``)."""
        return f"{self.retry_after}:error:key"


ADMITTED = Decision(True)


@lru_cache(maxsize=4)
def _scripts(client):
    return client.register_script(_CHECK), client.register_script(_TAKE_ALL)


def reset() -> None:
    """Forget any pause after a store failure, the leases and the registered scripts (process-wide state)."""
    global _paused_until
    _paused_until = 0.0
    _scripts.cache_clear()
    _leases.clear()


def _key(*parts) -> str:
    return ":".join([settings.CACHE_KEY_PREFIX, "quota", *map(str, parts)])


def dropped_key() -> str:
    return _key("dropped")


# A process takes its events' budget from the store a few at a time (a lease of up to LEASE_MAX_EVENTS, at
# most 1/LEASE_SHARE of the smaller window), and admits that many without asking again in the same windows.
# The store still counts every event; what a process leased and did not use when a window ends is budget
# nobody used, at most LEASE_MAX_EVENTS - 1 per process and window (under 1 % of it). A project with a small
# quota gets leases of one event: exact. Under a flood, each renewal sends the requests that find the lease
# spent to the ingest service's checking thread, where they are checked again: with leases of 50 that was a
# fifth of the requests of one process at 16 connections, with 200 it is 4 %.
LEASE_MAX_EVENTS = 200
LEASE_SHARE = 100
# project id -> (the windows and limits it was leased for, events left)
_leases: dict[int, tuple[tuple[int, int, int, int], int]] = {}
_leases_lock = threading.Lock()


def lease_size(rate: int, burst: int) -> int:
    return max(1, min(LEASE_MAX_EVENTS, min(rate, burst) // LEASE_SHARE))


def check(project: Project, count: int = 1, *, now: float | None = None) -> Decision:
    """Count ``count`` events of ``project`` if they fit in its quota; else say when to retry."""
    global _paused_until
    if count <= 0:
        return ADMITTED
    now = time.time() if now is None else now
    if time.monotonic() < _paused_until:
        return ADMITTED
    rate, burst = project.event_rate(), project.event_burst_limit()
    spike_seconds = settings.TRACEPOINT["PROJECT_EVENTS_BURST_SECONDS"]
    minute, spike = int(now // MINUTE), int(now // spike_seconds)
    windows = (minute, spike, rate, burst)
    with _leases_lock:  # the ingest service's event loop and its checking thread share the leases
        leased = _leases.get(project.pk)
        if leased is not None and leased[0] == windows and leased[1] >= count:
            _leases[project.pk] = (windows, leased[1] - count)
            return ADMITTED
    may_block()  # the store is asked: on the ingest service's event loop, ask it from a thread instead
    with _leases_lock:
        leased = _leases.pop(project.pk, None)
    # What is left of a lease of this minute (its 10-second window is over, or it is too small for this
    # batch) goes back to the minute: only a lease that ends with its minute can leave budget unused.
    give_back = leased[1] if leased is not None and leased[0][0] == minute and leased[0][2:] == windows[2:] else 0
    counted = _Windows(
        (_key(project.pk, "m", minute), _key(project.pk, f"s{spike_seconds}", spike)), rate, burst, now, spike_seconds
    )
    size = lease_size(rate, burst)
    try:
        refused = 1
        if size > count:  # a lease if the windows have room for it, else the events alone
            refused = _take(project, size, counted, count_refusal=False, give_back=give_back)
            give_back = 0
            if not refused:
                _leases[project.pk] = (windows, size - count)
        if refused:
            refused = _take(project, count, counted, count_refusal=True, give_back=give_back)
    except Exception as exc:  # fail open: see the module docstring
        _paused_until = time.monotonic() + STORE_PAUSE_SECONDS
        logger.warning("quota store unavailable, events admitted for %ss: %s", STORE_PAUSE_SECONDS, exc)
        return ADMITTED
    if not refused:
        return ADMITTED
    reason, limit, seconds, window = (
        (RATE, rate, MINUTE, minute) if refused == 1 else (SPIKE, burst, spike_seconds, spike)
    )
    try:
        metrics.INGEST_DROPPED.labels(project.slug, reason).inc(count)
    except Exception as exc:  # a full metrics directory must not fail ingest
        logger.debug("could not count dropped events: %s", exc)
    return Decision(False, reason, limit, seconds, max(1, math.ceil((window + 1) * seconds - now)))


@dataclass(frozen=True)
class _Windows:
    """The two windows an event is counted in: their keys (minute, spike guard) and limits, at ``now``."""

    keys: tuple[str, str]
    rate: int
    burst: int
    now: float
    spike_seconds: int


def _take(project: Project, count: int, windows: _Windows, *, count_refusal: bool, give_back: int = 0) -> int:
    """Count ``count`` events in both windows if they fit: 0; else 1 (the rate) or 2 (the spike guard),
    adding them to the project's dropped events when ``count_refusal``. ``give_back`` events of a lease
    are first taken off the minute's count."""
    client = redis.client()
    if client is None:
        if give_back:
            with connection.cursor() as cursor:
                cursor.execute(_GIVE_BACK, [give_back, windows.keys[0]])
        return _check_in_database(project, count, windows, count_refusal=count_refusal)
    flag = "1" if count_refusal else "0"
    args = [count, windows.rate, windows.burst, MINUTE + 1, windows.spike_seconds + 1, project.pk, flag, give_back]
    return int(_scripts(client)[0](keys=[*windows.keys, dropped_key()], args=args))


def _check_in_database(project: Project, count: int, windows: _Windows, *, count_refusal: bool = True) -> int:
    """1: over the rate, 2: over the spike guard, 0: admitted and counted."""
    refused, keys = 0, windows.keys
    limits = ((keys[0], windows.rate, MINUTE), (keys[1], windows.burst, windows.spike_seconds))
    with connection.cursor() as cursor:
        for number, (key, limit, seconds) in enumerate(limits, 1):
            expires_at = datetime.fromtimestamp(windows.now + seconds + 1, tz=UTC)
            cursor.execute(_UPSERT, [key, count, expires_at, limit])
            row = cursor.fetchone()
            if row is None or row[0] > limit:
                refused = number
                # What this refused batch counted (a new window's row is inserted whatever the
                # count; the minute counted it before the spike guard refused it) is given back.
                for counted in ([key] if row is not None else []) + ([keys[0]] if number == 2 else []):
                    cursor.execute(_GIVE_BACK, [count, counted])
                break
    if refused and count_refusal:
        Project.objects.filter(pk=project.pk).update(dropped_event_count=F("dropped_event_count") + count)
    return refused


def pending_dropped() -> dict[int, int]:
    """Dropped events counted in Redis and not yet flushed to the projects' column, by project id."""
    client = redis.client()
    if client is None:
        return {}
    try:
        return {int(pk): int(n) for pk, n in client.hgetall(dropped_key()).items()}
    except Exception as exc:
        logger.warning("could not read the dropped event counters: %s", exc)
        return {}


def dropped_events(project: Project, pending: dict[int, int] | None = None) -> int:
    """The project's dropped events so far, including those still waiting in Redis."""
    if pending is None:
        pending = pending_dropped()
    return project.dropped_event_count + pending.get(project.pk, 0)


def flush_dropped() -> int:
    """Move the dropped counters from Redis to ``Project.dropped_event_count``. Returns the events moved."""
    client = redis.client()
    if client is None:
        return 0
    taken = _scripts(client)[1](keys=[dropped_key()])
    counts = {int(taken[i]): int(taken[i + 1]) for i in range(0, len(taken), 2)}
    try:
        for pk, n in counts.items():
            Project.objects.filter(pk=pk).update(dropped_event_count=F("dropped_event_count") + n)
    except Exception:
        # Put them back for the next run (a project done above is counted twice: rare, and only a counter).
        with client.pipeline() as pipe:
            for pk, n in counts.items():
                pipe.hincrby(dropped_key(), pk, n)
            pipe.execute()
        raise
    return sum(counts.values())


def set_events_per_minute(project: Project, events_per_minute: int | None) -> Project:
    """A project's own rate (None: the installation's default); every web process applies it
    within INGEST_KEY_CACHE_SECONDS, this one at once."""
    project.events_per_minute = events_per_minute
    project.save(update_fields=["events_per_minute"])
    forget_keys()
    return project
