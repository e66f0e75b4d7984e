"""The ingest service: Sentry's ``/envelope/`` and ``/store/`` under ASGI, with group commit.

A sync web worker spends most of an event's cost on being a process per request: it holds the connection
while the INSERT makes its round trip, and each INSERT is a commit of its own. Here (``ingest`` in compose
and Kubernetes, ``tracepoint.ingest_asgi:application`` under uvicorn workers) a request costs a coroutine:

- its body is read without holding a thread, up to the same limit as the view;
- the checks (``sentry.check_request``: the key, the envelope, the quota) run on the event loop as long
  as they wait for nothing: the key and a quota lease remembered in this process, as for nearly every
  request (a trip to a thread would cost more CPU than the checks). Where they would query the database
  or Redis they stop (``tracepoint.lib.blocking``) and run again in a thread, with the view's retries
  after a lost database connection; concurrent requests share one trip to it (a ``Batcher``);
- the event then joins the writer's queue (another ``Batcher``): one thread stores everything queued in
  one INSERT (``ingest.receive_many``) while the next events queue behind it, so a busy service commits
  hundreds of events at once and a quiet one still stores each at once (no timer to wait for);
- each request is answered after the commit of its event, as the view answers: nothing answered 2xx is
  lost.

Every answer is the view's: the same error shapes and CORS headers (``sentry.refusal``), request id, log
line and metrics (``tracepoint.middleware``), fixed security headers (``FastPath``'s). Whatever this
service does not answer itself (preflights, other methods, other paths, a plain-HTTP request under
SECURE_SSL_REDIRECT, a Host outside ALLOWED_HOSTS) goes to Django's ASGI application, as in the WSGI fast
path.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.db import connections
from django.http import HttpResponse

from events import ingest, sentry
from events.ingest import Received
from events.sentry_protocol import SentryProtocolError, TooLarge
from tracepoint.api.errors import database_unavailable_response, error_response, is_database_unavailable
from tracepoint.fastpath import FastPath, Route, needs_django, prepare_connections
from tracepoint.lib.blocking import WouldBlock, without_blocking
from tracepoint.logging import request_id_var
from tracepoint.middleware import (
    DATABASE_RETRY_DELAYS,
    call_with_database_retries,
    finish_request,
    refuse_large_body,
    response_for_error,
    start_request,
)

logger = logging.getLogger("tracepoint.events.ingest")
error_logger = logging.getLogger("tracepoint.errors")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

# One INSERT carries at most this many events, or about this many bytes of bodies: a statement stays far
# under SQLite's and PostgreSQL's parameter limits and a few MB of memory.
BATCH_MAX_ROWS = 200
BATCH_MAX_BYTES = 8 * 1024 * 1024
# One trip to the checking thread takes at most this many requests, so none waits long behind the others.
CHECK_BATCH_MAX = 32
# Requests of one process waiting for the checking thread or for their commit: past this many (a database
# that answers slowly), a new one is refused with 503 and Retry-After before its body is read, so memory
# stays bounded (each waiting request holds its body).
MAX_WAITING = 1000
BUSY_RETRY_AFTER_SECONDS = 2
# At shutdown, requests already read are finished (checked, stored, answered) for at most this long.
SHUTDOWN_WAIT_SECONDS = 25


class Batcher:
    """Runs the work of concurrent requests together in one thread of its own: ``await submit(item)``
    returns the item's outcome once its batch is done (or raises it, if it is an exception). While a batch
    runs, what arrives queues for the next one: a busy process makes few trips to the thread, each with
    many items, and a quiet one still runs each item at once (no timer to wait for).

    ``run(items)`` gets a list and returns one outcome per item; if it raises, every item of the batch gets
    that exception. ``size(item)`` counts towards ``max_bytes`` per batch."""

    def __init__(
        self,
        name: str,
        run: Callable[[list], list],
        *,
        max_items: int,
        max_bytes: int | None = None,
        size: Callable[[Any], int] = lambda item: 0,
    ) -> None:
        self.run, self.max_items, self.max_bytes, self.size = run, max_items, max_bytes, size
        self.queue: list[tuple[Any, asyncio.Future]] = []
        self.draining: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.waiting = 0  # items queued or running
        self.batches = 0  # trips to the thread so far (tests and the bench read these)
        self.items = 0

    async def submit(self, item: Any) -> Any:
        done = asyncio.get_running_loop().create_future()
        self.queue.append((item, done))
        if self.draining is None:
            self.draining = asyncio.create_task(self._drain())
        self.waiting += 1
        try:
            return await done
        finally:
            self.waiting -= 1

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.queue:
                batch = self._take()
                try:
                    outcomes = await loop.run_in_executor(self.executor, self.run, [item for item, _ in batch])
                except Exception as exc:  # e.g. a lost database (after the retries): every item of it fails
                    outcomes = [exc] * len(batch)
                self.batches += 1
                self.items += len(batch)
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if done.done():
                        continue
                    if isinstance(outcome, Exception):
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
        finally:
            self.draining = None

    def _take(self) -> list[tuple[Any, asyncio.Future]]:
        total = 0
        for count, (item, _) in enumerate(self.queue):
            total += self.size(item)
            if count >= self.max_items or (count and self.max_bytes is not None and total > self.max_bytes):
                break
        else:
            count = len(self.queue)
        batch, self.queue = self.queue[:count], self.queue[count:]
        return batch

    async def close(self) -> None:
        """Finish what is queued, then stop the thread (at shutdown)."""
        while self.draining is not None:
            await asyncio.shield(self.draining)
        self.executor.shutdown(wait=True)


def _body_size(received: Received) -> int:
    return len(received.body)


def _store(items: list[Received]) -> list[Exception | None]:
    """``ingest.receive_many`` in the writer's thread, with the views' retries after a lost connection:
    storing is idempotent on ``event_id``, so a batch that may or may not have been stored is stored again."""
    prepare_connections()
    for delay in (*DATABASE_RETRY_DELAYS, None):
        try:
            return ingest.receive_many(items)
        except Exception as exc:
            if not is_database_unavailable(exc) or delay is None:
                raise
            logger.warning("database connection lost storing %d events; retrying in %.1f s: %s", len(items), delay, exc)
            for connection in connections.all(initialized_only=True):
                connection.close()
            time.sleep(delay)
    raise AssertionError("unreachable")


def _checks(request: ASGIRequest, view: Callable, body: bytes, project_id: int) -> HttpResponse | tuple:
    """The view's checks: the refusal to answer, or (event id, Received | None)."""
    try:
        return sentry.check_request(request, project_id, body=body, legacy=view is sentry.store_view)
    except (SentryProtocolError, sentry.RateLimited) as exc:
        return sentry.refusal(exc)


def _check(request: ASGIRequest, view: Callable, kwargs: dict, body: bytes) -> HttpResponse | tuple:
    """``_checks`` in the checking thread, where they may wait, with the view's lost-database retries."""
    request_id_var.set(request.request_id)  # this thread's log lines carry the request's id

    def call(request: ASGIRequest, project_id: int) -> HttpResponse | tuple:
        return _checks(request, view, body, project_id)

    prepare_connections()
    try:
        answer = call_with_database_retries(request, view, (), kwargs, call=call)
        return answer if answer is not None else call(request, **kwargs)
    except Exception as exc:
        return response_for_error(request, exc) or response_for_exception(request, exc)


def _check_here(request: ASGIRequest, view: Callable, kwargs: dict, body: bytes) -> HttpResponse | tuple:
    """``_checks`` on the event loop, inside ``without_blocking()``: raises ``WouldBlock`` (having changed
    nothing) where they would wait for the database or Redis. No database retries: nothing here touches
    the database."""
    try:
        return _checks(request, view, body, kwargs["project_id"])
    except WouldBlock:
        raise
    except Exception as exc:
        return response_for_error(request, exc) or response_for_exception(request, exc)


def _check_all(items: list[tuple[ASGIRequest, Callable, dict, bytes]]) -> list[HttpResponse | tuple]:
    """``_check`` of each request, in order; once one found the database away (after its retries), the
    rest of the batch is answered 503 at once rather than each waiting through retries of its own."""
    answers: list[HttpResponse | tuple] = []
    for request, view, kwargs, body in items:
        if answers and getattr(answers[-1], "database_unavailable", False):
            request_id_var.set(request.request_id)
            answers.append(database_unavailable_response())
        else:
            answers.append(_check(request, view, kwargs, body))
    return answers


class IngestService:
    """ASGI application: ``routes`` (the URLconf's Sentry patterns) answered here, everything else by ``app``."""

    def __init__(self, app: Callable, routes: list[Route]):
        self.app = app
        self.paths = FastPath(app, routes)  # its route table, error reshaping and fixed headers
        # The checks may query the database or Redis, so they run off the event loop; a trip to a thread
        # per request would cost more CPU than the checks themselves, so concurrent requests share one.
        self.checker = Batcher("ingest-checks", _check_all, max_items=CHECK_BATCH_MAX)
        # The events of concurrent requests, stored in one INSERT.
        self.writer = Batcher(
            "ingest-writer", _store, max_items=BATCH_MAX_ROWS, max_bytes=BATCH_MAX_BYTES, size=_body_size
        )
        self.in_flight = 0  # requests between their body and their answer
        self.max_waiting = MAX_WAITING

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        found = self.paths.match(scope.get("method"), scope.get("path", "")) if scope["type"] == "http" else None
        if found is None:
            return await self.app(scope, receive, send)
        view, kwargs, name, _route = found
        request = ASGIRequest(scope, io.BytesIO())
        secure = request.is_secure()  # honours SECURE_PROXY_SSL_HEADER
        if needs_django(request, secure):
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        start_request(request)
        try:
            answer = await self._answer(request, receive, view, kwargs)
        except ClientGone:
            logger.debug("the client of %s hung up before sending its whole body", request.path)
            return
        status, headers, content = self.paths.as_answer(request, answer)
        headers = self.paths.complete_headers(request, headers, content, secure=secure)
        finish_request(request, status, started=started, route=name, view=view)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            }
        )
        await send({"type": "http.response.body", "body": content})

    async def _answer(self, request: ASGIRequest, receive: Receive, view: Callable, kwargs: dict):
        refused = refuse_large_body(request, view)
        if refused is not None:
            return refused
        if self.checker.waiting + self.writer.waiting >= self.max_waiting:
            return sentry.with_cors(
                error_response(
                    503,
                    "Too many events are waiting to be stored; retry shortly.",
                    details={"dependency": "database"},
                    headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
                )
            )
        self.in_flight += 1
        try:
            return await self._accept(request, receive, view, kwargs)
        finally:
            self.in_flight -= 1

    async def _accept(self, request: ASGIRequest, receive: Receive, view: Callable, kwargs: dict):
        try:
            body = await _read_body(receive, limit=sentry.max_request_bytes())
        except SentryProtocolError as exc:
            return sentry.refusal(exc)
        try:
            with without_blocking():  # the common case: key and quota lease remembered, nothing to wait for
                checked = _check_here(request, view, kwargs, body)
        except WouldBlock:
            try:
                checked = await self.checker.submit((request, view, kwargs, body))
            except Exception as exc:  # the checking thread is gone (shutdown): _check itself never raises
                return response_for_error(request, exc)
        if isinstance(checked, HttpResponse):
            return checked
        event_id, received = checked
        if received is not None:
            try:
                await self.writer.submit(received)
            except ingest.InvalidProjectKey as exc:
                return sentry.refusal(SentryProtocolError(exc.status_code, exc.message))
            except Exception as exc:
                if is_database_unavailable(exc):
                    error_logger.error("database unavailable: %s", exc)
                    return sentry.with_cors(database_unavailable_response())
                error_logger.error("could not store an event", exc_info=exc)
                return response_for_error(request, exc)
        body = json.dumps(sentry.accepted(event_id)).encode()
        return 200, [("Content-Type", "application/json"), *sentry.CORS_HEADERS.items()], body

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # uvicorn lets open requests finish first; any still between their body and their answer are
                # checked and stored before the threads stop.
                deadline = asyncio.get_running_loop().time() + SHUTDOWN_WAIT_SECONDS
                while self.in_flight and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.01)
                await self.checker.close()
                await self.writer.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


class ClientGone(Exception):
    pass


async def _read_body(receive: Receive, *, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit``, whatever Content-Length said."""
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"The request body is over the limit of {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
