"""Actions and test doubles shared by several test modules (models are built in tests/factories.py)."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from django.core.signals import request_finished
from django.db import close_old_connections
from prometheus_client.parser import text_string_to_metric_families

from events import services
from events.services import NewEvent
from tests.factories import PASSWORD
from tests.net import free_port

# --- ingesting and digesting -----------------------------------------------------------------------


def ingest(
    project, *events: NewEvent, now: datetime, each_when_it_happens: bool = False, until_done: bool = True
) -> None:
    """Store ``events`` as received at ``now`` (or each at its own timestamp), then digest them at ``now``.

    ``until_done=False`` runs a single digest pass instead of draining everything waiting.
    """
    if each_when_it_happens:
        for item in events:
            services.store_events(project, [item], now=item.timestamp)
    else:
        services.store_events(project, list(events), now=now)
    if until_done:
        while services.digest_pending(now=now):
            pass
    else:
        services.digest_pending(now=now)


# --- Sentry envelopes --------------------------------------------------------------------------------

EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"


def envelope(*items: tuple[dict, bytes], header: dict | None = None, lengths: bool = True, final_newline=True) -> bytes:
    lines = [json.dumps(header if header is not None else {"event_id": EVENT_ID}).encode()]
    for item_header, payload in items:
        item_header = dict(item_header)
        if lengths:
            item_header["length"] = len(payload)
        lines += [json.dumps(item_header).encode(), payload]
    return b"\n".join(lines) + (b"\n" if final_newline else b"")


def event_item(**fields) -> tuple[dict, bytes]:
    body = {
        "event_id": EVENT_ID,
        "platform": "python",
        "level": "error",
        "exception": {"values": [{"type": "KeyError", "value": "'sku'", "stacktrace": {"frames": []}}]},
        **fields,
    }
    return {"type": "event", "content_type": "application/json"}, json.dumps(body).encode()


# --- the production WSGI application -----------------------------------------------------------------


def call(path: str, body: bytes = b"", *, method: str = "POST", headers: dict | None = None, app=None):
    """One request through the WSGI callable (``tracepoint.wsgi`` unless ``app``); returns (status, headers, body)."""
    if app is None:
        from tracepoint.wsgi import application as app
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-sentry-envelope",
    }
    environ.update(headers or {})
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"] = int(status.split()[0])
        started["headers"] = dict(response_headers)

    # Like Django's test client: the test's transaction must survive request_finished.
    request_finished.disconnect(close_old_connections)
    try:
        result = app(environ, start_response)
        content = b"".join(result)
        if hasattr(result, "close"):
            result.close()
    finally:
        request_finished.connect(close_old_connections)
    return started["status"], started["headers"], content


# --- /metrics ------------------------------------------------------------------------------------------


def samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


# --- live streams ------------------------------------------------------------------------------------


class SSEReader:
    """Reads ``id``/``event``/``data`` blocks from a streaming response."""

    def __init__(self, response: requests.Response):
        self.response = response
        self.lines = response.iter_lines(decode_unicode=True)
        for line in self.lines:  # the server says ": connected" once it is subscribed
            if line == ": connected":
                break

    def next_event(self) -> dict:
        event: dict = {}
        for line in self.lines:
            if line == "":
                if "data" in event:
                    return event
                event = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value
        raise AssertionError("the stream ended")


# --- outbound targets --------------------------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("192.168.0.10", "private"),
    ("169.254.10.1", "link-local (cloud metadata)"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("::1", "loopback"),
    ("localhost", "loopback"),  # a name that resolves to a refused address
]


def url_for(host: str, port: int = 80, path: str = "/hook") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


class Target:
    """A local HTTP server whose behaviour a test switches: healthy, failing, slow, hanging, wrong page."""

    def __init__(self):
        self.mode = "healthy"
        target = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if target.mode == "hanging":
                    time.sleep(5)
                if target.mode == "slow":
                    time.sleep(0.3)
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/")
                    self.end_headers()
                    return
                code = 503 if target.mode == "failing" else 200
                body = b"<h1>all good</h1>" if target.mode != "wrong-page" else b"<h1>maintenance</h1>"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- browser -----------------------------------------------------------------------------------------


def login(page, base: str, username: str) -> None:
    """Log in through the form of a Playwright ``page`` (the user has the factories' password)."""
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")
