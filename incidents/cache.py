"""Cached incident detail, invalidated by every write to that incident.

Keys carry a per-incident version that writers bump after commit, so a
reader that loaded the row just before a write can only fill a key nobody
reads any more: no stale detail survives a write. Cache errors (Redis down)
are logged and ignored: the database answers instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("tracepoint.incidents.cache")
_MISSING = object()


def _version_key(incident_id) -> str:
    return f"incident:{incident_id}:version"


def _version(incident_id) -> int:
    return cache.get(_version_key(incident_id)) or 0


def get_or_set(incident_id, load: Callable[[], Any]) -> Any:
    timeout = settings.TRACEPOINT["INCIDENT_CACHE_SECONDS"]
    if not timeout:
        return load()
    try:
        key = f"incident:{incident_id}:detail:v{_version(incident_id)}"
        cached = cache.get(key, _MISSING)
    except Exception as exc:  # an unreachable cache must never fail a request
        logger.warning("incident cache unavailable: %s", exc)
        return load()
    if cached is not _MISSING:
        return cached
    value = load()
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as exc:
        logger.warning("incident cache unavailable: %s", exc)
    return value


def invalidate(incident_id) -> None:
    try:
        key = _version_key(incident_id)
        if not cache.add(key, 1, timeout=None):
            cache.incr(key)
    except ValueError:  # the version key expired between add and incr
        cache.set(_version_key(incident_id), 1, timeout=None)
    except Exception as exc:
        logger.warning("incident cache invalidation failed: %s", exc)
