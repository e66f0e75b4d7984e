"""Local wall-clock time ↔ UTC, and restriction windows: the pure helpers under the schedule engine.

Rotations and restrictions are written in a schedule's local time; every instant the engine hands
out is UTC. Turning a local wall-clock time into an instant is deterministic around DST:

* **Ambiguous** times (the clock falls back, so 01:30 happens twice): the *first* occurrence
  (zoneinfo ``fold=0``), the one before the transition.
* **Nonexistent** times (the clock springs forward over them, e.g. 02:30 in Paris on the last
  Sunday of March): the instant the clock jumps, i.e. the first instant that exists after that
  wall time (Paris: 03:00 CEST). A handoff set inside the gap happens as soon as the clock allows;
  a restriction window that starts inside the gap opens when the gap ends; a window lying wholly
  inside the gap is empty that day. (This is GoAlert's rule, and it never moves a time later than
  the clock's jump, where RFC 5545's "use the offset before the gap" would turn 02:30 into 03:30.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # ISO weekday 1..7
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = frozenset(range(1, 8))


def local_to_utc(naive: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of the local wall-clock time ``naive`` in ``zone`` (rules in the module docstring)."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first <= second:
        # Equal: an ordinary time. Less: an ambiguous one, and fold=0 is its earlier occurrence.
        return first
    # In a gap fold=0 reads the time with the offset before the jump, which lands after it, and
    # fold=1 with the offset after, which lands before it: the jump is in (second, first].
    return _transition_between(second, first, zone)


def _transition_between(lo: datetime, hi: datetime, zone: tzinfo) -> datetime:
    """The first instant in (lo, hi] whose UTC offset differs from lo's (zone transitions fall on whole seconds)."""
    before = lo.astimezone(zone).utcoffset()
    low, high = 0, int((hi - lo).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if (lo + timedelta(seconds=middle)).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return lo + timedelta(seconds=high)


def utc_to_local(instant: datetime, zone: tzinfo) -> datetime:
    """The naive local wall-clock time of an aware ``instant`` in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Window:
    """A restriction window: on each local date whose ISO weekday is in ``days``, on call from
    ``start`` to ``end``. An ``end`` at or before ``start`` crosses midnight and ends on the next
    day (22:00-06:00), so ``start == end`` is a whole 24 hours from ``start``. ``days`` name the
    day the window *starts*."""

    days: frozenset[int]
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def as_json(self) -> dict:
        return {
            "days": [WEEKDAY_NAMES[d - 1] for d in sorted(self.days)],
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
        }


class RestrictionError(ValueError):
    """A restriction that does not parse; the message says which and why."""


def _parse_clock(value, where: str) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    text = str(value).strip() if value is not None else ""
    try:
        hours, minutes = text.split(":")
        parsed = time(int(hours), int(minutes))
    except ValueError:
        raise RestrictionError(
            f"{where}: {text or 'nothing'!r} is not a time of day as HH:MM (e.g. '09:00')."
        ) from None
    if len(minutes) != 2:
        raise RestrictionError(f"{where}: {text!r} is not a time of day as HH:MM (e.g. '09:00').")
    return parsed


def _parse_days(value, where: str) -> frozenset[int]:
    if value is None:
        return EVERY_DAY
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset) or not value:
        raise RestrictionError(
            f"{where}: 'days' is a non-empty list of {', '.join(WEEKDAY_NAMES)}, or left out for every day."
        )
    days = set()
    for day in value:
        if isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7:
            days.add(day)
            continue
        name = str(day).strip().lower()
        if name in WEEKDAY_NAMES:
            days.add(WEEKDAY_NAMES.index(name) + 1)
        elif name in _FULL_NAMES:
            days.add(_FULL_NAMES.index(name) + 1)
        else:
            raise RestrictionError(f"{where}: {day!r} is not a weekday (use {', '.join(WEEKDAY_NAMES)}).")
    return frozenset(days)


def parse_restrictions(value) -> tuple[Window, ...]:
    """Windows from a layer's ``restrictions`` JSON: a list of ``{"days": ["mon", ...], "start":
    "09:00", "end": "18:00"}``; ``days`` left out means every day. Raises RestrictionError."""
    if value in (None, ""):
        return ()
    if isinstance(value, Window):
        return (value,)
    if not isinstance(value, list | tuple):
        raise RestrictionError(
            'Restrictions are a list of windows, e.g. [{"days": ["mon"], "start": "09:00", "end": "18:00"}].'
        )
    windows = []
    for number, item in enumerate(value, start=1):
        where = f"Window {number}"
        if isinstance(item, Window):
            windows.append(item)
            continue
        if not isinstance(item, dict):
            raise RestrictionError(f"{where}: a window is an object with 'start', 'end' and optionally 'days'.")
        unknown = set(item) - {"days", "start", "end"}
        if unknown:
            raise RestrictionError(
                f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; use days, start, end."
            )
        windows.append(
            Window(
                days=_parse_days(item.get("days"), where),
                start=_parse_clock(item.get("start"), f"{where} start"),
                end=_parse_clock(item.get("end"), f"{where} end"),
            )
        )
    return tuple(windows)


def normalize_restrictions(value) -> list[dict]:
    """The stored form of ``value``: every window with its days spelled out, times as HH:MM."""
    return [window.as_json() for window in parse_restrictions(value)]
