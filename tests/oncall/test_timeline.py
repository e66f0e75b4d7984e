"""The schedule page's timeline layout (incidents/oncall/timeline.py): positions by real instants
across DST days, bars cut to the window, gaps, row order, the "now" marker, and "now and next"."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from incidents.oncall.schedule import LAYER, OVERRIDE, Shift
from incidents.oncall.timeline import (
    PLOT_WIDTH,
    PLOT_X,
    LayerLine,
    duration_text,
    now_and_next,
    person_colours,
    schedule_timeline,
)
from tests.oncall.conftest import ALICE, BOB, CAROL, DAN, PARIS, utc, wall

NAMES = {ALICE: "Alice Martin", BOB: "Bob", CAROL: "Carol", DAN: "Dan"}


def shift(user: int, start: datetime, end: datetime, source: str = LAYER, name: str = "Weekly") -> Shift:
    return Shift(user, start, end, source, 1, "Override" if source == OVERRIDE else name)


def layout(start, end, *, final=(), layers=(), overrides=(), now=None, zone=PARIS):
    return schedule_timeline(
        start=start,
        end=end,
        zone=zone,
        layers=layers,
        overrides=list(overrides),
        final=list(final),
        names=NAMES,
        now=now or start - timedelta(days=1),
    )


def x_of(instant: datetime, start: datetime, end: datetime) -> float:
    return PLOT_X + (instant - start) / (end - start) * PLOT_WIDTH


# The 14 days from Monday 23 March 2026 (Paris); the clocks go forward on Sunday 29 March.
SPRING_START = wall(PARIS, 2026, 3, 23)
SPRING_END = wall(PARIS, 2026, 4, 6)


def test_a_window_over_the_spring_change_is_335_real_hours_and_its_sunday_is_23_hours_wide():
    timeline = layout(SPRING_START, SPRING_END)

    assert (SPRING_END - SPRING_START).total_seconds() == (14 * 24 - 1) * 3600
    assert [day.date.day for day in timeline.days] == [23, 24, 25, 26, 27, 28, 29, 30, 31, 1, 2, 3, 4, 5]
    hours = {day.date.day: day.hours for day in timeline.days}
    assert hours[29] == 23 and {h for d, h in hours.items() if d != 29} == {24}
    widths = {day.date.day: day.width for day in timeline.days}
    assert widths[29] == pytest.approx(PLOT_WIDTH * 23 / 335, abs=0.01)
    assert widths[30] == pytest.approx(PLOT_WIDTH * 24 / 335, abs=0.01)
    assert [day.date.day for day in timeline.days if day.is_dst_change] == [29]
    assert timeline.days[0].x == PLOT_X
    # Monday 30 March starts 6 days and 23 hours into the window.
    monday = next(day for day in timeline.days if day.date.day == 30)
    assert monday.x == pytest.approx(PLOT_X + PLOT_WIDTH * (6 * 24 + 23) / 335, abs=0.01)
    assert [day.date.isoweekday() > 5 for day in timeline.days].count(True) == 4


def test_a_handoff_at_nine_local_time_lands_on_nine_on_both_sides_of_the_change():
    before = wall(PARIS, 2026, 3, 27, 9)  # 08:00 UTC (CET)
    after = wall(PARIS, 2026, 3, 30, 9)  # 07:00 UTC (CEST)
    timeline = layout(SPRING_START, SPRING_END, final=[shift(ALICE, before, after), shift(BOB, after, SPRING_END)])

    alice, bob = timeline.final_row.bars
    assert alice.x == pytest.approx(x_of(before, SPRING_START, SPRING_END), abs=0.01)
    assert bob.x == pytest.approx(x_of(after, SPRING_START, SPRING_END), abs=0.01)
    assert alice.x + alice.width == pytest.approx(bob.x, abs=0.02)
    # Monday follows the short Sunday: its 09:00 is 9 of its 24 hours in.
    monday = next(day for day in timeline.days if day.date.day == 30)
    assert bob.x - monday.x == pytest.approx(monday.width * 9 / 24, abs=0.02)
    assert alice.title == "Alice Martin: Fri 27 Mar 09:00 to Mon 30 Mar 09:00 (layer Weekly)"
    assert bob.title == "Bob: Mon 30 Mar 09:00 to Mon 6 Apr 00:00 (layer Weekly)"


def test_the_autumn_change_makes_a_25_hour_day():
    start, end = wall(PARIS, 2026, 10, 19), wall(PARIS, 2026, 11, 2)
    timeline = layout(start, end)

    assert (end - start).total_seconds() == (14 * 24 + 1) * 3600
    sunday = next(day for day in timeline.days if day.date.day == 25)
    assert sunday.hours == 25 and sunday.hours_text == "25 h"
    assert sunday.width == pytest.approx(PLOT_WIDTH * 25 / 337, abs=0.01)


def test_bars_are_cut_to_the_window_and_shifts_outside_it_are_left_out():
    start, end = SPRING_START, SPRING_END
    timeline = layout(
        start,
        end,
        final=[
            shift(CAROL, start - timedelta(days=30), start - timedelta(days=20)),  # before: left out
            shift(ALICE, start - timedelta(days=3), end + timedelta(days=3)),  # longer than the window
        ],
        layers=[LayerLine(1, "Weekly", [shift(BOB, end - timedelta(hours=12), end + timedelta(days=6))])],
    )

    (alice,) = timeline.final_row.bars
    assert (alice.x, alice.width) == (PLOT_X, PLOT_WIDTH)
    assert (alice.start, alice.end) == (start, end)
    (bob,) = timeline.rows[0].bars
    assert bob.x + bob.width == pytest.approx(PLOT_X + PLOT_WIDTH, abs=0.01)
    assert bob.width == pytest.approx(PLOT_WIDTH * 12 / 335, abs=0.01)
    assert [row.user_id for row in timeline.table] == [ALICE]


def test_gaps_of_the_final_row_are_marked_and_listed():
    start, end = SPRING_START, SPRING_END
    hole_start, hole_end = wall(PARIS, 2026, 3, 25, 18), wall(PARIS, 2026, 3, 26, 8)
    timeline = layout(
        start, end, final=[shift(ALICE, start, hole_start), shift(BOB, hole_end, end - timedelta(days=1))]
    )

    gaps = timeline.final_row.gaps
    assert [(gap.start, gap.end) for gap in gaps] == [(hole_start, hole_end), (end - timedelta(days=1), end)]
    assert gaps[0].x == pytest.approx(x_of(hole_start, start, end), abs=0.01)
    assert gaps[0].width == pytest.approx(PLOT_WIDTH * 14 / 335, abs=0.01)
    assert gaps[0].title == "Nobody on call: Wed 25 Mar 18:00 to Thu 26 Mar 08:00"
    assert [(row.name, row.is_gap) for row in timeline.table] == [
        ("Alice Martin", False),
        ("Nobody on call", True),
        ("Bob", False),
        ("Nobody on call", True),
    ]
    assert timeline.table[1].duration == "14 h"


def test_an_empty_schedule_is_one_gap_and_empty_rows_say_so():
    timeline = layout(SPRING_START, SPRING_END, layers=[LayerLine(1, "Weekly", [])])

    assert [(gap.x, gap.width) for gap in timeline.final_row.gaps] == [(PLOT_X, PLOT_WIDTH)]
    assert [row.empty_text for row in timeline.rows] == ["nobody in this range", "no overrides in this range", ""]
    assert timeline.legend == ()


def test_rows_are_the_layers_highest_first_then_overrides_then_the_final_schedule():
    start, end = SPRING_START, SPRING_END
    timeline = layout(
        start,
        end,
        layers=[
            LayerLine(1, "Weekly", [shift(ALICE, start, end)]),
            LayerLine(3, "Weekends", [shift(CAROL, start, start + timedelta(days=1), name="Weekends")]),
            LayerLine(2, "Nights", []),
        ],
        overrides=[shift(DAN, start + timedelta(hours=2), start + timedelta(hours=4), source=OVERRIDE)],
        final=[shift(ALICE, start, end)],
    )

    assert [(row.kind, row.label, row.sublabel) for row in timeline.rows] == [
        ("layer", "Weekends", "layer 3"),
        ("layer", "Nights", "layer 2"),
        ("layer", "Weekly", "layer 1"),
        ("overrides", "Overrides", "on top of every layer"),
        ("final", "Final schedule", "who gets paged"),
    ]
    ys = [row.y for row in timeline.rows]
    assert ys == sorted(ys) and timeline.height > ys[-1]
    assert timeline.rows[3].bars[0].title.endswith("(override)")
    assert [person.name for person in timeline.legend] == ["Alice Martin", "Carol", "Dan"]


def test_each_person_keeps_one_colour_and_neighbours_differ():
    assert person_colours(ALICE) == person_colours(ALICE)
    fills = {person_colours(user_id)[0] for user_id in range(1, 13)}
    assert len(fills) == 12
    start, end = SPRING_START, SPRING_END
    timeline = layout(
        start,
        end,
        layers=[LayerLine(1, "Weekly", [shift(BOB, start, end)])],
        final=[shift(BOB, start, end)],
    )
    assert timeline.rows[0].bars[0].fill == timeline.final_row.bars[0].fill == person_colours(BOB)[0]


def test_names_are_written_in_bars_only_where_they_fit():
    start, end = SPRING_START, SPRING_END
    timeline = layout(
        start,
        end,
        final=[
            shift(ALICE, start, start + timedelta(days=3)),  # wide: the whole name
            shift(BOB, start + timedelta(days=3), start + timedelta(days=3, hours=1)),  # narrow
            shift(ALICE, start + timedelta(days=4), start + timedelta(days=4, hours=10)),  # initials
            shift(CAROL, start + timedelta(days=5), start + timedelta(days=5, minutes=1)),  # a sliver
        ],
    )
    assert [bar.label for bar in timeline.final_row.bars] == ["Alice Martin", "", "AM", ""]
    assert timeline.final_row.bars[-1].width == 1.0  # still visible


def test_the_now_marker_is_drawn_only_inside_the_window():
    start, end = SPRING_START, SPRING_END
    now = wall(PARIS, 2026, 3, 25, 14, 30)
    inside = layout(start, end, now=now)
    assert inside.now_x == pytest.approx(x_of(now, start, end), abs=0.01)
    assert inside.now_text == "14:30"
    assert layout(start, end, now=end).now_x is None
    assert layout(start, end, now=start - timedelta(seconds=1)).now_x is None


def test_a_window_must_end_after_it_starts():
    with pytest.raises(ValueError):
        layout(SPRING_START, SPRING_START)


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(0, "0 min"), (10, "10 min"), (90, "1 h 30 min"), (14 * 60, "14 h"), (7 * 24 * 60, "7 d"), (47 * 60, "1 d 23 h")],
)
def test_durations_read_in_two_units_at_most(minutes, text):
    assert duration_text(timedelta(minutes=minutes)) == text


# --- now and next --------------------------------------------------------------------------------


NOW = utc(2026, 3, 25, 12)
HORIZON = NOW + timedelta(days=62)


def test_now_is_the_whole_stretch_of_the_person_on_call_and_next_the_one_after():
    final = [
        shift(ALICE, NOW, NOW + timedelta(hours=3)),
        shift(ALICE, NOW + timedelta(hours=3), NOW + timedelta(hours=5), source=OVERRIDE),  # same person: one stretch
        shift(BOB, NOW + timedelta(hours=5), NOW + timedelta(days=2)),
    ]
    found = now_and_next(final, NOW, HORIZON)

    assert (found.current.user_id, found.current.end) == (ALICE, NOW + timedelta(hours=5))
    assert (found.next.user_id, found.next.start) == (BOB, NOW + timedelta(hours=5))
    assert not found.current.open_ended


def test_in_a_gap_nobody_is_on_call_and_next_is_the_first_after_it():
    final = [shift(CAROL, NOW + timedelta(hours=2), NOW + timedelta(hours=9))]
    found = now_and_next(final, NOW, HORIZON)
    assert found.current is None
    assert (found.next.user_id, found.next.start) == (CAROL, NOW + timedelta(hours=2))


def test_a_stretch_past_the_horizon_is_open_ended_and_nothing_follows():
    found = now_and_next([shift(DAN, NOW, HORIZON)], NOW, HORIZON)
    assert found.current.user_id == DAN and found.current.open_ended
    assert found.next is None
    assert now_and_next([], NOW, HORIZON).current is None
