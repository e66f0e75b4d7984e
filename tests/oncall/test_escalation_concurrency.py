"""Several worker processes run escalations at once on PostgreSQL (``SELECT … FOR UPDATE SKIP
LOCKED``): every step runs once, every person gets exactly one page per step, and a worker killed
in the middle of a step leaves nothing behind that another would repeat or skip."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from incidents.models import TimelineEntry
from incidents.oncall.models import Escalation, Page, PageContact
from tests.factories import make_incident, make_layer, make_schedule, make_team, make_user
from tests.oncall.escalation_helpers import make_policy
from tracepoint.notifications.models import Delivery

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="races need PostgreSQL; set DATABASE_URL"),
]

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _env() -> dict[str, str]:
    settings = connection.settings_dict
    url = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    return {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_TASK_ALWAYS_EAGER": "true",  # deliveries are attempted inline, to the locmem mailbox
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }


def _worker(mode: str, *instants: datetime) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.oncall.escalation_worker", mode, *(i.isoformat() for i in instants)],
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        # A file, not a pipe: the workers log every delivery, and a full pipe nobody reads would block them.
        stderr=tempfile.TemporaryFile(mode="w+"),
        text=True,
    )


def _errors(proc: subprocess.Popen) -> str:
    proc.stderr.seek(0)
    return proc.stderr.read()[-3000:]


def _run_together(workers: int, *instants: datetime) -> list[list[int]]:
    """Start ``workers`` processes; for each instant, let them all run it at once. Per instant, the
    number of escalations each advanced."""
    procs = [_worker("steps", *instants) for _ in range(workers)]
    rounds = []
    try:
        for _ in instants:
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            counts = []
            for proc in procs:
                line = proc.stdout.readline()
                assert line.startswith("ADVANCED"), _errors(proc) if proc.poll() is not None else line
                counts.append(int(line.split()[1]))
            rounds.append(counts)
    finally:
        for proc in procs:
            proc.communicate(timeout=60)
            assert proc.returncode == 0, _errors(proc)
    return rounds


@pytest.fixture
def world(time_machine):
    # Ticking: a frozen clock stalls the broker client's timeouts (each publish then waits them out).
    time_machine.move_to(T0, tick=True)
    people = [make_user("responder", username=f"p{i}", email=f"p{i}@example.com") for i in range(4)]
    team = make_team("Core", services=["core"])
    primary = make_schedule(team, name="Primary")
    make_layer(primary, [people[0], people[1]], start_date=date(2026, 1, 5))  # p0 this week
    # Step 1: the schedule and p2 by name; step 2: p1 and p3; step 3: p0 again and p2.
    make_policy(
        team,
        [(5, [people[2]], [primary], []), (5, [people[1], people[3]], [], []), (5, [people[0], people[2]], [], [])],
        services=["core"],
    )
    incidents = [make_incident(title=f"Core {i}", service="core") for i in range(30)]
    return people, incidents


def test_three_workers_racing_through_three_steps_page_each_person_once_per_step(world):
    workers = 3
    _, incidents = world
    expected = {0: {"p0", "p2"}, 1: {"p1", "p3"}, 2: {"p0", "p2"}}
    # A minute in: the incidents were created (and their escalations made due) a moment after T0.
    rounds = _run_together(workers, *(T0 + timedelta(minutes=1 + 5 * step) for step in range(3)))
    for advanced in rounds:
        assert sum(advanced) == len(incidents), rounds  # each escalation advanced by exactly one worker
    for incident in incidents:
        pages = list(Page.objects.filter(incident=incident).values_list("step_index", "user__username"))
        assert len(pages) == 6
        for step, users in expected.items():
            assert sorted(u for s, u in pages if s == step) == sorted(users)
        step_notes = TimelineEntry.objects.filter(
            incident=incident, kind=TimelineEntry.Kind.ESCALATION, body__startswith="Step "
        )
        assert step_notes.count() == 3
    # One delivery per page (each person has the account-email fallback), each sent once.
    assert Delivery.objects.filter(topic="oncall.page").count() == 6 * len(incidents)
    assert set(Delivery.objects.filter(topic="oncall.page").values_list("attempts", flat=True)) == {1}
    assert set(PageContact.objects.values_list("status", flat=True)) == {"delivered"}
    assert set(Escalation.objects.values_list("step_index", flat=True)) == {2}


def test_a_worker_killed_mid_step_leaves_the_step_to_the_next_one_whole(world):
    _, incidents = world
    at = T0 + timedelta(minutes=1)
    stalled = _worker("stall", at)
    line = stalled.stdout.readline()
    assert line.strip() == "STALLED", _errors(stalled) if stalled.poll() is not None else line
    # The stalled worker holds its first batch's rows locked; the others run the rest meanwhile.
    [others] = _run_together(2, at)
    stalled.kill()
    stalled.wait(timeout=30)
    assert sum(others) == len(incidents) - 5  # its batch of five was locked, not skipped for good
    [leftover] = _run_together(2, at)  # its transaction rolled back: those five run now, once
    assert sum(leftover) == 5
    for incident in incidents:
        assert sorted(Page.objects.filter(incident=incident).values_list("user__username", flat=True)) == ["p0", "p2"]
        assert (
            TimelineEntry.objects.filter(
                incident=incident, kind=TimelineEntry.Kind.ESCALATION, body__startswith="Step 1"
            ).count()
            == 1
        )
