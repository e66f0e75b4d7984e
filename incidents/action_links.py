"""One-click Acknowledge/Resolve links from incident messages: no login needed, each works once.

Chat apps and mail scanners fetch links to preview them, so a GET only shows what the link
would do (and why it cannot, if so); the POST of that page's form acts. Who acted is the
logged-in user when there is one, else the name typed on the page, and the timeline says
through which channel's link: "Ann via Slack link".
"""

from __future__ import annotations

import logging

from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from incidents import services
from incidents.models import Incident
from incidents.notifications import ACTIONS, action_is_done
from tracepoint import ratelimit
from tracepoint.notifications import action_links

logger = logging.getLogger("tracepoint.incidents")

TEMPLATE = "incidents/action_link.html"
NAME_MAX_CHARS = 60
ACTOR_LABEL_MAX_CHARS = 150


class ActorForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_CHARS,
        required=False,
        label="Your name",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )

    def __init__(self, *args, needs_name: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].required = needs_name


def _user_name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user.is_authenticated else ""


def _page(request: HttpRequest, state: str, *, status: int = 200, **context) -> HttpResponse:
    response = render(request, TEMPLATE, {"state": state, **context}, status=status)
    # The token is in the address: no Referer carries it to another site ("no-referrer" would also
    # blank the Origin of the form's POST, which CSRF checks), and no search engine keeps it.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _incident_of(claim: action_links.ActionClaim) -> Incident | None:
    kind, _, incident_id = claim.subject.partition(":")
    if kind != "incident":
        return None
    try:
        return Incident.objects.alive().filter(pk=incident_id).first()
    except (ValueError, TypeError):  # not a UUID
        return None


@never_cache
@require_http_methods(["GET", "POST"])
def act(request: HttpRequest, action: str, token: str) -> HttpResponse:
    request.log_path = request.path.replace(token, "<token>")  # the link is a credential: not in the logs
    if action not in ACTIONS:
        return _page(request, "invalid", status=404, problem="This link does not name an action Tracepoint knows.")
    target, label, done_word = ACTIONS[action]
    context = {"action": action, "label": label, "done_word": done_word}
    try:
        claim = action_links.read_token(token, action=action)
    except action_links.LinkExpired:
        return _page(request, "expired", status=410, **context)
    except action_links.LinkInvalid as exc:
        return _page(request, "invalid", status=400, problem=str(exc), **context)
    incident = _incident_of(claim)
    if incident is None:
        return _page(request, "gone", status=404, **context)
    context |= {"incident": incident, "via": claim.via}
    used = action_links.was_used(claim)
    if used is not None:
        return _page(request, "used", status=410, used=used, **context)
    if action_is_done(action, incident.status):
        return _page(request, "already", **context)

    needs_name = not request.user.is_authenticated
    if request.method == "GET":
        form = ActorForm(initial={"name": _user_name(request.user)}, needs_name=needs_name)
        return _page(request, "confirm", form=form, **context)

    decision = ratelimit.hit("action_link", f"ip:{ratelimit.client_ip(request)}")
    if not decision.allowed:
        response = _page(request, "rate_limited", status=429, retry_after=decision.retry_after, **context)
        response["Retry-After"] = str(decision.retry_after)
        return response
    form = ActorForm(request.POST, needs_name=needs_name)
    if not form.is_valid():
        return _page(request, "confirm", status=400, form=form, **context)
    # Someone logged in acts as themselves; the typed name is for people without a login.
    name = _user_name(request.user) if request.user.is_authenticated else " ".join(form.cleaned_data["name"].split())
    actor_label = f"{name} via {claim.via} link"[:ACTOR_LABEL_MAX_CHARS]
    user = request.user if request.user.is_authenticated else None

    with transaction.atomic():
        # Locked first: a concurrent click of this link, or another way of acting, waits here.
        incident = Incident.objects.alive().select_for_update().filter(pk=incident.pk).first()
        if incident is None:
            return _page(request, "gone", status=404, **context)
        context["incident"] = incident
        if action_is_done(action, incident.status):
            return _page(request, "already", **context)
        if not action_links.use(claim, used_by=actor_label, now=timezone.now()):
            return _page(request, "used", status=410, used=action_links.was_used(claim), **context)
        incident = services.transition_incident(incident.pk, to=target, by=services.Actor(user=user, label=actor_label))
    logger.info(
        "incident %s %s through an action link", incident.pk, done_word, extra={"incident_id": str(incident.pk)}
    )
    context["incident"] = incident
    return _page(request, "done", actor_label=actor_label, **context)
