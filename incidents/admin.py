from django.contrib import admin, messages

from incidents import services
from incidents.models import IdempotencyKey, Incident, TimelineEntry


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "actor_name", "field", "from_value", "to_value", "body"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="actor")
    def actor_name(self, entry: TimelineEntry) -> str:
        return entry.actor_name


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Not deleted"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["title", "service", "severity", "status", "owner", "created_at", "resolved_at", "deleted_at"]
    list_filter = ["status", "severity", DeletedFilter, "service", "created_at"]
    search_fields = ["title", "summary", "service", "=id"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    inlines = [TimelineInline]
    actions = ["resolve_selected"]
    # Status, timestamps and deletion change only through the domain services
    # (the API, the pages, the bulk action below), so the timeline stays true.
    readonly_fields = [
        "id",
        "status",
        "created_by",
        "created_at",
        "updated_at",
        "acknowledged_at",
        "acknowledged_by",
        "mitigated_at",
        "mitigated_by",
        "resolved_at",
        "resolved_by",
        "deleted_at",
        "deleted_by",
    ]
    fieldsets = [
        (None, {"fields": ["id", "title", "service", "severity", "status", "owner", "summary"]}),
        (
            "Lifecycle",
            {
                "fields": [
                    ("created_at", "created_by"),
                    "updated_at",
                    ("acknowledged_at", "acknowledged_by"),
                    ("mitigated_at", "mitigated_by"),
                    ("resolved_at", "resolved_by"),
                    ("deleted_at", "deleted_by"),
                ]
            },
        ),
    ]

    def has_add_permission(self, request) -> bool:
        return False  # create incidents from the dashboard or the API: they write the timeline

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deletion is soft and goes through the API or the dashboard

    def save_model(self, request, obj, form, change):
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in services.EDITABLE_FIELDS}
        if changes:
            services.update_incident(obj.pk, changes=changes, by=request.user)

    @admin.action(description="Resolve selected incidents (through the state machine)")
    def resolve_selected(self, request, queryset):
        resolved, skipped = services.resolve_incidents(
            list(queryset.filter(deleted_at__isnull=True).values_list("pk", flat=True)), by=request.user
        )
        self.message_user(request, f"Resolved {resolved} incident(s).", messages.SUCCESS)
        for problem in skipped:
            self.message_user(request, problem, messages.WARNING)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "user", "incident", "created_at", "expires_at"]
    search_fields = ["key", "user__username"]
    readonly_fields = ["user", "key", "request_hash", "incident", "created_at", "expires_at"]

    def has_add_permission(self, request) -> bool:
        return False
