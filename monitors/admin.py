# Admin registrations for this app's models live here.
from django.contrib import admin
from django.db.models import Count

from monitors.models import ProbeLocation


@admin.register(ProbeLocation)
class ProbeLocationAdmin(admin.ModelAdmin):
    """Locations register themselves when a probe worker starts (monitors/locations.py); here an admin
    names them for people (``label``) or deletes one that is gone for good."""

    list_display = ["name", "label", "last_seen_at", "monitor_count", "created_at"]
    search_fields = ["name", "label"]
    readonly_fields = ["last_seen_at", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(monitor_count=Count("monitors"))

    @admin.display(description="monitors", ordering="monitor_count")
    def monitor_count(self, obj: ProbeLocation) -> int:
        return obj.monitor_count
