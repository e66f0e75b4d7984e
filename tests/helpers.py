"""Actions and test doubles shared by several test modules (models are built in tests/factories.py)."""

from __future__ import annotations

import ast
import asyncio
import importlib
import io
import json
import os
import re
import shlex
import sys
import threading
import time
import uuid
import zlib
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from celery import Celery
from celery.app.utils import find_app
from celery.beat import Scheduler
from celery.utils.imports import symbol_by_name
from django.conf import settings
from django.core.management import get_commands
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections
from django.urls import Resolver404, resolve
from prometheus_client.parser import text_string_to_metric_families

from events import digestion
from events.ingest import NewEvent, receive, store_events
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
            store_events(project, [item], now=item.timestamp)
    else:
        store_events(project, list(events), now=now)
    if until_done:
        while digestion.digest_pending(now=now):
            pass
    else:
        digestion.digest_pending(now=now)


def digest_all(*, now: datetime | None = None) -> int:
    """What a worker does after SDK events arrive: map the received events to Event rows and group
    them, until nothing waits. Returns how many rows it took."""
    total = 0
    while done := digestion.digest_pending(now=now):
        total += done
    return total


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


def receive_sdk_event(project, *, now: datetime | None = None) -> uuid.UUID:
    """One SDK event stored as received and not digested yet (deflated: an event kept alone)."""
    event_id = uuid.uuid4()
    body = zlib.compress(event_item(event_id=event_id.hex)[1])
    receive(project, event_id, body=body, encoding="deflate", envelope=False, now=now)
    return event_id


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

    # Like Django's test client: the test's transaction must survive request_started and request_finished.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = app(environ, start_response)
        content = b"".join(result)
        if hasattr(result, "close"):
            result.close()
    finally:
        request_started.connect(close_old_connections)
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


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A checker that gave up on a hanging or slow answer closed its end: expected, not worth a
        # traceback on the console (a handler thread outlives its test).
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


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

        self.server = _QuietServer(("127.0.0.1", free_port()), Handler)
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


# --- deployment manifests: does a command point at code that exists? ---------------------------------
# Shared by tests/test_compose.py (docker-compose.yml, the Dockerfile) and tests/test_kubernetes.py.

ROOT = Path(settings.BASE_DIR)
APP_PORTS = ("8000", "8001", "8002")  # web (WSGI), stream and ingest (ASGI)
APP_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[\w/.-]*)")
# Read outside tracepoint.settings, so NAMES_READ does not list them: ensure_admin
# reads its two when it runs, gunicorn reads WEB_CONCURRENCY, Django the settings module.
NAMES_READ_ELSEWHERE = {
    "TRACEPOINT_ADMIN_USER": "tracepoint.management.commands.ensure_admin",
    "TRACEPOINT_ADMIN_PASSWORD": "tracepoint.management.commands.ensure_admin",
    "WEB_CONCURRENCY": "gunicorn.config",
    "DJANGO_SETTINGS_MODULE": "django.conf",
}


def import_problem(dotted: str) -> str | None:
    try:
        importlib.import_module(dotted)
    except Exception as exc:
        return f"cannot import {dotted!r}: {type(exc).__name__}: {exc}"
    return None


def _check_gunicorn(args: list[str]) -> list[str]:
    targets = [arg for arg in args if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", arg)]
    if len(targets) != 1:
        return [f"gunicorn needs exactly one module:attribute target, found {targets}"]
    module_name, attr = targets[0].split(":")
    problem = import_problem(module_name)
    if problem:
        return [problem]
    target = getattr(importlib.import_module(module_name), attr, None)
    if not callable(target):
        return [f"{targets[0]} is not a callable WSGI application"]
    return []


_CELERY_GLOBAL_OPTIONS_WITH_VALUE = {"-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config"}
_CELERY_GLOBAL_OPTIONS_WITH_VALUE |= {"--workdir"}


def _check_celery(args: list[str], subcommands: set[str]) -> list[str]:
    app_name, subcommand, rest, index = None, None, [], 0
    while index < len(args):
        arg = args[index]
        if arg in ("-A", "--app"):
            app_name, index = (args[index + 1] if index + 1 < len(args) else None), index + 2
        elif arg.startswith("--app="):
            app_name, index = arg.split("=", 1)[1], index + 1
        elif arg.startswith("-A") and len(arg) > 2:
            app_name, index = arg[2:], index + 1
        elif arg in _CELERY_GLOBAL_OPTIONS_WITH_VALUE:
            index += 2
        elif arg.startswith("-"):
            index += 1
        else:
            subcommand, rest = arg, args[index + 1 :]
            break
    problems = []
    if not app_name:
        problems.append("celery needs -A/--app")
    else:
        try:
            found = find_app(app_name)
        except Exception as exc:
            found = None
            problems.append(f"celery -A {app_name}: cannot load the app: {type(exc).__name__}: {exc}")
        if found is not None:
            from tracepoint.celery import app as tracepoint_app

            if not isinstance(found, Celery) or found is not tracepoint_app:
                problems.append(f"celery -A {app_name} does not load tracepoint.celery.app (got {found!r})")
    if subcommand not in subcommands:
        problems.append(f"celery subcommand {subcommand!r} is not one of {sorted(subcommands)}")
    for position, arg in enumerate(rest):
        scheduler = None
        if arg in ("-S", "--scheduler") and position + 1 < len(rest):
            scheduler = rest[position + 1]
        elif arg.startswith("--scheduler="):
            scheduler = arg.split("=", 1)[1]
        if scheduler is None:
            continue
        try:
            scheduler_class = symbol_by_name(scheduler)
        except Exception as exc:
            problems.append(f"scheduler {scheduler!r} cannot be imported: {type(exc).__name__}: {exc}")
            continue
        if not (isinstance(scheduler_class, type) and issubclass(scheduler_class, Scheduler)):
            problems.append(f"scheduler {scheduler!r} is not a celery.beat.Scheduler")
    return problems


def _check_manage(args: list[str]) -> list[str]:
    problems = []
    if not (ROOT / "manage.py").is_file():
        problems.append("manage.py does not exist")
    subcommand = next((arg for arg in args if not arg.startswith("-")), None)
    if subcommand not in get_commands():
        problems.append(f"{subcommand!r} is not a Django management command")
    return problems


def _check_python_code(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [f"python -c code does not parse: {exc}"]
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += filter(None, (import_problem(alias.name) for alias in node.names))
        elif isinstance(node, ast.ImportFrom) and node.module:
            problem = import_problem(node.module)
            if problem:
                problems.append(problem)
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name) and import_problem(f"{node.module}.{alias.name}"):
                    problems.append(f"{node.module} has no {alias.name!r}")
    for port, path in APP_URL.findall(code):
        if port not in APP_PORTS:
            problems.append(f"{path} is probed on port {port}, but the app listens on {' or '.join(APP_PORTS)}")
        try:
            resolve(path)
        except Resolver404:
            problems.append(f"{path} is not a URL of the app")
    return problems


def command_problems(argv: list[str], *, celery_subcommands: frozenset = frozenset({"worker", "beat"})) -> list[str]:
    """What is wrong with one command line; an empty list means it points at code that exists."""
    if not argv:
        return ["empty command"]
    program = Path(argv[0]).name
    if program == "nice":  # nice [-n N] command...: check the command
        rest = argv[3:] if argv[1:2] == ["-n"] else argv[1:]
        return command_problems(rest, celery_subcommands=celery_subcommands)
    if program in ("sh", "bash") and len(argv) >= 3 and argv[1] == "-c":
        parts = [part.strip() for part in argv[2].split("&&")]
        problems = []
        for part in parts:
            tokens = shlex.split(part)
            # Output redirection is the shell's business, not the command's.
            tokens = tokens[: next((i for i, t in enumerate(tokens) if t.startswith((">", "2>"))), len(tokens))]
            problems += command_problems(tokens, celery_subcommands=celery_subcommands)
        return problems
    if program == "gunicorn":
        return _check_gunicorn(argv[1:])
    if program == "celery":
        return _check_celery(argv[1:], set(celery_subcommands))
    if re.fullmatch(r"python(3(\.\d+)?)?", program):
        if argv[1:2] == ["manage.py"]:
            return _check_manage(argv[2:])
        if argv[1:2] == ["-c"] and len(argv) > 2:
            return _check_python_code(argv[2])
    return [f"do not know how to check {shlex.join(argv)!r}"]


# --- races ---------------------------------------------------------------------------------------


def race(workers: int, target) -> list:
    """``target(index)`` in ``workers`` threads released together; each one's result or exception, in order.
    Each thread closes its database connections (a transactional test's rows are then visible to all)."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = target(index)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


SCREENSHOTS = os.environ.get("TRACEPOINT_SCREENSHOTS")  # a folder: keep the browser tests' pages to look at them


def keep_screenshot(page, name: str) -> None:
    """A full-page screenshot in TRACEPOINT_SCREENSHOTS, when it is set (to look at what a browser test saw)."""
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def run_without_database(script: str, tmp_path: Path, *, allowed_host: str, timeout: int = 60) -> str:
    """``script`` run by a separate Python whose database cannot be opened at all (a SQLite file in a missing
    directory) and without Redis; returns its last line of output, failing the test if it did not end well."""
    import subprocess

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/tracepoint.sqlite3",
        "TRACEPOINT_VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "CRITICAL",
        "ALLOWED_HOSTS": allowed_host,
    }
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def run_async(coroutine):
    """``asyncio.run`` in a thread of its own: Playwright's sync API (the browser tests) leaves an event loop
    running in the main thread for the rest of the session, where ``asyncio.run`` refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@contextmanager
def serve_asgi(application, *, lifespan: str = "off"):
    """An ASGI application under uvicorn, on a real socket, in this process (it sees the test database);
    yields its base URL."""
    import uvicorn
    from django.db import connection

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        connections.close_all()
        # The application ran views in executor threads whose kept connections outlive the server here;
        # PostgreSQL would refuse to drop the test database while they are open.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
