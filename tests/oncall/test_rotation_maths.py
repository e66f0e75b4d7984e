"""Rotation maths, table-driven, across DST in Europe/Paris, America/New_York and Australia/Lord_Howe
(whose clocks move by 30 minutes). Lengths are wall-clock lengths: handoffs keep their local time."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from incidents.oncall import schedule as engine
from incidents.oncall.schedule import layer_shifts
from incidents.oncall.timemath import local_to_utc
from tests.oncall.conftest import ALICE, BOB, CAROL, DAN, LORD_HOWE, NEW_YORK, PARIS, local_spans, spec, utc, wall

H = timedelta(hours=1)
DAY = timedelta(days=1)

# (zone, local date of a 09:00 handoff, real length of the day-long shift that starts then)
DAILY_ACROSS_DST = [
    (PARIS, date(2026, 3, 28), 23 * H),
    (PARIS, date(2026, 10, 24), 25 * H),
    (NEW_YORK, date(2026, 3, 7), 23 * H),
    (NEW_YORK, date(2026, 10, 31), 25 * H),
    (LORD_HOWE, date(2026, 4, 4), 24.5 * H),
    (LORD_HOWE, date(2026, 10, 3), 23.5 * H),
    (PARIS, date(2026, 6, 10), 24 * H),  # an ordinary day
]


@pytest.mark.parametrize(("zone", "day", "length"), DAILY_ACROSS_DST)
def test_a_daily_shift_is_one_calendar_day_so_it_lasts_23_or_25_hours_on_dst_days(zone, day, length):
    layer = spec(zone, start=date(2026, 1, 1), handoff=time(9, 0), unit="days")
    begins = wall(zone, day.year, day.month, day.day, 9, 0)
    shifts = layer_shifts(layer, begins, begins + 2 * DAY)
    assert shifts[0].start == begins
    assert shifts[0].duration == length
    assert shifts[0].end.astimezone(zone).time() == time(9, 0)  # the handoff keeps its local time
    assert shifts[0].user_id == layer.participants[(day - date(2026, 1, 1)).days % 3]
    assert shifts[1].user_id != shifts[0].user_id


# (zone, the Monday a weekly shift starts, its real length)
WEEKLY_ACROSS_DST = [
    (PARIS, date(2026, 3, 23), 7 * DAY - H, DAN),  # week 11 of a rotation of 4
    (PARIS, date(2026, 10, 19), 7 * DAY + H, BOB),
    (NEW_YORK, date(2026, 3, 2), 7 * DAY - H, ALICE),
    (NEW_YORK, date(2026, 10, 26), 7 * DAY + H, CAROL),
    (LORD_HOWE, date(2026, 3, 30), 7 * DAY + 0.5 * H, ALICE),
    (LORD_HOWE, date(2026, 9, 28), 7 * DAY - 0.5 * H, CAROL),
]


@pytest.mark.parametrize(("zone", "monday", "length", "who"), WEEKLY_ACROSS_DST)
def test_a_weekly_shift_is_seven_local_days_whatever_the_clock_change(zone, monday, length, who):
    layer = spec(zone, (ALICE, BOB, CAROL, DAN), start=date(2026, 1, 5), handoff=time(9, 0), unit="weeks")
    begins = wall(zone, monday.year, monday.month, monday.day, 9, 0)
    full = layer_shifts(layer, begins, begins + 8 * DAY)[0]
    assert (full.start, full.duration, full.user_id) == (begins, length, who)
    assert full.end.astimezone(zone).strftime("%a %H:%M") == "Mon 09:00"


# (zone, local date of the night the clocks change, real length of the 20:00 -> 08:00 shift)
TWELVE_HOURS_ACROSS_DST = [
    (PARIS, date(2026, 3, 28), 11 * H),
    (PARIS, date(2026, 10, 24), 13 * H),
    (NEW_YORK, date(2026, 3, 7), 11 * H),
    (NEW_YORK, date(2026, 10, 31), 13 * H),
    (LORD_HOWE, date(2026, 4, 4), 12.5 * H),
    (LORD_HOWE, date(2026, 10, 3), 11.5 * H),
]


@pytest.mark.parametrize(("zone", "night", "length"), TWELVE_HOURS_ACROSS_DST)
def test_hours_are_clock_hours_so_12_hour_shifts_keep_handing_off_at_8_and_20(zone, night, length):
    layer = spec(zone, (ALICE, BOB), start=date(2026, 1, 1), handoff=time(8, 0), count=12, unit="hours")
    evening = wall(zone, night.year, night.month, night.day, 20, 0)
    shifts = layer_shifts(layer, evening - 12 * H, evening + 2 * DAY)
    local_handoffs = {s.start.astimezone(zone).strftime("%H:%M") for s in shifts}
    assert local_handoffs == {"08:00", "20:00"}
    night_shift = next(s for s in shifts if s.start == evening)
    assert night_shift.duration == length
    # Alice's turns start at 08:00 and Bob's at 20:00 on either side of the change: no turn is lost.
    assert [(s.user_id, s.start.astimezone(zone).hour) for s in shifts[:5]] == [
        (ALICE, 8),
        (BOB, 20),
        (ALICE, 8),
        (BOB, 20),
        (ALICE, 8),
    ]


def test_an_hour_long_shift_inside_the_spring_forward_gap_is_skipped():
    layer = spec(PARIS, (ALICE, BOB, CAROL), start=date(2026, 3, 29), handoff=time(0, 0), unit="hours")
    shifts = layer_shifts(layer, wall(PARIS, 2026, 3, 29, 0, 0), wall(PARIS, 2026, 3, 29, 5, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "03-29 00:00+0100", "03-29 01:00+0100"),
        (BOB, "03-29 01:00+0100", "03-29 03:00+0200"),  # one real hour: 02:00 never happens
        # Carol's 02:00-03:00 does not exist: her turn passes.
        (ALICE, "03-29 03:00+0200", "03-29 04:00+0200"),
        (BOB, "03-29 04:00+0200", "03-29 05:00+0200"),
    ]


def test_an_hour_long_shift_over_the_repeated_hour_covers_it_twice_over():
    layer = spec(PARIS, (ALICE, BOB, CAROL), start=date(2026, 10, 25), handoff=time(0, 0), unit="hours")
    shifts = layer_shifts(layer, wall(PARIS, 2026, 10, 25, 0, 0), wall(PARIS, 2026, 10, 25, 4, 0))
    assert local_spans(shifts, PARIS) == [
        (ALICE, "10-25 00:00+0200", "10-25 01:00+0200"),
        (BOB, "10-25 01:00+0200", "10-25 02:00+0200"),
        (CAROL, "10-25 02:00+0200", "10-25 03:00+0100"),  # 02:00-03:00 happens twice: two real hours
        (ALICE, "10-25 03:00+0100", "10-25 04:00+0100"),
    ]
    assert shifts[2].duration == 2 * H


# A daily handoff set at a time the clock skips happens when the clock jumps.
HANDOFF_IN_THE_GAP = [
    (PARIS, time(2, 30), date(2026, 3, 29), utc(2026, 3, 29, 1, 0)),  # 03:00 CEST
    (NEW_YORK, time(2, 30), date(2026, 3, 8), utc(2026, 3, 8, 7, 0)),  # 03:00 EDT
    (LORD_HOWE, time(2, 15), date(2026, 10, 4), utc(2026, 10, 3, 15, 30)),  # 02:30 +11:00
]


@pytest.mark.parametrize(("zone", "handoff", "day", "expected"), HANDOFF_IN_THE_GAP)
def test_a_handoff_inside_the_spring_forward_gap_happens_when_the_clock_jumps(zone, handoff, day, expected):
    layer = spec(zone, (ALICE, BOB), start=date(2026, 1, 1), handoff=handoff, unit="days")
    shifts = layer_shifts(layer, expected - DAY, expected + 2 * DAY)
    assert expected in [s.start for s in shifts]
    before, after = (s for s in shifts if expected in (s.start, s.end) and s.duration > H)
    assert before.end == after.start == expected
    # The day after, the handoff is back at its local time.
    assert after.end == wall(zone, day.year, day.month, day.day + 1, handoff.hour, handoff.minute)
    assert before.user_id != after.user_id


# A daily handoff set at a time that happens twice happens the first time.
HANDOFF_AT_AN_AMBIGUOUS_TIME = [
    (PARIS, time(2, 30), utc(2026, 10, 25, 0, 30)),  # 02:30 CEST, not 02:30 CET
    (NEW_YORK, time(1, 30), utc(2026, 11, 1, 5, 30)),  # 01:30 EDT
    (LORD_HOWE, time(1, 45), utc(2026, 4, 4, 14, 45)),  # 01:45 +11:00
]


@pytest.mark.parametrize(("zone", "handoff", "expected"), HANDOFF_AT_AN_AMBIGUOUS_TIME)
def test_a_handoff_at_a_time_that_happens_twice_takes_the_first(zone, handoff, expected):
    layer = spec(zone, (ALICE, BOB), start=date(2026, 1, 1), handoff=handoff, unit="days")
    starts = [s.start for s in layer_shifts(layer, expected - 2 * H, expected + 2 * H)]
    assert starts == [expected - 2 * H, expected]
    assert local_to_utc(expected.astimezone(zone).replace(tzinfo=None), zone) == expected


def test_a_range_years_after_the_start_date_is_computed_without_walking_from_it(monkeypatch):
    calls = []
    real = engine.local_to_utc
    monkeypatch.setattr(engine, "local_to_utc", lambda naive, zone: calls.append(naive) or real(naive, zone))
    people = (ALICE, BOB, CAROL, DAN, 5)
    layer = spec(PARIS, people, start=date(2020, 1, 6), handoff=time(9, 0), unit="weeks")
    monday = date(2031, 6, 2)
    shifts = layer_shifts(layer, wall(PARIS, 2031, 6, 2, 12, 0), wall(PARIS, 2031, 6, 16, 12, 0))
    weeks = (monday - date(2020, 1, 6)).days // 7
    assert [s.user_id for s in shifts] == [people[(weeks + i) % 5] for i in range(3)]
    assert shifts[1].start == wall(PARIS, 2031, 6, 9, 9, 0)
    assert len(calls) < 8  # a handful of handoffs, not the 600 weeks since the start


def test_a_layer_has_nobody_before_its_first_handoff():
    layer = spec(NEW_YORK, (ALICE, BOB), start=date(2026, 3, 10), handoff=time(9, 0), unit="days")
    assert layer_shifts(layer, wall(NEW_YORK, 2026, 3, 1, 0, 0), wall(NEW_YORK, 2026, 3, 10, 8, 59)) == []
    shifts = layer_shifts(layer, wall(NEW_YORK, 2026, 3, 9, 0, 0), wall(NEW_YORK, 2026, 3, 12, 0, 0))
    assert local_spans(shifts, NEW_YORK) == [
        (ALICE, "03-10 09:00-0400", "03-11 09:00-0400"),
        (BOB, "03-11 09:00-0400", "03-12 00:00-0400"),
    ]


@pytest.mark.parametrize(
    ("count", "unit", "expected"),
    [
        (2, "days", [(ALICE, "01-05 09:00+0100", "01-07 09:00+0100"), (BOB, "01-07 09:00+0100", "01-09 09:00+0100")]),
        (8, "hours", [(ALICE, "01-05 09:00+0100", "01-05 17:00+0100"), (BOB, "01-05 17:00+0100", "01-06 01:00+0100")]),
        (2, "weeks", [(ALICE, "01-05 09:00+0100", "01-19 09:00+0100"), (BOB, "01-19 09:00+0100", "02-02 09:00+0100")]),
    ],
)
def test_a_shift_lasts_its_count_of_units_and_the_next_person_takes_over(count, unit, expected):
    layer = spec(PARIS, (ALICE, BOB), start=date(2026, 1, 5), handoff=time(9, 0), count=count, unit=unit)
    begins = wall(PARIS, 2026, 1, 5, 9, 0)
    shifts = layer_shifts(layer, begins, begins + layer.step * 2)
    assert local_spans(shifts, PARIS) == expected


def test_shifts_are_clipped_to_the_range_asked_for():
    layer = spec(PARIS, (ALICE, BOB), start=date(2026, 1, 5), unit="days")
    shifts = layer_shifts(layer, wall(PARIS, 2026, 2, 1, 12, 0), wall(PARIS, 2026, 2, 1, 13, 0))
    assert [(s.start, s.end) for s in shifts] == [(wall(PARIS, 2026, 2, 1, 12, 0), wall(PARIS, 2026, 2, 1, 13, 0))]


def test_a_lone_participant_has_one_shift_not_one_per_handoff():
    layer = spec(PARIS, (ALICE,), start=date(2026, 1, 5), unit="days")
    shifts = layer_shifts(layer, wall(PARIS, 2026, 1, 10, 0, 0), wall(PARIS, 2026, 1, 20, 0, 0))
    assert [(s.user_id, s.duration) for s in shifts] == [(ALICE, 10 * DAY)]


def test_a_layer_without_participants_has_no_shifts():
    layer = spec(PARIS, (), start=date(2026, 1, 5), unit="days")
    assert layer_shifts(layer, wall(PARIS, 2026, 1, 10, 0, 0), wall(PARIS, 2026, 1, 20, 0, 0)) == []


def test_naive_datetimes_are_refused():
    layer = spec(PARIS)
    with pytest.raises(ValueError, match="aware"):
        layer_shifts(layer, utc(2026, 1, 10).replace(tzinfo=None), utc(2026, 1, 11))
