"""One Redis client per process and URL, for the hot paths that talk to Redis directly.

Django's Redis cache builds a new client object for every operation (cheap
once, not at a thousand requests a second); the rate limits and the ingest
wake-up use this long-lived one instead. redis-py's pool notices a fork
(gunicorn preloads the app) and opens fresh connections in the child.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str):
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def client():
    """The client for ``REDIS_URL``, or None when Tracepoint runs without Redis."""
    return _client(settings.REDIS_URL) if settings.REDIS_URL else None
