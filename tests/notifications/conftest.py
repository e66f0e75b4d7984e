"""A real local webhook receiver, and a stand-in queue for the delivery task."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from tests.factories import make_user
from tests.net import free_port
from tracepoint.notifications.tasks import deliver_notification


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedResponse:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and hung up is expected in some tests


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records requests and answers from a script (then 200)."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._script: deque[ScriptedResponse] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                response = receiver._record(
                    ReceivedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if response.delay_seconds:
                    time.sleep(response.delay_seconds)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, format, *args) -> None:
                pass  # keep test output clean

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, request: ReceivedRequest) -> ScriptedResponse:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else ScriptedResponse()

    def respond(self, status: int, *, times: int = 1, body: bytes = b"", **options) -> None:
        """Answer the next ``times`` requests with ``status``; later ones get 200."""
        for _ in range(times):
            self._script.append(ScriptedResponse(status=status, body=body, **options))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def local_targets_allowed(settings):
    """Receivers here listen on 127.0.0.1, which the SSRF guard refuses by default (tests of the
    guard itself set OUTBOUND_ALLOW_PRIVATE_TARGETS back to False)."""
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a local port nobody listens on: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/hook"


@dataclass
class QueuedTask:
    delivery_id: int
    countdown: int | None


class TaskQueue:
    """Stands in for the broker: records what the delivery task queues, and can run it."""

    def __init__(self, traveller) -> None:
        self.queued: list[QueuedTask] = []
        self._traveller = traveller

    def apply_async(self, args=None, kwargs=None, countdown=None, **options) -> None:
        (delivery_id,) = args
        self.queued.append(QueuedTask(delivery_id, countdown))

    @property
    def delivery_ids(self) -> list[int]:
        return [task.delivery_id for task in self.queued]

    @property
    def countdowns(self) -> list[int | None]:
        return [task.countdown for task in self.queued]

    def run_all(self, *, limit: int = 50) -> list[QueuedTask]:
        """Run queued tasks in order, travelling in time to each countdown; returns what ran."""
        ran: list[QueuedTask] = []
        while self.queued and len(ran) < limit:
            task = self.queued.pop(0)
            if task.countdown:
                self._traveller.move_to(timezone.now() + timedelta(seconds=task.countdown), tick=False)
            deliver_notification(task.delivery_id)
            ran.append(task)
        return ran


@pytest.fixture
def task_queue(monkeypatch, time_machine):
    """Capture deliver_notification.delay/apply_async (delay goes through apply_async) instead of a broker."""
    time_machine.move_to(timezone.now(), tick=False)
    queue = TaskQueue(time_machine)
    monkeypatch.setitem(deliver_notification._get_current_object().__dict__, "apply_async", queue.apply_async)
    return queue


@pytest.fixture
def superuser(db):
    return make_user(username="root", is_superuser=True, is_staff=True)
