"""The on-call domain layer: teams, schedules, layers and overrides are created and changed here
(the API and pages to come call these; the admin's forms run the same models' ``clean()``). Each
function validates with ``full_clean()`` and raises ``DomainError`` with the field errors in
``details``.

Who may be in a rotation or cover an override: any *active* user, not only the team's members.
Covering for a colleague is often done by someone from a neighbouring team or a manager, and a
membership rule would turn a swap at 3 a.m. into an admin task; team membership is about
ownership (services, later permissions), not about who may carry the pager.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, ProtectedError
from django.utils import timezone
from django.utils.text import slugify

from incidents.oncall import schedule as engine
from incidents.oncall.models import Layer, LayerParticipant, Override, Schedule, Team
from tracepoint.errors import DomainError

_UNSET = object()
# How far either side of an instant ``on_call_shifts_at`` looks for the edges of the shift it is in:
# widened step by step, so a daily rotation costs a two-day computation and a weekly one sixteen.
SHIFT_REACH = (timedelta(days=2), timedelta(days=16), timedelta(days=62))


class ConflictError(DomainError):
    """The change would break rows that depend on this one (a 409 in the API)."""

    code = "CONFLICT"
    status_code = 409


_TEAM_SERVICES_LOCK = int.from_bytes(hashlib.sha256(b"oncall-team-services").digest()[:8], "big", signed=True)


def _validate(instance, what: str) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        details = exc.message_dict
        first = next(iter(details.values()))[0] if details else str(exc)
        raise DomainError(f"The {what} is not valid: {first}", details=details) from None


def _check_users(users: Iterable, field: str) -> list:
    users = list(users)
    inactive = [str(u) for u in users if not u.is_active]
    if inactive:
        raise DomainError(
            f"Inactive users cannot be on call: {', '.join(inactive)}.",
            details={field: [f"inactive: {u}" for u in inactive]},
        )
    return users


def _lock_teams() -> None:
    """Serialise the writes that check "a service belongs to one team" (the list is JSON, so no
    unique constraint can): a transaction-scoped advisory lock on PostgreSQL; SQLite's IMMEDIATE
    transactions serialise writers already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_TEAM_SERVICES_LOCK])


# --- teams -------------------------------------------------------------------------------------


def create_team(*, name: str, slug: str = "", services: Iterable[str] = (), members: Iterable = ()) -> Team:
    team = Team(name=(name or "").strip(), slug=slug or slugify(name or ""), services=list(services))
    with transaction.atomic():
        _lock_teams()
        _validate(team, "team")
        team.save()
        team.members.set(list(members))
    return team


def update_team(team: Team, *, name=_UNSET, slug=_UNSET, services=_UNSET, members=_UNSET) -> Team:
    with transaction.atomic():
        _lock_teams()
        team = Team.objects.get(pk=team.pk)
        if name is not _UNSET:
            team.name = (name or "").strip()
        if slug is not _UNSET:
            team.slug = slug
        if services is not _UNSET:
            team.services = list(services)
        _validate(team, "team")
        team.save()
        if members is not _UNSET:
            team.members.set(list(members))
    return team


def delete_team(team: Team) -> None:
    """Delete a team; refused while schedules belong to it (they would lose their owner)."""
    names = list(Schedule.objects.filter(team=team).values_list("name", flat=True))
    if names:
        raise ConflictError(
            f"Team {team.name} still has schedules: {', '.join(names)}. Delete or move them first.",
            details={"schedules": names},
        )
    try:
        Team.objects.filter(pk=team.pk).delete()
    except ProtectedError:  # a schedule created since the check above
        raise ConflictError(f"Team {team.name} still has schedules.", details={"schedules": []}) from None


def team_for_service(service: str) -> Team | None:
    """The team that owns ``service``, or None. Teams are few, and JSON containment is not
    portable to SQLite, so this reads every team's list."""
    for team in Team.objects.only("name", "slug", "services"):
        if service in (team.services or ()):
            return team
    return None


# --- schedules ---------------------------------------------------------------------------------


def create_schedule(*, team: Team, name: str, time_zone: str = "UTC", description: str = "") -> Schedule:
    schedule = Schedule(
        team=team, name=(name or "").strip(), time_zone=(time_zone or "").strip(), description=description
    )
    _validate(schedule, "schedule")
    schedule.save()
    return schedule


def update_schedule(schedule: Schedule, *, team=_UNSET, name=_UNSET, time_zone=_UNSET, description=_UNSET) -> Schedule:
    for field, value in (("team", team), ("name", name), ("time_zone", time_zone), ("description", description)):
        if value is not _UNSET:
            setattr(schedule, field, value.strip() if isinstance(value, str) and field != "description" else value)
    _validate(schedule, "schedule")
    schedule.save()
    return schedule


def delete_schedule(schedule: Schedule) -> None:
    """Delete a schedule with its layers and overrides; refused while something else points at it."""
    try:
        Schedule.objects.filter(pk=schedule.pk).delete()
    except ProtectedError as exc:
        raise ConflictError(
            f"Schedule {schedule.name} is still in use ({len(exc.protected_objects)} reference(s)).",
            details={"protected": sorted({str(obj) for obj in exc.protected_objects})[:20]},
        ) from None


def on_call_shifts_at(schedule: Schedule, at: datetime) -> list[engine.Shift]:
    """The shift(s) covering ``at`` (one, or none in a gap) with their real start and end.

    ``engine.on_call_at`` says who; this also says from when to when, which needs the final schedule
    around ``at``. The edges are exact within ``SHIFT_REACH[-1]`` of ``at`` and clipped beyond.
    Most shifts end within the first reach, so only the overrides near ``at`` are loaded first; a
    wider reach loads the wider range's (one query, values only: this answers ``/oncall`` requests)."""
    first = SHIFT_REACH[0]
    snap = engine.snapshot(schedule, at - first, at + first)
    shifts: list[engine.Shift] = []
    for reach in SHIFT_REACH:
        low, high = at - reach, at + reach
        if reach is not first:
            snap = replace(snap, overrides=_override_specs(schedule.pk, low, high), loaded=(low, high))
        shifts = [s for s in engine.final_schedule(snap, low, high) if s.covers(at)]
        if all(low < s.start and s.end < high for s in shifts):
            break
    return shifts


def _override_specs(schedule_id: int, start: datetime, end: datetime) -> tuple[engine.OverrideSpec, ...]:
    """The overrides overlapping [start, end), as ``engine.snapshots`` loads them."""
    rows = (
        Override.objects.filter(schedule_id=schedule_id, start__lt=end, end__gt=start)
        .order_by()
        .values_list("user_id", "start", "end", "pk", "created_at")
    )
    return tuple(engine.OverrideSpec(*row) for row in rows)


# --- layers ------------------------------------------------------------------------------------


def create_layer(
    schedule: Schedule,
    *,
    name: str,
    start_date: date,
    participants: Iterable = (),
    shift_count: int = 1,
    shift_unit: str = "weeks",
    handoff_time: time = time(9, 0),
    restrictions: list | None = None,
    order: int | None = None,
) -> Layer:
    """A new layer on ``schedule``, on top of the others unless ``order`` says where."""
    users = _check_users(participants, "participants")
    with transaction.atomic():
        if order is None:
            top = Layer.objects.filter(schedule=schedule).aggregate(top=Max("order"))["top"]
            order = 1 if top is None else top + 1
        layer = Layer(
            schedule=schedule,
            name=(name or "").strip(),
            order=order,
            shift_count=shift_count,
            shift_unit=shift_unit,
            handoff_time=handoff_time,
            start_date=start_date,
            restrictions=restrictions or [],
        )
        _validate(layer, "layer")
        try:
            with transaction.atomic():
                layer.save()
        except IntegrityError:
            raise DomainError(
                f"Schedule {schedule.name} already has a layer {order}.", details={"order": ["already taken"]}
            ) from None
        _set_participants(layer, users)
    return layer


def update_layer(layer: Layer, **fields) -> Layer:
    """Change a layer's rotation; ``participants`` (users, in order) replaces the rotation order."""
    allowed = {
        "name",
        "order",
        "shift_count",
        "shift_unit",
        "handoff_time",
        "start_date",
        "restrictions",
        "participants",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise DomainError(
            f"Unknown layer field(s): {', '.join(sorted(unknown))}.", details={"allowed": sorted(allowed)}
        )
    users = _check_users(fields.pop("participants"), "participants") if "participants" in fields else None
    with transaction.atomic():
        for field, value in fields.items():
            setattr(layer, field, value.strip() if field == "name" and isinstance(value, str) else value)
        _validate(layer, "layer")
        try:
            with transaction.atomic():
                layer.save()
        except IntegrityError:
            raise DomainError(
                f"This schedule already has a layer {layer.order}.", details={"order": ["already taken"]}
            ) from None
        if users is not None:
            _set_participants(layer, users)
    return layer


def _set_participants(layer: Layer, users: list) -> list[LayerParticipant]:
    LayerParticipant.objects.filter(layer=layer).delete()
    return LayerParticipant.objects.bulk_create(
        [LayerParticipant(layer=layer, user=user, position=position) for position, user in enumerate(users)]
    )


def set_layer_participants(layer: Layer, users: Iterable) -> list[LayerParticipant]:
    """The layer's rotation order becomes ``users`` (a user may appear more than once)."""
    users = _check_users(users, "participants")
    with transaction.atomic():
        Layer.objects.select_for_update().filter(pk=layer.pk).first()
        return _set_participants(layer, users)


def delete_layer(layer: Layer) -> None:
    Layer.objects.filter(pk=layer.pk).delete()


# --- overrides ---------------------------------------------------------------------------------


def _check_aware(**values: datetime | None) -> None:
    for field, value in values.items():
        if value is not None and timezone.is_naive(value):
            raise DomainError(f"{field} needs a time zone (an aware datetime).", details={field: ["naive datetime"]})


def create_override(
    schedule: Schedule, *, user, start: datetime, end: datetime, note: str = "", by=None, now: datetime | None = None
) -> Override:
    """``user`` covers ``schedule`` from ``start`` to ``end`` (a swap, a sick day), over every layer."""
    _check_aware(start=start, end=end)
    _check_users([user], "user")
    override = Override(
        schedule=schedule,
        user=user,
        start=start,
        end=end,
        note=(note or "").strip(),
        created_by=by,
        created_at=now or timezone.now(),
    )
    _validate(override, "override")
    override.save()
    return override


def update_override(override: Override, *, user=_UNSET, start=_UNSET, end=_UNSET, note=_UNSET) -> Override:
    if user is not _UNSET:
        _check_users([user], "user")
        override.user = user
    if start is not _UNSET:
        override.start = start
    if end is not _UNSET:
        override.end = end
    if note is not _UNSET:
        override.note = (note or "").strip()
    _check_aware(start=override.start, end=override.end)
    _validate(override, "override")
    override.save()
    return override


def delete_override(override: Override) -> None:
    Override.objects.filter(pk=override.pk).delete()
