"""``/api/v1/status-pages``: pages (admins set up), their groups and components, published incidents and
their public updates (responders), maintenance windows (responders), and the daily timeline."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from statuspages import services, setup, subscribers
from statuspages import snapshot as snapshots
from statuspages.models import Component, ComponentGroup, Maintenance, PageIncident, StatusPage, Subscriber
from statuspages.serializers import (
    ComponentGroupSerializer,
    ComponentSerializer,
    ComponentStatusSerializer,
    MaintenanceSerializer,
    PageIncidentSerializer,
    PostUpdateSerializer,
    PublicUpdateSerializer,
    PublishSerializer,
    StatusPageSerializer,
    SubscriberSerializer,
    TimelineQuerySerializer,
)
from tracepoint.accounts.permissions import IsAdmin, IsAdminOrReadOnly, IsResponderOrReadOnly
from tracepoint.accounts.roles import RESPONDER, has_role
from tracepoint.api.filters import StrictOrderingFilter
from tracepoint.api.routers import OptionalSlashRouter

SLUG = r"(?P<slug>[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?)"
PUBLIC_ID = "[a-z0-9]{12}"


class StatusPageViewSet(viewsets.ModelViewSet):
    """Viewers read; admins set pages up. ``{slug}/timeline?days=N``: daily status per component."""

    serializer_class = StatusPageSerializer
    permission_classes = [IsAdminOrReadOnly]
    lookup_field = "slug"
    lookup_value_regex = SLUG[len("(?P<slug>") : -1]
    filter_backends = [StrictOrderingFilter]
    ordering_fields = ["title", "slug", "created_at", "updated_at"]
    ordering = ["title"]
    queryset = StatusPage.objects.all()

    def perform_create(self, serializer):
        password = serializer.validated_data.pop("password", None)
        serializer.instance = setup.save_page(StatusPage(**serializer.validated_data), password=password)

    def perform_update(self, serializer):
        password = serializer.validated_data.pop("password", None)
        page = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(page, name, value)
        setup.save_page(page, password=password)

    def perform_destroy(self, instance):
        setup.delete_page(instance)

    @extend_schema(parameters=[TimelineQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def timeline(self, request, slug=None):
        page = self.get_object()
        query = TimelineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(snapshots.timeline(page, days=query.validated_data["days"]))


class _OnePage:
    """Nested under ``status-pages/{slug}/``: the page comes from the URL."""

    lookup_field = "public_id"
    lookup_value_regex = PUBLIC_ID

    def get_page(self) -> StatusPage:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the view without a URL
            return StatusPage()
        if not hasattr(self, "_page"):
            self._page = get_object_or_404(StatusPage, slug=self.kwargs["slug"])
        return self._page

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.get_page()  # 404 for an unknown page, lists included

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "page": self.get_page()}


class ComponentGroupViewSet(_OnePage, viewsets.ModelViewSet):
    serializer_class = ComponentGroupSerializer
    permission_classes = [IsAdminOrReadOnly]

    def get_queryset(self):
        return ComponentGroup.objects.filter(page__slug=self.kwargs.get("slug")).order_by("position", "id")

    def perform_create(self, serializer):
        serializer.instance = setup.save_group(ComponentGroup(page=self.get_page(), **serializer.validated_data))

    def perform_update(self, serializer):
        serializer.instance = setup.save_group(_assigned(serializer.instance, serializer.validated_data))

    def perform_destroy(self, instance):
        setup.delete_group(instance)


class ComponentViewSet(_OnePage, viewsets.ModelViewSet):
    """Admins add and edit components; responders set a status by hand (``POST …/{id}/status``)."""

    serializer_class = ComponentSerializer
    permission_classes = [IsAdminOrReadOnly]

    def get_queryset(self):
        return (
            Component.objects.filter(page__slug=self.kwargs.get("slug"))
            .prefetch_related("monitors")
            .order_by("position", "id")
        )

    def get_permissions(self):
        if self.action == "set_status":
            return [IsResponderOrReadOnly()]
        return super().get_permissions()

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        monitors = data.pop("monitors", None)
        serializer.instance = setup.save_component(Component(page=self.get_page(), **data), monitors=monitors)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        monitors = data.pop("monitors", None)
        serializer.instance = setup.save_component(_assigned(serializer.instance, data), monitors=monitors)

    def perform_destroy(self, instance):
        setup.delete_component(instance)

    @extend_schema(request=ComponentStatusSerializer, responses={200: ComponentSerializer})
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, slug=None, public_id=None):
        component = self.get_object()
        body = ComponentStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        component = services.set_override(component, body.validated_data["status"])
        return Response(ComponentSerializer(component, context=self.get_serializer_context()).data)


class PageIncidentViewSet(_OnePage, viewsets.ReadOnlyModelViewSet):
    """Incidents linked to the page (published or waiting); responders publish and post public updates."""

    serializer_class = PageIncidentSerializer
    permission_classes = [IsResponderOrReadOnly]

    def get_queryset(self):
        return (
            PageIncident.objects.filter(page__slug=self.kwargs.get("slug"))
            .select_related("incident")
            .prefetch_related("components", "updates__author")
        )

    @extend_schema(request=PublishSerializer, responses={201: PageIncidentSerializer})
    def create(self, request, slug=None):
        """Publish an operator incident on this page (again: updates its name, impact, components)."""
        body = PublishSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        link = services.publish_incident(
            self.get_page(),
            data["incident"],
            components=data.get("components", []),
            body=data.get("body", ""),
            name=data.get("name", ""),
            impact=data.get("impact", ""),
            by=request.user,
        )
        link = self.get_queryset().get(pk=link.pk)
        return Response(self.get_serializer(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PostUpdateSerializer, responses={201: PublicUpdateSerializer})
    @action(detail=True, methods=["post"])
    def updates(self, request, slug=None, public_id=None):
        """A public update; a ``status`` moves the operator incident forward to match."""
        link = self.get_object()
        body = PostUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        update = services.post_update(
            link,
            body=body.validated_data["body"],
            status=body.validated_data.get("status", ""),
            display_at=body.validated_data.get("display_at"),
            by=request.user,
        )
        return Response(PublicUpdateSerializer(update).data, status=status.HTTP_201_CREATED)


class MaintenanceViewSet(_OnePage, viewsets.ModelViewSet):
    """Responders schedule windows; beat moves them along. ``POST …/{id}/complete`` ends one early."""

    serializer_class = MaintenanceSerializer
    permission_classes = [IsResponderOrReadOnly]

    def get_queryset(self):
        return Maintenance.objects.filter(page__slug=self.kwargs.get("slug")).prefetch_related("components", "updates")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        components = data.pop("components", None)
        window = Maintenance(page=self.get_page(), created_by=request_user(self.request), **data)
        serializer.instance = setup.save_maintenance(window, components=components)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        components = data.pop("components", None)
        serializer.instance = setup.save_maintenance(_assigned(serializer.instance, data), components=components)

    def perform_destroy(self, instance):
        setup.delete_maintenance(instance, by=self.request.user)

    @extend_schema(request=None, responses={200: MaintenanceSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, slug=None, public_id=None):
        window = services.finish_maintenance(self.get_object(), by=request.user)
        return Response(self.get_serializer(window).data)


class SubscriberViewSet(
    _OnePage, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Admins only (addresses are personal data). An email subscriber added here still confirms by mail;
    a webhook subscriber is active at once."""

    serializer_class = SubscriberSerializer
    permission_classes = [IsAdmin]
    lookup_field = "pk"
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return Subscriber.objects.filter(page__slug=self.kwargs.get("slug")).prefetch_related("components")

    def create(self, request, slug=None):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        page, components = self.get_page(), data.get("components", [])
        if data["kind"] == Subscriber.Kind.EMAIL:
            subscriber = subscribers.subscribe_email(page, data["email"], components=components)
        else:
            subscriber = subscribers.subscribe_webhook(page, data["url"], components=components)
        return Response(self.get_serializer(subscriber).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        subscribers.remove_subscribers(Subscriber.objects.filter(pk=instance.pk))


def _assigned(instance, data: dict):
    """The serializer's validated fields set on the instance (the service saves it)."""
    for name, value in data.items():
        setattr(instance, name, value)
    return instance


def request_user(request):
    return request.user if has_role(request.user, RESPONDER) else None


router = OptionalSlashRouter()
router.register(r"status-pages", StatusPageViewSet, basename="status-page")
router.register(rf"status-pages/{SLUG}/groups", ComponentGroupViewSet, basename="status-page-group")
router.register(rf"status-pages/{SLUG}/components", ComponentViewSet, basename="status-page-component")
router.register(rf"status-pages/{SLUG}/incidents", PageIncidentViewSet, basename="status-page-incident")
router.register(rf"status-pages/{SLUG}/maintenances", MaintenanceViewSet, basename="status-page-maintenance")
router.register(rf"status-pages/{SLUG}/subscribers", SubscriberViewSet, basename="status-page-subscriber")
