from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html

from tracepoint.notifications import services
from tracepoint.notifications.forms import NotificationChannelForm
from tracepoint.notifications.models import Delivery, NotificationChannel


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    form = NotificationChannelForm
    list_display = ["name", "kind", "enabled", "target", "topic_list", "min_severity", "created_at", "deliveries"]
    list_filter = ["kind", "enabled", "min_severity"]
    search_fields = ["name", "email_recipients", "webhook_url"]
    readonly_fields = ["created_at", "apprise_url_redacted"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled"]}),
        ("Email", {"fields": ["email_recipients"]}),
        (
            "Webhook",
            {
                "fields": ["webhook_url", "webhook_secret"],
                "description": "Receivers check the X-Tracepoint-Signature header "
                "(sha256=HMAC-SHA256 of the request body, keyed with this secret).",
            },
        ),
        (
            "Apprise (Slack, Teams, Discord, Telegram, ntfy …)",
            {
                "fields": ["apprise_url_redacted", "apprise_url"],
                "description": "The URL holds the service's secrets: it is only shown redacted, and "
                "left empty when editing, the current one is kept.",
            },
        ),
        ("Routing", {"fields": ["topics", "min_severity"]}),
        (None, {"fields": ["created_at"]}),
    ]
    actions = ["send_test_notification"]

    @admin.display(description="current URL (redacted)")
    def apprise_url_redacted(self, channel: NotificationChannel) -> str:
        return channel.apprise_url_redacted or "—"

    @admin.display(description="topics")
    def topic_list(self, channel: NotificationChannel) -> str:
        return ", ".join(channel.topics) if channel.topics else "all"

    @admin.display(description="deliveries")
    def deliveries(self, channel: NotificationChannel) -> str:
        url = reverse("admin:notifications_delivery_changelist") + f"?channel__id__exact={channel.pk}"
        return format_html('<a href="{}">Deliveries</a>', url)

    @admin.action(description="Send a test notification", permissions=["change"])
    def send_test_notification(self, request, queryset: QuerySet[NotificationChannel]) -> None:
        channels = list(queryset)
        for channel in channels:
            services.send_test_notification(channel, by=request.user)
        self.message_user(
            request,
            f"Queued a test notification to {len(channels)} channel(s); see Deliveries for the outcome.",
            messages.SUCCESS,
        )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "target", "topic", "status", "attempts", "response_code", "created_at", "delivered_at"]
    list_filter = ["status", "channel__kind", "kind", "topic", "channel", "created_at"]
    search_fields = ["subject", "topic", "channel__name", "recipient", "last_error"]
    list_select_related = ["channel"]
    date_hierarchy = "created_at"
    fields = [
        "channel",
        "kind",
        "recipient",
        "source",
        "topic",
        "severity",
        "subject",
        "status",
        "attempts",
        "response_code",
        "last_error",
        "created_at",
        "updated_at",
        "delivered_at",
        "next_attempt_at",
        "payload_json",
        "body_text",
        "body_html",
    ]
    readonly_fields = fields
    actions = ["retry_now"]

    @admin.display(description="to", ordering="channel__name")
    def target(self, delivery: Delivery) -> str:
        """The channel, or for a direct delivery (a status page subscriber) its address or URL."""
        return str(delivery.channel) if delivery.channel_id else delivery.recipient

    @admin.display(description="payload")
    def payload_json(self, delivery: Delivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(delivery.payload, indent=2, sort_keys=True))

    def has_add_permission(self, request) -> bool:
        return False  # deliveries come from notifications, never typed in

    def has_change_permission(self, request, obj: Delivery | None = None) -> bool:
        # Rows are a record: the change page is view-only. Changelist actions
        # (obj is None) still need the change permission.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Retry failed deliveries now", permissions=["change"])
    def retry_now(self, request, queryset: QuerySet[Delivery]) -> None:
        selected = list(queryset)
        retried = services.retry_deliveries(selected)
        skipped = len(selected) - retried
        message = f"Queued {retried} failed delivery(ies) again."
        if skipped:
            message += f" Skipped {skipped} that had not failed."
        self.message_user(request, message, messages.SUCCESS if retried else messages.WARNING)
