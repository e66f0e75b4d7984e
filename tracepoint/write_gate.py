"""One writer at a time on the embedded SQLite, without SQLite's sleeping wait.

Processes that share the SQLite file (web, worker, beat) take its one write lock in turn. A writer that
finds it taken waits in SQLite's busy handler, which sleeps in growing steps (up to 100 ms), whatever
the time the lock is actually free again. Ingest's inserts, each a fraction of a millisecond, then wait
tens of milliseconds behind a digest batch. The hot writers (ingest's insert, the digester's batch)
queue on an exclusive ``flock`` of a file beside the database instead: the kernel wakes a waiter as
soon as the holder is done. Other writers keep SQLite's own wait.

Between processes, that is: the threads of one process share the lock (SQLite's own still orders them).
A no-op on other databases and on an in-memory SQLite database (one process).
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager

from django.db import connection

_state = threading.local()
_files: dict[tuple[int, str], int] = {}
_files_lock = threading.Lock()


def _gate_file() -> int | None:
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict["NAME"])
    if not name or name == ":memory:" or "mode=memory" in name:
        return None
    path = f"{name}.write-gate"
    pid_path = (os.getpid(), path)  # a forked child opens its own: an inherited descriptor shares the lock
    with _files_lock:
        descriptor = _files.get(pid_path)
        if descriptor is None:
            descriptor = _files[pid_path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return descriptor


@contextmanager
def write_gate():
    """Hold the gate for a write (re-entrant within a thread)."""
    depth = getattr(_state, "depth", 0)
    descriptor = _gate_file() if depth == 0 else None
    if descriptor is not None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    _state.depth = depth + 1
    try:
        yield
    finally:
        _state.depth = depth
        if descriptor is not None:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
