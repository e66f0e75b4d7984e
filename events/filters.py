"""django-filter FilterSets and ordering for the events API (bad values are a 400)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from events.models import Event, EventType, Issue, IssueStatus
from events.priority import IssueSeverity
from tracepoint.api.filters import StrictOrderingFilter


class ProjectIdFilter(django_filters.Filter):
    """A project id: a whole number the database can hold (anything else is a 400)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """``?status=resolved,ignored``: each value must be a valid choice."""


class EventFilter(django_filters.FilterSet):
    project = ProjectIdFilter(field_name="project_id", help_text="Project id.")
    service = django_filters.CharFilter(field_name="service")
    event_type = django_filters.ChoiceFilter(field_name="event_type", choices=EventType.choices)
    since = django_filters.IsoDateTimeFilter(
        field_name="timestamp", lookup_expr="gte", help_text="ISO-8601, inclusive."
    )
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt", help_text="ISO-8601, exclusive.")

    class Meta:
        model = Event
        fields = ["project", "service", "event_type", "since", "until"]


class IssueFilter(django_filters.FilterSet):
    project = ProjectIdFilter(field_name="project_id", help_text="Project id.")
    service = django_filters.CharFilter(field_name="service")
    status = ChoiceInFilter(
        field_name="status", choices=IssueStatus.choices, help_text="Comma list, e.g. unresolved,ignored."
    )
    search = django_filters.CharFilter(method="filter_search", help_text="Words in the title or culprit.")
    severity = ChoiceInFilter(
        field_name="severity", choices=IssueSeverity.choices, help_text="Comma list, e.g. critical,high."
    )

    class Meta:
        model = Issue
        fields = ["project", "service", "status", "search", "severity"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(culprit__icontains=value))


ISSUE_ORDERING_ALIASES = {"count": "event_count"}
ISSUE_ORDERING_FIELDS = ["last_seen", "first_seen", "event_count", "priority", *ISSUE_ORDERING_ALIASES]


class IssueOrdering(StrictOrderingFilter):
    """``ordering=-count,last_seen``; ``count`` is ``event_count``; ties break on the id."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view) or ["-last_seen"]
        resolved = []
        for term in ordering:
            descending = term.startswith("-")
            name = ISSUE_ORDERING_ALIASES.get(term.lstrip("-"), term.lstrip("-"))
            resolved.append(("-" if descending else "") + name)
        tiebreak = "-id" if resolved[-1].startswith("-") else "id"
        return [*resolved, tiebreak]
