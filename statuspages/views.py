"""Dashboard pages for status pages: the list, one page's setup (admins), component status and maintenance
(responders), and publishing an incident / posting public updates from the incident page (responders)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from incidents.models import Incident
from statuspages import services, setup
from statuspages import snapshot as snapshots
from statuspages.forms import ComponentForm, GroupForm, MaintenanceForm, PageForm, PublishForm, StatusForm, UpdateForm
from statuspages.models import Component, Maintenance, PageIncident, StatusPage
from tracepoint.accounts.roles import ADMIN, RESPONDER, has_role, role_required
from tracepoint.errors import DomainError


@role_required("viewer")
def index(request: HttpRequest) -> HttpResponse:
    is_admin = has_role(request.user, ADMIN)
    form = PageForm(request.POST or None) if is_admin else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Only admins create status pages.")
        if form.is_valid():
            page = setup.save_page(form.save(commit=False), password=form.chosen_password())
            messages.success(request, f"Status page “{page.title}” created.")
            return redirect("statuspages:detail", slug=page.slug)
    pages = snapshots.summaries()
    status = 400 if request.method == "POST" else 200
    return render(request, "statuspages/index.html", {"pages": pages, "form": form}, status=status)


def _detail_context(request: HttpRequest, page: StatusPage, **forms) -> dict:
    is_admin, can_write = has_role(request.user, ADMIN), has_role(request.user, RESPONDER)
    snap = snapshots.take(page)
    return {
        "page": page,
        "snap": snap,
        "is_admin": is_admin,
        "can_write": can_write,
        "page_form": forms.get("page_form") or (PageForm(instance=page) if is_admin else None),
        "component_form": forms.get("component_form") or (ComponentForm(page=page) if is_admin else None),
        "group_form": forms.get("group_form") or (GroupForm() if is_admin else None),
        "maintenance_form": forms.get("maintenance_form") or (MaintenanceForm(page=page) if can_write else None),
        "maintenances": page.maintenances.prefetch_related("components").order_by("-scheduled_for")[:20],
        "links": page.page_incidents.select_related("incident").order_by("-created_at")[:20],
        "status_choices": StatusForm().fields["status"].choices,
    }


@role_required("viewer")
@require_safe
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(StatusPage, slug=slug)
    return render(request, "statuspages/page_detail.html", _detail_context(request, page))


@role_required("admin")
@require_POST
def edit(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(StatusPage, slug=slug)
    form = PageForm(request.POST, instance=page)
    if not form.is_valid():
        return render(
            request, "statuspages/page_detail.html", _detail_context(request, page, page_form=form), status=400
        )
    page = setup.save_page(form.save(commit=False), password=form.chosen_password())
    messages.success(request, "Page saved.")
    return redirect("statuspages:detail", slug=page.slug)


@role_required("admin")
@require_POST
def add_component(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(StatusPage, slug=slug)
    form = ComponentForm(request.POST, page=page)
    if not form.is_valid():
        context = _detail_context(request, page, component_form=form)
        return render(request, "statuspages/page_detail.html", context, status=400)
    component = form.save(commit=False)
    component.page = page
    setup.save_component(component, monitors=form.cleaned_data["monitors"])
    messages.success(request, f"Component “{component.name}” added.")
    return redirect("statuspages:detail", slug=page.slug)


@role_required("admin")
@require_POST
def add_group(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(StatusPage, slug=slug)
    form = GroupForm(request.POST)
    if not form.is_valid():
        return render(
            request, "statuspages/page_detail.html", _detail_context(request, page, group_form=form), status=400
        )
    group = form.save(commit=False)
    group.page = page
    setup.save_group(group)
    messages.success(request, f"Group “{group.name}” added.")
    return redirect("statuspages:detail", slug=page.slug)


@role_required("admin")
@require_POST
def delete_component(request: HttpRequest, slug: str, public_id: str) -> HttpResponse:
    component = get_object_or_404(Component, page__slug=slug, public_id=public_id)
    setup.delete_component(component)
    messages.success(request, f"Component “{component.name}” deleted.")
    return redirect("statuspages:detail", slug=slug)


@role_required("responder")
@require_POST
def component_status(request: HttpRequest, slug: str, public_id: str) -> HttpResponse:
    component = get_object_or_404(Component, page__slug=slug, public_id=public_id)
    form = StatusForm(request.POST)
    if form.is_valid():
        services.set_override(component, form.cleaned_data["status"])
        messages.success(request, f"“{component.name}” status saved.")
    else:
        messages.error(request, "Unknown status.")
    return redirect("statuspages:detail", slug=slug)


@role_required("responder")
@require_POST
def add_maintenance(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(StatusPage, slug=slug)
    form = MaintenanceForm(request.POST, page=page)
    if not form.is_valid():
        context = _detail_context(request, page, maintenance_form=form)
        return render(request, "statuspages/page_detail.html", context, status=400)
    window = form.save(commit=False)
    window.page, window.created_by = page, request.user
    setup.save_maintenance(window, components=form.cleaned_data["components"])
    messages.success(request, f"Maintenance “{window.title}” scheduled.")
    return redirect("statuspages:detail", slug=page.slug)


@role_required("responder")
@require_POST
def complete_maintenance(request: HttpRequest, slug: str, public_id: str) -> HttpResponse:
    window = get_object_or_404(Maintenance, page__slug=slug, public_id=public_id)
    services.finish_maintenance(window, by=request.user)
    messages.success(request, f"Maintenance “{window.title}” completed.")
    return redirect("statuspages:detail", slug=slug)


# --- from the incident page -----------------------------------------------------------------------


@role_required("responder")
@require_POST
def publish(request: HttpRequest, incident_pk) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.alive(), pk=incident_pk)
    form = PublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("incidents:detail", pk=incident.pk)
    data = form.cleaned_data
    services.publish_incident(data["page"], incident, components=data["components"], body=data["body"], by=request.user)
    messages.success(request, f"Published on “{data['page'].title}”.")
    return redirect("incidents:detail", pk=incident.pk)


@role_required("responder")
@require_POST
def post_update(request: HttpRequest, public_id: str) -> HttpResponse:
    link = get_object_or_404(PageIncident.objects.select_related("incident", "page"), public_id=public_id)
    form = UpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("incidents:detail", pk=link.incident_id)
    try:
        services.post_update(link, body=form.cleaned_data["body"], status=form.cleaned_data["status"], by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Update posted on “{link.page.title}”.")
    return redirect("incidents:detail", pk=link.incident_id)
