"""Project settings pages (HTMX): the project list and creation, a project's keys, ingest quota, members,
alert rules, and wiping its events."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from events import keys, quota, retention
from events.forms import AlertRuleForm, ProjectForm, ProjectQuotaForm
from events.models import AlertRule, IssueStatus, Project, ProjectKey
from tracepoint.accounts.roles import ADMIN, RESPONDER, has_role, role_required
from tracepoint.links import absolute_url, ingest_base_url


def get_project_for_user(user, pk) -> Project:
    project = Project.objects.visible_to(user).filter(pk=pk).first()
    if project is None:
        raise Http404("No such project.")
    return project


# --- projects ---------------------------------------------------------------------------


def _project_list_context(request: HttpRequest, form: ProjectForm | None = None) -> dict:
    projects = Project.objects.visible_to(request.user).annotate(
        open_issues=Count("issues", filter=Q(issues__status=IssueStatus.UNRESOLVED))
    )
    is_admin = has_role(request.user, ADMIN)
    return {"projects": projects, "is_admin": is_admin, "form": form or (ProjectForm() if is_admin else None)}


@role_required("viewer")
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "events/project_list.html", _project_list_context(request))


@role_required("admin")
@require_POST
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        project = keys.create_project(name=data["name"], slug=data["slug"], services=data["services"])
        messages.success(request, f"Project {project.name} created. Send its first event with a snippet below.")
        url = reverse("events:project", kwargs={"pk": project.pk})
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if request.htmx:
        # htmx swaps only 2xx answers, so the inline errors come back as 200 there.
        return render(request, "events/project_list.html#create-form", {"form": form})
    return render(request, "events/project_list.html", _project_list_context(request, form), status=400)


def setup_snippets(project: Project, key: ProjectKey | None) -> dict[str, str]:
    if key is None:
        return {}
    dsn = key.dsn(ingest_base_url())
    service = (project.services or ["web"])[0]
    return {
        "python": f'import sentry_sdk\n\nsentry_sdk.init(dsn="{dsn}")',
        "javascript": f'import * as Sentry from "@sentry/browser";\n\nSentry.init({{ dsn: "{dsn}" }});',
        "curl": (
            f"curl -X POST {absolute_url('/api/v1/events')} \\\n"
            f"  -H 'X-Project-Key: {key.public_key}' \\\n"
            "  -H 'Content-Type: application/json' \\\n"
            f'  -d \'{{"service":"{service}","message":"ValueError: boom"}}\''
        ),
    }


def _project_context(
    request: HttpRequest,
    project: Project,
    alert_form: AlertRuleForm | None = None,
    quota_form: ProjectQuotaForm | None = None,
) -> dict:
    key = project.active_key()
    return {
        "quota": {
            "rate": project.event_rate(),
            "custom": project.events_per_minute is not None,
            "burst": project.event_burst_limit(),
            "burst_seconds": settings.TRACEPOINT["PROJECT_EVENTS_BURST_SECONDS"],
            "burst_percent": settings.TRACEPOINT["PROJECT_EVENTS_BURST_PERCENT"],
            "dropped": quota.dropped_events(project),
        },
        "quota_form": quota_form or ProjectQuotaForm(initial={"events_per_minute": project.events_per_minute}),
        "project": project,
        "active_key": key,
        "dsn": key.dsn(ingest_base_url()) if key else "",
        "keys": project.keys.order_by("-is_active", "-created_at"),
        "snippets": setup_snippets(project, key),
        "is_admin": has_role(request.user, ADMIN),
        "can_write": has_role(request.user, RESPONDER),
        "alert_rules": project.alert_rules.prefetch_related("channels").order_by("name"),
        "alert_form": alert_form or AlertRuleForm(prefix="alert"),
        "members": project.members.order_by("username"),
        "candidates": _member_candidates(project) if has_role(request.user, ADMIN) else [],
    }


def _member_candidates(project: Project) -> list:
    return list(get_user_model().objects.filter(is_active=True).exclude(projects=project).order_by("username")[:500])


@role_required("admin")
@require_POST
def members(request: HttpRequest, pk: int) -> HttpResponse:
    """Add or remove one member (admins)."""
    project = get_project_for_user(request.user, pk)
    user = get_user_model().objects.filter(pk=request.POST.get("user")).first()
    if user is None:
        messages.error(request, "Choose a user.")
    elif request.POST.get("action") == "remove":
        project.members.remove(user)
        messages.success(request, f"{user.username} is no longer a member.")
    else:
        project.members.add(user)
        messages.success(request, f"{user.username} is now a member.")
    return redirect("events:project", pk=project.pk)


@role_required("admin")
@require_POST
def wipe_events(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete every event of the project, after the admin typed its slug to confirm."""
    project = get_project_for_user(request.user, pk)
    if request.POST.get("confirm", "").strip() != project.slug:
        messages.error(request, f"Type the project's slug ({project.slug}) to confirm.")
        return redirect("events:project", pk=project.pk)
    retention.request_wipe(project)
    messages.success(request, "The events are being deleted in the background; the project stays.")
    return redirect("events:project", pk=project.pk)


@role_required("viewer")
@require_GET
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    return render(request, "events/project_detail.html", _project_context(request, project))


def _after_key_action(request: HttpRequest, project: Project, message: str) -> HttpResponse:
    if request.htmx:
        response = render(request, "events/project_detail.html#settings", _project_context(request, project))
        return trigger_client_event(response, "toast", {"message": message, "level": "success"})
    messages.success(request, message)
    return redirect("events:project", pk=project.pk)


@role_required("admin")
@require_POST
def project_quota(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the project's ingest rate (admins); empty goes back to the installation's default."""
    project = get_project_for_user(request.user, pk)
    form = ProjectQuotaForm(request.POST)
    if not form.is_valid():
        context = _project_context(request, project, quota_form=form)
        if request.htmx:  # htmx swaps only 2xx answers
            return render(request, "events/project_detail.html#settings", context)
        return render(request, "events/project_detail.html", context, status=400)
    rate = form.cleaned_data["events_per_minute"]
    quota.set_events_per_minute(project, rate)
    message = f"Ingest rate set to {project.event_rate()} events per minute."
    return _after_key_action(request, project, message)


@role_required("admin")
@require_POST
def key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    keys.rotate_key(project)
    return _after_key_action(request, project, "New key created. The old keys keep working until you revoke them.")


@role_required("admin")
@require_POST
def key_revoke(request: HttpRequest, pk: int, key_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    key = project.keys.filter(pk=key_pk).first()
    if key is None:
        raise Http404("No such key.")
    if key.is_active:
        keys.revoke_key(key)
    return _after_key_action(request, project, f"Key {key.public_key[:8]}… revoked; events sent with it are refused.")


# --- alert rules (on the project page) ------------------------------------------------------


@role_required("responder")
@require_POST
def alert_rule_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    form = AlertRuleForm(request.POST, prefix="alert", instance=AlertRule(project=project))
    if not form.is_valid():
        response = render(request, "events/project_detail.html", _project_context(request, project, form), status=400)
        return response
    rule = form.save()
    message = f"Alert rule “{rule.name}” added."
    if request.htmx:
        return trigger_client_event(
            HttpResponseClientRedirect(reverse("events:project", args=[project.pk])), "toast", {"message": message}
        )
    messages.success(request, message)
    return redirect("events:project", pk=project.pk)


@role_required("responder")
@require_POST
def alert_rule_delete(request: HttpRequest, pk: int, rule_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    rule = project.alert_rules.filter(pk=rule_pk).first()
    if rule is None:
        raise Http404("No such alert rule.")
    rule.delete()
    messages.success(request, f"Alert rule “{rule.name}” deleted.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("events:project", args=[project.pk]))
    return redirect("events:project", pk=project.pk)
