"""Filtering alerts, shared by the alerts page and ``/api/v1/alerts``: status, integration, service, severity
and labels. Bad values are errors (a 400 in the API, a message on the page), never ignored.

A label filter is ``key=value`` (repeat it to require several). The key comes from the user and becomes
a JSON path, so it is checked against the label names the senders use (Prometheus' own rule plus ``.``,
``/`` and ``-`` for Kubernetes-style names) and always compared as an object key, never as an array index.
"""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from drf_spectacular.utils import extend_schema_field

from incidents.intake.models import Alert, AlertStatus, Integration
from tracepoint.api.filters import StrictOrderingFilter
from tracepoint.severity import Severity

LABEL_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,99}$")
LABEL_VALUE_MAX = 1000
MAX_LABEL_FILTERS = 10
# The page's status tabs: "open" is every alert not resolved yet.
OPEN = "open"
ALL = "all"
STATUS_TABS = [(OPEN, "Open"), *AlertStatus.choices, (ALL, "All")]
ORDERING_FIELDS = ["last_seen", "first_seen", "starts_at", "ends_at", "severity", "status", "service"]


def parse_label_filter(raw: str) -> tuple[str, str]:
    """``"team=db"`` → ``("team", "db")``; ValidationError with a message a person can act on."""
    key, sep, value = raw.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValidationError(f"Use key=value, e.g. team=db (got {raw!r}).", code="label_format")
    if not LABEL_KEY_RE.match(key):
        raise ValidationError(
            f"{key[:100]!r} is not a label name: start with a letter or _, then letters, digits, _ . : / or -.",
            code="label_key",
        )
    if len(value) > LABEL_VALUE_MAX:
        raise ValidationError(f"The value of {key} is longer than {LABEL_VALUE_MAX} characters.", code="label_value")
    return key, value


def filter_by_labels(queryset: QuerySet[Alert], pairs: list[tuple[str, str]]) -> QuerySet[Alert]:
    """Alerts whose labels hold every ``key=value`` of ``pairs`` (the same SQL shape on SQLite and PostgreSQL)."""
    for index, (key, value) in enumerate(pairs):
        # KeyTextTransform, not ``labels__<key>``: a key holding "__" would become a nested lookup. The cast
        # makes a number label ("5") compare as text on SQLite too, as ->> does on PostgreSQL.
        alias = f"_label_{index}"
        queryset = queryset.alias(**{alias: Cast(KeyTextTransform(key, "labels"), TextField())}).filter(
            **{alias: value}
        )
    return queryset


def filter_by_status(queryset: QuerySet[Alert], status: str | None) -> QuerySet[Alert]:
    if not status or status == ALL:
        return queryset
    if status == OPEN:
        return queryset.exclude(status=AlertStatus.RESOLVED)
    return queryset.filter(status=status)


class LabelsWidget(forms.TextInput):
    """Every ``label`` parameter of the query string, not only the last."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            return [value for value in data.getlist(name) if value.strip()]
        value = data.get(name)
        return [value] if value else []

    def value_omitted_from_data(self, data, files, name):
        return name not in data


class LabelsField(forms.Field):
    """A list of ``key=value`` label filters, each checked by ``parse_label_filter``."""

    widget = LabelsWidget
    default_validators = []

    def to_python(self, value) -> list[tuple[str, str]]:
        values = value if isinstance(value, list | tuple) else ([value] if value else [])
        if len(values) > MAX_LABEL_FILTERS:
            raise ValidationError(f"At most {MAX_LABEL_FILTERS} label filters.", code="label_count")
        pairs, errors = [], []
        for raw in values:
            try:
                ProhibitNullCharactersValidator()(raw)
                pairs.append(parse_label_filter(str(raw)))
            except ValidationError as exc:
                errors.extend(exc.error_list)
        if errors:
            raise ValidationError(errors)
        return pairs


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """``?status=firing,acknowledged``: each value must be a valid choice."""


@extend_schema_field({"type": "array", "items": {"type": "string", "example": "team=db"}})
class LabelFilter(django_filters.Filter):
    field_class = LabelsField

    def filter(self, qs, value):
        return filter_by_labels(qs, value) if value else qs


class AlertFilter(django_filters.FilterSet):
    status = ChoiceInFilter(
        field_name="status", choices=AlertStatus.choices, help_text="Comma list, e.g. firing,acknowledged."
    )
    integration = django_filters.ModelChoiceFilter(
        queryset=Integration.objects.all(), help_text="Integration id (see /integrations/)."
    )
    service = django_filters.CharFilter(field_name="service", max_length=100, help_text="Exact service name.")
    severity = ChoiceInFilter(field_name="severity", choices=Severity.choices, help_text="Comma list, e.g. SEV1,SEV2.")
    label = LabelFilter(
        help_text="key=value on the alert's labels, e.g. team=db; repeat the parameter to require several."
    )
    group = django_filters.NumberFilter(field_name="group_id", min_value=1, max_value=2**63 - 1, help_text="Group id.")
    search = django_filters.CharFilter(method="filter_search", max_length=200, help_text="Words in the summary.")

    class Meta:
        model = Alert
        fields = ["status", "integration", "service", "severity", "label", "group", "search"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(summary__icontains=value)) if value else queryset


class AlertOrdering(StrictOrderingFilter):
    """``ordering=-starts_at,severity``; newest activity first by default; ties break on the id."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view) or ["-last_seen"]
        return [*ordering, "-id" if ordering[-1].startswith("-") else "id"]
