"""Django admin for projects and keys, events (read-only) and issues (status changes go through services)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from events import keys, lifecycle
from events.models import AlertRule, Event, Issue, IssueActivity, IssueIncident, IssueStatus, Project, ProjectKey


class ProjectKeyInline(admin.TabularInline):
    model = ProjectKey
    extra = 0
    fields = ["label", "public_key", "is_active", "created_at", "revoked_at"]
    readonly_fields = ["public_key", "created_at", "revoked_at"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    readonly_fields = ["created_at"]
    inlines = [ProjectKeyInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        keys.forget_keys()
        if not change and not obj.keys.exists():
            keys.rotate_key(obj, label="Default")

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        keys.forget_keys()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        keys.forget_keys()

    def save_formset(self, request, form, formset, change):
        # Keep revoked_at true to is_active: unticking revokes now, re-ticking clears it.
        for key_form in formset.forms:
            key = key_form.instance
            if key.pk and "is_active" in key_form.changed_data:
                key.revoked_at = None if key.is_active else timezone.now()
        super().save_formset(request, form, formset, change)
        keys.forget_keys()


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "event_type", "project", "service", "level", "timestamp", "issue", "digested_at"]
    list_filter = ["event_type", "level", "project", "service"]
    search_fields = ["event_id", "message"]
    date_hierarchy = "timestamp"
    list_select_related = ["project", "issue"]
    show_full_result_count = False  # events grow large: skip the COUNT(*) of the whole table

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class IssueActivityInline(admin.TabularInline):
    model = IssueActivity
    extra = 0
    fields = ["kind", "actor", "event", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "event")


@admin.register(Issue)
class IssueAdmin(admin.ModelAdmin):
    list_display = ["title", "project", "service", "status", "level", "event_count", "user_count", "last_seen"]
    list_filter = ["status", "level", "project"]
    search_fields = ["title", "culprit"]
    list_select_related = ["project"]
    readonly_fields = [
        "project",
        "service",
        "status",
        "first_seen",
        "last_seen",
        "event_count",
        "user_count",
        "regression_count",
        "resolved_at",
        "resolved_by",
        "resolved_by_deploy",
        "first_release",
        "last_release",
    ]
    inlines = [IssueActivityInline]
    actions = ["resolve", "ignore", "unresolve"]

    def has_add_permission(self, request) -> bool:
        return False

    def _set_status(self, request, queryset, status: str) -> None:
        for issue_id in queryset.values_list("pk", flat=True):
            lifecycle.set_issue_status(issue_id, status=status, by=request.user)
        self.message_user(request, f"{queryset.count()} issue(s) now {status}.", messages.SUCCESS)

    @admin.action(description="Resolve selected issues")
    def resolve(self, request, queryset):
        self._set_status(request, queryset, IssueStatus.RESOLVED)

    @admin.action(description="Ignore selected issues")
    def ignore(self, request, queryset):
        self._set_status(request, queryset, IssueStatus.IGNORED)

    @admin.action(description="Unresolve selected issues")
    def unresolve(self, request, queryset):
        self._set_status(request, queryset, IssueStatus.UNRESOLVED)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "enabled", "cooldown_minutes", "open_incident"]
    list_filter = ["kind", "enabled", "project"]
    search_fields = ["name"]
    filter_horizontal = ["channels"]


@admin.register(IssueIncident)
class IssueIncidentAdmin(admin.ModelAdmin):
    list_display = ["issue", "incident", "rule", "resolve_issue_with_incident", "created_at"]
    raw_id_fields = ["issue", "incident", "rule"]
