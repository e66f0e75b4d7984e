from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from tracepoint.accounts import services


class LoginForm(AuthenticationForm):
    """Django's login form, checking credentials through the per-account delay."""

    retry_after = 0  # set when the account has to wait: the view answers 429

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = services.authenticate_user(
                    self.request,
                    username=username,
                    password=password,
                    known_device=services.is_known_device(self.request, username),
                )
            except services.LoginDelayed as exc:
                self.retry_after = exc.retry_after
                raise ValidationError(exc.message, code="delayed") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        initial="API token",
        help_text="What the token is for, e.g. 'CI deploy hook'.",
    )


class InviteForm(forms.Form):
    username = forms.RegexField(r"^[\w.@+-]{1,150}$", max_length=150)
    email = forms.EmailField()
    name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=[("viewer", "Viewer"), ("responder", "Responder"), ("admin", "Admin")])
