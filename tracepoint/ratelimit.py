"""Fixed-window rate limits shared by every process.

With Redis, one Lua script increments the window's counter and sets its expiry
atomically, so any number of web processes share one count. Without Redis the
Django cache holds the counters (atomic within one process; good enough for the
single-machine embedded run). If Redis is configured but unreachable, requests
are let through and a warning is logged: limits protect the service, they must
not take it down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

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
def _redis_client(url: str):
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return client, client.register_script(_INCREMENT)


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
        count = _count(key, period)
    except Exception as exc:  # fail open: see the module docstring
        logger.warning("rate limit store unavailable, request allowed: %s", exc)
        return Decision(True, limit, limit, 0)
    return Decision(count <= limit, limit, max(0, limit - count), retry_after)


def _count(key: str, period: int) -> int:
    if settings.REDIS_URL:
        _, script = _redis_client(settings.REDIS_URL)
        return int(script(keys=[key], args=[period + 1]))
    cache.add(key, 0, timeout=period + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1


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
