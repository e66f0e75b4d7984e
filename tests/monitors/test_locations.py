"""Checks from several locations (monitors/locations.py): rounds sent to each location's queue, answered by
the probes, decided by a quorum; silent probes flagged and never counted as the target failing.

The probes here run in the test process (``scheduler.run_location_checks``, the task's body) against a real
local HTTP target; a location "cannot reach" it when the outbound guard refuses 127.0.0.1 while it checks.
The batches are read back from the real broker (Redis, or the filesystem broker of the embedded run).
tests/monitors/test_quorum_workers.py does the same with three real worker processes.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from monitors import locations, scheduler, tasks
from monitors.models import LocationResult, Monitor, MonitorStatus, ProbeLocation
from monitors.probes import CheckResult
from tests.factories import make_monitor
from tracepoint.celery import PROBE_LOCATIONS_CACHE_KEY, app

UP, DOWN, DEGRADED = MonitorStatus.UP, MonitorStatus.DOWN, MonitorStatus.DEGRADED


_MADE: list[str] = []


def _location(prefix: str, **fields) -> ProbeLocation:
    # A name of its own per test: the queues live in a real broker shared by the whole run.
    fields.setdefault("last_seen_at", timezone.now())
    location = ProbeLocation.objects.create(name=f"{prefix}-{uuid.uuid4().hex[:8]}", **fields)
    _MADE.append(location.queue)
    return location


@pytest.fixture(autouse=True)
def _drain_queues():
    """Leave no message behind in the broker."""
    yield
    while _MADE:
        _queued(_MADE.pop())


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _queued(queue: str) -> list[tuple[str, list, dict]]:
    """Every task message waiting on ``queue`` in the real broker, taken off it: (task name, args, headers)."""
    found = []
    with app.connection_for_read() as connection, connection.SimpleQueue(queue) as simple:
        while True:
            try:
                message = simple.get(block=False)
            except simple.Empty:
                return found
            args, _kwargs, _embed = message.decode()
            found.append((message.headers["task"], list(args), message.headers))
            message.ack()


def _answer(location: ProbeLocation, round_at: datetime, results: dict[int, CheckResult], **kwargs):
    return scheduler.record_results(locations.answer(location, round_at, results, **kwargs), now=round_at)


@pytest.fixture
def three(db):
    return [_location("eu"), _location("us"), _location("asia")]


@pytest.fixture
def located(three, target):
    monitor = make_monitor("shop", url=f"{target.url}/", down_after=1, up_after=1, timeout_seconds=2)
    monitor.locations.set(three)
    Monitor.objects.filter(pk=monitor.pk).update(next_check_at=timezone.now() - timedelta(seconds=1))
    return monitor


def _tick() -> datetime:
    now = timezone.now()
    scheduler.run_due_checks(now=now)
    return now


def _probe(location: ProbeLocation, settings, *, reaches: bool) -> int:
    """What a worker on ``checks.<location>`` does with the message the tick sent it, and the main workers
    with the decisions it hands them (tasks.run_location_checks, tasks.record_location_results).
    Returns the monitors checked."""
    [(task, args, _headers)] = _queued(location.queue)
    assert task == "monitors.run_location_checks"
    settings.TRACEPOINT = {**settings.TRACEPOINT, "OUTBOUND_ALLOW_PRIVATE_TARGETS": reaches}
    name, round_at, ids, lags = args
    decisions = scheduler.run_location_checks(name, datetime.fromisoformat(round_at), ids, lags)
    tasks.record_location_results(locations.encode(decisions), timezone.now().isoformat())
    return LocationResult.objects.filter(location=location, round_at=datetime.fromisoformat(round_at)).count()


# --- the decision -------------------------------------------------------------------------------------


def _answers(*statuses: str, latencies=None) -> list[LocationResult]:
    latencies = latencies or [10 * (i + 1) for i in range(len(statuses))]
    return [
        LocationResult(
            location=ProbeLocation(name=f"l{i}"), status=status, latency_ms=latency, error=f"e{i}" if status else ""
        )
        for i, (status, latency) in enumerate(zip(statuses, latencies, strict=True))
    ]


def test_a_majority_of_locations_failing_is_down_and_one_of_three_is_not():
    assert locations.decide(_answers(UP, UP, DOWN), n=3, quorum=None).status == UP
    down = locations.decide(_answers(UP, DOWN, DOWN), n=3, quorum=None)
    assert down.status == DOWN
    assert down.error == "down from 2 of 3 locations: l1: e1; l2: e2"


def test_a_quorum_sets_how_many_failures_make_down_and_never_more_than_the_locations():
    assert locations.decide(_answers(UP, UP, DOWN), n=3, quorum=1).status == DOWN
    assert locations.decide(_answers(DOWN, DOWN, UP), n=3, quorum=3).status == UP
    assert locations.failures_needed(3, 5) == 3
    assert locations.failures_needed(4, None) == 3 and locations.failures_needed(2, None) == 2


def test_latency_is_the_median_of_the_answering_locations():
    assert locations.decide(_answers(UP, UP, UP, latencies=[10, 300, 40]), n=3, quorum=None).latency_ms == 40
    assert locations.decide(_answers(UP, UP, latencies=[10, None]), n=3, quorum=None).latency_ms == 10


def test_degraded_wins_when_most_passing_locations_say_so_or_on_a_tie():
    assert locations.decide(_answers(DEGRADED, DEGRADED, UP), n=3, quorum=None).status == DEGRADED
    assert locations.decide(_answers(DEGRADED, UP), n=2, quorum=None).status == DEGRADED
    assert locations.decide(_answers(DEGRADED, UP, UP), n=3, quorum=None).status == UP


def test_too_few_answers_to_reach_the_quorum_and_none_passing_decide_nothing():
    assert locations.decide(_answers(DOWN), n=3, quorum=None) is None
    assert locations.decide([], n=3, quorum=None) is None


# --- rounds end to end --------------------------------------------------------------------------------


def test_a_tick_sends_one_batch_per_location_and_checks_nothing_itself(located, three, target):
    round_at = _tick()
    located.refresh_from_db()
    assert located.round_at == round_at and located.round_answers == 0
    assert located.last_checked_at is None  # nothing checked by the scheduler
    for location in three:
        [(task, args, headers)] = _queued(location.queue)
        assert task == "monitors.run_location_checks"
        assert args[:3] == [location.name, round_at.isoformat(), [located.pk]]
        assert headers["expires"]  # a batch nobody picked up in time is dropped, not run late


def test_two_of_three_locations_reaching_the_target_keep_it_up_and_each_result_shows(located, three, target, settings):
    _tick()
    eu, us, asia = three
    assert _probe(eu, settings, reaches=True) == 1
    assert _probe(asia, settings, reaches=False) == 1
    located.refresh_from_db()
    assert located.status == MonitorStatus.PENDING and located.round_answers == 2 and located.round_failures == 1
    _probe(us, settings, reaches=True)  # the last answer decides
    located.refresh_from_db()
    assert located.status == UP and located.round_at is None and located.last_latency_ms is not None
    results = {result.location_id: result for result in located.location_results.all()}
    assert results[eu.pk].status == UP and results[us.pk].status == UP
    assert results[asia.pk].status == DOWN and "refused" in results[asia.pk].error
    assert all(result.latency_ms is not None for result in (results[eu.pk], results[us.pk]))


def test_two_of_three_failing_take_it_down_naming_them(located, three, target, settings):
    _tick()
    eu, us, asia = three
    _probe(eu, settings, reaches=True)
    _probe(us, settings, reaches=False)
    _probe(asia, settings, reaches=False)
    located.refresh_from_db()
    assert located.status == DOWN
    assert located.last_error.startswith("down from 2 of 3 locations: ")
    assert us.name in located.last_error and asia.name in located.last_error and eu.name not in located.last_error


def test_decisions_reach_the_main_workers_intact():
    decisions = {
        7: CheckResult(DOWN, 120, "down from 2 of 3 locations: eu: HTTP 500", 500, {"answers": ["1.2.3.4"]}),
        8: CheckResult(UP, None),
    }
    assert locations.decode(json.loads(json.dumps(locations.encode(decisions)))) == decisions


def test_a_batch_delivered_twice_counts_once(located, three):
    eu, us, _asia = three
    round_at = _tick()
    _answer(eu, round_at, {located.pk: CheckResult(DOWN, None, "HTTP 500")})
    _answer(eu, round_at, {located.pk: CheckResult(DOWN, None, "HTTP 500")})
    _answer(us, round_at, {located.pk: CheckResult(UP, 20)})
    located.refresh_from_db()
    assert located.round_at == round_at and (located.round_answers, located.round_failures) == (2, 1)
    assert located.status == MonitorStatus.PENDING


def test_a_late_answer_to_an_old_round_neither_counts_nor_hides_a_newer_result(located, three):
    eu, _us, _asia = three
    first = _tick()
    Monitor.objects.filter(pk=located.pk).update(next_check_at=first)
    second = _tick()
    _answer(eu, second, {located.pk: CheckResult(UP, 20)})
    _answer(eu, first, {located.pk: CheckResult(DOWN, None, "stale")})
    located.refresh_from_db()
    assert located.round_at == second and located.round_answers == 1 and located.round_failures == 0
    assert LocationResult.objects.get(monitor=located, location=eu).round_at == second


def test_a_location_that_does_not_answer_is_decided_without_and_never_counts_as_failing(located, three, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "LOCATION_ROUND_GRACE_SECONDS": 15}
    eu, us, _asia = three
    round_at = _tick()
    _answer(eu, round_at, {located.pk: CheckResult(DOWN, None, "HTTP 500")})
    _answer(us, round_at, {located.pk: CheckResult(UP, 30)})
    # Within the check's timeout (2 s) plus the grace, the round waits for the third location.
    assert scheduler.settle_rounds(now=round_at + timedelta(seconds=5)) == 0
    assert scheduler.settle_rounds(now=round_at + timedelta(seconds=2 + 15)) == 1
    located.refresh_from_db()
    assert located.status == UP and located.round_at is None  # 1 failure of 3 is not a majority


def test_one_failure_with_the_other_locations_silent_records_nothing(located, three):
    eu, _us, _asia = three
    round_at = _tick()
    _answer(eu, round_at, {located.pk: CheckResult(DOWN, None, "HTTP 500")})
    assert scheduler.settle_rounds(now=round_at + timedelta(seconds=60)) == 0
    located.refresh_from_db()
    assert located.status == MonitorStatus.PENDING and located.last_checked_at is None and located.round_at is None


def test_a_round_still_open_at_the_next_check_is_decided_with_what_it_has(located, three):
    eu, us, _asia = three
    first = _tick()
    _answer(eu, first, {located.pk: CheckResult(DOWN, None, "HTTP 500")})
    _answer(us, first, {located.pk: CheckResult(DOWN, None, "HTTP 500")})
    Monitor.objects.filter(pk=located.pk).update(next_check_at=first)
    second = _tick()
    located.refresh_from_db()
    assert located.status == DOWN and located.round_at == second and located.round_answers == 0


def test_a_silent_location_gets_no_batch_and_the_others_complete_the_round(located, three, settings):
    eu, us, asia = three
    ProbeLocation.objects.filter(pk=asia.pk).update(last_seen_at=timezone.now() - timedelta(minutes=10))
    round_at = _tick()
    assert _queued(asia.queue) == []
    located.refresh_from_db()
    assert located.round_answers == 1  # counted as answered, without a result
    _answer(eu, round_at, {located.pk: CheckResult(UP, 10)})
    _answer(us, round_at, {located.pk: CheckResult(DOWN, None, "HTTP 500")})
    located.refresh_from_db()
    assert located.status == UP and located.round_at is None


def test_with_every_location_silent_no_round_opens(located, three):
    ProbeLocation.objects.filter(pk__in=[loc.pk for loc in three]).update(last_seen_at=timezone.now() - timedelta(1))
    _tick()
    located.refresh_from_db()
    assert located.round_at is None
    assert all(_queued(location.queue) == [] for location in three)


def test_an_answer_for_a_deleted_monitor_is_dropped(located, three):
    eu = three[0]
    round_at = _tick()
    pk = located.pk
    located.delete()
    assert locations.answer(eu, round_at, {pk: CheckResult(UP, 10)}) == {}
    assert not LocationResult.objects.filter(monitor_id=pk).exists()
    assert ProbeLocation.objects.get(pk=eu.pk).last_seen_at >= round_at


def test_monitors_without_locations_are_still_checked_by_the_scheduler(target, three):
    plain = make_monitor("plain", url=f"{target.url}/", next_check_at=timezone.now() - timedelta(seconds=1))
    assert scheduler.run_due_checks() == 1
    plain.refresh_from_db()
    assert plain.status == UP and plain.round_at is None
    assert all(_queued(location.queue) == [] for location in three)


def test_a_late_claim_keeps_the_monitors_phase_so_rounds_sent_in_bursts_do_not_stay_bunched(db):
    # Rounds are sent in a blink, so a late tick would otherwise bunch its monitors up for ever after.
    t0 = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    late = make_monitor("late", next_check_at=t0)
    far_behind = make_monitor("far behind", next_check_at=t0 - timedelta(seconds=200))
    assert {m.pk for m in scheduler.claim_due(now=t0 + timedelta(seconds=3))} == {late.pk, far_behind.pk}
    late.refresh_from_db()
    far_behind.refresh_from_db()
    assert late.next_check_at == t0 + timedelta(seconds=60)
    assert far_behind.next_check_at == t0 + timedelta(seconds=3 + 30)  # half an interval from now


# --- probes: registration, liveness, problems -----------------------------------------------------------


def test_a_worker_on_checks_queues_registers_its_locations(db):
    name = f"fra-{uuid.uuid4().hex[:6]}"
    assert locations.register([f"checks.{name}", "celery", "checks.bad name!"]) == [name]
    location = ProbeLocation.objects.get(name=name)
    assert location.last_seen_at is not None and location.queue == f"checks.{name}"
    assert not ProbeLocation.objects.filter(name="bad name!").exists()


def test_a_probe_ping_moves_last_seen_forward_only(db):
    location = _location("eu")
    later = location.last_seen_at + timedelta(seconds=30)
    locations.stamp(location.name, now=later)
    locations.stamp(location.name, now=later - timedelta(seconds=10))
    location.refresh_from_db()
    assert location.last_seen_at == later


def test_a_silent_location_in_use_is_a_probe_problem_an_unused_one_is_not(db, settings):
    settings.TRACEPOINT = {**settings.TRACEPOINT, "PROBE_SILENT_AFTER_SECONDS": 90}
    now = timezone.now()
    silent = _location("eu", last_seen_at=now - timedelta(seconds=300))
    _location("unused", last_seen_at=now - timedelta(seconds=300))
    fine = _location("us", last_seen_at=now - timedelta(seconds=20))
    never = _location("new", last_seen_at=None, created_at=now - timedelta(hours=1))
    make_monitor("shop").locations.set([silent, fine, never])
    found = {location.name: location for location in locations.problems(now=now)}
    assert set(found) == {silent.name, never.name}
    assert found[silent.name].silent_seconds == 300 and found[never.name].silent_seconds is None
    assert found[silent.name].monitor_count == 1


def test_ping_probes_pings_each_location_in_use_and_publishes_their_state(db, settings):
    now = timezone.now()
    silent = _location("eu", last_seen_at=now - timedelta(hours=1))
    fine = _location("us")
    unused = _location("unused")
    make_monitor("shop").locations.set([silent, fine])
    assert locations.ping_probes(now=now) == 2
    for location in (silent, fine):
        [(task, args, headers)] = _queued(location.queue)
        assert task == "monitors.probe_ping" and args == [location.name] and headers["expires"]
    assert _queued(unused.queue) == []
    summary = cache.get(PROBE_LOCATIONS_CACHE_KEY)["locations"]
    assert summary[silent.name]["silent"] is True and summary[fine.name]["silent"] is False
    assert unused.name not in summary


def test_ready_lists_probe_locations_and_a_silent_one_does_not_make_it_fail(client, db, settings):
    now = timezone.now()
    silent = _location("eu", last_seen_at=now - timedelta(hours=1))
    fine = _location("us")
    make_monitor("shop").locations.set([silent, fine])
    locations.ping_probes(now=now)
    response = client.get("/ready?checks=database,cache")
    assert response.status_code == 200
    probes = response.json()["probes"]
    assert probes[fine.name] == "ok"
    assert probes[silent.name].startswith("silent since ")


def test_ready_says_nothing_of_probes_when_no_location_is_in_use(client, db):
    locations.ping_probes()
    response = client.get("/ready?checks=database")
    assert response.status_code == 200 and "probes" not in response.json()


def test_the_overview_flags_a_silent_probe_location(viewer):
    silent = _location("eu", last_seen_at=timezone.now() - timedelta(minutes=5), label="Frankfurt <1>")
    make_monitor("shop").locations.set([silent])
    page = _browser(viewer).get(reverse("overview")).content.decode()
    assert 'id="probe-problems"' in page
    assert "Frankfurt &lt;1&gt;" in page and "has not answered for 5 min" in page
    assert f"-Q checks.{silent.name}" in page


def test_the_overview_has_no_probe_problems_when_every_probe_answers(viewer):
    make_monitor("shop").locations.set([_location("eu")])
    assert 'id="probe-problems"' not in _browser(viewer).get(reverse("overview")).content.decode()


# --- the monitor page partial and the admin ---------------------------------------------------------


def test_the_locations_partial_shows_each_location_its_last_result_and_a_silent_probe(db):
    now = timezone.now()
    eu, us = _location("eu", label="Frankfurt"), _location("us", last_seen_at=now - timedelta(hours=1))
    monitor = make_monitor("shop", quorum=2)
    monitor.locations.set([eu, us])
    LocationResult.objects.create(
        monitor=monitor, location=eu, round_at=now, status=DOWN, latency_ms=87, error="HTTP <500>", checked_at=now
    )
    rows = locations.results_for(monitor, now=now)
    assert [(row.location.name, row.status) for row in rows] == [(eu.name, DOWN), (us.name, MonitorStatus.PENDING)]
    html = render_to_string("monitors/_locations.html", {"monitor": monitor, "location_results": rows})
    assert "Frankfurt" in html and "87 ms" in html and "HTTP &lt;500&gt;" in html
    assert "down when 2 of them fail" in html
    us_row = html[html.index(f'id="location-{us.name}"') :]
    assert "probe silent" in us_row and "not yet" in us_row


def test_the_admin_lists_probe_locations_with_their_monitor_count(admin_user):
    location = _location("eu", label="Frankfurt")
    make_monitor("shop").locations.set([location])
    page = _browser(admin_user).get(reverse("admin:monitors_probelocation_changelist"))
    assert page.status_code == 200
    assert "Frankfurt" in page.content.decode()


def test_a_probe_is_stamped_with_the_databases_clock_and_a_decision_never_dated_in_the_future(db):
    location = ProbeLocation.objects.create(name="skewed")
    locations.stamp("skewed")  # no time given: the database's
    location.refresh_from_db()
    assert abs((location.last_seen_at - timezone.now()).total_seconds()) < 5
    monitor = make_monitor("ahead")
    ahead = timezone.now() + timedelta(minutes=10)  # a probe whose clock runs ten minutes ahead
    tasks.record_location_results(locations.encode({monitor.pk: CheckResult("up", 9)}), ahead.isoformat())
    monitor.refresh_from_db()
    assert monitor.status == "up" and monitor.status_changed_at <= timezone.now()
