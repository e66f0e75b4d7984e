"""``/api/v1/teams`` and ``/api/v1/schedules``: on-call teams, schedules with their layers and overrides,
who is on call at an instant (``{id}/oncall?at=``) and the final schedule for a range (``{id}/shifts``).
``/api/v1/escalation-policies``: who is paged, in which order, for which services (admins write them);
``/api/v1/incidents/{id}/pages``: the pages an incident's escalations sent, with their contacts.

Roles: viewers read everything. Admins set teams, schedules and layers up. Responders create, change
and delete overrides: a swap or a sick day is part of running on call, like updating an incident, and
should not wait for an admin at 3 a.m. Every write is one call into ``incidents.oncall.services``.
"""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import re_path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins, viewsets
from rest_framework import status as http
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from incidents.models import Incident
from incidents.oncall import policies, services
from incidents.oncall import schedule as engine
from incidents.oncall.filters import (
    MAX_SHIFTS_RANGE,
    OVERRIDE_ORDERING,
    POLICY_ORDERING,
    SCHEDULE_ORDERING,
    TEAM_ORDERING,
    EscalationPolicyFilter,
    OverrideFilter,
    ScheduleFilter,
    TeamFilter,
    TieBreakOrdering,
    parse_moment,
    parse_range,
)
from incidents.oncall.models import Layer, LayerParticipant, Override, Page, PageContact, Schedule, Team
from incidents.oncall.serializers import (
    EscalationPolicySerializer,
    EscalationPolicyWriteSerializer,
    LayerSerializer,
    LayerWriteSerializer,
    OnCallSerializer,
    OverrideSerializer,
    OverrideWriteSerializer,
    PageSerializer,
    ScheduleDetailSerializer,
    ScheduleSerializer,
    ScheduleWriteSerializer,
    ShiftsSerializer,
    TeamSerializer,
    TeamWriteSerializer,
)
from tracepoint.accounts.permissions import IsAdminOrReadOnly, IsResponderOrReadOnly, IsViewer
from tracepoint.api.filters import FilterBackend
from tracepoint.api.routers import OptionalSlashRouter

SCHEDULE_PK = r"(?P<schedule_pk>[0-9]{1,18})"
WRITE_METHODS = ["get", "post", "patch", "delete", "head", "options"]


def _users_by_id(ids) -> dict:
    User = get_user_model()
    users = User.objects.filter(pk__in=set(ids)).only("pk", "username", "first_name", "last_name")
    return {user.pk: user for user in users}


def _shift_rows(shifts, users: dict) -> list[dict]:
    return [
        {
            "user": users[s.user_id],
            "start": s.start,
            "end": s.end,
            "source": s.source,
            "source_id": s.source_id,
            "source_name": s.source_name,
        }
        for s in shifts
        if s.user_id in users
    ]


def _layers_prefetch() -> Prefetch:
    participants = Prefetch(
        "participants", queryset=LayerParticipant.objects.select_related("user").order_by("position")
    )
    return Prefetch("layers", queryset=Layer.objects.prefetch_related(participants).order_by("order"))


# --- teams ----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(description="On-call teams, by name. Filters: `search`, `service`.", tags=["on-call"]),
    retrieve=extend_schema(description="A team with its members, services and schedules.", tags=["on-call"]),
    create=extend_schema(request=TeamWriteSerializer, responses={201: TeamSerializer}, tags=["on-call"]),
    partial_update=extend_schema(request=TeamWriteSerializer, responses=TeamSerializer, tags=["on-call"]),
    destroy=extend_schema(
        description="Delete a team; 409 while it still has schedules.", tags=["on-call"], responses={204: None}
    ),
)
class TeamViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = TeamSerializer
    permission_classes = [IsAdminOrReadOnly]
    filter_backends = [FilterBackend, TieBreakOrdering]
    filterset_class = TeamFilter
    ordering_fields = TEAM_ORDERING
    ordering = ["name"]
    lookup_value_regex = "[0-9]{1,18}"
    http_method_names = WRITE_METHODS

    def get_queryset(self):
        # Members by username: the user model has no order of its own, and a list must read the same each time.
        members = Prefetch("members", queryset=get_user_model().objects.order_by("username"))
        return Team.objects.prefetch_related(members, "schedules")

    def _detail(self, team: Team) -> dict:
        return TeamSerializer(self.get_queryset().get(pk=team.pk)).data

    def create(self, request):
        serializer = TeamWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = services.create_team(**serializer.validated_data)
        return Response(
            self._detail(team), status=http.HTTP_201_CREATED, headers={"Location": f"/api/v1/teams/{team.pk}"}
        )

    def partial_update(self, request, pk=None):
        team = self.get_object()
        serializer = TeamWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        team = services.update_team(team, **serializer.validated_data)
        return Response(self._detail(team))

    def destroy(self, request, pk=None):
        services.delete_team(self.get_object())
        return Response(status=http.HTTP_204_NO_CONTENT)


# --- schedules ------------------------------------------------------------------------------------


ONCALL_DESCRIPTION = (
    "Who is on call at `at` (default now) and the shift they are in: its start and end (UTC) and its "
    "source (a layer's rotation or an override). `on_call` is empty in a gap. Edges further than "
    "62 days from `at` are reported clipped to that reach."
)


@extend_schema_view(
    list=extend_schema(
        description="Schedules, by team and name. Filters: `team` (id), `search`.",
        tags=["on-call"],
    ),
    retrieve=extend_schema(
        description="A schedule with its layers (rotation, restrictions, participants in order).",
        responses=ScheduleDetailSerializer,
        tags=["on-call"],
    ),
    create=extend_schema(request=ScheduleWriteSerializer, responses={201: ScheduleDetailSerializer}, tags=["on-call"]),
    partial_update=extend_schema(request=ScheduleWriteSerializer, responses=ScheduleDetailSerializer, tags=["on-call"]),
    destroy=extend_schema(
        description="Delete a schedule with its layers and overrides.", tags=["on-call"], responses={204: None}
    ),
)
class ScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ScheduleSerializer
    permission_classes = [IsAdminOrReadOnly]
    filter_backends = [FilterBackend, TieBreakOrdering]
    filterset_class = ScheduleFilter
    ordering_fields = SCHEDULE_ORDERING
    ordering = ["team", "name"]
    lookup_value_regex = "[0-9]{1,18}"
    http_method_names = WRITE_METHODS

    def get_queryset(self):
        queryset = Schedule.objects.select_related("team")
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(_layers_prefetch())
        return queryset

    def _detail(self, schedule: Schedule) -> dict:
        schedule = Schedule.objects.select_related("team").prefetch_related(_layers_prefetch()).get(pk=schedule.pk)
        return ScheduleDetailSerializer(schedule).data

    def retrieve(self, request, pk=None):
        return Response(ScheduleDetailSerializer(self.get_object()).data)

    def create(self, request):
        serializer = ScheduleWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = services.create_schedule(**serializer.validated_data)
        return Response(
            self._detail(schedule),
            status=http.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/schedules/{schedule.pk}"},
        )

    def partial_update(self, request, pk=None):
        schedule = self.get_object()
        serializer = ScheduleWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {k: v for k, v in serializer.validated_data.items() if k in serializer.initial_data}
        schedule = services.update_schedule(schedule, **fields)
        return Response(self._detail(schedule))

    def destroy(self, request, pk=None):
        services.delete_schedule(self.get_object())
        return Response(status=http.HTTP_204_NO_CONTENT)

    @extend_schema(
        description=ONCALL_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.DATETIME,
                description="ISO-8601 instant, e.g. 2026-03-29T01:30:00Z; without an offset it is UTC. Default: now.",
            )
        ],
        responses=OnCallSerializer,
        tags=["on-call"],
    )
    @action(detail=True, methods=["get"], url_path="oncall", filter_backends=[], pagination_class=None)
    def oncall(self, request, pk=None):
        at = parse_moment(request.query_params, "at", timezone.now())
        schedule = get_object_or_404(Schedule.objects.only("pk", "name", "time_zone"), pk=pk)
        shifts = services.on_call_shifts_at(schedule, at)
        users = _users_by_id(s.user_id for s in shifts) if shifts else {}
        body = {
            "schedule": schedule.pk,
            "time_zone": schedule.time_zone,
            "at": at,
            "on_call": _shift_rows(shifts, users),
        }
        return Response(OnCallSerializer(body).data)

    @extend_schema(
        description=(
            "The final schedule (layers, then overrides on top) for [start, end): shifts by start, and the gaps. "
            f"At most {MAX_SHIFTS_RANGE.days} days."
        ),
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="Default: now."),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="Default: start + 7 days."),
        ],
        responses=ShiftsSerializer,
        tags=["on-call"],
    )
    @action(detail=True, methods=["get"], url_path="shifts", filter_backends=[], pagination_class=None)
    def shifts(self, request, pk=None):
        start, end = parse_range(request.query_params, now=timezone.now())
        schedule = get_object_or_404(Schedule.objects.only("pk", "name", "time_zone"), pk=pk)
        shifts = engine.final_schedule(schedule, start, end)
        users = _users_by_id(s.user_id for s in shifts)
        body = {
            "schedule": schedule.pk,
            "time_zone": schedule.time_zone,
            "start": start,
            "end": end,
            "shifts": _shift_rows(shifts, users),
            "gaps": [{"start": g.start, "end": g.end} for g in engine.find_gaps(shifts, start, end)],
        }
        return Response(ShiftsSerializer(body).data)


class _OneSchedule:
    """Nested under ``schedules/{schedule_pk}/``: the schedule comes from the URL (404 when unknown)."""

    lookup_value_regex = "[0-9]{1,18}"

    def get_schedule(self) -> Schedule:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the view without a URL
            return Schedule()
        if not hasattr(self, "_schedule"):
            self._schedule = get_object_or_404(Schedule, pk=self.kwargs["schedule_pk"])
        return self._schedule

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.get_schedule()


@extend_schema_view(
    list=extend_schema(description="The schedule's layers, lowest first.", tags=["on-call"]),
    retrieve=extend_schema(tags=["on-call"]),
    create=extend_schema(request=LayerWriteSerializer, responses={201: LayerSerializer}, tags=["on-call"]),
    partial_update=extend_schema(request=LayerWriteSerializer, responses=LayerSerializer, tags=["on-call"]),
    destroy=extend_schema(tags=["on-call"], responses={204: None}),
)
class LayerViewSet(_OneSchedule, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = LayerSerializer
    permission_classes = [IsAdminOrReadOnly]
    filter_backends = []
    http_method_names = WRITE_METHODS

    def get_queryset(self):
        participants = Prefetch(
            "participants", queryset=LayerParticipant.objects.select_related("user").order_by("position")
        )
        return (
            Layer.objects.filter(schedule_id=self.kwargs.get("schedule_pk"))
            .prefetch_related(participants)
            .order_by("order", "id")
        )

    def _detail(self, layer: Layer) -> dict:
        return LayerSerializer(self.get_queryset().get(pk=layer.pk)).data

    def create(self, request, schedule_pk=None):
        serializer = LayerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = {k: v for k, v in serializer.validated_data.items() if v is not None}
        layer = services.create_layer(self.get_schedule(), **fields)
        return Response(self._detail(layer), status=http.HTTP_201_CREATED)

    def partial_update(self, request, schedule_pk=None, pk=None):
        layer = self.get_object()
        serializer = LayerWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {k: v for k, v in serializer.validated_data.items() if k in serializer.initial_data}
        layer = services.update_layer(layer, **fields)
        return Response(self._detail(layer))

    def destroy(self, request, schedule_pk=None, pk=None):
        services.delete_layer(self.get_object())
        return Response(status=http.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        description="The schedule's overrides, by start. Filters: `after`, `before` (instants), `user` (id).",
        tags=["on-call"],
    ),
    retrieve=extend_schema(tags=["on-call"]),
    create=extend_schema(
        description="Someone covers the schedule from start to end, over every layer (responders and admins).",
        request=OverrideWriteSerializer,
        responses={201: OverrideSerializer},
        tags=["on-call"],
    ),
    partial_update=extend_schema(
        description="Change an override (responders and admins).",
        request=OverrideWriteSerializer,
        responses=OverrideSerializer,
        tags=["on-call"],
    ),
    destroy=extend_schema(
        description="Remove an override (responders and admins).", tags=["on-call"], responses={204: None}
    ),
)
class OverrideViewSet(_OneSchedule, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = OverrideSerializer
    filter_backends = [FilterBackend, TieBreakOrdering]
    filterset_class = OverrideFilter
    ordering_fields = OVERRIDE_ORDERING
    ordering = ["start"]
    http_method_names = WRITE_METHODS

    def get_permissions(self):
        if self.action in ("create", "partial_update", "destroy"):
            return [IsResponderOrReadOnly()]
        return [IsAdminOrReadOnly()]

    def get_queryset(self):
        return Override.objects.filter(schedule_id=self.kwargs.get("schedule_pk")).select_related("user", "created_by")

    def _detail(self, override: Override) -> dict:
        return OverrideSerializer(self.get_queryset().get(pk=override.pk)).data

    def create(self, request, schedule_pk=None):
        serializer = OverrideWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        override = services.create_override(self.get_schedule(), by=request.user, **serializer.validated_data)
        return Response(self._detail(override), status=http.HTTP_201_CREATED)

    def partial_update(self, request, schedule_pk=None, pk=None):
        override = self.get_object()
        serializer = OverrideWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        override = services.update_override(override, **serializer.validated_data)
        return Response(self._detail(override))

    def destroy(self, request, schedule_pk=None, pk=None):
        services.delete_override(self.get_object())
        return Response(status=http.HTTP_204_NO_CONTENT)


# --- escalation policies --------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        description="Escalation policies, by team and name. Filters: `team` (id), `service` (policies naming it), "
        "`search` (name).",
        tags=["on-call"],
    ),
    retrieve=extend_schema(description="A policy with its steps in order.", tags=["on-call"]),
    create=extend_schema(
        description="A policy and its steps (admins). `is_default` makes it the team's default policy.",
        request=EscalationPolicyWriteSerializer,
        responses={201: EscalationPolicySerializer},
        tags=["on-call"],
    ),
    update=extend_schema(
        description="Replace a policy, steps included (admins).",
        request=EscalationPolicyWriteSerializer,
        responses=EscalationPolicySerializer,
        tags=["on-call"],
    ),
    partial_update=extend_schema(
        description="Change the fields sent (admins); `steps`, when sent, replaces every step.",
        request=EscalationPolicyWriteSerializer,
        responses=EscalationPolicySerializer,
        tags=["on-call"],
    ),
    destroy=extend_schema(
        description="Delete a policy (admins). Escalations under way keep their steps; a team whose default it "
        "was has none any more.",
        tags=["on-call"],
        responses={204: None},
    ),
)
class EscalationPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = EscalationPolicySerializer
    permission_classes = [IsAdminOrReadOnly]
    filter_backends = [FilterBackend, TieBreakOrdering]
    filterset_class = EscalationPolicyFilter
    ordering_fields = POLICY_ORDERING
    ordering = ["team", "name"]
    lookup_value_regex = "[0-9]{1,18}"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return policies.policies_with_steps()

    def _write(self, request, *, partial: bool) -> dict:
        serializer = EscalationPolicyWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return serializer.service_fields()

    def create(self, request):
        policy = policies.create_policy(**self._write(request, partial=False))
        return Response(
            EscalationPolicySerializer(policy).data,
            status=http.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/escalation-policies/{policy.pk}"},
        )

    def update(self, request, pk=None):
        policy = self.get_object()
        policy = policies.update_policy(policy, **self._write(request, partial=False))
        return Response(EscalationPolicySerializer(policy).data)

    def partial_update(self, request, pk=None):
        policy = self.get_object()
        policy = policies.update_policy(policy, **self._write(request, partial=True))
        return Response(EscalationPolicySerializer(policy).data)

    def destroy(self, request, pk=None):
        policies.delete_policy(self.get_object())
        return Response(status=http.HTTP_204_NO_CONTENT)


# --- an incident's pages --------------------------------------------------------------------------


@extend_schema(
    description="The pages an incident's escalations sent, oldest first: who, at which step, through which "
    "contact methods, and whether it was delivered and acknowledged. 404 for an unknown incident.",
    parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Incident id.")],
    tags=["on-call"],
)
class IncidentPagesView(generics.ListAPIView):
    serializer_class = PageSerializer
    # Read-only: any role reads; other methods are 405 (not 403) for everyone.
    permission_classes = [IsViewer]
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the view without a URL
            return Page.objects.none()
        try:
            incident_id = uuid.UUID(self.kwargs["pk"])
        except ValueError:
            raise NotFound("No such incident.") from None
        if not Incident.objects.alive().filter(pk=incident_id).exists():
            raise NotFound("No such incident.")
        contacts = Prefetch("contacts", queryset=PageContact.objects.order_by("position"))
        return (
            Page.objects.filter(incident_id=incident_id)
            .select_related("user", "schedule")
            .prefetch_related(contacts)
            .order_by("created_at", "id")
        )


router = OptionalSlashRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register(rf"schedules/{SCHEDULE_PK}/layers", LayerViewSet, basename="schedule-layer")
router.register(rf"schedules/{SCHEDULE_PK}/overrides", OverrideViewSet, basename="schedule-override")
router.register("escalation-policies", EscalationPolicyViewSet, basename="escalationpolicy")
# Mounted by tracepoint/urls.py with include("incidents.oncall.api") inside /api/v1/ (names v1:team-…, v1:schedule-…,
# v1:escalationpolicy-…, v1:incident-pages). The incidents router comes first there; its routes end at
# ``incidents/{id}/<action>`` for its own actions, none of them "pages", so this one shadows nothing.
urlpatterns = [
    *router.urls,
    re_path(r"^incidents/(?P<pk>[0-9a-fA-F-]{32,36})/pages/?$", IncidentPagesView.as_view(), name="incident-pages"),
]
