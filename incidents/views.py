"""Incident pages (HTMX): list with live filters, detail with actions and timeline, create form."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from events.models import Project
from incidents import services
from incidents.forms import CommentForm, IncidentForm, ListFilterForm, TransitionForm
from incidents.models import Incident, IncidentSignal, SignalKind, SignalStatus, Status
from incidents.queries import apply_ordering
from tracepoint import stream
from tracepoint.accounts.roles import ADMIN, RESPONDER, has_role, role_required
from tracepoint.errors import DomainError
from tracepoint.lib.counting import FastCountPaginator, count_memo

PAGE_SIZE = 25
SORTABLE = [("title", "Title"), ("severity", "Severity"), ("status", "Status"), ("created_at", "Opened")]


def _visible(queryset=None):
    return (queryset or Incident.objects).alive().select_related("owner")


@role_required("viewer")
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    with count_memo():
        return _index(request)


def _index(request: HttpRequest) -> HttpResponse:
    form = ListFilterForm(request.GET or None)
    incidents = _visible()
    ordering = ""
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["q"].strip():
            incidents = incidents.search(data["q"], rank_limit=settings.TRACEPOINT["SEARCH_RANK_LIMIT"])
        if data["severity"]:
            incidents = incidents.filter(severity__in=data["severity"])
        if data["status"]:
            incidents = incidents.filter(status__in=data["status"])
        if data["service"]:
            incidents = incidents.filter(service=data["service"])
        ordering = data["ordering"] or ""
    elif form.is_bound:
        incidents = incidents.none()
    incidents = apply_ordering(incidents, [ordering] if ordering else [])
    page_number = (form.cleaned_data.get("page") if form.is_bound and form.is_valid() else None) or 1
    paginator = FastCountPaginator(incidents, PAGE_SIZE)
    page = paginator.get_page(page_number)
    params = request.GET.copy()
    params.pop("page", None)
    columns = []
    for field, label in SORTABLE:
        sort_params = params.copy()
        sort_params["ordering"] = field if ordering == f"-{field}" else f"-{field}" if ordering == field else field
        direction = "ascending" if ordering == field else "descending" if ordering == f"-{field}" else None
        columns.append({"label": label, "query": sort_params.urlencode(), "direction": direction})
    services_list = list(
        Incident.objects.alive().order_by("service").values_list("service", flat=True).distinct()[:200]
    )
    context = {
        "form": form,
        "page": page,
        "columns": columns,
        "base_query": params.urlencode(),
        "services": services_list,
        "can_write": has_role(request.user, RESPONDER),
        "live_url": _live_url(),
    }
    template = "incidents/incident_list.html#table" if request.htmx else "incidents/incident_list.html"
    return render(request, template, context)


def _live_url() -> str | None:
    return stream.page_url(reverse("incidents:live"))


def _get_incident(pk) -> Incident:
    incident = _visible().select_related("created_by").filter(pk=pk).first()
    if incident is None:
        raise Http404("No such incident.")
    return incident


def _detail_context(request: HttpRequest, incident: Incident, **extra) -> dict:
    can_write = has_role(request.user, RESPONDER)
    linked_issues = _linked_issues(request.user, incident)
    signals = _signals(incident, visible_issues={str(issue.pk) for issue in linked_issues})
    return {
        "incident": incident,
        "timeline": incident.timeline.select_related("actor").order_by("created_at", "id"),
        "transitions": [Status(s) for s in incident.allowed_transitions()] if can_write else [],
        "can_write": can_write,
        "can_delete": has_role(request.user, ADMIN),
        "comment_form": extra.pop("comment_form", None) or CommentForm(),
        "linked_issues": linked_issues,
        "signals": signals,
        "active_signals": sum(signal.status == SignalStatus.ACTIVE for signal in signals),
        "live_url": _live_url(),
        **extra,
    }


def _signals(incident: Incident, *, visible_issues: set[str]) -> list[IncidentSignal]:
    """Every signal of the incident; an issue of a project the user cannot see is shown without its title."""
    signals = list(incident.signals.all())
    for signal in signals:
        signal.hidden = signal.kind == SignalKind.ISSUE and signal.ref not in visible_issues
    return signals


def _linked_issues(user, incident: Incident) -> list:
    """Error issues linked to this incident (by an alert rule), of the projects the user may see."""
    links = incident.issue_links.select_related("issue").filter(issue__project__in=Project.objects.visible_to(user))
    return [link.issue for link in links.order_by("created_at")]


@role_required("viewer")
@require_safe
def detail(request: HttpRequest, pk) -> HttpResponse:
    incident = _get_incident(pk)
    if request.htmx and request.GET.get("part") in ("timeline", "summary"):
        part = request.GET["part"]
        return render(request, f"incidents/incident_detail.html#{part}", _detail_context(request, incident))
    return render(request, "incidents/incident_detail.html", _detail_context(request, incident))


def _after_action(request: HttpRequest, incident_pk, message: str, *, error: str | None = None, **extra):
    incident = _get_incident(incident_pk)
    if request.htmx:
        context = _detail_context(request, incident, error=error, **extra)
        response = render(request, "incidents/incident_detail.html#incident", context)
        return trigger_client_event(
            response, "toast", {"message": error or message, "level": "error" if error else "success"}
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, message)
    return redirect("incidents:detail", pk=incident_pk)


@role_required("responder")
@require_POST
def transition(request: HttpRequest, pk) -> HttpResponse:
    form = TransitionForm(request.POST)
    if not form.is_valid():
        return _after_action(request, pk, "", error="Unknown status.")
    target = form.cleaned_data["status"]
    try:
        services.transition_incident(pk, to=target, by=request.user)
    except services.IncidentNotFound:
        raise Http404 from None
    except DomainError as exc:
        return _after_action(request, pk, "", error=exc.message)
    return _after_action(request, pk, f"Incident {Status(target).label.lower()}.")


@role_required("responder")
@require_POST
def reopen(request: HttpRequest, pk) -> HttpResponse:
    try:
        services.reopen_incident(pk, by=request.user, reason=request.POST.get("reason", "")[:2000])
    except services.IncidentNotFound:
        raise Http404 from None
    except DomainError as exc:
        return _after_action(request, pk, "", error=exc.message)
    return _after_action(request, pk, "Incident reopened.")


@role_required("responder")
@require_POST
def comment(request: HttpRequest, pk) -> HttpResponse:
    form = CommentForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return _after_action(request, pk, "", error="Write something first.", comment_form=form)
        messages.error(request, "Write something first.")
        return redirect("incidents:detail", pk=pk)
    try:
        services.add_comment(pk, body=form.cleaned_data["body"], by=request.user)
    except DomainError:
        raise Http404 from None
    return _after_action(request, pk, "Comment added.")


@role_required("admin")
@require_POST
def delete(request: HttpRequest, pk) -> HttpResponse:
    try:
        services.delete_incident(pk, by=request.user)
    except DomainError:
        raise Http404 from None
    messages.success(request, "Incident deleted.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("incidents:index"))
    return redirect("incidents:index")


@role_required("responder")
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    form = IncidentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        incident = services.create_incident(
            title=data["title"],
            service=data["service"],
            severity=data["severity"],
            summary=data["summary"],
            owner=data["owner"],
            by=request.user,
        )
        messages.success(request, "Incident opened.")
        url = reverse("incidents:detail", kwargs={"pk": incident.pk})
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    template = "incidents/incident_form.html#form" if request.htmx else "incidents/incident_form.html"
    # htmx swaps only 2xx answers, so the inline errors come back as 200 there.
    status = 400 if form.errors and not request.htmx else 200
    return render(request, template, {"form": form}, status=status)
