"""The incident page's "Status pages" panel and its drafts (statuspages.drafts): viewers read it,
responders publish a draft or post a draft update in one click. With htmx the panel swaps in place;
without it the forms post and redirect (or show the draft again with its errors)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from incidents.models import Incident
from statuspages import drafts
from statuspages.draft_forms import PublishDraftForm, UpdateDraftForm
from statuspages.forms import PublishForm, UpdateForm
from statuspages.models import PageIncident, PublicStatus, PublicUpdate, StatusPage
from tracepoint.accounts.roles import RESPONDER, has_role, role_required
from tracepoint.errors import DomainError

PANEL = "statuspages/_incident_panel.html"


def panel_context(
    incident: Incident, *, can_write: bool, live: bool = False, csrf_token=None, bound: dict | None = None
) -> dict:
    """What the panel shows: the drafts (with ``bound`` forms, by prefix, in place of fresh ones), where the
    incident is shown, and the hand-written publish and update forms. Shared by the incident page's
    template tag and the panel's own views."""
    bound = bound or {}
    publications = drafts.propose_publications(incident)
    updates = drafts.propose_updates(incident)
    publish_forms = []
    for draft in publications:
        form = PublishDraftForm(draft=draft)
        publish_forms.append(bound.get(form.prefix, form))
    update_forms = []
    for draft in updates:
        form = UpdateDraftForm(draft=draft)
        update_forms.append(bound.get(form.prefix, form))
    drafted = {draft.page.pk for draft in publications}
    links = [
        link
        for link in PageIncident.objects.filter(incident=incident)
        .select_related("page")
        .prefetch_related("updates")
        .order_by("page__title", "pk")
        if link.published_at is not None or link.page_id not in drafted  # a draft says it already
    ]
    for link in links:
        link.incident = incident
        # The hand-written update form keeps the field names post_update reads; ids per link.
        link.update_form = UpdateForm(auto_id=f"id_update_{link.public_id}_%s") if can_write else None
    return {
        "incident": incident,
        "links": links,
        "publish_drafts": publish_forms,
        "update_drafts": update_forms,
        "can_write": can_write,
        "publish_form": PublishForm(auto_id="id_publish_%s") if can_write else None,
        "has_pages": StatusPage.objects.exists(),
        "live": live,
        "key": drafts.state_key(incident, publications, updates),
    } | ({"csrf_token": csrf_token} if csrf_token is not None else {})


def _incident_url(incident: Incident) -> str:
    return f"{reverse('incidents:detail', args=[incident.pk])}#status-pages"


def _answer(request: HttpRequest, incident: Incident, *, message: str, error: bool = False, bound=None):
    """After a POST: the refreshed panel and a toast (htmx), or a redirect to the incident page."""
    if request.htmx:
        context = panel_context(incident, can_write=True, live=request.GET.get("live") == "1", bound=bound)
        response = render(request, PANEL, context)
        return trigger_client_event(response, "toast", {"message": message, "level": "error" if error else "success"})
    (messages.error if error else messages.success)(request, message)
    return redirect(_incident_url(incident))


@role_required("viewer")
@require_safe
def panel(request: HttpRequest, incident_pk) -> HttpResponse:
    """The panel alone, for the incident page's refresh: 204 while nothing it shows has changed (``key``),
    so a draft being edited is not replaced for nothing."""
    incident = get_object_or_404(Incident.objects.all(), pk=incident_pk)
    if not request.htmx:
        return redirect(_incident_url(incident))
    if incident.deleted_at is not None:
        return HttpResponseStopPolling()
    context = panel_context(incident, can_write=has_role(request.user, RESPONDER), live=request.GET.get("live") == "1")
    if request.GET.get("key") == context["key"]:
        return HttpResponse(status=204)
    return render(request, PANEL, context)


@role_required("responder")
@require_POST
def publish_draft(request: HttpRequest, incident_pk, slug: str) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.alive(), pk=incident_pk)
    page = get_object_or_404(StatusPage, slug=slug)
    draft = next((d for d in drafts.propose_publications(incident) if d.page.pk == page.pk), None)
    if draft is None:
        return _answer(
            request,
            incident,
            message=f"No draft for “{page.title}” any more: the incident is published there or resolved.",
            error=True,
        )
    form = PublishDraftForm(request.POST, draft=draft)
    if not form.is_valid():
        if request.htmx:
            return _answer(request, incident, message="Check the draft.", error=True, bound={form.prefix: form})
        context = {"incident": incident, "page": page, "form": form, "kind": "publish"}
        return render(request, "statuspages/_draft_review.html", context, status=400)
    data = form.cleaned_data
    try:
        drafts.publish_draft(
            incident,
            page,
            name=data["name"],
            components=data["components"],
            impact=data["impact"],
            body=data["body"],
            status=data["status"],
            by=request.user,
        )
    except DomainError as exc:
        return _answer(request, incident, message=exc.message, error=True)
    return _answer(request, incident, message=f"Published on “{page.title}”.")


@role_required("responder")
@require_POST
def post_draft_update(request: HttpRequest, incident_pk, public_id: str) -> HttpResponse:
    link = get_object_or_404(
        PageIncident.objects.select_related("incident", "page"),
        incident_id=incident_pk,
        public_id=public_id,
        incident__deleted_at__isnull=True,
    )
    incident = link.incident
    draft = next((d for d in drafts.propose_updates(incident) if d.link.pk == link.pk), None)
    if draft is None:
        return _answer(
            request, incident, message=f"Nothing to post on “{link.page.title}”: it is up to date.", error=True
        )
    form = UpdateDraftForm(request.POST, draft=draft)
    if not form.is_valid():
        if request.htmx:
            return _answer(request, incident, message="Check the update.", error=True, bound={form.prefix: form})
        context = {"incident": incident, "page": link.page, "form": form, "kind": "update", "link": link}
        return render(request, "statuspages/_draft_review.html", context, status=400)
    try:
        update: PublicUpdate = drafts.post_draft_update(
            link, status=form.cleaned_data["status"], body=form.cleaned_data["body"], by=request.user
        )
    except DomainError as exc:
        return _answer(request, incident, message=exc.message, error=True)
    label = PublicStatus(update.status).label if update.status in PublicStatus.values else update.status
    return _answer(request, incident, message=f"“{label}” update posted on “{link.page.title}”.")
