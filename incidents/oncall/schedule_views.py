"""On-call pages: the index (``/oncall/``: teams, their schedules with who is on call now and next,
their escalation policies) and a schedule's page (``/oncall/schedules/<pk>/``: a 14-day timeline of
layers, overrides and the final schedule, the overrides, and a form to add one or change one).

Viewers read. Responders add, change and delete overrides, as in the API: a swap or a sick day is part of
running on call and should not wait for an admin at 3 a.m. Admins set teams, schedules and layers
up in the Django admin, which these pages link to.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, tzinfo

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from incidents.oncall import schedule as engine
from incidents.oncall import services
from incidents.oncall.models import EscalationPolicy, Override, Schedule, Team
from incidents.oncall.schedule_forms import OverrideForm, person_name
from incidents.oncall.timeline import (
    LayerLine,
    NowAndNext,
    Stretch,
    local_text,
    now_and_next,
    person_colours,
    schedule_timeline,
)
from incidents.oncall.timemath import local_to_utc, utc_to_local
from tracepoint.accounts.roles import ADMIN, RESPONDER, VIEWER, has_role, role_required
from tracepoint.errors import DomainError

WINDOW_DAYS = 14
# How far ahead "on call until" and "next" look; a longer stretch reads "until at least …". The
# same reach as ``services.on_call_shifts_at``: a 62-day final schedule is cheap even hourly.
SUMMARY_HORIZON = timedelta(days=62)
# ``?start=`` outside this range is refused rather than fed to the date arithmetic.
FIRST_START, LAST_START = date(1970, 1, 2), date(2999, 12, 1)


# --- helpers -------------------------------------------------------------------------------------


def _reverse_or_empty(name: str, *args) -> str:
    """A URL owned elsewhere (the admin of a model, the iCal feed) that may not be installed yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _names(user_ids) -> dict[int, str]:
    ids = {uid for uid in user_ids if uid is not None}
    if not ids:
        return {}
    return {user.pk: person_name(user) for user in get_user_model().objects.filter(pk__in=ids)}


def _stretch_view(stretch: Stretch | None, names: dict[int, str], zone) -> dict | None:
    if stretch is None:
        return None
    fill, stroke = person_colours(stretch.user_id)
    return {
        "user_id": stretch.user_id,
        "name": names.get(stretch.user_id, f"user {stretch.user_id}"),
        "start": stretch.start,
        "end": stretch.end,
        "start_text": local_text(stretch.start, zone),
        "end_text": local_text(stretch.end, zone),
        "open_ended": stretch.open_ended,
        "fill": fill,
        "stroke": stroke,
    }


def _on_call_view(found: NowAndNext, names: dict[int, str], zone) -> dict:
    return {
        "current": _stretch_view(found.current, names, zone),
        "next": _stretch_view(found.next, names, zone),
        "horizon_days": SUMMARY_HORIZON.days,
    }


def _user_ids(found: NowAndNext) -> set[int]:
    return {s.user_id for s in (found.current, found.next) if s is not None}


# --- /oncall/ ------------------------------------------------------------------------------------


@role_required(VIEWER)
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    User = get_user_model()
    teams = list(
        Team.objects.prefetch_related(
            Prefetch("members", queryset=User.objects.order_by("first_name", "last_name", User.USERNAME_FIELD)),
            Prefetch("schedules", queryset=Schedule.objects.annotate(layer_count=Count("layers")).order_by("name")),
            Prefetch("policies", queryset=EscalationPolicy.objects.order_by("name")),
        ).order_by("name")
    )
    schedules = [schedule for team in teams for schedule in team.schedules.all()]
    # Every schedule's next two months from one batch of queries (engine.snapshots), not per schedule.
    horizon = now + SUMMARY_HORIZON
    snaps = engine.snapshots(schedules, now, horizon)
    found = {pk: now_and_next(engine.final_schedule(snap, now, horizon), now, horizon) for pk, snap in snaps.items()}
    names = _names(uid for summary in found.values() for uid in _user_ids(summary))
    for schedule in schedules:
        schedule.on_call = _on_call_view(found[schedule.pk], names, schedule.zone)
    is_admin = has_role(request.user, ADMIN)
    context = {
        "teams": teams,
        "is_admin": is_admin,
        "admin_urls": {
            "team_add": _reverse_or_empty("admin:oncall_team_add"),
            "schedule_add": _reverse_or_empty("admin:oncall_schedule_add"),
            "policy_add": _reverse_or_empty("admin:oncall_escalationpolicy_add"),
        }
        if is_admin
        else {},
        "can_write": has_role(request.user, RESPONDER),
    }
    return render(request, "oncall/oncall_index.html", context)


# --- /oncall/schedules/<pk>/ ----------------------------------------------------------------------


def _get_schedule(pk: int) -> Schedule:
    return get_object_or_404(Schedule.objects.select_related("team"), pk=pk)


def _today(schedule: Schedule, now: datetime) -> date:
    return utc_to_local(now, schedule.zone).date()


def _parse_start(value: str | None, schedule: Schedule, now: datetime) -> tuple[date, str]:
    """The first day of the window (today in the schedule's zone unless ``?start=`` says), and an
    error message when ``value`` is given but unusable (the page then shows today, with a 400)."""
    today = _today(schedule, now)
    if not value:
        return today, ""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return today, f"“{value}” is not a date as YYYY-MM-DD (e.g. {today.isoformat()}); showing today instead."
    if not FIRST_START <= day <= LAST_START:
        return today, f"Pick a start between {FIRST_START} and {LAST_START}; showing today instead."
    return day, ""


def _window_urls(schedule: Schedule, day: date, today: date) -> dict:
    base = reverse("oncall:schedule-detail", args=[schedule.pk])
    step = timedelta(days=WINDOW_DAYS)
    return {
        "first_day": day,
        "last_day": day + step - timedelta(days=1),
        "days": WINDOW_DAYS,
        "is_today": day == today,
        "prev_url": f"{base}?start={(day - step).isoformat()}" if day - step >= FIRST_START else "",
        "next_url": f"{base}?start={(day + step).isoformat()}" if day + step <= LAST_START else "",
        "today_url": base,
        "start_param": day.isoformat(),
    }


def _feed_url(request: HttpRequest, schedule: Schedule) -> str:
    """The schedule's iCal feed as an absolute address (empty until the feed view is installed)."""
    relative = _reverse_or_empty("oncall:schedule-feed", schedule.ical_token)
    return request.build_absolute_uri(relative) if relative else ""


def _default_form_initial(schedule: Schedule, now: datetime) -> dict:
    """The next full hour, for a day: the common "cover me tomorrow" is two edits away."""
    zone = schedule.zone
    local = utc_to_local(now, zone).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = local_to_utc(local, zone)
    end = local_to_utc(local + timedelta(days=1), zone)
    return {"start": OverrideForm.local_initial(start, zone), "end": OverrideForm.local_initial(end, zone)}


def _cover_initial(request: HttpRequest, schedule: Schedule, on_call: dict, now: datetime) -> dict | None:
    """The "Cover the current shift" prefill: me, from now until the person on call goes off call."""
    current = on_call["current"]
    if current is None or current["user_id"] == request.user.pk:
        return None
    zone = schedule.zone
    return {
        "user": request.user.pk,
        "start": OverrideForm.local_initial(now, zone),
        "end": OverrideForm.local_initial(current["end"], zone),
        "note": f"Covering for {current['name']}",
    }


def _edit_initial(override: Override, zone: tzinfo) -> dict:
    """The form of "Change the override": its values as they are, in the schedule's local time."""
    return {
        "user": override.user_id,
        "start": OverrideForm.local_initial(override.start, zone),
        "end": OverrideForm.local_initial(override.end, zone),
        "note": override.note,
    }


def _editing_view(schedule: Schedule, override: Override) -> dict:
    return {
        "name": person_name(override.user),
        "action": reverse("oncall:override-update", args=[schedule.pk, override.pk]),
    }


def _override_rows(schedule: Schedule, now: datetime, can_write: bool) -> list[dict]:
    zone = schedule.zone
    rows = []
    overrides = Override.objects.filter(schedule=schedule, end__gt=now).select_related("user", "created_by")
    for override in overrides.order_by("start", "id"):
        rows.append(
            {
                "pk": override.pk,
                "name": person_name(override.user),
                "user_id": override.user_id,
                "start": override.start,
                "end": override.end,
                "start_text": local_text(override.start, zone),
                "end_text": local_text(override.end, zone),
                "note": override.note,
                "created_by": person_name(override.created_by) if override.created_by else "",
                "is_current": override.start <= now,
                "delete_url": reverse("oncall:override-delete", args=[schedule.pk, override.pk]) if can_write else "",
            }
        )
    return rows


def _detail_context(
    request: HttpRequest,
    schedule: Schedule,
    *,
    day: date,
    now: datetime,
    form: OverrideForm | None = None,
    window_error: str = "",
    cover: bool = False,
    editing: Override | None = None,
) -> dict:
    zone = schedule.zone
    start = local_to_utc(datetime.combine(day, time()), zone)
    end = local_to_utc(datetime.combine(day + timedelta(days=WINDOW_DAYS), time()), zone)
    snap = engine.snapshot(schedule, start, end)
    layers = [LayerLine(spec.order, spec.name, engine.layer_shifts(spec, start, end)) for spec in snap.layers]
    # The overrides row shows the overrides as they apply (the latest on top where they overlap):
    # the final schedule of the overrides alone.
    overrides_applied = engine.final_schedule(replace(snap, layers=()), start, end)
    final = engine.final_schedule(snap, start, end)
    horizon = now + SUMMARY_HORIZON
    summary = now_and_next(engine.final_schedule(schedule, now, horizon), now, horizon)

    user_ids = {s.user_id for line in layers for s in line.shifts} | {s.user_id for s in final + overrides_applied}
    names = _names(user_ids | _user_ids(summary))
    timeline = schedule_timeline(
        start=start,
        end=end,
        zone=zone,
        layers=layers,
        overrides=overrides_applied,
        final=final,
        names=names,
        now=now,
    )
    on_call = _on_call_view(summary, names, zone)
    can_write = has_role(request.user, RESPONDER)
    cover_initial = _cover_initial(request, schedule, on_call, now) if can_write else None
    editing = editing if can_write else None
    if form is None and editing is not None:
        form = OverrideForm(initial=_edit_initial(editing, zone), zone=zone)
    if form is None and can_write:
        initial = cover_initial if (cover and cover_initial) else _default_form_initial(schedule, now)
        form = OverrideForm(initial=initial, zone=zone)
    window = _window_urls(schedule, day, _today(schedule, now))
    return {
        "schedule": schedule,
        "team": schedule.team,
        "zone_name": schedule.time_zone,
        "timeline": timeline,
        "on_call": on_call,
        "overrides": _override_rows(schedule, now, can_write),
        "layer_count": len(snap.layers),
        "form": form,
        "can_write": can_write,
        "cover_url": f"{reverse('oncall:schedule-detail', args=[schedule.pk])}?start={day.isoformat()}&cover=1"
        if cover_initial
        else "",
        "window": window,
        "window_error": window_error,
        "editing": _editing_view(schedule, editing) if editing is not None else None,
        "feed_url": _feed_url(request, schedule),
        "feed_rotate_url": _reverse_or_empty("oncall:schedule-feed-rotate", schedule.pk)
        if has_role(request.user, ADMIN)
        else "",
        "admin_change_url": _reverse_or_empty("admin:oncall_schedule_change", schedule.pk)
        if has_role(request.user, ADMIN)
        else "",
    }


LIVE = "oncall/schedule_detail.html#live"  # the part htmx refreshes: on call now, timeline, overrides


@role_required(VIEWER)
@require_safe
@vary_on_headers("HX-Request")
def schedule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = _get_schedule(pk)
    now = timezone.now()
    day, error = _parse_start(request.GET.get("start"), schedule, now)
    editing = _override_to_edit(request, schedule)
    context = _detail_context(
        request, schedule, day=day, now=now, window_error=error, cover="cover" in request.GET, editing=editing
    )
    # A history restore (back button after an htmx navigation, cache miss) needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, LIVE if partial else "oncall/schedule_detail.html", context, status=400 if error else 200)


def _override_to_edit(request: HttpRequest, schedule: Schedule) -> Override | None:
    """``?edit=<id>``: the override whose values fill the form (for those who may change it)."""
    wanted = request.GET.get("edit", "")
    if not wanted.isdigit() or not has_role(request.user, RESPONDER):
        return None
    return _override_of(schedule, int(wanted))


def _override_of(schedule: Schedule, pk: int) -> Override | None:
    """The override ``pk`` if it is one of ``schedule``'s (the URL names both)."""
    return Override.objects.filter(schedule=schedule, pk=pk).select_related("user").first()


def _override_or_404(schedule: Schedule, pk: int) -> Override:
    override = _override_of(schedule, pk)
    if override is None:
        raise Http404("No such override on this schedule.")
    return override


def _posted_day(request: HttpRequest, schedule: Schedule, now: datetime) -> date:
    """The window the form was posted from (a hidden field), so the page comes back as it was."""
    day, error = _parse_start(request.POST.get("window"), schedule, now)
    return _today(schedule, now) if error else day


def _after_change(request: HttpRequest, schedule: Schedule, day: date, message: str) -> HttpResponse:
    if request.htmx:
        context = _detail_context(request, schedule, day=day, now=timezone.now())
        return trigger_client_event(render(request, LIVE, context), "toast", {"message": message, "level": "success"})
    messages.success(request, message)
    url = reverse("oncall:schedule-detail", args=[schedule.pk])
    return redirect(f"{url}?start={day.isoformat()}")


def _put_errors(form: OverrideForm, error: DomainError) -> None:
    """A service's ``DomainError`` on the form: field errors next to their fields, the rest on top."""
    placed = False
    for name, problems in (error.details or {}).items():
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(name if name in form.fields else None, str(problem))
            placed = True
    if not placed:
        form.add_error(None, error.message)


@role_required(RESPONDER)
@require_POST
def override_create(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = _get_schedule(pk)

    def save(data: dict) -> Override:
        return services.create_override(
            schedule, user=data["user"], start=data["start"], end=data["end"], note=data["note"], by=request.user
        )

    return _post_override_form(request, schedule, save, verb="added")


@role_required(RESPONDER)
@require_POST
def override_update(request: HttpRequest, schedule_pk: int, pk: int) -> HttpResponse:
    schedule = _get_schedule(schedule_pk)
    override = _override_or_404(schedule, pk)

    def save(data: dict) -> Override:
        return services.update_override(
            override, user=data["user"], start=data["start"], end=data["end"], note=data["note"]
        )

    return _post_override_form(request, schedule, save, verb="changed", editing=override)


def _post_override_form(
    request: HttpRequest, schedule: Schedule, save, *, verb: str, editing: Override | None = None
) -> HttpResponse:
    """The override form posted (to add one, or to change ``editing``): saved through ``save`` and the page
    back with a message, or the form again with its errors next to the fields and what was typed."""
    now = timezone.now()
    day = _posted_day(request, schedule, now)
    form = OverrideForm(request.POST, zone=schedule.zone)
    if form.is_valid():
        try:
            override = save(form.cleaned_data)
        except DomainError as error:
            _put_errors(form, error)
        else:
            zone = schedule.zone
            message = (
                f"Override {verb}: {person_name(override.user)} covers {schedule.name} from "
                f"{local_text(override.start, zone)} to {local_text(override.end, zone)}."
            )
            return _after_change(request, schedule, day, message)
    if editing is not None:
        editing.refresh_from_db()  # the row as stored, for the heading (a refused change may have set fields)
    context = _detail_context(request, schedule, day=day, now=now, form=form, editing=editing)
    if request.htmx:
        # htmx swaps only 2xx answers: the fragment with the inline errors comes back as 200.
        return render(request, LIVE, context)
    return render(request, "oncall/schedule_detail.html", context, status=400)


@role_required(RESPONDER)
@require_POST
def override_delete(request: HttpRequest, schedule_pk: int, pk: int) -> HttpResponse:
    schedule = _get_schedule(schedule_pk)
    override = _override_or_404(schedule, pk)
    day = _posted_day(request, schedule, timezone.now())
    services.delete_override(override)
    zone = schedule.zone
    message = (
        f"Override removed: {person_name(override.user)} from {local_text(override.start, zone)} "
        f"to {local_text(override.end, zone)}."
    )
    return _after_change(request, schedule, day, message)


urlpatterns = [
    path("", index, name="index"),
    path("schedules/<int:pk>/", schedule_detail, name="schedule-detail"),
    path("schedules/<int:pk>/overrides/", override_create, name="override-create"),
    path("schedules/<int:schedule_pk>/overrides/<int:pk>/", override_update, name="override-update"),
    path("schedules/<int:schedule_pk>/overrides/<int:pk>/delete/", override_delete, name="override-delete"),
]
