"""Helpers for the on-call tests: local times to UTC, and layer specs without the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from incidents.oncall.schedule import LayerSpec
from incidents.oncall.timemath import parse_restrictions

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")

ALICE, BOB, CAROL, DAN = 1, 2, 3, 4


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def wall(zone: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    """An instant written as a local wall-clock time (an existing one: the tests name real times)."""
    return datetime(*parts, tzinfo=zone, fold=fold).astimezone(UTC)


def spec(
    zone: ZoneInfo = PARIS,
    participants: tuple[int, ...] = (ALICE, BOB, CAROL),
    *,
    start: date = date(2026, 1, 5),
    handoff: time = time(9, 0),
    count: int = 1,
    unit: str = "days",
    restrictions: list | None = None,
    order: int = 1,
    id: int | None = None,
    name: str = "",
) -> LayerSpec:
    return LayerSpec(
        zone=zone,
        participants=participants,
        start_date=start,
        handoff_time=handoff,
        shift_count=count,
        shift_unit=unit,
        windows=parse_restrictions(restrictions or []),
        order=order,
        id=id if id is not None else order,
        name=name or f"layer {order}",
    )


def local_spans(shifts, zone: ZoneInfo) -> list[tuple[int, str, str]]:
    """Shifts as (user, local start, local end) strings, for tables that read like a calendar."""
    fmt = "%m-%d %H:%M%z"
    return [(s.user_id, s.start.astimezone(zone).strftime(fmt), s.end.astimezone(zone).strftime(fmt)) for s in shifts]
