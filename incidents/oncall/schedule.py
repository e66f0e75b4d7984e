"""The schedule engine: who is on call, from when to when, for any range.

The maths are pure functions over small frozen dataclasses (``LayerSpec``, ``OverrideSpec``,
``ScheduleSnapshot``). The public functions also accept model instances: they load a snapshot
first (a fixed handful of queries, see ``snapshot``) and never query inside the maths.

Semantics
---------
* **Rotation.** Handoff *k* of a layer is at the local wall-clock time
  ``start_date + handoff_time + k x length`` in the schedule's zone, and participant ``k mod n``
  is on call until handoff *k + 1*. The first shift starts at ``start_date + handoff_time``;
  before it the layer has nobody. The index of the first shift in a range is computed
  arithmetically, so a range years after ``start_date`` costs the same as the first week.
* **Lengths are wall-clock lengths**, for every unit. A day is a calendar day (23 or 25 real hours
  on DST days), a week is 7 calendar days, and N hours are N hours *on the local clock*: a
  12-hour rotation handing off at 08:00 hands off at 08:00 and 20:00 all year, and the shift that
  spans the change lasts 11 or 13 real hours. This is GoAlert's rule for hourly rotations (its
  rotation code and tests count "clock hours": a 3-hour shift from midnight ends at 03:00 local
  on DST days, after 2 or 4 real hours), and PagerDuty's schedules likewise keep handoffs at their
  local time in the schedule's zone. Elapsed hours would make a "08:00/20:00" rotation hand off
  at 07:00/19:00 for half the year. A 1-hour shift that falls wholly inside the spring-forward
  gap has no length: that turn passes to nobody and the next person's turn starts on time.
* **DST edge times** (handoffs or restriction bounds at times that happen twice or never) follow
  ``timemath.local_to_utc``: ambiguous → the first occurrence; nonexistent → the instant the
  clock jumps.
* **Restrictions** clip a layer's shifts to its windows; the rotation keeps turning behind them
  (a restricted-away stretch is not given to the next person).
* **Layers**: a higher ``order`` wins wherever it has someone; where it has nobody (restricted
  away, before its start, no participants) the layers below show through.
* **Overrides** win over every layer for their range; among overlapping overrides the one created
  last wins.
* **Result.** ``final_schedule`` returns ``Shift``s sorted by start, clipped to the range, with
  adjacent shifts of one person from one source (one layer, or one override) merged. Nobody on
  call is a *missing* range; ``find_gaps`` lists those ranges as ``Gap``s when a caller (the
  timeline, an escalation step) needs them spelled out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q
from django.utils import timezone

from incidents.oncall.models import Layer, LayerParticipant, Override, Schedule, ShiftUnit
from incidents.oncall.timemath import Window, local_to_utc, utc_to_local

LAYER = "layer"
OVERRIDE = "override"
TICK = timedelta(microseconds=1)
NEXT_SHIFT_HORIZON = timedelta(days=366)
_CHUNK = timedelta(days=28)


@dataclass(frozen=True, slots=True)
class Shift:
    """``user_id`` is on call from ``start`` (inclusive) to ``end`` (exclusive), both UTC.

    ``source`` is ``"layer"`` or ``"override"``; ``source_id`` the Layer's or the Override's pk
    (None for unsaved specs); ``source_name`` the layer's name, or ``"Override"``."""

    user_id: int
    start: datetime
    end: datetime
    source: str
    source_id: int | None = None
    source_name: str = ""

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Gap:
    """Nobody is on call from ``start`` to ``end``."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """A layer and its rotation as the maths need it (build one from a model with ``from_layer``)."""

    zone: tzinfo
    participants: tuple[int, ...]
    start_date: date
    handoff_time: time
    shift_count: int = 1
    shift_unit: str = ShiftUnit.WEEKS
    windows: tuple[Window, ...] = ()
    order: int = 0
    id: int | None = None
    name: str = ""

    @classmethod
    def from_layer(cls, layer: Layer, zone: tzinfo, participant_ids: Sequence[int] | None = None) -> LayerSpec:
        """``participant_ids`` in rotation order; read from the layer (prefetched or one query) when not given."""
        if participant_ids is None:
            participant_ids = [p.user_id for p in sorted(layer.participants.all(), key=lambda p: p.position)]
        return cls(
            zone=zone,
            participants=tuple(participant_ids),
            start_date=layer.start_date,
            handoff_time=layer.handoff_time,
            shift_count=layer.shift_count,
            shift_unit=layer.shift_unit,
            windows=layer.windows(),
            order=layer.order,
            id=layer.pk,
            name=layer.name,
        )

    @property
    def step(self) -> timedelta:
        if self.shift_unit == ShiftUnit.HOURS:
            return timedelta(hours=self.shift_count)
        if self.shift_unit == ShiftUnit.DAYS:
            return timedelta(days=self.shift_count)
        if self.shift_unit == ShiftUnit.WEEKS:
            return timedelta(weeks=self.shift_count)
        raise ValueError(f"unknown shift unit {self.shift_unit!r}")

    @property
    def anchor(self) -> datetime:
        """Naive local wall-clock time of the first handoff."""
        return datetime.combine(self.start_date, self.handoff_time.replace(tzinfo=None))


@dataclass(frozen=True, slots=True)
class OverrideSpec:
    user_id: int
    start: datetime
    end: datetime
    id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScheduleSnapshot:
    """Everything the maths need about one schedule. Overrides are those overlapping ``loaded``
    (start, end); asking for shifts outside it would silently miss overrides, so it is refused."""

    zone: tzinfo
    layers: tuple[LayerSpec, ...]
    overrides: tuple[OverrideSpec, ...] = ()
    loaded: tuple[datetime, datetime] | None = None
    id: int | None = None
    name: str = ""


# --- loading (the only queries) ---------------------------------------------------------------


def snapshots(schedules: Iterable[Schedule], start: datetime, end: datetime) -> dict[int, ScheduleSnapshot]:
    """Snapshots of ``schedules`` with the overrides overlapping [start, end): three queries in all."""
    schedules = list(schedules)
    ids = [s.pk for s in schedules]
    layers: dict[int, list[Layer]] = {pk: [] for pk in ids}
    participants = Prefetch("participants", queryset=LayerParticipant.objects.order_by("position"))
    for layer in Layer.objects.filter(schedule_id__in=ids).prefetch_related(participants).order_by("order"):
        layers[layer.schedule_id].append(layer)
    overrides: dict[int, list[OverrideSpec]] = {pk: [] for pk in ids}
    for o in Override.objects.filter(schedule_id__in=ids, start__lt=end, end__gt=start):
        overrides[o.schedule_id].append(OverrideSpec(o.user_id, o.start, o.end, o.pk, o.created_at))
    result = {}
    for schedule in schedules:
        zone = ZoneInfo(schedule.time_zone)
        result[schedule.pk] = ScheduleSnapshot(
            zone=zone,
            layers=tuple(LayerSpec.from_layer(layer, zone) for layer in layers[schedule.pk]),
            overrides=tuple(overrides[schedule.pk]),
            loaded=(start, end),
            id=schedule.pk,
            name=schedule.name,
        )
    return result


def snapshot(schedule: Schedule, start: datetime, end: datetime) -> ScheduleSnapshot:
    return snapshots([schedule], start, end)[schedule.pk]


def _as_snapshot(schedule: Schedule | ScheduleSnapshot, start: datetime, end: datetime) -> ScheduleSnapshot:
    if isinstance(schedule, ScheduleSnapshot):
        if schedule.loaded is not None and (start < schedule.loaded[0] or end > schedule.loaded[1]):
            raise ValueError(
                f"snapshot holds overrides for {schedule.loaded[0]}-{schedule.loaded[1]}, not {start}-{end}"
            )
        return schedule
    return snapshot(schedule, start, end)


def _check_range(start: datetime, end: datetime) -> None:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("start and end must be aware datetimes")


# --- one layer ---------------------------------------------------------------------------------


def rotation_shifts(layer: LayerSpec, start: datetime, end: datetime) -> list[Shift]:
    """The rotation's shifts overlapping [start, end), before restrictions, clipped to the range."""
    count = len(layer.participants)
    if count == 0 or start >= end:
        return []
    zone, step, anchor = layer.zone, layer.step, layer.anchor
    first = local_to_utc(anchor, zone)
    low = max(start, first)
    if low >= end:
        return []
    # Where the local clock steps back (fall back) a UTC instant's wall time can sit one turn
    # behind its turn: start a turn early and skip what ends before the range.
    k = max(0, (utc_to_local(low, zone) - anchor) // step - 1)
    begins = local_to_utc(anchor + k * step, zone)
    shifts: list[Shift] = []
    while begins < end:
        ends = local_to_utc(anchor + (k + 1) * step, zone)
        lo, hi = max(begins, start), min(ends, end)
        if lo < hi:
            shifts.append(Shift(layer.participants[k % count], lo, hi, LAYER, layer.id, layer.name))
        k, begins = k + 1, ends
    return shifts


def restriction_intervals(layer: LayerSpec, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The layer's windows as merged UTC intervals overlapping [start, end), clipped to it."""
    zone = layer.zone
    day = utc_to_local(start, zone).date() - timedelta(days=1)  # yesterday's window may cross midnight
    last = utc_to_local(end, zone).date()
    intervals = []
    while day <= last:
        weekday = day.isoweekday()
        for window in layer.windows:
            if weekday not in window.days:
                continue
            ends_on = day + timedelta(days=1) if window.crosses_midnight else day
            lo = max(local_to_utc(datetime.combine(day, window.start), zone), start)
            hi = min(local_to_utc(datetime.combine(ends_on, window.end), zone), end)
            if lo < hi:
                intervals.append((lo, hi))
        day += timedelta(days=1)
    intervals.sort()
    merged: list[list[datetime]] = []
    for lo, hi in intervals:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _clip(shifts: list[Shift], intervals: list[tuple[datetime, datetime]]) -> list[Shift]:
    out, j = [], 0
    for shift in shifts:
        while j < len(intervals) and intervals[j][1] <= shift.start:
            j += 1
        k = j
        while k < len(intervals) and intervals[k][0] < shift.end:
            lo, hi = max(shift.start, intervals[k][0]), min(shift.end, intervals[k][1])
            if lo < hi:
                out.append(replace(shift, start=lo, end=hi))
            k += 1
    return out


def _layer_shifts(layer: LayerSpec, start: datetime, end: datetime) -> list[Shift]:
    shifts = rotation_shifts(layer, start, end)
    if layer.windows and shifts:
        shifts = _clip(shifts, restriction_intervals(layer, shifts[0].start, shifts[-1].end))
    return merge_adjacent(shifts)


def layer_shifts(
    layer: Layer | LayerSpec, start: datetime, end: datetime, *, zone: tzinfo | None = None
) -> list[Shift]:
    """One layer's shifts over [start, end): its rotation clipped by its restrictions, merged.

    A model ``Layer`` takes its schedule's zone (one query unless ``schedule`` is loaded) unless
    ``zone`` is given."""
    _check_range(start, end)
    if not isinstance(layer, LayerSpec):
        layer = LayerSpec.from_layer(layer, zone or ZoneInfo(layer.schedule.time_zone))
    return _layer_shifts(layer, start, end)


# --- the final schedule ------------------------------------------------------------------------


def paint(base: list[Shift], top: list[Shift]) -> list[Shift]:
    """``top`` laid over ``base``: both sorted and non-overlapping; ``base`` shows only where ``top`` has nobody."""
    if not top:
        return list(base)
    if not base:
        return list(top)
    out, j = [], 0
    for shift in base:
        while j < len(top) and top[j].end <= shift.start:
            j += 1
        cursor, k = shift.start, j
        while k < len(top) and top[k].start < shift.end:
            if top[k].start > cursor:
                out.append(replace(shift, start=cursor, end=top[k].start))
            cursor = max(cursor, top[k].end)
            k += 1
        if cursor < shift.end:
            out.append(replace(shift, start=cursor, end=shift.end))
    out.extend(top)
    out.sort(key=lambda s: s.start)
    return out


def merge_adjacent(shifts: list[Shift]) -> list[Shift]:
    """Sorted ``shifts`` with back-to-back shifts of one person from one source joined."""
    merged: list[Shift] = []
    for shift in shifts:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.end == shift.start
            and (last.user_id, last.source, last.source_id) == (shift.user_id, shift.source, shift.source_id)
        ):
            merged[-1] = replace(last, end=shift.end)
        else:
            merged.append(shift)
    return merged


def _override_shifts(overrides: Iterable[OverrideSpec], start: datetime, end: datetime) -> list[Shift]:
    painted: list[Shift] = []
    latest_last = sorted(overrides, key=lambda o: (o.created_at or o.start, o.id or 0))
    for o in latest_last:
        lo, hi = max(o.start, start), min(o.end, end)
        if lo < hi:
            painted = paint(painted, [Shift(o.user_id, lo, hi, OVERRIDE, o.id, "Override")])
    return painted


def final_schedule(schedule: Schedule | ScheduleSnapshot, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call over [start, end): layers from the lowest up, then overrides (module docstring)."""
    _check_range(start, end)
    if start >= end:
        return []
    snap = _as_snapshot(schedule, start, end)
    timeline: list[Shift] = []
    for layer in sorted(snap.layers, key=lambda spec: spec.order):
        timeline = paint(timeline, _layer_shifts(layer, start, end))
    timeline = paint(timeline, _override_shifts(snap.overrides, start, end))
    return merge_adjacent(timeline)


def find_gaps(shifts: Sequence[Shift], start: datetime, end: datetime) -> list[Gap]:
    """The ranges of [start, end) that sorted, non-overlapping ``shifts`` leave uncovered."""
    gaps, cursor = [], start
    for shift in shifts:
        if shift.start > cursor:
            gaps.append(Gap(cursor, min(shift.start, end)))
        cursor = max(cursor, shift.end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append(Gap(cursor, end))
    return gaps


def on_call_at(schedule: Schedule | ScheduleSnapshot, at: datetime) -> list[int]:
    """The user ids on call at ``at``: one person, or nobody (an empty list) in a gap."""
    return list(dict.fromkeys(s.user_id for s in final_schedule(schedule, at, at + TICK)))


def _user_id(user) -> int:
    return user if isinstance(user, int) else user.pk


def next_shift(
    schedule: Schedule | ScheduleSnapshot,
    user,
    after: datetime,
    *,
    within: timedelta = NEXT_SHIFT_HORIZON,
) -> Shift | None:
    """The user's next time on call: the first stretch starting at or after ``after``.

    A stretch the user is already in at ``after`` does not count (see ``on_call_at``). The stretch
    runs until the user goes off call, whatever the sources (a layer shift followed by that user's
    override is one stretch); its ``source`` is that of its first part, and its end is clipped to
    ``after + within``. None when nothing starts within ``within`` (a year by default)."""
    _check_range(after, after)
    user_id = _user_id(user)
    origin, horizon = after - TICK, after + within
    snap = _as_snapshot(schedule, origin, horizon)
    stretch: Shift | None = None
    skip_until: datetime | None = None  # end of the stretch the user is already in at ``after``
    chunk_start = origin
    while chunk_start < horizon:
        chunk_end = min(chunk_start + _CHUNK, horizon)
        for shift in final_schedule(snap, chunk_start, chunk_end):
            if shift.user_id != user_id:
                continue
            if stretch is None:
                # Starting at ``origin`` (just before ``after``) means on call already: skip that stretch.
                if shift.start == origin or shift.start == skip_until:
                    skip_until = shift.end
                    continue
                stretch = shift
            elif shift.start == stretch.end:
                stretch = replace(stretch, end=shift.end)
            else:
                return stretch
        if stretch is not None and stretch.end < chunk_end:
            return stretch
        chunk_start = chunk_end
    return stretch


def on_call_now_for_user(user, at: datetime | None = None) -> list[Schedule]:
    """The schedules ``user`` is on call for at ``at`` (default now), by team and schedule name."""
    at = at or timezone.now()
    user_id = _user_id(user)
    candidates = list(
        Schedule.objects.filter(
            Q(layers__participants__user_id=user_id)
            | Q(overrides__user_id=user_id, overrides__start__lte=at, overrides__end__gt=at)
        )
        .distinct()
        .select_related("team")
    )
    snaps = snapshots(candidates, at, at + TICK)
    return [s for s in candidates if user_id in on_call_at(snaps[s.pk], at)]
