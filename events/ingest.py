"""Ingest: storing accepted events durably and waking the digester.

The hot path stores each event row (``digested_at`` NULL) and commits before
it answers, so an accepted event survives a worker crash, a restart or a Redis
outage. Grouping runs later in ``events.digestion``: ``wake_digester`` queues
one ``digest_pending`` task after commit, debounced, and the ``sweep_undigested``
beat task digests whatever the queue missed. The two protocols hand their
events over as ``NewEvent`` (``events.native``, ``events.sentry_event``).
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from events.keys import InvalidProjectKey, forget_keys
from events.models import Event, Project
from tracepoint import redis

logger = logging.getLogger("tracepoint.events")


@dataclass
class NewEvent:
    """A validated, normalised event ready to store (from the native API or the Sentry protocol)."""

    event_id: uuid.UUID
    event_type: str
    service: str
    timestamp: datetime
    level: str = "error"
    message: str = ""
    release: str = ""
    environment: str = ""
    route: str = ""
    user_id: str = ""
    platform: str = ""
    data: dict[str, Any] = field(default_factory=dict)


_SURROGATES = re.compile(r"[\ud800-\udfff]")
MAX_DATA_DEPTH = 20


def clean_text(value: str) -> str:
    """Text PostgreSQL and SQLite can store: no NUL, no lone surrogates."""
    if value.isascii():  # most text: no surrogate can be in it, and the NUL test is one C scan
        return value.replace("\x00", "") if "\x00" in value else value
    return _SURROGATES.sub("\ufffd", value.replace("\x00", ""))


def clean_data(value: Any, depth: int = 0) -> Any:
    """JSON both databases accept: clean text, no NaN/Infinity, bounded depth.

    It walks every value of every event on the ingest path, so the common types are told apart by ``type()``
    identity first (the subclasses of str, int and float, rare, take the ``isinstance`` way)."""
    kind = type(value)
    if kind is str:
        return clean_text(value)
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if depth >= MAX_DATA_DEPTH:
        return "<nested too deeply>" if kind is dict or kind is list else _clean_other(value, depth)
    if kind is dict:
        deeper = depth + 1
        return {
            (key if type(key) is str and key.isascii() and "\x00" not in key else clean_text(str(key))): clean_data(
                item, deeper
            )
            for key, item in value.items()
        }
    if kind is list:
        deeper = depth + 1
        return [clean_data(item, deeper) for item in value]
    return _clean_other(value, depth)


def _clean_other(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DATA_DEPTH:
        return "<nested too deeply>"
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_data(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(item, depth + 1) for item in value]
    return clean_text(str(value))


def store_events(project: Project, events: list[NewEvent], *, now: datetime | None = None) -> list[uuid.UUID]:
    """Store events durably (the same ``event_id`` twice is stored once) and queue their grouping.

    Returns the event ids. The caller answers 2xx only after this returned:
    the rows are committed by then.
    """
    now = now or timezone.now()
    # Older than retention would be deleted before it is counted: treat it as received now.
    oldest = now - timedelta(days=settings.TRACEPOINT["EVENTS_RETENTION_DAYS"])
    rows = []
    for item in events:
        data = clean_data(item.data)
        timestamp = item.timestamp
        if timestamp < oldest:
            data["original_timestamp"] = timestamp.isoformat()
            timestamp = now
        rows.append(
            Event(
                project=project,
                event_id=item.event_id,
                event_type=item.event_type,
                service=clean_text(item.service),
                timestamp=timestamp,
                received_at=now,
                level=item.level,
                message=clean_text(item.message[:10_000]),
                release=clean_text(item.release[:200]),
                environment=clean_text(item.environment[:64]),
                route=clean_text(item.route[:500]),
                user_id=clean_text(item.user_id[:200]),
                platform=clean_text(item.platform[:32]),
                data=data,
            )
        )
    ids = [item.event_id for item in events]
    if len(rows) == 1 and not transaction.get_connection().in_atomic_block:
        # One SDK event per request: a single autocommit INSERT is one round
        # trip; bulk_create would add BEGIN and COMMIT around it.
        try:
            Event.objects._insert(rows, fields=_INSERT_FIELDS, on_conflict=OnConflict.IGNORE)
        except IntegrityError:
            # The project is gone: its key was remembered from before another process deleted it.
            forget_keys()
            raise InvalidProjectKey("Unknown or revoked project key.") from None
        wake_digester()
        return ids
    with transaction.atomic():
        Event.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        transaction.on_commit(wake_digester, robust=True)
    return ids


_INSERT_FIELDS = [field for field in Event._meta.concrete_fields if not field.primary_key]


# --- waking the digester --------------------------------------------------------------

WAKE_KEY = "events:digester-wakeup"
DIGEST_DELAY_SECONDS = 0.5
# After a failed wake-up this process leaves the events to the sweeper for a while.
WAKE_PAUSE_SECONDS = 5.0
_wake_paused_until = 0.0


def reset() -> None:
    """Forget any paused digester wake-up of this process (tests call it between tests)."""
    global _wake_paused_until
    _wake_paused_until = 0.0


def _wake_key() -> str:
    return f"{settings.CACHE_KEY_PREFIX}:{WAKE_KEY}"


def wake_digester() -> None:
    """Queue one ``digest_pending`` task unless one is already waiting to start.

    A publish per event would cost more than the insert; one task digests
    everything waiting, in batches. The key exists while a queued task has not
    started (the task clears it first, and it expires after a second in any
    case), so an event that finds it set will be seen by that task. If the
    broker (or Redis) is away, the beat sweeper digests the rows later:
    nothing accepted is lost.
    """
    global _wake_paused_until
    from events import tasks  # cycle: events.tasks runs the digester, which clears this module's wake-up key

    if time.monotonic() < _wake_paused_until:
        return  # Redis or the broker failed a moment ago: don't make every request wait for it again
    try:
        client = redis.client()
        if client is not None:
            claimed = client.set(_wake_key(), 1, nx=True, ex=1)
        else:
            claimed = cache.add(_wake_key(), 1, timeout=1)
        if claimed:
            # Run a moment later: what arrives meanwhile joins the same batch, so under
            # load the digester works in hundreds, not in ones (its cost is per group).
            tasks.digest_pending.apply_async(countdown=DIGEST_DELAY_SECONDS, retry=False)
    except Exception as exc:
        _wake_paused_until = time.monotonic() + WAKE_PAUSE_SECONDS
        logger.warning("could not queue digestion (the sweeper will pick the events up): %s", exc)


def clear_wakeup() -> None:
    """Called by a starting digester: events stored from now on queue another run."""
    client = redis.client()
    if client is not None:
        client.delete(_wake_key())
    else:
        cache.delete(_wake_key())
