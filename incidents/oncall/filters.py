"""Filters and query parameters of the on-call API. Bad values are a 400 naming the parameter, never ignored."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError

from incidents.oncall.models import EscalationPolicy, Override, Schedule, Team
from tracepoint.api.filters import StrictOrderingFilter, check_utc_offset

MAX_SHIFTS_RANGE = timedelta(days=60)
DEFAULT_SHIFTS_RANGE = timedelta(days=7)
# The engine looks up to ~2 months either side of an instant: keep well inside datetime's years.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# "2026-03-29T01:30:00+02:00" sent unencoded arrives as "...01:30:00 02:00" ('+' means a space in a
# query string): read that space back as the '+' it was.
_SPACE_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?) (\d{2}(?::?\d{2})?)$")

TEAM_ORDERING = ["name", "slug", "created_at"]
SCHEDULE_ORDERING = ["name", "team", "time_zone", "created_at"]
OVERRIDE_ORDERING = ["start", "end", "created_at"]
POLICY_ORDERING = ["name", "team", "created_at"]


def parse_moment(params, name: str, default: datetime | None) -> datetime | None:
    """``params[name]`` as an aware UTC datetime (ISO-8601 date-time, or a date for its midnight UTC);
    a naive value is UTC, as everywhere in the API. Missing → ``default``; bad → 400."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    raw = _SPACE_OFFSET.sub(r"\1+\2", raw.strip())
    try:
        moment = parse_datetime(raw)
        if moment is None and (day := parse_date(raw)) is not None:
            moment = datetime.combine(day, datetime.min.time())
    except ValueError:  # well formed but not a real date (month 13, hour 25)
        moment = None
    if moment is None:
        raise ValidationError(
            {name: [f"Not an ISO-8601 date-time: {raw[:100]!r}. Example: 2026-03-29T01:30:00Z or …+02:00."]}
        )
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    check_utc_offset(name, moment)
    moment = moment.astimezone(UTC)
    if not EARLIEST <= moment < LATEST:
        raise ValidationError({name: [f"Must be between {EARLIEST:%Y} and {LATEST:%Y}."]})
    return moment


def parse_range(params, *, now: datetime) -> tuple[datetime, datetime]:
    """``start`` (default now) and ``end`` (default start + 7 days), at most 60 days apart."""
    start = parse_moment(params, "start", now)
    end = parse_moment(params, "end", start + DEFAULT_SHIFTS_RANGE)
    if end <= start:
        raise ValidationError({"end": ["Must be after start."]})
    if end - start > MAX_SHIFTS_RANGE:
        raise ValidationError(
            {"end": [f"The range is at most {MAX_SHIFTS_RANGE.days} days; ask for several ranges for more."]}
        )
    return start, end


class TeamFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", max_length=100, help_text="Words in name or slug.")
    service = django_filters.CharFilter(method="filter_service", max_length=100, help_text="Teams owning this service.")

    class Meta:
        model = Team
        fields = ["search", "service"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value)) if value else queryset

    def filter_service(self, queryset, name, value):
        # JSON containment is not portable to SQLite, and teams are few: match in Python.
        value = value.strip()
        if not value:
            return queryset
        ids = [team.pk for team in queryset.only("pk", "services") if value in (team.services or ())]
        return queryset.filter(pk__in=ids)


class ScheduleFilter(django_filters.FilterSet):
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.all(), help_text="Team id.")
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=100)

    class Meta:
        model = Schedule
        fields = ["team", "search"]


class OverrideFilter(django_filters.FilterSet):
    after = django_filters.IsoDateTimeFilter(
        field_name="end", lookup_expr="gt", help_text="Overrides still running after this instant (end > after)."
    )
    before = django_filters.IsoDateTimeFilter(
        field_name="start", lookup_expr="lt", help_text="Overrides starting before this instant (start < before)."
    )
    user = django_filters.NumberFilter(field_name="user_id", min_value=1, max_value=2**63 - 1, help_text="User id.")

    class Meta:
        model = Override
        fields = ["after", "before", "user"]


class EscalationPolicyFilter(django_filters.FilterSet):
    team = django_filters.ModelChoiceFilter(queryset=Team.objects.all(), help_text="Team id.")
    service = django_filters.CharFilter(
        method="filter_service", max_length=100, help_text="Policies that name this service."
    )
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=100)

    class Meta:
        model = EscalationPolicy
        fields = ["team", "service", "search"]

    def filter_service(self, queryset, name, value):
        # As for teams: JSON containment is not portable to SQLite, and policies are few.
        value = value.strip()
        if not value:
            return queryset
        rows = EscalationPolicy.objects.values_list("pk", "services")
        return queryset.filter(pk__in=[pk for pk, services in rows if value in (services or ())])


class TieBreakOrdering(StrictOrderingFilter):
    """The ordering asked for, then the id, so pages never shuffle."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view) or list(view.ordering)
        ordering = ["team__name" if f == "team" else "-team__name" if f == "-team" else f for f in ordering]
        return [*ordering, "-id" if ordering[-1].startswith("-") else "id"]
