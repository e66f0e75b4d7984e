from __future__ import annotations

import math

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response

from tracepoint.lib.counting import FastCountPaginator


def _positive_int(params, name: str, default: int, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({name: [f"Must be a positive whole number, got {raw!r}."]}) from None
    if value < 1:
        raise ValidationError({name: [f"Must be at least 1, got {value}."]})
    if maximum is not None and value > maximum:
        raise ValidationError({name: [f"Must be at most {maximum}, got {value}."]})
    return value


class StandardPagination(PageNumberPagination):
    """``page``/``page_size`` (default 10, max 100); bad values are a 400, never ignored."""

    page_size = 10
    max_page_size = 100
    page_size_query_param = "page_size"
    django_paginator_class = FastCountPaginator

    def get_page_size(self, request) -> int:
        return _positive_int(request.query_params, self.page_size_query_param, self.page_size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        number = _positive_int(request.query_params, self.page_query_param, 1)
        paginator = self.django_paginator_class(queryset, page_size)
        try:
            self.page = paginator.page(number)
        except InvalidPage:
            raise NotFound(f"Page {number} does not exist; there are {paginator.num_pages} pages.") from None
        self.page_size_used = page_size
        return list(self.page)

    def get_paginated_response(self, data) -> Response:
        count = self.page.paginator.count
        return Response(
            {
                "count": count,
                "page": self.page.number,
                "page_size": self.page_size_used,
                "total_pages": math.ceil(count / self.page_size_used) if count else 0,
                "count_exact": self.page.paginator.count_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["count", "page", "page_size", "total_pages", "results"],
            "properties": {
                "count": {"type": "integer", "example": 123},
                "count_exact": {
                    "type": "boolean",
                    "description": "false when count is the database's estimate (very large results)",
                },
                "page": {"type": "integer", "example": 1},
                "page_size": {"type": "integer", "example": 10},
                "total_pages": {"type": "integer", "example": 13},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }


class KeysetPagination(CursorPagination):
    """Cursor (keyset) paging for time-ordered lists: ``{"next", "previous", "page_size", "results"}``.

    ``page_size`` is validated like the page-number lists; a cursor that does
    not decode or whose position is not a value of the ordering is a 400.
    """

    page_size = 10
    max_page_size = 100
    page_size_query_param = "page_size"

    def get_page_size(self, request) -> int:
        return _positive_int(request.query_params, self.page_size_query_param, self.page_size, self.max_page_size)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            # A cursor whose position is not a timestamp (crafted or corrupted).
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "page_size": self.page_size,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "page_size": {"type": "integer", "example": 10},
                "results": schema,
            },
        }
