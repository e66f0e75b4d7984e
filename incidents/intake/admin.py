"""Integrations in Django admin, beside their dashboard pages (/integrations/): the token is shown once,
in the message after saving a new integration or rotating its token; alerts are read-only."""

from django.contrib import admin, messages

from incidents.intake import services
from incidents.intake.models import Alert, AlertGroup, AlertPayload, Integration, IntegrationKind
from incidents.intake.pages import endpoint_urls


def _show_token(request, integration: Integration, token: str) -> None:
    urls = endpoint_urls(integration)
    if integration.kind == IntegrationKind.EVENTS_V2:
        how = f"send it as the routing_key of events posted to {urls['url']} (base URL {urls['base_url']})"
    else:
        how = f"send it as 'Authorization: Bearer <token>' to {urls['url']}"
    messages.warning(request, f"Token of {integration.name}, shown this once: {token} — {how}.")


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "service", "service_label", "is_active", "token_prefix", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "service")
    readonly_fields = ("token_prefix", "token_rotated_at", "created_at")
    actions = ["rotate_tokens"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created, token = services.create_integration(
            kind=obj.kind,
            name=obj.name,
            service=obj.service,
            service_label=obj.service_label,
            severity_mapping=obj.severity_mapping,
        )
        obj.pk = created.pk
        obj.token_prefix, obj.token_hash, obj.created_at = created.token_prefix, created.token_hash, created.created_at
        _show_token(request, created, token)

    @admin.action(description="Rotate the token (the old one stops working at once)")
    def rotate_tokens(self, request, queryset):
        for integration in queryset:
            _show_token(request, integration, services.rotate_token(integration))


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AlertGroup)
class AlertGroupAdmin(ReadOnly):
    list_display = ("integration", "status", "group_key")
    list_filter = ("status", "integration")


@admin.register(Alert)
class AlertAdmin(ReadOnly):
    list_display = ("summary", "integration", "service", "severity", "status", "starts_at", "ends_at")
    list_filter = ("status", "severity", "integration")
    search_fields = ("summary", "fingerprint")


@admin.register(AlertPayload)
class AlertPayloadAdmin(ReadOnly):
    list_display = ("integration", "received_at", "notification_reason", "truncated_alerts")
    list_filter = ("integration",)
