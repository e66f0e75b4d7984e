"""``/api/v1/events`` (native ingest with a project key; listing for users), issues and projects.

Every read is scoped by ``Project.objects.visible_to(user)``; every write is one service call.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from events import ingest, keys, lifecycle, quota, retention, timeline, workflow
from events.filters import ISSUE_ORDERING_FIELDS, EventFilter, IssueFilter, IssueOrdering
from events.models import AlertRule, Event, Issue, IssueStatus, Project, ProjectKey
from events.native import parse_native_events, project_key_from_headers
from events.serializers import (
    AlertRuleSerializer,
    EventSerializer,
    IntroducedIssueSerializer,
    IssueActivitySerializer,
    IssueCommentSerializer,
    IssueIncidentResultSerializer,
    IssueIncidentSerializer,
    IssueSerializer,
    IssueUpdateSerializer,
    KeyRotateSerializer,
    ProjectKeySerializer,
    ProjectSerializer,
    TimelineEventSerializer,
    TimelineQuerySerializer,
)
from incidents.models import service_validator
from tracepoint.accounts.permissions import IsAdminOrReadOnly, IsResponderOrReadOnly, IsViewer
from tracepoint.accounts.roles import ADMIN, has_role
from tracepoint.api.filters import FilterBackend as DjangoFilterBackend  # + NUL and UTC-offset checks
from tracepoint.api.filters import StrictOrderingFilter
from tracepoint.api.pagination import KeysetPagination
from tracepoint.api.parsers import NestingSafeJSONParser
from tracepoint.api.routers import OptionalSlashRouter


def visible_to(queryset, user, *, field: str = "project"):
    """Rows of the projects ``user`` may see (admins: all, without the membership join)."""
    if user is not None and user.is_authenticated and has_role(user, ADMIN):
        return queryset
    return queryset.filter(**{f"{field}__in": Project.objects.visible_to(user).values("pk")})


class EventCursorPagination(KeysetPagination):
    """Keyset paging, newest first: stable while events keep arriving."""

    ordering = ("-timestamp", "-id")


class IngestResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.UUIDField())


@extend_schema_view(
    list=extend_schema(
        description="Events of the projects you can see, newest first (cursor paging).", tags=["events"]
    ),
    retrieve=extend_schema(tags=["events"]),
)
class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """POST: ingest with a project key (``X-Project-Key`` or ``Authorization: Bearer``); GET: users."""

    serializer_class = EventSerializer
    pagination_class = EventCursorPagination
    filter_backends = [DjangoFilterBackend]  # cursor paging owns the ordering
    filterset_class = EventFilter
    http_method_names = ["get", "post", "head", "options"]

    # Ingest bodies may be larger than other API bodies (a batch of 1,000 events).
    max_request_bytes = staticmethod(lambda: settings.TRACEPOINT["INGEST_MAX_BYTES"])

    def initialize_request(self, request, *args, **kwargs):
        # DRF picks the action after choosing authenticators; ingest needs it before.
        self.action = self.action_map.get(request.method.lower())
        return super().initialize_request(request, *args, **kwargs)

    def get_authenticators(self):
        if getattr(self, "action", None) == "create":
            return []  # project keys, not user tokens
        return super().get_authenticators()

    def get_permissions(self):
        if self.action == "create":
            return [AllowAny()]
        return super().get_permissions()

    def get_parsers(self):
        if getattr(self, "action", None) == "create":
            # Native ingest checks its own fields and strips NULs from free-form metadata.
            return [NestingSafeJSONParser()]
        return super().get_parsers()

    def get_throttles(self):
        if self.action == "create":
            return []  # ingest has its own budget: the project's quota (events.quota), in create()
        return super().get_throttles()

    def get_queryset(self):
        return visible_to(Event.objects.all(), self.request.user)

    @extend_schema(
        request=None,
        responses={202: IngestResponseSerializer},
        parameters=[OpenApiParameter("X-Project-Key", str, OpenApiParameter.HEADER, required=True)],
        description="One event or a list of up to 1,000 (see README: native ingest).",
        tags=["ingest"],
    )
    def create(self, request):
        key = project_key_from_headers(request)
        if not key:
            raise keys.InvalidProjectKey("Send the project key in X-Project-Key or Authorization: Bearer.")
        project_key = keys.authenticate_key(key)
        events = parse_native_events(request.data)
        project = project_key.project
        if len(events) > (largest := min(project.event_rate(), project.event_burst_limit())):
            # It could never fit, however long the client waited: say so instead of a 429.
            raise ValidationError(
                {"events": [f"At most {largest} events per request for this project (its ingest quota)."]}
            )
        decision = quota.check(project, len(events))  # the batch fits whole or not at all
        if not decision.allowed:
            raise Throttled(wait=decision.retry_after)
        ids = ingest.store_events(project_key.project, events)
        return Response({"accepted": len(ids), "ids": [str(i) for i in ids]}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(tags=["issues"]),
    retrieve=extend_schema(tags=["issues"]),
    partial_update=extend_schema(
        request=IssueUpdateSerializer,
        responses={200: IssueSerializer},
        description=(
            "Resolve, ignore or unresolve (`status`), and assign (`assignee`: a username of a responder or "
            "admin of the issue's project, null to unassign). Responders and admins."
        ),
        tags=["issues"],
    ),
)
class IssueViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = IssueSerializer
    filterset_class = IssueFilter
    filter_backends = [DjangoFilterBackend, IssueOrdering]
    ordering_fields = ISSUE_ORDERING_FIELDS
    ordering = ["-last_seen"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        queryset = Issue.objects.select_related("resolved_by", "resolved_by_deploy", "assignee")
        return visible_to(queryset, self.request.user)

    def partial_update(self, request, pk=None):
        issue = self.get_object()
        payload = IssueUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        with transaction.atomic():
            if "assignee" in data:
                workflow.assign_issue(issue.pk, assignee=data["assignee"], by=request.user)
            if "status" in data:
                lifecycle.set_issue_status(issue.pk, status=data["status"], by=request.user)
        return Response(IssueSerializer(self.get_queryset().get(pk=issue.pk)).data)

    @extend_schema(methods=["GET"], responses={200: IssueCommentSerializer(many=True)}, filters=False, tags=["issues"])
    @extend_schema(
        methods=["POST"],
        request=IssueCommentSerializer,
        responses={201: IssueCommentSerializer},
        description="Add a comment to the issue's thread (responders and admins).",
        tags=["issues"],
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def comments(self, request, pk=None):
        issue = self.get_object()
        if request.method == "POST":
            payload = IssueCommentSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            comment = workflow.add_issue_comment(issue.pk, body=payload.validated_data["body"], by=request.user)
            return Response(IssueCommentSerializer(comment).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(issue.comments.select_related("author").order_by("created_at", "id"))
        return self.get_paginated_response(IssueCommentSerializer(page, many=True).data)

    @extend_schema(
        request=IssueIncidentSerializer,
        responses={201: IssueIncidentResultSerializer, 200: IssueIncidentResultSerializer},
        description=(
            "Open an incident for the issue's service, linked to the issue (201), or link the issue to the "
            "service's open incident (200: one problem, one incident). Title, severity and summary are "
            "proposed from the issue when left out. Responders and admins."
        ),
        tags=["issues"],
    )
    @action(detail=True, methods=["post"], url_path="incident", filter_backends=[])
    def incident(self, request, pk=None):
        issue = self.get_object()
        payload = IssueIncidentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        fields = {**workflow.incident_defaults(issue), **payload.validated_data}
        incident, opened = workflow.open_issue_incident(issue.pk, by=request.user, **fields)
        result = {
            "incident": incident.pk,
            "opened": opened,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
        }
        return Response(
            IssueIncidentResultSerializer(result).data, status=status.HTTP_201_CREATED if opened else status.HTTP_200_OK
        )

    @extend_schema(
        responses={200: EventSerializer(many=True)},
        filters=False,
        description="The issue's events, newest first (cursor paging).",
        tags=["issues"],
    )
    @action(detail=True, methods=["get"], pagination_class=EventCursorPagination, filter_backends=[])
    def events(self, request, pk=None):
        issue = self.get_object()
        page = self.paginate_queryset(Event.objects.filter(issue=issue))
        return self.get_paginated_response(EventSerializer(page, many=True).data)

    @extend_schema(
        responses={200: IssueSerializer(many=True)},
        description=(
            "Unresolved issues by priority (highest first), each with `priority_reason` naming every part of "
            "its score. Filters: `project`, `service`, `severity`."
        ),
        tags=["issues"],
    )
    @action(detail=False, methods=["get"], url_path="needs-attention", filter_backends=[DjangoFilterBackend])
    def needs_attention(self, request):
        queryset = self.filter_queryset(self.get_queryset()).filter(status=IssueStatus.UNRESOLVED)
        page = self.paginate_queryset(queryset.order_by("-priority", "-last_seen", "-id"))
        return self.get_paginated_response(IssueSerializer(page, many=True).data)

    @extend_schema(responses={200: IssueActivitySerializer(many=True)}, filters=False, tags=["issues"])
    @action(detail=True, methods=["get"], filter_backends=[])
    def activity(self, request, pk=None):
        issue = self.get_object()
        page = self.paginate_queryset(issue.activity.select_related("actor"))
        return self.get_paginated_response(IssueActivitySerializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(tags=["projects"]),
    retrieve=extend_schema(tags=["projects"]),
    create=extend_schema(tags=["projects"]),
    partial_update=extend_schema(tags=["projects"]),
    update=extend_schema(tags=["projects"]),
    destroy=extend_schema(tags=["projects"]),
)
class ProjectViewSet(viewsets.ModelViewSet):
    """Admins manage projects, keys and members; members read their projects."""

    serializer_class = ProjectSerializer
    permission_classes = [IsAdminOrReadOnly]
    filter_backends = [StrictOrderingFilter]
    ordering_fields = ["name", "slug", "created_at"]
    ordering = ["name"]

    def get_queryset(self):
        return Project.objects.visible_to(self.request.user).prefetch_related("keys", "members")

    def perform_create(self, serializer):
        data = serializer.validated_data
        with transaction.atomic():
            project = keys.create_project(name=data["name"], slug=data["slug"], services=data.get("services"))
            project.members.set(data.get("members", []))
            if data.get("events_per_minute") is not None:
                quota.set_events_per_minute(project, data["events_per_minute"])
        serializer.instance = project

    def perform_update(self, serializer):
        serializer.save()
        keys.forget_keys()  # remembered keys carry their project (its services)

    def perform_destroy(self, instance):
        instance.delete()
        keys.forget_keys()

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT}, tags=["projects"])
    @action(detail=True, methods=["delete"], url_path="events")
    def wipe_events(self, request, pk=None):
        """Delete every event of the project received until now (and issues left without events), in the
        background, in batches; the project, its keys, members and alert rules stay. Admins only."""
        project = self.get_object()
        cutoff = retention.request_wipe(project)
        return Response(
            {"project": project.pk, "status": "queued", "events_received_until": cutoff},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(request=KeyRotateSerializer, responses={201: ProjectKeySerializer}, tags=["projects"])
    @action(detail=True, methods=["post"], url_path="keys")
    def rotate_key(self, request, pk=None):
        project = self.get_object()
        payload = KeyRotateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        key = keys.rotate_key(project, label=payload.validated_data["label"])
        return Response(ProjectKeySerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ProjectKeySerializer}, tags=["projects"])
    @action(detail=True, methods=["post"], url_path=r"keys/(?P<key_id>\d+)/revoke")
    def revoke_key(self, request, pk=None, key_id=None):
        project = self.get_object()
        key = get_object_or_404(ProjectKey, project=project, pk=key_id)
        keys.revoke_key(key)
        key.refresh_from_db()
        return Response(ProjectKeySerializer(key).data)


class ServiceTimelineView(APIView):
    """``GET /api/v1/services/{service}/timeline``: events oldest first, deploy markers, incident transitions."""

    permission_classes = [IsViewer]

    @extend_schema(
        parameters=[TimelineQuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
        description=(
            "The service's events of the projects you may see, oldest first, merged with its incidents' "
            "transitions. Each ERROR within DEPLOY_CORRELATION_MINUTES after a DEPLOY or CONFIG_CHANGE carries "
            "it as `suspected_cause`; `issues_introduced` lists issues first seen in such a window. At most "
            "TIMELINE_MAX_EVENTS events: when `truncated`, ask again with `since=next_since`."
        ),
        tags=["issues"],
    )
    def get(self, request, service: str):
        try:
            service_validator(service)
        except DjangoValidationError as exc:
            raise ValidationError({"service": exc.messages}) from None
        query = TimelineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = timeline.service_timeline(request.user, service, **query.validated_data)
        items = []
        for item in result.items():
            if item["kind"] == "event":
                items.append(TimelineEventSerializer(item["event"], context={"causes": result.causes}).data)
            else:
                entry = item["entry"]
                items.append(
                    {
                        "kind": "incident",
                        "incident": str(entry.incident_id),
                        "title": entry.incident.title,
                        "severity": entry.incident.severity,
                        "action": entry.kind,
                        "from": entry.from_value,
                        "to": entry.to_value,
                        "actor": entry.actor_name,
                        "timestamp": entry.created_at,
                    }
                )
        return Response(
            {
                "service": service,
                "since": result.since,
                "until": result.until,
                "correlation_window_minutes": int(result.window.total_seconds() // 60),
                "truncated": result.truncated,
                "next_since": result.next_since,
                "items": items,
                "issues_introduced": IntroducedIssueSerializer(result.introduced, many=True).data,
            }
        )


@extend_schema_view(
    list=extend_schema(tags=["alerts"]),
    retrieve=extend_schema(tags=["alerts"]),
    create=extend_schema(tags=["alerts"]),
    partial_update=extend_schema(tags=["alerts"]),
    update=extend_schema(tags=["alerts"]),
    destroy=extend_schema(tags=["alerts"]),
)
class AlertRuleViewSet(viewsets.ModelViewSet):
    """Alert rules of the projects you may see; responders and admins write them."""

    serializer_class = AlertRuleSerializer
    permission_classes = [IsResponderOrReadOnly]
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_fields = ["project", "kind", "enabled"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]

    def get_queryset(self):
        return visible_to(AlertRule.objects.prefetch_related("channels"), self.request.user)


router = OptionalSlashRouter()
router.register("events", EventViewSet, basename="event")
router.register("issues", IssueViewSet, basename="issue")
router.register("projects", ProjectViewSet, basename="project")
router.register("alert-rules", AlertRuleViewSet, basename="alert-rule")
