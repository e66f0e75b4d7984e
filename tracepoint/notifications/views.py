"""The channels dashboard: list (with each channel's last delivery), add and edit per kind,
enable/disable, delete, and "Send test", which sends at once and shows the outcome in the page.

Everyone with a role reads the list, with targets that hold no secret (an apprise channel shows
its service, a webhook its host); admins see the redacted targets and change channels.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from tracepoint.accounts.roles import ADMIN, has_role, role_required
from tracepoint.notifications import delivery as sending
from tracepoint.notifications import services
from tracepoint.notifications.forms import ChannelForm
from tracepoint.notifications.models import Delivery, NotificationChannel

KIND_DESCRIPTIONS = {
    NotificationChannel.Kind.EMAIL: "Mail to a list of addresses, with the full message and its links.",
    NotificationChannel.Kind.WEBHOOK: "A signed JSON POST to your own endpoint (X-Tracepoint-Signature).",
    NotificationChannel.Kind.APPRISE: "Slack, Microsoft Teams, Discord, Telegram, Mattermost, Matrix, ntfy, Gotify, "
    "Pushover, Opsgenie, PagerDuty and 100+ more services through one apprise URL.",
}


def _channels():
    last = Delivery.objects.filter(channel=OuterRef("pk")).order_by("-created_at", "-id")
    return NotificationChannel.objects.annotate(
        last_status=Subquery(last.values("status")[:1]),
        last_error=Subquery(last.values("last_error")[:1]),
        last_at=Subquery(last.values("updated_at")[:1]),
    ).order_by("name", "id")


def _row(request: HttpRequest, channel_id: int, **context) -> HttpResponse:
    channel = get_object_or_404(_channels(), pk=channel_id)
    context = {"channel": channel, "is_admin": has_role(request.user, ADMIN), **context}
    return render(request, "notifications/channel_list.html#row", context)


@role_required("viewer")
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "notifications/channel_list.html",
        {"channels": list(_channels()), "is_admin": has_role(request.user, ADMIN)},
    )


@role_required("admin")
def create(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind") or request.GET.get("kind")
    if kind not in NotificationChannel.Kind.values:
        # Step one: the kind, which decides the fields of the form.
        kinds = [(value, label, KIND_DESCRIPTIONS[value]) for value, label in NotificationChannel.Kind.choices]
        return render(request, "notifications/channel_kind.html", {"kinds": kinds})
    form = ChannelForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        channel = form.save()
        messages.success(request, f"Channel “{channel.name}” added. Send it a test to check it works.")
        return redirect("channels:index")
    status = 400 if request.method == "POST" else 200
    return render(request, "notifications/channel_form.html", {"form": form, "kind": kind}, status=status)


@role_required("admin")
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(NotificationChannel, pk=pk)
    form = ChannelForm(request.POST or None, instance=channel, kind=channel.kind)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Channel “{channel.name}” saved.")
        return redirect("channels:index")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "kind": channel.kind, "channel": channel}
    return render(request, "notifications/channel_form.html", context, status=status)


@role_required("admin")
@require_POST
def toggle(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(NotificationChannel, pk=pk)
    channel.enabled = request.POST.get("enabled") == "true"
    channel.save(update_fields=["enabled"])
    if request.htmx:
        return _row(request, channel.pk)
    messages.success(request, f"Channel “{channel.name}” {'enabled' if channel.enabled else 'disabled'}.")
    return redirect("channels:index")


@role_required("admin")
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(NotificationChannel, pk=pk)
    if request.method != "POST":
        return render(request, "notifications/channel_confirm_delete.html", {"channel": channel})
    name = channel.name
    channel.delete()
    messages.success(request, f"Channel “{name}” deleted, with its delivery records.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("channels:index"))
    return redirect("channels:index")


@role_required("admin")
@require_POST
def send_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test message now (no retries: the person waiting sees the outcome) and show it."""
    channel = get_object_or_404(NotificationChannel, pk=pk)
    delivery = services.send_test_notification(channel, by=request.user, queue=False)
    delivery = sending.deliver(delivery.pk, retry=False)
    if request.htmx:
        return _row(request, channel.pk, test=delivery)
    if delivery.status == Delivery.Status.SUCCEEDED:
        messages.success(request, f"Test message sent to “{channel.name}”.")
    else:
        messages.error(request, f"Test message to “{channel.name}” failed: {delivery.last_error}")
    return redirect("channels:index")
