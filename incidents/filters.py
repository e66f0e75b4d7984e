from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from rest_framework.exceptions import ValidationError

from incidents.models import Incident, Severity, Status
from incidents.queries import apply_ordering
from tracepoint.api.filters import StrictOrderingFilter


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """``?severity=SEV1,SEV2``: each value must be a valid choice."""


class IncidentFilter(django_filters.FilterSet):
    service = django_filters.BaseInFilter(field_name="service", lookup_expr="in", help_text="Comma list of services.")
    severity = ChoiceInFilter(field_name="severity", choices=Severity.choices, help_text="Comma list, e.g. SEV1,SEV2.")
    status = ChoiceInFilter(field_name="status", choices=Status.choices, help_text="Comma list, e.g. OPEN,MITIGATED.")
    owner = django_filters.CharFilter(method="filter_owner", help_text="Username or id; 'none' for unassigned.")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Incident
        fields = ["service", "severity", "status", "owner", "created_after", "created_before"]

    def filter_owner(self, queryset, name, value):
        value = value.strip()
        if value.lower() == "none":
            return queryset.filter(owner__isnull=True)
        User = get_user_model()
        condition = Q(username=value) | (Q(pk=int(value)) if value.isdigit() else Q(pk__in=[]))
        user = User.objects.filter(condition).first()
        if user is None:
            raise ValidationError({"owner": [f"No user {value!r}."]})
        return queryset.filter(owner=user)


class IncidentOrdering(StrictOrderingFilter):
    """``ordering=`` for incidents; see incidents.queries.apply_ordering."""

    def filter_queryset(self, request, queryset, view):
        return apply_ordering(queryset, self.get_ordering(request, queryset, view) or [])
