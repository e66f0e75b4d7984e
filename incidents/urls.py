from django.urls import path

from incidents import action_links, live, views

app_name = "incidents"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("live/", live.incidents_stream, name="live"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/transition/", views.transition, name="transition"),
    path("<uuid:pk>/reopen/", views.reopen, name="reopen"),
    path("<uuid:pk>/comments/", views.comment, name="comment"),
    path("<uuid:pk>/delete/", views.delete, name="delete"),
    # One-click Acknowledge/Resolve links of incident messages: the signed token is the credential.
    path("act/<str:action>/<str:token>/", action_links.act, name="action-link"),
]
