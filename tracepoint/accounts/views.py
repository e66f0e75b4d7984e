from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tracepoint import ratelimit
from tracepoint.accounts import services
from tracepoint.accounts.forms import TokenForm
from tracepoint.accounts.roles import role_required, user_role
from tracepoint.errors import NotFoundError


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        decision = ratelimit.hit("auth", f"ip:{ratelimit.client_ip(request)}")
        if not decision.allowed:
            # An unbound form: a refused attempt must not cost a password check.
            form = self.get_form_class()(request=self.request)
            context = self.get_context_data(form=form, rate_limited=decision.retry_after)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(decision.retry_after)
            return response
        return super().post(request, *args, **kwargs)


def _profile(request: HttpRequest, *, form: TokenForm | None = None, new_key: str | None = None, status: int = 200):
    context = {
        "role": user_role(request.user),
        "tokens": request.user.api_tokens.all(),
        "form": form or TokenForm(),
        "new_key": new_key,
        "digest": _digest_subscription(request.user),
    }
    return render(request, "accounts/profile.html", context, status=status)


def _digest_subscription(user):
    from events.models import DigestSubscription

    return DigestSubscription.objects.filter(user=user).first()


@role_required("viewer")
@require_POST
def digest_toggle(request: HttpRequest) -> HttpResponse:
    """Opt in or out of the daily digest email (events.digest)."""
    from events import digest

    enabled = request.POST.get("enabled") == "on"
    if enabled and not request.user.email:
        messages.error(request, "Add an email address to your account first (ask an admin).")
        return redirect("accounts:profile")
    digest.set_subscription(request.user, enabled=enabled)
    messages.success(request, "Daily digest on." if enabled else "Daily digest off.")
    return redirect("accounts:profile")


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return _profile(request)


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _profile(request, form=form, status=400)
    _, key = services.issue_token(request.user, name=form.cleaned_data["name"])
    # Rendered, not redirected: the key is shown once and never stored anywhere.
    return _profile(request, new_key=key)


@login_required
@require_POST
def token_regenerate(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        _, key = services.regenerate_token(request.user, pk)
    except NotFoundError:
        raise Http404("No such token.") from None
    return _profile(request, new_key=key)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if not services.revoke_token(request.user, pk):
        raise Http404("No such token.")
    messages.success(request, "Token revoked.")
    return redirect("accounts:profile")
