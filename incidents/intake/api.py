"""``/api/v1/alerts``: the alerts received from other tools, read-only (viewers and up)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from incidents.intake.filters import ORDERING_FIELDS, AlertFilter, AlertOrdering
from incidents.intake.models import Alert
from incidents.intake.serializers import AlertSerializer
from incidents.models import IncidentSignal, SignalKind
from tracepoint.api.filters import FilterBackend
from tracepoint.api.routers import OptionalSlashRouter
from tracepoint.lib.counting import count_memo


@extend_schema_view(
    list=extend_schema(
        description=(
            "Alerts from Alertmanager, Grafana, Events API v2 and generic JSON integrations, most recently "
            "received first. Filters: `status`, `integration`, `service`, `severity`, `label=key=value` "
            "(repeatable), `group`, `search`; `ordering` by " + ", ".join(ORDERING_FIELDS) + "."
        ),
        tags=["alerts"],
    ),
    retrieve=extend_schema(
        description="One alert with its group (key, labels) and the incidents it is part of.",
        tags=["alerts"],
    ),
)
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AlertSerializer
    filter_backends = [FilterBackend, AlertOrdering]
    filterset_class = AlertFilter
    ordering_fields = ORDERING_FIELDS
    ordering = ["-last_seen"]

    def get_queryset(self):
        return Alert.objects.select_related("integration", "group")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "incident_signals": {}}

    def _with_incidents(self, alerts: list[Alert]) -> dict:
        """The incident signals of these alerts' groups, by group id, in one query."""
        by_group: dict[int, list[IncidentSignal]] = {}
        refs = {str(alert.group_id) for alert in alerts}
        if refs:
            signals = (
                IncidentSignal.objects.filter(kind=SignalKind.ALERT, ref__in=refs, incident__deleted_at__isnull=True)
                .select_related("incident")
                .order_by("-joined_at", "-id")
            )
            for signal in signals:
                by_group.setdefault(int(signal.ref), []).append(signal)
        return {**self.get_serializer_context(), "incident_signals": by_group}

    def list(self, request, *args, **kwargs):
        with count_memo():
            page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
            context = self._with_incidents(page)
            return self.get_paginated_response(AlertSerializer(page, many=True, context=context).data)

    def retrieve(self, request, *args, **kwargs):
        alert = self.get_object()
        return Response(AlertSerializer(alert, context=self._with_incidents([alert])).data)


router = OptionalSlashRouter()
router.register("alerts", AlertViewSet, basename="alert")
# Mounted by tracepoint/urls.py with include("incidents.intake.api") inside /api/v1/ (names v1:alert-…).
urlpatterns = router.urls
