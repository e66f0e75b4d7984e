"""Losing PostgreSQL under load: no 500s, no accepted event lost, and the service comes back by itself.

A real gunicorn talks to the test database through a TCP proxy that the test cuts (every connection
dropped, new ones refused) and restores, as a database restart or a network failure would.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.factories import make_token, make_user
from tests.helpers import digest_all, envelope
from tests.net import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="cuts a PostgreSQL connection"
)


class CuttableProxy:
    """127.0.0.1:<port> → PostgreSQL, until cut(): then every connection is dropped and new ones refused."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.open = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        self.open = False
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
            self.sockets.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.server.close()


@pytest.fixture
def proxied_server(transactional_db, tmp_path):
    settings_dict = connection.settings_dict
    proxy = CuttableProxy((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)))
    user = settings_dict["USER"] or "postgres"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{user}@127.0.0.1:{proxy.port}/{settings_dict['NAME']}",
        "DATABASE_CONNECT_TIMEOUT": "2",
        "TRACEPOINT_VAR_DIR": str(tmp_path),
        "DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "LOG_LEVEL": "CRITICAL",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-c", "python:tracepoint.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--timeout", "30"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base}/health", process=proc)
    yield base, proxy
    proc.terminate()
    proc.wait(timeout=15)
    proxy.close()


def send_event(base: str, project, key: str) -> tuple[int, str, dict]:
    event_id = uuid.uuid4().hex
    body = gzip.compress(
        envelope(
            ({"type": "event", "content_type": "application/json"},
             json.dumps({"event_id": event_id, "level": "error", "message": "boom"}).encode()),
            header={"event_id": event_id},
        )
    )  # fmt: skip
    response = requests.post(
        f"{base}/api/{project.pk}/envelope/",
        data=body,
        headers={
            "Content-Type": "application/x-sentry-envelope",
            "Content-Encoding": "gzip",
            "X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0",
        },
        timeout=20,
    )
    return response.status_code, event_id, dict(response.headers)


def test_a_lost_database_gives_503s_not_500s_loses_nothing_accepted_and_comes_back(proxied_server):
    from events import keys
    from events.models import Event

    base, proxy = proxied_server
    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    key = project.active_key().public_key
    token = make_token(make_user("viewer"))
    api = {"Authorization": f"Token {token}"}
    accepted, answers = [], []

    def call_both() -> None:
        status, event_id, headers = send_event(base, project, key)
        answers.append(("ingest", status, headers.get("Retry-After")))
        if status == 200:
            accepted.append(event_id)
        response = requests.get(f"{base}/api/v1/incidents", headers=api, timeout=20)
        answers.append(("api", response.status_code, response.headers.get("Retry-After")))

    for _ in range(5):
        call_both()
    assert {status for _, status, _ in answers} == {200}

    proxy.cut()
    outage = time.monotonic() + 3
    while time.monotonic() < outage:
        call_both()
    during = answers[10:]
    assert during and all(status in (200, 503) for _, status, _ in during), during
    assert any(status == 503 for _, status, _ in during), "the database was away: someone should have said so"
    assert all(retry for _, status, retry in during if status == 503), "a 503 says when to come back"

    proxy.restore()
    deadline, recovered = time.monotonic() + 15, False
    while time.monotonic() < deadline and not recovered:
        before = len(answers)
        call_both()
        recovered = all(status == 200 for _, status, _ in answers[before:])
    assert recovered, "the service did not come back by itself"
    assert all(status != 500 for _, status, _ in answers)
    digest_all()  # what the worker or the sweeper does with what the requests received
    stored = set(Event.objects.filter(project=project).values_list("event_id", flat=True))
    assert {uuid.UUID(event_id) for event_id in accepted} <= stored, "an accepted event was lost"


def test_a_short_blip_is_hidden_by_the_retry_of_safe_requests(proxied_server):
    base, proxy = proxied_server
    token = make_token(make_user("viewer"))
    api = {"Authorization": f"Token {token}"}
    assert requests.get(f"{base}/api/v1/incidents", headers=api, timeout=10).status_code == 200
    proxy.cut()
    threading.Timer(0.3, proxy.restore).start()
    response = requests.get(f"{base}/api/v1/incidents", headers=api, timeout=20)
    assert response.status_code == 200, response.text
