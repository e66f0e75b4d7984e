from django.contrib import admin
from django.db import models

from statuspages import setup, subscribers
from statuspages.models import (
    Component,
    ComponentGroup,
    Maintenance,
    PageIncident,
    PublicUpdate,
    StatusPage,
    Subscriber,
)


class HttpsUrls:
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class ShowsOnPage(HttpsUrls):
    """Edits made here show on the public page at once: they go through the same services as the dashboard
    and the API (``save_service(obj, **many_to_many)`` and ``delete_service(obj)``)."""

    many_to_many: tuple[str, ...] = ()

    def save_model(self, request, obj, form, change):
        related = {name: form.cleaned_data[name] for name in self.many_to_many if name in form.cleaned_data}
        self.save_service(obj, **related)

    def delete_model(self, request, obj):
        self.delete_service(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_service(obj)


@admin.register(StatusPage)
class StatusPageAdmin(ShowsOnPage, admin.ModelAdmin):
    save_service = staticmethod(setup.save_page)
    delete_service = staticmethod(setup.delete_page)
    list_display = ("title", "slug", "is_public", "time_zone", "updated_at")
    search_fields = ("title", "slug")
    exclude = ("password", "version")

    def delete_queryset(self, request, queryset):
        setup.delete_pages(queryset)


@admin.register(ComponentGroup)
class ComponentGroupAdmin(ShowsOnPage, admin.ModelAdmin):
    save_service = staticmethod(setup.save_group)
    delete_service = staticmethod(setup.delete_group)
    list_display = ("name", "page", "position")
    list_filter = ("page",)


@admin.register(Component)
class ComponentAdmin(ShowsOnPage, admin.ModelAdmin):
    save_service = staticmethod(setup.save_component)
    delete_service = staticmethod(setup.delete_component)
    many_to_many = ("monitors",)
    list_display = ("name", "page", "group", "status", "status_override", "position")
    list_filter = ("page", "status")
    filter_horizontal = ("monitors",)


@admin.register(PageIncident)
class PageIncidentAdmin(ShowsOnPage, admin.ModelAdmin):
    save_service = staticmethod(setup.save_page_incident)
    delete_service = staticmethod(setup.delete_page_incident)
    many_to_many = ("components",)
    list_display = ("public_name", "page", "published_at")
    list_filter = ("page",)
    raw_id_fields = ("incident",)


@admin.register(Maintenance)
class MaintenanceAdmin(ShowsOnPage, admin.ModelAdmin):
    save_service = staticmethod(setup.save_maintenance)
    delete_service = staticmethod(setup.delete_maintenance)
    many_to_many = ("components",)
    list_display = ("title", "page", "status", "scheduled_for", "scheduled_until")
    list_filter = ("page", "status")


@admin.register(PublicUpdate)
class PublicUpdateAdmin(ShowsOnPage, admin.ModelAdmin):
    save_service = staticmethod(setup.save_public_update)
    delete_service = staticmethod(setup.delete_public_update)
    list_display = ("status", "page_incident", "maintenance", "display_at")


@admin.register(Subscriber)
class SubscriberAdmin(HttpsUrls, admin.ModelAdmin):
    list_display = ("__str__", "page", "kind", "confirmed_at")
    list_filter = ("page", "kind")
    exclude = ("token",)

    # Removing a subscriber withdraws the news not yet sent to it (statuspages.subscribers).
    def delete_model(self, request, obj):
        subscribers.remove_subscribers(Subscriber.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        subscribers.remove_subscribers(queryset)
