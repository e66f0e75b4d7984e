"""``/api/v1/events`` (native ingest with a project key; listing for users) and the issues API."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from events import services
from events.ingest import key_from_request, parse_native_events
from tracepoint.api.routers import OptionalSlashRouter


class IngestResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.UUIDField())


class EventViewSet(viewsets.GenericViewSet):
    """POST: ingest with a project key (``X-Project-Key`` or ``Authorization: Bearer``)."""

    # Ingest bodies may be larger than other API bodies (a batch of 1,000 events).
    max_request_bytes = staticmethod(lambda: __import__("django.conf").conf.settings.TRACEPOINT["INGEST_MAX_BYTES"])

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

    def get_throttles(self):
        if self.action == "create":
            return []  # ingest has its own budget (quotas arrive with the alerting issue)
        return super().get_throttles()

    @extend_schema(
        request=None,
        responses={202: IngestResponseSerializer},
        parameters=[OpenApiParameter("X-Project-Key", str, OpenApiParameter.HEADER, required=True)],
        description="One event or a list of up to 1,000 (see README: native ingest).",
        tags=["ingest"],
    )
    def create(self, request):
        key = key_from_request(request)
        if not key:
            raise services.InvalidProjectKey("Send the project key in X-Project-Key or Authorization: Bearer.")
        project_key = services.authenticate_key(key)
        events = parse_native_events(request.data)
        ids = services.store_events(project_key.project, events)
        return Response({"accepted": len(ids), "ids": [str(i) for i in ids]}, status=status.HTTP_202_ACCEPTED)


router = OptionalSlashRouter()
router.register("events", EventViewSet, basename="event")
