"""Exactly one Celery beat sends periodic tasks, however many are started.

A mis-scaled deployment (two beat replicas, a rollout that overlaps, a second `make run`) would
send every periodic task twice. Each beat ticks through :class:`LockedDatabaseScheduler`, which
sends nothing unless it holds the beat lock:

- with Redis, a key set with ``NX`` and a time to live, renewed on every tick (at most every
  ``BEAT_LOCK_RENEW_SECONDS``) by the beat that holds it; a beat that dies stops renewing, the key
  lapses after ``BEAT_LOCK_TTL_SECONDS`` and a standby takes over on its next poll;
- without Redis (the embedded run: one machine), an exclusive ``flock`` on ``var/beat.lock``,
  which the kernel releases the moment its holder dies.

A standby polls every ``BEAT_LOCK_RENEW_SECONDS``. When it takes over it reads the schedule again
from the database, so a task the previous beat has just sent is not sent again; beat records each
run as it sends it (``beat_sync_every = 1``) for that reason. If Redis cannot be reached, no beat
holds the lock: the broker is Redis too, so nothing could be sent anyway.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import uuid
from pathlib import Path

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from tracepoint import redis

logger = logging.getLogger("tracepoint.beat")

_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBeatLock:
    def __init__(self, client, *, key: str, ttl_seconds: int) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_seconds * 1000
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._hold = client.register_script(_HOLD)
        self._release = client.register_script(_RELEASE)

    def hold(self) -> bool:
        """Take the lock, or keep it for another TTL; False while another beat holds it."""
        try:
            return bool(self._hold(keys=[self.key], args=[self.token, self.ttl_ms]))
        except Exception as exc:  # Redis away: hold nothing, send nothing (it is the broker too)
            logger.warning("beat lock: Redis unavailable, not sending periodic tasks: %s", exc)
            return False

    def holder(self) -> str | None:
        try:
            value = self.client.get(self.key)
        except Exception:
            return None
        return value.decode() if isinstance(value, bytes) else value

    def release(self) -> None:
        try:
            self._release(keys=[self.key], args=[self.token])
        except Exception as exc:
            logger.warning("beat lock: could not release: %s", exc)


class FileBeatLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.token = f"{socket.gethostname()}:{os.getpid()}"
        self._fd: int | None = None

    def hold(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, self.token.encode())
        self._fd = fd
        return True

    def holder(self) -> str | None:
        try:
            return self.path.read_text() or None
        except OSError:
            return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def beat_lock():
    limits = settings.TRACEPOINT
    client = redis.client()
    if client is not None:
        return RedisBeatLock(
            client, key=f"{settings.CACHE_KEY_PREFIX}:beat:lock", ttl_seconds=limits["BEAT_LOCK_TTL_SECONDS"]
        )
    return FileBeatLock(Path(settings.VAR_DIR) / "beat.lock")


class LockedDatabaseScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, sending only while this beat holds the beat lock."""

    def __init__(self, *args, **kwargs) -> None:
        self.lock = beat_lock()
        self.leading = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        renew = settings.TRACEPOINT["BEAT_LOCK_RENEW_SECONDS"]
        if not self.lock.hold():
            if self.leading:
                logger.warning("beat lock lost to %s: standing by", self.lock.holder())
                self.leading = False
            elif not getattr(self, "_standby_logged", False):
                logger.info("another beat (%s) sends the periodic tasks: standing by", self.lock.holder())
                self._standby_logged = True
            return renew
        if not self.leading:
            logger.info("beat lock taken (%s): sending periodic tasks", self.lock.token)
            self.leading = True
            self._standby_logged = False
            # Read every entry's last run again: the previous holder may have run them since.
            self._initial_read = True
            self._heap = None
            # A heartbeat now rather than one interval later: /ready is up as soon as a worker is.
            try:
                self.app.send_task("tracepoint.record_heartbeat")
            except Exception as exc:  # the broker may still be starting; the schedule sends the next
                logger.warning("could not queue the first worker heartbeat: %s", exc)
        return min(super().tick(*args, **kwargs), renew)

    def apply_entry(self, entry, producer=None):
        # Checked again before every send (one Redis call): a beat whose tick stalled past the TTL (a
        # frozen VM, a long pause) must not send beside the beat that has taken over meanwhile.
        if not self.lock.hold():
            if self.leading:
                logger.warning("beat lock lost to %s before sending %s: standing by", self.lock.holder(), entry.name)
                self.leading = False
            return
        super().apply_entry(entry, producer=producer)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.lock.release()
