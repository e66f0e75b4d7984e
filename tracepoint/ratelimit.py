"""Fixed-window rate limits shared by every process.

With Redis, one Lua script increments the window's counter and sets its expiry
atomically, so any number of web processes share one count. Without Redis (the
embedded run) the counters live in the database: one upsert statement
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``) counts atomically across
processes, and a beat task purges expired windows. If the store is unreachable,
requests are let through and a warning is logged: limits protect the service,
they must not take it down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings
from django.db import connection

from tracepoint import redis
from tracepoint.lib.env import parse_rate

logger = logging.getLogger("tracepoint.ratelimit")

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


@lru_cache(maxsize=4)
def _increment_script(client):
    return client.register_script(_INCREMENT)


def rate_for(scope: str) -> tuple[int, int]:
    try:
        return parse_rate(settings.TRACEPOINT["RATE_LIMITS"][scope])
    except KeyError:
        raise KeyError(f"no rate limit configured for scope {scope!r} in TRACEPOINT['RATE_LIMITS']") from None


def hit(scope: str, ident: str, *, now: float | None = None) -> Decision:
    """Count one request of ``ident`` in ``scope`` and say whether it may proceed."""
    limit, period = rate_for(scope)
    if not settings.TRACEPOINT["RATE_LIMIT_ENABLED"]:
        return Decision(True, limit, limit, 0)
    now = time.time() if now is None else now
    window = int(now // period)
    retry_after = max(1, int((window + 1) * period - now + 0.999))
    key = f"{settings.CACHE_KEY_PREFIX}:ratelimit:{scope}:{ident}:{window}"
    try:
        count = _count(key, period, now)
    except Exception as exc:  # fail open: see the module docstring
        logger.warning("rate limit store unavailable, request allowed: %s", exc)
        return Decision(True, limit, limit, 0)
    return Decision(count <= limit, limit, max(0, limit - count), retry_after)


_UPSERT = (
    "INSERT INTO tracepoint_ratelimitcounter (key, count, expires_at) VALUES (%s, 1, %s) "
    "ON CONFLICT (key) DO UPDATE SET count = tracepoint_ratelimitcounter.count + 1 RETURNING count"
)


def _count(key: str, period: int, now: float) -> int:
    client = redis.client()
    if client is not None:
        return int(_increment_script(client)(keys=[key], args=[period + 1]))
    expires_at = datetime.fromtimestamp(now + period + 1, tz=UTC)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key, expires_at])
        return int(cursor.fetchone()[0])


def purge_expired_counters(*, now: datetime | None = None) -> int:
    from tracepoint.models import RateLimitCounter

    deleted, _ = RateLimitCounter.objects.filter(expires_at__lte=now or datetime.now(tz=UTC)).delete()
    return deleted


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
