"""Dashboard pages for status pages: the list, the set-up flow (admins: 1 the page, 2 components from
monitors, 3 a preview of the public page), one page's detail (components and groups for admins, component
status and maintenance for responders), and publishing an incident / posting public updates from the
incident page (responders)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from incidents.models import Incident
from statuspages import logos, public, services, setup
from statuspages import snapshot as snapshots
from statuspages.forms import (
    ComponentForm,
    ComponentsFromMonitorsForm,
    GroupForm,
    MaintenanceForm,
    PageForm,
    PublishForm,
    StatusForm,
    UpdateForm,
)
from statuspages.models import Component, Maintenance, PageIncident, StatusPage
from tracepoint.accounts.roles import ADMIN, RESPONDER, has_role, role_required
from tracepoint.errors import DomainError


@role_required("viewer")
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "statuspages/index.html",
        {"pages": snapshots.summaries(), "is_admin": has_role(request.user, ADMIN)},
    )


def _detail_context(request: HttpRequest, page: StatusPage, **forms) -> dict:
    is_admin, can_write = has_role(request.user, ADMIN), has_role(request.user, RESPONDER)
    snap = snapshots.take(page)
    return {
        "page": page,
        "snap": snap,
        "is_admin": is_admin,
        "can_write": can_write,
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


def _save_page(form: PageForm) -> StatusPage:
    data = form.cleaned_data
    return setup.save_page(
        form.save(commit=False),
        password=form.chosen_password(),
        logo=data.get("logo"),
        remove_logo=bool(data.get("remove_logo")),
    )


def _page_form_answer(request: HttpRequest, form: PageForm, page: StatusPage | None) -> HttpResponse:
    context = {"form": form, "page": page, "step": 1}
    return render(request, "statuspages/page_form.html", context, status=400 if form.is_bound else 200)


@role_required("admin")
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    """Set-up step 1 for a new page; an htmx GET with ``title`` answers the address field with a
    suggestion made from the title (kept as typed once there is one)."""
    if request.method == "GET" and request.htmx and "title" in request.GET:
        slug = request.GET.get("slug", "").strip() or setup.suggest_slug(request.GET["title"][:100])
        form = PageForm(initial={"slug": slug})
        return render(request, "statuspages/page_form.html#slug", {"form": form})
    form = PageForm(request.POST, request.FILES) if request.method == "POST" else PageForm()
    if request.method == "POST" and form.is_valid():
        page = _save_page(form)
        messages.success(request, f"Status page “{page.title}” created. Now add its components.")
        return redirect("statuspages:setup-components", slug=page.slug)
    return _page_form_answer(request, form, None)


new.max_request_bytes = logos.LOGO_MAX_REQUEST_BYTES


@role_required("admin")
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Set-up step 1 again: the page's settings."""
    page = get_object_or_404(StatusPage, slug=slug)
    if request.method == "GET":
        return _page_form_answer(request, PageForm(instance=page), page)
    form = PageForm(request.POST, request.FILES, instance=page)
    if not form.is_valid():
        return _page_form_answer(request, form, StatusPage.objects.get(pk=page.pk))
    page = _save_page(form)
    messages.success(request, "Page saved.")
    return redirect("statuspages:detail", slug=page.slug)


edit.max_request_bytes = logos.LOGO_MAX_REQUEST_BYTES


@role_required("admin")
@require_http_methods(["GET", "POST"])
def setup_components(request: HttpRequest, slug: str) -> HttpResponse:
    """Set-up step 2: components from monitors, in one go."""
    page = get_object_or_404(StatusPage, slug=slug)
    form = ComponentsFromMonitorsForm(request.POST if request.method == "POST" else None, page=page)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        added = setup.add_components_from_monitors(
            page, data["monitors"], group=data.get("group"), new_group=data.get("new_group", "")
        )
        messages.success(request, f"{len(added)} component{'s' if len(added) != 1 else ''} added.")
        return redirect("statuspages:setup-preview", slug=page.slug)
    context = {
        "page": page,
        "form": form,
        "step": 2,
        "has_monitors": form.fields["monitors"].queryset.exists(),
        "components": page.components.select_related("group").prefetch_related("monitors"),
    }
    return render(request, "statuspages/setup_components.html", context, status=400 if form.is_bound else 200)


@role_required("admin")
@require_safe
def setup_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """Set-up step 3: the public page as visitors will see it, framed, and the way to it."""
    page = get_object_or_404(StatusPage, slug=slug)
    return render(request, "statuspages/setup_preview.html", {"page": page, "step": 3})


@xframe_options_sameorigin
@role_required("viewer")
@require_safe
def preview(request: HttpRequest, slug: str) -> HttpResponse:
    """The public page's own template, rendered fresh (not from the public cache) for the team, private
    pages included; framed by the set-up flow's last step."""
    page = get_object_or_404(StatusPage, slug=slug)
    response = render(request, "statuspages/public/page.html", public.page_context(page) | {"preview": True})
    response["Cache-Control"] = "private, no-store"
    return response


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
