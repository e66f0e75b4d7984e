"""The final schedule: layers stacked by order, overrides on top, gaps where nobody is on call."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from incidents.oncall.schedule import (
    Gap,
    OverrideSpec,
    ScheduleSnapshot,
    final_schedule,
    find_gaps,
    next_shift,
    on_call_at,
)
from tests.oncall.conftest import ALICE, BOB, CAROL, DAN, PARIS, local_spans, spec, utc, wall

H = timedelta(hours=1)
TICK = timedelta(microseconds=1)
OFFICE_HOURS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}]


def schedule(*layers, overrides=()) -> ScheduleSnapshot:
    return ScheduleSnapshot(zone=PARIS, layers=tuple(layers), overrides=tuple(overrides))


def override(user: int, start, end, *, id: int, created_minutes: int = 0) -> OverrideSpec:
    return OverrideSpec(user, start, end, id=id, created_at=utc(2026, 1, 1) + timedelta(minutes=created_minutes))


WEEKLY_BASE = spec(PARIS, (ALICE, BOB), start=date(2025, 12, 29), unit="weeks", order=1, name="Weekly")
DAILY = spec(PARIS, (ALICE, BOB, CAROL), start=date(2026, 1, 5), unit="days", order=1, name="Daily")


def test_a_higher_layer_wins_where_it_has_someone_and_the_lower_one_shows_elsewhere():
    office = spec(PARIS, (CAROL,), start=date(2026, 1, 5), restrictions=OFFICE_HOURS, order=2, name="Office")
    shifts = final_schedule(schedule(WEEKLY_BASE, office), wall(PARIS, 2026, 1, 5, 0, 0), wall(PARIS, 2026, 1, 7, 0, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "01-05 00:00+0100", "01-05 09:00+0100"),
        (CAROL, "01-05 09:00+0100", "01-05 18:00+0100"),
        (BOB, "01-05 18:00+0100", "01-06 09:00+0100"),
        (CAROL, "01-06 09:00+0100", "01-06 18:00+0100"),
        (BOB, "01-06 18:00+0100", "01-07 00:00+0100"),
    ]
    assert [s.source_name for s in shifts] == ["Weekly", "Office", "Weekly", "Office", "Weekly"]
    assert {s.source for s in shifts} == {"layer"}


def test_layers_stack_by_their_order_not_by_how_they_are_listed():
    top = spec(PARIS, (DAN,), start=date(2026, 1, 5), order=5, name="Top")
    shifts = final_schedule(schedule(top, WEEKLY_BASE), wall(PARIS, 2026, 1, 6, 0, 0), wall(PARIS, 2026, 1, 7, 0, 0))
    assert [(s.user_id, s.source_name) for s in shifts] == [(DAN, "Top")]


def test_an_empty_layer_on_top_hides_nothing():
    nobody = spec(PARIS, (), start=date(2026, 1, 5), order=9, name="Empty")
    start, end = wall(PARIS, 2026, 1, 5, 0, 0), wall(PARIS, 2026, 1, 20, 0, 0)
    assert final_schedule(schedule(WEEKLY_BASE, nobody), start, end) == final_schedule(
        schedule(WEEKLY_BASE), start, end
    )


def test_a_schedule_with_only_an_empty_layer_is_one_gap():
    start, end = wall(PARIS, 2026, 1, 5, 0, 0), wall(PARIS, 2026, 1, 6, 0, 0)
    shifts = final_schedule(schedule(spec(PARIS, (), order=1)), start, end)
    assert shifts == []
    assert find_gaps(shifts, start, end) == [Gap(start, end)]
    assert on_call_at(schedule(spec(PARIS, (), order=1)), start + H) == []


def test_restricted_hours_leave_gaps_that_are_listed():
    office = spec(PARIS, (CAROL,), start=date(2026, 1, 5), restrictions=OFFICE_HOURS, order=1)
    snap = schedule(office)
    start, end = wall(PARIS, 2026, 1, 9, 0, 0), wall(PARIS, 2026, 1, 13, 0, 0)  # Friday to Tuesday
    shifts = final_schedule(snap, start, end)
    assert find_gaps(shifts, start, end) == [
        Gap(start, wall(PARIS, 2026, 1, 9, 9, 0)),
        Gap(wall(PARIS, 2026, 1, 9, 18, 0), wall(PARIS, 2026, 1, 12, 9, 0)),  # the weekend
        Gap(wall(PARIS, 2026, 1, 12, 18, 0), end),
    ]
    assert on_call_at(snap, wall(PARIS, 2026, 1, 10, 12, 0)) == []
    assert on_call_at(snap, wall(PARIS, 2026, 1, 12, 12, 0)) == [CAROL]


def test_an_override_inside_a_shift_splits_it():
    snap = schedule(
        DAILY, overrides=[override(DAN, wall(PARIS, 2026, 1, 6, 12, 0), wall(PARIS, 2026, 1, 6, 15, 0), id=1)]
    )
    shifts = final_schedule(snap, wall(PARIS, 2026, 1, 6, 9, 0), wall(PARIS, 2026, 1, 7, 9, 0))
    assert local_spans(shifts, PARIS) == [
        (BOB, "01-06 09:00+0100", "01-06 12:00+0100"),
        (DAN, "01-06 12:00+0100", "01-06 15:00+0100"),
        (BOB, "01-06 15:00+0100", "01-07 09:00+0100"),
    ]
    assert [(s.source, s.source_id) for s in shifts] == [("layer", 1), ("override", 1), ("layer", 1)]


def test_an_override_over_several_shifts_replaces_all_of_them_and_the_edges_survive():
    snap = schedule(
        DAILY, overrides=[override(DAN, wall(PARIS, 2026, 1, 5, 12, 0), wall(PARIS, 2026, 1, 8, 12, 0), id=1)]
    )
    shifts = final_schedule(snap, wall(PARIS, 2026, 1, 5, 9, 0), wall(PARIS, 2026, 1, 9, 9, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "01-05 09:00+0100", "01-05 12:00+0100"),
        (DAN, "01-05 12:00+0100", "01-08 12:00+0100"),
        (ALICE, "01-08 12:00+0100", "01-09 09:00+0100"),
    ]


def test_an_override_that_covers_the_whole_range_is_all_there_is():
    snap = schedule(DAILY, overrides=[override(DAN, utc(2026, 1, 1), utc(2026, 2, 1), id=1)])
    shifts = final_schedule(snap, utc(2026, 1, 10), utc(2026, 1, 12))
    assert [(s.user_id, s.start, s.end, s.source) for s in shifts] == [
        (DAN, utc(2026, 1, 10), utc(2026, 1, 12), "override")
    ]


def test_an_override_fills_a_gap():
    office = spec(PARIS, (CAROL,), start=date(2026, 1, 5), restrictions=OFFICE_HOURS, order=1)
    snap = schedule(
        office, overrides=[override(DAN, wall(PARIS, 2026, 1, 5, 17, 0), wall(PARIS, 2026, 1, 5, 22, 0), id=1)]
    )
    start, end = wall(PARIS, 2026, 1, 5, 9, 0), wall(PARIS, 2026, 1, 6, 0, 0)
    shifts = final_schedule(snap, start, end)
    assert local_spans(shifts, PARIS) == [
        (CAROL, "01-05 09:00+0100", "01-05 17:00+0100"),
        (DAN, "01-05 17:00+0100", "01-05 22:00+0100"),
    ]
    assert find_gaps(shifts, start, end) == [Gap(wall(PARIS, 2026, 1, 5, 22, 0), end)]


@pytest.mark.parametrize(
    ("dan_created", "alice_created", "expected"),
    [
        (0, 5, [(DAN, 10, 12), (ALICE, 12, 14), (DAN, 14, 16)]),  # Alice's override is the newer
        (5, 0, [(DAN, 10, 16)]),  # Dan's is the newer and covers Alice's
    ],
)
def test_of_overlapping_overrides_the_newest_wins(dan_created, alice_created, expected):
    day = (2026, 1, 6)
    snap = schedule(
        DAILY,
        overrides=[
            override(DAN, wall(PARIS, *day, 10, 0), wall(PARIS, *day, 16, 0), id=1, created_minutes=dan_created),
            override(ALICE, wall(PARIS, *day, 12, 0), wall(PARIS, *day, 14, 0), id=2, created_minutes=alice_created),
        ],
    )
    shifts = final_schedule(snap, wall(PARIS, *day, 10, 0), wall(PARIS, *day, 16, 0))
    assert [(s.user_id, s.start.astimezone(PARIS).hour, s.end.astimezone(PARIS).hour) for s in shifts] == expected


def test_back_to_back_turns_of_one_person_in_one_layer_are_one_shift():
    layer = spec(PARIS, (ALICE, ALICE, BOB), start=date(2026, 1, 5), unit="days", order=1)
    shifts = final_schedule(schedule(layer), wall(PARIS, 2026, 1, 5, 9, 0), wall(PARIS, 2026, 1, 8, 9, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "01-05 09:00+0100", "01-07 09:00+0100"),
        (BOB, "01-07 09:00+0100", "01-08 09:00+0100"),
    ]


def test_on_call_at_a_handoff_is_the_person_taking_over():
    snap = schedule(DAILY)
    handoff = wall(PARIS, 2026, 1, 6, 9, 0)
    assert on_call_at(snap, handoff - TICK) == [ALICE]
    assert on_call_at(snap, handoff) == [BOB]


def test_on_call_at_before_any_layer_starts_is_nobody():
    assert on_call_at(schedule(DAILY), wall(PARIS, 2026, 1, 4, 12, 0)) == []


def test_next_shift_is_the_next_time_the_person_goes_on_call():
    snap = schedule(DAILY)
    after = wall(PARIS, 2026, 1, 5, 12, 0)  # Alice is on call
    shift = next_shift(snap, ALICE, after)
    assert (shift.start, shift.end) == (wall(PARIS, 2026, 1, 8, 9, 0), wall(PARIS, 2026, 1, 9, 9, 0))
    assert next_shift(snap, BOB, after).start == wall(PARIS, 2026, 1, 6, 9, 0)
    assert next_shift(snap, CAROL, after).start == wall(PARIS, 2026, 1, 7, 9, 0)


def test_next_shift_starting_exactly_then_counts():
    handoff = wall(PARIS, 2026, 1, 6, 9, 0)
    assert next_shift(schedule(DAILY), BOB, handoff).start == handoff


def test_next_shift_runs_on_through_an_override_that_follows_it():
    snap = schedule(
        DAILY, overrides=[override(ALICE, wall(PARIS, 2026, 1, 9, 9, 0), wall(PARIS, 2026, 1, 9, 15, 0), id=7)]
    )
    shift = next_shift(snap, ALICE, wall(PARIS, 2026, 1, 6, 0, 0))
    assert (shift.start, shift.end, shift.source) == (
        wall(PARIS, 2026, 1, 8, 9, 0),
        wall(PARIS, 2026, 1, 9, 15, 0),
        "layer",
    )


def test_next_shift_of_someone_only_in_an_override_is_the_override():
    snap = schedule(
        DAILY, overrides=[override(DAN, wall(PARIS, 2026, 2, 2, 9, 0), wall(PARIS, 2026, 2, 2, 15, 0), id=3)]
    )
    shift = next_shift(snap, DAN, wall(PARIS, 2026, 1, 6, 0, 0))
    assert (shift.start, shift.end, shift.source, shift.source_id) == (
        wall(PARIS, 2026, 2, 2, 9, 0),
        wall(PARIS, 2026, 2, 2, 15, 0),
        "override",
        3,
    )


def test_next_shift_skips_a_long_shift_in_progress_and_finds_one_weeks_ahead():
    layer = spec(PARIS, (ALICE, BOB), start=date(2026, 1, 5), count=6, unit="weeks", order=1)
    shift = next_shift(schedule(layer), ALICE, wall(PARIS, 2026, 1, 10, 0, 0))
    assert (shift.start, shift.end) == (wall(PARIS, 2026, 3, 30, 9, 0), wall(PARIS, 2026, 5, 11, 9, 0))


def test_next_shift_of_someone_never_on_call_is_none():
    assert next_shift(schedule(DAILY), DAN, wall(PARIS, 2026, 1, 6, 0, 0), within=timedelta(days=60)) is None


def test_a_snapshot_refuses_a_range_it_has_not_loaded_the_overrides_for():
    snap = ScheduleSnapshot(zone=PARIS, layers=(DAILY,), loaded=(utc(2026, 1, 5), utc(2026, 1, 6)))
    assert final_schedule(snap, utc(2026, 1, 5, 12), utc(2026, 1, 5, 13))
    with pytest.raises(ValueError, match="snapshot holds overrides"):
        final_schedule(snap, utc(2026, 1, 5), utc(2026, 1, 7))
