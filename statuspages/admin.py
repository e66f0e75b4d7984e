from django.contrib import admin

from statuspages.models import (
    Component,
    ComponentGroup,
    Maintenance,
    PageIncident,
    PublicUpdate,
    StatusPage,
    Subscriber,
)


@admin.register(StatusPage)
class StatusPageAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "is_public", "time_zone", "updated_at")
    search_fields = ("title", "slug")
    exclude = ("password",)


@admin.register(ComponentGroup)
class ComponentGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "page", "position")
    list_filter = ("page",)


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ("name", "page", "group", "status", "status_override", "position")
    list_filter = ("page", "status")
    filter_horizontal = ("monitors",)


@admin.register(PageIncident)
class PageIncidentAdmin(admin.ModelAdmin):
    list_display = ("public_name", "page", "published_at")
    list_filter = ("page",)
    raw_id_fields = ("incident",)


@admin.register(Maintenance)
class MaintenanceAdmin(admin.ModelAdmin):
    list_display = ("title", "page", "status", "scheduled_for", "scheduled_until")
    list_filter = ("page", "status")


@admin.register(PublicUpdate)
class PublicUpdateAdmin(admin.ModelAdmin):
    list_display = ("status", "page_incident", "maintenance", "display_at")


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ("__str__", "page", "kind", "confirmed_at")
    list_filter = ("page", "kind")
    exclude = ("token",)
