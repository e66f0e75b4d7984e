"""A real Celery worker killed (SIGKILL) in the middle of a subscriber fan-out: once the task comes back
to another worker, every subscriber has had the news exactly once (mail files, a counting receiver)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from statuspages import services
from statuspages.models import PublicUpdate, Subscriber
from tests.factories import make_incident, make_page
from tests.notifications.conftest import WebhookReceiver
from tracepoint.notifications.models import Delivery

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")),
    reason="a real worker needs the test database in PostgreSQL and a Redis broker",
)


def _wait(predicate, *, seconds: float, what: str, workers=()) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        for worker in workers:
            if worker.poll() is not None:
                pytest.fail(f"the worker exited with {worker.returncode} while waiting for {what}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def worker_env(transactional_db, tmp_path, settings):
    settings_dict = connection.settings_dict
    user = settings_dict["USER"] or "postgres"
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    (tmp_path / "mail").mkdir()
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings_test",
        "TRACEPOINT_VAR_DIR": str(tmp_path / "var"),
        "FANOUT_TEST_QUEUE": f"fanout-test-{uuid.uuid4().hex[:8]}",
        "FANOUT_TEST_MAIL_DIR": str(tmp_path / "mail"),
        "LOG_LEVEL": "WARNING",
    }


def _start_worker(env: dict, log: Path, *, pause: float = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.statuspages.fanout_worker"],
        cwd=ROOT, env={**env, "FANOUT_TEST_PAUSE_SECONDS": str(pause)},
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _mailed(mail_dir: Path) -> Counter:
    return Counter(match for path in mail_dir.iterdir() for match in re.findall(r"^To: (\S+)$", path.read_text(), re.M))


def test_a_worker_killed_mid_fan_out_loses_no_news_and_sends_none_twice(worker_env, tmp_path, settings):
    from statuspages.tasks import notify_subscribers

    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": True}
    receiver = WebhookReceiver()
    log = tmp_path / "worker.log"
    workers: list[subprocess.Popen] = []
    try:
        page = make_page()
        link = services.publish_incident(page, make_incident(title="Search is slow"))  # no body: no news yet
        update = PublicUpdate.objects.create(page_incident=link, status="investigating", body="Looking into it.")
        emails = [f"s{number:02}@example.com" for number in range(12)]
        for email in emails:
            Subscriber.objects.create(page=page, kind="email", email=email, confirmed_at=update.created_at)
        for name in ("a", "b", "c"):
            Subscriber.objects.create(
                page=page, kind="webhook", url=f"{receiver.url}/{name}", confirmed_at=update.created_at
            )
        total = len(emails) + 3

        # The first worker fans out slowly (a pause after each committed batch of 5) and is killed
        # once the first batch is in the database.
        first = _start_worker(worker_env, log, pause=30)
        workers.append(first)
        notify_subscribers.apply_async(
            args=(page.pk,),
            kwargs={"incident_id": link.pk, "event": "investigating", "update_id": update.pk, "chunk_size": 5},
            queue=worker_env["FANOUT_TEST_QUEUE"],
        )
        _wait(lambda: Delivery.objects.exists(), seconds=60, what="the first batch", workers=[first])
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        created = Delivery.objects.count()
        assert 0 < created < total, "the worker was to be killed half-way through the fan-out"

        # Another worker: it sends what was queued, gets the unacknowledged fan-out back and finishes it.
        second = _start_worker(worker_env, log)
        workers.append(second)
        _wait(
            lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == total,
            seconds=90,
            what="every delivery to succeed",
            workers=[second],
        )
        # Stop the worker (a warm shutdown finishes what it holds) before counting: anything sent
        # twice has been sent by then.
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)

        assert Delivery.objects.count() == total
        assert _mailed(Path(worker_env["FANOUT_TEST_MAIL_DIR"])) == Counter(emails)
        assert sorted(request.path for request in receiver.requests) == ["/hook/a", "/hook/b", "/hook/c"]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
        receiver.close()
        if any(w.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM) for w in workers):
            print(log.read_text()[-5000:])
