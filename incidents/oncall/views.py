"""On-call dashboard pages. "Contact methods" (``/oncall/me/contact-methods/``) is about oneself:
every logged-in user reads and changes their own methods and rules, and nobody else's (another
user's method or rule is a 404, as if it did not exist)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from incidents.oncall import contacts
from incidents.oncall.forms import KIND_DESCRIPTIONS, ContactMethodForm, NotificationRuleForm
from incidents.oncall.models import ContactKind, ContactMethod
from tracepoint.errors import DomainError, NotFoundError

LIST_URL = "oncall:contact-methods"


def _own_method(request: HttpRequest, pk: int) -> ContactMethod:
    try:
        return contacts.get_contact_method(request.user, pk)
    except NotFoundError:
        raise Http404("No such contact method.") from None


def _put_errors(form, error: DomainError, *, fields: dict[str, str]) -> None:
    """A service's ``DomainError`` on the form: its field errors where they belong, the rest on top."""
    placed = False
    for name, problems in (error.details or {}).items():
        field = fields.get(name)
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(field if field in form.fields else None, str(problem))
            placed = True
    if not placed:
        form.add_error(None, error.message)


def _account_email_offer(user, methods) -> str:
    """The account email, when one click could make it a method (it is not one yet)."""
    email = (user.email or "").strip()
    if not email or any(m.kind == ContactKind.EMAIL and m.target.lower() == email.lower() for m in methods):
        return ""
    return email


def _page(request: HttpRequest, *, rule_form: NotificationRuleForm | None = None, status: int = 200) -> HttpResponse:
    user = request.user
    methods = list(ContactMethod.objects.filter(user=user).prefetch_related("rules").order_by("created_at", "id"))
    context = {
        "methods": methods,
        "rules": contacts.rules_of(user),
        "plan": contacts.notification_plan(user),
        "rule_form": rule_form or NotificationRuleForm(user=user),
        "account_email": _account_email_offer(user, methods),
    }
    return render(request, "oncall/contact_method_list.html", context, status=status)


@login_required
@require_safe
def contact_methods(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
def contact_method_create(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind") or request.GET.get("kind")
    if kind not in ContactKind.values:
        # Step one: the kind, which decides the fields of the form.
        kinds = [(value, label, KIND_DESCRIPTIONS[value]) for value, label in ContactKind.choices]
        return render(request, "oncall/contact_method_kind.html", {"kinds": kinds})
    form = ContactMethodForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        try:
            method = contacts.add_contact_method(
                request.user, kind=kind, label=form.cleaned_data["label"], target=form.cleaned_data["target"]
            )
        except DomainError as error:
            _put_errors(form, error, fields={"label": "label", "target": "target"})
        else:
            messages.success(request, f"Contact method “{method.label}” added. Send yourself a test page to check it.")
            return redirect(LIST_URL)
    status = 400 if request.method == "POST" else 200
    return render(request, "oncall/contact_method_form.html", {"form": form, "kind": kind}, status=status)


@login_required
def contact_method_edit(request: HttpRequest, pk: int) -> HttpResponse:
    method = _own_method(request, pk)
    form = ContactMethodForm(request.POST or None, kind=method.kind, instance=method)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contacts.update_contact_method(method, label=data["label"], target=data["target"], enabled=data["enabled"])
        except DomainError as error:
            _put_errors(form, error, fields={"label": "label", "target": "target"})
        else:
            messages.success(request, f"Contact method “{data['label']}” saved.")
            return redirect(LIST_URL)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "kind": method.kind, "method": method}
    return render(request, "oncall/contact_method_form.html", context, status=status)


@login_required
def contact_method_delete(request: HttpRequest, pk: int) -> HttpResponse:
    method = _own_method(request, pk)
    if request.method != "POST":
        return render(request, "oncall/contact_method_confirm_delete.html", {"method": method})
    label = method.label
    contacts.remove_contact_method(method)
    messages.success(request, f"Contact method “{label}” removed, with its rules.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse(LIST_URL))
    return redirect(LIST_URL)


@login_required
@require_POST
def contact_method_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test page now (one attempt: the person waiting sees the outcome) and show it in place."""
    method = _own_method(request, pk)
    delivery = contacts.send_test_page(request.user, method, by=request.user)
    if request.htmx:
        method = _own_method(request, pk)
        return render(request, "oncall/contact_method_list.html#method", {"method": method, "test": delivery})
    if delivery.status == delivery.Status.SUCCEEDED:
        messages.success(request, f"Test page sent to “{method.label}”.")
    else:
        messages.error(request, f"Test page to “{method.label}” failed: {delivery.last_error}")
    return redirect(LIST_URL)


@login_required
@require_POST
def contact_method_use_email(request: HttpRequest) -> HttpResponse:
    try:
        method, _ = contacts.use_account_email(request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Pages now go to {method.target} immediately. Send yourself a test page.")
    return redirect(LIST_URL)


@login_required
@require_POST
def notification_rule_create(request: HttpRequest) -> HttpResponse:
    form = NotificationRuleForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            rule = contacts.add_notification_rule(
                request.user,
                contact_method=form.cleaned_data["contact_method"],
                delay_minutes=form.cleaned_data["delay_minutes"],
            )
        except DomainError as error:
            _put_errors(form, error, fields={"contact_method": "contact_method", "delay_minutes": "delay_minutes"})
        else:
            messages.success(request, f"Rule added: {rule.delay_text.lower()}, {rule.contact_method.label}.")
            return redirect(LIST_URL)
    return _page(request, rule_form=form, status=400)


@login_required
@require_POST
def notification_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        rule = contacts.get_notification_rule(request.user, pk)
    except NotFoundError:
        raise Http404("No such notification rule.") from None
    contacts.remove_notification_rule(rule)
    messages.success(request, f"Rule removed: {rule.delay_text.lower()}, {rule.contact_method.label}.")
    return redirect(LIST_URL)
