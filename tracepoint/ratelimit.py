"""Fixed-window rate limits and per-account login delays, shared by every process.

With Redis, one Lua script increments the window's counter and sets its expiry
atomically, so any number of web processes share one count. Without Redis (the
embedded run) the counters live in the database: one upsert statement
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``) counts atomically across
processes, and a beat task purges expired windows.

When the store is unreachable, most limits let requests through and log a
warning: they protect the service, they must not take it down. Limits that
guard a secret (logins, token requests, page passwords) are called with
``fail_closed=True``: when Redis fails they count in the database instead, and
when that fails too the request is refused, so an attacker cannot switch the
limit off by overloading Redis.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from redis.exceptions import RedisError

from tracepoint import redis
from tracepoint.lib.env import parse_rate
from tracepoint.models import RateLimitCounter

logger = logging.getLogger("tracepoint.ratelimit")
T = TypeVar("T")

_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class StoreUnavailable(Exception):
    """Neither Redis nor the database could count."""


@lru_cache(maxsize=8)
def _script(client, source: str):
    return client.register_script(source)


def _store(on_redis: Callable[..., T], on_database: Callable[[], T], *, fallback: bool) -> T:
    """Run ``on_redis(client)`` when Redis is configured, else ``on_database()``.

    With ``fallback`` a Redis error moves the operation to the database; without it the error
    surfaces (a fail-open limit then lets the request through rather than add a database write
    to every request during a Redis outage).
    """
    client = redis.client()
    if client is not None:
        try:
            return on_redis(client)
        except (RedisError, OSError) as exc:
            if not fallback:
                raise StoreUnavailable(f"Redis: {exc}") from exc
            logger.warning("rate limit: Redis unavailable, counting in the database: %s", exc)
    try:
        with transaction.atomic():  # a savepoint: a failure must not break the request's transaction
            return on_database()
    except (OperationalError, InterfaceError) as exc:
        if fallback:
            raise  # the database is gone: refused all the same, as the 503 every view answers then
        raise StoreUnavailable(f"database: {exc}") from exc
    except DatabaseError as exc:
        raise StoreUnavailable(f"database: {exc}") from exc


def _db_time(timestamp: float):
    return connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(timestamp, tz=UTC))


def _key(*parts: object) -> str:
    return ":".join([settings.CACHE_KEY_PREFIX, "ratelimit", *map(str, parts)])


# --- fixed windows ---------------------------------------------------------------------------------


def rate_for(scope: str) -> tuple[int, int]:
    try:
        return parse_rate(settings.TRACEPOINT["RATE_LIMITS"][scope])
    except KeyError:
        raise KeyError(f"no rate limit configured for scope {scope!r} in TRACEPOINT['RATE_LIMITS']") from None


def hit(scope: str, ident: str, *, now: float | None = None, fail_closed: bool = False) -> Decision:
    """Count one request of ``ident`` in ``scope`` and say whether it may proceed.

    ``fail_closed``: for limits that guard a secret; see the module docstring.
    """
    limit, period = rate_for(scope)
    if not settings.TRACEPOINT["RATE_LIMIT_ENABLED"]:
        return Decision(True, limit, limit, 0)
    now = time.time() if now is None else now
    window = int(now // period)
    retry_after = max(1, int((window + 1) * period - now + 0.999))
    key = _key(scope, ident, window)
    try:
        count = _store(
            lambda client: int(_script(client, _INCREMENT)(keys=[key], args=[period + 1])),
            lambda: _db_increment(key, now + period + 1),
            fallback=fail_closed,
        )
    except StoreUnavailable as exc:
        if fail_closed:
            logger.error("rate limit store unavailable, %s request refused: %s", scope, exc)
            return Decision(False, limit, 0, retry_after)
        logger.warning("rate limit store unavailable, request allowed: %s", exc)
        return Decision(True, limit, limit, 0)
    return Decision(count <= limit, limit, max(0, limit - count), retry_after)


_UPSERT = (
    "INSERT INTO tracepoint_ratelimitcounter (key, count, expires_at) VALUES (%s, 1, %s) "
    "ON CONFLICT (key) DO UPDATE SET count = tracepoint_ratelimitcounter.count + 1 RETURNING count"
)


def _db_increment(key: str, expires_at: float) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key, _db_time(expires_at)])
        return int(cursor.fetchone()[0])


def purge_expired_counters(*, now: datetime | None = None) -> int:
    deleted, _ = RateLimitCounter.objects.filter(expires_at__lte=now or datetime.now(tz=UTC)).delete()
    return deleted


# --- growing delays after failures -----------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """After ``free_failures`` failures within ``window_seconds`` of each other, each further attempt
    waits 2, 4, 8 … seconds after the last failure, at most ``max_delay_seconds``."""

    free_failures: int
    max_delay_seconds: int
    window_seconds: int

    def delay_after(self, failures: int) -> int:
        if failures < self.free_failures:
            return 0
        exponent = min(failures - self.free_failures + 1, 31)
        return min(2**exponent, self.max_delay_seconds)

    @property
    def memory_seconds(self) -> int:
        # Failures are remembered at least as long as the longest delay they can cause.
        return max(self.window_seconds, self.max_delay_seconds)


# One attempt, atomically: refused (returns the seconds left) while the delay of the failures so far
# runs, else counted as a failure at once (returns 0) — before the password is even checked, so
# parallel guesses cannot all slip in while the first one is being hashed; a success resets it.
# HSET count/last; a run of failures starts again once the last one is older than the memory.
_ATTEMPT = """
local now, memory, expire = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local free, max_delay = tonumber(ARGV[4]), tonumber(ARGV[5])
local fields = redis.call('HMGET', KEYS[1], 'count', 'last')
local count, last = 0, 0
if fields[1] and fields[2] and now - tonumber(fields[2]) <= memory then
  count, last = tonumber(fields[1]), tonumber(fields[2])
end
if count >= free then
  local remaining = last + math.min(2 ^ math.min(count - free + 1, 31), max_delay) - now
  if remaining > 0 then return math.max(1, math.ceil(remaining)) end
end
redis.call('HSET', KEYS[1], 'count', count + 1, 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], expire)
return 0
"""


def _remaining(policy: Backoff, count: int, last: float, now: float) -> int:
    remaining = last + policy.delay_after(count) - now
    return max(1, math.ceil(remaining)) if remaining > 0 else 0


def _db_attempt(key: str, policy: Backoff, now: float) -> int:
    """The same in the database: the row (count, expires_at = last + memory) is locked for the decision."""
    memory = policy.memory_seconds
    with connection.cursor() as cursor:  # make sure the row exists, so that it can be locked
        cursor.execute(_DB_ENSURE, [key, _db_time(now)])
    row = RateLimitCounter.objects.select_for_update().get(key=key)
    count, last = row.count, row.expires_at.timestamp() - memory
    if now - last > memory:
        count, last = 0, 0.0
    if wait := _remaining(policy, count, last, now):
        return wait
    RateLimitCounter.objects.filter(key=key).update(
        count=count + 1, expires_at=datetime.fromtimestamp(now + memory, tz=UTC)
    )
    return 0


_DB_ENSURE = (
    "INSERT INTO tracepoint_ratelimitcounter (key, count, expires_at) VALUES (%s, 0, %s) ON CONFLICT (key) DO NOTHING"
)


def backoff_attempt(scope: str, ident: str, policy: Backoff, *, now: float | None = None) -> int:
    """Count an attempt of ``ident`` as a failure and return 0, or return the seconds it must still
    wait (the attempt is then refused and not counted). A success calls :func:`backoff_reset`.

    Fails closed: if no store can answer, the attempt waits ``policy.max_delay_seconds``.
    """
    if not settings.TRACEPOINT["RATE_LIMIT_ENABLED"]:
        return 0
    now = time.time() if now is None else now
    key = _key(scope, ident)
    memory = policy.memory_seconds
    args = [repr(now), memory, memory + 1, policy.free_failures, policy.max_delay_seconds]
    try:
        return _store(
            lambda client: int(_script(client, _ATTEMPT)(keys=[key], args=args)),
            lambda: _db_attempt(key, policy, now),
            fallback=True,
        )
    except StoreUnavailable as exc:
        logger.error("rate limit store unavailable, %s attempt refused: %s", scope, exc)
        return policy.max_delay_seconds


def backoff_reset(scope: str, ident: str) -> None:
    """Forget the failures of ``ident`` (a success)."""
    key = _key(scope, ident)
    try:
        _store(
            lambda client: client.delete(key), lambda: RateLimitCounter.objects.filter(key=key).delete(), fallback=True
        )
    except StoreUnavailable as exc:
        logger.warning("rate limit store unavailable, %s failures not reset: %s", scope, exc)


# --- who is asking ---------------------------------------------------------------------------------


def client_ip(request) -> str:
    """REMOTE_ADDR, or the address NUM_PROXIES hops back in X-Forwarded-For."""
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    proxies = settings.NUM_PROXIES
    if proxies and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return remote


def request_ident(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"
