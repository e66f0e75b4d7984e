from django.urls import path

from tracepoint.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.profile, name="profile"),
    path("tokens/", views.token_create, name="token-create"),
    path("tokens/<int:pk>/regenerate/", views.token_regenerate, name="token-regenerate"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("invitation/<uidb64>/<token>/", views.InvitationView.as_view(), name="invitation"),
    path("users/", views.users, name="users"),
    path("users/<int:pk>/", views.user_edit, name="user-edit"),
    path("users/<int:pk>/invite/", views.user_invite, name="user-invite"),
]
