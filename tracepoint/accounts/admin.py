from django.contrib import admin

from tracepoint.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are shown once; issue them from the profile page or the API
