from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, initial="API token", help_text="What the token is for, e.g. 'CI deploy hook'."
    )
