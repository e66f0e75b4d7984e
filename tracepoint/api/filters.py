from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import QueryDict
from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


class StrictOrderingFilter(OrderingFilter):
    """``ordering=a,-b``; an unknown field is a 400 listing the allowed ones."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        fields = [param.strip() for param in params.split(",") if param.strip()]
        valid = {item[0] for item in self.get_valid_fields(queryset, view, {"request": request})}
        unknown = [field for field in fields if field.lstrip("-") not in valid]
        if unknown:
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Unknown ordering field(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(valid))}."
                    ]
                }
            )
        return fields


# PostgreSQL stores UTC offsets of at most 15:59 either way; a larger one (which
# Python's datetime accepts, up to 23:59) would fail in the database as a 500.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
NUL = "\x00"


def check_utc_offset(name: str, value: Any) -> Any:
    """``value`` unchanged, or a 400 naming ``name`` when a date-time in it has an offset beyond ±15:59."""
    moments = value if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, slice):  # django-filter's range filters
        moments = [value.start, value.stop]
    for moment in moments:
        if isinstance(moment, datetime) and (offset := moment.utcoffset()) is not None and abs(offset) > MAX_UTC_OFFSET:
            raise ValidationError({name: [f"UTC offset must be between -15:59 and +15:59, got {moment.isoformat()}."]})
    return value


def reject_nul_characters(params: QueryDict) -> None:
    """A 400 naming the parameter when a query parameter holds NUL (PostgreSQL text cannot store it)."""
    for name, values in params.lists():
        if NUL in name or any(NUL in value for value in values):
            raise ValidationError({name.replace(NUL, "\\u0000"): ["NUL characters (\\u0000) are not allowed."]})


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, where every value reaching the database is one it can store.

    Checked here, once, for every FilterSet: no NUL in any query parameter and no
    date-time (``IsoDateTimeFilter``, ``DateTimeFilter``, range filters) with an
    offset PostgreSQL cannot represent. Either is a 400 naming the parameter.
    """

    def filter_queryset(self, request, queryset, view):
        reject_nul_characters(request.query_params)
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        for name, value in filterset.form.cleaned_data.items():
            check_utc_offset(name, value)
        return filterset.qs
