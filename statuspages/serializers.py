"""Operator API shapes for status pages. Public ids (12 characters) are the ids here too."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from incidents.models import Incident
from monitors.models import Monitor
from statuspages import services, setup
from statuspages.models import (
    Component,
    ComponentGroup,
    ComponentStatus,
    Impact,
    Maintenance,
    PageIncident,
    PublicStatus,
    PublicUpdate,
    StatusPage,
    Subscriber,
)

MAX_FOOTER_LINKS = 10


class FooterLinkSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=50)
    url = serializers.URLField(max_length=500)

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("https://", "http://", "mailto:")):
            raise serializers.ValidationError("Use an http(s) or mailto link.")
        return value


class StatusPageSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=128)
    has_password = serializers.SerializerMethodField()
    footer_links = FooterLinkSerializer(many=True, required=False)
    url = serializers.SerializerMethodField()
    logo = serializers.SerializerMethodField(help_text="The uploaded logo's address (uploads: the dashboard).")

    class Meta:
        model = StatusPage
        fields = [
            "id", "slug", "title", "description", "logo", "logo_url", "time_zone", "is_public", "password",
            "has_password", "footer_links", "url", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def validate_footer_links(self, value):
        if len(value) > MAX_FOOTER_LINKS:
            raise serializers.ValidationError(f"At most {MAX_FOOTER_LINKS} links.")
        return value

    def validate_slug(self, value: str) -> str:
        if value in setup.RESERVED_SLUGS:
            raise serializers.ValidationError("This address is taken by the dashboard; choose another.")
        return value

    def get_logo(self, page: StatusPage) -> str | None:
        if not page.logo:
            return None
        path = reverse("statuspages-public:logo", args=[page.slug, page.logo_token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_has_password(self, page: StatusPage) -> bool:
        return bool(page.password)

    def get_url(self, page: StatusPage) -> str:
        request = self.context.get("request")
        path = f"/status/{page.slug}/"
        return request.build_absolute_uri(path) if request else path


class ComponentGroupSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)

    class Meta:
        model = ComponentGroup
        fields = ["id", "name", "description", "position", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class ComponentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    group = serializers.SlugRelatedField(
        slug_field="public_id", queryset=ComponentGroup.objects.all(), required=False, allow_null=True
    )
    monitors = serializers.PrimaryKeyRelatedField(many=True, queryset=Monitor.objects.all(), required=False)
    status_override = serializers.ChoiceField(choices=[("", "none"), *ComponentStatus.choices], required=False)

    class Meta:
        model = Component
        fields = [
            "id", "name", "description", "group", "position", "status", "status_override", "monitors", "showcase",
            "only_show_if_degraded", "start_date", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["status", "created_at", "updated_at"]

    def validate_group(self, group):
        page = self.context["page"]
        if group is not None and group.page_id != page.pk:
            raise serializers.ValidationError("That group is on another page.")
        return group


class ComponentStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[("", "follow the monitors"), *ComponentStatus.choices], allow_blank=True)


class PublicUpdateSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = PublicUpdate
        fields = ["id", "status", "body", "display_at", "affected_components", "author", "created_at"]
        read_only_fields = fields


class PageIncidentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    incident = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.alive())
    name = serializers.CharField(source="public_name", read_only=True)
    status = serializers.SerializerMethodField()
    impact = serializers.CharField(read_only=True)
    components = serializers.SlugRelatedField(slug_field="public_id", many=True, read_only=True)
    updates = PublicUpdateSerializer(many=True, read_only=True)

    class Meta:
        model = PageIncident
        fields = ["id", "incident", "name", "status", "impact", "components", "published_at", "updates"]
        read_only_fields = ["published_at"]

    def get_status(self, link: PageIncident) -> str:
        return services.public_status(link.incident)


class PublishSerializer(serializers.Serializer):
    incident = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.alive())
    components = serializers.ListField(child=serializers.CharField(max_length=12), required=False, max_length=200)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    impact = serializers.ChoiceField(choices=Impact.choices, required=False, allow_blank=True)
    body = serializers.CharField(max_length=10_000, required=False, allow_blank=True)

    def validate_components(self, ids):
        found = list(Component.objects.filter(page=self.context["page"], public_id__in=ids))
        missing = sorted(set(ids) - {c.public_id for c in found})
        if missing:
            raise serializers.ValidationError(f"Not components of this page: {', '.join(missing)}.")
        return found


class PostUpdateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)
    status = serializers.ChoiceField(choices=PublicStatus.choices, required=False, allow_blank=True)
    display_at = serializers.DateTimeField(required=False)


class MaintenanceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    components = serializers.SlugRelatedField(
        slug_field="public_id", many=True, queryset=Component.objects.all(), required=False
    )
    updates = PublicUpdateSerializer(many=True, read_only=True)

    class Meta:
        model = Maintenance
        fields = [
            "id", "title", "message", "components", "scheduled_for", "scheduled_until", "status", "started_at",
            "completed_at", "updates", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["status", "started_at", "completed_at", "created_at", "updated_at"]

    def validate_components(self, components):
        page = self.context["page"]
        if any(c.page_id != page.pk for c in components):
            raise serializers.ValidationError("Components must be on this page.")
        return components

    def validate(self, attrs):
        start = attrs.get("scheduled_for", getattr(self.instance, "scheduled_for", None))
        end = attrs.get("scheduled_until", getattr(self.instance, "scheduled_until", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"scheduled_until": ["Must be after scheduled_for."]})
        if self.instance is None and end and end <= timezone.now():
            raise serializers.ValidationError({"scheduled_until": ["Must be in the future."]})
        return attrs


class SubscriberSerializer(serializers.ModelSerializer):
    components = serializers.SlugRelatedField(
        slug_field="public_id", many=True, queryset=Component.objects.all(), required=False
    )

    class Meta:
        model = Subscriber
        fields = ["id", "kind", "email", "url", "components", "confirmed_at", "created_at"]
        read_only_fields = ["confirmed_at", "created_at"]

    def validate(self, attrs):
        kind = attrs.get("kind")
        if kind == Subscriber.Kind.EMAIL and not attrs.get("email"):
            raise serializers.ValidationError({"email": ["An email subscriber needs an address."]})
        if kind == Subscriber.Kind.WEBHOOK and not attrs.get("url"):
            raise serializers.ValidationError({"url": ["A webhook subscriber needs a URL."]})
        if any(c.page_id != self.context["page"].pk for c in attrs.get("components", [])):
            raise serializers.ValidationError({"components": ["Components must be on this page."]})
        return attrs


class TimelineQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=90, default=30)
