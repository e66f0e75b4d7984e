"""Losing Redis under load: every event answered 200 is grouped once Redis is back, with no hand restart.

A real gunicorn (web), the ingest service, a Celery worker and beat run against the test database and a
private redis-server
(cache, broker and wake-up channel). Under a steady stream of Sentry envelopes the test SIGKILLs
Redis, starts an empty one on the same port 9 s later (its data lost: the worst case), and checks
that the worker and beat lived through it and that nothing accepted was lost or counted twice.

Redis is killed in the two situations that stopped a worker for good ("Unrecoverable error", an
AttributeError inside kombu's Redis transport): while the worker holds delivered, unacknowledged
messages, and while it is running a task (acknowledged late) that ends after the connection is gone.

``TP_TEST_STOCK_TRANSPORT=1`` runs the worker on kombu's stock Redis transport instead of
tracepoint/broker.py, to see this test catch the bug that module fixes (the test should then fail).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.helpers import envelope
from tests.net import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the servers share the test database, which only PostgreSQL serves to other processes",
    ),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary"),
]

LOAD_BEFORE_KILL = 5.0
OUTAGE = 9.0
LOAD_AFTER_RESTART = 5.0
SENDERS = 3
PAUSE_BETWEEN_SENDS = 0.1
GROUPED_WITHIN = 60.0
# One fingerprint each: type + message + top in-app frame (events/grouping.py).
ERRORS = (("KeyError", "'sku'"), ("TimeoutError", "upstream timed out"), ("ValueError", "bad quantity"))

WORKER_ARGS = ["worker", "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--concurrency", "2"]
STOCK_WORKER = (
    "from tracepoint.celery import app\n"
    "app.conf.broker_transport = None  # kombu picks its own transport from the redis:// URL\n"
    f"app.worker_main({WORKER_ARGS!r})\n"
)


class Process:
    """A subprocess whose stdout and stderr go to ``<log_dir>/<name>.log``."""

    def __init__(self, name: str, command: list[str], *, env: dict, log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, chars: int = 4000) -> str:
        state = "running" if self.alive() else f"exited with {self.proc.returncode}"
        text = self.text()
        # A fatal traceback is one long JSON line: show where it ends even if later lines push it out.
        fatal = "".join(f"{line[:200]} ... {line[-1500:]}\n" for line in text.splitlines() if "Unrecoverable" in line)
        return f"--- {self.name} ({state}), {self.log}\n{fatal}{text[-chars:]}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_redis(port: int, tmp_path: Path, generation: int) -> Process:
    data_dir = tmp_path / f"redis-{generation}"
    data_dir.mkdir()
    server = Process(
        f"redis-{generation}",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(data_dir), "--daemonize", "no"],
        env=dict(os.environ), log_dir=tmp_path,
    )  # fmt: skip
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if client.ping():
                return server
        if not server.alive():
            break
        time.sleep(0.05)
    server.stop()
    pytest.fail(f"redis-server did not start on port {port}:\n{server.tail()}")


@dataclass
class Stack:
    base: str
    ingest_base: str
    redis_port: int
    tmp_path: Path
    processes: dict[str, Process]
    redis_server: Process

    def tails(self) -> str:
        return "\n".join(process.tail() for process in [*self.processes.values(), self.redis_server])


@pytest.fixture
def stack(transactional_db, tmp_path):
    settings_dict = connection.settings_dict
    user = settings_dict["USER"] or "postgres"
    redis_port, web_port, ingest_port = free_port(), free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings",
        "DATABASE_URL": (
            f"postgres://{user}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
            f"/{settings_dict['NAME']}"
        ),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "TRACEPOINT_VAR_DIR": str(tmp_path),
        "CACHE_KEY_PREFIX": f"tpredisloss-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": "x" * 50,
        "DEBUG": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    redis_server = start_redis(redis_port, tmp_path, 1)
    processes: dict[str, Process] = {}
    stack = Stack(
        f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{ingest_port}", redis_port, tmp_path, processes, redis_server
    )
    try:
        processes["web"] = Process(
            "web",
            [str(BIN / "gunicorn"), "-c", "python:tracepoint.gunicorn_conf", "--bind", f"127.0.0.1:{web_port}",
             "--workers", "2", "--timeout", "30"],
            env=env, log_dir=tmp_path,
        )  # fmt: skip
        processes["ingest"] = Process(
            "ingest",
            [str(BIN / "gunicorn"), "-c", "python:tracepoint.gunicorn_conf", "--worker-class",
             "uvicorn_worker.UvicornWorker", "tracepoint.ingest_asgi:application", "--bind",
             f"127.0.0.1:{ingest_port}", "--workers", "1", "--timeout", "30"],
            env=env, log_dir=tmp_path,
        )  # fmt: skip
        if os.environ.get("TP_TEST_STOCK_TRANSPORT") == "1":
            worker_command = [sys.executable, "-c", STOCK_WORKER]
        else:
            worker_command = [str(BIN / "celery"), "-A", "tracepoint", *WORKER_ARGS]
        processes["worker"] = Process("worker", worker_command, env=env, log_dir=tmp_path)
        processes["beat"] = Process(
            "beat", [str(BIN / "celery"), "-A", "tracepoint", "beat", "--loglevel", "INFO"], env=env, log_dir=tmp_path
        )
        wait_for_http(f"{stack.base}/health", process=processes["web"].proc)
        wait_for_http(f"{stack.ingest_base}/health", process=processes["ingest"].proc)
        wait_until(lambda: " ready." in processes["worker"].text(), stack, what="the worker to be ready", seconds=30)
        yield stack
    finally:
        for process in processes.values():
            process.stop()
        stack.redis_server.stop(signal.SIGKILL)


def wait_until(predicate, stack: Stack, *, what: str, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        for process in stack.processes.values():
            if not process.alive():
                pytest.fail(f"{process.name} exited while waiting for {what}:\n{stack.tails()}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds} s waiting for {what}:\n{stack.tails()}")


def hold_a_message_unacknowledged(stack: Stack) -> None:
    """Make sure the worker holds a delivered, unacknowledged message when Redis dies (the case that
    stopped it for good): a task due in a minute waits in the worker, unacknowledged, until then.
    Under load the digester's short countdowns usually do this too, but not always."""
    from kombu import Connection

    from tracepoint.celery import app

    task_id = f"redis-loss-{uuid.uuid4().hex}"
    with Connection(f"redis://127.0.0.1:{stack.redis_port}/0") as broker:
        app.send_task("events.sweep_undigested", countdown=60, task_id=task_id, connection=broker)
    worker = stack.processes["worker"]
    wait_until(lambda: task_id in worker.text(), stack, what="the worker to receive the delayed task", seconds=10)


def kill_redis_while_a_task_runs(stack: Stack, project) -> float:
    """SIGKILL Redis while the worker is in the middle of a digestion, which then finishes with the
    connection gone and is acknowledged (late) on the lost channel: the other way a lost Redis can
    stop a worker. The test holds the project's issue rows locked, so digestion waits on them.
    Returns when Redis was killed (time.monotonic())."""
    from django.db import transaction

    from events.models import Issue

    worker = stack.processes["worker"]
    issues = Issue.objects.filter(project=project)
    wait_until(lambda: issues.count() == len(ERRORS), stack, what="the first events to be grouped", seconds=15)
    with transaction.atomic():
        list(issues.select_for_update().values_list("pk", flat=True))

        def a_task_waits_on_the_lock() -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the first look is kept all transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE NOT l.granted AND a.datname = current_database()"
                )
                return cursor.fetchone()[0] > 0

        wait_until(a_task_waits_on_the_lock, stack, what="a digestion to wait on the issue rows", seconds=10)
        stack.redis_server.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(
            lambda: "Connection to broker lost" in worker.text(), stack, what="the worker to lose Redis", seconds=10
        )
    return killed_at


@dataclass
class Answer:
    event_id: str
    error: str
    status: int | str  # an HTTP status, or the exception's class name when there was no answer
    started: float
    ended: float
    url: str


class Load:
    """``SENDERS`` threads posting gzip Sentry envelopes (one event each, a fresh event_id each) until stopped,
    each to one of ``bases`` in turn (web and the ingest service)."""

    def __init__(self, bases: list[str], project_id: int, key: str) -> None:
        self.urls = [f"{base}/api/{project_id}/envelope/" for base in bases]
        self.headers = {
            "Content-Type": "application/x-sentry-envelope",
            "Content-Encoding": "gzip",
            "X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0",
        }
        self.answers: list[Answer] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(SENDERS)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self, sender: int) -> None:
        with requests.Session() as session:
            n = sender
            while not self.stopping.is_set():
                self.answers.append(self._send(session, self.urls[sender % len(self.urls)], ERRORS[n % len(ERRORS)]))
                n += 1
                self.stopping.wait(PAUSE_BETWEEN_SENDS)

    def _send(self, session: requests.Session, url: str, error: tuple[str, str]) -> Answer:
        event_id = uuid.uuid4().hex
        kind, value = error
        event = {
            "event_id": event_id,
            "platform": "python",
            "level": "error",
            "exception": {
                "values": [
                    {
                        "type": kind,
                        "value": value,
                        "stacktrace": {
                            "frames": [{"module": "shop.checkout", "function": "pay", "lineno": 42, "in_app": True}]
                        },
                    }
                ]
            },
        }
        body = gzip.compress(
            envelope(
                ({"type": "event", "content_type": "application/json"}, json.dumps(event).encode()),
                header={"event_id": event_id},
            )
        )
        started = time.monotonic()
        try:
            status: int | str = session.post(url, data=body, headers=self.headers, timeout=10).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        return Answer(event_id, kind, status, started, time.monotonic(), url)


def test_events_accepted_while_redis_dies_and_comes_back_empty_are_all_grouped_once(stack):
    from events import keys
    from events.models import Event, Issue

    project = keys.create_project(name="Shop", slug="shop", services=["checkout"])
    key = project.active_key().public_key
    worker, beat = stack.processes["worker"], stack.processes["beat"]

    with Load([stack.base, stack.ingest_base], project.pk, key) as load:
        time.sleep(LOAD_BEFORE_KILL)
        assert any(answer.status == 200 for answer in load.answers), stack.tails()
        hold_a_message_unacknowledged(stack)
        killed_at = kill_redis_while_a_task_runs(stack, project)
        time.sleep(OUTAGE)
        stack.redis_server = start_redis(stack.redis_port, stack.tmp_path, 2)
        restarted_at, restarted_wall = time.monotonic(), time.time()
        time.sleep(LOAD_AFTER_RESTART)
    load_ended_at = time.monotonic()
    answers = list(load.answers)

    accepted = {answer.event_id for answer in answers if answer.status == 200}
    during = [answer for answer in answers if answer.started >= killed_at and answer.ended <= restarted_at]
    statuses: dict[str, dict] = {}
    for label, subset in (("all", answers), ("outage", during)):
        counts: dict = {}
        for answer in subset:
            counts[answer.status] = counts.get(answer.status, 0) + 1
        statuses[label] = counts
    print(f"\nrequests: {statuses['all']}; while Redis was down: {statuses['outage']}")

    # Ingest does not depend on Redis: events are stored in PostgreSQL before the 200, and the
    # wake-up, quota and key cache fail open. Nothing else than a 200 is an acceptable answer.
    assert during, "no request was sent while Redis was down"
    assert statuses["all"].keys() == {200}, f"{statuses}\n{stack.tails()}"
    assert any(answer.url.startswith(stack.ingest_base) for answer in during), "the ingest service was not asked"

    # Grouped once Redis is back: woken digestion or the beat sweeper (events.sweep_undigested),
    # both run by the same worker, which must have lived through the outage.
    def all_grouped() -> bool:
        events = Event.objects.filter(project=project)
        stored = {event_id.hex for event_id in events.values_list("event_id", flat=True)}
        return accepted <= stored and not events.filter(digested_at__isnull=True).exists()

    try:
        wait_until(all_grouped, stack, what="every accepted event to be grouped", seconds=GROUPED_WITHIN)
    except pytest.fail.Exception:
        stored = Event.objects.filter(project=project)
        print(
            f"accepted {len(accepted)}, stored {stored.count()}, "
            f"undigested {stored.filter(digested_at__isnull=True).count()}"
        )
        raise
    grouped_at = time.monotonic()
    backlog = Event.objects.filter(project=project, received_at__lte=datetime.fromtimestamp(restarted_wall, UTC))
    backlog_done = max(backlog.values_list("digested_at", flat=True)).timestamp()
    print(
        f"accepted {len(accepted)} events; those stored before Redis came back were grouped "
        f"{backlog_done - restarted_wall:.1f} s after it; all grouped {grouped_at - restarted_at:.1f} s after it "
        f"({grouped_at - load_ended_at:.1f} s after the load stopped)"
    )

    assert worker.alive() and beat.alive(), stack.tails()
    log = worker.text()
    assert "Unrecoverable error" not in log, worker.tail()
    lost = log.find("Connection to broker lost")
    assert lost != -1, f"the worker did not notice Redis going away:\n{worker.tail()}"
    assert "Connected to" in log[lost:], f"the worker did not reconnect by itself:\n{worker.tail()}"

    events = Event.objects.filter(project=project)
    assert events.count() == len(accepted), "an event not answered 200 was stored (or one was stored twice)"
    assert not events.filter(issue__isnull=True).exists(), "a digested error event has no issue"
    issues = Issue.objects.filter(project=project)
    assert issues.count() == len(ERRORS), list(issues.values_list("title", "event_count"))
    # Each event counted exactly once: a redelivered or swept batch must not count it again.
    for issue in issues:
        assert issue.event_count == events.filter(issue=issue).count(), (issue.title, issue.event_count)
    assert sum(issues.values_list("event_count", flat=True)) == len(accepted)
