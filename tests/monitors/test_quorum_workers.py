"""A quorum with three real probe workers: three Celery worker processes, each consuming its own location's
queue (``-Q checks.<name>``) against the test database (PostgreSQL) and a Redis broker, checking a real
local HTTP target. One of them cannot reach it: its outbound guard refuses 127.0.0.1 (started without
ALLOW_PRIVATE_TARGETS), as a probe in a network without a route to the target would.

- The workers register their locations themselves when they start.
- 1 of 3 failing: the monitor stays UP (a majority is needed), and each location's result shows.
- A worker stopped: it never counts as failing; the round is decided without it once the timeout and the
  grace have passed, and the location is flagged as a probe problem (Overview, /ready stays 200).
- That worker back, unable to reach the target too: 2 of 3 fail and the monitor goes DOWN.

The scheduler's tick runs in the test process (it only sends the batches); the probes decide the rounds,
and a fourth worker, the main one, records the decisions they hand it (on a default queue of this test's
own, so that it runs nothing else that a shared broker may hold).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from monitors import locations, scheduler
from monitors.models import Monitor, MonitorStatus, ProbeLocation
from tests.factories import make_monitor

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")),
    reason="real workers need the test database in PostgreSQL and a Redis broker",
)

TIMEOUT_SECONDS = 2
GRACE_SECONDS = 2
SILENT_AFTER_SECONDS = 6


# A worker whose default queue (where it sends the decisions to record) is this test's own.
WORKER = (
    "import os, sys, django\n"
    "django.setup()\n"
    "from tracepoint.celery import app\n"
    "app.conf.task_default_queue = os.environ['QUORUM_TEST_DEFAULT_QUEUE']\n"
    "app.worker_main(['worker', *sys.argv[1:]])\n"
)


class Probe:
    """A Celery worker consuming ``queue`` (a location's, or the default one), logging to ``<tmp>/<name>.log``."""

    def __init__(self, name: str, env: dict, tmp_path: Path, *, queue: str, reaches_target: bool = True) -> None:
        self.name, self.log = name, tmp_path / f"{name}.log"
        env = {**env, "ALLOW_PRIVATE_TARGETS": "true" if reaches_target else "false"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", WORKER, "-Q", queue, "-P", "solo", "--loglevel", "INFO",
                 "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        state = "running" if self.alive() else f"exited with {self.proc.returncode}"
        return f"--- {self.name} ({state})\n" + self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wait_until(predicate, probes: list[Probe], *, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out after {seconds} s waiting for {what}\n" + "\n".join(p.tail() for p in probes))


@pytest.fixture
def probe_env(transactional_db, tmp_path, settings):
    settings.TRACEPOINT = {
        **settings.TRACEPOINT,
        "LOCATION_ROUND_GRACE_SECONDS": GRACE_SECONDS,
        "PROBE_SILENT_AFTER_SECONDS": SILENT_AFTER_SECONDS,
    }
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tracepoint.settings_test",
        "TRACEPOINT_VAR_DIR": str(tmp_path / "var"),
        "PROBE_SILENT_AFTER_SECONDS": str(SILENT_AFTER_SECONDS),
        "LOCATION_ROUND_GRACE_SECONDS": str(GRACE_SECONDS),
        "PYTHONUNBUFFERED": "1",
        "QUORUM_TEST_DEFAULT_QUEUE": f"quorum-test-{uuid.uuid4().hex[:8]}",
    }


def _round(monitor: Monitor, probes: list[Probe]) -> Monitor:
    """One round: the tick sends it, the test waits until the probes have decided it."""
    Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now() - timedelta(seconds=1))
    before = timezone.now()
    assert scheduler.run_due_checks() == 1
    return wait_until(
        lambda: Monitor.objects.filter(pk=monitor.pk, round_at__isnull=True, last_checked_at__gte=before).first(),
        probes,
        what="the probes to decide the round",
    )


def _results(monitor: Monitor) -> dict[str, tuple[str, str]]:
    return {r.location.name: (r.status, r.error) for r in monitor.location_results.select_related("location")}


def test_three_probe_workers_decide_by_majority_and_a_silent_one_never_counts_as_failing(
    probe_env, tmp_path, target, admin_user
):
    run = uuid.uuid4().hex[:6]
    a, b, c = f"qa-{run}", f"qb-{run}", f"qc-{run}"
    probes = {
        a: Probe(a, probe_env, tmp_path, queue=f"checks.{a}"),
        b: Probe(b, probe_env, tmp_path, queue=f"checks.{b}"),
        c: Probe(c, probe_env, tmp_path, queue=f"checks.{c}", reaches_target=False),
    }
    main = Probe("main", probe_env, tmp_path, queue=probe_env["QUORUM_TEST_DEFAULT_QUEUE"])
    try:
        # Each worker makes its location known when it starts: nobody creates them here.
        wait_until(
            lambda: ProbeLocation.objects.filter(name__in=probes).count() == 3,
            [*probes.values(), main],
            what="the workers to register their locations",
            seconds=60,
        )
        monitor = make_monitor("shop", url=f"{target.url}/", down_after=1, up_after=1, timeout_seconds=TIMEOUT_SECONDS)
        monitor.locations.set(ProbeLocation.objects.filter(name__in=probes))
        workers = [*probes.values(), main]

        # 1 of 3 cannot reach the target: a majority says up.
        monitor = _round(monitor, workers)
        assert monitor.status == MonitorStatus.UP, _results(monitor)
        results = _results(monitor)
        assert results[a] == ("up", "") and results[b] == ("up", "")
        assert results[c][0] == "down" and "refused" in results[c][1]
        assert monitor.last_latency_ms is not None

        # b stops answering: its batch waits in its queue, the round is decided without it once the
        # timeout and the grace have passed. A missing location is not a failure: still up.
        probes[b].stop()
        first_round_b = monitor.location_results.get(location__name=b).round_at
        Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now() - timedelta(seconds=1))
        assert scheduler.run_due_checks() == 1
        opened = Monitor.objects.get(pk=monitor.pk).round_at
        wait_until(
            lambda: Monitor.objects.filter(pk=monitor.pk, round_answers=2).exists(),
            workers,
            what="a and c to answer",
        )
        assert scheduler.settle_rounds() == 0  # b's time is not up yet
        time.sleep(max(0.0, (opened - timezone.now()).total_seconds() + TIMEOUT_SECONDS + GRACE_SECONDS + 0.2))
        assert scheduler.settle_rounds() == 1
        monitor.refresh_from_db()
        assert monitor.status == MonitorStatus.UP and monitor.round_at is None
        assert monitor.location_results.get(location__name=b).round_at == first_round_b  # no answer from b

        # Silent long enough, b is a probe problem: on the Overview, and on /ready without failing it.
        wait_until(
            lambda: [loc.name for loc in locations.problems()] == [b],
            workers,
            what="b to be flagged",
            seconds=SILENT_AFTER_SECONDS + 5,
        )
        seen_a = ProbeLocation.objects.get(name=a).last_seen_at
        assert locations.ping_probes() == 3
        wait_until(  # a real probe ping, answered by a's worker
            lambda: ProbeLocation.objects.get(name=a).last_seen_at > seen_a, workers, what="a to answer its ping"
        )
        browser = Client()
        browser.force_login(admin_user)
        assert f"-Q checks.{b}" in browser.get("/").content.decode()
        ready = browser.get("/ready?checks=database,cache,broker")
        assert ready.status_code == 200
        assert ready.json()["probes"][b].startswith("silent since") and ready.json()["probes"][a] == "ok"

        # b comes back unable to reach the target: 2 of 3 fail, down.
        probes[b] = Probe(b, probe_env, tmp_path, queue=f"checks.{b}", reaches_target=False)
        workers = [*probes.values(), main]
        wait_until(lambda: not locations.problems(), workers, what="b to register again", seconds=60)
        monitor = _round(monitor, workers)
        assert monitor.status == MonitorStatus.DOWN, _results(monitor)
        assert monitor.last_error.startswith("down from 2 of 3 locations")
        assert b in monitor.last_error and c in monitor.last_error and a not in monitor.last_error
        results = _results(monitor)
        assert results[a][0] == "up" and results[b][0] == "down" and results[c][0] == "down"
    finally:
        for probe in [*probes.values(), main]:
            probe.stop()
