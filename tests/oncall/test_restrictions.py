"""Restrictions clip a layer's shifts to local windows: weekdays, windows crossing midnight, DST."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from incidents.oncall.schedule import layer_shifts
from incidents.oncall.timemath import RestrictionError, normalize_restrictions
from tests.oncall.conftest import ALICE, BOB, CAROL, PARIS, local_spans, spec, wall

H = timedelta(hours=1)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def test_weekday_office_hours_leave_evenings_and_the_weekend_empty():
    layer = spec(
        PARIS,
        (ALICE, BOB),
        unit="weeks",
        restrictions=[{"days": WEEKDAYS, "start": "09:00", "end": "18:00"}],
    )
    shifts = layer_shifts(layer, wall(PARIS, 2026, 1, 5, 0, 0), wall(PARIS, 2026, 1, 13, 0, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "01-05 09:00+0100", "01-05 18:00+0100"),
        (ALICE, "01-06 09:00+0100", "01-06 18:00+0100"),
        (ALICE, "01-07 09:00+0100", "01-07 18:00+0100"),
        (ALICE, "01-08 09:00+0100", "01-08 18:00+0100"),
        (ALICE, "01-09 09:00+0100", "01-09 18:00+0100"),
        (BOB, "01-12 09:00+0100", "01-12 18:00+0100"),
    ]


def test_a_night_window_crosses_midnight_and_belongs_to_whoever_holds_the_shift():
    layer = spec(PARIS, (ALICE, BOB), handoff=time(9, 0), restrictions=[{"start": "22:00", "end": "06:00"}])
    shifts = layer_shifts(layer, wall(PARIS, 2026, 1, 5, 0, 0), wall(PARIS, 2026, 1, 8, 0, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "01-05 22:00+0100", "01-06 06:00+0100"),
        (BOB, "01-06 22:00+0100", "01-07 06:00+0100"),
        (ALICE, "01-07 22:00+0100", "01-08 00:00+0100"),  # clipped to the range
    ]


def test_a_night_window_is_split_where_the_rotation_hands_off_at_midnight():
    layer = spec(PARIS, (ALICE, BOB), handoff=time(0, 0), restrictions=[{"start": "22:00", "end": "06:00"}])
    shifts = layer_shifts(layer, wall(PARIS, 2026, 1, 5, 12, 0), wall(PARIS, 2026, 1, 6, 12, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "01-05 22:00+0100", "01-06 00:00+0100"),
        (BOB, "01-06 00:00+0100", "01-06 06:00+0100"),
    ]


def test_the_days_of_a_window_crossing_midnight_are_the_days_it_starts():
    layer = spec(
        PARIS,
        (ALICE,),
        unit="weeks",
        restrictions=[
            {"days": ["fri"], "start": "22:00", "end": "06:00"},
            {"days": ["sunday"], "start": "20:00", "end": "07:30"},
        ],
    )
    shifts = layer_shifts(layer, wall(PARIS, 2026, 1, 5, 9, 0), wall(PARIS, 2026, 1, 12, 9, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "01-09 22:00+0100", "01-10 06:00+0100"),  # Friday night into Saturday
        (ALICE, "01-11 20:00+0100", "01-12 07:30+0100"),  # Sunday night into Monday
    ]


@pytest.mark.parametrize(
    ("night", "length"),
    [(date(2026, 3, 28), 7 * H), (date(2026, 10, 24), 9 * H), (date(2026, 3, 21), 8 * H)],
)
def test_a_night_window_across_a_clock_change_keeps_its_local_bounds(night, length):
    layer = spec(PARIS, (ALICE,), restrictions=[{"start": "22:00", "end": "06:00"}])
    evening = wall(PARIS, night.year, night.month, night.day, 22, 0)
    [shift] = layer_shifts(layer, evening - H, evening + 12 * H)
    assert shift.start == evening
    assert shift.duration == length
    assert shift.end.astimezone(PARIS).time() == time(6, 0)


def test_a_window_opening_inside_the_spring_forward_gap_opens_when_the_clock_jumps():
    layer = spec(PARIS, (ALICE,), restrictions=[{"start": "02:30", "end": "04:00"}, {"start": "02:05", "end": "02:55"}])
    shifts = layer_shifts(layer, wall(PARIS, 2026, 3, 28, 12, 0), wall(PARIS, 2026, 3, 30, 12, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "03-29 03:00+0200", "03-29 04:00+0200"),  # 02:05-02:55 does not exist that night
        (ALICE, "03-30 02:05+0200", "03-30 04:00+0200"),  # the two windows overlap: one stretch
    ]


def test_a_window_ending_where_it_starts_lasts_a_whole_day():
    layer = spec(PARIS, (ALICE, BOB, CAROL), restrictions=[{"days": ["sat"], "start": "00:00", "end": "00:00"}])
    shifts = layer_shifts(layer, wall(PARIS, 2026, 1, 5, 0, 0), wall(PARIS, 2026, 1, 12, 0, 0))
    # Saturday 00:00-09:00 is Bob's (his shift began Friday 09:00), 09:00-24:00 Carol's.
    assert local_spans(shifts, PARIS) == [
        (BOB, "01-10 00:00+0100", "01-10 09:00+0100"),
        (CAROL, "01-10 09:00+0100", "01-11 00:00+0100"),
    ]


def test_the_rotation_keeps_turning_behind_restrictions():
    layer = spec(PARIS, (ALICE, BOB, CAROL), restrictions=[{"days": ["mon"], "start": "10:00", "end": "12:00"}])
    shifts = layer_shifts(layer, wall(PARIS, 2026, 1, 5, 0, 0), wall(PARIS, 2026, 1, 27, 0, 0))
    # Mondays 5, 12, 19 and 26 January are days 0, 7, 14 and 21 of a daily rotation of three.
    assert [s.user_id for s in shifts] == [ALICE, BOB, CAROL, ALICE]


@pytest.mark.parametrize(
    ("restrictions", "message"),
    [
        ([{"start": "9am", "end": "18:00"}], "Window 1 start: '9am' is not a time of day"),
        ([{"start": "09:00", "end": "24:00"}], "Window 1 end: '24:00' is not a time of day"),
        ([{"start": "09:00"}], "Window 1 end: 'nothing' is not a time of day"),
        ([{"days": ["mon", "funday"], "start": "09:00", "end": "18:00"}], "'funday' is not a weekday"),
        ([{"days": [], "start": "09:00", "end": "18:00"}], "non-empty list"),
        ([{"start": "09:00", "end": "18:00", "tz": "UTC"}], "unknown key(s) tz"),
        ({"start": "09:00", "end": "18:00"}, "Restrictions are a list of windows"),
        (["09:00-18:00"], "a window is an object"),
    ],
)
def test_restrictions_that_do_not_parse_say_what_is_wrong(restrictions, message):
    with pytest.raises(RestrictionError) as excinfo:
        normalize_restrictions(restrictions)
    assert message in str(excinfo.value)


def test_restrictions_are_stored_with_their_days_spelled_out():
    stored = normalize_restrictions(
        [{"start": "9:00", "end": "18:00"}, {"days": ["Saturday", 7], "start": "22:00", "end": "06:00"}]
    )
    assert stored == [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "09:00", "end": "18:00"},
        {"days": ["sat", "sun"], "start": "22:00", "end": "06:00"},
    ]
