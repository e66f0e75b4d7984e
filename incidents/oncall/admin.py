"""On-call in Django admin: teams, schedules with their layers inline, each layer's rotation order,
overrides, escalation policies with their steps inline, and the escalations and pages that ran (read
only: they are a record). The models' ``clean()`` (run by the admin forms) holds the rules the
services hold; the steps' own rules (a target each, active users) are checked by the steps' formset."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from incidents.oncall import schedule as engine
from incidents.oncall.models import (
    MAX_POLICY_STEPS,
    ContactMethod,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerParticipant,
    NotificationRule,
    Override,
    Page,
    PageContact,
    Schedule,
    Team,
)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "service_list", "member_count")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("members",)

    @admin.display(description="Services")
    def service_list(self, team: Team) -> str:
        return ", ".join(team.services or ()) or "—"

    @admin.display(description="Members")
    def member_count(self, team: Team) -> int:
        return team.members.count()


class LayerInline(admin.TabularInline):
    model = Layer
    extra = 0
    fields = ("order", "name", "shift_count", "shift_unit", "handoff_time", "start_date", "restrictions")
    show_change_link = True  # the rotation order (participants) is edited on the layer's own page


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "time_zone", "on_call_now")
    list_filter = ("team",)
    search_fields = ("name", "team__name")
    list_select_related = ("team",)
    inlines = [LayerInline]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # Who is on call for every schedule on the page, from one batch of queries.
        now = timezone.now()
        snaps = engine.snapshots(changelist.result_list, now, now + engine.TICK)
        found = {pk: engine.on_call_at(snap, now) for pk, snap in snaps.items()}
        users = get_user_model().objects.in_bulk({uid for ids in found.values() for uid in ids})
        for schedule in changelist.result_list:
            schedule.on_call_users = [users[uid] for uid in found.get(schedule.pk, ()) if uid in users]
        return changelist

    @admin.display(description="On call now")
    def on_call_now(self, schedule: Schedule) -> str:
        on_call = getattr(schedule, "on_call_users", None)
        if on_call is None:
            ids = engine.on_call_at(schedule, timezone.now())
            on_call = list(get_user_model().objects.filter(pk__in=ids))
        return ", ".join(u.get_username() for u in on_call) or "nobody (gap)"


class LayerParticipantInline(admin.TabularInline):
    model = LayerParticipant
    extra = 1
    fields = ("position", "user")
    autocomplete_fields = ("user",)
    ordering = ("position",)


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin):
    list_display = ("name", "schedule", "order", "shift_count", "shift_unit", "handoff_time", "start_date")
    list_filter = ("schedule",)
    list_select_related = ("schedule",)
    inlines = [LayerParticipantInline]


@admin.register(Override)
class OverrideAdmin(admin.ModelAdmin):
    list_display = ("schedule", "user", "start", "end", "note", "created_by")
    list_filter = ("schedule",)
    list_select_related = ("schedule", "user", "created_by")
    date_hierarchy = "start"
    autocomplete_fields = ("user",)
    readonly_fields = ("created_by", "created_at")
    fields = ("schedule", "user", "start", "end", "note", "created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# --- contact methods and notification rules ------------------------------------------------------
# A person sets these up on their own "Contact methods" page. Here admins see them (targets only
# redacted: an apprise URL or a webhook may hold its owner's tokens), can disable one, and can send
# a test page; they cannot read or type a target.


class NotificationRuleInline(admin.TabularInline):
    model = NotificationRule
    extra = 0
    fields = ("delay_minutes",)
    readonly_fields = ("delay_minutes",)
    can_delete = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    list_display = ("label", "user", "kind", "service", "target_redacted", "enabled", "verified_at")
    list_filter = ("kind", "enabled")
    search_fields = ("label", "user__username", "user__email", "service")
    list_select_related = ("user",)
    fields = ("user", "kind", "label", "service", "target_redacted", "enabled", "verified_at", "created_at")
    readonly_fields = ("user", "kind", "service", "target_redacted", "verified_at", "created_at")
    inlines = [NotificationRuleInline]
    actions = ["send_test_page"]

    def has_add_permission(self, request) -> bool:
        return False  # the target is typed by its owner, on their Contact methods page

    @admin.action(description="Send a test page", permissions=["change"])
    def send_test_page(self, request, queryset: QuerySet[ContactMethod]) -> None:
        from incidents.oncall import contacts

        for method in queryset.select_related("user"):
            delivery = contacts.send_test_page(method.user, method, by=request.user)
            if delivery.status == delivery.Status.SUCCEEDED:
                self.message_user(request, f"Test page sent to {method}.", messages.SUCCESS)
            else:
                self.message_user(request, f"Test page to {method} failed: {delivery.last_error}", messages.ERROR)


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    list_display = ("user", "delay_text", "contact_method")
    list_select_related = ("user", "contact_method")
    search_fields = ("user__username", "contact_method__label")
    fields = ("user", "contact_method", "delay_minutes", "created_at")
    readonly_fields = ("user", "contact_method", "created_at")
    ordering = ("user__username", "delay_minutes", "id")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="When", ordering="delay_minutes")
    def delay_text(self, rule: NotificationRule) -> str:
        return rule.delay_text


# --- escalation policies, escalations and pages ---------------------------------------------------


class EscalationStepFormSet(BaseInlineFormSet):
    """The steps' rules, as ``policies`` holds them: 1 to MAX_POLICY_STEPS steps, each with a target
    (a user, a schedule or a channel), and only active users."""

    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not 1 <= len(kept) <= MAX_POLICY_STEPS:
            raise ValidationError(f"A policy has 1 to {MAX_POLICY_STEPS} steps.")
        for form in kept:
            data = form.cleaned_data
            if not (data.get("users") or data.get("schedules") or data.get("channels")):
                form.add_error(None, "Page at least one user, schedule or channel.")
            inactive = [str(user) for user in data.get("users") or () if not user.is_active]
            if inactive:
                form.add_error("users", f"Inactive users cannot be paged: {', '.join(inactive)}.")


class EscalationStepInline(admin.StackedInline):
    model = EscalationStep
    formset = EscalationStepFormSet
    extra = 0
    min_num = 1
    fields = ("position", "schedules", "users", "channels", "delay_minutes")
    autocomplete_fields = ("schedules", "users", "channels")
    ordering = ("position",)


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "service_list", "is_default", "step_count", "repeat")
    list_filter = ("team",)
    search_fields = ("name", "team__name")
    list_select_related = ("team",)
    fields = ("team", "name", "description", "services", "repeat")
    inlines = [EscalationStepInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_total=Count("steps"))

    @admin.display(description="Services")
    def service_list(self, policy: EscalationPolicy) -> str:
        return ", ".join(policy.services or ()) or "—"

    @admin.display(description="Team default", boolean=True)
    def is_default(self, policy: EscalationPolicy) -> bool:
        return policy.team.default_policy_id == policy.pk

    @admin.display(description="Steps", ordering="step_total")
    def step_count(self, policy: EscalationPolicy) -> int:
        return policy.step_total


class _ReadOnly:
    """Escalations and pages are a record of what happened: readable, never edited here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PageInline(_ReadOnly, admin.TabularInline):
    model = Page
    extra = 0
    fields = ("user", "round", "step_index", "schedule", "status", "created_at", "delivered_via", "acknowledged_at")
    show_change_link = True
    ordering = ("created_at", "id")


@admin.register(Escalation)
class EscalationAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("incident", "name", "state", "round", "step_number", "next_step_at", "started_at", "ended_at")
    list_filter = ("state",)
    search_fields = ("incident__id", "incident__title", "name")
    list_select_related = ("incident",)
    date_hierarchy = "started_at"
    inlines = [PageInline]

    @admin.display(description="Step", ordering="step_index")
    def step_number(self, escalation: Escalation) -> str:
        return "—" if escalation.step_index < 0 else str(escalation.step_index + 1)


class PageContactInline(_ReadOnly, admin.TabularInline):
    model = PageContact
    extra = 0
    fields = ("position", "label", "kind", "delay_minutes", "due_at", "status", "sent_at", "finished_at", "error")
    ordering = ("position",)


@admin.register(Page)
class PageAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = (
        "incident",
        "user",
        "step_number",
        "round",
        "status",
        "created_at",
        "delivered_via",
        "acknowledged_at",
    )
    list_filter = ("status",)
    search_fields = ("incident__id", "incident__title", "user__username")
    list_select_related = ("incident", "user")
    date_hierarchy = "created_at"
    inlines = [PageContactInline]

    @admin.display(description="Step", ordering="step_index")
    def step_number(self, page: Page) -> int:
        return page.step_index + 1
