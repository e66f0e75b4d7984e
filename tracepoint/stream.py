"""Live streams over Redis, as Server-Sent Events: the machinery every page's live view shares.

Publishing: ``publish_to`` runs one Lua script in Redis: XADD to the named stream
(the last ``LIVE_STREAM_MAXLEN`` messages, for ``Last-Event-ID`` replay) and
PUBLISH the same message with its stream id on the pub/sub channel of the same
name (the fan-out to every web process on every machine).

Reading: ``events`` subscribes first, then replays what the client missed (ids
after its ``Last-Event-ID``), then forwards live messages whose id is newer than
the last one sent — nothing is lost or sent twice in between. Comments every
``HEARTBEAT_SECONDS`` keep proxies from closing an idle stream; after
``MAX_SECONDS`` the server ends it and the browser reconnects with
``Last-Event-ID`` (so a deploy or a revoked permission takes effect).

The views (tracepoint/live.py and each app's ``live.py``) are ``async``: under an
ASGI server (the ``stream`` service, uvicorn workers) an open stream costs a
coroutine and a Redis connection, not a worker. Without Redis there is no
stream: pages poll instead. Which streams exist and what they carry is the
apps' business: events (a project's new events and issue changes), incidents.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from tracepoint import redis

logger = logging.getLogger("tracepoint.stream")

HEARTBEAT_SECONDS = 15.0
MAX_SECONDS = 300.0
REPLAY_LIMIT = 500

_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'data', ARGV[1])
redis.call('PUBLISH', KEYS[1], id .. ' ' .. ARGV[1])
return id
"""


def available() -> bool:
    return redis.client() is not None


def page_url(path: str) -> str | None:
    """Where a page opens its stream, or None when pages poll (no Redis, or no stream service configured)."""
    base = settings.TRACEPOINT["STREAM_BASE_URL"]
    if not base or not available():
        return None
    return path if base == "same-origin" else base + path


def publish_to(name: str, message: dict[str, Any]) -> str | None:
    """Send one message (its ``type`` is the SSE event name) to the named stream and channel."""
    client = redis.client()
    if client is None:
        return None
    payload = json.dumps(message, cls=DjangoJSONEncoder)
    try:
        entry = client.eval(_PUBLISH, 1, name, payload, settings.TRACEPOINT["LIVE_STREAM_MAXLEN"])
    except Exception as exc:  # a live view is a convenience: never fail the caller for it
        logger.warning("could not publish to the live stream %s: %s", name, exc)
        return None
    return entry.decode() if isinstance(entry, bytes) else str(entry)


_ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")


def _id_key(entry_id: str) -> tuple[int, int]:
    """A Redis stream id as a sortable pair; ValueError for anything else."""
    if not _ENTRY_ID.fullmatch(entry_id):
        raise ValueError(f"not a stream id: {entry_id!r}")
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence)


def _frame(entry_id: str | None, payload: str) -> bytes:
    kind = json.loads(payload).get("type", "message")
    lines = [f"id: {entry_id}"] if entry_id else []
    lines += [f"event: {kind}", f"data: {payload}", "", ""]
    return "\n".join(lines).encode()


def parse_last_event_id(value: str | None, project_ids: Iterable[int]) -> dict[int, str]:
    """``Last-Event-ID``: a stream id, or ``<stream number>:<id>`` pairs joined by commas (several streams,
    e.g. one per project)."""
    ids = list(project_ids)
    found: dict[int, str] = {}
    for part in (value or "").split(","):
        part = part.strip()
        project, sep, entry = part.rpartition(":") if part.count(":") else ("", "", part)
        try:
            _id_key(entry)
        except ValueError:
            continue
        if sep and project.isdigit() and int(project) in ids:
            found[int(project)] = entry
        elif not sep and len(ids) == 1:
            found[ids[0]] = entry
    return found


async def events(
    project_ids: list[int],
    *,
    last_ids: dict[int, str] | None = None,
    max_seconds: float = MAX_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
    channel_of: Callable[[int], str],
) -> AsyncIterator[bytes]:
    """The SSE byte stream of these numbered streams (``channel_of`` names each, e.g. a project's):
    replay after ``last_ids``, then live messages."""
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    pubsub = client.pubsub()
    channels = {channel_of(pid): pid for pid in project_ids}
    several = len(project_ids) > 1

    sent: dict[int, str] = dict(last_ids or {})

    def event_id(pid: int, entry: str) -> str:
        # With several projects the id carries every project's position, so a reconnect
        # (Last-Event-ID) resumes each of them, not only the one that spoke last.
        if not several:
            return entry
        return ",".join(f"{project}:{position}" for project, position in sorted(sent.items()))

    try:
        if channels:
            await pubsub.subscribe(*channels)
        yield b"retry: 3000\n: connected\n\n"  # after subscribing: from here on nothing is missed
        # Replay what this client missed (after subscribing: nothing falls in between).
        for pid in list(last_ids or {}):
            while True:  # in pages, until caught up (the stream keeps LIVE_STREAM_MAXLEN at most)
                entries = await client.xrange(channel_of(pid), min=f"({sent[pid]}", max="+", count=REPLAY_LIMIT)
                for raw_id, fields in entries:
                    entry = raw_id.decode()
                    sent[pid] = entry
                    yield _frame(event_id(pid, entry), fields[b"data"].decode())
                if len(entries) < REPLAY_LIMIT:
                    break
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_seconds
        next_beat = loop.time() + heartbeat
        while loop.time() < deadline:
            if not channels:
                await asyncio.sleep(min(heartbeat, deadline - loop.time()))
                message = None
            else:
                timeout = max(0.0, min(next_beat, deadline) - loop.time())
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
            if message is not None and message.get("type") == "message":
                pid = channels[message["channel"].decode()]
                entry, _, payload = message["data"].decode().partition(" ")
                if pid in sent and _id_key(entry) <= _id_key(sent[pid]):
                    continue  # already replayed
                sent[pid] = entry
                yield _frame(event_id(pid, entry), payload)
            if loop.time() >= next_beat:
                next_beat = loop.time() + heartbeat
                yield b": keep-alive\n\n"
    finally:
        try:
            await pubsub.aclose()
            await client.aclose()
        except Exception:  # the client went away; nothing to tidy
            logger.debug("closing a live stream's Redis connection failed", exc_info=True)
