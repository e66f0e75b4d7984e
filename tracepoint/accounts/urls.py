from django.urls import path

from tracepoint.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.profile, name="profile"),
    path("digest/", views.digest_toggle, name="digest-toggle"),
    path("tokens/", views.token_create, name="token-create"),
    path("tokens/<int:pk>/regenerate/", views.token_regenerate, name="token-regenerate"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
