from django.contrib import admin
from django.db import models

from statuspages import public, services, subscribers
from statuspages.models import (
    Component,
    ComponentGroup,
    Maintenance,
    PageIncident,
    PublicUpdate,
    StatusPage,
    Subscriber,
)


class ShowsOnPage:
    """Edits made here show on the public page at once: the same recomputation as the dashboard and API."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def page_id_of(self, obj):
        return obj.page_id

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.changed(self.page_id_of(form.instance), component_ids=self.components_of(form.instance))

    def delete_model(self, request, obj):
        page_id = self.page_id_of(obj)
        super().delete_model(request, obj)
        services.changed(page_id)

    def delete_queryset(self, request, queryset):
        page_ids = {self.page_id_of(obj) for obj in queryset}
        super().delete_queryset(request, queryset)
        for page_id in page_ids:
            services.changed(page_id)

    def components_of(self, obj) -> list[int]:
        return []


@admin.register(StatusPage)
class StatusPageAdmin(ShowsOnPage, admin.ModelAdmin):
    list_display = ("title", "slug", "is_public", "time_zone", "updated_at")
    search_fields = ("title", "slug")
    exclude = ("password", "version")

    def page_id_of(self, obj):
        return obj.pk

    def save_model(self, request, obj, form, change):
        old_slug = StatusPage.objects.filter(pk=obj.pk).values_list("slug", flat=True).first() if obj.pk else None
        super().save_model(request, obj, form, change)
        if old_slug and old_slug != obj.slug:
            public.forget_slug(old_slug)

    def delete_model(self, request, obj):
        slug = obj.slug
        super().delete_model(request, obj)
        services.changed(None)
        public.forget_slug(slug)

    def delete_queryset(self, request, queryset):
        slugs = list(queryset.values_list("slug", flat=True))
        super().delete_queryset(request, queryset)
        services.changed(None)
        for slug in slugs:
            public.forget_slug(slug)


@admin.register(ComponentGroup)
class ComponentGroupAdmin(ShowsOnPage, admin.ModelAdmin):
    list_display = ("name", "page", "position")
    list_filter = ("page",)


@admin.register(Component)
class ComponentAdmin(ShowsOnPage, admin.ModelAdmin):
    def components_of(self, obj) -> list[int]:
        return [obj.pk]

    list_display = ("name", "page", "group", "status", "status_override", "position")
    list_filter = ("page", "status")
    filter_horizontal = ("monitors",)


@admin.register(PageIncident)
class PageIncidentAdmin(ShowsOnPage, admin.ModelAdmin):
    list_display = ("public_name", "page", "published_at")
    list_filter = ("page",)
    raw_id_fields = ("incident",)


@admin.register(Maintenance)
class MaintenanceAdmin(ShowsOnPage, admin.ModelAdmin):
    list_display = ("title", "page", "status", "scheduled_for", "scheduled_until")
    list_filter = ("page", "status")


@admin.register(PublicUpdate)
class PublicUpdateAdmin(ShowsOnPage, admin.ModelAdmin):
    def page_id_of(self, obj):
        return obj.page_incident.page_id if obj.page_incident_id else obj.maintenance.page_id

    list_display = ("status", "page_incident", "maintenance", "display_at")


@admin.register(Subscriber)
class SubscriberAdmin(ShowsOnPage, admin.ModelAdmin):
    list_display = ("__str__", "page", "kind", "confirmed_at")
    list_filter = ("page", "kind")
    exclude = ("token",)

    # Removing a subscriber withdraws the news not yet sent to it (statuspages.subscribers).
    def delete_model(self, request, obj):
        subscribers.remove_subscribers(Subscriber.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        subscribers.remove_subscribers(queryset)
