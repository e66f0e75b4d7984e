"""Dashboard pages of intake: the alerts received from other tools, one alert with its group and payload
history, and the integrations that send them (admins set them up; the token is shown once).

Everything here reads; the writes (create, rotate) are calls into ``incidents.intake.services``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from incidents.intake import services
from incidents.intake.filters import OPEN, STATUS_TABS, filter_by_labels, filter_by_status
from incidents.intake.forms import KIND_HINTS, ActiveForm, AlertFilterForm, IntegrationForm, RotateConfirmForm
from incidents.intake.models import Alert, AlertPayload, AlertStatus, Integration, IntegrationKind
from incidents.models import IncidentSignal, SignalKind
from tracepoint.accounts.roles import ADMIN, has_role, role_required
from tracepoint.errors import DomainError
from tracepoint.lib.counting import FastCountPaginator, capped_count, count_memo
from tracepoint.links import absolute_url

PAGE_SIZE = 25
PAYLOADS_PER_PAGE = 20
GROUP_ALERTS_SHOWN = 50
TAB_COUNT_CAP = 999
SAFE_SCHEMES = ("http", "https")
# "routing_key": "<anything but an unescaped quote>", however spaced, also in a truncated body.
ROUTING_KEY_RE = re.compile(r'("routing_key"\s*:\s*")((?:[^"\\]|\\.)*)(")?')
# The token of a new or rotated integration waits here for the one page that shows it.
SHOWN_TOKEN_KEY = "intake_token_to_show"  # noqa: S105 (a session key, not a secret)
TOKEN_PLACEHOLDER = "<token>"  # noqa: S105 (shown in place of the secret)


# --- helpers -------------------------------------------------------------------------------------


def safe_href(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL, else None: senders' links are shown, not trusted."""
    if not isinstance(value, str) or not value or any(ord(ch) < 32 for ch in value):
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return value.strip() if parts.scheme.lower() in SAFE_SCHEMES and parts.netloc else None


def display_links(links: Any) -> list[dict[str, Any]]:
    """The alert's links as ``{"text", "href", "raw"}``: ``href`` only for http(s), the rest shown as text."""
    shown = []
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict):
            raw = link.get("href")
            text = link.get("text")
        else:
            raw, text = link, None
        raw = "" if raw is None else str(raw)
        shown.append({"text": str(text or raw or "link")[:300], "href": safe_href(raw), "raw": raw[:2000]})
    return shown


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def pairs(mapping: Any) -> list[tuple[str, str]]:
    """A labels or annotations object as sorted ``(key, text)`` pairs (values that are not text as JSON)."""
    if not isinstance(mapping, dict):
        return []
    return sorted((str(key), _text(value)) for key, value in mapping.items())


def redact(body: str) -> str:
    """The body without the secrets a sender may put in it: an Events API v2 ``routing_key`` is the
    integration's token, and people who may read alerts may not send them."""
    return ROUTING_KEY_RE.sub(r"\1<redacted>\3", body)


def pretty_body(payload: AlertPayload) -> tuple[str, bool]:
    """The body, redacted, indented when it is JSON (``True``), else as received (a truncated body is never JSON)."""
    body = redact(payload.body)
    if not payload.body_truncated:
        try:
            return json.dumps(json.loads(body), indent=2, ensure_ascii=False, sort_keys=False), True
        except (ValueError, RecursionError):
            pass
    return body, False


def _query(params, **changes: str) -> str:
    result = params.copy()
    for key, value in changes.items():
        result[key] = value
    return result.urlencode()


def _reverse_or(name: str, fallback: str, **kwargs) -> str:
    """The path of ``name``, or ``fallback`` while that endpoint does not exist (yet) in this version."""
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return fallback


# --- alerts --------------------------------------------------------------------------------------


@role_required("viewer")
@require_safe
def alert_list(request: HttpRequest) -> HttpResponse:
    with count_memo():
        return _alert_list(request)


def _alert_list(request: HttpRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET or None)
    valid = not form.is_bound or form.is_valid()
    data = form.cleaned_data if form.is_bound and valid else {}
    status = data.get("status") or OPEN
    alerts = Alert.objects.select_related("integration", "group")
    if not valid:
        alerts = alerts.none()
    if data.get("integration"):
        alerts = alerts.filter(integration=data["integration"])
    if data.get("service", "").strip():
        alerts = alerts.filter(service=data["service"].strip())
    if data.get("severity"):
        alerts = alerts.filter(severity=data["severity"])
    if data.get("label"):
        alerts = filter_by_labels(alerts, data["label"])
    if data.get("group"):
        alerts = alerts.filter(group_id=data["group"])

    params = request.GET.copy()
    params.pop("page", None)
    tabs = []
    for value, label in STATUS_TABS:
        count = capped_count(filter_by_status(alerts, value), TAB_COUNT_CAP)
        tabs.append(
            {
                "value": value,
                "label": label,
                "count": f"{TAB_COUNT_CAP}+" if count > TAB_COUNT_CAP else count,
                "query": _query(params, status=value),
                "active": value == status,
            }
        )
    alerts = filter_by_status(alerts, status).order_by("-last_seen", "-id")
    page = FastCountPaginator(alerts, PAGE_SIZE).get_page(data.get("page") or 1)
    label_values = request.GET.getlist("label") if form.is_bound else []
    context = {
        "form": form,
        "page": page,
        "status": status,
        "tabs": tabs,
        "base_query": params.urlencode(),
        "integrations": Integration.objects.order_by("name", "id"),
        "services": list(
            Alert.objects.exclude(service="").order_by("service").values_list("service", flat=True).distinct()[:200]
        ),
        "label_inputs": [value for value in label_values if value.strip()] or [""],
        "filtered": any(data.get(name) for name in ("integration", "service", "severity", "label", "group")),
        "has_integrations": Integration.objects.exists(),
        "is_admin": has_role(request.user, ADMIN),
    }
    template = "intake/alert_list.html#rows" if request.htmx else "intake/alert_list.html"
    return render(request, template, context)


def _incident_links(group_pk: int) -> list[IncidentSignal]:
    """The incidents this alert's group is a signal of (correlation links them), newest first."""
    return list(
        IncidentSignal.objects.filter(kind=SignalKind.ALERT, ref=str(group_pk), incident__deleted_at__isnull=True)
        .select_related("incident")
        .order_by("-joined_at", "-id")
    )


@role_required("viewer")
@require_safe
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("integration", "group"), pk=pk)
    group = alert.group
    payloads = Paginator(
        AlertPayload.objects.filter(group=group)
        .defer("body")  # bodies are fetched one at a time, when opened
        .order_by("-received_at", "-id"),
        PAYLOADS_PER_PAGE,
    ).get_page(request.GET.get("payloads_page"))
    context = {
        "alert": alert,
        "group": group,
        "labels": pairs(alert.labels),
        "annotations": pairs(alert.annotations),
        "details": pairs(alert.details),
        "links": display_links(alert.links),
        "group_labels": pairs(group.group_labels),
        "common_labels": pairs(group.common_labels),
        "external_url": safe_href(group.external_url),
        "siblings": group.alerts.exclude(pk=alert.pk).order_by("-last_seen", "-id")[:GROUP_ALERTS_SHOWN],
        "sibling_count": group.alerts.exclude(pk=alert.pk).count(),
        "payloads": payloads,
        "payload_retention_days": settings.TRACEPOINT["INTAKE_PAYLOAD_RETENTION_DAYS"],
        "incident_signals": _incident_links(group.pk),
    }
    if request.htmx and request.GET.get("part") == "payloads":
        return render(request, "intake/alert_detail.html#payloads", context)
    return render(request, "intake/alert_detail.html", context)


@role_required("viewer")
@require_safe
def payload_detail(request: HttpRequest, pk: int) -> HttpResponse:
    payload = get_object_or_404(AlertPayload.objects.select_related("integration", "group"), pk=pk)
    body, is_json = pretty_body(payload)
    alert = payload.group.alerts.order_by("-last_seen", "-id").first() if payload.group_id else None
    context = {"payload": payload, "body": body, "is_json": is_json, "alert": alert}
    template = "intake/payload_detail.html#body" if request.htmx else "intake/payload_detail.html"
    return render(request, template, context)


# --- integrations: set-up snippets ---------------------------------------------------------------


def endpoint_urls(integration: Integration) -> dict[str, str]:
    """Where this integration's sender posts: ``url`` (and ``base_url`` for Events API v2)."""
    kind = integration.kind
    if kind == IntegrationKind.ALERTMANAGER:
        return {"url": absolute_url(_reverse_or("intake:alertmanager", "/api/v1/intake/alertmanager"))}
    if kind == IntegrationKind.GRAFANA:
        return {"url": absolute_url(_reverse_or("intake:grafana", "/api/v1/intake/grafana"))}
    if kind == IntegrationKind.EVENTS_V2:
        enqueue = _reverse_or("intake:events-v2-enqueue", "/api/v1/intake/events/v2/enqueue")
        base = absolute_url(enqueue.removesuffix("/").removesuffix("/v2/enqueue"))
        return {"url": f"{base}/v2/enqueue", "base_url": base, "change_url": f"{base}/v2/change/enqueue"}
    return {"url": absolute_url(_reverse_or("intake:generic", "/api/v1/intake/generic"))}


def setup_snippets(integration: Integration, token: str = TOKEN_PLACEHOLDER) -> list[dict[str, str]]:
    """Ready-to-paste configuration for the integration's kind, as ``{"title", "text"}`` blocks."""
    urls = endpoint_urls(integration)
    url = urls["url"]
    kind = integration.kind
    if kind == IntegrationKind.ALERTMANAGER:
        return [
            {
                "title": "alertmanager.yml",
                "text": (
                    "route:\n"
                    "  receiver: tracepoint\n"
                    "receivers:\n"
                    "  - name: tracepoint\n"
                    "    webhook_configs:\n"
                    f'      - url: "{url}"\n'
                    "        send_resolved: true\n"
                    "        http_config:\n"
                    "          authorization:\n"
                    "            type: Bearer\n"
                    f'            credentials: "{token}"\n'
                ),
            }
        ]
    if kind == IntegrationKind.GRAFANA:
        return [
            {
                "title": "Grafana: Alerting → Contact points → Add contact point → Integration: Webhook",
                "text": (
                    f"URL: {url}\n"
                    "HTTP Method: POST\n"
                    "Optional Webhook settings → Authorization Header - Scheme: Bearer\n"
                    f"Optional Webhook settings → Authorization Header - Credentials: {token}\n"
                ),
            },
            {
                "title": "Or as a provisioning file (provisioning/alerting/tracepoint.yaml)",
                "text": (
                    "apiVersion: 1\n"
                    "contactPoints:\n"
                    "  - orgId: 1\n"
                    "    name: tracepoint\n"
                    "    receivers:\n"
                    "      - uid: tracepoint\n"
                    "        type: webhook\n"
                    "        settings:\n"
                    f'          url: "{url}"\n'
                    "          httpMethod: POST\n"
                    "          authorization_scheme: Bearer\n"
                    f'          authorization_credentials: "{token}"\n'
                ),
            },
        ]
    if kind == IntegrationKind.EVENTS_V2:
        base = urls["base_url"]
        body = json.dumps(
            {
                "routing_key": token,
                "event_action": "trigger",
                "payload": {"summary": "Disk almost full on db-1", "source": "db-1", "severity": "critical"},
            }
        )
        return [
            {
                "title": "In the tool: the Events API v2 base URL and the routing (integration) key",
                "text": (
                    f"Base URL:    {base}\n"
                    f"Routing key: {token}\n"
                    f"(alerts go to {url}, change events to {urls['change_url']})\n"
                ),
            },
            {
                "title": "Alertmanager's PagerDuty receiver (alertmanager.yml)",
                "text": (
                    "receivers:\n"
                    "  - name: tracepoint-events\n"
                    "    pagerduty_configs:\n"
                    f'      - routing_key: "{token}"\n'
                    f'        url: "{url}"\n'
                    "        send_resolved: true\n"
                ),
            },
            {
                "title": "Try it with curl",
                "text": f"curl -X POST {url} \\\n  -H 'Content-Type: application/json' \\\n  -d '{body}'\n",
            },
        ]
    # The label that names the service, when the integration reads it from each alert.
    labels = {integration.service_label: "checkout"} if not integration.service else {"region": "eu-1"}
    body = json.dumps(
        {
            "title": "Disk almost full on db-1",
            "severity": "critical",
            "dedup_key": "db-1/disk",
            "status": "firing",
            "description": "/var at 97%",
            "labels": labels,
            "links": [{"href": "https://grafana.example.com/d/disk", "text": "Dashboard"}],
        }
    )
    return [
        {
            "title": "Send an alert with curl (status resolved clears it)",
            "text": (
                f"curl -X POST {url} \\\n"
                f"  -H 'Authorization: Bearer {token}' \\\n"
                "  -H 'Content-Type: application/json' \\\n"
                f"  -d '{body}'\n"
            ),
        }
    ]


# --- integrations: pages -------------------------------------------------------------------------


def _integrations() -> QuerySet[Integration]:
    """Integrations with their alert counts and last payload (subqueries: no join multiplies rows)."""
    alerts = Alert.objects.filter(integration=OuterRef("pk")).order_by().values("integration")
    last_payload = AlertPayload.objects.filter(integration=OuterRef("pk")).order_by("-received_at", "-id")
    return Integration.objects.annotate(
        open_alerts=Coalesce(
            Subquery(
                alerts.exclude(status=AlertStatus.RESOLVED).annotate(n=Count("pk")).values("n"),
                output_field=IntegerField(),
            ),
            0,
        ),
        total_alerts=Coalesce(Subquery(alerts.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0),
        last_received_at=Subquery(last_payload.values("received_at")[:1]),
    ).order_by("name", "id")


@role_required("viewer")
@require_safe
def integration_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(_integrations(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "intake/integration_list.html",
        {"page": page, "is_admin": has_role(request.user, ADMIN), "base_query": ""},
    )


def _form_context(form: IntegrationForm, **extra) -> dict:
    return {
        "form": form,
        "severity_choices": [(value, value) for value, _ in form.fields["default_severity"].choices],
        "kinds": [{"value": kind.value, "label": kind.label, "hint": KIND_HINTS[kind]} for kind in IntegrationKind],
        "selected_kind": form["kind"].value() if "kind" in form.fields else None,
        **extra,
    }


def _show_token_next(request: HttpRequest, integration: Integration, token: str, *, rotated: bool) -> HttpResponse:
    """Keep the token for exactly one page view (post/redirect/get: a reload cannot create a second one)."""
    request.session[SHOWN_TOKEN_KEY] = {"integration": integration.pk, "token": token, "rotated": rotated}
    url = reverse("alerts:integration-token", kwargs={"pk": integration.pk})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@role_required("admin")
@require_http_methods(["GET", "POST"])
def integration_create(request: HttpRequest) -> HttpResponse:
    adding = request.method == "POST" and "add_row" in request.POST
    extra_rows = 1 if adding else 0
    form = IntegrationForm(request.POST if request.method == "POST" else None, extra_rows=extra_rows)
    if request.method == "POST" and not adding and form.is_valid():
        data = form.cleaned_data
        try:
            integration, token = services.create_integration(
                kind=data["kind"],
                name=data["name"],
                service=data["service"],
                service_label=data["service_label"],
                severity_mapping=data["severity_mapping"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if not data["is_active"]:
                Integration.objects.filter(pk=integration.pk).update(is_active=False)
            return _show_token_next(request, integration, token, rotated=False)
    if adding:
        form.errors.clear()  # adding a row is not a submission: no errors yet
    template = "intake/integration_form.html#form" if request.htmx else "intake/integration_form.html"
    status = 400 if request.method == "POST" and form.errors and not request.htmx else 200
    return render(request, template, _form_context(form, integration=None), status=status)


@role_required("admin")
@require_GET  # not HEAD: a HEAD request would use up the one showing
def integration_token(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=pk)
    shown = request.session.get(SHOWN_TOKEN_KEY)
    token = None
    rotated = False
    if isinstance(shown, dict) and shown.get("integration") == integration.pk:
        token, rotated = shown.get("token"), bool(shown.get("rotated"))
        del request.session[SHOWN_TOKEN_KEY]  # shown this once
    context = {
        "integration": integration,
        "token": token,
        "rotated": rotated,
        "urls": endpoint_urls(integration),
        "snippets": setup_snippets(integration, token) if token else [],
    }
    response = render(request, "intake/integration_token.html", context)
    response["Cache-Control"] = "no-store"  # the back button must not bring the token back from a cache
    return response


@role_required("viewer")
@require_safe
def integration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(_integrations(), pk=pk)
    mapping = integration.severity_mapping or {}
    context = {
        "integration": integration,
        "urls": endpoint_urls(integration),
        "snippets": setup_snippets(integration),
        "mapping": [(key, value) for key, value in mapping.items() if key != "default"],
        "default_severity": mapping.get("default", "SEV3"),
        "payloads": AlertPayload.objects.filter(integration=integration)
        .select_related("group")
        .defer("body")
        .order_by("-received_at", "-id")[:10],
        "is_admin": has_role(request.user, ADMIN),
    }
    return render(request, "intake/integration_detail.html", context)


@role_required("admin")
@require_http_methods(["GET", "POST"])
def integration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=pk)
    adding = request.method == "POST" and "add_row" in request.POST
    form = IntegrationForm(
        request.POST if request.method == "POST" else None, instance=integration, extra_rows=1 if adding else 0
    )
    if request.method == "POST" and not adding and form.is_valid():
        data = form.cleaned_data
        integration.name = data["name"]
        integration.service = data["service"]
        integration.service_label = data["service_label"]
        integration.severity_mapping = data["severity_mapping"]
        integration.is_active = data["is_active"]
        try:
            integration.full_clean()
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
            integration.refresh_from_db()
        else:
            integration.save(update_fields=["name", "service", "service_label", "severity_mapping", "is_active"])
            messages.success(request, f"Integration “{integration.name}” saved.")
            url = reverse("alerts:integration", kwargs={"pk": integration.pk})
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if adding:
        form.errors.clear()
    template = "intake/integration_form.html#form" if request.htmx else "intake/integration_form.html"
    status = 400 if request.method == "POST" and form.errors and not request.htmx else 200
    return render(request, template, _form_context(form, integration=integration), status=status)


@role_required("admin")
@require_http_methods(["GET", "POST"])
def integration_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST (with the box ticked) rotates and shows the new token once."""
    integration = get_object_or_404(Integration, pk=pk)
    form = RotateConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        token = services.rotate_token(integration)
        return _show_token_next(request, integration, token, rotated=True)
    status = 400 if request.method == "POST" else 200
    return render(request, "intake/integration_rotate.html", {"integration": integration, "form": form}, status=status)


@role_required("admin")
@require_POST
def integration_active(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=pk)
    form = ActiveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say whether to activate or deactivate the integration.")
    else:
        active = form.cleaned_data["active"]
        Integration.objects.filter(pk=integration.pk).update(is_active=active)
        if active:
            messages.success(request, f"“{integration.name}” is active: its senders are accepted again.")
        else:
            messages.success(request, f"“{integration.name}” is inactive: its senders are refused with 401.")
    url = reverse("alerts:integration", kwargs={"pk": integration.pk})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
