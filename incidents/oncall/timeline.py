"""The schedule page's timeline, laid out: where each bar, gap, day line and the "now" marker go in
the SVG, and the words that go with them. Pure functions over the engine's shifts (no database):
the view computes the shifts, ``schedule_timeline()`` places them, the template only draws.

Positions are proportional to real elapsed time, not to wall-clock time: a DST day is 23 or 25
hours long, so its column is narrower or wider than the others, and a shift handing off at 09:00
local time lands exactly on the 09:00 of its day. Every instant is shown in the schedule's zone.

It also answers "who is on call now, until when, and who is next" for the page headers
(``now_and_next``), from a final schedule computed from ``now`` on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from incidents.oncall.schedule import OVERRIDE, Gap, Shift, find_gaps
from incidents.oncall.timemath import local_to_utc

# SVG user units; the SVG scales to the page width (the table under it carries the same facts).
WIDTH = 1000
LABEL_WIDTH = 150  # row names, left of the plot
RIGHT_PAD = 6
PLOT_X = LABEL_WIDTH
PLOT_WIDTH = WIDTH - LABEL_WIDTH - RIGHT_PAD
HEADER_HEIGHT = 46  # weekday, date, and "23 h" on DST days
ROW_HEIGHT = 26
ROW_GAP = 10
BOTTOM_PAD = 6
CHAR_WIDTH = 6.4  # average width of a character of the 11px bar text, to decide whether a name fits
MIN_BAR_WIDTH = 1.0  # a ten-minute override is still visible on a 14-day chart
GOLDEN_ANGLE = 137.508  # successive user ids get hues far apart, and a user keeps theirs everywhere


def person_colours(user_id: int) -> tuple[str, str]:
    """(fill, stroke) of a person's bars: a light fill (dark text stays readable on it in both
    colour schemes) and a darker edge of the same hue. Stable per user id."""
    hue = round((user_id * GOLDEN_ANGLE) % 360)
    return f"hsl({hue}, 70%, 80%)", f"hsl({hue}, 55%, 32%)"


def local_text(instant: datetime, zone: tzinfo) -> str:
    """``Mon 6 Apr 09:00`` in ``zone``: a 14-day window needs no year."""
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def duration_text(span: timedelta) -> str:
    """``7 d``, ``1 d 23 h``, ``3 h 30 min``, ``10 min``: whole minutes, two units at most."""
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    return " ".join(parts[:2]) or "0 min"


@dataclass(frozen=True, slots=True)
class LayerLine:
    """One layer's shifts over the window, as the view computed them (``engine.layer_shifts``)."""

    order: int
    name: str
    shifts: Sequence[Shift]


@dataclass(frozen=True, slots=True)
class Person:
    user_id: int
    name: str
    fill: str
    stroke: str


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    user_id: int
    name: str
    fill: str
    stroke: str
    label: str  # what fits inside the bar: the name, the initials, or nothing
    title: str  # the tooltip: person, local start and end, source
    start: datetime
    end: datetime

    @property
    def text_x(self) -> float:
        return round(self.x + 4, 2)


@dataclass(frozen=True, slots=True)
class GapBar:
    x: float
    width: float
    title: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Row:
    kind: str  # "layer", "overrides" or "final"
    label: str
    sublabel: str
    y: float
    bars: tuple[Bar, ...]
    gaps: tuple[GapBar, ...] = ()
    empty_text: str = ""

    @property
    def label_y(self) -> float:
        return round(self.y + 11, 2)

    @property
    def sublabel_y(self) -> float:
        return round(self.y + 23, 2)

    @property
    def bar_text_y(self) -> float:
        return round(self.y + ROW_HEIGHT / 2 + 4, 2)


@dataclass(frozen=True, slots=True)
class Day:
    date: date
    x: float
    width: float
    hours: float  # 24, or 23/25 (23.5/24.5 on Lord Howe Island) on the days the clocks change
    weekend: bool

    @property
    def is_dst_change(self) -> bool:
        return self.hours != 24

    @property
    def label_x(self) -> float:
        return round(self.x + self.width / 2, 2)

    @property
    def hours_text(self) -> str:
        return f"{self.hours:g} h"


@dataclass(frozen=True, slots=True)
class TableRow:
    """One line of the accessible list of the final schedule: a shift, or a gap (``user_id`` None)."""

    user_id: int | None
    name: str
    start_text: str
    end_text: str
    duration: str
    source: str
    fill: str = ""
    stroke: str = ""

    @property
    def is_gap(self) -> bool:
        return self.user_id is None


@dataclass(frozen=True, slots=True)
class Timeline:
    start: datetime
    end: datetime
    zone_name: str
    rows: tuple[Row, ...]
    days: tuple[Day, ...]
    legend: tuple[Person, ...]
    table: tuple[TableRow, ...]
    gaps: tuple[Gap, ...]
    now_x: float | None
    now_text: str
    width: int = WIDTH
    height: float = 0
    plot_x: int = PLOT_X
    plot_width: int = PLOT_WIDTH
    header_height: int = HEADER_HEIGHT
    row_height: int = ROW_HEIGHT

    @property
    def plot_end(self) -> int:
        return self.plot_x + self.plot_width

    @property
    def final_row(self) -> Row:
        return self.rows[-1]


class _Scale:
    """Instants to x coordinates over [start, end), proportional to real elapsed time."""

    def __init__(self, start: datetime, end: datetime):
        if end <= start:
            raise ValueError("the timeline's end must be after its start")
        self.start, self.end = start, end
        self.seconds = (end - start).total_seconds()

    def x(self, instant: datetime) -> float:
        instant = min(max(instant, self.start), self.end)
        return PLOT_X + (instant - self.start).total_seconds() / self.seconds * PLOT_WIDTH


def _fitting_label(name: str, width: float) -> str:
    if len(name) * CHAR_WIDTH + 8 <= width:
        return name
    initials = "".join(word[0] for word in name.split()[:2]).upper()
    return initials if initials and len(initials) * CHAR_WIDTH + 6 <= width else ""


def _bars(shifts: Iterable[Shift], scale: _Scale, names: Mapping[int, str], zone: tzinfo) -> tuple[Bar, ...]:
    bars = []
    for shift in shifts:
        lo, hi = max(shift.start, scale.start), min(shift.end, scale.end)
        if lo >= hi:
            continue
        x0, x1 = scale.x(lo), scale.x(hi)
        width = max(x1 - x0, MIN_BAR_WIDTH)
        name = names.get(shift.user_id, f"user {shift.user_id}")
        fill, stroke = person_colours(shift.user_id)
        source = "override" if shift.source == OVERRIDE else f"layer {shift.source_name}".strip()
        bars.append(
            Bar(
                x=round(x0, 2),
                width=round(width, 2),
                user_id=shift.user_id,
                name=name,
                fill=fill,
                stroke=stroke,
                label=_fitting_label(name, width),
                title=f"{name}: {local_text(lo, zone)} to {local_text(hi, zone)} ({source})",
                start=lo,
                end=hi,
            )
        )
    return tuple(bars)


def _days(start: datetime, end: datetime, zone: tzinfo, scale: _Scale) -> tuple[Day, ...]:
    """The local calendar days of the window, each from its real local midnight to the next."""
    days = []
    day = start.astimezone(zone).date()
    while True:
        midnight = local_to_utc(datetime.combine(day, time()), zone)
        if midnight >= end:
            break
        following = local_to_utc(datetime.combine(day + timedelta(days=1), time()), zone)
        lo, hi = max(midnight, start), min(following, end)
        x0, x1 = scale.x(lo), scale.x(hi)
        hours = round((following - midnight).total_seconds() / 3600, 2)
        days.append(Day(date=day, x=round(x0, 2), width=round(x1 - x0, 2), hours=hours, weekend=day.isoweekday() > 5))
        day += timedelta(days=1)
    return tuple(days)


def schedule_timeline(
    *,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    layers: Iterable[LayerLine],
    overrides: Sequence[Shift],
    final: Sequence[Shift],
    names: Mapping[int, str],
    now: datetime,
) -> Timeline:
    """The timeline of [start, end): one row per layer (highest ``order`` first, as it overrides
    the ones below), the overrides row (``overrides``: the overrides as they apply, the latest on
    top), and the final schedule with its gaps. Shifts may extend past the window: they are cut."""
    scale = _Scale(start, end)
    zone_name = str(getattr(zone, "key", zone))
    rows: list[Row] = []

    def y_of(index: int) -> float:
        return HEADER_HEIGHT + index * (ROW_HEIGHT + ROW_GAP)

    for line in sorted(layers, key=lambda line: line.order, reverse=True):
        bars = _bars(line.shifts, scale, names, zone)
        rows.append(
            Row(
                kind="layer",
                label=line.name,
                sublabel=f"layer {line.order}",
                y=y_of(len(rows)),
                bars=bars,
                empty_text="" if bars else "nobody in this range",
            )
        )
    override_bars = _bars(overrides, scale, names, zone)
    rows.append(
        Row(
            kind="overrides",
            label="Overrides",
            sublabel="on top of every layer",
            y=y_of(len(rows)),
            bars=override_bars,
            empty_text="" if override_bars else "no overrides in this range",
        )
    )
    final = sorted(final, key=lambda shift: shift.start)
    gaps = find_gaps(final, start, end)
    gap_bars = tuple(
        GapBar(
            x=round(scale.x(gap.start), 2),
            width=round(max(scale.x(gap.end) - scale.x(gap.start), MIN_BAR_WIDTH), 2),
            title=f"Nobody on call: {local_text(gap.start, zone)} to {local_text(gap.end, zone)}",
            start=gap.start,
            end=gap.end,
        )
        for gap in gaps
    )
    rows.append(
        Row(
            kind="final",
            label="Final schedule",
            sublabel="who gets paged",
            y=y_of(len(rows)),
            bars=_bars(final, scale, names, zone),
            gaps=gap_bars,
        )
    )

    people: dict[int, Person] = {}
    for row in rows:
        for bar in row.bars:
            people.setdefault(bar.user_id, Person(bar.user_id, bar.name, bar.fill, bar.stroke))
    legend = tuple(sorted(people.values(), key=lambda person: (person.name.lower(), person.user_id)))

    table = _table(final, gaps, scale, names, zone)

    now_inside = start <= now < end
    return Timeline(
        start=start,
        end=end,
        zone_name=zone_name,
        rows=tuple(rows),
        days=_days(start, end, zone, scale),
        legend=legend,
        table=table,
        gaps=tuple(gaps),
        now_x=round(scale.x(now), 2) if now_inside else None,
        now_text=now.astimezone(zone).strftime("%H:%M") if now_inside else "",
        height=y_of(len(rows)) + BOTTOM_PAD,
    )


def _table(
    final: Sequence[Shift], gaps: Sequence[Gap], scale: _Scale, names: Mapping[int, str], zone: tzinfo
) -> tuple[TableRow, ...]:
    entries: list[tuple[datetime, TableRow]] = []
    for shift in final:
        lo, hi = max(shift.start, scale.start), min(shift.end, scale.end)
        if lo >= hi:
            continue
        fill, stroke = person_colours(shift.user_id)
        row = TableRow(
            user_id=shift.user_id,
            name=names.get(shift.user_id, f"user {shift.user_id}"),
            start_text=local_text(lo, zone),
            end_text=local_text(hi, zone),
            duration=duration_text(hi - lo),
            source="Override" if shift.source == OVERRIDE else shift.source_name or "Layer",
            fill=fill,
            stroke=stroke,
        )
        entries.append((lo, row))
    for gap in gaps:
        row = TableRow(
            user_id=None,
            name="Nobody on call",
            start_text=local_text(gap.start, zone),
            end_text=local_text(gap.end, zone),
            duration=duration_text(gap.end - gap.start),
            source="",
        )
        entries.append((gap.start, row))
    entries.sort(key=lambda entry: entry[0])
    return tuple(row for _, row in entries)


# --- who is on call now, until when, and who is next ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Stretch:
    """One person on call without a break (back-to-back shifts from several sources join up).
    ``open_ended``: it runs past the range that was computed, so ``end`` is only a lower bound."""

    user_id: int
    start: datetime
    end: datetime
    open_ended: bool = False


@dataclass(frozen=True, slots=True)
class NowAndNext:
    current: Stretch | None
    next: Stretch | None
    horizon: datetime | None = None


def _stretches(final: Sequence[Shift], horizon: datetime) -> list[Stretch]:
    stretches: list[Stretch] = []
    for shift in sorted(final, key=lambda s: s.start):
        last = stretches[-1] if stretches else None
        if last is not None and last.user_id == shift.user_id and last.end == shift.start:
            stretches[-1] = Stretch(last.user_id, last.start, shift.end)
        else:
            stretches.append(Stretch(shift.user_id, shift.start, shift.end))
    return [Stretch(s.user_id, s.start, s.end, open_ended=s.end >= horizon) for s in stretches]


def now_and_next(final: Sequence[Shift], now: datetime, horizon: datetime) -> NowAndNext:
    """From the final schedule over [now, horizon): who is on call at ``now`` and until when (None
    in a gap), and the next stretch after that (None when nothing starts before ``horizon``)."""
    stretches = [s for s in _stretches(final, horizon) if s.end > now]
    current = stretches[0] if stretches and stretches[0].start <= now else None
    following = stretches[1:] if current else stretches
    upcoming = following[0] if following else None
    return NowAndNext(current=current, next=upcoming, horizon=horizon)
