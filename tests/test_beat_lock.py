"""Two real beat processes: one sends the periodic tasks, the other stands by and takes over when it dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the beats share the test database, which only PostgreSQL serves to other processes",
)

TTL_SECONDS = 4
RENEW_SECONDS = 1


class Beat:
    def __init__(self, name: str, env: dict, log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"beat-{name}.log"
        celery = Path(sys.executable).parent / "celery"
        self.proc = subprocess.Popen(
            [str(celery), "-A", "tracepoint", "beat", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log.open("w"),
        )  # fmt: skip

    def lines(self) -> list[dict]:
        found = []
        for line in self.log.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def sent(self, *, after: float = 0.0) -> list[float]:
        """When this beat sent the heartbeat task (seconds since the epoch)."""
        return [
            _timestamp(line)
            for line in self.lines()
            if "Sending due task worker-heartbeat" in line.get("message", "") and _timestamp(line) > after
        ]

    def said(self, text: str) -> float | None:
        for line in self.lines():
            if text in line.get("message", ""):
                return _timestamp(line)
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _timestamp(line: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(line["time"]).timestamp()


def _wait(predicate, *, timeout: float, what: str, beats: list[Beat]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        for beat in beats:
            if beat.proc.poll() is not None and beat.proc.returncode not in (-signal.SIGKILL,):
                pytest.fail(f"beat {beat.name} exited while waiting for {what}:\n{beat.log.read_text()[-3000:]}")
        time.sleep(0.2)
    logs = "\n".join(f"--- {beat.name}\n{beat.log.read_text()[-2000:]}" for beat in beats)
    pytest.fail(f"timed out waiting for {what}:\n{logs}")


@pytest.fixture(params=["redis", "file"])
def beat_env(request, transactional_db, tmp_path):
    if request.param == "redis" and not os.environ.get("REDIS_URL"):
        pytest.skip("the Redis lock needs REDIS_URL")
    settings_dict = connection.settings_dict
    user = settings_dict["USER"] or "postgres"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings",
        "DATABASE_URL": (
            f"postgres://{user}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
            f"/{settings_dict['NAME']}"
        ),
        "TRACEPOINT_VAR_DIR": str(tmp_path),  # shared: the file lock and the filesystem broker
        "CELERY_BROKER_URL": "filesystem://localhost//",
        "CACHE_KEY_PREFIX": f"tpbeat-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": "x" * 50,
        "DEBUG": "false",
        "HEARTBEAT_INTERVAL_SECONDS": "1",
        "BEAT_LOCK_TTL_SECONDS": str(TTL_SECONDS),
        "BEAT_LOCK_RENEW_SECONDS": str(RENEW_SECONDS),
    }
    if request.param == "file":
        env["REDIS_URL"] = ""
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return request.param, env, tmp_path


@pytest.fixture
def two_beats(beat_env):
    """A first beat that sends, then a second that stands by: (lock kind, first, second, both)."""
    kind, env, tmp_path = beat_env
    first = Beat("first", env, tmp_path)
    beats = [first]
    try:
        _wait(lambda: first.sent(), timeout=30, what="the first beat to send", beats=beats)
        second = Beat("second", env, tmp_path)
        beats.append(second)
        _wait(lambda: second.said("standing by"), timeout=30, what="the second beat to stand by", beats=beats)
        yield kind, first, second, beats
    finally:
        for beat in beats:
            beat.proc.send_signal(signal.SIGCONT)  # a test may have frozen one
            beat.stop()


def test_only_one_of_two_beats_sends_and_the_standby_takes_over_when_it_dies(two_beats):
    kind, first, second, beats = two_beats
    # Both run: the heartbeat (every second) is sent by the first beat only, once a second.
    together_from = time.time()
    time.sleep(5)
    together_until = time.time()
    assert second.sent() == []
    during = [at for at in first.sent(after=together_from) if at <= together_until]
    assert 1 <= len(during) <= 6, during  # about 5: once a second, never twice (a slow machine sends fewer)

    # The first one dies without a word: the second takes over (Redis: once the lock lapses).
    first.proc.kill()
    first.proc.wait()
    killed_at = time.time()
    took_over = _wait(lambda: second.said("beat lock taken"), timeout=60, what="the standby to take over", beats=beats)
    first_sent = _wait(lambda: second.sent(), timeout=30, what="the standby to send", beats=beats)[0]
    # Redis: the lock lapses, then the next poll; a file lock goes with its holder. Slack for a busy
    # machine: the bound is a minute.
    limit = (TTL_SECONDS if kind == "redis" else 0) + RENEW_SECONDS + 10
    assert took_over - killed_at <= limit
    assert first_sent - killed_at <= limit + 2
    assert first.sent(after=killed_at) == []


# A file lock stays with a frozen process (only a dead one lets it go): Redis only.
@pytest.mark.parametrize("beat_env", ["redis"], indirect=True)
def test_a_beat_that_stalled_past_the_lock_stands_by_when_it_wakes(two_beats):
    """A holder frozen longer than the TTL (SIGSTOP: a stalled VM, a long GC) loses the lock to the
    standby; when it wakes it must not send beside the new holder."""
    _, first, second, beats = two_beats
    first.proc.send_signal(signal.SIGSTOP)
    _wait(lambda: second.sent(), timeout=30, what="the standby to take over", beats=beats)
    first.proc.send_signal(signal.SIGCONT)
    woke_at = time.time()
    _wait(lambda: first.said("beat lock lost"), timeout=15, what="the stalled beat to stand by", beats=beats)
    time.sleep(3)
    # At most the tick it was in the middle of when frozen; nothing after it noticed.
    assert len(first.sent(after=woke_at)) <= 1
    lost_at = first.said("beat lock lost")
    assert first.sent(after=lost_at) == []
    assert second.sent(after=woke_at + 1)  # the new holder goes on


def test_a_beat_that_takes_the_lock_queues_a_worker_heartbeat_at_once(beat_env):
    """/ready needs a recent heartbeat: it comes when a beat takes over, not one interval later."""
    _, env, tmp_path = beat_env
    env = {**env, "HEARTBEAT_INTERVAL_SECONDS": "3600"}
    beat = Beat("only", env, tmp_path)
    broker = tmp_path / "celery" / "broker"

    def queued_heartbeats():
        return (
            [path for path in broker.glob("*.msg") if b"tracepoint.record_heartbeat" in path.read_bytes()]
            if broker.exists()
            else []
        )

    try:
        _wait(lambda: beat.said("beat lock taken"), timeout=30, what="the beat to take the lock", beats=[beat])
        _wait(queued_heartbeats, timeout=10, what="a heartbeat task in the broker", beats=[beat])
        assert beat.sent() == []  # not the schedule's: its first heartbeat is an hour away
    finally:
        beat.stop()
