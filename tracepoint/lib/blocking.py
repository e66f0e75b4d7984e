"""Running blocking code on an event loop only when it will not block.

The ingest service (``events.ingest_service``) checks each request on its event loop: a trip to a thread
would cost more CPU than the checks. The checks wait for nothing as long as the key and the quota lease are
remembered in this process; when they are not, they would query the database or Redis. Inside
``without_blocking()``, the code that would then wait calls ``may_block()`` first and gets ``WouldBlock``
instead, having changed nothing; the caller runs the whole check again in a thread, where it may wait.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_forbidden = contextvars.ContextVar("tracepoint_blocking_forbidden", default=False)


class WouldBlock(Exception):
    """The code was about to wait for I/O inside ``without_blocking()``, with nothing changed yet."""


@contextmanager
def without_blocking() -> Iterator[None]:
    token = _forbidden.set(True)
    try:
        yield
    finally:
        _forbidden.reset(token)


def may_block() -> None:
    """Say that what follows waits for a database, Redis or the network: ``WouldBlock`` inside
    ``without_blocking()``, nothing elsewhere. Call it before changing any state the retry would repeat."""
    if _forbidden.get():
        raise WouldBlock
