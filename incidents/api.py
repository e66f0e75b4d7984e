"""``/api/v1/incidents``: the incidents API. Every write is one call into incidents.services."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status as http
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from incidents import cache as incident_cache
from incidents import services
from incidents.filters import IncidentFilter, IncidentOrdering
from incidents.models import Incident, TimelineEntry
from incidents.queries import ORDERING_FIELDS
from incidents.serializers import (
    CommentCreateSerializer,
    CommentSerializer,
    IncidentCreateSerializer,
    IncidentSerializer,
    IncidentStatsSerializer,
    IncidentUpdateSerializer,
    ReopenSerializer,
    StatusChangeSerializer,
    TimelineEntrySerializer,
)
from tracepoint.accounts.permissions import IsAdmin
from tracepoint.api.filters import FilterBackend, check_utc_offset, reject_nul_characters
from tracepoint.api.pagination import KeysetPagination, StandardPagination
from tracepoint.api.routers import OptionalSlashRouter
from tracepoint.lib.counting import count_memo

# The seed API's names: ?pageSize=&sortBy=createdAt&sortOrder=asc
SEED_SORT_KEYS = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "severity": "severity",
    "status": "status",
    "title": "title",
} | {name: name for name in ORDERING_FIELDS}
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def translate_seed_parameters(params: QueryDict) -> QueryDict:
    """Accept ``pageSize``, ``sortBy`` and ``sortOrder`` as aliases of ``page_size`` and ``ordering``."""
    if not {"pageSize", "sortBy", "sortOrder"} & set(params):
        return params
    params = params.copy()
    if "pageSize" in params:
        if "page_size" in params:
            raise ValidationError({"pageSize": ["Use either pageSize or page_size, not both."]})
        params["page_size"] = params.pop("pageSize")[-1]
    if "sortBy" in params or "sortOrder" in params:
        if "ordering" in params:
            raise ValidationError({"sortBy": ["Use either sortBy/sortOrder or ordering, not both."]})
        sort_by = params.pop("sortBy", ["createdAt"])[-1]
        sort_order = params.pop("sortOrder", ["desc"])[-1].lower()
        if sort_by not in SEED_SORT_KEYS:
            raise ValidationError({"sortBy": [f"Unknown sort key {sort_by!r}. Allowed: {', '.join(SEED_SORT_KEYS)}."]})
        if sort_order not in ("asc", "desc"):
            raise ValidationError({"sortOrder": [f"Must be asc or desc, got {sort_order!r}."]})
        params["ordering"] = ("-" if sort_order == "desc" else "") + SEED_SORT_KEYS[sort_by]
    return params


class IncidentPagination(StandardPagination):
    """The list's documented envelope: a page (default) or, with ``?pagination=cursor``, a cursor page."""

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "anyOf": [
                super().get_paginated_response_schema(schema),
                IncidentCursorPagination().get_paginated_response_schema(schema),
            ]
        }


class IncidentCursorPagination(KeysetPagination):
    """``?pagination=cursor``: keyset paging by creation time, for deep paging."""

    ordering = ("-created_at", "-id")

    def get_ordering(self, request, queryset, view):
        ordering = request.query_params.get("ordering", "-created_at")
        if ordering not in ("created_at", "-created_at"):
            raise ValidationError({"ordering": ["Cursor paging orders by created_at or -created_at only."]})
        return ("-created_at", "-id") if ordering.startswith("-") else ("created_at", "id")

    def encode_cursor(self, cursor):
        return replace_query_param(super().encode_cursor(cursor), "pagination", "cursor")


def _parse_moment(params: QueryDict, name: str, default):
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        moment = parse_datetime(raw)
        if moment is None and (day := parse_date(raw)) is not None:
            moment = datetime.combine(day, datetime.min.time())
    except ValueError:  # well formed but not a real date (month 13, hour 25)
        moment = None
    if moment is None:
        raise ValidationError({name: [f"Not an ISO-8601 date or date-time: {raw!r}."]})
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return check_utc_offset(name, moment)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Full-text search on title and summary (ranked)."),
            OpenApiParameter("pagination", str, enum=["cursor"], description="Keyset paging for deep pages."),
            OpenApiParameter("pageSize", int, description="Alias of page_size."),
            OpenApiParameter("sortBy", str, enum=list(SEED_SORT_KEYS), description="Alias of ordering."),
            OpenApiParameter("sortOrder", str, enum=["asc", "desc"], description="With sortBy; default desc."),
        ]
    ),
)
class IncidentViewSet(viewsets.GenericViewSet):
    queryset = Incident.objects.alive().select_related("owner", "created_by")
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    filter_backends = [FilterBackend, IncidentOrdering]
    ordering_fields = ORDERING_FIELDS
    lookup_value_converter = "uuid"
    pagination_class = IncidentPagination  # documents the list; the paginator property picks per request
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if "pk" in kwargs:
            # Incident ids are UUIDs: anything else names no incident (404), for every
            # detail route, before a service's lookup could fail on it.
            try:
                uuid.UUID(str(kwargs["pk"]))
            except ValueError:
                raise NotFound() from None
        reject_nul_characters(request.query_params)  # search runs before the filters do
        request._request.GET = translate_seed_parameters(request._request.GET)

    def get_permissions(self):
        if self.action == "destroy":
            return [IsAdmin()]
        return super().get_permissions()

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            params = self.request.query_params
            cursor = params.get("pagination") == "cursor" or "cursor" in params
            if params.get("pagination") not in (None, "", "cursor", "page"):
                raise ValidationError({"pagination": ["Must be 'page' or 'cursor'."]})
            self._paginator = IncidentCursorPagination() if cursor else StandardPagination()
        return self._paginator

    def filter_queryset(self, queryset):
        search = self.request.query_params.get("search", "")
        if len(search) > 200:
            raise ValidationError({"search": ["At most 200 characters."]})
        if search.strip() and self.action == "list":
            queryset = queryset.search(search, rank_limit=settings.TRACEPOINT["SEARCH_RANK_LIMIT"])
        if isinstance(self.paginator, IncidentCursorPagination):
            # Cursor paging owns the ordering; run only the filters.
            return FilterBackend().filter_queryset(self.request, queryset, self)
        return super().filter_queryset(queryset)

    def _detail(self, incident: Incident) -> dict:
        return IncidentSerializer(incident, context=self.get_serializer_context()).data

    # --- CRUD ------------------------------------------------------------------

    def list(self, request):
        with count_memo():
            queryset = self.filter_queryset(self.get_queryset())
            page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        data = incident_cache.get_or_set(pk, lambda: dict(self._detail(self.get_object())))
        return Response(data)

    @extend_schema(
        request=IncidentCreateSerializer,
        responses={201: IncidentSerializer, 200: IncidentSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Repeat a create safely: same key + same body → the same incident (200).",
            )
        ],
    )
    def create(self, request):
        serializer = IncidentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        fields["owner"] = services.resolve_owner(fields.get("owner"))
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            if not IDEMPOTENCY_KEY_RE.match(key):
                raise ValidationError({"Idempotency-Key": ["1 to 255 printable ASCII characters without spaces."]})
            incident, created = services.create_incident_idempotent(
                key=key, body=request.data, by=request.user, **fields
            )
        else:
            incident, created = services.create_incident(by=request.user, **fields), True
        headers = {"Location": f"/api/v1/incidents/{incident.pk}"}
        if key is not None:
            headers["Idempotent-Replayed"] = "false" if created else "true"
        return Response(
            self._detail(incident), status=http.HTTP_201_CREATED if created else http.HTTP_200_OK, headers=headers
        )

    @extend_schema(request=IncidentUpdateSerializer, responses=IncidentSerializer)
    def partial_update(self, request, pk=None):
        serializer = IncidentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "owner" in changes:
            changes["owner"] = services.resolve_owner(changes["owner"])
        incident = services.update_incident(pk, changes=changes, by=request.user)
        return Response(self._detail(incident))

    def destroy(self, request, pk=None):
        services.delete_incident(pk, by=request.user)
        return Response(status=http.HTTP_204_NO_CONTENT)

    # --- actions ---------------------------------------------------------------

    @extend_schema(request=StatusChangeSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["patch"], url_path="status")
    def change_status(self, request, pk=None):
        serializer = StatusChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = services.transition_incident(pk, to=serializer.validated_data["status"], by=request.user)
        return Response(self._detail(incident))

    @extend_schema(request=ReopenSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        serializer = ReopenSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        incident = services.reopen_incident(pk, by=request.user, reason=serializer.validated_data.get("reason", ""))
        return Response(self._detail(incident))

    @extend_schema(methods=["GET"], responses=CommentSerializer(many=True))
    @extend_schema(methods=["POST"], request=CommentCreateSerializer, responses={201: CommentSerializer})
    @action(detail=True, methods=["get", "post"])
    def comments(self, request, pk=None):
        if request.method == "POST":
            serializer = CommentCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            entry = services.add_comment(pk, body=serializer.validated_data["body"], by=request.user)
            return Response(CommentSerializer(entry).data, status=http.HTTP_201_CREATED)
        incident = self.get_object()
        entries = (
            incident.timeline.filter(kind=TimelineEntry.Kind.COMMENT)
            .select_related("actor")
            .order_by("created_at", "id")
        )
        self._paginator = StandardPagination()
        page = self._paginator.paginate_queryset(entries, request, self)
        return self._paginator.get_paginated_response(CommentSerializer(page, many=True).data)

    @extend_schema(responses=TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        incident = self.get_object()
        entries = incident.timeline.select_related("actor").order_by("created_at", "id")
        self._paginator = StandardPagination()
        page = self._paginator.paginate_queryset(entries, request, self)
        return self._paginator.get_paginated_response(TimelineEntrySerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Default: 30 days ago."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Default: now."),
        ],
        responses=IncidentStatsSerializer,
    )
    @action(detail=False, methods=["get"])
    def stats(self, request):
        now = timezone.now()
        since = _parse_moment(request.query_params, "since", now - timedelta(days=30))
        until = _parse_moment(request.query_params, "until", now)
        if since >= until:
            raise ValidationError({"since": ["Must be before until."]})
        return Response(IncidentStatsSerializer(services.incident_stats(since=since, until=until)).data)


router = OptionalSlashRouter()
router.register("incidents", IncidentViewSet, basename="incident")
