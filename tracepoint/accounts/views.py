from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from tracepoint import ratelimit
from tracepoint.accounts import services
from tracepoint.accounts.forms import InviteForm, LoginForm, TokenForm
from tracepoint.accounts.roles import ROLES, group_role, role_required, user_role
from tracepoint.errors import NotFoundError


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = LoginForm

    def post(self, request, *args, **kwargs):
        decision = ratelimit.hit("auth", f"ip:{ratelimit.client_ip(request)}", fail_closed=True)
        if not decision.allowed:
            # An unbound form: a refused attempt must not cost a password check.
            form = self.get_form_class()(request=self.request)
            return self._refused(form, decision.retry_after, rate_limited=decision.retry_after)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        response.set_cookie(
            services.KNOWN_DEVICE_COOKIE,
            services.known_device_cookie(form.get_user().get_username()),
            max_age=settings.TRACEPOINT["LOGIN_KNOWN_DEVICE_DAYS"] * 86400,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response

    def form_invalid(self, form):
        if form.retry_after:  # the account waits (LoginForm): the password was not checked
            return self._refused(form, form.retry_after, account_delayed=form.retry_after)
        return super().form_invalid(form)

    def _refused(self, form, retry_after: int, **context) -> HttpResponse:
        response = self.render_to_response(self.get_context_data(form=form, **context), status=429)
        response["Retry-After"] = str(retry_after)
        return response


def _profile(request: HttpRequest, *, form: TokenForm | None = None, new_key: str | None = None, status: int = 200):
    context = {
        "role": user_role(request.user),
        "tokens": request.user.api_tokens.all(),
        "form": form or TokenForm(),
        "new_key": new_key,
    }
    return render(request, "accounts/profile.html", context, status=status)


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


# --- invitations and user management (admins) ------------------------------------------------------


class InvitationView(auth_views.PasswordResetConfirmView):
    """The one-time link of an invitation: choose a password, then log in."""

    template_name = "accounts/invitation.html"
    success_url = "/login/?invited=1"
    post_reset_login = False


@role_required("admin")
def users(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.create_user(**form.cleaned_data, invite=True, by=request.user)
        except services.UserError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Invitation sent to {user.email}.")
            return redirect("accounts:users")
    rows = get_user_model().objects.order_by("username").prefetch_related("groups")
    return render(
        request,
        "accounts/users.html",
        {"rows": [(user, _role_of(user)) for user in rows], "form": form, "roles": ROLES},
        status=400 if request.method == "POST" else 200,
    )


def _role_of(user) -> str | None:
    return "admin" if user.is_superuser else group_role(user)


@role_required("admin")
@require_POST
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=pk)
    role = request.POST.get("role") or None
    if role is not None and role not in ROLES:
        messages.error(request, "Unknown role.")
        return redirect("accounts:users")
    try:
        services.update_user(
            user, changes={"role": role, "is_active": request.POST.get("is_active") == "on"}, by=request.user
        )
    except services.UserError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{user.username} saved.")
    return redirect("accounts:users")


@role_required("admin")
@require_POST
def user_invite(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=pk)
    try:
        services.send_invitation(user, by=request.user)
    except services.UserError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Invitation sent again to {user.email}.")
    return redirect("accounts:users")
