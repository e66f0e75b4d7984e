"""``/api/v1/monitors``: CRUD, results (status periods and latency), uptime, pause/resume, check-now."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from monitors import rollups, scheduler, services, uptime
from monitors.models import LocationResult, Monitor, MonitorKind, StatusPeriod
from monitors.serializers import (
    MonitorSerializer,
    ResultsQuerySerializer,
    StatusPeriodSerializer,
    UptimeQuerySerializer,
)
from tracepoint.accounts.permissions import IsResponderOrReadOnly
from tracepoint.api.filters import StrictOrderingFilter
from tracepoint.api.routers import OptionalSlashRouter

MAX_RESULTS_RANGE = {"minute": timedelta(hours=48), "hour": timedelta(days=90)}


@extend_schema_view(
    list=extend_schema(tags=["monitors"]),
    retrieve=extend_schema(tags=["monitors"]),
    create=extend_schema(tags=["monitors"]),
    update=extend_schema(tags=["monitors"]),
    partial_update=extend_schema(tags=["monitors"]),
    destroy=extend_schema(tags=["monitors"]),
)
class MonitorViewSet(viewsets.ModelViewSet):
    """Viewers read; responders and admins create, change, pause and test monitors."""

    serializer_class = MonitorSerializer
    permission_classes = [IsResponderOrReadOnly]
    filter_backends = [StrictOrderingFilter]
    ordering_fields = ["name", "status", "created_at", "last_checked_at"]
    ordering = ["name"]
    queryset = Monitor.objects.select_related("down_because_of").prefetch_related(
        "depends_on",
        "dependents",
        "locations",
        Prefetch("location_results", queryset=LocationResult.objects.select_related("location")),
    )

    def perform_create(self, serializer):
        serializer.instance = services.create_monitor(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_monitor(serializer.instance.pk, serializer.validated_data)
        scheduler.reschedule(serializer.instance.pk)

    def perform_destroy(self, instance):
        services.delete_monitor(instance.pk)

    @extend_schema(parameters=[ResultsQuerySerializer], responses={200: OpenApiTypes.OBJECT}, tags=["monitors"])
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """Status periods and the latency series of a range (minute points up to 48 h, hourly up to 90 days)."""
        monitor = self.get_object()
        query = ResultsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        until = query.validated_data.get("until") or timezone.now()
        since = query.validated_data.get("since") or until - timedelta(hours=24)
        resolution = query.validated_data.get("resolution") or (
            "minute" if until - since <= timedelta(hours=6) else "hour"
        )
        if since >= until:
            raise ValidationError({"since": ["Must be before `until`."]})
        if until - since > MAX_RESULTS_RANGE[resolution]:
            raise ValidationError({"since": [f"At most {MAX_RESULTS_RANGE[resolution]} at {resolution} resolution."]})
        periods = StatusPeriod.objects.filter(monitor=monitor, started_at__lt=until).exclude(ended_at__lte=since)
        return Response(
            {
                "since": since,
                "until": until,
                "resolution": resolution,
                "periods": StatusPeriodSerializer(periods.order_by("started_at"), many=True).data,
                "latency": rollups.series(monitor, since=since, until=until, resolution=resolution),
            }
        )

    @extend_schema(parameters=[UptimeQuerySerializer], responses={200: OpenApiTypes.OBJECT}, tags=["monitors"])
    @action(detail=True, methods=["get"])
    def uptime(self, request, pk=None):
        monitor = self.get_object()
        query = UptimeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = uptime.uptime(monitor, window=query.validated_data["window"])
        return Response(
            {
                "window": result.window,
                "uptime_percent": result.percent,
                "up_seconds": result.up_seconds,
                "down_seconds": result.down_seconds,
                "excluded_seconds": result.excluded_seconds,
            }
        )

    @extend_schema(request=None, responses={200: MonitorSerializer}, tags=["monitors"])
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return Response(MonitorSerializer(services.pause(self.get_object().pk), context={"request": request}).data)

    @extend_schema(request=None, responses={200: MonitorSerializer}, tags=["monitors"])
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return Response(MonitorSerializer(services.resume(self.get_object().pk), context={"request": request}).data)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, tags=["monitors"])
    @action(detail=True, methods=["post"], url_path="check-now")
    def check_now(self, request, pk=None):
        """Run the check now (bounded by its timeout), record it, and answer with the result. A monitor checked
        from locations is checked from this server and not recorded (``recorded``: false): its status comes
        from its locations' quorum."""
        monitor = self.get_object()
        if monitor.kind == MonitorKind.HEARTBEAT:
            raise ValidationError({"kind": ["Heartbeat monitors are pinged by their job; there is nothing to run."]})
        result, recorded = scheduler.check_now(monitor.pk)
        monitor.refresh_from_db()
        return Response(
            {
                "result": {"status": result.status, "latency_ms": result.latency_ms, "error": result.error},
                "recorded": recorded,
                "monitor": MonitorSerializer(monitor, context={"request": request}).data,
            },
            status=status.HTTP_200_OK,
        )


router = OptionalSlashRouter()
router.register("monitors", MonitorViewSet, basename="monitor")
