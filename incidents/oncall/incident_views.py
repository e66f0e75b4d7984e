"""The actions of the incident page's paging panel: escalate now, reassign (responders)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from incidents.oncall import escalation
from incidents.oncall.models import EscalationPolicy
from tracepoint.accounts.roles import RESPONDER, role_required
from tracepoint.errors import DomainError, NotFoundError


def _back(request: HttpRequest, pk) -> HttpResponse:
    url = reverse("incidents:detail", args=[pk]) + "#paging"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@role_required(RESPONDER)
@require_POST
def escalate(request: HttpRequest, pk) -> HttpResponse:
    try:
        escalation.escalate_now(pk, by=request.user)
    except NotFoundError:
        raise Http404("No such incident.") from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Escalated: the next step runs now.")
    return _back(request, pk)


def _target(value: str):
    kind, _, raw = (value or "").partition(":")
    if not raw.isdigit():
        return None, None
    if kind == "user":
        return get_user_model().objects.filter(pk=int(raw), is_active=True).first(), None
    if kind == "policy":
        return None, EscalationPolicy.objects.filter(pk=int(raw)).first()
    return None, None


@role_required(RESPONDER)
@require_POST
def reassign(request: HttpRequest, pk) -> HttpResponse:
    user, policy = _target(request.POST.get("target", ""))
    if user is None and policy is None:
        messages.error(request, "Choose an active person or a policy to reassign to.")
        return _back(request, pk)
    try:
        run = escalation.reassign(pk, user=user, policy=policy, by=request.user)
    except NotFoundError:
        raise Http404("No such incident.") from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Reassigned: {run.name if run else 'paging'} now.")
    return _back(request, pk)


urlpatterns = [
    path("incidents/<uuid:pk>/escalate/", escalate, name="incident-escalate"),
    path("incidents/<uuid:pk>/reassign/", reassign, name="incident-reassign"),
]
