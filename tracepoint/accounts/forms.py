from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, initial="API token", help_text="What the token is for, e.g. 'CI deploy hook'."
    )


class InviteForm(forms.Form):
    username = forms.RegexField(r"^[\w.@+-]{1,150}$", max_length=150)
    email = forms.EmailField()
    name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=[("viewer", "Viewer"), ("responder", "Responder"), ("admin", "Admin")])
