"""Every form in the dashboard uses the form components (tracepoint/forms.py, templates/forms/): issue 17.

Two nets, so that a new form cannot regress:
- templates: no Django default dumps (``as_p``, ``as_div``, ``as_table``, ``as_ul``) and no raw
  ``label_tag``/``legend_tag`` (they add "Name:" suffixes and skip the required marks and errors);
- pages: each dashboard page (with the demo data loaded, as an admin) is fetched and every control of
  every POST form is checked: inside a ``.field`` component (label, help, errors) or, in a compact
  one-line form (``.inline-form``, ``.inline`` in a table row, ``.compact``), labelled for screen
  readers; of an input type the stylesheet styles; no label ends with a colon. Every page of the URL
  conf is either checked here or listed as having no such form, so a new page must be classified.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent
STYLED_TYPES = {
    "text", "password", "email", "url", "number", "search", "tel", "date", "time", "datetime-local", "month",
    "week", "checkbox", "radio", "file",
}  # fmt: skip
SKIPPED_TYPES = {"hidden", "submit", "button", "reset", "image"}
COMPACT_FORM_CLASSES = {"inline-form", "inline", "compact"}


def test_no_template_renders_a_form_with_djangos_default_markup():
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        if template.parent.name == "forms" or "admin" in template.parts:
            continue
        text = template.read_text()
        for match in re.finditer(r"\.(as_p|as_div|as_table|as_ul|label_tag|legend_tag)\b", text):
            offenders.append(f"{template.relative_to(ROOT)}: {match.group(0)}")
    assert offenders == []


# --- the pages ---------------------------------------------------------------------------------


class FormAudit(HTMLParser):
    """Collects the problems of the POST forms of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.form: dict | None = None
        self.labels_for: set[str] = set()
        self.controls: list[tuple[dict, bool, bool, str]] = []  # attrs, in .field, in a label, form classes
        self.label_texts: list[str] = []
        self._label_text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs_list) -> None:
        attrs = {k: (v or "") for k, v in attrs_list}
        if tag == "form":
            self.form = attrs if attrs.get("method", "get").lower() == "post" else None
        if tag == "label":
            if attrs.get("for"):
                self.labels_for.add(attrs["for"])
            self._label_text = []
        if tag in ("input", "select", "textarea") and self.form is not None:
            in_field = any("field" in a.get("class", "").split() for t, a in self.stack)
            in_label = any(t == "label" for t, _ in self.stack)
            self.controls.append((attrs, in_field, in_label, self.form.get("class", "")))
        if tag not in ("input", "br", "img", "meta", "link", "hr", "source", "col", "wbr"):
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.form = None
        if tag == "label" and self._label_text is not None:
            self.label_texts.append("".join(self._label_text).strip())
            self._label_text = None
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._label_text is not None:
            self._label_text.append(data)

    def problems(self) -> list[str]:
        found = []
        for text in self.label_texts:
            if text.endswith(":"):
                found.append(f"label {text!r} ends with a colon (a raw label_tag)")
        for attrs, in_field, in_label, form_classes in self.controls:
            kind = attrs.get("type", "text").lower()
            name = attrs.get("name") or attrs.get("id") or "?"
            if kind in SKIPPED_TYPES:
                continue
            if "type" in attrs and kind not in STYLED_TYPES:
                found.append(f"{name}: input type {kind!r} has no style")
            if in_field:
                continue
            compact = bool(COMPACT_FORM_CLASSES & set(form_classes.split()))
            labelled = (
                in_label
                or attrs.get("aria-label")
                or attrs.get("aria-labelledby")
                or (attrs.get("id") in self.labels_for)
            )
            if not (compact and labelled):
                found.append(f"{name}: a control outside the form components (no .field wrapper)")
        return found


def _names(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            found += _names(entry, namespace)
        elif entry.name:
            found.append((f"{prefix}{entry.name}", entry))
    return found


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--if-empty", verbosity=0)
    from events.models import Issue, Project
    from incidents.intake.models import Integration
    from incidents.models import Incident
    from incidents.oncall.models import EscalationPolicy, Schedule
    from monitors.models import Monitor
    from statuspages.models import StatusPage
    from tracepoint.notifications.models import NotificationChannel

    admin = make_user("admin", username="forms-admin", is_staff=True, is_superuser=True)
    return {
        "admin": admin,
        "incident": Incident.objects.filter(status="OPEN").first().pk,
        "issue": Issue.objects.first().pk,
        "event": [Issue.objects.first().pk, Issue.objects.first().events.first().pk],
        "project": Project.objects.first().pk,
        "monitor": Monitor.objects.exclude(kind="heartbeat").first().pk,
        "heartbeat": Monitor.objects.filter(kind="heartbeat").first().pk,
        "page": StatusPage.objects.first().slug,
        "schedule": Schedule.objects.first().pk,
        "policy": EscalationPolicy.objects.first().pk,
        "integration": Integration.objects.first().pk if Integration.objects.exists() else None,
        "channel": NotificationChannel.objects.first().pk if NotificationChannel.objects.exists() else None,
    }


# URL name → the arguments from the demo data (None: no arguments). Each is fetched as an admin.
FORM_PAGES = {
    "accounts:profile": None,
    "accounts:users": None,
    "incidents:index": None,
    "incidents:create": None,
    "incidents:detail": "incident",
    "events:index": None,
    "events:detail": "issue",
    "events:event": "event",
    "events:projects": None,
    "events:project": "project",
    "monitors:index": None,
    "monitors:create": None,
    "monitors:detail": "monitor",
    "monitors:edit": "monitor",
    "statuspages:index": None,
    "statuspages:detail": "page",
    "statuspages:new": None,
    "statuspages:edit": "page",
    "statuspages:setup-components": "page",
    "statuspages:setup-preview": "page",
    "alerts:list": None,
    "alerts:integrations": None,
    "alerts:integration-create": None,
    "alerts:integration": "integration",
    "alerts:integration-edit": "integration",
    "channels:index": None,
    "channels:create": None,
    "channels:edit": "channel",
    "oncall:me": None,
    "oncall:contact-methods": None,
    "oncall:contact-method-create": None,
    "oncall:index": None,
    "oncall:schedule-detail": "schedule",
    "oncall:policies": None,
    "oncall:policy-create": None,
    "oncall:policy-detail": "policy",
    "oncall:policy-edit": "policy",
    "overview": None,
}
# Pages without a form of their own to check here (POST endpoints, feeds, streams, public pages, API).
NOT_FORM_PAGES_PREFIXES = ("v1:", "admin", "statuspages-public:", "intake:", "api-", "schema")
NOT_FORM_PAGES = {
    "health", "ready", "metrics", "ping", "ping-action", "login", "logout", "admin-login", "sentry-envelope",
    "sentry-store", "accounts:token-create", "accounts:token-regenerate", "accounts:token-revoke",
    "accounts:invitation", "accounts:user-edit", "accounts:user-invite", "incidents:live", "incidents:transition",
    "incidents:reopen", "incidents:comment", "incidents:delete", "incidents:action-link", "events:live",
    "events:status", "events:project_create", "events:service_timeline", "events:daily_summary_switch",
    "events:key_rotate",    "events:project_quota", "events:members", "events:wipe_events", "events:alert_rule_create",
    "events:alert_rule_delete", "events:key_revoke", "events:assign", "events:comment", "events:open_incident",
    "monitors:test-draft", "monitors:cron-preview", "statuspages:preview", "statuspages:drafts",
    "statuspages:publish-draft", "statuspages:post-draft-update", "monitors:pause", "monitors:resume",
    "monitors:check_now",
    "statuspages:publish", "statuspages:post-update", "statuspages:add-component",
    "statuspages:add-group", "statuspages:delete-component", "statuspages:component-status",
    "statuspages:add-maintenance", "statuspages:complete-maintenance", "alerts:detail", "alerts:payload",
    "alerts:integration-token", "alerts:integration-rotate", "alerts:integration-active", "channels:toggle",
    "channels:test", "channels:delete", "oncall:contact-method-use-email", "oncall:contact-method-edit",
    "oncall:contact-method-test", "oncall:contact-method-delete", "oncall:notification-rule-create",
    "oncall:notification-rule-delete", "oncall:page-acknowledge", "oncall:schedule-feed", "oncall:user-feed",
    "oncall:schedule-feed-rotate", "oncall:user-feed-rotate", "oncall:override-create", "oncall:override-update",
    "oncall:override-delete",
    "oncall:policy-delete", "oncall:incident-escalate", "oncall:incident-reassign",
}  # fmt: skip


def test_every_page_is_checked_or_known_to_have_no_form_of_its_own():
    unknown = [
        name
        for name, _ in _names(get_resolver())
        if name not in FORM_PAGES and name not in NOT_FORM_PAGES and not name.startswith(NOT_FORM_PAGES_PREFIXES)
    ]
    assert unknown == [], "add the new page to FORM_PAGES (it shows a form) or NOT_FORM_PAGES"


def test_every_form_of_every_page_uses_the_form_components(demo):
    client = Client()
    client.force_login(demo["admin"])
    problems = {}
    for name, arg in FORM_PAGES.items():
        args = (demo[arg] if isinstance(demo[arg], list) else [demo[arg]]) if arg else []
        if arg and demo[arg] is None:
            continue  # the demo has none of these
        response = client.get(reverse(name, args=args))
        if response.status_code != 200:
            problems[name] = [f"answered {response.status_code}"]
            continue
        audit = FormAudit()
        audit.feed(response.content.decode())
        if audit.problems():
            problems[name] = audit.problems()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_the_audit_catches_a_default_dump_and_a_bare_input():
    audit = FormAudit()
    audit.feed(
        '<form method="post"><div><label for="id_url">Url:</label><input type="url" name="url" id="id_url"></div>'
        '<input type="color" name="tint"></form><form><input name="q"></form>'
    )
    assert audit.problems() == [
        "label 'Url:' ends with a colon (a raw label_tag)",
        "url: a control outside the form components (no .field wrapper)",
        "tint: input type 'color' has no style",
        "tint: a control outside the form components (no .field wrapper)",
    ]
    good = FormAudit()
    good.feed(
        '<form method="post"><div class="field"><label for="id_n">Name</label>'
        '<input type="text" name="n" id="id_n"></div></form>'
        '<form method="post" class="inline-form"><input name="body" aria-label="Comment"></form>'
    )
    assert good.problems() == []
