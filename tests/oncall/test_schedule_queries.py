"""The engine over saved schedules: a fixed handful of queries, on call now for a user, and speed."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from statistics import median

import pytest

from incidents.oncall import schedule as engine
from tests.factories import make_layer, make_override, make_schedule, make_team, make_user
from tests.oncall.conftest import NEW_YORK, PARIS, wall

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return [make_user(username=name) for name in ("alice", "bob", "carol", "dan")]


@pytest.fixture
def paris(people):
    alice, bob, carol, _ = people
    schedule = make_schedule(make_team("Payments", members=people), name="Primary", time_zone="Europe/Paris")
    make_layer(schedule, [alice, bob], name="Weekly", start_date=date(2025, 12, 29), order=1)
    make_layer(
        schedule,
        [carol],
        name="Office",
        start_date=date(2026, 1, 5),
        shift_unit="days",
        order=2,
        restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}],
    )
    return schedule


def test_the_final_schedule_of_a_saved_schedule_stacks_its_layers_and_overrides(paris, people):
    alice, bob, carol, dan = people
    make_override(paris, dan, wall(PARIS, 2026, 1, 5, 20, 0), wall(PARIS, 2026, 1, 5, 23, 0), note="swap")
    shifts = engine.final_schedule(paris, wall(PARIS, 2026, 1, 5, 0, 0), wall(PARIS, 2026, 1, 6, 0, 0))
    assert [(s.user_id, s.source_name, s.start.astimezone(PARIS).hour) for s in shifts] == [
        (alice.pk, "Weekly", 0),
        (carol.pk, "Office", 9),
        (bob.pk, "Weekly", 18),
        (dan.pk, "Override", 20),
        (bob.pk, "Weekly", 23),
    ]


def test_on_call_at_costs_three_queries_whatever_the_layers(paris, people, django_assert_num_queries):
    at = wall(PARIS, 2026, 1, 7, 12, 0)
    with django_assert_num_queries(3):  # layers, their participants, the overrides in range
        assert engine.on_call_at(paris, at) == [people[2].pk]


def test_layer_shifts_takes_a_saved_layer(paris, people):
    office = paris.layers.get(name="Office")
    shifts = engine.layer_shifts(office, wall(PARIS, 2026, 1, 9, 0, 0), wall(PARIS, 2026, 1, 13, 0, 0))
    assert [(s.start.astimezone(PARIS).day, s.user_id) for s in shifts] == [(9, people[2].pk), (12, people[2].pk)]


def test_on_call_now_for_a_user_lists_the_schedules_they_carry_the_pager_for(paris, people):
    alice, _, _, dan = people
    other = make_schedule(make_team("Web"), name="Web primary", time_zone="America/New_York")
    make_layer(other, [dan, alice], start_date=date(2026, 1, 1), shift_unit="days", handoff_time=time(0, 0))
    at = wall(NEW_YORK, 2026, 1, 2, 12, 0)  # Friday evening in Paris: Alice's week; Alice's day in New York
    assert engine.on_call_now_for_user(alice, at) == [paris, other]
    assert engine.on_call_now_for_user(dan, at) == []
    make_override(paris, dan, at - timedelta(hours=1), at + timedelta(hours=1))
    assert engine.on_call_now_for_user(dan, at) == [paris]
    assert engine.on_call_now_for_user(alice, at) == [other]  # overridden away in Paris


def test_next_shift_of_a_saved_schedule(paris, people):
    bob = people[1]
    shift = engine.next_shift(paris, bob, wall(PARIS, 2026, 1, 5, 8, 0))
    assert (shift.start, shift.end, shift.source_name) == (
        wall(PARIS, 2026, 1, 5, 18, 0),
        wall(PARIS, 2026, 1, 6, 9, 0),
        "Weekly",
    )


def test_fourteen_days_of_three_layers_and_fifty_overrides_compute_quickly(people):
    alice, bob, carol, dan = people
    schedule = make_schedule(make_team("Core"), name="Busy", time_zone="America/New_York")
    make_layer(schedule, [alice, bob, carol], name="Base", start_date=date(2024, 1, 1), order=1)
    make_layer(
        schedule,
        [carol, dan],
        name="Nights",
        start_date=date(2024, 1, 1),
        shift_unit="days",
        order=2,
        restrictions=[{"start": "22:00", "end": "06:00"}],
    )
    make_layer(
        schedule,
        [dan, alice, bob],
        name="Follow the sun",
        start_date=date(2024, 1, 1),
        shift_count=8,
        shift_unit="hours",
        order=3,
        restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
    )
    start = datetime(2026, 3, 1, tzinfo=UTC)  # the window crosses New York's spring-forward
    for n in range(50):
        begins = start + timedelta(hours=6 * n + 1)
        make_override(schedule, people[n % 4], begins, begins + timedelta(hours=3))
    end = start + timedelta(days=14)

    shifts = engine.final_schedule(schedule, start, end)
    assert sum(s.source == "override" for s in shifts) == 50  # one per override: each is its own source
    assert all(a.end <= b.start for a, b in pairwise(shifts))

    timings = []
    for _ in range(15):
        began = clock.perf_counter()
        engine.final_schedule(schedule, start, end)
        timings.append(clock.perf_counter() - began)
    assert median(timings) < 0.05, f"14 days took {median(timings) * 1000:.1f} ms"

    at_timings = []
    for n in range(30):
        began = clock.perf_counter()
        engine.on_call_at(schedule, start + timedelta(hours=11 * n))
        at_timings.append(clock.perf_counter() - began)
    assert median(at_timings) < 0.02, f"on_call_at took {median(at_timings) * 1000:.1f} ms"


def test_the_readme_example_says_what_it_shows(people):
    from incidents.oncall import services

    alice, bob, carol, _ = people
    team = services.create_team(name="Payments", members=[alice, bob, carol], services=["checkout", "billing"])
    primary = services.create_schedule(team=team, name="Payments primary", time_zone="Europe/Paris")
    services.create_layer(
        primary, name="Weekly", participants=[alice, bob], shift_unit="weeks", start_date=date(2026, 1, 5)
    )
    services.create_layer(
        primary,
        name="Office hours",
        participants=[carol],
        shift_unit="days",
        start_date=date(2026, 1, 5),
        restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}],
    )
    services.create_override(
        primary, user=bob, start=datetime(2026, 1, 6, 18, tzinfo=PARIS), end=datetime(2026, 1, 6, 23, tzinfo=PARIS)
    )
    tuesday_evening = datetime(2026, 1, 6, 20, tzinfo=PARIS)
    assert engine.on_call_at(primary, tuesday_evening) == [bob.pk]
    shift = engine.next_shift(primary, alice, tuesday_evening)
    assert (shift.start, shift.end) == (wall(PARIS, 2026, 1, 6, 23, 0), wall(PARIS, 2026, 1, 7, 9, 0))
